/* Sdtrig triggers (debug spec 1.0 §5.5 "Trigger registers", §5.7 mcontrol, mcontrol6, tcontrol). */
#include "cpu/trigger.h"

#include <errno.h>

#include "cpu/bus.h"
#include "cpu/mmu.h"
#include "cpu/trap.h"

#define TYPE_SHIFT 60
#define TYPE_MCONTROL 2ull
#define TYPE_MCONTROL6 6ull
#define TYPE_DISABLED 15ull
/* Fields mcontrol and mcontrol6 share (§5.7.2, §5.7.13). */
#define F_ACTION_SHIFT 12
#define F_MATCH_SHIFT 7
#define F_M (1ull << 6)
#define F_S (1ull << 4)
#define F_U (1ull << 3)
#define F_KINDS 7ull
#define MC_HIT (1ull << 20)
#define MC_MASKMAX_SHIFT 53
#define MC6_HIT0 (1ull << 22)
#define TCONTROL_MTE (1ull << 3)
#define TCONTROL_MPTE (1ull << 7)
/* tinfo: version 1 (Sdtrig 1.0) in 31:24, supported types as a bit mask (§5.5.6). */
#define TINFO ((1ull << 24) | (1ull << TYPE_MCONTROL) | (1ull << TYPE_MCONTROL6) | (1ull << TYPE_DISABLED))

static unsigned type_of(uint64_t t1)
{
    return (unsigned)(t1 >> TYPE_SHIFT);
}

/* Recomputes trig_exec/trig_data; cached pages and the code page may now need checks. */
void trig_sync(struct hart *h)
{
    bool x = false, d = false;
    for (unsigned i = 0; i < TRIG_COUNT; i++) {
        unsigned t = type_of(h->tdata1[i]);
        if (t != TYPE_MCONTROL && t != TYPE_MCONTROL6)
            continue;
        if (!(h->tdata1[i] & (F_M | F_S | F_U)))
            continue;
        x |= (h->tdata1[i] & TRIG_EXEC) != 0;
        d |= (h->tdata1[i] & (TRIG_LOAD | TRIG_STORE)) != 0;
    }
    h->trig_exec = x;
    h->trig_data = d;
    hart_tlb_flush(h);
    h->budget = 0; /* leave translated code: hart_exec() interprets while trig_exec is set */
}

/* WARL tdata1 (§5.7.2, §5.7.13): address matches on x/l/s, action 0, no chain, timing before. */
static uint64_t legal_tdata1(uint64_t v)
{
    uint64_t type = v >> TYPE_SHIFT;
    if (type != TYPE_MCONTROL && type != TYPE_MCONTROL6)
        return TYPE_DISABLED << TYPE_SHIFT;
    uint64_t keep = (0xfull << F_MATCH_SHIFT) | F_M | F_S | F_U | F_KINDS;
    keep |= type == TYPE_MCONTROL ? MC_HIT : MC6_HIT0;
    uint64_t out = (type << TYPE_SHIFT) | (v & keep);
    if (((out >> F_MATCH_SHIFT) & 0xf) > 3)
        out &= ~(0xfull << F_MATCH_SHIFT); /* only equal, napot, >=, < */
    if (type == TYPE_MCONTROL)
        out |= 63ull << MC_MASKMAX_SHIFT; /* napot masks of any size */
    return out;
}

bool trig_csr_read(struct hart *h, unsigned csr, uint64_t *val)
{
    unsigned i = (unsigned)h->tselect;
    switch (csr) {
    case CSR_TSELECT: *val = h->tselect; return true;
    case CSR_TDATA1: *val = h->tdata1[i]; return true;
    case CSR_TDATA2: *val = h->tdata2[i]; return true;
    case CSR_TDATA3: *val = 0; return true;
    case CSR_TINFO: *val = TINFO; return true;
    case CSR_TCONTROL: *val = h->tcontrol; return true;
    default: return false;
    }
}

bool trig_csr_write(struct hart *h, unsigned csr, uint64_t val)
{
    unsigned i = (unsigned)h->tselect;
    switch (csr) {
    case CSR_TSELECT:
        /* WARL: an index past the last trigger is not kept; software reads back to count (§5.5.1). */
        if (val < TRIG_COUNT)
            h->tselect = val;
        return true;
    case CSR_TDATA1:
        if (((h->tdata1[i] >> 12) & 0xf) == 1)
            return true; /* the debugger's trigger: not the guest's to change */
        h->tdata1[i] = legal_tdata1(val);
        trig_sync(h);
        return true;
    case CSR_TDATA2:
        if (((h->tdata1[i] >> 12) & 0xf) == 1)
            return true;
        h->tdata2[i] = val;
        return true;
    case CSR_TDATA3:
    case CSR_TINFO:
        return true; /* no textra matching; tinfo is read-only data */
    case CSR_TCONTROL:
        h->tcontrol = val & (TCONTROL_MTE | TCONTROL_MPTE);
        return true;
    default:
        return false;
    }
}

static bool addr_match(uint64_t t1, uint64_t t2, uint64_t va, unsigned size)
{
    switch ((t1 >> F_MATCH_SHIFT) & 0xf) {
    case 0: /* equal: any byte of the access (a watchpoint on a word catches byte stores to it) */
        return t2 - va < size;
    case 1: { /* napot: tdata2's trailing ones (and the zero above them) are ignored */
        unsigned ones = (unsigned)__builtin_ctzll(~t2);
        uint64_t mask = ones >= 63 ? ~0ull : (2ull << ones) - 1;
        return (va & ~mask) == (t2 & ~mask);
    }
    case 2: return va >= t2;
    default: return va < t2;
    }
}

bool trig_check(struct hart *h, unsigned kind, uint64_t va, unsigned size)
{
    enum priv p = h->priv;
    if (kind != TRIG_EXEC && p == PRIV_M && (h->mstatus & MSTATUS_MPRV))
        p = (enum priv)((h->mstatus & MSTATUS_MPP) >> 11);
    uint64_t mode = p == PRIV_M ? F_M : p == PRIV_S ? F_S : F_U;
    for (unsigned i = 0; i < TRIG_COUNT; i++) {
        uint64_t t1 = h->tdata1[i];
        unsigned type = type_of(t1);
        if ((type != TYPE_MCONTROL && type != TYPE_MCONTROL6) || !(t1 & kind) || !(t1 & mode))
            continue;
        unsigned action = (unsigned)(t1 >> F_ACTION_SHIFT) & 0xf;
        /* M-mode breakpoint exceptions only with tcontrol.mte, so a handler cannot re-trigger (§5.7.6). */
        if (action == 0 && p == PRIV_M && !(h->tcontrol & TCONTROL_MTE))
            continue;
        if (!addr_match(t1, h->tdata2[i], va, size))
            continue;
        h->tdata1[i] |= type == TYPE_MCONTROL ? MC_HIT : MC6_HIT0;
        if (action == 1) {
            h->trig_hit = i + 1;
            h->budget = 0;
            if (h->bus->ops->debug_halt)
                h->bus->ops->debug_halt(h->bus->ctx, h);
            return true;
        }
        /* Timing "before": epc is the instruction, tval the matched address (priv 3.1.16). */
        hart_raise(h, EXC_BREAKPOINT, va);
        return true;
    }
    return false;
}

void trig_trap_to_m(struct hart *h)
{
    uint64_t t = h->tcontrol;
    h->tcontrol = (t & TCONTROL_MTE) ? TCONTROL_MPTE : 0;
}

void trig_mret(struct hart *h)
{
    uint64_t t = h->tcontrol;
    h->tcontrol = (t & TCONTROL_MPTE) | ((t & TCONTROL_MPTE) ? TCONTROL_MTE : 0);
}

static uint64_t debugger_tdata1(unsigned kinds, uint64_t len)
{
    /* Equal match for one byte, else napot over the (power-of-two) length. */
    uint64_t match = len > 1 ? 1 : 0;
    return (TYPE_MCONTROL6 << TYPE_SHIFT) | (1ull << F_ACTION_SHIFT) | (match << F_MATCH_SHIFT) | F_M |
           F_S | F_U | (kinds & F_KINDS);
}

static uint64_t debugger_tdata2(uint64_t addr, uint64_t len)
{
    return len > 1 ? (addr & ~(len - 1)) | ((len - 1) >> 1) : addr;
}

int trig_insert(struct hart *h, unsigned kinds, uint64_t addr, uint64_t len)
{
    if (!(kinds & F_KINDS) || (len & (len - 1)))
        return -EINVAL;
    for (unsigned i = 0; i < TRIG_COUNT; i++) {
        unsigned type = type_of(h->tdata1[i]);
        bool in_use = (type == TYPE_MCONTROL || type == TYPE_MCONTROL6) && (h->tdata1[i] & F_KINDS);
        if (in_use)
            continue;
        h->tdata1[i] = debugger_tdata1(kinds, len);
        h->tdata2[i] = debugger_tdata2(addr, len);
        trig_sync(h);
        return (int)i;
    }
    return -ENOSPC;
}

int trig_remove(struct hart *h, unsigned kinds, uint64_t addr, uint64_t len)
{
    for (unsigned i = 0; i < TRIG_COUNT; i++) {
        if ((h->tdata1[i] & ~(MC6_HIT0)) == debugger_tdata1(kinds, len) &&
            h->tdata2[i] == debugger_tdata2(addr, len)) {
            h->tdata1[i] = TYPE_DISABLED << TYPE_SHIFT;
            h->tdata2[i] = 0;
            trig_sync(h);
            return 0;
        }
    }
    return -ENOENT;
}
