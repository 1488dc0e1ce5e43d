/* (a) Integer loop: ITERS iterations of exactly 8 ALU/branch instructions,
 * so guest MIPS = 8 * ITERS / seconds. */
#include "bench.h"

#ifndef ITERS
#define ITERS 50000000UL
#endif
#define INSNS_PER_ITER 8

int main(void)
{
	uint64_t n = ITERS, b = 1, c = 2;

	__asm__ volatile("1:\n"
			 "	add	%1, %1, %0\n"
			 "	xor	%2, %2, %1\n"
			 "	slli	t0, %2, 7\n"
			 "	srli	t1, %1, 3\n"
			 "	xor	%1, %1, t0\n"
			 "	add	%2, %2, t1\n"
			 "	addi	%0, %0, -1\n"
			 "	bnez	%0, 1b\n"
			 : "+r"(n), "+r"(b), "+r"(c)
			 :
			 : "t0", "t1");
	uart_puts("intloop: insns=");
	uart_hex(ITERS * INSNS_PER_ITER, 16);
	uart_puts(" sum=");
	uart_hex(b ^ c, 16);
	uart_puts("\n");
	return 0;
}
