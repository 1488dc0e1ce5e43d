# qemu-skip: QEMU 7.2 has no Zicond, Zicbom or Zicboz
# zicond_cbo.S - kiln-only checks (QEMU 7.2 lacks Zicond and Zicbom/Zicboz):
# Zicond czero.eqz/czero.nez; Zicbom/Zicboz (cmo spec) cbo.zero clearing its
# aligned 64-byte block and nothing else, cbo.clean/flush/inval as no-ops,
# their menvcfg/senvcfg enables (illegal from S/U when clear); Zkr's seed CSR
# (ES16 status, read-only access illegal, S/U access gated by mseccfg
# SSEED/USEED); Svinval (sinval.vma, sfence.w.inval, sfence.inval.ir: legal
# in S, illegal in U); mcountinhibit stopping minstret/mcycle; Zihpm
# counters gated by mcounteren; ctzw of a zero low word.
#include "harness.h"
	.option arch, +zicbom, +zicboz, +svinval, +zbb

#define CZERO_EQZ(rd, rs1, rs2)	.insn r 0x33, 5, 7, rd, rs1, rs2
#define CZERO_NEZ(rd, rs1, rs2)	.insn r 0x33, 7, 7, rd, rs1, rs2
#define CSR_SEED	0x015
#define CSR_MSECCFG	0x747
#define CSR_MENVCFG	0x30a
#define CSR_SENVCFG	0x10a
#define CBZE		(1 << 7)
#define CBCFE		(1 << 6)
#define CBIE_INVAL	(3 << 4)

/* Run insns in privilege prv; they must trap to M with `cause`. */
#define TRAP_IN(n, prv, cause, insns...)				\
	TRAP_ARM(90030f);						\
	GOTO_PRIV(prv, 90031f);						\
90031:									\
	insns;								\
	ecall;								\
90030:									\
	CHECK_CAUSE(n, cause)

/* Run insns in privilege prv; they must not trap (the ecall after them does). */
#define RUN_IN(n, prv, insns...)					\
	TRAP_IN(n, prv, CAUSE_ECALL_U + prv, insns)

TEST_BEGIN
	PMP_OPEN_ALL
	li t0, 0x123456789abcdef
	li t1, 0x0
	CZERO_EQZ(t2, t0, t1)
	CHECK(1, t2, 0x0)
	li t0, 0x123456789abcdef
	li t1, 0x1
	CZERO_EQZ(t2, t0, t1)
	CHECK(2, t2, 0x123456789abcdef)
	li t0, 0xffffffffffffffff
	li t1, 0x3f
	CZERO_EQZ(t2, t0, t1)
	CHECK(3, t2, 0xffffffffffffffff)
	li t0, 0x8000000000000000
	li t1, 0x40
	CZERO_EQZ(t2, t0, t1)
	CHECK(4, t2, 0x8000000000000000)
	li t0, 0xfedcba9876543210
	li t1, 0x80000001
	CZERO_EQZ(t2, t0, t1)
	CHECK(5, t2, 0xfedcba9876543210)
	li t0, 0x5
	li t1, 0xffffffffffffffff
	CZERO_EQZ(t2, t0, t1)
	CHECK(6, t2, 0x5)
	li t0, 0x7fffffffffffffff
	li t1, 0x8000000000000000
	CZERO_EQZ(t2, t0, t1)
	CHECK(7, t2, 0x7fffffffffffffff)
	li t0, 0x80000000
	li t1, 0x21
	CZERO_EQZ(t2, t0, t1)
	CHECK(8, t2, 0x80000000)
	li t0, 0xffffffff
	li t1, 0x1f
	CZERO_EQZ(t2, t0, t1)
	CHECK(9, t2, 0xffffffff)
	li t0, 0x123456789abcdef
	li t1, 0x0
	CZERO_NEZ(t2, t0, t1)
	CHECK(10, t2, 0x123456789abcdef)
	li t0, 0x123456789abcdef
	li t1, 0x1
	CZERO_NEZ(t2, t0, t1)
	CHECK(11, t2, 0x0)
	li t0, 0xffffffffffffffff
	li t1, 0x3f
	CZERO_NEZ(t2, t0, t1)
	CHECK(12, t2, 0x0)
	li t0, 0x8000000000000000
	li t1, 0x40
	CZERO_NEZ(t2, t0, t1)
	CHECK(13, t2, 0x0)
	li t0, 0xfedcba9876543210
	li t1, 0x80000001
	CZERO_NEZ(t2, t0, t1)
	CHECK(14, t2, 0x0)
	li t0, 0x5
	li t1, 0xffffffffffffffff
	CZERO_NEZ(t2, t0, t1)
	CHECK(15, t2, 0x0)
	li t0, 0x7fffffffffffffff
	li t1, 0x8000000000000000
	CZERO_NEZ(t2, t0, t1)
	CHECK(16, t2, 0x0)
	li t0, 0x80000000
	li t1, 0x21
	CZERO_NEZ(t2, t0, t1)
	CHECK(17, t2, 0x0)
	li t0, 0xffffffff
	li t1, 0x1f
	CZERO_NEZ(t2, t0, t1)
	CHECK(18, t2, 0x0)
	/* rd = rs1 = rs2 */
	li t0, 5
	CZERO_EQZ(t0, t0, t0)
	CHECK(19, t0, 5)
	li t0, 5
	CZERO_NEZ(t0, t0, t0)
	CHECK(20, t0, 0)
	TEST_R(21, ctzw, 32, 0x8000000000000000)
	TEST_R(22, clzw, 32, 0xffffffff00000000)

	/* ---- cbo.zero: the aligned 64-byte block around a0, nothing else ---- */
	la a0, block
	li t0, -1
	li t1, 0
1:	add t2, a0, t1
	sd t0, -8(t2)
	addi t1, t1, 8
	li t2, 88
	blt t1, t2, 1b
	addi a1, a0, 37		/* any address inside the block */
	cbo.zero (a1)
	ld t0, 0(a0)
	CHECK(30, t0, 0)
	ld t0, 56(a0)
	CHECK(31, t0, 0)
	ld t0, -8(a0)
	CHECK(32, t0, -1)
	ld t0, 64(a0)
	CHECK(33, t0, -1)
	cbo.clean (a0)
	cbo.flush (a0)
	cbo.inval (a0)
	ld t0, 64(a0)
	CHECK(34, t0, -1)
	/* disabled in menvcfg: illegal from S */
	csrw CSR_MENVCFG, zero
	TRAP_IN(35, PRV_S, CAUSE_ILLEGAL, cbo.zero (a0))
	TRAP_IN(36, PRV_S, CAUSE_ILLEGAL, cbo.clean (a0))
	TRAP_IN(37, PRV_S, CAUSE_ILLEGAL, cbo.inval (a0))
	li t0, CBZE | CBCFE | CBIE_INVAL
	csrw CSR_MENVCFG, t0
	csrr t1, CSR_MENVCFG
	CHECK(38, t1, CBZE | CBCFE | CBIE_INVAL)
	sd t0, 64(a0)
	RUN_IN(39, PRV_S, cbo.zero (a0); cbo.flush (a0); cbo.inval (a0))
	ld t0, 8(a0)
	CHECK(40, t0, 0)
	/* U also needs senvcfg */
	csrw CSR_SENVCFG, zero
	TRAP_IN(41, PRV_U, CAUSE_ILLEGAL, cbo.zero (a0))
	li t0, CBZE
	csrw CSR_SENVCFG, t0
	RUN_IN(42, PRV_U, cbo.zero (a0))
	TRAP_IN(43, PRV_U, CAUSE_ILLEGAL, cbo.clean (a0))
	/* cbo.zero to an unmapped address: store access fault, tval = rs1 */
	li a1, 0x40000010
	TRAP_ARM(1f)
	cbo.zero (a1)
1:	CHECK_CAUSE(44, CAUSE_STORE_ACCESS)
	CHECK_TVAL(45, 0x40000010)

	/* ---- Zkr seed ---- */
	csrrw t0, CSR_SEED, zero
	srli t1, t0, 30
	CHECK(50, t1, 2)		/* OPST = ES16 */
	li t1, 0xffff
	and t2, t0, t1
	csrrw t3, CSR_SEED, zero
	and t3, t3, t1
	csrrw t4, CSR_SEED, zero
	and t4, t4, t1
	/* three 16-bit draws all equal: 2^-32 */
	bne t2, t3, 1f
	bne t2, t4, 1f
	FAIL(51)
1:	TEST_TRAP(52, CAUSE_ILLEGAL, csrr t0, CSR_SEED)
	csrw CSR_MSECCFG, zero
	TRAP_IN(53, PRV_S, CAUSE_ILLEGAL, csrrw t0, CSR_SEED, zero)
	TRAP_IN(54, PRV_U, CAUSE_ILLEGAL, csrrw t0, CSR_SEED, zero)
	li t0, 1 << 9			/* SSEED */
	csrw CSR_MSECCFG, t0
	RUN_IN(55, PRV_S, csrrw t0, CSR_SEED, zero)
	TRAP_IN(56, PRV_U, CAUSE_ILLEGAL, csrrw t0, CSR_SEED, zero)
	li t0, 1 << 8			/* USEED */
	csrw CSR_MSECCFG, t0
	RUN_IN(57, PRV_U, csrrw t0, CSR_SEED, zero)
	csrr t0, CSR_MSECCFG
	CHECK(58, t0, 1 << 8)

	/* ---- Svinval ---- */
	sinval.vma zero, zero
	sfence.w.inval
	sfence.inval.ir
	RUN_IN(60, PRV_S, sfence.w.inval; sinval.vma zero, zero; sfence.inval.ir)
	TRAP_IN(61, PRV_U, CAUSE_ILLEGAL, sinval.vma zero, zero)
	TRAP_IN(62, PRV_U, CAUSE_ILLEGAL, sfence.w.inval)
	TRAP_IN(63, PRV_U, CAUSE_ILLEGAL, sfence.inval.ir)
	li t0, MSTATUS_TVM
	csrs mstatus, t0
	TRAP_IN(64, PRV_S, CAUSE_ILLEGAL, sinval.vma zero, zero)
	RUN_IN(65, PRV_S, sfence.w.inval)
	li t0, MSTATUS_TVM
	csrc mstatus, t0

	/* ---- counters: mcountinhibit, Zihpm ---- */
	li t0, 5			/* IR and CY */
	csrw mcountinhibit, t0
	csrr t1, minstret
	csrr t2, mcycle
	nop
	nop
	csrr t3, minstret
	csrr t4, mcycle
	CHECK_REGS(70, t1, t3)
	CHECK_REGS(71, t2, t4)
	li t0, 1000
	csrw minstret, t0
	csrr t1, minstret
	CHECK(72, t1, 1000)
	csrr t1, mcountinhibit
	CHECK(73, t1, 5)
	csrw mcountinhibit, zero
	nop
	csrr t1, minstret
	li t2, 1000
	bgtu t1, t2, 1f
	FAIL(74)
1:	li t2, 1100
	bltu t1, t2, 1f
	FAIL(75)
1:	csrr t0, mhpmcounter3
	CHECK(76, t0, 0)
	csrw mcounteren, zero
	TRAP_IN(77, PRV_S, CAUSE_ILLEGAL, csrr t0, hpmcounter3)
	TRAP_IN(78, PRV_S, CAUSE_ILLEGAL, csrr t0, instret)
	li t0, 0xd			/* CY, IR, HPM3 */
	csrw mcounteren, t0
	RUN_IN(79, PRV_S, csrr t0, hpmcounter3; csrr t0, cycle; csrr t0, instret)
	TRAP_IN(80, PRV_S, CAUSE_ILLEGAL, csrr t0, hpmcounter4)
	csrw scounteren, zero
	TRAP_IN(81, PRV_U, CAUSE_ILLEGAL, csrr t0, hpmcounter3)
TEST_END

	.data
	.align 6
	.skip 64
block:	.skip 128
