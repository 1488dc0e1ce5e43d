/*
 * SiFive PLIC ("sifive,plic-1.0.0", register layout of the SiFive U5 Coreplex
 * manual ch. 8, the same as QEMU virt's). Semantics follow the RISC-V PLIC
 * Specification 1.0.0 (riscv-plic-spec): gateways, pending bits, per-context
 * enables/thresholds and the claim/complete handshake.
 *
 * All state sits behind one mutex: register accesses come from every hart
 * thread and plic_set_irq() from device threads. The external-interrupt line
 * of each context is recomputed under the lock after every change, so the
 * order in which lines reach the harts matches the order of state changes.
 */
#include "dev/plic.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/hart.h"
#include "machine/vm.h"
#include "snapshot/format.h"
#include "util/log.h"

#define PLIC_WORDS ((PLIC_NUM_SOURCES + 31) / 32)
#define PLIC_MAX_CTX (2 * VM_MAX_HARTS)
#define PLIC_PRIO_MASK 7u /* priorities 0..7: 3 WARL bits, as QEMU virt */

/* Register map (PLIC spec 1.0.0 §3, "Memory Map"). */
#define PLIC_PRIORITY 0x000000u
#define PLIC_PENDING 0x001000u
#define PLIC_ENABLE 0x002000u
#define PLIC_ENABLE_STRIDE 0x80u
#define PLIC_CONTEXT 0x200000u
#define PLIC_CONTEXT_STRIDE 0x1000u
#define PLIC_CTX_THRESHOLD 0x0u
#define PLIC_CTX_CLAIM 0x4u

struct plic_ctx {
    uint32_t enable[PLIC_WORDS];
    uint32_t threshold;
    bool line; /* last level sent to the hart */
};

struct plic {
    struct vm *vm;
    pthread_mutex_t lock;
    unsigned nctx;
    uint32_t priority[PLIC_NUM_SOURCES];
    uint32_t pending[PLIC_WORDS];
    uint32_t level[PLIC_WORDS];   /* input wire of each source, as driven by its device */
    uint32_t claimed[PLIC_WORDS]; /* claimed and not yet completed: the gateway holds it */
    struct plic_ctx ctx[PLIC_MAX_CTX];
};

static bool bit_get(const uint32_t *w, unsigned i)
{
    return (w[i / 32] >> (i % 32)) & 1;
}

static void bit_set(uint32_t *w, unsigned i, bool v)
{
    if (v)
        w[i / 32] |= 1u << (i % 32);
    else
        w[i / 32] &= ~(1u << (i % 32));
}

/*
 * Highest-priority source that is pending, enabled for ctx and whose priority
 * exceeds the context threshold (PLIC spec §6 "Priority Thresholds": sources
 * with priority <= threshold are masked; priority 0 never interrupts). Ties go
 * to the lowest id (§5 "Interrupt Priorities"). 0 if none.
 */
static unsigned plic_best(const struct plic *p, const struct plic_ctx *c)
{
    unsigned best = 0;
    uint32_t best_prio = c->threshold;
    for (unsigned w = 0; w < PLIC_WORDS; w++) {
        uint32_t cand = p->pending[w] & c->enable[w];
        while (cand) {
            unsigned src = w * 32 + (unsigned)__builtin_ctz(cand);
            cand &= cand - 1;
            if (p->priority[src] > best_prio) {
                best = src;
                best_prio = p->priority[src];
            }
        }
    }
    return best;
}

/* Context 2h is hart h's M-mode (MEIP), 2h+1 its S-mode (SEIP), as the QEMU virt DT wires them. */
static void plic_update(struct plic *p)
{
    for (unsigned i = 0; i < p->nctx; i++) {
        struct plic_ctx *c = &p->ctx[i];
        bool line = plic_best(p, c) != 0;
        if (line == c->line)
            continue;
        c->line = line;
        hart_set_irq(p->vm->harts[i / 2], (i & 1) ? IRQ_SEI : IRQ_MEI, line);
    }
}

void plic_set_irq(struct plic *p, unsigned source, bool level)
{
    if (!p || source == 0 || source >= PLIC_NUM_SOURCES)
        return;
    pthread_mutex_lock(&p->lock);
    if (bit_get(p->level, source) != level) {
        bit_set(p->level, source, level);
        /*
         * Level-triggered gateway (PLIC spec §4 "Interrupt Gateways"): a request
         * is forwarded only while no earlier one is being serviced. Dropping
         * the line withdraws a request not yet claimed, as QEMU does, so the
         * guest sees no spurious claim of 0 for a device that already
         * deasserted.
         */
        if (!bit_get(p->claimed, source))
            bit_set(p->pending, source, level);
        plic_update(p);
    }
    pthread_mutex_unlock(&p->lock);
}

/* Claim (PLIC spec §7 "Interrupt Claim Process"): take the best source and clear its pending bit. */
static uint32_t plic_claim(struct plic *p, struct plic_ctx *c)
{
    unsigned src = plic_best(p, c);
    if (src) {
        bit_set(p->pending, src, false);
        bit_set(p->claimed, src, true);
        plic_update(p);
    }
    return src;
}

/*
 * Completion (PLIC spec §8 "Interrupt Completion"): an id that is not enabled
 * for this context is ignored. The gateway then re-arms: a level source still
 * asserted becomes pending again.
 */
static void plic_complete(struct plic *p, struct plic_ctx *c, uint32_t src)
{
    if (src == 0 || src >= PLIC_NUM_SOURCES || !bit_get(c->enable, src))
        return;
    if (!bit_get(p->claimed, src))
        return;
    bit_set(p->claimed, src, false);
    if (bit_get(p->level, src))
        bit_set(p->pending, src, true);
    plic_update(p);
}

/* Context index for an offset in [base, base + stride*nctx), or -1. */
static int plic_ctx_of(const struct plic *p, uint64_t off, uint64_t base, uint64_t stride)
{
    uint64_t i = (off - base) / stride;
    return i < p->nctx ? (int)i : -1;
}

static uint64_t plic_read(void *opaque, uint64_t off, unsigned size)
{
    struct plic *p = opaque;
    uint64_t v = 0;
    int ci;

    /* Every PLIC register is 32 bits wide (spec §3); anything else reads 0. */
    if (size != 4 || (off & 3))
        return 0;
    pthread_mutex_lock(&p->lock);
    if (off < PLIC_PENDING) {
        unsigned src = (unsigned)(off / 4);
        if (src < PLIC_NUM_SOURCES)
            v = p->priority[src];
    } else if (off < PLIC_ENABLE) {
        unsigned w = (unsigned)((off - PLIC_PENDING) / 4);
        if (w < PLIC_WORDS)
            v = p->pending[w];
    } else if (off < PLIC_CONTEXT) {
        ci = plic_ctx_of(p, off, PLIC_ENABLE, PLIC_ENABLE_STRIDE);
        unsigned w = (unsigned)((off - PLIC_ENABLE) % PLIC_ENABLE_STRIDE / 4);
        if (ci >= 0 && w < PLIC_WORDS)
            v = p->ctx[ci].enable[w];
    } else {
        ci = plic_ctx_of(p, off, PLIC_CONTEXT, PLIC_CONTEXT_STRIDE);
        uint64_t reg = (off - PLIC_CONTEXT) % PLIC_CONTEXT_STRIDE;
        if (ci >= 0 && reg == PLIC_CTX_THRESHOLD)
            v = p->ctx[ci].threshold;
        else if (ci >= 0 && reg == PLIC_CTX_CLAIM)
            v = plic_claim(p, &p->ctx[ci]);
    }
    pthread_mutex_unlock(&p->lock);
    return v;
}

static void plic_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
    struct plic *p = opaque;
    uint32_t v = (uint32_t)value;
    int ci;

    if (size != 4 || (off & 3))
        return;
    pthread_mutex_lock(&p->lock);
    if (off < PLIC_PENDING) {
        /* Source 0 does not exist: its priority is hardwired to 0 (spec §5). */
        unsigned src = (unsigned)(off / 4);
        if (src != 0 && src < PLIC_NUM_SOURCES) {
            p->priority[src] = v & PLIC_PRIO_MASK;
            plic_update(p);
        }
    } else if (off < PLIC_ENABLE) {
        /* Pending bits are read-only here (spec §6 "Interrupt Pending Bits"). */
    } else if (off < PLIC_CONTEXT) {
        ci = plic_ctx_of(p, off, PLIC_ENABLE, PLIC_ENABLE_STRIDE);
        unsigned w = (unsigned)((off - PLIC_ENABLE) % PLIC_ENABLE_STRIDE / 4);
        if (ci >= 0 && w < PLIC_WORDS) {
            if (w == 0)
                v &= ~1u; /* source 0 can never be enabled */
            if (w == PLIC_WORDS - 1 && PLIC_NUM_SOURCES % 32)
                v &= (1u << (PLIC_NUM_SOURCES % 32)) - 1;
            p->ctx[ci].enable[w] = v;
            plic_update(p);
        }
    } else {
        ci = plic_ctx_of(p, off, PLIC_CONTEXT, PLIC_CONTEXT_STRIDE);
        uint64_t reg = (off - PLIC_CONTEXT) % PLIC_CONTEXT_STRIDE;
        if (ci >= 0 && reg == PLIC_CTX_THRESHOLD) {
            p->ctx[ci].threshold = v & PLIC_PRIO_MASK;
            plic_update(p);
        } else if (ci >= 0 && reg == PLIC_CTX_CLAIM) {
            plic_complete(p, &p->ctx[ci], v);
        }
    }
    pthread_mutex_unlock(&p->lock);
}

static const struct mmio_ops plic_ops = {
    .read = plic_read,
    .write = plic_write,
};

struct plic *plic_create(struct vm *vm)
{
    struct plic *p = calloc(1, sizeof(*p));
    if (!p) {
        log_err("plic", "out of memory");
        return NULL;
    }
    p->vm = vm;
    p->nctx = 2 * (vm->nharts < VM_MAX_HARTS ? vm->nharts : VM_MAX_HARTS);
    pthread_mutex_init(&p->lock, NULL);
    int err = vm_mmio_add(vm, "plic", VIRT_PLIC_BASE, VIRT_PLIC_SIZE, &plic_ops, p);
    if (err) {
        log_err("plic", "cannot map at %#llx: error %d", VIRT_PLIC_BASE, err);
        pthread_mutex_destroy(&p->lock);
        free(p);
        return NULL;
    }
    vm->plic = p;
    return p;
}

void plic_reset(struct plic *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    memset(p->priority, 0, sizeof(p->priority));
    memset(p->claimed, 0, sizeof(p->claimed));
    for (unsigned i = 0; i < p->nctx; i++) {
        memset(p->ctx[i].enable, 0, sizeof(p->ctx[i].enable));
        p->ctx[i].threshold = 0;
    }
    /* Devices keep driving their lines across a reset: those still up stay pending. */
    memcpy(p->pending, p->level, sizeof(p->pending));
    plic_update(p);
    pthread_mutex_unlock(&p->lock);
}

/*
 * There is no way to unmap an MMIO window, so call this only when the VM is
 * being torn down and no hart runs any more.
 */
void plic_destroy(struct plic *p)
{
    if (!p)
        return;
    if (p->vm->plic == p)
        p->vm->plic = NULL;
    pthread_mutex_destroy(&p->lock);
    free(p);
}

/* ---- snapshots ---- */

void plic_save(struct plic *p, struct snap_w *w)
{
    pthread_mutex_lock(&p->lock);
    snap_w_u32(w, PLIC_NUM_SOURCES);
    snap_w_u32(w, p->nctx);
    for (unsigned i = 0; i < PLIC_NUM_SOURCES; i++)
        snap_w_u32(w, p->priority[i]);
    for (unsigned i = 0; i < PLIC_WORDS; i++) {
        snap_w_u32(w, p->pending[i]);
        snap_w_u32(w, p->level[i]);
        snap_w_u32(w, p->claimed[i]);
    }
    for (unsigned c = 0; c < p->nctx; c++) {
        for (unsigned i = 0; i < PLIC_WORDS; i++)
            snap_w_u32(w, p->ctx[c].enable[i]);
        snap_w_u32(w, p->ctx[c].threshold);
    }
    pthread_mutex_unlock(&p->lock);
}

int plic_load(struct plic *p, struct snap_rd *r)
{
    struct plic *n = calloc(1, sizeof(*n)); /* parsed here first, applied only if all is well */
    if (!n)
        return -ENOMEM;
    int ret = -EINVAL;
    if (snap_r_u32(r) != PLIC_NUM_SOURCES || snap_r_u32(r) != p->nctx)
        goto out;
    for (unsigned i = 0; i < PLIC_NUM_SOURCES; i++)
        n->priority[i] = snap_r_u32(r) & 7; /* the priorities this PLIC implements */
    for (unsigned i = 0; i < PLIC_WORDS; i++) {
        n->pending[i] = snap_r_u32(r);
        n->level[i] = snap_r_u32(r);
        n->claimed[i] = snap_r_u32(r);
    }
    for (unsigned c = 0; c < p->nctx; c++) {
        for (unsigned i = 0; i < PLIC_WORDS; i++)
            n->ctx[c].enable[i] = snap_r_u32(r);
        n->ctx[c].threshold = snap_r_u32(r) & 7;
    }
    if (snap_r_done(r))
        goto out;
    /* Source 0 does not exist (PLIC spec §3): never pending, enabled or claimed. */
    n->pending[0] &= ~1u;
    n->claimed[0] &= ~1u;
    pthread_mutex_lock(&p->lock);
    memcpy(p->priority, n->priority, sizeof(p->priority));
    memcpy(p->pending, n->pending, sizeof(p->pending));
    memcpy(p->level, n->level, sizeof(p->level));
    memcpy(p->claimed, n->claimed, sizeof(p->claimed));
    for (unsigned c = 0; c < p->nctx; c++) {
        memcpy(p->ctx[c].enable, n->ctx[c].enable, sizeof(p->ctx[c].enable));
        p->ctx[c].enable[0] &= ~1u;
        p->ctx[c].threshold = n->ctx[c].threshold;
        p->ctx[c].line = false;
        hart_set_irq(p->vm->harts[c / 2], (c & 1) ? IRQ_SEI : IRQ_MEI, false);
    }
    plic_update(p);
    pthread_mutex_unlock(&p->lock);
    ret = 0;
out:
    free(n);
    return ret;
}
