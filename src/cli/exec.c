/*
 * `kiln exec [options] PROGRAM [ARGS...]`: runs one riscv64 Linux program in
 * its own throw-away process VM (src/user/). kiln exits with the program's
 * exit status, or 128+N when it was killed by signal N.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/exec_join.h"
#include "cpu/jit/jit.h"
#if defined(__SANITIZE_ADDRESS__)
#define EXEC_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EXEC_LSAN 1
#endif
#endif
#ifdef EXEC_LSAN
#include <sanitizer/lsan_interface.h>
#endif
#include "jail/jail.h"
#include "user/elf.h"
#include "user/netpolicy.h"
#include "user/paths.h"
#include "user/pidtab.h"
#include "user/proc.h"

#define DEFAULT_SYSROOT "/usr/riscv64-linux-gnu"
#define DEFAULT_PATH "PATH=/usr/local/bin:/usr/bin:/bin"
#define MAX_DIRS 24
#define MAX_ENV_SETS 256
/* PR_SET_PDEATHSIG of the first program: the supervisor is gone, so the whole VM goes. */
#define SIG_ORPHANED (SIGRTMIN + 6)

extern char **environ;

static void exec_usage(FILE *f)
{
    fprintf(f,
            "usage: kiln exec [options] PROGRAM [ARGS...]\n"
            "\n"
            "Runs a riscv64 Linux program (static, or dynamic through its interpreter) in its own\n"
            "process VM. The program sees only the directories given with --dir, its own pids,\n"
            "and a clean environment: %s, HOME=/, and TERM when set.\n"
            "\n"
            "options:\n"
            "  --dir HOST[:GUEST][:ro]  map a host directory (GUEST defaults to HOST; --dir . maps cwd)\n"
            "  --sysroot DIR|none       riscv64 libraries, mapped read-only at /lib (default %s)\n"
            "  --mem SIZE               guest RAM for all processes together, a hard limit (default 1G)\n"
            "  --procs N                at most N processes (fork fails with EAGAIN; default %d)\n"
            "  --time SECONDS           kill every process after this wall time (exit 137)\n"
            "  --env NAME=VALUE         set a variable in the program's environment (repeatable)\n"
            "  --env-inherit            start from kiln's own environment instead of the clean one\n"
            "  --cwd DIR                the guest directory the program starts in\n"
            "  --argv0 NAME             the program's argv[0] (default PROGRAM)\n"
            "  --guest-id UID[:GID]     the uid/gid the program sees (getuid...), not the host's\n"
            "  --control-socket PATH    let more processes join this VM (kiln-runc exec; docs/oci.md)\n"
            "  --net [user[,host-loopback=on]]\n"
            "                           allow sockets; the host itself (loopback, its own addresses,\n"
            "                           abstract Unix sockets) stays closed unless host-loopback=on\n"
            "  --user UID[:GID]         as root: run the VM's host processes as this uid/gid (default:\n"
            "                           uid 0 without any capability; docs/jail.md)\n"
            "  --no-jail                no jail at all (debugging)\n"
            "  --no-seccomp             the jail without its system-call filter (debugging)\n"
            "  --jit on|off|verify      translate hot code (default on), interpret only, or check every\n"
            "                           translated block against the interpreter (docs/jit.md)\n"
            "  --jit-cache SIZE         translated code per guest thread, mapped lazily (default 16M)\n"
            "  --jit-threshold N        entries of a block before it is translated (default 16)\n",
            DEFAULT_PATH, DEFAULT_SYSROOT, PIDTAB_DEFAULT_PROCS);
}

/* The jail's switches (docs/jail.md, "kiln exec"), read by the supervisor and the first program. */
static struct jail_exec_config exec_jail;

struct skeleton {
    char root[128];
    bool own;
};

/* mkdir -p of guest path g (a directory, or an empty file when file) under the skeleton. */
static void skel_make(struct skeleton *sk, const char *g, bool file)
{
    char path[GPATH_MAX + 128];
    snprintf(path, sizeof(path), "%s%s", sk->root, g);
    size_t base = strlen(sk->root);
    for (size_t i = base + 1; path[i - 1]; i++) {
        if (path[i] != '/' && path[i] != 0)
            continue;
        char save = path[i];
        path[i] = 0;
        if (save == 0 && file) {
            int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0444);
            if (fd >= 0)
                close(fd);
        } else {
            mkdir(path, 0755);
        }
        path[i] = save;
    }
}

/* Copies (or hard-links) the program to dst. */
static int skel_put_program(const char *prog, const char *dst)
{
    if (link(prog, dst) == 0)
        return 0;
    int in = open(prog, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -1;
    int out = open(dst, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0755);
    if (out < 0) {
        close(in);
        return -1;
    }
    char buf[65536];
    ssize_t n;
    int rc = 0;
    while ((n = read(in, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)n) != n)
            rc = -1;
    close(in);
    close(out);
    return rc;
}

/*
 * A multi-call busybox as PROGRAM: its shell looks applets up in PATH, so the
 * skeleton gets /bin/busybox (a link or copy of the program) and one hard link
 * per applet listed in busybox.links beside it (what guest/build.sh leaves).
 */
static void skel_busybox(struct skeleton *sk, const char *prog)
{
    const char *base = strrchr(prog, '/');
    base = base ? base + 1 : prog;
    if (strcmp(base, "busybox"))
        return;
    char bin[GPATH_MAX], links[GPATH_MAX];
    snprintf(bin, sizeof(bin), "%s/bin", sk->root);
    mkdir(bin, 0755);
    snprintf(bin, sizeof(bin), "%s/bin/busybox", sk->root);
    if (skel_put_program(prog, bin))
        return;
    snprintf(links, sizeof(links), "%.*s/busybox.links", (int)(base - prog), prog);
    FILE *f = fopen(links, "re");
    if (!f)
        return;
    char line[256];
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = 0;
        const char *name = strrchr(line, '/');
        name = name ? name + 1 : line;
        if (!*name || strchr(name, '.'))
            continue;
        char dst[GPATH_MAX + 300];
        snprintf(dst, sizeof(dst), "%s/bin/%s", sk->root, name);
        if (link(bin, dst) < 0 && errno != EEXIST)
            break;
    }
    fclose(f);
}

static int skel_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

static void skel_remove(struct skeleton *sk)
{
    /* Only empty directories and files kiln made; FTW_PHYS never follows a link out. */
    if (sk->own && sk->root[0])
        nftw(sk->root, skel_rm, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/*
 * The program's environment: the clean default (or kiln's own with
 * --env-inherit), then each --env NAME=VALUE replacing or adding. The guest
 * environment is only ever data on the guest's stack: kiln runs no host
 * program with it.
 */
static char **exec_env(bool inherit, char **sets, unsigned nsets)
{
    size_t n = 0, cap = nsets + 4;
    if (inherit)
        for (char **e = environ; *e; e++)
            cap++;
    char **env = calloc(cap, sizeof(char *));
    if (!env)
        return NULL;
    if (inherit) {
        for (char **e = environ; *e; e++)
            env[n++] = *e;
    } else {
        env[n++] = DEFAULT_PATH;
        env[n++] = "HOME=/";
        const char *term = getenv("TERM");
        static char termvar[256];
        if (term && strlen(term) < sizeof(termvar) - 6) {
            snprintf(termvar, sizeof(termvar), "TERM=%s", term);
            env[n++] = termvar;
        }
    }
    for (unsigned i = 0; i < nsets; i++) {
        size_t klen = strcspn(sets[i], "=") + 1;
        size_t k = 0;
        while (k < n && strncmp(env[k], sets[i], klen))
            k++;
        env[k] = sets[i];
        if (k == n)
            n++;
    }
    env[n] = NULL;
    return env;
}

/* A terminal on stdio whose foreground group is kiln's: the first program's group takes it over. */
/* --jit, --jit-cache, --jit-threshold (as kiln run has them). 0, or 2 with a message. */
static int exec_jit_option(const char *a, const char *v)
{
    struct jit_config *jit = jit_default_config();
    uint64_t sz;
    char *end;
    long n;
    if (!strcmp(a, "--jit")) {
        if (jit_parse_mode(v, &jit->mode) == 0)
            return 0;
        fprintf(stderr, "kiln exec: bad --jit '%s' (on, off or verify)\n", v);
    } else if (!strcmp(a, "--jit-cache")) {
        if (cli_parse_size(v, &sz) && sz >= (1u << 20) && sz <= (1ull << 30)) {
            jit->cache_size = (size_t)sz;
            return 0;
        }
        fprintf(stderr, "kiln exec: bad --jit-cache '%s' (a size from 1M to 1G)\n", v);
    } else {
        n = strtol(v, &end, 10);
        if (*v && !*end && n >= 1 && n <= 1000000) {
            jit->threshold = (unsigned)n;
            return 0;
        }
        fprintf(stderr, "kiln exec: bad --jit-threshold '%s' (1 to 1000000)\n", v);
    }
    return 2;
}

static int foreground_tty(void)
{
    for (int fd = 0; fd < 3; fd++)
        if (isatty(fd) && tcgetpgrp(fd) == getpgrp())
            return fd;
    return -1;
}

static void tty_give(int tty, pid_t pgrp)
{
    if (tty < 0)
        return;
    /* tcsetpgrp(3) from a background group raises SIGTTOU unless it is blocked. */
    sigset_t s, old;
    sigemptyset(&s);
    sigaddset(&s, SIGTTOU);
    sigprocmask(SIG_BLOCK, &s, &old);
    tcsetpgrp(tty, pgrp);
    sigprocmask(SIG_SETMASK, &old, NULL);
}

static void orphaned(int sig)
{
    (void)sig;
    kill(0, SIGKILL); /* every process of the VM shares this host process group */
}

/*
 * The first program's host process (vpid 1, the VM's init): it leads the
 * host process group every guest process stays in (setpgid/setsid are
 * virtual), adopts orphans (a subreaper, as init in a pid namespace), and
 * takes the group down if the supervisor dies, even of SIGKILL. Never returns.
 */
static void first_program(struct proc_config *cfg, struct mounts *mt, pid_t supervisor, int tty)
{
    setpgid(0, 0);
    tty_give(tty, getpid());
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = orphaned;
    sigaction(SIG_ORPHANED, &sa, NULL);
    prctl(PR_SET_PDEATHSIG, SIG_ORPHANED);
    if (getppid() != supervisor)
        orphaned(0); /* it died before the line above */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    /*
     * Job control is not emulated: a stop would freeze the VM behind kiln's back
     * (its shell waits for the supervisor). A background read of the terminal
     * gets EIO instead of SIGTTIN.
     */
    signal(SIGTTIN, SIG_IGN);
    signal(SIGTTOU, SIG_IGN);
    signal(SIGTSTP, SIG_IGN);
    /* A guest killed by SIGSEGV dies of it at the host level too: no core of its RAM. */
    struct rlimit core = {0, 0};
    setrlimit(RLIMIT_CORE, &core);

    struct proc *p = exec_program_load(cfg, mt, -1); /* as every process joining later */
    /* The host's own addresses are read before the jail; fork children inherit the policy. */
    if (cfg->net && netpolicy_init(cfg->net_host_loopback))
        fprintf(stderr, "kiln exec: cannot read the host's addresses; they stay reachable\n");
    /* The host side of the VM runs with a fixed, empty environment: nothing of the user's (or
       the guest's, which is only data on its stack) can steer a library call of kiln's. */
    clearenv();
    /*
     * ---- Set-up is done. ----
     * Every host file the process VM needs is open (mounts, program,
     * interpreter, sysroot, the host's addresses) and guest code has not run
     * yet: the jail (docs/jail.md) closes in here, and every fork child
     * inherits it. From now on nothing calls the host's execve(): fork is a
     * host fork, execve is proc_exec() inside this process.
     */
    struct jail_exec_config jc = exec_jail;
    jc.net = cfg->net;
    jc.new_root = jc.privileged; /* the supervisor, sharing the mount namespace, moves along */
    if (jail_enter_exec(&jc))
        _exit(1);
    jail_selftest_hostpath(cfg->prog_path); /* a file kiln itself opened before the jail */
    exec_program_run(p);
}

static volatile pid_t first_pid;

static void forward(int sig)
{
    if (first_pid > 0)
        kill(first_pid, sig); /* the program decides, as if it had been signalled itself */
}

/*
 * kiln's own process when the jail has namespaces (jail.h): the supervisor is
 * init of a new pid namespace, so when it ends every process of the VM ends with
 * it (pid_namespaces(7)). This process stays in the host's mount namespace only to
 * remove the root skeleton afterwards; it relays signals and the exit status.
 */
static int jail_outer(pid_t inner, struct skeleton *sk, int tty)
{
    first_pid = inner;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = forward;
    static const int fwd[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM};
    for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++)
        sigaction(fwd[i], &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTTOU, SIG_IGN);
    struct jail_exec_config jc = exec_jail;
    jc.privileged = false;
    jc.set_user = false;
    if (jail_enter_exec(&jc)) {
        kill(inner, SIGKILL);
        waitpid(inner, NULL, 0);
        skel_remove(sk);
        return 1;
    }
    int st = 1 << 8;
    while (waitpid(inner, &st, 0) < 0 && errno == EINTR)
        ;
    if (tty >= 0)
        tcsetpgrp(tty, getpgrp());
    skel_remove(sk);
    return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

/* The supervisor's side: init of the new pid namespace, inside the new mount, IPC, UTS
 * (and network) namespaces. -1 when they could not be entered. */
static int jail_inner(bool new_net)
{
    /* getppid() is 0 here (the parent is outside the namespace): a death before the line
       below leaves the VM running without its waiter, which only costs the skeleton. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    return jail_exec_unshare(new_net);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * kiln's own process: waits for the first program (with --time), then
 * kills whatever is left of the VM (its host process group, as the end of a
 * pid namespace's init would) and turns the ending into kiln's status.
 */
static int supervise(pid_t child, double time_limit, const char *prog, int tty, struct exec_join *join)
{
    first_pid = child;
    setpgid(child, child); /* as the child does: whoever runs first */
    prctl(PR_SET_CHILD_SUBREAPER, 1); /* orphans after the first program stay zombies here, never reused */
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTTOU, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = forward;
    static const int fwd[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM};
    for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++)
        sigaction(fwd[i], &sa, NULL);
    int pidfd = (int)syscall(SYS_pidfd_open, child, 0);
    double end = time_limit > 0 ? now_s() + time_limit : 0;
    bool timed_out = false;
    /*
     * Until the first program is reaped its pid, and so the group id, cannot be
     * reused: the group is killed while the program is a zombie at the latest
     * (WNOWAIT), never after.
     */
    for (;;) {
        siginfo_t si;
        memset(&si, 0, sizeof(si));
        int r = waitid(P_PID, (id_t)child, &si, WEXITED | WNOHANG | WNOWAIT);
        if ((r == 0 && si.si_pid == child) || (r < 0 && errno != EINTR))
            break;
        int ms = -1;
        if (end) {
            double left = end - now_s();
            if (left <= 0) {
                timed_out = true;
                break;
            }
            ms = left > 3600 ? 3600 * 1000 : (int)(left * 1000) + 1;
        }
        if (join) {
            /* Requests, relayed signals and ends of joined processes; a sweep each second
               reaps their orphans (the supervisor is their subreaper). */
            struct pollfd pf[80];
            int n = 0;
            if (pidfd >= 0)
                pf[n++] = (struct pollfd){.fd = pidfd, .events = POLLIN};
            n += exec_join_pollfds(join, pf + n, 80 - n);
            poll(pf, (nfds_t)n, ms < 0 || ms > 1000 ? 1000 : ms);
            exec_join_handle(join, pf, n);
        } else if (pidfd >= 0) {
            struct pollfd pf = {.fd = pidfd, .events = POLLIN};
            poll(&pf, 1, ms);
        } else {
            usleep(10000);
        }
    }
    if (join)
        exec_join_end(join); /* before the group: no process joins a stopped VM */
    kill(-child, SIGKILL); /* the rest of the VM goes with its first program */
    int st = 1 << 8;
    while (waitpid(child, &st, 0) < 0 && errno == EINTR)
        ;
    if (tty >= 0)
        tcsetpgrp(tty, getpgrp());
    if (timed_out) {
        fprintf(stderr, "kiln exec: %s: time limit of %g s reached, killed\n", prog, time_limit);
        return 128 + SIGKILL;
    }
    if (WIFSIGNALED(st)) {
        int sig = WTERMSIG(st);
        /* What qemu-riscv64 says for a program a signal killed. */
        fprintf(stderr, "kiln exec: uncaught target signal %d (%s)\n", sig, strsignal(sig));
        return 128 + sig;
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

#ifdef EXEC_LSAN
/* True when a tracer (strace, gdb) is attached: TracerPid in /proc/self/status. */
static bool traced(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[128];
    long pid = 0;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "TracerPid: %ld", &pid) == 1)
            break;
    if (f)
        fclose(f);
    return pid != 0;
}
#endif

int cli_exec(int argc, char **argv)
{
    const char *dirs[MAX_DIRS];
    char *envsets[MAX_ENV_SETS];
    unsigned ndirs = 0, nenv = 0;
    const char *sysroot = DEFAULT_SYSROOT;
    uint64_t mem = 1ull << 30;
    double time_limit = 0;
    int procs = PIDTAB_DEFAULT_PROCS;
    bool net = false, net_open = false, env_inherit = false;
    /* --cwd, --argv0, --guest-id: what kiln's OCI runtime (src/oci/) maps a config.json to. */
    const char *cwd = NULL, *argv0 = NULL, *control = NULL;
    bool guest_ids = false;
    unsigned long long guest_uid = 0, guest_gid = 0;
    jit_default_config()->mode = JIT_ON; /* every guest thread's hart, made after this */
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        bool has_next = i + 1 < argc;
        if (!strncmp(a, "--jit", 5) && (a[5] == '=' || !strncmp(a + 5, "-cache=", 7) ||
                                        !strncmp(a + 5, "-threshold=", 11))) {
            char name[16];
            snprintf(name, sizeof(name), "%.*s", (int)(strchr(a, '=') - a), a);
            if (exec_jit_option(name, strchr(a, '=') + 1))
                return 2;
            continue;
        }
        if (!strcmp(a, "--")) {
            i++;
            break;
        }
        if (a[0] != '-')
            break;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            exec_usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--net") || !strncmp(a, "--net=", 6)) {
            net = true;
            /* An optional value: "--net=SPEC", or "--net user[,...]" as kiln run spells it. */
            const char *spec = a[5] == '=' ? a + 6 : NULL;
            if (!spec && has_next && !strncmp(argv[i + 1], "user", 4) && (!argv[i + 1][4] || argv[i + 1][4] == ','))
                spec = argv[++i];
            if (spec && netpolicy_parse(spec, &net_open)) {
                fprintf(stderr, "kiln exec: bad --net '%s' (want user or user,host-loopback=on)\n", spec);
                return 2;
            }
            continue;
        }
        if (!strcmp(a, "--env-inherit")) {
            env_inherit = true;
            continue;
        }
        if (!strcmp(a, "--no-jail") || !strcmp(a, "--no-seccomp")) {
            *(a[5] == 'j' ? &exec_jail.off : &exec_jail.no_seccomp) = true;
            continue;
        }
        if (!has_next) {
            fprintf(stderr, "kiln exec: %s needs a value (try 'kiln exec --help')\n", a);
            return 2;
        }
        char *v = argv[++i];
        if (!strcmp(a, "--dir")) {
            if (ndirs == MAX_DIRS) {
                fprintf(stderr, "kiln exec: too many --dir (at most %d)\n", MAX_DIRS);
                return 2;
            }
            dirs[ndirs++] = v;
        } else if (!strcmp(a, "--user")) {
            if (jail_parse_user(v, &exec_jail.uid, &exec_jail.gid)) {
                fprintf(stderr, "kiln exec: bad --user '%s' (UID[:GID], numbers above 0)\n", v);
                return 2;
            }
            exec_jail.set_user = true;
        } else if (!strcmp(a, "--jit") || !strcmp(a, "--jit-cache") || !strcmp(a, "--jit-threshold")) {
            if (exec_jit_option(a, v))
                return 2;
        } else if (!strcmp(a, "--sysroot")) {
            sysroot = strcmp(v, "none") ? v : NULL;
        } else if (!strcmp(a, "--cwd")) {
            if (v[0] != '/') {
                fprintf(stderr, "kiln exec: bad --cwd '%s' (an absolute guest path)\n", v);
                return 2;
            }
            cwd = v;
        } else if (!strcmp(a, "--argv0")) {
            argv0 = v;
        } else if (!strcmp(a, "--control-socket")) {
            control = v;
        } else if (!strcmp(a, "--guest-id")) {
            char ids[64];
            snprintf(ids, sizeof(ids), "%s", v); /* argv stays as given (ps shows it) */
            char *colon = strchr(ids, ':');
            if (colon)
                *colon = 0;
            int r = cli_parse_uint(ids, 0, 0xfffffffe, &guest_uid);
            guest_gid = guest_uid;
            if (!r && colon)
                r = cli_parse_uint(colon + 1, 0, 0xfffffffe, &guest_gid);
            if (r) {
                fprintf(stderr, "kiln exec: bad --guest-id (UID[:GID], numbers)\n");
                return 2;
            }
            guest_ids = true;
        } else if (!strcmp(a, "--mem")) {
            if (!cli_parse_size(v, &mem) || mem < (4ull << 20) || mem > (1ull << 40)) {
                fprintf(stderr, "kiln exec: bad --mem '%s' (4M to 1T, e.g. 512M or 2G)\n", v);
                return 2;
            }
            mem &= ~4095ull;
        } else if (!strcmp(a, "--time")) {
            char *end;
            time_limit = strtod(v, &end);
            if (*end || !(time_limit > 0) || time_limit > 1e9) {
                fprintf(stderr, "kiln exec: bad --time '%s' (seconds, > 0)\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--procs")) {
            char *end;
            long n = strtol(v, &end, 10);
            if (*end || !*v || n < 1 || n > PIDTAB_SIZE) {
                fprintf(stderr, "kiln exec: bad --procs '%s' (1 to %d)\n", v, PIDTAB_SIZE);
                return 2;
            }
            procs = (int)n;
        } else if (!strcmp(a, "--env")) {
            if (!strchr(v, '=') || v[0] == '=') {
                fprintf(stderr, "kiln exec: bad --env '%s' (NAME=VALUE)\n", v);
                return 2;
            }
            if (nenv == MAX_ENV_SETS) {
                fprintf(stderr, "kiln exec: too many --env (at most %d)\n", MAX_ENV_SETS);
                return 2;
            }
            envsets[nenv++] = v;
        } else {
            fprintf(stderr, "kiln exec: unknown option '%s' (try 'kiln exec --help')\n", a);
            return 2;
        }
    }
    if (i >= argc) {
        fprintf(stderr, "kiln exec: no program given (usage: kiln exec [options] PROGRAM [ARGS...])\n");
        return 2;
    }
    const char *prog = argv[i];
    if (exec_jail.set_user && !jail_exec_privileged(exec_jail.off))
        fprintf(stderr, "kiln exec: --user only applies when kiln exec starts as root with the jail; ignored\n");
    exec_jail.privileged = jail_exec_privileged(exec_jail.off);

    /* Quick checks with one clear line before building anything. */
    int fd = open(prog, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "kiln exec: %s: %s\n", prog, strerror(errno));
        return 127;
    }
    struct stat pst;
    if (fstat(fd, &pst) == 0 && S_ISDIR(pst.st_mode)) {
        close(fd);
        fprintf(stderr, "kiln exec: %s: is a directory\n", prog);
        return 126;
    }
    uint8_t hdr[64];
    ssize_t n = read(fd, hdr, sizeof(hdr));
    close(fd);
    char why[160];
    if (elf_check_header(hdr, n > 0 ? (size_t)n : 0, why, sizeof(why))) {
        fprintf(stderr, "kiln exec: %s: %s\n", prog, why);
        return 126;
    }

    struct mounts *mt = calloc(1, sizeof(*mt));
    if (!mt)
        return 1;
    for (unsigned d = 0; d < ndirs; d++) {
        char host[GPATH_MAX], guest[GPATH_MAX];
        bool ro;
        if (mounts_parse_spec(dirs[d], host, sizeof(host), guest, sizeof(guest), &ro)) {
            fprintf(stderr, "kiln exec: bad --dir '%s' (HOST[:GUEST][:ro], GUEST absolute)\n", dirs[d]);
            return 2;
        }
        int rc = mounts_add(mt, host, guest, ro);
        if (rc) {
            fprintf(stderr, "kiln exec: --dir %s: %s\n", dirs[d], strerror(-rc));
            return 2;
        }
    }
    /* The sysroot's lib/ at /lib (read-only): where ld.so and its search path find libc. */
    char lib[GPATH_MAX];
    snprintf(lib, sizeof(lib), "%s/lib", sysroot ? sysroot : "");
    struct stat st;
    if (sysroot && !mounts_has(mt, "/lib") && stat(lib, &st) == 0 && S_ISDIR(st.st_mode))
        mounts_add(mt, lib, "/lib", true);
    static const char *const devs[] = {"/dev/null", "/dev/zero", "/dev/urandom", "/dev/random"};
    for (size_t d = 0; d < sizeof(devs) / sizeof(devs[0]); d++)
        if (!mounts_has(mt, devs[d]))
            mounts_add(mt, devs[d], devs[d], false);

    /* No mapping at "/": a read-only skeleton holding just the mount points, so "/" lists them. */
    struct skeleton sk = {.own = false};
    if (!mounts_has(mt, "/")) {
        const char *tmp = getenv("TMPDIR");
        snprintf(sk.root, sizeof(sk.root), "%s/kiln-root-XXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
        if (!mkdtemp(sk.root)) {
            fprintf(stderr, "kiln exec: cannot create the root skeleton in /tmp: %s\n", strerror(errno));
            return 1;
        }
        sk.own = true;
        skel_busybox(&sk, prog);
        unsigned nm = mt->n;
        for (unsigned m = 0; m < nm; m++)
            skel_make(&sk, mt->m[m].guest, !mt->m[m].is_dir);
        int rc = mounts_add(mt, sk.root, "/", true);
        if (rc) {
            fprintf(stderr, "kiln exec: root skeleton %s: %s\n", sk.root, strerror(-rc));
            skel_remove(&sk);
            return 1;
        }
    }

    char **env = exec_env(env_inherit, envsets, nenv);
    /* Shared by every process of the VM: pids, the process cap, the --mem budget. */
    struct pidtab *pids = pidtab_create(procs, 0);
    if (!env || !pids) {
        fprintf(stderr, "kiln exec: cannot set up the process table: %s\n", strerror(errno));
        skel_remove(&sk);
        return 1;
    }
    if (argv0)
        argv[i] = (char *)argv0; /* prog keeps the host path */
    struct proc_config cfg = {
        .prog_path = prog,
        .execfn = argv0 ? argv0 : prog,
        .argv = argv + i,
        .envp = env,
        .sysroot = sysroot,
        .mem = mem,
        .net = net,
        .net_host_loopback = net_open,
        .pids = pids,
        .cwd = cwd,
        .guest_ids = guest_ids,
        .guest_uid = (uint32_t)guest_uid,
        .guest_gid = (uint32_t)guest_gid,
    };
    int tty = foreground_tty();
    if (exec_jail.privileged) {
        /* The next child is init of a new pid namespace (unshare(2), CLONE_NEWPID). */
        /* mkdtemp made it 0700: the --user uid must be able to look inside (it stays read-only
           to the VM, and kiln's own process, still root, removes it). */
        if (exec_jail.set_user && sk.own)
            chmod(sk.root, 0755);
        if (unshare(CLONE_NEWPID)) {
            fprintf(stderr, "kiln exec: cannot enter a new pid namespace: %s (--no-jail runs without "
                    "the jail)\n", strerror(errno));
            skel_remove(&sk);
            return 1;
        }
        fflush(stdout);
        fflush(stderr);
        pid_t inner = fork();
        if (inner < 0) {
            fprintf(stderr, "kiln exec: fork: %s\n", strerror(errno));
            skel_remove(&sk);
            return 1;
        }
        if (inner > 0) {
#ifdef EXEC_LSAN
            if (!traced())
                __lsan_do_leak_check(); /* before the filter, as for the supervisor below */
#endif
            return jail_outer(inner, &sk, tty);
        }
        if (jail_inner(!net))
            _exit(1);
        sk.own = false; /* the outer process removes it: this one will not see it */
    }
    pid_t supervisor = getpid();
    /* Bound now: before the jail, and before the first program's pivot_root moves this
       process's root too (they share the mount namespace). */
    struct exec_join *join = NULL;
    if (control) {
        join = exec_join_open(control, &cfg, mt);
        if (!join) {
            skel_remove(&sk);
            return 1;
        }
        /* Joining processes are forked from here: the host's addresses, read once. */
        if (net && netpolicy_init(net_open))
            fprintf(stderr, "kiln exec: cannot read the host's addresses; they stay reachable\n");
    }
    fflush(stdout);
    fflush(stderr);
    pid_t child = fork();
    if (child < 0) {
        fprintf(stderr, "kiln exec: fork: %s\n", strerror(errno));
        skel_remove(&sk);
        return 1;
    }
    if (child == 0) {
        exec_join_forget(join);
        first_program(&cfg, mt, supervisor, tty);
    }
    if (join)
        exec_join_set_first(join, child);
    /*
     * The supervisor is jailed too (the same exec allow-list, no sockets): it
     * only waits, forwards signals, kills the VM's group and removes the skeleton.
     */
#ifdef EXEC_LSAN
    /* LeakSanitizer's end-of-process check stops the world with ptrace, which the
       jail forbids: it runs now, before the jail (it cannot run under a tracer). */
    if (!traced())
        __lsan_do_leak_check();
#endif
    struct jail_exec_config sjc = exec_jail; /* no sockets, no new root of its own */
    if (join) {
        /* Joining processes are forked under this filter: the first program's (sockets with
           --net) plus the control socket's calls. */
        sjc.net = net;
        sjc.control = true;
    }
    if (jail_enter_exec(&sjc)) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        skel_remove(&sk);
        return 1;
    }
    int status = supervise(child, time_limit, prog, tty, join);
    skel_remove(&sk);
    mounts_close(mt);
    free(mt);
    free(env);
#ifdef EXEC_LSAN
    fflush(stdout);
    fflush(stderr);
    _exit(status); /* no exit-time leak check inside the jail (see above) */
#endif
    return status;
}
