/* Hart life cycle, the run loop, timers, WFI and cross-thread interrupt delivery. */
#include "cpu/hart.h"

#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "cpu/bus.h"
#include "cpu/exec.h"
#include "cpu/jit/jit.h"
#include "cpu/mmu.h"
#include "cpu/trap.h"
#include "util/log.h"

/*
 * Instructions per batch: bounds interrupt latency (translated code ~10 us,
 * interpreted ~100 us) and the cost of polling timers (~3% of hot-loop time at
 * 4096, under 1% at this size).
 */
#define HART_BATCH 16384
/* Batches in a row in which every instruction trapped before we call the hart stuck. */
#define STUCK_BATCHES 512

#define MISA_EXT(c) (1ull << ((c) - 'A'))

int hart_init(struct hart *h, const struct cpu_bus *bus, unsigned id)
{
    /*
     * Everything but the TLB slots: those beyond tlb_mask are never read until a
     * larger mask is set and flushed, so an idle system-VM hart keeps 12 KiB of
     * its TLB resident rather than all of it (hart.h).
     */
    size_t tlb_end = offsetof(struct hart, tlb) + sizeof(h->tlb);
    memset(h, 0, offsetof(struct hart, tlb));
    memset((char *)h + tlb_end, 0, sizeof(*h) - tlb_end);
    h->bus = bus;
    h->id = id;
    h->tlb_mask = TLB_DEFAULT - 1;
    h->misa = (2ull << 62) | MISA_EXT('I') | MISA_EXT('M') | MISA_EXT('A') | MISA_EXT('F') |
              MISA_EXT('D') | MISA_EXT('C') | MISA_EXT('S') | MISA_EXT('U');
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int err = pthread_cond_init(&h->wfi_cond, &attr);
    pthread_condattr_destroy(&attr);
    if (err)
        return -err;
    err = pthread_mutex_init(&h->wfi_lock, NULL);
    if (err) {
        pthread_cond_destroy(&h->wfi_cond);
        return -err;
    }
    /*
     * Pointers only: untouched parts of this table cost no host memory, and
     * NORESERVE keeps it out of the host's commit charge (a process VM's RAM
     * window spans 2^38 bytes: 512 MiB of pointers, docs/process-vm.md).
     */
    h->ncode_pages = bus->ram_size >> 12;
    if (h->ncode_pages) {
        void *t = mmap(NULL, h->ncode_pages * sizeof(*h->code_pages), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        h->code_pages = t == MAP_FAILED ? NULL : t;
        if (!h->code_pages) {
            pthread_mutex_destroy(&h->wfi_lock);
            pthread_cond_destroy(&h->wfi_cond);
            return -ENOMEM;
        }
    }
    hart_reset(h, bus->ram_base);
    /* Created here, on the thread that builds the VM: a hart thread then maps no memory of its own. */
    if (jit_default_config()->mode != JIT_OFF) {
        err = jit_attach(h, jit_default_config());
        if (err < 0) {
            hart_destroy(h);
            return err;
        }
    }
    return 0;
}

void hart_destroy(struct hart *h)
{
    jit_detach(h);
    while (h->code_list) {
        struct code_page *cp = h->code_list;
        h->code_list = cp->next;
        free(cp);
    }
    if (h->code_pages)
        munmap(h->code_pages, h->ncode_pages * sizeof(*h->code_pages));
    h->code_pages = NULL;
    pthread_mutex_destroy(&h->wfi_lock);
    pthread_cond_destroy(&h->wfi_cond);
}

void hart_reset(struct hart *h, uint64_t pc)
{
    memset(h->x, 0, sizeof(h->x));
    memset(h->f, 0, sizeof(h->f));
    h->fflags = h->frm = 0;
    h->pc = pc;
    h->mstatus = 0;
    h->medeleg = h->mideleg = h->mie = h->mip = 0;
    atomic_store(&h->mip_ext, 0);
    h->mtvec = h->mscratch = h->mepc = h->mcause = h->mtval = 0;
    h->mcounteren = h->menvcfg = h->mcountinhibit = 0;
    memset(h->pmpcfg, 0, sizeof(h->pmpcfg));
    memset(h->pmpaddr, 0, sizeof(h->pmpaddr));
    h->pmp_on = false;
    h->mseccfg = 0;
    /* Triggers exist but are disabled (type 15, Sdtrig 1.0 §5.7.1). */
    h->tselect = h->tcontrol = 0;
    for (unsigned i = 0; i < TRIG_COUNT; i++) {
        h->tdata1[i] = 15ull << 60;
        h->tdata2[i] = 0;
    }
    h->trig_exec = h->trig_data = false;
    h->trig_hit = 0;
    h->stvec = h->sscratch = h->sepc = h->scause = h->stval = h->satp = 0;
    h->scounteren = h->senvcfg = 0;
    h->stimecmp = ~0ull;
    atomic_store(&h->mtimecmp, ~0ull);
    h->resv_valid = false;
    h->trap_streak = 0;
    h->priv = PRIV_M;
    hart_tlb_flush(h);
    hart_code_flush(h);
    mmu_update_keys(h);
}

void hart_tlb_flush(struct hart *h)
{
    /* All-ones never matches a real tag: va >> 12 has at most 52 significant bits. */
    for (int k = 0; k < TLB_KINDS; k++)
        memset(h->tlb[k], 0xff, ((size_t)h->tlb_mask + 1) * sizeof(struct tlb_entry));
    h->cur_code_va = ~0ull; /* the page must be translated again */
}

void hart_code_flush(struct hart *h)
{
    h->code_gen++;
    h->cur_code_va = ~0ull;
}

void hart_kick(struct hart *h)
{
    pthread_mutex_lock(&h->wfi_lock);
    atomic_store(&h->kick, 1);
    if (h->waiting)
        pthread_cond_signal(&h->wfi_cond);
    pthread_mutex_unlock(&h->wfi_lock);
}

void hart_set_irq(struct hart *h, unsigned irq, bool level)
{
    uint64_t bit = 1ull << irq;
    uint64_t old = level ? atomic_fetch_or(&h->mip_ext, bit) : atomic_fetch_and(&h->mip_ext, ~bit);
    if (level && !(old & bit))
        hart_kick(h);
}

void hart_set_mtimecmp(struct hart *h, uint64_t value)
{
    atomic_store(&h->mtimecmp, value);
    hart_kick(h);
}

/* MTIP follows mtime >= mtimecmp (3.2.1); with Sstc, STIP follows time >= stimecmp. */
static void update_timers(struct hart *h, uint64_t now)
{
    uint64_t set = 0, clear = 0;
    if (now >= atomic_load_explicit(&h->mtimecmp, memory_order_relaxed))
        set |= 1ull << IRQ_MTI;
    else
        clear |= 1ull << IRQ_MTI;
    if (h->menvcfg & (1ull << 63)) {
        if (now >= h->stimecmp)
            set |= 1ull << IRQ_STI;
        else
            clear |= 1ull << IRQ_STI;
    } else {
        clear |= 1ull << IRQ_STI;
    }
    uint64_t cur = atomic_load_explicit(&h->mip_ext, memory_order_relaxed);
    if ((cur & set) != set)
        atomic_fetch_or(&h->mip_ext, set);
    if (cur & clear)
        atomic_fetch_and(&h->mip_ext, ~clear);
}

static uint64_t next_deadline(const struct hart *h)
{
    uint64_t d = ~0ull;
    if (h->mie & (1ull << IRQ_MTI))
        d = atomic_load_explicit(&h->mtimecmp, memory_order_relaxed);
    if ((h->menvcfg & (1ull << 63)) && (h->mie & (1ull << IRQ_STI)) && h->stimecmp < d)
        d = h->stimecmp;
    return d;
}

/*
 * Live migration asked every hart to forget its write TLB entries (cpu/bus.h):
 * the next store to each page goes through translate_page again, which marks
 * the page dirty. Acknowledged with a release store, after the flush.
 */
static void wflush_check(struct hart *h)
{
    unsigned g = atomic_load_explicit((atomic_uint *)&h->bus->wflush_gen, memory_order_acquire);
    if (__builtin_expect(g != atomic_load_explicit(&h->wflush_seen, memory_order_relaxed), 0)) {
        memset(h->tlb[TLB_WRITE], 0xff, ((size_t)h->tlb_mask + 1) * sizeof(struct tlb_entry));
        atomic_store_explicit(&h->wflush_seen, g, memory_order_release);
    }
}

void hart_wfi(struct hart *h)
{
    const struct cpu_bus *bus = h->bus;
    jit_idle(h);
    for (;;) {
        wflush_check(h);
        uint64_t now = bus->ops->time_now(bus->ctx);
        update_timers(h, now);
        if ((hart_mip(h) & h->mie) || atomic_load(bus->stop))
            return;
        uint64_t deadline = next_deadline(h);
        /* Sleep at most 100 ms so a lost wake-up could never hang the guest. */
        uint64_t max_ticks = bus->timebase_hz / 10;
        uint64_t wait_ticks = deadline > now ? deadline - now : 0;
        if (wait_ticks > max_ticks)
            wait_ticks = max_ticks;
        uint64_t abs_ns = bus->time_origin_ns + (now + wait_ticks) * (1000000000ull / bus->timebase_hz);
        struct timespec ts = {.tv_sec = (time_t)(abs_ns / 1000000000ull),
                              .tv_nsec = (long)(abs_ns % 1000000000ull)};
        pthread_mutex_lock(&h->wfi_lock);
        h->waiting = true;
        while (!atomic_exchange(&h->kick, 0) && !atomic_load(bus->stop)) {
            if ((atomic_load(&h->mip_ext) | h->mip) & h->mie)
                break;
            if (pthread_cond_timedwait(&h->wfi_cond, &h->wfi_lock, &ts) == ETIMEDOUT)
                break;
        }
        h->waiting = false;
        pthread_mutex_unlock(&h->wfi_lock);
    }
}

void hart_request_exit(struct hart *h, int status, const char *fmt, ...)
{
    char reason[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    h->bus->ops->request_exit(h->bus->ctx, status, reason);
}

uint64_t hart_step(struct hart *h, uint64_t n)
{
    update_timers(h, h->bus->ops->time_now(h->bus->ctx));
    hart_check_interrupts(h);
    h->budget = (int64_t)n;
    h->budget_exact = true;
    return hart_exec(h);
}

void hart_run(struct hart *h)
{
    const struct cpu_bus *bus = h->bus;
    unsigned stuck = 0;
    while (!atomic_load_explicit(bus->stop, memory_order_relaxed)) {
        wflush_check(h);
        update_timers(h, bus->ops->time_now(bus->ctx));
        hart_check_interrupts(h);
        if (bus->ops->poll)
            bus->ops->poll(bus->ctx, h);
        h->trap_streak = 0;
        h->budget = HART_BATCH;
        h->budget_exact = false;
        uint64_t n = hart_exec(h);
        if (n >= 16 && h->trap_streak >= n) {
            if (++stuck >= STUCK_BATCHES)
                hart_request_exit(h, 1, "hart %u stuck in a trap loop (pc 0x%llx, mcause 0x%llx, scause 0x%llx)",
                                h->id, (unsigned long long)h->pc, (unsigned long long)h->mcause,
                                (unsigned long long)h->scause);
        } else {
            stuck = 0;
        }
    }
}
