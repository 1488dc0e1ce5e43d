/*
 * A VM's serial console as a WebSocket (RFC 6455), bridged to the daemon's
 * console stream (docs/api.md: GET /v1/vms/NAME/console with Upgrade). The
 * daemon replays the monitor's ring first, so a new viewer sees recent output;
 * the monitor serves several viewers at once (docs/daemon.md).
 *
 * Browser → guest: binary (or text) frames are typed on the console; a text
 * frame holding a JSON object with "type":"resize" is a window size, which the
 * guest's ns16550 serial console cannot carry (it has no size), so it is
 * accepted and dropped. Guest → browser: binary frames. When the VM ends, a
 * text frame {"type":"exit","state":...,"reason":...}, then a close frame.
 */
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/http.h"
#include "api/websocket.h"
#include "daemon/web.h"

#define CONSOLE_CHUNK (16 << 10)

static int send_frame(int fd, int op, const void *p, size_t n)
{
    uint8_t h[10];
    size_t hl = ws_frame_head(h, op, n);
    int r = sock_send_all(fd, h, hl);
    return r ? r : (n ? sock_send_all(fd, p, n) : 0);
}

static void send_close(int fd, int status, const char *reason)
{
    uint8_t b[125];
    size_t rl = strlen(reason);
    if (rl > sizeof(b) - 2)
        rl = sizeof(b) - 2;
    b[0] = (uint8_t)(status >> 8);
    b[1] = (uint8_t)status;
    memcpy(b + 2, reason, rl);
    send_frame(fd, WS_CLOSE, b, rl + 2);
}

/* The daemon's error text of a refused attach, for the browser's answer. */
static void relay_refusal(int fd, int dfd, char *got, size_t glen, int status)
{
    char body[1024];
    size_t bl = 0;
    char *e = strstr(got, "\r\n\r\n");
    if (e) {
        bl = glen - (size_t)(e + 4 - got);
        memcpy(body, e + 4, bl < sizeof(body) - 1 ? bl : sizeof(body) - 1);
    }
    while (bl < sizeof(body) - 1) {
        ssize_t n = read(dfd, body + bl, sizeof(body) - 1 - bl);
        if (n <= 0)
            break;
        bl += (size_t)n;
    }
    body[bl < sizeof(body) - 1 ? bl : sizeof(body) - 1] = 0;
    json_object *j = json_tokener_parse(body), *m;
    const char *msg = j && json_object_object_get_ex(j, "error", &m) ? json_object_get_string(m)
                                                                        : "the daemon refused the console";
    web_send_error(fd, status >= 400 && status < 600 ? status : 502, msg);
    json_object_put(j);
}

/* Tells the page how the VM ended: {"type":"exit","state":...,"reason":...}. */
static void send_exit(const struct web *w, int fd, const char *name)
{
    char target[128];
    snprintf(target, sizeof(target), "/v1/vms/%s", name);
    int st = 0;
    char *out = NULL;
    size_t olen = 0;
    json_object *msg = json_object_new_object(), *v = NULL, *x, *le;
    json_object_object_add(msg, "type", json_object_new_string("exit"));
    /*
     * The monitor closes its consoles as the VM ends, a moment before it exits and
     * the daemon records the end: ask until the state is final (at most ~3 s).
     */
    for (int i = 0; i < 30; i++) {
        json_object_put(v);
        v = NULL;
        if (web_daemon_request(w, "GET", target, "", 0, &st, &out, &olen) || st != 200)
            break;
        v = json_tokener_parse(out);
        free(out);
        out = NULL;
        const char *s = v && json_object_object_get_ex(v, "state", &x) ? json_object_get_string(x) : "";
        if (strcmp(s, "running") && strcmp(s, "paused"))
            break;
        usleep(100000);
    }
    free(out);
    if (v && json_object_object_get_ex(v, "state", &x))
        json_object_object_add(msg, "state", json_object_get(x));
    if (v && json_object_object_get_ex(v, "last_exit", &le) && le && json_object_object_get_ex(le, "reason", &x))
        json_object_object_add(msg, "reason", json_object_get(x));
    json_object_put(v);
    const char *s = json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN);
    send_frame(fd, WS_TEXT, s, strlen(s));
    json_object_put(msg);
}

/* One message from the browser. 0 to go on, 1 when it closed, -STATUS to fail the connection. */
static int from_browser(int fd, int dfd, const struct ws_msg *m)
{
    switch (m->op) {
    case WS_BINARY:
        return m->len && sock_send_all(dfd, m->data, m->len) ? 1 : 0;
    case WS_TEXT: {
        json_tokener *t = json_tokener_new();
        json_object *j = t ? json_tokener_parse_ex(t, (const char *)m->data, (int)m->len) : NULL, *ty;
        bool control = j && json_object_is_type(j, json_type_object) &&
                       json_object_object_get_ex(j, "type", &ty);
        json_object_put(j);
        json_tokener_free(t);
        if (control)
            return 0; /* resize: the serial console has no window size to set */
        return m->len && sock_send_all(dfd, m->data, m->len) ? 1 : 0;
    }
    case WS_PING:
        send_frame(fd, WS_PONG, m->data, m->len); /* §5.5.2 */
        return 0;
    case WS_PONG:
        return 0;
    case WS_CLOSE: {
        /* Echo the status (§5.5.1); a close without one is answered with 1000. */
        int st = m->len >= 2 ? (m->data[0] << 8 | m->data[1]) : WS_CLOSE_NORMAL;
        if (st < 1000 || st == 1004 || st == 1005 || st == 1006 || st == 1015 || st >= 5000 ||
            (st > 1011 && st < 3000))
            return -WS_CLOSE_PROTOCOL; /* §7.4.1: codes an endpoint must not send */
        send_close(fd, st, "");
        return 1;
    }
    }
    return -WS_CLOSE_PROTOCOL;
}

void web_console(const struct web *w, int fd, const char *name, const char *head, size_t hlen,
                 const char *early, size_t elen)
{
    char key[64], ver[16];
    if (!*name || strchr(name, '/') || strlen(name) > 63) {
        web_send_error(fd, 404, "no such VM");
        return;
    }
    if (http_header_get(head, hlen, "Sec-WebSocket-Version", ver, sizeof(ver)) || strcmp(ver, "13")) {
        web_send_error(fd, 426, "WebSocket version 13 only (RFC 6455)");
        return;
    }
    char accept[29];
    if (http_header_get(head, hlen, "Sec-WebSocket-Key", key, sizeof(key)) || ws_accept_key(key, accept)) {
        web_send_error(fd, 400, "missing or malformed Sec-WebSocket-Key");
        return;
    }
    int dfd = web_daemon_connect(w);
    if (dfd < 0) {
        web_send_error(fd, 502, "the kiln daemon does not answer");
        return;
    }
    struct ws_reader *rd = NULL;
    char req[160], got[4096];
    size_t glen = 0;
    int n = snprintf(req, sizeof(req),
                     "GET /v1/vms/%s/console HTTP/1.1\r\nHost: kiln\r\nConnection: Upgrade\r\n"
                     "Upgrade: kiln-console\r\n\r\n", name);
    if (sock_send_all(dfd, req, (size_t)n)) {
        web_send_error(fd, 502, "the kiln daemon does not answer");
        goto out;
    }
    char *end = NULL;
    while (!end && glen < sizeof(got) - 1) {
        ssize_t k = read(dfd, got + glen, sizeof(got) - 1 - glen);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        glen += (size_t)k;
        got[glen] = 0;
        end = strstr(got, "\r\n\r\n");
    }
    int status = glen > 12 && !strncmp(got, "HTTP/1.1 ", 9) ? atoi(got + 9) : 0;
    if (!end || status != 101) {
        relay_refusal(fd, dfd, got, glen, status);
        goto out;
    }
    char up[1600];
    n = snprintf(up, sizeof(up),
                 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Accept: %s\r\n%s\r\n", accept, web_security_headers);
    if (sock_send_all(fd, up, (size_t)n))
        goto out;
    size_t off = (size_t)(end + 4 - got);
    if (glen > off && send_frame(fd, WS_BINARY, got + off, glen - off))
        goto out;
    rd = malloc(sizeof(*rd));
    if (!rd) {
        send_close(fd, 1011, "out of memory");
        goto out;
    }
    ws_reader_init(rd);
    size_t room;
    uint8_t *space = ws_reader_space(rd, &room);
    memcpy(space, early, elen < room ? elen : room); /* frames sent with the upgrade request */
    ws_reader_added(rd, elen < room ? elen : room);
    struct timeval tv = {0, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(dfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char *buf = malloc(CONSOLE_CHUNK);
    if (!buf)
        goto out;
    for (;;) {
        struct ws_msg m;
        int r;
        while ((r = ws_reader_next(rd, &m)) == 1) {
            int fr = from_browser(fd, dfd, &m);
            if (fr < 0)
                send_close(fd, -fr, "protocol error");
            if (fr)
                goto done;
        }
        if (r < 0) {
            send_close(fd, -r, r == -WS_CLOSE_TOO_BIG ? "message too big" : "protocol error");
            goto done;
        }
        struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = dfd, .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            goto done;
        }
        if (p[1].revents) {
            ssize_t k = read(dfd, buf, CONSOLE_CHUNK);
            if (k <= 0) {
                /* The console stream ended: the VM stopped (or its monitor went). */
                send_exit(w, fd, name);
                send_close(fd, WS_CLOSE_NORMAL, "VM stopped");
                goto done;
            }
            if (send_frame(fd, WS_BINARY, buf, (size_t)k))
                goto done;
        }
        if (p[0].revents) {
            space = ws_reader_space(rd, &room);
            ssize_t k = room ? read(fd, space, room) : -1;
            if (k <= 0)
                goto done; /* the page went; the VM runs on */
            ws_reader_added(rd, (size_t)k);
        }
    }
done:
    free(buf);
out:
    free(rd);
    close(dfd);
}
