/*
 * Physical memory protection (privileged spec 3.7): which of R, W, X an
 * access at a given privilege may use on a physical range. Checked off the
 * fast path only: on a soft-TLB fill (a page is cached only when its whole
 * 4 KiB has one outcome), on slow-path accesses and on page-table reads. A
 * write to pmpcfg/pmpaddr flushes the TLB and the current code page.
 */
#ifndef KILN_CPU_PMP_H
#define KILN_CPU_PMP_H

#include <stdbool.h>
#include <stdint.h>

#include "cpu/hart.h"

#define PMP_R 1u
#define PMP_W 2u
#define PMP_X 4u

/*
 * The permissions (PMP_R | PMP_W | PMP_X) of an access to [pa, pa + len) at
 * privilege p: the first entry matching any byte decides, and must match them
 * all (3.7.1.4 "Priority and Matching Logic"); none when only partly matched.
 */
static inline unsigned pmp_perm(const struct hart *h, uint64_t pa, uint64_t len, enum priv p)
{
    uint64_t last = pa + len - 1;
    for (unsigned i = 0; i < h->pmp_n; i++) {
        const struct pmp_range *r = &h->pmp_ranges[i];
        if (last < r->lo || pa > r->last)
            continue;
        if (pa < r->lo || last > r->last)
            return 0; /* a partial match fails the access */
        return p == PRIV_M ? r->perm_m : r->perm;
    }
    /* No match: M succeeds; S and U fail once any entry is set (kiln, like QEMU, allows them before). */
    if (p == PRIV_M || !h->pmp_on)
        return PMP_R | PMP_W | PMP_X;
    return 0;
}

/* CSR side: pmpcfgN (even N) and pmpaddrN writes, honouring lock bits (3.7.1.3). */
void pmp_write_cfg(struct hart *h, unsigned n, uint64_t val);
void pmp_write_addr(struct hart *h, unsigned n, uint64_t val);
/* After pmpcfg/pmpaddr were set directly (a snapshot restore): recompute pmp_on, drop cached pages. */
void pmp_sync(struct hart *h);

#endif
