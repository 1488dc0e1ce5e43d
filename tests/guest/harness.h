/*
 * harness.h - shared macros for kiln's bare-metal RISC-V guest tests.
 *
 * Every test is one M-mode program linked at 0x80000000 (link.ld) that
 * reports through HTIF, the riscv-tests convention: it writes 1 to `tohost`
 * when every case passed, or (N << 1) | 1 when test case N failed.
 *
 * Register conventions inside tests:
 *   gp      number of the test case being checked (reported on failure)
 *   t4-t6   scratch of the CHECK macros: clobbered by every check
 *   s10,s11 scratch of the M-mode trap handler: clobbered by any trap
 *   sp      a 16 KiB stack per hart (only used by tests that want one)
 * Everything else belongs to the test.
 *
 * Layout of a test file:
 *
 *	#include "harness.h"
 *	TEST_BEGIN
 *		TEST_RR(1, add, 3, 1, 2)
 *		...
 *	TEST_END
 *
 * TEST_BEGIN parks every hart except hart 0 (define MULTI_HART before the
 * include to get all harts at `test_main_hart` with a0 = mhartid instead).
 * Test numbers must be 1..255: QEMU reports the failing number in its exit
 * status, which keeps only 8 bits.
 */
#ifndef KILN_TEST_HARNESS_H
#define KILN_TEST_HARNESS_H

/* ---- CSR bits (privileged spec, "Machine-Level ISA") ---- */
#define MSTATUS_SIE	(1 << 1)
#define MSTATUS_MIE	(1 << 3)
#define MSTATUS_SPIE	(1 << 5)
#define MSTATUS_UBE	(1 << 6)
#define MSTATUS_MPIE	(1 << 7)
#define MSTATUS_SPP	(1 << 8)
#define MSTATUS_MPP	(3 << 11)
#define MSTATUS_FS	(3 << 13)
#define MSTATUS_FS_INIT	(1 << 13)
#define MSTATUS_FS_CLEAN (2 << 13)
#define MSTATUS_FS_DIRTY (3 << 13)
#define MSTATUS_MPRV	(1 << 17)
#define MSTATUS_SUM	(1 << 18)
#define MSTATUS_MXR	(1 << 19)
#define MSTATUS_TVM	(1 << 20)
#define MSTATUS_TW	(1 << 21)
#define MSTATUS_TSR	(1 << 22)
#define MSTATUS_SD	(1 << 63)

#define PRV_U	0
#define PRV_S	1
#define PRV_M	3

#define MIP_SSIP	(1 << 1)
#define MIP_MSIP	(1 << 3)
#define MIP_STIP	(1 << 5)
#define MIP_STIE	MIP_STIP
#define MIP_MTIP	(1 << 7)
#define MIP_SEIP	(1 << 9)
#define MIP_MEIP	(1 << 11)

#define CAUSE_MISALIGNED_FETCH	0
#define CAUSE_FETCH_ACCESS	1
#define CAUSE_ILLEGAL		2
#define CAUSE_BREAKPOINT	3
#define CAUSE_MISALIGNED_LOAD	4
#define CAUSE_LOAD_ACCESS	5
#define CAUSE_MISALIGNED_STORE	6
#define CAUSE_STORE_ACCESS	7
#define CAUSE_ECALL_U		8
#define CAUSE_ECALL_S		9
#define CAUSE_ECALL_M		11
#define CAUSE_FETCH_PAGE	12
#define CAUSE_LOAD_PAGE		13
#define CAUSE_STORE_PAGE	15
#define CAUSE_INTR		(1 << 63)

/* CLINT, same address on kiln's board and QEMU spike/virt. */
#define CLINT_BASE	0x2000000
#define CLINT_MSIP	(CLINT_BASE + 0x0)	/* + 4 * hart */
#define CLINT_MTIMECMP	(CLINT_BASE + 0x4000)	/* + 8 * hart */
#define CLINT_MTIME	(CLINT_BASE + 0xbff8)

/* ---- checks ---- */

/* Jump to the failure exit from anywhere in the image (a plain j reaches
 * only +-1 MiB). Clobbers t6. */
#define GOTO_FAIL	jump fail, t6

/* Fail with test number n unless reg == val (a 64-bit constant). */
#define CHECK(n, reg, val)						\
	li gp, n;							\
	li t6, val;							\
	beq reg, t6, 90001f;						\
	GOTO_FAIL;								\
90001:

/* Fail with test number n unless reg1 == reg2. */
#define CHECK_REGS(n, reg1, reg2)					\
	li gp, n;							\
	beq reg1, reg2, 90002f;						\
	GOTO_FAIL;								\
90002:

/* Fail with test number n unless the doubleword at symbol equals val. */
#define CHECK_MEM(n, sym, val)						\
	la t5, sym;							\
	ld t5, 0(t5);							\
	CHECK(n, t5, val)

/* Unconditional failure of test n. */
#define FAIL(n)								\
	li gp, n;							\
	GOTO_FAIL

/* rd = op(a, b) with registers; checks rd. */
#define TEST_RR(n, op, expect, a, b)					\
	li t0, a;							\
	li t1, b;							\
	op t2, t0, t1;							\
	CHECK(n, t2, expect)

/* rd = op(a, imm); checks rd. */
#define TEST_RI(n, op, expect, a, imm)					\
	li t0, a;							\
	op t2, t0, imm;							\
	CHECK(n, t2, expect)

/* rd = op(a); checks rd. */
#define TEST_R(n, op, expect, a)					\
	li t0, a;							\
	op t2, t0;							\
	CHECK(n, t2, expect)

/* ---- traps ----
 *
 * The harness' M-mode handler records mcause, mepc, mtval and mstatus into
 * `trap_info` and resumes in M-mode, with mstatus.MIE clear, at the address
 * armed by TRAP_ARM. An
 * unarmed trap fails the current test case (gp). Arming is one-shot.
 * trap_info layout: 0 cause, 8 epc, 16 tval, 24 status, 32 resume, 40 count.
 */
#define TI_CAUSE	0
#define TI_EPC		8
#define TI_TVAL		16
#define TI_STATUS	24
#define TI_RESUME	32
#define TI_COUNT	40

/* Expect a trap; on it (or if none happens) continue at `resume`. */
#define TRAP_ARM(resume)						\
	la s10, trap_info;						\
	li s11, -1;							\
	sd s11, TI_CAUSE(s10);						\
	sd s11, TI_TVAL(s10);						\
	la s11, resume;							\
	sd s11, TI_RESUME(s10)

/* Cancel an armed TRAP_ARM whose trap did not happen. */
#define TRAP_DISARM							\
	la s10, trap_info;						\
	sd zero, TI_RESUME(s10)

/* After the resume label: fail n unless the recorded mcause is `cause`. */
#define CHECK_CAUSE(n, cause)						\
	la t5, trap_info;						\
	ld t5, TI_CAUSE(t5);						\
	CHECK(n, t5, cause)

/* ...unless the recorded mtval is `val`. */
#define CHECK_TVAL(n, val)						\
	la t5, trap_info;						\
	ld t5, TI_TVAL(t5);						\
	CHECK(n, t5, val)

/* ...unless the recorded mtval is the address `sym` (+ offset). */
#define CHECK_TVAL_ADDR(n, sym)						\
	la t5, trap_info;						\
	ld t5, TI_TVAL(t5);						\
	la t4, sym;							\
	CHECK_REGS(n, t5, t4)

/* ...unless the recorded mepc is the address of label `lab`. */
#define CHECK_EPC(n, lab)						\
	la t5, trap_info;						\
	ld t5, TI_EPC(t5);						\
	la t4, lab;							\
	CHECK_REGS(n, t5, t4)

/* ...unless the privilege the trap came from (mstatus.MPP) is `prv`. */
#define CHECK_FROM_PRIV(n, prv)						\
	la t5, trap_info;						\
	ld t5, TI_STATUS(t5);						\
	srli t5, t5, 11;						\
	andi t5, t5, 3;							\
	CHECK(n, t5, prv)

/* Fail n if no trap was recorded since the last TRAP_ARM. */
#define CHECK_NO_TRAP(n)						\
	la t5, trap_info;						\
	ld t5, TI_CAUSE(t5);						\
	CHECK(n, t5, -1)

/* Run one instruction (or a few) that must trap with `cause`. */
#define TEST_TRAP(n, cause, insns...)					\
	TRAP_ARM(90003f);						\
	insns;								\
90003:									\
	CHECK_CAUSE(n, cause)

/* Drop to privilege `prv` (PRV_S/PRV_U/PRV_M) at label `target` via mret. */
#define GOTO_PRIV(prv, target)						\
	li t6, MSTATUS_MPP;						\
	csrc mstatus, t6;						\
	li t6, (prv) << 11;						\
	csrs mstatus, t6;						\
	la t6, target;							\
	csrw mepc, t6;							\
	mret

/* Give S/U mode access to all of memory through PMP entry 0 (QEMU denies
 * S/U accesses when no PMP entry matches). Harmless if PMP is absent: a trap
 * on the CSR write lands on the label after it. Restores mtvec. */
#define PMP_OPEN_ALL							\
	la t6, 90004f;							\
	csrw mtvec, t6;							\
	li t6, -1;							\
	csrw pmpaddr0, t6;						\
	li t6, 0x1f;	/* NAPOT, R W X */				\
	csrw pmpcfg0, t6;						\
	.align 2;							\
90004:									\
	la t6, trap_entry;						\
	csrw mtvec, t6

#define ENABLE_FP							\
	li t6, MSTATUS_FS_INIT;						\
	csrs mstatus, t6;						\
	csrwi fcsr, 0

/* ---- floating point (F/D): operands and results as raw bit patterns ----
 *
 * fa0, fa1, fa3 get the 64-bit patterns a, b, c; fflags is cleared; `insn`
 * runs and must leave its result in fa2 (FP_TEST_F, FP_TEST_I) or t2
 * (FP_TEST_X). Test n checks the result; test nf (when non-zero) checks
 * fflags afterwards. Singles must be passed NaN-boxed: see BOX(). */
#define FFLAG_NV	0x10
#define FFLAG_DZ	0x08
#define FFLAG_OF	0x04
#define FFLAG_UF	0x02
#define FFLAG_NX	0x01
#define FRM_RNE		0
#define FRM_RTZ		1
#define FRM_RDN		2
#define FRM_RUP		3
#define FRM_RMM		4

#define BOX(x)		(0xffffffff00000000 | (x))

#define FP_LOAD3(a, b, c)						\
	li t0, a;							\
	fmv.d.x fa0, t0;						\
	li t0, b;							\
	fmv.d.x fa1, t0;						\
	li t0, c;							\
	fmv.d.x fa3, t0;						\
	fsflags zero

#define FP_CHECK_FLAGS(nf, flags)					\
	.if nf;								\
	CHECK(nf, t3, flags);						\
	.endif

#define FP_TEST_F(n, nf, expect, flags, a, b, c, insn...)		\
	FP_LOAD3(a, b, c);						\
	insn;								\
	frflags t3;							\
	fmv.x.d t2, fa2;						\
	CHECK(n, t2, expect);						\
	FP_CHECK_FLAGS(nf, flags)

#define FP_TEST_X(n, nf, expect, flags, a, b, insn...)			\
	FP_LOAD3(a, b, 0);						\
	insn;								\
	frflags t3;							\
	CHECK(n, t2, expect);						\
	FP_CHECK_FLAGS(nf, flags)

#define FP_TEST_I(n, nf, expect, flags, ia, insn...)			\
	fsflags zero;							\
	li t0, ia;							\
	insn;								\
	frflags t3;							\
	fmv.x.d t2, fa2;						\
	CHECK(n, t2, expect);						\
	FP_CHECK_FLAGS(nf, flags)

/* ---- program skeleton ---- */

#ifdef MULTI_HART
#define PARK_OTHER_HARTS	j test_main_hart
#else
#define PARK_OTHER_HARTS	bnez a0, park
#endif

#define TEST_BEGIN							\
	/* no linker relaxation: tests measure exact code distances */	\
	.option norelax;						\
	.section .text.init, "ax";					\
	.globl _start;							\
_start:									\
	csrr a0, mhartid;						\
	la t0, trap_entry;						\
	csrw mtvec, t0;							\
	csrw mie, zero;							\
	/* 16 KiB stack per hart (harts 0..7) */			\
	la sp, stacks_top;						\
	slli t0, a0, 14;						\
	sub sp, sp, t0;							\
	PARK_OTHER_HARTS;						\
	j test_main;							\
park:									\
	wfi;								\
	j park;								\
									\
	.align 2;							\
trap_entry:								\
	la s11, trap_info;						\
	csrr s10, mcause;						\
	sd s10, TI_CAUSE(s11);						\
	csrr s10, mepc;							\
	sd s10, TI_EPC(s11);						\
	csrr s10, mtval;						\
	sd s10, TI_TVAL(s11);						\
	csrr s10, mstatus;						\
	sd s10, TI_STATUS(s11);						\
	ld s10, TI_COUNT(s11);						\
	addi s10, s10, 1;						\
	sd s10, TI_COUNT(s11);						\
	ld s10, TI_RESUME(s11);						\
	beqz s10, fail;		/* unexpected trap */			\
	sd zero, TI_RESUME(s11);					\
	csrw mepc, s10;							\
	li s10, MSTATUS_MPP;	/* resume in M-mode */			\
	csrs mstatus, s10;						\
	li s10, MSTATUS_MPIE;	/* ...with MIE off */			\
	csrc mstatus, s10;						\
	mret;								\
									\
pass:									\
	fence;								\
	li t0, 1;							\
	la t1, tohost;							\
	sd t0, 0(t1);							\
90010:	j 90010b;							\
fail:									\
	fence;								\
	slli t0, gp, 1;							\
	ori t0, t0, 1;							\
	la t1, tohost;							\
	sd t0, 0(t1);							\
90011:	j 90011b;							\
									\
	.text;								\
test_main:

#define TEST_END							\
	jump pass, t6;							\
									\
	.section .tohost, "aw", @progbits;				\
	.align 6;							\
	.globl tohost;							\
	.type tohost, @object;						\
	.size tohost, 8;	/* QEMU insists on the size */		\
tohost:	.dword 0;							\
	.align 6;							\
	.globl fromhost;						\
	.type fromhost, @object;					\
	.size fromhost, 8;						\
fromhost: .dword 0;							\
									\
	.data;								\
	.align 6;							\
	.globl trap_info;						\
trap_info:								\
	.dword -1, 0, -1, 0, 0, 0, 0, 0;				\
									\
	.bss;								\
	.align 12;							\
stacks:	.skip 8 * 16384;						\
stacks_top:

#endif /* KILN_TEST_HARNESS_H */
