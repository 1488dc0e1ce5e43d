/*
 * kilnd: supervises VMs and serves the REST API of docs/api.md on
 * $STATE_DIR/kiln.sock. One thread accepts connections and supervises the VMs
 * (every SUPERVISE_MS); each connection gets a thread that handles exactly one
 * request. All VM state is under d->lock and mirrored to SQLite on change.
 * This file is the glue: the process, its sockets, HTTP plumbing and start-up
 * re-adoption. supervise.c runs the VMs' lifecycle; routes.c answers requests.
 */
#define _GNU_SOURCE
#include "daemon/kilnd.h"

#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daemon/procinfo.h"
#include "daemon/store.h"
#include "util/log.h"

static volatile sig_atomic_t daemon_quit;

static void on_quit(int sig)
{
    daemon_quit = sig;
}

static const char *const state_names[] = {"defined", "running", "paused", "stopped", "crashed"};

const char *vm_state_name(enum vm_state s)
{
    return (unsigned)s < 5 ? state_names[s] : "unknown";
}

int vm_state_parse(const char *s, enum vm_state *out)
{
    for (int i = 0; i < 5; i++) {
        if (!strcmp(s, state_names[i])) {
            *out = (enum vm_state)i;
            return 0;
        }
    }
    return -EINVAL;
}

void vm_rec_free(struct vm_rec *v)
{
    if (!v)
        return;
    free(v->kernel);
    free(v->initrd);
    free(v->append);
    free(v->firmware);
    for (int i = 0; i < v->nargs; i++)
        free(v->args[i]);
    free(v->args);
    free(v->exit_reason);
    free(v);
}

int64_t kilnd_now(void)
{
    return (int64_t)time(NULL);
}

void kilnd_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int kilnd_err(struct reply *r, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    r->status = status;
    json_object_put(r->json);
    r->json = json_object_new_object();
    json_object_object_add(r->json, "error", json_object_new_string(msg));
    return status;
}

struct vm_rec *kilnd_find_vm(struct daemon *d, const char *name)
{
    for (struct vm_rec *v = d->vms; v; v = v->next) {
        if (!strcmp(v->name, name))
            return v;
    }
    return NULL;
}

/* snprintf for paths, whose length the callers bound: truncation is impossible by construction. */
void kilnd_pathf(char *out, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, len, fmt, ap);
    va_end(ap);
}

void kilnd_vm_dir(const struct daemon *d, const char *name, char *out, size_t len)
{
    kilnd_pathf(out, len, "%s/vms/%s", d->dir, name);
}

/* ---- monitor socket ---- */

int kilnd_connect_unix(const char *path)
{
    return sock_connect_unix(path);
}



/* Console snapshot: from the live monitor, or console.log of a VM that ended. */
/* ---- HTTP plumbing ---- */

static void send_reply(int fd, struct reply *r)
{
    char head[320];
    const char *body = "";
    size_t blen = 0;
    const char *type = "application/json";
    if (r->raw) {
        body = r->raw;
        blen = r->rawlen;
        type = "application/octet-stream";
    } else if (r->json) {
        body = json_object_to_json_string_ext(r->json, JSON_C_TO_STRING_PLAIN);
        blen = strlen(body);
    }
    bool nl = !r->raw && r->json;
    char allow[64] = "";
    if (r->status == 405 && r->allow)
        snprintf(allow, sizeof(allow), "Allow: %s\r\n", r->allow);
    int hn = snprintf(head, sizeof(head),
                      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                      "%sConnection: close\r\n\r\n",
                      r->status, http_reason(r->status), type, blen + (nl ? 1 : 0), allow);
    if (sock_send_all(fd, head, (size_t)hn) || sock_send_all(fd, body, blen))
        return;
    if (nl)
        sock_send_all(fd, "\n", 1);
}

/* Proxies the client connection and the monitor's console until either ends. */
static void console_proxy(int cfd, int mfd, const char *early, size_t elen)
{
    if (elen && sock_send_all(mfd, early, elen))
        return;
    struct timeval tv = {0, 0};
    setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char buf[8192];
    for (;;) {
        struct pollfd p[2] = {{.fd = cfd, .events = POLLIN}, {.fd = mfd, .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        for (int i = 0; i < 2; i++) {
            if (!p[i].revents)
                continue;
            ssize_t n = read(p[i].fd, buf, sizeof(buf));
            if (n <= 0 || sock_send_all(p[1 - i].fd, buf, (size_t)n))
                return;
        }
    }
}

static void *conn_thread(void *arg)
{
    struct conn *c = arg;
    struct daemon *d = c->d;
    int fd = c->fd, console_fd = -1;
    free(c);
    struct reply r = {0};
    struct http_request q;
    char *buf = malloc(HTTP_MAX_HEAD + HTTP_MAX_BODY);
    size_t len = 0;
    int head = 0;
    if (!buf) {
        kilnd_err(&r, 503, "out of memory");
        goto send;
    }
    struct ucred cr;
    socklen_t cl = sizeof(cr);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) || cr.uid != d->uid) {
        kilnd_err(&r, 403, "this daemon serves uid %u only", (unsigned)d->uid);
        goto send;
    }
    struct timeval tv = {IO_TIMEOUT_S, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    while ((head = http_parse_request(buf, len, &q)) == 0) {
        ssize_t n = read(fd, buf + len, HTTP_MAX_HEAD - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (len)
                kilnd_err(&r, n < 0 ? 408 : 400, "incomplete request");
            goto send;
        }
        len += (size_t)n;
    }
    if (head < 0) {
        kilnd_err(&r, -head, "malformed HTTP request (%s)", http_reason(-head));
        goto send;
    }
    size_t need = (size_t)head + q.content_length;
    if (!q.has_content_length && (!strcmp(q.method, "POST") || !strcmp(q.method, "PATCH")) &&
        len > (size_t)head) {
        kilnd_err(&r, 411, "a body needs Content-Length");
        goto send;
    }
    while (len < need) {
        ssize_t n = read(fd, buf + len, need - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            kilnd_err(&r, 400, "body shorter than Content-Length");
            goto send;
        }
        len += (size_t)n;
    }
    kilnd_route(d, &q, buf + head, q.content_length, &r, &console_fd);
    if (r.status == 101 && console_fd >= 0) {
        static const char up[] = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                                 "Upgrade: kiln-console\r\n\r\n";
        if (!sock_send_all(fd, up, sizeof(up) - 1))
            console_proxy(fd, console_fd, buf + need, len - need);
        close(console_fd);
        goto done;
    }
send:
    if (!r.status)
        goto done;
    send_reply(fd, &r);
done:
    shutdown(fd, SHUT_WR);
    if (r.status >= 400) {
        /*
         * Closing a Unix socket with unread input makes the peer's recv() fail with
         * ECONNRESET before it reads the answer: discard a bounded amount first.
         */
        struct timeval dt = {0, 200000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &dt, sizeof(dt));
        char sink[4096];
        for (int i = 0; i < 64 && read(fd, sink, sizeof(sink)) > 0; i++)
            ;
    }
    close(fd);
    json_object_put(r.json);
    free(r.raw);
    free(buf);
    return NULL;
}

/* ---- start-up ---- */

static int mkdir_p(const char *path, mode_t mode)
{
    char tmp[PATH_MAX];
    kilnd_pathf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, mode) && errno != EEXIST)
                return -errno;
            *p = '/';
        }
    }
    if (mkdir(tmp, mode) && errno != EEXIST)
        return -errno;
    return 0;
}

/* Re-adopts VMs whose monitors still run; records the end of the others. */
static void adopt(struct daemon *d)
{
    for (struct vm_rec *v = d->vms; v; v = v->next) {
        if (v->state != VMS_RUNNING && v->state != VMS_PAUSED)
            continue;
        if (proc_alive(v->monitor_pid, v->monitor_start)) {
            struct proc_stat ps;
            if (!proc_read_stat(v->vm_pid, &ps) && ps.starttime == v->vm_start)
                v->state = ps.state == 'T' ? VMS_PAUSED : VMS_RUNNING;
            log_err("daemon", "re-adopted VM '%s' (pid %d)", v->name, (int)v->vm_pid);
            store_save(d->store, v);
        } else {
            kilnd_vm_finalize(d, v);
        }
    }
}

int daemon_main(const char *state_dir, const char *migrate_listen, const char *token_file)
{
    struct daemon *d = calloc(1, sizeof(*d));
    char path[PATH_MAX + 16];
    int ret = 1, lockfd = -1;
    if (!d)
        return 1;
    d->lfd = -1;
    d->uid = geteuid();
    pthread_mutex_init(&d->lock, NULL);
    snprintf(d->dir, sizeof(d->dir), "%s", state_dir);
    snprintf(path, sizeof(path), "%s/vms", d->dir);
    int e = mkdir_p(path, 0700);
    if (e) {
        log_err("daemon", "cannot create %s: %s", path, strerror(-e));
        goto out;
    }
    snprintf(path, sizeof(path), "%s/daemon.lock", d->dir);
    lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lockfd < 0 || flock(lockfd, LOCK_EX | LOCK_NB)) {
        log_err("daemon", "another kiln daemon already serves %s", d->dir);
        goto out;
    }
    snprintf(path, sizeof(path), "%s/kiln.db", d->dir);
    if (store_open(path, &d->store) || store_load(d->store, &d->vms))
        goto out;
    cg_init(&d->cg);
    if (!d->cg.version)
        log_warn("daemon", "CPU caps unavailable: %s", d->cg.why);
    adopt(d);

    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int n = snprintf(d->sock, sizeof(d->sock), "%s/kiln.sock", d->dir);
    if (n < 0 || (size_t)n >= sizeof(a.sun_path)) {
        log_err("daemon", "socket path %s is too long for a Unix socket", d->sock);
        goto out;
    }
    memcpy(a.sun_path, d->sock, (size_t)n + 1);
    d->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    unlink(d->sock); /* stale: the lock says no other daemon runs */
    mode_t old = umask(077);
    e = d->lfd < 0 || bind(d->lfd, (struct sockaddr *)&a, sizeof(a)) || listen(d->lfd, 64);
    umask(old);
    if (e || chmod(d->sock, 0600)) {
        log_err("daemon", "%s: %m", d->sock);
        goto out;
    }
    struct sigaction sa = {.sa_handler = on_quit};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    if (migrate_listen && kilnd_migrate_listen(d, migrate_listen, token_file))
        goto out;
    log_err("daemon", "serving %s (pid %d)", d->sock, (int)getpid());

    while (!daemon_quit) {
        struct pollfd p = {.fd = d->lfd, .events = POLLIN};
        int pr = poll(&p, 1, SUPERVISE_MS);
        if (pr > 0) {
            int fd = accept4(d->lfd, NULL, NULL, SOCK_CLOEXEC);
            struct conn *c = fd >= 0 ? malloc(sizeof(*c)) : NULL;
            pthread_t t;
            pthread_attr_t at;
            pthread_attr_init(&at);
            pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
            if (c) {
                c->d = d;
                c->fd = fd;
                if (pthread_create(&t, &at, conn_thread, c)) {
                    close(fd);
                    free(c);
                }
            } else if (fd >= 0) {
                close(fd);
            }
            pthread_attr_destroy(&at);
        }
        pthread_mutex_lock(&d->lock);
        kilnd_supervise_locked(d);
        pthread_mutex_unlock(&d->lock);
    }
    log_err("daemon", "signal %d: exiting; running VMs keep running", (int)daemon_quit);
    ret = 0;
out:
    if (d->lfd >= 0) {
        unlink(d->sock);
        close(d->lfd);
    }
    /* Connection threads may still run: the VM list and store stay allocated until exit. */
    if (lockfd >= 0)
        close(lockfd);
    return ret;
}
