# smp_amo.S - atomicity between two harts (unprivileged spec, "A"
# extension): both harts add 1 to one counter 100000 times with AMOADD.D,
# then to a second counter with an LR/SC loop. Hart 0 waits for hart 1's
# done flag and checks both totals are exactly 200000.
# Needs two harts; with one it never finishes (times out).
# kiln-args: --cpus 2
#define MULTI_HART
#include "harness.h"

#define ITERS	100000

TEST_BEGIN
	/* not reached: every hart enters at test_main_hart */
	j park

test_main_hart:
	li t0, 2
	bgeu a0, t0, park			/* harts 2.. sit out */

	la s0, amo_counter
	la s1, lrsc_counter
	la s2, done_flag

	/* start together so the loops overlap: check in, wait for both */
	la s3, start_count
	li t0, 1
	amoadd.d zero, t0, (s3)
1:	ld t0, 0(s3)
	li t1, 2
	bne t0, t1, 1b

	li t0, ITERS
	li t1, 1
2:	amoadd.d zero, t1, (s0)
	addi t0, t0, -1
	bnez t0, 2b

	li t0, ITERS
3:	lr.d t2, (s1)
	addi t2, t2, 1
	sc.d t3, t2, (s1)
	bnez t3, 3b
	addi t0, t0, -1
	bnez t0, 3b

	beqz a0, 4f
	/* hart 1: publish completion (release: counters first) */
	li t0, 1
	amoswap.d.rl zero, t0, (s2)
	j park

4:	/* hart 0: wait for hart 1 (acquire) */
	amoor.d.aq t0, zero, (s2)
	beqz t0, 4b
	ld t0, 0(s0)
	CHECK(1, t0, 2 * ITERS)
	ld t0, 0(s1)
	CHECK(2, t0, 2 * ITERS)
TEST_END

	.data
	.align 6
amo_counter:	.dword 0
	.align 6				/* separate cache lines */
lrsc_counter:	.dword 0
	.align 6
done_flag:	.dword 0
	.align 6
start_count:	.dword 0
