/*
 * libFuzzer target for virtio-blk through its virtio-mmio transport: each
 * input is a short sequence of register accesses (feature negotiation, queue
 * setup, status changes, kicks) followed by a guest memory image holding the
 * rings and requests. The device's worker thread really runs; after every
 * kick we wait for it to go idle so runs stay reproducible. The backing image
 * is a small temporary file. Build: see docs/virtio.md.
 *
 * vm.c drags in the CPU and PLIC; the transport only needs the two bus
 * functions below, so they are stubbed here (the window is recorded, irqs dropped).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/disk.h"
#include "dev/virtio_blk.h"
#include "machine/gmem.h"
#include "machine/vm.h"
#include "virtio/mmio.h"

#define RAM_BASE 0x80000000ull
#define RAM_SIZE 0x20000u
#define IMG_SIZE (64u * 1024)

int vm_mmio_add(struct vm *vm, const char *name, uint64_t base, uint64_t size,
                const struct mmio_ops *ops, void *opaque)
{
    if (vm->nmmio >= VM_MAX_MMIO) return -1;
    vm->mmio[vm->nmmio++] = (struct mmio_region){name, base, size, ops, opaque};
    return 0;
}

void vm_set_irq(struct vm *vm, unsigned source, bool level)
{
    (void)vm, (void)source, (void)level;
}

static struct vm vm;
static struct disk *disk;
static struct virtio_blk *blk;
static struct virtio_mmio *t;

static void init(void)
{
    char path[] = "/tmp/kiln-fuzz-blk-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || ftruncate(fd, IMG_SIZE) < 0) abort();
    close(fd);
    disk = disk_open(path, false, DISK_CACHE_UNSAFE, NULL);
    unlink(path); /* the open descriptor keeps it alive; nothing left behind */
    if (!disk) abort();
    vm.ram = calloc(1, RAM_SIZE);
    vm.ram_base = RAM_BASE;
    vm.ram_size = RAM_SIZE;
    blk = virtio_blk_create(&vm, VIRT_VIRTIO_BASE, VIRT_VIRTIO_IRQ, disk);
    if (!blk) abort();
    t = virtio_blk_transport(blk);
}

static void w(uint32_t off, uint32_t v)
{
    virtio_mmio_write(t, off, v, 4);
}

/* A well-behaved bring-up, so inputs start from a live queue and mutate from there. */
static void bring_up(const uint8_t *h)
{
    uint64_t feat = (1ull << VIRTIO_F_VERSION_1) | ((uint64_t)h[0] << 24) | h[1] << 9 | h[2];
    w(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    w(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    w(VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)feat);
    w(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    w(VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(feat >> 32));
    w(VIRTIO_MMIO_STATUS,
      VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    w(VIRTIO_MMIO_QUEUE_SEL, 0);
    w(VIRTIO_MMIO_QUEUE_NUM, 1u << (h[3] % 9));
    w(VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)RAM_BASE + (h[4] << 8 | h[5]));
    w(VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)RAM_BASE + (h[6] << 8 | h[7]));
    w(VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)RAM_BASE + (h[8] << 8 | h[9]));
    w(VIRTIO_MMIO_QUEUE_READY, 1);
    w(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                              VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
}

#define HDR 12
#define OP 6

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!blk) init();
    if (size < HDR) return 0;
    /* Start from reset: this also waits for the worker to let go of the queue. */
    w(VIRTIO_MMIO_STATUS, 0);
    virtio_blk_wait_idle(blk);

    unsigned nops = data[10] % 16;
    size_t ops_len = (size_t)nops * OP;
    if (size < HDR + ops_len) return 0;
    memset(vm.ram, 0, RAM_SIZE);
    size_t img = size - HDR - ops_len;
    memcpy(vm.ram, data + HDR + ops_len, img < RAM_SIZE ? img : RAM_SIZE);

    bring_up(data);
    w(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    virtio_blk_wait_idle(blk);

    /* Then whatever the input says: raw register accesses of any size, kicks included. */
    for (unsigned i = 0; i < nops; i++) {
        const uint8_t *op = data + HDR + (size_t)i * OP;
        uint32_t off = (uint32_t)(op[0] | op[1] << 8) & 0xfff;
        unsigned sz = 1u << (op[1] >> 6);
        uint32_t val = (uint32_t)(op[2] | op[3] << 8 | op[4] << 16 | (uint32_t)op[5] << 24);
        if ((op[1] >> 4) & 1)
            (void)virtio_mmio_read(t, off, sz);
        else
            virtio_mmio_write(t, off, val, sz);
        virtio_blk_wait_idle(blk);
    }
    if (data[11] & 1) {
        w(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
        virtio_blk_wait_idle(blk);
    }
    return 0;
}
