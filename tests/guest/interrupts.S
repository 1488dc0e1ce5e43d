# interrupts.S - interrupts (privileged spec, "Machine Interrupt Registers
# (mip and mie)", "Supervisor Interrupt Registers"): the CLINT machine timer
# and software interrupts, global enables (mstatus.MIE/SIE) and their
# privilege rules, WFI waking without MIE, delegation of SSI/STI to S via
# mideleg, and the priority order among simultaneously pending interrupts.
#include "harness.h"

#define INTR(code)	(CAUSE_INTR | (code))

/* mtimecmp(hart 0) = mtime + delta */
#define TIMER_IN(delta)							\
	li t0, CLINT_MTIME;						\
	ld t1, 0(t0);							\
	addi t1, t1, delta;						\
	li t0, CLINT_MTIMECMP;						\
	sd t1, 0(t0)

#define TIMER_OFF							\
	li t0, CLINT_MTIMECMP;						\
	li t1, -1;							\
	sd t1, 0(t0)

#define MSIP_SET(v)							\
	li t0, CLINT_MSIP;						\
	li t1, v;							\
	sw t1, 0(t0)

/* Run insns in S or U; they must end in a trap to M with `cause`. */
#define TRAP_IN(n, prv, cause, insns...)				\
	TRAP_ARM(90030f);						\
	GOTO_PRIV(prv, 90031f);						\
90031:									\
	insns;								\
	ecall;								\
90030:									\
	CHECK_CAUSE(n, cause)

TEST_BEGIN
	PMP_OPEN_ALL
	TIMER_OFF
	MSIP_SET(0)
	csrw mie, zero
	csrw mideleg, zero
	csrci mstatus, MSTATUS_MIE

	/* ---- machine timer interrupt ---- */
	li t0, MIP_MTIP
	csrs mie, t0
	TRAP_ARM(2f)
	TIMER_IN(100)
	csrsi mstatus, MSTATUS_MIE
1:	wfi
	j 1b
2:	CHECK_CAUSE(1, INTR(7))
	TIMER_OFF
	/* MTIP follows mtimecmp; allow a short bounded delay for a CLINT
	 * that is updated from another host thread */
	li t2, 10000
3:	csrr t0, mip
	andi t0, t0, MIP_MTIP
	beqz t0, 4f
	addi t2, t2, -1
	bnez t2, 3b
4:	CHECK(2, t0, 0)

	/* ---- MIE = 0: pending in mip, not taken; WFI still wakes ---- */
	TIMER_IN(0)
1:	csrr t0, mip
	andi t0, t0, MIP_MTIP
	beqz t0, 1b				/* (a trap here fails test 2) */
	wfi					/* must not hang: MTIE && MTIP */
	li t0, 1
	CHECK(3, t0, 1)				/* got here, no trap */
	TRAP_ARM(1f)
	csrsi mstatus, MSTATUS_MIE		/* now it is taken at once */
	nop
	nop
1:	CHECK_CAUSE(4, INTR(7))
	TIMER_OFF
	csrw mie, zero

	/* ---- machine software interrupt through msip ---- */
	li t0, MIP_MSIP
	csrs mie, t0
	TRAP_ARM(1f)
	MSIP_SET(1)
	csrsi mstatus, MSTATUS_MIE
2:	wfi
	j 2b
1:	CHECK_CAUSE(5, INTR(3))
	MSIP_SET(0)
	csrr t0, mip
	andi t0, t0, MIP_MSIP
	CHECK(6, t0, 0)

	/* ---- priority: MSI before MTI ---- */
	li t0, MIP_MSIP | MIP_MTIP
	csrs mie, t0
	MSIP_SET(1)
	TIMER_IN(0)
1:	csrr t0, mip
	andi t0, t0, MIP_MTIP
	beqz t0, 1b
	TRAP_ARM(1f)
	csrsi mstatus, MSTATUS_MIE
	nop
1:	CHECK_CAUSE(7, INTR(3))
	MSIP_SET(0)
	TRAP_ARM(1f)
	csrsi mstatus, MSTATUS_MIE
	nop
1:	CHECK_CAUSE(8, INTR(7))
	TIMER_OFF
	csrw mie, zero

	/* ---- M interrupts are always enabled below M, even with MIE = 0 ---- */
	li t0, MIP_MTIP
	csrs mie, t0
	TIMER_IN(0)
1:	csrr t0, mip
	andi t0, t0, MIP_MTIP
	beqz t0, 1b
	TRAP_IN(9, PRV_S, INTR(7), nop)
	CHECK_FROM_PRIV(10, PRV_S)
	TIMER_OFF
	csrw mie, zero

	/* ---- delegated supervisor interrupts ---- */
	li t0, MIP_SSIP | MIP_STIP
	csrw mideleg, t0
	csrr t1, mideleg
	andi t1, t1, MIP_SSIP | MIP_STIP	/* (QEMU with H forces VS bits on) */
	CHECK(11, t1, MIP_SSIP | MIP_STIP)
	la t0, s_handler
	csrw stvec, t0
	la s2, s_record
	li t0, MIP_SSIP | MIP_STIP
	csrs mie, t0				/* sie is the delegated view of mie */

	/* SSI in S with SIE = 1: taken in S */
	sd zero, 0(s2)
	li t0, MIP_SSIP
	csrs mip, t0
	li t0, MSTATUS_SIE
	csrs mstatus, t0
	TRAP_IN(12, PRV_S, CAUSE_ECALL_S, nop; nop)
	ld t0, 0(s2)
	CHECK(13, t0, INTR(1))
	csrr t0, mip
	andi t0, t0, MIP_SSIP
	CHECK(14, t0, 0)			/* S handler cleared it */

	/* STI (M sets STIP) in S: taken in S */
	li t0, MIP_STIE
	csrs mie, t0
	sd zero, 0(s2)
	li t0, MIP_STIP
	csrs mip, t0
	li t0, MSTATUS_SIE
	csrs mstatus, t0
	TRAP_IN(15, PRV_S, CAUSE_ECALL_S, nop; nop)
	ld t0, 0(s2)
	CHECK(16, t0, INTR(5))
	li t0, MIP_STIP
	csrc mip, t0

	/* SSI in S with SIE = 0: stays pending */
	li t0, MIP_SSIP | MIP_STIP
	csrs mie, t0
	sd zero, 0(s2)
	li t0, MSTATUS_SIE
	csrc mstatus, t0
	li t0, MIP_SSIP
	csrs mip, t0
	TRAP_IN(17, PRV_S, CAUSE_ECALL_S, nop; nop)
	ld t0, 0(s2)
	CHECK(18, t0, 0)			/* S handler did not run */
	csrr t0, mip
	andi t0, t0, MIP_SSIP
	CHECK(19, t0, MIP_SSIP)

	/* ...but in U, S interrupts are enabled regardless of SIE */
	li t0, MIP_SSIP | MIP_STIP
	csrs mie, t0
	TRAP_IN(20, PRV_U, CAUSE_ECALL_U, nop; nop)
	ld t0, 0(s2)
	CHECK(21, t0, INTR(1))

	/* priority: SSI before STI */
	li t0, MIP_SSIP | MIP_STIP
	csrs mie, t0
	csrs mip, t0
	sd zero, 0(s2)
	TRAP_IN(22, PRV_U, CAUSE_ECALL_U, nop; nop)
	ld t0, 0(s2)
	CHECK(23, t0, INTR(1))
	li t0, MIP_STIP
	csrc mip, t0

	/* priority: an M-level MTI before a delegated SSI, both pending in S */
	li t0, MIP_SSIP | MIP_MTIP
	csrs mie, t0
	li t0, MIP_SSIP
	csrs mip, t0
	li t0, MSTATUS_SIE
	csrs mstatus, t0
	TIMER_IN(0)
1:	csrr t0, mip
	andi t0, t0, MIP_MTIP
	beqz t0, 1b
	TRAP_IN(24, PRV_S, INTR(7), nop)
	TIMER_OFF
	li t0, MIP_SSIP
	csrc mip, t0
	csrw mie, zero
	csrw mideleg, zero
TEST_END

	.text
	.align 2
/* S-mode handler: record scause, mask all S interrupts (STIP cannot be
 * cleared from S), clear SSIP, return. */
s_handler:
	csrr t0, scause
	sd t0, 0(s2)
	csrw sie, zero
	csrci sip, MIP_SSIP
	sret

	.data
	.align 4
s_record: .dword 0, 0
