/*
 * What a guest runs first thing after `kiln clone` (docs/snapshots.md): every clone
 * of a snapshot starts with its parent's kernel RNG state. Mixes fresh bytes from
 * the virtio-rng (/dev/hwrng, which kiln fills from the host's getrandom for each
 * request) into the input pool, then forces the CRNG to reseed from it at once
 * (RNDRESEEDCRNG, random(4)); writing to /dev/urandom alone only mixes, and Linux
 * reseeds on its own only once the seed is old (up to 60 s). Needs root.
 */
#include <fcntl.h>
#include <linux/random.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(void)
{
    /* More than the hwrng driver's own buffer (64 bytes), which was filled before the snapshot. */
    unsigned char buf[256];
    size_t got = 0;
    int h = open("/dev/hwrng", O_RDONLY);
    if (h < 0) {
        perror("/dev/hwrng");
        return 1;
    }
    while (got < sizeof(buf)) {
        ssize_t n = read(h, buf + got, sizeof(buf) - got);
        if (n <= 0) {
            perror("read /dev/hwrng");
            return 1;
        }
        got += (size_t)n;
    }
    close(h);
    int u = open("/dev/urandom", O_WRONLY);
    if (u < 0 || write(u, buf, got) != (ssize_t)got) {
        perror("/dev/urandom");
        return 1;
    }
    if (ioctl(u, RNDRESEEDCRNG) < 0) {
        perror("RNDRESEEDCRNG");
        return 1;
    }
    puts("reseeded");
    return 0;
}
