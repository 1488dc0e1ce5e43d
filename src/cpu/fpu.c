/*
 * RV64F/RV64D computational instructions on the host FPU.
 *
 * Spec references are to the RISC-V unprivileged ISA, version 20191213:
 * ch. 11 "F" (11.2 fcsr and rounding modes, 11.3 NaN generation, 11.4
 * subnormals, 11.6 computational, 11.7 conversion and move, 11.8 compare,
 * 11.9 classify) and ch. 12 "D" (12.2 NaN boxing of narrower values).
 *
 * Strategy:
 *  - RNE add/sub/mul/div/sqrt (the hot path): computed directly, with NX
 *    derived from an exact error term instead of the slow MXCSR round trip
 *    (fast_flags_*); anything unusual falls through to the next case.
 *  - RNE/RTZ/RDN/RUP: the host (IEEE 754) computes the exact RISC-V result and
 *    flags; we only replace NaN results by the canonical NaN (11.3) and add
 *    the one flag rule the host may not follow (FMA inf*0+qNaN, 11.6).
 *  - RMM has no host equivalent. It differs from RNE only when the exact
 *    result is a tie, and it raises the same flags (tininess and overflow are
 *    decided on the unbounded-exponent rounding, where a tie at the
 *    2^emin/overflow boundary goes the same way in both modes). So RMM
 *    computes the result rounded to odd in long double (64-bit significand
 *    >= p + 2, which makes a later rounding correct), narrows it with the
 *    host in RNE, and moves a tie to the neighbour away from zero.
 *  - Everything without rounding (sign injection, min/max, compare, class,
 *    moves, fcvt to integer, fcvt.d.s) is done in integer or exact code.
 *
 * The host thread is assumed to run in round-to-nearest; we restore it after
 * every operation that changes it.
 *
 * gcc ignores "#pragma STDC FENV_ACCESS" (and warns, which -Werror turns into
 * an error), and -frounding-math is not in our flags. So every host FP
 * operation whose rounding or flags matter is fenced with empty volatile asm
 * statements that launder its inputs and output (OPAQUE): the operation can
 * then neither be constant-folded nor moved across the mode switch or the
 * flag read.
 */
#define _GNU_SOURCE /* roundeven() */
#include "cpu/fpu.h"

#include <fenv.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "cpu/fp16.h"
#include "cpu/hart.h"

#if LDBL_MANT_DIG < DBL_MANT_DIG + 2
#error "RMM needs a long double with at least 55 significand bits"
#endif
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "long double round-to-odd assumes a little-endian host"
#endif

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

enum { FMT_S = 0, FMT_D = 1 };
/* Values 0-3 are the funct5 of FADD/FSUB/FMUL/FDIV. */
enum { OP_ADD = 0, OP_SUB = 1, OP_MUL = 2, OP_DIV = 3, OP_SQRT, OP_FMA };

/* unpriv 11.3: the canonical NaNs. */
#define F32_CANON 0x7fc00000u
#define F64_CANON 0x7ff8000000000000ull
#define F32_SIGN 0x80000000u
#define F64_SIGN 0x8000000000000000ull
/* unpriv 12.2: a single is held in the low half with the upper half all ones. */
#define F32_BOX 0xffffffff00000000ull

#if defined(__x86_64__)
#define OPAQUE(v) __asm__ volatile("" : "+x"(v) : : "memory")
#else
#define OPAQUE(v) __asm__ volatile("" : "+m"(v) : : "memory")
#endif
#define OPAQUE_I(v) __asm__ volatile("" : "+r"(v) : : "memory")
#define OPAQUE_LD(v) __asm__ volatile("" : "+m"(v) : : "memory")

static inline float f32(uint32_t b)
{
    float f;
    memcpy(&f, &b, sizeof(f));
    return f;
}

static inline uint32_t f32_bits(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof(b));
    return b;
}

static inline double f64(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof(d));
    return d;
}

static inline uint64_t f64_bits(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof(b));
    return b;
}

static inline bool f32_is_snan(uint32_t b)
{
    return (b & 0x7fc00000u) == 0x7f800000u && (b & 0x003fffffu);
}

static inline bool f64_is_snan(uint64_t b)
{
    return (b & 0x7ff8000000000000ull) == 0x7ff0000000000000ull && (b & 0x0007ffffffffffffull);
}

/* unpriv 12.2: an operand that is not a valid NaN-boxed single reads as the canonical NaN. */
static inline uint32_t rd_s(const struct hart *h, unsigned r)
{
    uint64_t v = h->f[r];
    return (v >> 32) == 0xffffffffu ? (uint32_t)v : F32_CANON;
}

static inline void wr_s(struct hart *h, unsigned r, uint32_t bits)
{
    h->f[r] = F32_BOX | bits;
}

static inline void wr_x(struct hart *h, unsigned r, uint64_t v)
{
    if (r)
        h->x[r] = v;
}

/* unpriv 11.2: rm 7 selects frm; 5, 6 and a dynamic 5-7 are reserved (we trap). */
static inline int resolve_rm(const struct hart *h, unsigned rm)
{
    if (rm == RM_DYN)
        rm = h->frm;
    return rm <= RM_RMM ? (int)rm : -1;
}

static unsigned fe_to_fflags(int ex)
{
    unsigned fl = 0;
    if (ex & FE_INVALID)
        fl |= FFLAG_NV;
    if (ex & FE_DIVBYZERO)
        fl |= FFLAG_DZ;
    if (ex & FE_OVERFLOW)
        fl |= FFLAG_OF;
    if (ex & FE_UNDERFLOW)
        fl |= FFLAG_UF;
    if (ex & FE_INEXACT)
        fl |= FFLAG_NX;
    return fl;
}

/*
 * Host rounding mode and flags around one operation (not RMM).
 * host_enter() selects rm with no flag set and returns a token for
 * host_leave(), which returns the RISC-V flags the operation raised and puts
 * the host back to round-to-nearest.
 */
#if defined(__x86_64__)
/* On x86-64 scalar float/double arithmetic is SSE, controlled by MXCSR alone.
 * glibc's feclearexcept also rewrites the x87 environment (fnstenv/fldenv),
 * far too slow for every instruction, so the hot path uses MXCSR directly. */
#define MXCSR_FLAGS 0x003fu /* IE DE ZE OE UE PE */
#define MXCSR_DAZ 0x0040u
#define MXCSR_MASKS 0x1f80u
#define MXCSR_RC 0x6000u
#define MXCSR_FTZ 0x8000u

static const uint32_t mxcsr_rc[4] = {
    [RM_RNE] = 0x0000, [RM_RTZ] = 0x6000, [RM_RDN] = 0x2000, [RM_RUP] = 0x4000,
};

static inline uint32_t mxcsr_get(void)
{
    uint32_t v;
    __asm__ volatile("stmxcsr %0" : "=m"(v) : : "memory");
    return v;
}

static inline void mxcsr_set(uint32_t v)
{
    __asm__ volatile("ldmxcsr %0" : : "m"(v) : "memory");
}

static inline uint32_t host_enter(unsigned rm)
{
    uint32_t cur = mxcsr_get();
    /* Exceptions masked, no flush-to-zero/denormals-are-zero: plain IEEE. */
    uint32_t want = (cur & ~(MXCSR_FLAGS | MXCSR_RC | MXCSR_DAZ | MXCSR_FTZ)) | MXCSR_MASKS |
                    mxcsr_rc[rm];
    if (unlikely(cur != want))
        mxcsr_set(want);
    return want;
}

static inline unsigned host_leave(uint32_t want)
{
    uint32_t cur = mxcsr_get();
    uint32_t normal = want & ~MXCSR_RC;
    if (likely(cur == normal))
        return 0;
    mxcsr_set(normal);
    /* IE->NV, ZE->DZ, OE->OF, UE->UF, PE->NX; DE (denormal operand) has no RISC-V flag. */
    return ((cur & 0x01u) << 4) | ((cur & 0x04u) << 1) | ((cur & 0x08u) >> 1) |
           ((cur & 0x10u) >> 3) | ((cur & 0x20u) >> 5);
}
#else
static const int fe_rc[4] = {
    [RM_RNE] = FE_TONEAREST, [RM_RTZ] = FE_TOWARDZERO, [RM_RDN] = FE_DOWNWARD, [RM_RUP] = FE_UPWARD,
};

static inline uint32_t host_enter(unsigned rm)
{
    if (rm != RM_RNE)
        fesetround(fe_rc[rm]);
    feclearexcept(FE_ALL_EXCEPT);
    return rm;
}

static inline unsigned host_leave(uint32_t rm)
{
    int ex = fetestexcept(FE_ALL_EXCEPT);
    if (rm != RM_RNE)
        fesetround(FE_TONEAREST);
    return fe_to_fflags(ex);
}
#endif

/* ---- RMM (round to nearest, ties to max magnitude) ---- */

/*
 * Exact value rounded to odd in long double: round toward zero, then force
 * the last significand bit to 1 if anything was lost. Rounding that again to
 * p <= 62 bits in any mode gives the correctly rounded exact value, and the
 * result is a tie at p bits iff the exact value was. Operands are not NaN.
 * Returns NV/DZ in *fl; NX/UF/OF come from the final narrowing.
 */
static long double wide_odd(int op, long double a, long double b, long double c, unsigned *fl)
{
    long double w;

    fesetround(FE_TOWARDZERO);
    feclearexcept(FE_ALL_EXCEPT);
    OPAQUE_LD(a);
    OPAQUE_LD(b);
    OPAQUE_LD(c);
    switch (op) {
    case OP_ADD:
        w = a + b;
        break;
    case OP_SUB:
        w = a - b;
        break;
    case OP_MUL:
        w = a * b;
        break;
    case OP_DIV:
        w = a / b;
        break;
    case OP_SQRT:
        w = sqrtl(a);
        break;
    default:
        w = fmal(a, b, c);
        break;
    }
    OPAQUE_LD(w);
    int ex = fetestexcept(FE_ALL_EXCEPT);
    fesetround(FE_TONEAREST);
    feclearexcept(FE_ALL_EXCEPT);
    *fl |= fe_to_fflags(ex) & (FFLAG_NV | FFLAG_DZ);
    if ((ex & FE_INEXACT) && isfinite(w)) {
        /* The significand's least significant bit is bit 0 of the first
         * 8 bytes, for x87 extended and for binary128 alike. */
        uint64_t lo;
        memcpy(&lo, &w, sizeof(lo));
        lo |= 1;
        memcpy(&w, &lo, sizeof(lo));
    }
    return w;
}

/*
 * Narrow a round-to-odd long double to double/float with RMM: the host
 * rounds to nearest-even (flags NX/UF/OF are those of RMM, see the top of the
 * file); if w was exactly halfway and the host went toward zero, step to the
 * neighbour away from zero. Bit arithmetic on the magnitude gives that
 * neighbour without raising flags. The differences below are exact in long
 * double (w is within half an ulp of n, far from long double's own limits).
 */
static uint64_t narrow_rmm_d(long double w, unsigned *fl)
{
    if (isnan(w))
        return F64_CANON;
    feclearexcept(FE_ALL_EXCEPT);
    OPAQUE_LD(w);
    double n = (double)w;
    OPAQUE(n);
    *fl |= fe_to_fflags(fetestexcept(FE_ALL_EXCEPT));
    feclearexcept(FE_ALL_EXCEPT);
    uint64_t nb = f64_bits(n);
    if (isinf(n))
        return nb;
    long double diff = w - (long double)n;
    if (diff != 0 && signbit(diff) == signbit(w)) {
        uint64_t away = nb + 1; /* n has w's sign, also when n is zero */
        long double gap = (long double)f64(away) - (long double)n;
        if (fabsl(diff) * 2 == fabsl(gap))
            nb = away;
    }
    return nb;
}

static uint32_t narrow_rmm_s(long double w, unsigned *fl)
{
    if (isnan(w))
        return F32_CANON;
    feclearexcept(FE_ALL_EXCEPT);
    OPAQUE_LD(w);
    float n = (float)w;
    OPAQUE(n);
    *fl |= fe_to_fflags(fetestexcept(FE_ALL_EXCEPT));
    feclearexcept(FE_ALL_EXCEPT);
    uint32_t nb = f32_bits(n);
    if (isinf(n))
        return nb;
    long double diff = w - (long double)n;
    if (diff != 0 && signbit(diff) == signbit(w)) {
        uint32_t away = nb + 1;
        long double gap = (long double)f32(away) - (long double)n;
        if (fabsl(diff) * 2 == fabsl(gap))
            nb = away;
    }
    return nb;
}

/* unpriv 11.6: FMA raises NV for inf * 0 even when the addend is a quiet NaN. */
static inline bool inf_times_zero(double a, double b)
{
    return (isinf(a) && b == 0) || (a == 0 && isinf(b));
}

static uint32_t rmm_s(struct hart *h, int op, uint32_t ab, uint32_t bb, uint32_t cb)
{
    float a = f32(ab), b = f32(bb), c = f32(cb);
    unsigned fl = 0;
    uint32_t r;

    if (isnan(a) || isnan(b) || isnan(c)) {
        if (f32_is_snan(ab) || f32_is_snan(bb) || f32_is_snan(cb) ||
            (op == OP_FMA && inf_times_zero(a, b)))
            fl |= FFLAG_NV;
        r = F32_CANON;
    } else {
        r = narrow_rmm_s(wide_odd(op, a, b, c, &fl), &fl);
    }
    h->fflags |= fl;
    return r;
}

static uint64_t rmm_d(struct hart *h, int op, uint64_t ab, uint64_t bb, uint64_t cb)
{
    double a = f64(ab), b = f64(bb), c = f64(cb);
    unsigned fl = 0;
    uint64_t r;

    if (isnan(a) || isnan(b) || isnan(c)) {
        if (f64_is_snan(ab) || f64_is_snan(bb) || f64_is_snan(cb) ||
            (op == OP_FMA && inf_times_zero(a, b)))
            fl |= FFLAG_NV;
        r = F64_CANON;
    } else {
        r = narrow_rmm_d(wide_odd(op, a, b, c, &fl), &fl);
    }
    h->fflags |= fl;
    return r;
}

/* ---- arithmetic: FADD FSUB FMUL FDIV FSQRT F[N]MADD F[N]MSUB (unpriv 11.6) ---- */

/*
 * RNE fast path. Reading and clearing MXCSR costs more than the operation
 * itself, so in round-to-nearest (the host thread's default mode, see the
 * top of the file) we compute the result directly and derive the flags
 * ourselves when that is provably exact: a finite result in RNE cannot have
 * overflowed, NV/DZ give NaN/inf, UF needs a tiny inexact result (ruled out
 * by the magnitude checks; subnormal sums are always exact), so only NX is
 * left, and it is decided with an exact error term: TwoSum for add/sub, the
 * product or remainder via a fused multiply-add (exact if nothing is near
 * the underflow range) for mul/div/sqrt, or plain double arithmetic for
 * singles. Returns the RISC-V flags (0 or NX), or -1 when unsure: the caller
 * then takes the host-flag path.
 */
static int fast_flags_s(int op, float a, float b, float r)
{
    if (!isfinite(r))
        return -1;
    if (op <= OP_SUB) {
        float bb = op == OP_SUB ? -b : b;
        float bv = r - a, av = r - bv, e = (a - av) + (bb - bv);
        return isfinite(e) ? (e != 0 ? FFLAG_NX : 0) : -1;
    }
    if (!(fabsf(r) > FLT_MIN))
        return -1;
    double exact; /* products of singles are exact in double */
    switch (op) {
    case OP_MUL:
        exact = (double)a * b;
        return (double)r != exact ? FFLAG_NX : 0;
    case OP_DIV:
        exact = (double)r * b;
        return exact != a ? FFLAG_NX : 0;
    default:
        exact = (double)r * r;
        return exact != a ? FFLAG_NX : 0;
    }
}

static int fast_flags_d(int op, double a, double b, double r)
{
    if (!isfinite(r))
        return -1;
    if (op <= OP_SUB) {
        double bb = op == OP_SUB ? -b : b;
        double bv = r - a, av = r - bv, e = (a - av) + (bb - bv);
        return isfinite(e) ? (e != 0 ? FFLAG_NX : 0) : -1;
    }
    /* Keeps every error term's bits above 2^-1074, so the fma is exact. */
    if (!(fabs(r) >= 0x1p-960))
        return -1;
    switch (op) {
    case OP_MUL:
        return __builtin_fma(a, b, -r) != 0 ? FFLAG_NX : 0;
    case OP_DIV: /* a - r*b, whose bits lie above min(lsb(a), lsb(r) + lsb(b)) */
        if (!(fabs(a) >= 0x1p-960))
            return -1;
        return __builtin_fma(-r, b, a) != 0 ? FFLAG_NX : 0;
    default: /* a - r*r: also needs a itself away from the subnormals */
        if (!(a >= 0x1p-960))
            return -1;
        return __builtin_fma(-r, r, a) != 0 ? FFLAG_NX : 0;
    }
}

static inline float rne_s(int op, float a, float b)
{
    switch (op) {
    case OP_ADD:
        return a + b;
    case OP_SUB:
        return a - b;
    case OP_MUL:
        return a * b;
    case OP_DIV:
        return a / b;
    default:
        return __builtin_sqrtf(a);
    }
}

static inline double rne_d(int op, double a, double b)
{
    switch (op) {
    case OP_ADD:
        return a + b;
    case OP_SUB:
        return a - b;
    case OP_MUL:
        return a * b;
    case OP_DIV:
        return a / b;
    default:
        return __builtin_sqrt(a);
    }
}

/* Unused operands are passed as +0 (bits 0). */
static uint32_t arith_s(struct hart *h, int op, int rm, uint32_t ab, uint32_t bb, uint32_t cb)
{
    if (likely(rm == RM_RNE && op != OP_FMA)) {
        float a = f32(ab), b = f32(bb), r = rne_s(op, a, b);
        int fl = fast_flags_s(op, a, b, r);
        if (likely(fl >= 0)) {
            h->fflags |= fl;
            return f32_bits(r);
        }
    }
    if (unlikely(rm == RM_RMM))
        return rmm_s(h, op, ab, bb, cb);

    float a = f32(ab), b = f32(bb), c = f32(cb), r;
    uint32_t env = host_enter(rm);
    OPAQUE(a);
    OPAQUE(b);
    OPAQUE(c);
    switch (op) {
    case OP_ADD:
        r = a + b;
        break;
    case OP_SUB:
        r = a - b;
        break;
    case OP_MUL:
        r = a * b;
        break;
    case OP_DIV:
        r = a / b;
        break;
    case OP_SQRT:
        r = __builtin_sqrtf(a);
        break;
    default:
        r = __builtin_fmaf(a, b, c);
        break;
    }
    OPAQUE(r);
    h->fflags |= host_leave(env);
    if (unlikely(isnan(r))) {
        /* unpriv 11.3: NaN results are canonical (the host would propagate payloads). */
        if (op == OP_FMA && inf_times_zero(a, b))
            h->fflags |= FFLAG_NV;
        return F32_CANON;
    }
    return f32_bits(r);
}

static uint64_t arith_d(struct hart *h, int op, int rm, uint64_t ab, uint64_t bb, uint64_t cb)
{
    if (likely(rm == RM_RNE && op != OP_FMA)) {
        double a = f64(ab), b = f64(bb), r = rne_d(op, a, b);
        int fl = fast_flags_d(op, a, b, r);
        if (likely(fl >= 0)) {
            h->fflags |= fl;
            return f64_bits(r);
        }
    }
    if (unlikely(rm == RM_RMM))
        return rmm_d(h, op, ab, bb, cb);

    double a = f64(ab), b = f64(bb), c = f64(cb), r;
    uint32_t env = host_enter(rm);
    OPAQUE(a);
    OPAQUE(b);
    OPAQUE(c);
    switch (op) {
    case OP_ADD:
        r = a + b;
        break;
    case OP_SUB:
        r = a - b;
        break;
    case OP_MUL:
        r = a * b;
        break;
    case OP_DIV:
        r = a / b;
        break;
    case OP_SQRT:
        r = __builtin_sqrt(a);
        break;
    default:
        r = __builtin_fma(a, b, c);
        break;
    }
    OPAQUE(r);
    h->fflags |= host_leave(env);
    if (unlikely(isnan(r))) {
        if (op == OP_FMA && inf_times_zero(a, b))
            h->fflags |= FFLAG_NV;
        return F64_CANON;
    }
    return f64_bits(r);
}

/* unpriv 11.6, FMADD/FMSUB/FNMSUB/FNMADD: rs1*rs2 (+/-) rs3 with the product
 * and/or the addend negated; negation is a sign flip, exact and flag-free. */
static int exec_fma(struct hart *h, uint32_t insn)
{
    unsigned opc = insn & 0x7f, rd = (insn >> 7) & 31, rs1 = (insn >> 15) & 31,
             rs2 = (insn >> 20) & 31, fmt = (insn >> 25) & 3, rs3 = insn >> 27;
    bool neg_prod, neg_add;

    switch (opc) {
    case 0x43: /* FMADD:  a*b + c */
        neg_prod = false, neg_add = false;
        break;
    case 0x47: /* FMSUB:  a*b - c */
        neg_prod = false, neg_add = true;
        break;
    case 0x4b: /* FNMSUB: -(a*b) + c */
        neg_prod = true, neg_add = false;
        break;
    case 0x4f: /* FNMADD: -(a*b) - c */
        neg_prod = true, neg_add = true;
        break;
    default:
        return -1;
    }
    int rm = resolve_rm(h, (insn >> 12) & 7);
    if (rm < 0 || fmt > FMT_D)
        return -1;
    if (fmt == FMT_S) {
        uint32_t a = rd_s(h, rs1), b = rd_s(h, rs2), c = rd_s(h, rs3);
        a ^= neg_prod ? F32_SIGN : 0;
        c ^= neg_add ? F32_SIGN : 0;
        wr_s(h, rd, arith_s(h, OP_FMA, rm, a, b, c));
    } else {
        uint64_t a = h->f[rs1], b = h->f[rs2], c = h->f[rs3];
        a ^= neg_prod ? F64_SIGN : 0;
        c ^= neg_add ? F64_SIGN : 0;
        h->f[rd] = arith_d(h, OP_FMA, rm, a, b, c);
    }
    return 0;
}

/* ---- FMIN/FMAX (unpriv 11.6, IEEE 754-201x minimumNumber/maximumNumber) ---- */

static uint64_t minmax_d(struct hart *h, uint64_t ab, uint64_t bb, bool max)
{
    double a = f64(ab), b = f64(bb);
    if (f64_is_snan(ab) || f64_is_snan(bb))
        h->fflags |= FFLAG_NV; /* even when the result is not NaN */
    if (isnan(a))
        return isnan(b) ? F64_CANON : bb;
    if (isnan(b))
        return ab;
    /* Equal non-NaN values have equal bits except for +0/-0, where -0 < +0:
     * min takes a set sign bit, max a clear one. */
    if (a == b)
        return max ? (ab & bb) : (ab | bb);
    return (a < b) != max ? ab : bb;
}

static uint32_t minmax_s(struct hart *h, uint32_t ab, uint32_t bb, bool max)
{
    float a = f32(ab), b = f32(bb);
    if (f32_is_snan(ab) || f32_is_snan(bb))
        h->fflags |= FFLAG_NV;
    if (isnan(a))
        return isnan(b) ? F32_CANON : bb;
    if (isnan(b))
        return ab;
    if (a == b)
        return max ? (ab & bb) : (ab | bb);
    return (a < b) != max ? ab : bb;
}

/* ---- FEQ/FLT/FLE (unpriv 11.8) ---- */

/* f3: 0 FLE, 1 FLT, 2 FEQ. FEQ is quiet (NV only for sNaN), FLT/FLE signal on any NaN. */
static uint64_t compare(struct hart *h, unsigned f3, double a, double b, bool snan)
{
    if (isnan(a) || isnan(b)) {
        if (f3 != 2 || snan)
            h->fflags |= FFLAG_NV;
        return 0;
    }
    switch (f3) {
    case 0:
        return a <= b;
    case 1:
        return a < b;
    default:
        return a == b;
    }
}

/* ---- FCLASS (unpriv 11.9) ---- */

static uint64_t fclass(bool neg, bool exp_max, bool exp_zero, bool frac_zero, bool quiet)
{
    unsigned bit;
    if (exp_max)
        bit = !frac_zero ? (quiet ? 9 : 8) : (neg ? 0 : 7);
    else if (exp_zero)
        bit = frac_zero ? (neg ? 3 : 4) : (neg ? 2 : 5);
    else
        bit = neg ? 1 : 6;
    return 1u << bit;
}

static uint64_t fclass_s(uint32_t b)
{
    unsigned e = (b >> 23) & 0xff;
    return fclass(b >> 31, e == 0xff, e == 0, !(b & 0x7fffff), b & 0x400000);
}

static uint64_t fclass_d(uint64_t b)
{
    unsigned e = (b >> 52) & 0x7ff;
    return fclass(b >> 63, e == 0x7ff, e == 0, !(b & 0xfffffffffffffull), b & (1ull << 51));
}

/* ---- FCVT.{W,WU,L,LU}.{S,D} (unpriv 11.7, table 11.4) ---- */

/* The integer that x rounds to under rm; exact, flag results computed by the caller. */
static double round_integral(double x, int rm)
{
    switch (rm) {
    case RM_RNE:
        return roundeven(x);
    case RM_RTZ:
        return trunc(x);
    case RM_RDN:
        return floor(x);
    case RM_RUP:
        return ceil(x);
    default:
        return round(x); /* C round(): halfway cases away from zero = RMM */
    }
}

/* kind = rs2: 0 W, 1 WU, 2 L, 3 LU. x is exact (a single widened to double). */
static uint64_t cvt_to_int(struct hart *h, double x, int rm, unsigned kind)
{
    /* Valid rounded results are lo <= r < hi; outside, saturate and raise NV. */
    static const struct {
        double lo, hi;
        uint64_t min, max;
    } lim[4] = {
        { -0x1p31, 0x1p31, (uint64_t)INT32_MIN, INT32_MAX },
        { 0.0, 0x1p32, 0, UINT32_MAX },
        { -0x1p63, 0x1p63, (uint64_t)INT64_MIN, INT64_MAX },
        { 0.0, 0x1p64, 0, UINT64_MAX },
    };
    uint64_t v;

    if (isnan(x)) {
        h->fflags |= FFLAG_NV;
        v = lim[kind].max;
    } else {
        double r = round_integral(x, rm);
        if (r < lim[kind].lo) { /* -0.0 is not below 0: it converts to 0 */
            h->fflags |= FFLAG_NV;
            v = lim[kind].min;
        } else if (r >= lim[kind].hi) {
            h->fflags |= FFLAG_NV;
            v = lim[kind].max;
        } else {
            v = (kind & 1) ? (uint64_t)r : (uint64_t)(int64_t)r;
            if (r != x)
                h->fflags |= FFLAG_NX;
        }
    }
    /* "FCVT.W[U] sign-extends the 32-bit result", also for WU. */
    if (kind < 2)
        v = (uint64_t)(int64_t)(int32_t)(uint32_t)v;
    return v;
}

/* ---- FCVT.{S,D}.{W,WU,L,LU} ---- */

static uint64_t int_operand(uint64_t x, unsigned kind)
{
    switch (kind) {
    case 0:
        return (uint64_t)(int64_t)(int32_t)x;
    case 1:
        return (uint32_t)x;
    default:
        return x;
    }
}

static uint32_t cvt_s_from_int(struct hart *h, uint64_t v, int rm, unsigned kind)
{
    bool sgn = !(kind & 1);
    if (unlikely(rm == RM_RMM)) {
        unsigned fl = 0;
        /* 64-bit significand: every int64/uint64 is exact in long double. */
        long double w = sgn ? (long double)(int64_t)v : (long double)v;
        uint32_t r = narrow_rmm_s(w, &fl);
        h->fflags |= fl;
        return r;
    }
    uint32_t env = host_enter(rm);
    float r;
    OPAQUE_I(v);
    r = sgn ? (float)(int64_t)v : (float)v;
    OPAQUE(r);
    h->fflags |= host_leave(env);
    return f32_bits(r);
}

static uint64_t cvt_d_from_int(struct hart *h, uint64_t v, int rm, unsigned kind)
{
    bool sgn = !(kind & 1);
    if (kind < 2) /* 32-bit integers are exact in double: no rounding, no flags */
        return f64_bits(sgn ? (double)(int64_t)v : (double)v);
    if (unlikely(rm == RM_RMM)) {
        unsigned fl = 0;
        long double w = sgn ? (long double)(int64_t)v : (long double)v;
        uint64_t r = narrow_rmm_d(w, &fl);
        h->fflags |= fl;
        return r;
    }
    uint32_t env = host_enter(rm);
    double r;
    OPAQUE_I(v);
    r = sgn ? (double)(int64_t)v : (double)v;
    OPAQUE(r);
    h->fflags |= host_leave(env);
    return f64_bits(r);
}

/* ---- FCVT.S.D / FCVT.D.S (unpriv 12.5) ---- */

static uint32_t cvt_s_d(struct hart *h, uint64_t ab, int rm)
{
    double a = f64(ab);
    if (isnan(a)) {
        if (f64_is_snan(ab))
            h->fflags |= FFLAG_NV;
        return F32_CANON;
    }
    if (unlikely(rm == RM_RMM)) {
        unsigned fl = 0;
        uint32_t r = narrow_rmm_s(a, &fl);
        h->fflags |= fl;
        return r;
    }
    uint32_t env = host_enter(rm);
    OPAQUE(a);
    float r = (float)a;
    OPAQUE(r);
    h->fflags |= host_leave(env);
    return f32_bits(r);
}

/* Widening never rounds; only NaNs need care (canonical result, NV on sNaN). */
static uint64_t cvt_d_s(struct hart *h, uint32_t ab)
{
    float a = f32(ab);
    if (isnan(a)) {
        if (f32_is_snan(ab))
            h->fflags |= FFLAG_NV;
        return F64_CANON;
    }
    return f64_bits((double)a);
}

/* ---- decoder ---- */

int fpu_exec(struct hart *h, uint32_t insn)
{
    unsigned opc = insn & 0x7f, rd = (insn >> 7) & 31, f3 = (insn >> 12) & 7,
             rs1 = (insn >> 15) & 31, rs2 = (insn >> 20) & 31, fmt = (insn >> 25) & 3,
             f5 = insn >> 27;
    bool s = fmt == FMT_S;
    int rm;

    if (opc != 0x53)
        return exec_fma(h, insn);
    if (fp16_owns(insn)) /* Zfhmin: moves and conversions of halves */
        return fp16_exec(h, insn);
    if (fmt > FMT_D) /* Zfh's arithmetic and Q are not implemented */
        return -1;

    switch (f5) {
    case 0x00: /* FADD */
    case 0x01: /* FSUB */
    case 0x02: /* FMUL */
    case 0x03: /* FDIV */
        if ((rm = resolve_rm(h, f3)) < 0)
            return -1;
        if (s)
            wr_s(h, rd, arith_s(h, f5, rm, rd_s(h, rs1), rd_s(h, rs2), 0));
        else
            h->f[rd] = arith_d(h, f5, rm, h->f[rs1], h->f[rs2], 0);
        return 0;

    case 0x0b: /* FSQRT */
        if (rs2 != 0 || (rm = resolve_rm(h, f3)) < 0)
            return -1;
        if (s)
            wr_s(h, rd, arith_s(h, OP_SQRT, rm, rd_s(h, rs1), 0, 0));
        else
            h->f[rd] = arith_d(h, OP_SQRT, rm, h->f[rs1], 0, 0);
        return 0;

    case 0x04: { /* FSGNJ, FSGNJN, FSGNJX: no flags, no NaN canonicalisation (11.7) */
        if (f3 > 2)
            return -1;
        if (s) {
            uint32_t a = rd_s(h, rs1), b = rd_s(h, rs2);
            uint32_t sign = f3 == 0 ? b : f3 == 1 ? ~b : a ^ b;
            wr_s(h, rd, (a & ~F32_SIGN) | (sign & F32_SIGN));
        } else {
            uint64_t a = h->f[rs1], b = h->f[rs2];
            uint64_t sign = f3 == 0 ? b : f3 == 1 ? ~b : a ^ b;
            h->f[rd] = (a & ~F64_SIGN) | (sign & F64_SIGN);
        }
        return 0;
    }

    case 0x05: /* FMIN, FMAX */
        if (f3 > 1)
            return -1;
        if (s)
            wr_s(h, rd, minmax_s(h, rd_s(h, rs1), rd_s(h, rs2), f3));
        else
            h->f[rd] = minmax_d(h, h->f[rs1], h->f[rs2], f3);
        return 0;

    case 0x08: /* FCVT.S.D (fmt S, rs2 = D), FCVT.D.S (fmt D, rs2 = S) */
        if (rs2 != (s ? FMT_D : FMT_S) || (rm = resolve_rm(h, f3)) < 0)
            return -1;
        if (s)
            wr_s(h, rd, cvt_s_d(h, h->f[rs1], rm));
        else
            h->f[rd] = cvt_d_s(h, rd_s(h, rs1));
        return 0;

    case 0x14: /* FLE, FLT, FEQ */
        if (f3 > 2)
            return -1;
        if (s) {
            uint32_t a = rd_s(h, rs1), b = rd_s(h, rs2);
            wr_x(h, rd, compare(h, f3, f32(a), f32(b), f32_is_snan(a) || f32_is_snan(b)));
        } else {
            uint64_t a = h->f[rs1], b = h->f[rs2];
            wr_x(h, rd, compare(h, f3, f64(a), f64(b), f64_is_snan(a) || f64_is_snan(b)));
        }
        return 0;

    case 0x18: /* FCVT.{W,WU,L,LU}.{S,D} */
        if (rs2 > 3 || (rm = resolve_rm(h, f3)) < 0)
            return -1;
        wr_x(h, rd, cvt_to_int(h, s ? (double)f32(rd_s(h, rs1)) : f64(h->f[rs1]), rm, rs2));
        return 0;

    case 0x1a: /* FCVT.{S,D}.{W,WU,L,LU} */
        if (rs2 > 3 || (rm = resolve_rm(h, f3)) < 0)
            return -1;
        if (s)
            wr_s(h, rd, cvt_s_from_int(h, int_operand(h->x[rs1], rs2), rm, rs2));
        else
            h->f[rd] = cvt_d_from_int(h, int_operand(h->x[rs1], rs2), rm, rs2);
        return 0;

    case 0x1c: /* FMV.X.W / FMV.X.D (f3 0), FCLASS (f3 1) */
        if (rs2 != 0 || f3 > 1)
            return -1;
        if (f3 == 1)
            wr_x(h, rd, s ? fclass_s(rd_s(h, rs1)) : fclass_d(h->f[rs1]));
        else if (s)
            /* 12.2: a narrow transfer out moves the low bits, ignoring the box;
             * 11.7: the upper 32 bits of rd copy the sign bit. */
            wr_x(h, rd, (uint64_t)(int64_t)(int32_t)(uint32_t)h->f[rs1]);
        else
            wr_x(h, rd, h->f[rs1]);
        return 0;

    case 0x1e: /* FMV.W.X / FMV.D.X: bits unmodified, singles NaN-boxed */
        if (rs2 != 0 || f3 != 0)
            return -1;
        if (s)
            wr_s(h, rd, (uint32_t)h->x[rs1]);
        else
            h->f[rd] = h->x[rs1];
        return 0;
    }
    return -1;
}
