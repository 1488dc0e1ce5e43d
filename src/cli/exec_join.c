/* Processes joining a running process VM through its control socket (exec_join.h). */
#define _GNU_SOURCE
#include "cli/exec_join.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "oci/console.h"
#include "oci/ctl.h"
#include "user/pidtab.h"

#define JOIN_MAX_PENDING 8 /* connections that have not sent their request yet */
#define JOIN_MAX 32        /* joined processes with a connection or a status to send */
#define JOIN_REQUEST_S 5   /* a connection that has not sent its request by then is dropped */

struct joined {
    pid_t host; /* 0: free slot */
    int pidfd;
    int conn; /* -1 once the caller hung up: the process runs on, as with runc */
};

struct exec_join {
    int lfd;
    uid_t owner;
    pid_t first, self;
    const struct proc_config *cfg;
    struct mounts *mt;
    int pending[JOIN_MAX_PENDING];
    time_t pending_since[JOIN_MAX_PENDING]; /* CLOCK_MONOTONIC seconds */
    struct joined j[JOIN_MAX];
    char buf[CTL_REQ_MAX + 1];
};

/* What a loading child reports to the supervisor before its guest runs. */
struct join_report {
    int vpid; /* > 0, or -errno */
    int status;
    char msg[104];
};

struct proc *exec_program_load(const struct proc_config *cfg, struct mounts *mt, int report_fd)
{
    struct proc *p = calloc(1, sizeof(*p));
    struct join_report rep = {.vpid = -ENOMEM, .status = 1};
    char err[512] = "out of memory";
    int rc = p ? proc_create(p, cfg, mt, err, sizeof(err)) : -ENOMEM;
    if (rc) {
        fprintf(stderr, "kiln exec: %s\n", err);
        snprintf(rep.msg, sizeof(rep.msg), "%s", err);
        rep.vpid = rc;
        rep.status = rc == -ENOEXEC || rc == -EACCES ? 126 : rc == -ENOENT ? 127 : 1;
        if (report_fd >= 0 && write(report_fd, &rep, sizeof(rep)) < 0)
            _exit(rep.status);
        _exit(rep.status);
    }
    proc_adopt_fds(p);
    if (report_fd >= 0) {
        rep.vpid = p->pid;
        rep.status = 0;
        rep.msg[0] = 0;
        if (write(report_fd, &rep, sizeof(rep)) != (ssize_t)sizeof(rep))
            _exit(1); /* the supervisor is gone */
        close(report_fd);
    }
    return p;
}

void exec_program_run(struct proc *p)
{
    int rc = proc_start(p);
    if (rc) {
        fprintf(stderr, "kiln exec: cannot start: %s\n", strerror(-rc));
        _exit(1);
    }
    for (;;)
        pause(); /* every exit is a host exit (proc_exit) */
}

struct exec_join *exec_join_open(const char *path, const struct proc_config *cfg, struct mounts *mt)
{
    struct exec_join *j = calloc(1, sizeof(*j));
    if (!j)
        return NULL;
    j->lfd = ctl_listen(path);
    if (j->lfd < 0) {
        fprintf(stderr, "kiln exec: --control-socket %s: %s\n", path, strerror(-j->lfd));
        free(j);
        return NULL;
    }
    j->owner = getuid();
    j->self = getpid();
    j->cfg = cfg;
    j->mt = mt;
    for (int i = 0; i < JOIN_MAX_PENDING; i++)
        j->pending[i] = -1;
    for (int i = 0; i < JOIN_MAX; i++)
        j->j[i].conn = j->j[i].pidfd = -1;
    return j;
}

void exec_join_forget(struct exec_join *j)
{
    if (j && j->lfd >= 0)
        close(j->lfd);
}

void exec_join_set_first(struct exec_join *j, pid_t first)
{
    j->first = first;
}

/* In a joining child: every descriptor of the control socket goes, so callers see their ends. */
static void join_close_all(struct exec_join *j)
{
    if (j->lfd >= 0)
        close(j->lfd);
    for (int i = 0; i < JOIN_MAX_PENDING; i++)
        if (j->pending[i] >= 0)
            close(j->pending[i]);
    for (int i = 0; i < JOIN_MAX; i++) {
        if (j->j[i].conn >= 0)
            close(j->j[i].conn);
        if (j->j[i].pidfd >= 0)
            close(j->j[i].pidfd);
    }
}

/* The forked child: stdio, group or session, then the program, as the first program. */
static void join_child(struct exec_join *j, const struct ctl_req *r, int *fds, int conn, int report)
{
    join_close_all(j);
    close(conn);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != j->self)
        _exit(1);
    static const int dfl[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGPIPE};
    for (size_t i = 0; i < sizeof(dfl) / sizeof(dfl[0]); i++)
        signal(dfl[i], SIG_DFL);
    if (r->flags & CTL_TERMINAL) {
        /* A session of its own with the pty as its controlling terminal (runc exec -t). */
        if (oci_console_attach(fds[1]))
            _exit(1);
    } else {
        setpgid(0, j->first); /* the VM's host group: ending the VM (kill of the group) ends it */
        for (int fd = 0; fd < 3; fd++)
            if (dup2(fds[1 + fd], fd) < 0)
                _exit(1);
        for (int i = 1; i < 4; i++)
            if (fds[i] > 2)
                close(fds[i]);
    }
    signal(SIGTTIN, SIG_IGN);
    signal(SIGTTOU, SIG_IGN);
    signal(SIGTSTP, SIG_IGN);
    struct proc_config cfg = *j->cfg;
    cfg.prog_path = NULL;
    cfg.prog_fd = fds[0];
    cfg.execfn = r->execfn;
    cfg.argv = r->argv;
    cfg.envp = r->envp;
    cfg.cwd = r->cwd;
    cfg.guest_ids = true;
    cfg.guest_uid = r->uid;
    cfg.guest_gid = r->gid;
    struct proc *p = exec_program_load(&cfg, j->mt, report);
    close(fds[0]);
    exec_program_run(p);
}

/* A request on a new connection: checked, then the process forked. Answers either way and
   returns 0, or 1 when nothing was there to read yet (the connection stays pending). */
static int join_request(struct exec_join *j, int conn)
{
    int fds[CTL_MAX_FDS];
    unsigned nfds = 0;
    ssize_t n = ctl_recv(conn, j->buf, CTL_REQ_MAX + 1, fds, &nfds);
    if (n == -EAGAIN)
        return 1; /* poll said readable: a spurious wake-up; the slot stays */
    char err[160];
    struct ctl_req r;
    int slot = -1, rc;
    if (n <= 0) {
        rc = n == 0 ? -ENODATA : (int)n;
        snprintf(err, sizeof(err), "no request: %s", strerror(-rc));
        goto fail;
    }
    if ((rc = ctl_req_decode(j->buf, (size_t)n, &r, err, sizeof(err))))
        goto fail;
    rc = -EINVAL;
    if (nfds != ctl_req_nfds(r.flags)) {
        snprintf(err, sizeof(err), "%u descriptors where the request needs %u", nfds, ctl_req_nfds(r.flags));
        goto fail_req;
    }
    struct stat st;
    if (fstat(fds[0], &st) || !S_ISREG(st.st_mode)) {
        snprintf(err, sizeof(err), "the program descriptor is not a regular file");
        goto fail_req;
    }
    for (int i = 0; i < JOIN_MAX && slot < 0; i++)
        if (!j->j[i].host)
            slot = i;
    if (slot < 0) {
        rc = -EAGAIN;
        snprintf(err, sizeof(err), "too many processes joined through the control socket (%d)", JOIN_MAX);
        goto fail_req;
    }
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC)) {
        rc = -errno;
        snprintf(err, sizeof(err), "pipe: %s", strerror(errno));
        goto fail_req;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(pipefd[0]);
        join_child(j, &r, fds, conn, pipefd[1]);
    }
    close(pipefd[1]);
    ctl_req_free(&r);
    for (unsigned i = 0; i < nfds; i++)
        close(fds[i]);
    if (pid < 0) {
        close(pipefd[0]);
        rc = -errno;
        snprintf(err, sizeof(err), "fork: %s", strerror(errno));
        goto fail;
    }
    struct join_report rep;
    memset(&rep, 0, sizeof(rep));
    ssize_t got;
    while ((got = read(pipefd[0], &rep, sizeof(rep))) < 0 && errno == EINTR)
        ;
    close(pipefd[0]);
    j->j[slot].host = pid;
    j->j[slot].pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (got != (ssize_t)sizeof(rep) || rep.vpid <= 0) {
        /* It failed to load and exits: the reaper frees its table entry; the caller gets why. */
        rep.msg[sizeof(rep.msg) - 1] = 0;
        ctl_send_msg(conn, CTL_ERROR, got == (ssize_t)sizeof(rep) ? -rep.vpid : EIO,
                     got == (ssize_t)sizeof(rep) ? rep.status : 1,
                     got == (ssize_t)sizeof(rep) ? rep.msg : "the process ended while loading");
        close(conn);
        return 0;
    }
    j->j[slot].conn = conn;
    if (ctl_send_msg(conn, CTL_STARTED, rep.vpid, 0, NULL)) {
        close(conn);
        j->j[slot].conn = -1;
    }
    return 0;
fail_req:
    ctl_req_free(&r);
fail:
    for (unsigned i = 0; i < nfds; i++)
        close(fds[i]);
    ctl_send_msg(conn, CTL_ERROR, -rc, 1, err);
    close(conn);
    return 0;
}

/* The VM's pid table forgets a host child before it is reaped (pidtab.h), then the status goes out. */
static void join_reap(struct exec_join *j)
{
    for (;;) {
        siginfo_t si;
        memset(&si, 0, sizeof(si));
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || !si.si_pid || si.si_pid == j->first)
            return;
        struct pidtab *pt = j->cfg->pids;
        pidtab_lock(pt);
        struct pident *e = pidtab_find_host(pt, si.si_pid);
        if (e)
            pidtab_remove(pt, e);
        pidtab_unlock(pt);
        int st = 0;
        if (waitpid(si.si_pid, &st, 0) < 0)
            return;
        for (int i = 0; i < JOIN_MAX; i++) {
            struct joined *jd = &j->j[i];
            if (jd->host != si.si_pid)
                continue;
            if (jd->conn >= 0) {
                ctl_send_msg(jd->conn, CTL_EXITED, WIFEXITED(st) ? WEXITSTATUS(st) : -1,
                             WIFSIGNALED(st) ? WTERMSIG(st) : 0, NULL);
                close(jd->conn);
            }
            if (jd->pidfd >= 0)
                close(jd->pidfd);
            jd->host = 0;
            jd->conn = jd->pidfd = -1;
        }
    }
}

int exec_join_pollfds(struct exec_join *j, struct pollfd *pf, int max)
{
    int n = 0;
    if (j->lfd >= 0 && n < max)
        pf[n++] = (struct pollfd){.fd = j->lfd, .events = POLLIN};
    for (int i = 0; i < JOIN_MAX_PENDING && n < max; i++)
        if (j->pending[i] >= 0)
            pf[n++] = (struct pollfd){.fd = j->pending[i], .events = POLLIN};
    for (int i = 0; i < JOIN_MAX && n + 1 < max; i++) {
        if (!j->j[i].host)
            continue;
        if (j->j[i].conn >= 0)
            pf[n++] = (struct pollfd){.fd = j->j[i].conn, .events = POLLIN};
        if (j->j[i].pidfd >= 0)
            pf[n++] = (struct pollfd){.fd = j->j[i].pidfd, .events = POLLIN};
    }
    return n;
}

/* A message from a joined process's caller: a signal to relay, or its end (hang-up). */
static void join_message(struct exec_join *j, struct joined *jd)
{
    struct ctl_msg m;
    int fds[CTL_MAX_FDS];
    unsigned nfds = 0;
    ssize_t n = ctl_recv(jd->conn, &m, sizeof(m), fds, &nfds);
    for (unsigned i = 0; i < nfds; i++)
        close(fds[i]);
    if (n == -EAGAIN)
        return;
    if (n != (ssize_t)sizeof(m) || m.magic != CTL_MAGIC || m.kind != CTL_SIGNAL) {
        close(jd->conn); /* hung up, or not speaking the protocol: the process runs on */
        jd->conn = -1;
        return;
    }
    /* Standard signals only: the real-time ones are kiln's own carriers (proc.h). */
    if (m.a >= 1 && m.a < 32) {
        pidtab_lock(j->cfg->pids); /* the entry cannot be reaped (and the pid reused) meanwhile */
        kill(jd->host, m.a);
        pidtab_unlock(j->cfg->pids);
    }
}

static time_t mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

void exec_join_handle(struct exec_join *j, const struct pollfd *pf, int n)
{
    for (int k = 0; k < n; k++) {
        if (!pf[k].revents)
            continue;
        int fd = pf[k].fd;
        if (fd == j->lfd) {
            int c = ctl_accept(j->lfd, j->owner);
            if (c < 0)
                continue;
            int slot = -1;
            for (int i = 0; i < JOIN_MAX_PENDING && slot < 0; i++)
                if (j->pending[i] < 0)
                    slot = i;
            if (slot < 0) {
                ctl_send_msg(c, CTL_ERROR, EAGAIN, 1, "too many connections waiting");
                close(c);
                continue;
            }
            j->pending[slot] = c;
            j->pending_since[slot] = mono_s();
            continue;
        }
        for (int i = 0; i < JOIN_MAX_PENDING; i++)
            if (j->pending[i] == fd && !join_request(j, fd))
                j->pending[i] = -1;
        for (int i = 0; i < JOIN_MAX; i++)
            if (j->j[i].host && j->j[i].conn == fd)
                join_message(j, &j->j[i]);
    }
    /* A caller that connects and says nothing cannot hold a slot for long. */
    time_t now = mono_s();
    for (int i = 0; i < JOIN_MAX_PENDING; i++)
        if (j->pending[i] >= 0 && now - j->pending_since[i] > JOIN_REQUEST_S) {
            ctl_send_msg(j->pending[i], CTL_ERROR, ETIMEDOUT, 1, "no request in time");
            close(j->pending[i]);
            j->pending[i] = -1;
        }
    join_reap(j);
}

void exec_join_end(struct exec_join *j)
{
    if (j->lfd >= 0)
        close(j->lfd);
    j->lfd = -1;
    for (int i = 0; i < JOIN_MAX_PENDING; i++)
        if (j->pending[i] >= 0) {
            ctl_send_msg(j->pending[i], CTL_ERROR, ESRCH, 1, "cannot exec in a stopped container");
            close(j->pending[i]);
            j->pending[i] = -1;
        }
    for (int i = 0; i < JOIN_MAX; i++)
        if (j->j[i].host)
            kill(j->j[i].host, SIGKILL);
    join_reap(j);
}
