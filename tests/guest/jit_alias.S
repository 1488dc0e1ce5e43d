# jit_alias.S - one physical code page at two virtual addresses (Sv39, S-mode):
# translated code never embeds a virtual address (docs/jit.md), so `auipc` in
# a hot function gives the address it was called through, whichever alias ran
# first; and code rewritten through one alias, then FENCE.I (unpriv
# "Zifencei"), runs rewritten through the other.
#   1-2  whereami through the identity mapping and through the alias, hot
#   3-4  its first instruction rewritten through the alias: both see it
#include "harness.h"

#define HOT	200
#define ALIAS	0x40000000	/* VA 0xc0000000 + x maps to PA 0x80000000 + x */

/* pt_root[idx] = 1 GiB leaf for physical address pa, RWX, A and D set */
#define GIGA_LEAF(idx, pa)						\
	li t0, ((pa) >> 12) << 10 | 0xcf;				\
	la t1, pt_root;							\
	sd t0, (idx) * 8(t1)

TEST_BEGIN
	PMP_OPEN_ALL
	GIGA_LEAF(2, 0x80000000)	/* VA 0x80000000: identity */
	GIGA_LEAF(3, 0x80000000)	/* VA 0xc0000000: the alias */
	la t0, pt_root
	srli t0, t0, 12
	li t1, 8 << 60			/* Sv39 */
	or t0, t0, t1
	csrw satp, t0
	sfence.vma
	GOTO_PRIV(PRV_S, 1f)
1:
	li s2, ALIAS
	la s3, whereami
	add s4, s3, s2			/* whereami through the alias */
	li s1, HOT
2:	jalr s3
	CHECK_REGS(1, a0, s3)
	jalr s4
	CHECK_REGS(2, a0, s4)
	addi s1, s1, -1
	bnez s1, 2b

	/* rewrite `auipc a0, 0` as `li a0, 7`, through the alias */
	la t1, template
	lw t1, 0(t1)
	sw t1, 0(s4)
	fence.i
	li s1, HOT
3:	jalr s3
	CHECK(3, a0, 7)
	jalr s4
	CHECK(4, a0, 7)
	addi s1, s1, -1
	bnez s1, 3b
TEST_END

	.text
	.option push
	.option norvc
	.align 4
whereami:
	auipc a0, 0
	ret
template:
	li a0, 7
	.option pop

	.bss
	.align 12
pt_root: .skip 4096
