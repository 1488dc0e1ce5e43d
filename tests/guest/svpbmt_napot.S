# qemu-skip: QEMU 7.2 accepts PBMT = 3 and PBMT while menvcfg.PBMTE is clear
# svpbmt_napot.S - Sv39 PTE extensions (privileged spec, "Svpbmt" and
# "Svnapot"): PBMT NC/IO pages translate normally once menvcfg.PBMTE is set
# (and PBMT 3 never does); bits 60:54 stay reserved; N/PBMT in a non-leaf PTE
# fault; a 64 KiB NAPOT page (ppn[3:0] = 1000) maps va[15:12] into the
# physical page; N on a superpage or with another ppn[3:0] faults; PMP
# denying S-mode reads of a page table makes walks through it access faults.
#include "harness.h"

#define PTE_V	0x01
#define PTE_R	0x02
#define PTE_W	0x04
#define PTE_X	0x08
#define PTE_A	0x40
#define PTE_D	0x80
#define LEAF	(PTE_V | PTE_R | PTE_W | PTE_A | PTE_D)
#define PBMT_NC	(1 << 61)
#define PBMT_IO	(2 << 61)
#define PBMT_3	(3 << 61)
#define PTE_N	(1 << 63)
#define MENVCFG	0x30a
#define PBMTE	(1 << 62)
#define VA4K(i)	(0x40000000 + (i) * 0x1000)
#define VANAPOT	0x40010000

#define TRAP_IN(n, prv, cause, insns...)				\
	TRAP_ARM(90030f);						\
	GOTO_PRIV(prv, 90031f);						\
90031:									\
	insns;								\
	ecall;								\
90030:									\
	CHECK_CAUSE(n, cause)

/* table[idx] := pa(sym) PTE with flags (a 64-bit constant) */
#define PTE_SYM(table, idx, sym, flags)					\
	la t0, sym;							\
	srli t0, t0, 12;						\
	slli t0, t0, 10;						\
	li t1, flags;							\
	or t0, t0, t1;							\
	la t1, table + (idx) * 8;					\
	sd t0, 0(t1)

TEST_BEGIN
	PMP_OPEN_ALL
	/* root: 1G identity at 0x80000000, VA 0x40000000 -> l1 -> l0 */
	li t0, (0x80000000 >> 12) << 10 | LEAF | PTE_X
	la t1, pt_root + 2 * 8
	sd t0, 0(t1)
	PTE_SYM(pt_root, 1, pt_l1, PTE_V)
	PTE_SYM(pt_l1, 0, pt_l0, PTE_V)
	PTE_SYM(pt_l1, 1, pt_l0, PTE_V | PBMT_NC)	/* non-leaf with PBMT: reserved */
	PTE_SYM(pt_l1, 2, pt_l0, PTE_V | PTE_N)		/* non-leaf with N: reserved */
	PTE_SYM(pt_l1, 3, napot, LEAF | PTE_N)		/* 2M leaf with N */
	PTE_SYM(pt_l0, 0, page_a, LEAF | PBMT_NC)
	PTE_SYM(pt_l0, 1, page_a, LEAF | PBMT_IO)
	PTE_SYM(pt_l0, 2, page_a, LEAF | PBMT_3)
	PTE_SYM(pt_l0, 3, page_a, LEAF | (1 << 54))	/* reserved bit */
	PTE_SYM(pt_l0, 4, page_a, LEAF)
	/* NAPOT 64K: the 16 PTEs at VA 0x40010000, ppn[3:0] = 1000 */
	la t0, napot
	srli t0, t0, 12
	ori t0, t0, 8
	slli t0, t0, 10
	li t1, LEAF | PTE_N
	or t0, t0, t1
	la t1, pt_l0 + 16 * 8
	li t2, 16
1:	sd t0, 0(t1)
	addi t1, t1, 8
	addi t2, t2, -1
	bnez t2, 1b
	/* a NAPOT PTE with ppn[3:0] = 0100: reserved */
	la t0, napot
	srli t0, t0, 12
	ori t0, t0, 4
	slli t0, t0, 10
	li t1, LEAF | PTE_N
	or t0, t0, t1
	la t1, pt_l0 + 40 * 8
	sd t0, 0(t1)

	la t0, page_a
	li t1, 0xaaaa
	sd t1, 8(t0)
	la t0, napot
	li t1, 0x3008
	add t0, t0, t1
	li t1, 0x5555
	sd t1, 0(t0)

	la t0, pt_root
	srli t0, t0, 12
	li t1, 8 << 60
	or t0, t0, t1
	csrw satp, t0
	sfence.vma

	li a1, VA4K(4)
	TRAP_IN(1, PRV_S, CAUSE_ECALL_S, ld a0, 8(a1))
	CHECK(2, a0, 0xaaaa)
	/* ---- Svpbmt: reserved until menvcfg.PBMTE ---- */
	li a1, VA4K(0)
	TRAP_IN(30, PRV_S, CAUSE_LOAD_PAGE, ld a0, 8(a1))
	li t0, PBMTE
	csrs MENVCFG, t0
	csrr t1, MENVCFG
	and t1, t1, t0
	CHECK(3, t1, PBMTE)
	li a1, VA4K(0)
	TRAP_IN(4, PRV_S, CAUSE_ECALL_S, ld a0, 8(a1))
	CHECK(5, a0, 0xaaaa)
	li a1, VA4K(1)
	li a0, 0
	TRAP_IN(6, PRV_S, CAUSE_ECALL_S, ld a0, 8(a1); sd a0, 16(a1))
	CHECK(7, a0, 0xaaaa)
	li a1, VA4K(2)
	TRAP_IN(8, PRV_S, CAUSE_LOAD_PAGE, ld a0, 8(a1))
	CHECK_TVAL(9, VA4K(2) + 8)
	li a1, VA4K(3)
	TRAP_IN(10, PRV_S, CAUSE_LOAD_PAGE, ld a0, 8(a1))
	li a1, 0x40200000
	TRAP_IN(11, PRV_S, CAUSE_STORE_PAGE, sd a0, 0x20(a1))
	CHECK_TVAL(12, 0x40200020)
	li a1, 0x40400000
	TRAP_IN(13, PRV_S, CAUSE_LOAD_PAGE, ld a0, 0(a1))
	/* ---- Svnapot ---- */
	li a1, VANAPOT + 0x3008
	li a0, 0
	TRAP_IN(20, PRV_S, CAUSE_ECALL_S, ld a0, 0(a1))
	CHECK(21, a0, 0x5555)
	li a1, VANAPOT + 0xfff8
	li a0, 0x6666
	TRAP_IN(22, PRV_S, CAUSE_ECALL_S, sd a0, 0(a1))
	la t0, napot
	li t1, 0xfff8
	add t0, t0, t1
	ld t0, 0(t0)
	CHECK(23, t0, 0x6666)
	li a1, VA4K(40)
	TRAP_IN(24, PRV_S, CAUSE_LOAD_PAGE, ld a0, 0(a1))
	li a1, 0x40600000
	TRAP_IN(25, PRV_S, CAUSE_LOAD_PAGE, ld a0, 0(a1))
	/* ---- PMP on page-table reads: S may not read pt_l0 -> access fault of the access's kind ---- */
	la t0, pt_l0
	srli t0, t0, 2
	ori t0, t0, 0x1ff
	csrw pmpaddr0, t0
	li t0, -1
	csrw pmpaddr1, t0
	li t0, (0x1f << 8) | 0x18	/* entry 0: NAPOT no access; entry 1: everything */
	csrw pmpcfg0, t0
	li a1, VA4K(4)
	TRAP_IN(50, PRV_S, CAUSE_LOAD_ACCESS, ld a0, 8(a1))
	CHECK_TVAL(51, VA4K(4) + 8)
	TRAP_IN(52, PRV_S, CAUSE_STORE_ACCESS, sd a0, 16(a1))
	CHECK_TVAL(53, VA4K(4) + 16)
	li a1, VANAPOT
	TRAP_IN(54, PRV_S, CAUSE_LOAD_ACCESS, ld a0, 0(a1))
	/* the root and the 1G identity leaf stay readable: S still runs */
	li t0, 0x1f
	csrw pmpcfg0, t0
	li t0, -1
	csrw pmpaddr0, t0
	li a1, VA4K(4)
	TRAP_IN(55, PRV_S, CAUSE_ECALL_S, ld a0, 8(a1))
	csrw satp, zero
	sfence.vma
TEST_END

	.data
	.align 12
pt_root: .skip 4096
pt_l1:	.skip 4096
pt_l0:	.skip 4096
page_a:	.skip 4096
	.align 16
napot:	.skip 65536
