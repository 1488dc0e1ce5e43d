/*
 * Unit tests for fpu_exec (RV64F/RV64D computational instructions).
 * Expected values follow the unprivileged spec (20191213 ch. 11/12); the
 * tricky ones (RMM ties, saturation, tininess, NaN boxing) were cross-checked
 * against qemu-riscv64.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fenv.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "cpu/fpu.h"
#include "cpu/hart.h"

#define BOX 0xffffffff00000000ull
#define S_CANON 0x7fc00000u
#define D_CANON 0x7ff8000000000000ull

/* Registers used by every test: rs1 = f1/x5, rs2 = f2, rs3 = f3, rd = f4/x6. */
enum { RS1 = 1, RS2 = 2, RS3 = 3, RD = 4, XS = 5, XD = 6 };
enum { S = 0, D = 1 };
enum { RNE = 0, RTZ = 1, RDN = 2, RUP = 3, RMM = 4, DYN = 7 };

/* funct5 values of OP-FP */
enum {
    F_ADD = 0x00, F_SUB = 0x01, F_MUL = 0x02, F_DIV = 0x03, F_SGNJ = 0x04, F_MINMAX = 0x05,
    F_CVT_FF = 0x08, F_SQRT = 0x0b, F_CMP = 0x14, F_CVT_IF = 0x18, F_CVT_FI = 0x1a,
    F_MVX_CLASS = 0x1c, F_MVF = 0x1e,
};
enum { FMADD = 0x43, FMSUB = 0x47, FNMSUB = 0x4b, FNMADD = 0x4f };

static uint32_t op_fp(unsigned f5, unsigned fmt, unsigned rs2, unsigned rs1, unsigned f3, unsigned rd)
{
    return (f5 << 27) | (fmt << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | 0x53;
}

static uint32_t r4(unsigned opc, unsigned fmt, unsigned rm)
{
    return ((unsigned)RS3 << 27) | (fmt << 25) | (RS2 << 20) | (RS1 << 15) | (rm << 12) | (RD << 7) |
           opc;
}

static uint32_t fb(float f)
{
    uint32_t b;
    memcpy(&b, &f, 4);
    return b;
}

static uint64_t db(double d)
{
    uint64_t b;
    memcpy(&b, &d, 8);
    return b;
}

static struct hart H;

static struct hart *fresh(void)
{
    memset(&H, 0, sizeof(H));
    return &H;
}

/* Two-operand single op: returns the low 32 bits of rd, checks the NaN box. */
static uint32_t s2(struct hart *h, unsigned f5, unsigned rm, uint32_t a, uint32_t b)
{
    h->f[RS1] = BOX | a;
    h->f[RS2] = BOX | b;
    assert_int_equal(fpu_exec(h, op_fp(f5, S, RS2, RS1, rm, RD)), 0);
    assert_true((h->f[RD] >> 32) == 0xffffffffu);
    return (uint32_t)h->f[RD];
}

static uint64_t d2(struct hart *h, unsigned f5, unsigned rm, uint64_t a, uint64_t b)
{
    h->f[RS1] = a;
    h->f[RS2] = b;
    assert_int_equal(fpu_exec(h, op_fp(f5, D, RS2, RS1, rm, RD)), 0);
    return h->f[RD];
}

static uint32_t s3(struct hart *h, unsigned opc, unsigned rm, uint32_t a, uint32_t b, uint32_t c)
{
    h->f[RS1] = BOX | a;
    h->f[RS2] = BOX | b;
    h->f[RS3] = BOX | c;
    assert_int_equal(fpu_exec(h, r4(opc, S, rm)), 0);
    assert_true((h->f[RD] >> 32) == 0xffffffffu);
    return (uint32_t)h->f[RD];
}

static uint64_t d3(struct hart *h, unsigned opc, unsigned rm, uint64_t a, uint64_t b, uint64_t c)
{
    h->f[RS1] = a;
    h->f[RS2] = b;
    h->f[RS3] = c;
    assert_int_equal(fpu_exec(h, r4(opc, D, rm)), 0);
    return h->f[RD];
}

/* FCVT.int.fp: kind 0 W, 1 WU, 2 L, 3 LU; src holds the raw f register. */
static uint64_t to_int(struct hart *h, unsigned fmt, unsigned kind, unsigned rm, uint64_t src)
{
    h->f[RS1] = src;
    h->x[XD] = 0x5555;
    assert_int_equal(fpu_exec(h, op_fp(F_CVT_IF, fmt, kind, RS1, rm, XD)), 0);
    return h->x[XD];
}

static uint64_t from_int(struct hart *h, unsigned fmt, unsigned kind, unsigned rm, uint64_t x)
{
    h->x[XS] = x;
    assert_int_equal(fpu_exec(h, op_fp(F_CVT_FI, fmt, kind, XS, rm, RD)), 0);
    return h->f[RD];
}

/* Runs an instruction writing an integer register. */
static uint64_t xres(struct hart *h, uint32_t insn)
{
    h->x[XD] = 0x5555;
    assert_int_equal(fpu_exec(h, insn), 0);
    return h->x[XD];
}

/* Checks and clears the accrued flags. */
#define FLAGS(h, want)                                                                             \
    do {                                                                                           \
        assert_int_equal((h)->fflags, (want));                                                     \
        (h)->fflags = 0;                                                                           \
    } while (0)

static void test_basic_arith(void **state)
{
    struct hart *h = fresh();
    assert_int_equal(s2(h, F_ADD, RNE, fb(1.5f), fb(2.25f)), fb(3.75f));
    assert_int_equal(s2(h, F_SUB, RNE, fb(1.0f), fb(3.0f)), fb(-2.0f));
    assert_int_equal(s2(h, F_MUL, RNE, fb(3.0f), fb(-2.0f)), fb(-6.0f));
    assert_int_equal(s2(h, F_DIV, RNE, fb(1.0f), fb(4.0f)), fb(0.25f));
    FLAGS(h, 0);
    assert_int_equal(d2(h, F_ADD, RNE, db(1.5), db(2.25)), db(3.75));
    assert_int_equal(d2(h, F_SUB, RNE, db(1.0), db(3.0)), db(-2.0));
    assert_int_equal(d2(h, F_MUL, RNE, db(3.0), db(-2.0)), db(-6.0));
    assert_int_equal(d2(h, F_DIV, RNE, db(1.0), db(3.0)), 0x3fd5555555555555ull);
    FLAGS(h, FFLAG_NX);
    /* x + (-x) is +0 except in RDN (IEEE 754 6.3) */
    assert_int_equal(d2(h, F_ADD, RNE, db(1.0), db(-1.0)), 0);
    assert_int_equal(d2(h, F_ADD, RDN, db(1.0), db(-1.0)), 0x8000000000000000ull);
    FLAGS(h, 0);
}

/* 1/3 and -1/3 rounded in each mode (unpriv 11.2 table 11.1). */
static void test_rounding_modes(void **state)
{
    struct hart *h = fresh();
    static const uint32_t pos[5] = { 0x3eaaaaab, 0x3eaaaaaa, 0x3eaaaaaa, 0x3eaaaaab, 0x3eaaaaab };
    static const uint32_t neg[5] = { 0xbeaaaaab, 0xbeaaaaaa, 0xbeaaaaab, 0xbeaaaaaa, 0xbeaaaaab };
    for (unsigned rm = 0; rm < 5; rm++) {
        assert_int_equal(s2(h, F_DIV, rm, fb(1.0f), fb(3.0f)), pos[rm]);
        assert_int_equal(s2(h, F_DIV, rm, fb(-1.0f), fb(3.0f)), neg[rm]);
        FLAGS(h, FFLAG_NX);
    }
    static const uint64_t dpos[5] = { 0x3fd5555555555555ull, 0x3fd5555555555555ull,
                                      0x3fd5555555555555ull, 0x3fd5555555555556ull,
                                      0x3fd5555555555555ull };
    for (unsigned rm = 0; rm < 5; rm++)
        assert_int_equal(d2(h, F_DIV, rm, db(1.0), db(3.0)), dpos[rm]);
    /* the host is left in round-to-nearest */
    assert_int_equal(fegetround(), FE_TONEAREST);
}

/* RMM on exact ties: the only place it differs from RNE. */
static void test_rmm_ties(void **state)
{
    struct hart *h = fresh();
    /* 1 + 2^-24 is halfway between 1 and 1 + 2^-23 */
    assert_int_equal(s2(h, F_ADD, RNE, fb(1.0f), fb(0x1p-24f)), 0x3f800000);
    assert_int_equal(s2(h, F_ADD, RMM, fb(1.0f), fb(0x1p-24f)), 0x3f800001);
    assert_int_equal(s2(h, F_ADD, RMM, fb(-1.0f), fb(-0x1p-24f)), 0xbf800001);
    FLAGS(h, FFLAG_NX);
    /* a tie whose even neighbour is already the larger one */
    assert_int_equal(s2(h, F_ADD, RMM, 0x3f800001, fb(0x1p-24f)), 0x3f800002);
    /* not a tie: RMM rounds to nearest */
    assert_int_equal(s2(h, F_ADD, RMM, fb(1.0f), fb(0x1p-25f)), 0x3f800000);
    FLAGS(h, FFLAG_NX);
    assert_int_equal(d2(h, F_ADD, RNE, db(1.0), db(0x1p-53)), 0x3ff0000000000000ull);
    assert_int_equal(d2(h, F_ADD, RMM, db(1.0), db(0x1p-53)), 0x3ff0000000000001ull);
    /* product tie: (1 + 2^-26)(1 + 2^-27) = 1 + 2^-26 + 2^-27 + 2^-53 */
    assert_int_equal(d2(h, F_MUL, RNE, db(1 + 0x1p-26), db(1 + 0x1p-27)), 0x3ff0000006000000ull);
    assert_int_equal(d2(h, F_MUL, RMM, db(1 + 0x1p-26), db(1 + 0x1p-27)), 0x3ff0000006000001ull);
    /* subnormal tie: 5 * 2^-1074 / 2 = 2.5 units */
    assert_int_equal(d2(h, F_DIV, RNE, 5, db(2.0)), 2);
    assert_int_equal(d2(h, F_DIV, RMM, 5, db(2.0)), 3);
    FLAGS(h, FFLAG_NX | FFLAG_UF);
    /* exact result: no flags in RMM either */
    assert_int_equal(d2(h, F_MUL, RMM, db(3.0), db(0.5)), db(1.5));
    FLAGS(h, 0);
}

static void test_dynamic_and_illegal_rm(void **state)
{
    struct hart *h = fresh();
    h->frm = RTZ;
    assert_int_equal(s2(h, F_DIV, DYN, fb(2.0f), fb(3.0f)), 0x3f2aaaaa);
    h->frm = RUP;
    assert_int_equal(s2(h, F_DIV, DYN, fb(2.0f), fb(3.0f)), 0x3f2aaaab);
    h->frm = RMM;
    assert_int_equal(s2(h, F_ADD, DYN, fb(1.0f), fb(0x1p-24f)), 0x3f800001);
    FLAGS(h, FFLAG_NX);

    /* static 5, 6 and dynamic with frm 5..7 are reserved: illegal, nothing written */
    h->f[RD] = 0x1234;
    h->f[RS1] = h->f[RS2] = db(1.0);
    h->frm = RNE;
    assert_int_equal(fpu_exec(h, op_fp(F_ADD, D, RS2, RS1, 5, RD)), -1);
    assert_int_equal(fpu_exec(h, op_fp(F_ADD, D, RS2, RS1, 6, RD)), -1);
    for (unsigned frm = 5; frm <= 7; frm++) {
        h->frm = frm;
        assert_int_equal(fpu_exec(h, op_fp(F_ADD, D, RS2, RS1, DYN, RD)), -1);
        assert_int_equal(fpu_exec(h, r4(FMADD, S, DYN)), -1);
        assert_int_equal(fpu_exec(h, op_fp(F_CVT_IF, D, 0, RS1, DYN, XD)), -1);
        /* instructions without rounding ignore frm */
        assert_int_equal(fpu_exec(h, op_fp(F_SGNJ, D, RS2, RS1, 0, RD)), 0);
        h->f[RD] = 0x1234;
    }
    assert_int_equal(h->f[RD], 0x1234);
    FLAGS(h, 0);
}

static void test_exception_flags(void **state)
{
    struct hart *h = fresh();
    /* NV: 0 * inf, inf - inf; the result is the canonical (positive) NaN, not x86's default NaN */
    assert_int_equal(s2(h, F_MUL, RNE, 0, 0x7f800000), S_CANON);
    FLAGS(h, FFLAG_NV);
    assert_int_equal(d2(h, F_SUB, RNE, db(INFINITY), db(INFINITY)), D_CANON);
    FLAGS(h, FFLAG_NV);
    /* DZ */
    assert_int_equal(s2(h, F_DIV, RNE, fb(-1.0f), 0), 0xff800000);
    FLAGS(h, FFLAG_DZ);
    /* OF: to inf in RNE, to the largest finite in RTZ */
    assert_int_equal(s2(h, F_MUL, RNE, 0x7f7fffff, fb(2.0f)), 0x7f800000);
    FLAGS(h, FFLAG_OF | FFLAG_NX);
    assert_int_equal(d2(h, F_MUL, RTZ, db(DBL_MAX), db(2.0)), db(DBL_MAX));
    FLAGS(h, FFLAG_OF | FFLAG_NX);
    /* UF needs tiny and inexact; an exact subnormal result raises nothing */
    assert_int_equal(s2(h, F_MUL, RNE, 1, fb(0.5f)), 0);
    FLAGS(h, FFLAG_UF | FFLAG_NX);
    assert_int_equal(s2(h, F_MUL, RNE, 0x00800000, fb(0.5f)), 0x00400000);
    FLAGS(h, 0);
    /* flags left in the host by other code do not leak into fflags */
    feraiseexcept(FE_INVALID | FE_INEXACT | FE_OVERFLOW);
    assert_int_equal(d2(h, F_DIV, RTZ, db(1.0), db(4.0)), db(0.25));
    assert_int_equal(d3(h, FMADD, RNE, db(1.0), db(4.0), db(1.0)), db(5.0));
    FLAGS(h, 0);
    /* sqrt of a subnormal is inexact (its remainder is below 2^-1074) */
    h->f[RS1] = 0x000fffffffffffffull;
    assert_int_equal(fpu_exec(h, op_fp(F_SQRT, D, 0, RS1, RNE, RD)), 0);
    assert_int_equal(h->f[RD], 0x1fffffffffffffffull);
    FLAGS(h, FFLAG_NX);
    /* flags accrue */
    h->fflags = FFLAG_DZ;
    s2(h, F_DIV, RNE, fb(1.0f), fb(3.0f));
    FLAGS(h, FFLAG_DZ | FFLAG_NX);
}

/* unpriv 11.4: tininess is detected after rounding. (1 + 2^-52) * (2^-1022 - 2^-1074)
 * = 2^-1022 - 2^-1126 rounds to 2^-1022 with an unbounded exponent in RNE (not
 * tiny: NX only) but to below 2^-1022 in RTZ (tiny: UF). */
static void test_tininess_after_rounding(void **state)
{
    struct hart *h = fresh();
    for (unsigned rm = 0; rm < 5; rm++) {
        uint64_t r = d2(h, F_MUL, rm, 0x3ff0000000000001ull, 0x000fffffffffffffull);
        bool down = rm == RTZ || rm == RDN;
        assert_int_equal(r, down ? 0x000fffffffffffffull : 0x0010000000000000ull);
        FLAGS(h, down ? FFLAG_UF | FFLAG_NX : FFLAG_NX);
    }
    /* the same for a narrowing conversion: 2^-126 - 2^-151 */
    h->f[RS1] = 0x380ffffff0000000ull;
    assert_int_equal(fpu_exec(h, op_fp(F_CVT_FF, S, D, RS1, RNE, RD)), 0);
    assert_int_equal(h->f[RD], BOX | 0x00800000);
    FLAGS(h, FFLAG_NX);
    assert_int_equal(fpu_exec(h, op_fp(F_CVT_FF, S, D, RS1, RMM, RD)), 0);
    assert_int_equal(h->f[RD], BOX | 0x00800000);
    FLAGS(h, FFLAG_NX);
}

/* unpriv 12.2: un-boxed single operands read as the canonical NaN. */
static void test_nan_boxing(void **state)
{
    struct hart *h = fresh();
    h->f[RS1] = fb(1.0f); /* upper half zero: not a valid boxed single */
    h->f[RS2] = BOX | fb(1.0f);
    assert_int_equal(fpu_exec(h, op_fp(F_ADD, S, RS2, RS1, RNE, RD)), 0);
    assert_int_equal(h->f[RD], BOX | S_CANON);
    FLAGS(h, 0);
    /* sign injection uses the canonical NaN as rs1, and rs2's sign */
    h->f[RS2] = BOX | fb(-2.0f);
    assert_int_equal(fpu_exec(h, op_fp(F_SGNJ, S, RS2, RS1, 0, RD)), 0);
    assert_int_equal(h->f[RD], BOX | 0xffc00000);
    /* ...and an un-boxed rs2 has the canonical NaN's (positive) sign */
    h->f[RS1] = BOX | fb(-2.0f);
    h->f[RS2] = 0x00000000bf800000ull;
    assert_int_equal(fpu_exec(h, op_fp(F_SGNJ, S, RS2, RS1, 0, RD)), 0);
    assert_int_equal(h->f[RD], BOX | fb(2.0f));
    /* FCLASS sees a quiet NaN; FEQ is quiet, FLT signals */
    h->f[RS1] = fb(1.0f);
    assert_int_equal(xres(h, op_fp(F_MVX_CLASS, S, 0, RS1, 1, XD)), 1u << 9);
    assert_int_equal(xres(h, op_fp(F_CMP, S, RS1, RS1, 2, XD)), 0);
    FLAGS(h, 0);
    assert_int_equal(xres(h, op_fp(F_CMP, S, RS1, RS1, 1, XD)), 0);
    FLAGS(h, FFLAG_NV);
    /* FMV.X.W is a transfer: the low 32 bits, sign-extended, box ignored (12.2) */
    h->f[RS1] = 0x12345678bf800000ull;
    assert_int_equal(xres(h, op_fp(F_MVX_CLASS, S, 0, RS1, 0, XD)), 0xffffffffbf800000ull);
    /* D instructions see the boxed single as a negative qNaN */
    h->f[RS1] = BOX | fb(1.0f);
    assert_int_equal(xres(h, op_fp(F_MVX_CLASS, D, 0, RS1, 1, XD)), 1u << 9);
}

static void test_nan_results(void **state)
{
    struct hart *h = fresh();
    /* qNaN payloads are not propagated (11.3) and raise nothing */
    assert_int_equal(s2(h, F_ADD, RNE, 0xffc12345, fb(1.0f)), S_CANON);
    FLAGS(h, 0);
    /* sNaN operands raise NV */
    assert_int_equal(s2(h, F_MUL, RNE, fb(1.0f), 0x7f800001), S_CANON);
    FLAGS(h, FFLAG_NV);
    assert_int_equal(d2(h, F_DIV, RMM, 0xfff4000000001234ull, db(1.0)), D_CANON);
    FLAGS(h, FFLAG_NV);
    assert_int_equal(d2(h, F_ADD, RUP, 0xfff8000000001234ull, db(1.0)), D_CANON);
    FLAGS(h, 0);
    /* FCVT.D.S / FCVT.S.D */
    h->f[RS1] = BOX | 0xff812345; /* sNaN */
    assert_int_equal(fpu_exec(h, op_fp(F_CVT_FF, D, S, RS1, RNE, RD)), 0);
    assert_int_equal(h->f[RD], D_CANON);
    FLAGS(h, FFLAG_NV);
    h->f[RS1] = 0xfff8000000001234ull;
    assert_int_equal(fpu_exec(h, op_fp(F_CVT_FF, S, D, RS1, RNE, RD)), 0);
    assert_int_equal(h->f[RD], BOX | S_CANON);
    FLAGS(h, 0);
}

static void test_sqrt(void **state)
{
    struct hart *h = fresh();
    h->f[RS1] = BOX | fb(2.0f);
    assert_int_equal(fpu_exec(h, op_fp(F_SQRT, S, 0, RS1, RNE, RD)), 0);
    assert_int_equal(h->f[RD], BOX | 0x3fb504f3);
    assert_int_equal(fpu_exec(h, op_fp(F_SQRT, S, 0, RS1, RTZ, RD)), 0);
    assert_int_equal(h->f[RD], BOX | 0x3fb504f3);
    assert_int_equal(fpu_exec(h, op_fp(F_SQRT, S, 0, RS1, RUP, RD)), 0);
    assert_int_equal(h->f[RD], BOX | 0x3fb504f4);
    FLAGS(h, FFLAG_NX);
    h->f[RS1] = db(2.0);
    assert_int_equal(fpu_exec(h, op_fp(F_SQRT, D, 0, RS1, RMM, RD)), 0);
    assert_int_equal(h->f[RD], 0x3ff6a09e667f3bcdull);
    FLAGS(h, FFLAG_NX);
    h->f[RS1] = db(-0.0); /* sqrt(-0) = -0 */
    assert_int_equal(fpu_exec(h, op_fp(F_SQRT, D, 0, RS1, RNE, RD)), 0);
    assert_int_equal(h->f[RD], 0x8000000000000000ull);
    FLAGS(h, 0);
    h->f[RS1] = db(-1.0);
    for (unsigned rm = 0; rm < 5; rm++) {
        assert_int_equal(fpu_exec(h, op_fp(F_SQRT, D, 0, RS1, rm, RD)), 0);
        assert_int_equal(h->f[RD], D_CANON);
        FLAGS(h, FFLAG_NV);
    }
}

/* unpriv 11.7: sign injection never raises flags nor canonicalises NaNs. */
static void test_sign_injection(void **state)
{
    struct hart *h = fresh();
    assert_int_equal(s2(h, F_SGNJ, 0, fb(3.0f), fb(-1.0f)), fb(-3.0f));
    assert_int_equal(s2(h, F_SGNJ, 1, fb(3.0f), fb(-1.0f)), fb(3.0f));
    assert_int_equal(s2(h, F_SGNJ, 2, fb(-3.0f), fb(-1.0f)), fb(3.0f));
    assert_int_equal(s2(h, F_SGNJ, 1, 0x7f800001, 0x7f800001), 0xff800001);
    assert_int_equal(d2(h, F_SGNJ, 0, 0x7ff0000000000001ull, db(-1.0)), 0xfff0000000000001ull);
    assert_int_equal(d2(h, F_SGNJ, 1, db(2.0), db(2.0)), db(-2.0));
    assert_int_equal(d2(h, F_SGNJ, 2, db(-2.0), db(-2.0)), db(2.0));
    FLAGS(h, 0);
}

/* unpriv 11.6: FMIN/FMAX are minimumNumber/maximumNumber, -0 < +0. */
static void test_min_max(void **state)
{
    struct hart *h = fresh();
    assert_int_equal(s2(h, F_MINMAX, 0, fb(0.0f), fb(-0.0f)), fb(-0.0f));
    assert_int_equal(s2(h, F_MINMAX, 0, fb(-0.0f), fb(0.0f)), fb(-0.0f));
    assert_int_equal(s2(h, F_MINMAX, 1, fb(-0.0f), fb(0.0f)), fb(0.0f));
    assert_int_equal(s2(h, F_MINMAX, 1, fb(0.0f), fb(-0.0f)), fb(0.0f));
    assert_int_equal(s2(h, F_MINMAX, 0, fb(-1.0f), fb(2.0f)), fb(-1.0f));
    assert_int_equal(s2(h, F_MINMAX, 1, fb(-1.0f), fb(2.0f)), fb(2.0f));
    FLAGS(h, 0);
    /* one quiet NaN: the other operand, no flag */
    assert_int_equal(s2(h, F_MINMAX, 0, 0xffc12345, fb(2.0f)), fb(2.0f));
    assert_int_equal(d2(h, F_MINMAX, 1, db(2.0), D_CANON), db(2.0));
    FLAGS(h, 0);
    /* one signalling NaN: the other operand, but NV */
    assert_int_equal(s2(h, F_MINMAX, 1, 0x7f800001, fb(2.0f)), fb(2.0f));
    FLAGS(h, FFLAG_NV);
    assert_int_equal(d2(h, F_MINMAX, 0, db(-3.0), 0x7ff0000000000001ull), db(-3.0));
    FLAGS(h, FFLAG_NV);
    /* two NaNs: canonical NaN */
    assert_int_equal(s2(h, F_MINMAX, 0, 0xffc12345, 0x7fc00001), S_CANON);
    FLAGS(h, 0);
    assert_int_equal(d2(h, F_MINMAX, 1, 0x7ff0000000000001ull, 0xfff8000000000000ull), D_CANON);
    FLAGS(h, FFLAG_NV);
}

/* unpriv 11.8 */
static void test_compare(void **state)
{
    struct hart *h = fresh();
    enum { FLE = 0, FLT = 1, FEQ = 2 };
    h->f[RS1] = BOX | fb(1.0f);
    h->f[RS2] = BOX | fb(2.0f);
    assert_int_equal(xres(h, op_fp(F_CMP, S, RS2, RS1, FLT, XD)), 1);
    assert_int_equal(xres(h, op_fp(F_CMP, S, RS2, RS1, FLE, XD)), 1);
    assert_int_equal(xres(h, op_fp(F_CMP, S, RS2, RS1, FEQ, XD)), 0);
    assert_int_equal(xres(h, op_fp(F_CMP, S, RS1, RS2, FLT, XD)), 0);
    h->f[RS1] = db(0.0);
    h->f[RS2] = db(-0.0);
    assert_int_equal(xres(h, op_fp(F_CMP, D, RS2, RS1, FEQ, XD)), 1);
    assert_int_equal(xres(h, op_fp(F_CMP, D, RS2, RS1, FLT, XD)), 0);
    assert_int_equal(xres(h, op_fp(F_CMP, D, RS2, RS1, FLE, XD)), 1);
    FLAGS(h, 0);
    /* quiet NaN: FEQ quiet, FLT/FLE signal */
    h->f[RS2] = D_CANON;
    assert_int_equal(xres(h, op_fp(F_CMP, D, RS2, RS1, FEQ, XD)), 0);
    FLAGS(h, 0);
    assert_int_equal(xres(h, op_fp(F_CMP, D, RS2, RS1, FLT, XD)), 0);
    FLAGS(h, FFLAG_NV);
    assert_int_equal(xres(h, op_fp(F_CMP, D, RS2, RS1, FLE, XD)), 0);
    FLAGS(h, FFLAG_NV);
    /* signalling NaN: FEQ signals too */
    h->f[RS2] = 0x7ff0000000000001ull;
    assert_int_equal(xres(h, op_fp(F_CMP, D, RS2, RS1, FEQ, XD)), 0);
    FLAGS(h, FFLAG_NV);
    /* rd = x0 is never written */
    h->f[RS2] = db(0.0);
    assert_int_equal(fpu_exec(h, op_fp(F_CMP, D, RS2, RS1, FEQ, 0)), 0);
    assert_int_equal(h->x[0], 0);
}

/* unpriv 11.9: one bit per class. */
static void test_fclass(void **state)
{
    struct hart *h = fresh();
    static const uint32_t s[10] = { 0xff800000, 0xbf800000, 0x807fffff, 0x80000000, 0x00000000,
                                    0x00000001, 0x3f800000, 0x7f800000, 0x7f800001, 0x7fc00000 };
    static const uint64_t d[10] = { 0xfff0000000000000ull, 0xbff0000000000000ull,
                                    0x8000000000000001ull, 0x8000000000000000ull, 0,
                                    0x000fffffffffffffull, 0x7fefffffffffffffull,
                                    0x7ff0000000000000ull, 0x7ff4000000000000ull,
                                    0xfff8000000000000ull };
    for (unsigned i = 0; i < 10; i++) {
        h->f[RS1] = BOX | s[i];
        assert_int_equal(xres(h, op_fp(F_MVX_CLASS, S, 0, RS1, 1, XD)), 1u << i);
        h->f[RS1] = d[i];
        assert_int_equal(xres(h, op_fp(F_MVX_CLASS, D, 0, RS1, 1, XD)), 1u << i);
    }
    FLAGS(h, 0);
}

/* unpriv 11.7 table 11.4: FCVT.W[U] rounding, flags and saturation. */
static void test_fcvt_w(void **state)
{
    struct hart *h = fresh();
    enum { W = 0, WU = 1 };
    /* 2.5 and -2.5 in each mode */
    static const int64_t pos[5] = { 2, 2, 2, 3, 3 }, neg[5] = { -2, -2, -3, -2, -3 };
    for (unsigned rm = 0; rm < 5; rm++) {
        assert_int_equal(to_int(h, S, W, rm, BOX | fb(2.5f)), pos[rm]);
        assert_int_equal(to_int(h, D, W, rm, db(-2.5)), (uint64_t)neg[rm]);
        FLAGS(h, FFLAG_NX);
    }
    assert_int_equal(to_int(h, D, W, RNE, db(3.0)), 3);
    assert_int_equal(to_int(h, D, W, RNE, db(-0x1p31)), 0xffffffff80000000ull);
    assert_int_equal(to_int(h, D, W, RTZ, db(-2147483648.9)), 0xffffffff80000000ull);
    FLAGS(h, FFLAG_NX);
    /* saturation: too big/too small/inf/NaN, with NV and never NX */
    assert_int_equal(to_int(h, D, W, RNE, db(0x1p31)), 0x7fffffff);
    FLAGS(h, FFLAG_NV);
    assert_int_equal(to_int(h, D, W, RUP, db(2147483647.5)), 0x7fffffff);
    FLAGS(h, FFLAG_NV);
    assert_int_equal(to_int(h, D, W, RDN, db(2147483647.5)), 0x7fffffff);
    FLAGS(h, FFLAG_NX);
    assert_int_equal(to_int(h, D, W, RDN, db(-2147483648.5)), 0xffffffff80000000ull);
    FLAGS(h, FFLAG_NV);
    assert_int_equal(to_int(h, S, W, RNE, BOX | 0xff800000), 0xffffffff80000000ull);
    assert_int_equal(to_int(h, S, W, RNE, BOX | 0x7f800000), 0x7fffffff);
    assert_int_equal(to_int(h, S, W, RNE, BOX | 0xffc00000), 0x7fffffff);
    FLAGS(h, FFLAG_NV);

    /* WU: results are sign-extended from 32 bits */
    assert_int_equal(to_int(h, D, WU, RNE, db(4294967295.0)), 0xffffffffffffffffull);
    assert_int_equal(to_int(h, D, WU, RNE, db(3e9)), 0xffffffffb2d05e00ull);
    FLAGS(h, 0);
    assert_int_equal(to_int(h, D, WU, RNE, db(0x1p32)), 0xffffffffffffffffull);
    FLAGS(h, FFLAG_NV);
    assert_int_equal(to_int(h, D, WU, RNE, db(-1.0)), 0);
    FLAGS(h, FFLAG_NV);
    /* -0.5 rounds to -0 (valid: 0, inexact) except toward -inf (-1: invalid) */
    assert_int_equal(to_int(h, S, WU, RUP, BOX | fb(-0.5f)), 0);
    FLAGS(h, FFLAG_NX);
    assert_int_equal(to_int(h, S, WU, RNE, BOX | fb(-0.5f)), 0);
    FLAGS(h, FFLAG_NX);
    assert_int_equal(to_int(h, S, WU, RMM, BOX | fb(-0.5f)), 0);
    FLAGS(h, FFLAG_NV);
    assert_int_equal(to_int(h, S, WU, RDN, BOX | fb(-0.5f)), 0);
    FLAGS(h, FFLAG_NV);
    assert_int_equal(to_int(h, D, WU, RNE, db(-INFINITY)), 0);
    FLAGS(h, FFLAG_NV);
    assert_int_equal(to_int(h, D, WU, RNE, D_CANON), 0xffffffffffffffffull);
    FLAGS(h, FFLAG_NV);
    assert_int_equal(to_int(h, S, WU, RNE, BOX | fb(-0.0f)), 0);
    FLAGS(h, 0);
}

static void test_fcvt_l(void **state)
{
    struct hart *h = fresh();
    enum { L = 2, LU = 3 };
    assert_int_equal(to_int(h, D, L, RNE, db(-0x1p63)), 0x8000000000000000ull);
    assert_int_equal(to_int(h, D, L, RNE, 0x43dfffffffffffffull), 0x7ffffffffffffc00ull);
    FLAGS(h, 0);
    assert_int_equal(to_int(h, D, L, RNE, db(0x1p63)), 0x7fffffffffffffffull);
    FLAGS(h, FFLAG_NV);
    assert_int_equal(to_int(h, S, L, RNE, BOX | fb(-0x1p64f)), 0x8000000000000000ull);
    FLAGS(h, FFLAG_NV);
    assert_int_equal(to_int(h, D, L, RNE, db(INFINITY)), 0x7fffffffffffffffull);
    assert_int_equal(to_int(h, D, L, RNE, db(-INFINITY)), 0x8000000000000000ull);
    assert_int_equal(to_int(h, D, L, RNE, 0x7ff0000000000001ull), 0x7fffffffffffffffull);
    FLAGS(h, FFLAG_NV);
    assert_int_equal(to_int(h, D, L, RMM, db(-1.5)), (uint64_t)-2);
    FLAGS(h, FFLAG_NX);

    assert_int_equal(to_int(h, D, LU, RNE, 0x43efffffffffffffull), 0xfffffffffffff800ull);
    FLAGS(h, 0);
    assert_int_equal(to_int(h, D, LU, RNE, db(0x1p64)), 0xffffffffffffffffull);
    FLAGS(h, FFLAG_NV);
    assert_int_equal(to_int(h, D, LU, RNE, db(INFINITY)), 0xffffffffffffffffull);
    assert_int_equal(to_int(h, S, LU, RNE, BOX | 0x7fc00000), 0xffffffffffffffffull);
    assert_int_equal(to_int(h, D, LU, RNE, db(-1.0)), 0);
    assert_int_equal(to_int(h, D, LU, RNE, db(-INFINITY)), 0);
    assert_int_equal(to_int(h, D, LU, RDN, db(-0.5)), 0);
    FLAGS(h, FFLAG_NV);
    assert_int_equal(to_int(h, D, LU, RUP, db(-0.5)), 0);
    FLAGS(h, FFLAG_NX);
    /* rd = x0 is never written */
    h->f[RS1] = db(5.0);
    assert_int_equal(fpu_exec(h, op_fp(F_CVT_IF, D, L, RS1, RNE, 0)), 0);
    assert_int_equal(h->x[0], 0);
}

static void test_fcvt_from_int(void **state)
{
    struct hart *h = fresh();
    enum { W = 0, WU = 1, L = 2, LU = 3 };
    /* 16777217 = 2^24 + 1 is a tie in single precision */
    assert_int_equal(from_int(h, S, W, RNE, 16777217), BOX | 0x4b800000);
    assert_int_equal(from_int(h, S, W, RUP, 16777217), BOX | 0x4b800001);
    assert_int_equal(from_int(h, S, W, RMM, 16777217), BOX | 0x4b800001);
    assert_int_equal(from_int(h, S, W, RMM, (uint64_t)-16777217), BOX | 0xcb800001);
    FLAGS(h, FFLAG_NX);
    /* W uses the low 32 bits, signed; WU unsigned */
    assert_int_equal(from_int(h, D, W, RNE, 0x12345678ffffffffull), db(-1.0));
    assert_int_equal(from_int(h, D, WU, RNE, 0x12345678ffffffffull), db(4294967295.0));
    assert_int_equal(from_int(h, S, L, RNE, 0x8000000000000000ull), BOX | 0xdf000000);
    FLAGS(h, 0);
    assert_int_equal(from_int(h, S, WU, RNE, 0xffffffff), BOX | 0x4f800000);
    assert_int_equal(from_int(h, S, WU, RTZ, 0xffffffff), BOX | 0x4f7fffff);
    assert_int_equal(from_int(h, S, LU, RNE, UINT64_MAX), BOX | 0x5f800000);
    FLAGS(h, FFLAG_NX);
    /* 2^53 + 1 ties in double */
    assert_int_equal(from_int(h, D, L, RNE, (1ull << 53) + 1), 0x4340000000000000ull);
    assert_int_equal(from_int(h, D, L, RMM, (1ull << 53) + 1), 0x4340000000000001ull);
    assert_int_equal(from_int(h, D, LU, RMM, UINT64_MAX), 0x43f0000000000000ull);
    assert_int_equal(from_int(h, D, LU, RDN, UINT64_MAX), 0x43efffffffffffffull);
    FLAGS(h, FFLAG_NX);
    /* FCVT.S.W rd, x0 gives +0 and never raises flags (11.7) */
    h->fflags = 0;
    assert_int_equal(fpu_exec(h, op_fp(F_CVT_FI, S, W, 0, RDN, RD)), 0);
    assert_int_equal(h->f[RD], BOX);
    FLAGS(h, 0);
}

/* unpriv 12.5: FCVT.S.D rounds, FCVT.D.S is exact. */
static void test_fcvt_s_d(void **state)
{
    struct hart *h = fresh();
    static const uint32_t third[5] = { 0x3eaaaaab, 0x3eaaaaaa, 0x3eaaaaaa, 0x3eaaaaab, 0x3eaaaaab };
    for (unsigned rm = 0; rm < 5; rm++) {
        h->f[RS1] = db(1.0 / 3.0);
        assert_int_equal(fpu_exec(h, op_fp(F_CVT_FF, S, D, RS1, rm, RD)), 0);
        assert_int_equal(h->f[RD], BOX | third[rm]);
        FLAGS(h, FFLAG_NX);
    }
    /* tie: 1 + 2^-24 */
    h->f[RS1] = db(1 + 0x1p-24);
    assert_int_equal(fpu_exec(h, op_fp(F_CVT_FF, S, D, RS1, RNE, RD)), 0);
    assert_int_equal(h->f[RD], BOX | 0x3f800000);
    assert_int_equal(fpu_exec(h, op_fp(F_CVT_FF, S, D, RS1, RMM, RD)), 0);
    assert_int_equal(h->f[RD], BOX | 0x3f800001);
    FLAGS(h, FFLAG_NX);
    h->f[RS1] = db(1e300);
    assert_int_equal(fpu_exec(h, op_fp(F_CVT_FF, S, D, RS1, RNE, RD)), 0);
    assert_int_equal(h->f[RD], BOX | 0x7f800000);
    FLAGS(h, FFLAG_OF | FFLAG_NX);
    assert_int_equal(fpu_exec(h, op_fp(F_CVT_FF, S, D, RS1, RTZ, RD)), 0);
    assert_int_equal(h->f[RD], BOX | 0x7f7fffff);
    FLAGS(h, FFLAG_OF | FFLAG_NX);
    h->f[RS1] = BOX | 0x00000001; /* smallest subnormal widens exactly */
    assert_int_equal(fpu_exec(h, op_fp(F_CVT_FF, D, S, RS1, RNE, RD)), 0);
    assert_int_equal(h->f[RD], db(0x1p-149));
    FLAGS(h, 0);
}

static void test_moves(void **state)
{
    struct hart *h = fresh();
    h->f[RS1] = BOX | 0x80000000;
    assert_int_equal(xres(h, op_fp(F_MVX_CLASS, S, 0, RS1, 0, XD)), 0xffffffff80000000ull);
    h->f[RS1] = BOX | 0x7f800001; /* sNaN payload moves unchanged */
    assert_int_equal(xres(h, op_fp(F_MVX_CLASS, S, 0, RS1, 0, XD)), 0x7f800001);
    h->f[RS1] = 0xfff0000000000001ull;
    assert_int_equal(xres(h, op_fp(F_MVX_CLASS, D, 0, RS1, 0, XD)), 0xfff0000000000001ull);
    h->x[XS] = 0x123456787f800001ull;
    assert_int_equal(fpu_exec(h, op_fp(F_MVF, S, 0, XS, 0, RD)), 0);
    assert_int_equal(h->f[RD], BOX | 0x7f800001);
    assert_int_equal(fpu_exec(h, op_fp(F_MVF, D, 0, XS, 0, RD)), 0);
    assert_int_equal(h->f[RD], 0x123456787f800001ull);
    FLAGS(h, 0);
}

/* unpriv 11.6: fused multiply-add, one rounding. */
static void test_fma(void **state)
{
    struct hart *h = fresh();
    assert_int_equal(s3(h, FMADD, RNE, fb(2.0f), fb(3.0f), fb(1.0f)), fb(7.0f));
    assert_int_equal(s3(h, FMSUB, RNE, fb(2.0f), fb(3.0f), fb(1.0f)), fb(5.0f));
    assert_int_equal(s3(h, FNMSUB, RNE, fb(2.0f), fb(3.0f), fb(1.0f)), fb(-5.0f));
    assert_int_equal(s3(h, FNMADD, RNE, fb(2.0f), fb(3.0f), fb(1.0f)), fb(-7.0f));
    assert_int_equal(d3(h, FNMADD, RNE, db(2.0), db(3.0), db(1.0)), db(-7.0));
    /* signed zeros: -(1*0) + 0 = +0, -(1*0) - 0 = -0 */
    assert_int_equal(d3(h, FNMSUB, RNE, db(1.0), 0, 0), 0);
    assert_int_equal(d3(h, FNMADD, RNE, db(1.0), 0, 0), 0x8000000000000000ull);
    FLAGS(h, 0);
    /* single rounding: (1 + 2^-23)^2 - (1 + 2^-22) = 2^-46 exactly; a separate
     * multiply would round the product to 1 + 2^-22 and give 0 */
    assert_int_equal(s3(h, FMADD, RNE, 0x3f800001, 0x3f800001, 0xbf800002), fb(0x1p-46f));
    assert_int_equal(d3(h, FMSUB, RNE, 0x3ff0000000000001ull, 0x3ff0000000000001ull,
                        0x3ff0000000000002ull),
                     db(0x1p-104));
    FLAGS(h, 0);
    /* RMM on FMA ties, product tie and addend tie */
    assert_int_equal(s3(h, FMADD, RNE, fb(1 + 0x1p-12f), fb(1 + 0x1p-12f), 0), 0x3f801000);
    assert_int_equal(s3(h, FMADD, RMM, fb(1 + 0x1p-12f), fb(1 + 0x1p-12f), 0), 0x3f801001);
    assert_int_equal(d3(h, FMADD, RMM, db(1.0), db(1.0), db(0x1p-53)), 0x3ff0000000000001ull);
    assert_int_equal(d3(h, FMADD, RTZ, db(1.0), db(1.0), db(-0x1p-60)), 0x3fefffffffffffffull);
    FLAGS(h, FFLAG_NX);
    /* 1 + 2^-80 is inexact even though the 64-bit intermediate would truncate to 1 */
    assert_int_equal(d3(h, FMADD, RMM, db(1.0), db(1.0), db(0x1p-80)), db(1.0));
    FLAGS(h, FFLAG_NX);
    /* inf * 0 raises NV even with a quiet NaN addend */
    assert_int_equal(s3(h, FMADD, RNE, 0x7f800000, 0, S_CANON), S_CANON);
    FLAGS(h, FFLAG_NV);
    assert_int_equal(d3(h, FNMADD, RMM, 0, db(-INFINITY), D_CANON), D_CANON);
    FLAGS(h, FFLAG_NV);
    assert_int_equal(d3(h, FMADD, RNE, db(INFINITY), 0, db(1.0)), D_CANON);
    FLAGS(h, FFLAG_NV);
    /* a quiet NaN alone raises nothing; inf - inf is invalid */
    assert_int_equal(d3(h, FMADD, RNE, D_CANON, db(1.0), db(1.0)), D_CANON);
    FLAGS(h, 0);
    assert_int_equal(d3(h, FMSUB, RNE, db(INFINITY), db(1.0), db(INFINITY)), D_CANON);
    FLAGS(h, FFLAG_NV);
}

static void test_illegal(void **state)
{
    struct hart *h = fresh();
    h->f[RS1] = h->f[RS2] = BOX | fb(1.0f);
    assert_int_equal(fpu_exec(h, op_fp(F_ADD, 2, RS2, RS1, RNE, RD)), -1);  /* fmt H */
    assert_int_equal(fpu_exec(h, op_fp(F_ADD, 3, RS2, RS1, RNE, RD)), -1);  /* fmt Q */
    assert_int_equal(fpu_exec(h, op_fp(0x06, S, RS2, RS1, RNE, RD)), -1);   /* no such funct5 */
    assert_int_equal(fpu_exec(h, op_fp(F_SQRT, S, 1, RS1, RNE, RD)), -1);   /* rs2 != 0 */
    assert_int_equal(fpu_exec(h, op_fp(F_SGNJ, S, RS2, RS1, 3, RD)), -1);
    assert_int_equal(fpu_exec(h, op_fp(F_MINMAX, D, RS2, RS1, 2, RD)), -1);
    assert_int_equal(fpu_exec(h, op_fp(F_CMP, D, RS2, RS1, 3, XD)), -1);
    assert_int_equal(fpu_exec(h, op_fp(F_CVT_FF, S, S, RS1, RNE, RD)), -1); /* fcvt.s.s */
    /* fcvt.d.h is Zfhmin (legal since kiln has it); fcvt.d.q is not: no Q. */
    assert_int_equal(fpu_exec(h, op_fp(F_CVT_FF, D, 3, RS1, RNE, RD)), -1); /* fcvt.d.q */
    assert_int_equal(fpu_exec(h, op_fp(F_CVT_IF, S, 4, RS1, RNE, XD)), -1);
    assert_int_equal(fpu_exec(h, op_fp(F_CVT_FI, D, 5, XS, RNE, RD)), -1);
    assert_int_equal(fpu_exec(h, op_fp(F_MVX_CLASS, S, 0, RS1, 2, XD)), -1);
    assert_int_equal(fpu_exec(h, op_fp(F_MVX_CLASS, S, 1, RS1, 0, XD)), -1);
    assert_int_equal(fpu_exec(h, op_fp(F_MVF, S, 0, XS, 1, RD)), -1);
    assert_int_equal(fpu_exec(h, r4(FMADD, 2, RNE)), -1);
    assert_int_equal(fpu_exec(h, r4(FMSUB, D, 5)), -1);
    assert_int_equal(fpu_exec(h, 0x00000013), -1); /* not an FP opcode (addi) */
    assert_int_equal(h->f[RD], 0);
    assert_int_equal(h->x[XD], 0);
    FLAGS(h, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_arith),
        cmocka_unit_test(test_rounding_modes),
        cmocka_unit_test(test_rmm_ties),
        cmocka_unit_test(test_dynamic_and_illegal_rm),
        cmocka_unit_test(test_exception_flags),
        cmocka_unit_test(test_tininess_after_rounding),
        cmocka_unit_test(test_nan_boxing),
        cmocka_unit_test(test_nan_results),
        cmocka_unit_test(test_sqrt),
        cmocka_unit_test(test_sign_injection),
        cmocka_unit_test(test_min_max),
        cmocka_unit_test(test_compare),
        cmocka_unit_test(test_fclass),
        cmocka_unit_test(test_fcvt_w),
        cmocka_unit_test(test_fcvt_l),
        cmocka_unit_test(test_fcvt_from_int),
        cmocka_unit_test(test_fcvt_s_d),
        cmocka_unit_test(test_moves),
        cmocka_unit_test(test_fma),
        cmocka_unit_test(test_illegal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
