# rvd.S - the D extension (unprivileged spec, "D Extension for Double-
# Precision Floating-Point"): rounding modes (static and frm), fflags per
# exception, canonical NaN, FCVT saturation and the single<->double
# conversions (NaN boxing of their results), FMIN/FMAX, comparisons,
# FCLASS, fused multiply-add, loads/stores/moves and FS = Off.
# Operands and results are bit patterns (see FP_TEST_* in harness.h).
#include "harness.h"

#define TD(n, nf, exp, fl, a, b, insn...)				\
	FP_TEST_F(n, nf, exp, fl, a, b, 0, insn)
#define TD3(n, nf, exp, fl, a, b, c, insn...)				\
	FP_TEST_F(n, nf, exp, fl, a, b, c, insn)
#define TDX(n, nf, exp, fl, a, b, insn...)				\
	FP_TEST_X(n, nf, exp, fl, a, b, insn)
#define TDI(n, nf, exp, fl, ia, insn...)				\
	FP_TEST_I(n, nf, exp, fl, ia, insn)

#define ONE	0x3ff0000000000000
#define MONE	0xbff0000000000000
#define TWO	0x4000000000000000
#define THREE	0x4008000000000000
#define HALF	0x3fe0000000000000
#define TINY	0x3ca0000000000000	/* 2^-53: half an ulp of 1.0 */
#define MTINY	0xbca0000000000000
#define INF	0x7ff0000000000000
#define MINF	0xfff0000000000000
#define MAXD	0x7fefffffffffffff
#define MINSUB	0x0000000000000001
#define MINNORM	0x0010000000000000
#define QNAN	0x7ff8000000000000	/* the canonical NaN */
#define SNAN	0x7ff0000000000001
#define PZERO	0x0000000000000000
#define MZERO	0x8000000000000000

TEST_BEGIN
	ENABLE_FP

	/* ---- exact arithmetic ---- */
	TD(1, 2, THREE, 0, ONE, TWO, fadd.d fa2, fa0, fa1)
	TD(3, 4, MONE, 0, ONE, TWO, fsub.d fa2, fa0, fa1)
	TD(5, 6, 0x4018000000000000, 0, THREE, TWO, fmul.d fa2, fa0, fa1)	/* 6 */
	TD(7, 8, 0x3ff8000000000000, 0, THREE, TWO, fdiv.d fa2, fa0, fa1)	/* 1.5 */
	TD(9, 10, TWO, 0, 0x4010000000000000, 0, fsqrt.d fa2, fa0)

	/* ---- static rounding: 1 + 2^-53 is a tie ---- */
	TD(11, 12, ONE, FFLAG_NX, ONE, TINY, fadd.d fa2, fa0, fa1, rne)
	TD(13, 0, ONE, 0, ONE, TINY, fadd.d fa2, fa0, fa1, rtz)
	TD(14, 0, ONE, 0, ONE, TINY, fadd.d fa2, fa0, fa1, rdn)
	TD(15, 0, 0x3ff0000000000001, 0, ONE, TINY, fadd.d fa2, fa0, fa1, rup)
	TD(16, 0, 0x3ff0000000000001, 0, ONE, TINY, fadd.d fa2, fa0, fa1, rmm)
	TD(17, 0, 0xbff0000000000001, 0, MONE, MTINY, fadd.d fa2, fa0, fa1, rdn)
	TD(18, 0, MONE, 0, MONE, MTINY, fadd.d fa2, fa0, fa1, rup)
	TD(19, 0, 0xbff0000000000001, 0, MONE, MTINY, fadd.d fa2, fa0, fa1, rmm)
	TD(20, 0, MONE, 0, MONE, MTINY, fadd.d fa2, fa0, fa1, rtz)
	/* 1/3: below the halfway point */
	TD(21, 22, 0x3fd5555555555555, FFLAG_NX, ONE, THREE, fdiv.d fa2, fa0, fa1, rne)
	TD(23, 0, 0x3fd5555555555556, 0, ONE, THREE, fdiv.d fa2, fa0, fa1, rup)
	TD(24, 0, 0x3fd5555555555555, 0, ONE, THREE, fdiv.d fa2, fa0, fa1, rmm)

	/* ---- dynamic rounding (frm) ---- */
	TD(25, 0, ONE, 0, ONE, TINY, csrwi frm, FRM_RNE; fadd.d fa2, fa0, fa1, dyn)
	TD(26, 0, ONE, 0, ONE, TINY, csrwi frm, FRM_RTZ; fadd.d fa2, fa0, fa1, dyn)
	TD(27, 0, 0xbff0000000000001, 0, MONE, MTINY, csrwi frm, FRM_RDN; fadd.d fa2, fa0, fa1, dyn)
	TD(28, 0, 0x3ff0000000000001, 0, ONE, TINY, csrwi frm, FRM_RUP; fadd.d fa2, fa0, fa1, dyn)
	TD(29, 0, 0x3ff0000000000001, 0, ONE, TINY, csrwi frm, FRM_RMM; fadd.d fa2, fa0, fa1, dyn)
	TD(30, 0, ONE, 0, ONE, TINY, fadd.d fa2, fa0, fa1, rtz)	/* static wins */
	/* fcsr = frm << 5 | fflags */
	csrr t0, fcsr
	CHECK(31, t0, (FRM_RMM << 5) | FFLAG_NX)	/* NX from test 30 */
	csrwi frm, FRM_RNE

	/* ---- exception flags ---- */
	TD(32, 33, QNAN, FFLAG_NV, PZERO, INF, fmul.d fa2, fa0, fa1)
	TD(34, 35, QNAN, FFLAG_NV, MINF, INF, fadd.d fa2, fa0, fa1)
	TD(36, 37, QNAN, FFLAG_NV, MONE, 0, fsqrt.d fa2, fa0)
	TD(38, 39, INF, FFLAG_DZ, ONE, PZERO, fdiv.d fa2, fa0, fa1)
	TD(40, 41, MINF, FFLAG_DZ, ONE, MZERO, fdiv.d fa2, fa0, fa1)
	TD(42, 43, INF, FFLAG_OF | FFLAG_NX, MAXD, TWO, fmul.d fa2, fa0, fa1)
	TD(44, 45, MAXD, FFLAG_OF | FFLAG_NX, MAXD, TWO, fmul.d fa2, fa0, fa1, rdn)
	TD(46, 47, PZERO, FFLAG_UF | FFLAG_NX, MINSUB, HALF, fmul.d fa2, fa0, fa1)
	TD(48, 49, MINSUB, FFLAG_UF | FFLAG_NX, MINSUB, HALF, fmul.d fa2, fa0, fa1, rup)
	TD(50, 51, 0x0008000000000000, 0, MINNORM, HALF, fmul.d fa2, fa0, fa1)	/* exact */
	TD(52, 53, 0x3ff6a09e667f3bcd, FFLAG_NX, TWO, 0, fsqrt.d fa2, fa0)

	/* ---- canonical NaN ---- */
	TD(54, 55, QNAN, FFLAG_NV, SNAN, ONE, fadd.d fa2, fa0, fa1)
	TD(56, 57, QNAN, 0, 0xfff8000000012345, ONE, fsub.d fa2, fa0, fa1)

	/* ---- FCVT between single and double ---- */
	TD(58, 59, ONE, 0, BOX(0x3f800000), 0, fcvt.d.s fa2, fa0)
	TD(60, 61, QNAN, FFLAG_NV, BOX(0x7f800001), 0, fcvt.d.s fa2, fa0)	/* sNaN */
	TD(62, 63, QNAN, 0, 0x000000003f800000, 0, fcvt.d.s fa2, fa0)	/* unboxed */
	TD(64, 65, BOX(0x3f800000), 0, ONE, 0, fcvt.s.d fa2, fa0)	/* result boxed */
	TD(66, 67, BOX(0x3eaaaaab), FFLAG_NX, 0x3fd5555555555555, 0, fcvt.s.d fa2, fa0)
	TD(68, 69, BOX(0x7f800000), FFLAG_OF | FFLAG_NX, MAXD, 0, fcvt.s.d fa2, fa0)
	TD(70, 71, BOX(0x7f7fffff), FFLAG_OF | FFLAG_NX, MAXD, 0, fcvt.s.d fa2, fa0, rtz)
	TD(72, 73, BOX(0x7fc00000), FFLAG_NV, SNAN, 0, fcvt.s.d fa2, fa0)
	TD(74, 75, BOX(0x00000000), FFLAG_UF | FFLAG_NX, MINSUB, 0, fcvt.s.d fa2, fa0)

	/* ---- FCVT to integer ---- */
	TDX(76, 77, 2, FFLAG_NX, 0x4004000000000000, 0, fcvt.w.d t2, fa0, rne)	/* 2.5 */
	TDX(78, 0, 3, 0, 0x4004000000000000, 0, fcvt.w.d t2, fa0, rmm)
	TDX(79, 0, 3, 0, 0x4004000000000000, 0, fcvt.w.d t2, fa0, rup)
	TDX(80, 0, -3, 0, 0xc004000000000000, 0, fcvt.w.d t2, fa0, rdn)
	TDX(81, 0, -2, 0, 0xc004000000000000, 0, fcvt.w.d t2, fa0, rtz)
	/* -(2^31 + 0.5): fits after RTZ/RNE, not after RDN */
	TDX(82, 83, 0xffffffff80000000, FFLAG_NX, 0xc1e0000000100000, 0, fcvt.w.d t2, fa0, rtz)
	TDX(84, 85, 0xffffffff80000000, FFLAG_NV, 0xc1e0000000100000, 0, fcvt.w.d t2, fa0, rdn)
	TDX(86, 87, 0x7fffffff, FFLAG_NV, INF, 0, fcvt.w.d t2, fa0, rtz)
	TDX(88, 89, 0xffffffff80000000, FFLAG_NV, MINF, 0, fcvt.w.d t2, fa0, rtz)
	TDX(90, 91, 0x7fffffff, FFLAG_NV, QNAN, 0, fcvt.w.d t2, fa0, rtz)
	TDX(92, 93, 0x7fffffff, FFLAG_NV, 0x41e0000000000000, 0, fcvt.w.d t2, fa0, rtz) /* 2^31 */
	TDX(94, 95, -1, 0, 0x41efffffffe00000, 0, fcvt.wu.d t2, fa0, rtz)	/* 2^32-1, sext */
	TDX(96, 97, -1, FFLAG_NV, 0x41f0000000000000, 0, fcvt.wu.d t2, fa0, rtz) /* 2^32 */
	TDX(98, 99, 0, FFLAG_NV, MINF, 0, fcvt.wu.d t2, fa0, rtz)
	TDX(100, 101, -1, FFLAG_NV, SNAN, 0, fcvt.wu.d t2, fa0, rtz)
	TDX(102, 103, 0, FFLAG_NX, 0xbfe0000000000000, 0, fcvt.wu.d t2, fa0, rtz) /* -0.5 */
	TDX(104, 105, 0x7fffffffffffffff, FFLAG_NV, 0x43e0000000000000, 0, fcvt.l.d t2, fa0, rtz)
	TDX(106, 107, 0x8000000000000000, 0, 0xc3e0000000000000, 0, fcvt.l.d t2, fa0, rtz) /* exact */
	TDX(108, 109, 0x8000000000000000, FFLAG_NV, MINF, 0, fcvt.l.d t2, fa0, rtz)
	TDX(110, 111, 0x7fffffffffffffff, FFLAG_NV, QNAN, 0, fcvt.l.d t2, fa0, rtz)
	TDX(112, 113, 0xffffff0000000000, 0, 0xc270000000000000, 0, fcvt.l.d t2, fa0, rtz)
	TDX(114, 115, -1, FFLAG_NV, 0x43f0000000000000, 0, fcvt.lu.d t2, fa0, rtz) /* 2^64 */
	TDX(116, 117, -1, FFLAG_NV, INF, 0, fcvt.lu.d t2, fa0, rtz)
	TDX(118, 119, -1, FFLAG_NV, QNAN, 0, fcvt.lu.d t2, fa0, rtz)
	TDX(120, 121, 0, FFLAG_NV, MONE, 0, fcvt.lu.d t2, fa0, rtz)
	TDX(122, 123, 0x8000000000000000, 0, 0x43e0000000000000, 0, fcvt.lu.d t2, fa0, rtz)

	/* ---- FCVT from integer ---- */
	TDI(124, 125, 0x43e0000000000000, FFLAG_NX, 0x7fffffffffffffff, fcvt.d.l fa2, t0)
	TDI(126, 0, 0x43dfffffffffffff, 0, 0x7fffffffffffffff, fcvt.d.l fa2, t0, rtz)
	TDI(127, 128, 0x43f0000000000000, FFLAG_NX, -1, fcvt.d.lu fa2, t0)
	TDI(129, 130, MONE, 0, 0x00000000ffffffff, fcvt.d.w fa2, t0)	/* low 32 bits */
	TDI(131, 132, 0x41efffffffe00000, 0, 0x12345678ffffffff, fcvt.d.wu fa2, t0)
	TDI(133, 0, 0xc3e0000000000000, 0, 0x8000000000000000, fcvt.d.l fa2, t0)

	/* ---- FMIN / FMAX ---- */
	TD(134, 135, ONE, FFLAG_NV, SNAN, ONE, fmin.d fa2, fa0, fa1)
	TD(136, 137, ONE, 0, ONE, QNAN, fmax.d fa2, fa0, fa1)
	TD(138, 139, QNAN, 0, QNAN, 0xfff8000000000001, fmin.d fa2, fa0, fa1)
	TD(140, 0, MZERO, 0, PZERO, MZERO, fmin.d fa2, fa0, fa1)
	TD(141, 0, PZERO, 0, MZERO, PZERO, fmax.d fa2, fa0, fa1)
	TD(142, 0, MINF, 0, MINF, MAXD, fmin.d fa2, fa0, fa1)

	/* ---- comparisons ---- */
	TDX(143, 144, 0, 0, QNAN, QNAN, feq.d t2, fa0, fa1)
	TDX(145, 146, 0, FFLAG_NV, ONE, SNAN, feq.d t2, fa0, fa1)
	TDX(147, 148, 0, FFLAG_NV, QNAN, ONE, fle.d t2, fa0, fa1)
	TDX(149, 150, 0, FFLAG_NV, ONE, QNAN, flt.d t2, fa0, fa1)
	TDX(151, 0, 1, 0, PZERO, MZERO, fle.d t2, fa0, fa1)
	TDX(152, 0, 0, 0, PZERO, MZERO, flt.d t2, fa0, fa1)
	TDX(153, 0, 1, 0, MINF, MONE, flt.d t2, fa0, fa1)

	/* ---- sign injection ---- */
	TD(154, 0, MONE, 0, ONE, MZERO, fsgnj.d fa2, fa0, fa1)
	TD(155, 0, ONE, 0, ONE, MZERO, fsgnjn.d fa2, fa0, fa1)
	TD(156, 0, ONE, 0, MONE, MTINY, fsgnjx.d fa2, fa0, fa1)
	TD(157, 158, 0xfff0000000000001, 0, SNAN, MONE, fsgnj.d fa2, fa0, fa1) /* sNaN kept, no NV */

	/* ---- FCLASS ---- */
	TDX(159, 0, 1 << 0, 0, MINF, 0, fclass.d t2, fa0)
	TDX(160, 0, 1 << 1, 0, MONE, 0, fclass.d t2, fa0)
	TDX(161, 0, 1 << 2, 0, 0x8000000000000001, 0, fclass.d t2, fa0)
	TDX(162, 0, 1 << 3, 0, MZERO, 0, fclass.d t2, fa0)
	TDX(163, 0, 1 << 4, 0, PZERO, 0, fclass.d t2, fa0)
	TDX(164, 0, 1 << 5, 0, 0x000fffffffffffff, 0, fclass.d t2, fa0)
	TDX(165, 0, 1 << 6, 0, MAXD, 0, fclass.d t2, fa0)
	TDX(166, 0, 1 << 7, 0, INF, 0, fclass.d t2, fa0)
	TDX(167, 0, 1 << 8, 0, SNAN, 0, fclass.d t2, fa0)
	TDX(168, 0, 1 << 9, 0, QNAN, 0, fclass.d t2, fa0)

	/* ---- fused multiply-add: a = 1 + 2^-27, a*a = 1 + 2^-26 + 2^-54 ---- */
	TD3(169, 170, 0x3e50000001000000, 0, 0x3ff0000002000000, 0x3ff0000002000000, MONE, fmadd.d fa2, fa0, fa1, fa3)
	TD3(171, 0, 0x3e50000001000000, 0, 0x3ff0000002000000, 0x3ff0000002000000, ONE, fmsub.d fa2, fa0, fa1, fa3)
	TD3(172, 0, 0xbe50000001000000, 0, 0x3ff0000002000000, 0x3ff0000002000000, ONE, fnmsub.d fa2, fa0, fa1, fa3)
	TD3(173, 0, 0xbe50000001000000, 0, 0x3ff0000002000000, 0x3ff0000002000000, MONE, fnmadd.d fa2, fa0, fa1, fa3)
	TD3(174, 0, 0x3e50000000000000, 0, 0x3ff0000002000000, 0x3ff0000002000000, MONE, fmul.d fa2, fa0, fa1; fadd.d fa2, fa2, fa3)
	TD3(175, 176, QNAN, FFLAG_NV, INF, PZERO, ONE, fmadd.d fa2, fa0, fa1, fa3)

	/* ---- loads, stores, moves ---- */
	fsflags zero
	la a0, ddata
	li t0, 0x0123456789abcdef
	sd t0, 0(a0)
	fld fa4, 0(a0)
	fsd fa4, 8(a0)
	ld t1, 8(a0)
	CHECK(177, t1, 0x0123456789abcdef)
	fmv.x.d t1, fa4
	CHECK(178, t1, 0x0123456789abcdef)
	li t0, SNAN
	fmv.d.x fa4, t0				/* moves never quiet a NaN */
	fmv.x.d t1, fa4
	CHECK(179, t1, SNAN)
	frflags t1
	CHECK(180, t1, 0)

	/* ---- FS = Off ---- */
	li t0, MSTATUS_FS
	csrc mstatus, t0
	TEST_TRAP(181, CAUSE_ILLEGAL, fadd.d fa2, fa0, fa1)
	TEST_TRAP(182, CAUSE_ILLEGAL, fld fa0, 0(a0))
	TEST_TRAP(183, CAUSE_ILLEGAL, fmv.x.d t0, fa0)
	ENABLE_FP
TEST_END

	.data
	.align 3
ddata:	.dword 0, 0
