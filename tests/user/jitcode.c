/*
 * A JIT in the guest: writes RISC-V code into mmap'd pages, runs it until it
 * is hot (so kiln translates it), rewrites it and runs it again. Every way a
 * Linux program makes new code visible is used (unpriv "Zifencei"; the
 * riscv_flush_icache(2) system call): RW -> RX with mprotect plus
 * __builtin___clear_cache, an RWX page with fence.i, an RWX page with only
 * the system call, a page unmapped and mapped again, hot code made
 * non-executable and unmapped (SIGSEGV), a thread that runs the
 * code after another thread changed it, and fork: parent and child rewrite
 * their own copies and each must run its own. Prints one line per step; the
 * output must equal qemu-riscv64's.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define HOT 300 /* calls per step: well above kiln's default threshold (64) */

typedef long (*fn_t)(long);

/* RV64I encodings (unpriv ch. 2, 34). */
static uint32_t addi(int rd, int rs1, int imm)
{
    return (uint32_t)(imm & 0xfff) << 20 | (uint32_t)rs1 << 15 | (uint32_t)rd << 7 | 0x13;
}
static uint32_t add(int rd, int rs1, int rs2)
{
    return (uint32_t)rs2 << 20 | (uint32_t)rs1 << 15 | (uint32_t)rd << 7 | 0x33;
}
static uint32_t sub(int rd, int rs1, int rs2)
{
    return 0x40000000u | add(rd, rs1, rs2);
}
static uint32_t bne(int rs1, int rs2, int off)
{
    uint32_t o = (uint32_t)off;
    return ((o >> 12) & 1) << 31 | ((o >> 5) & 0x3f) << 25 | (uint32_t)rs2 << 20 |
           (uint32_t)rs1 << 15 | 1u << 12 | ((o >> 1) & 0xf) << 8 | ((o >> 11) & 1) << 7 | 0x63;
}
#define RET 0x00008067u /* jalr x0, 0(ra) */
enum { A0 = 10, A1 = 11, A2 = 12 };

/* f(n) = k + op over a loop of n rounds: a0 = k; do a0 (+|-)= n; while (--n). */
static void gen(uint32_t *p, int k, int use_sub)
{
    p[0] = addi(A1, A0, 0);   /* a1 = n */
    p[1] = addi(A0, 0, k);    /* a0 = k */
    p[2] = use_sub ? sub(A0, A0, A1) : add(A0, A0, A1);
    p[3] = addi(A1, A1, -1);
    p[4] = bne(A1, 0, -8);    /* back to p[2] */
    p[5] = RET;
}

static long run(fn_t f)
{
    long s = 0;
    for (int i = 0; i < HOT; i++)
        s += f(1 + i % 7);
    return s;
}

static void flush_syscall(void *p, size_t len)
{
    /* riscv_flush_icache(start, end, flags = 0: every thread of the process) */
    syscall(259, p, (char *)p + len, 0);
}

static void fence_i(void)
{
    __asm__ volatile("fence.i" ::: "memory");
}

static sigjmp_buf segv_env;

static void on_segv(int sig)
{
    (void)sig;
    siglongjmp(segv_env, 1);
}

static int ran[2], go[2]; /* thread -> main: it ran; main -> thread: new code is in */
static fn_t shared_fn;

static void *runner(void *arg)
{
    (void)arg;
    char c;
    printf("thread, before: %ld\n", run(shared_fn));
    fflush(stdout);
    if (write(ran[1], "x", 1) != 1)
        return NULL;
    if (read(go[0], &c, 1) != 1)
        return NULL;
    printf("thread, after: %ld\n", run(shared_fn));
    return NULL;
}

int main(void)
{
    long pg = sysconf(_SC_PAGESIZE);

    /* 1. RW, then RX; rewritten through RW again; __builtin___clear_cache. */
    uint32_t *a = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (a == MAP_FAILED)
        return 1;
    gen(a, 5, 0);
    __builtin___clear_cache((char *)a, (char *)(a + 6));
    mprotect(a, pg, PROT_READ | PROT_EXEC);
    printf("rx: %ld\n", run((fn_t)a));
    mprotect(a, pg, PROT_READ | PROT_WRITE);
    gen(a, 9, 1);
    mprotect(a, pg, PROT_READ | PROT_EXEC);
    __builtin___clear_cache((char *)a, (char *)(a + 6));
    printf("rx, rewritten: %ld\n", run((fn_t)a));

    /* 2. RWX, rewritten in place, fence.i; then only one instruction changes. */
    uint32_t *b = mmap(NULL, pg, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
                       -1, 0);
    if (b == MAP_FAILED)
        return 1;
    gen(b, 1, 0);
    fence_i();
    printf("rwx: %ld\n", run((fn_t)b));
    gen(b, 2, 1);
    fence_i();
    printf("rwx, fence.i: %ld\n", run((fn_t)b));
    b[1] = addi(A0, 0, 100);
    fence_i();
    printf("rwx, one instruction: %ld\n", run((fn_t)b));

    /* 3. RWX with only the system call (no fence.i of our own). */
    gen(b, 3, 0);
    flush_syscall(b, 24);
    printf("rwx, riscv_flush_icache: %ld\n", run((fn_t)b));

    /* 4. Unmapped, mapped again (the new page may reuse the old frame), new code. */
    munmap(a, pg);
    uint32_t *c = mmap(NULL, pg, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
                       -1, 0);
    if (c == MAP_FAILED)
        return 1;
    gen(c, 7, 1);
    fence_i();
    printf("remapped: %ld\n", run((fn_t)c));

    /* 4b. Hot code on a page that is then no longer executable must not run: SIGSEGV. */
    signal(SIGSEGV, on_segv);
    mprotect(c, pg, PROT_READ | PROT_WRITE);
    if (sigsetjmp(segv_env, 1) == 0)
        printf("no-exec: ran %ld (wrong)\n", run((fn_t)c));
    else
        printf("no-exec: SIGSEGV\n");
    munmap(c, pg);
    if (sigsetjmp(segv_env, 1) == 0)
        printf("unmapped: ran %ld (wrong)\n", run((fn_t)c));
    else
        printf("unmapped: SIGSEGV\n");
    signal(SIGSEGV, SIG_DFL);

    /* 5. Another thread runs the code hot; main rewrites it and flushes for every thread. */
    if (pipe(ran) || pipe(go))
        return 1;
    gen(b, 11, 0);
    fence_i();
    shared_fn = (fn_t)b;
    pthread_t th;
    if (pthread_create(&th, NULL, runner, NULL))
        return 1;
    char ch;
    if (read(ran[0], &ch, 1) != 1)
        return 1;
    gen(b, 13, 1);
    flush_syscall(b, 24);
    if (write(go[1], "x", 1) != 1)
        return 1;
    pthread_join(th, NULL);

    /* 6. fork with hot code: each process rewrites its own copy and runs it. */
    gen(b, 17, 0);
    fence_i();
    printf("before fork: %ld\n", run((fn_t)b));
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        printf("child, inherited: %ld\n", run((fn_t)b));
        gen(b, 19, 1);
        fence_i();
        printf("child, rewritten: %ld\n", run((fn_t)b));
        fflush(stdout);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    printf("parent, after the child: %ld\n", run((fn_t)b));
    gen(b, 23, 0);
    b[2] = add(A0, A0, A0); /* a0 += a0 instead */
    fence_i();
    printf("parent, rewritten: %ld\n", run((fn_t)b));
    if (!WIFEXITED(st) || WEXITSTATUS(st))
        return 1;

    /*
     * 7. Parent and child at once, each generating and running new hot code
     * over and over (so each keeps translating while the other runs): a code
     * cache shared across the fork would have them overwrite each other's.
     */
    fflush(stdout);
    pid = fork();
    if (pid < 0)
        return 1;
    long total = 0;
    for (int r = 0; r < 40; r++) {
        uint32_t *at = b + 8 * (r % 64); /* a new block start each round */
        gen(at, r + (pid ? 1000 : 2000), r & 1);
        fence_i();
        total += run((fn_t)at);
        total += run((fn_t)b); /* and an older block, translated before */
    }
    if (pid == 0) {
        printf("child, busy: %ld\n", total);
        fflush(stdout);
        _exit(0);
    }
    waitpid(pid, &st, 0);
    printf("parent, busy: %ld\n", total);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
