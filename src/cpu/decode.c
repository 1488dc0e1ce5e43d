/* RV64G decoding (unpriv spec chapter 34 "RV32/64G Instruction Set Listings"). */
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
        case 1: d.op = (insn >> 26) ? OP_ILLEGAL : OP_SLLI; d.imm &= 63; break;
        case 2: d.op = OP_SLTI; break;
        case 3: d.op = OP_SLTIU; break;
        case 4: d.op = OP_XORI; break;
        case 5:
            d.op = (insn >> 26) == 0 ? OP_SRLI : (insn >> 26) == 0x10 ? OP_SRAI : OP_ILLEGAL;
            d.imm &= 63;
            break;
        case 6: d.op = OP_ORI; break;
        default: d.op = OP_ANDI; break;
        }
        break;
    case 0x1b:
        d.imm = imm_i(insn);
        switch (f3) {
        case 0: d.op = OP_ADDIW; break;
        case 1: d.op = f7 ? OP_ILLEGAL : OP_SLLIW; d.imm &= 31; break;
        case 5:
            d.op = f7 == 0 ? OP_SRLIW : f7 == 0x20 ? OP_SRAIW : OP_ILLEGAL;
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
        break;
    case 0x0f:
        d.op = f3 == 0 ? OP_FENCE : f3 == 1 ? OP_FENCE_I : OP_ILLEGAL;
        break;
    case 0x2f: d.op = OP_AMO; break;
    case 0x73: d.op = OP_SYSTEM; break;
    case 0x07:
        d.op = f3 == 2 ? OP_FLW : f3 == 3 ? OP_FLD : OP_ILLEGAL;
        d.imm = imm_i(insn);
        break;
    case 0x27:
        d.op = f3 == 2 ? OP_FSW : f3 == 3 ? OP_FSD : OP_ILLEGAL;
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
