/*
 * SiFive CLINT ("sifive,clint0"), as on QEMU's virt board: per-hart msip and
 * mtimecmp, one shared mtime. Drives IRQ_MSI of the harts and their mtimecmp;
 * the harts themselves raise MTIP by comparing mtimecmp with vm_time_now().
 */
#ifndef KILN_DEV_CLINT_H
#define KILN_DEV_CLINT_H

#include <stdint.h>

struct vm;
struct clint;

#define CLINT_MSIP 0x0000u     /* + 4 * hart, bit 0 */
#define CLINT_MTIMECMP 0x4000u /* + 8 * hart, 64-bit */
#define CLINT_MTIME 0xbff8u    /* 64-bit, read-only here */

struct clint *clint_create(struct vm *vm); /* maps itself at VIRT_CLINT_BASE, sets vm->clint */
void clint_destroy(struct clint *c);
/* Machine reset: msip to 0, mtimecmp to UINT64_MAX (also pushed to the harts). */
void clint_reset(struct clint *c);


/* Snapshots (src/snapshot/, docs/snapshots.md): state out, and back in after checking it. */
struct snap_w;
struct snap_rd;
void clint_save(struct clint *c, struct snap_w *w);
int clint_load(struct clint *c, struct snap_rd *r); /* 0 or -EINVAL (nothing applied) */
#endif
