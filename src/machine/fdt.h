/*
 * Device tree for the board, modelled on QEMU 7.2's virt machine so Linux and
 * OpenSBI's generic platform (fw_dynamic) accept it unchanged.
 */
#ifndef KILN_MACHINE_FDT_H
#define KILN_MACHINE_FDT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The QEMU virt map has room for 8 virtio-mmio slots (PLIC sources 1..8). */
#define FDT_MAX_VIRTIO 8

struct fdt_config {
    unsigned nharts;
    uint64_t ram_base, ram_size;
    const char *bootargs;              /* may be NULL */
    uint64_t initrd_start, initrd_end; /* 0,0 = none */
    unsigned nvirtio; /* virtio-mmio slots to describe: slot i at VIRT_VIRTIO_BASE + i*0x1000, irq VIRT_VIRTIO_IRQ+i */
    bool has_rtc;
    bool has_pvpanic;
};

/*
 * Builds the DTB into buf (size bytes). Returns the DTB size (its totalsize,
 * packed: no free space inside), -ENOSPC if buf is too small, -EINVAL for a
 * config that cannot be described (0 or too many harts, nvirtio >
 * FDT_MAX_VIRTIO, empty RAM, initrd_end < initrd_start).
 */
int fdt_build(const struct fdt_config *cfg, void *buf, size_t size);

#endif
