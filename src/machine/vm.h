/*
 * struct vm: everything one virtual machine owns. No device or hart lives in
 * a static: several VMs must be able to coexist in one process (unit tests do).
 */
#ifndef KILN_MACHINE_VM_H
#define KILN_MACHINE_VM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cpu/bus.h"

#define VM_MAX_HARTS 32
#define VM_MAX_MMIO 32

/* QEMU virt board memory map (hw/riscv/virt.c), so bare-metal code for it runs unchanged. */
#define VIRT_TEST_BASE 0x00100000ull
#define VIRT_RTC_BASE 0x00101000ull
/* Not on QEMU's virt board: a free page next to the RTC for the pvpanic device. */
#define VIRT_PVPANIC_BASE 0x00102000ull
#define VIRT_PVPANIC_SIZE 0x1000ull
#define VIRT_CLINT_BASE 0x02000000ull
#define VIRT_CLINT_SIZE 0x00010000ull
#define VIRT_PLIC_BASE 0x0c000000ull
#define VIRT_PLIC_SIZE 0x00600000ull
#define VIRT_UART0_BASE 0x10000000ull
#define VIRT_UART0_IRQ 10
#define VIRT_RTC_IRQ 11
#define VIRT_VIRTIO_BASE 0x10001000ull
#define VIRT_VIRTIO_STRIDE 0x1000ull
#define VIRT_VIRTIO_IRQ 1 /* slots 0..7 use PLIC sources 1..8 */
#define VIRT_DRAM_BASE 0x80000000ull

/* mtime ticks at 10 MHz, the frequency QEMU's virt board advertises. */
#define VM_TIMEBASE_HZ 10000000ull

struct hart;

/* A device window on the physical bus. Accesses are 1, 2, 4 or 8 bytes, never crossing the window. */
struct mmio_ops {
    uint64_t (*read)(void *opaque, uint64_t offset, unsigned size);
    void (*write)(void *opaque, uint64_t offset, uint64_t value, unsigned size);
};

struct mmio_region {
    const char *name;
    uint64_t base;
    uint64_t size;
    const struct mmio_ops *ops;
    void *opaque;
};

struct vm {
    uint8_t *ram;
    uint64_t ram_base;
    uint64_t ram_size;
    bool ram_from_file; /* a snapshot's memory file mapped MAP_PRIVATE (vm_init_file) */

    struct mmio_region mmio[VM_MAX_MMIO];
    unsigned nmmio;

    struct hart *harts[VM_MAX_HARTS];
    unsigned nharts;

    /* Board devices, NULL when absent (a bare unit-test VM has none). */
    struct clint *clint;
    struct plic *plic;
    struct uart *uart;

    /* HTIF (riscv-tests protocol): guest physical addresses of tohost/fromhost, 0 if none. */
    uint64_t htif_tohost;
    uint64_t htif_fromhost;

    /* Set once by whoever ends the run, after exit_status/exit_reason; harts poll it. */
    atomic_int stop;
    atomic_int exit_claimed;
    int exit_fd; /* eventfd written when the run ends (or -1): wakes the main thread at once */
    int exit_status;
    char exit_reason[160];
    /* Set by a guest reboot request: the run loop restarts the machine instead of exiting. */
    atomic_int reboot;

    uint64_t time_origin_ns; /* host monotonic time at mtime == 0 */

    /*
     * Process VMs (src/user/): every trap taken from U-mode is handed to this
     * hook instead of the guest's trap vector; it emulates the kernel (system
     * calls, signals) and sets h->pc itself. NULL for system VMs.
     */
    void (*user_trap)(struct hart *h, uint64_t cause, uint64_t tval);
    void *user; /* the process VM's own state */

    /* What the harts see of this machine (cpu/bus.h); filled by vm_bus(). */
    struct cpu_bus bus;
    /* Live migration's dirty bitmap (1 bit per 4 KiB page): allocated by the first
     * vm_dirty_start, published in bus.dirty only while tracking, freed by vm_destroy. */
    uint64_t *dirty_bm;
};

/* Allocate guest RAM at VIRT_DRAM_BASE (lazily backed by the host, so an idle big guest costs little). */
int vm_init(struct vm *vm, uint64_t ram_size);
/* The same with RAM at a chosen guest-physical base. */
int vm_init_at(struct vm *vm, uint64_t ram_base, uint64_t ram_size);
/* The same with RAM mapped copy-on-write from a snapshot's memory file (fd may be closed after). */
/*
 * RAM of `size` bytes reserved PROT_NONE (a process VM's window, whose owner
 * makes parts accessible: src/user/mm.c), at host address hint if that is free.
 */
int vm_init_reserved(struct vm *vm, uint64_t ram_base, uint64_t size, uintptr_t hint);
int vm_init_file(struct vm *vm, uint64_t ram_base, uint64_t ram_size, int fd);
void vm_destroy(struct vm *vm);
/* Zeroes guest RAM and gives its pages back to the host. */
void vm_ram_clear(struct vm *vm);

int vm_mmio_add(struct vm *vm, const char *name, uint64_t base, uint64_t size,
                const struct mmio_ops *ops, void *opaque);
struct mmio_region *vm_mmio_find(struct vm *vm, uint64_t pa);

/*
 * The hart-facing interface of this VM (RAM window, MMIO, time, exit), for
 * hart_init(). Filled from the VM's current fields each time it is called.
 */
const struct cpu_bus *vm_bus(struct vm *vm);

/* Ends the run: first caller wins; status is kiln's exit status. */
void vm_request_exit(struct vm *vm, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Current mtime, in VM_TIMEBASE_HZ ticks. */
uint64_t vm_time_now(const struct vm *vm);

/*
 * Dirty-page tracking for live migration (docs/migration.md). start: clears the
 * bitmap, makes harts mark pages they store to, and waits until every running
 * hart dropped its write TLB entries. collect: moves the marked pages into out
 * (npages/64 words, ORed in) and clears them, then syncs the harts again, so a
 * page written after the collect is marked for the next one; returns the number
 * of pages moved, or -ETIMEDOUT if a hart did not answer. Devices mark the pages
 * they write through gmem_dirty (machine/gmem.h). stop: no more marking.
 * Called on one thread (the board's main thread), never by a hart.
 */
int vm_dirty_start(struct vm *vm);
long vm_dirty_collect(struct vm *vm, uint64_t *out);
void vm_dirty_stop(struct vm *vm);

/* Drive PLIC interrupt source `source` (1..). A no-op on a VM without a PLIC. Thread-safe. */
void vm_set_irq(struct vm *vm, unsigned source, bool level);

#endif

