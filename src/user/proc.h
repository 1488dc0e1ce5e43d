/*
 * A process VM: one riscv64 Linux program in its own throw-away VM. The
 * program runs in U-mode on kiln's harts (one per guest thread) under a real
 * Sv48 page table (mm.h); every trap from U-mode comes to proc_trap(), which
 * plays the kernel: system calls (syscall.c), demand paging, and signals
 * (signal.c).
 */
#ifndef KILN_USER_PROC_H
#define KILN_USER_PROC_H

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cpu/hart.h"
#include "machine/vm.h"
#include "user/fdtable.h"
#include "user/mm.h"
#include "user/paths.h"
#include "user/sysnr.h"

/* Guest descriptors index the process's own table (fdtable.h); this is its RLIMIT_NOFILE. */
#define PROC_FD_MAX FDT_MAX
#define PROC_NSIG 64
#define PROC_MAX_THREADS VM_MAX_HARTS

/* Where things live in the guest address space. */
#define PROC_RAM_BASE 0x80000000ull
#define PROC_STACK_TOP 0x7ffffffff000ull
#define PROC_STACK_SIZE (8ull << 20)
#define PROC_PIE_BASE 0x555555554000ull

struct proc;

struct uthread {
    struct hart hart; /* first member: proc_trap gets here from the hart */
    struct proc *p;
    pthread_t thread;
    int tid;
    uint64_t clear_child_tid;
    uint64_t sigmask;
    _Atomic uint64_t sigpending;
    uint64_t ss_sp, ss_size; /* sigaltstack, ss_size 0 when disabled */
    unsigned tlb_gen;
    bool exited;
    uint64_t fault_addr; /* si_addr of a pending synchronous fault signal */
    int fault_code;
};

struct proc_sigaction {
    uint64_t handler, flags, mask;
};

struct proc_config {
    const char *prog_path;  /* host path to load (or prog_fd >= 0) */
    int prog_fd;
    const char *execfn;     /* guest path of the program */
    char **argv;            /* guest argv, NULL-terminated */
    char **envp;
    const char *sysroot;    /* for PT_INTERP when the mounts do not have it */
    uint64_t mem;           /* guest RAM bytes */
    bool net;
    bool net_host_loopback; /* --net user,host-loopback=on: host loopback and addresses reachable */
    char **reexec;          /* kiln argv prefix that execve() re-runs: "kiln exec [options]" */
};

struct proc {
    struct vm vm;
    struct mm mm;
    struct mounts mounts;
    struct proc_config cfg;
    pthread_mutex_t lock; /* threads, descriptor table, cwd, sigactions */
    char cwd[GPATH_MAX];
    struct fdtable fdt; /* guest descriptors (fdtable.h), shared by the threads */
    struct proc_sigaction sigact[PROC_NSIG + 1];
    struct uthread *threads[PROC_MAX_THREADS];
    int pid;
    atomic_int next_tid;
    atomic_int live_threads;
    uint64_t tramp; /* sigreturn trampoline */
    bool forked;    /* a fork child: no waiter thread, exit directly */
    _Atomic uint64_t host_pending; /* signals that arrived on the host for the process */

    sem_t done;
    atomic_int exiting;
    int exit_status;
    _Atomic bool warned[RV_NR_MAX];
};

/* Sets the process up (RAM, page table, program, interpreter, stack). 0 or -errno with a message in err. */
int proc_create(struct proc *p, const struct proc_config *cfg, struct mounts *mounts, char *err,
                size_t errlen);
/* Starts the main thread. */
int proc_start(struct proc *p);
/* Waits for exit; timeout_s 0 = none. Returns the exit status (128+N when killed by signal N), -ETIMEDOUT. */
int proc_wait(struct proc *p, double timeout_s);

/* Ends the whole process with a status; sig != 0 when killed by a signal. */
void proc_exit(struct proc *p, int status, int sig);
/*
 * Sets up the descriptor table: guest 0, 1, 2 are copies of kiln's stdin,
 * stdout, stderr (nothing else kiln inherited is the guest's). When kiln was
 * re-executed by the guest's execve (cfg.prog_fd >= 0), the descriptors the
 * old kiln laid out (fdtable_reexec_layout) are adopted at their numbers.
 */
void proc_adopt_fds(struct proc *p);

/* syscall.c */
void proc_syscall(struct uthread *t);
/* signal.c */
/* A synchronous fault: deliver sig to the thread now (handler) or kill the process. */
void proc_force_signal(struct uthread *t, int sig, int code, uint64_t addr);
/* Delivers pending unblocked signals before returning to the guest. */
void proc_deliver_signals(struct uthread *t);
/* Queues a signal for a thread (tid) or the process (tid 0). -ESRCH, -EINVAL. */
int proc_send_signal(struct proc *p, int tid, int sig);
long proc_sigreturn(struct uthread *t);
bool proc_sig_default_ignored(int sig);
void proc_install_host_signals(struct proc *p);
/* proc.c */
long proc_clone(struct uthread *t, uint64_t flags, uint64_t newsp, uint64_t ptid, uint64_t tls,
                uint64_t ctid);
void proc_thread_exit(struct uthread *t, int status);
struct uthread *proc_find_thread(struct proc *p, int tid);

#endif
