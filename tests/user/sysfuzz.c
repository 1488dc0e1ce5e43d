/*
 * Random file, descriptor, poll and socket-option system calls with random
 * arguments (small numbers, descriptors, pointers into a scratch buffer,
 * wild pointers, huge lengths), in fork children so one that breaks itself
 * does not stop the run. kiln must answer each with a result or -errno and
 * never crash: run under an AddressSanitizer kiln. argv: seed calls.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static uint64_t state;

static uint64_t rnd(void)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

/* riscv64 numbers of the calls under test (asm-generic unistd.h). */
static const int nrs[] = {
    5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,    /* xattr */
    19, 20, 21, 22,                                /* eventfd2, epoll */
    23, 24, 25, 29,                                /* dup, dup3, fcntl, ioctl */
    32, 33, 34, 35, 36, 37, 38,                    /* flock, mknodat, mkdirat, unlinkat, symlinkat, linkat, renameat */
    43, 44, 45, 46, 47, 48, 49, 50, 52, 53, 54, 55, 56, 57, 59, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70,
    72, 73, 78, 79, 80, 82, 83, 88, 276, 291, 436, 439, 441,
    198, 199, 208, 209,                            /* socket, socketpair, setsockopt, getsockopt */
    212, 204, 205,                                 /* recvmsg, getsockname, getpeername (nothing that sends) */
};

static char scratch[65536] __attribute__((aligned(4096)));

static uint64_t arg(void)
{
    switch (rnd() % 10) {
    case 0: return rnd() % 8;
    case 1: return rnd() % 32;                        /* descriptors */
    case 2: return (uint64_t)(scratch + rnd() % sizeof(scratch));
    case 3: return (uint64_t)scratch;
    case 4: return rnd();                             /* wild */
    case 5: return (uint64_t)-(int64_t)(rnd() % 200); /* negative, AT_FDCWD */
    case 6: return rnd() % 0x100000;
    case 7: return 0;
    case 8: return 0x1000 + (rnd() % 64) * 0x100000000ull;
    default: return rnd() & 0xffffffff;
    }
}

int main(int argc, char **argv)
{
    state = argc > 1 ? strtoull(argv[1], NULL, 0) | 1 : 88172645463325252ull;
    long calls = argc > 2 ? atol(argv[2]) : 20000;
    if (chdir("/w"))
        return 2;
    for (long done = 0; done < calls; done += 500) {
        uint64_t seed = rnd();
        pid_t pid = fork();
        if (pid == 0) {
            state = seed | 1;
            int nul = open("/dev/null", O_RDWR); /* random writes stay off the real stdout */
            for (int fd = 0; fd < 3; fd++)
                dup2(nul, fd);
            for (int i = 0; i < 500; i++) {
                /* Scratch holds short paths in the mapped directory and plausible structures. */
                for (int k = 0; k < 64; k++)
                    scratch[rnd() % sizeof(scratch)] = (char)rnd();
                memcpy(scratch + (rnd() % 4) * 1024, rnd() % 2 ? "f\0" : "d/x\0", 4);
                int nr = nrs[rnd() % (sizeof(nrs) / sizeof(nrs[0]))];
                syscall(nr, arg(), arg(), arg(), arg(), arg(), arg());
            }
            _exit(0);
        }
        /* Some calls block for good (a read of an empty pipe, a wait with no timeout): 2 s each batch. */
        int st;
        for (int t = 0; t < 200 && waitpid(pid, &st, WNOHANG) == 0; t++)
            usleep(10000);
        if (waitpid(pid, &st, WNOHANG) == 0) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
        }
    }
    printf("done\n");
    return 0;
}
