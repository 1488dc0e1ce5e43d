/* (c1) SHA-256 (FIPS 180-4) over a 4 MiB buffer, SHA_ROUNDS times, each round's
 * digest written into the buffer's head so the rounds chain. The round
 * constants are derived at start-up from the primes (FIPS 180-4 §4.2.2,
 * §5.3.3) with integer roots, and a known-answer test runs first. */
#include "bench.h"

#ifndef SHA_ROUNDS
#define SHA_ROUNDS 2
#endif
#define BUF_SIZE (4UL << 20)

struct sha256 {
	uint32_t h[8];
	uint8_t blk[64];
	uint64_t len;
	size_t fill;
};

static uint32_t K[64], H0[8];

static uint64_t iroot(unsigned __int128 x, int k)
{
	uint64_t lo = 0, hi = 1ULL << (k == 2 ? 40 : 36);
	while (lo < hi) { /* largest y with y^k <= x */
		uint64_t mid = lo + (hi - lo + 1) / 2;
		unsigned __int128 p = (unsigned __int128)mid * mid;
		if (k == 3)
			p *= mid;
		if (p <= x)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

static void sha256_consts(void)
{
	int n = 0;
	for (uint32_t p = 2; n < 64; p++) {
		int prime = 1;
		for (uint32_t d = 2; d * d <= p; d++)
			if (p % d == 0)
				prime = 0;
		if (!prime)
			continue;
		if (n < 8)
			H0[n] = (uint32_t)iroot((unsigned __int128)p << 64, 2);
		K[n++] = (uint32_t)iroot((unsigned __int128)p << 96, 3);
	}
}

static inline uint32_t ror(uint32_t x, int n)
{
	return (x >> n) | (x << (32 - n));
}

static void sha256_block(uint32_t h[8], const uint8_t *p)
{
	uint32_t w[64], s[8];

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	for (int i = 0; i < 8; i++)
		s[i] = h[i];
	for (int i = 0; i < 64; i++) {
		uint32_t e = s[4], a = s[0];
		uint32_t t1 = s[7] + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) +
			      ((e & s[5]) ^ (~e & s[6])) + K[i] + w[i];
		uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) +
			      ((a & s[1]) ^ (a & s[2]) ^ (s[1] & s[2]));
		s[7] = s[6];
		s[6] = s[5];
		s[5] = s[4];
		s[4] = s[3] + t1;
		s[3] = s[2];
		s[2] = s[1];
		s[1] = s[0];
		s[0] = t1 + t2;
	}
	for (int i = 0; i < 8; i++)
		h[i] += s[i];
}

static void sha256_init(struct sha256 *c)
{
	for (int i = 0; i < 8; i++)
		c->h[i] = H0[i];
	c->len = 0;
	c->fill = 0;
}

static void sha256_update(struct sha256 *c, const uint8_t *p, size_t n)
{
	c->len += n;
	while (n) {
		if (c->fill == 0 && n >= 64) {
			sha256_block(c->h, p);
			p += 64;
			n -= 64;
			continue;
		}
		c->blk[c->fill++] = *p++;
		n--;
		if (c->fill == 64) {
			sha256_block(c->h, c->blk);
			c->fill = 0;
		}
	}
}

static void sha256_final(struct sha256 *c, uint8_t out[32])
{
	uint64_t bits = c->len * 8;
	uint8_t pad = 0x80;

	sha256_update(c, &pad, 1);
	pad = 0;
	while (c->fill != 56)
		sha256_update(c, &pad, 1);
	for (int i = 7; i >= 0; i--) {
		uint8_t b = (uint8_t)(bits >> (8 * i));
		sha256_update(c, &b, 1);
	}
	for (int i = 0; i < 32; i++)
		out[i] = (uint8_t)(c->h[i / 4] >> (24 - 8 * (i % 4)));
}

static void print_digest(const uint8_t d[32])
{
	for (int i = 0; i < 32; i++)
		uart_hex(d[i], 2);
}

int main(void)
{
	static const uint8_t abc_digest[32] = {
		0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
		0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
		0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
	};
	uint8_t *buf = (uint8_t *)__heap_start, d[32];
	struct sha256 c;

	sha256_consts();
	sha256_init(&c);
	sha256_update(&c, (const uint8_t *)"abc", 3);
	sha256_final(&c, d);
	for (int i = 0; i < 32; i++) {
		if (d[i] != abc_digest[i]) {
			uart_puts("sha256: known-answer test FAILED: ");
			print_digest(d);
			uart_puts("\n");
			fail(2);
		}
	}

	fill(buf, BUF_SIZE, 3);
	for (int r = 0; r < SHA_ROUNDS; r++) {
		sha256_init(&c);
		sha256_update(&c, buf, BUF_SIZE);
		sha256_final(&c, d);
		for (int i = 0; i < 32; i++)
			buf[i] = d[i];
	}
	uart_puts("sha256: bytes=");
	uart_hex(SHA_ROUNDS * BUF_SIZE, 8);
	uart_puts(" digest=");
	print_digest(d);
	uart_puts("\n");
	return 0;
}
