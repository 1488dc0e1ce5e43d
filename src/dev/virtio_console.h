/*
 * virtio-console (virtio 1.2 §5.3) on the virtio-mmio transport: a single
 * port (no VIRTIO_CONSOLE_F_MULTIPORT), receiveq0 fed from a host fd,
 * transmitq0 written to a host fd. Linux sees it as /dev/hvc0.
 */
#ifndef KILN_DEV_VIRTIO_CONSOLE_H
#define KILN_DEV_VIRTIO_CONSOLE_H

#include <stdint.h>

struct vm;
struct virtio_console;
struct virtio_mmio;

#define VIRTIO_CONSOLE_QUEUE_SIZE 128
#define VIRTIO_CONSOLE_RXQ 0
#define VIRTIO_CONSOLE_TXQ 1

/*
 * Maps a virtio-console at base on PLIC source irq. in_fd (or -1: no input)
 * is read when it is readable and the guest has posted buffers; out_fd (or
 * -1: output discarded) gets everything the guest writes. Both fds stay
 * owned by the caller. All fd I/O happens on the device's own thread, never
 * on a hart, so a stalled terminal or pipe cannot stall the guest's CPUs.
 * NULL on failure (logged).
 */
struct virtio_console *virtio_console_create(struct vm *vm, uint64_t base, unsigned irq, int in_fd,
                                             int out_fd);
/* Stops the thread and frees the device. Only while no hart runs. */
void virtio_console_destroy(struct virtio_console *c);
struct virtio_mmio *virtio_console_transport(struct virtio_console *c);
/* Tests: wait until the worker has handled every kick made so far and written its output. */
void virtio_console_wait_idle(struct virtio_console *c);


/* Snapshots (docs/snapshots.md): transport and device state; load checks first, -EINVAL applies nothing. */
struct snap_w;
struct snap_rd;
void virtio_console_save(struct virtio_console *c, struct snap_w *w);
int virtio_console_load(struct virtio_console *c, struct snap_rd *r);
#endif
