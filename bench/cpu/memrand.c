/* (b1) Random reads and writes of 64-bit words over a 16 MiB buffer, in
 * S-mode under Sv39 with 4 KiB pages: nearly every access lands on a
 * different page than the last, so a small TLB misses almost always. */
#include "bench.h"

#ifndef OPS
#define OPS 2000000UL
#endif
#define BUF_SIZE (16UL << 20)

int main(void)
{
	char *heap = paging_on();
	uint64_t *buf = (uint64_t *)(((uintptr_t)heap + 0xfffff) & ~0xfffffUL);
	const uint64_t mask = BUF_SIZE / 8 - 1;
	uint64_t seed = 0x9e3779b97f4a7c15ULL, sum = 0;

	fill(buf, BUF_SIZE, 1);
	for (uint64_t i = 0; i < OPS; i++) {
		uint64_t r = rng_next(&seed);
		uint64_t a = r & mask, b = (r >> 32) & mask;
		uint64_t v = buf[a];
		buf[b] += v ^ i;
		sum += v;
	}
	for (uint64_t i = 0; i < BUF_SIZE / 8; i += 509)
		sum ^= buf[i] * (i | 1);
	uart_puts("memrand: ops=");
	uart_hex(OPS, 8);
	uart_puts(" sum=");
	uart_hex(sum, 16);
	uart_puts("\n");
	return 0;
}
