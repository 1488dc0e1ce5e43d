# qemu-skip: QEMU 7.2 ignores the m/s/u bits, lacks mcontrol6 and tcontrol
# sdtrig.S - the Sdtrig trigger module (debug spec 1.0 chapter 5): tselect
# indexes the triggers (an out-of-range write is not kept), tinfo lists
# mcontrol (2) and mcontrol6 (6); execute, load and store address triggers
# of both types raise a breakpoint exception (cause 3) before the
# instruction, with mepc at it and mtval the matched address, only in the
# modes their m/s/u bits select; equal, napot and >= matches; the hit bit;
# tcontrol.mte gating M-mode triggers and its mpte stack across trap/mret.
#include "harness.h"

#define CSR_TSELECT	0x7a0
#define CSR_TDATA1	0x7a1
#define CSR_TDATA2	0x7a2
#define CSR_TINFO	0x7a4
#define CSR_TCONTROL	0x7a5
#define MC		(2 << 60)
#define MC6		(6 << 60)
#define T_M		(1 << 6)
#define T_S		(1 << 4)
#define T_U		(1 << 3)
#define T_X		4
#define T_ST		2
#define T_LD		1
#define MATCH_NAPOT	(1 << 7)
#define MATCH_GE	(2 << 7)
#define MC_HIT		(1 << 20)

#define TRAP_IN(n, prv, cause, insns...)				\
	TRAP_ARM(90030f);						\
	GOTO_PRIV(prv, 90031f);						\
90031:									\
	insns;								\
	ecall;								\
90030:									\
	CHECK_CAUSE(n, cause)

#define RUN_IN(n, prv, insns...)					\
	TRAP_IN(n, prv, CAUSE_ECALL_U + prv, insns)

/* mtval is the matched address on kiln; QEMU 7.2 leaves 0, which the
 * privileged spec also allows (3.1.16). */
#define CHECK_TVAL_BP(n, sym)						\
	la t5, trap_info;						\
	ld t5, TI_TVAL(t5);						\
	beqz t5, 90005f;						\
	la t4, sym;							\
	CHECK_REGS(n, t5, t4);						\
90005:

/* Trigger 0 := (tdata1, tdata2). */
#define SET_TRIG(t1, t2)						\
	csrw CSR_TSELECT, zero;						\
	csrw CSR_TDATA1, zero;						\
	li t0, t2;							\
	csrw CSR_TDATA2, t0;						\
	li t0, t1;							\
	csrw CSR_TDATA1, t0

TEST_BEGIN
	PMP_OPEN_ALL
	/* ---- tselect / tinfo ---- */
	li t0, 1
	csrw CSR_TSELECT, t0
	csrr t1, CSR_TSELECT
	CHECK(1, t1, 1)
	li t0, 1000
	csrw CSR_TSELECT, t0
	csrr t1, CSR_TSELECT
	li t0, 1000
	bne t0, t1, 1f
	FAIL(2)
1:	csrr t0, CSR_TINFO
	andi t1, t0, (1 << 2)
	CHECK(3, t1, 1 << 2)
	andi t1, t0, (1 << 6)
	CHECK(4, t1, 1 << 6)

	/* ---- execute, mcontrol, S-mode ---- */
	la a0, xtarget
	SET_TRIG(MC | T_S | T_X, 0)
	csrw CSR_TDATA2, a0
	csrr t1, CSR_TDATA2
	CHECK_REGS(10, t1, a0)
	TRAP_IN(11, PRV_S, CAUSE_BREAKPOINT, nop; nop; call xtarget)
	CHECK_EPC(12, xtarget)
	CHECK_TVAL_BP(13, xtarget)
	CHECK_FROM_PRIV(14, PRV_S)
	/* hit (optional in the spec; kiln sets it, QEMU 7.2 does not): read back the rest */
	csrr t0, CSR_TDATA1
	li t1, ~MC_HIT & ((0xf << 60) | 0x7ff)
	and t0, t0, t1
	CHECK(15, t0, MC | T_S | T_X)
	/* not in U (u bit clear) */
	RUN_IN(16, PRV_U, call xtarget)
	/* M-mode: m bit set but tcontrol.mte clear: no trap */
	SET_TRIG(MC | T_M | T_X, 0)
	csrw CSR_TDATA2, a0
	csrw CSR_TCONTROL, zero
	call xtarget
	/* with tcontrol.mte it fires in M; the trap moves mte to mpte, mret back */
	li t0, 1 << 3
	csrw CSR_TCONTROL, t0
	TRAP_ARM(1f)
	call xtarget
1:	CHECK_CAUSE(18, CAUSE_BREAKPOINT)
	CHECK_FROM_PRIV(19, PRV_M)
	csrr t0, CSR_TCONTROL
	CHECK(9, t0, (1 << 3) | (1 << 7))	/* mpte kept, mte restored from it by the mret */
	csrw CSR_TDATA1, zero
	csrw CSR_TCONTROL, zero
	/* disabled trigger (tdata1 = 0) never fires */
	csrw CSR_TDATA1, zero
	RUN_IN(17, PRV_S, call xtarget)

	/* ---- load, mcontrol6, U-mode ---- */
	la a1, watched
	SET_TRIG(MC6 | T_U | T_LD, 0)
	csrw CSR_TDATA2, a1
	TRAP_ARM(1f)
	GOTO_PRIV(PRV_U, 2f)
2:	ld t0, 0(a1)
	ecall
1:	CHECK_CAUSE(20, CAUSE_BREAKPOINT)
	CHECK_EPC(21, 2b)
	CHECK_TVAL_BP(22, watched)
	/* a store to it is not a load */
	RUN_IN(23, PRV_U, sd zero, 0(a1))
	/* a neighbouring doubleword does not match */
	RUN_IN(24, PRV_U, ld t0, 8(a1))

	/* ---- store, mcontrol, S-mode; loads pass ---- */
	SET_TRIG(MC | T_S | T_ST, 0)
	csrw CSR_TDATA2, a1
	li t2, 0x55
	sd t2, 0(a1)
	TRAP_IN(30, PRV_S, CAUSE_BREAKPOINT, ld t0, 0(a1); sw zero, 0(a1))
	CHECK_TVAL_BP(31, watched)
	/* the store did not happen */
	ld t0, 0(a1)
	CHECK(32, t0, 0x55)
	/* an AMO is a store too */
	TRAP_IN(33, PRV_S, CAUSE_BREAKPOINT, amoadd.d t0, zero, (a1))

	/* ---- napot: 16 bytes at watched ---- */
	la t1, watched
	ori t1, t1, 7			/* napot size 16: three... low bits 0111 */
	SET_TRIG(MC6 | MATCH_NAPOT | T_S | T_LD, 0)
	csrw CSR_TDATA2, t1
	TRAP_IN(40, PRV_S, CAUSE_BREAKPOINT, ld t0, 8(a1))
	CHECK_TVAL_BP(41, watched + 8)
	RUN_IN(42, PRV_S, ld t0, 16(a1))

	/* ---- >= match ---- */
	SET_TRIG(MC | MATCH_GE | T_S | T_LD, 0)
	addi t1, a1, 16
	csrw CSR_TDATA2, t1
	RUN_IN(50, PRV_S, ld t0, 8(a1))
	TRAP_IN(51, PRV_S, CAUSE_BREAKPOINT, ld t0, 24(a1))
TEST_END

	.text
	.align 2
xtarget:
	nop
	ret

	.data
	.align 6
watched: .dword 0, 0, 0, 0
