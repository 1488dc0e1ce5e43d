/*
 * virtio-rng (virtio 1.2 §5.4). getrandom() on a running host never blocks
 * and is fast, so requests are served right on the hart thread that kicked
 * the queue (under the transport lock, which serialises kicks from several
 * harts); no worker thread is needed.
 */
#include "dev/virtio_rng.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#include "snapshot/format.h"
#include "util/log.h"
#include "virtio/mmio.h"
#include "virtio/virtq.h"

/* §5.4.6: the device may fill fewer bytes than offered; cap the work one kick can cost a hart. */
#define RNG_MAX_PER_REQUEST 65536u

struct virtio_rng {
    struct virtio_mmio *t;
    struct virtq_chain chain;
};

static size_t fill_random(uint8_t *p, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = getrandom(p + done, len - done, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        done += (size_t)n;
    }
    return done;
}

static void rng_notify(void *dev, unsigned queue)
{
    struct virtio_rng *r = dev;
    struct virtq *q = virtio_mmio_queue(r->t, queue);
    bool pushed = false;
    for (;;) {
        int got = virtq_pop(q, &r->chain);
        if (got == 0) break;
        if (got < 0) {
            virtio_mmio_needs_reset(r->t, q->error);
            break;
        }
        /* Straight into the validated guest segments; readable ones are ignored. */
        uint32_t written = 0;
        for (unsigned i = r->chain.nread; i < r->chain.nseg && written < RNG_MAX_PER_REQUEST; i++) {
            struct virtq_seg *s = &r->chain.seg[i];
            size_t want = s->len;
            if (want > RNG_MAX_PER_REQUEST - written) want = RNG_MAX_PER_REQUEST - written;
            size_t n = fill_random(s->base, want);
            written += (uint32_t)n;
            if (n < want) break;
        }
        if (virtq_push(q, &r->chain, written) < 0) {
            virtio_mmio_needs_reset(r->t, q->error);
            break;
        }
        pushed = true;
    }
    if (pushed && virtq_should_notify(q)) virtio_mmio_raise(r->t, VIRTIO_ISR_VRING);
}

static const struct virtio_dev_ops rng_ops = {
    .device_id = 4,
    .features = 0,
    .num_queues = 1,
    .queue_max = 64,
    .config_size = 0, /* §5.4.4: no configuration space */
    .queue_notify = rng_notify,
};

struct virtio_rng *virtio_rng_create(struct vm *vm, uint64_t base, unsigned irq)
{
    struct virtio_rng *r = calloc(1, sizeof(*r));
    if (!r) {
        log_err("virtio-rng", "out of memory");
        return NULL;
    }
    r->t = virtio_mmio_create(vm, base, irq, &rng_ops, r);
    if (!r->t) {
        free(r);
        return NULL;
    }
    return r;
}

void virtio_rng_destroy(struct virtio_rng *r)
{
    if (!r) return;
    virtio_mmio_destroy(r->t);
    free(r);
}

struct virtio_mmio *virtio_rng_transport(struct virtio_rng *r)
{
    return r->t;
}

/* ---- snapshots ---- */

/* No host-side pool: every request is filled from getrandom(2), so a clone gets fresh bytes. */
void virtio_rng_save(struct virtio_rng *r, struct snap_w *w)
{
    virtio_mmio_save(r->t, w);
}

int virtio_rng_load(struct virtio_rng *r, struct snap_rd *in)
{
    return virtio_mmio_load(r->t, in);
}
