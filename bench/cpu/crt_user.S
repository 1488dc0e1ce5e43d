/* Start-up for the CPU benchmarks as riscv64 Linux processes (build.sh --user):
 * the kernel (or kiln exec, or qemu-riscv64) already gave a stack, zeroed .bss
 * and turned the FPU on; main() runs, then exit_group(0). */
	.text
	.globl _start
_start:
	.option push
	.option norelax
	la	gp, __global_pointer$
	.option pop
	call	main
	.globl	bench_exit
bench_exit:
	li	a0, 0
	li	a7, 94			/* exit_group */
	ecall
1:	j	1b

	/* The buffers: .bss, so the pages are zero-fill-on-demand, 1 MiB aligned as the heap is. */
	.bss
	.balign	0x100000
	.globl	__heap_start
__heap_start:
	.skip	40 << 20
