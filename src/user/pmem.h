/*
 * Guest-physical page allocator of a process VM: hands out 4 KiB frames of
 * guest RAM. Frames never used before come from a bump pointer (their host
 * memory is still untouched, so a big --mem costs nothing); freed frames go
 * on a stack and are zeroed when reused. Not thread-safe: the caller (mm)
 * holds its lock.
 */
#ifndef KILN_USER_PMEM_H
#define KILN_USER_PMEM_H

#include <stdint.h>

struct vm;

struct pmem {
    struct vm *vm;
    uint64_t base;       /* first frame's guest-physical address */
    uint64_t nframes;    /* frames managed */
    uint64_t next_fresh; /* frames [next_fresh, nframes) were never handed out */
    uint32_t *free;      /* stack of freed frame numbers */
    uint64_t nfree;
    uint64_t used;       /* frames currently allocated */
};

/* Manages [base, base + size) of vm's RAM; both must be page aligned. Returns 0 or -errno. */
int pmem_init(struct pmem *pm, struct vm *vm, uint64_t base, uint64_t size);
void pmem_destroy(struct pmem *pm);
/* A zeroed frame's guest-physical address, or 0 when memory is exhausted. */
uint64_t pmem_alloc(struct pmem *pm);
/* Gives a frame back; addresses outside the pool or not page aligned are ignored. */
void pmem_free(struct pmem *pm, uint64_t pa);
static inline uint64_t pmem_avail(const struct pmem *pm)
{
    return pm->nframes - pm->used;
}

#endif
