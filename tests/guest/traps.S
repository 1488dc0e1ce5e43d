# traps.S - synchronous exceptions (privileged spec, "Machine-Level ISA":
# mcause, mepc, mtval; "Supervisor-Level ISA"): illegal instructions with
# their bits in mtval, ECALL from M/S/U, EBREAK, misaligned data accesses
# (performed correctly or trapped), 2-byte-aligned jump targets, access
# faults on unmapped addresses, medeleg delegation to S, xRET's restoring
# of the mstatus stack, and the TSR/TW/TVM traps.
#include "harness.h"

/* Run insns in privilege prv; they must trap to M with `cause`. If they
 * do not, the ecall after them traps with an ECALL cause and n fails. */
#define TRAP_IN(n, prv, cause, insns...)				\
	TRAP_ARM(90030f);						\
	GOTO_PRIV(prv, 90031f);						\
90031:									\
	insns;								\
	ecall;								\
90030:									\
	CHECK_CAUSE(n, cause)

#define UNMAPPED	0x40000000	/* neither RAM nor a device */

/* A misaligned access either works (and then the value must be right) or
 * traps with the misaligned cause or, as the spec allows, an access fault;
 * mtval must then be the address. nok checks the value, nc the cause,
 * nt mtval. */
#define TEST_MISALIGNED(nok, nc, nt, mis, acc, addr_sym, expect, insn...)	\
	li t1, 0x5555;							\
	TRAP_ARM(90040f);						\
	insn;								\
90040:									\
	la t5, trap_info;						\
	ld t5, TI_CAUSE(t5);						\
	li t6, -1;							\
	bne t5, t6, 90041f;						\
	TRAP_DISARM;							\
	CHECK(nok, t1, expect);						\
	j 90043f;							\
90041:									\
	li t6, mis;							\
	beq t5, t6, 90042f;						\
	CHECK(nc, t5, acc);						\
90042:									\
	CHECK_TVAL_ADDR(nt, addr_sym);					\
90043:

TEST_BEGIN
	PMP_OPEN_ALL

	/* ---- illegal instructions: mtval = the instruction bits ---- */
	TRAP_ARM(1f)
ill32:	.word 0xfe000033			/* OP with funct7 0x7f */
1:	CHECK_CAUSE(1, CAUSE_ILLEGAL)
	CHECK_TVAL(2, 0xfe000033)
	CHECK_EPC(3, ill32)
	TRAP_ARM(1f)
ill16:	.2byte 0x0000				/* the all-zero parcel */
	.2byte 0x0001				/* (c.nop pad, not reached) */
1:	CHECK_CAUSE(4, CAUSE_ILLEGAL)
	CHECK_TVAL(5, 0)
	CHECK_EPC(6, ill16)
	TEST_TRAP(7, CAUSE_ILLEGAL, csrw mhartid, zero)	/* read-only CSR */

	/* ---- ECALL from each mode, EBREAK ---- */
	TRAP_ARM(1f)
ecm:	ecall
1:	CHECK_CAUSE(8, CAUSE_ECALL_M)
	CHECK_EPC(9, ecm)			/* mepc = the ecall itself */
	TRAP_IN(10, PRV_S, CAUSE_ECALL_S, nop)
	CHECK_FROM_PRIV(11, PRV_S)
	TRAP_IN(12, PRV_U, CAUSE_ECALL_U, nop)
	CHECK_FROM_PRIV(13, PRV_U)
	TRAP_ARM(1f)
ebk:	ebreak
1:	CHECK_CAUSE(14, CAUSE_BREAKPOINT)
	CHECK_EPC(15, ebk)

	/* ---- misaligned loads and stores ---- */
	la s0, mdata
	li t0, 0x0706050403020100
	sd t0, 0(s0)
	li t0, 0x0f0e0d0c0b0a0908
	sd t0, 8(s0)
	TEST_MISALIGNED(16, 17, 18, CAUSE_MISALIGNED_LOAD, CAUSE_LOAD_ACCESS, mdata + 1, 0x0201, lh t1, 1(s0))
	TEST_MISALIGNED(19, 20, 21, CAUSE_MISALIGNED_LOAD, CAUSE_LOAD_ACCESS, mdata + 3, 0x06050403, lw t1, 3(s0))
	TEST_MISALIGNED(22, 23, 24, CAUSE_MISALIGNED_LOAD, CAUSE_LOAD_ACCESS, mdata + 5, 0x0c0b0a0908070605, ld t1, 5(s0))
	TEST_MISALIGNED(25, 26, 27, CAUSE_MISALIGNED_LOAD, CAUSE_LOAD_ACCESS, mdata + 7, 0x0807, lhu t1, 7(s0))
	li t0, 0xfffffff8aabbccdd
	TEST_MISALIGNED(28, 29, 30, CAUSE_MISALIGNED_STORE, CAUSE_STORE_ACCESS, mdata + 1, 0x070605aabbccdd00, sw t0, 1(s0); ld t1, 0(s0))
	li t0, 0x1122334455667788
	TEST_MISALIGNED(31, 32, 33, CAUSE_MISALIGNED_STORE, CAUSE_STORE_ACCESS, mdata + 6, 0x0f0e112233445566, sd t0, 6(s0); ld t1, 8(s0))

	/* ---- jump to a 2-byte aligned target: fine with C ---- */
	li gp, 34
	la t0, odd_tgt
	andi t1, t0, 3
	CHECK(35, t1, 2)
	jalr ra, 0(t0)
	CHECK(36, a0, 0x77)

	/* ---- access faults: mtval = the address ---- */
	li s1, UNMAPPED
	TEST_TRAP(37, CAUSE_LOAD_ACCESS, ld t0, 0(s1))
	CHECK_TVAL(38, UNMAPPED)
	TEST_TRAP(39, CAUSE_STORE_ACCESS, sw t0, 8(s1))
	CHECK_TVAL(40, UNMAPPED + 8)
	TEST_TRAP(41, CAUSE_FETCH_ACCESS, jalr ra, 0(s1))
	CHECK_TVAL(42, UNMAPPED)
	la t5, trap_info
	ld t5, TI_EPC(t5)
	CHECK(43, t5, UNMAPPED)			/* mepc = the target */

	/* ---- mret restores the stack: MIE = MPIE, MPIE = 1, MPP = U ---- */
	li t0, MSTATUS_MIE | MSTATUS_MPP
	csrc mstatus, t0
	li t0, MSTATUS_MPIE
	csrs mstatus, t0
	GOTO_PRIV(PRV_M, 1f)			/* MPP = M, mret */
1:	csrr t1, mstatus
	li t0, MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP
	and t1, t1, t0
	CHECK(44, t1, MSTATUS_MIE | MSTATUS_MPIE)	/* MPP = U (0) */
	csrci mstatus, MSTATUS_MIE
	li t0, MSTATUS_MPIE
	csrc mstatus, t0
	GOTO_PRIV(PRV_M, 1f)
1:	csrr t1, mstatus
	andi t1, t1, MSTATUS_MIE
	CHECK(45, t1, 0)			/* MPIE was 0 */
	/* mret to U really drops privilege: U cannot read sstatus */
	TRAP_IN(46, PRV_U, CAUSE_ILLEGAL, csrr t0, sstatus)
	CHECK_FROM_PRIV(47, PRV_U)

	/* sret in S: SIE = SPIE, SPIE = 1, SPP = U, back in S (sepc) */
	TRAP_ARM(2f)
	GOTO_PRIV(PRV_S, 1f)
1:	li t0, MSTATUS_SIE
	csrc sstatus, t0
	li t0, MSTATUS_SPIE | MSTATUS_SPP
	csrs sstatus, t0
	la t0, 3f
	csrw sepc, t0
	sret
3:	csrr t1, sstatus
	ecall					/* from S: proves SPP was used */
2:	CHECK_CAUSE(48, CAUSE_ECALL_S)
	li t0, MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP
	and t1, t1, t0
	CHECK(49, t1, MSTATUS_SIE | MSTATUS_SPIE)
	/* sret with SPP = U lands in U */
	TRAP_ARM(2f)
	GOTO_PRIV(PRV_S, 1f)
1:	li t0, MSTATUS_SPP
	csrc sstatus, t0
	la t0, 3f
	csrw sepc, t0
	sret
3:	ecall
2:	CHECK_CAUSE(50, CAUSE_ECALL_U)

	/* xRET from too low a privilege is illegal */
	TRAP_IN(51, PRV_S, CAUSE_ILLEGAL, mret)
	TRAP_IN(52, PRV_U, CAUSE_ILLEGAL, sret)

	/* ---- medeleg: U ecall handled in S, which srets back ---- */
	li t0, 1 << CAUSE_ECALL_U
	csrw medeleg, t0
	csrr t1, medeleg
	CHECK(53, t1, 1 << CAUSE_ECALL_U)
	la t0, s_handler
	csrw stvec, t0
	la s2, s_record
	sd zero, 0(s2)
	TRAP_ARM(2f)
	GOTO_PRIV(PRV_U, 1f)
1:	li a0, 5
u_ecall:
	ecall					/* -> s_handler, a0 += 10 */
	ebreak					/* not delegated: back to M */
2:	CHECK_CAUSE(54, CAUSE_BREAKPOINT)
	CHECK_FROM_PRIV(55, PRV_U)
	CHECK(56, a0, 15)			/* the S handler ran and returned */
	ld t0, 0(s2)
	CHECK(57, t0, CAUSE_ECALL_U)		/* scause */
	ld t0, 8(s2)
	la t1, u_ecall
	CHECK_REGS(58, t0, t1)			/* sepc */
	ld t0, 16(s2)
	andi t0, t0, MSTATUS_SPP
	CHECK(59, t0, 0)			/* SPP = U */
	csrw medeleg, zero
	/* an S ecall is not delegated (bit 9 clear): goes to M */
	TRAP_IN(60, PRV_S, CAUSE_ECALL_S, nop)

	/* ---- TSR / TW / TVM trap S-mode as illegal ---- */
	li t0, MSTATUS_TSR
	csrs mstatus, t0
	TRAP_IN(61, PRV_S, CAUSE_ILLEGAL, sret)
	CHECK_FROM_PRIV(62, PRV_S)
	li t0, MSTATUS_TSR
	csrc mstatus, t0
	li t0, MSTATUS_TW
	csrs mstatus, t0
	TRAP_IN(63, PRV_S, CAUSE_ILLEGAL, wfi)
	li t0, MSTATUS_TW
	csrc mstatus, t0
	li t0, MSTATUS_TVM
	csrs mstatus, t0
	TRAP_IN(64, PRV_S, CAUSE_ILLEGAL, csrr t0, satp)
	TRAP_IN(65, PRV_S, CAUSE_ILLEGAL, sfence.vma)
	li t0, MSTATUS_TVM
	csrc mstatus, t0
	/* and without them the same instructions are fine in S */
	TRAP_IN(66, PRV_S, CAUSE_ECALL_S, csrr t0, satp; sfence.vma)
TEST_END

	.text
	.align 2
	.option push
	.option rvc
	c.nop
odd_tgt:					/* 2 mod 4 */
	li a0, 0x77
	ret
	.option pop

	.align 2
s_handler:
	csrr t0, scause
	sd t0, 0(s2)
	csrr t0, sepc
	sd t0, 8(s2)
	csrr t0, sstatus
	sd t0, 16(s2)
	addi a0, a0, 10
	csrr t0, sepc
	addi t0, t0, 4
	csrw sepc, t0
	sret

	.data
	.align 4
mdata:	.dword 0, 0
s_record: .dword 0, 0, 0
