/*
 * RVC ("C" extension) expander for RV64GC: maps each 16-bit compressed
 * instruction onto the single 32-bit instruction it stands for, so the
 * interpreter only has to execute the 32-bit encodings.
 */
#ifndef KILN_CPU_RVC_H
#define KILN_CPU_RVC_H

#include <stdint.h>

/*
 * Expands a 16-bit RVC instruction (low two bits != 3) to the equivalent
 * 32-bit RV64 instruction encoding, per the RISC-V unprivileged spec chapter
 * '"C" Extension for Compressed Instructions', RV64 column: C.LD/C.SD/C.LDSP/
 * C.SDSP, C.ADDIW, C.SUBW, C.ADDW, C.FLD/C.FSD/C.FLDSP/C.FSDSP; there is no
 * C.FLW/C.FSW/C.JAL on RV64.
 *
 * Returns 0 when the encoding is illegal or reserved: the all-zero word,
 * C.ADDI4SPN with nzuimm=0, C.LUI/C.ADDI16SP with imm=0, C.LWSP/C.LDSP with
 * rd=0, C.JR with rs1=0, C.ADDIW with rd=0, quadrant 0 funct3=100, and the
 * two reserved CA-format slots (funct6=100111, funct2=10/11). Quadrant 3
 * (a 32-bit instruction, not RVC) also returns 0.
 *
 * HINTs (spec "HINT Instructions" table) are not illegal: they expand to the
 * 32-bit computational instruction that writes x0 or rewrites rd with itself,
 * which is harmless to execute. On RV64 those are C.NOP imm!=0, C.ADDI imm=0,
 * C.LI rd=0, C.LUI rd=0, C.MV rd=0, C.ADD rd=0, C.SLLI rd=0 or shamt=0, and
 * C.SRLI/C.SRAI shamt=0.
 *
 * Pure function, no state; the caller raises illegal instruction with the
 * original 16 bits in tval when 0 is returned.
 */
uint32_t rvc_expand(uint16_t insn);

#endif
