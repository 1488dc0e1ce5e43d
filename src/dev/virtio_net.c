/*
 * virtio-net (virtio 1.2 §5.1): receiveq 0, transmitq 1, no control queue.
 *
 * Transmit runs on the hart that kicks the queue (under the transport lock,
 * like virtio-rng): each chain is copied out of guest memory and handed to
 * the backend, whose send() never blocks.
 *
 * Receive runs on the backend's thread: a frame is copied into the guest's rx
 * buffers at once if there are any, else held in a short FIFO until the
 * driver posts buffers (its rx kick flushes the FIFO), else dropped. rx_lock
 * serialises the backend thread, rx kicks and reset, so exactly one thread
 * touches the receive queue at a time; the transport lock is never taken
 * under rx_lock (transport lock → rx_lock is the only order).
 *
 * With VIRTIO_NET_F_MRG_RXBUF a frame may span several buffers (§5.1.6.4):
 * they are popped, filled, and only then pushed, first one first, with
 * num_buffers written into the first buffer's header before anything is
 * published. If the buffers run out part way, last_avail_idx is rewound:
 * popping only reads the rings, so the driver cannot tell.
 *
 * Rate limit (token_bucket.h, one bucket per direction): a tx chain over the
 * budget is un-popped the same way and the timer thread re-kicks the tx queue
 * (virtio_mmio_kick) when the bucket has refilled, so no hart ever sleeps. A
 * received frame over the budget joins the held-frames FIFO and the timer
 * thread flushes it later. Locks: the timer thread takes the transport lock
 * or rx_lock with nothing held; tx (transport lock) and rx (rx_lock) take
 * timer_lock last to schedule it.
 */
#include "dev/virtio_net.h"

#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/net.h"
#include "snapshot/format.h"
#include "util/log.h"
#include "util/token_bucket.h"
#include "virtio/mmio.h"
#include "virtio/virtq.h"

#define HDR VIRTIO_NET_HDR_SIZE
#define ETH_HLEN 14
/* Most buffers one received frame may take with MRG_RXBUF: 64 KiB frames in >= 1 KiB buffers. */
#define RX_MAX_BUFS 64
#define TX_NOTIFY_BATCH 32

enum { RX_DONE, RX_NOBUF, RX_BROKEN };

struct pending {
    uint8_t *data;
    size_t len;
};

struct virtio_net {
    struct vm *vm;
    struct net_backend *be;
    struct virtio_mmio *t;
    struct virtio_dev_ops ops;
    uint8_t config[VIRTIO_NET_CFG_SIZE];
    bool backend_started;

    pthread_mutex_t rx_lock;
    bool active; /* DRIVER_OK and not reset: the rx path may use the queue */
    bool mrg;    /* MRG_RXBUF negotiated */
    atomic_bool broken; /* a malformed chain was seen: drop everything until reset; tx and rx threads both read it */
    struct pending pend[VIRTIO_NET_RX_PENDING];
    unsigned pend_head, pend_count;
    struct virtq_chain rx_first, rx_chain; /* rx_lock */
    uint16_t rx_heads[RX_MAX_BUFS];
    uint32_t rx_lens[RX_MAX_BUFS];

    struct virtq_chain tx_chain; /* transport lock */
    uint8_t tx_buf[NET_MAX_FRAME];

    struct virtio_net_stats stats; /* __atomic */

    struct token_bucket tx_tb, rx_tb;
    pthread_t timer;
    bool timer_started;
    pthread_mutex_t timer_lock;
    pthread_cond_t timer_cond; /* CLOCK_MONOTONIC */
    bool timer_stop;
    uint64_t tx_due, rx_due; /* tb_now() time to retry; 0 = nothing waiting */
};

static void count(uint64_t *c)
{
    __atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

static void count_n(uint64_t *c, uint64_t n)
{
    __atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

/* Ask the timer thread to retry a direction `wait` ns from now. */
static void schedule(struct virtio_net *n, uint64_t *due, uint64_t wait)
{
    uint64_t when = tb_now() + (wait ? wait : 1);
    pthread_mutex_lock(&n->timer_lock);
    if (*due == 0 || when < *due) {
        *due = when;
        pthread_cond_signal(&n->timer_cond);
    }
    pthread_mutex_unlock(&n->timer_lock);
}

static void put16(uint8_t *p, uint16_t v)
{
    v = htole16(v);
    memcpy(p, &v, 2);
}

static void mark_broken(struct virtio_net *n, struct virtq *q, const char *why)
{
    if (!q->broken)
        virtq_mark_broken(q, why);
    n->broken = true;
    virtio_mmio_needs_reset(n->t, why);
}

/*
 * Copy one frame into the rx queue. RX_DONE: delivered, or dropped because
 * the posted buffers can never hold it; RX_NOBUF: not enough buffers yet;
 * RX_BROKEN: the driver broke the queue. Called with rx_lock held, active.
 */
static int rx_put(struct virtio_net *n, struct virtq *q, const uint8_t *frame, size_t len,
                  unsigned *pushed)
{
    uint16_t start = q->last_avail_idx;
    uint64_t total = HDR + (uint64_t)len, off = 0;
    unsigned nbuf = 0, maxbuf = n->mrg ? RX_MAX_BUFS : 1;

    while (off < total) {
        if (nbuf == maxbuf) {
            /* §5.1.6.3.1 asks the driver for buffers big enough; these are not. */
            q->last_avail_idx = start;
            count(&n->stats.rx_dropped);
            log_debug("virtio-net", "rx: %zu-byte frame does not fit the posted buffers, dropped",
                      len);
            return RX_DONE;
        }
        struct virtq_chain *c = nbuf == 0 ? &n->rx_first : &n->rx_chain;
        int r = virtq_pop(q, c);
        if (r == 0) {
            q->last_avail_idx = start;
            return RX_NOBUF;
        }
        if (r < 0) {
            mark_broken(n, q, q->error);
            return RX_BROKEN;
        }
        /* §5.1.6.3: receive buffers are device-writable only, each at least a header long. */
        if (c->nread) {
            mark_broken(n, q, "rx buffer has device-readable descriptors");
            return RX_BROKEN;
        }
        if (c->write_len < HDR) {
            mark_broken(n, q, "rx buffer shorter than virtio_net_hdr");
            return RX_BROKEN;
        }
        uint64_t take = total - off < c->write_len ? total - off : c->write_len;
        if (nbuf == 0)
            virtq_chain_write(c, HDR, frame, take - HDR); /* header written last, below */
        else
            virtq_chain_write(c, 0, frame + (off - HDR), take);
        n->rx_heads[nbuf] = c->head;
        n->rx_lens[nbuf] = (uint32_t)take;
        nbuf++;
        off += take;
    }

    /* §5.1.6.4: flags 0 and GSO_NONE (no offloads offered); num_buffers 1 without MRG_RXBUF. */
    uint8_t hdr[HDR] = {0};
    put16(hdr + VIRTIO_NET_HDR_NUM_BUFFERS, (uint16_t)nbuf);
    virtq_chain_write(&n->rx_first, 0, hdr, HDR);

    for (unsigned i = 0; i < nbuf; i++) {
        struct virtq_chain *c = &n->rx_first;
        if (i > 0) { /* only head and write_len matter to virtq_push */
            c = &n->rx_chain;
            c->head = n->rx_heads[i];
            c->write_len = n->rx_lens[i];
        }
        if (virtq_push(q, c, n->rx_lens[i]) < 0) {
            mark_broken(n, q, q->error);
            return RX_BROKEN;
        }
    }
    *pushed += nbuf;
    count(&n->stats.rx_frames);
    count_n(&n->stats.rx_bytes, len);
    return RX_DONE;
}

/* Backlog marks for pausing the backend's reads (struct net_backend.rx_paused). */
#define RX_PAUSE_AT (VIRTIO_NET_RX_PENDING / 2)
#define RX_RESUME_AT (VIRTIO_NET_RX_PENDING / 8)

/* rx_lock held: pause or resume the backend according to the backlog. */
static void rx_update_pause(struct virtio_net *n)
{
    struct net_backend *be = n->be;
    if (!be)
        return;
    bool paused = atomic_load(&be->rx_paused);
    if (!paused && n->pend_count >= RX_PAUSE_AT) {
        atomic_store(&be->rx_paused, true);
    } else if (paused && n->pend_count <= RX_RESUME_AT) {
        atomic_store(&be->rx_paused, false);
        if (be->ops->rx_resume)
            be->ops->rx_resume(be);
    }
}

static void drop_pending(struct virtio_net *n)
{
    while (n->pend_count) {
        free(n->pend[n->pend_head].data);
        n->pend_head = (n->pend_head + 1) % VIRTIO_NET_RX_PENDING;
        n->pend_count--;
        count(&n->stats.rx_dropped);
    }
    n->pend_head = 0;
    rx_update_pause(n);
}

/* True if a frame of len bytes may go to the guest now; else the timer thread will retry rx. */
static bool rx_admit(struct virtio_net *n, size_t len)
{
    uint64_t w = tb_delay(&n->rx_tb, len, tb_now());
    if (w == 0)
        return true;
    count(&n->stats.throttled);
    schedule(n, &n->rx_due, w);
    return false;
}

/*
 * Deliver held frames in order. rx_lock held. Returns false if buffers ran
 * out, the limit says wait, or the queue broke.
 */
static bool rx_flush(struct virtio_net *n, struct virtq *q, unsigned *pushed)
{
    while (n->pend_count) {
        struct pending *p = &n->pend[n->pend_head];
        if (!rx_admit(n, p->len))
            return false;
        int r = rx_put(n, q, p->data, p->len, pushed);
        if (r == RX_DONE)
            tb_charge(&n->rx_tb, p->len, tb_now());
        if (r == RX_BROKEN) {
            drop_pending(n);
            return false;
        }
        if (r == RX_NOBUF)
            return false;
        free(p->data);
        n->pend_head = (n->pend_head + 1) % VIRTIO_NET_RX_PENDING;
        n->pend_count--;
        rx_update_pause(n);
    }
    return true;
}

static void rx_signal(struct virtio_net *n, struct virtq *q, unsigned pushed)
{
    if (pushed && virtq_should_notify(q))
        virtio_mmio_raise(n->t, VIRTIO_ISR_VRING);
}

/* Backend thread: one frame from the outside world. */
static void net_rx(void *opaque, const uint8_t *frame, size_t len)
{
    struct virtio_net *n = opaque;
    if (len < ETH_HLEN || len > NET_MAX_FRAME) {
        count(&n->stats.rx_dropped);
        return;
    }
    pthread_mutex_lock(&n->rx_lock);
    if (!n->active || n->broken) {
        pthread_mutex_unlock(&n->rx_lock);
        count(&n->stats.rx_dropped);
        return;
    }
    struct virtq *q = virtio_mmio_queue(n->t, VIRTIO_NET_RXQ);
    unsigned pushed = 0;
    int r = RX_NOBUF;
    if (rx_flush(n, q, &pushed) && rx_admit(n, len)) {
        r = rx_put(n, q, frame, len, &pushed);
        if (r == RX_DONE)
            tb_charge(&n->rx_tb, len, tb_now());
    }
    if (r == RX_NOBUF && !n->broken) {
        uint8_t *copy = n->pend_count < VIRTIO_NET_RX_PENDING ? malloc(len) : NULL;
        if (copy) {
            memcpy(copy, frame, len);
            n->pend[(n->pend_head + n->pend_count) % VIRTIO_NET_RX_PENDING] =
                (struct pending){.data = copy, .len = len};
            n->pend_count++;
            rx_update_pause(n);
        } else {
            count(&n->stats.rx_dropped);
        }
    } else if (r == RX_BROKEN) {
        count(&n->stats.rx_dropped);
    }
    rx_signal(n, q, pushed);
    pthread_mutex_unlock(&n->rx_lock);
}

/* Hart thread, transport lock held: the driver posted rx buffers or sent frames. */
static void tx_drain(struct virtio_net *n)
{
    struct virtq *q = virtio_mmio_queue(n->t, VIRTIO_NET_TXQ);
    unsigned since_notify = 0;
    for (;;) {
        struct virtq_chain *c = &n->tx_chain;
        uint16_t start = q->last_avail_idx;
        int r = virtq_pop(q, c);
        if (r == 0)
            break;
        if (r < 0) {
            mark_broken(n, q, q->error);
            break;
        }
        /* §5.1.6.2: a transmit buffer is the header then the frame, all device-readable. */
        if (c->nseg != c->nread) {
            mark_broken(n, q, "tx buffer has device-writable descriptors");
            break;
        }
        if (c->read_len < HDR) {
            mark_broken(n, q, "tx buffer shorter than virtio_net_hdr");
            break;
        }
        uint64_t len = c->read_len - HDR;
        uint64_t wait = tb_delay(&n->tx_tb, len, tb_now());
        if (wait) {
            /* Over the limit: leave the chain in the ring for the timer thread's re-kick. */
            q->last_avail_idx = start;
            count(&n->stats.throttled);
            schedule(n, &n->tx_due, wait);
            break;
        }
        tb_charge(&n->tx_tb, len, tb_now());
        if (len < ETH_HLEN || len > NET_MAX_FRAME) {
            count(&n->stats.tx_dropped); /* not an Ethernet frame we can pass on; not a ring error */
        } else {
            /* No offloads were offered, so the header carries nothing to act on. */
            virtq_chain_read(c, HDR, n->tx_buf, len);
            if (net_backend_send(n->be, n->tx_buf, len) < 0)
                count(&n->stats.tx_dropped);
            else {
                count(&n->stats.tx_frames);
                count_n(&n->stats.tx_bytes, len);
            }
        }
        if (virtq_push(q, c, 0) < 0) {
            mark_broken(n, q, q->error);
            break;
        }
        if (++since_notify >= TX_NOTIFY_BATCH) {
            since_notify = 0;
            if (virtq_should_notify(q))
                virtio_mmio_raise(n->t, VIRTIO_ISR_VRING);
        }
    }
    if (since_notify && virtq_should_notify(q))
        virtio_mmio_raise(n->t, VIRTIO_ISR_VRING);
}

static void net_notify(void *dev, unsigned queue)
{
    struct virtio_net *n = dev;
    if (queue == VIRTIO_NET_TXQ) {
        if (!n->broken)
            tx_drain(n);
        return;
    }
    if (queue != VIRTIO_NET_RXQ)
        return;
    pthread_mutex_lock(&n->rx_lock);
    if (n->active && !n->broken) {
        struct virtq *q = virtio_mmio_queue(n->t, VIRTIO_NET_RXQ);
        unsigned pushed = 0;
        rx_flush(n, q, &pushed);
        rx_signal(n, q, pushed);
    }
    pthread_mutex_unlock(&n->rx_lock);
}

static void net_activate(void *dev)
{
    struct virtio_net *n = dev;
    pthread_mutex_lock(&n->rx_lock);
    n->mrg = virtio_mmio_driver_features(n->t) & (1ull << VIRTIO_NET_F_MRG_RXBUF);
    n->active = true;
    pthread_mutex_unlock(&n->rx_lock);
}

/* When this returns the backend thread is out of the rx queue and won't come back until activate. */
static void net_reset(void *dev)
{
    struct virtio_net *n = dev;
    pthread_mutex_lock(&n->rx_lock);
    n->active = false;
    n->broken = false;
    n->mrg = false;
    drop_pending(n);
    pthread_mutex_unlock(&n->rx_lock);
}

/* Snapshot quiesce: frames arriving meanwhile are dropped (a lost packet), the rings untouched. */
static void net_quiesce(void *dev, bool pause)
{
    struct virtio_net *n = dev;
    pthread_mutex_lock(&n->rx_lock);
    n->active = !pause;
    pthread_mutex_unlock(&n->rx_lock);
}

static void net_config_read(void *dev, uint32_t offset, void *buf, unsigned size)
{
    struct virtio_net *n = dev;
    memcpy(buf, n->config + offset, size);
}

static void net_config_write(void *dev, uint32_t offset, const void *buf, unsigned size)
{
    /* §5.1.4: mac is writable only with VIRTIO_NET_F_CTRL_MAC_ADDR-less legacy drivers; ignore. */
    (void)dev, (void)offset, (void)buf, (void)size;
}

struct virtio_mmio *virtio_net_transport(struct virtio_net *n)
{
    return n->t;
}

void virtio_net_get_stats(struct virtio_net *n, struct virtio_net_stats *out)
{
    out->rx_frames = __atomic_load_n(&n->stats.rx_frames, __ATOMIC_RELAXED);
    out->rx_bytes = __atomic_load_n(&n->stats.rx_bytes, __ATOMIC_RELAXED);
    out->rx_dropped = __atomic_load_n(&n->stats.rx_dropped, __ATOMIC_RELAXED);
    out->tx_frames = __atomic_load_n(&n->stats.tx_frames, __ATOMIC_RELAXED);
    out->tx_bytes = __atomic_load_n(&n->stats.tx_bytes, __ATOMIC_RELAXED);
    out->tx_dropped = __atomic_load_n(&n->stats.tx_dropped, __ATOMIC_RELAXED);
    out->throttled = __atomic_load_n(&n->stats.throttled, __ATOMIC_RELAXED);
    out->bps_limit = tb_rate(&n->tx_tb);
}

void virtio_net_set_limit(struct virtio_net *n, uint64_t bps)
{
    uint64_t now = tb_now();
    tb_set(&n->tx_tb, bps, 0, now);
    tb_set(&n->rx_tb, bps, 0, now);
    /* Whatever waits for the old limit goes again under the new one. */
    pthread_mutex_lock(&n->timer_lock);
    if (n->tx_due)
        n->tx_due = now;
    if (n->rx_due)
        n->rx_due = now;
    pthread_cond_signal(&n->timer_cond);
    pthread_mutex_unlock(&n->timer_lock);
}

/* Resumes throttled directions when their bucket has refilled. */
static void *net_timer(void *arg)
{
    struct virtio_net *n = arg;
    pthread_mutex_lock(&n->timer_lock);
    while (!n->timer_stop) {
        uint64_t due = n->tx_due;
        if (n->rx_due && (!due || n->rx_due < due))
            due = n->rx_due;
        if (!due) {
            pthread_cond_wait(&n->timer_cond, &n->timer_lock);
            continue;
        }
        uint64_t now = tb_now();
        if (now < due) {
            struct timespec ts = {.tv_sec = (time_t)(due / TB_NSEC), .tv_nsec = (long)(due % TB_NSEC)};
            pthread_cond_timedwait(&n->timer_cond, &n->timer_lock, &ts);
            continue;
        }
        bool tx = n->tx_due && n->tx_due <= now, rx = n->rx_due && n->rx_due <= now;
        if (tx)
            n->tx_due = 0;
        if (rx)
            n->rx_due = 0;
        pthread_mutex_unlock(&n->timer_lock);
        if (tx)
            virtio_mmio_kick(n->t, VIRTIO_NET_TXQ);
        if (rx) {
            pthread_mutex_lock(&n->rx_lock);
            if (n->active && !n->broken) {
                struct virtq *q = virtio_mmio_queue(n->t, VIRTIO_NET_RXQ);
                unsigned pushed = 0;
                rx_flush(n, q, &pushed);
                rx_signal(n, q, pushed);
            }
            pthread_mutex_unlock(&n->rx_lock);
        }
        pthread_mutex_lock(&n->timer_lock);
    }
    pthread_mutex_unlock(&n->timer_lock);
    return NULL;
}

struct virtio_net *virtio_net_create(struct vm *vm, uint64_t base, unsigned irq,
                                     struct net_backend *be, const uint8_t mac[6])
{
    struct virtio_net *n = calloc(1, sizeof(*n));
    if (!n) {
        log_err("virtio-net", "out of memory");
        return NULL;
    }
    n->vm = vm;
    n->be = be;
    pthread_mutex_init(&n->rx_lock, NULL);
    pthread_mutex_init(&n->timer_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&n->timer_cond, &ca);
    pthread_condattr_destroy(&ca);
    tb_init(&n->tx_tb, 0, 0, tb_now());
    tb_init(&n->rx_tb, 0, 0, tb_now());

    /* struct virtio_net_config (§5.1.4); max_virtqueue_pairs/mtu are read only with MQ/MTU. */
    memcpy(n->config + VIRTIO_NET_CFG_MAC, mac, 6);
    put16(n->config + VIRTIO_NET_CFG_STATUS, VIRTIO_NET_S_LINK_UP);
    put16(n->config + VIRTIO_NET_CFG_MAX_VQ_PAIRS, 1);
    put16(n->config + VIRTIO_NET_CFG_MTU, 1500);

    n->ops = (struct virtio_dev_ops){
        .device_id = 1,
        .features = 1ull << VIRTIO_NET_F_MAC | 1ull << VIRTIO_NET_F_STATUS |
                    1ull << VIRTIO_NET_F_MRG_RXBUF,
        .num_queues = 2,
        .queue_max = VIRTIO_NET_QUEUE_SIZE,
        .config_read = net_config_read,
        .config_write = net_config_write,
        .config_size = VIRTIO_NET_CFG_SIZE,
        .queue_notify = net_notify,
        .reset = net_reset,
        .activate = net_activate,
        .quiesce = net_quiesce,
    };
    n->t = virtio_mmio_create(vm, base, irq, &n->ops, n);
    if (!n->t)
        goto fail;
    int r = pthread_create(&n->timer, NULL, net_timer, n);
    if (r != 0) {
        log_err("virtio-net", "cannot start the timer thread: %s", strerror(r));
        goto fail;
    }
    n->timer_started = true;
    r = net_backend_start(be, net_rx, n);
    if (r < 0) {
        log_err("virtio-net", "cannot start the %s network backend: %s", be->ops->kind,
                strerror(-r));
        goto fail;
    }
    n->backend_started = true;
    return n;

fail:
    virtio_net_destroy(n);
    return NULL;
}

void virtio_net_destroy(struct virtio_net *n)
{
    if (!n)
        return;
    if (n->backend_started)
        net_backend_stop(n->be); /* no rx callback after this */
    if (n->timer_started) {
        pthread_mutex_lock(&n->timer_lock);
        n->timer_stop = true;
        pthread_cond_signal(&n->timer_cond);
        pthread_mutex_unlock(&n->timer_lock);
        pthread_join(n->timer, NULL); /* it may kick the transport: join before freeing that */
    }
    virtio_mmio_destroy(n->t);
    drop_pending(n);
    pthread_mutex_destroy(&n->rx_lock);
    pthread_mutex_destroy(&n->timer_lock);
    pthread_cond_destroy(&n->timer_cond);
    tb_destroy(&n->tx_tb);
    tb_destroy(&n->rx_tb);
    free(n);
}

/* ---- snapshots ---- */

void virtio_net_save(struct virtio_net *n, struct snap_w *w)
{
    snap_w_bytes(w, n->config, sizeof(n->config));
    virtio_mmio_save(n->t, w);
}

int virtio_net_load(struct virtio_net *n, struct snap_rd *r, const uint8_t *new_mac)
{
    uint8_t cfg[VIRTIO_NET_CFG_SIZE];
    snap_r_bytes(r, cfg, sizeof(cfg));
    if (r->bad)
        return -EINVAL;
    /* A clone's own MAC (virtio 1.2 §5.1.4 mac): the driver reads it again when it probes. */
    if (new_mac)
        memcpy(cfg, new_mac, 6);
    int e = virtio_mmio_load(n->t, r);
    if (e)
        return e;
    memcpy(n->config, cfg, sizeof(cfg));
    return 0;
}
