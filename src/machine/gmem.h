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
    return 0;
}

#endif
