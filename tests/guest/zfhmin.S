# qemu-cpu: rv64,Zfhmin=true
# zfhmin.S - Zfhmin (unpriv "Zfh" chapter): FLH/FSH with NaN boxing,
# FMV.X.H sign extension, FMV.H.X boxing, FCVT.S.H/FCVT.D.H (exact; sNaN
# raises NV, NaNs and unboxed inputs become canonical), FCVT.H.S/FCVT.H.D in
# every rounding mode: ties, directed rounding of negative values, overflow
# to infinity or the largest finite half, subnormal results with the
# underflow flag detected after rounding.
#include "harness.h"
	.option arch, +zfhmin

#define H(x)	(0xffffffffffff0000 | (x))

TEST_BEGIN
	ENABLE_FP
	/* ---- moves ---- */
	li t0, 0x12343c00
	fmv.h.x fa0, t0
	fmv.x.d t1, fa0
	CHECK(1, t1, H(0x3c00))
	fmv.x.h t1, fa0
	CHECK(2, t1, 0x3c00)
	li t0, 0x8001
	fmv.h.x fa0, t0
	fmv.x.h t1, fa0
	CHECK(3, t1, 0xffffffffffff8001)
	/* ---- loads and stores ---- */
	la a0, halves
	flh fa1, 2(a0)
	fmv.x.d t1, fa1
	CHECK(4, t1, H(0xc000))
	fsh fa1, 6(a0)
	ld t1, 0(a0)
	CHECK(5, t1, 0xc0003c00c000abcd)
	csrr t1, mstatus
	srli t1, t1, 13
	andi t1, t1, 3
	CHECK(6, t1, 3)			/* FS dirty */

	/* ---- to single / double: exact ---- */
	FP_TEST_F(10, 11, BOX(0x3f800000), 0, H(0x3c00), 0, 0, fcvt.s.h fa2, fa0)
	FP_TEST_F(12, 13, BOX(0x33800000), 0, H(0x0001), 0, 0, fcvt.s.h fa2, fa0)
	FP_TEST_F(14, 15, BOX(0xff800000), 0, H(0xfc00), 0, 0, fcvt.s.h fa2, fa0)
	FP_TEST_F(16, 17, BOX(0x7fc00000), FFLAG_NV, H(0x7c01), 0, 0, fcvt.s.h fa2, fa0)
	FP_TEST_F(18, 19, BOX(0x7fc00000), 0, H(0xfe00), 0, 0, fcvt.s.h fa2, fa0)
	/* not NaN-boxed: the canonical NaN, quietly */
	FP_TEST_F(20, 21, BOX(0x7fc00000), 0, 0x3c00, 0, 0, fcvt.s.h fa2, fa0)
	FP_TEST_F(22, 23, 0xc000000000000000, 0, H(0xc000), 0, 0, fcvt.d.h fa2, fa0)
	FP_TEST_F(24, 25, 0x40effc0000000000, 0, H(0x7bff), 0, 0, fcvt.d.h fa2, fa0)
	FP_TEST_F(26, 27, 0x3ef0000000000000, 0, H(0x0100), 0, 0, fcvt.d.h fa2, fa0)
	FP_TEST_F(28, 29, 0x7ff8000000000000, FFLAG_NV, H(0x7d00), 0, 0, fcvt.d.h fa2, fa0)

	/* ---- from single ---- */
	FP_TEST_F(30, 31, H(0x3c00), 0, BOX(0x3f800000), 0, 0, fcvt.h.s fa2, fa0)
	FP_TEST_F(32, 33, H(0x3555), FFLAG_NX, BOX(0x3eaaaaab), 0, 0, fcvt.h.s fa2, fa0, rne)
	FP_TEST_F(34, 35, H(0x3556), FFLAG_NX, BOX(0x3eaaaaab), 0, 0, fcvt.h.s fa2, fa0, rup)
	FP_TEST_F(36, 37, H(0x3555), FFLAG_NX, BOX(0x3eaaaaab), 0, 0, fcvt.h.s fa2, fa0, rtz)
	FP_TEST_F(38, 39, H(0xb556), FFLAG_NX, BOX(0xbeaaaaab), 0, 0, fcvt.h.s fa2, fa0, rdn)
	FP_TEST_F(40, 41, H(0xb555), FFLAG_NX, BOX(0xbeaaaaab), 0, 0, fcvt.h.s fa2, fa0, rup)
	/* 65520: a tie between 65504 and 65536 */
	FP_TEST_F(42, 43, H(0x7c00), FFLAG_OF | FFLAG_NX, BOX(0x477ff000), 0, 0, fcvt.h.s fa2, fa0, rne)
	FP_TEST_F(44, 45, H(0x7bff), FFLAG_NX, BOX(0x477ff000), 0, 0, fcvt.h.s fa2, fa0, rtz)
	FP_TEST_F(46, 47, H(0x7c00), FFLAG_OF | FFLAG_NX, BOX(0x477ff000), 0, 0, fcvt.h.s fa2, fa0, rmm)
	/* 1e6 overflows in every mode */
	FP_TEST_F(48, 49, H(0x7bff), FFLAG_OF | FFLAG_NX, BOX(0x49742400), 0, 0, fcvt.h.s fa2, fa0, rtz)
	FP_TEST_F(50, 51, H(0x7bff), FFLAG_OF | FFLAG_NX, BOX(0x49742400), 0, 0, fcvt.h.s fa2, fa0, rdn)
	FP_TEST_F(52, 53, H(0xfc00), FFLAG_OF | FFLAG_NX, BOX(0xc9742400), 0, 0, fcvt.h.s fa2, fa0, rdn)
	FP_TEST_F(54, 55, H(0xfbff), FFLAG_OF | FFLAG_NX, BOX(0xc9742400), 0, 0, fcvt.h.s fa2, fa0, rup)
	/* 2^-25: half of the smallest subnormal */
	FP_TEST_F(56, 57, H(0x0000), FFLAG_UF | FFLAG_NX, BOX(0x33000000), 0, 0, fcvt.h.s fa2, fa0, rne)
	FP_TEST_F(58, 59, H(0x0001), FFLAG_UF | FFLAG_NX, BOX(0x33000000), 0, 0, fcvt.h.s fa2, fa0, rup)
	FP_TEST_F(60, 61, H(0x8001), FFLAG_UF | FFLAG_NX, BOX(0xb3000000), 0, 0, fcvt.h.s fa2, fa0, rmm)
	/* just below 2^-14: rounds up to the smallest normal, not tiny after rounding */
	FP_TEST_F(62, 63, H(0x0400), FFLAG_NX, BOX(0x387ff000), 0, 0, fcvt.h.s fa2, fa0, rne)
	FP_TEST_F(64, 65, H(0x03ff), FFLAG_UF | FFLAG_NX, BOX(0x387ff000), 0, 0, fcvt.h.s fa2, fa0, rtz)
	/* exact subnormal: no flags */
	FP_TEST_F(66, 67, H(0x0200), 0, BOX(0x38000000), 0, 0, fcvt.h.s fa2, fa0)
	FP_TEST_F(68, 69, H(0x7e00), FFLAG_NV, BOX(0x7f800001), 0, 0, fcvt.h.s fa2, fa0)
	FP_TEST_F(70, 71, H(0xfc00), 0, BOX(0xff800000), 0, 0, fcvt.h.s fa2, fa0)
	FP_TEST_F(72, 73, H(0x8000), 0, BOX(0x80000000), 0, 0, fcvt.h.s fa2, fa0)
	/* ---- from double ---- */
	FP_TEST_F(80, 81, H(0x3c00), 0, 0x3ff0000000000000, 0, 0, fcvt.h.d fa2, fa0)
	FP_TEST_F(82, 83, H(0x3555), FFLAG_NX, 0x3fd5555555555555, 0, 0, fcvt.h.d fa2, fa0)
	FP_TEST_F(84, 85, H(0x0000), FFLAG_UF | FFLAG_NX, 0x0000000000000001, 0, 0, fcvt.h.d fa2, fa0)
	FP_TEST_F(86, 87, H(0x0001), FFLAG_UF | FFLAG_NX, 0x0000000000000001, 0, 0, fcvt.h.d fa2, fa0, rup)
	FP_TEST_F(88, 89, H(0x7e00), 0, 0x7ff8000000000000, 0, 0, fcvt.h.d fa2, fa0)
	/* frm = 5 with a dynamic rm: illegal */
	li t0, 5
	fsrm t0
	TEST_TRAP(90, CAUSE_ILLEGAL, fcvt.h.s fa2, fa0)
	fsrm zero
	/* FS off: illegal */
	li t0, MSTATUS_FS
	csrc mstatus, t0
	TEST_TRAP(91, CAUSE_ILLEGAL, flh fa0, 0(a0))
	TEST_TRAP(92, CAUSE_ILLEGAL, fmv.x.h t0, fa0)
TEST_END

	.data
	.align 3
halves:	.2byte 0xabcd, 0xc000, 0x3c00, 0x0000
