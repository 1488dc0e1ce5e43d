/* The interpreter's entry point: runs h->budget instructions (or fewer, if something ends the batch). */
#ifndef KILN_CPU_EXEC_H
#define KILN_CPU_EXEC_H

#include <stdbool.h>
#include <stdint.h>

#include "cpu/hart.h"

/* Returns the number of instructions attempted (retired or trapped). */
uint64_t hart_exec(struct hart *h);
/* The interpreter alone: the same, never using translated code (the JIT's reference). */
uint64_t hart_interp(struct hart *h);
/*
 * The interpreter until the first control transfer (taken branch, jump,
 * trap), the end of the page, HART_BLOCK_MAX instructions or the budget's
 * end: where a translated block starting at the same pc would end, so the
 * JIT's dispatcher sees (and counts) every start its blocks can have.
 */
#define HART_BLOCK_MAX 64
uint64_t hart_interp_block(struct hart *h);
/* One instruction (or the trap it takes), for the JIT's dispatcher. */
uint64_t hart_interp_insn(struct hart *h);
/* The M extension's arithmetic (unpriv chapter 7), shared with the JIT's helpers. */
uint64_t exec_muldiv(unsigned f3, uint64_t a, uint64_t b);
bool exec_muldiv_w(unsigned f3, uint64_t a, uint64_t b, uint64_t *out);
/*
 * For translated code. exec_amo_fast: an AMO or LR/SC whose address hits the
 * TLB (0); 1 when it needs the slow path, -1 when illegal, both with nothing
 * changed. exec_csr_insn: a CSR instruction (0), or -1 with nothing changed
 * when it is illegal. Both are the interpreter's own code.
 */
int exec_amo_fast(struct hart *h, uint32_t insn);
int exec_csr_insn(struct hart *h, uint32_t insn);
/* WFI: sleeps until an interrupt is pending and enabled in mie, or the VM stops (priv 3.3.3). */
void hart_wfi(struct hart *h);

#endif
