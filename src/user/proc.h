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
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#include "cpu/hart.h"
#include "machine/vm.h"
#include "user/fdtable.h"
#include "user/mm.h"
#include "user/paths.h"
#include "user/pidtab.h"
#include "user/sysnr.h"

/* Guest descriptors index the process's own table (fdtable.h); this is its RLIMIT_NOFILE. */
#define PROC_FD_MAX FDT_MAX
#define PROC_NSIG 64
#define PROC_MAX_THREADS VM_MAX_HARTS

/* Where things live in the guest address space. */
#define PROC_RAM_BASE 0x80000000ull
#define PROC_STACK_TOP 0x3ffffff000ull /* the page below 2^38 stays unmapped */
#define PROC_STACK_SIZE (8ull << 20)
#define PROC_PIE_BASE 0x2aaaaaa000ull /* two thirds of the Sv39 user range, as Linux */

struct proc;

struct uthread {
    struct hart hart; /* first member: proc_trap gets here from the hart */
    struct proc *p;
    pthread_t thread;
    int tid;
    uint64_t clear_child_tid;
    uint64_t sigmask;
    uint64_t saved_sigmask; /* rt_sigsuspend: the mask to restore once a signal is taken */
    bool restore_sigmask;
    _Atomic uint64_t sigpending;
    uint64_t ss_sp, ss_size; /* sigaltstack, ss_size 0 when disabled */
    unsigned tlb_gen;
    bool exited;
    uint64_t fault_addr; /* si_addr of a pending synchronous fault signal */
    int fault_code;
    bool zapped; /* ended by another thread's execve: leaves without touching guest memory */
};

struct proc_sigaction {
    uint64_t handler, flags, mask;
};

struct proc_config {
    const char *prog_path;  /* host path of the first program (the user's choice, not the guest's) */
    int prog_fd;            /* with prog_path NULL: the program, already open (a process joining the VM) */
    const char *execfn;     /* guest path of the program */
    char **argv;            /* guest argv, NULL-terminated */
    char **envp;
    const char *sysroot;    /* for PT_INTERP when the mounts do not have it (confined beneath it) */
    uint64_t mem;           /* guest RAM bytes */
    bool net;
    /*
     * The process VM's shared pid table (pidtab.h), or NULL for a lone process
     * (unit tests, fuzzing) whose pid is PIDTAB_INIT and whose exit only
     * wakes proc_wait. With a table, every exit ends the host process with
     * the guest's status (a fork child's parent, or kiln's supervisor, sees it).
     */
    struct pidtab *pids;
    bool net_host_loopback; /* --net user,host-loopback=on: host loopback and addresses reachable */
    const char *cwd;        /* guest directory the program starts in (NULL: kiln's cwd if mapped, else /) */
    /* --guest-id: the uid/gid getuid() and friends report (an OCI process.user), else the host's. */
    bool guest_ids;
    uint32_t guest_uid, guest_gid;
};

/* The ids the guest sees (proc_config.guest_ids), e.g. for getuid(2) and AT_UID. */
static inline uint32_t proc_uid(const struct proc_config *c)
{
    return c->guest_ids ? c->guest_uid : (uint32_t)getuid();
}
static inline uint32_t proc_gid(const struct proc_config *c)
{
    return c->guest_ids ? c->guest_gid : (uint32_t)getgid();
}

/* Host signals kiln uses between the processes of a process VM (never seen by the guest). */
#define PROC_SIG_CARRIER (SIGRTMIN + 4) /* a guest signal from another process of the VM */
#define PROC_SIG_ZAP (SIGRTMIN + 5)     /* wakes a thread out of a host call (execve ends it) */
/* argv + envp that execve copies at most (a quarter of the 8 MiB stack, Linux's default bound). */
#define PROC_ARG_MAX (2u << 20)
/* One argument or environment string at most (Linux MAX_ARG_STRLEN, 32 pages). */
#define PROC_ARG_STRLEN (128u << 10)

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
    int pid; /* virtual pid (pidtab.h) */
    struct pidtab *pids;
    struct pident *self; /* this process's entry in pids (shared memory), or NULL */
    int sysroot_fd;      /* O_PATH of --sysroot, for PT_INTERP; -1 if none */
    bool execing;        /* an execve is replacing the image: no new threads */
    atomic_int next_tid;
    atomic_int live_threads;
    uint64_t tramp; /* sigreturn trampoline */
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
 * Sets up the descriptor table of the first program: guest 0, 1, 2 are
 * copies of kiln's stdin, stdout, stderr (nothing else kiln inherited is the
 * guest's). A fork child keeps its parent's table, execve keeps the table
 * minus its close-on-exec slots (fdtable_exec).
 */
void proc_adopt_fds(struct proc *p);
/*
 * execve inside the process VM: fd is the opened program (an ELF; "#!" is
 * the caller's), argv/envp kiln's copies. Returns -errno while the old
 * image is still intact; past the point of no return a failure kills the
 * process with SIGSEGV as Linux does. On success t runs the new program.
 */
int proc_exec(struct uthread *t, int fd, const char *execfn, char *const *argv, char *const *envp);
/* Opens a guest path of an ELF interpreter through the mounts (then beneath --sysroot); -ENOENT. */
int proc_open_interp(struct proc *p, const char *path);
/*
 * The terminal's foreground process group (TIOCGPGRP/TIOCSPGRP) in the VM's
 * own pid space: every guest process is in one host group, so the group a
 * guest shell hands the terminal to is kept here, never given to the host.
 * Get: the vpid, or -ENOTTY when kiln's group is not in the foreground.
 */
int proc_tty_getpgrp(struct proc *p, int hostfd);
int proc_tty_setpgrp(struct proc *p, int hostfd, int pgrp);
/*
 * The vpid of a host process of this VM, or 0 for any other host pid (what
 * Linux reports for a process outside the caller's pid namespace), e.g. for
 * F_GETLK's l_pid.
 */
int proc_vpid_of_host(struct proc *p, int host);
/* A fresh thread id from the process VM's pid space. */
int proc_new_tid(struct proc *p);

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
/* execve: handlers back to default (ignored ones stay ignored), the alternate stack goes. */
void proc_sig_exec_reset(struct uthread *t);
/* Sends guest signal sig to another process of the VM (e locked by the caller). 0 or -errno. */
int proc_sig_send_other(struct proc *p, const struct pident *e, int sig);
/* proc.c */
long proc_clone(struct uthread *t, uint64_t flags, uint64_t newsp, uint64_t ptid, uint64_t tls,
                uint64_t ctid);
void proc_thread_exit(struct uthread *t, int status);
struct uthread *proc_find_thread(struct proc *p, int tid);

#endif
