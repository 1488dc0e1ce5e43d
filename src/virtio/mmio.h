/*
 * virtio-mmio transport, version 2 (virtio 1.2 §4.2.2 "MMIO Device Register
 * Layout"), as on QEMU's virt board. Devices describe themselves with a
 * struct virtio_dev_ops and never learn which transport carries them.
 */
#ifndef KILN_VIRTIO_MMIO_H
#define KILN_VIRTIO_MMIO_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio/virtq.h"

struct vm;
struct virtio_mmio;

/* Feature bits (virtio 1.2 §6 "Reserved Feature Bits"). */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32

/* Device status bits (virtio 1.2 §2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER 0x02
#define VIRTIO_STATUS_DRIVER_OK 0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

/* InterruptStatus bits (virtio 1.2 §4.2.2). */
#define VIRTIO_ISR_VRING 1
#define VIRTIO_ISR_CONFIG 2

/* Register offsets (virtio 1.2 §4.2.2, table "MMIO Device Register Layout"). */
#define VIRTIO_MMIO_MAGIC_VALUE 0x000
#define VIRTIO_MMIO_VERSION 0x004
#define VIRTIO_MMIO_DEVICE_ID 0x008
#define VIRTIO_MMIO_VENDOR_ID 0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES 0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES 0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL 0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX 0x034
#define VIRTIO_MMIO_QUEUE_NUM 0x038
#define VIRTIO_MMIO_QUEUE_READY 0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY 0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS 0x060
#define VIRTIO_MMIO_INTERRUPT_ACK 0x064
#define VIRTIO_MMIO_STATUS 0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW 0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH 0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW 0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH 0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW 0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH 0x0a4
#define VIRTIO_MMIO_SHM_SEL 0x0ac
#define VIRTIO_MMIO_SHM_LEN_LOW 0x0b0
#define VIRTIO_MMIO_SHM_LEN_HIGH 0x0b4
#define VIRTIO_MMIO_SHM_BASE_LOW 0x0b8
#define VIRTIO_MMIO_SHM_BASE_HIGH 0x0bc
#define VIRTIO_MMIO_QUEUE_RESET 0x0c0
#define VIRTIO_MMIO_CONFIG_GENERATION 0x0fc
#define VIRTIO_MMIO_CONFIG 0x100

#define VIRTIO_MMIO_MAGIC 0x74726976u  /* "virt" */
#define VIRTIO_MMIO_VENDOR 0x554d4551u /* "QEMU": drivers written for QEMU's board accept it */
#define VIRTIO_MMIO_SIZE 0x1000        /* one slot of the virt map (the device tree says 0x1000) */
#define VIRTIO_MMIO_MAX_QUEUES 8

/*
 * What a device provides (bhyve/kvmtool style). All callbacks run with the
 * transport lock held, so they are serialised against each other and against
 * register accesses; they may call virtio_mmio_raise/needs_reset/queue and
 * virtio_mmio_driver_features, which never take that lock.
 */
struct virtio_dev_ops {
    uint32_t device_id;
    uint64_t features; /* the transport adds VERSION_1, EVENT_IDX and INDIRECT_DESC */
    unsigned num_queues;
    uint16_t queue_max; /* QueueNumMax, a power of two <= 32768 */
    /* Config space: offset/size already checked against config_size; buf is little-endian. */
    void (*config_read)(void *dev, uint32_t offset, void *buf, unsigned size);
    void (*config_write)(void *dev, uint32_t offset, const void *buf, unsigned size);
    uint32_t config_size;
    /* The driver kicked queue `queue` (ready, DRIVER_OK set). On the hart thread that wrote
     * QueueNotify. */
    void (*queue_notify)(void *dev, unsigned queue);
    /* Device reset (Status := 0): must stop touching the queues before returning. */
    void (*reset)(void *dev);
    /* DRIVER_OK was set: the queues may be used from now on. */
    void (*activate)(void *dev);
    /* Snapshots (optional; devices without a worker thread need none): pause = true must
     * return with every request the device took completed and its workers off the queues,
     * which stay as they are; pause = false lets them go on and look at the queues again. */
    void (*quiesce)(void *dev, bool pause);
};

/* Maps the device at base (VIRTIO_MMIO_SIZE bytes) on PLIC source irq. NULL on failure. */
struct virtio_mmio *virtio_mmio_create(struct vm *vm, uint64_t base, unsigned irq,
                                       const struct virtio_dev_ops *ops, void *dev);
/*
 * Frees the transport and drops its window from the bus. Only while no hart
 * runs (VM teardown, tests): vm.h has no locked vm_mmio_remove().
 */
void virtio_mmio_destroy(struct virtio_mmio *t);

struct virtq *virtio_mmio_queue(struct virtio_mmio *t, unsigned i);

/* Sets InterruptStatus bits (VIRTIO_ISR_*) and asserts the PLIC line. Thread-safe. */
void virtio_mmio_raise(struct virtio_mmio *t, unsigned isr_bits);
/* Sets DEVICE_NEEDS_RESET, raises a config-change interrupt, logs one line per reset cycle.
 * Thread-safe. */
void virtio_mmio_needs_reset(struct virtio_mmio *t, const char *why);
/* Config space changed (e.g. capacity): bump ConfigGeneration, raise a config interrupt.
 * Thread-safe. */
void virtio_mmio_config_changed(struct virtio_mmio *t);
/* Features the driver accepted (valid once FEATURES_OK is set). Thread-safe. */
uint64_t virtio_mmio_driver_features(struct virtio_mmio *t);
/* Current device status byte. Thread-safe. */
uint32_t virtio_mmio_status(struct virtio_mmio *t);

/*
 * Calls the device's queue_notify(queue) under the transport lock, as if the
 * driver had kicked the queue (if it is live). For a device's own threads,
 * e.g. to resume a rate-limited queue; never under a lock the device's
 * callbacks take.
 */
void virtio_mmio_kick(struct virtio_mmio *t, unsigned queue);

/* Direct register access, for tests and fuzzers (the bus calls these through mmio_ops). */
uint64_t virtio_mmio_read(void *opaque, uint64_t offset, unsigned size);
void virtio_mmio_write(void *opaque, uint64_t offset, uint64_t value, unsigned size);

/*
 * Snapshots (docs/snapshots.md). quiesce: with the harts stopped, make the
 * device's workers finish what they popped and stay off the queues (ops->quiesce);
 * unquiesce lets them go again.
 * save/load: transport registers and every queue's addresses and indices;
 * load checks all of it first (rings inside guest RAM) and applies nothing on
 * error (-EINVAL), then activates the device if the driver had.
 */
struct snap_w;
struct snap_rd;
void virtio_mmio_quiesce(struct virtio_mmio *t);
void virtio_mmio_unquiesce(struct virtio_mmio *t);
void virtio_mmio_save(struct virtio_mmio *t, struct snap_w *w);
int virtio_mmio_load(struct virtio_mmio *t, struct snap_rd *r);

#endif
