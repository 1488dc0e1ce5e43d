/*
 * Guest physical memory access. Every access from a device or the loader goes
 * through these: a range is accepted only if it lies wholly inside guest RAM,
 * computed so that no gpa/len combination can overflow (cf. OpenBSD vmd).
 */
#ifndef KILN_MACHINE_GMEM_H
#define KILN_MACHINE_GMEM_H

#include <stdint.h>
#include <string.h>

#include "machine/vm.h"

static inline void *gmem_ptr(const struct vm *vm, uint64_t gpa, uint64_t len)
{
    if (gpa < vm->ram_base)
        return NULL;
    uint64_t off = gpa - vm->ram_base;
    if (off > vm->ram_size || len > vm->ram_size - off)
        return NULL;
    return vm->ram + off;
}

/*
 * A device wrote [host, host + len) of guest RAM (a pointer gmem_ptr gave):
 * while a live migration tracks writes, those pages are sent again
 * (docs/migration.md). Called after the write, so a round that cleared the
 * mark before the write sees the mark again. Nothing when not migrating.
 */
static inline void gmem_dirty(const struct vm *vm, const void *host, uint64_t len)
{
    const struct cpu_bus *bus = &vm->bus;
    if (__builtin_expect(atomic_load_explicit((uint64_t *_Atomic *)&bus->dirty,
                                              memory_order_acquire) == NULL, 1) || !len)
        return;
    uint64_t off = (uint64_t)((const uint8_t *)host - vm->ram);
    if (off >= vm->ram_size)
        return;
    uint64_t end = off + len - 1 < vm->ram_size ? off + len - 1 : vm->ram_size - 1;
    for (uint64_t pg = off >> 12; pg <= end >> 12; pg++)
        bus_dirty_mark(bus, vm->ram_base + (pg << 12));
}

static inline int gmem_read(const struct vm *vm, uint64_t gpa, void *dst, uint64_t len)
{
    const void *p = gmem_ptr(vm, gpa, len);
    if (!p)
        return -14; /* -EFAULT */
    memcpy(dst, p, len);
    return 0;
}

static inline int gmem_write(struct vm *vm, uint64_t gpa, const void *src, uint64_t len)
{
    void *p = gmem_ptr(vm, gpa, len);
    if (!p)
        return -14; /* -EFAULT */
    memcpy(p, src, len);
    gmem_dirty(vm, p, len);
    return 0;
}

#endif
