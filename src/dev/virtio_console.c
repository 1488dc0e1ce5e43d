/*
 * virtio-console (virtio 1.2 §5.3), single port. One worker thread per
 * device does all the work: it polls an eventfd (kicks, activate, stop) and
 * the input fd, copies transmitq chains into a host buffer, pushes them, and
 * only then writes the buffer out, so the queues are never held while a
 * write to a slow terminal or a full pipe blocks.
 *
 * Input has back-pressure instead of loss: the worker stops reading in_fd
 * while its buffer is full, i.e. while the guest has posted no receive
 * buffers; the guest's next rx kick resumes it.
 *
 * Queue ownership as in virtio-blk: reset() (hart thread, transport lock
 * held) clears `active` and waits while the worker is `busy` touching the
 * queues; busy never spans fd I/O, so reset never waits on the host.
 */
#include "dev/virtio_console.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "snapshot/format.h"
#include "util/log.h"
#include "virtio/mmio.h"
#include "virtio/virtq.h"

#define IN_BUF 4096
#define OUT_BUF 65536

struct virtio_console {
    struct vm *vm;
    struct virtio_mmio *t;
    struct virtio_dev_ops ops;
    int in_fd, out_fd;
    int wake;

    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool active, busy, stop, broken;
    uint64_t kicks, handled; /* for wait_idle: kicks seen vs. fully served */

    /* Worker-owned. */
    uint8_t in_buf[IN_BUF];
    size_t in_len;
    bool in_eof;
    uint8_t out_buf[OUT_BUF];
    size_t out_len;
    struct virtq_chain chain;
};

static void kick(struct virtio_console *c)
{
    uint64_t one = 1;
    (void)!write(c->wake, &one, sizeof(one));
}

static void broken(struct virtio_console *c, struct virtq *q, const char *why)
{
    if (!q->broken)
        virtq_mark_broken(q, why);
    c->broken = true;
    virtio_mmio_needs_reset(c->t, why);
}

/* transmitq0 → out_buf. Returns true if chains remain (out_buf full). */
static bool tx_collect(struct virtio_console *c, unsigned *pushed)
{
    struct virtq *q = virtio_mmio_queue(c->t, VIRTIO_CONSOLE_TXQ);
    while (!c->broken) {
        if (c->out_len == OUT_BUF)
            return true;
        int r = virtq_pop(q, &c->chain);
        if (r == 0)
            break;
        if (r < 0) {
            broken(c, q, q->error);
            break;
        }
        /* §5.3.6: transmit buffers are device-readable. */
        if (c->chain.nseg != c->chain.nread) {
            broken(c, q, "transmitq buffer has device-writable descriptors");
            break;
        }
        size_t room = OUT_BUF - c->out_len;
        if (c->chain.read_len > room && c->out_len) {
            q->last_avail_idx--; /* popping only read the rings: take it again after the flush */
            return true;
        }
        /* Only a single chain over 64 KiB is cut short (Linux's hvc writes at most a page). */
        size_t n = c->chain.read_len < room ? (size_t)c->chain.read_len : room;
        c->out_len += virtq_chain_read(&c->chain, 0, c->out_buf + c->out_len, n);
        if (virtq_push(q, &c->chain, 0) < 0) {
            broken(c, q, q->error);
            break;
        }
        ++*pushed;
    }
    return false;
}

/* in_buf → receiveq0, as far as the posted buffers go. */
static void rx_fill(struct virtio_console *c, unsigned *pushed)
{
    struct virtq *q = virtio_mmio_queue(c->t, VIRTIO_CONSOLE_RXQ);
    while (c->in_len && !c->broken) {
        int r = virtq_pop(q, &c->chain);
        if (r == 0)
            break;
        if (r < 0) {
            broken(c, q, q->error);
            break;
        }
        if (c->chain.nread) {
            broken(c, q, "receiveq buffer has device-readable descriptors");
            break;
        }
        size_t n = c->chain.write_len < c->in_len ? (size_t)c->chain.write_len : c->in_len;
        virtq_chain_write(&c->chain, 0, c->in_buf, n);
        if (virtq_push(q, &c->chain, (uint32_t)n) < 0) {
            broken(c, q, q->error);
            break;
        }
        memmove(c->in_buf, c->in_buf + n, c->in_len - n);
        c->in_len -= n;
        ++*pushed;
    }
}

static void write_out(struct virtio_console *c)
{
    size_t off = 0;
    while (c->out_fd >= 0 && off < c->out_len) {
        ssize_t w = write(c->out_fd, c->out_buf + off, c->out_len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) { /* someone made it non-blocking: wait for room */
            struct pollfd p = {.fd = c->out_fd, .events = POLLOUT};
            poll(&p, 1, 1000);
            continue;
        }
        if (w <= 0) {
            log_err("virtio-console", "output: %s; discarding console output from now on",
                    w < 0 ? strerror(errno) : "short write");
            c->out_fd = -1;
            break;
        }
        off += (size_t)w;
    }
    c->out_len = 0;
}

static void read_in(struct virtio_console *c)
{
    ssize_t r = read(c->in_fd, c->in_buf + c->in_len, IN_BUF - c->in_len);
    if (r > 0)
        c->in_len += (size_t)r;
    else if (r == 0 || (errno != EINTR && errno != EAGAIN))
        c->in_eof = true; /* EOF or error: no more input, output carries on */
}

static void *console_worker(void *arg)
{
    struct virtio_console *c = arg;
    for (;;) {
        struct pollfd p[2] = {{.fd = c->wake, .events = POLLIN}, {.fd = c->in_fd, .events = POLLIN}};
        bool want_in = c->in_fd >= 0 && !c->in_eof && c->in_len < IN_BUF;
        if (poll(p, want_in ? 2 : 1, -1) < 0 && errno != EINTR) {
            log_err("virtio-console", "poll: %s", strerror(errno));
            break;
        }
        uint64_t seen = 0;
        if (p[0].revents)
            (void)!read(c->wake, &seen, sizeof(seen));
        if (want_in && p[1].revents)
            read_in(c);

        pthread_mutex_lock(&c->lock);
        if (c->stop) {
            pthread_mutex_unlock(&c->lock);
            break;
        }
        uint64_t kicks = c->kicks;
        bool run = c->active && !c->broken;
        c->busy = run;
        pthread_mutex_unlock(&c->lock);

        bool more = false;
        if (run) {
            unsigned tx_pushed = 0, rx_pushed = 0;
            more = tx_collect(c, &tx_pushed);
            rx_fill(c, &rx_pushed);
            /* Both queues are asked: should_notify records the notification point. */
            bool tx_notify = tx_pushed && virtq_should_notify(virtio_mmio_queue(c->t, VIRTIO_CONSOLE_TXQ));
            bool rx_notify = rx_pushed && virtq_should_notify(virtio_mmio_queue(c->t, VIRTIO_CONSOLE_RXQ));
            if (tx_notify || rx_notify)
                virtio_mmio_raise(c->t, VIRTIO_ISR_VRING);
        }
        pthread_mutex_lock(&c->lock);
        c->busy = false;
        pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->lock);

        write_out(c);
        if (more)
            kick(c);

        pthread_mutex_lock(&c->lock);
        if (!more)
            c->handled = kicks;
        pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->lock);
    }
    return NULL;
}

static void console_notify(void *dev, unsigned queue)
{
    struct virtio_console *c = dev;
    (void)queue;
    pthread_mutex_lock(&c->lock);
    c->kicks++;
    pthread_mutex_unlock(&c->lock);
    kick(c);
}

static void console_activate(void *dev)
{
    struct virtio_console *c = dev;
    pthread_mutex_lock(&c->lock);
    c->active = true;
    c->broken = false;
    c->kicks++;
    pthread_mutex_unlock(&c->lock);
    kick(c); /* buffers and input may already be waiting */
}

static void console_reset(void *dev)
{
    struct virtio_console *c = dev;
    pthread_mutex_lock(&c->lock);
    c->active = false;
    while (c->busy)
        pthread_cond_wait(&c->cond, &c->lock);
    pthread_mutex_unlock(&c->lock);
}

/* Snapshot quiesce: the worker finishes its pass and leaves the queues alone until resumed. */
static void console_quiesce(void *dev, bool pause)
{
    struct virtio_console *c = dev;
    pthread_mutex_lock(&c->lock);
    c->active = !pause;
    while (pause && c->busy)
        pthread_cond_wait(&c->cond, &c->lock);
    if (!pause)
        c->kicks++;
    pthread_mutex_unlock(&c->lock);
    if (!pause)
        kick(c);
}

struct virtio_mmio *virtio_console_transport(struct virtio_console *c)
{
    return c->t;
}

void virtio_console_wait_idle(struct virtio_console *c)
{
    pthread_mutex_lock(&c->lock);
    while (!c->stop && c->active && c->handled != c->kicks)
        pthread_cond_wait(&c->cond, &c->lock);
    pthread_mutex_unlock(&c->lock);
}

struct virtio_console *virtio_console_create(struct vm *vm, uint64_t base, unsigned irq, int in_fd,
                                             int out_fd)
{
    struct virtio_console *c = calloc(1, sizeof(*c));
    if (!c) {
        log_err("virtio-console", "out of memory");
        return NULL;
    }
    c->vm = vm;
    c->in_fd = in_fd;
    c->out_fd = out_fd;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    c->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (c->wake < 0) {
        log_err("virtio-console", "eventfd: %s", strerror(errno));
        goto fail;
    }
    c->ops = (struct virtio_dev_ops){
        .device_id = 3,
        .features = 0, /* §5.3.3: no SIZE, MULTIPORT or EMERG_WRITE: one port, no config space */
        .num_queues = 2,
        .queue_max = VIRTIO_CONSOLE_QUEUE_SIZE,
        .config_size = 0,
        .queue_notify = console_notify,
        .reset = console_reset,
        .activate = console_activate,
        .quiesce = console_quiesce,
    };
    int r = pthread_create(&c->thread, NULL, console_worker, c);
    if (r) {
        log_err("virtio-console", "cannot start worker thread: %s", strerror(r));
        goto fail;
    }
    c->thread_started = true;
    c->t = virtio_mmio_create(vm, base, irq, &c->ops, c);
    if (!c->t)
        goto fail;
    return c;

fail:
    virtio_console_destroy(c);
    return NULL;
}

void virtio_console_destroy(struct virtio_console *c)
{
    if (!c)
        return;
    if (c->thread_started) {
        pthread_mutex_lock(&c->lock);
        c->stop = true;
        pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->lock);
        kick(c);
        pthread_join(c->thread, NULL);
    }
    virtio_mmio_destroy(c->t);
    if (c->wake >= 0)
        close(c->wake);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* ---- snapshots ---- */

/* Buffered host-side output is flushed by the worker; the guest-visible state is the transport. */
void virtio_console_save(struct virtio_console *c, struct snap_w *w)
{
    virtio_mmio_save(c->t, w);
}

int virtio_console_load(struct virtio_console *c, struct snap_rd *r)
{
    return virtio_mmio_load(c->t, r);
}
