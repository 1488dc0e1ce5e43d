# rvf.S - the F extension (unprivileged spec, "F Extension for Single-
# Precision Floating-Point"): rounding modes (static rm and dynamic frm),
# fflags for each exception, canonical NaNs, NaN boxing in the 64-bit
# f registers, FCVT saturation, FMIN/FMAX on NaNs and signed zeros,
# comparisons, FCLASS, fused multiply-add, and mstatus.FS = Off.
# Operands and results are bit patterns (see FP_TEST_* in harness.h).
#include "harness.h"

/* singles, NaN-boxed on the way in and checked boxed on the way out */
#define TS(n, nf, exp, fl, a, b, insn...)				\
	FP_TEST_F(n, nf, BOX(exp), fl, BOX(a), BOX(b), BOX(0), insn)
#define TS3(n, nf, exp, fl, a, b, c, insn...)				\
	FP_TEST_F(n, nf, BOX(exp), fl, BOX(a), BOX(b), BOX(c), insn)
#define TSX(n, nf, exp, fl, a, b, insn...)				\
	FP_TEST_X(n, nf, exp, fl, BOX(a), BOX(b), insn)
#define TSI(n, nf, exp, fl, ia, insn...)				\
	FP_TEST_I(n, nf, BOX(exp), fl, ia, insn)

#define ONE	0x3f800000
#define MONE	0xbf800000
#define TWO	0x40000000
#define THREE	0x40400000
#define HALF	0x3f000000
#define TINY	0x33800000	/* 2^-24: half an ulp of 1.0 */
#define MTINY	0xb3800000
#define INF	0x7f800000
#define MINF	0xff800000
#define MAXF	0x7f7fffff
#define MMAXF	0xff7fffff
#define MINSUB	0x00000001
#define MINNORM	0x00800000
#define QNAN	0x7fc00000	/* the canonical NaN */
#define SNAN	0x7f800001
#define PZERO	0x00000000
#define MZERO	0x80000000

TEST_BEGIN
	ENABLE_FP

	/* ---- basic arithmetic, exact: no flags ---- */
	TS(1, 2, THREE, 0, ONE, TWO, fadd.s fa2, fa0, fa1)
	TS(3, 4, MONE, 0, ONE, TWO, fsub.s fa2, fa0, fa1)
	TS(5, 6, 0x40c00000, 0, THREE, TWO, fmul.s fa2, fa0, fa1)	/* 6 */
	TS(7, 8, 0x3fc00000, 0, THREE, TWO, fdiv.s fa2, fa0, fa1)	/* 1.5 */
	TS(9, 10, TWO, 0, 0x40800000, 0, fsqrt.s fa2, fa0)		/* sqrt 4 */
	TS(11, 12, MZERO, 0, MZERO, 0, fsqrt.s fa2, fa0)		/* sqrt -0 */

	/* ---- static rounding mode: 1 + 2^-24 is a tie ---- */
	TS(13, 14, ONE, FFLAG_NX, ONE, TINY, fadd.s fa2, fa0, fa1, rne)
	TS(15, 0, ONE, 0, ONE, TINY, fadd.s fa2, fa0, fa1, rtz)
	TS(16, 0, ONE, 0, ONE, TINY, fadd.s fa2, fa0, fa1, rdn)
	TS(17, 0, 0x3f800001, 0, ONE, TINY, fadd.s fa2, fa0, fa1, rup)
	TS(18, 0, 0x3f800001, 0, ONE, TINY, fadd.s fa2, fa0, fa1, rmm)
	TS(19, 0, MONE, 0, MONE, MTINY, fadd.s fa2, fa0, fa1, rne)
	TS(20, 0, MONE, 0, MONE, MTINY, fadd.s fa2, fa0, fa1, rtz)
	TS(21, 0, 0xbf800001, 0, MONE, MTINY, fadd.s fa2, fa0, fa1, rdn)
	TS(22, 0, MONE, 0, MONE, MTINY, fadd.s fa2, fa0, fa1, rup)
	TS(23, 0, 0xbf800001, 0, MONE, MTINY, fadd.s fa2, fa0, fa1, rmm)
	/* not a tie: 1/3 */
	TS(24, 25, 0x3eaaaaab, FFLAG_NX, ONE, THREE, fdiv.s fa2, fa0, fa1, rne)
	TS(26, 0, 0x3eaaaaaa, 0, ONE, THREE, fdiv.s fa2, fa0, fa1, rtz)
	TS(27, 0, 0x3eaaaaab, 0, ONE, THREE, fdiv.s fa2, fa0, fa1, rup)

	/* ---- dynamic rounding mode (frm) ---- */
	TS(28, 0, ONE, 0, ONE, TINY, csrwi frm, FRM_RNE; fadd.s fa2, fa0, fa1, dyn)
	TS(29, 0, ONE, 0, ONE, TINY, csrwi frm, FRM_RTZ; fadd.s fa2, fa0, fa1, dyn)
	TS(30, 0, 0xbf800001, 0, MONE, MTINY, csrwi frm, FRM_RDN; fadd.s fa2, fa0, fa1, dyn)
	TS(31, 0, 0x3f800001, 0, ONE, TINY, csrwi frm, FRM_RUP; fadd.s fa2, fa0, fa1, dyn)
	TS(32, 0, 0x3f800001, 0, ONE, TINY, csrwi frm, FRM_RMM; fadd.s fa2, fa0, fa1, dyn)
	/* a static rm overrides frm (still RMM here) */
	TS(33, 0, ONE, 0, ONE, TINY, fadd.s fa2, fa0, fa1, rne)
	csrwi frm, FRM_RNE

	/* ---- each exception flag ---- */
	TS(34, 35, QNAN, FFLAG_NV, PZERO, INF, fmul.s fa2, fa0, fa1)	/* 0 * inf */
	TS(36, 37, QNAN, FFLAG_NV, INF, INF, fsub.s fa2, fa0, fa1)	/* inf - inf */
	TS(38, 39, QNAN, FFLAG_NV, MONE, 0, fsqrt.s fa2, fa0)
	TS(40, 41, QNAN, FFLAG_NV, PZERO, PZERO, fdiv.s fa2, fa0, fa1)
	TS(42, 43, INF, FFLAG_DZ, ONE, PZERO, fdiv.s fa2, fa0, fa1)
	TS(44, 45, MINF, FFLAG_DZ, MONE, PZERO, fdiv.s fa2, fa0, fa1)
	TS(46, 47, INF, FFLAG_OF | FFLAG_NX, MAXF, TWO, fmul.s fa2, fa0, fa1)
	TS(48, 49, MAXF, FFLAG_OF | FFLAG_NX, MAXF, TWO, fmul.s fa2, fa0, fa1, rtz)
	TS(50, 51, MMAXF, FFLAG_OF | FFLAG_NX, MMAXF, TWO, fmul.s fa2, fa0, fa1, rup)
	TS(52, 53, PZERO, FFLAG_UF | FFLAG_NX, MINSUB, HALF, fmul.s fa2, fa0, fa1)
	TS(54, 55, MINSUB, FFLAG_UF | FFLAG_NX, MINSUB, HALF, fmul.s fa2, fa0, fa1, rup)
	/* tiny but exact: no underflow */
	TS(56, 57, 0x00400000, 0, MINNORM, HALF, fmul.s fa2, fa0, fa1)
	TS(58, 59, 0x3fb504f3, FFLAG_NX, TWO, 0, fsqrt.s fa2, fa0)	/* sqrt 2 */
	/* flags accumulate until cleared */
	fsflags zero
	FP_LOAD3(BOX(ONE), BOX(THREE), BOX(PZERO))
	fdiv.s fa2, fa0, fa1			/* NX */
	fdiv.s fa2, fa0, fa3			/* DZ */
	frflags t3
	CHECK(60, t3, FFLAG_NX | FFLAG_DZ)
	fsflags t4, zero			/* swap returns the old value */
	CHECK(61, t4, FFLAG_NX | FFLAG_DZ)
	frflags t3
	CHECK(62, t3, 0)

	/* ---- canonical NaN results ---- */
	TS(63, 64, QNAN, FFLAG_NV, SNAN, ONE, fadd.s fa2, fa0, fa1)
	TS(65, 66, QNAN, 0, 0xffc12345, ONE, fadd.s fa2, fa0, fa1)	/* payload dropped */
	TS(67, 68, QNAN, 0, 0x7fc00001, 0x7fc00002, fmul.s fa2, fa0, fa1)

	/* ---- NaN boxing ---- */
	la a0, fdata
	li t0, ONE
	sw t0, 0(a0)
	flw fa0, 0(a0)
	fmv.x.d t1, fa0
	CHECK(69, t1, 0xffffffff3f800000)	/* FLW boxes */
	li t0, 0x80000000
	fmv.w.x fa0, t0
	fmv.x.d t1, fa0
	CHECK(70, t1, 0xffffffff80000000)	/* FMV.W.X boxes */
	fmv.x.w t1, fa0
	CHECK(71, t1, 0xffffffff80000000)	/* FMV.X.W sign-extends */
	/* a single that is not NaN-boxed reads as the canonical NaN */
	TS(72, 73, QNAN, 0, 0, 0, li t0, ONE; fmv.d.x fa0, t0; fadd.s fa2, fa0, fa0)
	TSX(74, 0, 0x200, 0, 0, 0, li t0, 0x7fffffff3f800000; fmv.d.x fa0, t0; fclass.s t2, fa0)
	TS(75, 0, QNAN, 0, 0, 0, li t0, 0xbf800000; fmv.d.x fa0, t0; fsgnj.s fa2, fa0, fa0)
	/* ...but transfers move the low 32 bits untouched */
	li t0, 0x00000000bf800000
	fmv.d.x fa0, t0
	fmv.x.w t1, fa0
	CHECK(76, t1, 0xffffffffbf800000)
	fsw fa0, 4(a0)
	lwu t1, 4(a0)
	CHECK(77, t1, 0xbf800000)

	/* ---- FCVT to integer: rounding and saturation ---- */
	TSX(78, 79, 2, FFLAG_NX, 0x40200000, 0, fcvt.w.s t2, fa0, rne)	/* 2.5 */
	TSX(80, 0, 2, 0, 0x40200000, 0, fcvt.w.s t2, fa0, rtz)
	TSX(81, 0, 2, 0, 0x40200000, 0, fcvt.w.s t2, fa0, rdn)
	TSX(82, 0, 3, 0, 0x40200000, 0, fcvt.w.s t2, fa0, rup)
	TSX(83, 0, 3, 0, 0x40200000, 0, fcvt.w.s t2, fa0, rmm)
	TSX(84, 0, -3, 0, 0xc0200000, 0, fcvt.w.s t2, fa0, rdn)	/* -2.5 */
	TSX(85, 0, -2, 0, 0xc0200000, 0, fcvt.w.s t2, fa0, rup)
	TSX(86, 0, -3, 0, 0xc0200000, 0, fcvt.w.s t2, fa0, rmm)
	TSX(87, 88, 0x7fffffff, FFLAG_NV, INF, 0, fcvt.w.s t2, fa0, rtz)
	TSX(89, 90, 0xffffffff80000000, FFLAG_NV, MINF, 0, fcvt.w.s t2, fa0, rtz)
	TSX(91, 92, 0x7fffffff, FFLAG_NV, QNAN, 0, fcvt.w.s t2, fa0, rtz)
	TSX(93, 94, 0x7fffffff, FFLAG_NV, 0x4f000000, 0, fcvt.w.s t2, fa0, rtz)	/* 2^31 */
	TSX(95, 96, 0xffffffff80000000, 0, 0xcf000000, 0, fcvt.w.s t2, fa0, rtz) /* -2^31 exact */
	TSX(97, 98, 0xffffffff80000000, FFLAG_NV, 0xcf32d05e, 0, fcvt.w.s t2, fa0, rtz) /* -3e9 */
	TSX(99, 100, -1, FFLAG_NV, INF, 0, fcvt.wu.s t2, fa0, rtz)	/* sext(0xffffffff) */
	TSX(101, 102, -1, FFLAG_NV, QNAN, 0, fcvt.wu.s t2, fa0, rtz)
	TSX(103, 104, 0, FFLAG_NV, MINF, 0, fcvt.wu.s t2, fa0, rtz)
	TSX(105, 106, 0, FFLAG_NV, MONE, 0, fcvt.wu.s t2, fa0, rtz)
	TSX(107, 108, 0, FFLAG_NX, 0xbf000000, 0, fcvt.wu.s t2, fa0, rtz) /* -0.5 -> 0 */
	TSX(109, 110, 0xffffffffb2d05e00, 0, 0x4f32d05e, 0, fcvt.wu.s t2, fa0, rtz) /* 3e9 */
	TSX(111, 112, 0x7fffffffffffffff, FFLAG_NV, INF, 0, fcvt.l.s t2, fa0, rtz)
	TSX(113, 114, 0x8000000000000000, FFLAG_NV, MINF, 0, fcvt.l.s t2, fa0, rtz)
	TSX(115, 116, 0x7fffffffffffffff, FFLAG_NV, SNAN, 0, fcvt.l.s t2, fa0, rtz)
	TSX(117, 118, 0x7fffffffffffffff, FFLAG_NV, 0x5f000000, 0, fcvt.l.s t2, fa0, rtz) /* 2^63 */
	TSX(119, 120, 0xffffff0000000000, 0, 0xd3800000, 0, fcvt.l.s t2, fa0, rtz) /* -2^40 */
	TSX(121, 122, -1, FFLAG_NV, INF, 0, fcvt.lu.s t2, fa0, rtz)
	TSX(123, 124, -1, FFLAG_NV, QNAN, 0, fcvt.lu.s t2, fa0, rtz)
	TSX(125, 126, 0, FFLAG_NV, MINF, 0, fcvt.lu.s t2, fa0, rtz)
	TSX(127, 128, 0, FFLAG_NV, MONE, 0, fcvt.lu.s t2, fa0, rtz)
	TSX(129, 130, 0x8000000000000000, 0, 0x5f000000, 0, fcvt.lu.s t2, fa0, rtz)

	/* ---- FCVT from integer ---- */
	TSI(131, 132, 0x4f000000, FFLAG_NX, 0x7fffffff, fcvt.s.w fa2, t0)	/* rounds up */
	TSI(133, 0, 0x4effffff, 0, 0x7fffffff, fcvt.s.w fa2, t0, rtz)
	TSI(134, 135, 0xcf000000, 0, 0x80000000, fcvt.s.w fa2, t0)	/* low 32 bits */
	TSI(136, 137, 0x4f800000, FFLAG_NX, 0x12345678ffffffff, fcvt.s.wu fa2, t0)
	TSI(138, 139, 0x5f800000, FFLAG_NX, -1, fcvt.s.lu fa2, t0)
	TSI(140, 141, MONE, 0, -1, fcvt.s.l fa2, t0)
	TSI(142, 0, PZERO, 0, 0, fcvt.s.l fa2, t0)	/* +0, never -0 */

	/* ---- FMIN / FMAX ---- */
	TS(143, 144, ONE, FFLAG_NV, SNAN, ONE, fmin.s fa2, fa0, fa1)
	TS(145, 146, ONE, FFLAG_NV, ONE, SNAN, fmax.s fa2, fa0, fa1)
	TS(147, 148, ONE, 0, QNAN, ONE, fmin.s fa2, fa0, fa1)
	TS(149, 150, ONE, 0, ONE, QNAN, fmax.s fa2, fa0, fa1)
	TS(151, 152, QNAN, 0, QNAN, 0x7fc12345, fmax.s fa2, fa0, fa1)	/* both NaN */
	TS(153, 154, QNAN, FFLAG_NV, SNAN, SNAN, fmin.s fa2, fa0, fa1)
	TS(155, 0, MZERO, 0, MZERO, PZERO, fmin.s fa2, fa0, fa1)
	TS(156, 0, MZERO, 0, PZERO, MZERO, fmin.s fa2, fa0, fa1)
	TS(157, 0, PZERO, 0, MZERO, PZERO, fmax.s fa2, fa0, fa1)
	TS(158, 0, PZERO, 0, PZERO, MZERO, fmax.s fa2, fa0, fa1)
	TS(159, 0, MONE, 0, MONE, TWO, fmin.s fa2, fa0, fa1)

	/* ---- comparisons: FEQ quiet, FLT/FLE signalling ---- */
	TSX(160, 161, 0, 0, QNAN, ONE, feq.s t2, fa0, fa1)
	TSX(162, 163, 0, FFLAG_NV, SNAN, ONE, feq.s t2, fa0, fa1)
	TSX(164, 165, 0, FFLAG_NV, QNAN, ONE, flt.s t2, fa0, fa1)
	TSX(166, 167, 0, FFLAG_NV, ONE, QNAN, fle.s t2, fa0, fa1)
	TSX(168, 0, 1, 0, MZERO, PZERO, feq.s t2, fa0, fa1)
	TSX(169, 0, 1, 0, MONE, ONE, flt.s t2, fa0, fa1)
	TSX(170, 0, 0, 0, ONE, ONE, flt.s t2, fa0, fa1)
	TSX(171, 0, 1, 0, ONE, ONE, fle.s t2, fa0, fa1)

	/* ---- sign injection ---- */
	TS(172, 0, MONE, 0, ONE, MTINY, fsgnj.s fa2, fa0, fa1)
	TS(173, 0, ONE, 0, ONE, MTINY, fsgnjn.s fa2, fa0, fa1)
	TS(174, 0, ONE, 0, MONE, MTINY, fsgnjx.s fa2, fa0, fa1)
	TS(175, 176, 0xffc00000, 0, QNAN, MONE, fsgnj.s fa2, fa0, fa1) /* NaN too, no NV */

	/* ---- FCLASS ---- */
	TSX(177, 0, 1 << 0, 0, MINF, 0, fclass.s t2, fa0)
	TSX(178, 0, 1 << 1, 0, MONE, 0, fclass.s t2, fa0)
	TSX(179, 0, 1 << 2, 0, 0x80000001, 0, fclass.s t2, fa0)
	TSX(180, 0, 1 << 3, 0, MZERO, 0, fclass.s t2, fa0)
	TSX(181, 0, 1 << 4, 0, PZERO, 0, fclass.s t2, fa0)
	TSX(182, 0, 1 << 5, 0, MINSUB, 0, fclass.s t2, fa0)
	TSX(183, 0, 1 << 6, 0, ONE, 0, fclass.s t2, fa0)
	TSX(184, 0, 1 << 7, 0, INF, 0, fclass.s t2, fa0)
	TSX(185, 0, 1 << 8, 0, SNAN, 0, fclass.s t2, fa0)
	TSX(186, 0, 1 << 9, 0, QNAN, 0, fclass.s t2, fa0)

	/* ---- fused multiply-add: one rounding. a = 1 + 2^-12, a*a =
	 * 1 + 2^-11 + 2^-24, which alone would round to 1 + 2^-11. ---- */
	TS3(187, 188, 0x3a000400, 0, 0x3f800800, 0x3f800800, MONE, fmadd.s fa2, fa0, fa1, fa3)
	TS3(189, 0, 0x3a000400, 0, 0x3f800800, 0x3f800800, ONE, fmsub.s fa2, fa0, fa1, fa3)
	TS3(190, 0, 0xba000400, 0, 0x3f800800, 0x3f800800, ONE, fnmsub.s fa2, fa0, fa1, fa3)
	TS3(191, 0, 0xba000400, 0, 0x3f800800, 0x3f800800, MONE, fnmadd.s fa2, fa0, fa1, fa3)
	/* the unfused sequence differs, so the check above means something */
	TS3(192, 0, 0x3a000000, 0, 0x3f800800, 0x3f800800, MONE, fmul.s fa2, fa0, fa1; fadd.s fa2, fa2, fa3)
	/* 0 * inf + qNaN is invalid */
	TS3(193, 194, QNAN, FFLAG_NV, PZERO, INF, QNAN, fmadd.s fa2, fa0, fa1, fa3)

	/* ---- reserved dynamic rounding mode -> illegal instruction ---- */
	csrwi frm, 5
	TEST_TRAP(195, CAUSE_ILLEGAL, fadd.s fa2, fa0, fa1, dyn)
	csrwi frm, FRM_RNE

	/* ---- mstatus.FS = Off: every F instruction and CSR is illegal ---- */
	li t0, MSTATUS_FS
	csrc mstatus, t0
	TEST_TRAP(196, CAUSE_ILLEGAL, fadd.s fa2, fa0, fa1)
	TEST_TRAP(197, CAUSE_ILLEGAL, flw fa0, 0(a0))
	TEST_TRAP(198, CAUSE_ILLEGAL, fsw fa0, 0(a0))
	TEST_TRAP(199, CAUSE_ILLEGAL, fmv.w.x fa0, zero)
	TEST_TRAP(200, CAUSE_ILLEGAL, frflags t0)
	TEST_TRAP(201, CAUSE_ILLEGAL, csrr t0, fcsr)
	ENABLE_FP
	fadd.s fa2, fa0, fa1			/* usable again */
TEST_END

	.data
	.align 3
fdata:	.dword 0, 0
