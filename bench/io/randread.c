/* 4 KiB random reads with O_DIRECT on a block device: the IOPS part of the
 * disk benchmark (bench/bench.py). Runs inside the guest (static RV64 Linux
 * program, added to a copy of the default initramfs as /bin/randread).
 *
 *   randread DEVICE COUNT [SEED]
 *
 * Prints one line: "randread: n=COUNT bytes=... secs=S iops=I sum=HEX".
 * Offsets come from a fixed xorshift sequence, so both VMMs read the same
 * blocks; sum folds the first word of every block read (same disk contents
 * -> same sum on kiln and QEMU). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define BLK 4096

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s DEVICE COUNT [SEED]\n", argv[0]);
		return 2;
	}
	long n = atol(argv[2]);
	uint64_t seed = argc > 3 ? strtoull(argv[3], NULL, 0) : 0x9e3779b97f4a7c15ull;
	int fd = open(argv[1], O_RDONLY | O_DIRECT);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	uint64_t size = 0;
	if (ioctl(fd, BLKGETSIZE64, &size) < 0 || size < BLK) {
		perror("BLKGETSIZE64");
		return 1;
	}
	uint64_t blocks = size / BLK;
	void *buf;
	if (posix_memalign(&buf, BLK, BLK)) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	uint64_t sum = 0;
	double t0 = now();
	for (long i = 0; i < n; i++) {
		off_t off = (off_t)(xorshift(&seed) % blocks) * BLK;
		ssize_t r = pread(fd, buf, BLK, off);
		if (r != BLK) {
			fprintf(stderr, "pread at %lld: %zd\n", (long long)off, r);
			return 1;
		}
		uint64_t w;
		memcpy(&w, buf, sizeof w);
		sum = (sum * 31) ^ w;
	}
	double t = now() - t0;
	printf("randread: n=%ld bytes=%llu secs=%.6f iops=%.0f sum=%016llx\n", n,
	       (unsigned long long)n * BLK, t, t > 0 ? n / t : 0.0, (unsigned long long)sum);
	return 0;
}
