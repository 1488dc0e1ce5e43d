/* The jail's sequence (jail.h): namespaces, root, identity, rlimits, seccomp. */
#define _GNU_SOURCE
#include "jail/jail.h"

#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jail/pidns.h"
#include "jail/root.h"
#include "jail/seccomp.h"
#include "util/log.h"

/* Descriptors a jailed `kiln run` may still open: above its highest one at lockdown. With user
 * networking libslirp opens one host socket per guest connection. */
#define NOFILE_SPARE 64
#define NOFILE_SOCKETS 4096
/* Host processes and threads a process VM may add to its user's count (RLIMIT_NPROC): the
 * kernel counts every task of the real uid, so the cap is "what the user has now + this". */
#define EXEC_NPROC_SPARE 512

/*
 * KILN_JAIL_SELFTEST=main|hart|exec makes that thread kind call a system call
 * its filter forbids, right after the filter is in place: the tests use it to
 * show the filter holds and what the user then sees (docs/jail.md).
 */
static char env_selftest[16], env_jail[16];

/*
 * The two variables are read once at start-up, before any caller can clear the
 * environment (kiln exec runs its host side with an empty one).
 */
__attribute__((constructor)) static void jail_read_env(void)
{
    const char *t = getenv("KILN_JAIL_SELFTEST");
    const char *j = getenv("KILN_JAIL");
    snprintf(env_selftest, sizeof(env_selftest), "%s", t && strlen(t) < sizeof(env_selftest) ? t : "");
    snprintf(env_jail, sizeof(env_jail), "%s", j && strlen(j) < sizeof(env_jail) ? j : "");
}

static void selftest(const char *kind)
{
    if (strcmp(env_selftest, kind))
        return;
    if (!strcmp(kind, "hart"))
        syscall(SYS_openat, AT_FDCWD, "/", 0); /* allowed to the main thread, not to a hart */
    else
        syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0);
}

void jail_init(struct jail *j)
{
    memset(j, 0, sizeof(*j));
    j->uid = JAIL_DEFAULT_UID;
    j->gid = JAIL_DEFAULT_GID;
    j->fsize = JAIL_FSIZE_MIN;
}

int jail_parse_user(const char *s, uid_t *uid, gid_t *gid)
{
    char *end;
    errno = 0;
    unsigned long u = strtoul(s, &end, 10);
    if (end == s || errno || u == 0 || u >= 0xffffffffu)
        return -EINVAL;
    unsigned long g = u;
    if (*end == ':') {
        const char *gs = end + 1;
        g = strtoul(gs, &end, 10);
        if (end == gs || errno || g == 0 || g >= 0xffffffffu)
            return -EINVAL;
    }
    if (*end)
        return -EINVAL;
    *uid = (uid_t)u;
    *gid = (gid_t)g;
    return 0;
}

int jail_keep(struct jail *j, const char *path)
{
    if (!path)
        return 0;
    if (j->nkeep >= JAIL_MAX_KEEP)
        return -E2BIG;
    j->keep[j->nkeep++] = path;
    return 0;
}

/* The highest open descriptor, so RLIMIT_NOFILE never cuts below one kiln holds. */
static int highest_fd(void)
{
    DIR *d = opendir("/proc/self/fd");
    int hi = 2;
    if (!d)
        return 1023;
    struct dirent *e;
    while ((e = readdir(d))) {
        int fd = atoi(e->d_name);
        if (fd > hi)
            hi = fd;
    }
    closedir(d);
    return hi;
}

static int set_limit(int res, rlim_t v, const char *name)
{
    struct rlimit rl = {v, v};
    struct rlimit cur;
    /* Never raise a limit someone already lowered. */
    if (!getrlimit(res, &cur) && cur.rlim_max != RLIM_INFINITY && cur.rlim_max < v)
        rl.rlim_cur = rl.rlim_max = cur.rlim_max;
    if (setrlimit(res, &rl)) {
        log_err("jail", "setrlimit(%s): %s", name, strerror(errno));
        return -1;
    }
    return 0;
}

static int drop_identity(uid_t uid, gid_t gid)
{
    /* glibc applies set*id to every thread of the process (setresuid(2), NOTES). Leaving uid 0
     * clears the permitted and effective capabilities of each (capabilities(7)). */
    if (setgroups(0, NULL) || setresgid(gid, gid, gid) || setresuid(uid, uid, uid)) {
        log_err("jail", "cannot become uid %u gid %u: %s", (unsigned)uid, (unsigned)gid,
                strerror(errno));
        return -1;
    }
    if (geteuid() != uid || getegid() != gid || !setresuid(0, 0, 0)) {
        log_err("jail", "uid %u gid %u did not stick", (unsigned)uid, (unsigned)gid);
        return -1;
    }
    return 0;
}

/*
 * The socket cleaner (jail.h), forked at start while kiln has one thread and before
 * the namespaces, so it stays in the host's mount namespace. It keeps nothing but
 * the pipe: at lockdown kiln sends the socket's identity, and EOF (every write end
 * gone: kiln has ended, however it ended) tells it to remove the path if it is still
 * a socket with that device and inode.
 */
struct sock_id {
    dev_t dev;
    ino_t ino;
};

static void cleaner_main(int fd, const char *path)
{
    struct sock_id id;
    ssize_t n;
    while ((n = read(fd, &id, sizeof(id))) < 0 && errno == EINTR)
        ;
    if (n != (ssize_t)sizeof(id))
        _exit(0);
    char c;
    while (read(fd, &c, 1) < 0 && errno == EINTR)
        ;
    struct stat now;
    if (!lstat(path, &now) && S_ISSOCK(now.st_mode) && now.st_ino == id.ino && now.st_dev == id.dev)
        unlink(path);
    _exit(0);
}

static int start_cleaner(struct jail *j, const char *path, bool no_seccomp)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC))
        return -errno;
    pid_t pid = fork();
    if (pid < 0) {
        int e = -errno;
        close(p[0]);
        close(p[1]);
        return e;
    }
    if (pid == 0) {
        prctl(PR_SET_NAME, "kiln-cleaner");
        if (p[0] != 3 && dup2(p[0], 3) != 3)
            _exit(1);
        syscall(SYS_close_range, 0, 2, 0);
        syscall(SYS_close_range, 4, ~0u, 0);
        /* Signals for kiln's process group (Ctrl-C, timeout(1), a shell's job control) are
         * kiln's business; the cleaner must outlive kiln to do its job. */
        static const int ignore[] = {SIGHUP,  SIGINT,  SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2,
                                     SIGPIPE, SIGALRM, SIGTSTP, SIGTTIN, SIGTTOU};
        for (size_t i = 0; i < sizeof(ignore) / sizeof(ignore[0]); i++)
            signal(ignore[i], SIG_IGN);
        /* It stays root, so it gets the narrowest filter of all (kiln has one thread here). */
        struct sc_opts o = {0};
        if (!no_seccomp && sc_load(SC_CLEANER, &o, false))
            _exit(1);
        cleaner_main(3, path);
    }
    close(p[0]); /* p[1] stays open in kiln until it exits (close-on-exec, and kiln never execs) */
    j->cleaner = pid;
    j->cleaner_child = true;
    j->cleaner_fd = p[1];
    return 0;
}

/* Tells the cleaner which socket is kiln's, now that it is bound. */
static void cleaner_arm(struct jail *j)
{
    struct stat st;
    if (!j->cleaner || lstat(j->control, &st) || !S_ISSOCK(st.st_mode))
        return;
    struct sock_id id = {.dev = st.st_dev, .ino = st.st_ino};
    if (write(j->cleaner_fd, &id, sizeof(id)) != (ssize_t)sizeof(id))
        log_warn("jail", "%s will stay behind at exit: %s", j->control, strerror(errno));
}

int jail_begin(struct jail *j)
{
    char err[256];
    if (j->off)
        return 0;
    j->privileged = geteuid() == 0;
    if (!j->privileged) {
        log_debug("jail", "not root: no namespaces, no new root, no uid change");
        return 0;
    }
    /* Init of a pid namespace the daemon made: the daemon removes the socket, and a cleaner
     * forked here would die with kiln before it could (pid_namespaces(7)). */
    bool made_by_daemon = pidns_is_init();
    if (j->control && !made_by_daemon) {
        int r = start_cleaner(j, j->control, j->no_seccomp);
        if (r)
            log_warn("jail", "%s will stay behind at exit: %s", j->control, strerror(-r));
    }
    if (made_by_daemon) {
        pidns_init_signals();
    } else if (pidns_split(j->cleaner_fd, j->cleaner, j->no_seccomp) < 0) {
        return -1;
    }
    /* In the VM: the cleaner is the keeper's child, not ours to wait for. */
    j->cleaner_child = false;
    if (root_unshare(!j->host_net, err, sizeof(err)) < 0) {
        log_err("jail", "%s (--no-jail runs without the jail)", err);
        return -1;
    }
    j->in_ns = true;
    return 0;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int jail_lockdown(struct jail *j)
{
    char err[256];
    if (j->off)
        return 0;
    double t0 = now_ms();
    int hi = highest_fd();
    struct sc_opts o = {.sockets = j->sockets, .files = j->shares};
    cleaner_arm(j);
    o.wait_pid = j->cleaner_child ? j->cleaner : 0;
    if (!j->no_seccomp) {
        int r = sc_prepare();
        r = r ? r : sc_compile(SC_HART, &o, &j->hart_prog);
        if (r) {
            log_err("jail", "cannot build the seccomp filters: %s", strerror(-r));
            return -1;
        }
    }
    if (j->in_ns) {
        if (root_enter(j->keep, j->nkeep, false, err, sizeof(err)) < 0) {
            log_err("jail", "%s (--no-jail runs without the jail)", err);
            return -1;
        }
        if (drop_identity(j->uid, j->gid) < 0)
            return -1;
        pidns_rearm();
        /* The real uid is now the jail's: access(2) answers for it. */
        for (unsigned i = 0; i < j->nkeep; i++)
            if (access(j->keep[i], R_OK))
                log_warn("jail", "uid %u cannot read %s: a guest reboot will fail (make it "
                         "readable or pass --user)", (unsigned)j->uid, j->keep[i]);
    }
    /* A file-size limit turns into SIGXFSZ unless ignored; ignored, the write fails with EFBIG. */
    signal(SIGXFSZ, SIG_IGN);
    if (set_limit(RLIMIT_CORE, 0, "RLIMIT_CORE") ||
        set_limit(RLIMIT_NOFILE, (rlim_t)hi + 1 + (j->sockets ? NOFILE_SOCKETS : NOFILE_SPARE) +
                                     (j->shares ? NOFILE_SOCKETS : 0), /* a 9P open = a host fd */
                  "RLIMIT_NOFILE") ||
        set_limit(RLIMIT_FSIZE, j->fsize, "RLIMIT_FSIZE"))
        return -1;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
        log_err("jail", "no_new_privs: %s", strerror(errno));
        return -1;
    }
    if (!j->no_seccomp) {
        int r = sc_load(SC_RUN, &o, true);
        if (r) {
            log_err("jail", "cannot load the seccomp filter: %s", strerror(-r));
            return -1;
        }
        sc_set_thread_kind("main thread", -1);
        selftest("main");
    }
    log_debug("jail", "locked down in %.2f ms (%s, seccomp %s)", now_ms() - t0,
              j->in_ns ? "new namespaces and root, unprivileged" : "same namespaces and uid",
              j->no_seccomp ? "off" : "on");
    return 0;
}

void jail_end(struct jail *j)
{
    if (!j->cleaner)
        return;
    close(j->cleaner_fd);
    while (j->cleaner_child && waitpid(j->cleaner, NULL, 0) < 0 && errno == EINTR)
        ;
    j->cleaner = 0;
}

void jail_hart_enter(struct jail *j, unsigned hart)
{
    if (j->off || j->no_seccomp)
        return;
    sc_set_thread_kind("hart", (int)hart);
    int r = sc_install(&j->hart_prog);
    if (r) {
        log_err("jail", "hart %u: cannot install its seccomp filter: %s", hart, strerror(-r));
        _exit(1);
    }
    selftest("hart");
}

/* Tasks (processes and threads) the real uid owns now, from /proc. */
static unsigned long user_tasks(uid_t uid)
{
    DIR *d = opendir("/proc");
    unsigned long n = 0;
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[300];
        struct stat st;
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof(path), "/proc/%s/task", e->d_name);
        /* /proc/PID is owned by the process's uid; its task/ links once per thread + 2. */
        if (stat(path, &st) || st.st_uid != uid)
            continue;
        n += st.st_nlink > 2 ? (unsigned long)st.st_nlink - 2 : 1;
    }
    closedir(d);
    return n;
}

bool jail_exec_privileged(bool off)
{
    return !off && strcmp(env_jail, "off") && geteuid() == 0;
}

int jail_exec_unshare(bool new_net)
{
    char err[256];
    if (root_unshare(new_net, err, sizeof(err)) < 0) {
        log_err("jail", "%s (--no-jail runs without the jail)", err);
        return -1;
    }
    return 0;
}

/*
 * Every capability gone for good (capabilities(7)): the bounding set emptied and
 * the ambient set cleared, securebits locked so that uid 0 regains nothing on a
 * set*id call or an execve, and then (after an optional uid change) the effective,
 * permitted and inheritable sets emptied. The order matters: dropping from the
 * bounding set and setting securebits need CAP_SETPCAP, a uid change CAP_SETUID.
 * One thread, so capset covers the process; fork children inherit all of it.
 */
static int drop_capabilities(bool set_user, uid_t uid, gid_t gid)
{
    for (int cap = 0; cap <= 63; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) && errno != EINVAL) {
            log_err("jail", "cannot drop capability %d from the bounding set: %s", cap, strerror(errno));
            return -1;
        }
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    if (prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                                     SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
                                     SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED,
              0, 0, 0)) {
        log_err("jail", "cannot lock the securebits: %s", strerror(errno));
        return -1;
    }
    /* glibc applies set*id to every thread (setresuid(2), NOTES); with SECBIT_NO_SETUID_FIXUP
     * the capabilities survive the uid change until the capset below. */
    if (setgroups(0, NULL) ||
        (set_user && (setresgid(gid, gid, gid) || setresuid(uid, uid, uid)))) {
        log_err("jail", "cannot become uid %u gid %u: %s", (unsigned)uid, (unsigned)gid,
                strerror(errno));
        return -1;
    }
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof(d));
    if (syscall(SYS_capset, &h, d)) {
        log_err("jail", "cannot drop the capabilities: %s", strerror(errno));
        return -1;
    }
    if (set_user && (geteuid() != uid || getegid() != gid || !setresuid(0, 0, 0))) {
        log_err("jail", "uid %u gid %u did not stick", (unsigned)uid, (unsigned)gid);
        return -1;
    }
    return 0;
}

int jail_enter_exec(const struct jail_exec_config *c)
{
    /* KILN_JAIL=off or no-seccomp in kiln's environment does what --no-jail or --no-seccomp
     * does (docs/jail.md). */
    bool off = c->off || !strcmp(env_jail, "off");
    bool no_seccomp = c->no_seccomp || !strcmp(env_jail, "no-seccomp");
    if (off)
        return 0;
    if (c->new_root) {
        char err[256];
        if (root_enter(NULL, 0, true, err, sizeof(err)) < 0) {
            log_err("jail", "%s (--no-jail runs without the jail)", err);
            return -1;
        }
    }
    if (c->privileged && drop_capabilities(c->set_user, c->uid, c->gid))
        return -1;
    /* The kernel does not apply RLIMIT_NPROC to root (setrlimit(2)); others get a fork cap. */
    unsigned long nproc = c->nproc;
    if (!nproc && getuid() != 0 && !c->privileged) /* a jailed VM has its own pid namespace */
        nproc = user_tasks(getuid()) + EXEC_NPROC_SPARE;
    if (set_limit(RLIMIT_CORE, 0, "RLIMIT_CORE") ||
        (nproc && set_limit(RLIMIT_NPROC, nproc, "RLIMIT_NPROC")))
        return -1;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
        log_err("jail", "no_new_privs: %s", strerror(errno));
        return -1;
    }
    if (no_seccomp)
        return 0;
    struct sc_opts o = {.sockets = c->net, .host_execve = c->host_execve, .control = c->control};
    int r = sc_prepare();
    r = r ? r : sc_load(SC_EXEC, &o, true);
    if (r) {
        log_err("jail", "cannot load the seccomp filter: %s", strerror(-r));
        return -1;
    }
    sc_set_thread_kind("process VM", -1);
    selftest("exec");
    return 0;
}

/*
 * KILN_JAIL_SELFTEST=hostpath: the first program, once jailed, opens a host path the
 * way a path-confinement bug in src/user/ would (an absolute host path handed to
 * open(2)) and says what happened; the VM then runs on. docs/jail.md, test_exec_jail.sh.
 */
void jail_selftest_hostpath(const char *path)
{
    if (strcmp(env_selftest, "hostpath"))
        return;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    fprintf(stderr, "kiln: jail selftest: host %s: %s\n", path, fd < 0 ? strerror(errno) : "opened");
    if (fd >= 0)
        close(fd);
}
