/*
 * One RISC-V RV64GC hart: architectural state, CSRs, software TLB.
 * Run by exactly one host thread; other threads only touch the atomics
 * (mip_ext, wake) through hart_set_irq()/hart_kick().
 */
#ifndef KILN_CPU_HART_H
#define KILN_CPU_HART_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct cpu_bus;
struct jit;

enum priv { PRIV_U = 0, PRIV_S = 1, PRIV_M = 3 };

/* Interrupt bit numbers (privileged spec 3.1.9, mip/mie). */
enum {
    IRQ_SSI = 1,
    IRQ_MSI = 3,
    IRQ_STI = 5,
    IRQ_MTI = 7,
    IRQ_SEI = 9,
    IRQ_MEI = 11,
};

/* Exception codes (privileged spec table 3.6). */
enum {
    EXC_INSN_MISALIGNED = 0,
    EXC_INSN_ACCESS = 1,
    EXC_ILLEGAL_INSN = 2,
    EXC_BREAKPOINT = 3,
    EXC_LOAD_MISALIGNED = 4,
    EXC_LOAD_ACCESS = 5,
    EXC_STORE_MISALIGNED = 6,
    EXC_STORE_ACCESS = 7,
    EXC_ECALL_U = 8,
    EXC_ECALL_S = 9,
    EXC_ECALL_M = 11,
    EXC_INSN_PAGE_FAULT = 12,
    EXC_LOAD_PAGE_FAULT = 13,
    EXC_STORE_PAGE_FAULT = 15,
};

/* mstatus fields (privileged spec 3.1.6). */
#define MSTATUS_SIE (1ull << 1)
#define MSTATUS_MIE (1ull << 3)
#define MSTATUS_SPIE (1ull << 5)
#define MSTATUS_UBE (1ull << 6)
#define MSTATUS_MPIE (1ull << 7)
#define MSTATUS_SPP (1ull << 8)
#define MSTATUS_VS (3ull << 9)
#define MSTATUS_MPP (3ull << 11)
#define MSTATUS_FS (3ull << 13)
#define MSTATUS_XS (3ull << 15)
#define MSTATUS_MPRV (1ull << 17)
#define MSTATUS_SUM (1ull << 18)
#define MSTATUS_MXR (1ull << 19)
#define MSTATUS_TVM (1ull << 20)
#define MSTATUS_TW (1ull << 21)
#define MSTATUS_TSR (1ull << 22)
#define MSTATUS_UXL (3ull << 32)
#define MSTATUS_SXL (3ull << 34)
#define MSTATUS_SD (1ull << 63)

/* menvcfg (privileged spec 3.1.18): Sstc's STCE, Svpbmt's PBMTE, Zicbom/Zicboz enables. */
#define MENVCFG_STCE (1ull << 63)
#define MENVCFG_PBMTE (1ull << 62)
#define ENVCFG_CBZE (1ull << 7)
#define ENVCFG_CBCFE (1ull << 6)
#define ENVCFG_CBIE (3ull << 4)

/* Floating-point exception flags (unprivileged spec 13.2). */
#define FFLAG_NX 0x01
#define FFLAG_UF 0x02
#define FFLAG_OF 0x04
#define FFLAG_DZ 0x08
#define FFLAG_NV 0x10

enum { RM_RNE = 0, RM_RTZ = 1, RM_RDN = 2, RM_RUP = 3, RM_RMM = 4, RM_DYN = 7 };

/*
 * Software TLB: direct-mapped, one array per access kind. An entry maps a
 * virtual page to "host address - virtual address" for RAM pages only; MMIO
 * pages are never cached so every device access reaches the device.
 * TLB_SIZE slots per kind exist; tlb_mask + 1 of them are used: 256 for a
 * system VM (a full flush on every satp write stays cheap), 8192 (32 MiB of
 * 4 KiB pages) for a
 * process VM, whose flushes are rare and whose programs (no huge pages, no
 * kernel) touch many pages.
 */
#define TLB_SIZE 8192
#define TLB_DEFAULT 256
#define TRIG_COUNT 4
struct tlb_entry {
    uint64_t tag; /* virtual page number | translation key << 60; ~0 when empty */
    uintptr_t addend;
};
enum { TLB_READ, TLB_WRITE, TLB_EXEC, TLB_KINDS };

/*
 * Decoded-instruction cache, per guest-physical code page: each 2-byte slot of
 * a page that has been executed holds its instruction decoded (cpu/decode.h).
 * Keyed by physical address, it survives SFENCE.VMA, satp writes and context
 * switches; FENCE.I invalidates it (instruction fetch need not see stores
 * before FENCE.I, unpriv "Zifencei").
 */
struct decoded_insn {
    uint32_t insn; /* 32-bit form (RVC expanded) */
    int32_t imm;
    uint8_t op, len, rd, rs1, rs2, aux; /* op 0: not decoded yet */
    uint16_t pad;
};
struct code_page {
    uint64_t gen; /* hart's code_gen when the slots were last valid */
    struct code_page *next; /* every code page of the hart, for hart_destroy */
    struct decoded_insn slot[2048];
};

struct hart {
    uint64_t x[32];
    uint64_t pc;
    uint64_t f[32]; /* raw bits; singles are NaN-boxed (unpriv spec 13.2) */
    uint32_t fflags;
    uint32_t frm;

    enum priv priv;
    const struct cpu_bus *bus; /* the machine around the hart (cpu/bus.h) */
    unsigned id;

    /* Machine-level CSRs */
    uint64_t mstatus;
    uint64_t misa;
    uint64_t medeleg, mideleg;
    uint64_t mie;
    uint64_t mip;                /* software-writable bits: SSIP, STIP, SEIP */
    _Atomic uint64_t mip_ext;    /* lines driven by devices: MSIP, MTIP, MEIP, SEIP, STIP(sstc) */
    uint64_t mtvec, mscratch, mepc, mcause, mtval;
    uint64_t mcounteren, menvcfg, mcountinhibit;
    uint64_t pmpcfg[16];   /* only even indices are used on RV64 */
    uint64_t pmpaddr[64];
    bool pmp_on;           /* derived from pmpcfg: some entry is not OFF (cpu/pmp.h) */
    unsigned pmp_n;        /* derived: the entries that match something, in priority order */
    struct pmp_range {
        uint64_t lo, last; /* bytes [lo, last] */
        uint8_t perm;      /* R W X; all three for M unless locked */
        uint8_t perm_m;
    } pmp_ranges[64];
    uint64_t pmp_pt_ok[4]; /* derived: per walk level, a table page PMP lets S read (~0: none) */
    uint64_t mseccfg;      /* USEED, SSEED: the seed CSR's S/U access (Zkr) */
    uint64_t minstret_offset; /* instret = retired instructions + offset */
    uint64_t mcycle_offset;
    uint64_t instret;      /* retired instruction counter */

    /* Supervisor-level CSRs (sstatus/sie/sip are views of the M ones) */
    uint64_t stvec, sscratch, sepc, scause, stval, satp, scounteren, senvcfg;
    uint64_t stimecmp; /* Sstc */

    /*
     * Sdtrig trigger module (cpu/trigger.h): tselect picks one of TRIG_COUNT
     * triggers; tdata1 is its mcontrol/mcontrol6 word, tdata2 its address.
     * trig_exec/trig_data are derived: some enabled trigger watches
     * execution / loads or stores (the slow paths then check every access).
     */
    uint64_t tselect;
    uint64_t tdata1[TRIG_COUNT], tdata2[TRIG_COUNT];
    uint64_t tcontrol;
    bool trig_exec, trig_data;
    unsigned trig_hit; /* 1 + index of the last debugger (action 1) trigger that fired; 0 none */

    /* Per-hart timer compare registers, written by the CLINT. */
    _Atomic uint64_t mtimecmp;

    /* LR/SC reservation (unpriv spec 8.2): address and the value seen by LR. */
    uint64_t resv_addr;
    uint64_t resv_value;
    bool resv_valid;

    /* Set by other threads when the hart must look at interrupts/stop soon. */
    atomic_int kick;
    /* The bus's wflush_gen this hart last honoured (cpu/bus.h, live migration). */
    atomic_uint wflush_seen;
    /* WFI sleep (privileged spec 3.3.3): woken by hart_kick(). */
    pthread_mutex_t wfi_lock;
    pthread_cond_t wfi_cond;
    bool waiting;

    /* HSM state for SBI-less multi-hart starts (firmware handles HSM itself). */
    bool halted;

    /* Consecutive traps without a retired instruction: detects a hart stuck in a trap loop. */
    uint64_t trap_streak;

    /*
     * Translation keys tag TLB entries with the context they were filled in, so
     * privilege changes need no flush: 0 = U, 1 = S, 2 = S with SUM, 3 = bare (M or satp off).
     */
    uint64_t fetch_key;
    uint64_t data_key;

    /* Instructions left in the current batch; set to 0 to make the run loop look at interrupts. */
    int64_t budget;
    /*
     * hart_step() must not run past its count; hart_run()'s batches may be
     * overrun by one translated block (they only bound interrupt latency).
     */
    bool budget_exact;

    uint32_t tlb_mask; /* slots in use - 1 (a power of two - 1, at most TLB_SIZE - 1) */
    struct tlb_entry tlb[TLB_KINDS][TLB_SIZE];

    /* Decoded code pages, indexed by RAM page number; allocated on first execution. */
    struct code_page **code_pages; /* mapped NORESERVE: a process VM's covers 2^38 bytes */
    uint64_t ncode_pages;
    struct code_page *code_list; /* the pages allocated, linked: never a scan of the table */
    uint64_t code_gen;      /* bumped by FENCE.I: every code page is stale */
    uint64_t cur_code_va;   /* virtual page being executed; ~0 = none */
    struct code_page *cur_code;
    uint8_t *cur_code_host; /* host address of that page */

    /* The translator's state (cpu/jit/jit.h); NULL when this hart only interprets. */
    struct jit *jit;
    /*
     * Process VMs: user va lives at host direct_base + va for every va below
     * 2^38, with host protections mirroring the guest's (src/user/mm.h), so
     * translated code accesses memory directly. NULL elsewhere.
     */
    uint8_t *direct_base;
#define HART_DIRECT_BITS 38            /* direct accesses: va < 2^38 */
#define HART_DIRECT_GUARD (64u << 10)  /* PROT_NONE bytes at least above the 2^38 */
};

/* A hart on bus (which must outlive it), reset to the start of RAM. 0 or -errno. */
int hart_init(struct hart *h, const struct cpu_bus *bus, unsigned id);
void hart_destroy(struct hart *h);
void hart_reset(struct hart *h, uint64_t pc);

/* Runs until the VM stops. Called on the hart's own thread. */
void hart_run(struct hart *h);
/* Executes at most n instructions (tests and single-stepping). Returns number executed. */
uint64_t hart_step(struct hart *h, uint64_t n);

/* Ends the run through the bus, with a printf-style reason. */
void hart_request_exit(struct hart *h, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Device side: drive an interrupt line (IRQ_*) of this hart. Thread-safe. */
void hart_set_irq(struct hart *h, unsigned irq, bool level);
/* Wake the hart from WFI and make it re-check interrupts and the stop flag. Thread-safe. */
void hart_kick(struct hart *h);
/* CLINT side: new mtimecmp value. Thread-safe. */
void hart_set_mtimecmp(struct hart *h, uint64_t value);

/* Forgets cached translations (SFENCE.VMA, satp, MXR). */
void hart_tlb_flush(struct hart *h);
/* Forgets decoded instructions (FENCE.I, or code written by the host into guest RAM). */
void hart_code_flush(struct hart *h);

#endif
