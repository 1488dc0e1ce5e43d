/* Start-up for the CPU benchmarks: hart 0 gets a stack, a trap handler and
 * the FPU, runs main() in M-mode, then powers the machine off through the
 * SiFive test device (0x5555 = pass). Any other hart parks. */
	.section .text.start, "ax"
	.globl _start
_start:
	csrr	t0, mhartid
	bnez	t0, park
	la	sp, __stack_top
	la	t0, trap_entry
	csrw	mtvec, t0
	la	t0, __bss_start
	la	t1, __bss_end
1:	bgeu	t0, t1, 2f
	sd	zero, 0(t0)
	addi	t0, t0, 8
	j	1b
2:	li	t0, (1 << 13)		/* mstatus.FS = Initial */
	csrs	mstatus, t0
	call	main
	.globl	bench_exit
bench_exit:
	li	t0, 0x100000
	li	t1, 0x5555
	sw	t1, 0(t0)
park:	wfi
	j	park

	.text
	.align	4
trap_entry:
	la	sp, __stack_top
	csrr	a0, mcause
	csrr	a1, mepc
	csrr	a2, mtval
	call	bench_trap		/* prints and fails; never returns */
	j	park

/* enter_smode(satp): returns to the caller in S-mode with the given satp.
 * PMP entry 0 covers all memory (NAPOT, RWX): without any PMP entry S-mode
 * may touch nothing (priv spec 3.7.1). */
	.globl	enter_smode
enter_smode:
	li	t0, -1
	csrw	pmpaddr0, t0
	li	t0, 0x1f
	csrw	pmpcfg0, t0
	csrw	satp, a0
	sfence.vma
	csrw	mepc, ra
	li	t0, (3 << 11)
	csrc	mstatus, t0
	li	t0, (1 << 11)		/* MPP = S */
	csrs	mstatus, t0
	mret
