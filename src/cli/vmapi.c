/*
 * The VM commands' client side of the daemon's API (docs/api.md): one HTTP
 * request per connection on $KILN_STATE_DIR/kiln.sock, starting the daemon on
 * demand when no one answers.
 */
#define _GNU_SOURCE
#include "cli/vmapi.h"

#include <limits.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

#define DAEMON_WAIT_MS 5000

const char *cli_state_dir(void)
{
    static char buf[4096];
    const char *s = getenv("KILN_STATE_DIR");
    if (s && *s)
        return s;
    const char *xdg = getenv("XDG_DATA_HOME");
    if (xdg && *xdg) {
        snprintf(buf, sizeof(buf), "%s/kiln", xdg);
    } else {
        const char *home = getenv("HOME");
        snprintf(buf, sizeof(buf), "%s/.local/share/kiln", home && *home ? home : "/tmp");
    }
    return buf;
}

int cli_state_dir_check(const char *prog)
{
    const char *s = getenv("KILN_STATE_DIR");
    struct stat st;
    if (!s || !*s)
        return 0; /* the default is created with its parents */
    if (!stat(s, &st)) {
        if (S_ISDIR(st.st_mode))
            return 0;
        fprintf(stderr, "%s: KILN_STATE_DIR %s is not a directory\n", prog, s);
        return -1;
    }
    char parent[4096];
    snprintf(parent, sizeof(parent), "%s", s);
    char *slash = strrchr(parent, '/');
    while (slash && slash > parent && slash[1] == 0) { /* "dir/" */
        *slash = 0;
        slash = strrchr(parent, '/');
    }
    if (!slash)
        snprintf(parent, sizeof(parent), ".");
    else if (slash == parent)
        parent[1] = 0;
    else
        *slash = 0;
    if (stat(parent, &st) || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "%s: KILN_STATE_DIR %s: its parent %s does not exist (a typo?); "
                        "create it first to start a new daemon there\n", prog, s, parent);
        return -1;
    }
    return 0;
}

static int sock_connect(void)
{
    char path[PATH_MAX];
    int n = snprintf(path, sizeof(path), "%s/kiln.sock", cli_state_dir());
    if (n < 0 || (size_t)n >= sizeof(path))
        return -ENAMETOOLONG;
    return sock_connect_unix(path);
}

static void mkdir_parents(const char *dir)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            mkdir(tmp, 0700);
            *p = '/';
        }
    }
    mkdir(tmp, 0700);
}

/* fork + setsid + exec `kiln daemon`, detached; its stderr goes to daemon.log. */
static int start_daemon(void)
{
    char log[4200];
    const char *dir = cli_state_dir();
    mkdir_parents(dir);
    snprintf(log, sizeof(log), "%s/daemon.log", dir);
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        setsid();
        if (fork() != 0)
            _exit(0); /* the daemon is not our child: nobody has to reap it */
        int in = open("/dev/null", O_RDWR);
        int err = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (in >= 0) {
            dup2(in, 0);
            dup2(in, 1);
        }
        if (err >= 0)
            dup2(err, 2);
        execl("/proc/self/exe", "kiln", "daemon", (char *)NULL);
        _exit(127);
    }
    waitpid(pid, NULL, 0);
    return 0;
}

int vmapi_connect(void)
{
    int fd = sock_connect();
    if (fd >= 0 || (fd != -ENOENT && fd != -ECONNREFUSED))
        return fd;
    int e = start_daemon();
    if (e)
        return e;
    for (int waited = 0; waited < DAEMON_WAIT_MS; waited += 20) {
        fd = sock_connect();
        if (fd >= 0 || (fd != -ENOENT && fd != -ECONNREFUSED))
            return fd;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return fd;
}



int vmapi_connect_error(int e)
{
    fprintf(stderr, "kiln: cannot reach the daemon at %s/kiln.sock: %s\n", cli_state_dir(),
            strerror(-e));
    return 1;
}

/* One request, one connection. Returns 0 or a CLI exit status after printing why. */
int vmapi_request(const char *method, const char *path, json_object *body, struct resp *r)
{
    memset(r, 0, sizeof(*r));
    int fd = vmapi_connect();
    if (fd < 0)
        return vmapi_connect_error(fd);
    const char *b = body ? json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN) : "";
    char head[1024];
    int hn = snprintf(head, sizeof(head),
                      "%s %s HTTP/1.1\r\nHost: kiln\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                      method, path, strlen(b));
    if (hn < 0 || (size_t)hn >= sizeof(head) || sock_send_all(fd, head, (size_t)hn) ||
        sock_send_all(fd, b, strlen(b))) {
        close(fd);
        fprintf(stderr, "kiln: sending the request failed: %m\n");
        return 1;
    }
    size_t cap = 64 << 10;
    r->data = malloc(cap + 1);
    for (;;) {
        if (!r->data)
            break;
        if (r->len == cap) {
            char *n = realloc(r->data, cap * 2 + 1);
            if (!n)
                break;
            r->data = n;
            cap *= 2;
        }
        ssize_t n = read(fd, r->data + r->len, cap - r->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        r->len += (size_t)n;
    }
    close(fd);
    if (!r->data || sscanf(r->data, "HTTP/1.%*d %d", &r->status) != 1) {
        fprintf(stderr, "kiln: the daemon sent no valid answer\n");
        return 1;
    }
    r->data[r->len] = 0;
    char *sep = strstr(r->data, "\r\n\r\n");
    r->body = sep ? sep + 4 : r->data + r->len;
    r->blen = (size_t)(r->data + r->len - r->body);
    return 0;
}

/* Parses a JSON answer; on a 4xx/5xx prints its error and returns NULL. */
json_object *vmapi_json(const char *method, const char *path, json_object *body, int *rc)
{
    struct resp r;
    *rc = vmapi_request(method, path, body, &r);
    if (*rc) {
        free(r.data);
        return NULL;
    }
    json_object *o = json_tokener_parse(r.body);
    if (r.status >= 300) {
        json_object *e;
        if (o && json_object_object_get_ex(o, "error", &e))
            fprintf(stderr, "kiln: %s\n", json_object_get_string(e));
        else
            fprintf(stderr, "kiln: the daemon answered %d\n", r.status);
        json_object_put(o);
        o = NULL;
        *rc = 1;
    } else if (!o) {
        fprintf(stderr, "kiln: the daemon's answer is not JSON\n");
        *rc = 1;
    }
    free(r.data);
    return o;
}

const char *jget_str(json_object *o, const char *k)
{
    json_object *v;
    return json_object_object_get_ex(o, k, &v) && v ? json_object_get_string(v) : NULL;
}

int64_t jget_int(json_object *o, const char *k, int64_t def)
{
    json_object *v;
    return json_object_object_get_ex(o, k, &v) && v ? json_object_get_int64(v) : def;
}

void fmt_bytes(uint64_t b, char *out, size_t len)
{
    if (b >= (1ull << 30) && !(b & ((1ull << 30) - 1)))
        snprintf(out, len, "%lluG", (unsigned long long)(b >> 30));
    else if (b >= (1ull << 20))
        snprintf(out, len, "%lluM", (unsigned long long)(b >> 20));
    else
        snprintf(out, len, "%lluK", (unsigned long long)(b >> 10));
}

void fmt_uptime(int64_t s, char *out, size_t len)
{
    if (s < 0)
        snprintf(out, len, "-");
    else if (s < 3600)
        snprintf(out, len, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
    else
        snprintf(out, len, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
}

void vm_path(char *out, size_t len, const char *name, const char *action)
{
    snprintf(out, len, "/v1/vms/%s%s%s", name, action ? "/" : "", action ? action : "");
}


const char *vmapi_error_text(const char *body, size_t len)
{
    static char msg[1024];
    json_tokener *tok = json_tokener_new();
    json_object *o = tok ? json_tokener_parse_ex(tok, body, (int)len) : NULL;
    const char *e = o ? jget_str(o, "error") : NULL;
    if (e)
        snprintf(msg, sizeof(msg), "%s", e);
    json_object_put(o);
    if (tok)
        json_tokener_free(tok);
    return e ? msg : NULL;
}
