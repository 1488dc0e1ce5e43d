# mem.S - plain loads and stores to RAM: the last bytes of the 64 MiB
# kiln guarantees, byte/half/word/doubleword patterns read back at every
# width with sign and zero extension, and a 64 KiB fill-and-verify pass.
#include "harness.h"

#define RAM_END		0x84000000	/* 0x80000000 + 64 MiB */
#define BLOCK		(RAM_END - 0x10000)
#define BLOCK_LEN	0x10000

TEST_BEGIN
	/* ---- the very end of RAM ---- */
	li s0, RAM_END
	li t0, 0x8899aabbccddeeff
	sd t0, -8(s0)
	ld t1, -8(s0)
	CHECK(1, t1, 0x8899aabbccddeeff)
	lbu t1, -1(s0)				/* last byte */
	CHECK(2, t1, 0x88)
	lb t1, -1(s0)
	CHECK(3, t1, 0xffffffffffffff88)
	lh t1, -2(s0)
	CHECK(4, t1, 0xffffffffffff8899)
	lwu t1, -4(s0)
	CHECK(5, t1, 0x8899aabb)
	lw t1, -4(s0)
	CHECK(6, t1, 0xffffffff8899aabb)
	li t0, 0x5a
	sb t0, -1(s0)
	ld t1, -8(s0)
	CHECK(7, t1, 0x5a99aabbccddeeff)
	li t0, 0x1234
	sh t0, -2(s0)
	ld t1, -8(s0)
	CHECK(8, t1, 0x1234aabbccddeeff)
	li t0, 0x7654321
	sw t0, -8(s0)
	ld t1, -8(s0)
	CHECK(9, t1, 0x1234aabb07654321)

	/* ---- one doubleword read at every width and offset ---- */
	li s0, BLOCK
	li t0, 0xf1e2d3c4b5a69788
	sd t0, 0(s0)
	lb t1, 0(s0)
	CHECK(10, t1, 0xffffffffffffff88)
	lb t1, 1(s0)
	CHECK(11, t1, 0xffffffffffffff97)
	lbu t1, 2(s0)
	CHECK(12, t1, 0xa6)
	lb t1, 3(s0)
	CHECK(13, t1, 0xffffffffffffffb5)
	lbu t1, 7(s0)
	CHECK(14, t1, 0xf1)
	lh t1, 2(s0)
	CHECK(15, t1, 0xffffffffffffb5a6)
	lhu t1, 4(s0)
	CHECK(16, t1, 0xd3c4)
	lh t1, 6(s0)
	CHECK(17, t1, 0xfffffffffffff1e2)
	lw t1, 0(s0)
	CHECK(18, t1, 0xffffffffb5a69788)
	lwu t1, 4(s0)
	CHECK(19, t1, 0xf1e2d3c4)

	/* positive values do not sign-extend */
	li t0, 0x7f7f7f7f7f7f7f7f
	sd t0, 8(s0)
	lb t1, 15(s0)
	CHECK(20, t1, 0x7f)
	lh t1, 14(s0)
	CHECK(21, t1, 0x7f7f)
	lw t1, 12(s0)
	CHECK(22, t1, 0x7f7f7f7f)

	/* ---- building a doubleword from bytes, halves, words ---- */
	sd zero, 16(s0)
	li t0, 0x01
	sb t0, 16(s0)
	li t0, 0x02
	sb t0, 17(s0)
	li t0, 0x0403
	sh t0, 18(s0)
	li t0, 0x08070605
	sw t0, 20(s0)
	ld t1, 16(s0)
	CHECK(23, t1, 0x0807060504030201)

	/* ---- 64 KiB pattern: each doubleword holds its address ^ key ---- */
	li s0, BLOCK
	li s1, BLOCK + BLOCK_LEN
	li s2, 0xa5a5a5a5a5a5a5a5
	mv t0, s0
1:	xor t1, t0, s2
	sd t1, 0(t0)
	addi t0, t0, 8
	bltu t0, s1, 1b
	li gp, 24
	mv t0, s0
2:	ld t1, 0(t0)
	xor t1, t1, s2
	beq t1, t0, 3f
	GOTO_FAIL
3:	addi t0, t0, 8
	bltu t0, s1, 2b
	/* and again byte by byte: byte i of doubleword at A is (A^key)>>8i */
	li gp, 25
	mv t0, s0
4:	andi t2, t0, -8				/* doubleword address */
	xor t2, t2, s2
	andi t3, t0, 7
	slli t3, t3, 3
	srl t2, t2, t3
	andi t2, t2, 0xff
	lbu t1, 0(t0)
	beq t1, t2, 5f
	GOTO_FAIL
5:	addi t0, t0, 1
	bltu t0, s1, 4b
TEST_END
