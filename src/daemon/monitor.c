#define _GNU_SOURCE
/*
 * `kiln monitor`: one per VM. Starts `kiln run` on a pty, keeps the last
 * RING_SIZE bytes of console output, serves the VM's socket (console attach
 * and output snapshots) and records how the VM ended. It lives in its own
 * session so it, and the VM, outlive the daemon; the daemon finds it again
 * through the pid + start time it stored.
 *
 * Files in the VM directory:
 *   console.sock  "console\n" attaches (ring replayed, then live, both ways);
 *                 "log\n" returns the ring and closes
 *   vm.pid        "PID STARTTIME" of the kiln run process, once it exists
 *   exit.json     {"code", "signal", "reason"} once it ended
 *   console.log   the ring, written at exit
 *   stderr.log    kiln run's stderr
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "daemon/procinfo.h"
#include "util/log.h"

#define RING_SIZE (64 << 10)
#define MAX_CLIENTS 16
#define CLIENT_READ 64
#define MON_ESCAPE_CHAR 0x01 /* CONSOLE_ESCAPE_CHAR of kiln run (src/backend/console.h) */

struct mon_client {
    int fd;
    bool console; /* attached; otherwise still reading its command line */
    char cmd[16];
    size_t cmdlen;
};

struct monitor {
    char dir[3800];
    char ring[RING_SIZE];
    uint64_t total; /* bytes ever written to the ring */
    char line[512], reason[512];
    size_t linelen;
    int lfd, master, errfd, errlog;
    pid_t child;
    struct mon_client clients[MAX_CLIENTS];
    char pend[16 << 10]; /* console input the pty has not taken yet */
    size_t pend_len;
};

static volatile sig_atomic_t mon_forward_sig;

static void mon_on_signal(int sig)
{
    mon_forward_sig = sig;
}

static void ring_put(struct monitor *m, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        m->ring[(m->total + i) % RING_SIZE] = p[i];
    m->total += n;
}

/* Writes the ring's contents, oldest first, to fd (blocking). */
static void ring_dump(const struct monitor *m, int fd)
{
    uint64_t n = m->total < RING_SIZE ? m->total : RING_SIZE;
    uint64_t start = m->total - n;
    while (n) {
        size_t off = start % RING_SIZE, chunk = RING_SIZE - off;
        if (chunk > n)
            chunk = n;
        ssize_t w = send(fd, m->ring + off, chunk, MSG_NOSIGNAL);
        if (w < 0 && errno == ENOTSOCK)
            w = write(fd, m->ring + off, chunk);
        if (w <= 0) {
            if (w < 0 && errno == EINTR)
                continue;
            return;
        }
        start += (uint64_t)w;
        n -= (uint64_t)w;
    }
}

static void drop_client(struct mon_client *c)
{
    close(c->fd);
    c->fd = -1;
}

static void broadcast(struct monitor *m, const char *p, size_t n)
{
    for (int i = 0; i < MAX_CLIENTS; i++) {
        struct mon_client *c = &m->clients[i];
        if (c->fd < 0 || !c->console)
            continue;
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w != (ssize_t)n)
            drop_client(c); /* too slow or gone: it can re-attach and replay the ring */
    }
}

static void stderr_bytes(struct monitor *m, const char *p, size_t n)
{
    if (m->errlog >= 0 && write(m->errlog, p, n) < 0)
        m->errlog = -1;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n') {
            if (m->linelen) {
                m->line[m->linelen] = 0;
                memcpy(m->reason, m->line, m->linelen + 1);
            }
            m->linelen = 0;
        } else if (m->linelen + 1 < sizeof(m->line)) {
            m->line[m->linelen++] = p[i];
        }
    }
}

/*
 * Console input for the guest's serial port. kiln run reads the pty as a
 * terminal and would take Ctrl-A as its escape prefix (Ctrl-A x quits the
 * VM), so every Ctrl-A is doubled: kiln run turns the pair back into one byte
 * for the guest. Whatever a console client sends is thus typed, never obeyed;
 * stopping a VM is the API's job (docs/console.md).
 *
 * The bytes wait in m->pend until the pty takes them: a guest that is not
 * reading (booting, its port closed) must not block the monitor, which also
 * keeps the output ring and serves other clients. While pend is nearly full,
 * console clients are not read (back-pressure, nothing dropped).
 */
static void pty_write_literal(struct monitor *m, const char *p, size_t n)
{
    for (size_t i = 0; i < n && m->pend_len + 2 <= sizeof(m->pend); i++) {
        m->pend[m->pend_len++] = p[i];
        if (p[i] == MON_ESCAPE_CHAR)
            m->pend[m->pend_len++] = MON_ESCAPE_CHAR;
    }
}

/* Moves what the pty takes now from pend (the master is non-blocking). */
static void pty_flush(struct monitor *m)
{
    while (m->pend_len) {
        ssize_t w = write(m->master, m->pend, m->pend_len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (w <= 0) {
            m->pend_len = 0; /* the VM is gone: nobody will read it */
            return;
        }
        memmove(m->pend, m->pend + w, m->pend_len - (size_t)w);
        m->pend_len -= (size_t)w;
    }
}

/* Room for one more client read (CLIENT_READ bytes, each possibly doubled)? */
static bool pend_has_room(const struct monitor *m)
{
    return m->pend_len + 2 * CLIENT_READ <= sizeof(m->pend);
}

static void client_command(struct monitor *m, struct mon_client *c)
{
    char buf[CLIENT_READ];
    ssize_t n = read(c->fd, buf, sizeof(buf));
    if (n <= 0) {
        drop_client(c);
        return;
    }
    if (c->console) {
        pty_write_literal(m, buf, (size_t)n);
        pty_flush(m);
        return;
    }
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] != '\n') {
            if (c->cmdlen + 1 >= sizeof(c->cmd)) {
                drop_client(c);
                return;
            }
            c->cmd[c->cmdlen++] = buf[i];
            continue;
        }
        c->cmd[c->cmdlen] = 0;
        ring_dump(m, c->fd);
        if (!strcmp(c->cmd, "console")) {
            c->console = true;
            fcntl(c->fd, F_SETFL, O_NONBLOCK);
            /* Bytes after the command line are already console input. */
            if (i + 1 < n) {
                pty_write_literal(m, buf + i + 1, (size_t)(n - i - 1));
                pty_flush(m);
            }
        } else {
            drop_client(c);
        }
        return;
    }
}

static void accept_client(struct monitor *m)
{
    int fd = accept4(m->lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    for (int i = 0; i < MAX_CLIENTS; i++) {
        if (m->clients[i].fd < 0) {
            m->clients[i] = (struct mon_client){.fd = fd};
            return;
        }
    }
    close(fd);
}

static int write_atomic(const char *dir, const char *name, const char *text)
{
    char tmp[4096], path[4096];
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    size_t len = strlen(text);
    if (write(fd, text, len) != (ssize_t)len || fsync(fd)) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return -e;
    }
    close(fd);
    return rename(tmp, path) ? -errno : 0;
}

static int open_pty(int *master, char *slave, size_t len)
{
    int fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (grantpt(fd) || unlockpt(fd) || ptsname_r(fd, slave, len)) {
        int e = errno;
        close(fd);
        return -e;
    }
    *master = fd;
    return 0;
}

static int listen_unix(const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    size_t plen = strlen(path);
    if (plen >= sizeof(a.sun_path))
        return -ENAMETOOLONG;
    memcpy(a.sun_path, path, plen + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    unlink(path);
    mode_t old = umask(077);
    int r = bind(fd, (struct sockaddr *)&a, sizeof(a));
    umask(old);
    if (r || listen(fd, 16)) {
        r = -errno;
        close(fd);
        return r;
    }
    return fd;
}

/* In the child, between fork and exec: only async-signal-safe calls. */
/*
 * A jailed VM started by root is init of a pid namespace of its own (docs/jail.md): its
 * processes are gone with it, and it sees no other. The daemon creates the namespace, so
 * the pid it signals (pause, stop) and measures is the VM's; kiln run, finding itself
 * pid 1, does not split again. A raw clone without CLONE_VM is a fork (clone(2)).
 */
static pid_t spawn_vm_process(char **argv)
{
    bool jailed = geteuid() == 0;
    for (int i = 0; argv[i]; i++)
        if (!strcmp(argv[i], "--no-jail"))
            jailed = false;
    if (jailed) {
        pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, NULL, NULL, NULL, NULL);
        if (pid >= 0 || (errno != EPERM && errno != EINVAL))
            return pid;
        log_warn("monitor", "no pid namespace for the VM (%m); it runs in the daemon's");
    }
    return fork();
}

static void child_exec(const char *slave, int errw, const char *cgroup_procs, char **argv)
{
    setsid();
    int s = open(slave, O_RDWR); /* first tty opened by a session leader: controlling tty */
    if (s < 0)
        _exit(127);
    struct termios t;
    if (!tcgetattr(s, &t)) {
        cfmakeraw(&t);
        tcsetattr(s, TCSANOW, &t);
    }
    dup2(s, 0);
    dup2(s, 1);
    dup2(errw, 2);
    if (s > 2)
        close(s);
    if (cgroup_procs) {
        char pid[24];
        int n = 0;
        unsigned v = (unsigned)getpid();
        char rev[24];
        do {
            rev[n++] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        for (int i = 0; i < n; i++)
            pid[i] = rev[n - 1 - i];
        /* One cgroup.procs per hierarchy (cgroup v1: cpu, memory, pids), ':'-separated. */
        char one[4096];
        for (const char *p = cgroup_procs; *p;) {
            size_t l = 0;
            while (p[l] && p[l] != ':')
                l++;
            if (l < sizeof(one)) {
                memcpy(one, p, l);
                one[l] = 0;
                int fd = open(one, O_WRONLY);
                if (fd < 0 || write(fd, pid, (size_t)n) != n) {
                    static const char msg[] = "kiln: monitor: could not join one of the VM's cgroups\n";
                    if (write(2, msg, sizeof(msg) - 1) < 0)
                        _exit(127);
                }
                if (fd >= 0)
                    close(fd);
            }
            p += l;
            if (*p == ':')
                p++;
        }
    }
    signal(SIGHUP, SIG_DFL);
    execv("/proc/self/exe", argv);
    static const char msg[] = "kiln: monitor: cannot exec kiln run\n";
    if (write(2, msg, sizeof(msg) - 1) < 0)
        _exit(127);
    _exit(127);
}

static void write_exit(struct monitor *m, int status)
{
    json_object *o = json_object_new_object();
    if (!o)
        return;
    if (WIFEXITED(status)) {
        json_object_object_add(o, "code", json_object_new_int(WEXITSTATUS(status)));
    } else if (WIFSIGNALED(status)) {
        json_object_object_add(o, "signal", json_object_new_int(WTERMSIG(status)));
    }
    if (m->linelen) { /* a last line without its newline */
        m->line[m->linelen] = 0;
        memcpy(m->reason, m->line, m->linelen + 1);
    }
    /* kiln run's lines start "kiln: "; as a VM's reason that is noise ("kiln: VM x ...: kiln: ..."). */
    const char *reason = strncmp(m->reason, "kiln: ", 6) ? m->reason : m->reason + 6;
    if (reason[0])
        json_object_object_add(o, "reason", json_object_new_string(reason));
    write_atomic(m->dir, "exit.json", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
}

int monitor_main(const char *dir, const char *cgroup_procs, int argc, char **argv)
{
    static struct monitor mon; /* 64K ring: not on the stack */
    struct monitor *m = &mon;
    char path[4096], slave[128];
    int errp[2] = {-1, -1}, ret = 1;
    snprintf(m->dir, sizeof(m->dir), "%s", dir);
    m->lfd = m->master = m->errfd = m->errlog = -1;
    for (int i = 0; i < MAX_CLIENTS; i++)
        m->clients[i].fd = -1;

    struct sigaction sa = {.sa_handler = mon_on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);

    static const char *stale[] = {"exit.json", "vm.pid", "console.log"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, stale[i]);
        unlink(path);
    }
    snprintf(path, sizeof(path), "%s/console.sock", dir);
    m->lfd = listen_unix(path);
    if (m->lfd < 0) {
        log_err("monitor", "%s: %s", path, strerror(-m->lfd));
        goto out;
    }
    snprintf(path, sizeof(path), "%s/stderr.log", dir);
    m->errlog = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int r = open_pty(&m->master, slave, sizeof(slave));
    if (!r)
        fcntl(m->master, F_SETFL, O_NONBLOCK); /* see pty_flush() */
    if (r || pipe2(errp, O_CLOEXEC)) {
        log_err("monitor", "pty/pipe: %s", strerror(r ? -r : errno));
        goto out;
    }
    char **cargv = calloc((size_t)argc + 3, sizeof(char *));
    if (!cargv)
        goto out;
    cargv[0] = "kiln";
    cargv[1] = "run";
    if (argc > 0 && !strcmp(argv[0], "restore")) { /* a VM from a snapshot (snapshots.c) */
        cargv[1] = "restore";
        argv++;
        argc--;
    }
    for (int i = 0; i < argc; i++)
        cargv[i + 2] = argv[i];
    m->child = spawn_vm_process(cargv);
    if (m->child < 0) {
        log_err("monitor", "fork: %m");
        goto out;
    }
    if (m->child == 0)
        child_exec(slave, errp[1], cgroup_procs, cargv);
    free(cargv);
    close(errp[1]);
    errp[1] = -1;
    m->errfd = errp[0];

    struct proc_stat ps = {0};
    proc_read_stat(m->child, &ps);
    char pidline[64];
    snprintf(pidline, sizeof(pidline), "%d %llu\n", (int)m->child, (unsigned long long)ps.starttime);
    write_atomic(dir, "vm.pid", pidline);

    bool master_open = true, err_open = true;
    while (master_open || err_open) {
        if (mon_forward_sig) {
            kill(m->child, mon_forward_sig);
            kill(m->child, SIGCONT);
            mon_forward_sig = 0;
        }
        struct pollfd p[3 + MAX_CLIENTS];
        int np = 0;
        p[np++] = (struct pollfd){.fd = master_open ? m->master : -1,
                                  .events = (short)(POLLIN | (m->pend_len ? POLLOUT : 0))};
        p[np++] = (struct pollfd){.fd = err_open ? m->errfd : -1, .events = POLLIN};
        p[np++] = (struct pollfd){.fd = m->lfd, .events = POLLIN};
        for (int i = 0; i < MAX_CLIENTS; i++) {
            const struct mon_client *c = &m->clients[i];
            bool hold = c->console && !pend_has_room(m);
            p[np++] = (struct pollfd){.fd = hold ? -1 : c->fd, .events = POLLIN};
        }
        if (poll(p, (nfds_t)np, 500) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        char buf[4096];
        if (p[0].revents & POLLOUT)
            pty_flush(m);
        if (p[0].revents & ~POLLOUT) {
            ssize_t n = read(m->master, buf, sizeof(buf));
            if (n > 0) {
                ring_put(m, buf, (size_t)n);
                broadcast(m, buf, (size_t)n);
            } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
                master_open = false; /* EIO: every slave fd is closed, the VM is gone */
            }
        }
        if (p[1].revents) {
            ssize_t n = read(m->errfd, buf, sizeof(buf));
            if (n > 0)
                stderr_bytes(m, buf, (size_t)n);
            else if (n == 0 || errno != EINTR)
                err_open = false;
        }
        if (p[2].revents & POLLIN)
            accept_client(m);
        for (int i = 0; i < MAX_CLIENTS; i++) {
            if (p[3 + i].revents && m->clients[i].fd >= 0)
                client_command(m, &m->clients[i]);
        }
    }
    int status = 0;
    while (waitpid(m->child, &status, 0) < 0 && errno == EINTR)
        ;
    snprintf(path, sizeof(path), "%s/console.log", dir);
    int lf = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (lf >= 0) {
        ring_dump(m, lf);
        close(lf);
    }
    write_exit(m, status);
    ret = 0;
out:
    for (int i = 0; i < MAX_CLIENTS; i++) {
        if (m->clients[i].fd >= 0)
            close(m->clients[i].fd);
    }
    if (m->lfd >= 0) {
        snprintf(path, sizeof(path), "%s/console.sock", dir);
        unlink(path);
        close(m->lfd);
    }
    if (m->master >= 0)
        close(m->master);
    if (m->errfd >= 0)
        close(m->errfd);
    if (errp[1] >= 0)
        close(errp[1]);
    if (m->errlog >= 0)
        close(m->errlog);
    return ret;
}
