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

static long do_kill(struct ctx *c, int64_t pid, int sig)
{
    if (pid == c->p->pid || pid == 0)
        return proc_send_signal(c->p, 0, sig);
    if (pid > 0)
        return sys_ret(kill((pid_t)pid, sig)); /* a forked child: a real host process */
    return -EPERM;
}

static long do_tgkill(struct ctx *c, int64_t tgid, int64_t tid, int sig)
{
    if (tgid != -1 && tgid != c->p->pid)
        return -ESRCH;
    return proc_send_signal(c->p, (int)tid, sig);
}

static long do_wait4(struct ctx *c)
{
    int status = 0;
    struct rusage ru;
    long r = sys_ret(wait4((pid_t)c->a[0], c->a[1] ? &status : NULL, (int)c->a[2], c->a[3] ? &ru : NULL));
    if (r > 0 && c->a[1] && mm_copy_out(c->mm, c->a[1], &status, 4))
        return -EFAULT;
    if (r > 0 && c->a[3] && mm_copy_out(c->mm, c->a[3], &ru, sizeof(ru)))
        return -EFAULT;
    return r;
}

/* ---- execve: re-run kiln on the new program ---- */

static long do_execve(struct ctx *c)
{
    char abs[GPATH_MAX];
    int r = sys_path(c, RV_AT_FDCWD, c->a[0], abs, false);
    if (r)
        return r;
    int fd = mounts_open(&c->p->mounts, abs, O_RDONLY, 0);
    if (fd < 0)
        return fd;
    long ret = -E2BIG;
    char **args = NULL, **env = NULL;
    size_t na = 0, ne = 0, cap = 0;
    char str[GPATH_MAX];
    /* Strings of argv and envp. */
    for (int which = 0; which < 2; which++) {
        uint64_t vec = c->a[1 + which];
        char ***out = which ? &env : &args;
        size_t *cnt = which ? &ne : &na;
        cap = 0;
        for (size_t i = 0; vec; i++) {
            uint64_t sp;
            if (mm_copy_in(c->mm, &sp, vec + 8 * i, 8)) {
                ret = -EFAULT;
                goto out;
            }
            if (!sp)
                break;
            if (mm_copy_str(c->mm, str, sp, sizeof(str)) < 0 || i > 100000) {
                ret = -E2BIG;
                goto out;
            }
            if (*cnt + 2 > cap) {
                cap = cap ? cap * 2 : 16;
                char **nv = realloc(*out, cap * sizeof(char *));
                if (!nv)
                    goto out;
                *out = nv;
            }
            (*out)[(*cnt)++] = strdup(str);
            (*out)[*cnt] = NULL;
        }
    }
    if (!env) {
        env = calloc(1, sizeof(char *));
        if (!env)
            goto out;
    }
    /* "#!interp [arg]": run the interpreter with the script's path (binfmt_script). */
    char head[256] = {0};
    ssize_t got = pread(fd, head, sizeof(head) - 1, 0);
    char *interp = NULL, *iarg = NULL;
    if (got > 2 && head[0] == '#' && head[1] == '!') {
        char *nl = strchr(head, '\n');
        if (nl)
            *nl = 0;
        char *s = head + 2;
        while (*s == ' ' || *s == '\t')
            s++;
        interp = s;
        while (*s && *s != ' ' && *s != '\t')
            s++;
        if (*s) {
            *s++ = 0;
            while (*s == ' ' || *s == '\t')
                s++;
            if (*s)
                iarg = s;
        }
        close(fd);
        char iabs[GPATH_MAX];
        if (path_normalize(c->p->cwd, interp, iabs, sizeof(iabs)) ||
            (fd = mounts_open(&c->p->mounts, iabs, O_RDONLY, 0)) < 0) {
            ret = -ENOENT;
            goto out;
        }
    } else if (got < 4 || memcmp(head, "\177ELF", 4)) {
        close(fd);
        ret = -ENOEXEC;
        goto out;
    }
    /* argv for the new kiln: prefix (kiln exec [options]), --prog-fd N --execfn PATH --cwd DIR -- argv... */
    size_t npre = 0;
    while (c->p->cfg.reexec[npre])
        npre++;
    char **nargv = calloc(npre + na + 12, sizeof(char *));
    if (!nargv) {
        close(fd);
        goto out;
    }
    size_t k = 0;
    for (size_t i = 0; i < npre; i++)
        if (!c->p->forked || strcmp(c->p->cfg.reexec[i], "--own-skeleton"))
            nargv[k++] = c->p->cfg.reexec[i]; /* only the top process hands the skeleton on */
    char fdbuf[32];
    fd = fdtable_reexec_layout(&c->p->fdt, fd); /* the guest's inherited descriptors at their numbers */
    snprintf(fdbuf, sizeof(fdbuf), "%d", fd);
    nargv[k++] = "--prog-fd";
    nargv[k++] = fdbuf;
    nargv[k++] = "--cwd";
    nargv[k++] = c->p->cwd;
    nargv[k++] = "--";
    if (interp) {
        nargv[k++] = interp;
        if (iarg)
            nargv[k++] = iarg;
        nargv[k++] = abs;
        for (size_t i = 1; i < na; i++)
            nargv[k++] = args[i];
    } else {
        nargv[k++] = abs; /* the program as the guest named it: execfn */
        nargv[k++] = "--argv";
        for (size_t i = 0; i < na; i++)
            nargv[k++] = args[i];
    }
    nargv[k] = NULL;
    fcntl(fd, F_SETFD, 0);
    fflush(stdout);
    fflush(stderr);
    execve("/proc/self/exe", nargv, env);
    ret = -errno;
    close(fd);
    free(nargv);
out:
    for (size_t i = 0; i < na; i++)
        free(args[i]);
    for (size_t i = 0; i < ne; i++)
        free(env[i]);
    free(args);
    free(env);
    return ret;
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
    case RV_NR_getppid: return getppid();
    case RV_NR_gettid: return c->t->tid;
    case RV_NR_getuid: return getuid();
    case RV_NR_geteuid: return geteuid();
    case RV_NR_getgid: return getgid();
    case RV_NR_getegid: return getegid();
    case RV_NR_getpgid: return sys_ret(getpgid((pid_t)a[0]));
    case RV_NR_getsid: return sys_ret(getsid((pid_t)a[0]));
    case RV_NR_setpgid: return sys_ret(setpgid((pid_t)a[0], (pid_t)a[1]));
    case RV_NR_setsid: return sys_ret(setsid());
    case RV_NR_getgroups: return 0;
    case RV_NR_getresuid: case RV_NR_getresgid: {
        uint32_t id = nr == RV_NR_getresuid ? getuid() : getgid();
        for (int i = 0; i < 3; i++)
            if (mm_copy_out(c->mm, a[i], &id, 4))
                return -EFAULT;
        return 0;
    }
    case RV_NR_set_tid_address: c->t->clear_child_tid = a[0]; return c->t->tid;
    case RV_NR_set_robust_list: return 0;
    case RV_NR_rseq: return -ENOSYS;
    case RV_NR_prlimit64:
        if (a[0] && (int)a[0] != p->pid)
            return -ESRCH;
        return do_prlimit(c, (int)a[1], a[2], a[3]);
    case RV_NR_getrlimit: return do_prlimit(c, (int)a[0], 0, a[1]);
    case RV_NR_setrlimit: return 0;
    case RV_NR_getrusage: {
        struct rusage ru;
        if (getrusage((int)a[0], &ru) < 0)
            return -errno;
        return mm_copy_out(c->mm, a[1], &ru, sizeof(ru));
    }
    case RV_NR_sysinfo: {
        struct sysinfo si;
        sysinfo(&si);
        si.totalram = p->cfg.mem;
        si.freeram = pmem_avail(&c->mm->pm) * MM_PAGE;
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
        struct tms tm;
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
        if (a[1] < 8)
            return -EINVAL;
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        uint64_t mask = n >= 64 ? ~0ull : (1ull << (n > 0 ? n : 1)) - 1;
        return mm_copy_out(c->mm, a[2], &mask, 8) ? -EFAULT : 8;
    }
    case RV_NR_sched_setaffinity: case RV_NR_sched_getscheduler: case RV_NR_sched_getparam:
    case RV_NR_sched_setscheduler: case RV_NR_msync: case RV_NR_mlock: case RV_NR_munlock:
    case RV_NR_mlockall: case RV_NR_munlockall: case RV_NR_prctl: case RV_NR_riscv_flush_icache:
        return 0;
    case RV_NR_rt_sigaction: return do_sigaction(c);
    case RV_NR_rt_sigprocmask: return do_sigprocmask(c);
    case RV_NR_sigaltstack: return do_sigaltstack(c);
    case RV_NR_rt_sigsuspend: {
        uint64_t set, old = c->t->sigmask;
        if (mm_copy_in(c->mm, &set, a[0], 8))
            return -EFAULT;
        c->t->sigmask = set;
        while (!(atomic_load(&c->t->sigpending) & ~set) && !atomic_load(&p->host_pending) &&
               !atomic_load(&p->vm.stop))
            usleep(1000);
        proc_deliver_signals(c->t);
        c->t->sigmask = old; /* approximate: the handler's frame already holds set */
        return -EINTR;
    }
    case RV_NR_kill: return do_kill(c, (int64_t)a[0], (int)a[1]);
    case RV_NR_tkill: return do_tgkill(c, -1, (int64_t)a[0], (int)a[1]);
    case RV_NR_tgkill: return do_tgkill(c, (int64_t)a[0], (int64_t)a[1], (int)a[2]);
    case RV_NR_clone: return proc_clone(c->t, a[0], a[1], a[2], a[3], a[4]);
    case RV_NR_wait4: return do_wait4(c);
    case RV_NR_execve: return do_execve(c);
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
