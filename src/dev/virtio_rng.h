/*
 * virtio-rng, the entropy device (virtio 1.2 §5.4): one request queue whose
 * writable buffers the device fills with host randomness (getrandom()).
 */
#ifndef KILN_DEV_VIRTIO_RNG_H
#define KILN_DEV_VIRTIO_RNG_H

#include <stdint.h>

struct vm;
struct virtio_rng;
struct virtio_mmio;

/* Maps the device at base (one virtio-mmio slot) on PLIC source irq. NULL on failure (logged). */
struct virtio_rng *virtio_rng_create(struct vm *vm, uint64_t base, unsigned irq);
/* Only while no hart runs. */
void virtio_rng_destroy(struct virtio_rng *r);
struct virtio_mmio *virtio_rng_transport(struct virtio_rng *r);


/* Snapshots (docs/snapshots.md): transport and device state; load checks first, -EINVAL applies nothing. */
struct snap_w;
struct snap_rd;
void virtio_rng_save(struct virtio_rng *r, struct snap_w *w);
int virtio_rng_load(struct virtio_rng *r, struct snap_rd *in);
#endif
