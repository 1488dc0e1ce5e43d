/*
 * The RV64GC interpreter: fetch, decode and execute one instruction at a time
 * until the batch budget runs out. Compressed instructions are expanded to
 * their 32-bit equivalents (rvc.c) so one decoder serves both.
 */
#include "cpu/exec.h"

#include <stdlib.h>

#include "cpu/csr.h"
#include "cpu/decode.h"
#include "cpu/fpu.h"
#include "cpu/jit/jit.h"
#include "cpu/mmu.h"
#include "cpu/rvc.h"
#include "cpu/trap.h"
#include "cpu/trigger.h"
#include "cpu/bus.h"

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

static inline int64_t sext32(uint64_t v)
{
    return (int64_t)(int32_t)v;
}

static uint64_t mulh_s(int64_t a, int64_t b)
{
    return (uint64_t)(((__int128)a * (__int128)b) >> 64);
}

static uint64_t mulh_u(uint64_t a, uint64_t b)
{
    return (uint64_t)(((unsigned __int128)a * (unsigned __int128)b) >> 64);
}

static uint64_t mulh_su(int64_t a, uint64_t b)
{
    return (uint64_t)(((__int128)a * (__int128)(unsigned __int128)b) >> 64);
}

/* OP and OP-32 with funct7 = 1: the M extension (unpriv chapter 7). Division never traps (7.2). */
uint64_t exec_muldiv(unsigned f3, uint64_t a, uint64_t b)
{
    switch (f3) {
    case 0: return a * b;
    case 1: return mulh_s((int64_t)a, (int64_t)b);
    case 2: return mulh_su((int64_t)a, b);
    case 3: return mulh_u(a, b);
    case 4:
        if (b == 0) return ~0ull;
        if ((int64_t)a == INT64_MIN && (int64_t)b == -1) return a;
        return (uint64_t)((int64_t)a / (int64_t)b);
    case 5: return b == 0 ? ~0ull : a / b;
    case 6:
        if (b == 0) return a;
        if ((int64_t)a == INT64_MIN && (int64_t)b == -1) return 0;
        return (uint64_t)((int64_t)a % (int64_t)b);
    default: return b == 0 ? a : a % b;
    }
}

bool exec_muldiv_w(unsigned f3, uint64_t a64, uint64_t b64, uint64_t *out)
{
    int32_t a = (int32_t)a64, b = (int32_t)b64;
    uint32_t ua = (uint32_t)a64, ub = (uint32_t)b64;
    switch (f3) {
    case 0: *out = (uint64_t)sext32((uint32_t)(ua * ub)); return true;
    case 4:
        if (b == 0) *out = ~0ull;
        else if (a == INT32_MIN && b == -1) *out = (uint64_t)(int64_t)a;
        else *out = (uint64_t)(int64_t)(a / b);
        return true;
    case 5: *out = (uint64_t)sext32(ub == 0 ? ~0u : ua / ub); return true;
    case 6:
        if (b == 0) *out = (uint64_t)(int64_t)a;
        else if (a == INT32_MIN && b == -1) *out = 0;
        else *out = (uint64_t)(int64_t)(a % b);
        return true;
    case 7: *out = (uint64_t)sext32(ub == 0 ? ua : ua % ub); return true;
    default: return false;
    }
}

/* AMO funct5 values (unpriv 8.4); LR = 0x02, SC = 0x03. */
static bool amo_funct5_valid(unsigned f5)
{
    switch (f5) {
    case 0x00: case 0x01: case 0x02: case 0x03: case 0x04: case 0x08: case 0x0c:
    case 0x10: case 0x14: case 0x18: case 0x1c:
        return true;
    default:
        return false;
    }
}

/* One body for both widths: T is the unsigned type, S the signed one. Returns the old value. */
#define DEFINE_AMO(name, T, S)                                                                     \
    static T name(void *p, unsigned f5, T s)                                                       \
    {                                                                                              \
        T *q = p, o, n;                                                                            \
        switch (f5) {                                                                              \
        case 0x01: return __atomic_exchange_n(q, s, __ATOMIC_SEQ_CST);                             \
        case 0x00: return __atomic_fetch_add(q, s, __ATOMIC_SEQ_CST);                              \
        case 0x04: return __atomic_fetch_xor(q, s, __ATOMIC_SEQ_CST);                              \
        case 0x0c: return __atomic_fetch_and(q, s, __ATOMIC_SEQ_CST);                              \
        case 0x08: return __atomic_fetch_or(q, s, __ATOMIC_SEQ_CST);                               \
        default: /* 0x10 MIN, 0x14 MAX, 0x18 MINU, 0x1c MAXU */                                    \
            o = __atomic_load_n(q, __ATOMIC_RELAXED);                                              \
            do {                                                                                   \
                bool take_src = f5 == 0x10   ? (S)s < (S)o                                         \
                                : f5 == 0x14 ? (S)s > (S)o                                         \
                                : f5 == 0x18 ? s < o                                               \
                                             : s > o;                                              \
                n = take_src ? s : o;                                                              \
            } while (!__atomic_compare_exchange_n(q, &o, n, true, __ATOMIC_SEQ_CST,                \
                                                  __ATOMIC_RELAXED));                              \
            return o;                                                                              \
        }                                                                                          \
    }
DEFINE_AMO(amo_w, uint32_t, int32_t)
DEFINE_AMO(amo_d, uint64_t, int64_t)

/* Host pointer for an atomic access that hits the TLB, else NULL; never traps (the JIT's fast path). */
static void *atomic_ptr_fast(struct hart *h, uint64_t va, unsigned size, enum access acc)
{
    if (va & (size - 1))
        return NULL;
    struct tlb_entry *e = tlb_slot(h, (int)acc, va);
    return e->tag == tlb_tag(va, h->data_key) ? (void *)(uintptr_t)(va + e->addend) : NULL;
}

/*
 * Returns 0 when done, 1 when it trapped, -1 when illegal. With fast, an
 * access that would need the slow path returns 1 before changing anything.
 */
static int exec_amo(struct hart *h, uint32_t insn, unsigned rd, bool fast)
{
    unsigned f3 = (insn >> 12) & 7, f5 = insn >> 27;
    uint64_t addr = h->x[(insn >> 15) & 31], src = h->x[(insn >> 20) & 31];
    if ((f3 != 2 && f3 != 3) || !amo_funct5_valid(f5))
        return -1; /* illegal before any memory access */
    unsigned size = f3 == 2 ? 4 : 8;
    if (f5 == 2) { /* LR (unpriv 8.2) */
        if ((insn >> 20) & 31)
            return -1;
        void *p = fast ? atomic_ptr_fast(h, addr, size, ACC_READ) : mem_atomic_ptr(h, addr, size, ACC_READ);
        if (!p)
            return 1;
        uint64_t v = size == 4 ? (uint64_t)__atomic_load_n((uint32_t *)p, __ATOMIC_ACQUIRE)
                               : __atomic_load_n((uint64_t *)p, __ATOMIC_ACQUIRE);
        h->resv_valid = true;
        h->resv_addr = addr;
        h->resv_value = v;
        h->x[rd] = size == 4 ? (uint64_t)sext32(v) : v;
        return 0;
    }
    void *p = fast ? atomic_ptr_fast(h, addr, size, ACC_WRITE) : mem_atomic_ptr(h, addr, size, ACC_WRITE);
    if (!p)
        return 1;
    if (f5 == 3) { /* SC: succeeds only if memory still holds what LR saw (CAS, tolerating ABA) */
        bool ok = false;
        if (h->resv_valid && h->resv_addr == addr) {
            if (size == 4) {
                uint32_t expect = (uint32_t)h->resv_value;
                ok = __atomic_compare_exchange_n((uint32_t *)p, &expect, (uint32_t)src, false,
                                                 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
            } else {
                uint64_t expect = h->resv_value;
                ok = __atomic_compare_exchange_n((uint64_t *)p, &expect, src, false,
                                                 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
            }
        }
        h->resv_valid = false;
        h->x[rd] = ok ? 0 : 1;
        return 0;
    }
    if (size == 4) {
        uint32_t o = amo_w(p, f5, (uint32_t)src);
        h->x[rd] = (uint64_t)sext32(o);
    } else {
        h->x[rd] = amo_d(p, f5, src);
    }
    return 0;
}

/* Zicsr (unpriv chapter 9): rd=x0 skips the read side effects of CSRRW; rs1=x0 skips the write of CSRRS/C. */
static bool exec_csr(struct hart *h, uint32_t insn, unsigned rd)
{
    unsigned f3 = (insn >> 12) & 7, rs1 = (insn >> 15) & 31, csr = insn >> 20;
    uint64_t src = (f3 & 4) ? rs1 : h->x[rs1];
    unsigned op = f3 & 3;
    bool writes = op == 1 || rs1 != 0;
    uint64_t old = 0;
    if (!csr_read(h, csr, &old, writes))
        return false;
    if (writes) {
        /*
         * CSRRS/CSRRC on mip/sip modify the software-writable bits only: the
         * lines driven by devices and timers (SEIP, Sstc's STIP) read as set
         * but must not be latched by the write back (priv 3.1.9).
         */
        uint64_t base = csr_rmw_base(h, csr, old);
        uint64_t v = op == 1 ? src : op == 2 ? base | src : base & ~src;
        if (!csr_write(h, csr, v))
            return false;
    }
    h->x[rd] = old;
    return true;
}

/*
 * Zicbom/Zicboz cache-block operations (cmo spec 2.5, block size 64 bytes):
 * which 0 inval, 1 clean, 2 flush, 4 zero. kiln has no caches to manage, so
 * clean/flush/inval only check that they may run (menvcfg/senvcfg enables,
 * else illegal) and may touch the block (else a store page/access fault).
 * Returns 0 done, 1 trapped, -1 illegal.
 */
static int exec_cbo(struct hart *h, unsigned which, uint64_t addr)
{
    uint64_t enable = which == 4 ? ENVCFG_CBZE : which == 0 ? ENVCFG_CBIE : ENVCFG_CBCFE;
    if (h->priv < PRIV_M && !(h->menvcfg & enable))
        return -1;
    if (h->priv == PRIV_U && !(h->senvcfg & enable))
        return -1;
    uint8_t *block = NULL;
    if (!mem_cbo_check(h, addr, which == 4, &block))
        return 1;
    if (which == 4) /* other harts see it as eight doubleword stores */
        for (unsigned i = 0; i < 64; i += 8)
            __atomic_store_n((uint64_t *)(void *)(block + i), 0, __ATOMIC_RELAXED);
    return 0;
}

enum sys_result { SYS_NEXT, SYS_JUMPED, SYS_ILLEGAL, SYS_TRAPPED };

static enum sys_result exec_system(struct hart *h, uint32_t insn, unsigned rd)
{
    if ((insn >> 12) & 7)
        return exec_csr(h, insn, rd) ? SYS_NEXT : SYS_ILLEGAL;
    if (rd != 0)
        return SYS_ILLEGAL;
    /* SFENCE.VMA (4.2.1) and Svinval's SINVAL.VMA, which kiln runs as the same full flush. */
    if ((insn >> 25) == 0x09 || (insn >> 25) == 0x0b) {
        if (h->priv == PRIV_U || (h->priv == PRIV_S && (h->mstatus & MSTATUS_TVM)))
            return SYS_ILLEGAL;
        hart_tlb_flush(h);
        return SYS_NEXT;
    }
    /* Svinval's SFENCE.W.INVAL / SFENCE.INVAL.IR: orderings kiln's SINVAL.VMA already gives; not in U. */
    if (insn == 0x18000073 || insn == 0x18100073)
        return h->priv == PRIV_U ? SYS_ILLEGAL : SYS_NEXT;
    switch (insn) {
    case 0x00000073: /* ECALL */
        hart_raise(h, EXC_ECALL_U + (uint64_t)h->priv, 0);
        return SYS_TRAPPED;
    case 0x00100073: /* EBREAK */
        hart_raise(h, EXC_BREAKPOINT, h->pc);
        return SYS_TRAPPED;
    case 0x10200073: /* SRET: illegal in U, and in S when TSR=1 (3.1.6.5) */
        if (h->priv == PRIV_U || (h->priv == PRIV_S && (h->mstatus & MSTATUS_TSR)))
            return SYS_ILLEGAL;
        hart_sret(h);
        h->budget = 0;
        return SYS_JUMPED;
    case 0x30200073: /* MRET */
        if (h->priv != PRIV_M)
            return SYS_ILLEGAL;
        hart_mret(h);
        h->budget = 0;
        return SYS_JUMPED;
    case 0x10500073: /* WFI (3.3.3): U never, S only when TW=0 */
        if (h->priv == PRIV_U || (h->priv == PRIV_S && (h->mstatus & MSTATUS_TW)))
            return SYS_ILLEGAL;
        h->pc += 4;
        hart_wfi(h);
        h->budget = 0;
        return SYS_JUMPED;
    default:
        return SYS_ILLEGAL;
    }
}

static bool fp_enabled(const struct hart *h)
{
    return (h->mstatus & MSTATUS_FS) != 0;
}

/* Decodes the (already fetched, RVC-expanded) instruction into a slot. */
static void fill_slot(struct decoded_insn *d, uint32_t insn, unsigned len)
{
    struct decoded dec = decode_insn(insn);
    d->insn = insn;
    d->imm = dec.imm;
    d->len = (uint8_t)len;
    d->rd = dec.rd;
    d->rs1 = dec.rs1;
    d->rs2 = dec.rs2;
    d->aux = dec.aux;
    d->op = dec.op; /* last: a filled slot is one with op != OP_NONE */
}

/* Makes pc's page the current code page. Returns false when the fetch trapped. */
static bool enter_code_page(struct hart *h, uint64_t pc)
{
    uint64_t pa;
    uint8_t *host = mem_exec_page(h, pc, &pa);
    if (!host)
        return false;
    uint64_t idx = (pa - h->bus->ram_base) >> PAGE_SHIFT;
    if (idx >= h->ncode_pages) { /* RAM the table does not cover (cannot happen): no caching */
        hart_raise(h, EXC_INSN_ACCESS, pc);
        return false;
    }
    struct code_page *cp = h->code_pages[idx];
    if (!cp) {
        cp = calloc(1, sizeof(*cp));
        if (!cp) {
            hart_request_exit(h, 1, "out of host memory for decoded code");
            h->budget = 0;
            return false;
        }
        cp->gen = h->code_gen;
        cp->next = h->code_list;
        h->code_list = cp;
        h->code_pages[idx] = cp;
    } else if (cp->gen != h->code_gen) {
        memset(cp->slot, 0, sizeof(cp->slot));
        cp->gen = h->code_gen;
    }
    h->cur_code = cp;
    h->cur_code_host = host;
    h->cur_code_va = pc & ~(PAGE_SIZE - 1);
    return true;
}

/*
 * The decoded instruction at pc (on the current code page). Returns NULL when
 * the fetch trapped. An instruction straddling two pages is decoded into
 * *scratch every time instead of being cached.
 */
static const struct decoded_insn *lookup_slow(struct hart *h, uint64_t pc,
                                              struct decoded_insn *scratch)
{
    /* Execute triggers come before every fetch exception (priv 3.1.15 priority table). */
    if (h->trig_exec && trig_check(h, TRIG_EXEC, pc, 2))
        return NULL;
    if (pc & 1) {
        /* Only reachable through a host-made pc (process VMs' signal frames): never read an odd slot. */
        hart_raise(h, EXC_INSN_MISALIGNED, pc);
        return NULL;
    }
    if ((pc & ~(PAGE_SIZE - 1)) != h->cur_code_va && !enter_code_page(h, pc))
        return NULL;
    /*
     * The fast path runs a cached page without checks. Keep it off the page
     * while execute triggers are set, or when PMP does not give the whole page
     * execute permission (then its TLB entry was not filled): every fetch on
     * it comes here and is checked.
     */
    bool checked = h->trig_exec || tlb_slot(h, TLB_EXEC, pc)->tag != tlb_tag(pc, h->fetch_key);
    if (checked)
        h->cur_code_va = ~0ull;
    unsigned off = (unsigned)(pc & (PAGE_SIZE - 1));
    struct decoded_insn *d = &h->cur_code->slot[off >> 1];
    if (checked && h->pmp_on) {
        uint64_t pa;
        if (mmu_translate(h, pc, ACC_EXEC, &pa) != 0) { /* cannot fail: enter_code_page translated it */
            hart_raise(h, EXC_INSN_PAGE_FAULT, pc);
            return NULL;
        }
        if (!mem_fetch_check_pmp(h, pc, pa))
            return NULL;
        uint16_t first;
        memcpy(&first, h->cur_code_host + off, 2);
        if ((first & 3) == 3 && off != PAGE_SIZE - 2 && !mem_fetch_check_pmp(h, pc + 2, pa + 2))
            return NULL;
    }
    if (d->op != OP_NONE)
        return d;
    uint16_t lo;
    memcpy(&lo, h->cur_code_host + off, 2);
    uint32_t insn = lo;
    unsigned len = 2;
    if ((lo & 3) == 3) {
        len = 4;
        if (off == PAGE_SIZE - 2) {
            if (!mem_fetch_slow(h, pc, &insn))
                return NULL;
            d = scratch;
        } else {
            uint16_t hi;
            memcpy(&hi, h->cur_code_host + off + 2, 2);
            insn |= (uint32_t)hi << 16;
        }
    } else {
        insn = rvc_expand(lo);
        if (!insn) {
            /* tval holds the faulting instruction bits, 16 of them for a compressed one (3.1.16). */
            hart_raise(h, EXC_ILLEGAL_INSN, lo);
            return NULL;
        }
    }
    fill_slot(d, insn, len);
    return d;
}

static void raise_illegal(struct hart *h, uint64_t pc, const struct decoded_insn *d)
{
    uint32_t raw = d->insn;
    if (d->len == 2) {
        /* Report the original 16 bits of a compressed instruction (3.1.16). */
        uint32_t again = 0;
        if (!mem_fetch_slow(h, pc, &again))
            return;
        raw = again & 0xffff;
    }
    hart_raise(h, EXC_ILLEGAL_INSN, raw);
}

/*
 * The interpreter loop. until_jump (a constant in each caller, so the plain
 * loop pays nothing for it) stops before the first instruction that does not
 * follow the previous one in memory (taken branch, jump, trap, xRET): the JIT
 * dispatcher interprets cold code one extended basic block at a time.
 */
static inline __attribute__((always_inline)) uint64_t interp(struct hart *h, bool until_jump,
                                                             bool only_one)
{
    uint64_t done = 0;
    uint64_t *x = h->x;
    uint64_t seq = h->pc, start_page = h->pc & ~(PAGE_SIZE - 1);
    while (h->budget > 0) {
        /*
         * Without the length and page limits a long straight body (a crypto
         * round, unrolled) would be interpreted from each cold continuation
         * to its end, again and again until every piece was hot.
         */
        if (until_jump && (h->pc != seq || (h->pc & ~(PAGE_SIZE - 1)) != start_page ||
                           done == HART_BLOCK_MAX))
            break;
        if (only_one && done)
            break;
        h->budget--;
        done++;
        uint64_t pc = h->pc;
        const struct decoded_insn *ic;
        struct decoded_insn scratch;
        /* Keeping bit 0 in the page compare sends an odd pc to the slow path. */
        if (likely((pc & ~(PAGE_SIZE - 2)) == h->cur_code_va) &&
            likely(h->cur_code->slot[(pc & (PAGE_SIZE - 1)) >> 1].op != OP_NONE)) {
            ic = &h->cur_code->slot[(pc & (PAGE_SIZE - 1)) >> 1];
        } else {
            ic = lookup_slow(h, pc, &scratch);
            if (!ic)
                continue;
        }
        uint64_t next = pc + ic->len;
        seq = next;
        unsigned rd = ic->rd;
        uint64_t a = x[ic->rs1];
        uint64_t b = x[ic->rs2];
        int64_t imm = ic->imm;
        uint64_t v;
        switch (ic->op) {
        case OP_LUI: x[rd] = (uint64_t)imm; break;
        case OP_AUIPC: x[rd] = pc + (uint64_t)imm; break;
        case OP_JAL:
            x[rd] = next;
            next = pc + (uint64_t)imm;
            break;
        case OP_JALR:
            x[rd] = next;
            next = (a + (uint64_t)imm) & ~1ull;
            break;
        case OP_BEQ: if (a == b) next = pc + (uint64_t)imm; break;
        case OP_BNE: if (a != b) next = pc + (uint64_t)imm; break;
        case OP_BLT: if ((int64_t)a < (int64_t)b) next = pc + (uint64_t)imm; break;
        case OP_BGE: if ((int64_t)a >= (int64_t)b) next = pc + (uint64_t)imm; break;
        case OP_BLTU: if (a < b) next = pc + (uint64_t)imm; break;
        case OP_BGEU: if (a >= b) next = pc + (uint64_t)imm; break;
        case OP_LB:
            if (!mem_load(h, a + (uint64_t)imm, 1, &v)) continue;
            x[rd] = (uint64_t)(int64_t)(int8_t)v;
            break;
        case OP_LH:
            if (!mem_load(h, a + (uint64_t)imm, 2, &v)) continue;
            x[rd] = (uint64_t)(int64_t)(int16_t)v;
            break;
        case OP_LW:
            if (!mem_load(h, a + (uint64_t)imm, 4, &v)) continue;
            x[rd] = (uint64_t)sext32(v);
            break;
        case OP_LD:
            if (!mem_load(h, a + (uint64_t)imm, 8, &v)) continue;
            x[rd] = v;
            break;
        case OP_LBU:
            if (!mem_load(h, a + (uint64_t)imm, 1, &v)) continue;
            x[rd] = v;
            break;
        case OP_LHU:
            if (!mem_load(h, a + (uint64_t)imm, 2, &v)) continue;
            x[rd] = v;
            break;
        case OP_LWU:
            if (!mem_load(h, a + (uint64_t)imm, 4, &v)) continue;
            x[rd] = v;
            break;
        case OP_SB: if (!mem_store(h, a + (uint64_t)imm, 1, b)) continue; break;
        case OP_SH: if (!mem_store(h, a + (uint64_t)imm, 2, b)) continue; break;
        case OP_SW: if (!mem_store(h, a + (uint64_t)imm, 4, b)) continue; break;
        case OP_SD: if (!mem_store(h, a + (uint64_t)imm, 8, b)) continue; break;
        case OP_ADDI: x[rd] = a + (uint64_t)imm; break;
        case OP_SLLI: x[rd] = a << imm; break;
        case OP_SLTI: x[rd] = (int64_t)a < imm; break;
        case OP_SLTIU: x[rd] = a < (uint64_t)imm; break;
        case OP_XORI: x[rd] = a ^ (uint64_t)imm; break;
        case OP_SRLI: x[rd] = a >> imm; break;
        case OP_SRAI: x[rd] = (uint64_t)((int64_t)a >> imm); break;
        case OP_ORI: x[rd] = a | (uint64_t)imm; break;
        case OP_ANDI: x[rd] = a & (uint64_t)imm; break;
        case OP_ADDIW: x[rd] = (uint64_t)sext32(a + (uint64_t)imm); break;
        case OP_SLLIW: x[rd] = (uint64_t)sext32((uint32_t)a << imm); break;
        case OP_SRLIW: x[rd] = (uint64_t)sext32((uint32_t)a >> imm); break;
        case OP_SRAIW: x[rd] = (uint64_t)(int64_t)((int32_t)a >> imm); break;
        case OP_ADD: x[rd] = a + b; break;
        case OP_SUB: x[rd] = a - b; break;
        case OP_SLL: x[rd] = a << (b & 63); break;
        case OP_SLT: x[rd] = (int64_t)a < (int64_t)b; break;
        case OP_SLTU: x[rd] = a < b; break;
        case OP_XOR: x[rd] = a ^ b; break;
        case OP_SRL: x[rd] = a >> (b & 63); break;
        case OP_SRA: x[rd] = (uint64_t)((int64_t)a >> (b & 63)); break;
        case OP_OR: x[rd] = a | b; break;
        case OP_AND: x[rd] = a & b; break;
        case OP_MULDIV: x[rd] = exec_muldiv(ic->aux, a, b); break;
        case OP_ADDW: x[rd] = (uint64_t)sext32(a + b); break;
        case OP_SUBW: x[rd] = (uint64_t)sext32(a - b); break;
        case OP_SLLW: x[rd] = (uint64_t)sext32((uint32_t)a << (b & 31)); break;
        case OP_SRLW: x[rd] = (uint64_t)sext32((uint32_t)a >> (b & 31)); break;
        case OP_SRAW: x[rd] = (uint64_t)(int64_t)((int32_t)a >> (b & 31)); break;
        case OP_MULDIVW:
            if (!exec_muldiv_w(ic->aux, a, b, &v))
                goto illegal;
            x[rd] = v;
            break;
        case OP_FENCE:
            /* The host is TSO; only store->load ordering needs a real fence (RVWMO vs x86). */
            if (*h->bus->nharts > 1)
                __atomic_thread_fence(__ATOMIC_SEQ_CST);
            break;
        case OP_FENCE_I:
            /* Later fetches must see earlier stores: drop decoded instructions. */
            h->pc = next;
            h->instret++;
            x[0] = 0;
            hart_code_flush(h);
            continue;
        case OP_AMO:
            switch (exec_amo(h, ic->insn, rd, false)) {
            case 0: break;
            case 1: continue;
            default: goto illegal;
            }
            break;
        case OP_SYSTEM: {
            uint32_t insn = ic->insn;
            switch (exec_system(h, insn, rd)) {
            case SYS_NEXT: break;
            case SYS_ILLEGAL: goto illegal;
            default: x[0] = 0; continue;
            }
            break;
        }
        case OP_FLW:
        case OP_FLD:
            if (!fp_enabled(h))
                goto illegal;
            if (!mem_load(h, a + (uint64_t)imm, ic->op == OP_FLW ? 4 : 8, &v))
                continue;
            /* Singles are NaN-boxed in the 64-bit register (unpriv 13.2). */
            h->f[rd] = ic->op == OP_FLW ? (v | 0xffffffff00000000ull) : v;
            h->mstatus |= MSTATUS_FS;
            break;
        case OP_FSW:
        case OP_FSD:
            if (!fp_enabled(h))
                goto illegal;
            if (!mem_store(h, a + (uint64_t)imm, ic->op == OP_FSW ? 4 : 8, h->f[ic->rs2]))
                continue;
            break;
        case OP_FP:
            if (!fp_enabled(h) || fpu_exec(h, ic->insn) != 0)
                goto illegal;
            h->mstatus |= MSTATUS_FS;
            break;
        case OP_FLH: /* Zfhmin: halves are NaN-boxed like singles (unpriv 13.2) */
            if (!fp_enabled(h))
                goto illegal;
            if (!mem_load(h, a + (uint64_t)imm, 2, &v))
                continue;
            h->f[rd] = v | 0xffffffffffff0000ull;
            h->mstatus |= MSTATUS_FS;
            break;
        case OP_FSH:
            if (!fp_enabled(h))
                goto illegal;
            if (!mem_store(h, a + (uint64_t)imm, 2, h->f[ic->rs2]))
                continue;
            break;
        case OP_BM_FIRST ... OP_BM_LAST:
            x[rd] = bitmanip_exec(ic->op, a, b, imm);
            break;
        case OP_CBO:
            switch (exec_cbo(h, (unsigned)imm, a)) {
            case 0: break;
            case 1: continue;
            default: goto illegal;
            }
            break;
        default:
            goto illegal;
        }
        x[0] = 0;
        h->pc = next;
        h->instret++;
        continue;
    illegal:
        x[0] = 0;
        raise_illegal(h, pc, ic);
    }
    return done;
}

int exec_amo_fast(struct hart *h, uint32_t insn)
{
    int r = exec_amo(h, insn, (insn >> 7) & 31, true);
    h->x[0] = 0;
    return r;
}

int exec_csr_insn(struct hart *h, uint32_t insn)
{
    bool ok = exec_csr(h, insn, (insn >> 7) & 31);
    h->x[0] = 0;
    return ok ? 0 : -1;
}

uint64_t hart_interp(struct hart *h)
{
    return interp(h, false, false);
}

uint64_t hart_interp_block(struct hart *h)
{
    return interp(h, true, false);
}

uint64_t hart_interp_insn(struct hart *h)
{
    return interp(h, true, true);
}

uint64_t hart_exec(struct hart *h)
{
    /* Execute triggers are checked by the interpreter's fetch: no translated code meanwhile. */
    if (h->jit && !h->trig_exec)
        return jit_exec(h);
    return interp(h, false, false);
}
