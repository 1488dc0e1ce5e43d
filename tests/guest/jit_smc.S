# jit_smc.S - self-modifying code (unpriv "Zifencei"): after a store to an
# instruction and FENCE.I, fetches see the new instruction. Written for the
# JIT (docs/jit.md): each patched function first runs often enough to be
# translated (tests/integration/test_jit.sh also runs it with threshold 1).
#   1-2  a hot function rewritten by a store elsewhere, then FENCE.I
#   3-4  a hot block that stores over one of its own later instructions
#   5    a FENCE.I with no code change keeps the code working (no false drop)
# jit_alias.S covers one code page at two virtual addresses.
#include "harness.h"

#define HOT 100

TEST_BEGIN
	/* 1: patchme returns 1 while hot */
	li s1, HOT
1:	call patchme
	CHECK(1, a0, 1)
	addi s1, s1, -1
	bnez s1, 1b

	/* 2: overwrite its first instruction with `li a0, 2` (from template), fence.i */
	la t0, patchme
	la t1, template2
	lw t1, 0(t1)
	sw t1, 0(t0)
	fence.i
	li s1, HOT
2:	call patchme
	CHECK(2, a0, 2)
	addi s1, s1, -1
	bnez s1, 2b

	/* 3: selfpatch stores a1 over its own `li a0, 1`; with a1 = the same word nothing changes */
	la a2, selfpatch_target
	lw a1, 0(a2)
	li s1, HOT
3:	call selfpatch
	CHECK(3, a0, 1)
	addi s1, s1, -1
	bnez s1, 3b

	/* 4: now it writes `li a0, 3`: the call that stores may still run the old code (no
	 * FENCE.I between the store and the fetch), every call after a FENCE.I runs the new */
	la t1, template3
	lw a1, 0(t1)
	call selfpatch
	fence.i
	li s1, HOT
4:	call selfpatch
	CHECK(4, a0, 3)
	addi s1, s1, -1
	bnez s1, 4b

	/* 5: FENCE.I without a change: the same code still runs, and correctly */
	li s1, HOT
5:	fence.i
	call patchme
	CHECK(5, a0, 2)
	addi s1, s1, -1
	bnez s1, 5b
TEST_END

	.section .text, "ax"
	.option push
	.option norvc
	.align 2
patchme:
	li a0, 1
	ret

/* Stores a1 at selfpatch_target (a2), in the same block as that instruction. */
selfpatch:
	addi t2, zero, 0
	sw a1, 0(a2)
	addi t2, t2, 1
selfpatch_target:
	li a0, 1
	ret

template2:
	li a0, 2
template3:
	li a0, 3
	.option pop
