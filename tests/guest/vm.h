/*
 * vm.h - body shared by vm_sv39.S and vm_sv48.S (privileged spec,
 * "Supervisor-Level ISA": Sv39, Sv48, "Virtual Address Translation
 * Process"). The including file defines SATP_MODE (8 or 9) and LEVELS
 * (3 or 4) and includes harness.h first.
 *
 * Virtual layout (S-mode code runs from an identity 1 GiB page):
 *   0x0080000000  1G leaf, identity (code, data, page tables)
 *   0x00c0000000  1G leaf -> PA 0x80000000 (non-identity superpage)
 *   0x0100000000  1G leaf with a PPN that is only 2M-aligned (fault)
 *   0x0040000000  4K pages, one per case (see VA4K below)
 *   0x0040200000  2M leaf -> PA 0x80600000
 *   0x0040400000  2M leaf with a PPN that is only 4K-aligned (fault)
 * Faults are not delegated (they reach M, mcause/mtval) except in the
 * medeleg case, which checks scause/stval in an S handler.
 */
#ifndef KILN_TEST_VM_H
#define KILN_TEST_VM_H

#define PTE_V	0x01
#define PTE_R	0x02
#define PTE_W	0x04
#define PTE_X	0x08
#define PTE_U	0x10
#define PTE_G	0x20
#define PTE_A	0x40
#define PTE_D	0x80
#define PTE_RWX	(PTE_R | PTE_W | PTE_X)
#define PTE_AD	(PTE_A | PTE_D)

#define VA4K(i)		(0x40000000 + (i) * 0x1000)
#define VA2M		0x40200000
#define PA2M		0x80600000
#define VA2M_BAD	0x40400000
#define VA1G_ALIAS	0xc0000000
#define VA1G_BAD	0x100000000

/* table[idx] = leaf/pointer PTE for physical address pa (register) */
#define PTE_PUT(table, idx, pa_reg, flags)				\
	srli t0, pa_reg, 12;						\
	slli t0, t0, 10;						\
	ori t0, t0, flags;						\
	la t1, table;							\
	li t2, (idx) * 8;						\
	add t1, t1, t2;							\
	sd t0, 0(t1)

#define PTE_SYM(table, idx, sym, flags)					\
	la t3, sym;							\
	PTE_PUT(table, idx, t3, flags)

#define PTE_PA(table, idx, pa, flags)					\
	li t3, pa;							\
	PTE_PUT(table, idx, t3, flags)

/* t0 = the PTE table[idx] */
#define PTE_GET(table, idx)						\
	la t1, table;							\
	li t2, (idx) * 8;						\
	add t1, t1, t2;							\
	ld t0, 0(t1)

/* Run insns in prv; they must end in a trap to M with `cause`. */
#define TRAP_IN(n, prv, cause, insns...)				\
	TRAP_ARM(90030f);						\
	GOTO_PRIV(prv, 90031f);						\
90031:									\
	insns;								\
	ecall;								\
90030:									\
	CHECK_CAUSE(n, cause)

/* Jump (in prv) to virtual address va; must end in a trap with cause. */
#define JUMP_IN(n, prv, cause, va)					\
	TRAP_ARM(90032f);						\
	li t6, MSTATUS_MPP;						\
	csrc mstatus, t6;						\
	li t6, (prv) << 11;						\
	csrs mstatus, t6;						\
	li t6, va;							\
	csrw mepc, t6;							\
	mret;								\
90032:									\
	CHECK_CAUSE(n, cause)

/* offsets inside code_page (assembled norvc, so fixed) */
#define OFF_code_s	0
#define OFF_code_u_load	8
#define CODE_OFF(sym)	OFF_##sym

TEST_BEGIN
	PMP_OPEN_ALL

	/* ---- build the tables ---- */
#if LEVELS == 4
	PTE_SYM(pt_root, 0, pt_g, PTE_V)	/* VA[47:39] = 0 */
#endif
	PTE_PA(pt_g, 2, 0x80000000, PTE_V | PTE_RWX | PTE_AD)
	PTE_PA(pt_g, 3, 0x80000000, PTE_V | PTE_R | PTE_W | PTE_AD)
	PTE_PA(pt_g, 4, 0x80200000, PTE_V | PTE_R | PTE_W | PTE_AD)
	PTE_SYM(pt_g, 1, pt_l1, PTE_V)
	PTE_SYM(pt_l1, 0, pt_l0, PTE_V)
	PTE_PA(pt_l1, 1, PA2M, PTE_V | PTE_R | PTE_W | PTE_AD)
	PTE_PA(pt_l1, 2, PA2M + 0x1000, PTE_V | PTE_R | PTE_W | PTE_AD)
	PTE_SYM(pt_l0, 0, page_a, PTE_V | PTE_R | PTE_W)	/* A, D clear */
	PTE_SYM(pt_l0, 1, page_a, PTE_V | PTE_R | PTE_A)	/* read-only */
	PTE_SYM(pt_l0, 2, page_a, PTE_V | PTE_X | PTE_A)	/* execute-only */
	PTE_SYM(pt_l0, 3, code_page, PTE_V | PTE_R | PTE_X | PTE_U | PTE_A)
	PTE_SYM(pt_l0, 4, page_b, PTE_V | PTE_R | PTE_W | PTE_U | PTE_AD)
	PTE_SYM(pt_l0, 5, page_a, PTE_V | PTE_W | PTE_AD)	/* W without R */
	PTE_SYM(pt_l0, 6, page_a, PTE_R | PTE_W | PTE_AD)	/* not valid */
	PTE_SYM(pt_l0, 7, page_c, PTE_V | PTE_R | PTE_W | PTE_AD)
	PTE_SYM(pt_l0, 8, code_page, PTE_V | PTE_R | PTE_X | PTE_A)

	/* data the S-mode loads should see */
	la t0, page_a
	li t1, 0xaaaa0001
	sd t1, 0(t0)
	la t0, page_b
	li t1, 0xbbbb0002
	sd t1, 16(t0)
	la t0, page_c
	li t1, 0xcccc0003
	sd t1, 0(t0)
	la t0, page_d
	li t1, 0xdddd0004
	sd t1, 0(t0)
	li t0, PA2M + 0x12348
	li t1, 0x22220005
	sd t1, 0(t0)

	la t0, pt_root
	srli t0, t0, 12
	li t1, SATP_MODE << 60
	or t0, t0, t1
	csrw satp, t0
	csrr t1, satp
	CHECK_REGS(1, t1, t0)			/* the mode is supported */
	sfence.vma

	/* ---- 1G identity: S runs its code through it ---- */
	TRAP_IN(2, PRV_S, CAUSE_ECALL_S, li a0, 1)

	/* ---- 4K non-identity page, A/D set by hardware ---- */
	li a1, VA4K(0)
	TRAP_IN(3, PRV_S, CAUSE_ECALL_S, ld a0, 0(a1))
	CHECK(4, a0, 0xaaaa0001)
	PTE_GET(pt_l0, 0)
	andi t0, t0, PTE_AD
	CHECK(5, t0, PTE_A)			/* accessed, not dirty */
	li a0, 0x5a5a
	TRAP_IN(6, PRV_S, CAUSE_ECALL_S, sd a0, 8(a1))
	la t0, page_a
	ld t0, 8(t0)
	CHECK(7, t0, 0x5a5a)
	PTE_GET(pt_l0, 0)
	andi t0, t0, PTE_AD
	CHECK(8, t0, PTE_AD)			/* now dirty too */

	/* ---- permissions ---- */
	li a1, VA4K(1)				/* read-only */
	TRAP_IN(9, PRV_S, CAUSE_ECALL_S, ld a0, 0(a1))
	CHECK(10, a0, 0xaaaa0001)
	TRAP_IN(11, PRV_S, CAUSE_STORE_PAGE, sd a0, 8(a1))
	CHECK_TVAL(12, VA4K(1) + 8)
	li a1, VA4K(2)				/* execute-only */
	TRAP_IN(13, PRV_S, CAUSE_LOAD_PAGE, ld a0, 16(a1))
	CHECK_TVAL(14, VA4K(2) + 16)
	li t0, MSTATUS_MXR			/* MXR: X pages become readable */
	csrs mstatus, t0
	TRAP_IN(15, PRV_S, CAUSE_ECALL_S, ld a0, 0(a1))
	CHECK(16, a0, 0xaaaa0001)
	li t0, MSTATUS_MXR
	csrc mstatus, t0

	/* U pages from S: data needs SUM, execution never */
	li a1, VA4K(4)
	TRAP_IN(17, PRV_S, CAUSE_LOAD_PAGE, ld a0, 16(a1))
	CHECK_TVAL(18, VA4K(4) + 16)
	li t0, MSTATUS_SUM
	csrs mstatus, t0
	TRAP_IN(19, PRV_S, CAUSE_ECALL_S, ld a0, 16(a1))
	CHECK(20, a0, 0xbbbb0002)
	JUMP_IN(21, PRV_S, CAUSE_FETCH_PAGE, VA4K(3) + CODE_OFF(code_s))
	CHECK_TVAL(22, VA4K(3) + CODE_OFF(code_s))
	li t0, MSTATUS_SUM
	csrc mstatus, t0

	/* U executes its own page, cannot touch S pages */
	li a0, 0
	JUMP_IN(23, PRV_U, CAUSE_ECALL_U, VA4K(3) + CODE_OFF(code_s))
	CHECK(24, a0, 0x99)
	li a1, VA4K(0)
	JUMP_IN(25, PRV_U, CAUSE_LOAD_PAGE, VA4K(3) + CODE_OFF(code_u_load))
	CHECK_TVAL(26, VA4K(0) + 16)
	li a1, VA4K(4)				/* ...but U pages are fine */
	JUMP_IN(27, PRV_U, CAUSE_ECALL_U, VA4K(3) + CODE_OFF(code_u_load))
	CHECK(28, a0, 0xbbbb0002)

	/* S executes through a non-identity 4K mapping */
	li a0, 0
	JUMP_IN(29, PRV_S, CAUSE_ECALL_S, VA4K(8) + CODE_OFF(code_s))
	CHECK(30, a0, 0x99)

	/* reserved W-without-R, and invalid PTEs */
	li a1, VA4K(5)
	TRAP_IN(31, PRV_S, CAUSE_LOAD_PAGE, ld a0, 0(a1))
	TRAP_IN(32, PRV_S, CAUSE_STORE_PAGE, sd a0, 0(a1))
	li a1, VA4K(6)
	TRAP_IN(33, PRV_S, CAUSE_LOAD_PAGE, ld a0, 0(a1))
	CHECK_TVAL(34, VA4K(6))
	TRAP_IN(35, PRV_S, CAUSE_STORE_PAGE, sd a0, 0(a1))
	JUMP_IN(36, PRV_S, CAUSE_FETCH_PAGE, VA4K(6) + 0x40)
	CHECK_TVAL(37, VA4K(6) + 0x40)

	/* ---- superpages ---- */
	li a1, VA2M + 0x12348
	TRAP_IN(38, PRV_S, CAUSE_ECALL_S, ld a0, 0(a1))
	CHECK(39, a0, 0x22220005)
	li a1, VA2M_BAD
	TRAP_IN(40, PRV_S, CAUSE_LOAD_PAGE, ld a0, 0(a1))
	CHECK_TVAL(41, VA2M_BAD)
	la a1, page_a				/* 1G alias of the RAM gigabyte */
	li t0, VA1G_ALIAS - 0x80000000
	add a1, a1, t0
	TRAP_IN(42, PRV_S, CAUSE_ECALL_S, ld a0, 0(a1))
	CHECK(43, a0, 0xaaaa0001)
	li a1, VA1G_BAD
	TRAP_IN(44, PRV_S, CAUSE_STORE_PAGE, sd a0, 0(a1))
	CHECK_TVAL(45, VA1G_BAD)

	/* ---- sfence.vma makes a changed PTE visible ---- */
	li a1, VA4K(7)
	TRAP_IN(46, PRV_S, CAUSE_ECALL_S, ld a0, 0(a1))
	CHECK(47, a0, 0xcccc0003)
	PTE_SYM(pt_l0, 7, page_d, PTE_V | PTE_R | PTE_W | PTE_AD)
	TRAP_IN(48, PRV_S, CAUSE_ECALL_S, sfence.vma a1, zero; ld a0, 0(a1))
	CHECK(49, a0, 0xdddd0004)
	PTE_SYM(pt_l0, 7, page_c, PTE_V | PTE_R | PTE_W | PTE_AD)
	TRAP_IN(50, PRV_S, CAUSE_ECALL_S, sfence.vma; ld a0, 0(a1))
	CHECK(51, a0, 0xcccc0003)

	/* ---- non-canonical address ---- */
#if LEVELS == 3
#define NONCANON	0x0000008000000000	/* bit 39 != bit 38 */
#else
#define NONCANON	0x0001000000000000	/* bit 48 != bit 47 */
#endif
	li a1, NONCANON
	TRAP_IN(52, PRV_S, CAUSE_LOAD_PAGE, ld a0, 0(a1))
	TRAP_IN(53, PRV_S, CAUSE_STORE_PAGE, sd a0, 0(a1))

	/* ---- a delegated page fault: scause / stval in S ---- */
	la t0, s_handler
	csrw stvec, t0
	li t0, 1 << CAUSE_LOAD_PAGE
	csrs medeleg, t0
	la s2, s_record
	li a1, VA4K(6) + 0x18
	TRAP_IN(54, PRV_S, CAUSE_ECALL_S, ld a0, 0(a1))	/* handler ecalls */
	ld t0, 0(s2)
	CHECK(55, t0, CAUSE_LOAD_PAGE)
	ld t0, 8(s2)
	CHECK(56, t0, VA4K(6) + 0x18)
	csrw medeleg, zero

	/* ---- M-mode is never translated; MPRV translates its data ---- */
	li a1, VA4K(0)
	la t0, page_a
	ld a0, 0(t0)
	CHECK(57, a0, 0xaaaa0001)
	li t0, MSTATUS_MPP
	csrc mstatus, t0
	li t0, (PRV_S << 11) | MSTATUS_MPRV
	csrs mstatus, t0
	ld a0, 0(a1)				/* as S: through the page table */
	li t0, MSTATUS_MPRV
	csrc mstatus, t0
	CHECK(58, a0, 0xaaaa0001)

	csrw satp, zero
	sfence.vma
TEST_END

	.text
	.option push
	.option norvc
	.align 12
code_page:
code_s:					/* runs in S or U via VA4K(3)/(8) */
	li a0, 0x99
	ecall
code_u_load:
	ld a0, 16(a1)
	ecall
	.option pop
	.align 12

	.align 2
s_handler:
	csrr t0, scause
	sd t0, 0(s2)
	csrr t0, stval
	sd t0, 8(s2)
	ecall

	.data
	.align 4
s_record: .dword 0, 0

	.bss
	.align 12
pt_root: .skip 4096
#if LEVELS == 4
pt_g:	.skip 4096
#else
	.set pt_g, pt_root
#endif
pt_l1:	.skip 4096
pt_l0:	.skip 4096
page_a:	.skip 4096
page_b:	.skip 4096
page_c:	.skip 4096
page_d:	.skip 4096

#endif /* KILN_TEST_VM_H */
