/*
 * Signals for process VMs: riscv64 Linux signal frames (arch/riscv/kernel/
 * signal.c: struct rt_sigframe = siginfo + ucontext whose uc_mcontext is
 * struct sigcontext {user_regs_struct, __riscv_d_ext_state}) and delivery at
 * the return from a trap. Synchronous faults without a handler end the
 * process with 128 + signal.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "user/proc.h"

/* Offsets in the riscv64 frame (checked against glibc's ucontext_t: 960 bytes, mcontext at 176). */
#define FRAME_INFO 0
#define FRAME_UC 128
#define UC_STACK 16
#define UC_SIGMASK 40
#define UC_MCONTEXT 176
#define MC_FP (UC_MCONTEXT + 256)
#define FRAME_SIZE (128 + 960)

#define RV_SA_SIGINFO 0x4
#define RV_SA_ONSTACK 0x08000000
#define RV_SA_NODEFER 0x40000000
#define RV_SA_RESETHAND 0x80000000u
#define RV_SS_ONSTACK 1
#define RV_SS_DISABLE 2

#define BIT(sig) (1ull << ((sig) - 1))
#define UNBLOCKABLE (BIT(SIGKILL) | BIT(SIGSTOP))

static struct proc *host_proc; /* for host signal handlers: one process VM per kiln exec process */

bool proc_sig_default_ignored(int sig)
{
    /* Stop signals are ignored too: job control is not emulated. */
    return sig == SIGCHLD || sig == SIGURG || sig == SIGWINCH || sig == SIGCONT ||
           sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

static void put32(uint8_t *b, size_t off, uint32_t v)
{
    memcpy(b + off, &v, 4);
}

static void put64(uint8_t *b, size_t off, uint64_t v)
{
    memcpy(b + off, &v, 8);
}

static uint64_t get64(const uint8_t *b, size_t off)
{
    uint64_t v;
    memcpy(&v, b + off, 8);
    return v;
}

/* Builds the frame and points the hart at the handler. False if the stack is unusable. */
static bool setup_frame(struct uthread *t, int sig, int code, uint64_t addr)
{
    struct proc *p = t->p;
    struct hart *h = &t->hart;
    struct proc_sigaction *sa = &p->sigact[sig];
    uint64_t sp = h->x[2];
    bool on_alt = t->ss_size && sp - t->ss_sp <= t->ss_size;
    if ((sa->flags & RV_SA_ONSTACK) && t->ss_size && !on_alt)
        sp = t->ss_sp + t->ss_size;
    sp = (sp - FRAME_SIZE) & ~15ull;

    uint8_t f[FRAME_SIZE];
    memset(f, 0, sizeof(f));
    put32(f, FRAME_INFO + 0, (uint32_t)sig);
    put32(f, FRAME_INFO + 8, (uint32_t)code);
    if (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGTRAP || sig == SIGFPE) {
        put64(f, FRAME_INFO + 16, addr);
    } else {
        put32(f, FRAME_INFO + 16, (uint32_t)p->pid); /* si_pid, si_uid: sent by ourselves */
        put32(f, FRAME_INFO + 20, proc_uid(&p->cfg));
    }
    uint8_t *uc = f + FRAME_UC;
    put64(uc, UC_STACK + 0, t->ss_sp);
    put32(uc, UC_STACK + 8, t->ss_size ? (on_alt ? RV_SS_ONSTACK : 0) : RV_SS_DISABLE);
    put64(uc, UC_STACK + 16, t->ss_size);
    put64(uc, UC_SIGMASK, t->restore_sigmask ? t->saved_sigmask : t->sigmask);
    put64(uc, UC_MCONTEXT, h->pc);
    for (int i = 1; i < 32; i++)
        put64(uc, UC_MCONTEXT + 8 * (size_t)i, h->x[i]);
    for (int i = 0; i < 32; i++)
        put64(uc, MC_FP + 8 * (size_t)i, h->f[i]);
    put32(uc, MC_FP + 256, (h->frm << 5) | h->fflags);
    if (mm_copy_out(&p->mm, sp, f, sizeof(f)))
        return false;

    h->x[1] = p->tramp;
    h->x[2] = sp;
    h->x[10] = (uint64_t)sig;
    h->x[11] = sp + FRAME_INFO;
    h->x[12] = sp + FRAME_UC;
    h->pc = sa->handler;
    t->sigmask |= sa->mask;
    if (!(sa->flags & RV_SA_NODEFER))
        t->sigmask |= BIT(sig);
    t->sigmask &= ~UNBLOCKABLE;
    if (sa->flags & RV_SA_RESETHAND)
        sa->handler = 0;
    t->restore_sigmask = false; /* the frame holds the mask rt_sigreturn restores */
    return true;
}

/* Nothing was delivered after rt_sigsuspend: its caller's mask comes back now. */
static void restore_mask(struct uthread *t)
{
    if (t->restore_sigmask) {
        t->sigmask = t->saved_sigmask;
        t->restore_sigmask = false;
    }
}

static void die(struct uthread *t, int sig)
{
    proc_exit(t->p, 128 + sig, sig);
    t->exited = true;
    t->hart.budget = 0;
}

void proc_force_signal(struct uthread *t, int sig, int code, uint64_t addr)
{
    struct proc_sigaction *sa = &t->p->sigact[sig];
    /* A fault with the signal blocked or ignored kills the process (Linux force_sig_fault). */
    if (sa->handler <= 1 || (t->sigmask & BIT(sig)) || !setup_frame(t, sig, code, addr))
        die(t, sig);
}

void proc_deliver_signals(struct uthread *t)
{
    struct proc *p = t->p;
    uint64_t host = atomic_exchange(&p->host_pending, 0);
    if (host)
        atomic_fetch_or(&t->sigpending, host);
    for (;;) {
        uint64_t pend = atomic_load(&t->sigpending) & ~t->sigmask;
        if (!pend || t->exited) {
            restore_mask(t);
            return;
        }
        int sig = __builtin_ctzll(pend) + 1;
        atomic_fetch_and(&t->sigpending, ~BIT(sig));
        struct proc_sigaction *sa = &p->sigact[sig];
        if (sa->handler == 1 /* SIG_IGN */)
            continue;
        if (sa->handler == 0) {
            if (proc_sig_default_ignored(sig))
                continue;
            die(t, sig);
            return;
        }
        if (!setup_frame(t, sig, -6 /* SI_TKILL */, 0)) {
            die(t, SIGSEGV);
            return;
        }
    }
}

int proc_send_signal(struct proc *p, int tid, int sig)
{
    if (sig < 0 || sig > PROC_NSIG)
        return -EINVAL;
    struct uthread *t = NULL;
    if (tid) {
        t = proc_find_thread(p, tid);
        if (!t)
            return -ESRCH;
    }
    if (sig == 0)
        return 0;
    if (t)
        atomic_fetch_or(&t->sigpending, BIT(sig));
    else
        atomic_fetch_or(&p->host_pending, BIT(sig));
    return 0;
}

long proc_sigreturn(struct uthread *t)
{
    struct hart *h = &t->hart;
    uint8_t f[FRAME_SIZE];
    if (mm_copy_in(&t->p->mm, f, h->x[2], sizeof(f))) {
        die(t, SIGSEGV);
        return 0;
    }
    const uint8_t *uc = f + FRAME_UC;
    h->pc = get64(uc, UC_MCONTEXT);
    for (int i = 1; i < 32; i++)
        h->x[i] = get64(uc, UC_MCONTEXT + 8 * (size_t)i);
    for (int i = 0; i < 32; i++)
        h->f[i] = get64(uc, MC_FP + 8 * (size_t)i);
    uint32_t fcsr;
    memcpy(&fcsr, uc + MC_FP + 256, 4);
    h->fflags = fcsr & 0x1f;
    h->frm = (fcsr >> 5) & 7;
    t->sigmask = get64(uc, UC_SIGMASK) & ~UNBLOCKABLE;
    return 0;
}

/* A signal for the whole process, from the host or from another process of the VM. */
static void arrive(struct proc *p, int sig)
{
    if (sig == SIGKILL || (p->sigact[sig].handler == 0 && !proc_sig_default_ignored(sig))) {
        /* Default action "terminate": end now, even if every guest thread is blocked in the host. */
        proc_exit(p, 128 + sig, sig);
        return;
    }
    atomic_fetch_or(&p->host_pending, BIT(sig));
}

static void host_handler(int sig)
{
    if (host_proc)
        arrive(host_proc, sig);
}

/* PROC_SIG_CARRIER: si_value holds the guest signal another process of the VM sent (proc_sig_send_other). */
static void carrier_handler(int hsig, siginfo_t *si, void *uc)
{
    (void)hsig, (void)uc;
    int sig = si->si_value.sival_int & 0xff;
    if (host_proc && si->si_code == SI_QUEUE && sig >= 1 && sig <= PROC_NSIG)
        arrive(host_proc, sig);
}

/* PROC_SIG_ZAP only interrupts a host call (no SA_RESTART); the thread then sees it was ended. */
static void zap_handler(int sig)
{
    (void)sig;
}

int proc_sig_send_other(struct proc *p, const struct pident *e, int sig)
{
    (void)p;
    if (!e->host || sig == 0)
        return 0; /* not started yet, or only a check */
    if (sig == SIGKILL)
        return kill(e->host, SIGKILL) < 0 ? -errno : 0;
    union sigval v = {.sival_int = sig};
    return sigqueue(e->host, PROC_SIG_CARRIER, v) < 0 ? -errno : 0;
}

void proc_sig_exec_reset(struct uthread *t)
{
    struct proc *p = t->p;
    /* execve(2): handled signals go back to the default; ignored ones and the mask stay. */
    pthread_mutex_lock(&p->lock);
    for (int s = 1; s <= PROC_NSIG; s++) {
        struct proc_sigaction *sa = &p->sigact[s];
        if (sa->handler != 1 /* SIG_IGN */)
            sa->handler = 0;
        sa->flags = 0;
        sa->mask = 0;
    }
    pthread_mutex_unlock(&p->lock);
    t->ss_sp = t->ss_size = 0;
}

void proc_install_host_signals(struct proc *p)
{
    host_proc = p;
    static const int forwarded[] = {SIGINT,  SIGTERM, SIGHUP,  SIGQUIT,  SIGUSR1,
                                    SIGUSR2, SIGALRM, SIGCHLD, SIGWINCH, SIGPIPE};
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = host_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: a blocked guest syscall returns -EINTR, as on Linux */
    for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
        sigaction(forwarded[i], &sa, NULL);
    sa.sa_handler = zap_handler;
    sigaction(PROC_SIG_ZAP, &sa, NULL);
    sa.sa_sigaction = carrier_handler;
    sa.sa_flags = SA_SIGINFO;
    sigaction(PROC_SIG_CARRIER, &sa, NULL);
}
