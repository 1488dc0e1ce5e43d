#include "machine/vm.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "cpu/hart.h"
#include "dev/plic.h"
#include "machine/gmem.h"

static uint64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int vm_init(struct vm *vm, uint64_t ram_size)
{
    return vm_init_at(vm, VIRT_DRAM_BASE, ram_size);
}

int vm_init_at(struct vm *vm, uint64_t ram_base, uint64_t ram_size)
{
    memset(vm, 0, sizeof(*vm));
    vm->exit_fd = -1;
    vm->ram_base = ram_base;
    vm->ram_size = ram_size;
    if (ram_size) {
        /* MAP_NORESERVE: pages cost host memory only once the guest touches them. */
        void *p = mmap(NULL, ram_size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED)
            return -errno;
        vm->ram = p;
    }
    vm->time_origin_ns = monotonic_ns();
    return 0;
}

int vm_init_reserved(struct vm *vm, uint64_t ram_base, uint64_t size, uintptr_t hint)
{
    int e = vm_init_at(vm, ram_base, 0);
    if (e)
        return e;
    /*
     * PROT_NONE costs no commit charge even under overcommit_memory=2, and
     * NORESERVE keeps it so for the parts made accessible later. The hint is
     * taken only if nothing is there (MAP_FIXED_NOREPLACE); anywhere else is
     * as good, only slower to address (docs/jit.md, Process VMs).
     */
    void *p = MAP_FAILED;
    if (hint)
        p = mmap((void *)hint, size, PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED)
        p = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return -errno;
    vm->ram = p;
    vm->ram_size = size;
    return 0;
}

int vm_init_file(struct vm *vm, uint64_t ram_base, uint64_t ram_size, int fd)
{
    int e = vm_init_at(vm, ram_base, 0);
    if (e)
        return e;
    /*
     * MAP_PRIVATE: pages are read from the file when first touched and a write
     * copies the page, so the file is never changed and every VM mapping the
     * same file shares the pages it has not written (docs/snapshots.md).
     */
    void *p = mmap(NULL, ram_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd, 0);
    if (p == MAP_FAILED)
        return -errno;
    vm->ram = p;
    vm->ram_size = ram_size;
    vm->ram_from_file = true;
    return 0;
}

void vm_destroy(struct vm *vm)
{
    free(vm->dirty_bm);
    vm->dirty_bm = NULL;
    if (vm->ram)
        munmap(vm->ram, vm->ram_size);
    vm->ram = NULL;
}

void vm_ram_clear(struct vm *vm)
{
    /* A file mapping would read the file again after MADV_DONTNEED: put fresh anonymous memory there. */
    if (vm->ram && vm->ram_from_file) {
        void *p = mmap(vm->ram, vm->ram_size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
        if (p != MAP_FAILED) {
            vm->ram_from_file = false;
            return;
        }
    }
    /* Private anonymous pages read back as zero after MADV_DONTNEED, and stop counting in RSS. */
    if (vm->ram && madvise(vm->ram, vm->ram_size, MADV_DONTNEED) != 0)
        memset(vm->ram, 0, vm->ram_size);
}

int vm_mmio_add(struct vm *vm, const char *name, uint64_t base, uint64_t size,
                const struct mmio_ops *ops, void *opaque)
{
    if (vm->nmmio >= VM_MAX_MMIO)
        return -ENOSPC;
    if (size == 0 || base + size < base)
        return -EINVAL;
    for (unsigned i = 0; i < vm->nmmio; i++) {
        const struct mmio_region *r = &vm->mmio[i];
        if (base < r->base + r->size && r->base < base + size)
            return -EEXIST;
    }
    vm->mmio[vm->nmmio++] = (struct mmio_region){name, base, size, ops, opaque};
    return 0;
}

struct mmio_region *vm_mmio_find(struct vm *vm, uint64_t pa)
{
    for (unsigned i = 0; i < vm->nmmio; i++) {
        struct mmio_region *r = &vm->mmio[i];
        if (pa - r->base < r->size)
            return r;
    }
    return NULL;
}

void vm_request_exit(struct vm *vm, int status, const char *fmt, ...)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong(&vm->exit_claimed, &expected, 1))
        return;
    vm->exit_status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(vm->exit_reason, sizeof(vm->exit_reason), fmt, ap);
    va_end(ap);
    /* Publish the reason before the stop flag, so whoever sees stop reads a complete reason. */
    atomic_store(&vm->stop, 1);
    if (vm->exit_fd >= 0) {
        uint64_t one = 1;
        ssize_t n = write(vm->exit_fd, &one, sizeof(one));
        (void)n;
    }
    for (unsigned i = 0; i < vm->nharts; i++)
        hart_kick(vm->harts[i]);
}

uint64_t vm_time_now(const struct vm *vm)
{
    uint64_t ns = monotonic_ns() - vm->time_origin_ns;
    /* 10 MHz: one tick per 100 ns. */
    return ns / (1000000000ull / VM_TIMEBASE_HZ);
}

void vm_set_irq(struct vm *vm, unsigned source, bool level)
{
    if (vm->plic)
        plic_set_irq(vm->plic, source, level);
}

/* ---- the hart-facing bus (cpu/bus.h) ---- */

static bool bus_mmio(struct vm *vm, uint64_t pa, unsigned size, uint64_t *val, bool write)
{
    struct mmio_region *r = vm_mmio_find(vm, pa);
    /* Device registers take naturally aligned accesses only; anything else is an access fault. */
    if (!r || (pa & (size - 1)) || pa - r->base > r->size - size)
        return false;
    if (write)
        r->ops->write(r->opaque, pa - r->base, *val, size);
    else
        *val = r->ops->read(r->opaque, pa - r->base, size);
    return true;
}

static bool bus_mmio_read(void *ctx, uint64_t pa, unsigned size, uint64_t *val)
{
    return bus_mmio(ctx, pa, size, val, false);
}

static bool bus_mmio_write(void *ctx, uint64_t pa, unsigned size, uint64_t val)
{
    return bus_mmio(ctx, pa, size, &val, true);
}

static uint64_t bus_time_now(void *ctx)
{
    return vm_time_now(ctx);
}

static void bus_request_exit(void *ctx, int status, const char *reason)
{
    vm_request_exit(ctx, status, "%s", reason);
}

static bool bus_user_trap(void *ctx, struct hart *h, uint64_t cause, uint64_t tval)
{
    struct vm *vm = ctx;
    if (!vm->user_trap)
        return false;
    vm->user_trap(h, cause, tval);
    return true;
}

/* HTIF (riscv-tests): tohost = 1 passes, (n << 1) | 1 fails test n; device 1 cmd 1 prints a byte. */
static void bus_poll(void *ctx, struct hart *h)
{
    struct vm *vm = ctx;
    (void)h;
    if (!vm->htif_tohost)
        return;
    uint64_t *tohost = gmem_ptr(vm, vm->htif_tohost, 8);
    if (!tohost)
        return;
    uint64_t v = __atomic_load_n(tohost, __ATOMIC_ACQUIRE);
    if (!v)
        return;
    unsigned dev = (unsigned)(v >> 56), cmd = (unsigned)(v >> 48) & 0xff;
    uint64_t payload = v & ((1ull << 48) - 1);
    if (dev == 0 && (payload & 1)) {
        uint64_t code = payload >> 1;
        if (code == 0)
            vm_request_exit(vm, 0, "test passed");
        else
            vm_request_exit(vm, 1, "test %llu failed", (unsigned long long)code);
    } else if (dev == 1 && cmd == 1) {
        fputc((int)(payload & 0xff), stdout);
        fflush(stdout);
        uint64_t *fromhost = gmem_ptr(vm, vm->htif_fromhost, 8);
        if (fromhost)
            __atomic_store_n(fromhost, (v & ~((1ull << 48) - 1)) | 1, __ATOMIC_RELEASE);
    }
    __atomic_store_n(tohost, 0, __ATOMIC_RELEASE);
}

static const struct cpu_bus_ops bus_ops = {
    .mmio_read = bus_mmio_read,
    .mmio_write = bus_mmio_write,
    .time_now = bus_time_now,
    .request_exit = bus_request_exit,
    .user_trap = bus_user_trap,
    .poll = bus_poll,
};

const struct cpu_bus *vm_bus(struct vm *vm)
{
    vm->bus = (struct cpu_bus){
        .ram = vm->ram,
        .ram_base = vm->ram_base,
        .ram_size = vm->ram_size,
        .timebase_hz = VM_TIMEBASE_HZ,
        .time_origin_ns = vm->time_origin_ns,
        .stop = &vm->stop,
        .nharts = &vm->nharts,
        .ops = &bus_ops,
        .ctx = vm,
    };
    return &vm->bus;
}

/* ---- dirty tracking for live migration (docs/migration.md) ---- */

#define DIRTY_SYNC_MS 2000

/*
 * Asks every hart to drop its write TLB entries and waits until each running
 * hart has (it answers between instruction batches, or from WFI when kicked).
 * Stopped harts need no answer: a pause or the end of the run joins them.
 */
static int dirty_sync(struct vm *vm)
{
    unsigned gen = atomic_fetch_add(&vm->bus.wflush_gen, 1) + 1;
    for (unsigned i = 0; i < vm->nharts; i++)
        hart_kick(vm->harts[i]);
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        bool all = true;
        for (unsigned i = 0; i < vm->nharts && all; i++)
            all = atomic_load_explicit(&vm->harts[i]->wflush_seen, memory_order_acquire) == gen;
        if (all || atomic_load(&vm->stop))
            return 0;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 > DIRTY_SYNC_MS)
            return -ETIMEDOUT;
        struct timespec d = {0, 50000};
        nanosleep(&d, NULL);
    }
}

int vm_dirty_start(struct vm *vm)
{
    size_t words = (size_t)((vm->ram_size >> 12) + 63) / 64;
    if (!vm->dirty_bm && !(vm->dirty_bm = calloc(words, sizeof(uint64_t))))
        return -ENOMEM;
    memset(vm->dirty_bm, 0, words * sizeof(uint64_t));
    atomic_store_explicit(&vm->bus.dirty, vm->dirty_bm, memory_order_release);
    /* Entries installed before tracking began would let stores through unmarked. */
    return dirty_sync(vm);
}

long vm_dirty_collect(struct vm *vm, uint64_t *out)
{
    size_t words = (size_t)((vm->ram_size >> 12) + 63) / 64;
    long n = 0;
    for (size_t i = 0; i < words; i++) {
        uint64_t w = __atomic_exchange_n(&vm->dirty_bm[i], 0, __ATOMIC_ACQ_REL);
        out[i] |= w;
        n += __builtin_popcountll(w);
    }
    /*
     * A hart may still hold a write entry for a page just cleared: after the
     * sync none does, so a later store marks the page again, and whatever was
     * stored before the sync is in RAM when the caller reads the page.
     */
    int e = dirty_sync(vm);
    return e ? e : n;
}

void vm_dirty_stop(struct vm *vm)
{
    atomic_store_explicit(&vm->bus.dirty, NULL, memory_order_release);
}
