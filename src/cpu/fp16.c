/*
 * Zfhmin in software: a half converts exactly to single and double; single
 * and double round to half here, from the exact double value (a single is
 * exactly a double), with every rounding mode and the IEEE flags RISC-V
 * specifies (tininess after rounding, unpriv "F" 11.6).
 */
#include "cpu/fp16.h"

#include <string.h>

#include "cpu/hart.h"

#define FMT_S 0
#define FMT_D 1
#define FMT_H 2
#define F16_CANON 0x7e00u
#define F32_CANON 0x7fc00000u
#define F64_CANON 0x7ff8000000000000ull
#define H_BOX 0xffffffffffff0000ull

bool fp16_owns(uint32_t insn)
{
    unsigned fmt = (insn >> 25) & 3, f5 = insn >> 27, rs2 = (insn >> 20) & 31;
    if ((insn & 0x7f) != 0x53)
        return false;
    if (f5 == 0x08) /* FCVT between H and S/D: either side names H */
        return fmt == FMT_H || rs2 == FMT_H;
    return (f5 == 0x1c || f5 == 0x1e) && fmt == FMT_H;
}

/* A half operand: the low 16 bits if properly NaN-boxed, else the canonical NaN (unpriv 13.2). */
static uint16_t rd_h(const struct hart *h, unsigned r)
{
    uint64_t v = h->f[r];
    return (v & H_BOX) == H_BOX ? (uint16_t)v : F16_CANON;
}

/* Half to double, exact; a signalling NaN raises NV and every NaN becomes canonical. */
static bool h_to_d(struct hart *h, uint16_t b, double *out)
{
    unsigned sign = b >> 15, exp = (b >> 10) & 31, frac = b & 0x3ff;
    if (exp == 31 && frac) {
        if (!(frac & 0x200))
            h->fflags |= FFLAG_NV;
        return false; /* NaN */
    }
    double v;
    if (exp == 31)
        v = __builtin_inf();
    else if (exp == 0)
        v = (double)frac * 0x1p-24;
    else
        v = (double)(frac | 0x400) * __builtin_ldexp(1.0, (int)exp - 25);
    *out = sign ? -v : v;
    return true;
}

/* Does the dropped part `rem` (of 2^shift) round the magnitude up, for sign and rm? */
static bool round_up(uint64_t trunc, uint64_t rem, unsigned shift, bool neg, unsigned rm)
{
    if (!rem)
        return false;
    /* shift > 63: everything was dropped and rem (< 2^53) is below half an ulp */
    bool above = shift <= 63 && rem > (1ull << (shift - 1));
    bool half = shift <= 63 && rem == (1ull << (shift - 1));
    switch (rm) {
    case RM_RNE: return above || (half && (trunc & 1));
    case RM_RTZ: return false;
    case RM_RDN: return neg;
    case RM_RUP: return !neg;
    default: return above || half; /* RMM */
    }
}

/* m * 2^(e - 52) rounded to an integer multiple of 2^q. */
static uint64_t round_at(uint64_t m, int e, int q, bool neg, unsigned rm, bool *inexact)
{
    unsigned shift = (unsigned)(q - e + 52);
    uint64_t trunc = shift > 63 ? 0 : m >> shift;
    uint64_t rem = shift > 63 ? m : m & ((1ull << shift) - 1);
    *inexact = rem != 0;
    return trunc + round_up(trunc, rem, shift, neg, rm);
}

/* Double bits to half bits with rounding mode rm (RM_*), accruing flags. */
static uint16_t d_to_h(struct hart *h, uint64_t b, unsigned rm)
{
    bool neg = b >> 63;
    uint16_t sign = neg ? 0x8000 : 0;
    int bexp = (int)((b >> 52) & 0x7ff);
    uint64_t frac = b & ((1ull << 52) - 1);
    if (bexp == 0x7ff) {
        if (!frac)
            return sign | 0x7c00;
        if (!(frac >> 51))
            h->fflags |= FFLAG_NV;
        return F16_CANON;
    }
    if (bexp == 0 && frac == 0)
        return sign;
    /* value = m * 2^(e - 52) with m's top bit at 52 (normalise subnormal doubles) */
    uint64_t m = bexp ? frac | (1ull << 52) : frac;
    int e = bexp ? bexp - 1023 : -1022;
    while (!(m >> 52)) {
        m <<= 1;
        e--;
    }
    int q = e - 10 > -24 ? e - 10 : -24; /* the quantum: 11 significant bits, or the subnormal grid */
    bool inexact;
    uint64_t r = round_at(m, e, q, neg, rm, &inexact);
    /* Exponent and fraction fields at once: a carry out of the fraction bumps the exponent. */
    uint64_t bits = ((uint64_t)(q + 24) << 10) + r;
    if (bits >= 0x7c00) {
        h->fflags |= FFLAG_OF | FFLAG_NX;
        bool to_inf = rm == RM_RNE || rm == RM_RMM || (rm == RM_RDN && neg) || (rm == RM_RUP && !neg);
        return sign | (to_inf ? 0x7c00 : 0x7bff);
    }
    if (inexact) {
        h->fflags |= FFLAG_NX;
        /* Tiny after rounding: rounded with unbounded exponent, still below 2^-14. */
        if (e < -14) {
            bool ix;
            uint64_t r2 = round_at(m, e, e - 10, neg, rm, &ix);
            if (r2 < (1ull << 11) || e < -15)
                h->fflags |= FFLAG_UF;
        }
    }
    return sign | (uint16_t)bits;
}

static int resolve_rm(const struct hart *h, unsigned rm)
{
    if (rm == RM_DYN)
        rm = h->frm;
    return rm > RM_RMM ? -1 : (int)rm;
}

static uint64_t d_bits(double d)
{
    uint64_t b;
    memcpy(&b, &d, 8);
    return b;
}

int fp16_exec(struct hart *h, uint32_t insn)
{
    unsigned rd = (insn >> 7) & 31, f3 = (insn >> 12) & 7, rs1 = (insn >> 15) & 31,
             rs2 = (insn >> 20) & 31, fmt = (insn >> 25) & 3, f5 = insn >> 27;
    int rm;
    double d;
    switch (f5) {
    case 0x08:
        if ((rm = resolve_rm(h, f3)) < 0)
            return -1;
        if (fmt == FMT_H && (rs2 == FMT_S || rs2 == FMT_D)) { /* FCVT.H.S, FCVT.H.D */
            uint64_t src;
            if (rs2 == FMT_D) {
                src = h->f[rs1];
            } else {
                uint64_t v = h->f[rs1];
                uint32_t s = (v >> 32) == 0xffffffffu ? (uint32_t)v : F32_CANON;
                float f;
                memcpy(&f, &s, 4);
                /* a signalling single stays signalling as a double: d_to_h raises NV */
                if ((s & 0x7f800000u) == 0x7f800000u && (s & 0x7fffff))
                    src = ((uint64_t)(s >> 31) << 63) | 0x7ff0000000000000ull |
                          ((uint64_t)(s & 0x7fffff) << 29);
                else
                    src = d_bits((double)f);
            }
            h->f[rd] = H_BOX | d_to_h(h, src, (unsigned)rm);
            return 0;
        }
        if (rs2 == FMT_H && (fmt == FMT_S || fmt == FMT_D)) { /* FCVT.S.H, FCVT.D.H: exact */
            bool num = h_to_d(h, rd_h(h, rs1), &d);
            if (fmt == FMT_D) {
                h->f[rd] = num ? d_bits(d) : F64_CANON;
            } else {
                float f = (float)d;
                uint32_t s;
                memcpy(&s, &f, 4);
                h->f[rd] = 0xffffffff00000000ull | (num ? s : F32_CANON);
            }
            return 0;
        }
        return -1;
    case 0x1c: /* FMV.X.H: the half's bits, sign-extended */
        if (rs2 != 0 || f3 != 0)
            return -1;
        if (rd)
            h->x[rd] = (uint64_t)(int64_t)(int16_t)(uint16_t)h->f[rs1];
        return 0;
    case 0x1e: /* FMV.H.X: the low 16 bits, NaN-boxed */
        if (rs2 != 0 || f3 != 0)
            return -1;
        h->f[rd] = H_BOX | (uint16_t)h->x[rs1];
        return 0;
    default:
        return -1;
    }
}
