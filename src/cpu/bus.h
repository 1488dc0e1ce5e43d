/*
 * What a hart needs from the machine around it, and nothing more (STYLE.md
 * "The CPU stands alone"): a window of guest RAM, device (MMIO) dispatch, the
 * time base, the run's stop flag and a way to end the run. The board (or a
 * process VM, or a test) fills one in; src/cpu/ never sees struct vm.
 */
#ifndef KILN_CPU_BUS_H
#define KILN_CPU_BUS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hart;

struct cpu_bus_ops {
    /*
     * A device access at guest-physical pa of 1, 2, 4 or 8 bytes. False when
     * nothing answers there (the hart raises an access fault).
     */
    bool (*mmio_read)(void *ctx, uint64_t pa, unsigned size, uint64_t *val);
    bool (*mmio_write)(void *ctx, uint64_t pa, unsigned size, uint64_t val);
    /* The machine timer (mtime), in ticks of cpu_bus.timebase_hz. */
    uint64_t (*time_now)(void *ctx);
    /* Ends the run with kiln's exit status; the first request wins. */
    void (*request_exit)(void *ctx, int status, const char *reason);
    /* Process VMs: handles a trap taken from U-mode instead of the guest. False: take it normally.
     */
    bool (*user_trap)(void *ctx, struct hart *h, uint64_t cause, uint64_t tval);
    /* Between instruction batches (the HTIF test protocol). May be NULL. */
    void (*poll)(void *ctx, struct hart *h);
    /*
     * A debugger's trigger (cpu/trigger.h trig_insert) fired before the
     * instruction at h->pc; h->trig_hit names it. Called on the hart's
     * thread; may block until the debugger resumes. May be NULL.
     */
    void (*debug_halt)(void *ctx, struct hart *h);
};

struct cpu_bus {
    uint8_t *ram; /* guest RAM [ram_base, ram_base + ram_size) at this host address */
    uint64_t ram_base, ram_size;
    uint64_t timebase_hz;
    uint64_t time_origin_ns; /* host CLOCK_MONOTONIC at mtime 0, for sleeping in WFI */
    atomic_int *stop;        /* nonzero once the run is over */
    const unsigned *nharts;  /* harts sharing this bus (a lone hart needs no fences) */
    const struct cpu_bus_ops *ops;
    void *ctx;
    /*
     * Live migration's dirty tracking (docs/migration.md). NULL except while a
     * migration runs: then one bit per 4 KiB RAM page, set (atomically) before
     * a hart may store to the page: when it installs a write TLB entry, and on
     * every uncached store path. Bumping wflush_gen asks every hart to drop its
     * write TLB entries before its next store; each hart acknowledges by
     * copying it into hart->wflush_seen (cpu/hart.h).
     */
    uint64_t *_Atomic dirty;
    atomic_uint wflush_gen;
};

/* Marks the RAM page holding pa dirty while a migration tracks writes; nothing otherwise. */
static inline void bus_dirty_mark(const struct cpu_bus *bus, uint64_t pa)
{
    uint64_t *bm = atomic_load_explicit((uint64_t *_Atomic *)&bus->dirty, memory_order_acquire);
    if (__builtin_expect(bm != NULL, 0) && pa - bus->ram_base < bus->ram_size) {
        uint64_t pg = (pa - bus->ram_base) >> 12;
        __atomic_fetch_or(&bm[pg >> 6], 1ull << (pg & 63), __ATOMIC_RELAXED);
    }
}

/* Host address of [gpa, gpa + len) if it lies wholly in RAM, else NULL (no overflow for any
 * gpa/len). */
static inline void *bus_ram_ptr(const struct cpu_bus *bus, uint64_t gpa, uint64_t len)
{
    if (gpa < bus->ram_base) return NULL;
    uint64_t off = gpa - bus->ram_base;
    if (off > bus->ram_size || len > bus->ram_size - off) return NULL;
    return bus->ram + off;
}

#endif
