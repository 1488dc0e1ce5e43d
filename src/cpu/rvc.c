/*
 * RVC expander, RV64 only. Section names below are those of the RISC-V
 * unprivileged spec, chapter '"C" Extension for Compressed Instructions,
 * Version 2.0' (riscv-isa-manual src/c-st-ext.adoc); the quadrant tables
 * are "RVC Instruction Set Listings".
 *
 * Written for the interpreter's hot path: a single switch on the 5-bit
 * (quadrant, funct3) index, only shifts and masks, no tables, no state.
 * All arithmetic is on uint32_t so sign extension is well defined.
 */
#include "cpu/rvc.h"

/* 32-bit major opcodes (unprivileged spec, "RV32/64G Instruction Set Listings"). */
enum {
    OPC_LOAD = 0x03,
    OPC_LOAD_FP = 0x07,
    OPC_OP_IMM = 0x13,
    OPC_OP_IMM_32 = 0x1b,
    OPC_STORE = 0x23,
    OPC_STORE_FP = 0x27,
    OPC_OP = 0x33,
    OPC_LUI = 0x37,
    OPC_OP_32 = 0x3b,
    OPC_BRANCH = 0x63,
    OPC_JALR = 0x67,
    OPC_JAL = 0x6f,
    OPC_SYSTEM = 0x73,
};

enum { REG_ZERO = 0, REG_RA = 1, REG_SP = 2 };

/* insn[hi:lo], right-aligned. */
static inline uint32_t bits(uint32_t insn, unsigned hi, unsigned lo)
{
    return (insn >> lo) & ((1u << (hi - lo + 1)) - 1);
}

/* insn[hi:lo] moved so that insn[lo] lands at immediate bit 'to'. */
static inline uint32_t field(uint32_t insn, unsigned hi, unsigned lo, unsigned to)
{
    return bits(insn, hi, lo) << to;
}

/* Sign-extend the low n bits of x (modular arithmetic, no UB). */
static inline uint32_t sext(uint32_t x, unsigned n)
{
    uint32_t m = 1u << (n - 1);
    return ((x & ((m << 1) - 1)) ^ m) - m;
}

/* Register fields: full 5-bit rd/rs1 at [11:7], rs2 at [6:2]; the 3-bit
 * rd'/rs1' at [9:7] and rd'/rs2' at [4:2] name x8..x15 ("Compressed
 * Instruction Formats", registers table). */
static inline uint32_t rd_full(uint32_t c)
{
    return bits(c, 11, 7);
}
static inline uint32_t rs2_full(uint32_t c)
{
    return bits(c, 6, 2);
}
static inline uint32_t r_hi3(uint32_t c)
{
    return 8 + bits(c, 9, 7);
}
static inline uint32_t r_lo3(uint32_t c)
{
    return 8 + bits(c, 4, 2);
}

/* 32-bit encoders; immediates are passed already sign/zero extended. */
static inline uint32_t enc_r(uint32_t opc, uint32_t f3, uint32_t f7, uint32_t rd, uint32_t rs1,
                             uint32_t rs2)
{
    return f7 << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | rd << 7 | opc;
}

static inline uint32_t enc_i(uint32_t opc, uint32_t f3, uint32_t rd, uint32_t rs1, uint32_t imm)
{
    return (imm & 0xfff) << 20 | rs1 << 15 | f3 << 12 | rd << 7 | opc;
}

static inline uint32_t enc_s(uint32_t opc, uint32_t f3, uint32_t rs1, uint32_t rs2, uint32_t imm)
{
    return bits(imm, 11, 5) << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | bits(imm, 4, 0) << 7 | opc;
}

static inline uint32_t enc_b(uint32_t f3, uint32_t rs1, uint32_t rs2, uint32_t imm)
{
    return bits(imm, 12, 12) << 31 | bits(imm, 10, 5) << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 |
           bits(imm, 4, 1) << 8 | bits(imm, 11, 11) << 7 | OPC_BRANCH;
}

static inline uint32_t enc_u(uint32_t opc, uint32_t rd, uint32_t imm)
{
    return (imm & 0xfffff000u) | rd << 7 | opc;
}

static inline uint32_t enc_j(uint32_t rd, uint32_t imm)
{
    return bits(imm, 20, 20) << 31 | bits(imm, 10, 1) << 21 | bits(imm, 11, 11) << 20 |
           bits(imm, 19, 12) << 12 | rd << 7 | OPC_JAL;
}

/* CI-format 6-bit immediate imm[5|4:0] = insn[12|6:2], sign-extended. */
static inline uint32_t ci_imm(uint32_t c)
{
    return sext(field(c, 12, 12, 5) | bits(c, 6, 2), 6);
}

/* CI-format 6-bit shift amount shamt[5|4:0]; RV64 allows shamt[5]=1. */
static inline uint32_t ci_shamt(uint32_t c)
{
    return field(c, 12, 12, 5) | bits(c, 6, 2);
}

/* CL/CS word offset uimm[5:3|2|6] = insn[12:10|6|5]. */
static inline uint32_t cl_w_off(uint32_t c)
{
    return field(c, 12, 10, 3) | field(c, 6, 6, 2) | field(c, 5, 5, 6);
}

/* CL/CS doubleword offset uimm[5:3|7:6] = insn[12:10|6:5]. */
static inline uint32_t cl_d_off(uint32_t c)
{
    return field(c, 12, 10, 3) | field(c, 6, 5, 6);
}

/* CI stack load, word: uimm[5|4:2|7:6] = insn[12|6:4|3:2]. */
static inline uint32_t ci_lwsp_off(uint32_t c)
{
    return field(c, 12, 12, 5) | field(c, 6, 4, 2) | field(c, 3, 2, 6);
}

/* CI stack load, doubleword: uimm[5|4:3|8:6] = insn[12|6:5|4:2]. */
static inline uint32_t ci_ldsp_off(uint32_t c)
{
    return field(c, 12, 12, 5) | field(c, 6, 5, 3) | field(c, 4, 2, 6);
}

/* CSS stack store, word: uimm[5:2|7:6] = insn[12:9|8:7]. */
static inline uint32_t css_sw_off(uint32_t c)
{
    return field(c, 12, 9, 2) | field(c, 8, 7, 6);
}

/* CSS stack store, doubleword: uimm[5:3|8:6] = insn[12:10|9:7]. */
static inline uint32_t css_sd_off(uint32_t c)
{
    return field(c, 12, 10, 3) | field(c, 9, 7, 6);
}

/* CJ jump target offset[11|4|9:8|10|6|7|3:1|5] = insn[12:2]. */
static inline uint32_t cj_off(uint32_t c)
{
    uint32_t off = field(c, 12, 12, 11) | field(c, 11, 11, 4) | field(c, 10, 9, 8) |
                   field(c, 8, 8, 10) | field(c, 7, 7, 6) | field(c, 6, 6, 7) | field(c, 5, 3, 1) |
                   field(c, 2, 2, 5);
    return sext(off, 12);
}

/* CB branch offset[8|4:3] = insn[12:10], offset[7:6|2:1|5] = insn[6:2]. */
static inline uint32_t cb_off(uint32_t c)
{
    uint32_t off = field(c, 12, 12, 8) | field(c, 11, 10, 3) | field(c, 6, 5, 6) |
                   field(c, 4, 3, 1) | field(c, 2, 2, 5);
    return sext(off, 9);
}

/* C.ADDI4SPN nzuimm[5:4|9:6|2|3] = insn[12:5]. */
static inline uint32_t ciw_off(uint32_t c)
{
    return field(c, 12, 11, 4) | field(c, 10, 7, 6) | field(c, 6, 6, 2) | field(c, 5, 5, 3);
}

/* C.ADDI16SP nzimm[9] = insn[12], nzimm[4|6|8:7|5] = insn[6:2]. */
static inline uint32_t addi16sp_imm(uint32_t c)
{
    uint32_t imm = field(c, 12, 12, 9) | field(c, 6, 6, 4) | field(c, 5, 5, 6) | field(c, 4, 3, 7) |
                   field(c, 2, 2, 5);
    return sext(imm, 10);
}

/* Quadrant 1, funct3=100 (MISC-ALU): "Integer Register-Immediate Operations"
 * (C.SRLI/C.SRAI/C.ANDI) and "Integer Register-Register Operations" CA format. */
static uint32_t expand_misc_alu(uint32_t c)
{
    uint32_t rd = r_hi3(c);
    uint32_t rs2 = r_lo3(c);

    switch (bits(c, 11, 10)) {
    case 0: /* C.SRLI; shamt=0 is a HINT (C.SRLI64) on RV64, expand as-is. */
        return enc_i(OPC_OP_IMM, 5, rd, rd, ci_shamt(c));
    case 1: /* C.SRAI; same HINT rule. */
        return enc_i(OPC_OP_IMM, 5, rd, rd, 0x400 | ci_shamt(c));
    case 2: /* C.ANDI */
        return enc_i(OPC_OP_IMM, 7, rd, rd, ci_imm(c));
    default:
        break;
    }
    /* CA format: funct6 = 100011 (bit 12 = 0) or 100111 (bit 12 = 1), funct2 = insn[6:5]. */
    switch (field(c, 12, 12, 2) | bits(c, 6, 5)) {
    case 0: /* C.SUB */
        return enc_r(OPC_OP, 0, 0x20, rd, rd, rs2);
    case 1: /* C.XOR */
        return enc_r(OPC_OP, 4, 0, rd, rd, rs2);
    case 2: /* C.OR */
        return enc_r(OPC_OP, 6, 0, rd, rd, rs2);
    case 3: /* C.AND */
        return enc_r(OPC_OP, 7, 0, rd, rd, rs2);
    case 4: /* C.SUBW */
        return enc_r(OPC_OP_32, 0, 0x20, rd, rd, rs2);
    case 5: /* C.ADDW */
        return enc_r(OPC_OP_32, 0, 0, rd, rd, rs2);
    default: /* funct6=100111, funct2=10/11: reserved (Zcb's C.MUL etc. not implemented). */
        return 0;
    }
}

/* Quadrant 2, funct3=100: C.JR / C.MV / C.EBREAK / C.JALR / C.ADD ("Control
 * Transfer Instructions", "Integer Register-Register Operations", "Breakpoint
 * Instruction"). */
static uint32_t expand_cr(uint32_t c)
{
    uint32_t rd = rd_full(c);
    uint32_t rs2 = rs2_full(c);

    if (!bits(c, 12, 12)) {
        if (rs2) /* C.MV: add rd, x0, rs2 (rd=0 is a HINT) */
            return enc_r(OPC_OP, 0, 0, rd, REG_ZERO, rs2);
        if (!rd) /* C.JR with rs1=0 is reserved */
            return 0;
        return enc_i(OPC_JALR, 0, REG_ZERO, rd, 0); /* C.JR */
    }
    if (rs2) /* C.ADD: add rd, rd, rs2 (rd=0 is a HINT, incl. C.NTL.*) */
        return enc_r(OPC_OP, 0, 0, rd, rd, rs2);
    if (!rd) /* C.EBREAK */
        return enc_i(OPC_SYSTEM, 0, 0, 0, 1);
    return enc_i(OPC_JALR, 0, REG_RA, rd, 0); /* C.JALR */
}

uint32_t rvc_expand(uint16_t insn)
{
    uint32_t c = insn;

    switch (bits(c, 1, 0) << 3 | bits(c, 15, 13)) {
    /* ---- Quadrant 0 ---- */
    case 000: /* C.ADDI4SPN: addi rd', x2, nzuimm; nzuimm=0 reserved (and the
               * all-zero word is the "Defined Illegal Instruction"). */
    {
        uint32_t imm = ciw_off(c);
        return imm ? enc_i(OPC_OP_IMM, 0, r_lo3(c), REG_SP, imm) : 0;
    }
    case 001: /* C.FLD: fld rd', uimm(rs1') */
        return enc_i(OPC_LOAD_FP, 3, r_lo3(c), r_hi3(c), cl_d_off(c));
    case 002: /* C.LW */
        return enc_i(OPC_LOAD, 2, r_lo3(c), r_hi3(c), cl_w_off(c));
    case 003: /* C.LD (RV64; C.FLW on RV32) */
        return enc_i(OPC_LOAD, 3, r_lo3(c), r_hi3(c), cl_d_off(c));
    case 004: /* Reserved (Zcb loads/stores live here; not implemented). */
        return 0;
    case 005: /* C.FSD */
        return enc_s(OPC_STORE_FP, 3, r_hi3(c), r_lo3(c), cl_d_off(c));
    case 006: /* C.SW */
        return enc_s(OPC_STORE, 2, r_hi3(c), r_lo3(c), cl_w_off(c));
    case 007: /* C.SD (RV64; C.FSW on RV32) */
        return enc_s(OPC_STORE, 3, r_hi3(c), r_lo3(c), cl_d_off(c));

    /* ---- Quadrant 1 ---- */
    case 010: /* C.ADDI / C.NOP; rd=0 or imm=0 are HINTs, expand anyway. */
        return enc_i(OPC_OP_IMM, 0, rd_full(c), rd_full(c), ci_imm(c));
    case 011: /* C.ADDIW (RV64; C.JAL on RV32); rd=0 reserved, imm=0 is sext.w. */
        if (!rd_full(c)) return 0;
        return enc_i(OPC_OP_IMM_32, 0, rd_full(c), rd_full(c), ci_imm(c));
    case 012: /* C.LI: addi rd, x0, imm; rd=0 is a HINT. */
        return enc_i(OPC_OP_IMM, 0, rd_full(c), REG_ZERO, ci_imm(c));
    case 013: /* C.LUI / C.ADDI16SP; imm=0 reserved for both, rd=0 a HINT. */
        if (rd_full(c) == REG_SP) {
            uint32_t imm = addi16sp_imm(c);
            return imm ? enc_i(OPC_OP_IMM, 0, REG_SP, REG_SP, imm) : 0;
        } else {
            uint32_t imm = ci_imm(c) << 12; /* nzimm[17:12], sign-extended */
            return imm ? enc_u(OPC_LUI, rd_full(c), imm) : 0;
        }
    case 014:
        return expand_misc_alu(c);
    case 015: /* C.J: jal x0, offset */
        return enc_j(REG_ZERO, cj_off(c));
    case 016: /* C.BEQZ: beq rs1', x0, offset */
        return enc_b(0, r_hi3(c), REG_ZERO, cb_off(c));
    case 017: /* C.BNEZ: bne rs1', x0, offset */
        return enc_b(1, r_hi3(c), REG_ZERO, cb_off(c));

    /* ---- Quadrant 2 ---- */
    case 020: /* C.SLLI; rd=0 or shamt=0 (C.SLLI64) are HINTs on RV64. */
        return enc_i(OPC_OP_IMM, 1, rd_full(c), rd_full(c), ci_shamt(c));
    case 021: /* C.FLDSP: fld rd, uimm(x2); any rd incl. f0 is valid. */
        return enc_i(OPC_LOAD_FP, 3, rd_full(c), REG_SP, ci_ldsp_off(c));
    case 022: /* C.LWSP; rd=0 reserved. */
        if (!rd_full(c)) return 0;
        return enc_i(OPC_LOAD, 2, rd_full(c), REG_SP, ci_lwsp_off(c));
    case 023: /* C.LDSP (RV64; C.FLWSP on RV32); rd=0 reserved. */
        if (!rd_full(c)) return 0;
        return enc_i(OPC_LOAD, 3, rd_full(c), REG_SP, ci_ldsp_off(c));
    case 024:
        return expand_cr(c);
    case 025: /* C.FSDSP */
        return enc_s(OPC_STORE_FP, 3, REG_SP, rs2_full(c), css_sd_off(c));
    case 026: /* C.SWSP */
        return enc_s(OPC_STORE, 2, REG_SP, rs2_full(c), css_sw_off(c));
    case 027: /* C.SDSP (RV64; C.FSWSP on RV32) */
        return enc_s(OPC_STORE, 3, REG_SP, rs2_full(c), css_sd_off(c));

    default: /* Quadrant 3: not a 16-bit instruction. */
        return 0;
    }
}
