/*
 * virtio-blk (virtio 1.2 §5.2). One request queue; the hart that kicks it only
 * wakes the disk's worker thread, which pops chains, does the I/O straight
 * into guest memory (preadv/pwritev on the validated segments), pushes the
 * used entries and raises the interrupt.
 *
 * Queue ownership: the worker is the only thread touching the virtqueue while
 * the device is active. reset() (called by the transport with its lock held,
 * on a hart thread) clears `active` and waits until the worker is idle before
 * the transport resets the queue. `kicked` is a level, not a count: however
 * many notifications arrive during a drain, the worker drains once more, and a
 * chain is only ever popped once because only the worker pops.
 *
 * Limits (bytes/s and IOPS, token_bucket.h): the worker pops a chain, works
 * out its cost, and if either bucket says wait it sleeps on `cond` with that
 * timeout before doing the I/O. reset, destroy and a limit change broadcast
 * `cond`, so a throttled worker never holds them up; on reset the popped
 * chain is simply abandoned (the queue is being reset anyway).
 */
#include "dev/virtio_blk.h"

#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/disk.h"
#include "snapshot/format.h"
#include "util/log.h"
#include "util/token_bucket.h"
#include "virtio/mmio.h"
#include "virtio/virtq.h"

#define SECTOR 512u
#define BLK_HDR 16 /* struct virtio_blk_req up to data: le32 type, le32 reserved, le64 sector */
/* How many requests to complete before checking whether the driver wants an interrupt. */
#define NOTIFY_BATCH 32

struct virtio_blk {
    struct vm *vm;
    struct disk *disk;
    struct virtio_mmio *t;
    struct virtio_dev_ops ops;
    uint8_t config[VIRTIO_BLK_CFG_SIZE];
    char serial[VIRTIO_BLK_ID_BYTES];
    uint64_t capacity; /* sectors */

    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool kicked;
    bool active;
    bool busy;
    bool stop;
    bool paused; /* snapshot quiesce: the worker takes nothing new (lock) */
    bool limits_changed; /* lock: wakes a throttled worker to look again */

    struct token_bucket bps, iops;
    struct virtio_blk_stats stats; /* counters __atomic; limits from the buckets */

    /* Worker-owned scratch. */
    struct virtq_chain chain;
    struct iovec iov[VIRTQ_MAX_SEGS];
};

static void count(uint64_t *c, uint64_t n)
{
    __atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

static void put32(uint8_t *p, uint32_t v)
{
    v = htole32(v);
    memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
    v = htole64(v);
    memcpy(p, &v, 8);
}

static bool negotiated(struct virtio_blk *b, unsigned bit)
{
    return virtio_mmio_driver_features(b->t) & (1ull << bit);
}

/* sector/count checked against capacity without overflow. */
static bool sectors_ok(const struct virtio_blk *b, uint64_t sector, uint64_t count)
{
    return sector <= b->capacity && count <= b->capacity - sector;
}

static uint8_t do_rw(struct virtio_blk *b, const struct virtq_chain *c, bool write, uint64_t sector)
{
    uint64_t len = write ? c->read_len - BLK_HDR : c->write_len - 1;
    /* §5.2.6: data is a multiple of 512 bytes. */
    if (len % SECTOR || !sectors_ok(b, sector, len / SECTOR)) return VIRTIO_BLK_S_IOERR;
    if (write && disk_readonly(b->disk))
        return VIRTIO_BLK_S_IOERR; /* §5.2.6.2: F_RO -> IOERR, no data written */
    if (len == 0) return VIRTIO_BLK_S_OK;
    int n = virtq_chain_iov(c, !write, write ? BLK_HDR : 0, len, b->iov, VIRTQ_MAX_SEGS);
    if (n < 0) return VIRTIO_BLK_S_IOERR;
    uint64_t off = sector * SECTOR;
    int r = write ? disk_pwritev(b->disk, b->iov, n, off) : disk_preadv(b->disk, b->iov, n, off);
    if (r < 0) {
        log_debug("virtio-blk", "%s: %s at sector %llu failed: %s", disk_path(b->disk),
                  write ? "write" : "read", (unsigned long long)sector, strerror(-r));
        return VIRTIO_BLK_S_IOERR;
    }
    return VIRTIO_BLK_S_OK;
}

/* DISCARD / WRITE_ZEROES: an array of struct virtio_blk_discard_write_zeroes (§5.2.6). */
static uint8_t do_discard(struct virtio_blk *b, const struct virtq_chain *c, bool zeroes)
{
    if (!negotiated(b, zeroes ? VIRTIO_BLK_F_WRITE_ZEROES : VIRTIO_BLK_F_DISCARD))
        return VIRTIO_BLK_S_UNSUPP;
    if (disk_readonly(b->disk)) return VIRTIO_BLK_S_IOERR;
    uint64_t len = c->read_len - BLK_HDR;
    if (len == 0 || len % 16 || len / 16 > VIRTIO_BLK_MAX_DISCARD_SEG) return VIRTIO_BLK_S_IOERR;
    for (uint64_t i = 0; i < len / 16; i++) {
        uint8_t raw[16];
        if (virtq_chain_read(c, BLK_HDR + 16 * i, raw, 16) != 16) return VIRTIO_BLK_S_IOERR;
        uint64_t sector;
        uint32_t num, flags;
        memcpy(&sector, raw, 8);
        memcpy(&num, raw + 8, 4);
        memcpy(&flags, raw + 12, 4);
        sector = le64toh(sector);
        num = le32toh(num);
        flags = le32toh(flags);
        /* §5.2.6.2: unknown flags, or unmap on a discard -> UNSUPP. */
        if ((flags & ~1u) || (!zeroes && (flags & 1u))) return VIRTIO_BLK_S_UNSUPP;
        if (num > VIRTIO_BLK_MAX_DISCARD_SECTORS || !sectors_ok(b, sector, num))
            return VIRTIO_BLK_S_IOERR;
        uint64_t off = sector * SECTOR, bytes = (uint64_t)num * SECTOR;
        int r = zeroes ? disk_write_zeroes(b->disk, off, bytes) : disk_discard(b->disk, off, bytes);
        if (r < 0) return VIRTIO_BLK_S_IOERR;
    }
    return VIRTIO_BLK_S_OK;
}

/*
 * One request. Returns 0 with the status byte written and *written set, or
 * -EINVAL with *why set when the chain is not a block request at all.
 */
static int blk_request(struct virtio_blk *b, const struct virtq_chain *c, uint32_t *written,
                       const char **why)
{
    /* §5.2.6: header readable, status the device-writable last byte. */
    if (c->read_len < BLK_HDR) {
        *why = "request header missing or short";
        return -EINVAL;
    }
    if (c->write_len < 1) {
        *why = "request has no status byte";
        return -EINVAL;
    }
    uint8_t hdr[BLK_HDR];
    virtq_chain_read(c, 0, hdr, BLK_HDR);
    uint32_t type;
    uint64_t sector;
    memcpy(&type, hdr, 4);
    memcpy(&sector, hdr + 8, 8);
    type = le32toh(type);
    sector = le64toh(sector);

    uint8_t status;
    switch (type) {
    case VIRTIO_BLK_T_IN:
        status = do_rw(b, c, false, sector);
        count(&b->stats.reads, 1);
        if (status == VIRTIO_BLK_S_OK) count(&b->stats.read_bytes, c->write_len - 1);
        break;
    case VIRTIO_BLK_T_OUT:
        status = do_rw(b, c, true, sector);
        count(&b->stats.writes, 1);
        if (status == VIRTIO_BLK_S_OK) count(&b->stats.write_bytes, c->read_len - BLK_HDR);
        break;
    case VIRTIO_BLK_T_FLUSH:
        status = disk_flush(b->disk) < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
        count(&b->stats.flushes, 1);
        break;
    case VIRTIO_BLK_T_GET_ID: {
        uint64_t room = c->write_len - 1;
        virtq_chain_write(c, 0, b->serial, room < sizeof(b->serial) ? room : sizeof(b->serial));
        status = VIRTIO_BLK_S_OK;
        break;
    }
    case VIRTIO_BLK_T_DISCARD:
        status = do_discard(b, c, false);
        break;
    case VIRTIO_BLK_T_WRITE_ZEROES:
        status = do_discard(b, c, true);
        break;
    default:
        status = VIRTIO_BLK_S_UNSUPP;
        break;
    }
    if (status != VIRTIO_BLK_S_OK) count(&b->stats.errors, 1);
    virtq_chain_write(c, c->write_len - 1, &status, 1);
    /* Used length: the writable part up to and including the status byte (§2.7.8). */
    *written = c->write_len > UINT32_MAX ? UINT32_MAX : (uint32_t)c->write_len;
    return 0;
}

/* What a request costs against the byte bucket: its data, for reads and writes only. */
static uint64_t blk_cost_bytes(const struct virtq_chain *c)
{
    uint32_t type;
    if (c->read_len < BLK_HDR || c->write_len < 1 || virtq_chain_read(c, 0, &type, 4) != 4)
        return 0; /* malformed: blk_request refuses it without touching the disk */
    type = le32toh(type);
    if (type == VIRTIO_BLK_T_IN) return c->write_len - 1;
    if (type == VIRTIO_BLK_T_OUT) return c->read_len - BLK_HDR;
    return 0;
}

/*
 * Waits until both buckets admit the request, then charges them. Returns
 * false, having charged nothing, if the device was reset or is being
 * destroyed meanwhile. Worker thread only.
 */
static bool blk_throttle(struct virtio_blk *b, uint64_t bytes)
{
    bool waited = false;
    pthread_mutex_lock(&b->lock);
    for (;;) {
        if (b->stop || !b->active) {
            pthread_mutex_unlock(&b->lock);
            return false;
        }
        b->limits_changed = false;
        uint64_t now = tb_now();
        uint64_t w1 = tb_delay(&b->bps, bytes, now), w2 = tb_delay(&b->iops, 1, now);
        uint64_t w = w1 > w2 ? w1 : w2;
        if (w == 0) {
            tb_charge(&b->bps, bytes, now);
            tb_charge(&b->iops, 1, now);
            break;
        }
        if (!waited) count(&b->stats.throttled, 1);
        waited = true;
        /* cond runs on CLOCK_MONOTONIC (see create); wake at least every 10 s regardless. */
        uint64_t until = now + (w < 10 * TB_NSEC ? w : 10 * TB_NSEC);
        struct timespec ts = {.tv_sec = (time_t)(until / TB_NSEC), .tv_nsec = (long)(until % TB_NSEC)};
        while (!b->stop && b->active && !b->limits_changed && tb_now() < until) {
            if (pthread_cond_timedwait(&b->cond, &b->lock, &ts) == ETIMEDOUT) break;
        }
    }
    pthread_mutex_unlock(&b->lock);
    return true;
}

static void blk_drain(struct virtio_blk *b)
{
    struct virtq *q = virtio_mmio_queue(b->t, 0);
    unsigned since_notify = 0;
    for (;;) {
        int r = virtq_pop(q, &b->chain);
        if (r == 0) break;
        if (r < 0) {
            virtio_mmio_needs_reset(b->t, q->error);
            break;
        }
        if (!blk_throttle(b, blk_cost_bytes(&b->chain))) break;
        uint32_t written = 0;
        const char *why = NULL;
        if (blk_request(b, &b->chain, &written, &why) < 0) {
            virtq_mark_broken(q, why);
            virtio_mmio_needs_reset(b->t, why);
            break;
        }
        if (virtq_push(q, &b->chain, written) < 0) {
            virtio_mmio_needs_reset(b->t, q->error);
            break;
        }
        if (++since_notify >= NOTIFY_BATCH) {
            since_notify = 0;
            if (virtq_should_notify(q)) virtio_mmio_raise(b->t, VIRTIO_ISR_VRING);
        }
    }
    if (since_notify && virtq_should_notify(q)) virtio_mmio_raise(b->t, VIRTIO_ISR_VRING);
}

static void *blk_worker(void *arg)
{
    struct virtio_blk *b = arg;
    pthread_mutex_lock(&b->lock);
    for (;;) {
        while (!b->stop && !(b->kicked && b->active && !b->paused))
            pthread_cond_wait(&b->cond, &b->lock);
        if (b->stop) break;
        b->kicked = false;
        b->busy = true;
        pthread_mutex_unlock(&b->lock);
        blk_drain(b);
        pthread_mutex_lock(&b->lock);
        b->busy = false;
        pthread_cond_broadcast(&b->cond);
    }
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

static void blk_notify(void *dev, unsigned queue)
{
    struct virtio_blk *b = dev;
    (void)queue;
    pthread_mutex_lock(&b->lock);
    b->kicked = true;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
}

static void blk_activate(void *dev)
{
    struct virtio_blk *b = dev;
    pthread_mutex_lock(&b->lock);
    b->active = true;
    b->kicked = true; /* look once: buffers may already be waiting */
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
}

/* Quiesce: when this returns the worker is idle and won't touch the queue until activate. */
static void blk_reset(void *dev)
{
    struct virtio_blk *b = dev;
    pthread_mutex_lock(&b->lock);
    b->active = false;
    b->kicked = false;
    pthread_cond_broadcast(&b->cond); /* a throttled worker gives up its wait */
    while (b->busy)
        pthread_cond_wait(&b->cond, &b->lock);
    pthread_mutex_unlock(&b->lock);
}

/*
 * Snapshot quiesce: unlike reset, `active` stays set, so a request being
 * throttled is waited for, never dropped. The harts are stopped, so the
 * worker's drain ends once the avail ring is empty.
 */
static void blk_quiesce(void *dev, bool pause)
{
    struct virtio_blk *b = dev;
    pthread_mutex_lock(&b->lock);
    b->paused = pause;
    if (pause) {
        while (b->busy)
            pthread_cond_wait(&b->cond, &b->lock);
    } else {
        b->kicked = true; /* a kick may have come in just before the pause */
        pthread_cond_broadcast(&b->cond);
    }
    pthread_mutex_unlock(&b->lock);
}

static void blk_config_read(void *dev, uint32_t offset, void *buf, unsigned size)
{
    struct virtio_blk *b = dev;
    memcpy(buf, b->config + offset, size);
}

static void blk_config_write(void *dev, uint32_t offset, const void *buf, unsigned size)
{
    /* Nothing is writable without VIRTIO_BLK_F_CONFIG_WCE, which we don't offer. */
    (void)dev, (void)offset, (void)buf, (void)size;
}

void virtio_blk_set_serial(struct virtio_blk *b, const char *serial)
{
    memset(b->serial, 0, sizeof(b->serial));
    size_t n = strlen(serial);
    memcpy(b->serial, serial, n < sizeof(b->serial) ? n : sizeof(b->serial));
}

struct virtio_mmio *virtio_blk_transport(struct virtio_blk *b)
{
    return b->t;
}

void virtio_blk_set_limits(struct virtio_blk *b, uint64_t bps, uint64_t iops)
{
    uint64_t now = tb_now();
    tb_set(&b->bps, bps, 0, now);
    tb_set(&b->iops, iops, 0, now);
    pthread_mutex_lock(&b->lock);
    b->limits_changed = true;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
}

void virtio_blk_get_stats(struct virtio_blk *b, struct virtio_blk_stats *out)
{
    out->reads = __atomic_load_n(&b->stats.reads, __ATOMIC_RELAXED);
    out->writes = __atomic_load_n(&b->stats.writes, __ATOMIC_RELAXED);
    out->flushes = __atomic_load_n(&b->stats.flushes, __ATOMIC_RELAXED);
    out->read_bytes = __atomic_load_n(&b->stats.read_bytes, __ATOMIC_RELAXED);
    out->write_bytes = __atomic_load_n(&b->stats.write_bytes, __ATOMIC_RELAXED);
    out->errors = __atomic_load_n(&b->stats.errors, __ATOMIC_RELAXED);
    out->throttled = __atomic_load_n(&b->stats.throttled, __ATOMIC_RELAXED);
    out->bps_limit = tb_rate(&b->bps);
    out->iops_limit = tb_rate(&b->iops);
}

void virtio_blk_wait_idle(struct virtio_blk *b)
{
    pthread_mutex_lock(&b->lock);
    /* A kick on an inactive device is dropped by reset, so only wait while active. */
    while (b->busy || (b->active && b->kicked && !b->stop))
        pthread_cond_wait(&b->cond, &b->lock);
    pthread_mutex_unlock(&b->lock);
}

struct virtio_blk *virtio_blk_create(struct vm *vm, uint64_t base, unsigned irq, struct disk *disk)
{
    struct virtio_blk *b = calloc(1, sizeof(*b));
    if (!b) {
        log_err("virtio-blk", "out of memory");
        return NULL;
    }
    b->vm = vm;
    b->disk = disk;
    b->capacity = disk_size(disk) / SECTOR;
    pthread_mutex_init(&b->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->cond, &ca);
    pthread_condattr_destroy(&ca);
    tb_init(&b->bps, 0, 0, tb_now());
    tb_init(&b->iops, 0, 0, tb_now());

    const char *path = disk_path(disk);
    const char *slash = strrchr(path, '/');
    virtio_blk_set_serial(b, slash ? slash + 1 : path);

    bool ro = disk_readonly(disk);
    uint64_t features =
        1ull << VIRTIO_BLK_F_SEG_MAX | 1ull << VIRTIO_BLK_F_BLK_SIZE | 1ull << VIRTIO_BLK_F_FLUSH;
    if (ro)
        features |= 1ull << VIRTIO_BLK_F_RO;
    else
        features |= 1ull << VIRTIO_BLK_F_DISCARD | 1ull << VIRTIO_BLK_F_WRITE_ZEROES;

    /* struct virtio_blk_config (§5.2.4); padding and absent fields stay 0. */
    put64(b->config + VIRTIO_BLK_CFG_CAPACITY, b->capacity);
    put32(b->config + VIRTIO_BLK_CFG_SEG_MAX, VIRTIO_BLK_SEG_MAX);
    put32(b->config + VIRTIO_BLK_CFG_BLK_SIZE, SECTOR);
    if (!ro) {
        put32(b->config + VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS, VIRTIO_BLK_MAX_DISCARD_SECTORS);
        put32(b->config + VIRTIO_BLK_CFG_MAX_DISCARD_SEG, VIRTIO_BLK_MAX_DISCARD_SEG);
        put32(b->config + VIRTIO_BLK_CFG_DISCARD_ALIGN, 4096 / SECTOR); /* host page: holes */
        put32(b->config + VIRTIO_BLK_CFG_MAX_WZ_SECTORS, VIRTIO_BLK_MAX_DISCARD_SECTORS);
        put32(b->config + VIRTIO_BLK_CFG_MAX_WZ_SEG, VIRTIO_BLK_MAX_DISCARD_SEG);
        b->config[VIRTIO_BLK_CFG_WZ_MAY_UNMAP] = 1;
    }

    b->ops = (struct virtio_dev_ops){
        .device_id = 2,
        .features = features,
        .num_queues = 1,
        .queue_max = VIRTIO_BLK_QUEUE_SIZE,
        .config_read = blk_config_read,
        .config_write = blk_config_write,
        .config_size = VIRTIO_BLK_CFG_SIZE,
        .queue_notify = blk_notify,
        .reset = blk_reset,
        .activate = blk_activate,
        .quiesce = blk_quiesce,
    };
    int r = pthread_create(&b->thread, NULL, blk_worker, b);
    if (r != 0) {
        log_err("virtio-blk", "%s: cannot start worker thread: %s", path, strerror(r));
        goto fail;
    }
    b->thread_started = true;
    b->t = virtio_mmio_create(vm, base, irq, &b->ops, b);
    if (!b->t) goto fail;
    return b;

fail:
    virtio_blk_destroy(b);
    return NULL;
}

void virtio_blk_destroy(struct virtio_blk *b)
{
    if (!b) return;
    if (b->thread_started) {
        pthread_mutex_lock(&b->lock);
        b->stop = true;
        pthread_cond_broadcast(&b->cond);
        pthread_mutex_unlock(&b->lock);
        pthread_join(b->thread, NULL);
    }
    virtio_mmio_destroy(b->t);
    pthread_cond_destroy(&b->cond);
    pthread_mutex_destroy(&b->lock);
    tb_destroy(&b->bps);
    tb_destroy(&b->iops);
    free(b);
}

/* ---- snapshots ---- */

/* Device fields first, then the transport, which reads the record to its end. */
void virtio_blk_save(struct virtio_blk *b, struct snap_w *w)
{
    snap_w_u64(w, b->capacity);
    snap_w_bytes(w, b->serial, sizeof(b->serial));
    virtio_mmio_save(b->t, w);
}

int virtio_blk_load(struct virtio_blk *b, struct snap_rd *r)
{
    uint64_t cap = snap_r_u64(r);
    char serial[VIRTIO_BLK_ID_BYTES];
    snap_r_bytes(r, serial, sizeof(serial));
    if (r->bad || cap != b->capacity)
        return -EINVAL; /* the disk changed size: the guest's view of it would be wrong */
    memcpy(b->serial, serial, sizeof(serial));
    return virtio_mmio_load(b->t, r);
}
