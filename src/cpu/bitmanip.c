/*
 * Zba, Zbb, Zbs (unpriv "B" Standard Extension for Bit Manipulation, RV64
 * forms) and Zicond (czero.eqz/nez): pure functions of two registers and an
 * immediate, shared by the interpreter and the JIT's helper calls.
 */
#include "cpu/decode.h"

static uint64_t sext32(uint64_t v)
{
    return (uint64_t)(int64_t)(int32_t)v;
}

static uint64_t rol64(uint64_t v, unsigned n)
{
    n &= 63;
    return n ? (v << n) | (v >> (64 - n)) : v;
}

static uint32_t rol32(uint32_t v, unsigned n)
{
    n &= 31;
    return n ? (v << n) | (v >> (32 - n)) : v;
}

/* orc.b: each byte becomes 0xff if any of its bits is set, else 0x00. */
static uint64_t orc_b(uint64_t v)
{
    uint64_t r = 0;
    for (unsigned i = 0; i < 64; i += 8)
        if ((v >> i) & 0xff)
            r |= 0xffull << i;
    return r;
}

uint64_t bitmanip_exec(unsigned op, uint64_t a, uint64_t b, int64_t imm)
{
    uint64_t sh = (uint64_t)imm & 63;
    switch (op) {
    /* Zba: address generation (shift-and-add, with *.uw zero-extending rs1's low word). */
    case OP_SH1ADD: return (a << 1) + b;
    case OP_SH2ADD: return (a << 2) + b;
    case OP_SH3ADD: return (a << 3) + b;
    case OP_ADD_UW: return (uint64_t)(uint32_t)a + b;
    case OP_SH1ADD_UW: return ((uint64_t)(uint32_t)a << 1) + b;
    case OP_SH2ADD_UW: return ((uint64_t)(uint32_t)a << 2) + b;
    case OP_SH3ADD_UW: return ((uint64_t)(uint32_t)a << 3) + b;
    case OP_SLLI_UW: return (uint64_t)(uint32_t)a << sh;
    /* Zbb: basic bit manipulation. clz/ctz of zero give the width. */
    case OP_ANDN: return a & ~b;
    case OP_ORN: return a | ~b;
    case OP_XNOR: return ~(a ^ b);
    case OP_CLZ: return a ? (uint64_t)__builtin_clzll(a) : 64;
    case OP_CTZ: return a ? (uint64_t)__builtin_ctzll(a) : 64;
    case OP_CPOP: return (uint64_t)__builtin_popcountll(a);
    case OP_CLZW: return (uint32_t)a ? (uint64_t)__builtin_clz((uint32_t)a) : 32;
    case OP_CTZW: return (uint32_t)a ? (uint64_t)__builtin_ctz((uint32_t)a) : 32;
    case OP_CPOPW: return (uint64_t)__builtin_popcount((uint32_t)a);
    case OP_MAX: return (int64_t)a > (int64_t)b ? a : b;
    case OP_MAXU: return a > b ? a : b;
    case OP_MIN: return (int64_t)a < (int64_t)b ? a : b;
    case OP_MINU: return a < b ? a : b;
    case OP_SEXT_B: return (uint64_t)(int64_t)(int8_t)a;
    case OP_SEXT_H: return (uint64_t)(int64_t)(int16_t)a;
    case OP_ZEXT_H: return (uint16_t)a;
    case OP_ROL: return rol64(a, (unsigned)b);
    case OP_ROR: return rol64(a, (unsigned)(64 - (b & 63)));
    case OP_RORI: return rol64(a, (unsigned)(64 - sh));
    case OP_ROLW: return sext32(rol32((uint32_t)a, (unsigned)b));
    case OP_RORW: return sext32(rol32((uint32_t)a, (unsigned)(32 - (b & 31))));
    case OP_RORIW: return sext32(rol32((uint32_t)a, (unsigned)(32 - (sh & 31))));
    case OP_ORC_B: return orc_b(a);
    case OP_REV8: return __builtin_bswap64(a);
    /* Zbs: single-bit operations; the bit index is rs2 (or shamt) modulo XLEN. */
    case OP_BCLR: return a & ~(1ull << (b & 63));
    case OP_BCLRI: return a & ~(1ull << sh);
    case OP_BEXT: return (a >> (b & 63)) & 1;
    case OP_BEXTI: return (a >> sh) & 1;
    case OP_BINV: return a ^ (1ull << (b & 63));
    case OP_BINVI: return a ^ (1ull << sh);
    case OP_BSET: return a | (1ull << (b & 63));
    case OP_BSETI: return a | (1ull << sh);
    /* Zicond (zicond.adoc): rd = 0 when rs2 is zero (eqz) / nonzero (nez), else rs1. */
    case OP_CZERO_EQZ: return b ? a : 0;
    case OP_CZERO_NEZ: return b ? 0 : a;
    default: return 0;
    }
}
