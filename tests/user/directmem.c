/*
 * Guest memory faults and protections seen from translated code (kiln's JIT
 * accesses process-VM memory directly and lets the host fault: docs/jit.md,
 * Process VMs). Every access is in a small loop or function that runs many
 * times, so under --jit-threshold 1 it runs translated. The output names
 * addresses relative to the mapping, so it can be compared with qemu-riscv64
 * and with --jit=off.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG 4096ul

static __thread sigjmp_buf env; /* each thread catches its own faults */
static volatile uintptr_t fault_addr;
static volatile int fault_sig, fault_code;

static void on_fault(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    fault_sig = sig;
    fault_code = si->si_code;
    fault_addr = (uintptr_t)si->si_addr;
    siglongjmp(env, 1);
}

/* Plain RISC-V loads and stores of each width, out of line so each is one translated block. */
__attribute__((noinline)) static uint64_t ld8(uintptr_t a)
{
    uint64_t v;
    __asm__ volatile("ld %0, 0(%1)" : "=r"(v) : "r"(a) : "memory");
    return v;
}
__attribute__((noinline)) static uint64_t lbu(uintptr_t a)
{
    uint64_t v;
    __asm__ volatile("lbu %0, 0(%1)" : "=r"(v) : "r"(a) : "memory");
    return v;
}
__attribute__((noinline)) static void sw(uintptr_t a, uint32_t v)
{
    __asm__ volatile("sw %0, 0(%1)" : : "r"(v), "r"(a) : "memory");
}
__attribute__((noinline)) static void fsd(uintptr_t a, double v)
{
    __asm__ volatile("fsd %0, 0(%1)" : : "f"(v), "r"(a) : "memory");
}
__attribute__((noinline)) static double fld(uintptr_t a)
{
    double v;
    __asm__ volatile("fld %0, 0(%1)" : "=f"(v) : "r"(a) : "memory");
    return v;
}

/* Two loads off one base register: kiln checks the range of the first only. */
__attribute__((noinline)) static uint64_t ld_up(uintptr_t a)
{
    uint64_t v, w;
    __asm__ volatile("ld %0, 0(%2)\n\tld %1, 8(%2)" : "=&r"(v), "=&r"(w) : "r"(a) : "memory");
    return v + w;
}
__attribute__((noinline)) static uint64_t ld_down(uintptr_t a)
{
    uint64_t v, w;
    __asm__ volatile("ld %0, 0(%2)\n\tld %1, -8(%2)" : "=&r"(v), "=&r"(w) : "r"(a) : "memory");
    return v + w;
}

/* A store of x0 (an immediate store on the host; sh has an operand-size prefix). */
__attribute__((noinline)) static void shz(uintptr_t a)
{
    __asm__ volatile("sh zero, 0(%0)" : : "r"(a) : "memory");
}

enum { LD8, LBU, SW, FSD, FLD, LD_UP, LD_DOWN, SHZ };

/* Runs op at a (warming the code up at ok first) and reports how it ended. */
static void probe(const char *what, int op, uintptr_t ok, uintptr_t a, uintptr_t base)
{
    uint64_t sum = 0;
    for (int i = 0; i < 200; i++) { /* hot: translated before the faulting run */
        switch (op) {
        case LD8: sum += ld8(ok); break;
        case LBU: sum += lbu(ok); break;
        case SW: sw(ok, (uint32_t)i); break;
        case FSD: fsd(ok, i); break;
        case FLD: sum += (uint64_t)fld(ok); break;
        case LD_UP: sum += ld_up(ok); break;
        case LD_DOWN: sum += ld_down(ok); break;
        case SHZ: shz(ok); break;
        }
    }
    fault_sig = 0;
    uint64_t v = 0;
    if (sigsetjmp(env, 1) == 0) {
        switch (op) {
        case LD8: v = ld8(a); break;
        case LBU: v = lbu(a); break;
        case SW: sw(a, 0x5a5a5a5a); break;
        case FSD: fsd(a, 2.5); break;
        case FLD: v = (uint64_t)fld(a); break;
        case LD_UP: v = ld_up(a); break;
        case LD_DOWN: v = ld_down(a); break;
        case SHZ: shz(a); break;
        }
        printf("%s: ok value=%llx\n", what, (unsigned long long)v);
    } else if (fault_addr >= base && fault_addr - base < 8 * PG) {
        printf("%s: signal %d code %d at base+0x%lx\n", what, fault_sig, fault_code,
               (unsigned long)(fault_addr - base));
    } else if (fault_addr < (1ul << 38)) {
        printf("%s: signal %d code %d at 0x%lx\n", what, fault_sig, fault_code,
               (unsigned long)fault_addr);
    } else { /* beyond the Sv39 user range: qemu-riscv64's code there is its own */
        printf("%s: signal %d at 0x%lx\n", what, fault_sig, (unsigned long)fault_addr);
    }
    (void)sum;
}

/* Another thread's translated code meets protections changed by main. */
static pthread_barrier_t bar;
static uintptr_t tbase;

static void *worker(void *arg)
{
    (void)arg;
    uintptr_t p = tbase;
    probe("thread store", SW, p + PG, p + 8, p);
    pthread_barrier_wait(&bar); /* main: p read-only */
    pthread_barrier_wait(&bar);
    probe("thread store ro", SW, p + PG, p + 16, p);
    probe("thread load ro", LD8, p + PG, p + 8, p);
    pthread_barrier_wait(&bar); /* main: p unmapped */
    pthread_barrier_wait(&bar);
    probe("thread load unmapped", LD8, p + PG, p + 8, p);
    return NULL;
}

/* Deep recursion: every frame touches its own stack pages for the first time. */
__attribute__((noinline)) static uint64_t deep(int n)
{
    volatile uint8_t frame[1024];
    for (int i = 0; i < 1024; i += 64)
        frame[i] = (uint8_t)(n + i);
    if (n == 0)
        return frame[0];
    uint64_t r = deep(n - 1);
    return r + frame[64];
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 1 && !strcmp(argv[1], "deep")) { /* only the stack: for a --mem too small for it */
        printf("deep %llu\n", (unsigned long long)deep(6000));
        return 0;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);

    /* Four pages: rw, read-only, PROT_NONE, unmapped; then one more rw. */
    uint8_t *m = mmap(NULL, 5 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return 1;
    uintptr_t b = (uintptr_t)m;
    memset(m, 0x11, 5 * PG);
    m[PG + 7] = 0x77;
    m[2 * PG + 9] = 0x99;
    mprotect(m + PG, PG, PROT_READ);
    mprotect(m + 2 * PG, PG, PROT_NONE);
    munmap(m + 3 * PG, PG);

    probe("load rw", LD8, b + 8, b + 16, b);
    probe("load ro", LBU, b + PG, b + PG + 7, b);
    probe("store ro", SW, b + 64, b + PG + 123, b);
    probe("fstore ro", FSD, b + 64, b + PG + 8, b);
    probe("store zero ro", SHZ, b + 64, b + PG + 6, b);
    probe("load none", LD8, b + 8, b + 2 * PG + 8, b);
    probe("fload none", FLD, b + 8, b + 2 * PG, b);
    probe("load unmapped", LBU, b + 8, b + 3 * PG + 1, b);
    probe("store unmapped", SW, b + 64, b + 3 * PG + 4, b);
    probe("load high", LD8, b + 8, 0xffff800000000000ul, b);
    probe("store high", SW, b + 64, 0xffff800000000000ul, b);
    probe("load 2^40", LBU, b + 8, 1ul << 40, b);
    probe("load 2^38", LD8, b + 8, 1ul << 38, b);
    probe("load 2^38-4", LD8, b + 8, (1ul << 38) - 4, b);
    probe("load null", LBU, b + 8, 0, b);
    probe("pair into unmapped", LD_DOWN, b + 64, b + 4 * PG, b); /* 0 ok, -8 in the unmapped page */
    /* The last page below 2^38: the second load of the pair is at 2^38. */
    uint8_t *top = mmap((void *)((1ul << 38) - PG), PG, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (top == (uint8_t *)((1ul << 38) - PG)) {
        probe("pair to 2^38", LD_UP, b + 64, (1ul << 38) - 8, b);
        probe("pair below 2^38", LD_UP, b + 64, (1ul << 38) - 16, b);
        munmap(top, PG);
    } else {
        printf("no page below 2^38\n");
    }

    /* PROT_NONE keeps the contents: back to readable, the byte is there. */
    mprotect(m + 2 * PG, PG, PROT_READ);
    probe("load none->ro", LBU, b + 8, b + 2 * PG + 9, b);
    probe("store none->ro", SW, b + 64, b + 2 * PG + 16, b);
    probe("load straddle", LD8, b + 8, b + 3 * PG - 4, b); /* into the unmapped page */
    mprotect(m + 2 * PG, PG, PROT_READ | PROT_WRITE);
    probe("store ro->rw", SW, b + 64, b + 2 * PG + 16, b);
    probe("load ro->rw", LD8, b + 8, b + 2 * PG + 16, b);
    probe("store straddle", SW, b + 64, b + 3 * PG - 2, b);
    probe("load before straddle", LD8, b + 8, b + 3 * PG - 8, b); /* nothing of it was written */
    probe("store zero rw", SHZ, b + 64, b + 3 * PG - 8, b);
    probe("load zeroed", LD8, b + 8, b + 3 * PG - 8, b);
    /* A read-only page made writable keeps what it had. */
    mprotect(m + PG, PG, PROT_READ | PROT_WRITE);
    probe("store ro page now rw", SW, b + 64, b + PG + 120, b);
    probe("load ro page now rw", LD8, b + 8, b + PG + 120, b);
    probe("load ro page byte", LBU, b + 8, b + PG + 7, b);

    /* munmap drops a page; mapped again it reads zero. */
    munmap(m, PG);
    probe("load after munmap", LD8, b + PG, b + 8, b);
    probe("store after munmap", SW, b + PG + 64, b + 8, b);
    if (mmap(m, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != m)
        return 2;
    probe("load remapped", LD8, b + PG, b + 8, b);

    /* A read-only anonymous mapping reads zeros; PROT_WRITE makes it a normal page. */
    uint8_t *r = mmap(NULL, 2 * PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uintptr_t rb = (uintptr_t)r;
    probe("load fresh ro", LD8, rb, rb + PG + 8, rb);
    probe("store fresh ro", SW, b + PG + 64, rb + 8, rb);
    mprotect(r, 2 * PG, PROT_READ | PROT_WRITE);
    probe("store fresh now rw", SW, b + PG + 64, rb + PG + 8, rb);
    probe("load fresh now rw", LD8, rb, rb + PG + 8, rb);

    /* A second thread, its protections changed under it between two barriers. */
    uint8_t *t = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    tbase = (uintptr_t)t;
    pthread_barrier_init(&bar, NULL, 2);
    pthread_t th;
    pthread_create(&th, NULL, worker, NULL);
    pthread_barrier_wait(&bar);
    mprotect(t, PG, PROT_READ);
    pthread_barrier_wait(&bar);
    pthread_barrier_wait(&bar);
    munmap(t, PG);
    pthread_barrier_wait(&bar);
    pthread_join(th, NULL);

    /* fork: the child's writes stay the child's. */
    m[PG + 200] = 1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 0; i < 1000; i++)
            sw(b + PG + 200, 0x1000 + (uint32_t)i);
        printf("child sees %llx\n", (unsigned long long)lbu(b + PG + 201));
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    printf("parent sees %llx %llx\n", (unsigned long long)lbu(b + PG + 200),
           (unsigned long long)lbu(b + PG + 201));

    /* The stack grows a page at a time under translated code: 6 MiB of 1 KiB frames. */
    uint64_t d = 0;
    for (int i = 0; i < 3; i++)
        d += deep(6000);
    printf("deep %llu\n", (unsigned long long)d);
    return 0;
}
