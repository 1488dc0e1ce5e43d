# jit_irq.S - a machine timer interrupt (privileged spec 3.1.9) is taken while
# the hart spins in a loop that is one translated block jumping to itself
# (docs/jit.md: the budget check at the loop's back edge bounds the latency),
# and once more in a loop closed by a jal instead of a branch. minstret counts
# at least the loop's instructions (exactness itself is checked by --jit=verify).
#include "harness.h"

#define TIMER_IN(delta)							\
	li t0, CLINT_MTIME;						\
	ld t1, 0(t0);							\
	li t2, delta;							\
	add t1, t1, t2;							\
	li t0, CLINT_MTIMECMP;						\
	sd t1, 0(t0)

#define TIMER_OFF							\
	li t0, CLINT_MTIMECMP;						\
	li t1, -1;							\
	sd t1, 0(t0)

TEST_BEGIN
	TIMER_OFF
	csrw mideleg, zero
	li t0, MIP_MTIP
	csrw mie, t0

	/* 1-3: branch loop; 20 ms of guest time, far fewer than 1e9 iterations */
	TRAP_ARM(2f)
	TIMER_IN(200000)
	li s1, 0
	li s2, 1000000000
	csrr s3, minstret
	csrsi mstatus, MSTATUS_MIE
1:	addi s1, s1, 1
	bltu s1, s2, 1b
	FAIL(1)
2:	CHECK_CAUSE(2, CAUSE_INTR | 7)
	csrr s4, minstret
	TIMER_OFF
	/* minstret counted at least the loop's retired instructions (2 per iteration, the last
	 * perhaps cut after its addi). Only a lower bound: QEMU's minstret counts host ticks;
	 * kiln's exactness is what --jit=verify checks. */
	sub s4, s4, s3
	slli s5, s1, 1
	addi s5, s5, -1
	li gp, 3
	bgeu s4, s5, 6f
	GOTO_FAIL
6:

	/* 4: a loop closed by j (a block that ends in a jump to itself) */
	TRAP_ARM(4f)
	TIMER_IN(200000)
	li s1, 0
	csrsi mstatus, MSTATUS_MIE
3:	addi s1, s1, 1
	bgeu s1, s2, 5f
	j 3b
5:	FAIL(4)
4:	CHECK_CAUSE(5, CAUSE_INTR | 7)
	TIMER_OFF
TEST_END
