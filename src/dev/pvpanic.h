/* pvpanic (QEMU docs/specs/pvpanic.rst, MMIO flavour): lets the guest kernel report a panic. */
#ifndef KILN_DEV_PVPANIC_H
#define KILN_DEV_PVPANIC_H

struct vm;
struct pvpanic;

/* Exit status kiln uses when the guest kernel panics. */
#define PVPANIC_EXIT_STATUS 3

struct pvpanic *pvpanic_create(struct vm *vm); /* maps itself at VIRT_PVPANIC_BASE */
void pvpanic_destroy(struct pvpanic *p);

#endif
