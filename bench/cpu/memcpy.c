/* (b2) Streaming copy: 8 MiB copied back and forth MEMCPY_ROUNDS times with
 * unrolled 64-bit loads and stores, in S-mode under Sv39 (4 KiB pages). */
#include "bench.h"

#ifndef MEMCPY_ROUNDS
#define MEMCPY_ROUNDS 16
#endif
#define BUF_SIZE (8UL << 20)

static void copy(uint64_t *restrict d, const uint64_t *restrict s, size_t n, uint64_t k)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t a0 = s[i], a1 = s[i + 1], a2 = s[i + 2], a3 = s[i + 3];
		uint64_t a4 = s[i + 4], a5 = s[i + 5], a6 = s[i + 6], a7 = s[i + 7];
		d[i] = a0 + k;
		d[i + 1] = a1;
		d[i + 2] = a2;
		d[i + 3] = a3;
		d[i + 4] = a4;
		d[i + 5] = a5;
		d[i + 6] = a6;
		d[i + 7] = a7;
	}
}

int main(void)
{
	char *heap = paging_on();
	uint64_t *a = (uint64_t *)(((uintptr_t)heap + 0xfffff) & ~0xfffffUL);
	uint64_t *b = a + BUF_SIZE / 8;
	uint64_t sum = 0;

	fill(a, BUF_SIZE, 2);
	for (uint64_t r = 0; r < MEMCPY_ROUNDS; r++) {
		copy(b, a, BUF_SIZE / 8, r);
		copy(a, b, BUF_SIZE / 8, r);
	}
	for (uint64_t i = 0; i < BUF_SIZE / 8; i += 257)
		sum = (sum ^ a[i]) * 0x100000001b3ULL;
	uart_puts("memcpy: bytes=");
	uart_hex(2 * MEMCPY_ROUNDS * BUF_SIZE, 8);
	uart_puts(" sum=");
	uart_hex(sum, 16);
	uart_puts("\n");
	return 0;
}
