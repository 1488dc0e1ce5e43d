/*
 * Faults of direct guest accesses (process VMs, docs/jit.md): translated code
 * loads and stores at host direct_base + va with no TLB probe, and the host's
 * page protections mirror the guest's, so an access the guest may not make
 * (unmapped, PROT_NONE, read-only, a stack page not yet charged) raises
 * SIGSEGV on the hart's thread. The handler finds the faulting instruction in
 * the thread's code cache and resumes at the exit that leaves the block
 * before that guest instruction, with the guest registers written back: the
 * interpreter then runs the instruction with all the guest's semantics (page
 * fault, demand paging, guest SIGSEGV). Any other fault is kiln's own: the
 * action that was there before (the default) is put back and the instruction
 * faults again.
 *
 * The handler is async-signal-safe: it reads a thread-local pointer to the
 * thread's cache and a sorted table, written only by this same thread while
 * it translates (never while its translated code runs). No locks, no malloc.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "cpu/jit/jit_internal.h"

#if defined(__x86_64__)

static __thread struct jit *fault_jit;
static pthread_once_t fault_once = PTHREAD_ONCE_INIT;
static int fault_err;
static struct sigaction old_segv, old_bus; /* what was there before: kiln's own faults go to it */

static const struct jit_fault_site *site_find(const struct jit *j, uint32_t insn)
{
    size_t lo = 0, hi = j->fsites_n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (j->fsites[mid].insn < insn)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < j->fsites_n && j->fsites[lo].insn == insn ? &j->fsites[lo] : NULL;
}

static void on_fault(int sig, siginfo_t *si, void *ctx)
{
    ucontext_t *uc = ctx;
    const struct jit *j = fault_jit;
    uintptr_t rip = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
    /* Only a fault of the hardware (si_code > 0), never one sent with kill(). */
    if (j && j->rx && si->si_code > 0 && rip >= (uintptr_t)j->rx && rip < (uintptr_t)j->rx + j->used) {
        const struct jit_fault_site *s = site_find(j, (uint32_t)(rip - (uintptr_t)j->rx));
        if (s) {
            uc->uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)(j->rx + s->stub);
            return;
        }
    }
    /* Not a direct access: kiln's own fault, for whatever handled it before (the default: die). */
    sigaction(sig, sig == SIGBUS ? &old_bus : &old_segv, NULL);
    if (si->si_code <= 0) /* sent, not raised by an instruction: send it again (pending until we return) */
        syscall(SYS_tgkill, getpid(), (pid_t)syscall(SYS_gettid), sig);
}

static void install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, &old_segv) || sigaction(SIGBUS, &sa, &old_bus))
        fault_err = -errno;
}

int jit_fault_enter(struct jit *j)
{
    pthread_once(&fault_once, install);
    fault_jit = j;
    return fault_err;
}

void jit_fault_reset(struct jit *j)
{
    j->fsites_n = 0;
}

bool jit_fault_add(struct jit *j, uint32_t block, const struct jit_fault_site *s, unsigned n)
{
    /* Code of a block that was not kept is being written over: its sites go. */
    while (j->fsites_n && j->fsites[j->fsites_n - 1].insn >= block)
        j->fsites_n--;
    if (!n)
        return true;
    if (!j->fsites) {
        /*
         * Every direct access takes more than 16 bytes of code, so one entry
         * per 16 bytes of cache never runs out; mapped lazily, like the cache.
         */
        size_t cap = j->size / 16 + 1;
        void *p = mmap(NULL, cap * sizeof(*s), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED)
            return false;
        j->fsites = p;
        j->fsites_cap = cap;
        j->fsites_n = 0;
    }
    if (n > j->fsites_cap - j->fsites_n)
        return false;
    memcpy(j->fsites + j->fsites_n, s, n * sizeof(*s));
    j->fsites_n += n;
    return true;
}

void jit_fault_forget(struct jit *j)
{
    if (j->fsites)
        munmap(j->fsites, j->fsites_cap * sizeof(*j->fsites));
    j->fsites = NULL;
    j->fsites_n = j->fsites_cap = 0;
}

#else /* no backend: no translated code, no direct accesses */

int jit_fault_enter(struct jit *j)
{
    (void)j;
    return -ENOSYS;
}
void jit_fault_reset(struct jit *j)
{
    (void)j;
}
bool jit_fault_add(struct jit *j, uint32_t block, const struct jit_fault_site *s, unsigned n)
{
    (void)j, (void)block, (void)s, (void)n;
    return false;
}
void jit_fault_forget(struct jit *j)
{
    (void)j;
}

#endif
