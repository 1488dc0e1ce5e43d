/*
 * RV64F/RV64D computational instructions (unpriv 20191213 ch. 11 "F" and
 * ch. 12 "D"). Loads/stores and the fflags/frm/fcsr CSRs live with the caller.
 */
#ifndef KILN_CPU_FPU_H
#define KILN_CPU_FPU_H

#include <stdint.h>

struct hart;

/*
 * Executes one OP-FP (opcode 0x53), FMADD (0x43), FMSUB (0x47), FNMSUB (0x4b)
 * or FNMADD (0x4f) instruction of RV64F/RV64D. Returns 0 on success, -1 if the
 * instruction is illegal (unknown funct, reserved rounding mode 5/6, or
 * dynamic rm while frm is invalid).
 * Reads/writes h->f[], h->x[] (never h->x[0]), h->fflags (accrues), h->frm.
 * Does not touch mstatus.FS: the caller checks FS != Off before and marks it
 * Dirty after.
 * Expects the calling thread's host FP environment to be the C default
 * (round-to-nearest, no flush-to-zero), and leaves it that way; host
 * exception flags are clobbered.
 */
int fpu_exec(struct hart *h, uint32_t insn);

#endif
