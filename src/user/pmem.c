#include "user/pmem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "machine/gmem.h"

#define FRAME 4096ull

int pmem_init(struct pmem *pm, struct vm *vm, uint64_t base, uint64_t size)
{
    memset(pm, 0, sizeof(*pm));
    if ((base | size) & (FRAME - 1) || size / FRAME > UINT32_MAX || !gmem_ptr(vm, base, size))
        return -EINVAL;
    pm->vm = vm;
    pm->base = base;
    pm->nframes = size / FRAME;
    pm->free = calloc(pm->nframes ? pm->nframes : 1, sizeof(uint32_t));
    return pm->free ? 0 : -ENOMEM;
}

void pmem_destroy(struct pmem *pm)
{
    free(pm->free);
    pm->free = NULL;
}

uint64_t pmem_alloc(struct pmem *pm)
{
    uint64_t frame;
    if (pm->nfree) {
        frame = pm->free[--pm->nfree];
        memset(gmem_ptr(pm->vm, pm->base + frame * FRAME, FRAME), 0, FRAME);
    } else if (pm->next_fresh < pm->nframes) {
        frame = pm->next_fresh++; /* untouched anonymous host memory reads as zero */
    } else {
        return 0;
    }
    pm->used++;
    return pm->base + frame * FRAME;
}

void pmem_free(struct pmem *pm, uint64_t pa)
{
    if (pa < pm->base || (pa & (FRAME - 1)))
        return;
    uint64_t frame = (pa - pm->base) / FRAME;
    if (frame >= pm->next_fresh || pm->nfree >= pm->nframes)
        return;
    pm->free[pm->nfree++] = (uint32_t)frame;
    pm->used--;
}
