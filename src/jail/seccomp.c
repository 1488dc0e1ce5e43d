/*
 * The allow-lists, in the spirit of Firecracker's per-thread filters: each
 * thread kind gets the system calls its code makes after set-up and nothing
 * else. Adding a call is one line in the right table. Arguments are checked
 * where a call is dangerous in general but needed in one form (clone only
 * for threads, openat only read-only, ioctl only on terminals, tgkill only
 * to kiln itself).
 */
#define _GNU_SOURCE
#include "jail/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

/* ---- the lists ---- */

/* Every thread of every kind: memory, threads, signals, time, exit. */
static const int sc_base[] = {
    SCMP_SYS(brk), SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mprotect), SCMP_SYS(mremap),
    SCMP_SYS(madvise), SCMP_SYS(futex), SCMP_SYS(sched_yield),
    SCMP_SYS(clock_gettime), SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep), SCMP_SYS(gettimeofday),
    SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigreturn), SCMP_SYS(restart_syscall),
    SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(getrandom), SCMP_SYS(sigaltstack),
    SCMP_SYS(exit), SCMP_SYS(exit_group),
};

/* Hart threads (src/cpu, src/dev on MMIO): WFI sleeps, eventfd kicks, log lines, console output. */
static const int sc_hart[] = {
    SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(writev), SCMP_SYS(poll), SCMP_SYS(ppoll),
    /* HTIF console output (machine/vm.c) is stdio: its first write fstat()s stdout. */
    SCMP_SYS(fstat), SCMP_SYS(newfstatat),
};

/* The rest of `kiln run`: event loops, disk workers, console, control socket, thread starts. */
static const int sc_run[] = {
    SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
    SCMP_SYS(pread64), SCMP_SYS(pwrite64), SCMP_SYS(preadv), SCMP_SYS(pwritev),
    SCMP_SYS(preadv2), SCMP_SYS(pwritev2), SCMP_SYS(lseek), SCMP_SYS(close),
    SCMP_SYS(fsync), SCMP_SYS(fdatasync), SCMP_SYS(fallocate),
    SCMP_SYS(ftruncate), /* a snapshot's memory file, passed in over the control socket */
    SCMP_SYS(fstat), SCMP_SYS(newfstatat), SCMP_SYS(statx), SCMP_SYS(fcntl),
    SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(select), SCMP_SYS(pselect6),
    SCMP_SYS(epoll_create1), SCMP_SYS(epoll_ctl), SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait),
    SCMP_SYS(eventfd2),
    SCMP_SYS(accept), SCMP_SYS(accept4), SCMP_SYS(recvfrom), SCMP_SYS(recvmsg),
    SCMP_SYS(sendto), SCMP_SYS(sendmsg), SCMP_SYS(shutdown), SCMP_SYS(getsockopt),
    SCMP_SYS(set_robust_list), SCMP_SYS(rseq), SCMP_SYS(rt_sigaction),
    SCMP_SYS(clock_getres), SCMP_SYS(sched_getaffinity), SCMP_SYS(getrusage),
    SCMP_SYS(unlink), /* control socket at exit; the jail's root is empty and read-only */
};

/*
 * virtio-9p shares (src/backend/p9fs.c): every path goes through openat2(RESOLVE_BENEATH)
 * or an *at() call on one name in a directory opened that way; chmod/utimensat reach
 * an open file through /proc/self/fd (the jail's root keeps /proc/self).
 */
static const int sc_files[] = {
    SCMP_SYS(openat2), SCMP_SYS(getdents64), SCMP_SYS(fstatfs), SCMP_SYS(readlinkat),
    SCMP_SYS(mkdirat), SCMP_SYS(mknodat), SCMP_SYS(symlinkat), SCMP_SYS(linkat),
    SCMP_SYS(unlinkat), SCMP_SYS(renameat), SCMP_SYS(renameat2), SCMP_SYS(fchmodat),
    SCMP_SYS(fchown), SCMP_SYS(fchownat), SCMP_SYS(utimensat), SCMP_SYS(ftruncate),
};

/* User networking (libslirp opens a host socket per guest connection). */
static const int sc_sockets[] = {
    SCMP_SYS(connect), SCMP_SYS(bind), SCMP_SYS(listen), SCMP_SYS(getsockname),
    SCMP_SYS(getpeername), SCMP_SYS(setsockopt), SCMP_SYS(getsockopt), SCMP_SYS(accept),
    SCMP_SYS(accept4), SCMP_SYS(recvfrom), SCMP_SYS(recvmsg), SCMP_SYS(sendto), SCMP_SYS(sendmsg),
    SCMP_SYS(shutdown),
};

/*
 * The host side of a process VM (src/user): it implements the guest's calls
 * on host descriptors it opened beneath the mappings, forks host processes for
 * the guest's fork, and waits and signals only them. memfd_create, ftruncate
 * and mmap (sc_base) also make each guest thread's JIT code cache, on the
 * thread that calls clone, and a fork child's own (docs/jit.md).
 */
static const int sc_exec[] = {
    /* descriptors and files, always relative to kiln's own directory descriptors */
    SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
    SCMP_SYS(pread64), SCMP_SYS(pwrite64), SCMP_SYS(preadv), SCMP_SYS(pwritev),
    SCMP_SYS(preadv2), SCMP_SYS(pwritev2), SCMP_SYS(lseek), SCMP_SYS(close), SCMP_SYS(close_range),
    SCMP_SYS(open), SCMP_SYS(openat), SCMP_SYS(openat2), SCMP_SYS(dup), SCMP_SYS(dup2),
    SCMP_SYS(dup3), SCMP_SYS(fcntl), SCMP_SYS(pipe2), SCMP_SYS(socketpair),
    SCMP_SYS(fstat), SCMP_SYS(newfstatat), SCMP_SYS(statx), SCMP_SYS(stat), SCMP_SYS(lstat),
    SCMP_SYS(fstatfs), SCMP_SYS(statfs),
    SCMP_SYS(getdents64), SCMP_SYS(readlink), SCMP_SYS(readlinkat), SCMP_SYS(faccessat),
    SCMP_SYS(faccessat2), SCMP_SYS(access),
    SCMP_SYS(mkdir), SCMP_SYS(mkdirat), SCMP_SYS(mknodat), SCMP_SYS(unlink), SCMP_SYS(unlinkat),
    SCMP_SYS(rmdir), SCMP_SYS(rename), SCMP_SYS(renameat), SCMP_SYS(renameat2),
    SCMP_SYS(linkat), SCMP_SYS(symlinkat), SCMP_SYS(fchmod), SCMP_SYS(fchmodat),
    SCMP_SYS(fchown), SCMP_SYS(fchownat), SCMP_SYS(utimensat), SCMP_SYS(ftruncate),
    SCMP_SYS(fallocate), SCMP_SYS(fsync), SCMP_SYS(fdatasync), SCMP_SYS(sync_file_range),
    SCMP_SYS(flock), SCMP_SYS(fadvise64), SCMP_SYS(sendfile), SCMP_SYS(copy_file_range),
    SCMP_SYS(splice), SCMP_SYS(memfd_create), SCMP_SYS(getcwd), SCMP_SYS(chdir),
    SCMP_SYS(fchdir), SCMP_SYS(umask), SCMP_SYS(sync), SCMP_SYS(syncfs),
    /* waiting */
    SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(select), SCMP_SYS(pselect6),
    SCMP_SYS(epoll_create1), SCMP_SYS(epoll_ctl), SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait),
    SCMP_SYS(eventfd2), SCMP_SYS(signalfd4), SCMP_SYS(timerfd_create), SCMP_SYS(timerfd_settime),
    SCMP_SYS(timerfd_gettime),
    /* processes: fork stays a host fork; signals and waits reach kiln's own children */
    SCMP_SYS(wait4), SCMP_SYS(waitid), SCMP_SYS(kill), SCMP_SYS(tkill), SCMP_SYS(tgkill),
    SCMP_SYS(pidfd_open), SCMP_SYS(pidfd_send_signal), SCMP_SYS(set_tid_address),
    SCMP_SYS(set_robust_list), SCMP_SYS(get_robust_list), SCMP_SYS(rseq), SCMP_SYS(membarrier),
    SCMP_SYS(setpgid), SCMP_SYS(getpgid), SCMP_SYS(getpgrp), SCMP_SYS(setsid), SCMP_SYS(getsid),
    SCMP_SYS(getppid), SCMP_SYS(getuid), SCMP_SYS(geteuid), SCMP_SYS(getgid), SCMP_SYS(getegid),
    SCMP_SYS(getresuid), SCMP_SYS(getresgid), SCMP_SYS(getgroups), SCMP_SYS(prctl),
    SCMP_SYS(getrlimit), SCMP_SYS(setrlimit), SCMP_SYS(prlimit64), SCMP_SYS(getrusage),
    SCMP_SYS(times), SCMP_SYS(getpriority), SCMP_SYS(sched_getaffinity), SCMP_SYS(sysinfo),
    SCMP_SYS(uname),
    /* signals and time */
    SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigpending),
    SCMP_SYS(rt_sigtimedwait), SCMP_SYS(rt_sigsuspend), SCMP_SYS(rt_sigqueueinfo),
    SCMP_SYS(rt_tgsigqueueinfo), SCMP_SYS(clock_getres), SCMP_SYS(setitimer),
    SCMP_SYS(getitimer), SCMP_SYS(alarm), SCMP_SYS(timer_create), SCMP_SYS(timer_settime),
    SCMP_SYS(timer_gettime), SCMP_SYS(timer_delete), SCMP_SYS(pause),
    /* memory */
    SCMP_SYS(msync), SCMP_SYS(mincore), SCMP_SYS(mlock), SCMP_SYS(munlock),
};

/* The supervisor's control socket (SC_EXEC with sc_opts.control). */
static const int sc_control[] = {
    SCMP_SYS(accept4), SCMP_SYS(recvmsg), SCMP_SYS(sendmsg), SCMP_SYS(getsockopt),
};

/* kiln-runc exec --detach's proxy: its connection, a signalfd, its end. */
static const int sc_proxy[] = {
    SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(close), SCMP_SYS(poll), SCMP_SYS(ppoll),
    SCMP_SYS(recvmsg), SCMP_SYS(sendmsg), SCMP_SYS(rt_sigaction), SCMP_SYS(signalfd4),
};

/* The host re-exec of kiln for a guest execve (until it runs in-process): the call and
 * what the dynamic loader and libc start-up then make. */
static const int sc_exec_reexec[] = {
    SCMP_SYS(execve), SCMP_SYS(arch_prctl),
};

/* The socket cleaner (jail.c), a root process outside the jail: nothing else. */
static const int sc_cleaner[] = {
    SCMP_SYS(read), SCMP_SYS(newfstatat), SCMP_SYS(lstat), SCMP_SYS(fstat), SCMP_SYS(unlink),
    SCMP_SYS(exit), SCMP_SYS(exit_group),
};

/* The keeper (pidns.c), a root process outside the namespaces: on top of sc_base. */
static const int sc_keeper[] = {
    SCMP_SYS(wait4), SCMP_SYS(close), SCMP_SYS(write), SCMP_SYS(rt_sigaction),
    SCMP_SYS(getuid), /* sigqueue(3) fills in si_uid */
};

/* Ioctls on terminals and descriptors that a console or a process VM uses. */
static const unsigned long sc_tty_ioctls[] = {
    TCGETS, TCSETS, TCSETSW, TCSETSF, TIOCGWINSZ, TIOCSWINSZ, TIOCGPGRP, TIOCSPGRP, TIOCGSID,
    TCFLSH, TCXONC, TCSBRK, TIOCOUTQ, FIONREAD, FIONBIO, FIOCLEX, FIONCLEX,
};

/* The kernel's own O_TMPFILE bit: glibc's __O_TMPFILE also holds O_DIRECTORY, which a
 * read-only open may well carry. */
#define SC_O_TMPFILE 020000000

/* clone flags that would make a new namespace: never, after the jail. */
#define SC_CLONE_NS                                                                                \
    (CLONE_NEWNS | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS |     \
     CLONE_NEWCGROUP)

/* ---- SIGSYS: say which call and where, then end the process ---- */

#define SC_NAMES 512
static char sc_names[SC_NAMES][24]; /* filled once before any filter: the handler only reads */
static __thread const char *sc_kind = "main or device thread";
static __thread int sc_index = -1;

void sc_set_thread_kind(const char *kind, int index)
{
    sc_kind = kind;
    sc_index = index;
}

static size_t put_str(char *p, size_t at, size_t cap, const char *s)
{
    while (*s && at < cap)
        p[at++] = *s++;
    return at;
}

static size_t put_num(char *p, size_t at, size_t cap, long v)
{
    char d[24];
    int n = 0;
    unsigned long u = v < 0 ? (unsigned long)-v : (unsigned long)v;
    do {
        d[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0 && at < cap)
        p[at++] = '-';
    while (n && at < cap)
        p[at++] = d[--n];
    return at;
}

/* Only async-signal-safe calls; write and exit_group are on every list. */
static void sc_on_sigsys(int sig, siginfo_t *si, void *uc)
{
    char m[200];
    size_t n = 0, cap = sizeof(m) - 1;
    int nr = si->si_syscall;
    n = put_str(m, n, cap, "kiln: seccomp: forbidden system call ");
    n = put_num(m, n, cap, nr);
    n = put_str(m, n, cap, " (");
    n = put_str(m, n, cap, nr >= 0 && nr < SC_NAMES && sc_names[nr][0] ? sc_names[nr] : "unknown");
    n = put_str(m, n, cap, ") in ");
    n = put_str(m, n, cap, sc_kind);
    if (sc_index >= 0) {
        n = put_str(m, n, cap, " ");
        n = put_num(m, n, cap, sc_index);
    }
    n = put_str(m, n, cap, "; the process is stopped (docs/jail.md)\n");
    m[n] = 0;
    (void)!write(STDERR_FILENO, m, n);
    /* The raw call: a sanitizer's _exit interceptor may make calls no list allows. */
    syscall(SYS_exit_group, JAIL_EXIT_SECCOMP);
    _exit(JAIL_EXIT_SECCOMP);
}

int sc_prepare(void)
{
    for (int nr = 0; nr < SC_NAMES; nr++) {
        char *s = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
        if (s) {
            snprintf(sc_names[nr], sizeof(sc_names[nr]), "%s", s);
            free(s);
        }
    }
    struct sigaction sa = {.sa_sigaction = sc_on_sigsys, .sa_flags = SA_SIGINFO};
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGSYS, &sa, NULL) ? -errno : 0;
}

/* ---- building ---- */

/*
 * Full initializers (libseccomp's SCMP_An macros leave datum_b out). Every argument compared
 * for equality here is an int or, for ioctl, an unsigned int in the kernel, so only its low 32
 * bits count: the upper half of the register is not defined for them (x86-64 psABI 3.2.3).
 */
static struct scmp_arg_cmp arg_eq(unsigned arg, scmp_datum_t v)
{
    return (struct scmp_arg_cmp){
        .arg = arg, .op = SCMP_CMP_MASKED_EQ, .datum_a = 0xffffffffu, .datum_b = v & 0xffffffffu};
}

/* (argument & mask) == v */
static struct scmp_arg_cmp arg_masked(unsigned arg, scmp_datum_t mask, scmp_datum_t v)
{
    return (struct scmp_arg_cmp){.arg = arg, .op = SCMP_CMP_MASKED_EQ, .datum_a = mask, .datum_b = v};
}

static int add_list(scmp_filter_ctx ctx, const int *nrs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nrs[i], 0);
        /* A call this libseccomp or architecture does not know cannot be made anyway. */
        if (r && r != -EDOM && r != -EFAULT)
            return r;
    }
    return 0;
}

#define ADD_LIST(ctx, a) add_list(ctx, a, sizeof(a) / sizeof(a[0]))

static int add_common_rules(scmp_filter_ctx ctx)
{
    int r = ADD_LIST(ctx, sc_base);
    /* glibc tries clone3 first and falls back to clone on ENOSYS; clone3's flags sit in
     * memory where a filter cannot read them (seccomp(2)), so only clone is checked. */
    r = r ? r : seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    /* Signals to kiln itself only (raise, abort, pthread_kill). */
    r = r ? r : seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
                                 arg_eq(0, (scmp_datum_t)getpid()));
    /* Thread names, for the message above and debuggers. */
    r = r ? r : seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
                                 arg_eq(0, PR_SET_NAME));
    r = r ? r : seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
                                 arg_eq(0, PR_GET_NAME));
    return r;
}

static int add_ioctls(scmp_filter_ctx ctx)
{
    for (size_t i = 0; i < sizeof(sc_tty_ioctls) / sizeof(sc_tty_ioctls[0]); i++) {
        int r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                                 arg_eq(1, (scmp_datum_t)sc_tty_ioctls[i]));
        if (r)
            return r;
    }
    return 0;
}

static int add_run_rules(scmp_filter_ctx ctx, const struct sc_opts *o)
{
    int r = ADD_LIST(ctx, sc_run);
    r = r ? r : add_ioctls(ctx);
    /* Threads only: no fork, so no process outside the jail's accounting. */
    r = r ? r : seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                                 arg_masked(0, CLONE_THREAD | SC_CLONE_NS, CLONE_THREAD));
    /* Reading files only (a reboot reloads the boot images; /proc/self/status for stats). */
    r = r ? r : seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
                                 arg_masked(2, O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND | SC_O_TMPFILE, 0));
    /* Hart threads add their own, stricter filter on top (SC_HART). A new filter can only
     * narrow what the process may do (seccomp(2)), so seccomp itself is harmless. */
    r = r ? r : seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(seccomp), 0);
    if (!r && o->wait_pid > 0)
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(wait4), 1,
                             arg_eq(0, (scmp_datum_t)o->wait_pid));
    if (!r && o->files)
        r = ADD_LIST(ctx, sc_files);
    if (!r && o->sockets) {
        r = ADD_LIST(ctx, sc_sockets);
        static const int families[] = {AF_INET, AF_INET6};
        for (size_t i = 0; !r && i < 2; i++)
            r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
                                 arg_eq(0, (scmp_datum_t)families[i]));
    }
    return r;
}

static int add_exec_rules(scmp_filter_ctx ctx, const struct sc_opts *o)
{
    int r = ADD_LIST(ctx, sc_exec);
    r = r ? r : add_ioctls(ctx);
    /* Host forks (the guest's fork) and threads, never with a new namespace. */
    r = r ? r : seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                                 arg_masked(0, SC_CLONE_NS, 0));
    r = r ? r : seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(seccomp), 0);
    if (!r && o->sockets) {
        r = ADD_LIST(ctx, sc_sockets);
        static const int families[] = {AF_INET, AF_INET6, AF_UNIX};
        for (size_t i = 0; !r && i < 3; i++)
            r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
                                 arg_eq(0, (scmp_datum_t)families[i]));
    }
    /* The supervisor's control socket (docs/oci.md, "exec"): connections, requests with
     * descriptors, the peer's uid. No socket() of its own: it was bound before the jail. */
    if (!r && o->control)
        r = ADD_LIST(ctx, sc_control);
    /* A joining process with a terminal takes it as its controlling one (tty_ioctl(4)). */
    if (!r && o->control)
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, arg_eq(1, TIOCSCTTY));
    /* The host re-exec of kiln for a guest execve, until it runs in-process (issue 9). */
    if (!r && o->host_execve)
        r = ADD_LIST(ctx, sc_exec_reexec);
    return r;
}

/* The proxy ends with the program's signal by raising it on itself (wait_pid: its own pid). */
static int add_proxy_rules(scmp_filter_ctx ctx, const struct sc_opts *o)
{
    int r = ADD_LIST(ctx, sc_proxy);
    r = r ? r : seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1,
                                 arg_eq(0, (scmp_datum_t)o->wait_pid));
    return r;
}

static int add_keeper_rules(scmp_filter_ctx ctx, const struct sc_opts *o)
{
    int r = ADD_LIST(ctx, sc_keeper);
    /* Relayed signals go to the VM only (sigqueue); raise() of its end goes to itself. */
    r = r ? r : seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(rt_sigqueueinfo), 1,
                                 arg_eq(0, (scmp_datum_t)o->wait_pid));
    r = r ? r : seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1,
                                 arg_eq(0, (scmp_datum_t)o->wait_pid));
    return r;
}

static scmp_filter_ctx sc_build(enum sc_kind kind, const struct sc_opts *o, int *err)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
    if (!ctx) {
        *err = -ENOMEM;
        return NULL;
    }
    int r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    if (!r && kind == SC_CLEANER) {
        /* No SIGSYS handler there: the default action of SIGSYS ends it. */
        r = ADD_LIST(ctx, sc_cleaner);
    } else {
        r = r ? r : add_common_rules(ctx);
        if (!r) {
            switch (kind) {
            case SC_HART: r = ADD_LIST(ctx, sc_hart); break;
            case SC_RUN: r = add_run_rules(ctx, o); break;
            case SC_EXEC: r = add_exec_rules(ctx, o); break;
            case SC_KEEPER: r = add_keeper_rules(ctx, o); break;
            case SC_PROXY: r = add_proxy_rules(ctx, o); break;
            case SC_CLEANER: break;
            }
        }
    }
    if (r) {
        seccomp_release(ctx);
        *err = r;
        return NULL;
    }
    return ctx;
}

int sc_load(enum sc_kind kind, const struct sc_opts *o, bool all_threads)
{
    int r;
    scmp_filter_ctx ctx = sc_build(kind, o, &r);
    if (!ctx)
        return r;
    r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, all_threads ? 1 : 0);
    r = r ? r : seccomp_load(ctx);
    seccomp_release(ctx);
    return r;
}

int sc_compile(enum sc_kind kind, const struct sc_opts *o, struct sock_fprog *out)
{
    int r, p[2];
    scmp_filter_ctx ctx = sc_build(kind, o, &r);
    if (!ctx)
        return r;
    /* libseccomp 2.5 exports only to a descriptor: a pipe holds a few KiB of BPF easily. */
    if (pipe2(p, O_CLOEXEC)) {
        r = -errno;
        seccomp_release(ctx);
        return r;
    }
    r = seccomp_export_bpf(ctx, p[1]);
    seccomp_release(ctx);
    close(p[1]);
    size_t cap = 64 * 1024, len = 0;
    char *buf = r ? NULL : malloc(cap);
    if (!r && !buf)
        r = -ENOMEM;
    while (!r) {
        ssize_t n = read(p[0], buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            r = -errno;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == cap)
            r = -E2BIG;
    }
    close(p[0]);
    if (!r && (len == 0 || len % sizeof(struct sock_filter)))
        r = -EPROTO;
    if (r) {
        free(buf);
        return r;
    }
    out->len = (unsigned short)(len / sizeof(struct sock_filter));
    out->filter = (struct sock_filter *)buf;
    return 0;
}

int sc_install(const struct sock_fprog *prog)
{
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog))
        return -errno;
    return 0;
}
