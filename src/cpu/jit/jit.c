/*
 * The dispatcher: tiering between the interpreter and translated blocks.
 * Cold code runs in the interpreter one extended basic block at a time; each
 * block start's entries are counted in a per-hart table keyed by the host
 * address of the code (that is, its guest-physical address) and the context
 * (jit_context()). A start entered `threshold` times is translated.
 *
 * Self-modifying code: like the decode cache, translations follow the guest's
 * FENCE.I (unpriv "Zifencei": fetches need not see stores before one). FENCE.I
 * does not drop the cache: it bumps h->code_gen, and a block whose gen is old
 * is compared with the guest bytes it was made from the next time it is
 * entered; unchanged blocks stay, changed ones are dropped. Linux issues
 * FENCE.I on every hart for each newly mapped executable page, so this keeps
 * boot from re-translating everything.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <time.h>

#include "cpu/exec.h"
#include "cpu/jit/jit_internal.h"
#include "cpu/mmu.h"
#include "cpu/bus.h"
#include "util/log.h"

/* jit_idle(): when an idle hart gives its code back. */
#define JIT_QUIET_RATE 20000000ull /* instructions a second */
#define JIT_QUIET_WINDOWS 2
/* Less code than this stays: the idle loop's own few dozen blocks would only come back. */
#define JIT_RELEASE_MIN (256u << 10)

static struct jit_config default_config = {
    .mode = JIT_OFF,
    .cache_size = JIT_DEFAULT_CACHE,
    .threshold = JIT_DEFAULT_THRESHOLD,
};

struct jit_config *jit_default_config(void)
{
    return &default_config;
}

int jit_parse_mode(const char *s, enum jit_mode *out)
{
    if (!strcmp(s, "on"))
        *out = JIT_ON;
    else if (!strcmp(s, "off"))
        *out = JIT_OFF;
    else if (!strcmp(s, "verify"))
        *out = JIT_VERIFY;
    else
        return -EINVAL;
    return 0;
}

int jit_supported(void)
{
    return jit_be_supported();
}

int jit_attach(struct hart *h, const struct jit_config *cfg)
{
    if (cfg->mode == JIT_OFF || !jit_be_supported() || h->jit) return 0;
    struct jit *j = calloc(1, sizeof(*j));
    if (!j) return -ENOMEM;
    j->cfg = *cfg;
    if (!j->cfg.threshold) j->cfg.threshold = 1;
    j->release_after = JIT_QUIET_WINDOWS;
    int err = jit_cache_init(j, cfg->cache_size);
    if (err < 0) {
        free(j);
        return err;
    }
    h->jit = j;
    return 0;
}

void jit_detach(struct hart *h)
{
    struct jit *j = h->jit;
    if (!j) return;
    log_debug("jit",
              "hart %u: %llu blocks translated in %.1f ms, %llu invalidated, %llu flushes (%llu "
              "released while idle), %llu "
              "KiB of code, %llu chained, "
              "%.0f%% of instructions in translated code",
              h->id, (unsigned long long)j->stats.translated, (double)j->stats.translate_ns / 1e6,
              (unsigned long long)j->stats.invalidated, (unsigned long long)j->stats.flushes,
              (unsigned long long)j->stats.releases, (unsigned long long)(j->stats.code_bytes >> 10), (unsigned long long)j->stats.chained,
              100.0 * (double)j->stats.insns_jit /
                  (double)(j->stats.insns_jit + j->stats.insns_interp + 1));
    jit_cache_destroy(j);
    free(j);
    h->jit = NULL;
}

void jit_flush(struct hart *h)
{
    if (h->jit) jit_cache_flush(h->jit);
}

void jit_forked(struct hart *h)
{
    if (h->jit) jit_cache_fork(h->jit);
}

/*
 * A CSR instruction for translated code (jit_be_system): -1 when it is
 * illegal (the block leaves before it, the interpreter raises), 1 when the
 * block must leave after it (its context changed: SUM, MPRV, FS, satp's mode,
 * privilege; or the batch must end: an interrupt was enabled, a timer set),
 * 0 when the block goes on.
 */
int jit_csr(struct hart *h, uint32_t insn, uint64_t ctx)
{
    if (exec_csr_insn(h, insn)) return -1;
    return jit_context(h) != ctx || h->budget <= 0;
}

struct jit_stats jit_get_stats(const struct hart *h)
{
    struct jit_stats s = {0};
    if (h->jit) s = h->jit->stats;
    return s;
}

/* A translated block for (hostpc, ctx) that is still live, or NULL. */
static struct jit_block *bucket_find(struct jit *j, uintptr_t hostpc, uint64_t ctx)
{
    for (struct jit_block *b = j->buckets[jit_bucket(hostpc, ctx)]; b;
         b = b->hnext)
        if (b->hostpc == hostpc && b->ctx == ctx) return b;
    return NULL;
}

static void bucket_remove(struct jit *j, struct jit_block *b)
{
    for (struct jit_block **p = &j->buckets[jit_bucket(b->hostpc, b->ctx)]; *p;
         p = &(*p)->hnext) {
        if (*p == b) {
            *p = b->hnext;
            return;
        }
    }
}

/*
 * The block to run at h->pc, translating it if it just became hot; NULL to
 * interpret. The direct-mapped table answers most lookups; on a miss the
 * buckets hold every live block, so a block pushed out of the table (say by
 * the same code in another context: S-mode with and without SUM) is found
 * again instead of translated again.
 */
static struct jit_block *find_block(struct hart *h, struct jit *j, bool *one)
{
    uint64_t pc = h->pc;
    const struct tlb_entry *t = tlb_slot(h, TLB_EXEC, pc);
    /*
     * A page not in the fetch TLB yet (Linux flushes it on every satp write):
     * fill it here when the fetch would succeed, so the block is not
     * interpreted only to fill it. An odd pc, or a fetch that faults: the
     * interpreter raises.
     */
    if ((pc & 1) || (t->tag != tlb_tag(pc, h->fetch_key) && !mmu_fill_fetch(h, pc))) return NULL;
    const uint8_t *host = (const uint8_t *)(uintptr_t)(pc + t->addend);
    uintptr_t key = (uintptr_t)host;
    uint64_t ctx = jit_context(h);
    struct jit_entry *en = &j->table[jit_hash(key, ctx) & (JIT_TABLE_SIZE - 1)];
    if (en->hostpc != key || en->ctx != ctx) {
        en->hostpc = key;
        en->ctx = ctx;
        en->count = 0;
        en->blk = bucket_find(j, key, ctx);
    }
    struct jit_block *b = en->blk;
    if (b) {
        if (__builtin_expect(b->gen == h->code_gen, 1)) return b;
        if (!memcmp(b->src, host, b->nbytes)) {
            b->gen = h->code_gen;
            return b;
        }
        /* Its code changed: forget it (chained jumps into it fail their generation check for good).
         */
        j->stats.invalidated++;
        bucket_remove(j, b);
        en->blk = NULL;
        en->count = 0;
    }
    if (en->count == JIT_NO_BLOCK) {
        *one = true;
        return NULL;
    }
    if (++en->count < j->cfg.threshold) return NULL;
    b = jit_translate(h, host, pc); /* may flush the cache, and with it the table */
    en->hostpc = key;
    en->ctx = ctx;
    /*
     * No block can start here (the first instruction straddles the page end,
     * or is one the interpreter must run): the dispatcher interprets just that
     * instruction from now on, so what follows it runs translated.
     */
    en->count = b ? 0 : JIT_NO_BLOCK;
    en->blk = b;
    *one = !b;
    return b;
}

/* What a translated block may change, besides memory. */
struct arch_state {
    uint64_t x[32], f[32], pc, instret, mstatus;
    uint32_t fflags;
};

static void state_save(const struct hart *h, struct arch_state *s)
{
    memset(s, 0, sizeof(*s)); /* padding too: states are compared with memcmp */
    memcpy(s->x, h->x, sizeof(s->x));
    memcpy(s->f, h->f, sizeof(s->f));
    s->pc = h->pc;
    s->instret = h->instret;
    s->mstatus = h->mstatus;
    s->fflags = h->fflags;
}

static void state_load(struct hart *h, const struct arch_state *s)
{
    memcpy(h->x, s->x, sizeof(s->x));
    memcpy(h->f, s->f, sizeof(s->f));
    h->pc = s->pc;
    h->instret = s->instret;
    h->mstatus = s->mstatus;
    h->fflags = s->fflags;
}

static void report_divergence(struct hart *h, const struct jit_block *b,
                              const struct arch_state *s0, const struct arch_state *js,
                              const struct jit_log *bad)
{
    const uint64_t *jx = js->x;
    uint64_t pc = s0->pc, jpc = js->pc, jinstret = js->instret;
    fprintf(stderr,
            "kiln: jit verify: hart %u, block at pc 0x%llx (%u instructions, priv %d) differs from "
            "the interpreter:\n",
            h->id, (unsigned long long)pc, b->ninsns, (int)h->priv);
    for (unsigned i = 0; i < 32; i++)
        if (jx[i] != h->x[i])
            fprintf(stderr, "  x%u: jit 0x%llx, interpreter 0x%llx\n", i, (unsigned long long)jx[i],
                    (unsigned long long)h->x[i]);
    if (jpc != h->pc)
        fprintf(stderr, "  pc: jit 0x%llx, interpreter 0x%llx\n", (unsigned long long)jpc,
                (unsigned long long)h->pc);
    if (jinstret != h->instret)
        fprintf(stderr, "  instret: jit %llu, interpreter %llu\n", (unsigned long long)jinstret,
                (unsigned long long)h->instret);
    for (unsigned i = 0; i < 32; i++)
        if (js->f[i] != h->f[i])
            fprintf(stderr, "  f%u: jit 0x%llx, interpreter 0x%llx\n", i,
                    (unsigned long long)js->f[i], (unsigned long long)h->f[i]);
    if (js->fflags != h->fflags || js->mstatus != h->mstatus)
        fprintf(stderr, "  fflags/mstatus: before 0x%x/0x%llx, jit 0x%x/0x%llx, interpreter 0x%x/0x%llx\n",
                s0->fflags, (unsigned long long)s0->mstatus, js->fflags,
                (unsigned long long)js->mstatus, h->fflags, (unsigned long long)h->mstatus);
    if (js->fflags != h->fflags) /* the operands, for a flags difference */
        for (unsigned i = 0; i < 32; i++)
            fprintf(stderr, "  f%u before: 0x%llx%s", i, (unsigned long long)s0->f[i],
                    i % 4 == 3 ? "\n" : "");
    if (bad)
        fprintf(stderr, "  memory at host %p (%llu bytes): jit wrote 0x%llx\n",
                (void *)(uintptr_t)bad->addr, (unsigned long long)bad->size,
                (unsigned long long)bad->now);
    fprintf(stderr, "  block:");
    for (unsigned off = 0; off < b->nbytes;) {
        uint16_t lo;
        memcpy(&lo, b->src + off, 2);
        if ((lo & 3) == 3 && off + 4 <= b->nbytes) {
            uint32_t w;
            memcpy(&w, b->src + off, 4);
            fprintf(stderr, " %08x", w);
            off += 4;
        } else {
            fprintf(stderr, " %04x", lo);
            off += 2;
        }
    }
    fputc('\n', stderr);
}

/*
 * verify mode: run the block, undo it (registers, pc, counters, and its
 * stores from the log), run the interpreter for as many instructions, and
 * compare. Another hart writing the same memory in between can make the two
 * differ without a bug (a spin loop reading a flag): with several harts a
 * difference is checked twice more from the same state before it is reported.
 */
/* Whether a store of the block's run (its log) overlapped the guest bytes it was made from. */
static bool stored_into_itself(const struct jit *j, const struct jit_block *b)
{
    for (uint64_t i = 0; i < j->log_n; i++)
        if (j->log[i].addr < b->hostpc + b->nbytes && j->log[i].addr + j->log[i].size > b->hostpc)
            return true;
    return false;
}

/* Runs of a block that differs, with several harts, before it is reported. */
#define VERIFY_ATTEMPTS 8

static int verify_run(struct hart *h, struct jit *j, struct jit_block *b)
{
    struct arch_state s0, js, is;
    int64_t budget0 = h->budget;
    /*
     * Its code was stored over since it was translated, and no FENCE.I came
     * yet: the block would run the old instructions, the interpreter
     * (decoding as it goes) may run the new, and both are right (unpriv
     * "Zifencei"). Nothing to compare: the dispatcher interprets.
     */
    if (memcmp(b->src, (const void *)b->hostpc, b->nbytes)) return JIT_EXIT_INTERP;
    state_save(h, &s0);
    for (int attempt = 0;; attempt++) {
        j->log_n = 0;
        int r = b->fn(h);
        int64_t jbudget = h->budget;
        state_save(h, &js);
        uint64_t n = js.instret - s0.instret;
        if (n == 0) return r;
        for (uint64_t i = 0; i < j->log_n; i++) {
            struct jit_log *l = &j->log[i];
            l->now = 0;
            memcpy(&l->now, (void *)(uintptr_t)l->addr, l->size);
        }
        for (uint64_t i = j->log_n; i-- > 0;)
            memcpy((void *)(uintptr_t)j->log[i].addr, &j->log[i].old, j->log[i].size);
        state_load(h, &s0);
        h->budget = (int64_t)n;
        hart_interp(h);
        state_save(h, &is);
        const struct jit_log *bad = NULL;
        for (uint64_t i = 0; i < j->log_n && !bad; i++) {
            uint64_t v = 0;
            memcpy(&v, (void *)(uintptr_t)j->log[i].addr, j->log[i].size);
            if (v != j->log[i].now) bad = &j->log[i];
        }
        if (!bad && !memcmp(&is, &js, sizeof(is))) {
            h->budget = jbudget;
            return r;
        }
        if (stored_into_itself(j, b)) {
            /*
             * The block stored over its own instructions: the translation ran
             * the old ones, the interpreter (decoding as it goes) may run the
             * new. Without a FENCE.I both are right (unpriv "Zifencei"): keep
             * the interpreter's run, which is already in place.
             */
            h->budget = jbudget;
            return JIT_EXIT_NEXT;
        }
        if (*h->bus->nharts < 2 || attempt == VERIFY_ATTEMPTS - 1) {
            report_divergence(h, b, &s0, &js, bad);
            hart_request_exit(
                h, 1, "jit verify: translated block at pc 0x%llx differs from the interpreter",
                (unsigned long long)s0.pc);
            h->budget = 0;
            return JIT_EXIT_NEXT;
        }
        /* Undo the interpreter's run too (it stored where the block did, or the check failed
         * anyway). */
        for (uint64_t i = j->log_n; i-- > 0;)
            memcpy((void *)(uintptr_t)j->log[i].addr, &j->log[i].old, j->log[i].size);
        state_load(h, &s0);
        h->budget = budget0;
        /*
         * A host preemption between the two runs gives the other harts time to
         * move a shared word (a lock, jiffies): let them get on before retrying.
         */
        sched_yield();
    }
}

/* Points the exit at `site` (a rel32 in the executable view) at b's chain entry. */
static void chain(struct jit *j, uint8_t *site, const struct jit_block *b)
{
    int32_t rel = (int32_t)(b->chain_entry - (site + 4));
    memcpy(j->rw + (site - j->rx), &rel, 4);
    j->rw_mapped = true;
}

/*
 * Called each time the hart goes to sleep (WFI), from the interpreter, never
 * while this hart's translated code runs.
 *
 * Both views of the memfd map the same pages, and the kernel counts a shared
 * page in RSS once per mapping: an idle VM would show its code twice. While
 * the hart sleeps nothing writes code, so the writable view's page table
 * entries are dropped (MADV_DONTNEED on a shared mapping keeps the pages:
 * madvise(2)); the next write faults them back in. One system call per sleep
 * that follows new code, none otherwise.
 *
 * A hart that stays idle gives its code back altogether: after
 * release_after one-second windows in a row (JIT_QUIET_WINDOWS at first, twice
 * as many after each release, reset once the hart is busy) in which it retired
 * fewer than JIT_QUIET_RATE instructions a second (a small fraction of what a
 * busy hart retires), the cache is released. Many idle VMs then
 * cost what they would without a JIT; whatever runs again is translated again
 * after `threshold` entries, at a few microseconds a block.
 */

static uint64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* the vDSO: no system call */
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void jit_idle(struct hart *h)
{
    struct jit *j = h->jit;
    if (!j) return;
    uint64_t now = monotonic_ns();
    if (now - j->idle_window_ns >= 1000000000ull) {
        /* A rate: with NO_HZ one sleep can span several windows. */
        bool quiet = (double)(h->instret - j->idle_window_instret) * 1e9 <
                     (double)JIT_QUIET_RATE * (double)(now - j->idle_window_ns);
        j->quiet_windows = quiet ? j->quiet_windows + 1 : 0;
        if (!quiet) j->release_after = JIT_QUIET_WINDOWS;
        j->idle_window_ns = now;
        j->idle_window_instret = h->instret;
        if (j->quiet_windows >= j->release_after && j->used >= JIT_RELEASE_MIN && j->cfg.mode == JIT_ON) {
            jit_cache_release(j);
            j->quiet_windows = 0;
            /* The idle loop's ticks bring some code back: wait twice as long each time, up to a minute. */
            if (j->release_after < 64) j->release_after *= 2;
            return;
        }
    }
    if (!j->rw_mapped || j->rw == j->rx) return;
    size_t len = (j->used + 4095) & ~(size_t)4095;
    if (len) madvise(j->rw, len, MADV_DONTNEED);
    j->rw_mapped = false;
}

uint64_t jit_exec(struct hart *h)
{
    struct jit *j = h->jit;
    uint64_t done = 0;
    j->chain_from = NULL; /* the batch boundary may have taken a trap: never chain across it */
    while (h->budget > 0) {
        /*
         * The block that just ran left through a chainable exit (a direct
         * jump within its page, so the target shares its physical page and
         * context): link it to the block found here, if nothing flushed.
         */
        uint8_t *from = j->chain_from;
        uint64_t flushes = j->stats.flushes;
        j->chain_from = NULL;
        bool one = false;
        struct jit_block *b = find_block(h, j, &one);
        if (b && from && j->stats.flushes == flushes && j->cfg.mode == JIT_ON) {
            chain(j, from, b);
            j->stats.chained++;
        }
        if (b && (h->budget >= b->ninsns || !h->budget_exact)) {
            uint64_t before = h->instret;
            int r = j->cfg.mode == JIT_VERIFY ? verify_run(h, j, b) : b->fn(h);
            j->stats.block_runs++;
            done += h->instret - before;
            j->stats.insns_jit += h->instret - before;
            if (r == JIT_EXIT_INTERP && h->budget > 0) {
                /* The instruction the block left before; translated code can go on after it. */
                j->chain_from = NULL;
                uint64_t n = hart_interp_insn(h);
                done += n;
                j->stats.insns_interp += n;
            }
            continue;
        }
        uint64_t n = one ? hart_interp_insn(h) : hart_interp_block(h);
        done += n;
        j->stats.insns_interp += n;
    }
    return done;
}
