/*
 * Code brought into RAM by a device (DMA), for the JIT's invalidation
 * (docs/jit.md, "Self-modifying code"). Runs inside a Linux guest on kiln:
 *
 *     jitdma FILE
 *
 * FILE holds two 4 KiB blocks of RISC-V code, each a function long f(long).
 * Each round reads one block with O_DIRECT into the same executable page (the
 * virtio-blk device writes guest RAM directly), makes it visible to fetch
 * (__builtin___clear_cache: riscv_flush_icache, FENCE.I on every hart) and
 * calls it 1000 times, often enough to be translated. The second read lands
 * on the page whose code the first round had translated: if the JIT kept the
 * old translation, round 1 prints round 0's sum.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: jitdma FILE\n");
        return 2;
    }
    int fd = open(argv[1], O_RDONLY | O_DIRECT);
    if (fd < 0) {
        perror("open");
        return 1;
    }
    unsigned char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    for (int round = 0; round < 2; round++) {
        if (pread(fd, page, 4096, (off_t)round * 4096) != 4096) {
            perror("pread");
            return 1;
        }
        __builtin___clear_cache((char *)page, (char *)page + 4096);
        long (*f)(long) = (long (*)(long))(void *)page;
        long sum = 0;
        for (long i = 0; i < 1000; i++)
            sum += f(i);
        printf("jitdma round %d: %ld\n", round, sum);
    }
    return 0;
}
