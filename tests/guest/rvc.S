# rvc.S - every RV64C compressed instruction (unprivileged spec, "C
# Extension for Compressed Instructions"): each one is assembled in a
# ".option rvc" island (the rest of the file is norvc so the layout around
# the offset-limit tests is exact) and its result checked. Covers immediate
# limits, the stack-pointer forms, the FP load/stores, jumps and branches at
# their offset limits, C.JALR's link (pc + 2) and C.EBREAK.
#include "harness.h"

/* Assemble the given instruction(s) with RVC on. */
#define C(insn...)							\
	.option push;							\
	.option rvc;							\
	insn;								\
	.option pop

TEST_BEGIN
	.option norvc
	ENABLE_FP

	/* ---- CI / CR ALU ---- */
	li a0, 10
	C(c.addi a0, 31)
	CHECK(1, a0, 41)
	C(c.addi a0, -32)
	CHECK(2, a0, 9)
	C(c.nop)
	C(c.li a1, -32)
	CHECK(3, a1, -32)
	C(c.li a1, 31)
	CHECK(4, a1, 31)
	C(c.lui a2, 0x1f)			/* largest positive: 0x1f000 */
	CHECK(5, a2, 0x1f000)
	C(c.lui a2, 0xfffe0)			/* most negative, sign-extends */
	CHECK(6, a2, 0xfffffffffffe0000)
	li a3, 0x7fffffff
	C(c.addiw a3, 1)			/* 32-bit wrap, sign-extended */
	CHECK(7, a3, 0xffffffff80000000)
	li a3, 0x1234567887654321
	C(c.addiw a3, 0)			/* sext.w */
	CHECK(8, a3, 0xffffffff87654321)
	li s0, 1
	C(c.slli s0, 63)
	CHECK(9, s0, 0x8000000000000000)
	C(c.srai s0, 63)
	CHECK(10, s0, -1)
	C(c.srli s0, 63)
	CHECK(11, s0, 1)
	li s1, 0x8000000000000000
	C(c.srai s1, 1)
	CHECK(12, s1, 0xc000000000000000)
	li s1, 0xff00
	C(c.andi s1, -32)			/* imm sign-extends */
	CHECK(13, s1, 0xff00)
	li s1, 0xffff
	C(c.andi s1, 31)
	CHECK(14, s1, 31)
	li s0, 100
	li s1, 58
	C(c.sub s0, s1)
	CHECK(15, s0, 42)
	li s0, 0xff00ff00ff00ff00
	li s1, 0x0ff00ff00ff00ff0
	C(c.xor s0, s1)
	CHECK(16, s0, 0xf0f0f0f0f0f0f0f0)
	li s0, 0xff00ff00ff00ff00
	C(c.or s0, s1)
	CHECK(17, s0, 0xfff0fff0fff0fff0)
	li s0, 0xff00ff00ff00ff00
	C(c.and s0, s1)
	CHECK(18, s0, 0x0f000f000f000f00)
	li s0, 0x80000000
	li s1, 1
	C(c.subw s0, s1)
	CHECK(19, s0, 0x7fffffff)
	li s0, 0x7fffffff
	C(c.addw s0, s1)
	CHECK(20, s0, 0xffffffff80000000)
	li a4, 0x123456789
	C(c.mv a5, a4)
	CHECK(21, a5, 0x123456789)
	li a4, 0x100000000
	C(c.add a5, a4)
	CHECK(22, a5, 0x223456789)

	/* ---- stack-pointer forms ---- */
	mv s2, sp				/* harness stack, restored below */
	la sp, cbuf
	C(c.addi16sp sp, 496)			/* max */
	la t0, cbuf + 496
	CHECK_REGS(23, sp, t0)
	C(c.addi16sp sp, -512)			/* min */
	la t0, cbuf - 16
	CHECK_REGS(24, sp, t0)
	la sp, cbuf
	C(c.addi4spn a0, sp, 1020)		/* max */
	la t0, cbuf + 1020
	CHECK_REGS(25, a0, t0)
	C(c.addi4spn a1, sp, 4)			/* min */
	la t0, cbuf + 4
	CHECK_REGS(26, a1, t0)

	li t0, 0x8765432112345678
	C(c.sdsp t0, 504(sp))			/* max offsets */
	ld t1, 504(sp)
	CHECK_REGS(27, t1, t0)
	C(c.ldsp t2, 504(sp))
	CHECK_REGS(28, t2, t0)
	C(c.swsp t0, 252(sp))
	lwu t1, 252(sp)
	CHECK(29, t1, 0x12345678)
	li t0, 0x80000001
	sw t0, 248(sp)
	C(c.lwsp t2, 248(sp))			/* sign-extends */
	CHECK(30, t2, 0xffffffff80000001)
	C(c.ldsp t2, 0(sp))
	ld t1, 0(sp)
	CHECK_REGS(31, t2, t1)

	/* ---- register-based loads/stores (x8..x15) ---- */
	la s0, cbuf
	li a2, 0xfedcba9876543210
	C(c.sd a2, 248(s0))			/* max */
	ld t1, 248(s0)
	CHECK_REGS(32, t1, a2)
	C(c.ld a3, 248(s0))
	CHECK_REGS(33, a3, a2)
	C(c.sw a2, 124(s0))			/* max */
	lwu t1, 124(s0)
	CHECK(34, t1, 0x76543210)
	li a2, 0xfffffffe
	sw a2, 0(s0)
	C(c.lw a4, 0(s0))			/* sign-extends */
	CHECK(35, a4, -2)

	/* ---- FP loads/stores ---- */
	li t0, 0x400921fb54442d18		/* pi */
	sd t0, 240(s0)
	C(c.fld fa0, 240(s0))
	fmv.x.d t1, fa0
	CHECK_REGS(36, t1, t0)
	C(c.fsd fa0, 8(s0))
	ld t1, 8(s0)
	CHECK_REGS(37, t1, t0)
	li t0, 0xc000000000000000		/* -2.0 */
	sd t0, 504(sp)
	C(c.fldsp fa1, 504(sp))
	fmv.x.d t1, fa1
	CHECK_REGS(38, t1, t0)
	C(c.fsdsp fa1, 16(sp))
	ld t1, 16(sp)
	CHECK_REGS(39, t1, t0)
	mv sp, s2

	/* ---- C.J at +2046 / -2048 ---- */
	li gp, 40
cj_f:	C(c.j cj_f_tgt)
	.skip 2046 - (. - cj_f)
cj_f_tgt:
	la t0, cj_f_tgt
	la t1, cj_f
	sub t0, t0, t1
	CHECK(41, t0, 2046)

	li gp, 42
	j cj_b
cj_b_tgt:
	j cj_b_ok
	.skip 2048 - (. - cj_b_tgt)
cj_b:	C(c.j cj_b_tgt)
	GOTO_FAIL
cj_b_ok:
	la t0, cj_b
	la t1, cj_b_tgt
	sub t0, t0, t1
	CHECK(43, t0, 2048)

	/* ---- C.BEQZ / C.BNEZ at +254 / -256, and not taken ---- */
	li gp, 44
	li s0, 0
cb_f:	C(c.beqz s0, cb_f_tgt)
	GOTO_FAIL
	.skip 254 - (. - cb_f)
cb_f_tgt:
	la t0, cb_f_tgt
	la t1, cb_f
	sub t0, t0, t1
	CHECK(45, t0, 254)

	li gp, 46
	li s0, 1
	j cb_b
cb_b_tgt:
	j cb_b_ok
	.skip 256 - (. - cb_b_tgt)
cb_b:	C(c.bnez s0, cb_b_tgt)
	GOTO_FAIL
cb_b_ok:
	la t0, cb_b
	la t1, cb_b_tgt
	sub t0, t0, t1
	CHECK(47, t0, 256)

	li gp, 48
	li s0, 1
	C(c.beqz s0, 1f)			/* not taken */
	j 2f
1:	GOTO_FAIL
2:	li gp, 49
	li s0, 0
	C(c.bnez s0, 1f)			/* not taken */
	j 2f
1:	GOTO_FAIL
2:

	/* ---- C.JR / C.JALR ---- */
	li gp, 50
	la t0, cjr_tgt
	C(c.jr t0)
	GOTO_FAIL
cjr_tgt:
	li gp, 51
	la t0, cjalr_tgt
cjalr:	C(c.jalr t0)
	GOTO_FAIL
cjalr_tgt:
	la t1, cjalr + 2			/* link is pc + 2 */
	CHECK_REGS(52, ra, t1)
	/* target that is only 2-byte aligned */
	li gp, 53
	la t0, cjr_odd_tgt
	C(c.jr t0)
	GOTO_FAIL
	.balign 4, 0				/* zero fill: never executed */
	C(c.nop)
cjr_odd_tgt:
	la t1, cjr_odd_tgt
	andi t1, t1, 2
	CHECK(54, t1, 2)			/* really was 2 mod 4 */

	/* ---- C.EBREAK: mcause 3, mepc = its address ---- */
	TRAP_ARM(1f)
cebreak:
	C(c.ebreak)
	nop
1:	CHECK_CAUSE(55, CAUSE_BREAKPOINT)
	CHECK_EPC(56, cebreak)
TEST_END

	.data
	.align 4
	.skip 1024
cbuf:	.skip 2048
