/*
 * The decoder's new encodings (src/cpu/decode.c): Zba/Zbb/Zbs/Zicond,
 * cbo.*, Zfhmin loads/stores, with the neighbouring reserved encodings
 * staying illegal; and bitmanip_exec() at its edges.
 */
/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include "cpu/decode.h"

static uint32_t r_type(unsigned f7, unsigned rs2, unsigned rs1, unsigned f3, unsigned rd, unsigned opc)
{
    return f7 << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | rd << 7 | opc;
}

static uint32_t i_type(unsigned imm12, unsigned rs1, unsigned f3, unsigned rd, unsigned opc)
{
    return imm12 << 20 | rs1 << 15 | f3 << 12 | rd << 7 | opc;
}

static void expect(uint32_t insn, unsigned op)
{
    struct decoded d = decode_insn(insn);
    if (d.op != op)
        fail_msg("insn 0x%08x: op %u, want %u", insn, d.op, op);
}

static void test_zba_zbb_zbs_zicond(void **state)
{
    expect(r_type(0x10, 3, 2, 2, 1, 0x33), OP_SH1ADD);
    expect(r_type(0x10, 3, 2, 6, 1, 0x33), OP_SH3ADD);
    expect(r_type(0x10, 3, 2, 0, 1, 0x33), OP_ILLEGAL);
    expect(r_type(0x04, 3, 2, 0, 1, 0x3b), OP_ADD_UW);
    expect(r_type(0x10, 3, 2, 4, 1, 0x3b), OP_SH2ADD_UW);
    expect(i_type(0x080 | 5, 2, 1, 1, 0x1b), OP_SLLI_UW);      /* slli.uw, shamt 5 */
    expect(i_type(0x0a0 | 40, 2, 1, 1, 0x1b), OP_SLLI_UW);     /* shamt 40: bit 5 in imm */
    expect(r_type(0x04, 0, 2, 4, 1, 0x3b), OP_ZEXT_H);
    expect(r_type(0x04, 1, 2, 4, 1, 0x3b), OP_ILLEGAL);        /* packw is Zbkb */
    expect(i_type(0x600, 2, 1, 1, 0x13), OP_CLZ);
    expect(i_type(0x602, 2, 1, 1, 0x13), OP_CPOP);
    expect(i_type(0x603, 2, 1, 1, 0x13), OP_ILLEGAL);
    expect(i_type(0x605, 2, 1, 1, 0x13), OP_SEXT_H);
    expect(i_type(0x601, 2, 1, 1, 0x1b), OP_CTZW);
    expect(i_type(0x287, 2, 5, 1, 0x13), OP_ORC_B);
    expect(i_type(0x6b8, 2, 5, 1, 0x13), OP_REV8);
    expect(i_type(0x698, 2, 5, 1, 0x13), OP_ILLEGAL);          /* rev8's RV32 form */
    expect(i_type(0x600 | 63, 2, 5, 1, 0x13), OP_RORI);
    expect(r_type(0x30, 7, 2, 5, 1, 0x1b), OP_RORIW);
    expect(r_type(0x31, 7, 2, 5, 1, 0x1b), OP_ILLEGAL);        /* roriw shamt 5 bits only */
    expect(i_type(0x480 | 9, 2, 1, 1, 0x13), OP_BCLRI);
    expect(i_type(0x480 | 9, 2, 5, 1, 0x13), OP_BEXTI);
    expect(i_type(0x680 | 9, 2, 1, 1, 0x13), OP_BINVI);
    expect(i_type(0x280 | 9, 2, 1, 1, 0x13), OP_BSETI);
    expect(i_type(0x000 | 9, 2, 1, 1, 0x13), OP_SLLI);
    expect(r_type(0x05, 3, 2, 6, 1, 0x33), OP_MAX);
    expect(r_type(0x30, 3, 2, 1, 1, 0x3b), OP_ROLW);
    expect(r_type(0x07, 3, 2, 5, 1, 0x33), OP_CZERO_EQZ);
    expect(r_type(0x07, 3, 2, 7, 1, 0x33), OP_CZERO_NEZ);
    expect(r_type(0x07, 3, 2, 6, 1, 0x33), OP_ILLEGAL);
}

static void test_cbo_and_zfhmin(void **state)
{
    expect(i_type(0, 10, 2, 0, 0x0f), OP_CBO);
    expect(i_type(4, 10, 2, 0, 0x0f), OP_CBO);
    expect(i_type(3, 10, 2, 0, 0x0f), OP_ILLEGAL);
    expect(i_type(4, 10, 2, 1, 0x0f), OP_ILLEGAL); /* rd must be x0 */
    expect(i_type(2, 10, 1, 3, 0x07), OP_FLH);
    expect(i_type(0, 10, 1, 0, 0x27), OP_FSH);
    expect(i_type(0, 10, 4, 0, 0x07), OP_ILLEGAL);
}

static void test_bitmanip_edges(void **state)
{
    assert_int_equal(bitmanip_exec(OP_CLZ, 0, 0, 0), 64);
    assert_int_equal(bitmanip_exec(OP_CTZW, 1ull << 40, 0, 0), 32);
    assert_int_equal(bitmanip_exec(OP_CLZW, 1, 0, 0), 31);
    assert_int_equal(bitmanip_exec(OP_ROR, 1, 65, 0), 1ull << 63);
    assert_int_equal(bitmanip_exec(OP_RORW, 1, 33, 0), 0xffffffff80000000ull);
    assert_int_equal(bitmanip_exec(OP_ROLW, 0x80000000, 0, 0), 0xffffffff80000000ull);
    assert_int_equal(bitmanip_exec(OP_RORI, 0x10, 0, 4), 1);
    assert_int_equal(bitmanip_exec(OP_ORC_B, 0x0100008000000001ull, 0, 0), 0xff0000ff000000ffull);
    assert_int_equal(bitmanip_exec(OP_MIN, 1ull << 63, 1, 0), 1ull << 63);
    assert_int_equal(bitmanip_exec(OP_MINU, 1ull << 63, 1, 0), 1);
    assert_int_equal(bitmanip_exec(OP_SH3ADD_UW, 0xffffffff00000002ull, 1, 0), 17);
    assert_int_equal(bitmanip_exec(OP_BEXT, 1ull << 63, 127, 0), 1);
    assert_int_equal(bitmanip_exec(OP_SEXT_B, 0x80, 0, 0), ~0x7full);
    assert_int_equal(bitmanip_exec(OP_CZERO_EQZ, 5, 0, 0), 0);
    assert_int_equal(bitmanip_exec(OP_CZERO_NEZ, 5, 0, 0), 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zba_zbb_zbs_zicond),
        cmocka_unit_test(test_cbo_and_zfhmin),
        cmocka_unit_test(test_bitmanip_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
