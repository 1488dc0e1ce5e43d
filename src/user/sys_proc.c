/*
 * Process-VM system calls on processes, threads, signals, time and identity,
 * and execve.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <sys/times.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "user/sys.h"

/* ---- time ---- */

long sys_put_ts(struct ctx *c, uint64_t va, const struct timespec *ts)
{
    int64_t v[2] = {ts->tv_sec, ts->tv_nsec};
    return mm_copy_out(c->mm, va, v, sizeof(v));
}

static long do_nanosleep(struct ctx *c, bool clock)
{
    struct timespec req, rem = {0, 0};
    uint64_t reqva = clock ? c->a[2] : c->a[0], remva = clock ? c->a[3] : c->a[1];
    if (mm_copy_in(c->mm, &req, reqva, sizeof(req)))
        return -EFAULT;
    long r;
    if (clock)
        r = -clock_nanosleep((clockid_t)c->a[0], (int)c->a[1], &req, &rem);
    else
        r = sys_ret(nanosleep(&req, &rem));
    if (r == -EINTR && remva && sys_put_ts(c, remva, &rem))
        return -EFAULT;
    return r;
}

/* ---- misc ---- */

static long do_uname(struct ctx *c)
{
    struct utsname u;
    uname(&u);
    char b[6][65];
    memset(b, 0, sizeof(b));
    snprintf(b[0], 65, "Linux");
    snprintf(b[1], 65, "%s", u.nodename);
    snprintf(b[2], 65, "6.1.0-kiln");
    snprintf(b[3], 65, "#1 SMP kiln process VM");
    snprintf(b[4], 65, "riscv64");
    snprintf(b[5], 65, "(none)");
    return mm_copy_out(c->mm, c->a[0], b, sizeof(b));
}

static long do_prlimit(struct ctx *c, int res, uint64_t newva, uint64_t oldva)
{
    (void)newva; /* limits are not enforced beyond --mem; setting them succeeds silently */
    if (res < 0 || res >= RLIM_NLIMITS)
        return -EINVAL;
    if (!oldva)
        return 0;
    struct rlimit rl;
    if (getrlimit(res, &rl) < 0)
        return -errno;
    if (res == RLIMIT_NOFILE)
        rl.rlim_cur = rl.rlim_max = PROC_FD_MAX;
    else if (res == RLIMIT_STACK)
        rl.rlim_cur = rl.rlim_max = PROC_STACK_SIZE;
    else if (res == RLIMIT_AS || res == RLIMIT_DATA)
        rl.rlim_cur = rl.rlim_max = c->p->cfg.mem;
    else if (res == RLIMIT_NPROC && c->p->pids)
        rl.rlim_cur = rl.rlim_max = (rlim_t)c->p->pids->max_procs;
    uint64_t v[2] = {rl.rlim_cur, rl.rlim_max};
    return mm_copy_out(c->mm, oldva, v, sizeof(v));
}

static long do_sigaction(struct ctx *c)
{
    int sig = (int)c->a[0];
    if (sig < 1 || sig > PROC_NSIG || c->a[3] != 8)
        return -EINVAL;
    struct proc_sigaction *sa = &c->p->sigact[sig];
    uint64_t old[3] = {sa->handler, sa->flags, sa->mask};
    if (c->a[1]) {
        if (sig == SIGKILL || sig == SIGSTOP)
            return -EINVAL;
        uint64_t nv[3];
        if (mm_copy_in(c->mm, nv, c->a[1], sizeof(nv)))
            return -EFAULT;
        pthread_mutex_lock(&c->p->lock);
        sa->handler = nv[0];
        sa->flags = nv[1];
        sa->mask = nv[2];
        pthread_mutex_unlock(&c->p->lock);
    }
    if (c->a[2] && mm_copy_out(c->mm, c->a[2], old, sizeof(old)))
        return -EFAULT;
    return 0;
}

static long do_sigprocmask(struct ctx *c)
{
    struct uthread *t = c->t;
    if (c->a[3] != 8)
        return -EINVAL;
    uint64_t old = t->sigmask, set;
    if (c->a[1]) {
        if (mm_copy_in(c->mm, &set, c->a[1], 8))
            return -EFAULT;
        switch (c->a[0]) {
        case SIG_BLOCK: t->sigmask |= set; break;
        case SIG_UNBLOCK: t->sigmask &= ~set; break;
        case SIG_SETMASK: t->sigmask = set; break;
        default: return -EINVAL;
        }
        t->sigmask &= ~((1ull << (SIGKILL - 1)) | (1ull << (SIGSTOP - 1)));
    }
    if (c->a[2] && mm_copy_out(c->mm, c->a[2], &old, 8))
        return -EFAULT;
    return 0;
}

static long do_sigaltstack(struct ctx *c)
{
    struct uthread *t = c->t;
    uint64_t old[3] = {t->ss_sp, t->ss_size ? 0 : 2 /* SS_DISABLE */, t->ss_size};
    if (c->a[0]) {
        uint64_t nv[3];
        if (mm_copy_in(c->mm, nv, c->a[0], sizeof(nv)))
            return -EFAULT;
        if ((uint32_t)nv[1] & 2) {
            t->ss_sp = t->ss_size = 0;
        } else {
            if (nv[2] < 2048)
                return -ENOMEM;
            t->ss_sp = nv[0];
            t->ss_size = nv[2];
        }
    }
    if (c->a[1] && mm_copy_out(c->mm, c->a[1], old, sizeof(old)))
        return -EFAULT;
    return 0;
}

/* ---- the process VM's pid space (pidtab.h) ---- */

/*
 * A pid argument of a call that only acts on the caller (prlimit64, sched_*):
 * 0, the caller's pid or one of its threads. Another process of the VM is
 * EPERM, anything else ESRCH: a host pid means nothing here.
 */
static long pid_self(struct ctx *c, int64_t pid)
{
    struct proc *p = c->p;
    if (pid == 0 || pid == p->pid || (pid > 0 && proc_find_thread(p, (int)pid)))
        return 0;
    long r = -ESRCH;
    if (p->pids && pid > 0) {
        pidtab_lock(p->pids);
        if (pidtab_find(p->pids, (int)pid))
            r = -EPERM;
        pidtab_unlock(p->pids);
    }
    return r;
}

/* kill(2): pid > 0 one process, 0 the caller's group, -1 all but init and the caller, < -1 group -pid. */
static long do_kill(struct ctx *c, int pid, int sig)
{
    struct proc *p = c->p;
    if (sig < 0 || sig > PROC_NSIG)
        return -EINVAL;
    if (!p->pids)
        return pid == p->pid || pid == 0 || pid == -1 ? proc_send_signal(p, 0, sig) : -ESRCH;
    if (pid == INT_MIN)
        return -ESRCH;
    long r = -ESRCH;
    bool self = false;
    pidtab_lock(p->pids);
    int pgid = pid == 0 ? p->self->pgid : -pid;
    for (int i = 0; i < PIDTAB_SIZE; i++) {
        struct pident *e = &p->pids->e[i];
        if (!e->vpid)
            continue;
        bool hit = pid > 0 ? e->vpid == pid
                   : pid == -1 ? e->vpid != PIDTAB_INIT && e->vpid != p->pid
                               : e->pgid == pgid;
        if (!hit)
            continue;
        if (e->vpid == p->pid) {
            self = true;
            continue;
        }
        /* Under the lock: a live entry's host pid cannot have been reaped and reused (pidtab.h). */
        int rr = proc_sig_send_other(p, e, sig);
        if (r == -ESRCH || rr == 0)
            r = rr;
    }
    pidtab_unlock(p->pids);
    if (self) {
        int rr = proc_send_signal(p, 0, sig);
        if (r == -ESRCH || rr == 0)
            r = rr;
    }
    return r;
}

/* tgkill/tkill (tgid -1): a thread of the caller, or the main thread of another process of the VM. */
static long do_tgkill(struct ctx *c, int tgid, int tid, int sig)
{
    struct proc *p = c->p;
    if (sig < 0 || sig > PROC_NSIG || tid <= 0 || (tgid <= 0 && tgid != -1))
        return -EINVAL;
    if (tgid == -1 || tgid == p->pid) {
        long r = proc_send_signal(p, tid, sig);
        if (r != -ESRCH || tgid == p->pid || !p->pids)
            return r;
    }
    if (!p->pids || (tgid != -1 && tgid != tid))
        return -ESRCH;
    pidtab_lock(p->pids);
    struct pident *e = pidtab_find(p->pids, tid);
    long r = e && e->vpid != p->pid ? proc_sig_send_other(p, e, sig) : -ESRCH;
    pidtab_unlock(p->pids);
    return r;
}

#define RV_WNOHANG 1
#define RV_WSTOPPED 2
#define RV_WEXITED 4
#define RV_WCONTINUED 8
#define RV_WNOWAIT 0x01000000
#define RV_P_ALL 0
#define RV_P_PID 1
#define RV_P_PGID 2

enum wait_which { WHICH_ANY, WHICH_PID, WHICH_PGID };

/* What wait4 and waitid report: the child's vpid, status word, and siginfo code/status. */
struct wait_result {
    int vpid, status, code, child_status;
    struct rusage ru;
};

static void wait_fill(struct wait_result *w, const siginfo_t *si)
{
    w->code = si->si_code;
    w->child_status = si->si_status;
    if (si->si_code == CLD_EXITED)
        w->status = (si->si_status & 0xff) << 8;
    else
        w->status = (si->si_status & 0x7f) | (si->si_code == CLD_DUMPED ? 0x80 : 0);
}

/*
 * Waits for an ended child of the caller (host processes are the host
 * children of their parent, and orphans those of init, the subreaper). The
 * host zombie is found with WNOWAIT, its entry removed under the table lock,
 * and only then reaped, so its pid is never reused while the table names it.
 * Returns the vpid, 0 (nohang, none yet) or -errno.
 */
static long wait_child(struct ctx *c, enum wait_which which, int id, bool nohang, bool nowait,
                       struct wait_result *w)
{
    struct proc *p = c->p;
    struct pidtab *pt = p->pids;
    if (!pt)
        return -ECHILD;
    static __thread int hosts[PIDTAB_SIZE];
    for (;;) {
        int n = 0;
        bool all = true;
        pidtab_lock(pt);
        for (int i = 0; i < PIDTAB_SIZE; i++) {
            struct pident *e = &pt->e[i];
            if (!e->vpid || e->ppid != p->pid)
                continue;
            bool m = which == WHICH_ANY || (which == WHICH_PID && e->vpid == id) ||
                     (which == WHICH_PGID && e->pgid == id);
            if (m && e->host)
                hosts[n++] = e->host;
            else
                all = false;
        }
        pidtab_unlock(pt);
        /* init also has the host's orphans, which may not be in its name yet. */
        if (!n && !(which == WHICH_ANY && p->pid == PIDTAB_INIT))
            return -ECHILD;
        siginfo_t si;
        memset(&si, 0, sizeof(si));
        int flags = WEXITED | WNOWAIT;
        int r = 0;
        if (which == WHICH_PID || all) {
            r = which == WHICH_PID ? waitid(P_PID, (id_t)hosts[0], &si, flags | (nohang ? WNOHANG : 0))
                                  : waitid(P_ALL, 0, &si, flags | (nohang ? WNOHANG : 0));
        } else {
            /* Only some children match (a process group): look at each, then nap. */
            for (int i = 0; i < n && !si.si_pid && r == 0; i++)
                r = waitid(P_PID, (id_t)hosts[i], &si, flags | WNOHANG);
            if (!si.si_pid && r == 0 && !nohang) {
                if (atomic_load(&c->t->sigpending) || atomic_load(&p->host_pending) || c->t->exited)
                    return -EINTR;
                usleep(5000);
                continue;
            }
        }
        if (r < 0)
            return errno == EINTR ? -EINTR : -errno;
        if (!si.si_pid)
            return 0;
        pidtab_lock(pt);
        struct pident *e = pidtab_find_host(pt, si.si_pid);
        if (!e) {
            /* Another thread of the caller took it (or it was never the VM's): no entry names
               this host pid any more, so reaping it here is safe either way. */
            pidtab_unlock(pt);
            waitpid(si.si_pid, NULL, WNOHANG);
            continue;
        }
        w->vpid = e->vpid;
        wait_fill(w, &si);
        memset(&w->ru, 0, sizeof(w->ru));
        if (nowait) {
            pidtab_unlock(pt);
            return w->vpid;
        }
        pidtab_remove(pt, e);
        pidtab_unlock(pt);
        int st;
        if (wait4(si.si_pid, &st, 0, &w->ru) == si.si_pid)
            w->status = st;
        return w->vpid;
    }
}

_Static_assert(sizeof(struct sysinfo) == 112, "sysinfo layout");
_Static_assert(sizeof(struct tms) == 32, "tms layout");
_Static_assert(sizeof(struct timespec) == 16, "timespec layout");
/* struct rusage is the same 144 bytes on riscv64 and x86-64 (two timevals of two longs, 14 longs). */
_Static_assert(sizeof(struct rusage) == 144, "rusage layout");

static long do_wait4(struct ctx *c)
{
    int pid = (int)c->a[0], opts = (int)c->a[2];
    if (opts & ~(RV_WNOHANG | RV_WSTOPPED | RV_WCONTINUED | 0x20000000 | 0x40000000 | 0x80000000u))
        return -EINVAL;
    if (pid == INT_MIN)
        return -ESRCH;
    enum wait_which which = pid > 0 ? WHICH_PID : pid == -1 ? WHICH_ANY : WHICH_PGID;
    int id = pid > 0 ? pid : pid == 0 ? (c->p->self ? c->p->self->pgid : c->p->pid) : -pid;
    struct wait_result w;
    long r = wait_child(c, which, id, opts & RV_WNOHANG, false, &w);
    if (r <= 0)
        return r;
    int32_t st = w.status;
    if (c->a[1] && mm_copy_out(c->mm, c->a[1], &st, 4))
        return -EFAULT;
    if (c->a[3] && mm_copy_out(c->mm, c->a[3], &w.ru, sizeof(w.ru)))
        return -EFAULT;
    return r;
}

/* waitid(2) with riscv64's fifth argument (rusage). Stopped/continued children never happen here. */
static long do_waitid(struct ctx *c)
{
    int idtype = (int)c->a[0], id = (int)c->a[1], opts = (int)c->a[3];
    if (opts & ~(RV_WNOHANG | RV_WSTOPPED | RV_WEXITED | RV_WCONTINUED | RV_WNOWAIT | 0x20000000 |
                 0x40000000 | 0x80000000u) ||
        !(opts & (RV_WEXITED | RV_WSTOPPED | RV_WCONTINUED)))
        return -EINVAL;
    enum wait_which which;
    switch (idtype) {
    case RV_P_ALL: which = WHICH_ANY; break;
    case RV_P_PID: which = WHICH_PID; if (id <= 0) return -EINVAL; break;
    case RV_P_PGID:
        which = WHICH_PGID;
        if (id < 0)
            return -EINVAL;
        if (id == 0)
            id = c->p->self ? c->p->self->pgid : c->p->pid;
        break;
    default: return -EINVAL; /* P_PIDFD: there are no pidfds */
    }
    struct wait_result w;
    long r = (opts & RV_WEXITED) ? wait_child(c, which, id, opts & RV_WNOHANG, opts & RV_WNOWAIT, &w)
                                 : (opts & RV_WNOHANG) ? 0 : -ECHILD;
    if (r < 0)
        return r;
    /* siginfo for SIGCHLD (asm-generic siginfo.h): signo, errno, code, then pid, uid, status. */
    uint8_t si[128];
    memset(si, 0, sizeof(si));
    if (r > 0) {
        int32_t f[3] = {SIGCHLD, 0, w.code};
        int32_t g[3] = {w.vpid, (int32_t)proc_uid(&c->p->cfg), w.child_status};
        memcpy(si, f, sizeof(f));
        memcpy(si + 16, g, sizeof(g));
    }
    if (c->a[2] && mm_copy_out(c->mm, c->a[2], si, sizeof(si)))
        return -EFAULT;
    if (r > 0 && c->a[4] && mm_copy_out(c->mm, c->a[4], &w.ru, sizeof(w.ru)))
        return -EFAULT;
    return 0;
}

/* getpgid, setpgid, getsid, setsid on the VM's own process groups and sessions. */
static long do_pgrp(struct ctx *c, unsigned nr)
{
    struct proc *p = c->p;
    struct pidtab *pt = p->pids;
    int pid = (int)c->a[0];
    if (!pt) {
        if (pid && pid != p->pid && nr != RV_NR_setsid)
            return -ESRCH;
        return nr == RV_NR_setpgid ? 0 : nr == RV_NR_setsid ? -EPERM : p->pid;
    }
    long r = -ESRCH;
    pidtab_lock(pt);
    struct pident *me = p->self;
    struct pident *e = pid ? pidtab_find(pt, pid) : me;
    switch (nr) {
    case RV_NR_getpgid: if (e) r = e->pgid; break;
    case RV_NR_getsid: if (e) r = e->sid; break;
    case RV_NR_setpgid: {
        int pgid = (int)c->a[1];
        if (pgid < 0) {
            r = -EINVAL;
            break;
        }
        if (!e || (e != me && e->ppid != me->vpid))
            break;
        if (e->sid != me->sid || e->vpid == e->sid) {
            r = -EPERM;
            break;
        }
        if (!pgid)
            pgid = e->vpid;
        bool exists = pgid == e->vpid;
        for (int i = 0; i < PIDTAB_SIZE && !exists; i++)
            exists = pt->e[i].vpid && pt->e[i].pgid == pgid && pt->e[i].sid == me->sid;
        if (!exists) {
            r = -EPERM;
            break;
        }
        e->pgid = pgid;
        r = 0;
        break;
    }
    case RV_NR_setsid:
        if (me->pgid == me->vpid) {
            r = -EPERM; /* a process group leader cannot (setsid(2)) */
            break;
        }
        me->pgid = me->sid = me->vpid;
        r = me->vpid;
        break;
    }
    pidtab_unlock(pt);
    return r;
}

/* ---- execve inside the process VM ---- */

/*
 * kiln's copy of argv or envp, bounded like Linux's copy_strings
 * (fs/exec.c): each string at most PROC_ARG_STRLEN bytes, strings plus
 * pointers at most PROC_ARG_MAX, else E2BIG; the copy is charged to --mem.
 */
struct argcopy {
    char *buf;
    size_t len, cap, total; /* total: bytes counted against PROC_ARG_MAX */
    size_t *off;            /* offset of each string in buf */
    size_t n, ncap, nargv;  /* nargv: how many of them are argv (the rest is envp) */
    uint64_t charged;       /* pages charged to the VM */
};

static int argcopy_grow(struct mm *mm, struct argcopy *a, size_t need)
{
    if (a->cap - a->len >= need)
        return 0;
    size_t cap = a->cap ? a->cap * 2 : 64 * 1024;
    while (cap - a->len < need)
        cap *= 2;
    uint64_t pages = (cap - a->cap) / MM_PAGE;
    if (mm_charge(mm, pages))
        return -ENOMEM;
    char *nb = realloc(a->buf, cap);
    if (!nb) {
        mm_uncharge(mm, pages);
        return -ENOMEM;
    }
    a->charged += pages;
    a->buf = nb;
    a->cap = cap;
    return 0;
}

static long argcopy_push(struct argcopy *a, size_t off)
{
    if (a->n == a->ncap) {
        size_t nc = a->ncap ? a->ncap * 2 : 64;
        size_t *no = realloc(a->off, nc * sizeof(*no));
        if (!no)
            return -ENOMEM;
        a->off = no;
        a->ncap = nc;
    }
    a->off[a->n++] = off;
    return 0;
}

static long argcopy_vec(struct ctx *c, struct argcopy *a, uint64_t vec)
{
    for (size_t i = 0; vec; i++) {
        uint64_t sp;
        if (mm_copy_in(c->mm, &sp, vec + 8 * i, 8))
            return -EFAULT;
        if (!sp)
            break;
        if (a->total + 8 + 1 > PROC_ARG_MAX)
            return -E2BIG;
        size_t max = PROC_ARG_MAX - a->total - 8;
        if (max > PROC_ARG_STRLEN)
            max = PROC_ARG_STRLEN;
        long r = argcopy_grow(c->mm, a, max);
        if (r)
            return r;
        long n = mm_copy_str(c->mm, a->buf + a->len, sp, max);
        if (n == -ENAMETOOLONG)
            return -E2BIG;
        if (n < 0)
            return -EFAULT;
        if ((r = argcopy_push(a, a->len)))
            return r;
        a->len += (size_t)n + 1;
        a->total += (size_t)n + 1 + 8;
    }
    return 0;
}

static void argcopy_free(struct mm *mm, struct argcopy *a)
{
    free(a->buf);
    free(a->off);
    mm_uncharge(mm, a->charged);
}

/* What the kernel reads of a script's first line (BINPRM_BUF_SIZE). */
#define SHEBANG_MAX 256

/*
 * The first line of a "#!" script (binfmt_script): interpreter and its one
 * optional argument. head holds got <= SHEBANG_MAX bytes of a SHEBANG_MAX buffer.
 */
static int parse_shebang(char *head, size_t got, char **interp, char **iarg)
{
    if (got < 3 || head[0] != '#' || head[1] != '!')
        return 0;
    char *nl = memchr(head, '\n', got);
    if (!nl && got >= SHEBANG_MAX)
        return -ENOEXEC; /* longer than the 256 bytes the kernel reads */
    if (!nl)
        nl = head + got; /* the file ends on the line */
    *nl = 0;
    char *s = head + 2;
    while (*s == ' ' || *s == '\t')
        s++;
    if (!*s)
        return -ENOEXEC;
    *interp = s;
    while (*s && *s != ' ' && *s != '\t')
        s++;
    *iarg = NULL;
    if (*s) {
        *s++ = 0;
        while (*s == ' ' || *s == '\t')
            s++;
        char *end = s + strlen(s);
        while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
            *--end = 0;
        if (*s)
            *iarg = s;
    }
    return 1;
}

/* Opens a guest path for execution: a regular file with an execute bit (execve(2) EACCES). */
static int open_exec(struct proc *p, const char *abs)
{
    int fd = mounts_open(&p->mounts, abs, O_RDONLY, 0);
    if (fd < 0)
        return fd;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0111)) {
        close(fd);
        return -EACCES;
    }
    return fd;
}

/*
 * execve(path, argv, envp) and execveat(dirfd, path, argv, envp, flags); with
 * AT_EMPTY_PATH (fexecve) the file is the one dirfd was opened as, found again
 * through the mounts like any guest path.
 */
/* Scripts whose interpreter is a script: as deep as Linux goes (BINPRM_MAX_RECURSION). */
#define SHEBANG_DEPTH 4

static long do_execve(struct ctx *c, int64_t dirfd, uint64_t pathva, uint64_t argva,
                      uint64_t envva, uint64_t flags)
{
    struct proc *p = c->p;
    char path[GPATH_MAX], abs[GPATH_MAX];
    if (flags & ~(uint64_t)(RV_AT_SYMLINK_NOFOLLOW | RV_AT_EMPTY_PATH))
        return -EINVAL;
    long r = mm_copy_str(c->mm, path, pathva, sizeof(path));
    if (r < 0)
        return r;
    if ((r = sys_path(c, dirfd, pathva, abs, flags & RV_AT_EMPTY_PATH)))
        return r;
    if (!path[0])
        snprintf(path, sizeof(path), "%s", abs);
    int fd = open_exec(p, abs);
    if (fd < 0)
        return fd;
    /* The strings are copied before anything of the old image goes. */
    struct argcopy a = {0};
    char **argv = NULL, **envp = NULL;
    if ((r = argcopy_vec(c, &a, argva)))
        goto out;
    a.nargv = a.n;
    if ((r = argcopy_vec(c, &a, envva)))
        goto out;
    /*
     * "#!interp [arg]" (binfmt_script): argv[0] gives way to interp, arg and the
     * script's name; a script interpreter is itself a script up to SHEBANG_DEPTH.
     */
    static __thread char heads[SHEBANG_DEPTH][SHEBANG_MAX];
    char *interp[SHEBANG_DEPTH], *iarg[SHEBANG_DEPTH];
    int depth = 0;
    for (;; depth++) {
        if (depth == SHEBANG_DEPTH) {
            char m[2];
            if (pread(fd, m, 2, 0) == 2 && m[0] == '#' && m[1] == '!') {
                r = -ELOOP;
                goto out;
            }
            break;
        }
        ssize_t got = pread(fd, heads[depth], sizeof(heads[0]), 0);
        r = parse_shebang(heads[depth], got > 0 ? (size_t)got : 0, &interp[depth], &iarg[depth]);
        if (r < 0)
            goto out;
        if (!r)
            break;
        char iabs[GPATH_MAX];
        if ((r = path_normalize(p->cwd, interp[depth], iabs, sizeof(iabs))))
            goto out;
        close(fd);
        fd = open_exec(p, iabs);
        if (fd < 0) {
            r = fd;
            goto out;
        }
    }
    argv = calloc(a.nargv + 2 * (size_t)depth + 2, sizeof(char *));
    envp = calloc(a.n - a.nargv + 1, sizeof(char *));
    r = -ENOMEM;
    if (!argv || !envp)
        goto out;
    size_t k = 0;
    for (int d = depth; d-- > 0;) {
        argv[k++] = interp[d];
        if (iarg[d])
            argv[k++] = iarg[d];
    }
    if (depth)
        argv[k++] = path;
    for (size_t i = depth ? 1 : 0; i < a.nargv; i++)
        argv[k++] = a.buf + a.off[i];
    for (size_t i = a.nargv; i < a.n; i++)
        envp[i - a.nargv] = a.buf + a.off[i];
    r = proc_exec(c->t, fd, path, argv, envp);
out:
    if (fd >= 0)
        close(fd);
    free(argv);
    free(envp);
    argcopy_free(c->mm, &a);
    return r;
}

/* Process, signal, time and identity system calls; SYS_UNHANDLED for numbers that are not this file's. */
long sys_proc(struct ctx *c, unsigned nr)
{
    struct proc *p = c->p;
    uint64_t *a = c->a;
    (void)p;
    (void)a;
    switch (nr) {
    case RV_NR_uname: return do_uname(c);
    case RV_NR_getpid: return p->pid;
    case RV_NR_getppid: return p->self ? p->self->ppid : 0;
    case RV_NR_gettid: return c->t->tid;
    case RV_NR_getuid: return proc_uid(&p->cfg);
    case RV_NR_geteuid: return proc_uid(&p->cfg);
    case RV_NR_getgid: return proc_gid(&p->cfg);
    case RV_NR_getegid: return proc_gid(&p->cfg);
    case RV_NR_getpgid: case RV_NR_getsid: case RV_NR_setpgid: case RV_NR_setsid:
        return do_pgrp(c, nr);
    case RV_NR_getgroups: return 0;
    case RV_NR_getresuid: case RV_NR_getresgid: {
        uint32_t id = nr == RV_NR_getresuid ? proc_uid(&p->cfg) : proc_gid(&p->cfg);
        for (int i = 0; i < 3; i++)
            if (mm_copy_out(c->mm, a[i], &id, 4))
                return -EFAULT;
        return 0;
    }
    case RV_NR_set_tid_address: c->t->clear_child_tid = a[0]; return c->t->tid;
    case RV_NR_set_robust_list: return 0;
    case RV_NR_rseq: return -ENOSYS;
    case RV_NR_prlimit64: {
        long r = pid_self(c, (int)a[0]);
        return r ? r : do_prlimit(c, (int)a[1], a[2], a[3]);
    }
    case RV_NR_getrlimit: return do_prlimit(c, (int)a[0], 0, a[1]);
    case RV_NR_setrlimit: return 0;
    case RV_NR_getrusage: {
        /* The host process's own figures (this guest process's kiln): 144 bytes on both. */
        struct rusage ru;
        if ((int)a[0] != RUSAGE_SELF && (int)a[0] != RUSAGE_CHILDREN && (int)a[0] != RUSAGE_THREAD)
            return -EINVAL;
        if (getrusage((int)a[0], &ru) < 0)
            return -errno;
        return mm_copy_out(c->mm, a[1], &ru, sizeof(ru));
    }
    case RV_NR_sysinfo: {
        /* The VM's memory, not the host's; 112 bytes on riscv64 and x86-64 alike. */
        struct sysinfo si, host;
        memset(&si, 0, sizeof(si));
        sysinfo(&host);
        si.uptime = host.uptime;
        memcpy(si.loads, host.loads, sizeof(si.loads));
        si.totalram = p->pids ? p->pids->commit_limit * MM_PAGE : p->cfg.mem;
        uint64_t used = p->pids ? atomic_load(&p->pids->commit) * MM_PAGE : c->mm->commit * MM_PAGE;
        si.freeram = used < si.totalram ? si.totalram - used : 0;
        si.procs = p->pids ? (unsigned short)p->pids->nprocs : 1;
        si.mem_unit = 1;
        return mm_copy_out(c->mm, a[0], &si, sizeof(si));
    }
    case RV_NR_clock_gettime: case RV_NR_clock_getres: {
        struct timespec ts;
        long r = sys_ret(nr == RV_NR_clock_gettime ? clock_gettime((clockid_t)a[0], &ts)
                                                 : clock_getres((clockid_t)a[0], &ts));
        if (r < 0 || !a[1])
            return r;
        return sys_put_ts(c, a[1], &ts);
    }
    case RV_NR_gettimeofday: {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        int64_t v[2] = {tv.tv_sec, tv.tv_usec};
        return a[0] ? mm_copy_out(c->mm, a[0], v, sizeof(v)) : 0;
    }
    case RV_NR_times: {
        struct tms tm; /* four longs on both */
        clock_t r = times(&tm);
        if (a[0] && mm_copy_out(c->mm, a[0], &tm, sizeof(tm)))
            return -EFAULT;
        return (long)r;
    }
    case RV_NR_nanosleep: return do_nanosleep(c, false);
    case RV_NR_clock_nanosleep: return do_nanosleep(c, true);
    case RV_NR_getrandom: {
        uint8_t buf[256];
        uint64_t len = a[1] < sizeof(buf) ? a[1] : sizeof(buf);
        long r = sys_ret(getrandom(buf, len, (unsigned)a[2] & ~GRND_RANDOM));
        if (r > 0 && mm_copy_out(c->mm, a[0], buf, (size_t)r))
            return -EFAULT;
        return r;
    }
    case RV_NR_sched_yield: return sys_ret(sched_yield());
    case RV_NR_sched_getaffinity: {
        long r = pid_self(c, (int)a[0]);
        if (r && r != -EPERM) /* any process of the VM may be looked at */
            return r;
        if (a[1] < 8)
            return -EINVAL;
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        uint64_t mask = n >= 64 ? ~0ull : (1ull << (n > 0 ? n : 1)) - 1;
        return mm_copy_out(c->mm, a[2], &mask, 8) ? -EFAULT : 8;
    }
    case RV_NR_sched_getscheduler: case RV_NR_sched_getparam: {
        /* SCHED_OTHER, priority 0, for any process of the VM. */
        long r = pid_self(c, (int)a[0]);
        if (r && r != -EPERM)
            return r;
        int32_t prio = 0;
        if (nr == RV_NR_sched_getparam && mm_copy_out(c->mm, a[1], &prio, sizeof(prio)))
            return -EFAULT;
        return 0;
    }
    case RV_NR_sched_setaffinity: case RV_NR_sched_setscheduler:
        return pid_self(c, (int)a[0]); /* accepted for the caller, without effect */
    case RV_NR_getpriority: case RV_NR_setpriority: {
        /* Every process runs at nice 0 (getpriority's 20 - nice); a pid must be the VM's. */
        long r = 0;
        if (a[0] > 2)
            return -EINVAL;
        if (a[0] == 0 /* PRIO_PROCESS */ && a[1]) {
            r = pid_self(c, (int)a[1]);
            if (r == -EPERM)
                r = 0; /* another process of the VM: fine */
        }
        return r ? r : nr == RV_NR_getpriority ? 20 : 0;
    }
    case RV_NR_ptrace: case RV_NR_process_vm_readv: case RV_NR_process_vm_writev: case RV_NR_kcmp:
        return -EPERM; /* no process of the VM looks into another */
    case RV_NR_pidfd_open: case RV_NR_pidfd_send_signal: case RV_NR_pidfd_getfd:
        return -ENOSYS; /* no pidfds: libraries fall back to pids */
    case RV_NR_msync: case RV_NR_mlock: case RV_NR_munlock:
    case RV_NR_mlockall: case RV_NR_munlockall: case RV_NR_prctl:
        return 0;
    case RV_NR_riscv_flush_icache:
        /* Every thread's fetches must see earlier stores (arch/riscv/mm/cacheflush.c): a new
           tlb_gen makes each hart drop decoded and translated code, this one before it returns. */
        if (a[2] & ~1ull) /* SYS_RISCV_FLUSH_ICACHE_LOCAL is the only flag */
            return -EINVAL;
        atomic_fetch_add(&c->mm->tlb_gen, 1);
        return 0;
    case RV_NR_rt_sigaction: return do_sigaction(c);
    case RV_NR_rt_sigprocmask: return do_sigprocmask(c);
    case RV_NR_sigaltstack: return do_sigaltstack(c);
    case RV_NR_rt_sigsuspend: {
        /*
         * Waits with the given mask; the handler then runs with it, and its frame keeps the
         * old mask for rt_sigreturn (Linux's saved_sigmask). Delivery happens on the way
         * out of the call, after a0 = -EINTR and pc past the ecall are set.
         */
        uint64_t set;
        if (a[1] != 8)
            return -EINVAL;
        if (mm_copy_in(c->mm, &set, a[0], 8))
            return -EFAULT;
        struct uthread *t = c->t;
        t->saved_sigmask = t->sigmask;
        t->restore_sigmask = true;
        t->sigmask = set & ~((1ull << (SIGKILL - 1)) | (1ull << (SIGSTOP - 1)));
        while (!(atomic_load(&t->sigpending) & ~t->sigmask) && !atomic_load(&p->vm.stop) &&
               !t->exited) {
            /* Signals for the process are this thread's to take while it waits for them. */
            uint64_t host = atomic_exchange(&p->host_pending, 0);
            if (host)
                atomic_fetch_or(&t->sigpending, host);
            else
                usleep(1000);
        }
        return -EINTR;
    }
    case RV_NR_kill: return do_kill(c, (int)a[0], (int)a[1]);
    case RV_NR_tkill: return do_tgkill(c, -1, (int)a[0], (int)a[1]);
    case RV_NR_tgkill: return do_tgkill(c, (int)a[0], (int)a[1], (int)a[2]);
    case RV_NR_clone: return proc_clone(c->t, a[0], a[1], a[2], a[3], a[4]);
    case RV_NR_wait4: return do_wait4(c);
    case RV_NR_waitid: return do_waitid(c);
    case RV_NR_execve: return do_execve(c, RV_AT_FDCWD, a[0], a[1], a[2], 0);
    case RV_NR_execveat: return do_execve(c, (int64_t)a[0], a[1], a[2], a[3], a[4]);
    case RV_NR_exit:
        proc_thread_exit(c->t, (int)(a[0] & 0xff));
        return 0;
    case RV_NR_exit_group:
        proc_exit(p, (int)(a[0] & 0xff), 0);
        c->t->exited = true;
        return 0;
    default:
        return SYS_UNHANDLED;
    }
}
