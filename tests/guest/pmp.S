# pmp.S - physical memory protection enforced (privileged spec 3.7): S and U
# loads/stores/fetches into protected ranges fault with the access-fault
# cause and tval = the address; NAPOT, NA4 and TOR matching; the lowest-
# numbered matching entry wins; M-mode passes unlocked entries but not with
# MPRV (MPP = S); no matching entry denies S/U once entries are set; a locked
# entry binds M-mode and ignores writes to its pmpcfg byte and pmpaddr.
#include "harness.h"

/* Run insns in privilege prv; they must trap to M with `cause`. */
#define TRAP_IN(n, prv, cause, insns...)				\
	TRAP_ARM(90030f);						\
	GOTO_PRIV(prv, 90031f);						\
90031:									\
	insns;								\
	ecall;								\
90030:									\
	CHECK_CAUSE(n, cause)

/* insns must not trap in prv (the ecall after them does). */
#define RUN_IN(n, prv, insns...)					\
	TRAP_IN(n, prv, CAUSE_ECALL_U + prv, insns)

#define NAPOT_4K(sym)	((sym >> 2) | 0x1ff)
#define A_TOR	0x08
#define A_NA4	0x10
#define A_NAPOT	0x18
#define P_R	1
#define P_W	2
#define P_X	4
#define P_L	0x80

TEST_BEGIN
	la a0, prot
	la a1, ro_page
	la a2, tor_page
	la a3, noexec
	/* entry 0: prot page, no access */
	srli t0, a0, 2
	ori t0, t0, 0x1ff
	csrw pmpaddr0, t0
	/* entry 1: the first word of ro_page, read-only */
	srli t0, a1, 2
	csrw pmpaddr1, t0
	/* entries 2-3: TOR [tor_page, tor_page + 4K), execute only */
	srli t0, a2, 2
	csrw pmpaddr2, t0
	li t1, 4096
	add t0, a2, t1
	srli t0, t0, 2
	csrw pmpaddr3, t0
	/* entry 4: noexec page, RW */
	srli t0, a3, 2
	ori t0, t0, 0x1ff
	csrw pmpaddr4, t0
	/* entry 7: everything, RWX (lowest priority) */
	li t0, -1
	csrw pmpaddr7, t0
	li t0, ((A_NAPOT | P_R | P_W | P_X) << 56) | ((A_NAPOT | P_R | P_W) << 32) | ((A_TOR | P_X) << 24) | ((A_NA4 | P_R) << 8) | A_NAPOT
	csrw pmpcfg0, t0
	csrr t1, pmpcfg0
	CHECK_REGS(1, t0, t1)

	/* ---- NAPOT, no permissions: S and U fault, tval = address ---- */
	li s2, 0xffc
	add s2, a0, s2
	li s4, 0xff8
	add s4, a2, s4
	TRAP_IN(2, PRV_S, CAUSE_LOAD_ACCESS, ld t0, 0x10(a0))
	CHECK_TVAL_ADDR(3, prot + 0x10)
	CHECK_FROM_PRIV(4, PRV_S)
	TRAP_IN(5, PRV_S, CAUSE_STORE_ACCESS, sw zero, 0(s2))
	CHECK_TVAL_ADDR(6, prot + 0xffc)
	TRAP_IN(7, PRV_U, CAUSE_LOAD_ACCESS, lbu t0, 0(a0))
	CHECK_TVAL_ADDR(8, prot)
	CHECK_FROM_PRIV(9, PRV_U)
	TRAP_IN(10, PRV_U, CAUSE_STORE_ACCESS, sd zero, 8(a0))
	/* the page after it is allowed (entry 7) */
	RUN_IN(11, PRV_S, ld t0, 8(a1))
	/* an AMO on a read-only word is a store access fault */
	TRAP_IN(12, PRV_S, CAUSE_STORE_ACCESS, amoadd.w t0, zero, (a1))
	/* M-mode ignores unlocked entries */
	ld t0, 0(a0)
	sd t0, 0(a0)
	/* ...but not with MPRV and MPP = S */
	li t0, MSTATUS_MPP
	csrc mstatus, t0
	li t0, (PRV_S << 11) | MSTATUS_MPRV
	csrs mstatus, t0
	TRAP_ARM(1f)
	ld t0, 0x20(a0)
1:	CHECK_CAUSE(13, CAUSE_LOAD_ACCESS)
	CHECK_TVAL_ADDR(14, prot + 0x20)
	/* the trap left MPRV set but MPP = M now: M's own rules again */
	li t0, MSTATUS_MPRV
	csrc mstatus, t0
	ld t0, 0(a0)

	/* ---- NA4 read-only word ---- */
	li t0, 0x1234
	sw t0, 0(a1)
	RUN_IN(20, PRV_S, lw t0, 0(a1); sw t0, 4(a1))
	TRAP_IN(21, PRV_S, CAUSE_STORE_ACCESS, sw zero, 0(a1))
	CHECK_TVAL_ADDR(22, ro_page)
	TRAP_IN(23, PRV_U, CAUSE_STORE_ACCESS, sb zero, 3(a1))
	CHECK_TVAL_ADDR(24, ro_page + 3)
	lw t0, 0(a1)
	CHECK(25, t0, 0x1234)

	/* ---- TOR, execute only: no loads ---- */
	TRAP_IN(30, PRV_S, CAUSE_LOAD_ACCESS, ld t0, 0(a2))
	TRAP_IN(31, PRV_S, CAUSE_STORE_ACCESS, sd zero, 0(s4))
	CHECK_TVAL_ADDR(32, tor_page + 0xff8)
	/* the TOR top is exclusive: the next page is entry 4's (RW) */
	RUN_IN(33, PRV_S, ld t0, 0(a3))

	/* ---- fetch from a page without X ---- */
	TRAP_IN(40, PRV_S, CAUSE_FETCH_ACCESS, jalr a3)
	CHECK_TVAL_ADDR(41, noexec)
	CHECK_EPC(42, noexec)
	RUN_IN(43, PRV_S, ld t0, 0(a3))

	/* ---- priority: an earlier entry granting wins over a later one ---- */
	srli t0, a0, 2
	ori t0, t0, 0x1ff
	csrw pmpaddr6, t0		/* entry 6: prot page RW, after entry 0 */
	li t0, (A_NAPOT | P_R | P_W) << 48
	csrs pmpcfg0, t0
	TRAP_IN(50, PRV_S, CAUSE_LOAD_ACCESS, ld t0, 0(a0))
	csrw pmpaddr0, zero		/* entry 0 now guards 0..7 only */
	RUN_IN(51, PRV_S, ld t0, 0(a0))

	/* ---- no matching entry: S/U denied once any entry is set ---- */
	li t0, 0xffull << 56
	csrc pmpcfg0, t0		/* entry 7 off */
	TRAP_ARM(1f)
	GOTO_PRIV(PRV_S, 2f)
2:	ecall
1:	CHECK_CAUSE(60, CAUSE_FETCH_ACCESS)
	CHECK_TVAL_ADDR(61, 2b)
	/* M still runs and loads anywhere... */
	lw t0, 0(a1)
	/* ...but an access only partly inside an entry fails, even in M (3.7.1.4) */
	TRAP_ARM(1f)
	ld t0, 0(a1)
1:	CHECK_CAUSE(63, CAUSE_LOAD_ACCESS)
	li t0, (A_NAPOT | P_R | P_W | P_X) << 56
	csrs pmpcfg0, t0
	RUN_IN(62, PRV_S, lw t0, 0(a1))

	/* ---- lock: binds M, freezes its pmpcfg byte and pmpaddr ---- */
	la a5, lockword
	srli t0, a5, 2
	csrw pmpaddr5, t0
	li t0, (P_L | A_NA4) << 40
	csrs pmpcfg0, t0
	TRAP_ARM(1f)
	lw t0, 0(a5)
1:	CHECK_CAUSE(70, CAUSE_LOAD_ACCESS)
	CHECK_TVAL_ADDR(71, lockword)
	csrw pmpaddr5, zero
	csrr t0, pmpaddr5
	srli t1, a5, 2
	CHECK_REGS(72, t0, t1)
	li t0, 0xffull << 40
	csrc pmpcfg0, t0
	csrr t0, pmpcfg0
	srli t0, t0, 40
	andi t0, t0, 0xff
	CHECK(73, t0, P_L | A_NA4)
	/* the word next to it is not locked */
	lw t0, 4(a5)
TEST_END

	.data
	.align 12
prot:	.skip 4096
ro_page: .skip 4096
tor_page: .skip 4096
noexec:	.word 0x00008067	/* jalr x0, 0(ra) */
	.align 12
lockword: .word 0, 0
