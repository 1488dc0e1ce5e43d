/*
 * kiln web: listener, authentication, static files, API forwarding and the
 * metrics stream (docs/web.md). The console WebSocket is in web_console.c.
 *
 * Every request is checked in this order: a well-formed head (api/http.c), a
 * Host naming this gateway (else 403: DNS rebinding), then either the token
 * exchange at /login or a valid session cookie (else 401), then, for a
 * state-changing method or a WebSocket upgrade, an Origin that is this
 * gateway's own (else 403: CSRF, cross-site WebSockets).
 */
#define _GNU_SOURCE /* accept4 */
#include "daemon/web.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "api/http.h"
#include "api/webauth.h"

#define WEB_MAX_SESSIONS 64
#define WEB_IO_TIMEOUT_S 30
#define WEB_EVENTS_MS 1000
#define WEB_MAX_ASSET (4 << 20)
#define WEB_MAX_CONNS 128 /* threads at once: a flood gets 503, not the host's memory */

struct web_session {
    char id[WEBAUTH_TOKEN_LEN + 1];
    char token[WEBAUTH_TOKEN_LEN + 1]; /* the token it was made with: rotating ends it */
};

struct web {
    char sock[PATH_MAX], token_path[PATH_MAX], assets[PATH_MAX];
    char listen_addr[64];
    unsigned port;
    pthread_mutex_t lock;
    struct web_session sessions[WEB_MAX_SESSIONS]; /* a ring: the oldest is replaced */
    unsigned next_session;
    unsigned conns; /* connections being served, under lock */
};

struct web_conn {
    struct web *w;
    int fd;
};

/*
 * Scripts only from this origin and never inline, no plugins, no framing, no
 * form posts or base URLs elsewhere. style-src allows inline styles because
 * xterm.js's DOM renderer writes its theme into a <style> element it creates.
 */
const char web_security_headers[] =
    "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self' "
    "'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'\r\n"
    "X-Content-Type-Options: nosniff\r\n"
    "X-Frame-Options: DENY\r\n"
    "Referrer-Policy: no-referrer\r\n"
    "Cross-Origin-Opener-Policy: same-origin\r\n"
    "Cross-Origin-Resource-Policy: same-origin\r\n"
    "Cache-Control: no-store\r\n";

static volatile sig_atomic_t quit;

static void on_quit(int sig)
{
    (void)sig;
    quit = 1;
}



static void send_answer(int fd, int status, const char *type, const char *extra, const void *body,
                        size_t blen)
{
    char head[2048];
    int hn = snprintf(head, sizeof(head),
                      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s"
                      "Connection: close\r\n\r\n",
                      status, http_reason(status), type, blen, web_security_headers, extra ? extra : "");
    if (hn < 0 || (size_t)hn >= sizeof(head))
        return;
    if (!sock_send_all(fd, head, (size_t)hn) && blen)
        sock_send_all(fd, body, blen);
}

void web_send_error(int fd, int status, const char *msg)
{
    char body[600];
    /* msg is kiln's own text or the daemon's JSON-safe error; quotes are escaped anyway. */
    size_t o = 0;
    o += (size_t)snprintf(body, sizeof(body), "{\"error\": \"");
    for (const char *c = msg; *c && o + 8 < sizeof(body); c++) {
        if (*c == '"' || *c == '\\')
            body[o++] = '\\';
        body[o++] = (unsigned char)*c < 0x20 ? ' ' : *c;
    }
    o += (size_t)snprintf(body + o, sizeof(body) - o, "\"}\n");
    send_answer(fd, status, "application/json", NULL, body, o);
}

int web_daemon_connect(const struct web *w)
{
    int fd = sock_connect_unix(w->sock);
    if (fd < 0)
        return fd;
    struct timeval tv = {WEB_IO_TIMEOUT_S + 30, 0}; /* a stop may take its timeout */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

int web_daemon_request(const struct web *w, const char *method, const char *target,
                       const char *body, size_t blen, int *status, char **out, size_t *olen)
{
    int fd = web_daemon_connect(w);
    if (fd < 0)
        return fd;
    char head[HTTP_MAX_PATH + 128];
    int hn = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: kiln\r\nContent-Length: %zu\r\n\r\n",
                      method, target, blen);
    int rc = -EIO;
    size_t cap = 64 << 10, len = 0;
    char *buf = malloc(cap + 1);
    if (!buf || hn < 0 || (size_t)hn >= sizeof(head) || sock_send_all(fd, head, (size_t)hn) ||
        (blen && sock_send_all(fd, body, blen)))
        goto out;
    for (;;) {
        if (len == cap) {
            if (cap >= (8u << 20))
                goto out; /* no daemon answer is this big */
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb)
                goto out;
            buf = nb;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto out;
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = 0;
    char *end = strstr(buf, "\r\n\r\n");
    if (!end || len < 12 || strncmp(buf, "HTTP/1.1 ", 9))
        goto out;
    *status = atoi(buf + 9);
    size_t off = (size_t)(end + 4 - buf);
    memmove(buf, buf + off, len - off + 1);
    *out = buf;
    *olen = len - off;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    close(fd);
    return rc;
}

/* ---- token and sessions ---- */

/* The current token from web.token; 0 or -errno. */
static int token_read(const struct web *w, char out[WEBAUTH_TOKEN_LEN + 1])
{
    int fd = open(w->token_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, out, WEBAUTH_TOKEN_LEN);
    close(fd);
    if (n != WEBAUTH_TOKEN_LEN)
        return -EINVAL;
    out[WEBAUTH_TOKEN_LEN] = 0;
    return 0;
}

/* Writes a new token with mode 0600 (rename over the old one, so no reader sees half). */
static int token_write(const struct web *w, char out[WEBAUTH_TOKEN_LEN + 1])
{
    int r = webauth_secret_new(out);
    if (r)
        return r;
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof(tmp), "%s.new", w->token_path);
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    char line[WEBAUTH_TOKEN_LEN + 1];
    memcpy(line, out, WEBAUTH_TOKEN_LEN);
    line[WEBAUTH_TOKEN_LEN] = '\n';
    bool ok = write(fd, line, sizeof(line)) == (ssize_t)sizeof(line) && !fsync(fd);
    close(fd);
    if (!ok || rename(tmp, w->token_path)) {
        unlink(tmp);
        return -EIO;
    }
    return 0;
}

static bool session_valid(struct web *w, const char *id)
{
    char tok[WEBAUTH_TOKEN_LEN + 1];
    if (strlen(id) != WEBAUTH_TOKEN_LEN || token_read(w, tok))
        return false;
    bool ok = false;
    pthread_mutex_lock(&w->lock);
    for (int i = 0; i < WEB_MAX_SESSIONS; i++) {
        const struct web_session *s = &w->sessions[i];
        if (s->id[0] && webauth_secret_equal(s->id, id) && webauth_secret_equal(s->token, tok))
            ok = true;
    }
    pthread_mutex_unlock(&w->lock);
    return ok;
}

static int session_new(struct web *w, const char *tok, char id[WEBAUTH_TOKEN_LEN + 1])
{
    int r = webauth_secret_new(id);
    if (r)
        return r;
    pthread_mutex_lock(&w->lock);
    struct web_session *s = &w->sessions[w->next_session++ % WEB_MAX_SESSIONS];
    memcpy(s->id, id, WEBAUTH_TOKEN_LEN + 1);
    memcpy(s->token, tok, WEBAUTH_TOKEN_LEN + 1);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

/* ---- handlers ---- */

static void h_login(struct web *w, int fd, const struct http_request *q)
{
    char given[WEBAUTH_TOKEN_LEN + 2] = "", tok[WEBAUTH_TOKEN_LEN + 1], id[WEBAUTH_TOKEN_LEN + 1];
    if (http_query_get(q->query, "token", given, sizeof(given)) || token_read(w, tok) ||
        !webauth_secret_equal(given, tok)) {
        web_send_error(fd, 401, "wrong or missing token: open the URL `kiln web` printed");
        return;
    }
    if (session_new(w, tok, id)) {
        web_send_error(fd, 500, "cannot make a session");
        return;
    }
    /*
     * The token leaves the address bar at once (303 to /); from now on the browser
     * proves itself with a cookie scripts cannot read (HttpOnly) and other sites
     * cannot make it send (SameSite=Strict; RFC 6265bis §5.4.7).
     */
    char extra[256];
    snprintf(extra, sizeof(extra),
             "Location: /\r\nSet-Cookie: " WEBAUTH_COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict\r\n", id);
    send_answer(fd, 303, "text/plain", extra, "", 0);
}

static bool asset_name_ok(const char *n)
{
    if (!*n || *n == '.' || strlen(n) > 64)
        return false;
    for (const char *c = n; *c; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '.' || *c == '-' || *c == '_'))
            return false;
    }
    return true;
}

static const char *asset_type(const char *n)
{
    const char *dot = strrchr(n, '.');
    if (!dot)
        return "application/octet-stream";
    if (!strcmp(dot, ".html"))
        return "text/html; charset=utf-8";
    if (!strcmp(dot, ".js"))
        return "text/javascript; charset=utf-8";
    if (!strcmp(dot, ".css"))
        return "text/css; charset=utf-8";
    if (!strcmp(dot, ".svg"))
        return "image/svg+xml";
    if (!strcmp(dot, ".png"))
        return "image/png";
    return "application/octet-stream";
}

static void h_asset(struct web *w, int fd, const char *name)
{
    if (!asset_name_ok(name)) {
        web_send_error(fd, 404, "no such file");
        return;
    }
    char path[PATH_MAX + 80];
    snprintf(path, sizeof(path), "%s/%s", w->assets, name);
    int af = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (af < 0 || fstat(af, &st) || !S_ISREG(st.st_mode) || st.st_size > WEB_MAX_ASSET) {
        if (af >= 0)
            close(af);
        web_send_error(fd, 404, "no such file");
        return;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (buf && got < (size_t)st.st_size) {
        ssize_t n = read(af, buf + got, (size_t)st.st_size - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(af);
    if (!buf || got != (size_t)st.st_size)
        web_send_error(fd, 500, "cannot read the file");
    else
        send_answer(fd, 200, asset_type(name), NULL, buf, got);
    free(buf);
}

/* Forwards /api/v1/... to the daemon's /v1/... and relays its answer. */
static void h_api(struct web *w, int fd, const struct http_request *q, const char *body)
{
    char target[HTTP_MAX_PATH + 2];
    snprintf(target, sizeof(target), "%s%s%s", q->path + 4, q->query[0] ? "?" : "", q->query);
    int status = 0;
    char *out = NULL;
    size_t olen = 0;
    int r = web_daemon_request(w, q->method, target, body, q->content_length, &status, &out, &olen);
    if (r) {
        web_send_error(fd, 502, "the kiln daemon does not answer (is `kiln daemon` running?)");
        return;
    }
    bool raw = status == 200 && !strncmp(q->path, "/api/v1/vms/", 12) &&
               strlen(q->path) > 8 && !strcmp(q->path + strlen(q->path) - 8, "/console");
    send_answer(fd, status, raw ? "application/octet-stream" : "application/json", NULL, out, olen);
    free(out);
}

/*
 * Server-Sent Events (HTML Living Standard §9.2): every second, every VM's
 * object with its live metrics, as one `data:` line {"t": ms, "vms": [...]}.
 * The page turns cumulative counters into rates. Ends when the browser goes.
 */
static void h_events(struct web *w, int fd)
{
    char head[1536];
    int hn = snprintf(head, sizeof(head),
                      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n%sConnection: close\r\n\r\n"
                      "retry: 2000\n\n",
                      web_security_headers);
    if (sock_send_all(fd, head, (size_t)hn))
        return;
    while (!quit) {
        int status = 0;
        char *out = NULL;
        size_t olen = 0;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long long ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        int r = web_daemon_request(w, "GET", "/v1/vms", "", 0, &status, &out, &olen);
        char pre[80];
        int pn;
        if (r || status != 200) {
            pn = snprintf(pre, sizeof(pre), "data: {\"t\":%lld,\"error\":\"daemon unreachable\"}\n\n", ms);
            olen = 0;
        } else {
            while (olen && (out[olen - 1] == '\n' || out[olen - 1] == '\r'))
                olen--;
            /* The daemon's JSON is one line (JSON_C_TO_STRING_PLAIN): safe inside one data: field. */
            for (size_t i = 0; i < olen; i++)
                if (out[i] == '\n' || out[i] == '\r')
                    out[i] = ' ';
            pn = snprintf(pre, sizeof(pre), "data: {\"t\":%lld,\"vms\":", ms);
        }
        int e = sock_send_all(fd, pre, (size_t)pn);
        if (!e && olen)
            e = sock_send_all(fd, out, olen) || sock_send_all(fd, "}\n\n", 3);
        free(out);
        if (e)
            return;
        struct timespec d = {WEB_EVENTS_MS / 1000, (WEB_EVENTS_MS % 1000) * 1000000L};
        nanosleep(&d, NULL);
    }
}

static bool state_changing(const char *m)
{
    return strcmp(m, "GET") && strcmp(m, "HEAD");
}

static void *conn_thread(void *arg)
{
    struct web_conn *c = arg;
    struct web *w = c->w;
    int fd = c->fd;
    free(c);
    struct http_request q;
    char *buf = malloc(HTTP_MAX_HEAD + HTTP_MAX_BODY);
    size_t len = 0;
    int head = 0;
    char host[256], origin[256], cookie[2048], sid[WEBAUTH_TOKEN_LEN + 2];
    if (!buf)
        goto done;
    struct timeval tv = {WEB_IO_TIMEOUT_S, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    while ((head = http_parse_request(buf, len, &q)) == 0) {
        ssize_t n = read(fd, buf + len, HTTP_MAX_HEAD - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto done;
        len += (size_t)n;
    }
    if (head < 0) {
        web_send_error(fd, -head, http_reason(-head));
        goto done;
    }
    int hr = http_header_get(buf, (size_t)head, "Host", host, sizeof(host));
    if (hr) {
        web_send_error(fd, 400, hr == -ENOENT ? "no Host header" : "bad Host header");
        goto done;
    }
    if (!webauth_host_ok(host, w->listen_addr, w->port)) {
        web_send_error(fd, 403, "this gateway answers only to its own address (Host)");
        goto done;
    }
    int orr = http_header_get(buf, (size_t)head, "Origin", origin, sizeof(origin));
    bool origin_ok = !orr && webauth_origin_ok(origin, host);
    if (orr == -EEXIST || orr == -E2BIG || (!orr && !origin_ok && state_changing(q.method))) {
        web_send_error(fd, 403, "cross-origin request refused (Origin)");
        goto done;
    }
    if (!strcmp(q.path, "/login")) {
        if (strcmp(q.method, "GET"))
            web_send_error(fd, 405, "GET only");
        else
            h_login(w, fd, &q);
        goto done;
    }
    if (http_header_get(buf, (size_t)head, "Cookie", cookie, sizeof(cookie)) ||
        webauth_cookie_get(cookie, WEBAUTH_COOKIE, sid, sizeof(sid)) || !session_valid(w, sid)) {
        web_send_error(fd, 401, "not logged in: open the URL `kiln web` printed");
        goto done;
    }
    bool ws = q.upgrade && !strcasecmp(q.upgrade_proto, "websocket");
    if ((ws || state_changing(q.method)) && !origin_ok) {
        web_send_error(fd, 403, "a state-changing request or WebSocket needs this gateway's Origin");
        goto done;
    }
    /* The body of an API call, bounded by the parser (HTTP_MAX_BODY). */
    size_t need = (size_t)head + q.content_length;
    while (len < need) {
        ssize_t n = read(fd, buf + len, need - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            web_send_error(fd, 400, "body shorter than Content-Length");
            goto done;
        }
        len += (size_t)n;
    }
    static const char wsp[] = "/ws/console/";
    if (!strncmp(q.path, wsp, sizeof(wsp) - 1)) {
        if (!ws || strcmp(q.method, "GET"))
            web_send_error(fd, 400, "this path takes a WebSocket upgrade");
        else
            web_console(w, fd, q.path + sizeof(wsp) - 1, buf, (size_t)head, buf + need, len - need);
    } else if (!strncmp(q.path, "/api/v1/", 8)) {
        h_api(w, fd, &q, buf + head);
    } else if (strcmp(q.method, "GET")) {
        web_send_error(fd, 405, "GET only");
    } else if (!strcmp(q.path, "/events")) {
        h_events(w, fd);
    } else if (!strcmp(q.path, "/")) {
        h_asset(w, fd, "index.html");
    } else if (!strncmp(q.path, "/static/", 8)) {
        h_asset(w, fd, q.path + 8);
    } else {
        web_send_error(fd, 404, "no such page");
    }
done:
    shutdown(fd, SHUT_WR);
    close(fd);
    free(buf);
    pthread_mutex_lock(&w->lock);
    w->conns--;
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

static int listen_on(const struct web_opts *o, unsigned *port)
{
    struct sockaddr_storage ss = {0};
    socklen_t sl;
    int fam;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, o->listen_addr, &a4->sin_addr) == 1) {
        fam = AF_INET;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)o->port);
        sl = sizeof(*a4);
    } else if (inet_pton(AF_INET6, o->listen_addr, &a6->sin6_addr) == 1) {
        fam = AF_INET6;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)o->port);
        sl = sizeof(*a6);
    } else {
        return -EINVAL;
    }
    int fd = socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sl) || listen(fd, 64)) {
        int e = -errno;
        close(fd);
        return e;
    }
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        *port = ntohs(fam == AF_INET ? a4->sin_port : a6->sin6_port);
    return fd;
}

int web_main(const struct web_opts *o)
{
    static struct web w; /* one gateway per process; threads share it */
    snprintf(w.sock, sizeof(w.sock), "%s/kiln.sock", o->state_dir);
    snprintf(w.token_path, sizeof(w.token_path), "%s/web.token", o->state_dir);
    snprintf(w.assets, sizeof(w.assets), "%s", o->assets);
    snprintf(w.listen_addr, sizeof(w.listen_addr), "%s", o->listen_addr);
    pthread_mutex_init(&w.lock, NULL);

    char tok[WEBAUTH_TOKEN_LEN + 1];
    int r = o->rotate ? -ENOENT : token_read(&w, tok);
    if (r && (r = token_write(&w, tok))) {
        fprintf(stderr, "kiln web: cannot write %s: %s\n", w.token_path, strerror(-r));
        return 1;
    }
    bool v6 = strchr(o->listen_addr, ':') != NULL;
    if (o->rotate) {
        /* Running gateways read web.token at every check: old sessions end now. */
        printf("kiln web: new token in %s; existing sessions ended\nopen: http://%s%s%s:%u/login?token=%s\n",
               w.token_path, v6 ? "[" : "", o->listen_addr, v6 ? "]" : "", o->port, tok);
        return 0;
    }
    int lfd = listen_on(o, &w.port);
    if (lfd < 0) {
        fprintf(stderr, "kiln web: cannot listen on %s:%u: %s\n", o->listen_addr, o->port,
                lfd == -EINVAL ? "not a numeric IP address" : strerror(-lfd));
        return 1;
    }
    struct sigaction sa = {.sa_handler = on_quit};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    printf("kiln web: serving %s on http://%s%s%s:%u/\nopen: http://%s%s%s:%u/login?token=%s\n",
           w.assets, v6 ? "[" : "", o->listen_addr, v6 ? "]" : "", w.port, v6 ? "[" : "",
           o->listen_addr, v6 ? "]" : "", w.port, tok);
    fflush(stdout);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 << 10);
    while (!quit) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE) {
                if (errno == EMFILE || errno == ENFILE)
                    usleep(100000);
                continue;
            }
            fprintf(stderr, "kiln web: accept: %s\n", strerror(errno));
            break;
        }
        pthread_mutex_lock(&w.lock);
        bool full = w.conns >= WEB_MAX_CONNS;
        if (!full)
            w.conns++;
        pthread_mutex_unlock(&w.lock);
        if (full) {
            web_send_error(fd, 503, "too many connections");
            close(fd);
            continue;
        }
        struct web_conn *c = malloc(sizeof(*c));
        pthread_t t;
        if (c)
            *c = (struct web_conn){.w = &w, .fd = fd};
        if (!c || pthread_create(&t, &attr, conn_thread, c)) {
            close(fd);
            free(c);
            pthread_mutex_lock(&w.lock);
            w.conns--;
            pthread_mutex_unlock(&w.lock);
        }
    }
    close(lfd);
    return 0;
}
