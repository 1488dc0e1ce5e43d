/*
 * Zfhmin (unpriv "Zfh" chapter, "Zfhmin" section): half-precision loads and
 * stores live with the caller; this is FMV.X.H, FMV.H.X and the conversions
 * FCVT.{S,D}.H / FCVT.H.{S,D}. Halves are NaN-boxed in the 64-bit register.
 */
#ifndef KILN_CPU_FP16_H
#define KILN_CPU_FP16_H

#include <stdbool.h>
#include <stdint.h>

struct hart;

/* True when insn (OP-FP) is one of Zfhmin's; fpu_exec() hands those here. */
bool fp16_owns(uint32_t insn);
/* Executes it: 0, or -1 when illegal (bad rounding mode, reserved fields). */
int fp16_exec(struct hart *h, uint32_t insn);

#endif
