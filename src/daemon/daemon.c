/*
 * kilnd: supervises VMs and serves the REST API of docs/api.md on
 * $STATE_DIR/kiln.sock. One thread accepts connections and supervises the VMs
 * (every SUPERVISE_MS); each connection gets a thread that handles exactly one
 * request. All VM state is under d->lock and mirrored to SQLite on change.
 */
#define _GNU_SOURCE
#include "daemon/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <json-c/json.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api/http.h"
#include "daemon/cgroup.h"
#include "daemon/procinfo.h"
#include "daemon/runargs.h"
#include "daemon/store.h"
#include "machine/control.h"
#include "util/log.h"
#include "util/token_bucket.h"

#define SUPERVISE_MS 200
#define START_WAIT_MS 5000
#define START_READY_MS 10000 /* kiln run loading its images */
#define START_SETTLE_MS 300
#define STOP_TIMEOUT_S 10
#define KILL_WAIT_MS 5000
#define VM_MIN_MEM (2ull << 20)
#define VM_MAX_MEM (64ull << 30)
/* The smallest guest PATCH mem may balloon a running VM down to (kiln run's own limit). */
#define BALLOON_MIN_MEM (16ull << 20)
#define VM_MAX_CPUS 32 /* VM_MAX_HARTS of kiln run */
#define IO_TIMEOUT_S 10

struct daemon {
    char dir[PATH_MAX];
    char sock[PATH_MAX];
    uid_t uid;
    int lfd;
    struct store *store;
    struct cgroups cg;
    pthread_mutex_t lock;
    struct vm_rec *vms;
};

struct conn {
    struct daemon *d;
    int fd;
};

/* A handler's answer: status and JSON body (owned), or a raw body. */
struct reply {
    int status;
    json_object *json;
    char *raw;
    size_t rawlen;
    const char *allow; /* 405: the methods the path takes (RFC 9110 §15.5.6) */
};

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

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int err_reply(struct reply *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int err_reply(struct reply *r, int status, const char *fmt, ...)
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

static struct vm_rec *find_vm(struct daemon *d, const char *name)
{
    for (struct vm_rec *v = d->vms; v; v = v->next) {
        if (!strcmp(v->name, name))
            return v;
    }
    return NULL;
}

/* snprintf for paths, whose length the callers bound: truncation is impossible by construction. */
static void pathf(char *out, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void pathf(char *out, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, len, fmt, ap);
    va_end(ap);
}

static void vm_dir(const struct daemon *d, const char *name, char *out, size_t len)
{
    pathf(out, len, "%s/vms/%s", d->dir, name);
}

/* ---- supervision ---- */

static void reap_children(void)
{
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

/* The monitor of v has ended: read how the VM ended and record it. Caller holds the lock. */
static void vm_finalize(struct daemon *d, struct vm_rec *v)
{
    char path[PATH_MAX + 32], dir[PATH_MAX];
    vm_dir(d, v->name, dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/exit.json", dir);
    json_object *o = json_object_from_file(path);
    json_object *x;
    v->exit_code = v->exit_signal = -1;
    free(v->exit_reason);
    v->exit_reason = NULL;
    if (o) {
        if (json_object_object_get_ex(o, "code", &x))
            v->exit_code = json_object_get_int(x);
        if (json_object_object_get_ex(o, "signal", &x))
            v->exit_signal = json_object_get_int(x);
        if (json_object_object_get_ex(o, "reason", &x))
            v->exit_reason = strdup(json_object_get_string(x));
        json_object_put(o);
    } else {
        v->exit_reason = strdup("the VM's monitor process ended without recording an exit");
    }
    char oom[96];
    if (v->exit_signal == SIGKILL && cg_vm_oom_reason(&d->cg, v->name, oom, sizeof(oom)) > 0) {
        free(v->exit_reason);
        v->exit_reason = strdup(oom); /* the memory cgroup's OOM killer (docs/jail.md) */
    }
    if (!v->exit_reason && v->exit_signal > 0) {
        char buf[96];
        snprintf(buf, sizeof(buf), "killed by signal %d (%s)", v->exit_signal, strsignal(v->exit_signal));
        v->exit_reason = strdup(buf);
    }
    if (v->stop_requested || (o && v->exit_code == 0))
        v->state = VMS_STOPPED;
    else
        v->state = VMS_CRASHED;
    log_err("daemon", "VM '%s' %s (code %d, signal %d: %s)", v->name, vm_state_name(v->state),
            v->exit_code, v->exit_signal, v->exit_reason ? v->exit_reason : "");
    v->stop_requested = false;
    v->monitor_pid = v->vm_pid = 0;
    v->monitor_start = v->vm_start = 0;
    cg_vm_remove(&d->cg, v->name);
    store_save(d->store, v);
}

static void supervise_locked(struct daemon *d)
{
    reap_children();
    for (struct vm_rec *v = d->vms; v; v = v->next) {
        if ((v->state == VMS_RUNNING || v->state == VMS_PAUSED) &&
            !proc_alive(v->monitor_pid, v->monitor_start))
            vm_finalize(d, v);
    }
}

/* ---- the VM's control socket (kiln run --control, src/machine/control.h) ---- */

static int connect_unix(const char *path);
static int write_all(int fd, const void *buf, size_t len);

/*
 * One request line to a running VM's control socket; the answer (one JSON line) parsed
 * into *out. Short timeouts: callers hold the daemon lock. 0, or -errno (-EPROTO: no answer).
 */
static int vm_control(struct daemon *d, const struct vm_rec *v, const char *req, int timeout_ms,
                      json_object **out)
{
    char dir[PATH_MAX], path[PATH_MAX + 16];
    *out = NULL;
    vm_dir(d, v->name, dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/control.sock", dir);
    int fd = connect_unix(path);
    if (fd < 0)
        return fd;
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    int e = write_all(fd, req, strlen(req));
    char buf[2048];
    size_t len = 0;
    while (!e && len + 1 < sizeof(buf)) {
        ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            e = n < 0 ? -errno : -EPROTO;
            break;
        }
        len += (size_t)n;
        if (memchr(buf, '\n', len))
            break;
    }
    close(fd);
    if (e)
        return e;
    buf[len] = 0;
    *out = json_tokener_parse(buf);
    return *out ? 0 : -EPROTO;
}

/* ---- JSON views ---- */

static json_object *jstr_or_null(const char *s)
{
    return s ? json_object_new_string(s) : NULL;
}

static json_object *vm_json(struct daemon *d, struct vm_rec *v)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(v->name));
    json_object_object_add(o, "state", json_object_new_string(vm_state_name(v->state)));
    json_object_object_add(o, "mem", json_object_new_int64((int64_t)v->mem));
    json_object_object_add(o, "cpus", json_object_new_int((int)v->cpus));
    json_object_object_add(o, "kernel", jstr_or_null(v->kernel));
    json_object_object_add(o, "initrd", jstr_or_null(v->initrd));
    json_object_object_add(o, "append", jstr_or_null(v->append));
    json_object_object_add(o, "firmware", jstr_or_null(v->firmware));
    json_object *args = json_object_new_array();
    for (int i = 0; i < v->nargs; i++)
        json_object_array_add(args, json_object_new_string(v->args[i]));
    json_object_object_add(o, "args", args);
    json_object_object_add(o, "cpu_cap", json_object_new_int((int)v->cpu_cap));
    json_object_object_add(o, "disk_bps", json_object_new_int64((int64_t)v->disk_bps));
    json_object_object_add(o, "disk_iops", json_object_new_int64((int64_t)v->disk_iops));
    json_object_object_add(o, "net_bps", json_object_new_int64((int64_t)v->net_bps));
    json_object_object_add(o, "created_at", json_object_new_int64(v->created_at));

    bool live = v->state == VMS_RUNNING || v->state == VMS_PAUSED;
    struct proc_stat ps;
    if (live && v->vm_pid > 0 && !proc_read_stat(v->vm_pid, &ps) && ps.starttime == v->vm_start) {
        long tck = sysconf(_SC_CLK_TCK);
        json_object_object_add(o, "pid", json_object_new_int(v->vm_pid));
        json_object_object_add(o, "monitor_pid", json_object_new_int(v->monitor_pid));
        json_object_object_add(o, "started_at", json_object_new_int64(v->started_at));
        json_object_object_add(o, "uptime_s", json_object_new_int64(now_s() - v->started_at));
        json_object_object_add(o, "cpu_time_s",
                               json_object_new_double((double)ps.cpu_ticks / (double)(tck > 0 ? tck : 100)));
        int64_t rss = proc_rss(v->vm_pid);
        json_object_object_add(o, "rss_bytes", json_object_new_int64(rss > 0 ? rss : 0));
        /* Balloon state from kiln run itself; a paused VM cannot answer. */
        json_object *st = NULL, *bal = NULL;
        if (v->state == VMS_RUNNING && !vm_control(d, v, "{\"cmd\":\"stats\"}\n", 500, &st) &&
            json_object_object_get_ex(st, "balloon", &bal) && json_object_is_type(bal, json_type_object)) {
            json_object *b = json_object_new_object();
            static const char *const keys[] = {"target_mib", "actual_mib", "guest_mib", "reported_bytes"};
            for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
                json_object *x;
                if (json_object_object_get_ex(bal, keys[i], &x))
                    json_object_object_add(b, keys[i], json_object_new_int64(json_object_get_int64(x)));
            }
            json_object_object_add(o, "balloon", b);
        } else {
            json_object_object_add(o, "balloon", NULL);
        }
        json_object_put(st);
    } else {
        json_object_object_add(o, "pid", NULL);
    }
    json_object *cap = json_object_new_object();
    json_object_object_add(cap, "backend", json_object_new_string(
                               d->cg.version == 2 ? "cgroup2" : d->cg.version == 1 ? "cgroup1" : "none"));
    if (d->cg.version) {
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/%s", d->cg.base, v->name);
        json_object_object_add(cap, "cgroup", json_object_new_string(p));
        json_object_object_add(cap, "enforced", json_object_new_boolean(v->cpu_cap > 0));
    } else {
        json_object_object_add(cap, "enforced", json_object_new_boolean(false));
        json_object_object_add(cap, "why", json_object_new_string(d->cg.why));
    }
    json_object_object_add(o, "cpu_limit", cap);
    if (v->exit_code >= 0 || v->exit_signal > 0 || v->exit_reason) {
        json_object *e = json_object_new_object();
        json_object_object_add(e, "code", v->exit_code >= 0 ? json_object_new_int(v->exit_code) : NULL);
        json_object_object_add(e, "signal", v->exit_signal > 0 ? json_object_new_int(v->exit_signal) : NULL);
        json_object_object_add(e, "reason", jstr_or_null(v->exit_reason));
        json_object_object_add(o, "last_exit", e);
    }
    return o;
}

/* ---- validation ---- */

static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > VM_NAME_MAX || s[0] == '.' || s[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

/* "64M", "2G", "65536" (bytes) or a JSON integer (bytes). */
static int parse_mem(json_object *j, uint64_t *out)
{
    if (json_object_is_type(j, json_type_int)) {
        int64_t v = json_object_get_int64(j);
        if (v <= 0)
            return -EINVAL;
        *out = (uint64_t)v;
        return 0;
    }
    if (!json_object_is_type(j, json_type_string))
        return -EINVAL;
    const char *s = json_object_get_string(j);
    uint64_t v = 0;
    size_t i = 0;
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        if (v > (UINT64_MAX - 9) / 10)
            return -ERANGE;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (i == 0)
        return -EINVAL;
    unsigned shift = 0;
    switch (s[i]) {
    case 'K': case 'k': shift = 10; i++; break;
    case 'M': case 'm': shift = 20; i++; break;
    case 'G': case 'g': shift = 30; i++; break;
    default: break;
    }
    if (s[i] || v == 0 || v > (UINT64_MAX >> shift))
        return -EINVAL;
    *out = v << shift;
    return 0;
}

/*
 * "256" is 256 bytes, but people used to QEMU's `-m 256` mean MiB: a plain
 * number too small to be a VM's memory gets the likely meaning in its error.
 */
static int mem_hint(struct reply *r, json_object *j, uint64_t mem)
{
    if (mem >= VM_MIN_MEM || mem > 65536)
        return 0;
    if (json_object_is_type(j, json_type_string))
        return err_reply(r, 400, "mem \"%s\" is %llu bytes; did you mean \"%lluM\"?",
                         json_object_get_string(j), (unsigned long long)mem, (unsigned long long)mem);
    return err_reply(r, 400, "mem %llu is bytes; did you mean \"%lluM\"?", (unsigned long long)mem,
                     (unsigned long long)mem);
}

static int check_mem(struct reply *r, uint64_t mem)
{
    uint64_t host = host_mem_total();
    if (mem < VM_MIN_MEM || mem > VM_MAX_MEM || (mem & 0xfff))
        return err_reply(r, 400, "mem must be a multiple of 4K between 2M and 64G");
    if (host && mem > host)
        return err_reply(r, 400, "mem %llu MiB is more than the host has (%llu MiB)",
                         (unsigned long long)(mem >> 20), (unsigned long long)(host >> 20));
    return 0;
}

static int get_int(json_object *j, int64_t *out)
{
    if (!json_object_is_type(j, json_type_int))
        return -EINVAL;
    *out = json_object_get_int64(j);
    return 0;
}

static int check_cap(struct reply *r, json_object *j, unsigned *out)
{
    int64_t cap;
    unsigned maxcap = 100 * host_cpus();
    if (get_int(j, &cap) || cap < 0 || cap > maxcap)
        return err_reply(r, 400, "cpu_cap must be a percentage of one host CPU from 0 (no cap) to %u", maxcap);
    *out = (unsigned)cap;
    return 0;
}

/* A file path field: absolute and readable by the daemon, or null. */
static int get_path(struct reply *r, json_object *j, const char *key, char **out)
{
    if (!j)
        return 0;
    if (!json_object_is_type(j, json_type_string))
        return err_reply(r, 400, "%s must be a string", key);
    const char *s = json_object_get_string(j);
    if (s[0] != '/')
        return err_reply(r, 400, "%s must be an absolute path", key);
    if (access(s, R_OK))
        return err_reply(r, 400, "%s %s: %s", key, s, strerror(errno));
    *out = strdup(s);
    return *out ? 0 : err_reply(r, 500, "out of memory");
}

/*
 * Keys of the top-level object in JSON text that json-c has already accepted
 * (RFC 8259 §4: names SHOULD be unique; with duplicates behaviour is undefined).
 */
static size_t count_top_keys(const char *p, size_t len)
{
    size_t keys = 0;
    int depth = 0;
    bool in_str = false, expect_key = false;
    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
            continue;
        }
        switch (c) {
        case '"':
            in_str = true;
            if (depth == 1 && expect_key)
                keys++;
            expect_key = false;
            break;
        case '{':
        case '[':
            depth++;
            expect_key = depth == 1 && c == '{';
            break;
        case '}':
        case ']':
            depth--;
            break;
        case ',':
            expect_key = depth == 1;
            break;
        default:
            break;
        }
    }
    return keys;
}

static json_object *parse_body(struct reply *r, const char *body, size_t len)
{
    if (!body || len == 0) {
        err_reply(r, 400, "request body must be a JSON object");
        return NULL;
    }
    json_tokener *tok = json_tokener_new();
    json_object *o = tok ? json_tokener_parse_ex(tok, body, (int)len) : NULL;
    bool ok = o && json_tokener_get_error(tok) == json_tokener_success &&
              (size_t)json_tokener_get_parse_end(tok) == len;
    if (tok)
        json_tokener_free(tok);
    if (!ok || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        err_reply(r, 400, "request body is not a JSON object");
        return NULL;
    }
    /* json-c keeps the last of duplicate keys; which one was meant is a guess, so refuse. */
    if (count_top_keys(body, len) != (size_t)json_object_object_length(o)) {
        json_object_put(o);
        err_reply(r, 400, "request body has a duplicate key");
        return NULL;
    }
    return o;
}

/* ---- handlers (caller holds d->lock) ---- */

static void h_create(struct daemon *d, struct reply *r, const char *body, size_t len)
{
    json_object *o = parse_body(r, body, len);
    if (!o)
        return;
    struct vm_rec *v = calloc(1, sizeof(*v));
    if (!v) {
        err_reply(r, 500, "out of memory");
        goto out;
    }
    v->mem = 256ull << 20;
    v->cpus = 1;
    v->exit_code = v->exit_signal = -1;
    bool have_name = false;
    json_object_object_foreach(o, key, val)
    {
        if (!strcmp(key, "name")) {
            if (!json_object_is_type(val, json_type_string) || !valid_name(json_object_get_string(val))) {
                err_reply(r, 400, "name must be 1-63 characters of A-Z a-z 0-9 . _ - not starting with . or -");
                goto out;
            }
            snprintf(v->name, sizeof(v->name), "%s", json_object_get_string(val));
            have_name = true;
        } else if (!strcmp(key, "mem")) {
            if (parse_mem(val, &v->mem)) {
                err_reply(r, 400, "mem must be a size such as \"64M\" or \"2G\", or bytes");
                goto out;
            }
            if (mem_hint(r, val, v->mem) || check_mem(r, v->mem))
                goto out;
        } else if (!strcmp(key, "cpus")) {
            int64_t n;
            /* Like kiln run (and QEMU): more harts than host CPUs is allowed, only slower. */
            if (get_int(val, &n) || n < 1 || n > VM_MAX_CPUS) {
                err_reply(r, 400, "cpus must be a whole number from 1 to %d", VM_MAX_CPUS);
                goto out;
            }
            v->cpus = (unsigned)n;
        } else if (!strcmp(key, "cpu_cap")) {
            if (check_cap(r, val, &v->cpu_cap))
                goto out;
        } else if (!strcmp(key, "kernel")) {
            if (get_path(r, val, key, &v->kernel))
                goto out;
        } else if (!strcmp(key, "initrd")) {
            if (get_path(r, val, key, &v->initrd))
                goto out;
        } else if (!strcmp(key, "firmware")) {
            if (get_path(r, val, key, &v->firmware))
                goto out;
        } else if (!strcmp(key, "append")) {
            if (val && (!json_object_is_type(val, json_type_string) ||
                        strlen(json_object_get_string(val)) > 4000)) {
                err_reply(r, 400, "append must be a string of at most 4000 bytes");
                goto out;
            }
            if (val && !(v->append = strdup(json_object_get_string(val)))) {
                err_reply(r, 500, "out of memory");
                goto out;
            }
        } else if (!strcmp(key, "args")) {
            int n = json_object_is_type(val, json_type_array) ? (int)json_object_array_length(val) : -1;
            if (n < 0 || n > VM_MAX_ARGS) {
                err_reply(r, 400, "args must be an array of at most %d strings", VM_MAX_ARGS);
                goto out;
            }
            v->args = calloc((size_t)n + 1, sizeof(char *));
            for (int i = 0; v->args && i < n; i++) {
                json_object *a = json_object_array_get_idx(val, (size_t)i);
                if (!json_object_is_type(a, json_type_string) || strlen(json_object_get_string(a)) > 4000) {
                    err_reply(r, 400, "args must be an array of strings");
                    goto out;
                }
                v->args[i] = strdup(json_object_get_string(a));
                v->nargs = i + 1;
            }
        } else {
            err_reply(r, 400, "unknown field '%s'", key);
            goto out;
        }
    }
    if (!have_name) {
        err_reply(r, 400, "name is required");
        goto out;
    }
    if (v->initrd && !v->kernel) {
        err_reply(r, 400, "initrd needs kernel");
        goto out;
    }
    char aerr[512];
    if (runargs_check(v->args, v->nargs, aerr, sizeof(aerr))) {
        err_reply(r, 400, "%s", aerr);
        goto out;
    }
    if (find_vm(d, v->name)) {
        err_reply(r, 409, "a VM named '%s' already exists", v->name);
        goto out;
    }
    v->created_at = now_s();
    v->state = VMS_DEFINED;
    if (store_save(d->store, v)) {
        err_reply(r, 500, "could not save the VM definition");
        goto out;
    }
    v->next = NULL;
    struct vm_rec **tail = &d->vms;
    while (*tail)
        tail = &(*tail)->next;
    *tail = v;
    r->status = 201;
    r->json = vm_json(d, v);
    v = NULL;
out:
    vm_rec_free(v);
    json_object_put(o);
}

static int read_pidfile(const char *dir, pid_t *pid, uint64_t *start)
{
    char path[PATH_MAX + 16], buf[64];
    snprintf(path, sizeof(path), "%s/vm.pid", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -EIO;
    buf[n] = 0;
    int p;
    unsigned long long s;
    if (sscanf(buf, "%d %llu", &p, &s) != 2)
        return -EIO;
    *pid = p;
    *start = s;
    return 0;
}

/*
 * After the monitor started kiln run: true once kiln run answers on its control
 * socket (it is booting the guest), false when its monitor ended first. A VM
 * without a control socket (its path too long) gets START_SETTLE_MS instead.
 */
static bool wait_vm_ready(struct daemon *d, const struct vm_rec *v, pid_t mpid, uint64_t mstart)
{
    char dir[PATH_MAX], path[PATH_MAX + 16];
    vm_dir(d, v->name, dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/control.sock", dir);
    bool has_ctl = strlen(path) < sizeof(((struct sockaddr_un *)0)->sun_path);
    int limit = has_ctl ? START_READY_MS : START_SETTLE_MS;
    for (int waited = 0; waited < limit; waited += 10) {
        if (!proc_alive(mpid, mstart) || !proc_alive(v->vm_pid, v->vm_start))
            return false;
        if (has_ctl) {
            int fd = connect_unix(path);
            if (fd >= 0) {
                close(fd);
                return true;
            }
        }
        sleep_ms(10);
    }
    /* Still setting up after all this time (a huge initrd?): report it running. */
    return proc_alive(mpid, mstart);
}

static void h_start(struct daemon *d, struct reply *r, struct vm_rec *v)
{
    char dir[PATH_MAX], procs[PATH_MAX], log[PATH_MAX + 16], mem[32], cpus[16];
    const char *argv[32 + VM_MAX_ARGS];
    int a = 0;
    if (v->state == VMS_RUNNING || v->state == VMS_PAUSED) {
        err_reply(r, 409, "VM '%s' is already %s", v->name, vm_state_name(v->state));
        return;
    }
    vm_dir(d, v->name, dir, sizeof(dir));
    if (mkdir(dir, 0700) && errno != EEXIST) {
        err_reply(r, 500, "%s: %s", dir, strerror(errno));
        return;
    }
    bool cg = d->cg.version && !cg_vm_setup(&d->cg, v->name, v->cpu_cap, v->mem, v->cpus) &&
              !cg_vm_procs_path(&d->cg, v->name, procs, sizeof(procs));
    snprintf(mem, sizeof(mem), "%lluK", (unsigned long long)(v->mem >> 10));
    snprintf(cpus, sizeof(cpus), "%u", v->cpus);
    argv[a++] = "kiln";
    argv[a++] = "monitor";
    argv[a++] = "--dir";
    argv[a++] = dir;
    if (cg) {
        argv[a++] = "--cgroup";
        argv[a++] = procs;
    }
    argv[a++] = "--";
    argv[a++] = "--mem";
    argv[a++] = mem;
    argv[a++] = "--cpus";
    argv[a++] = cpus;
    if (v->kernel) {
        argv[a++] = "--kernel";
        argv[a++] = v->kernel;
    }
    if (v->initrd) {
        argv[a++] = "--initrd";
        argv[a++] = v->initrd;
    }
    if (v->append) {
        argv[a++] = "--append";
        argv[a++] = v->append;
    }
    if (v->firmware) {
        argv[a++] = "--firmware";
        argv[a++] = v->firmware;
    }
    /* The control socket (balloon, graceful powerdown); sun_path limits its length. */
    char ctl[PATH_MAX + 16];
    snprintf(ctl, sizeof(ctl), "%s/control.sock", dir);
    if (strlen(ctl) < sizeof(((struct sockaddr_un *)0)->sun_path)) {
        argv[a++] = "--control";
        argv[a++] = ctl;
    } else {
        log_warn("daemon", "VM '%s': %s is too long for a socket: no balloon or graceful stop",
                 v->name, ctl);
    }
    /* The defined limits ride on every --disk / --net spec (kiln run parses them there). */
    char *owned[VM_MAX_ARGS];
    int nowned = 0;
    for (int i = 0; i < v->nargs; i++) {
        const char *prev = i ? v->args[i - 1] : "";
        char *x = NULL;
        int n = 0;
        if (!strcmp(prev, "--disk") && (v->disk_bps || v->disk_iops))
            n = asprintf(&x, "%s,bps=%llu,iops=%llu", v->args[i], (unsigned long long)v->disk_bps,
                         (unsigned long long)v->disk_iops);
        else if (!strcmp(prev, "--net") && v->net_bps)
            n = asprintf(&x, "%s,bps=%llu", v->args[i], (unsigned long long)v->net_bps);
        if (n < 0)
            x = NULL;
        if (x)
            owned[nowned++] = x;
        argv[a++] = x ? x : v->args[i];
    }
    argv[a] = NULL;

    /* The monitor writes these afresh; an old vm.pid would name a dead process. */
    static const char *const stale[] = {"vm.pid", "exit.json", "control.sock"};
    for (size_t i = 0; i < 3; i++) {
        pathf(log, sizeof(log), "%s/%s", dir, stale[i]);
        unlink(log);
    }
    snprintf(log, sizeof(log), "%s/monitor.log", dir);
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawnattr_init(&at);
    /* Own session: the monitor and its VM outlive the daemon and its terminal. */
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    pid_t mpid;
    extern char **environ;
    int e = posix_spawn(&mpid, "/proc/self/exe", &fa, &at, (char *const *)argv, environ);
    while (nowned)
        free(owned[--nowned]);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (e) {
        err_reply(r, 500, "cannot start the VM monitor: %s", strerror(e));
        return;
    }
    struct proc_stat ps = {0};
    proc_read_stat(mpid, &ps);
    pid_t vpid = 0;
    uint64_t vstart = 0;
    for (int waited = 0; waited < START_WAIT_MS; waited += 10) {
        if (!read_pidfile(dir, &vpid, &vstart))
            break;
        if (!proc_alive(mpid, ps.starttime))
            break;
        sleep_ms(10);
    }
    v->monitor_pid = mpid;
    v->monitor_start = ps.starttime;
    v->vm_pid = vpid;
    v->vm_start = vstart;
    v->started_at = now_s();
    /* last_exit stays what the previous run left until this run's end replaces it. */
    v->stop_requested = false;
    v->state = VMS_RUNNING;
    if (!vpid) {
        /* The monitor failed before starting kiln run: record why, as a crash. */
        kill(mpid, SIGKILL);
        waitpid(mpid, NULL, 0);
        vm_finalize(d, v);
        err_reply(r, 500, "the VM did not start: %s", v->exit_reason ? v->exit_reason : "see monitor.log");
        return;
    }
    /*
     * kiln run serves its control socket once every device and image is set up, just
     * before the first instruction: wait for that, or for the VM to end, so that a VM
     * that cannot start (a hostfwd port in use, a bad image) is a failed start with its
     * reason, not a "running" that turns into "crashed" a moment later.
     */
    if (!wait_vm_ready(d, v, mpid, ps.starttime)) {
        for (int waited = 0; waited < KILL_WAIT_MS && proc_alive(mpid, ps.starttime); waited += 10)
            sleep_ms(10);
        reap_children();
        vm_finalize(d, v);
        if (v->state == VMS_STOPPED) { /* it ran and powered off already */
            r->status = 200;
            r->json = vm_json(d, v);
            return;
        }
        err_reply(r, 500, "VM '%s' ended as it started: %s", v->name,
                  v->exit_reason ? v->exit_reason : "no reason recorded (see its stderr.log)");
        return;
    }
    store_save(d->store, v);
    r->status = 200;
    r->json = vm_json(d, v);
}

static void h_signal(struct daemon *d, struct reply *r, struct vm_rec *v, const char *op)
{
    bool live = v->state == VMS_RUNNING || v->state == VMS_PAUSED;
    if (!live || v->vm_pid <= 0 || !proc_alive(v->vm_pid, v->vm_start)) {
        err_reply(r, 409, "VM '%s' is %s, not running", v->name, vm_state_name(v->state));
        return;
    }
    if (!strcmp(op, "pause")) {
        if (v->state == VMS_PAUSED) {
            err_reply(r, 409, "VM '%s' is already paused", v->name);
            return;
        }
        kill(v->vm_pid, SIGSTOP);
        v->state = VMS_PAUSED;
    } else {
        if (v->state != VMS_PAUSED) {
            err_reply(r, 409, "VM '%s' is not paused", v->name);
            return;
        }
        kill(v->vm_pid, SIGCONT);
        v->state = VMS_RUNNING;
    }
    store_save(d->store, v);
    r->status = 200;
    r->json = vm_json(d, v);
}

/* stop/kill: may wait with the lock released; returns with it held. */
static void h_stop(struct daemon *d, struct reply *r, struct vm_rec *v, bool force, int timeout_s)
{
    char name[VM_NAME_MAX + 1];
    if (v->state != VMS_RUNNING && v->state != VMS_PAUSED) {
        err_reply(r, 409, "VM '%s' is %s, not running", v->name, vm_state_name(v->state));
        return;
    }
    snprintf(name, sizeof(name), "%s", v->name);
    v->stop_requested = true;
    pid_t pid = v->vm_pid, mpid = v->monitor_pid;
    uint64_t mstart = v->monitor_start;
    bool vm_ok = pid > 0 && proc_alive(pid, v->vm_start);
    if (vm_ok && force) {
        kill(pid, SIGKILL);
    } else if (vm_ok) {
        /*
         * Graceful first: the guest is asked to power off through the control socket
         * (serial SysRq s, u, o). Without that socket, or when kiln run says the guest
         * cannot be asked (no serial driver), SIGTERM: kiln run then powers it off the
         * same way, or stops it at once.
         */
        kill(pid, SIGCONT); /* a paused VM must run to act on it */
        json_object *ans = NULL, *ok = NULL;
        bool asked = !vm_control(d, v, "{\"cmd\":\"powerdown\"}\n", 2000, &ans) &&
                     json_object_object_get_ex(ans, "ok", &ok) && json_object_get_boolean(ok);
        json_object_put(ans);
        if (!asked)
            kill(pid, SIGTERM);
    }
    pthread_mutex_unlock(&d->lock);
    int limit = force ? KILL_WAIT_MS : timeout_s * 1000;
    int waited = 0;
    for (; waited < limit && proc_alive(mpid, mstart); waited += 20)
        sleep_ms(20);
    if (proc_alive(mpid, mstart) && !force) {
        if (vm_ok)
            kill(pid, SIGKILL);
        for (waited = 0; waited < KILL_WAIT_MS && proc_alive(mpid, mstart); waited += 20)
            sleep_ms(20);
    }
    if (proc_alive(mpid, mstart))
        kill(mpid, SIGKILL); /* a monitor that does not notice its VM is gone */
    for (waited = 0; waited < KILL_WAIT_MS && proc_alive(mpid, mstart); waited += 20) {
        reap_children();
        sleep_ms(20);
    }
    pthread_mutex_lock(&d->lock);
    supervise_locked(d);
    v = find_vm(d, name);
    if (!v) {
        err_reply(r, 404, "VM '%s' was removed meanwhile", name);
        return;
    }
    r->status = 200;
    r->json = vm_json(d, v);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void h_delete(struct daemon *d, struct reply *r, struct vm_rec *v)
{
    char dir[PATH_MAX];
    if (v->state == VMS_RUNNING || v->state == VMS_PAUSED) {
        err_reply(r, 409, "VM '%s' is %s: stop it first", v->name, vm_state_name(v->state));
        return;
    }
    if (store_delete(d->store, v->name)) {
        err_reply(r, 500, "could not delete the VM from the store");
        return;
    }
    vm_dir(d, v->name, dir, sizeof(dir));
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    cg_vm_remove(&d->cg, v->name);
    for (struct vm_rec **p = &d->vms; *p; p = &(*p)->next) {
        if (*p == v) {
            *p = v->next;
            break;
        }
    }
    vm_rec_free(v);
    r->status = 200;
    r->json = json_object_new_object();
}

/* A limit: an integer, or (bytes/s only) a string with a K/M/G suffix. */
static int parse_limit(json_object *val, bool suffixes, uint64_t *out)
{
    if (json_object_is_type(val, json_type_int)) {
        int64_t n = json_object_get_int64(val);
        if (n < 0)
            return -1;
        *out = (uint64_t)n;
        return 0;
    }
    if (json_object_is_type(val, json_type_string))
        return tb_parse_limit(json_object_get_string(val), suffixes, out);
    return -1;
}

/*
 * Sends the changed limits of a running VM to every disk / NIC through its
 * control socket ("no disk N" ends the walk). 0, or -1 with the reply set.
 */
static int apply_limits(struct daemon *d, struct reply *r, struct vm_rec *v, const bool set[3],
                        const uint64_t lim[3])
{
    for (int net = 0; net < 2; net++) {
        if (net ? !set[2] : !(set[0] || set[1]))
            continue;
        for (int i = 0; i < CONTROL_MAX_DISKS; i++) {
            char req[160];
            if (net)
                snprintf(req, sizeof(req), "{\"cmd\":\"limits\",\"net\":%d,\"bps\":%llu}\n", i,
                         (unsigned long long)lim[2]);
            else if (set[0] && set[1])
                snprintf(req, sizeof(req), "{\"cmd\":\"limits\",\"disk\":%d,\"bps\":%llu,\"iops\":%llu}\n",
                         i, (unsigned long long)lim[0], (unsigned long long)lim[1]);
            else
                snprintf(req, sizeof(req), "{\"cmd\":\"limits\",\"disk\":%d,\"%s\":%llu}\n", i,
                         set[0] ? "bps" : "iops", (unsigned long long)(set[0] ? lim[0] : lim[1]));
            json_object *ans = NULL, *x = NULL;
            int e = vm_control(d, v, req, 2000, &ans);
            if (e) {
                err_reply(r, 409, "VM '%s' has no working control socket (%s)", v->name, strerror(-e));
                json_object_put(ans);
                return -1;
            }
            bool err = json_object_object_get_ex(ans, "error", &x);
            bool nodev = err && !strncmp(json_object_get_string(x), "no ", 3);
            if (err && !nodev) {
                err_reply(r, 400, "%s", json_object_get_string(x));
                json_object_put(ans);
                return -1;
            }
            json_object_put(ans);
            if (nodev)
                break; /* past the last device (a VM without any is fine) */
        }
    }
    return 0;
}

/* Does the VM's definition pass `flag` (as "--flag X" or "--flag=X") to kiln run? */
static bool vm_has_arg(const struct vm_rec *v, const char *flag)
{
    size_t fl = strlen(flag);
    for (int i = 0; i < v->nargs; i++) {
        if (!strncmp(v->args[i], flag, fl) && (v->args[i][fl] == 0 || v->args[i][fl] == '='))
            return true;
    }
    return false;
}

static void h_patch(struct daemon *d, struct reply *r, struct vm_rec *v, const char *body, size_t len)
{
    json_object *o = parse_body(r, body, len);
    if (!o)
        return;
    unsigned cap = v->cpu_cap;
    bool set_cap = false, set_mem = false, set_lim[3] = {false, false, false};
    uint64_t mem = v->mem;
    uint64_t lim[3] = {v->disk_bps, v->disk_iops, v->net_bps};
    static const char *const lim_keys[3] = {"disk_bps", "disk_iops", "net_bps"};
    json_object_object_foreach(o, key, val)
    {
        int li = -1;
        for (int k = 0; k < 3; k++)
            if (!strcmp(key, lim_keys[k]))
                li = k;
        if (li >= 0) {
            if (parse_limit(val, li != 1, &lim[li])) {
                err_reply(r, 400,
                          "%s must be a non-negative number%s (0 = unlimited)", key,
                          li != 1 ? " of bytes per second, or a string such as \"4M\"" : " of requests per second");
                goto out;
            }
            set_lim[li] = true;
        } else if (!strcmp(key, "cpu_cap")) {
            if (check_cap(r, val, &cap))
                goto out;
            set_cap = true;
        } else if (!strcmp(key, "mem")) {
            if (parse_mem(val, &mem)) {
                err_reply(r, 400, "mem must be a size such as \"128M\" or a number of bytes");
                goto out;
            }
            if (mem_hint(r, val, mem))
                goto out;
            set_mem = true;
        } else {
            err_reply(r, 400, "unknown or unchangeable field '%s'", key);
            goto out;
        }
    }
    /* A limit on devices the VM does not have would be stored and do nothing: refuse it. */
    if ((set_lim[0] || set_lim[1]) && (lim[0] || lim[1]) && !vm_has_arg(v, "--disk")) {
        err_reply(r, 400, "VM '%s' has no disk (no --disk in its run flags): disk limits would do nothing",
                  v->name);
        goto out;
    }
    if (set_lim[2] && lim[2] && !vm_has_arg(v, "--net")) {
        err_reply(r, 400, "VM '%s' has no network device (no --net in its run flags): a net limit would do nothing",
                  v->name);
        goto out;
    }
    bool live = v->state == VMS_RUNNING || v->state == VMS_PAUSED;
    if (set_mem && live) {
        /* A running VM: the balloon gives the guest `mem`, at most what it was started with. */
        if (v->state == VMS_PAUSED) {
            err_reply(r, 409, "VM '%s' is paused: resume it to change its memory", v->name);
            goto out;
        }
        if (mem > v->mem || mem < BALLOON_MIN_MEM) {
            err_reply(r, 400, "mem of a running VM must be between %llu MiB and its defined %llu MiB",
                      (unsigned long long)(BALLOON_MIN_MEM >> 20), (unsigned long long)(v->mem >> 20));
            goto out;
        }
        char req[96];
        snprintf(req, sizeof(req), "{\"cmd\":\"balloon\",\"target_mib\":%llu}\n",
                 (unsigned long long)(mem >> 20));
        json_object *ans = NULL, *x = NULL;
        int e = vm_control(d, v, req, 2000, &ans);
        if (e) {
            err_reply(r, 409, "VM '%s' has no working control socket (%s): was it started by an older kiln?",
                      v->name, strerror(-e));
            json_object_put(ans);
            goto out;
        }
        if (json_object_object_get_ex(ans, "error", &x)) {
            err_reply(r, 400, "%s", json_object_get_string(x));
            json_object_put(ans);
            goto out;
        }
        json_object_put(ans);
    } else if (set_mem) {
        /* A VM that does not run: this is its definition. */
        if (check_mem(r, mem))
            goto out;
        v->mem = mem;
    }
    if (set_cap && (v->state == VMS_RUNNING || v->state == VMS_PAUSED) && d->cg.version) {
        int e = cg_vm_set_cap(&d->cg, v->name, cap);
        if (e) {
            err_reply(r, 500, "could not set the cgroup CPU limit: %s", strerror(-e));
            goto out;
        }
    }
    if ((set_lim[0] || set_lim[1] || set_lim[2]) && live &&
        apply_limits(d, r, v, set_lim, lim))
        goto out;
    v->cpu_cap = cap;
    v->disk_bps = lim[0];
    v->disk_iops = lim[1];
    v->net_bps = lim[2];
    store_save(d->store, v);
    r->status = 200;
    r->json = vm_json(d, v);
out:
    json_object_put(o);
}

/* ---- monitor socket ---- */

static int connect_unix(const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    size_t plen = strlen(path);
    if (plen >= sizeof(a.sun_path))
        return -ENAMETOOLONG;
    memcpy(a.sun_path, path, plen + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Console snapshot: from the live monitor, or console.log of a VM that ended. */
static void h_console_log(struct daemon *d, struct reply *r, struct vm_rec *v)
{
    char dir[PATH_MAX], path[PATH_MAX + 16];
    vm_dir(d, v->name, dir, sizeof(dir));
    size_t cap = 70 << 10, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        err_reply(r, 500, "out of memory");
        return;
    }
    int fd = -1;
    bool live = v->state == VMS_RUNNING || v->state == VMS_PAUSED;
    if (live) {
        snprintf(path, sizeof(path), "%s/console.sock", dir);
        fd = connect_unix(path);
        if (fd >= 0) {
            struct timeval tv = {2, 0};
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
            if (write_all(fd, "log\n", 4)) {
                close(fd);
                fd = -1;
            }
        }
    } else {
        snprintf(path, sizeof(path), "%s/console.log", dir);
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (fd >= 0) {
        ssize_t n;
        while (len < cap && (n = read(fd, buf + len, cap - len)) > 0)
            len += (size_t)n;
        close(fd);
    }
    r->status = 200;
    r->raw = buf;
    r->rawlen = len;
}

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
    if (write_all(fd, head, (size_t)hn) || write_all(fd, body, blen))
        return;
    if (nl)
        write_all(fd, "\n", 1);
}

/* Proxies the client connection and the monitor's console until either ends. */
static void console_proxy(int cfd, int mfd, const char *early, size_t elen)
{
    if (elen && write_all(mfd, early, elen))
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
            if (n <= 0 || write_all(p[1 - i].fd, buf, (size_t)n))
                return;
        }
    }
}

static bool split_vm_path(const char *path, char *name, size_t nlen, const char **action)
{
    static const char pre[] = "/v1/vms/";
    if (strncmp(path, pre, sizeof(pre) - 1))
        return false;
    const char *n = path + sizeof(pre) - 1;
    const char *slash = strchr(n, '/');
    size_t l = slash ? (size_t)(slash - n) : strlen(n);
    if (l == 0 || l >= nlen)
        return false;
    memcpy(name, n, l);
    name[l] = 0;
    *action = slash ? slash + 1 : "";
    return true;
}

static void host_json(struct daemon *d, struct reply *r)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "cpus", json_object_new_int((int)host_cpus()));
    json_object_object_add(o, "mem", json_object_new_int64((int64_t)host_mem_total()));
    json_object_object_add(o, "cpu_limit_backend", json_object_new_string(
                               d->cg.version == 2 ? "cgroup2" : d->cg.version == 1 ? "cgroup1" : "none"));
    if (!d->cg.version)
        json_object_object_add(o, "cpu_limit_why", json_object_new_string(d->cg.why));
    json_object_object_add(o, "api", json_object_new_string("v1"));
    json_object_object_add(o, "daemon_pid", json_object_new_int((int)getpid()));
    r->status = 200;
    r->json = o;
}

/*
 * Routes one request. For a console upgrade, returns the monitor's socket in
 * *console_fd (and r->status 101) for the caller to proxy.
 */
static void route(struct daemon *d, const struct http_request *q, const char *body, size_t blen,
                  struct reply *r, int *console_fd)
{
    const char *m = q->method, *action;
    char name[VM_NAME_MAX + 2];
    pthread_mutex_lock(&d->lock);
    supervise_locked(d);
    /* Only stop takes a parameter; any other key is a typo to report, not to ignore. */
    static const char *const stop_params[] = {"timeout", NULL};
    size_t pl = strlen(q->path);
    bool is_stop = pl > 5 && !strcmp(q->path + pl - 5, "/stop");
    char bad[80];
    if (http_query_check(q->query, is_stop ? stop_params : NULL, bad, sizeof(bad))) {
        err_reply(r, 400, "unknown query parameter '%s'%s", bad,
                  is_stop ? " (stop takes timeout)" : " (this endpoint takes none)");
        goto out;
    }
    if (!strcmp(q->path, "/v1/vms")) {
        if (!strcmp(m, "GET")) {
            json_object *a = json_object_new_array();
            for (struct vm_rec *v = d->vms; v; v = v->next)
                json_object_array_add(a, vm_json(d, v));
            r->status = 200;
            r->json = a;
        } else if (!strcmp(m, "POST")) {
            h_create(d, r, body, blen);
        } else {
            err_reply(r, 405, "%s not allowed on /v1/vms", m);
            r->allow = "GET, POST";
        }
        goto out;
    }
    if (!strcmp(q->path, "/v1/host")) {
        if (strcmp(m, "GET")) {
            err_reply(r, 405, "%s not allowed on /v1/host", m);
            r->allow = "GET";
        } else {
            host_json(d, r);
        }
        goto out;
    }
    if (!split_vm_path(q->path, name, sizeof(name), &action)) {
        err_reply(r, 404, "no such endpoint: %s", q->path);
        goto out;
    }
    struct vm_rec *v = find_vm(d, name);
    if (!v) {
        err_reply(r, 404, "no VM named '%s'", name);
        goto out;
    }
    if (!*action) {
        if (!strcmp(m, "GET")) {
            r->status = 200;
            r->json = vm_json(d, v);
        } else if (!strcmp(m, "DELETE")) {
            h_delete(d, r, v);
        } else if (!strcmp(m, "PATCH")) {
            h_patch(d, r, v, body, blen);
        } else {
            err_reply(r, 405, "%s not allowed on a VM", m);
            r->allow = "GET, PATCH, DELETE";
        }
        goto out;
    }
    if (!strcmp(action, "console")) {
        if (strcmp(m, "GET")) {
            err_reply(r, 405, "%s not allowed on a console", m);
            r->allow = "GET";
        } else if (!q->upgrade) {
            h_console_log(d, r, v);
        } else if (strcmp(q->upgrade_proto, "kiln-console")) {
            err_reply(r, 400, "the console speaks 'Upgrade: kiln-console' only");
        } else if (v->state != VMS_RUNNING && v->state != VMS_PAUSED) {
            err_reply(r, 409, "VM '%s' is %s, not running", v->name, vm_state_name(v->state));
        } else {
            char dir[PATH_MAX], path[PATH_MAX + 16];
            vm_dir(d, v->name, dir, sizeof(dir));
            snprintf(path, sizeof(path), "%s/console.sock", dir);
            int fd = connect_unix(path);
            if (fd < 0 || write_all(fd, "console\n", 8)) {
                if (fd >= 0)
                    close(fd);
                err_reply(r, 503, "the console of VM '%s' is not reachable", v->name);
            } else {
                *console_fd = fd;
                r->status = 101;
            }
        }
        goto out;
    }
    static const char *const ops[] = {"start", "stop", "kill", "pause", "resume"};
    size_t i;
    for (i = 0; i < 5 && strcmp(action, ops[i]); i++)
        ;
    if (i == 5) {
        err_reply(r, 404, "no such endpoint: %s", q->path);
        goto out;
    }
    if (strcmp(m, "POST")) {
        err_reply(r, 405, "%s not allowed on %s", m, action);
        r->allow = "POST";
        goto out;
    }
    if (i == 0) {
        h_start(d, r, v);
    } else if (i == 1 || i == 2) {
        int timeout = STOP_TIMEOUT_S;
        char t[16];
        if (!http_query_get(q->query, "timeout", t, sizeof(t))) {
            char *end;
            long x = strtol(t, &end, 10);
            if (!*t || *end || x < 0 || x > 3600) {
                err_reply(r, 400, "timeout must be 0-3600 seconds");
                goto out;
            }
            timeout = (int)x;
        }
        h_stop(d, r, v, i == 2, timeout);
    } else {
        h_signal(d, r, v, ops[i]);
    }
out:
    pthread_mutex_unlock(&d->lock);
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
        err_reply(&r, 503, "out of memory");
        goto send;
    }
    struct ucred cr;
    socklen_t cl = sizeof(cr);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) || cr.uid != d->uid) {
        err_reply(&r, 403, "this daemon serves uid %u only", (unsigned)d->uid);
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
                err_reply(&r, n < 0 ? 408 : 400, "incomplete request");
            goto send;
        }
        len += (size_t)n;
    }
    if (head < 0) {
        err_reply(&r, -head, "malformed HTTP request (%s)", http_reason(-head));
        goto send;
    }
    size_t need = (size_t)head + q.content_length;
    if (!q.has_content_length && (!strcmp(q.method, "POST") || !strcmp(q.method, "PATCH")) &&
        len > (size_t)head) {
        err_reply(&r, 411, "a body needs Content-Length");
        goto send;
    }
    while (len < need) {
        ssize_t n = read(fd, buf + len, need - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            err_reply(&r, 400, "body shorter than Content-Length");
            goto send;
        }
        len += (size_t)n;
    }
    route(d, &q, buf + head, q.content_length, &r, &console_fd);
    if (r.status == 101 && console_fd >= 0) {
        static const char up[] = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                                 "Upgrade: kiln-console\r\n\r\n";
        if (!write_all(fd, up, sizeof(up) - 1))
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
    pathf(tmp, sizeof(tmp), "%s", path);
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
            vm_finalize(d, v);
        }
    }
}

int daemon_main(const char *state_dir)
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
        supervise_locked(d);
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
