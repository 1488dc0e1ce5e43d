/*
 * virtio-9p (virtio 1.2 §5.1 table "Device Types": ID 9, "9P transport"; the
 * device section itself lives in the 9P/virtio paper and QEMU). Each chain is one 9P request:
 * the readable part holds the T-message, the writable part receives the
 * R-message (Linux's net/9p/trans_virtio.c; zero-copy requests just append
 * data pages to either part, so the message is still contiguous in chain
 * order). The config space is le16 tag_len + the tag, offered with
 * VIRTIO_9P_MOUNT_TAG.
 *
 * Threading as in virtio_blk.c: the kicking hart only wakes the worker, which
 * owns the queue while the device is active; reset() waits for it to go idle,
 * then drops every fid (the driver starts a new session with Tversion).
 */
#include "dev/virtio_9p.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/p9fs.h"
#include "util/log.h"
#include "virtio/mmio.h"
#include "virtio/virtq.h"

#define NOTIFY_BATCH 16

struct virtio_9p {
    struct virtio_mmio *t;
    struct p9fs *fs;
    struct virtio_dev_ops ops;
    uint8_t config[2 + VIRTIO_9P_TAG_MAX];
    uint32_t config_size;

    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool kicked, active, busy, stop;
    bool paused; /* snapshot quiesce: the worker takes nothing new */

    /* Worker-owned scratch: one message each way, never more than P9FS_MSIZE_MAX. */
    struct virtq_chain chain;
    uint8_t *in, *out;
};

int virtio_9p_parse_share(const char *spec, char *dir, size_t dirlen, char *tag, size_t taglen,
                          bool *ro, char *err, size_t errlen)
{
    size_t n = strlen(spec);
    *ro = false;
    if (n > 3 && (!strcmp(spec + n - 3, ":ro") || !strcmp(spec + n - 3, ":rw"))) {
        *ro = spec[n - 2] == 'r' && spec[n - 1] == 'o';
        n -= 3;
    }
    const char *colon = NULL;
    for (size_t i = 0; i < n; i++)
        if (spec[i] == ':') colon = spec + i;
    if (!colon || colon == spec) {
        snprintf(err, errlen, "--share '%s': expected HOST_DIR:TAG[:ro]", spec);
        return -1;
    }
    size_t dl = (size_t)(colon - spec), tl = n - dl - 1;
    if (tl == 0 || tl > VIRTIO_9P_TAG_MAX || tl >= taglen) {
        snprintf(err, errlen, "--share '%s': the tag must be 1 to %d characters", spec,
                 VIRTIO_9P_TAG_MAX);
        return -1;
    }
    for (size_t i = 0; i < tl; i++) {
        char c = colon[1 + i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.')) {
            snprintf(err, errlen,
                     "--share '%s': the tag may hold only letters, digits, '_', '-', '.'", spec);
            return -1;
        }
    }
    if (dl >= dirlen) {
        snprintf(err, errlen, "--share: directory name too long");
        return -1;
    }
    memcpy(dir, spec, dl);
    dir[dl] = 0;
    memcpy(tag, colon + 1, tl);
    tag[tl] = 0;
    return 0;
}

/* One request. 0 with *written set, or -EINVAL with *why when the chain is not a 9P request. */
static int p9_request(struct virtio_9p *d, const struct virtq_chain *c, uint32_t *written,
                      const char **why)
{
    if (c->read_len < P9FS_HDR) {
        *why = "9P request shorter than its header";
        return -EINVAL;
    }
    size_t inlen = c->read_len < P9FS_MSIZE_MAX ? (size_t)c->read_len : P9FS_MSIZE_MAX;
    size_t outcap = c->write_len < P9FS_MSIZE_MAX ? (size_t)c->write_len : P9FS_MSIZE_MAX;
    virtq_chain_read(c, 0, d->in, inlen);
    int n = p9fs_handle(d->fs, d->in, inlen, d->out, outcap);
    if (n < 0) {
        *why = "9P request without room for a reply";
        return -EINVAL;
    }
    *written = (uint32_t)virtq_chain_write(c, 0, d->out, (size_t)n);
    return 0;
}

static void p9_drain(struct virtio_9p *d)
{
    struct virtq *q = virtio_mmio_queue(d->t, 0);
    unsigned since_notify = 0;
    for (;;) {
        int r = virtq_pop(q, &d->chain);
        if (r == 0) break;
        if (r < 0) {
            virtio_mmio_needs_reset(d->t, q->error);
            break;
        }
        uint32_t written = 0;
        const char *why = NULL;
        if (p9_request(d, &d->chain, &written, &why) < 0) {
            virtq_mark_broken(q, why);
            virtio_mmio_needs_reset(d->t, why);
            break;
        }
        if (virtq_push(q, &d->chain, written) < 0) {
            virtio_mmio_needs_reset(d->t, q->error);
            break;
        }
        if (++since_notify >= NOTIFY_BATCH) {
            since_notify = 0;
            if (virtq_should_notify(q)) virtio_mmio_raise(d->t, VIRTIO_ISR_VRING);
        }
    }
    if (since_notify && virtq_should_notify(q)) virtio_mmio_raise(d->t, VIRTIO_ISR_VRING);
}

static void *p9_worker(void *arg)
{
    struct virtio_9p *d = arg;
    pthread_mutex_lock(&d->lock);
    for (;;) {
        while (!d->stop && !(d->kicked && d->active && !d->paused))
            pthread_cond_wait(&d->cond, &d->lock);
        if (d->stop) break;
        d->kicked = false;
        d->busy = true;
        pthread_mutex_unlock(&d->lock);
        p9_drain(d);
        pthread_mutex_lock(&d->lock);
        d->busy = false;
        pthread_cond_broadcast(&d->cond);
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

static void p9_notify(void *dev, unsigned queue)
{
    struct virtio_9p *d = dev;
    (void)queue;
    pthread_mutex_lock(&d->lock);
    d->kicked = true;
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
}

static void p9_activate(void *dev)
{
    struct virtio_9p *d = dev;
    pthread_mutex_lock(&d->lock);
    d->active = true;
    d->kicked = true; /* requests may already be waiting */
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
}

static void p9_reset(void *dev)
{
    struct virtio_9p *d = dev;
    pthread_mutex_lock(&d->lock);
    d->active = false;
    d->kicked = false;
    while (d->busy)
        pthread_cond_wait(&d->cond, &d->lock);
    pthread_mutex_unlock(&d->lock);
    /* The worker is idle and stays so until activate: the session can go. */
    p9fs_reset(d->fs);
}

/*
 * Snapshot quiesce (virtio/mmio.h), as virtio_blk.c: the request in hand is
 * finished and pushed, then nothing new is taken, so the saved queue position
 * and the saved 9P session (src/snapshot/dev_9p.c) agree.
 */
static void p9_quiesce(void *dev, bool pause)
{
    struct virtio_9p *d = dev;
    pthread_mutex_lock(&d->lock);
    d->paused = pause;
    if (pause) {
        while (d->busy)
            pthread_cond_wait(&d->cond, &d->lock);
    } else {
        d->kicked = true; /* a kick may have come in just before the pause */
        pthread_cond_broadcast(&d->cond);
    }
    pthread_mutex_unlock(&d->lock);
}

static void p9_config_read(void *dev, uint32_t offset, void *buf, unsigned size)
{
    struct virtio_9p *d = dev;
    memcpy(buf, d->config + offset, size);
}

static void p9_config_write(void *dev, uint32_t offset, const void *buf, unsigned size)
{
    (void)dev, (void)offset, (void)buf, (void)size; /* the tag is read-only */
}

struct virtio_9p *virtio_9p_create(struct vm *vm, uint64_t base, unsigned irq, struct p9fs *fs,
                                   const char *tag)
{
    size_t tl = strlen(tag);
    if (tl == 0 || tl > VIRTIO_9P_TAG_MAX) {
        log_err("virtio-9p", "mount tag '%s' must be 1 to %d characters", tag, VIRTIO_9P_TAG_MAX);
        return NULL;
    }
    struct virtio_9p *d = calloc(1, sizeof(*d));
    if (!d || !(d->in = malloc(P9FS_MSIZE_MAX)) || !(d->out = malloc(P9FS_MSIZE_MAX))) {
        log_err("virtio-9p", "out of memory");
        if (d) {
            free(d->in);
            free(d);
        }
        return NULL;
    }
    d->fs = fs;
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->cond, NULL);
    /* struct virtio_9p_config: le16 tag_len, u8 tag[tag_len] (no NUL). */
    d->config[0] = (uint8_t)tl;
    d->config[1] = 0;
    memcpy(d->config + 2, tag, tl);
    d->config_size = (uint32_t)(2 + tl);

    static const struct virtio_dev_ops ops_template = {
        .device_id = VIRTIO_9P_DEVICE_ID,
        .features = 1ull << VIRTIO_9P_MOUNT_TAG,
        .num_queues = 1,
        .queue_max = VIRTIO_9P_QUEUE_SIZE,
        .config_read = p9_config_read,
        .config_write = p9_config_write,
        .queue_notify = p9_notify,
        .reset = p9_reset,
        .activate = p9_activate,
        .quiesce = p9_quiesce,
    };
    d->ops = ops_template;
    d->ops.config_size = d->config_size;
    int r = pthread_create(&d->thread, NULL, p9_worker, d);
    if (r != 0) {
        log_err("virtio-9p", "cannot start worker thread: %s", strerror(r));
        goto fail;
    }
    d->thread_started = true;
    d->t = virtio_mmio_create(vm, base, irq, &d->ops, d);
    if (!d->t) goto fail;
    return d;

fail:
    virtio_9p_destroy(d);
    return NULL;
}

void virtio_9p_destroy(struct virtio_9p *d)
{
    if (!d) return;
    if (d->thread_started) {
        pthread_mutex_lock(&d->lock);
        d->stop = true;
        pthread_cond_broadcast(&d->cond);
        pthread_mutex_unlock(&d->lock);
        pthread_join(d->thread, NULL);
    }
    if (d->t) virtio_mmio_destroy(d->t);
    pthread_cond_destroy(&d->cond);
    pthread_mutex_destroy(&d->lock);
    free(d->in);
    free(d->out);
    free(d);
}

struct virtio_mmio *virtio_9p_transport(struct virtio_9p *d)
{
    return d->t;
}

struct p9fs *virtio_9p_fs(struct virtio_9p *d)
{
    return d->fs;
}

void virtio_9p_wait_idle(struct virtio_9p *d)
{
    pthread_mutex_lock(&d->lock);
    while (d->busy || (d->active && d->kicked && !d->stop))
        pthread_cond_wait(&d->cond, &d->lock);
    pthread_mutex_unlock(&d->lock);
}
