/*
 * SiFive-compatible PLIC (riscv,plic0), as on QEMU's virt board: context 2*h is
 * hart h's M-mode, 2*h+1 its S-mode. Drives IRQ_MEI/IRQ_SEI of the harts.
 */
#ifndef KILN_DEV_PLIC_H
#define KILN_DEV_PLIC_H

#include <stdbool.h>

struct vm;
struct plic;

#define PLIC_NUM_SOURCES 96 /* source 0 is reserved */

struct plic *plic_create(struct vm *vm); /* maps itself at VIRT_PLIC_BASE, sets vm->plic */
void plic_destroy(struct plic *p);
void plic_set_irq(struct plic *p, unsigned source, bool level); /* thread-safe */
/* Machine reset: priorities, enables, thresholds, claims to 0; input lines are kept. */
void plic_reset(struct plic *p);


/* Snapshots (src/snapshot/, docs/snapshots.md): state out, and back in after checking it. */
struct snap_w;
struct snap_rd;
void plic_save(struct plic *p, struct snap_w *w);
int plic_load(struct plic *p, struct snap_rd *r);
#endif
