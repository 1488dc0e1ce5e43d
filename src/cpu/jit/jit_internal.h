/*
 * Inside the JIT: the per-hart state, translated blocks, and the interface
 * between the host-independent translator (translate.c) and one backend per
 * host ISA (emit_x86_64.c; an aarch64 backend is one more file with these
 * functions).
 */
#ifndef KILN_CPU_JIT_INTERNAL_H
#define KILN_CPU_JIT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "cpu/decode.h"
#include "cpu/exec.h"
#include "cpu/hart.h"
#include "cpu/jit/jit.h"

/* Longest block in guest instructions: bounds code size per block and the store log of verify mode.
 */
#define JIT_MAX_INSNS HART_BLOCK_MAX /* the interpreter stops where blocks would (exec.h) */
/* Host code one block can need at most (measured worst case is far lower); checked before
 * translating. */
#define JIT_MAX_BLOCK_CODE (JIT_MAX_INSNS * 256 + 1024)
#define JIT_TABLE_SIZE 4096
#define JIT_BUCKETS 16384
/* Loads and stores of a loop that keep their last page and TLB addend in a frame slot (emit_x86_64.c). */
#define JIT_SLOTS 8

/* What translated code returns to the dispatcher. */
enum { JIT_EXIT_NEXT = 0, JIT_EXIT_INTERP = 1 };

typedef int (*jit_fn)(struct hart *h);

struct jit_block {
    jit_fn fn;               /* entry in the executable view */
    uint8_t *chain_entry;    /* where other translated blocks jump in (executable view) */
    struct jit_block *next;  /* every block of the cache, for freeing */
    struct jit_block *hnext; /* same hash bucket */
    uintptr_t hostpc;        /* host address of the first instruction: its guest-physical address */
    uint64_t gen;            /* h->code_gen when src was last known to match guest memory */
    uint64_t ctx;            /* what else the code depends on (jit_context()) */
    uint16_t ninsns;         /* guest instructions on the longest straight path */
    uint16_t nbytes;         /* guest code bytes translated, copied in src */
    const uint8_t *src;      /* (in the code cache, after the block's code) */
};

/* jit_entry.count of a start no block can begin at (jit_translate() refused it). */
#define JIT_NO_BLOCK UINT32_MAX

/* A slot of the lookup table: a block start's host address, its entry count, its block (also read
 * by translated code). */
struct jit_entry {
    uintptr_t hostpc;
    uint64_t ctx;
    uint32_t count;
    struct jit_block *blk;
};

/* verify mode: translated stores first log what they overwrite, so the block can be undone. */
struct jit_log {
    uint64_t addr; /* host address */
    uint64_t old;
    uint64_t size;
    uint64_t now; /* filled by the dispatcher after the block ran */
};

/*
 * A direct guest access in translated code (process VMs): the host
 * instruction at insn (offset in the cache) may fault; the handler
 * (fault.c) resumes at stub, the exit that leaves before the guest
 * instruction, so the interpreter runs it with the guest's semantics.
 */
struct jit_fault_site {
    uint32_t insn, stub;
};

struct jit {
    struct jit_config cfg;
    int memfd;        /* only while the cache is made: its mappings keep the memfd alive */
    uint8_t *rw, *rx; /* the same pages: written through rw, run through rx */
    size_t size, used;
    size_t high; /* end of the code ever written since the cache was made (flushes reuse below it) */
    /* Code all blocks share, at the cache's start (writable view; jit_be_shared()). */
    uint8_t *sh_epilogue, *sh_commit, *sh_lookup, *sh_mxcsr_merge;
    uint8_t *sh_direct_limit; /* 2^HART_DIRECT_BITS, 8 bytes: direct accesses compare with it */
    uint32_t sh_mask; /* the TLB mask the shared lookup was made for */
    bool rw_mapped; /* the writable view has pages mapped since jit_idle() last dropped them */
    /* jit_idle()'s view of how busy the hart is: a window's start and instret then, quiet windows in a row */
    uint64_t idle_window_ns, idle_window_instret;
    unsigned quiet_windows, release_after;
    struct jit_entry table[JIT_TABLE_SIZE]; /* direct-mapped: entry counts and recent blocks */
    struct jit_block *buckets[JIT_BUCKETS]; /* every live block, by (hostpc, ctx) */
    struct jit_block *blocks;
    struct jit_stats stats;
    uint8_t *chain_from; /* rel32 of the exit the last block left through, if it can be chained */
    uint64_t log_n;
    struct jit_log log[JIT_MAX_INSNS];
    /* Direct access sites of the cache, sorted by insn (fault.c); mapped on first use. */
    struct jit_fault_site *fsites;
    size_t fsites_n, fsites_cap;
};

/* One side exit waiting for its out-of-line stub. */
struct jit_exit {
    uint32_t patch; /* offset of the rel32 to point at the stub */
    int32_t delta;  /* pc change relative to the block's entry pc (unused for back edges) */
    uint16_t count; /* instructions retired on this path */
    uint8_t back;   /* kind: EXIT_NEXT, EXIT_INTERP, EXIT_BACK (to the block's start), EXIT_JALR */
    uint32_t dirty; /* guest registers in host registers that differ from the hart's here */
};

struct jit_emit {
    uint8_t *buf, *p, *end; /* writable view */
    uint8_t *rx;            /* executable view of buf[0] */
    unsigned page_off;      /* the block's start within its guest page */
    const uint64_t *gen;    /* &block->gen, checked where chained blocks come in */
    uint64_t ctx;           /* jit_context() of the block */
    uint32_t chain_entry;   /* offset of the entry for chained jumps */
    uint32_t
        chain_budget; /* offsets of the chain entry's immediates and failure jumps, for finish */
    uint32_t chain_fail[2];
    bool overflow;
    bool verify;
    bool fp; /* mstatus.FS != Off: F/D instructions may be translated */
    bool fp_inline; /* the block has F/D arithmetic: MXCSR flags are cleared on entry */
    struct jit *jit;
    uint64_t tlb_key; /* data_key << 60, or'ed into TLB tags */
    uint32_t tlb_mask; /* the hart's (fixed while it has translations) */
    unsigned ninsns;  /* instructions translated so far */
    uint32_t body;    /* offset of the first instruction (back-edge target) */
    uint32_t back_pass[8]; /* offsets of the back edges' pass-length imm8, patched by finish */
    unsigned nback;
    bool loop_hint; /* the block jumps back to its start (translate.c) */
    uint8_t loop_end; /* ... from its instruction loop_end - 1 (the last such jump) */
    int8_t loop_reg; /* host register counting the batch down in a loop, or -1 (loop_sync()) */
    struct jit_exit exits[JIT_MAX_INSNS * 2 + 4];
    unsigned nexits;
    int8_t reg_map[32];   /* host register holding each guest register, or -1 (backend's choice) */
    uint8_t *direct;      /* process VM: guest va is at host direct + va (hart.direct_base); NULL: TLB */
    unsigned nsites;      /* direct accesses so far: offset of the host insn, its exit's index */
    uint32_t site_insn[JIT_MAX_INSNS];
    uint16_t site_exit[JIT_MAX_INSNS];
    /*
     * Guest registers an earlier direct access of the block used as its base
     * and that were not written since (-1: free slot): no range check needed.
     */
    int8_t chk_reg[4];
    unsigned chk_next;
    /*
     * Loops (system VMs): each of the first JIT_SLOTS loads and stores keeps the
     * page of its last access and that page's TLB addend in a slot of the
     * frame, valid while the block runs (emit_x86_64.c, slot_access()).
     */
    uint8_t nslots;    /* slots the block's entry invalidates */
    uint8_t slot_next; /* slots given out so far */
    struct jit_slot_site {
        uint32_t miss;   /* offset of the rel32 of the jump to the miss path */
        uint32_t miss2;  /* the same for the misalignment test, or 0 */
        uint32_t join;   /* where the miss path comes back (rdx = addend) */
        uint16_t exit;   /* index of the exit leaving before the instruction */
        int8_t base;     /* host register holding the base address */
        uint8_t size, kind, slot;
        int32_t imm;
    } slot_sites[JIT_SLOTS];
    uint32_t reg_written; /* guest registers the block may write */
    uint32_t reg_dirty;   /* ... and has written since the last write-back, at this point */
};

/* ---- backend (one file per host ISA) ---- */
bool jit_be_supported(void);
/* Block entry; insns: the instructions the block may contain (for register allocation). */
void jit_be_prologue(struct jit_emit *e, const struct decoded *insns, unsigned n);
/*
 * A non-control instruction at byte offset off of the block (insn: its 32-bit
 * form). False (nothing emitted) if not handled.
 */
bool jit_be_insn(struct jit_emit *e, const struct decoded *d, uint32_t off, uint32_t insn);
/* Two consecutive non-control instructions as one, when the backend has a better way for the pair
 * (nothing emitted when false). */
bool jit_be_pair(struct jit_emit *e, const struct decoded *a, const struct decoded *b);
/* A conditional branch: falls through, or leaves to off+imm (or loops when that is the block
 * start). */
bool jit_be_branch(struct jit_emit *e, const struct decoded *d, uint32_t off, unsigned len);
/* jal/jalr: writes rd and leaves the block. */
bool jit_be_jump(struct jit_emit *e, const struct decoded *d, uint32_t off, unsigned len);
/* A CSR instruction: runs it and ends the block. False (nothing emitted) if not handled. */
bool jit_be_system(struct jit_emit *e, const struct decoded *d, uint32_t off, unsigned len,
                   uint32_t insn);
/* The block's fall-through end: pc := entry + off, return code (JIT_EXIT_*). */
void jit_be_exit(struct jit_emit *e, uint32_t off, int code);
/* Emits the side-exit stubs and patches the jumps to them. */
void jit_be_finish(struct jit_emit *e);
/* The code every block of the cache jumps to, written at the start of an empty cache. */
void jit_be_shared(struct jit_emit *e);
/*
 * Makes this thread's instruction fetch see code just written through the
 * other view at addresses that held other code before (after a flush).
 */
void jit_be_sync(void);

/* ---- translator and code cache ---- */
/* Everything besides the physical pc that changes what a block means. */
static inline uint64_t jit_context(const struct hart *h)
{
    return (uint64_t)h->priv | (uint64_t)((h->mstatus & MSTATUS_FS) != 0) << 2 | h->data_key << 3;
}

static inline unsigned jit_hash(uintptr_t hostpc, uint64_t ctx)
{
    uint64_t k = ((uint64_t)hostpc >> 1) ^ (ctx * 0x9e3779b97f4a7c15ull);
    return (unsigned)((k * 0x9e3779b97f4a7c15ull) >> 40);
}
/*
 * The hash chain of every live block: other bits of the hash than the table's
 * index, so blocks that fight over one table entry do not also share a chain.
 */
static inline unsigned jit_bucket(uintptr_t hostpc, uint64_t ctx)
{
    return (jit_hash(hostpc, ctx) >> 10) & (JIT_BUCKETS - 1);
}
struct jit_block *jit_translate(struct hart *h, const uint8_t *host, uint64_t pc);
int jit_csr(struct hart *h, uint32_t insn, uint64_t ctx);
int jit_cache_init(struct jit *j, size_t size);
void jit_cache_destroy(struct jit *j);
void jit_cache_flush(struct jit *j);
void jit_cache_release(struct jit *j);
void jit_cache_fork(struct jit *j);

/* ---- faults of direct accesses (fault.c) ---- */
/* This thread runs j's code: installs the SIGSEGV/SIGBUS handler once. 0 or -errno. */
int jit_fault_enter(struct jit *j);
/* Forgets every site (an empty cache); sites of code past used are dropped by jit_fault_add. */
void jit_fault_reset(struct jit *j);
/* Adds a block's sites (offsets in the cache); false when the table cannot grow. */
bool jit_fault_add(struct jit *j, uint32_t block, const struct jit_fault_site *s, unsigned n);
/* Unmaps the table (the cache goes). */
void jit_fault_forget(struct jit *j);

#endif
