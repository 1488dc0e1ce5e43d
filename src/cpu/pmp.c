/* PMP matching and CSR writes (privileged spec 3.7.1, RV64: 64 entries, grain 4 bytes). */
#include "cpu/pmp.h"

#include <string.h>

#include "cpu/mmu.h"

#define PMP_A_SHIFT 3
#define PMP_A_OFF 0
#define PMP_A_TOR 1
#define PMP_A_NA4 2
#define PMP_A_NAPOT 3
#define PMP_L 0x80u

/* Entry i's configuration byte: pmpcfg0 holds entries 0-7, pmpcfg2 8-15, ... (3.7.1.1). */
static unsigned cfg_of(const struct hart *h, unsigned i)
{
    return (unsigned)(h->pmpcfg[(i / 8) * 2] >> (8 * (i % 8))) & 0xff;
}

/* Entry i's range [*lo, *hi) in bytes (hi exclusive; 2^64 saturates to ~0). False when it matches nothing. */
static bool range_of(const struct hart *h, unsigned i, unsigned cfg, uint64_t *lo, uint64_t *hi)
{
    uint64_t a = h->pmpaddr[i];
    switch ((cfg >> PMP_A_SHIFT) & 3) {
    case PMP_A_TOR:
        *lo = i ? h->pmpaddr[i - 1] << 2 : 0;
        *hi = a << 2;
        return *lo < *hi;
    case PMP_A_NA4:
        *lo = a << 2;
        *hi = *lo + 4;
        return true;
    case PMP_A_NAPOT: {
        /* pmpaddr = base/4 with (size/8 - 1) ones below: size = 2^(trailing ones + 3). */
        /* All ones (only a restored snapshot can hold that: csrw keeps 54 bits): every address. */
        unsigned ones = ~a ? (unsigned)__builtin_ctzll(~a) : 64;
        if (ones >= 54) { /* every address */
            *lo = 0;
            *hi = ~0ull;
            return true;
        }
        *lo = (a & ~((1ull << ones) - 1)) << 2;
        *hi = *lo + (1ull << (ones + 3));
        return true;
    }
    default:
        return false;
    }
}

/*
 * Recomputes the derived state from pmpcfg/pmpaddr: the active entries as byte
 * ranges in priority order. Cached permissions depend on every entry, so the
 * TLB and the current code page go too.
 */
void pmp_sync(struct hart *h)
{
    bool on = false;
    unsigned n = 0;
    for (unsigned i = 0; i < 64; i++) {
        unsigned cfg = cfg_of(h, i);
        uint64_t lo, hi;
        on |= ((cfg >> PMP_A_SHIFT) & 3) != PMP_A_OFF;
        if (!range_of(h, i, cfg, &lo, &hi))
            continue;
        struct pmp_range *r = &h->pmp_ranges[n++];
        r->lo = lo;
        r->last = hi == ~0ull ? ~0ull : hi - 1; /* hi of ~0 stands for 2^64 */
        r->perm = (uint8_t)(cfg & (PMP_R | PMP_W | PMP_X));
        /* M-mode accesses succeed unless the entry is locked (3.7.1.3). */
        r->perm_m = (cfg & PMP_L) ? r->perm : (uint8_t)(PMP_R | PMP_W | PMP_X);
    }
    h->pmp_on = on;
    h->pmp_n = n;
    memset(h->pmp_pt_ok, 0xff, sizeof(h->pmp_pt_ok));
    hart_tlb_flush(h);
    mmu_update_keys(h);
    h->budget = 0; /* end the batch: the next instruction sees the new permissions */
}

void pmp_write_cfg(struct hart *h, unsigned n, uint64_t val)
{
    uint64_t cur = h->pmpcfg[n];
    uint64_t out = 0;
    for (unsigned k = 0; k < 8; k++) {
        unsigned old = (unsigned)(cur >> (8 * k)) & 0xff;
        unsigned b = (unsigned)(val >> (8 * k)) & 0xff;
        if (old & PMP_L) {
            b = old; /* locked: writes ignored until reset */
        } else {
            b &= 0x9f; /* bits 6:5 are reserved, read zero */
            if ((b & (PMP_R | PMP_W)) == PMP_W)
                b &= ~PMP_W; /* R=0 W=1 is reserved: keep the entry unwritable */
        }
        out |= (uint64_t)b << (8 * k);
    }
    h->pmpcfg[n] = out;
    pmp_sync(h);
}

void pmp_write_addr(struct hart *h, unsigned n, uint64_t val)
{
    /* Locked entries, and the base of a locked TOR entry above, ignore writes (3.7.1.3). */
    if (cfg_of(h, n) & PMP_L)
        return;
    if (n + 1 < 64) {
        unsigned next = cfg_of(h, n + 1);
        if ((next & PMP_L) && ((next >> PMP_A_SHIFT) & 3) == PMP_A_TOR)
            return;
    }
    h->pmpaddr[n] = val & ((1ull << 54) - 1);
    pmp_sync(h);
}
