/*
 * Sv39/Sv48 page walks and the slow paths of guest memory access
 * (privileged spec 10.3 "Sv32" algorithm 10.3.2, extended by 10.4 Sv39 and 10.5 Sv48).
 */
#include "cpu/mmu.h"

#include "cpu/bus.h"
#include "cpu/pmp.h"
#include "cpu/trap.h"
#include "cpu/trigger.h"

#define PTE_V (1ull << 0)
#define PTE_R (1ull << 1)
#define PTE_W (1ull << 2)
#define PTE_X (1ull << 3)
#define PTE_U (1ull << 4)
#define PTE_A (1ull << 6)
#define PTE_D (1ull << 7)
#define PTE_PPN_MASK ((1ull << 44) - 1)

#define SATP_MODE_BARE 0
#define SATP_MODE_SV39 8
#define SATP_MODE_SV48 9

static enum priv data_priv(const struct hart *h)
{
    /* MPRV makes M-mode loads and stores use MPP's translation (priv spec 3.1.6.3). */
    if (h->priv == PRIV_M && (h->mstatus & MSTATUS_MPRV))
        return (enum priv)((h->mstatus & MSTATUS_MPP) >> 11);
    return h->priv;
}

static uint64_t key_for(const struct hart *h, enum priv p)
{
    if (p == PRIV_M)
        return TLB_KEY_M;
    if ((h->satp >> 60) == SATP_MODE_BARE)
        return TLB_KEY_BARE;
    if (p == PRIV_U)
        return TLB_KEY_U;
    return (h->mstatus & MSTATUS_SUM) ? TLB_KEY_S_SUM : TLB_KEY_S;
}

void mmu_update_keys(struct hart *h)
{
    h->cur_code_va = ~0ull; /* fetch permissions may differ now */
    h->fetch_key = key_for(h, h->priv);
    h->data_key = key_for(h, data_priv(h));
}

static int page_fault(enum access acc)
{
    return acc == ACC_EXEC ? EXC_INSN_PAGE_FAULT
           : acc == ACC_WRITE ? EXC_STORE_PAGE_FAULT
                              : EXC_LOAD_PAGE_FAULT;
}

static int access_fault(enum access acc)
{
    return acc == ACC_EXEC ? EXC_INSN_ACCESS : acc == ACC_WRITE ? EXC_STORE_ACCESS : EXC_LOAD_ACCESS;
}

static bool leaf_permits(const struct hart *h, uint64_t pte, enum priv p, enum access acc)
{
    /* priv spec 10.3.2 step 5 and 3.1.6.3 (SUM, MXR). */
    if (pte & PTE_U) {
        if (p == PRIV_S && (acc == ACC_EXEC || !(h->mstatus & MSTATUS_SUM)))
            return false;
    } else if (p == PRIV_U) {
        return false;
    }
    switch (acc) {
    case ACC_READ:
        return (pte & PTE_R) || ((h->mstatus & MSTATUS_MXR) && (pte & PTE_X));
    case ACC_WRITE:
        return pte & PTE_W;
    default:
        return pte & PTE_X;
    }
}

/*
 * The bits above the PPN of a leaf PTE: 60:54 reserved; Svpbmt's PBMT (62:61):
 * NC (1) and IO (2) only change caching, which kiln does not model, 3 is
 * reserved, and all are reserved while menvcfg.PBMTE is clear; Svnapot's N
 * (63): only the 64 KiB size, a 4 KiB leaf whose ppn[3:0] is 1000.
 */
static bool __attribute__((noinline)) leaf_ext_ok(const struct hart *h, uint64_t pte, int level,
                                                  uint64_t *ppn, unsigned *off_bits)
{
    uint64_t pbmt = (pte >> 61) & 3;
    if ((pte >> 54) & 0x7f)
        return false;
    if (pbmt == 3 || (pbmt && !(h->menvcfg & MENVCFG_PBMTE)))
        return false;
    if (pte >> 63) {
        if (level != 0 || (*ppn & 0xf) != 8)
            return false;
        *ppn &= ~0xfull;
        *off_bits = 16;
    }
    return true;
}

/* PMP for a page-table read at level: remembers a table page S-mode may read whole. */
static bool __attribute__((noinline)) pmp_table_ok(struct hart *h, uint64_t pte_pa, int level)
{
    uint64_t page = pte_pa & ~(PAGE_SIZE - 1);
    if (pmp_perm(h, page, PAGE_SIZE, PRIV_S) & PMP_R) {
        h->pmp_pt_ok[level] = page;
        return true;
    }
    return (pmp_perm(h, pte_pa, 8, PRIV_S) & PMP_R) != 0;
}

int mmu_translate(struct hart *h, uint64_t va, enum access acc, uint64_t *pa)
{
    enum priv p = acc == ACC_EXEC ? h->priv : data_priv(h);
    unsigned mode = (unsigned)(h->satp >> 60);
    if (p == PRIV_M || mode == SATP_MODE_BARE) {
        *pa = va;
        return 0;
    }
    int levels = mode == SATP_MODE_SV39 ? 3 : 4;
    unsigned va_bits = 12 + 9 * (unsigned)levels;
    /* Addresses must be sign-extended from the top VA bit (10.4). */
    if ((uint64_t)((int64_t)(va << (64 - va_bits)) >> (64 - va_bits)) != va)
        return page_fault(acc);

restart:;
    uint64_t table = (h->satp & PTE_PPN_MASK) << PAGE_SHIFT;
    for (int level = levels - 1; level >= 0; level--) {
        uint64_t idx = (va >> (PAGE_SHIFT + 9 * (unsigned)level)) & 0x1ff;
        uint64_t pte_pa = table + idx * 8;
        uint64_t *ptep = bus_ram_ptr(h->bus, pte_pa, 8);
        if (!ptep)
            return access_fault(acc);
        uint64_t pte = __atomic_load_n(ptep, __ATOMIC_ACQUIRE);
        /*
         * Page-table reads are S-mode accesses for PMP (priv 3.7.1.4); checked
         * once per table page until PMP changes (pmp_sync() forgets them).
         */
        if (h->pmp_on && (pte_pa & ~(PAGE_SIZE - 1)) != h->pmp_pt_ok[level] &&
            !pmp_table_ok(h, pte_pa, level))
            return access_fault(acc);
        /* W without R is reserved (10.3.1). */
        if (!(pte & PTE_V) || (!(pte & PTE_R) && (pte & PTE_W)))
            return page_fault(acc);
        uint64_t ppn = (pte >> 10) & PTE_PPN_MASK;
        if (!(pte & (PTE_R | PTE_X))) {
            if (pte >> 54) /* reserved, and N/PBMT in a non-leaf PTE (Svnapot, Svpbmt) */
                return page_fault(acc);
            table = ppn << PAGE_SHIFT;
            continue;
        }
        if (!leaf_permits(h, pte, p, acc))
            return page_fault(acc);
        unsigned off_bits = PAGE_SHIFT + 9 * (unsigned)level;
        /* A misaligned superpage is a page fault (10.3.2 step 6). */
        if (level > 0 && (ppn & ((1ull << (9 * (unsigned)level)) - 1)))
            return page_fault(acc);
        if (__builtin_expect((pte >> 54) != 0, 0) && !leaf_ext_ok(h, pte, level, &ppn, &off_bits))
            return page_fault(acc);
        uint64_t need = PTE_A | (acc == ACC_WRITE ? PTE_D : 0);
        if ((pte & need) != need) {
            if (h->pmp_on && !(pmp_perm(h, pte_pa, 8, PRIV_S) & PMP_W))
                return access_fault(acc); /* the A/D update is a PMP-checked store */
            /* Hardware A/D update, atomic with respect to the PTE's value (10.3.2 step 7). */
            uint64_t expected = pte;
            bus_dirty_mark(h->bus, pte_pa); /* the PTE's page changes (live migration) */
            if (!__atomic_compare_exchange_n(ptep, &expected, pte | need, false, __ATOMIC_ACQ_REL,
                                             __ATOMIC_ACQUIRE))
                goto restart;
        }
        uint64_t off_mask = (1ull << off_bits) - 1;
        *pa = ((ppn << PAGE_SHIFT) & ~off_mask) | (va & off_mask);
        return 0;
    }
    return page_fault(acc);
}

static unsigned pmp_need(enum access acc)
{
    return acc == ACC_EXEC ? PMP_X : acc == ACC_WRITE ? PMP_W : PMP_R;
}

/* PMP for translate_page: false with the access fault raised; *cache cleared when the page is not uniform. */
static bool pmp_page_ok(struct hart *h, uint64_t va, uint64_t pa, enum access acc, unsigned size, bool *cache)
{
    enum priv p = acc == ACC_EXEC ? h->priv : data_priv(h);
    unsigned need = pmp_need(acc);
    if (pmp_perm(h, pa & ~(PAGE_SIZE - 1), PAGE_SIZE, p) & need)
        return true;
    *cache = false;
    if (pmp_perm(h, pa, size, p) & need)
        return true;
    hart_raise(h, (uint64_t)access_fault(acc), va);
    return false;
}

/*
 * Translates and PMP-checks an access of size bytes at va (within one page)
 * and, for a RAM page, returns its host address. The TLB caches the page only
 * when PMP gives the whole page the access, and no load/store trigger is set.
 */
static bool translate_page(struct hart *h, uint64_t va, enum access acc, unsigned size, uint64_t *pa,
                           uint8_t **host)
{
    int exc = mmu_translate(h, va, acc, pa);
    if (exc) {
        hart_raise(h, (uint64_t)exc, va);
        return false;
    }
    /* The whole page first: when PMP gives it the access, the access (inside it) has it too. */
    bool cache = !(h->trig_data && acc != ACC_EXEC);
    if (h->pmp_on && !pmp_page_ok(h, va, *pa, acc, size, &cache))
        return false;
    uint8_t *page = bus_ram_ptr(h->bus, *pa & ~(PAGE_SIZE - 1), PAGE_SIZE);
    *host = NULL;
    /* Before the store (and before a write TLB entry lets later ones through): docs/migration.md. */
    if (page && acc == ACC_WRITE)
        bus_dirty_mark(h->bus, *pa);
    if (page) {
        if (cache) {
            uint64_t key = acc == ACC_EXEC ? h->fetch_key : h->data_key;
            struct tlb_entry *e = tlb_slot(h, (int)acc, va);
            e->tag = tlb_tag(va, key);
            e->addend = (uintptr_t)page - (va & ~(PAGE_SIZE - 1));
        }
        *host = page + (*pa & (PAGE_SIZE - 1));
    }
    return true;
}

static bool mmio_access(struct hart *h, uint64_t va, uint64_t pa, unsigned size, enum access acc,
                        uint64_t *val)
{
    const struct cpu_bus *bus = h->bus;
    /* The bus refuses what no device takes (nothing there, misaligned, past a window): access fault. */
    bool ok = acc == ACC_WRITE ? bus->ops->mmio_write(bus->ctx, pa, size, *val)
                               : bus->ops->mmio_read(bus->ctx, pa, size, val);
    if (!ok) {
        hart_raise(h, acc == ACC_WRITE ? EXC_STORE_ACCESS : EXC_LOAD_ACCESS, va);
        return false;
    }
    /* A device write may change interrupt lines or timers: re-evaluate before the next instruction. */
    if (acc == ACC_WRITE)
        h->budget = 0;
    return true;
}

/* An access that straddles two pages: translate both before touching either (no partial store). */
static bool split_access(struct hart *h, uint64_t va, unsigned size, enum access acc, uint64_t *val)
{
    uint64_t first = PAGE_SIZE - (va & (PAGE_SIZE - 1));
    uint64_t pa0, pa1;
    uint8_t *h0, *h1;
    if (!translate_page(h, va, acc, (unsigned)first, &pa0, &h0) ||
        !translate_page(h, va + first, acc, size - (unsigned)first, &pa1, &h1))
        return false;
    if (!h0 || !h1) {
        hart_raise(h, acc == ACC_WRITE ? EXC_STORE_ACCESS : EXC_LOAD_ACCESS, va);
        return false;
    }
    uint8_t buf[8];
    if (acc == ACC_WRITE) {
        memcpy(buf, val, 8);
        memcpy(h0, buf, first);
        memcpy(h1, buf + first, size - first);
    } else {
        memset(buf, 0, sizeof(buf));
        memcpy(buf, h0, first);
        memcpy(buf + first, h1, size - first);
        memcpy(val, buf, 8);
    }
    return true;
}

bool mem_load_slow(struct hart *h, uint64_t va, unsigned size, uint64_t *out)
{
    if (h->trig_data && trig_check(h, TRIG_LOAD, va, size))
        return false;
    if ((va & (PAGE_SIZE - 1)) > PAGE_SIZE - size) {
        *out = 0;
        return split_access(h, va, size, ACC_READ, out);
    }
    uint64_t pa;
    uint8_t *host;
    if (!translate_page(h, va, ACC_READ, size, &pa, &host))
        return false;
    if (!host)
        return mmio_access(h, va, pa, size, ACC_READ, out);
    uint64_t v = 0;
    memcpy(&v, host, size);
    *out = v;
    return true;
}

bool mem_store_slow(struct hart *h, uint64_t va, unsigned size, uint64_t val)
{
    if (h->trig_data && trig_check(h, TRIG_STORE, va, size))
        return false;
    if ((va & (PAGE_SIZE - 1)) > PAGE_SIZE - size)
        return split_access(h, va, size, ACC_WRITE, &val);
    uint64_t pa;
    uint8_t *host;
    if (!translate_page(h, va, ACC_WRITE, size, &pa, &host))
        return false;
    if (!host)
        return mmio_access(h, va, pa, size, ACC_WRITE, &val);
    memcpy(host, &val, size);
    return true;
}

bool mem_fetch_check_pmp(struct hart *h, uint64_t va, uint64_t pa)
{
    if (!h->pmp_on || (pmp_perm(h, pa, 2, h->priv) & PMP_X))
        return true;
    hart_raise(h, EXC_INSN_ACCESS, va);
    return false;
}

bool mem_fetch_slow(struct hart *h, uint64_t pc, uint32_t *insn)
{
    /*
     * IALIGN is 16 (C extension): an odd pc cannot be fetched (unpriv spec 1.5).
     * Branches and xRET never produce one, but a pc set from guest data can,
     * and at a page's last byte the 2-byte read below would cross into the
     * next host page, past guest RAM at its end.
     */
    if (pc & 1) {
        hart_raise(h, EXC_INSN_MISALIGNED, pc);
        return false;
    }
    uint64_t pa;
    uint8_t *host;
    if (!translate_page(h, pc, ACC_EXEC, 2, &pa, &host))
        return false;
    if (!host) {
        hart_raise(h, EXC_INSN_ACCESS, pc);
        return false;
    }
    uint16_t lo;
    memcpy(&lo, host, 2);
    if ((lo & 3) != 3 || (pc & (PAGE_SIZE - 1)) <= PAGE_SIZE - 4) {
        uint32_t v = lo;
        if ((lo & 3) == 3) {
            if (!mem_fetch_check_pmp(h, pc + 2, pa + 2))
                return false;
            uint16_t hi;
            memcpy(&hi, host + 2, 2);
            v |= (uint32_t)hi << 16;
        }
        *insn = v;
        return true;
    }
    /* A 32-bit instruction straddling a page boundary: the fault, if any, names pc + 2's page. */
    uint64_t pa2;
    uint8_t *host2;
    if (!translate_page(h, pc + 2, ACC_EXEC, 2, &pa2, &host2))
        return false;
    if (!host2) {
        hart_raise(h, EXC_INSN_ACCESS, pc + 2);
        return false;
    }
    uint16_t hi;
    memcpy(&hi, host2, 2);
    *insn = lo | (uint32_t)hi << 16;
    return true;
}

void *mem_atomic_ptr(struct hart *h, uint64_t va, unsigned size, enum access acc)
{
    /* AMOs and LR/SC must be naturally aligned (unpriv spec 8.4); misaligned raises the store/AMO cause. */
    if (va & (size - 1)) {
        hart_raise(h, acc == ACC_READ ? EXC_LOAD_MISALIGNED : EXC_STORE_MISALIGNED, va);
        return NULL;
    }
    struct tlb_entry *e = tlb_slot(h, (int)acc, va);
    if (e->tag == tlb_tag(va, h->data_key))
        return (void *)(uintptr_t)(va + e->addend);
    /* An AMO both reads and writes; LR only reads (debug spec: load and store triggers). */
    if (h->trig_data && trig_check(h, acc == ACC_READ ? TRIG_LOAD : TRIG_LOAD | TRIG_STORE, va, size))
        return NULL;
    uint64_t pa;
    uint8_t *host;
    if (!translate_page(h, va, acc, size, &pa, &host))
        return NULL;
    if (!host) {
        hart_raise(h, acc == ACC_READ ? EXC_LOAD_ACCESS : EXC_STORE_ACCESS, va);
        return NULL;
    }
    return host;
}

uint8_t *mem_exec_page(struct hart *h, uint64_t pc, uint64_t *pa)
{
    uint8_t *host;
    if (!translate_page(h, pc, ACC_EXEC, 2, pa, &host))
        return NULL;
    if (!host) {
        hart_raise(h, EXC_INSN_ACCESS, pc);
        return NULL;
    }
    return host - (pc & (PAGE_SIZE - 1));
}

/*
 * Fills the fetch TLB entry for pc's page if the fetch would succeed, raising
 * nothing: false when it would fault or the page is not RAM PMP gives whole
 * (the interpreter then fetches, and raises what it must). Only A bits change,
 * as the fetch itself would change them (priv 4.3.1: a walk may set A early).
 */
bool mmu_fill_fetch(struct hart *h, uint64_t pc)
{
    uint64_t pa;
    if (mmu_translate(h, pc, ACC_EXEC, &pa))
        return false;
    if (h->pmp_on && !(pmp_perm(h, pa & ~(PAGE_SIZE - 1), PAGE_SIZE, h->priv) & PMP_X))
        return false;
    uint8_t *page = bus_ram_ptr(h->bus, pa & ~(PAGE_SIZE - 1), PAGE_SIZE);
    if (!page)
        return false;
    struct tlb_entry *e = tlb_slot(h, TLB_EXEC, pc);
    e->tag = tlb_tag(pc, h->fetch_key);
    e->addend = (uintptr_t)page - (pc & ~(PAGE_SIZE - 1));
    return true;
}

bool mem_cbo_check(struct hart *h, uint64_t va, bool zero, uint8_t **block)
{
    uint64_t base = va & ~63ull, pa;
    enum priv p = data_priv(h);
    int exc = mmu_translate(h, base, ACC_WRITE, &pa);
    if (exc == 0 && (pmp_perm(h, pa, 64, p) & PMP_W)) {
        /* cbo.zero writes RAM only: a device block is refused like any store nothing takes. */
        *block = bus_ram_ptr(h->bus, pa, 64);
        if (*block && zero)
            bus_dirty_mark(h->bus, pa);
        if (*block || !zero)
            return true;
        exc = EXC_STORE_ACCESS;
    } else if (!zero) { /* clean/flush/inval need only one of load and store permission */
        uint64_t rpa;
        if (mmu_translate(h, base, ACC_READ, &rpa) == 0) {
            if (pmp_perm(h, rpa, 64, p) & PMP_R)
                return true;
            exc = EXC_STORE_ACCESS;
        }
    } else if (exc == 0) {
        exc = EXC_STORE_ACCESS;
    }
    /* tval: the effective address, rs1 (cmo spec 2.5.2). */
    hart_raise(h, (uint64_t)exc, va);
    return false;
}
