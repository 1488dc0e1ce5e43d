/* Helpers shared by the bare-metal CPU benchmarks: UART output (ns16550a at
 * 0x10000000, THR at offset 0, LSR bit 5 = THR empty), exit through the
 * SiFive test device, a fast PRNG and Sv39 identity paging. */
#ifndef BENCH_H
#define BENCH_H

#include <stdint.h>
#include <stddef.h>

#define UART_BASE 0x10000000UL
#define TEST_BASE 0x100000UL
#define RAM_BASE 0x80000000UL
#define RAM_SIZE (128UL << 20)

#ifdef BENCH_USER
/*
 * The same programs as riscv64 Linux processes (bench/cpu/build.sh --user),
 * for `kiln exec` against qemu-riscv64: output through write(2), the end
 * through exit_group(2), buffers in .bss (zero-fill-on-demand pages), and no
 * paging of their own (the process already runs with the OS's page table).
 */
#define HEAP_SIZE (40UL << 20)
extern char __heap_start[];
void bench_exit(void) __attribute__((noreturn));

static inline long sys3(long nr, long a0, long a1, long a2)
{
	register long a7 __asm__("a7") = nr, r0 __asm__("a0") = a0, r1 __asm__("a1") = a1,
		      r2 __asm__("a2") = a2;
	__asm__ volatile("ecall" : "+r"(r0) : "r"(a7), "r"(r1), "r"(r2) : "memory");
	return r0;
}

static char out_buf[256];
static unsigned out_len;

static inline void uart_putc(char c)
{
	out_buf[out_len++] = c;
	if (c == '\n' || out_len == sizeof(out_buf)) {
		sys3(64 /* write */, 1, (long)out_buf, out_len);
		out_len = 0;
	}
}

static inline void fail(uint32_t code) __attribute__((noreturn));
static inline void fail(uint32_t code)
{
	sys3(94 /* exit_group */, (long)code, 0, 0);
	__builtin_unreachable();
}

static inline char *paging_on(void)
{
	return __heap_start;
}
#else
extern char __heap_start[];
void enter_smode(uint64_t satp);
void bench_exit(void) __attribute__((noreturn));

static inline void uart_putc(char c)
{
	volatile uint8_t *u = (volatile uint8_t *)UART_BASE;
	while (!(u[5] & 0x20))
		;
	u[0] = (uint8_t)c;
}

static inline void fail(uint32_t code) __attribute__((noreturn));
static inline void fail(uint32_t code)
{
	*(volatile uint32_t *)TEST_BASE = (code << 16) | 0x3333;
	for (;;)
		__asm__ volatile("wfi");
}

#endif

static inline void uart_puts(const char *s)
{
	while (*s)
		uart_putc(*s++);
}

static inline void uart_hex(uint64_t v, int digits)
{
	for (int i = digits - 1; i >= 0; i--)
		uart_putc("0123456789abcdef"[(v >> (4 * i)) & 0xf]);
}

#ifndef BENCH_USER
__attribute__((used)) void bench_trap(uint64_t cause, uint64_t epc, uint64_t tval)
{
	uart_puts("\nTRAP mcause=");
	uart_hex(cause, 16);
	uart_puts(" mepc=");
	uart_hex(epc, 16);
	uart_puts(" mtval=");
	uart_hex(tval, 16);
	uart_puts("\n");
	fail(1);
}
#endif

/* xorshift64*: cheap, and every step depends on the previous one. */
static inline uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static inline void fill(void *buf, size_t len, uint64_t seed)
{
	uint64_t *p = buf;
	for (size_t i = 0; i < len / 8; i++)
		p[i] = rng_next(&seed);
}

#ifndef BENCH_USER
/* Switches to S-mode with Sv39 paging: the first GiB (devices) as one
 * gigapage, all of RAM in 4 KiB pages so that work over a large buffer
 * needs many TLB entries. A and D are preset so no hardware update is
 * needed (priv spec 4.3.1 allows either scheme). Page tables go in the
 * heap; returns the first free heap byte. */
static inline char *paging_on(void)
{
	enum { V = 1, R = 2, W = 4, X = 8, A = 0x40, D = 0x80 };
	uint64_t *root = (uint64_t *)__heap_start;
	uint64_t *l1 = root + 512;
	uint64_t *l0 = l1 + 512;
	size_t npages = RAM_SIZE >> 12;

	for (int i = 0; i < 512; i++)
		root[i] = l1[i] = 0;
	root[0] = (0UL >> 12) << 10 | V | R | W | X | A | D;
	root[RAM_BASE >> 30] = ((uint64_t)l1 >> 12) << 10 | V;
	for (size_t i = 0; i < npages / 512; i++)
		l1[i] = ((uint64_t)(l0 + 512 * i) >> 12) << 10 | V;
	for (size_t i = 0; i < npages; i++)
		l0[i] = ((RAM_BASE >> 12) + i) << 10 | V | R | W | X | A | D;
	enter_smode(8UL << 60 | ((uint64_t)root >> 12));
	return (char *)(l0 + npages);
}

#endif

#endif
