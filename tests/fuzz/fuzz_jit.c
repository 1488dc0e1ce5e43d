/*
 * Differential fuzzer for the JIT (docs/jit.md): a random instruction stream
 * and random register and memory state run on two harts, one with the JIT in
 * verify mode (every translated block is checked against the interpreter as
 * it runs, so a difference is caught after the block that made it) and one
 * interpreting only, and a third with the JIT on (where blocks chain to each
 * other, which verify mode does not do); at the end all three must agree on
 * every register, the trap CSRs, instret and all of RAM. Threshold 1: every
 * block start is translated.
 *
 * Input: 64 bytes of state seed, then up to 2 KiB of code placed at the start
 * of RAM. The code traps into itself (mtvec points into it), may switch to
 * U-mode or turn on the FPU. Left out, because they would differ without a
 * bug: WFI (would sleep), reads of `time`, Sstc (time-driven interrupts), the
 * Zkr `seed` CSR (fresh host entropy on every access, by design), all taken
 * out of the code and of the random data pages (jumps through the pointer
 * registers run those too; a word stored at run time and then run is not
 * checked), and runs that stored over code any of the three had decoded or
 * translated (no FENCE.I needed for the decode cache and the JIT to disagree
 * legitimately: stale_code()).
 *
 * On a difference the harness replays the input on the verify and the
 * interpreting hart one instruction at a time and names the first instruction
 * after which they differ (with a budget of 1 the JIT hart runs only
 * one-instruction blocks, so this pins down nondeterminism in the interpreter
 * or the harness; a wrong translated block is reported by verify mode itself).
 *
 * FP: the f registers hold special values (signed zeros, infinities, the
 * canonical NaN and NaNs with payloads, quiet and signaling, subnormals,
 * values whose products and quotients land at the overflow and underflow
 * thresholds, singles that are and are not NaN-boxed) besides random bits,
 * and when the seed asks for it most words of the code become F/D arithmetic
 * (add, sub, mul, div, sqrt, the fused multiply-adds, with static and dynamic
 * rounding modes), which the JIT runs inline on the host's SSE/FMA units.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/exec.h"
#include "cpu/hart.h"
#include "cpu/jit/jit.h"
#include "cpu/jit/jit_internal.h"
#include "cpu/rvc.h"
#include "cpu/mmu.h"
#include "machine/gmem.h"
#include "machine/vm.h"

#define RAM_SIZE (64u << 10)
#define CODE_MAX 2048
#define DATA_OFF 0x2000u
#define ROUNDS 8
#define STEP 256

struct rig {
    struct vm vm;
    struct hart h;
};

static struct rig rigs[3]; /* 0: JIT verify, 1: interpreter, 2: JIT on (chained blocks) */
static uint8_t code_copy[4096];

static uint64_t rng_next(uint64_t *s)
{
    /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void rig_init(struct rig *r, enum jit_mode mode)
{
    if (vm_init(&r->vm, RAM_SIZE) < 0 || hart_init(&r->h, vm_bus(&r->vm), 0) < 0) abort();
    r->vm.harts[0] = &r->h;
    r->vm.nharts = 1;
    struct jit_config cfg = {.mode = mode, .cache_size = 1u << 20, .threshold = 1};
    if (mode != JIT_OFF && jit_attach(&r->h, &cfg) < 0) abort();
}

/*
 * Drops instructions whose result depends on the host clock or host entropy,
 * or would sleep: CSR accesses to time (0xc01), menvcfg (0x30a: STCE turns
 * on Sstc), stimecmp (0x14d) and seed (0x015: Zkr, 16 bits of getrandom
 * per access, so two harts read different values).
 */
static void sanitize(uint8_t *code, size_t n)
{
    for (size_t i = 0; i + 4 <= n; i += 2) {
        uint32_t w;
        memcpy(&w, code + i, 4);
        if ((w & 0x7f) != 0x73) continue;
        unsigned csr = w >> 20, f3 = (w >> 12) & 7;
        bool bad = w == 0x10500073 || /* wfi */
                   (f3 != 0 && f3 != 4 &&
                    (csr == 0xc01 || csr == 0x30a || csr == 0x14d || csr == 0x015));
        if (bad) {
            w = 0x00000013; /* nop */
            memcpy(code + i, &w, 4);
        }
    }
}

/* An F/D register value: special, near a threshold, a boxed single, or random bits. */
static uint64_t fp_value(uint64_t *s)
{
    static const uint64_t dspecial[] = {
        0, 0x8000000000000000ull, 0x7ff0000000000000ull, 0xfff0000000000000ull,
        0x7ff8000000000000ull, 0x7ff4000000000001ull, 0xfff8000000000123ull, 0x7ff0000000000001ull,
        1, 0x800fffffffffffffull, 0x0010000000000000ull, 0x7fefffffffffffffull,
        0x3ff0000000000000ull, 0xbff8000000000000ull, 0x3ca0000000000000ull, 0x4340000000000000ull,
    };
    static const uint32_t sspecial[] = {
        0, 0x80000000u, 0x7f800000u, 0xff800000u, 0x7fc00000u, 0x7fa00001u, 0xffc00123u, 1,
        0x807fffffu, 0x00800000u, 0x7f7fffffu, 0x3f800000u, 0xbfc00000u, 0x33800000u,
    };
    /* exponents around 1, the square roots of the thresholds, and the thresholds */
    static const uint16_t dexp[] = {0, 1, 2, 0x1fe, 0x1ff, 0x200, 0x3fe, 0x3ff, 0x5ff, 0x600, 0x7fd, 0x7fe, 0x7ff};
    static const uint8_t sexp[] = {0, 1, 2, 0x3f, 0x40, 0x41, 0x7e, 0x7f, 0xbe, 0xbf, 0xfd, 0xfe, 0xff};
    uint64_t v = rng_next(s), r = rng_next(s);
    uint32_t single;
    switch (v & 7) {
    case 0:
        return dspecial[(v >> 8) % (sizeof(dspecial) / sizeof(dspecial[0]))];
    case 1: /* double: chosen exponent, random sign and mantissa (often all ones or zeros) */
        r &= (v & 0x100) ? 0x800fffffffffffffull : (v & 0x200) ? 0x800fffffffffff00ull : 0x8000000000000003ull;
        return r | (uint64_t)dexp[(v >> 16) % (sizeof(dexp) / sizeof(dexp[0]))] << 52;
    case 2:
        single = sspecial[(v >> 8) % (sizeof(sspecial) / sizeof(sspecial[0]))];
        break;
    case 3:
    case 4:
        single = (uint32_t)r & ((v & 0x100) ? 0x807fffffu : 0x807fff00u);
        single |= (uint32_t)sexp[(v >> 16) % sizeof(sexp)] << 23;
        break;
    default:
        return r;
    }
    /* mostly NaN-boxed; sometimes not (then it reads as the canonical NaN, unpriv 12.2) */
    return ((v >> 32) & 7) ? 0xffffffff00000000ull | single : ((r >> 32) << 32) | single;
}

/* Rewrites most 4-byte words of code into F/D arithmetic with random registers and rounding modes. */
static void fp_stream(uint8_t *code, size_t n, uint64_t seed)
{
    static const uint8_t f5[] = {0x00, 0x01, 0x02, 0x03, 0x0b}; /* add sub mul div sqrt (funct7 >> 2) */
    static const uint8_t fma[] = {0x43, 0x47, 0x4b, 0x4f};
    static const uint8_t rms[] = {0, 0, 0, 7, 7, 1, 2, 3, 4, 5};
    uint64_t s = seed ^ 0x5eed;
    for (size_t i = 0; i + 4 <= n; i += 4) {
        uint64_t v = rng_next(&s);
        if ((v & 7) == 0) continue; /* keep the original word */
        unsigned rd = (v >> 8) & 31, rs1 = (v >> 13) & 31, rs2 = (v >> 18) & 31, rs3 = (v >> 23) & 31;
        unsigned fmt = (v >> 28) & 1, rm = rms[((v >> 32) & 0xff) % sizeof(rms)];
        if ((v >> 40) % 16 == 0) fmt = (v >> 44) & 3; /* now and then H or Q: illegal */
        uint32_t w;
        if ((v >> 48) & 1) {
            w = fma[(v >> 49) & 3] | rd << 7 | rm << 12 | rs1 << 15 | rs2 << 20 | fmt << 25 | rs3 << 27;
        } else {
            unsigned op = f5[((v >> 49) & 0xff) % sizeof(f5)];
            if (op == 0x0b && (v >> 58) % 8) rs2 = 0;
            w = 0x53 | rd << 7 | rm << 12 | rs1 << 15 | rs2 << 20 | (op << 2 | fmt) << 25;
        }
        memcpy(code + i, &w, 4);
    }
}

static void setup(struct rig *r, const uint8_t *code, size_t n, uint64_t seed, bool fp)
{
    vm_ram_clear(&r->vm);
    /* A previous input may have ended a rig's run: each input starts with none stopped. */
    atomic_store(&r->vm.stop, 0);
    atomic_store(&r->vm.exit_claimed, 0);
    uint64_t s = seed;
    uint8_t *ram = r->vm.ram;
    for (size_t i = DATA_OFF; i < RAM_SIZE; i += 8) {
        uint64_t v = rng_next(&s);
        memcpy(ram + i, &v, 8);
    }
    /* Jumps through the pointer registers run the data pages as code too. */
    sanitize(ram + DATA_OFF, RAM_SIZE - DATA_OFF);
    memcpy(ram, code, n);
    hart_reset(&r->h, VIRT_DRAM_BASE);
    /* hart_reset keeps the counters: an earlier input that stopped one hart early (a
     * discarded run that wrote its code) must not leave the three apart. */
    r->h.instret = 0;
    r->h.minstret_offset = r->h.mcycle_offset = 0;
    jit_flush(&r->h);
    hart_code_flush(&r->h); /* the decoded instructions of the previous input's code */
    struct hart *h = &r->h;
    for (unsigned i = 1; i < 32; i++) {
        uint64_t v = rng_next(&s);
        switch (v & 7) {
        case 0:
        case 1:
        case 2: /* a pointer into the data pages, sometimes near a page end */
            h->x[i] = VIRT_DRAM_BASE + DATA_OFF + 0x800 + ((v >> 8) & 0x3fff);
            break;
        case 3:
            h->x[i] = (v >> 8) & 0xff;
            break;
        case 4:
            h->x[i] = (uint64_t)(int64_t)(int32_t)(v >> 16);
            break;
        default:
            h->x[i] = v;
            break;
        }
    }
    for (unsigned i = 0; i < 32; i++)
        h->f[i] = fp_value(&s);
    uint64_t m = rng_next(&s);
    h->mtvec = VIRT_DRAM_BASE + ((m & 0x3fc) % (n ? n : 4));
    if (m & 0x1000 || fp) h->mstatus |= MSTATUS_FS;
    h->frm = (m & 0x80000) ? (unsigned)(m >> 16) & 7 : RM_RNE;
    if (m & 0x2000) {
        h->priv = PRIV_U;
        h->medeleg = 0;
    }
    hart_tlb_flush(h);
    mmu_update_keys(h);
}

static bool harts_same(const struct hart *a, const struct vm *va, const struct hart *b,
                       const struct vm *vb)
{
    return !memcmp(a->x, b->x, sizeof(a->x)) && !memcmp(a->f, b->f, sizeof(a->f)) &&
           a->pc == b->pc && a->instret == b->instret && a->priv == b->priv &&
           a->mstatus == b->mstatus && a->mepc == b->mepc && a->mcause == b->mcause &&
           a->mtval == b->mtval && a->fflags == b->fflags && !memcmp(va->ram, vb->ram, RAM_SIZE);
}

/* The input being run, for locate(). */
static struct {
    const uint8_t *code;
    size_t n;
    uint64_t seed;
    bool fp;
} cur;

/*
 * Replays the input on rigs 0 and 1 one instruction at a time and prints the
 * first instruction after which they differ: pc, privilege and the 32 bits there.
 */
static void locate(void)
{
    struct hart *a = &rigs[0].h, *b = &rigs[1].h;
    for (int i = 0; i < 2; i++)
        setup(&rigs[i], cur.code, cur.n, cur.seed, cur.fp);
    for (unsigned k = 0; k < ROUNDS * STEP; k++) {
        uint64_t pc = b->pc;
        int priv = b->priv;
        uint32_t w = 0;
        if (pc >= VIRT_DRAM_BASE && pc - VIRT_DRAM_BASE + 4 <= RAM_SIZE)
            memcpy(&w, rigs[1].vm.ram + (pc - VIRT_DRAM_BASE), 4);
        hart_step(a, 1);
        hart_step(b, 1);
        if (!harts_same(a, &rigs[0].vm, b, &rigs[1].vm)) {
            fprintf(stderr,
                    "fuzz_jit: single-stepped, the harts first differ after step %u: pc %llx "
                    "priv %d word %08x\n",
                    k, (unsigned long long)pc, priv, (unsigned)w);
            for (unsigned i = 0; i < 32; i++)
                if (a->x[i] != b->x[i])
                    fprintf(stderr, "  x%u %llx/%llx\n", i, (unsigned long long)a->x[i],
                            (unsigned long long)b->x[i]);
            return;
        }
    }
    fprintf(stderr, "fuzz_jit: single-stepped, the harts do not differ\n");
}

static void compare(const struct hart *a, const struct vm *va, const struct hart *b,
                    const struct vm *vb, const char *mode)
{
    if (harts_same(a, va, b, vb)) return;
    fprintf(stderr,
            "fuzz_jit: --jit=%s and the interpreter differ: pc %llx/%llx instret %llu/%llu mcause "
            "%llx/%llx\n",
            mode, (unsigned long long)a->pc, (unsigned long long)b->pc,
            (unsigned long long)a->instret, (unsigned long long)b->instret,
            (unsigned long long)a->mcause, (unsigned long long)b->mcause);
    for (unsigned i = 0; i < 32; i++)
        if (a->x[i] != b->x[i])
            fprintf(stderr, "  x%u %llx/%llx\n", i, (unsigned long long)a->x[i],
                    (unsigned long long)b->x[i]);
    for (unsigned i = 0; i < 32; i++)
        if (a->f[i] != b->f[i])
            fprintf(stderr, "  f%u %llx/%llx\n", i, (unsigned long long)a->f[i],
                    (unsigned long long)b->f[i]);
    if (a->fflags != b->fflags) fprintf(stderr, "  fflags %x/%x\n", a->fflags, b->fflags);
    locate();
    abort();
}

/*
 * Whether a rig still holds code decoded or translated from bytes that have
 * been stored over since, with no FENCE.I yet: from there on the harts may
 * legitimately run different instructions (unpriv "Zifencei"), so the input
 * proves nothing. The first page is checked byte for byte below; this covers
 * the data pages that jumps through the pointer registers run as code.
 */
static bool stale_code(const struct rig *r)
{
    const struct hart *h = &r->h;
    const uint8_t *ram = r->vm.ram;
    for (uint64_t p = 0; p < h->ncode_pages && p < RAM_SIZE / 4096; p++) {
        const struct code_page *cp = h->code_pages[p];
        if (!cp || cp->gen != h->code_gen) continue;
        for (unsigned i = 0; i < 2048; i++) {
            const struct decoded_insn *d = &cp->slot[i];
            if (d->op == OP_NONE) continue;
            uint16_t lo, hi;
            memcpy(&lo, ram + p * 4096 + i * 2, 2);
            uint32_t now = lo;
            if (d->len == 4) {
                memcpy(&hi, ram + p * 4096 + i * 2 + 2, 2);
                now |= (uint32_t)hi << 16;
            } else {
                now = rvc_expand(lo);
            }
            if (now != d->insn) return true;
        }
    }
    if (h->jit)
        for (const struct jit_block *b = h->jit->blocks; b; b = b->next)
            if (memcmp(b->src, (const void *)b->hostpc, b->nbytes)) return true;
    return false;
}

static int initialized;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!initialized) {
        rig_init(&rigs[0], JIT_VERIFY);
        rig_init(&rigs[1], JIT_OFF);
        rig_init(&rigs[2], JIT_ON);
        initialized = 1;
    }
    if (size < 8 + 4) return 0;
    uint64_t seed;
    memcpy(&seed, data, 8);
    data += 8;
    size -= 8;
    if (size > CODE_MAX) size = CODE_MAX;
    uint8_t code[CODE_MAX];
    memcpy(code, data, size);
    bool fp = (seed >> 61) & 1;
    if (fp) fp_stream(code, size, seed);
    sanitize(code, size);
    cur.code = code;
    cur.n = size;
    cur.seed = seed;
    cur.fp = fp;
    for (int i = 0; i < 3; i++)
        setup(&rigs[i], code, size, seed, fp);
    memcpy(code_copy, rigs[1].vm.ram, sizeof(code_copy));
    struct hart *a = &rigs[0].h, *b = &rigs[1].h, *c = &rigs[2].h;
    for (int round = 0; round < ROUNDS; round++) {
        hart_step(a, STEP);
        hart_step(b, STEP);
        hart_step(c, STEP);
        if (atomic_load(&rigs[0].vm.stop)) break;
    }
    /* Code rewritten without FENCE.I may legitimately run differently: not a finding. */
    if (memcmp(code_copy, rigs[0].vm.ram, sizeof(code_copy)) ||
        memcmp(code_copy, rigs[1].vm.ram, sizeof(code_copy)) ||
        memcmp(code_copy, rigs[2].vm.ram, sizeof(code_copy)) || stale_code(&rigs[0]) ||
        stale_code(&rigs[1]) || stale_code(&rigs[2])) {
        atomic_store(&rigs[0].vm.stop, 0);
        atomic_store(&rigs[0].vm.exit_claimed, 0);
        return 0;
    }
    if (atomic_load(&rigs[0].vm.stop)) {
        fprintf(stderr, "fuzz_jit: %s\n", rigs[0].vm.exit_reason);
        abort();
    }
    compare(a, &rigs[0].vm, b, &rigs[1].vm, "verify");
    compare(c, &rigs[2].vm, b, &rigs[1].vm, "on");
    return 0;
}
