#include "cpu/trap.h"

#include "cpu/mmu.h"
#include "cpu/trigger.h"
#include "cpu/bus.h"

void hart_set_priv(struct hart *h, enum priv p)
{
    h->priv = p;
    mmu_update_keys(h); /* also makes the next fetch re-translate its page */
}

uint64_t hart_mip(const struct hart *h)
{
    return h->mip | atomic_load_explicit(&h->mip_ext, memory_order_relaxed);
}

static void enter_trap(struct hart *h, uint64_t cause, uint64_t tval, bool to_s)
{
    /* A trap breaks the LR reservation so a handler can never complete an interrupted LR/SC pair. */
    h->resv_valid = false;
    uint64_t is_irq = cause & CAUSE_INTERRUPT;
    uint64_t code = cause & ~CAUSE_INTERRUPT;
    if (to_s) {
        h->scause = cause;
        h->sepc = h->pc;
        h->stval = tval;
        uint64_t s = h->mstatus;
        s = (s & ~MSTATUS_SPIE) | ((s & MSTATUS_SIE) ? MSTATUS_SPIE : 0);
        s = (s & ~MSTATUS_SPP) | (h->priv == PRIV_S ? MSTATUS_SPP : 0);
        s &= ~MSTATUS_SIE;
        h->mstatus = s;
        uint64_t base = h->stvec & ~3ull;
        h->pc = ((h->stvec & 1) && is_irq) ? base + 4 * code : base;
        hart_set_priv(h, PRIV_S);
    } else {
        h->mcause = cause;
        h->mepc = h->pc;
        h->mtval = tval;
        uint64_t s = h->mstatus;
        s = (s & ~MSTATUS_MPIE) | ((s & MSTATUS_MIE) ? MSTATUS_MPIE : 0);
        s = (s & ~MSTATUS_MPP) | ((uint64_t)h->priv << 11);
        s &= ~MSTATUS_MIE;
        h->mstatus = s;
        uint64_t base = h->mtvec & ~3ull;
        h->pc = ((h->mtvec & 1) && is_irq) ? base + 4 * code : base;
        trig_trap_to_m(h);
        hart_set_priv(h, PRIV_M);
    }
    h->trap_streak++;
}

void hart_raise(struct hart *h, uint64_t cause, uint64_t tval)
{
    if (h->priv == PRIV_U && h->bus->ops->user_trap && h->bus->ops->user_trap(h->bus->ctx, h, cause, tval))
        return;
    /* Exceptions from U/S go to S when delegated in medeleg (3.1.8); never from M. */
    bool to_s = h->priv != PRIV_M && ((h->medeleg >> cause) & 1);
    enter_trap(h, cause, tval, to_s);
}

/* Interrupt priority, highest first (3.1.9): MEI, MSI, MTI, SEI, SSI, STI. */
static const unsigned irq_order[] = {IRQ_MEI, IRQ_MSI, IRQ_MTI, IRQ_SEI, IRQ_SSI, IRQ_STI};

bool hart_check_interrupts(struct hart *h)
{
    uint64_t pending = hart_mip(h) & h->mie;
    if (!pending)
        return false;
    /* M-level interrupts are enabled below M always, in M only with MIE. */
    uint64_t m_pending = pending & ~h->mideleg;
    bool m_enabled = h->priv < PRIV_M || (h->mstatus & MSTATUS_MIE);
    uint64_t s_pending = pending & h->mideleg;
    bool s_enabled = h->priv < PRIV_S || (h->priv == PRIV_S && (h->mstatus & MSTATUS_SIE));
    uint64_t take = (m_enabled ? m_pending : 0);
    bool to_s = false;
    if (!take && s_enabled) {
        take = s_pending;
        to_s = true;
    }
    if (!take)
        return false;
    for (unsigned i = 0; i < sizeof(irq_order) / sizeof(irq_order[0]); i++) {
        unsigned irq = irq_order[i];
        if (take & (1ull << irq)) {
            h->trap_streak = 0; /* an interrupt is progress, not a trap loop */
            enter_trap(h, CAUSE_INTERRUPT | irq, 0, to_s);
            return true;
        }
    }
    return false;
}

void hart_mret(struct hart *h)
{
    uint64_t s = h->mstatus;
    enum priv p = (enum priv)((s & MSTATUS_MPP) >> 11);
    s = (s & ~MSTATUS_MIE) | ((s & MSTATUS_MPIE) ? MSTATUS_MIE : 0);
    s |= MSTATUS_MPIE;
    s &= ~MSTATUS_MPP; /* MPP := U, the least-privileged mode (3.1.6.1) */
    if (p != PRIV_M)
        s &= ~MSTATUS_MPRV;
    h->mstatus = s;
    h->pc = h->mepc;
    trig_mret(h);
    hart_set_priv(h, p);
}

void hart_sret(struct hart *h)
{
    uint64_t s = h->mstatus;
    enum priv p = (s & MSTATUS_SPP) ? PRIV_S : PRIV_U;
    s = (s & ~MSTATUS_SIE) | ((s & MSTATUS_SPIE) ? MSTATUS_SIE : 0);
    s |= MSTATUS_SPIE;
    s &= ~MSTATUS_SPP;
    s &= ~MSTATUS_MPRV; /* xRET to a mode below M clears MPRV (priv 1.12) */
    h->mstatus = s;
    h->pc = h->sepc;
    hart_set_priv(h, p);
}
