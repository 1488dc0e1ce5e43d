# rv64i.S - every RV64I base instruction (unprivileged spec, "RV32I/RV64I
# Base Integer Instruction Set"): register and immediate ALU ops, LUI/AUIPC,
# loads with sign/zero extension, stores, branches and jumps at their offset
# limits, the W-suffixed ops' sign extension, x0, FENCE and FENCE.I.
#include "harness.h"

/* Branch must be taken / must fall through. */
#define TEST_BR_TAKEN(n, op, a, b)					\
	li gp, n;							\
	li t0, a;							\
	li t1, b;							\
	op t0, t1, 90020f;						\
	GOTO_FAIL;								\
90020:

#define TEST_BR_NOT_TAKEN(n, op, a, b)					\
	li gp, n;							\
	li t0, a;							\
	li t1, b;							\
	op t0, t1, 90021f;						\
	j 90022f;							\
90021:	GOTO_FAIL;								\
90022:

TEST_BEGIN
	.option norvc

	/* ---- register-register ALU ---- */
	TEST_RR(1, add, 3, 1, 2)
	TEST_RR(2, add, 0x8000000000000000, 0x7fffffffffffffff, 1)
	TEST_RR(3, add, 0, -1, 1)
	TEST_RR(4, sub, -1, 1, 2)
	TEST_RR(5, sub, 0x7fffffffffffffff, 0x8000000000000000, 1)
	TEST_RR(6, sll, 0x8000000000000000, 1, 63)
	TEST_RR(7, sll, 2, 1, 65)		/* only shamt[5:0] counts */
	TEST_RR(8, srl, 1, 0x8000000000000000, 63)
	TEST_RR(9, srl, 0x00000000ffffffff, 0xffffffffffffffff, 32)
	TEST_RR(10, sra, -1, 0x8000000000000000, 63)
	TEST_RR(11, sra, 0xffffffff80000000, 0x8000000000000000, 32)
	TEST_RR(12, sra, 0x3fffffffffffffff, 0x7fffffffffffffff, 1)
	TEST_RR(13, slt, 1, -1, 1)
	TEST_RR(14, slt, 0, 1, -1)
	TEST_RR(15, slt, 0, 5, 5)
	TEST_RR(16, sltu, 0, -1, 1)
	TEST_RR(17, sltu, 1, 1, -1)
	TEST_RR(18, xor, 0xf00ff00ff00ff00f, 0xff00ff00ff00ff00, 0x0f0f0f0f0f0f0f0f)
	TEST_RR(19, or, 0xff0fff0fff0fff0f, 0xff00ff00ff00ff00, 0x0f0f0f0f0f0f0f0f)
	TEST_RR(20, and, 0x0f000f000f000f00, 0xff00ff00ff00ff00, 0x0f0f0f0f0f0f0f0f)

	/* ---- register-immediate ALU, 12-bit immediate limits ---- */
	TEST_RI(21, addi, 2047, 0, 2047)
	TEST_RI(22, addi, -2048, 0, -2048)
	TEST_RI(23, addi, 0x8000000000000000, 0x7fffffffffffffff, 1)
	TEST_RI(24, slti, 1, -2, -1)
	TEST_RI(25, slti, 0, 0, -2048)
	TEST_RI(26, sltiu, 1, 0, 1)		/* seqz */
	TEST_RI(27, sltiu, 1, 5, -1)		/* imm sign-extends, then unsigned */
	TEST_RI(28, sltiu, 0, -1, -1)
	TEST_RI(29, xori, 0xffffffffffff0f0f, 0x000000000000f0f0, -1)	/* not */
	TEST_RI(30, xori, 0x00ff00ff00ff07ff, 0x00ff00ff00ff0000, 0x7ff)
	TEST_RI(31, ori, 0xfffffffffffff800, 0, -2048)
	TEST_RI(32, andi, 0x0000000012345678, 0x0000000012345678, -1)
	TEST_RI(33, andi, 0x0000000000000678, 0xffffffff12345678, 0x7ff)
	TEST_RI(34, slli, 0x8000000000000000, 1, 63)
	TEST_RI(35, slli, 0xffffffff00000000, 0x00000000ffffffff, 32)
	TEST_RI(36, srli, 1, 0x8000000000000000, 63)
	TEST_RI(37, srli, 0x7fffffffffffffff, -1, 1)
	TEST_RI(38, srai, -1, 0x8000000000000000, 63)
	TEST_RI(39, srai, 0, 0x7fffffffffffffff, 63)
	TEST_RI(40, srai, 0xffffffffc0000000, 0x8000000000000000, 33)

	/* ---- W-suffixed ops: 32-bit result, sign-extended ---- */
	TEST_RR(41, addw, 0xffffffff80000000, 0x7fffffff, 1)	/* overflow */
	TEST_RR(42, addw, 0, 0xffffffff, 1)
	TEST_RR(43, addw, 3, 0x1234567800000001, 0xabcdef0000000002) /* upper ignored */
	TEST_RR(44, subw, 0x7fffffff, 0xffffffff80000000, 1)
	TEST_RR(45, subw, 0xffffffff80000000, 0, 0x80000000)
	TEST_RR(46, sllw, 0xffffffff80000000, 1, 31)
	TEST_RR(47, sllw, 2, 1, 33)		/* only shamt[4:0] counts */
	TEST_RR(48, srlw, 1, 0x80000000, 31)
	TEST_RR(49, srlw, 0xffffffff80000000, 0x80000000, 0)	/* sext of bit 31 */
	TEST_RR(50, srlw, 0x7fffffff, 0xffffffffffffffff, 1)
	TEST_RR(51, sraw, -1, 0x80000000, 31)
	TEST_RR(52, sraw, 0xffffffffc0000000, 0x0000000080000000, 1)
	TEST_RR(53, sraw, 0, 0x7fffffff, 31)
	TEST_RI(54, addiw, 0xffffffff80000000, 0x7fffffff, 1)
	TEST_RI(55, addiw, 1, 0x1234567800000001, 0)	/* sext.w */
	TEST_RI(56, addiw, -1, 0, -1)
	TEST_RI(57, slliw, 0xffffffff80000000, 1, 31)
	TEST_RI(58, slliw, 0, 0x100000000, 0)
	TEST_RI(59, srliw, 1, 0xffffffffffffffff, 31)
	TEST_RI(60, srliw, 0x40000000, 0x80000000, 1)
	TEST_RI(61, srliw, 0xffffffff80000000, 0x80000000, 0)
	TEST_RI(62, sraiw, -1, 0x80000000, 31)
	TEST_RI(63, sraiw, 0, 0xffffffff7fffffff, 31)
	TEST_RI(64, sraiw, 0xfffffffff8000000, 0x80000000, 4)

	/* ---- LUI / AUIPC ---- */
	lui t0, 0x80000
	CHECK(65, t0, 0xffffffff80000000)	/* bit 31 sign-extends */
	lui t0, 0x7ffff
	CHECK(66, t0, 0x7ffff000)
	lui t0, 0
	CHECK(67, t0, 0)
1:	auipc t0, 0
	la t1, 1b
	CHECK_REGS(68, t0, t1)
1:	auipc t0, 1
	la t1, 1b
	sub t0, t0, t1
	CHECK(69, t0, 0x1000)
1:	auipc t0, 0xfffff
	la t1, 1b
	sub t0, t0, t1
	CHECK(70, t0, -0x1000)
1:	auipc t0, 0x80000
	la t1, 1b
	sub t0, t0, t1
	CHECK(71, t0, 0xffffffff80000000)	/* imm sign-extends to 64 */

	/* ---- loads ---- */
	la s0, ldata
	lb t0, 0(s0)
	CHECK(72, t0, 0xffffffffffffff88)
	lbu t0, 0(s0)
	CHECK(73, t0, 0x88)
	lb t0, 8(s0)
	CHECK(74, t0, 0x08)
	lh t0, 0(s0)
	CHECK(75, t0, 0xffffffffffff8788)
	lhu t0, 0(s0)
	CHECK(76, t0, 0x8788)
	lh t0, 10(s0)
	CHECK(77, t0, 0x0506)
	lw t0, 0(s0)
	CHECK(78, t0, 0xffffffff85868788)
	lwu t0, 0(s0)
	CHECK(79, t0, 0x85868788)
	lw t0, 4(s0)
	CHECK(80, t0, 0xffffffff81828384)
	lw t0, 8(s0)
	CHECK(81, t0, 0x05060708)
	ld t0, 0(s0)
	CHECK(82, t0, 0x8182838485868788)
	ld t0, 8(s0)
	CHECK(83, t0, 0x0102030405060708)
	addi s1, s0, 8
	lb t0, -1(s1)				/* negative offsets */
	CHECK(84, t0, 0xffffffffffffff81)
	lbu t0, -1(s1)
	CHECK(85, t0, 0x81)
	lhu t0, -2(s1)
	CHECK(86, t0, 0x8182)
	lwu t0, -4(s1)
	CHECK(87, t0, 0x81828384)
	ld t0, -8(s1)
	CHECK(88, t0, 0x8182838485868788)
	la s1, ldata_far			/* 12-bit offset limits */
	ld t0, 2040(s0)
	CHECK(89, t0, 0x1122334455667788)
	la s1, ldata_far + 2048
	ld t0, -2048(s1)
	CHECK(90, t0, 0x1122334455667788)

	/* ---- stores ---- */
	la s0, sdata
	sd zero, 0(s0)
	sd zero, 8(s0)
	li t0, 0x55
	sb t0, 0(s0)
	li t0, 0x1234				/* only the low byte is stored */
	sb t0, 1(s0)
	li t0, 0xffffabcd
	sh t0, 2(s0)
	li t0, 0x0123456789abcdef
	sw t0, 4(s0)
	ld t1, 0(s0)
	CHECK(91, t1, 0x89abcdefabcd3455)
	ld t1, 8(s0)
	CHECK(92, t1, 0)			/* neighbour untouched */
	li t0, 0xfedcba9876543210
	sd t0, 8(s0)
	ld t1, 8(s0)
	CHECK(93, t1, 0xfedcba9876543210)
	addi s1, s0, 16
	li t0, 0xaa
	sb t0, -1(s1)
	ld t1, 8(s0)
	CHECK(94, t1, 0xaadcba9876543210)
	la s1, ldata_far + 2048
	li t0, 0x0badc0de
	sd t0, -2048(s1)
	ld t1, -2048(s1)
	CHECK(95, t1, 0x0badc0de)
	li t0, 0x1122334455667788
	sd t0, -2048(s1)			/* restore */

	/* ---- branches, taken and not taken ---- */
	TEST_BR_TAKEN(96, beq, 5, 5)
	TEST_BR_NOT_TAKEN(97, beq, 5, 6)
	TEST_BR_TAKEN(98, bne, 5, 6)
	TEST_BR_NOT_TAKEN(99, bne, -1, -1)
	TEST_BR_TAKEN(100, blt, -1, 0)
	TEST_BR_NOT_TAKEN(101, blt, 0, -1)
	TEST_BR_NOT_TAKEN(102, blt, 3, 3)
	TEST_BR_TAKEN(103, bge, 0, -1)
	TEST_BR_TAKEN(104, bge, 3, 3)
	TEST_BR_NOT_TAKEN(105, bge, -1, 0)
	TEST_BR_TAKEN(106, bltu, 0, -1)
	TEST_BR_NOT_TAKEN(107, bltu, -1, 0)
	TEST_BR_TAKEN(108, bgeu, -1, 0)
	TEST_BR_TAKEN(109, bgeu, 7, 7)
	TEST_BR_NOT_TAKEN(110, bgeu, 0, -1)

	/* Branch offset limits: +4094 forward, -4096 backward (IALIGN=16
	 * with C, so the forward target is 2-byte aligned). The gaps are
	 * zeros, which are illegal instructions if ever executed. */
	li gp, 111
br_fwd:	beq zero, zero, br_fwd_tgt
	.skip 4094 - (. - br_fwd)
br_fwd_tgt:
	la t0, br_fwd_tgt
	la t1, br_fwd
	sub t0, t0, t1
	CHECK(112, t0, 4094)

	li gp, 113
	j br_back
	.align 2
br_back_tgt:
	j br_back_ok
	.skip 4096 - (. - br_back_tgt)
br_back:
	bne zero, gp, br_back_tgt
	GOTO_FAIL
br_back_ok:
	la t0, br_back
	la t1, br_back_tgt
	sub t0, t0, t1
	CHECK(114, t0, 4096)

	/* ---- JAL / JALR ---- */
	li gp, 115
jal_fwd:
	jal ra, jal_fwd_tgt			/* +1 MiB - 2, the limit */
	GOTO_FAIL
	.skip 1048574 - (. - jal_fwd)
jal_fwd_tgt:
	la t0, jal_fwd + 4
	CHECK_REGS(116, ra, t0)			/* link = pc + 4 */
	la t0, jal_fwd_tgt
	la t1, jal_fwd
	sub t0, t0, t1
	CHECK(117, t0, 1048574)

	li gp, 118
	jump jal_back, t6
	.align 2
jal_back_tgt:
	jump jal_back_ok, t6
	.skip 1048576 - (. - jal_back_tgt)
jal_back:
	jal t3, jal_back_tgt			/* -1 MiB, the limit */
	GOTO_FAIL
jal_back_ok:
	la t0, jal_back + 4
	CHECK_REGS(119, t3, t0)
	la t0, jal_back
	la t1, jal_back_tgt
	sub t0, t0, t1
	CHECK(120, t0, 1048576)

	li gp, 121
	la t0, jalr_tgt1 + 1			/* odd: bit 0 is cleared */
jalr1:	jalr ra, 0(t0)
	GOTO_FAIL
jalr_tgt1:
	la t0, jalr1 + 4
	CHECK_REGS(122, ra, t0)

	li gp, 123
	la t0, jalr_tgt2 + 4
	jalr ra, -3(t0)				/* target + 1, bit 0 cleared */
	GOTO_FAIL
jalr_tgt2:

	li gp, 124
	la t0, jalr_tgt3
jalr3:	jalr t0, 0(t0)				/* rd == rs1: old rs1 is used */
	GOTO_FAIL
jalr_tgt3:
	la t1, jalr3 + 4
	CHECK_REGS(125, t0, t1)

	li gp, 126
	la t0, jalr_tgt4
	jalr zero, 0(t0)			/* plain jump, no link */
	GOTO_FAIL
jalr_tgt4:

	/* ---- x0 stays zero ---- */
	addi zero, zero, 5
	CHECK(127, zero, 0)
	lui zero, 0x12345
	CHECK(128, zero, 0)
	la t0, ldata
	ld zero, 0(t0)
	CHECK(129, zero, 0)
	jal zero, 1f
1:	auipc zero, 1
	CHECK(130, zero, 0)
	li t0, 7
	add zero, t0, t0
	mv t1, zero
	CHECK(131, t1, 0)

	/* ---- FENCE / FENCE.I ---- */
	fence
	fence rw, rw
	fence r, w
	fence iorw, iorw
	fence.tso
	li t0, 9
	CHECK(132, t0, 9)			/* fences complete and continue */

	/* Self-modifying code: patch smc_slot's first instruction from
	 * "addi a0, zero, 1" to "addi a0, zero, 42"; fence.i must make
	 * the new instruction visible to fetch. */
	li a0, 0
	call smc_slot
	CHECK(133, a0, 1)
	la t0, smc_slot
	li t1, 0x02a00513			/* addi a0, zero, 42 */
	sw t1, 0(t0)
	fence.i
	call smc_slot
	CHECK(134, a0, 42)

TEST_END

	.text
	.align 2
smc_slot:
	addi a0, zero, 1
	ret

	.data
	.align 3
ldata:	.dword 0x8182838485868788
	.dword 0x0102030405060708
	.skip 2040 - 16
ldata_far:
	.dword 0x1122334455667788
sdata:	.dword 0, 0
