# rv64m.S - the M extension on RV64 (unprivileged spec, "M Extension for
# Integer Multiplication and Division"): all multiplies incl. the high
# halves, divisions rounding toward zero, division by zero (quotient all
# ones, remainder = dividend) and signed overflow (INT_MIN / -1 = INT_MIN,
# remainder 0), and the W forms at 32-bit limits with sign-extended results.
#include "harness.h"

TEST_BEGIN

	/* mul */
	TEST_RR(1, mul, 0x15, 0x3, 0x7)
	TEST_RR(2, mul, 0x1, 0xffffffffffffffff, 0xffffffffffffffff)
	TEST_RR(3, mul, 0x8000000000000000, 0x8000000000000000, 0xffffffffffffffff)
	TEST_RR(4, mul, 0x2236d88fe5618cf0, 0x123456789abcdef0, 0xfedcba987654321)
	TEST_RR(5, mul, 0xfffffffffffffff1, 0xfffffffffffffffb, 0x3)

	/* mulh */
	TEST_RR(6, mulh, 0x0, 0x3, 0x7)
	TEST_RR(7, mulh, 0x0, 0xffffffffffffffff, 0xffffffffffffffff)
	TEST_RR(8, mulh, 0x4000000000000000, 0x8000000000000000, 0x8000000000000000)
	TEST_RR(9, mulh, 0x3fffffffffffffff, 0x7fffffffffffffff, 0x7fffffffffffffff)
	TEST_RR(10, mulh, 0xffffffffffffffff, 0xffffffffffffffff, 0x1)
	TEST_RR(11, mulh, 0xfede05ff528828bd, 0x123456789abcdef0, 0xf0123456789abcdf)

	/* mulhsu (rs1 signed, rs2 unsigned) */
	TEST_RR(12, mulhsu, 0xffffffffffffffff, 0xffffffffffffffff, 0xffffffffffffffff)
	TEST_RR(13, mulhsu, 0xffffffffffffffff, 0xffffffffffffffff, 0x1)
	TEST_RR(14, mulhsu, 0x8000000000000000, 0x8000000000000000, 0xffffffffffffffff)
	TEST_RR(15, mulhsu, 0x7ffffffffffffffe, 0x7fffffffffffffff, 0xffffffffffffffff)

	/* mulhu */
	TEST_RR(16, mulhu, 0xfffffffffffffffe, 0xffffffffffffffff, 0xffffffffffffffff)
	TEST_RR(17, mulhu, 0x1, 0xffffffffffffffff, 0x2)
	TEST_RR(18, mulhu, 0x4000000000000000, 0x8000000000000000, 0x8000000000000000)
	TEST_RR(19, mulhu, 0x0, 0x3, 0x7)

	/* mulw: low 32 bits, sign-extended */
	TEST_RR(20, mulw, 0xfffffffffffffffe, 0x7fffffff, 0x2)
	TEST_RR(21, mulw, 0x0, 0x10000, 0x10000)
	TEST_RR(22, mulw, 0x1, 0x12345678ffffffff, 0xabcdef00ffffffff)
	TEST_RR(23, mulw, 0xffffffffffffffff, 0xffff, 0x10001)

	/* div: signed, rounds toward zero */
	TEST_RR(24, div, 0x3, 0x14, 0x6)
	TEST_RR(25, div, 0xfffffffffffffffd, 0xffffffffffffffec, 0x6)
	TEST_RR(26, div, 0xfffffffffffffffd, 0x14, 0xfffffffffffffffa)
	TEST_RR(27, div, 0x3, 0xffffffffffffffec, 0xfffffffffffffffa)

	/* div by zero -> all ones */
	TEST_RR(28, div, 0xffffffffffffffff, 0x3039, 0x0)
	TEST_RR(29, div, 0xffffffffffffffff, 0xffffffffffffffff, 0x0)

	/* overflow: INT64_MIN / -1 = INT64_MIN */
	TEST_RR(30, div, 0x8000000000000000, 0x8000000000000000, 0xffffffffffffffff)

	/* divu */
	TEST_RR(31, divu, 0x3, 0x14, 0x6)
	TEST_RR(32, divu, 0x2aaaaaaaaaaaaaa7, 0xffffffffffffffec, 0x6)
	TEST_RR(33, divu, 0xffffffffffffffff, 0x3039, 0x0)
	TEST_RR(34, divu, 0x0, 0x8000000000000000, 0xffffffffffffffff)

	/* rem: sign of the dividend */
	TEST_RR(35, rem, 0x2, 0x14, 0x6)
	TEST_RR(36, rem, 0xfffffffffffffffe, 0xffffffffffffffec, 0x6)
	TEST_RR(37, rem, 0x2, 0x14, 0xfffffffffffffffa)
	TEST_RR(38, rem, 0xfffffffffffffffe, 0xffffffffffffffec, 0xfffffffffffffffa)

	/* rem by zero -> dividend */
	TEST_RR(39, rem, 0xffffffffffffcfc7, 0xffffffffffffcfc7, 0x0)

	/* overflow remainder is 0 */
	TEST_RR(40, rem, 0x0, 0x8000000000000000, 0xffffffffffffffff)

	/* remu */
	TEST_RR(41, remu, 0x2, 0x14, 0x6)
	TEST_RR(42, remu, 0x2, 0xffffffffffffffec, 0x6)
	TEST_RR(43, remu, 0xffffffffffffcfc7, 0xffffffffffffcfc7, 0x0)

	/* divw: operands are the low 32 bits */
	TEST_RR(44, divw, 0x3, 0x100000014, 0x6)
	TEST_RR(45, divw, 0xfffffffffffffffd, 0xffffffffffffffec, 0x6)
	TEST_RR(46, divw, 0x7fffffff, 0x7fffffff, 0x1)

	/* divw by zero */
	TEST_RR(47, divw, 0xffffffffffffffff, 0x5, 0x100000000)

	/* divw overflow INT32_MIN / -1 */
	TEST_RR(48, divw, 0xffffffff80000000, 0x80000000, 0xffffffffffffffff)

	/* divuw */
	TEST_RR(49, divuw, 0xffffffffffffffff, 0xffffffff, 0x1)
	TEST_RR(50, divuw, 0x40000000, 0x80000000, 0x2)
	TEST_RR(51, divuw, 0x2, 0xfffffffe, 0x7fffffff)

	/* divuw by zero */
	TEST_RR(52, divuw, 0xffffffffffffffff, 0x7, 0x0)

	/* remw */
	TEST_RR(53, remw, 0xfffffffffffffffe, 0xffffffffffffffec, 0x6)
	TEST_RR(54, remw, 0x2, 0x14, 0xfffffffffffffffa)

	/* remw by zero -> sext(dividend[31:0]) */
	TEST_RR(55, remw, 0xfffffffff0000000, 0xfffffffff0000000, 0x0)
	TEST_RR(56, remw, 0x12345678, 0x12345678, 0x0)

	/* remw overflow */
	TEST_RR(57, remw, 0x0, 0x80000000, 0xffffffffffffffff)

	/* remuw */
	TEST_RR(58, remuw, 0xf, 0xffffffff, 0x10)
	TEST_RR(59, remuw, 0xfffffffffffffff0, 0xfffffff0, 0xfffffff1)

	/* remuw by zero */
	TEST_RR(60, remuw, 0xffffffff80000001, 0x80000001, 0x0)

	/* destination aliasing a source */
	li t0, 6
	li t1, 7
	mul t0, t0, t1
	CHECK(61, t0, 42)
	li t0, 100
	li t1, 7
	rem t1, t0, t1
	CHECK(62, t1, 2)
TEST_END
