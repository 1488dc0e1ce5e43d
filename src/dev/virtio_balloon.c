/*
 * virtio-balloon (virtio 1.2 §5.5). Requests are small and madvise() is quick,
 * so queues are served on the hart thread that kicked them, under the
 * transport lock; the control thread only touches atomics (target, counters)
 * and raises a config interrupt.
 *
 * Every PFN is guest-controlled: each one is turned into a guest-physical
 * range and checked with gmem_ptr() before anything is discarded, and ranges
 * of the reporting queue come from virtq_pop(), which checked them the same
 * way. A PFN outside RAM is counted and ignored; it never reaches madvise().
 */
#include "dev/virtio_balloon.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "machine/gmem.h"
#include "machine/vm.h"
#include "snapshot/format.h"
#include "util/log.h"
#include "virtio/mmio.h"
#include "virtio/virtq.h"

#define BALLOON_PAGE (1ull << VIRTIO_BALLOON_PFN_SHIFT)
/*
 * Queue layout. §5.5.2 lists inflateq, deflateq, statsq, free_page_vq,
 * reporting_vq, each of the last three present only with its feature. Linux's
 * virtio-mmio driver numbers the queues that are present consecutively, so
 * without STATS_VQ and FREE_PAGE_HINT (we offer neither) its reporting queue
 * is 2; a driver that numbers by the spec's list uses 4. Both are served.
 */
#define Q_INFLATE 0
#define Q_DEFLATE 1
#define Q_REPORT_LINUX 2
#define Q_REPORT_SPEC 4
#define BALLOON_QUEUES 5
/* Linux sends at most 256 PFNs per request; a larger chain is fine, read in pieces. */
#define PFN_CHUNK 256

struct virtio_balloon {
    struct virtio_mmio *t;
    struct vm *vm;
    size_t host_page;
    atomic_uint target; /* num_pages */
    atomic_uint actual;
    atomic_bool driver_ok;
    atomic_ullong inflated, deflated, reported, bad_pfns;
    struct virtq_chain chain;
};

/* Gives [p, p+len) back to the host, shrunk inward to whole host pages. p is inside guest RAM. */
static void discard(struct virtio_balloon *b, uint8_t *p, uint64_t len)
{
    uintptr_t start = (uintptr_t)p, end = start + len;
    uintptr_t ram = (uintptr_t)b->vm->ram, ram_end = ram + b->vm->ram_size;
    /* Belt and braces: the caller's range came from gmem_ptr(); never madvise outside RAM. */
    if (start < ram || end > ram_end || end < start)
        return;
    start = (start + b->host_page - 1) & ~(uintptr_t)(b->host_page - 1);
    end &= ~(uintptr_t)(b->host_page - 1);
    if (end <= start)
        return;
    if (madvise((void *)start, end - start, MADV_DONTNEED))
        log_debug("virtio-balloon", "madvise: %s", strerror(errno));
}

/* Inflate (discard = true) or deflate: the readable part of the chain is an array of le32 PFNs. */
static void do_pfns(struct virtio_balloon *b, const struct virtq_chain *c, bool inflate)
{
    uint32_t pfns[PFN_CHUNK];
    uint64_t n = c->read_len / 4, valid = 0, bad = 0;
    uint8_t *run = NULL;
    uint64_t run_len = 0;
    for (uint64_t done = 0; done < n;) {
        uint64_t k = n - done < PFN_CHUNK ? n - done : PFN_CHUNK;
        size_t got = virtq_chain_read(c, done * 4, pfns, (size_t)k * 4);
        if (got != k * 4)
            break;
        for (uint64_t i = 0; i < k; i++) {
            uint32_t pfn;
            memcpy(&pfn, &pfns[i], 4); /* le32 on a little-endian host */
            uint8_t *p = gmem_ptr(b->vm, (uint64_t)pfn << VIRTIO_BALLOON_PFN_SHIFT, BALLOON_PAGE);
            if (!p) {
                bad++;
                continue;
            }
            valid++;
            if (!inflate)
                continue; /* deflated pages simply fault back in, zero-filled */
            if (run && p == run + run_len) {
                run_len += BALLOON_PAGE;
                continue;
            }
            if (run)
                discard(b, run, run_len);
            run = p;
            run_len = BALLOON_PAGE;
        }
        done += k;
    }
    if (run)
        discard(b, run, run_len);
    atomic_fetch_add(inflate ? &b->inflated : &b->deflated, valid);
    if (bad)
        atomic_fetch_add(&b->bad_pfns, bad);
}

/* Free page reporting: each segment is a free range of guest RAM, already bounds-checked. */
static void do_report(struct virtio_balloon *b, const struct virtq_chain *c)
{
    uint64_t total = 0;
    for (unsigned i = 0; i < c->nseg; i++) {
        discard(b, c->seg[i].base, c->seg[i].len);
        total += c->seg[i].len;
    }
    atomic_fetch_add(&b->reported, total);
}

static bool reporting(struct virtio_balloon *b)
{
    return virtio_mmio_driver_features(b->t) & (1ull << VIRTIO_BALLOON_F_PAGE_REPORTING);
}

static void balloon_notify(void *dev, unsigned queue)
{
    struct virtio_balloon *b = dev;
    struct virtq *q = virtio_mmio_queue(b->t, queue);
    if (!q)
        return;
    bool report = queue == Q_REPORT_SPEC || queue == Q_REPORT_LINUX;
    if (report && !reporting(b))
        return; /* no such queue for this driver: a kick on it means nothing */
    if (queue == 3)
        return; /* free_page_vq: FREE_PAGE_HINT is not offered */
    bool pushed = false;
    for (;;) {
        int got = virtq_pop(q, &b->chain);
        if (got == 0)
            break;
        if (got < 0) {
            virtio_mmio_needs_reset(b->t, q->error);
            break;
        }
        if (report)
            do_report(b, &b->chain);
        else
            do_pfns(b, &b->chain, queue == Q_INFLATE);
        if (virtq_push(q, &b->chain, 0) < 0) {
            virtio_mmio_needs_reset(b->t, q->error);
            break;
        }
        pushed = true;
    }
    if (pushed && virtq_should_notify(q))
        virtio_mmio_raise(b->t, VIRTIO_ISR_VRING);
}

/* §5.5.4: le32 num_pages, le32 actual, le32 free_page_hint_cmd_id, le32 poison_val. */
#define CFG_SIZE 16

static void cfg_image(struct virtio_balloon *b, uint8_t img[CFG_SIZE])
{
    uint32_t v[4] = {atomic_load(&b->target), atomic_load(&b->actual), 0, 0};
    memcpy(img, v, CFG_SIZE); /* little-endian host */
}

static void balloon_config_read(void *dev, uint32_t offset, void *buf, unsigned size)
{
    uint8_t img[CFG_SIZE];
    cfg_image(dev, img);
    memcpy(buf, img + offset, size);
}

static void balloon_config_write(void *dev, uint32_t offset, const void *buf, unsigned size)
{
    struct virtio_balloon *b = dev;
    /* Only `actual` (bytes 4..7) is the driver's to write (§5.5.6.1). */
    uint8_t img[CFG_SIZE];
    cfg_image(b, img);
    for (unsigned i = 0; i < size; i++) {
        uint32_t o = offset + i;
        if (o >= 4 && o < 8)
            img[o] = ((const uint8_t *)buf)[i];
    }
    uint32_t actual;
    memcpy(&actual, img + 4, 4);
    atomic_store(&b->actual, actual);
}

static void balloon_activate(void *dev)
{
    struct virtio_balloon *b = dev;
    atomic_store(&b->driver_ok, true);
}

static void balloon_reset(void *dev)
{
    struct virtio_balloon *b = dev;
    /* A new driver starts with an empty balloon; the host's target stays (as QEMU keeps it). */
    atomic_store(&b->driver_ok, false);
    atomic_store(&b->actual, 0);
}

static const struct virtio_dev_ops balloon_ops = {
    .device_id = 5,
    /* DEFLATE_ON_OOM: the guest may take pages back rather than go out of memory. */
    .features = (1ull << VIRTIO_BALLOON_F_DEFLATE_ON_OOM) | (1ull << VIRTIO_BALLOON_F_PAGE_REPORTING),
    .num_queues = BALLOON_QUEUES,
    .queue_max = 128,
    .config_read = balloon_config_read,
    .config_write = balloon_config_write,
    .config_size = CFG_SIZE,
    .queue_notify = balloon_notify,
    .reset = balloon_reset,
    .activate = balloon_activate,
};

struct virtio_balloon *virtio_balloon_create(struct vm *vm, uint64_t base, unsigned irq)
{
    struct virtio_balloon *b = calloc(1, sizeof(*b));
    if (!b) {
        log_err("virtio-balloon", "out of memory");
        return NULL;
    }
    b->vm = vm;
    long hp = sysconf(_SC_PAGESIZE);
    b->host_page = hp > 0 ? (size_t)hp : 4096;
    b->t = virtio_mmio_create(vm, base, irq, &balloon_ops, b);
    if (!b->t) {
        free(b);
        return NULL;
    }
    return b;
}

void virtio_balloon_destroy(struct virtio_balloon *b)
{
    if (!b)
        return;
    virtio_mmio_destroy(b->t);
    free(b);
}

struct virtio_mmio *virtio_balloon_transport(struct virtio_balloon *b)
{
    return b->t;
}

void virtio_balloon_set_target(struct virtio_balloon *b, uint32_t pages)
{
    uint64_t max = b->vm->ram_size >> VIRTIO_BALLOON_PFN_SHIFT;
    if (pages > max)
        pages = (uint32_t)max;
    atomic_store(&b->target, pages);
    /* Before DRIVER_OK nobody listens; the driver reads num_pages once it is ready (§5.5.6). */
    if (atomic_load(&b->driver_ok))
        virtio_mmio_config_changed(b->t);
}

void virtio_balloon_get_stats(struct virtio_balloon *b, struct virtio_balloon_stats *out)
{
    out->driver_ok = atomic_load(&b->driver_ok);
    out->target_pages = atomic_load(&b->target);
    out->actual_pages = atomic_load(&b->actual);
    out->inflated_pages = atomic_load(&b->inflated);
    out->deflated_pages = atomic_load(&b->deflated);
    out->reported_bytes = atomic_load(&b->reported);
    out->bad_pfns = atomic_load(&b->bad_pfns);
}

/* ---- snapshots ---- */

void virtio_balloon_save(struct virtio_balloon *b, struct snap_w *w)
{
    snap_w_u32(w, atomic_load(&b->target));
    snap_w_u32(w, atomic_load(&b->actual));
    snap_w_u64(w, atomic_load(&b->inflated));
    snap_w_u64(w, atomic_load(&b->deflated));
    snap_w_u64(w, atomic_load(&b->reported));
    snap_w_u64(w, atomic_load(&b->bad_pfns));
    virtio_mmio_save(b->t, w);
}

int virtio_balloon_load(struct virtio_balloon *b, struct snap_rd *r)
{
    uint32_t target = snap_r_u32(r), actual = snap_r_u32(r);
    uint64_t inf = snap_r_u64(r), def = snap_r_u64(r), rep = snap_r_u64(r), bad = snap_r_u64(r);
    uint64_t pages = b->vm->ram_size >> VIRTIO_BALLOON_PFN_SHIFT;
    if (r->bad || target > pages)
        return -EINVAL;
    int e = virtio_mmio_load(b->t, r);
    if (e)
        return e;
    atomic_store(&b->target, target);
    atomic_store(&b->actual, actual);
    atomic_store(&b->inflated, inf);
    atomic_store(&b->deflated, def);
    atomic_store(&b->reported, rep);
    atomic_store(&b->bad_pfns, bad);
    return 0;
}
