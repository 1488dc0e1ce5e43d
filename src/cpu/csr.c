#include "cpu/csr.h"

#include <sys/random.h>
#include <sys/types.h>

#include "cpu/mmu.h"
#include "cpu/pmp.h"
#include "cpu/trigger.h"
#include "cpu/trap.h"
#include "cpu/bus.h"

enum {
    CSR_FFLAGS = 0x001, CSR_FRM = 0x002, CSR_FCSR = 0x003,
    CSR_CYCLE = 0xc00, CSR_TIME = 0xc01, CSR_INSTRET = 0xc02,
    CSR_HPMCOUNTER3 = 0xc03, CSR_HPMCOUNTER31 = 0xc1f,
    CSR_SSTATUS = 0x100, CSR_SIE = 0x104, CSR_STVEC = 0x105, CSR_SCOUNTEREN = 0x106,
    CSR_SENVCFG = 0x10a, CSR_SSCRATCH = 0x140, CSR_SEPC = 0x141, CSR_SCAUSE = 0x142,
    CSR_STVAL = 0x143, CSR_SIP = 0x144, CSR_STIMECMP = 0x14d, CSR_SATP = 0x180,
    CSR_MVENDORID = 0xf11, CSR_MARCHID = 0xf12, CSR_MIMPID = 0xf13, CSR_MHARTID = 0xf14,
    CSR_MCONFIGPTR = 0xf15,
    CSR_MSTATUS = 0x300, CSR_MISA = 0x301, CSR_MEDELEG = 0x302, CSR_MIDELEG = 0x303,
    CSR_MIE = 0x304, CSR_MTVEC = 0x305, CSR_MCOUNTEREN = 0x306, CSR_MENVCFG = 0x30a,
    CSR_MCOUNTINHIBIT = 0x320, CSR_MHPMEVENT3 = 0x323, CSR_MHPMEVENT31 = 0x33f,
    CSR_MSCRATCH = 0x340, CSR_MEPC = 0x341, CSR_MCAUSE = 0x342, CSR_MTVAL = 0x343,
    CSR_MIP = 0x344, CSR_MTINST = 0x34a, CSR_MTVAL2 = 0x34b,
    CSR_PMPCFG0 = 0x3a0, CSR_PMPCFG15 = 0x3af, CSR_PMPADDR0 = 0x3b0, CSR_PMPADDR63 = 0x3ef,
    CSR_MSECCFG = 0x747, CSR_SEED = 0x015,
    CSR_MCYCLE = 0xb00, CSR_MINSTRET = 0xb02, CSR_MHPMCOUNTER3 = 0xb03, CSR_MHPMCOUNTER31 = 0xb1f,
};

#define SSTATUS_MASK                                                                               \
    (MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_UBE | MSTATUS_SPP | MSTATUS_VS | MSTATUS_FS |           \
     MSTATUS_XS | MSTATUS_SUM | MSTATUS_MXR | MSTATUS_UXL | MSTATUS_SD)
#define MSTATUS_WRITABLE                                                                           \
    (MSTATUS_SIE | MSTATUS_MIE | MSTATUS_SPIE | MSTATUS_MPIE | MSTATUS_SPP | MSTATUS_MPP |         \
     MSTATUS_FS | MSTATUS_MPRV | MSTATUS_SUM | MSTATUS_MXR | MSTATUS_TVM | MSTATUS_TW |           \
     MSTATUS_TSR)
/* Interrupts S-mode may see and delegate: SSI, STI, SEI (3.1.9). */
#define S_IRQS ((1ull << IRQ_SSI) | (1ull << IRQ_STI) | (1ull << IRQ_SEI))
#define M_IRQS (S_IRQS | (1ull << IRQ_MSI) | (1ull << IRQ_MTI) | (1ull << IRQ_MEI))
/* mip bits writable by M software: SSIP, STIP, SEIP (3.1.9); S may write only SSIP. */
#define MIP_WRITABLE S_IRQS
#define MENVCFG_WRITABLE (MENVCFG_STCE | MENVCFG_PBMTE | 0xf1ull) /* STCE, PBMTE, CBZE, CBCFE, CBIE, FIOM */
#define SENVCFG_WRITABLE 0xf1ull
/* mcountinhibit's CY and IR bits (3.1.13): the HPM counters 3-31 never count. */
#define INHIBIT_CY 1ull
#define INHIBIT_IR 4ull
/* Zkr's seed CSR (scalar-crypto "Entropy Source"): OPST ES16 in bits 31:30, 16 bits of entropy. */
#define SEED_ES16 (2ull << 30)
#define SEED_WAIT (1ull << 30)
#define MEDELEG_WRITABLE 0xb3ffull /* all exceptions but ecall-from-M (11) and reserved 10, 14 */

/* CBIE = 2 is reserved (cmo spec 2.5.1): keep it WARL-legal as 0 (illegal). */
static uint64_t envcfg_legal(uint64_t v)
{
    if ((v & ENVCFG_CBIE) == (2ull << 4))
        v &= ~ENVCFG_CBIE;
    return v;
}

uint64_t csr_sstatus_mask(void)
{
    return SSTATUS_MASK;
}

uint64_t csr_rmw_base(const struct hart *h, unsigned csr, uint64_t read)
{
    if (csr == CSR_MIP)
        return h->mip;
    if (csr == CSR_SIP)
        return h->mip & h->mideleg;
    return read;
}

static uint64_t status_read(const struct hart *h)
{
    uint64_t s = h->mstatus | (2ull << 32) | (2ull << 34); /* UXL = SXL = 64-bit */
    if ((s & MSTATUS_FS) == MSTATUS_FS)
        s |= MSTATUS_SD;
    return s;
}

static void status_write(struct hart *h, uint64_t val, uint64_t mask)
{
    uint64_t old = h->mstatus;
    uint64_t s = (old & ~mask) | (val & mask);
    /* MPP is WARL: only U, S and M are legal; keep the old value otherwise. */
    if (((s & MSTATUS_MPP) >> 11) == 2)
        s = (s & ~MSTATUS_MPP) | (old & MSTATUS_MPP);
    h->mstatus = s & MSTATUS_WRITABLE;
    if ((old ^ h->mstatus) & MSTATUS_MXR)
        hart_tlb_flush(h); /* cached read permissions depended on MXR */
    mmu_update_keys(h);
    /*
     * An interrupt enabled here may be pending: take it before the next
     * instruction (priv 3.1.9). Clearing an enable needs nothing, and Linux
     * does that at every local_irq_save(): translated code goes on after it.
     */
    if ((h->mstatus & ~old) & (MSTATUS_SIE | MSTATUS_MIE))
        h->budget = 0;
}

/*
 * mcycle and minstret both count retired instructions, plus an offset. While
 * mcountinhibit stops one, its offset holds the frozen value itself.
 */
static uint64_t counter_value(const struct hart *h, bool cycle)
{
    uint64_t off = cycle ? h->mcycle_offset : h->minstret_offset;
    uint64_t stopped = h->mcountinhibit & (cycle ? INHIBIT_CY : INHIBIT_IR);
    return stopped ? off : h->instret + off;
}

/* A CSR write of mcycle/minstret: `bias` compensates for the writing instruction's own retirement. */
static void counter_set(struct hart *h, bool cycle, uint64_t val, uint64_t bias)
{
    uint64_t stopped = h->mcountinhibit & (cycle ? INHIBIT_CY : INHIBIT_IR);
    uint64_t *off = cycle ? &h->mcycle_offset : &h->minstret_offset;
    *off = stopped ? val : val - h->instret - bias;
}

static void inhibit_write(struct hart *h, uint64_t val)
{
    val &= ~2ull; /* bit 1 (time) is read-only zero */
    uint64_t cy = counter_value(h, true), ir = counter_value(h, false);
    h->mcountinhibit = (h->mcountinhibit & ~(INHIBIT_CY | INHIBIT_IR)) | (val & (INHIBIT_CY | INHIBIT_IR));
    counter_set(h, true, cy, 0);
    counter_set(h, false, ir, 0);
    h->mcountinhibit = val & 0xfffffffdull;
}

/* Zkr (scalar-crypto "seed" access control): M always, S with SSEED, U with USEED; never read-only. */
static bool seed_read(const struct hart *h, uint64_t *val, bool will_write)
{
    if (!will_write)
        return false;
    if (h->priv == PRIV_S && !(h->mseccfg & MSECCFG_SSEED))
        return false;
    if (h->priv == PRIV_U && !(h->mseccfg & MSECCFG_USEED))
        return false;
    uint16_t r;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
        *val = SEED_WAIT; /* no entropy right now: software polls again */
        return true;
    }
    *val = SEED_ES16 | r;
    return true;
}

/* Counter access from S/U mode through mcounteren/scounteren (3.1.11, 4.1.5). */
static bool counter_allowed(const struct hart *h, unsigned csr)
{
    unsigned bit = csr - CSR_CYCLE;
    if (h->priv < PRIV_M && !((h->mcounteren >> bit) & 1))
        return false;
    if (h->priv == PRIV_U && !((h->scounteren >> bit) & 1))
        return false;
    return true;
}

static bool stimecmp_allowed(const struct hart *h)
{
    if (h->priv < PRIV_M && !(h->menvcfg & MENVCFG_STCE))
        return false;
    if (h->priv < PRIV_M && !((h->mcounteren >> 1) & 1))
        return false; /* Sstc: also gated by mcounteren.TM */
    return true;
}

bool csr_read(struct hart *h, unsigned csr, uint64_t *val, bool will_write)
{
    /* csr[9:8] is the lowest privilege allowed, csr[11:10] == 3 means read-only (2.1). */
    if (h->priv < ((csr >> 8) & 3))
        return false;
    if (will_write && (csr >> 10) == 3)
        return false;
    switch (csr) {
    case CSR_FFLAGS:
    case CSR_FRM:
    case CSR_FCSR:
        if (!(h->mstatus & MSTATUS_FS))
            return false;
        *val = csr == CSR_FFLAGS ? h->fflags : csr == CSR_FRM ? h->frm : (h->frm << 5) | h->fflags;
        return true;
    case CSR_CYCLE:
    case CSR_INSTRET:
        if (!counter_allowed(h, csr))
            return false;
        *val = counter_value(h, csr == CSR_CYCLE);
        return true;
    case CSR_TIME:
        if (!counter_allowed(h, csr))
            return false;
        *val = h->bus->ops->time_now(h->bus->ctx);
        return true;
    case CSR_MCYCLE:
        *val = counter_value(h, true);
        return true;
    case CSR_MINSTRET:
        *val = counter_value(h, false);
        return true;
    case CSR_SEED:
        return seed_read(h, val, will_write);
    case CSR_SSTATUS: *val = status_read(h) & SSTATUS_MASK; return true;
    case CSR_SIE: *val = h->mie & h->mideleg; return true;
    case CSR_STVEC: *val = h->stvec; return true;
    case CSR_SCOUNTEREN: *val = h->scounteren; return true;
    case CSR_SENVCFG: *val = h->senvcfg; return true;
    case CSR_SSCRATCH: *val = h->sscratch; return true;
    case CSR_SEPC: *val = h->sepc; return true;
    case CSR_SCAUSE: *val = h->scause; return true;
    case CSR_STVAL: *val = h->stval; return true;
    case CSR_SIP: *val = hart_mip(h) & h->mideleg; return true;
    case CSR_STIMECMP:
        if (!stimecmp_allowed(h))
            return false;
        *val = h->stimecmp;
        return true;
    case CSR_SATP:
        if (h->priv == PRIV_S && (h->mstatus & MSTATUS_TVM))
            return false;
        *val = h->satp;
        return true;
    case CSR_MVENDORID:
    case CSR_MARCHID:
    case CSR_MIMPID:
    case CSR_MCONFIGPTR:
        *val = 0;
        return true;
    case CSR_MHARTID: *val = h->id; return true;
    case CSR_MSTATUS: *val = status_read(h); return true;
    case CSR_MISA: *val = h->misa; return true;
    case CSR_MEDELEG: *val = h->medeleg; return true;
    case CSR_MIDELEG: *val = h->mideleg; return true;
    case CSR_MIE: *val = h->mie; return true;
    case CSR_MTVEC: *val = h->mtvec; return true;
    case CSR_MCOUNTEREN: *val = h->mcounteren; return true;
    case CSR_MENVCFG: *val = h->menvcfg; return true;
    case CSR_MCOUNTINHIBIT: *val = h->mcountinhibit; return true;
    case CSR_MSCRATCH: *val = h->mscratch; return true;
    case CSR_MEPC: *val = h->mepc; return true;
    case CSR_MCAUSE: *val = h->mcause; return true;
    case CSR_MTVAL: *val = h->mtval; return true;
    case CSR_MIP: *val = hart_mip(h); return true;
    case CSR_MTINST:
    case CSR_MTVAL2:
        *val = 0;
        return true;
    case CSR_MSECCFG: *val = h->mseccfg; return true;
    default:
        break;
    }
    if (trig_csr_read(h, csr, val))
        return true;
    if (csr >= CSR_HPMCOUNTER3 && csr <= CSR_HPMCOUNTER31) {
        if (!counter_allowed(h, csr))
            return false;
        *val = 0;
        return true;
    }
    if ((csr >= CSR_MHPMCOUNTER3 && csr <= CSR_MHPMCOUNTER31) ||
        (csr >= CSR_MHPMEVENT3 && csr <= CSR_MHPMEVENT31)) {
        *val = 0;
        return true;
    }
    if (csr >= CSR_PMPCFG0 && csr <= CSR_PMPCFG15) {
        if (csr & 1)
            return false; /* odd pmpcfg registers do not exist on RV64 (3.7.1) */
        *val = h->pmpcfg[csr - CSR_PMPCFG0];
        return true;
    }
    if (csr >= CSR_PMPADDR0 && csr <= CSR_PMPADDR63) {
        *val = h->pmpaddr[csr - CSR_PMPADDR0];
        return true;
    }
    return false;
}

bool csr_write(struct hart *h, unsigned csr, uint64_t val)
{
    switch (csr) {
    case CSR_FFLAGS:
        h->fflags = val & 0x1f;
        break;
    case CSR_FRM:
        h->frm = val & 7;
        break;
    case CSR_FCSR:
        h->fflags = val & 0x1f;
        h->frm = (val >> 5) & 7;
        break;
    case CSR_MCYCLE:
        counter_set(h, true, val, 0);
        return true;
    case CSR_MINSTRET:
        /* The instruction writing minstret still retires afterwards: compensate by one (3.1.10). */
        counter_set(h, false, val, 1);
        return true;
    case CSR_SEED:
        return true; /* writes are ignored (the access itself polls the source) */
    case CSR_SSTATUS:
        status_write(h, val, SSTATUS_MASK & MSTATUS_WRITABLE);
        return true;
    case CSR_SIE:
        h->mie = (h->mie & ~h->mideleg) | (val & h->mideleg & S_IRQS);
        h->budget = 0;
        return true;
    case CSR_STVEC:
        h->stvec = val & ~2ull; /* modes 0 and 1 only */
        return true;
    case CSR_SCOUNTEREN: h->scounteren = val & 0xffffffff; return true;
    case CSR_SENVCFG: h->senvcfg = envcfg_legal(val & SENVCFG_WRITABLE); return true;
    case CSR_SSCRATCH: h->sscratch = val; return true;
    case CSR_SEPC: h->sepc = val & ~1ull; return true;
    case CSR_SCAUSE: h->scause = val; return true;
    case CSR_STVAL: h->stval = val; return true;
    case CSR_SIP:
        /* Only SSIP is writable from S (4.1.3). */
        if (h->mideleg & (1ull << IRQ_SSI))
            h->mip = (h->mip & ~(1ull << IRQ_SSI)) | (val & (1ull << IRQ_SSI));
        h->budget = 0;
        return true;
    case CSR_STIMECMP:
        h->stimecmp = val;
        h->budget = 0;
        return true;
    case CSR_SATP: {
        uint64_t mode = val >> 60;
        /* WARL: an unsupported mode leaves satp unchanged (4.1.11). ASIDs are not implemented. */
        if (mode != 0 && mode != 8 && mode != 9)
            return true;
        h->satp = val & ~(0xffffull << 44);
        hart_tlb_flush(h);
        mmu_update_keys(h);
        return true;
    }
    case CSR_MSTATUS:
        status_write(h, val, MSTATUS_WRITABLE);
        return true;
    case CSR_MISA:
        return true; /* WARL: extensions cannot be switched off */
    case CSR_MEDELEG: h->medeleg = val & MEDELEG_WRITABLE; return true;
    case CSR_MIDELEG:
        h->mideleg = val & S_IRQS;
        h->budget = 0;
        return true;
    case CSR_MIE:
        h->mie = val & M_IRQS;
        h->budget = 0;
        return true;
    case CSR_MTVEC: h->mtvec = val & ~2ull; return true;
    case CSR_MCOUNTEREN: h->mcounteren = val & 0xffffffff; return true;
    case CSR_MENVCFG: {
        uint64_t old = h->menvcfg;
        h->menvcfg = envcfg_legal(val & MENVCFG_WRITABLE);
        if ((old ^ h->menvcfg) & MENVCFG_PBMTE)
            hart_tlb_flush(h); /* PTEs with PBMT set are now reserved, or no longer */
        h->budget = 0;
        return true;
    }
    case CSR_MCOUNTINHIBIT: inhibit_write(h, val); return true;
    case CSR_MSCRATCH: h->mscratch = val; return true;
    case CSR_MEPC: h->mepc = val & ~1ull; return true;
    case CSR_MCAUSE: h->mcause = val; return true;
    case CSR_MTVAL: h->mtval = val; return true;
    case CSR_MIP: {
        /* With Sstc enabled, STIP reflects stimecmp and is read-only (Sstc spec 2.1). */
        uint64_t writable = MIP_WRITABLE;
        if (h->menvcfg & MENVCFG_STCE)
            writable &= ~(1ull << IRQ_STI);
        h->mip = (h->mip & ~writable) | (val & writable);
        h->budget = 0;
        return true;
    }
    case CSR_MTINST:
    case CSR_MTVAL2:
        return true;
    case CSR_MSECCFG:
        h->mseccfg = val & (MSECCFG_USEED | MSECCFG_SSEED);
        return true;
    default:
        if (trig_csr_write(h, csr, val))
            return true;
        if ((csr >= CSR_MHPMCOUNTER3 && csr <= CSR_MHPMCOUNTER31) ||
            (csr >= CSR_MHPMEVENT3 && csr <= CSR_MHPMEVENT31))
            return true;
        if (csr >= CSR_PMPCFG0 && csr <= CSR_PMPCFG15) {
            pmp_write_cfg(h, csr - CSR_PMPCFG0, val);
            return true;
        }
        if (csr >= CSR_PMPADDR0 && csr <= CSR_PMPADDR63) {
            pmp_write_addr(h, csr - CSR_PMPADDR0, val);
            return true;
        }
        return false;
    }
    /* fflags/frm/fcsr writes dirty the FP state (13.2, 3.1.6.6). */
    h->mstatus |= MSTATUS_FS;
    return true;
}
