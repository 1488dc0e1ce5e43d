/*
 * A hart's architectural state in a snapshot: registers, CSRs, privilege and
 * the LR reservation. Translated or decoded code and the TLB are never saved:
 * they are caches, flushed on load (the jit's code cache likewise).
 */
#include <errno.h>
#include <string.h>

#include "cpu/hart.h"
#include "cpu/mmu.h"
#include "snapshot/snapshot.h"

void snap_hart_save(const struct hart *h, struct snap_w *w)
{
    for (int i = 0; i < 32; i++)
        snap_w_u64(w, h->x[i]);
    snap_w_u64(w, h->pc);
    for (int i = 0; i < 32; i++)
        snap_w_u64(w, h->f[i]);
    snap_w_u32(w, h->fflags);
    snap_w_u32(w, h->frm);
    snap_w_u32(w, (uint32_t)h->priv);
    const uint64_t m[] = {h->mstatus, h->misa, h->medeleg, h->mideleg, h->mie, h->mip,
                          atomic_load(&h->mip_ext), h->mtvec, h->mscratch, h->mepc, h->mcause,
                          h->mtval, h->mcounteren, h->menvcfg, h->mcountinhibit,
                          h->minstret_offset, h->mcycle_offset, h->instret,
                          h->stvec, h->sscratch, h->sepc, h->scause, h->stval, h->satp,
                          h->scounteren, h->senvcfg, h->stimecmp, atomic_load(&h->mtimecmp),
                          h->resv_addr, h->resv_value};
    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
        snap_w_u64(w, m[i]);
    for (int i = 0; i < 16; i++)
        snap_w_u64(w, h->pmpcfg[i]);
    for (int i = 0; i < 64; i++)
        snap_w_u64(w, h->pmpaddr[i]);
    snap_w_u8(w, h->resv_valid);
    snap_w_u8(w, h->halted);
}

/* Bits of mstatus this hart implements (hart.h); UXL/SXL are read-only 64-bit. */
#define MSTATUS_KNOWN                                                                         \
    (MSTATUS_SIE | MSTATUS_MIE | MSTATUS_SPIE | MSTATUS_UBE | MSTATUS_MPIE | MSTATUS_SPP |   \
     MSTATUS_VS | MSTATUS_MPP | MSTATUS_FS | MSTATUS_XS | MSTATUS_MPRV | MSTATUS_SUM |        \
     MSTATUS_MXR | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR | MSTATUS_UXL | MSTATUS_SXL |       \
     MSTATUS_SD)

int snap_hart_load(struct hart *h, struct snap_rd *r)
{
    struct hart n; /* parsed here, copied into h only once every field is checked */
    memset(&n, 0, sizeof(n));
    for (int i = 0; i < 32; i++)
        n.x[i] = snap_r_u64(r);
    n.pc = snap_r_u64(r);
    for (int i = 0; i < 32; i++)
        n.f[i] = snap_r_u64(r);
    n.fflags = snap_r_u32(r);
    n.frm = snap_r_u32(r);
    uint32_t priv = snap_r_u32(r);
    uint64_t v[30];
    for (size_t i = 0; i < 30; i++)
        v[i] = snap_r_u64(r);
    for (int i = 0; i < 16; i++)
        n.pmpcfg[i] = snap_r_u64(r);
    for (int i = 0; i < 64; i++)
        n.pmpaddr[i] = snap_r_u64(r);
    n.resv_valid = snap_r_bool(r);
    n.halted = snap_r_bool(r);
    if (snap_r_done(r))
        return -EINVAL;
    uint64_t satp_mode = v[23] >> 60;
    uint64_t mpp = (v[0] & MSTATUS_MPP) >> 11;
    if (n.x[0] != 0 || (n.pc & 1) || n.fflags > 0x1f || n.frm > 7 ||
        (priv != PRIV_U && priv != PRIV_S && priv != PRIV_M) || (v[0] & ~MSTATUS_KNOWN) ||
        mpp == 2 || v[1] != h->misa || (satp_mode != 0 && satp_mode != 8 && satp_mode != 9))
        return -EINVAL;

    memcpy(h->x, n.x, sizeof(h->x));
    h->pc = n.pc;
    memcpy(h->f, n.f, sizeof(h->f));
    h->fflags = n.fflags;
    h->frm = n.frm;
    h->priv = (enum priv)priv;
    h->mstatus = v[0];
    h->medeleg = v[2];
    h->mideleg = v[3];
    h->mie = v[4];
    h->mip = v[5];
    atomic_store(&h->mip_ext, v[6]);
    h->mtvec = v[7];
    h->mscratch = v[8];
    h->mepc = v[9];
    h->mcause = v[10];
    h->mtval = v[11];
    h->mcounteren = v[12];
    h->menvcfg = v[13];
    h->mcountinhibit = v[14];
    h->minstret_offset = v[15];
    h->mcycle_offset = v[16];
    h->instret = v[17];
    h->stvec = v[18];
    h->sscratch = v[19];
    h->sepc = v[20];
    h->scause = v[21];
    h->stval = v[22];
    h->satp = v[23];
    h->scounteren = v[24];
    h->senvcfg = v[25];
    h->stimecmp = v[26];
    atomic_store(&h->mtimecmp, v[27]);
    h->resv_addr = v[28];
    h->resv_value = v[29];
    memcpy(h->pmpcfg, n.pmpcfg, sizeof(h->pmpcfg));
    memcpy(h->pmpaddr, n.pmpaddr, sizeof(h->pmpaddr));
    h->resv_valid = n.resv_valid;
    h->halted = n.halted;
    h->trap_streak = 0;
    /* Caches: rebuilt from the state above. */
    hart_tlb_flush(h);
    hart_code_flush(h);
    mmu_update_keys(h);
    return 0;
}
