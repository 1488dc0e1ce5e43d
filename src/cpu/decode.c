/*
 * RV64G decoding (unpriv spec chapter 34 "RV32/64G Instruction Set Listings"),
 * plus Zba/Zbb/Zbs (unpriv "B" chapter, b-st-ext), Zicond and the cache-block
 * operations of Zicbom/Zicboz (cmo spec). Zicbop's prefetches are ORI with
 * rd = x0 and Zihintpause's PAUSE a FENCE: both already decode as such hints.
 */
#include "cpu/decode.h"

static int32_t imm_i(uint32_t insn)
{
    return (int32_t)insn >> 20;
}

static int32_t imm_s(uint32_t insn)
{
    return (int32_t)(((uint32_t)((int32_t)insn >> 25) << 5) | ((insn >> 7) & 0x1f));
}

static int32_t imm_b(uint32_t insn)
{
    return (int32_t)(((uint32_t)((int32_t)insn >> 31) << 12) | ((insn >> 7 & 1) << 11) |
                     ((insn >> 25 & 0x3f) << 5) | ((insn >> 8 & 0xf) << 1));
}

static int32_t imm_j(uint32_t insn)
{
    return (int32_t)(((uint32_t)((int32_t)insn >> 31) << 20) | (insn & 0xff000) |
                     ((insn >> 20 & 1) << 11) | ((insn >> 21 & 0x3ff) << 1));
}

/* OP-IMM funct3 1: slli, Zbs b*i, Zbb's unary ops (funct7 0x30 with rs2 as the selector). */
static uint8_t decode_op_imm_1(uint32_t insn)
{
    switch (insn >> 26) {
    case 0x00: return OP_SLLI;
    case 0x0a: return OP_BSETI;
    case 0x12: return OP_BCLRI;
    case 0x1a: return OP_BINVI;
    default: break;
    }
    switch (insn >> 20) {
    case 0x600: return OP_CLZ;
    case 0x601: return OP_CTZ;
    case 0x602: return OP_CPOP;
    case 0x604: return OP_SEXT_B;
    case 0x605: return OP_SEXT_H;
    default: return OP_ILLEGAL;
    }
}

/* OP-IMM funct3 5: srli, srai, rori, bexti, orc.b, rev8 (RV64 encodings). */
static uint8_t decode_op_imm_5(uint32_t insn)
{
    switch (insn >> 20) {
    case 0x287: return OP_ORC_B;
    case 0x6b8: return OP_REV8;
    default: break;
    }
    switch (insn >> 26) {
    case 0x00: return OP_SRLI;
    case 0x10: return OP_SRAI;
    case 0x12: return OP_BEXTI;
    case 0x18: return OP_RORI;
    default: return OP_ILLEGAL;
    }
}

/* OP with a funct7 outside the base ISA and M: Zba, Zbb, Zbs, Zicond. */
static uint8_t decode_op_ext(unsigned f7, unsigned f3)
{
    switch (f7 << 3 | f3) {
    case 0x10 << 3 | 2: return OP_SH1ADD;
    case 0x10 << 3 | 4: return OP_SH2ADD;
    case 0x10 << 3 | 6: return OP_SH3ADD;
    case 0x20 << 3 | 7: return OP_ANDN;
    case 0x20 << 3 | 6: return OP_ORN;
    case 0x20 << 3 | 4: return OP_XNOR;
    case 0x05 << 3 | 4: return OP_MIN;
    case 0x05 << 3 | 5: return OP_MINU;
    case 0x05 << 3 | 6: return OP_MAX;
    case 0x05 << 3 | 7: return OP_MAXU;
    case 0x30 << 3 | 1: return OP_ROL;
    case 0x30 << 3 | 5: return OP_ROR;
    case 0x24 << 3 | 1: return OP_BCLR;
    case 0x24 << 3 | 5: return OP_BEXT;
    case 0x34 << 3 | 1: return OP_BINV;
    case 0x14 << 3 | 1: return OP_BSET;
    case 0x07 << 3 | 5: return OP_CZERO_EQZ;
    case 0x07 << 3 | 7: return OP_CZERO_NEZ;
    default: return OP_ILLEGAL;
    }
}

/* OP-32 beyond the base ISA and M: Zba's *.uw, Zbb's zext.h (RV64 form), rolw, rorw. */
static uint8_t decode_op32_ext(unsigned f7, unsigned f3, unsigned rs2)
{
    switch (f7 << 3 | f3) {
    case 0x04 << 3 | 0: return OP_ADD_UW;
    case 0x04 << 3 | 4: return rs2 == 0 ? OP_ZEXT_H : OP_ILLEGAL;
    case 0x10 << 3 | 2: return OP_SH1ADD_UW;
    case 0x10 << 3 | 4: return OP_SH2ADD_UW;
    case 0x10 << 3 | 6: return OP_SH3ADD_UW;
    case 0x30 << 3 | 1: return OP_ROLW;
    case 0x30 << 3 | 5: return OP_RORW;
    default: return OP_ILLEGAL;
    }
}

struct decoded decode_insn(uint32_t insn)
{
    struct decoded d = {
        .op = OP_ILLEGAL,
        .rd = (insn >> 7) & 31,
        .rs1 = (insn >> 15) & 31,
        .rs2 = (insn >> 20) & 31,
        .aux = (insn >> 12) & 7,
        .imm = 0,
    };
    unsigned f3 = d.aux, f7 = insn >> 25;
    switch (insn & 0x7f) {
    case 0x37: d.op = OP_LUI; d.imm = (int32_t)(insn & 0xfffff000u); break;
    case 0x17: d.op = OP_AUIPC; d.imm = (int32_t)(insn & 0xfffff000u); break;
    case 0x6f: d.op = OP_JAL; d.imm = imm_j(insn); break;
    case 0x67:
        if (f3 == 0) {
            d.op = OP_JALR;
            d.imm = imm_i(insn);
        }
        break;
    case 0x63: {
        static const uint8_t ops[8] = {OP_BEQ, OP_BNE, OP_ILLEGAL, OP_ILLEGAL,
                                       OP_BLT, OP_BGE, OP_BLTU,    OP_BGEU};
        d.op = ops[f3];
        d.imm = imm_b(insn);
        break;
    }
    case 0x03: {
        static const uint8_t ops[8] = {OP_LB, OP_LH, OP_LW, OP_LD, OP_LBU, OP_LHU, OP_LWU, OP_ILLEGAL};
        d.op = ops[f3];
        d.imm = imm_i(insn);
        break;
    }
    case 0x23: {
        static const uint8_t ops[8] = {OP_SB, OP_SH, OP_SW, OP_SD};
        d.op = f3 < 4 ? ops[f3] : OP_ILLEGAL;
        d.imm = imm_s(insn);
        break;
    }
    case 0x13:
        d.imm = imm_i(insn);
        switch (f3) {
        case 0: d.op = OP_ADDI; break;
        case 1: d.op = decode_op_imm_1(insn); d.imm &= 63; break;
        case 2: d.op = OP_SLTI; break;
        case 3: d.op = OP_SLTIU; break;
        case 4: d.op = OP_XORI; break;
        case 5: d.op = decode_op_imm_5(insn); d.imm &= 63; break;
        case 6: d.op = OP_ORI; break;
        default: d.op = OP_ANDI; break;
        }
        break;
    case 0x1b:
        d.imm = imm_i(insn);
        switch (f3) {
        case 0: d.op = OP_ADDIW; break;
        case 1:
            if ((insn >> 26) == 0x02) { /* slli.uw: a 6-bit shift amount */
                d.op = OP_SLLI_UW;
                d.imm &= 63;
                break;
            }
            d.op = f7 == 0 ? OP_SLLIW : (insn >> 20) == 0x600 ? OP_CLZW
                 : (insn >> 20) == 0x601 ? OP_CTZW : (insn >> 20) == 0x602 ? OP_CPOPW : OP_ILLEGAL;
            d.imm &= 31;
            break;
        case 5:
            d.op = f7 == 0 ? OP_SRLIW : f7 == 0x20 ? OP_SRAIW : f7 == 0x30 ? OP_RORIW : OP_ILLEGAL;
            d.imm &= 31;
            break;
        default: break;
        }
        break;
    case 0x33:
        if (f7 == 1) {
            d.op = OP_MULDIV;
        } else if (f7 == 0) {
            static const uint8_t ops[8] = {OP_ADD, OP_SLL, OP_SLT, OP_SLTU,
                                           OP_XOR, OP_SRL, OP_OR,  OP_AND};
            d.op = ops[f3];
        } else if (f7 == 0x20 && f3 == 0) {
            d.op = OP_SUB;
        } else if (f7 == 0x20 && f3 == 5) {
            d.op = OP_SRA;
        } else {
            d.op = decode_op_ext(f7, f3);
        }
        break;
    case 0x3b:
        if (f7 == 1)
            d.op = (f3 == 0 || f3 >= 4) ? OP_MULDIVW : OP_ILLEGAL;
        else if (f7 == 0 && f3 == 0)
            d.op = OP_ADDW;
        else if (f7 == 0x20 && f3 == 0)
            d.op = OP_SUBW;
        else if (f7 == 0 && f3 == 1)
            d.op = OP_SLLW;
        else if (f7 == 0 && f3 == 5)
            d.op = OP_SRLW;
        else if (f7 == 0x20 && f3 == 5)
            d.op = OP_SRAW;
        else
            d.op = decode_op32_ext(f7, f3, d.rs2);
        break;
    case 0x0f:
        d.op = f3 == 0 ? OP_FENCE : f3 == 1 ? OP_FENCE_I : OP_ILLEGAL;
        if (f3 == 2 && d.rd == 0) { /* cbo.*: rs1 is the address, imm[11:0] the operation */
            d.imm = (int32_t)(insn >> 20);
            if (d.imm == 0 || d.imm == 1 || d.imm == 2 || d.imm == 4)
                d.op = OP_CBO;
        }
        break;
    case 0x2f: d.op = OP_AMO; break;
    case 0x73: d.op = OP_SYSTEM; break;
    case 0x07:
        d.op = f3 == 2 ? OP_FLW : f3 == 3 ? OP_FLD : f3 == 1 ? OP_FLH : OP_ILLEGAL;
        d.imm = imm_i(insn);
        break;
    case 0x27:
        d.op = f3 == 2 ? OP_FSW : f3 == 3 ? OP_FSD : f3 == 1 ? OP_FSH : OP_ILLEGAL;
        d.imm = imm_s(insn);
        break;
    case 0x43: case 0x47: case 0x4b: case 0x4f: case 0x53:
        d.op = OP_FP;
        break;
    default:
        break;
    }
    return d;
}
