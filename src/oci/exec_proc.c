/*
 * `exec`: another process in a running container. It joins the container's
 * process VM through the supervisor's control socket (ctl.h): same pid table
 * (a VM pid; `ps` and `kill` inside see it; --procs and --mem count it),
 * mappings, network and jail. kiln-runc passes the program (looked up in the
 * rootfs as for create) and its stdio or pty, then relays signals and exits
 * with the process's status; --detach leaves a small proxy that does this.
 * A container that is only created (no VM yet) gets a process VM of its own
 * over the same rootfs, as before. docs/oci.md.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jail/seccomp.h"
#include "oci/console.h"
#include "oci/ctl.h"
#include "oci/launch.h"
#include "oci/log.h"
#include "oci/oci.h"
#include "oci/spawn.h"
#include "oci/state.h"

static volatile pid_t exec_child;

static void exec_forward(int sig)
{
    if (exec_child > 0)
        kill(exec_child, sig);
}

/* The process from `--process FILE`, or from the command line over the container's own. */
static int exec_process(const struct oci_exec_opts *o, const struct oci_spec *s, struct oci_process *p)
{
    char err[512];
    if (o->process_file) {
        int fd = open(o->process_file, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            oci_err("--process %s: %s", o->process_file, strerror(errno));
            return 1;
        }
        static char text[1 << 20];
        ssize_t n = read(fd, text, sizeof(text) - 1);
        close(fd);
        if (n < 0) {
            oci_err("--process %s: %s", o->process_file, strerror(errno));
            return 1;
        }
        if (oci_process_parse(text, (size_t)n, p, err, sizeof(err))) {
            oci_err("--process %s: %s", o->process_file, err + strlen("config.json: "));
            return 1;
        }
        return 0;
    }
    if (!o->args || !o->args[0]) {
        oci_err("exec: no command given (args after the id, or --process FILE)");
        return 1;
    }
    memset(p, 0, sizeof(*p));
    size_t na = 0, ne = 0, nb = 0;
    while (o->args[na])
        na++;
    while (s->proc.env && s->proc.env[nb])
        nb++;
    while (o->env && o->env[ne])
        ne++;
    p->args = calloc(na + 1, sizeof(char *));
    p->env = calloc(nb + ne + 1, sizeof(char *));
    p->cwd = strdup(o->cwd ? o->cwd : s->proc.cwd ? s->proc.cwd : "/");
    if (!p->args || !p->env || !p->cwd)
        return 1;
    for (size_t i = 0; i < na; i++)
        p->args[i] = strdup(o->args[i]);
    for (size_t i = 0; i < nb; i++)
        p->env[i] = strdup(s->proc.env[i]);
    for (size_t i = 0; i < ne; i++) {
        if (!strchr(o->env[i], '=')) {
            oci_err("exec: --env '%s' is not NAME=VALUE", o->env[i]);
            return 1;
        }
        p->env[nb + i] = strdup(o->env[i]);
    }
    p->terminal = o->tty;
    p->uid = s->proc.uid;
    p->gid = s->proc.gid;
    if (o->user) {
        unsigned long u, g;
        char *end;
        u = strtoul(o->user, &end, 10);
        g = u;
        if (*end == ':')
            g = strtoul(end + 1, &end, 10);
        if (*end || u > 0xfffffffeul || g > 0xfffffffeul) {
            oci_err("exec: --user '%s' must be UID[:GID] (numbers)", o->user);
            return 1;
        }
        p->uid = (uint32_t)u;
        p->gid = (uint32_t)g;
    }
    if (p->cwd[0] != '/') {
        oci_err("exec: --cwd '%s' must be absolute", p->cwd);
        return 1;
    }
    return 0;
}

/* kiln exec's clean environment (src/cli/exec.c): the first program's starts the same way. */
static const char *const join_base_env[] = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/"};

/* The request from the kiln exec command line oci_cmd_build made for this process. */
static int join_request_of(const struct oci_cmd *c, struct ctl_req *r, char ***envp)
{
    memset(r, 0, sizeof(*r));
    size_t n = 0, ne = 2;
    char **env = calloc(c->n + 3, sizeof(char *));
    if (!env)
        return -ENOMEM;
    env[0] = (char *)join_base_env[0];
    env[1] = (char *)join_base_env[1];
    const char *argv0 = NULL;
    r->cwd = "/";
    size_t i = 2;
    for (; i + 1 < c->n && strcmp(c->argv[i], "--"); i++) {
        const char *a = c->argv[i], *v = c->argv[i + 1];
        if (!strcmp(a, "--env")) {
            size_t kl = strcspn(v, "=") + 1, k = 0;
            while (k < ne && strncmp(env[k], v, kl))
                k++;
            env[k] = (char *)v;
            if (k == ne)
                ne++;
        } else if (!strcmp(a, "--cwd")) {
            r->cwd = v;
        } else if (!strcmp(a, "--argv0")) {
            argv0 = v;
        } else if (!strcmp(a, "--guest-id")) {
            unsigned u = 0, g = 0;
            if (sscanf(v, "%u:%u", &u, &g) == 2) {
                r->uid = u;
                r->gid = g;
            }
        } else if (strcmp(a, "--dir") && strcmp(a, "--sysroot") && strcmp(a, "--mem") &&
                   strcmp(a, "--procs") && strcmp(a, "--user")) {
            continue; /* a flag without a value (--net) */
        }
        i++;
    }
    /* "--", the program's descriptor path, then the guest's argv after argv[0]. */
    if (i + 1 >= c->n || !argv0) {
        free(env);
        return -EINVAL;
    }
        char **argv = calloc(c->n - i + 1, sizeof(char *));
    if (!argv) {
        free(env);
        return -ENOMEM;
    }
    argv[0] = (char *)argv0; /* not /proc/self/fd/N: the program goes as a descriptor */
    for (size_t k = i + 2; k < c->n; k++)
        argv[++n] = c->argv[k];
    r->argv = argv;
    r->execfn = argv0;
    r->envp = env;
    *envp = env;
    return 0;
}

/* Waits for one message from the supervisor (blocking). 0, or -errno / -EPIPE at its end. */
static int join_read(int conn, struct ctl_msg *m)
{
    struct pollfd pf = {.fd = conn, .events = POLLIN};
    while (poll(&pf, 1, -1) < 0)
        if (errno != EINTR)
            return -errno;
    int fds[CTL_MAX_FDS];
    unsigned nfds = 0;
    ssize_t n = ctl_recv(conn, m, sizeof(*m), fds, &nfds);
    for (unsigned i = 0; i < nfds; i++)
        close(fds[i]);
    if (n == 0)
        return -EPIPE;
    if (n < 0)
        return (int)n;
    if (n != (ssize_t)sizeof(*m) || m->magic != CTL_MAGIC)
        return -EPROTO;
    m->msg[sizeof(m->msg) - 1] = 0;
    return 0;
}

static const int join_fwd[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};

/*
 * Relays the signals this process gets to the joined one until it ends; its status
 * (*sig the signal that ended it, else 0), or 137 when the VM itself ended first.
 */
static int join_relay(int conn, int *sig)
{
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof(join_fwd) / sizeof(join_fwd[0]); i++)
        sigaddset(&set, join_fwd[i]);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    *sig = 0;
    for (;;) {
        struct pollfd pf[2] = {{.fd = conn, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
        if (poll(pf, sfd >= 0 ? 2 : 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            return 1;
        }
        if (sfd >= 0 && (pf[1].revents & POLLIN)) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
                ctl_send_msg(conn, CTL_SIGNAL, (int32_t)si.ssi_signo, 0, NULL);
        }
        if (!pf[0].revents)
            continue;
        struct ctl_msg m;
        int rc = join_read(conn, &m);
        if (rc == -EAGAIN)
            continue;
        if (rc)
            return 128 + SIGKILL; /* the VM ended (the container stopped) before the process */
        if (m.kind == CTL_EXITED) {
            *sig = m.b;
            return m.b ? 128 + m.b : m.a & 0xff;
        }
    }
}

/*
 * exec --detach: what the engine's shim waits on and signals in place of the process,
 * a child of the caller until it exits and is reparented (shims are child subreapers).
 * It holds only the connection, under no_new_privs and a seccomp filter of its own.
 */
static void join_proxy(int conn)
{
    int keep = conn;
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    for (int fd = 0; fd < 3; fd++)
        if (null >= 0)
            dup2(null, fd); /* the engine's pipes belong to the process, not to its proxy */
    if (keep < 3) {
        keep = fcntl(conn, F_DUPFD_CLOEXEC, 3);
        if (keep < 0)
            _exit(1);
    }
    if (keep > 3)
        syscall(SYS_close_range, 3, (unsigned)keep - 1, 0);
    syscall(SYS_close_range, (unsigned)keep + 1, ~0u, 0);
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof(join_fwd) / sizeof(join_fwd[0]); i++)
        sigaddset(&set, join_fwd[i]);
    sigprocmask(SIG_BLOCK, &set, NULL); /* before the filter: signalfd catches them from here */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
        _exit(1);
    struct sc_opts so = {.wait_pid = getpid()};
    const char *jail = getenv("KILN_JAIL"); /* off / no-seccomp, as for kiln's own (jail.md) */
    if (!jail || (strcmp(jail, "off") && strcmp(jail, "no-seccomp"))) {
        if (sc_prepare() || sc_load(SC_PROXY, &so, false))
            _exit(1);
        sc_set_thread_kind("exec proxy", -1);
    }
    int sig;
    int status = join_relay(keep, &sig);
    if (sig) {
        /* Ends the way the process ended, so the shim's wait sees the same signal. */
        signal(sig, SIG_DFL);
        sigset_t one;
        sigemptyset(&one);
        sigaddset(&one, sig);
        sigprocmask(SIG_UNBLOCK, &one, NULL);
        kill(getpid(), sig);
    }
    _exit(status);
}

/* Joins the container's VM through its control socket. The exit status of `exec`. */
static int exec_join(const struct oci_exec_opts *o, struct oci_cmd *cmd, const struct oci_process *p,
                     const char *sock, int *dirfd)
{
    struct ctl_req r;
    char **env = NULL, *buf = NULL;
    size_t len;
    int conn = -1, slave = -1, ret = 1;
    int rc = join_request_of(cmd, &r, &env);
    r.argv = rc ? NULL : r.argv;
    if (rc) {
        oci_err("exec: cannot make the request: %s", strerror(-rc));
        return 1;
    }
    r.flags = p->terminal ? CTL_TERMINAL : 0;
    if ((rc = ctl_req_encode(&r, &buf, &len))) {
        oci_err("exec: %s", rc == -E2BIG ? "arguments and environment too long" : strerror(-rc));
        goto out;
    }
    conn = ctl_connect(sock);
    if (conn < 0) {
        /* The socket of a VM that has ended: runc's words for a stopped container. */
        oci_err(conn == -ECONNREFUSED || conn == -ENOENT ? "cannot exec in a stopped container"
                                                         : "exec: %s: %s", sock, strerror(-conn));
        goto out;
    }
    int fds[4] = {cmd->prog_fd, 0, 1, 2};
    if (p->terminal) {
        int master;
        if ((rc = oci_console_open(&master, &slave, p->cons_rows, p->cons_cols))) {
            oci_err("exec: cannot open a pseudo-terminal: %s", strerror(-rc));
            goto out;
        }
        rc = oci_console_send(o->console_socket, master);
        close(master);
        if (rc) {
            oci_err("--console-socket %s: %s", o->console_socket, strerror(-rc));
            goto out;
        }
        fds[1] = slave;
    } else {
        for (int fd = 0; fd < 3; fd++)
            if (fcntl(fd, F_GETFD) < 0)
                fds[1 + fd] = open("/dev/null", O_RDWR | O_CLOEXEC); /* a closed one reads as empty */
    }
    rc = ctl_send(conn, buf, len, fds, ctl_req_nfds(r.flags));
    for (int i = 1; i < 4; i++)
        if (fds[i] > 2)
            close(fds[i]);
    slave = -1;
    struct ctl_msg m;
    if (rc || (rc = join_read(conn, &m))) {
        oci_err(rc == -EPIPE ? "cannot exec in a stopped container" : "exec: %s: %s", sock, strerror(-rc));
        goto out;
    }
    if (m.kind != CTL_STARTED) {
        oci_err("exec: %s", m.kind == CTL_ERROR ? m.msg : "unexpected answer from the VM");
        ret = m.kind == CTL_ERROR && m.b > 0 ? m.b : 1;
        goto out;
    }
    oci_debug("exec: joined the VM as its pid %d", m.a);
    close(*dirfd); /* the state lock is not held while the process runs */
    *dirfd = -1;
    if (o->detach) {
        fflush(stdout);
        fflush(stderr);
        pid_t proxy = fork();
        if (proxy < 0) {
            oci_err("exec: fork: %s", strerror(errno));
            goto out;
        }
        if (proxy == 0)
            join_proxy(conn);
        if (o->pid_file && (rc = oci_write_pid_file(o->pid_file, proxy))) {
            oci_err("--pid-file %s: %s", o->pid_file, strerror(-rc));
            kill(proxy, SIGKILL);
            goto out;
        }
        ret = 0;
        goto out;
    }
    if (o->pid_file && (rc = oci_write_pid_file(o->pid_file, getpid()))) {
        oci_err("--pid-file %s: %s", o->pid_file, strerror(-rc));
        goto out;
    }
    int sig;
    ret = join_relay(conn, &sig);
out:
    if (conn >= 0)
        close(conn);
    if (slave >= 0)
        close(slave);
    free(buf);
    free(env);
    free(r.argv);
    return ret;
}

int oci_exec(const char *root, const struct oci_exec_opts *o)
{
    if (!oci_id_valid(o->id)) {
        oci_err("invalid container id '%s'", o->id);
        return 1;
    }
    int dirfd = oci_state_open(root, o->id, false, false);
    if (dirfd < 0) {
        oci_err("container %s does not exist", o->id);
        return 1;
    }
    struct oci_state st;
    struct oci_spec spec;
    struct oci_process proc;
    struct oci_cmd cmd = {.prog_fd = -1, .netns_fd = -1};
    memset(&spec, 0, sizeof(spec));
    memset(&proc, 0, sizeof(proc));
    int ret = 1;
    if (oci_state_load(dirfd, &st)) {
        oci_err("container %s: cannot read its state", o->id);
        close(dirfd);
        return 1;
    }
    enum oci_status s = oci_status_of(dirfd, &st);
    if (s == OCI_STOPPED) {
        oci_err("cannot exec in a stopped container (%s)", o->id); /* runc's words */
        goto out;
    }
    if (s == OCI_CREATING || (s == OCI_PAUSED && !o->ignore_paused)) {
        oci_err("cannot exec in container %s: it is %s", o->id, oci_status_name(s));
        goto out;
    }
    if (st.vm_kind == OCI_VM_SYSTEM) {
        /* Its processes live under a guest kernel that kiln does not reach into (docs/oci.md). */
        oci_err("cannot exec in container %s: exec into a system-VM container is not supported", o->id);
        goto out;
    }
    char dir[PATH_MAX + 8], cfg[PATH_MAX + 32], err[1024];
    snprintf(dir, sizeof(dir), "%s/%s", root, o->id);
    snprintf(cfg, sizeof(cfg), "%s/config.json", dir);
    if (oci_load_spec(cfg, &spec) || exec_process(o, &spec, &proc))
        goto out;
    if (proc.terminal && !o->console_socket) {
        oci_err("exec: a terminal was asked for but no --console-socket was given");
        goto out;
    }
    if (oci_cmd_build(&spec, &proc, st.bundle, dir, &cmd, err, sizeof(err))) {
        oci_err("%s", err);
        goto out;
    }
    char sock[PATH_MAX + 32];
    snprintf(sock, sizeof(sock), "%s/" OCI_CTL_SOCKET, dir);
    if (s != OCI_CREATED && faccessat(dirfd, OCI_CTL_SOCKET, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
        ret = exec_join(o, &cmd, &proc, sock, &dirfd);
        oci_cmd_free(&cmd);
        goto out;
    }
    struct oci_spawn sp = {.console_socket = o->console_socket, .terminal = proc.terminal,
                           .rows = proc.cons_rows, .cols = proc.cons_cols};
    pid_t pid = oci_spawn(&cmd, &sp, err, sizeof(err));
    oci_cmd_free(&cmd);
    if (pid < 0) {
        oci_err("%s", err);
        goto out;
    }
    int rc;
    if (o->pid_file && (rc = oci_write_pid_file(o->pid_file, pid))) {
        oci_err("--pid-file %s: %s", o->pid_file, strerror(-rc));
        kill(pid, SIGKILL);
        goto out;
    }
    close(dirfd);
    dirfd = -1;
    if (o->detach) {
        ret = 0;
        goto out;
    }
    /* Attached: this command ends with the process, passing on the signals it gets (as runc). */
    exec_child = pid;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = exec_forward;
    static const int fwd[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
    for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++)
        sigaction(fwd[i], &sa, NULL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    ret = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
out:
    oci_process_free(&proc);
    oci_spec_free(&spec);
    oci_state_free(&st);
    if (dirfd >= 0)
        close(dirfd);
    return ret;
}
