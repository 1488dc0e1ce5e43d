/*
 * Decoding RV64 instructions once into a flat operation code with operands
 * extracted, so the interpreter's hot loop is one jump per instruction.
 */
#ifndef KILN_CPU_DECODE_H
#define KILN_CPU_DECODE_H

#include <stdint.h>

enum op {
    OP_NONE, /* a decode-cache slot not filled yet */
    OP_ILLEGAL,
    OP_LUI, OP_AUIPC, OP_JAL, OP_JALR,
    OP_BEQ, OP_BNE, OP_BLT, OP_BGE, OP_BLTU, OP_BGEU,
    OP_LB, OP_LH, OP_LW, OP_LD, OP_LBU, OP_LHU, OP_LWU,
    OP_SB, OP_SH, OP_SW, OP_SD,
    OP_ADDI, OP_SLLI, OP_SLTI, OP_SLTIU, OP_XORI, OP_SRLI, OP_SRAI, OP_ORI, OP_ANDI,
    OP_ADDIW, OP_SLLIW, OP_SRLIW, OP_SRAIW,
    OP_ADD, OP_SUB, OP_SLL, OP_SLT, OP_SLTU, OP_XOR, OP_SRL, OP_SRA, OP_OR, OP_AND,
    OP_MULDIV, /* the M extension's OP group; f3 in `aux` */
    OP_ADDW, OP_SUBW, OP_SLLW, OP_SRLW, OP_SRAW,
    OP_MULDIVW,
    OP_FENCE, OP_FENCE_I, OP_AMO, OP_SYSTEM,
    OP_FLW, OP_FLD, OP_FSW, OP_FSD, OP_FP,
    OP_CBO, /* Zicbom/Zicboz: cbo.inval/clean/flush/zero, which in `imm` (cmo spec 2.5) */
    OP_FLH, OP_FSH, /* Zfhmin */
    /*
     * Zba, Zbb, Zbs (unpriv "B" chapter) and Zicond: register-to-register
     * arithmetic without side effects, all computed by bitmanip_exec() (the
     * interpreter's and the JIT's one definition). Keep them contiguous.
     */
    OP_BM_FIRST,
    OP_SH1ADD = OP_BM_FIRST, OP_SH2ADD, OP_SH3ADD,
    OP_ADD_UW, OP_SH1ADD_UW, OP_SH2ADD_UW, OP_SH3ADD_UW, OP_SLLI_UW,
    OP_ANDN, OP_ORN, OP_XNOR, OP_CLZ, OP_CTZ, OP_CPOP, OP_CLZW, OP_CTZW, OP_CPOPW,
    OP_MAX, OP_MAXU, OP_MIN, OP_MINU, OP_SEXT_B, OP_SEXT_H, OP_ZEXT_H,
    OP_ROL, OP_ROR, OP_RORI, OP_ROLW, OP_RORW, OP_RORIW, OP_ORC_B, OP_REV8,
    OP_BCLR, OP_BCLRI, OP_BEXT, OP_BEXTI, OP_BINV, OP_BINVI, OP_BSET, OP_BSETI,
    OP_CZERO_EQZ, OP_CZERO_NEZ,
    OP_BM_LAST = OP_CZERO_NEZ,
    OP_COUNT
};

struct decoded {
    uint8_t op;
    uint8_t rd, rs1, rs2;
    uint8_t aux; /* funct3 for the grouped ops */
    int32_t imm;
};

/* Decodes a 32-bit instruction (compressed ones already expanded). Unknown encodings give OP_ILLEGAL. */
struct decoded decode_insn(uint32_t insn);

/*
 * The result of a Zba/Zbb/Zbs/Zicond op (OP_BM_FIRST..OP_BM_LAST): a = x[rs1],
 * b = x[rs2], imm the decoded immediate (shift amounts). Never traps.
 */
uint64_t bitmanip_exec(unsigned op, uint64_t a, uint64_t b, int64_t imm);

#endif
