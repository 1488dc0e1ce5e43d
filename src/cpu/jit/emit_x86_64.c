/*
 * The x86-64 backend: guest registers live in struct hart (r15 points at it),
 * rax/rcx/rdx/rsi/rdi are scratch, and every guest instruction becomes a few
 * host instructions with memory operands. Loads and stores probe the hart's
 * software TLB inline (mmu.h); a miss, an MMIO page, or an access crossing the
 * page leaves the block before the instruction, which the interpreter then
 * completes, so exceptions are raised by exactly the interpreter's code.
 * Encodings: Intel SDM vol. 2, chapter 2 (REX, ModRM, SIB) and the opcode maps.
 */
#include <stddef.h>
#include <string.h>

#include "cpu/exec.h"
#include "cpu/fpu.h"
#include "cpu/jit/jit_internal.h"
#include "cpu/mmu.h"

#if defined(__x86_64__)

enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 };
enum { CC_B = 2, CC_AE = 3, CC_E = 4, CC_NE = 5, CC_A = 7, CC_S = 8, CC_L = 0xc, CC_GE = 0xd };
enum { ALU_ADD = 0, ALU_OR = 1, ALU_AND = 4, ALU_SUB = 5, ALU_XOR = 6, ALU_CMP = 7 };
enum { SH_SHL = 4, SH_SHR = 5, SH_SAR = 7 };
#define NO_INDEX (-1)

_Static_assert(sizeof(struct tlb_entry) == 16, "TLB entries are indexed with shl 4");

/*
 * r15 points HB bytes into struct hart, so that x1..x31 and pc are within a
 * signed 8-bit displacement: most operands on the hart encode in 4 bytes, not 7.
 */
#define HB 136
#define HOFF(field) ((int32_t)offsetof(struct hart, field) - HB)
#define X(i) (HOFF(x) + 8 * (int32_t)(i))
#define F(i) (HOFF(f) + 8 * (int32_t)(i))
#define MSTATUS HOFF(mstatus)
#define PC HOFF(pc)
#define INSTRET HOFF(instret)
#define BUDGET HOFF(budget)
#define CODE_GEN HOFF(code_gen)
#define FETCH_KEY HOFF(fetch_key)
#define FFLAGS HOFF(fflags)
#define FRM HOFF(frm)
_Static_assert(X(1) >= -128 && PC <= 127,
               "x1..x31 and pc must be disp8 from r15");
#define GOLDEN 0x9e3779b97f4a7c15ull

_Static_assert(sizeof(struct jit_entry) == 32 && offsetof(struct jit_entry, ctx) == 8 &&
                   offsetof(struct jit_entry, blk) == 24,
               "the inline lookup reads jit_entry fields at fixed offsets");
#define TLB(kind)                                                                                  \
    (HOFF(tlb) + (int32_t)((size_t)(kind) * sizeof(struct tlb_entry) * TLB_SIZE))

bool jit_be_supported(void)
{
    return true;
}

/*
 * The code was written through the writable view, another linear address
 * than the one it runs at: Intel SDM vol. 3, 8.1.3 ("Handling Self- and
 * Cross-Modifying Code") asks for a serializing instruction before it runs,
 * since the processor need not notice a store made through another linear
 * address. CPUID serializes; only needed where older code was overwritten.
 */
void jit_be_sync(void)
{
    unsigned a = 0, b, c, d;
    __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "=c"(c), "=d"(d) : : "memory");
}

static void byte(struct jit_emit *e, unsigned b)
{
    if (e->p >= e->end) {
        e->overflow = true;
        return;
    }
    *e->p++ = (uint8_t)b;
}

static void imm32(struct jit_emit *e, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        byte(e, (v >> (8 * i)) & 0xff);
}

static void imm64(struct jit_emit *e, uint64_t v)
{
    imm32(e, (uint32_t)v);
    imm32(e, (uint32_t)(v >> 32));
}

static bool fits8(int64_t v)
{
    return v >= -128 && v <= 127;
}

static bool fits32(int64_t v)
{
    return v >= INT32_MIN && v <= INT32_MAX;
}

static void rex(struct jit_emit *e, int w, int reg, int index, int base)
{
    unsigned r = 0x40 | (w ? 8 : 0) | ((reg & 8) ? 4 : 0) | ((index >= 0 && (index & 8)) ? 2 : 0) |
                 ((base & 8) ? 1 : 0);
    if (r != 0x40) byte(e, r);
}

static void opcode(struct jit_emit *e, unsigned op)
{
    if (op > 0xff) byte(e, op >> 8);
    byte(e, op & 0xff);
}

/* op reg, [base + index + disp] (w: 64-bit operand size). */
static void op_m(struct jit_emit *e, int w, unsigned op, int reg, int base, int index, int32_t disp)
{
    rex(e, w, reg, index, base);
    opcode(e, op);
    int mod = (disp == 0 && (base & 7) != RBP) ? 0 : fits8(disp) ? 1 : 2;
    if (index == NO_INDEX && (base & 7) != RSP) {
        byte(e, (unsigned)(mod << 6 | (reg & 7) << 3 | (base & 7)));
    } else {
        byte(e, (unsigned)(mod << 6 | (reg & 7) << 3 | RSP));
        byte(e, (unsigned)(((index == NO_INDEX ? RSP : index) & 7) << 3 | (base & 7)));
    }
    if (mod == 1)
        byte(e, (uint8_t)disp);
    else if (mod == 2)
        imm32(e, (uint32_t)disp);
}

/* op reg, rm with both registers. */
static void op_r(struct jit_emit *e, int w, unsigned op, int reg, int rm)
{
    rex(e, w, reg, NO_INDEX, rm);
    opcode(e, op);
    byte(e, (unsigned)(0xc0 | (reg & 7) << 3 | (rm & 7)));
}

static void ld(struct jit_emit *e, int r, int32_t disp)
{
    op_m(e, 1, 0x8b, r, R15, NO_INDEX, disp);
}
static void st(struct jit_emit *e, int r, int32_t disp)
{
    op_m(e, 1, 0x89, r, R15, NO_INDEX, disp);
}

static void mov_rr(struct jit_emit *e, int w, int dst, int src)
{
    op_r(e, w, 0x89, src, dst);
}

/*
 * Guest registers: the ones a block uses most live in host registers for the
 * whole block (loaded by the prologue, written back by the common exit tail
 * and around helper calls); the rest are memory operands on the hart.
 */
static const int8_t map_pool[] = {RBX, RBP, R12, R13, R14, R8, R9, R10, R11};
#define NMAP ((int)sizeof(map_pool))

static int hreg(const struct jit_emit *e, unsigned g)
{
    return g ? e->reg_map[g] : -1;
}

/* host register r := guest register g (x0: xor r, r, which sets the flags) */
static void get(struct jit_emit *e, int r, unsigned g)
{
    int hr = hreg(e, g);
    if (!g)
        op_r(e, 0, 0x33, r, r);
    else if (hr >= 0)
        op_r(e, 1, 0x8b, r, hr);
    else
        op_m(e, 1, 0x8b, r, R15, NO_INDEX, X(g));
}

/*
 * op r, guest register g (an "op reg, r/m" opcode: mov, add, sub, and, or, xor, cmp, imul).
 * x0 is no memory operand: add/sub/or/xor of it leave r as it is (callers of the 32-bit
 * forms sign-extend the low word afterwards), and/imul/mov give 0, cmp is test r, r.
 */
static void op_g(struct jit_emit *e, int w, unsigned op, int r, unsigned g)
{
    int hr = hreg(e, g);
    if (!g) {
        switch (op) {
        case 0x03: case 0x2b: case 0x0b: case 0x33:
            return;
        case 0x3b:
            op_r(e, w, 0x85, r, r);
            return;
        default: /* 0x8b, 0x23, 0x0faf */
            op_r(e, 0, 0x33, r, r);
            return;
        }
    }
    if (hr >= 0)
        op_r(e, w, op, r, hr);
    else
        op_m(e, w, op, r, R15, NO_INDEX, X(g));
}

/* guest register g := host register r (g != 0) */
static void put(struct jit_emit *e, int r, unsigned g)
{
    int hr = hreg(e, g);
    if (hr >= 0) {
        op_r(e, 1, 0x8b, hr, r);
        e->reg_dirty |= 1u << g;
    } else
        op_m(e, 1, 0x89, r, R15, NO_INDEX, X(g));
}

/* The hart's x[] catches up with the host registers in mask (before an exit or a helper that reads
 * it). */
static void regs_writeback_mask(struct jit_emit *e, uint32_t mask)
{
    for (unsigned g = 1; g < 32; g++)
        if (e->reg_map[g] >= 0 && (mask >> g & 1))
            op_m(e, 1, 0x89, e->reg_map[g], R15, NO_INDEX, X(g));
}

static void regs_writeback(struct jit_emit *e)
{
    regs_writeback_mask(e, e->reg_written);
}

static void regs_load(struct jit_emit *e)
{
    for (unsigned g = 1; g < 32; g++)
        if (e->reg_map[g] >= 0) op_m(e, 1, 0x8b, e->reg_map[g], R15, NO_INDEX, X(g));
}
static void movsxd(struct jit_emit *e, int dst, int src)
{
    op_r(e, 1, 0x63, dst, src);
}

static void mov_ri(struct jit_emit *e, int r, uint64_t v)
{
    if (v <= UINT32_MAX) { /* mov r32, imm32 zero-extends */
        rex(e, 0, 0, NO_INDEX, r);
        byte(e, 0xb8 + (r & 7));
        imm32(e, (uint32_t)v);
    } else if (fits32((int64_t)v)) {
        op_r(e, 1, 0xc7, 0, r);
        imm32(e, (uint32_t)v);
    } else {
        rex(e, 1, 0, NO_INDEX, r);
        byte(e, 0xb8 + (r & 7));
        imm64(e, v);
    }
}

/* alu r, imm32 (sign-extended). */
static void alu_ri(struct jit_emit *e, int ext, int w, int r, int32_t v)
{
    op_r(e, w, fits8(v) ? 0x83 : 0x81, ext, r);
    if (fits8(v))
        byte(e, (uint8_t)v);
    else
        imm32(e, (uint32_t)v);
}

/* alu qword [r15 + disp], imm32. */
static void alu_mi(struct jit_emit *e, int ext, int32_t disp, int32_t v)
{
    op_m(e, 1, fits8(v) ? 0x83 : 0x81, ext, R15, NO_INDEX, disp);
    if (fits8(v))
        byte(e, (uint8_t)v);
    else
        imm32(e, (uint32_t)v);
}

/* add r, 64-bit constant (rcx is clobbered when it does not fit 32 bits). */
static void add_const(struct jit_emit *e, int r, int64_t c)
{
    if (c == 0) return;
    if (fits32(c)) {
        alu_ri(e, ALU_ADD, 1, r, (int32_t)c);
    } else {
        mov_ri(e, RCX, (uint64_t)c);
        op_r(e, 1, 0x01, RCX, r);
    }
}

static void shift_ri(struct jit_emit *e, int ext, int w, int r, unsigned n)
{
    op_r(e, w, 0xc1, ext, r);
    byte(e, n);
}

static void shift_cl(struct jit_emit *e, int ext, int w, int r)
{
    op_r(e, w, 0xd3, ext, r);
}
static void setcc(struct jit_emit *e, int cc, int r)
{
    op_r(e, 0, 0x0f90 + (unsigned)cc, 0, r);
}

/* jcc rel32 to a side exit recorded for jit_be_finish. */
/* A side exit for jit_be_finish to give a stub; patch: its rel32's offset, 0 when nothing jumps to it. */
static void exit_record(struct jit_emit *e, uint32_t patch, int32_t delta, unsigned count, uint8_t kind)
{
    if (e->nexits < sizeof(e->exits) / sizeof(e->exits[0]))
        e->exits[e->nexits++] = (struct jit_exit){.patch = patch,
                                                  .delta = delta,
                                                  .count = (uint16_t)count,
                                                  .back = kind,
                                                  .dirty = e->reg_dirty};
    else
        e->overflow = true;
}

static void exit_jcc(struct jit_emit *e, int cc, int32_t delta, unsigned count, uint8_t kind)
{
    if (cc < 0) {
        byte(e, 0xe9);
    } else {
        byte(e, 0x0f);
        byte(e, 0x80 + (unsigned)cc);
    }
    exit_record(e, (uint32_t)(e->p - e->buf), delta, count, kind);
    imm32(e, 0);
}
/*
 * Exit kinds. NEXT: a direct jump (chained when on the same page, else looked
 * up); INTERP: leave before an instruction the interpreter must run; JALR: an
 * indirect jump (looked up); RET: always back to the dispatcher (after a CSR
 * instruction that changed the context, or a loop whose batch is spent).
 * A jump back to the block's own start is no exit: back_edge().
 */
enum { EXIT_NEXT = 0, EXIT_INTERP = 1, EXIT_JALR = 3, EXIT_RET = 4 };

static void patch_rel32(struct jit_emit *e, uint32_t at, const uint8_t *target)
{
    if (at + 4 > (uint32_t)(e->end - e->buf)) return;
    int32_t rel = (int32_t)(target - (e->buf + at + 4));
    memcpy(e->buf + at, &rel, 4);
}

/* jcc rel32 to a label patched later; returns the rel32's offset. */
static uint32_t jcc_fwd(struct jit_emit *e, int cc)
{
    if (cc < 0) {
        byte(e, 0xe9);
    } else {
        byte(e, 0x0f);
        byte(e, 0x80 + (unsigned)cc);
    }
    uint32_t at = (uint32_t)(e->p - e->buf);
    imm32(e, 0);
    return at;
}

static void jmp_to(struct jit_emit *e, const uint8_t *target)
{
    byte(e, 0xe9);
    uint32_t at = (uint32_t)(e->p - e->buf);
    imm32(e, 0);
    patch_rel32(e, at, target);
}

static void exit_stub_commit(struct jit_emit *e, int32_t delta, unsigned count)
{
    if (delta) alu_mi(e, ALU_ADD, PC, delta);
    if (count) {
        alu_mi(e, ALU_ADD, INSTRET, (int32_t)count);
        alu_mi(e, ALU_SUB, BUDGET, (int32_t)count);
    }
}

/*
 * Callee-saved registers the block may use, pushed by the prologue (with r15: 6 pushes, then a
 * frame of FRAME bytes: aligned). The frame: [rsp] scratch (MXCSR), then JIT_SLOTS slots of
 * {page, TLB addend} (slot_access()).
 */
#define FRAME (8 + 16 * JIT_SLOTS)
#define SLOT_PAGE(k) (8 + 16 * (int32_t)(k))
#define SLOT_ADDEND(k) (16 + 16 * (int32_t)(k))
static const uint8_t saved[] = {RBX, RBP, R12, R13, R14};

static void push(struct jit_emit *e, int r)
{
    if (r & 8) byte(e, 0x41);
    byte(e, 0x50 + (r & 7));
}

static void pop(struct jit_emit *e, int r)
{
    if (r & 8) byte(e, 0x41);
    byte(e, 0x58 + (r & 7));
}

/* Which guest registers an instruction reads or writes, for the allocation (over-approximated). */
static uint32_t uses(const struct decoded *d, uint32_t *written)
{
    uint32_t rd = 1u << d->rd, rs1 = 1u << d->rs1, rs2 = 1u << d->rs2;
    switch (d->op) {
    case OP_LUI:
    case OP_AUIPC:
    case OP_JAL:
        *written |= rd;
        return rd;
    case OP_JALR:
    case OP_LB:
    case OP_LH:
    case OP_LW:
    case OP_LD:
    case OP_LBU:
    case OP_LHU:
    case OP_LWU:
    case OP_ADDI:
    case OP_SLLI:
    case OP_SLTI:
    case OP_SLTIU:
    case OP_XORI:
    case OP_SRLI:
    case OP_SRAI:
    case OP_ORI:
    case OP_ANDI:
    case OP_ADDIW:
    case OP_SLLIW:
    case OP_SRLIW:
    case OP_SRAIW:
        *written |= rd;
        return rd | rs1;
    case OP_BEQ:
    case OP_BNE:
    case OP_BLT:
    case OP_BGE:
    case OP_BLTU:
    case OP_BGEU:
    case OP_SB:
    case OP_SH:
    case OP_SW:
    case OP_SD:
        return rs1 | rs2;
    case OP_FLW:
    case OP_FLD:
    case OP_FSW:
    case OP_FSD:
        return rs1;
    case OP_FENCE:
    case OP_FENCE_I:
    case OP_CBO:
    case OP_FLH:
    case OP_FSH:
    case OP_AMO:
    case OP_SYSTEM:
    case OP_FP:
    case OP_ILLEGAL:
        return 0;
    default: /* OP, OP-32, M */
        *written |= rd;
        return rd | rs1 | rs2;
    }
}

static void mxcsr_clear(struct jit_emit *e);
static void mxcsr_merge(struct jit_emit *e);
static void slots_clear(struct jit_emit *e);
static void loop_sync(struct jit_emit *e);

void jit_be_prologue(struct jit_emit *e, const struct decoded *insns, unsigned n)
{
    unsigned count[32] = {0};
    uint32_t written = 0;
    for (unsigned i = 0; i < n; i++) {
        uint32_t u = uses(&insns[i], &written);
        /* A loop's body runs many times, what follows it once: its uses count more. */
        unsigned weight = e->loop_hint && i < e->loop_end ? 8 : 1;
        for (unsigned g = 1; g < 32; g++)
            count[g] += (u >> g & 1) * weight;
    }
    memset(e->reg_map, -1, sizeof(e->reg_map));
    e->reg_written = written & ~1u;
    /* Direct accesses: U-mode code of a process VM, not under verify (its store log needs the TLB path). */
    e->nsites = 0;
    memset(e->chk_reg, -1, sizeof(e->chk_reg));
    if (e->direct && (e->verify || (e->ctx & 3) != PRIV_U || jit_fault_enter(e->jit)))
        e->direct = NULL; /* system VMs never get here: their direct_base is NULL */
    int k = 0;
    for (; k < NMAP; k++) { /* the most used first; a register used once stays in memory */
        unsigned best = 0;
        for (unsigned g = 1; g < 32; g++)
            if (e->reg_map[g] < 0 && count[g] >= 2 && count[g] > count[best]) best = g;
        if (!best) break;
        e->reg_map[best] = map_pool[k];
    }
    /* A loop's loads and stores get slots (slot_access()): the first JIT_SLOTS of them. */
    e->nslots = e->slot_next = 0;
    if (e->loop_hint && !e->verify && !e->direct)
        for (unsigned i = 0; i < n && e->nslots < JIT_SLOTS; i++)
            e->nslots += insns[i].op >= OP_LB && insns[i].op <= OP_SD;
    /* A loop with a host register to spare counts its batch down there (loop_sync()). */
    e->loop_reg = e->loop_hint && !e->verify && k < NMAP ? map_pool[NMAP - 1] : -1;
    push(e, R15);
    for (size_t i = 0; i < sizeof(saved); i++)
        push(e, saved[i]);
    alu_ri(e, ALU_SUB, 1, RSP, FRAME);
    op_m(e, 1, 0x8d, R15, RDI, NO_INDEX, HB); /* lea r15, [rdi + HB] */
    byte(e, 0xeb); /* jmp short over the chain entry: the dispatcher has checked all of it */
    uint8_t *skip = e->p;
    byte(e, 0);
    /*
     * Chain entry: another block of this page jumps here with its registers
     * written back, pc/instret/budget committed and this prologue's frame.
     * Come in only if the batch has room for this block and no FENCE.I since
     * it was last checked against guest memory; else return to the dispatcher.
     */
    e->chain_entry = (uint32_t)(e->p - e->buf);
    op_m(e, 1, 0x81, ALU_CMP, R15, NO_INDEX, BUDGET);
    e->chain_budget = (uint32_t)(e->p - e->buf);
    imm32(e, 0); /* the block's length, known at finish */
    byte(e, 0x0f);
    byte(e, 0x8c); /* jl fail */
    e->chain_fail[0] = (uint32_t)(e->p - e->buf);
    imm32(e, 0);
    mov_ri(e, RAX, (uint64_t)(uintptr_t)e->gen);
    op_m(e, 1, 0x8b, RAX, RAX, NO_INDEX, 0);
    op_m(e, 1, 0x3b, RAX, R15, NO_INDEX, CODE_GEN);
    byte(e, 0x0f);
    byte(e, 0x85); /* jne fail */
    e->chain_fail[1] = (uint32_t)(e->p - e->buf);
    imm32(e, 0);
    if (!e->overflow) *skip = (uint8_t)(e->p - skip - 1);
    for (unsigned i = 0; i < n && e->fp && !e->fp_inline; i++)
        e->fp_inline = insns[i].op == OP_FP;
    if (e->fp_inline) mxcsr_clear(e); /* on entry and chain entry, not on back edges */
    slots_clear(e);
    regs_load(e);
    if (e->loop_reg >= 0) op_m(e, 1, 0x8b, e->loop_reg, R15, NO_INDEX, BUDGET); /* mov lr, [budget] */
    e->body = (uint32_t)(e->p - e->buf);
}

/* dst := the `size`-byte value at [b + disp], zero- or sign-extended to 64 bits. */
static void load_mx(struct jit_emit *e, int dst, unsigned size, bool sign, int b, int x, int32_t disp)
{
    switch (size) {
    case 1:
        op_m(e, sign, sign ? 0x0fbe : 0x0fb6, dst, b, x, disp);
        break;
    case 2:
        op_m(e, sign, sign ? 0x0fbf : 0x0fb7, dst, b, x, disp);
        break;
    case 4:
        op_m(e, sign, sign ? 0x63 : 0x8b, dst, b, x, disp);
        break;
    default:
        op_m(e, 1, 0x8b, dst, b, x, disp);
        break;
    }
}

static void load_m(struct jit_emit *e, int dst, unsigned size, bool sign, int b, int32_t disp)
{
    load_mx(e, dst, size, sign, b, NO_INDEX, disp);
}

/* [b + x + disp] := the low `size` bytes of src (a byte store from spl..dil needs a REX: callers
 * avoid those). */
static void store_mx(struct jit_emit *e, int src, unsigned size, int b, int x, int32_t disp)
{
    switch (size) {
    case 1:
        op_m(e, 0, 0x88, src, b, x, disp);
        break;
    case 2:
        byte(e, 0x66);
        op_m(e, 0, 0x89, src, b, x, disp);
        break;
    case 4:
        op_m(e, 0, 0x89, src, b, x, disp);
        break;
    default:
        op_m(e, 1, 0x89, src, b, x, disp);
        break;
    }
}

static void store_m(struct jit_emit *e, int src, unsigned size, int b, int32_t disp)
{
    store_mx(e, src, size, b, NO_INDEX, disp);
}

/* [b + disp] := 0 of `size` bytes (a store of x0), an immediate: no register to load. */
static void store_zero(struct jit_emit *e, unsigned size, int b, int32_t disp)
{
    if (size == 1) {
        op_m(e, 0, 0xc6, 0, b, NO_INDEX, disp);
        byte(e, 0);
        return;
    }
    if (size == 2) byte(e, 0x66);
    op_m(e, size == 8, 0xc7, 0, b, NO_INDEX, disp);
    if (size == 2) {
        byte(e, 0);
        byte(e, 0);
    } else {
        imm32(e, 0);
    }
}

/* The same at [rax + disp] (after a TLB probe). */
static void load_rax(struct jit_emit *e, int dst, unsigned size, bool sign, int32_t disp)
{
    load_m(e, dst, size, sign, RAX, disp);
}

static void store_rax(struct jit_emit *e, int src, unsigned size, int32_t disp)
{
    store_m(e, src, size, RAX, disp);
}

/*
 * rax := host address of x[rs1] + imm through the TLB of `kind`, or leave the
 * block before this instruction (the interpreter's mem_load/mem_store then
 * take their slow path, with exact traps).
 */
/*
 * The software TLB compare shared by every probe: rcx holds the page number of
 * the access's last byte, edx its first byte's address (low 32 bits are
 * enough). Leaves edx = the entry's offset ((va >> 12) & tlb_mask) * 16 and the
 * flags of cmp rcx, tag (with the translation key in bits 60-63).
 */
static void tlb_tag_cmp(struct jit_emit *e, int kind)
{
    shift_ri(e, SH_SHR, 0, RDX, PAGE_SHIFT - 4);
    alu_ri(e, ALU_AND, 0, RDX, (int32_t)(e->tlb_mask << 4));
    for (unsigned bit = 60; bit < 64; bit++) /* the key: bts rcx, bit (5 bytes, not a 10-byte mov) */
        if (e->tlb_key >> bit & 1) {
            op_r(e, 1, 0x0fba, 5, RCX);
            byte(e, bit);
        }
    op_m(e, 1, 0x3b, RCX, R15, RDX, TLB(kind)); /* cmp rcx, tag */
}

static void tlb_addr(struct jit_emit *e, int kind, unsigned rs1, int32_t imm, unsigned size,
                     uint32_t off)
{
    get(e, RAX, rs1);
    if (imm) alu_ri(e, ALU_ADD, 1, RAX, imm);
    /*
     * The tag is compared with the page of the access's last byte: an access
     * crossing into the next page cannot match the entry of its first page.
     */
    if (size > 1)
        op_m(e, 1, 0x8d, RCX, RAX, NO_INDEX, (int32_t)size - 1); /* lea rcx, [rax + size - 1] */
    else
        mov_rr(e, 1, RCX, RAX);
    shift_ri(e, SH_SHR, 1, RCX, PAGE_SHIFT);
    mov_rr(e, 0, RDX, RAX);
    tlb_tag_cmp(e, kind);
    exit_jcc(e, CC_NE, (int32_t)off, e->ninsns, EXIT_INTERP);
    op_m(e, 1, 0x03, RAX, R15, RDX, TLB(kind) + 8); /* add rax, addend */
}

/* A side exit at the current point with no jump to it: only fault.c resumes there. */
static void exit_nojump(struct jit_emit *e, int32_t delta, unsigned count)
{
    exit_record(e, 0, delta, count, EXIT_INTERP); /* offset 0 is never a jump */
}

/* Guest register g was written (or may have been): range checks on it no longer hold. */
static void direct_forget(struct jit_emit *e, int g)
{
    for (unsigned i = 0; i < 4; i++)
        if (g < 0 || e->chk_reg[i] == g) e->chk_reg[i] = -1;
}

/*
 * Process VMs (hart.direct_base): the address x[rs1] + imm is checked to be
 * below 2^38 (else the block leaves before this instruction and the
 * interpreter raises the page fault), and the access is then the returned
 * memory operand {*base, disp}: guest va lives at host direct + va with the
 * guest's protections, so there is no TLB probe. A fault of the access itself
 * is sent to the same exit by fault.c; direct_site() records where the access
 * instruction is. The check is skipped when an earlier access of the block
 * used the same register, unchanged since: that access succeeded, so its
 * address was in [64 KiB, 2^38) (nothing is ever mapped below MM_USER_MIN),
 * and this one, at most 4 KiB away, is inside the window or its PROT_NONE
 * guard above 2^38 (HART_DIRECT_GUARD), where it faults like any other.
 */
static int32_t direct_addr(struct jit_emit *e, unsigned rs1, int32_t imm, uint32_t off, int *base)
{
    _Static_assert(HART_DIRECT_GUARD >= 2 * 4096, "the guard covers the largest skipped offset");
    int r = hreg(e, rs1);
    if (r < 0) {
        get(e, RAX, rs1);
        r = RAX;
    }
    bool checked = false;
    for (unsigned i = 0; i < 4 && rs1; i++)
        checked |= e->chk_reg[i] == (int8_t)rs1;
    if (checked) {
        exit_nojump(e, (int32_t)off, e->ninsns);
    } else {
        int a = r;
        if (imm) {
            op_m(e, 1, 0x8d, RCX, r, NO_INDEX, imm); /* lea rcx, [r + imm] */
            a = RCX;
        }
        /* cmp a, [rip + limit]; jae: one fused compare-and-branch (the limit is in the shared code) */
        rex(e, 1, a, NO_INDEX, 0);
        byte(e, 0x3b);
        byte(e, (unsigned)((a & 7) << 3 | 5));
        imm32(e, (uint32_t)(int32_t)(e->jit->sh_direct_limit - (e->p + 4)));
        exit_jcc(e, CC_AE, (int32_t)off, e->ninsns, EXIT_INTERP);
        if (rs1) e->chk_reg[e->chk_next++ & 3] = (int8_t)rs1;
    }
    if (e->nsites < JIT_MAX_INSNS && e->nexits)
        e->site_exit[e->nsites] = (uint16_t)(e->nexits - 1);
    uintptr_t d = (uintptr_t)e->direct;
    if (d + 4096 <= INT32_MAX) { /* the window is low: [r + imm + direct] */
        *base = r;
        return (int32_t)d + imm;
    }
    if (r != RAX) mov_rr(e, 1, RAX, r);
    op_m(e, 1, 0x03, RAX, R15, NO_INDEX, HOFF(direct_base)); /* add rax, [r15 + direct_base] */
    *base = RAX;
    return imm;
}

/* The next instruction emitted is the access of the direct_addr just before. */
static void direct_site(struct jit_emit *e)
{
    if (e->nsites < JIT_MAX_INSNS)
        e->site_insn[e->nsites++] = (uint32_t)(e->p - e->buf);
    else
        e->overflow = true;
}

/* verify mode: append {address, old value, size} to the hart's store log. */
static void log_store(struct jit_emit *e, unsigned size)
{
    struct jit *j = e->jit;
    mov_ri(e, RSI, (uint64_t)(uintptr_t)&j->log_n);
    op_m(e, 1, 0x8b, RDI, RSI, NO_INDEX, 0); /* mov rdi, [rsi] */
    shift_ri(e, SH_SHL, 1, RDI, 5);
    _Static_assert(sizeof(struct jit_log) == 32, "log entries are indexed with shl 5");
    int32_t base = (int32_t)((uintptr_t)&j->log[0] - (uintptr_t)&j->log_n);
    op_m(e, 1, 0x8d, RDI, RSI, RDI, base);   /* lea rdi, [rsi + rdi + base] */
    op_m(e, 1, 0x89, RAX, RDI, NO_INDEX, 0); /* addr */
    load_rax(e, RDX, size, false, 0);
    op_m(e, 1, 0x89, RDX, RDI, NO_INDEX, 8); /* old */
    op_m(e, 1, 0xc7, 0, RDI, NO_INDEX, 16);  /* size */
    imm32(e, size);
    op_m(e, 1, 0x83, ALU_ADD, RSI, NO_INDEX, 0); /* log_n++ */
    byte(e, 1);
}

/* rdi := the hart (first argument of a helper). */
static void hart_arg(struct jit_emit *e)
{
    op_m(e, 1, 0x8d, RDI, R15, NO_INDEX, -HB);
}

/*
 * MXCSR := all exceptions masked, RNE, no FTZ/DAZ, no flags (mov dword [rsp],
 * 0x1f80; ldmxcsr [rsp]: the frame's scratch slot). Inline FP operations keep
 * MXCSR's sticky flags a subset of the guest's fflags and never clear them
 * (ldmxcsr is slow): at block entry, and after a helper (its host arithmetic
 * sets flags the guest did not get), the flags are cleared.
 */
static void mxcsr_clear(struct jit_emit *e)
{
    byte(e, 0xc7), byte(e, 0x04), byte(e, 0x24), imm32(e, 0x1f80);
    byte(e, 0x0f), byte(e, 0xae), byte(e, 0x14), byte(e, 0x24);
}

/* Helpers may read or write x[] (fpu_exec) and clobber r8-r11: the host registers are synced
 * around. */
static void call_helper(struct jit_emit *e, const void *fn)
{
    direct_forget(e, -1); /* a helper may write any guest register */
    /* All it may write: a later back edge can make registers written further down dirty here. */
    regs_writeback(e);
    e->reg_dirty = 0;
    if (e->fp_inline) mxcsr_merge(e); /* the helper may read fflags, and MXCSR is cleared after it */
    loop_sync(e); /* ... or instret; and it may clobber lr */
    mov_ri(e, RAX, (uint64_t)(uintptr_t)fn);
    byte(e, 0xff); /* call rax */
    byte(e, 0xd0);
    if (e->fp_inline) mxcsr_clear(e);
    slots_clear(e); /* a helper might change the TLB */
    regs_load(e);
    if (e->loop_reg >= 0) op_m(e, 1, 0x8b, e->loop_reg, R15, NO_INDEX, BUDGET);
}

static uint64_t helper_muldivw(unsigned f3, uint64_t a, uint64_t b)
{
    uint64_t v = 0;
    exec_muldiv_w(f3, a, b, &v);
    return v;
}

/* rd := rs (w), or rs's low word sign-extended (!w): mv, sext.w and their kin (rd != 0). */
static void mov_g(struct jit_emit *e, unsigned rd, unsigned rs, int w)
{
    int hd = hreg(e, rd), hs = hreg(e, rs);
    int r = hd >= 0 ? hd : RAX;
    if (w && rd == rs) return; /* mv x, x */
    if (w && hd < 0 && hs >= 0) { /* straight into the hart's copy */
        st(e, hs, X(rd));
        return;
    }
    if (!rs)
        op_r(e, 0, 0x33, r, r);
    else if (w && hs >= 0)
        op_r(e, 1, 0x8b, r, hs);
    else if (w)
        op_m(e, 1, 0x8b, r, R15, NO_INDEX, X(rs));
    else if (hs >= 0)
        movsxd(e, r, hs);
    else
        op_m(e, 1, 0x63, r, R15, NO_INDEX, X(rs)); /* movsxd r, dword [x(rs)] */
    if (hd >= 0)
        e->reg_dirty |= 1u << rd;
    else
        put(e, RAX, rd);
}

/* rd := a constant (rd != 0). */
static void set_const(struct jit_emit *e, unsigned rd, int64_t v)
{
    int hd = hreg(e, rd);
    if (hd >= 0) {
        if (v == 0)
            op_r(e, 0, 0x33, hd, hd);
        else
            mov_ri(e, hd, (uint64_t)v);
        e->reg_dirty |= 1u << rd;
    } else if (fits32(v)) {
        op_m(e, 1, 0xc7, 0, R15, NO_INDEX, X(rd));
        imm32(e, (uint32_t)v);
    } else {
        mov_ri(e, RAX, (uint64_t)v);
        put(e, RAX, rd);
    }
}

static bool alu_rr(struct jit_emit *e, const struct decoded *d)
{
    if (d->rd && (d->op == OP_ADD || d->op == OP_OR || d->op == OP_XOR || d->op == OP_ADDW) &&
        (!d->rs1 || !d->rs2)) { /* mv (c.mv is add rd, x0, rs2), sext.w as addw */
        mov_g(e, d->rd, d->rs1 ? d->rs1 : d->rs2, d->op != OP_ADDW);
        return true;
    }
    if (d->rd && (d->op == OP_SUB || d->op == OP_SUBW) && !d->rs2) {
        mov_g(e, d->rd, d->rs1, d->op == OP_SUB);
        return true;
    }
    if (d->rd && d->rd == d->rs1 && d->rs2 != d->rd && hreg(e, d->rd) < 0) {
        /* x op= y on the hart's copy of x: op [x], y (a read-modify-write, no load and store) */
        unsigned opc = 0;
        switch (d->op) {
        case OP_ADD: opc = 0x01; break;
        case OP_SUB: opc = 0x29; break;
        case OP_AND: opc = 0x21; break;
        case OP_OR: opc = 0x09; break;
        case OP_XOR: opc = 0x31; break;
        default: break;
        }
        if (opc) {
            int hs = hreg(e, d->rs2);
            if (hs < 0) {
                get(e, RAX, d->rs2);
                hs = RAX;
            }
            op_m(e, 1, opc, hs, R15, NO_INDEX, X(d->rd));
            return true;
        }
    }
    static const struct {
        uint8_t op, opc, w, cc, shift;
    } t[] = {
        {OP_ADD, 0x03, 1, 0, 0},     {OP_SUB, 0x2b, 1, 0, 0},    {OP_AND, 0x23, 1, 0, 0},
        {OP_OR, 0x0b, 1, 0, 0},      {OP_XOR, 0x33, 1, 0, 0},    {OP_SLT, 0x3b, 1, CC_L, 0},
        {OP_SLTU, 0x3b, 1, CC_B, 0}, {OP_SLL, 0, 1, 0, SH_SHL},  {OP_SRL, 0, 1, 0, SH_SHR},
        {OP_SRA, 0, 1, 0, SH_SAR},   {OP_ADDW, 0x03, 0, 0, 0},   {OP_SUBW, 0x2b, 0, 0, 0},
        {OP_SLLW, 0, 0, 0, SH_SHL},  {OP_SRLW, 0, 0, 0, SH_SHR}, {OP_SRAW, 0, 0, 0, SH_SAR},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        if (t[i].op != d->op) continue;
        if (!d->rd) return true;
        if (t[i].shift) {
            get(e, RCX, d->rs2);
            op_g(e, t[i].w, 0x8b, RAX, d->rs1);
            shift_cl(e, t[i].shift, t[i].w, RAX); /* x86 masks the count to 5/6 bits, like RISC-V */
        } else if (t[i].cc) {
            op_r(e, 0, 0x31, RCX, RCX); /* xor ecx, ecx (before the flags are set) */
            get(e, RAX, d->rs1);
            op_g(e, 1, 0x3b, RAX, d->rs2);
            setcc(e, t[i].cc, RCX);
            put(e, RCX, d->rd);
            return true;
        } else if (hreg(e, d->rd) >= 0 && (d->rs2 != d->rd || d->rs1 == d->rd)) {
            /* rd lives in a host register: compute in place (rd := rs1; rd op= rs2) */
            int hd = hreg(e, d->rd);
            if (hreg(e, d->rs1) != hd) get(e, hd, d->rs1);
            op_g(e, t[i].w, t[i].opc, hd, d->rs2);
            if (!t[i].w) movsxd(e, hd, hd);
            e->reg_dirty |= 1u << d->rd;
            return true;
        } else {
            op_g(e, t[i].w, 0x8b, RAX, d->rs1);
            op_g(e, t[i].w, t[i].opc, RAX, d->rs2);
        }
        if (!t[i].w) movsxd(e, RAX, RAX); /* *W results are sign-extended 32-bit values */
        put(e, RAX, d->rd);
        return true;
    }
    return false;
}

static bool alu_imm(struct jit_emit *e, const struct decoded *d)
{
    if (d->rd && !d->rs1 &&
        (d->op == OP_ADDI || d->op == OP_ADDIW || d->op == OP_ORI || d->op == OP_XORI)) {
        set_const(e, d->rd, d->imm); /* li */
        return true;
    }
    if (d->rd && !d->imm && (d->op == OP_ADDI || d->op == OP_ADDIW || d->op == OP_ORI || d->op == OP_XORI)) {
        mov_g(e, d->rd, d->rs1, d->op != OP_ADDIW); /* mv, sext.w */
        return true;
    }
    static const struct {
        uint8_t op, ext, w, cc, shift;
    } t[] = {
        {OP_ADDI, ALU_ADD, 1, 0, 0},  {OP_XORI, ALU_XOR, 1, 0, 0}, {OP_ORI, ALU_OR, 1, 0, 0},
        {OP_ANDI, ALU_AND, 1, 0, 0},  {OP_SLTI, 0, 1, CC_L, 0},    {OP_SLTIU, 0, 1, CC_B, 0},
        {OP_SLLI, 0, 1, 0, SH_SHL},   {OP_SRLI, 0, 1, 0, SH_SHR},  {OP_SRAI, 0, 1, 0, SH_SAR},
        {OP_ADDIW, ALU_ADD, 0, 0, 0}, {OP_SLLIW, 0, 0, 0, SH_SHL}, {OP_SRLIW, 0, 0, 0, SH_SHR},
        {OP_SRAIW, 0, 0, 0, SH_SAR},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        if (t[i].op != d->op) continue;
        if (!d->rd) return true;
        if (t[i].cc) {
            op_r(e, 0, 0x31, RCX, RCX);
            get(e, RAX, d->rs1);
            alu_ri(e, ALU_CMP, 1, RAX, d->imm);
            setcc(e, t[i].cc, RCX);
            put(e, RCX, d->rd);
            return true;
        }
        if (t[i].w && d->rd == d->rs1 && hreg(e, d->rd) < 0) {
            /* x op= imm on the hart's copy of x: one read-modify-write of memory */
            if (t[i].shift) {
                if (d->imm) {
                    op_m(e, 1, 0xc1, t[i].shift, R15, NO_INDEX, X(d->rd));
                    byte(e, (unsigned)d->imm);
                }
            } else {
                alu_mi(e, t[i].ext, X(d->rd), d->imm);
            }
            return true;
        }
        /* in place when rd lives in a host register, else through rax */
        int r = hreg(e, d->rd) >= 0 ? hreg(e, d->rd) : RAX;
        if (r == RAX || hreg(e, d->rs1) != r) op_g(e, r == RAX ? t[i].w : 1, 0x8b, r, d->rs1);
        if (t[i].shift) {
            if (d->imm) shift_ri(e, t[i].shift, t[i].w, r, (unsigned)d->imm);
        } else if (d->imm || t[i].ext == ALU_AND) {
            alu_ri(e, t[i].ext, t[i].w, r, d->imm);
        }
        /* srliw by 1..31 leaves bit 31 clear: the 32-bit shift's zero extension is the sign's */
        if (!t[i].w && !(d->op == OP_SRLIW && d->imm)) movsxd(e, r, r);
        if (r == RAX)
            put(e, RAX, d->rd);
        else
            e->reg_dirty |= 1u << d->rd;
        return true;
    }
    return false;
}

/*
 * Slots: in a loop, a load or store usually touches the page it touched on the
 * previous pass. Each of the block's first JIT_SLOTS accesses keeps, in its
 * slot of the frame, the page number of its last access (va >> 12) and the
 * page's TLB addend: a match (and an aligned access, so it cannot cross the
 * page) is the access, [base + addend + imm], with no TLB index to compute
 * and no load that depends on the address before the data's own. Anything
 * else takes the TLB probe out of line (slot_miss()), which fills the slot.
 * A slot is what the TLB said while the block runs: slots are cleared at
 * every entry (the dispatcher's and chained) and after every helper call, and
 * nothing else changes a hart's TLB while its translated code runs (flushes
 * come from its own thread: sfence.vma, CSR writes, batch boundaries). A
 * cleared slot holds all-ones, which no va >> 12 equals.
 */
static void slots_clear(struct jit_emit *e)
{
    for (unsigned k = 0; k < e->nslots; k++) {
        op_m(e, 1, 0xc7, 0, RSP, NO_INDEX, SLOT_PAGE(k));
        imm32(e, 0xffffffffu);
    }
}

static void slot_access(struct jit_emit *e, const struct decoded *d, unsigned size, bool sign,
                        bool store, uint32_t off)
{
    unsigned k = e->slot_next++;
    int rb = hreg(e, d->rs1);
    if (rb < 0) {
        get(e, RAX, d->rs1);
        rb = RAX;
    }
    struct jit_slot_site *ss = &e->slot_sites[k];
    *ss = (struct jit_slot_site){.base = (int8_t)rb, .size = (uint8_t)size,
                                 .kind = store ? TLB_WRITE : TLB_READ, .slot = (uint8_t)k,
                                 .imm = d->imm};
    op_m(e, 1, 0x8d, RCX, rb, NO_INDEX, d->imm); /* lea rcx, [base + imm] */
    if (size > 1) {
        byte(e, 0xf6); /* test cl, size - 1 */
        byte(e, 0xc1);
        byte(e, size - 1);
        ss->miss2 = jcc_fwd(e, CC_NE);
    }
    shift_ri(e, SH_SHR, 1, RCX, PAGE_SHIFT);
    op_m(e, 1, 0x3b, RCX, RSP, NO_INDEX, SLOT_PAGE(k)); /* cmp rcx, [slot page] */
    ss->miss = jcc_fwd(e, CC_NE);
    op_m(e, 1, 0x8b, RDX, RSP, NO_INDEX, SLOT_ADDEND(k)); /* mov rdx, [slot addend] */
    ss->join = (uint32_t)(e->p - e->buf);
    exit_record(e, 0, (int32_t)off, e->ninsns, EXIT_INTERP); /* the miss path's TLB miss */
    ss->exit = (uint16_t)(e->nexits - 1);
    if (store) {
        int hs = hreg(e, d->rs2);
        if (hs < 0 || (size == 1 && hs >= RSP && hs <= RDI)) { /* spl..dil need a REX: use cl */
            get(e, RCX, d->rs2);
            hs = RCX;
        }
        store_mx(e, hs, size, rb, RDX, d->imm);
    } else {
        int hd = hreg(e, d->rd);
        load_mx(e, hd >= 0 ? hd : RCX, size, sign, rb, RDX, d->imm);
        if (hd >= 0)
            e->reg_dirty |= 1u << d->rd;
        else if (d->rd)
            put(e, RCX, d->rd);
    }
}

/* The TLB probe of a slot's access, out of line: fills the slot, or leaves before the instruction. */
static void slot_miss(struct jit_emit *e, const struct jit_slot_site *ss)
{
    patch_rel32(e, ss->miss, e->p);
    if (ss->miss2) patch_rel32(e, ss->miss2, e->p);
    int rb = ss->base;
    op_m(e, 1, 0x8d, RCX, rb, NO_INDEX, ss->imm + (int32_t)ss->size - 1); /* the last byte's page */
    shift_ri(e, SH_SHR, 1, RCX, PAGE_SHIFT);
    op_m(e, 0, 0x8d, RDX, rb, NO_INDEX, ss->imm); /* lea edx, [base + imm]: the first byte's entry */
    tlb_tag_cmp(e, ss->kind);
    e->exits[ss->exit].patch = jcc_fwd(e, CC_NE);
    op_m(e, 1, 0x8b, RDX, R15, RDX, TLB(ss->kind) + 8); /* mov rdx, addend */
    op_m(e, 1, 0x8d, RCX, rb, NO_INDEX, ss->imm);
    shift_ri(e, SH_SHR, 1, RCX, PAGE_SHIFT);
    op_m(e, 1, 0x89, RCX, RSP, NO_INDEX, SLOT_PAGE(ss->slot));
    op_m(e, 1, 0x89, RDX, RSP, NO_INDEX, SLOT_ADDEND(ss->slot));
    jmp_to(e, e->buf + ss->join);
}

static bool mem_op(struct jit_emit *e, const struct decoded *d, uint32_t off)
{
    static const struct {
        uint8_t op, size, sign, store;
    } t[] = {
        {OP_LB, 1, 1, 0},  {OP_LH, 2, 1, 0},  {OP_LW, 4, 1, 0},  {OP_LD, 8, 0, 0},
        {OP_LBU, 1, 0, 0}, {OP_LHU, 2, 0, 0}, {OP_LWU, 4, 0, 0}, {OP_SB, 1, 0, 1},
        {OP_SH, 2, 0, 1},  {OP_SW, 4, 0, 1},  {OP_SD, 8, 0, 1},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        if (t[i].op != d->op) continue;
        if (e->direct && t[i].store) {
            int b;
            int32_t disp = direct_addr(e, d->rs1, d->imm, off, &b);
            int hs = hreg(e, d->rs2);
            if (t[i].size == 1 && hs >= RSP && hs <= RDI) hs = -1; /* spl..dil need a REX: use cl */
            if (hs < 0 && d->rs2) get(e, RCX, d->rs2);
            direct_site(e);
            if (!d->rs2)
                store_zero(e, t[i].size, b, disp);
            else
                store_m(e, hs >= 0 ? hs : RCX, t[i].size, b, disp);
        } else if (e->direct) {
            int b;
            int32_t disp = direct_addr(e, d->rs1, d->imm, off, &b);
            int hd = hreg(e, d->rd);
            direct_site(e);
            load_m(e, hd >= 0 ? hd : RCX, t[i].size, t[i].sign, b, disp); /* a fault leaves hd as it was */
            if (hd >= 0)
                e->reg_dirty |= 1u << d->rd;
            else if (d->rd)
                put(e, RCX, d->rd);
        } else if (e->slot_next < e->nslots) {
            slot_access(e, d, t[i].size, t[i].sign, t[i].store, off);
        } else if (t[i].store) {
            tlb_addr(e, TLB_WRITE, d->rs1, d->imm, t[i].size, off);
            if (e->verify) log_store(e, t[i].size);
            get(e, RCX, d->rs2);
            store_rax(e, RCX, t[i].size, 0);
        } else {
            tlb_addr(e, TLB_READ, d->rs1, d->imm, t[i].size, off);
            if (hreg(e, d->rd) >= 0) { /* straight into rd's host register */
                load_rax(e, hreg(e, d->rd), t[i].size, t[i].sign, 0);
                e->reg_dirty |= 1u << d->rd;
            } else {
                load_rax(e, RCX, t[i].size, t[i].sign, 0);
                if (d->rd) put(e, RCX, d->rd);
            }
        }
        return true;
    }
    return false;
}

/* mstatus.FS := Dirty, as the interpreter does after an FP load or operation (priv 3.1.6.6). */
static void fs_dirty(struct jit_emit *e)
{
    alu_mi(e, ALU_OR, MSTATUS, (int32_t)MSTATUS_FS);
}

/* F/D loads and stores: only translated while FS != Off (part of the block's context). */
static bool fp_mem(struct jit_emit *e, const struct decoded *d, uint32_t off)
{
    switch (d->op) {
    case OP_FLW:
    case OP_FLD: {
        unsigned size = d->op == OP_FLW ? 4 : 8;
        int32_t disp = 0;
        int b = RAX;
        if (e->direct) {
            disp = direct_addr(e, d->rs1, d->imm, off, &b);
            direct_site(e);
        } else {
            tlb_addr(e, TLB_READ, d->rs1, d->imm, size, off);
        }
        load_m(e, RCX, size, false, b, disp);
        if (size == 4) { /* NaN-boxed (unpriv 13.2) */
            mov_ri(e, RDX, 0xffffffff00000000ull);
            op_r(e, 1, 0x09, RDX, RCX);
        }
        st(e, RCX, F(d->rd));
        fs_dirty(e);
        return true;
    }
    case OP_FSW:
    case OP_FSD: {
        unsigned size = d->op == OP_FSW ? 4 : 8;
        int32_t disp = 0;
        int b = RAX;
        if (e->direct) {
            disp = direct_addr(e, d->rs1, d->imm, off, &b);
            ld(e, RCX, F(d->rs2));
            direct_site(e);
        } else {
            tlb_addr(e, TLB_WRITE, d->rs1, d->imm, size, off);
            if (e->verify) log_store(e, size);
            ld(e, RCX, F(d->rs2));
        }
        store_m(e, RCX, size, b, disp);
        return true;
    }
    default:
        return false;
    }
}

/* FP arithmetic through fpu.c (exact rounding and flags); an illegal one leaves for the
 * interpreter. */
static void fp_helper(struct jit_emit *e, uint32_t off, uint32_t insn)
{
    hart_arg(e);
    mov_ri(e, RSI, insn);
    call_helper(e, (const void *)fpu_exec);
    op_r(e, 0, 0x85, RAX, RAX); /* test eax, eax */
    exit_jcc(e, CC_NE, (int32_t)off, e->ninsns, EXIT_INTERP);
}

/*
 * MXCSR exception flags (Intel SDM vol. 1, 10.2.3: IE bit 0, DE 1, ZE 2, OE 3,
 * UE 4, PE 5) to fflags (unpriv 11.2: NX 0, UF 1, OF 2, DZ 3, NV 4). DE
 * (a subnormal operand) has no RISC-V counterpart.
 */
#define MX(m)                                                                                      \
    (uint8_t)(((m) & 1 ? FFLAG_NV : 0) | ((m) & 4 ? FFLAG_DZ : 0) | ((m) & 8 ? FFLAG_OF : 0) |     \
              ((m) & 16 ? FFLAG_UF : 0) | ((m) & 32 ? FFLAG_NX : 0))
#define MX4(m) MX(m), MX((m) + 1), MX((m) + 2), MX((m) + 3)
#define MX16(m) MX4(m), MX4((m) + 4), MX4((m) + 8), MX4((m) + 12)
static const uint8_t mxcsr_to_fflags[64] = {MX16(0), MX16(16), MX16(32), MX16(48)};

/*
 * fflags |= map[MXCSR's flags]: inline operations leave their flags in MXCSR
 * (sticky, like fflags) and the block moves them into fflags only where the
 * guest or a helper could look: before a helper call and on every way out of
 * the block. Reading MXCSR after each operation would wait for it to finish
 * (stmxcsr) and cost more than the operation. IE is left out: every operation
 * that raises it has a NaN result, which goes to the helper, so IE in MXCSR is
 * only ever that discarded result's (the helper computes NV itself).
 *
 * One copy per cache (jit_be_shared), called: it clobbers rax only, because
 * call sites have a helper's arguments (rdi, rsi, rdx, rcx) set up already.
 * Stack on entry: the return address, then the block's scratch slot.
 */
static void emit_mxcsr_merge(struct jit_emit *e)
{
    push(e, RCX);
    byte(e, 0x0f), byte(e, 0xae), byte(e, 0x5c), byte(e, 0x24), byte(e, 16); /* stmxcsr [rsp+16] */
    byte(e, 0x0f), byte(e, 0xb6), byte(e, 0x44), byte(e, 0x24), byte(e, 16); /* movzx eax, byte [rsp+16] */
    alu_ri(e, ALU_AND, 0, RAX, 0x3e);
    mov_ri(e, RCX, (uint64_t)(uintptr_t)mxcsr_to_fflags);
    op_m(e, 0, 0x0fb6, RAX, RCX, RAX, 0); /* movzx eax, byte [rcx + rax] */
    op_m(e, 0, 0x09, RAX, R15, NO_INDEX, FFLAGS);
    pop(e, RCX);
    byte(e, 0xc3); /* ret */
}

static void mxcsr_merge(struct jit_emit *e)
{
    byte(e, 0xe8); /* call rel32 */
    uint32_t at = (uint32_t)(e->p - e->buf);
    imm32(e, 0);
    patch_rel32(e, at, e->jit->sh_mxcsr_merge);
}

/* The host has FMA3 (and the OS saves the AVX state it needs): fused multiply-adds inline. */
static bool host_fma(void)
{
    static int have; /* 0 not asked yet, 1 no, 2 yes; harts translate on several threads */
    int v = __atomic_load_n(&have, __ATOMIC_RELAXED);
    if (!v) {
        __builtin_cpu_init();
        v = __builtin_cpu_supports("fma") ? 2 : 1;
        __atomic_store_n(&have, v, __ATOMIC_RELAXED);
    }
    return v == 2;
}

/* SSE scalar op xmm(reg), [r15 + disp]: prefix F3 (single) or F2 (double). */
static void sse_m(struct jit_emit *e, bool dbl, unsigned op, int reg, int32_t disp)
{
    byte(e, dbl ? 0xf2 : 0xf3);
    op_m(e, 0, op, reg, R15, NO_INDEX, disp);
}


enum { CC_P = 0xa };

/*
 * The IEEE operations RISC-V and SSE define alike, inline: add, sub, mul,
 * div, sqrt and (with host FMA3) the four fused multiply-adds, in S and D,
 * when the rounding mode is RNE (static, or dynamic with frm = RNE checked at
 * run time). Rounding is IEEE 754's in both, and with MXCSR's exceptions
 * masked the sticky flags mean what fflags mean: overflow and underflow are
 * both detected after rounding (unpriv 11.2 and SDM vol. 1, 4.9.1.5 /
 * 11.5.2.2), UF only when also inexact. MXCSR (RNE, no FTZ/DAZ) is cleared
 * at block entry and after helpers; its flags reach fflags in mxcsr_merge().
 * What differs
 * goes to fpu_exec() instead: a single operand that is not NaN-boxed, and
 * every NaN result (RISC-V returns the canonical NaN where x86 propagates a
 * payload; fused inf*0 + qNaN raises NV only on RISC-V), so a NaN result is
 * thrown away and the helper computes the instruction from the start.
 */
static bool fp_inline(struct jit_emit *e, uint32_t off, uint32_t insn)
{
    unsigned opc = insn & 0x7f, rd = (insn >> 7) & 31, rm = (insn >> 12) & 7,
             rs1 = (insn >> 15) & 31, rs2 = (insn >> 20) & 31, fmt = (insn >> 25) & 3,
             f7 = insn >> 25, rs3 = insn >> 27;
    if (fmt > 1 || (rm != RM_RNE && rm != RM_DYN)) return false;
    bool dbl = fmt == 1, fma = opc != 0x53;
    unsigned sse = 0, vex = 0;
    if (fma) {
        static const uint8_t vop[4] = {0xb9, 0xbb, 0xbd, 0xbf}; /* vfmadd, vfmsub, vfnmadd, vfnmsub 231 */
        if (!host_fma()) return false;
        vex = vop[(opc >> 2) & 3];
    } else {
        switch (f7 >> 2) {
        case 0x00 >> 2: sse = 0x0f58; break; /* add */
        case 0x04 >> 2: sse = 0x0f5c; break; /* sub */
        case 0x08 >> 2: sse = 0x0f59; break; /* mul */
        case 0x0c >> 2: sse = 0x0f5e; break; /* div */
        case 0x2c >> 2: /* sqrt */
            if (rs2) return false;
            sse = 0x0f51;
            break;
        default: return false;
        }
    }
    uint32_t slow[8];
    unsigned nslow = 0;
    if (rm == RM_DYN) { /* cmp dword [frm], RNE */
        op_m(e, 0, 0x83, ALU_CMP, R15, NO_INDEX, FRM);
        byte(e, RM_RNE);
        slow[nslow++] = jcc_fwd(e, CC_NE);
    }
    if (!dbl) { /* every source NaN-boxed (unpriv 12.2): upper word all ones */
        unsigned src[3] = {rs1, rs2, rs3}, nsrc = fma ? 3 : (sse == 0x0f51 ? 1 : 2);
        for (unsigned i = 0; i < nsrc; i++) {
            op_m(e, 0, 0x83, ALU_CMP, R15, NO_INDEX, F(src[i]) + 4);
            byte(e, 0xff);
            slow[nslow++] = jcc_fwd(e, CC_NE);
        }
    }
    if (fma) {
        sse_m(e, dbl, 0x0f10, 0, F(rs3)); /* xmm0 = c */
        sse_m(e, dbl, 0x0f10, 1, F(rs1)); /* xmm1 = a */
        /* VEX.LIG.66.0F38.W(dbl) op xmm0, xmm1, [r15 + F(rs2)]: xmm0 = +-(xmm1 * b) +- xmm0 */
        byte(e, 0xc4);
        byte(e, 0xc2); /* R X set (inverted), B clear: base r15; map 0F38 */
        byte(e, (dbl ? 0x80 : 0) | (0xe << 3) | 0x01); /* vvvv = ~1: xmm1; pp = 66 */
        byte(e, vex);
        byte(e, 0x87); /* modrm: mod 10, reg xmm0, rm r15 (disp32) */
        imm32(e, (uint32_t)F(rs2));
    } else if (sse == 0x0f51) {
        sse_m(e, dbl, 0x0f51, 0, F(rs1));
    } else {
        sse_m(e, dbl, 0x0f10, 0, F(rs1));
        sse_m(e, dbl, sse, 0, F(rs2));
    }
    if (dbl) byte(e, 0x66); /* ucomis[sd] xmm0, xmm0: PF set iff NaN */
    byte(e, 0x0f), byte(e, 0x2e), byte(e, 0xc0);
    slow[nslow++] = jcc_fwd(e, CC_P);
    sse_m(e, dbl, 0x0f11, 0, F(rd));
    if (!dbl) { /* NaN-box the result */
        op_m(e, 0, 0xc7, 0, R15, NO_INDEX, F(rd) + 4);
        imm32(e, 0xffffffffu);
    }
    uint32_t done = jcc_fwd(e, -1);
    uint32_t dirty = e->reg_dirty;
    for (unsigned i = 0; i < nslow; i++)
        patch_rel32(e, slow[i], e->p);
    fp_helper(e, off, insn); /* (call_helper clears MXCSR's flags after it) */
    e->reg_dirty |= dirty; /* after the merge: whatever either path left dirty */
    patch_rel32(e, done, e->p);
    return true;
}

static bool fp_op(struct jit_emit *e, const struct decoded *d, uint32_t off, uint32_t insn)
{
    if (!fp_inline(e, off, insn)) fp_helper(e, off, insn);
    fs_dirty(e);
    return true;
}

static bool insn_body(struct jit_emit *e, const struct decoded *d, uint32_t off, uint32_t insn);
/*
 * Two instructions as one host instruction: slli t, x, 1..3 followed by an add
 * of t and another register into t itself (an array index: t's shifted value
 * is never seen) is lea t, [y + x * 2^s].
 */
bool jit_be_pair(struct jit_emit *e, const struct decoded *a, const struct decoded *b)
{
    if (a->op != OP_SLLI || a->imm < 1 || a->imm > 3 || !a->rd) return false;
    if (b->op != OP_ADD || b->rd != a->rd) return false;
    unsigned y;
    if (b->rs1 == a->rd && b->rs2 != a->rd)
        y = b->rs2;
    else if (b->rs2 == a->rd && b->rs1 != a->rd)
        y = b->rs1;
    else
        return false;
    if (!y) return false;
    int hx = hreg(e, a->rs1), hy = hreg(e, y), hd = hreg(e, a->rd);
    if (hx < 0) {
        get(e, RAX, a->rs1);
        hx = RAX;
    }
    if (hy < 0) {
        get(e, RCX, y);
        hy = RCX;
    }
    int r = hd >= 0 ? hd : RAX;
    rex(e, 1, r, hx, hy); /* lea r, [hy + hx * 2^s] (hx is never rsp) */
    byte(e, 0x8d);
    int mod = (hy & 7) == RBP ? 1 : 0; /* rbp/r13 as a base need a displacement */
    byte(e, (unsigned)(mod << 6 | (r & 7) << 3 | RSP));
    byte(e, (unsigned)(a->imm << 6 | (hx & 7) << 3 | (hy & 7)));
    if (mod) byte(e, 0);
    if (hd >= 0)
        e->reg_dirty |= 1u << a->rd;
    else
        put(e, RAX, a->rd);
    direct_forget(e, (int)a->rd);
    return true;
}


bool jit_be_insn(struct jit_emit *e, const struct decoded *d, uint32_t off, uint32_t insn)
{
    bool ok = insn_body(e, d, off, insn);
    direct_forget(e, d->rd); /* its destination (for some formats a field that is not one: harmless) */
    return ok;
}

static bool insn_body(struct jit_emit *e, const struct decoded *d, uint32_t off, uint32_t insn)
{
    if (d->op >= OP_FLW && d->op <= OP_FP && !e->fp)
        return false; /* FS is Off: the interpreter raises illegal-instruction */
    switch (d->op) {
    case OP_FLW:
    case OP_FLD:
    case OP_FSW:
    case OP_FSD:
        return fp_mem(e, d, off);
    case OP_FP:
        return fp_op(e, d, off, insn);
    case OP_LUI:
        if (d->rd) {
            if (hreg(e, d->rd) >= 0) {
                mov_ri(e, hreg(e, d->rd), (uint64_t)(int64_t)d->imm);
                e->reg_dirty |= 1u << d->rd;
            } else {
                op_m(e, 1, 0xc7, 0, R15, NO_INDEX, X(d->rd));
                imm32(e, (uint32_t)d->imm);
            }
        }
        return true;
    case OP_AUIPC:
        /* From the run-time pc: the same physical block may run at several virtual addresses. */
        if (d->rd) {
            ld(e, RAX, PC);
            add_const(e, RAX, (int64_t)off + d->imm);
            put(e, RAX, d->rd);
        }
        return true;
    case OP_MULDIV:
    case OP_MULDIVW: {
        bool w = d->op == OP_MULDIVW;
        if (w && d->aux >= 1 && d->aux <= 3) return false; /* illegal: the interpreter raises it */
        if (!d->rd) return true;
        if (d->aux == 0) {
            op_g(e, !w, 0x8b, RAX, d->rs1);
            op_g(e, !w, 0x0faf, RAX, d->rs2);
        } else {
            mov_ri(e, RDI, d->aux);
            get(e, RSI, d->rs1);
            get(e, RDX, d->rs2);
            call_helper(e, w ? (const void *)helper_muldivw : (const void *)exec_muldiv);
        }
        if (w && d->aux == 0) movsxd(e, RAX, RAX);
        put(e, RAX, d->rd);
        return true;
    }
    case OP_AMO:
        /*
         * Through the interpreter's own code, on its TLB fast path only: a miss,
         * misalignment or illegal encoding leaves before the instruction. Not in
         * verify mode, whose store log cannot undo an atomic.
         */
        if (e->verify) return false;
        hart_arg(e);
        mov_ri(e, RSI, insn);
        call_helper(e, (const void *)exec_amo_fast);
        op_r(e, 0, 0x85, RAX, RAX);
        exit_jcc(e, CC_NE, (int32_t)off, e->ninsns, EXIT_INTERP);
        return true;
    case OP_CBO:
    case OP_FLH:
    case OP_FSH:
        return false; /* cache-block operations, Zfhmin loads/stores: the interpreter's */
    case OP_FENCE:
        byte(e, 0x0f); /* mfence: RVWMO allows store->load reordering only where x86 TSO does */
        byte(e, 0xae);
        byte(e, 0xf0);
        return true;
    default:
        if (d->op >= OP_BM_FIRST && d->op <= OP_BM_LAST) {
            /* Zba/Zbb/Zbs/Zicond: one helper call into the interpreter's own definition. */
            if (!d->rd) return true;
            mov_ri(e, RDI, d->op);
            get(e, RSI, d->rs1);
            get(e, RDX, d->rs2);
            mov_ri(e, RCX, (uint64_t)(int64_t)d->imm);
            call_helper(e, (const void *)bitmanip_exec);
            put(e, RAX, d->rd);
            return true;
        }
        return alu_rr(e, d) || alu_imm(e, d) || mem_op(e, d, off);
    }
}

/*
 * In a loop with a spare host register (e->loop_reg), the passes count the
 * batch down there instead of in memory (budget and instret are two
 * read-modify-writes of memory a pass otherwise): the register starts as
 * budget, and every way out of the block, and every helper call, first
 * retires the passes run since (instret += budget - lr; budget = lr). Only
 * this hart's thread writes its budget, so nothing is lost in between.
 * Clobbers rax.
 */
static void loop_sync(struct jit_emit *e)
{
    if (e->loop_reg < 0) return;
    op_m(e, 1, 0x8b, RAX, R15, NO_INDEX, BUDGET);      /* mov rax, [budget] */
    op_r(e, 1, 0x2b, RAX, e->loop_reg);                /* sub rax, lr */
    op_m(e, 1, 0x01, RAX, R15, NO_INDEX, INSTRET);     /* add [instret], rax */
    op_m(e, 1, 0x89, e->loop_reg, R15, NO_INDEX, BUDGET); /* mov [budget], lr */
}

/*
 * A jump back to the block's start, inline where the branch is, so a loop
 * pass takes one backward jump: retire the pass (count instructions), and
 * go round again (guest registers stay in host registers) while the batch has
 * room for a whole pass of the block, which bounds interrupt latency and keeps
 * instret exact; else leave with pc at the start. The pass length is known
 * only once the block is (jit_be_finish patches it in).
 */
static void back_edge(struct jit_emit *e, unsigned count)
{
    if (e->loop_reg >= 0) {
        alu_ri(e, ALU_SUB, 1, e->loop_reg, (int32_t)count);
        op_r(e, 1, 0x83, ALU_CMP, e->loop_reg); /* cmp lr, imm8 (fits: ninsns < 128) */
    } else {
        alu_mi(e, ALU_ADD, INSTRET, (int32_t)count);
        alu_mi(e, ALU_SUB, BUDGET, (int32_t)count);
        op_m(e, 1, 0x83, ALU_CMP, R15, NO_INDEX, BUDGET); /* fits: ninsns <= JIT_MAX_INSNS < 128 */
    }
    if (e->nback < sizeof(e->back_pass) / sizeof(e->back_pass[0]))
        e->back_pass[e->nback++] = (uint32_t)(e->p - e->buf);
    else
        e->overflow = true;
    byte(e, 0);
    byte(e, 0x0f);
    byte(e, 0x8d); /* jge body */
    uint32_t at = (uint32_t)(e->p - e->buf);
    imm32(e, 0);
    patch_rel32(e, at, e->buf + e->body);
    exit_jcc(e, -1, 0, 0, EXIT_RET); /* nothing more to commit */
}

bool jit_be_branch(struct jit_emit *e, const struct decoded *d, uint32_t off, unsigned len)
{
    int cc;
    switch (d->op) {
    case OP_BEQ:
        cc = CC_E;
        break;
    case OP_BNE:
        cc = CC_NE;
        break;
    case OP_BLT:
        cc = CC_L;
        break;
    case OP_BGE:
        cc = CC_GE;
        break;
    case OP_BLTU:
        cc = CC_B;
        break;
    case OP_BGEU:
        cc = CC_AE;
        break;
    default:
        return false;
    }
    (void)len;
    int64_t delta = (int64_t)off + d->imm;
    int h1 = hreg(e, d->rs1);
    if (d->rs2 == 0) { /* against x0: test, no memory operand */
        if (h1 < 0) {
            get(e, RAX, d->rs1);
            h1 = RAX;
        }
        op_r(e, 1, 0x85, h1, h1); /* test h1, h1 */
    } else {
        if (h1 < 0) {
            if (d->rs1)
                get(e, RAX, d->rs1);
            else
                op_r(e, 0, 0x33, RAX, RAX); /* xor eax, eax: x0 */
            h1 = RAX;
        }
        op_g(e, 1, 0x3b, h1, d->rs2); /* cmp h1, rs2 */
    }
    /* verify mode checks one pass at a time (and its store log holds one pass): no loops there. */
    if (delta == 0 && !e->verify) {
        uint32_t skip = jcc_fwd(e, cc ^ 1); /* not taken: on along the block */
        back_edge(e, e->ninsns + 1);
        patch_rel32(e, skip, e->p);
        return true;
    }
    exit_jcc(e, cc, (int32_t)delta, e->ninsns + 1, EXIT_NEXT);
    return true;
}

bool jit_be_jump(struct jit_emit *e, const struct decoded *d, uint32_t off, unsigned len)
{
    if (d->op == OP_JAL) {
        if (d->rd) {
            ld(e, RAX, PC);
            add_const(e, RAX, (int64_t)off + len);
            put(e, RAX, d->rd);
        }
        /* `j` back to the block's start (a loop whose test is at the top): a back edge too */
        int64_t delta = (int64_t)off + d->imm;
        if (delta == 0 && !e->verify)
            back_edge(e, e->ninsns + 1);
        else
            exit_jcc(e, -1, (int32_t)delta, e->ninsns + 1, EXIT_NEXT);
        return true;
    }
    if (d->op != OP_JALR) return false;
    get(e, RAX, d->rs1); /* read rs1 before rd is written: they may be the same register */
    if (d->imm) alu_ri(e, ALU_ADD, 1, RAX, d->imm);
    alu_ri(e, ALU_AND, 1, RAX, -2);
    if (d->rd) {
        ld(e, RDX, PC);
        alu_ri(e, ALU_ADD, 1, RDX, (int32_t)(off + len));
        put(e, RDX, d->rd);
    }
    st(e, RAX, PC);
    exit_jcc(e, -1, 0, e->ninsns + 1, EXIT_JALR);
    return true;
}

bool jit_be_system(struct jit_emit *e, const struct decoded *d, uint32_t off, unsigned len,
                   uint32_t insn)
{
    /*
     * CSR instructions, through the interpreter's exec_csr() (jit_csr()).
     * instret is committed first: the instruction may read it. The block
     * goes on after one unless it changed the translation context or asked
     * for the batch to end (an interrupt enabled, a timer set): then a plain
     * return to the dispatcher. Going on, the commit is taken back, because
     * every later exit counts from the block's start. Not in verify mode (CSR
     * side effects cannot be undone there); ECALL, xRET, WFI, SFENCE.VMA and
     * the rest stay with the interpreter.
     */
    if (d->op != OP_SYSTEM || d->aux == 0 || d->aux == 4 || e->verify) return false;
    if (e->ninsns) {
        alu_mi(e, ALU_ADD, INSTRET, (int32_t)e->ninsns);
        alu_mi(e, ALU_SUB, BUDGET, (int32_t)e->ninsns);
    }
    hart_arg(e);
    mov_ri(e, RSI, insn);
    mov_ri(e, RDX, e->ctx);
    call_helper(e, (const void *)jit_csr);
    op_r(e, 0, 0x85, RAX, RAX);
    exit_jcc(e, CC_S, (int32_t)off, 0, EXIT_INTERP);
    exit_jcc(e, CC_NE, (int32_t)(off + len), 1, EXIT_RET);
    if (e->ninsns) {
        alu_mi(e, ALU_SUB, INSTRET, (int32_t)e->ninsns);
        alu_mi(e, ALU_ADD, BUDGET, (int32_t)e->ninsns);
    }
    return true;
}

void jit_be_exit(struct jit_emit *e, uint32_t off, int code)
{
    exit_jcc(e, -1, (int32_t)off, e->ninsns, code == JIT_EXIT_INTERP ? EXIT_INTERP : EXIT_NEXT);
}

/* Which shared end an exit uses: 0 return, 1 interpret, 2 chainable, 3 looked up. */
static int exit_class(const struct jit_emit *e, const struct jit_exit *x)
{
    int64_t t = (int64_t)e->page_off + x->delta;
    switch (x->back) {
    case EXIT_INTERP:
        return 1;
    case EXIT_RET:
        return 0;
    case EXIT_NEXT:
        if (e->verify) return 0;
        return t >= 0 && t < (int64_t)PAGE_SIZE ? 2 : 3;
    default: /* EXIT_JALR */
        return e->verify ? 0 : 3;
    }
}

/*
 * The dispatcher's lookup, inline, for jumps whose target is not patched in
 * (jalr, other pages): pc (committed) through the fetch TLB to the host
 * address, then the hart's lookup table (jit_hash(), this block's context).
 * A hit jumps to the block's chain entry, which still checks the budget and
 * the code generation; anything else returns to the dispatcher. Registers are
 * written back already.
 */
static void emit_lookup(struct jit_emit *e, const uint8_t *tail_nowb)
{
    /* shared by every block of the cache: the block's context comes in rbx */
    uint32_t miss[6];
    int nmiss = 0;
    ld(e, RAX, PC);
    byte(e, 0xa8); /* test al, 1: an odd pc is the interpreter's to raise */
    byte(e, 1);
    byte(e, 0x0f);
    byte(e, 0x85);
    miss[nmiss++] = (uint32_t)(e->p - e->buf);
    imm32(e, 0);
    mov_rr(e, 1, RCX, RAX);
    shift_ri(e, SH_SHR, 1, RCX, PAGE_SHIFT);
    ld(e, RDX, FETCH_KEY);
    shift_ri(e, SH_SHL, 1, RDX, 60);
    op_r(e, 1, 0x09, RDX, RCX);
    mov_rr(e, 0, RDX, RAX);
    shift_ri(e, SH_SHR, 0, RDX, PAGE_SHIFT - 4);
    alu_ri(e, ALU_AND, 0, RDX, (int32_t)(e->tlb_mask << 4));
    op_m(e, 1, 0x3b, RCX, R15, RDX, TLB(TLB_EXEC));
    byte(e, 0x0f);
    byte(e, 0x85);
    miss[nmiss++] = (uint32_t)(e->p - e->buf);
    imm32(e, 0);
    op_m(e, 1, 0x03, RAX, R15, RDX, TLB(TLB_EXEC) + 8); /* rax = host address of the code */
    /* rsi = &table[jit_hash(host, ctx) & (JIT_TABLE_SIZE - 1)] */
    mov_rr(e, 1, RSI, RAX);
    shift_ri(e, SH_SHR, 1, RSI, 1);
    mov_ri(e, RDX, GOLDEN);
    op_r(e, 1, 0x0faf, RDX, RBX); /* imul rdx, rbx: ctx * GOLDEN */
    op_r(e, 1, 0x31, RDX, RSI);
    mov_ri(e, RDX, GOLDEN);
    op_r(e, 1, 0x0faf, RSI, RDX); /* imul rsi, rdx */
    shift_ri(e, SH_SHR, 1, RSI, 40);
    alu_ri(e, ALU_AND, 0, RSI, JIT_TABLE_SIZE - 1);
    shift_ri(e, SH_SHL, 0, RSI, 5);
    mov_ri(e, RDX, (uint64_t)(uintptr_t)e->jit->table);
    op_r(e, 1, 0x01, RDX, RSI);
    op_m(e, 1, 0x3b, RAX, RSI, NO_INDEX, 0); /* hostpc */
    byte(e, 0x0f);
    byte(e, 0x85);
    miss[nmiss++] = (uint32_t)(e->p - e->buf);
    imm32(e, 0);
    op_m(e, 1, 0x3b, RBX, RSI, NO_INDEX, 8); /* ctx */
    byte(e, 0x0f);
    byte(e, 0x85);
    miss[nmiss++] = (uint32_t)(e->p - e->buf);
    imm32(e, 0);
    op_m(e, 1, 0x8b, RAX, RSI, NO_INDEX, 24); /* blk */
    op_r(e, 1, 0x85, RAX, RAX);
    byte(e, 0x0f);
    byte(e, 0x84);
    miss[nmiss++] = (uint32_t)(e->p - e->buf);
    imm32(e, 0);
    op_m(e, 0, 0xff, 4, RAX, NO_INDEX,
         (int32_t)offsetof(struct jit_block, chain_entry)); /* jmp [rax + ...] */
    for (int i = 0; i < nmiss; i++)
        patch_rel32(e, miss[i], e->p);
    mov_ri(e, RAX, JIT_EXIT_NEXT);
    jmp_to(e, tail_nowb);
}

/*
 * A side exit leaves esi = count << 25 | code << 24 | delta (24 bits,
 * signed): one 5-byte mov per exit. rsi := delta, rdi := count, and commit
 * them (pc, instret, budget); eax := code.
 */
static void unpack_commit(struct jit_emit *e)
{
    mov_rr(e, 0, RAX, RSI);
    shift_ri(e, SH_SHR, 0, RAX, 24);
    alu_ri(e, ALU_AND, 0, RAX, 1);
    mov_rr(e, 0, RDI, RSI);
    shift_ri(e, SH_SHR, 0, RDI, 25);
    shift_ri(e, SH_SHL, 0, RSI, 8);
    shift_ri(e, SH_SAR, 0, RSI, 8);
    movsxd(e, RSI, RSI);
    op_m(e, 1, 0x01, RSI, R15, NO_INDEX, PC);
    op_m(e, 1, 0x01, RDI, R15, NO_INDEX, INSTRET);
    op_m(e, 1, 0x29, RDI, R15, NO_INDEX, BUDGET);
}

static uint32_t pack_exit(struct jit_emit *e, int32_t delta, unsigned count, int code)
{
    if (delta < -(1 << 23) || delta >= (1 << 23) || count > 127) e->overflow = true;
    return (uint32_t)count << 25 | (uint32_t)(code & 1) << 24 | ((uint32_t)delta & 0xffffff);
}

/*
 * The code every block of a cache shares, at the cache's start (written when
 * the cache is empty): the epilogue (host registers restored, return to the
 * dispatcher with eax), the commit of a packed side exit, and the inline
 * lookup of a jump's target (context in rbx). Registers are written back
 * before any of them.
 */
void jit_be_shared(struct jit_emit *e)
{
    struct jit *j = e->jit;
    jit_fault_reset(j); /* an empty cache */
    j->sh_epilogue = e->p;
    alu_ri(e, ALU_ADD, 1, RSP, FRAME);
    for (size_t i = sizeof(saved); i-- > 0;)
        pop(e, saved[i]);
    pop(e, R15);
    byte(e, 0xc3); /* ret */
    j->sh_commit = e->p;
    unpack_commit(e);
    jmp_to(e, j->sh_epilogue);
    j->sh_lookup = e->p;
    unpack_commit(e);
    emit_lookup(e, j->sh_epilogue);
    j->sh_mxcsr_merge = e->p;
    emit_mxcsr_merge(e);
    j->sh_mask = e->tlb_mask;
    while ((uintptr_t)e->p & 7) byte(e, 0xcc);
    j->sh_direct_limit = e->p;
    imm64(e, 1ull << HART_DIRECT_BITS);
}

void jit_be_finish(struct jit_emit *e)
{
    struct jit *j = e->jit;
    const uint8_t *epilogue = j->sh_epilogue;
    /* The ways out: registers back to the hart, then the shared commit (or lookup) and epilogue. */
    const uint8_t *tail = e->p;
    if (e->fp_inline) mxcsr_merge(e);
    loop_sync(e); /* before the shared commit adds this exit's count */
    regs_writeback(e);
    jmp_to(e, j->sh_commit);
    /* A chained jump that may not come in goes back to the dispatcher, pc already committed. */
    patch_rel32(e, e->chain_fail[0], e->p);
    patch_rel32(e, e->chain_fail[1], e->p);
    mov_ri(e, RAX, JIT_EXIT_NEXT);
    jmp_to(e, epilogue);
    if (e->chain_budget + 4 <= (uint32_t)(e->end - e->buf)) {
        uint32_t n = e->ninsns;
        memcpy(e->buf + e->chain_budget, &n, 4);
    }
    for (unsigned i = 0; i < e->nback; i++)
        if (e->back_pass[i] < (uint32_t)(e->end - e->buf))
            e->buf[e->back_pass[i]] = (uint8_t)e->ninsns;
    bool need_lookup = false, need_chain = false;
    for (unsigned i = 0; i < e->nexits; i++) {
        int k = exit_class(e, &e->exits[i]);
        need_lookup |= k == 3;
        need_chain |= k == 2;
    }
    const uint8_t *lookup = NULL;
    if (need_lookup) {
        lookup = e->p;
        if (e->fp_inline) mxcsr_merge(e);
        loop_sync(e);
        regs_writeback(e);
        mov_ri(e, RBX, e->ctx);
        jmp_to(e, j->sh_lookup);
    }
    const uint8_t *chain_slow = e->p;
    if (need_chain) {
        mov_ri(e, RCX, (uint64_t)(uintptr_t)&e->jit->chain_from);
        op_m(e, 1, 0x89, RAX, RCX, NO_INDEX, 0);
        mov_ri(e, RAX, JIT_EXIT_NEXT);
        jmp_to(e, epilogue);
    }
    for (unsigned i = 0; i < e->slot_next; i++)
        slot_miss(e, &e->slot_sites[i]);
    /* In a block that loops, a register written late in one pass is dirty early in the next. */
    bool loops = e->nback > 0;
    uint32_t stub_at[sizeof(e->exits) / sizeof(e->exits[0])];
    for (unsigned i = 0; i < e->nexits; i++) {
        struct jit_exit *x = &e->exits[i];
        if (x->patch) patch_rel32(e, x->patch, e->p); /* 0: reached only from fault.c */
        stub_at[i] = (uint32_t)(e->p - e->buf);
        int64_t target = (int64_t)e->page_off + x->delta;
        if (x->back == EXIT_NEXT && !e->verify && target >= 0 && target < (int64_t)PAGE_SIZE) {
            /*
             * A direct jump within the page: chainable. Commit, write the
             * registers back, then a jmp the dispatcher patches to the target
             * block's chain entry once it is translated (until then it falls
             * through and says where it is).
             */
            loop_sync(e);
            exit_stub_commit(e, x->delta, x->count);
            regs_writeback_mask(e, loops ? e->reg_written : x->dirty);
            if (e->fp_inline) mxcsr_merge(e); /* the next block clears MXCSR on entry */
            byte(e, 0xe9);
            uint8_t *site = e->p;
            imm32(e, 0);
            byte(e, 0x48); /* lea rax, [rip + disp32]: the site, in whichever view runs */
            byte(e, 0x8d);
            byte(e, 0x05);
            imm32(e, (uint32_t)(int32_t)(site - (e->p + 4)));
            jmp_to(e, chain_slow);
            continue;
        }
        int k = exit_class(e, x);
        mov_ri(e, RSI, pack_exit(e, x->delta, x->count, k == 1 ? JIT_EXIT_INTERP : JIT_EXIT_NEXT));
        jmp_to(e, k == 3 ? lookup : tail);
    }
    if (e->direct) { /* where fault.c resumes a faulting direct access: its exit */
        struct jit_fault_site sites[JIT_MAX_INSNS];
        uint32_t block = (uint32_t)(e->rx - j->rx);
        for (unsigned i = 0; i < e->nsites; i++)
            sites[i] = (struct jit_fault_site){block + e->site_insn[i], block + stub_at[e->site_exit[i]]};
        if (!jit_fault_add(j, block, sites, e->nsites)) e->overflow = true;
    }
}

#else /* no backend for this host: every hart interprets */

bool jit_be_supported(void)
{
    return false;
}
void jit_be_sync(void)
{
}
void jit_be_shared(struct jit_emit *e)
{
    (void)e;
}
void jit_be_prologue(struct jit_emit *e, const struct decoded *insns, unsigned n)
{
    (void)e;
}
bool jit_be_pair(struct jit_emit *e, const struct decoded *a, const struct decoded *b)
{
    return false;
}
bool jit_be_insn(struct jit_emit *e, const struct decoded *d, uint32_t off, uint32_t insn)
{
    return false;
}
bool jit_be_branch(struct jit_emit *e, const struct decoded *d, uint32_t off, unsigned len)
{
    return false;
}
bool jit_be_jump(struct jit_emit *e, const struct decoded *d, uint32_t off, unsigned len)
{
    return false;
}
bool jit_be_system(struct jit_emit *e, const struct decoded *d, uint32_t off, unsigned len,
                   uint32_t insn)
{
    return false;
}
void jit_be_exit(struct jit_emit *e, uint32_t off, int code)
{
    (void)e;
}
void jit_be_finish(struct jit_emit *e)
{
    (void)e;
}

#endif
