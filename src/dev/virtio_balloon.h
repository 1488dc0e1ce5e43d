/*
 * virtio-balloon, the memory balloon (virtio 1.2 §5.5): the host asks the guest
 * to give back pages (num_pages), the guest hands their PFNs over on the inflate
 * queue and takes them back on the deflate queue; with free page reporting
 * (VIRTIO_BALLOON_F_PAGE_REPORTING) it also reports ranges of memory it has
 * freed. Inflated and reported memory is returned to the host with
 * madvise(MADV_DONTNEED): guest RAM is a private anonymous mapping, so the
 * pages read back as zeros and cost nothing until the guest touches them again.
 */
#ifndef KILN_DEV_VIRTIO_BALLOON_H
#define KILN_DEV_VIRTIO_BALLOON_H

#include <stdbool.h>
#include <stdint.h>

struct vm;
struct virtio_balloon;
struct virtio_mmio;

/* virtio 1.2 §5.5.3 */
#define VIRTIO_BALLOON_F_MUST_TELL_HOST 0
#define VIRTIO_BALLOON_F_STATS_VQ 1
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM 2
#define VIRTIO_BALLOON_F_FREE_PAGE_HINT 3
#define VIRTIO_BALLOON_F_PAGE_POISON 4
#define VIRTIO_BALLOON_F_PAGE_REPORTING 5

/* The balloon's unit: 4 KiB pages whatever the guest's page size (§5.5.6). */
#define VIRTIO_BALLOON_PFN_SHIFT 12

struct virtio_balloon_stats {
    bool driver_ok;          /* the guest driver runs the device */
    uint32_t target_pages;   /* num_pages: what the host asks for */
    uint32_t actual_pages;   /* actual: what the guest says the balloon holds */
    uint64_t inflated_pages; /* valid PFNs received on the inflate queue, ever */
    uint64_t deflated_pages; /* valid PFNs received on the deflate queue, ever */
    uint64_t reported_bytes; /* free page reporting, ever */
    uint64_t bad_pfns;       /* PFNs outside guest RAM, ignored */
};

/* Maps the device at base (one virtio-mmio slot) on PLIC source irq. NULL on failure (logged). */
struct virtio_balloon *virtio_balloon_create(struct vm *vm, uint64_t base, unsigned irq);
/* Only while no hart runs. */
void virtio_balloon_destroy(struct virtio_balloon *b);
struct virtio_mmio *virtio_balloon_transport(struct virtio_balloon *b);

/* Asks the guest to give back `pages` 4 KiB pages (clamped to guest RAM); raises a config
 * change interrupt. Thread-safe. */
void virtio_balloon_set_target(struct virtio_balloon *b, uint32_t pages);
/* Thread-safe snapshot. */
void virtio_balloon_get_stats(struct virtio_balloon *b, struct virtio_balloon_stats *out);


/* Snapshots (docs/snapshots.md): transport and device state; load checks first, -EINVAL applies nothing. */
struct snap_w;
struct snap_rd;
void virtio_balloon_save(struct virtio_balloon *b, struct snap_w *w);
int virtio_balloon_load(struct virtio_balloon *b, struct snap_rd *r);
#endif
