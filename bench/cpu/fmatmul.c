/* (c3) Floating point: C = A * B for 96x96 doubles, FMM_ROUNDS times, each
 * round feeding C back into A (scaled so values stay finite). The checksum is
 * the bit pattern of the sum of C, so any rounding difference (FMA fusion,
 * rounding mode, NaN handling) between kiln's FPU and QEMU's shows up. */
#include "bench.h"

#ifndef FMM_ROUNDS
#define FMM_ROUNDS 16
#endif
#define N 96

static double A[N][N], B[N][N], C[N][N];

int main(void)
{
	uint64_t seed = 5;
	union {
		double d;
		uint64_t u;
	} sum = { 0.0 };

	for (int i = 0; i < N; i++)
		for (int j = 0; j < N; j++) {
			A[i][j] = (double)(rng_next(&seed) >> 11) / (double)(1ULL << 53) - 0.5;
			B[i][j] = (double)(rng_next(&seed) >> 11) / (double)(1ULL << 53) - 0.5;
		}
	for (int r = 0; r < FMM_ROUNDS; r++) {
		for (int i = 0; i < N; i++) {
			for (int j = 0; j < N; j++)
				C[i][j] = 0.0;
			for (int k = 0; k < N; k++) {
				double a = A[i][k];
				for (int j = 0; j < N; j++)
					C[i][j] += a * B[k][j];
			}
		}
		for (int i = 0; i < N; i++)
			for (int j = 0; j < N; j++)
				A[i][j] = C[i][j] * 0.125;
	}
	for (int i = 0; i < N; i++)
		for (int j = 0; j < N; j++)
			sum.d += C[i][j];
	uart_puts("fmatmul: flops=");
	uart_hex(2ULL * N * N * N * FMM_ROUNDS, 8);
	uart_puts(" sum=");
	uart_hex(sum.u, 16);
	uart_puts("\n");
	return 0;
}
