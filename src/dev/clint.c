/*
 * SiFive CLINT (SiFive U5 Coreplex manual ch. 9 "Core Local Interruptor"; the
 * same layout is the MSWI + MTIMER pair of the RISC-V ACLINT spec 1.0 §2-§3):
 *   0x0000 + 4*h  msip[h]      bit 0 is hart h's MSIP
 *   0x4000 + 8*h  mtimecmp[h]  64-bit
 *   0xbff8        mtime        64-bit
 * Every register may be accessed whole or in naturally aligned pieces, so RV32
 * style 32-bit halves work (Linux's timer-clint and OpenSBI both use them on
 * some paths).
 *
 * mtime is vm_time_now(), the single clock the harts compare mtimecmp against
 * to raise MTIP, so there is no timer thread here. Writes to mtime are ignored:
 * the clock is shared by every hart and by vm.c, and the ACLINT spec lets a
 * platform keep mtime read-only when software has no reason to set it (only
 * multi-MTIMER synchronisation does, which a single CLINT never needs).
 */
#include "dev/clint.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/hart.h"
#include "machine/vm.h"
#include "snapshot/format.h"
#include "util/log.h"

struct clint {
    struct vm *vm;
    pthread_mutex_t lock;
    unsigned nharts;
    uint32_t msip[VM_MAX_HARTS];
    uint64_t mtimecmp[VM_MAX_HARTS]; /* what the guest wrote, read back verbatim */
};

static bool size_ok(unsigned size)
{
    return size == 1 || size == 2 || size == 4 || size == 8;
}

static uint64_t size_mask(unsigned size)
{
    return size >= 8 ? ~0ull : (1ull << (8 * size)) - 1;
}

/* Piece of a `width`-byte register at byte `off` (naturally aligned, inside), or false. */
static bool piece_ok(uint64_t off, unsigned size, unsigned width)
{
    return size_ok(size) && size <= width && off % size == 0 && off + size <= width;
}

static uint64_t piece_read(uint64_t reg, uint64_t off, unsigned size)
{
    return (reg >> (8 * off)) & size_mask(size);
}

static uint64_t piece_write(uint64_t reg, uint64_t off, unsigned size, uint64_t value)
{
    uint64_t mask = size_mask(size) << (8 * off);
    return (reg & ~mask) | ((value << (8 * off)) & mask);
}

static uint64_t clint_read(void *opaque, uint64_t off, unsigned size)
{
    struct clint *c = opaque;
    uint64_t v = 0;

    if (off >= CLINT_MTIME) {
        off -= CLINT_MTIME;
        if (piece_ok(off, size, 8))
            v = piece_read(vm_time_now(c->vm), off, size);
        return v;
    }
    pthread_mutex_lock(&c->lock);
    if (off < CLINT_MTIMECMP) {
        uint64_t h = off / 4;
        if (h < c->nharts && piece_ok(off % 4, size, 4))
            v = piece_read(c->msip[h], off % 4, size);
    } else {
        uint64_t h = (off - CLINT_MTIMECMP) / 8, o = (off - CLINT_MTIMECMP) % 8;
        if (h < c->nharts && piece_ok(o, size, 8))
            v = piece_read(c->mtimecmp[h], o, size);
    }
    pthread_mutex_unlock(&c->lock);
    return v;
}

static void clint_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
    struct clint *c = opaque;

    if (off >= CLINT_MTIME)
        return; /* mtime is read-only here, see the top of the file */
    pthread_mutex_lock(&c->lock);
    if (off < CLINT_MTIMECMP) {
        uint64_t h = off / 4;
        if (h < c->nharts && piece_ok(off % 4, size, 4)) {
            /* Only bit 0 is implemented; the rest of msip is hardwired to 0 (ACLINT §2.1). */
            uint32_t v = (uint32_t)piece_write(c->msip[h], off % 4, size, value) & 1;
            c->msip[h] = v;
            hart_set_irq(c->vm->harts[h], IRQ_MSI, v);
        }
    } else {
        uint64_t h = (off - CLINT_MTIMECMP) / 8, o = (off - CLINT_MTIMECMP) % 8;
        if (h < c->nharts && piece_ok(o, size, 8)) {
            /*
             * A 32-bit half write lands in the kept copy and the whole value is
             * handed to the hart; the guest is responsible for the usual
             * "high = ~0, low, high" ordering (privileged spec 3.2.1).
             */
            c->mtimecmp[h] = piece_write(c->mtimecmp[h], o, size, value);
            hart_set_mtimecmp(c->vm->harts[h], c->mtimecmp[h]);
        }
    }
    pthread_mutex_unlock(&c->lock);
}

static const struct mmio_ops clint_ops = {
    .read = clint_read,
    .write = clint_write,
};

void clint_reset(struct clint *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    /*
     * mtimecmp has no defined reset value (privileged spec 3.2.1); use the
     * maximum so no timer interrupt is pending before the guest programs one.
     */
    for (unsigned i = 0; i < c->nharts; i++) {
        c->msip[i] = 0;
        hart_set_irq(c->vm->harts[i], IRQ_MSI, false);
        c->mtimecmp[i] = UINT64_MAX;
        hart_set_mtimecmp(c->vm->harts[i], UINT64_MAX);
    }
    pthread_mutex_unlock(&c->lock);
}

struct clint *clint_create(struct vm *vm)
{
    struct clint *c = calloc(1, sizeof(*c));
    if (!c) {
        log_err("clint", "out of memory");
        return NULL;
    }
    c->vm = vm;
    c->nharts = vm->nharts < VM_MAX_HARTS ? vm->nharts : VM_MAX_HARTS;
    pthread_mutex_init(&c->lock, NULL);
    clint_reset(c);
    int err = vm_mmio_add(vm, "clint", VIRT_CLINT_BASE, VIRT_CLINT_SIZE, &clint_ops, c);
    if (err) {
        log_err("clint", "cannot map at %#llx: error %d", VIRT_CLINT_BASE, err);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return NULL;
    }
    vm->clint = c;
    return c;
}

/* No MMIO window can be unmapped: call only while tearing the VM down. */
void clint_destroy(struct clint *c)
{
    if (!c)
        return;
    if (c->vm->clint == c)
        c->vm->clint = NULL;
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* ---- snapshots ---- */

void clint_save(struct clint *c, struct snap_w *w)
{
    pthread_mutex_lock(&c->lock);
    snap_w_u32(w, c->nharts);
    for (unsigned i = 0; i < c->nharts; i++) {
        snap_w_u32(w, c->msip[i]);
        snap_w_u64(w, c->mtimecmp[i]);
    }
    pthread_mutex_unlock(&c->lock);
}

int clint_load(struct clint *c, struct snap_rd *r)
{
    uint32_t msip[VM_MAX_HARTS];
    uint64_t cmp[VM_MAX_HARTS];
    if (snap_r_u32(r) != c->nharts)
        return -EINVAL;
    for (unsigned i = 0; i < c->nharts; i++) {
        msip[i] = snap_r_u32(r) & 1;
        cmp[i] = snap_r_u64(r);
    }
    if (snap_r_done(r))
        return -EINVAL;
    pthread_mutex_lock(&c->lock);
    for (unsigned i = 0; i < c->nharts; i++) {
        c->msip[i] = msip[i];
        c->mtimecmp[i] = cmp[i];
        hart_set_irq(c->vm->harts[i], IRQ_MSI, msip[i]);
        hart_set_mtimecmp(c->vm->harts[i], cmp[i]);
    }
    pthread_mutex_unlock(&c->lock);
    return 0;
}
