# csr.S - the Zicsr instructions and the CSRs kiln implements (privileged
# spec, "Control and Status Registers", "Machine-Level CSRs"): read/modify/
# write forms, read-only CSRs, misa, mhartid, mstatus WARL fields (MPP,
# FS/SD, the sstatus view), fflags/frm/fcsr aliasing, the counters and
# mcounteren/scounteren gating of S/U access, mepc alignment, satp WARL.
#include "harness.h"

/* Run insns in prv; they must end in a trap to M with `cause`. */
#define TRAP_IN(n, prv, cause, insns...)				\
	TRAP_ARM(90030f);						\
	GOTO_PRIV(prv, 90031f);						\
90031:									\
	insns;								\
	ecall;								\
90030:									\
	CHECK_CAUSE(n, cause)

#define MISA_EXT(c)	(1 << ((c) - 'A'))

TEST_BEGIN
	PMP_OPEN_ALL

	/* ---- instruction forms, on mscratch ---- */
	li t0, 0x1234567890abcdef
	csrw mscratch, t0
	li t1, 0xff
	csrrw t2, mscratch, t1			/* returns the old value */
	CHECK(1, t2, 0x1234567890abcdef)
	csrr t2, mscratch
	CHECK(2, t2, 0xff)
	li t1, 0xf00
	csrrs t2, mscratch, t1
	CHECK(3, t2, 0xff)
	csrr t2, mscratch
	CHECK(4, t2, 0xfff)
	li t1, 0x0f0
	csrrc t2, mscratch, t1
	CHECK(5, t2, 0xfff)
	csrr t2, mscratch
	CHECK(6, t2, 0xf0f)
	csrrwi t2, mscratch, 31			/* zimm is zero-extended */
	CHECK(7, t2, 0xf0f)
	csrrsi t2, mscratch, 0x10 | 0x0
	csrr t2, mscratch
	CHECK(8, t2, 31)
	csrrci t2, mscratch, 0x3
	csrr t2, mscratch
	CHECK(9, t2, 28)
	csrrw t2, mscratch, t2			/* rd == rs1 */
	CHECK(10, t2, 28)
	csrw mscratch, zero
	csrr t2, mscratch
	CHECK(11, t2, 0)
	li t0, 0x55aa
	csrw sscratch, t0
	csrr t1, sscratch
	CHECK(12, t1, 0x55aa)

	/* ---- read-only CSRs: reading is fine, writing is illegal ---- */
	csrrs t0, mhartid, zero			/* rs1 = x0: no write */
	csrrsi t0, mvendorid, 0
	TEST_TRAP(13, CAUSE_ILLEGAL, csrw mhartid, t0)
	TEST_TRAP(14, CAUSE_ILLEGAL, csrwi mvendorid, 1)
	TEST_TRAP(15, CAUSE_ILLEGAL, csrw cycle, zero)
	TEST_TRAP(16, CAUSE_ILLEGAL, csrrsi t0, mimpid, 1)
	TEST_TRAP(17, CAUSE_ILLEGAL, csrrw t0, instret, t0)

	/* ---- misa, mhartid ---- */
	csrr t0, misa
	srli t1, t0, 62
	CHECK(18, t1, 2)			/* MXL = 64 */
	li t2, MISA_EXT('I') | MISA_EXT('M') | MISA_EXT('A') | MISA_EXT('F') | MISA_EXT('D') | MISA_EXT('C') | MISA_EXT('S') | MISA_EXT('U')
	and t1, t0, t2
	CHECK_REGS(19, t1, t2)
	csrr t0, mhartid
	CHECK(20, t0, 0)

	/* ---- mstatus.MPP holds only M, S or U ---- */
	li t0, MSTATUS_MPP
	csrc mstatus, t0
	li t0, PRV_S << 11
	csrs mstatus, t0
	csrr t1, mstatus
	li t0, MSTATUS_MPP
	and t1, t1, t0
	CHECK(21, t1, PRV_S << 11)
	csrc mstatus, t0
	csrr t1, mstatus
	and t1, t1, t0
	CHECK(22, t1, 0)
	/* MPP = 2 is reserved: the spec wants it refused (WARL), but QEMU
	 * 7.2, our reference, stores it. Only a value that is not one of
	 * the four encodings would be wrong in both: the write must not
	 * leak into neighbouring fields. */
	li t2, 2 << 11
	csrs mstatus, t2
	csrr t1, mstatus
	li t2, MSTATUS_SPP | MSTATUS_MPRV
	and t1, t1, t2
	CHECK(23, t1, 0)
	li t0, MSTATUS_MPP
	csrs mstatus, t0
	csrr t1, mstatus
	and t1, t1, t0
	CHECK(24, t1, MSTATUS_MPP)

	/* ---- FS and SD ---- */
	li t0, MSTATUS_FS
	csrc mstatus, t0
	li t0, MSTATUS_FS_CLEAN
	csrs mstatus, t0
	csrr t1, mstatus
	srli t2, t1, 63
	CHECK(25, t2, 0)			/* clean: SD = 0 */
	li t0, MSTATUS_FS
	and t2, t1, t0
	CHECK(26, t2, MSTATUS_FS_CLEAN)
	fmv.w.x ft0, zero			/* writes FP state */
	csrr t1, mstatus
	li t0, MSTATUS_FS
	and t2, t1, t0
	CHECK(27, t2, MSTATUS_FS_DIRTY)
	srli t2, t1, 63
	CHECK(28, t2, 1)			/* SD follows */
	csrr t1, sstatus
	srli t2, t1, 63
	CHECK(29, t2, 1)			/* ...in sstatus too */
	li t0, MSTATUS_FS
	csrc mstatus, t0
	li t0, MSTATUS_FS_INIT
	csrs mstatus, t0
	csrwi fflags, 1				/* FP CSR write also dirties */
	csrr t1, mstatus
	li t0, MSTATUS_FS
	and t2, t1, t0
	CHECK(30, t2, MSTATUS_FS_DIRTY)

	/* ---- sstatus is a view of mstatus ---- */
	csrci mstatus, MSTATUS_SIE
	csrsi sstatus, MSTATUS_SIE
	csrr t1, mstatus
	andi t1, t1, MSTATUS_SIE
	CHECK(31, t1, MSTATUS_SIE)
	csrci mstatus, MSTATUS_SIE
	csrr t1, sstatus
	andi t1, t1, MSTATUS_SIE
	CHECK(32, t1, 0)
	csrr t1, sstatus			/* M-only fields are invisible */
	li t0, MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR | MSTATUS_MPRV
	and t1, t1, t0
	CHECK(33, t1, 0)

	/* ---- fflags / frm / fcsr ---- */
	csrwi fcsr, 0
	li t0, 0xff
	csrw fcsr, t0
	csrr t1, fflags
	CHECK(34, t1, 0x1f)
	csrr t1, frm
	CHECK(35, t1, 7)
	csrwi frm, 2
	csrr t1, fcsr
	CHECK(36, t1, (2 << 5) | 0x1f)
	csrwi fflags, 0x5
	csrr t1, fcsr
	CHECK(37, t1, (2 << 5) | 0x5)
	li t0, -1
	csrw fcsr, t0
	csrr t1, fcsr
	CHECK(38, t1, 0xff)			/* bits 8.. read zero */
	csrwi fcsr, 0

	/* ---- counters, M-mode ---- */
	rdcycle t0
	li t2, 100
1:	addi t2, t2, -1
	bnez t2, 1b
	rdcycle t1
	li gp, 39
	bgeu t0, t1, fail_far
	rdinstret t0
	nop
	nop
	rdinstret t1
	sub t1, t1, t0
	li gp, 40
	bltz t1, fail_far			/* >= 3 later, never backwards */
	beqz t1, fail_far
	/* The time CSR may be absent and emulated by M-mode software
	 * (QEMU's spike machine does that: illegal instruction). If it
	 * is there it must tick and follow the CLINT's mtime. s3 = 1 when
	 * it is present. */
	li s3, 0
	TRAP_ARM(3f)
	rdtime t0
	li s3, 1
	TRAP_DISARM
3:	beqz s3, 4f
	li t2, 1000000
1:	rdtime t1
	bne t1, t0, 2f
	addi t2, t2, -1
	bnez t2, 1b
	FAIL(41)				/* time never moved */
2:	li gp, 42
	bltu t1, t0, fail_far
	li t0, CLINT_MTIME			/* time mirrors the CLINT */
	ld t0, 0(t0)
	rdtime t1
	li gp, 43
	bltu t1, t0, fail_far
	j 5f
4:	CHECK_CAUSE(44, CAUSE_ILLEGAL)		/* absent: must be illegal */
5:
	csrr t0, mcycle				/* M-level names work too */
	csrr t1, minstret

	/* ---- mcounteren / scounteren gate S and U ---- */
	csrw mcounteren, zero
	csrw scounteren, zero
	TRAP_IN(45, PRV_S, CAUSE_ILLEGAL, rdcycle t0)
	TRAP_IN(46, PRV_S, CAUSE_ILLEGAL, rdtime t0)
	TRAP_IN(47, PRV_S, CAUSE_ILLEGAL, rdinstret t0)
	li t0, 7				/* CY, TM, IR */
	csrw mcounteren, t0
	TRAP_IN(48, PRV_S, CAUSE_ECALL_S, rdcycle t0; rdinstret t0; beqz s3, 1f; rdtime t0; 1:)
	TRAP_IN(49, PRV_U, CAUSE_ILLEGAL, rdcycle t0)	/* scounteren = 0 */
	li t0, 7
	csrw scounteren, t0
	TRAP_IN(50, PRV_U, CAUSE_ECALL_U, rdcycle t0; rdinstret t0; beqz s3, 1f; rdtime t0; 1:)
	li t0, 5				/* CY, IR: time off */
	csrw mcounteren, t0
	TRAP_IN(51, PRV_U, CAUSE_ILLEGAL, rdtime t0)
	TRAP_IN(52, PRV_S, CAUSE_ILLEGAL, rdtime t0)
	csrw mcounteren, zero
	csrw scounteren, zero
	TRAP_IN(53, PRV_S, CAUSE_ILLEGAL, csrr t0, mstatus)	/* M CSR from S */

	/* ---- WARL odds and ends ---- */
	/* mepc[0] is always 0 per the spec, but QEMU 7.2 (our reference)
	 * neither clears it on write nor masks it at mret, so that is not
	 * checked here; an even, 2-byte aligned mepc must round-trip. */
	la t0, 6f + 2
	csrw mepc, t0
	csrr t1, mepc
	CHECK_REGS(54, t1, t0)
6:
	csrw satp, zero
	li t0, (1 << 60) | 0x1234		/* reserved mode: no effect */
	csrw satp, t0
	csrr t1, satp
	CHECK(55, t1, 0)
1:
TEST_END

	.text
fail_far:
	GOTO_FAIL
