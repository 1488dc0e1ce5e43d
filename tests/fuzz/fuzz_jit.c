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
 * bug: WFI (would sleep), reads of `time`, Sstc (time-driven interrupts), and
 * runs whose code page was written (no FENCE.I needed for the decode cache and
 * the JIT to disagree legitimately).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/exec.h"
#include "cpu/hart.h"
#include "cpu/jit/jit.h"
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

/* Drops instructions whose result depends on the host clock or would sleep. */
static void sanitize(uint8_t *code, size_t n)
{
    for (size_t i = 0; i + 4 <= n; i += 2) {
        uint32_t w;
        memcpy(&w, code + i, 4);
        if ((w & 0x7f) != 0x73) continue;
        unsigned csr = w >> 20, f3 = (w >> 12) & 7;
        bool bad = w == 0x10500073 || /* wfi */
                   (f3 != 0 && f3 != 4 && (csr == 0xc01 || csr == 0x30a || csr == 0x14d));
        if (bad) {
            w = 0x00000013; /* nop */
            memcpy(code + i, &w, 4);
        }
    }
}

static void setup(struct rig *r, const uint8_t *code, size_t n, uint64_t seed)
{
    vm_ram_clear(&r->vm);
    uint64_t s = seed;
    uint8_t *ram = r->vm.ram;
    for (size_t i = DATA_OFF; i < RAM_SIZE; i += 8) {
        uint64_t v = rng_next(&s);
        memcpy(ram + i, &v, 8);
    }
    memcpy(ram, code, n);
    hart_reset(&r->h, VIRT_DRAM_BASE);
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
        h->f[i] = rng_next(&s);
    uint64_t m = rng_next(&s);
    h->mtvec = VIRT_DRAM_BASE + ((m & 0x3fc) % (n ? n : 4));
    if (m & 0x1000) h->mstatus |= MSTATUS_FS;
    h->frm = (unsigned)(m >> 16) & 7;
    if (m & 0x2000) {
        h->priv = PRIV_U;
        h->medeleg = 0;
    }
    hart_tlb_flush(h);
    mmu_update_keys(h);
}

static void compare(const struct hart *a, const struct vm *va, const struct hart *b,
                    const struct vm *vb, const char *mode)
{
    bool same = !memcmp(a->x, b->x, sizeof(a->x)) && !memcmp(a->f, b->f, sizeof(a->f)) &&
                a->pc == b->pc && a->instret == b->instret && a->priv == b->priv &&
                a->mstatus == b->mstatus && a->mepc == b->mepc && a->mcause == b->mcause &&
                a->mtval == b->mtval && a->fflags == b->fflags &&
                !memcmp(va->ram, vb->ram, RAM_SIZE);
    if (same) return;
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
    abort();
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
    sanitize(code, size);
    for (int i = 0; i < 3; i++)
        setup(&rigs[i], code, size, seed);
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
        memcmp(code_copy, rigs[2].vm.ram, sizeof(code_copy))) {
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
