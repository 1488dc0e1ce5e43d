/*
 * Guest virtual memory as one hart sees it: Sv39/Sv48 translation (privileged
 * spec 10.3-10.5), the software TLB, and the load/store/fetch paths. The fast
 * paths are inline: a TLB hit is one compare and one host access.
 * On failure every function has already raised the trap on the hart and
 * returns false; the caller just abandons the instruction.
 */
#ifndef KILN_CPU_MMU_H
#define KILN_CPU_MMU_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "cpu/hart.h"

#define PAGE_SHIFT 12
#define PAGE_SIZE 4096ull

enum access { ACC_READ = TLB_READ, ACC_WRITE = TLB_WRITE, ACC_EXEC = TLB_EXEC };

#define TLB_KEY_U 0ull
#define TLB_KEY_S 1ull
#define TLB_KEY_S_SUM 2ull
#define TLB_KEY_BARE 3ull /* S or U with satp off */
#define TLB_KEY_M 4ull    /* M: PMP lets it through where S/U are refused */

static inline uint64_t tlb_tag(uint64_t va, uint64_t key)
{
    return (va >> PAGE_SHIFT) | (key << 60);
}

static inline struct tlb_entry *tlb_slot(struct hart *h, int kind, uint64_t va)
{
    return &h->tlb[kind][(va >> PAGE_SHIFT) & h->tlb_mask];
}

/* Recomputes fetch_key/data_key after a change of priv, satp mode, MPRV, MPP or SUM. */
void mmu_update_keys(struct hart *h);

/*
 * Translates va for an access of the given kind at the given effective privilege.
 * Returns 0 and the physical address, or the exception code to raise.
 */
int mmu_translate(struct hart *h, uint64_t va, enum access acc, uint64_t *pa);

bool mem_load_slow(struct hart *h, uint64_t va, unsigned size, uint64_t *out);
bool mem_store_slow(struct hart *h, uint64_t va, unsigned size, uint64_t val);
bool mem_fetch_slow(struct hart *h, uint64_t pc, uint32_t *insn);
/* PMP execute check of the 2 bytes at pa (fetched from va); false with the access fault raised. */
bool mem_fetch_check_pmp(struct hart *h, uint64_t va, uint64_t pa);
/* Host address of the RAM page holding pc, translated for execution; NULL with the trap raised. */
uint8_t *mem_exec_page(struct hart *h, uint64_t pc, uint64_t *pa);
/* Fills the fetch TLB for pc's page when a fetch there would succeed; raises nothing. */
bool mmu_fill_fetch(struct hart *h, uint64_t pc);

/*
 * Zicbom/Zicboz (cmo spec 2.5.2): can a cache-block operation touch the 64-byte
 * block at va (store permission for cbo.zero, load or store for the others)?
 * False with the store page/access fault raised (tval va). For cbo.zero,
 * *block is the block's host address (it must be RAM).
 */
bool mem_cbo_check(struct hart *h, uint64_t va, bool zero, uint8_t **block);

/* Host pointer for an aligned access wholly inside one RAM page (atomics), or NULL with the trap raised. */
void *mem_atomic_ptr(struct hart *h, uint64_t va, unsigned size, enum access acc);

static inline bool mem_load(struct hart *h, uint64_t va, unsigned size, uint64_t *out)
{
    struct tlb_entry *e = tlb_slot(h, TLB_READ, va);
    if (__builtin_expect(e->tag == tlb_tag(va, h->data_key) && (va & (PAGE_SIZE - 1)) <= PAGE_SIZE - size, 1)) {
        const void *p = (const void *)(uintptr_t)(va + e->addend);
        switch (size) {
        case 1: *out = *(const uint8_t *)p; return true;
        case 2: { uint16_t v; memcpy(&v, p, 2); *out = v; return true; }
        case 4: { uint32_t v; memcpy(&v, p, 4); *out = v; return true; }
        default: { uint64_t v; memcpy(&v, p, 8); *out = v; return true; }
        }
    }
    return mem_load_slow(h, va, size, out);
}

static inline bool mem_store(struct hart *h, uint64_t va, unsigned size, uint64_t val)
{
    struct tlb_entry *e = tlb_slot(h, TLB_WRITE, va);
    if (__builtin_expect(e->tag == tlb_tag(va, h->data_key) && (va & (PAGE_SIZE - 1)) <= PAGE_SIZE - size, 1)) {
        void *p = (void *)(uintptr_t)(va + e->addend);
        switch (size) {
        case 1: *(uint8_t *)p = (uint8_t)val; return true;
        case 2: { uint16_t v = (uint16_t)val; memcpy(p, &v, 2); return true; }
        case 4: { uint32_t v = (uint32_t)val; memcpy(p, &v, 4); return true; }
        default: memcpy(p, &val, 8); return true;
        }
    }
    return mem_store_slow(h, va, size, val);
}

#endif
