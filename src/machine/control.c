/*
 * Control socket of one VM process (control.h). The parser accepts exactly
 * one flat JSON object (RFC 8259 grammar for strings and numbers) whose values
 * are strings, numbers, true, false or null; anything nested, duplicated,
 * unknown or trailing is refused with a message. It never reads past len.
 */
#define _GNU_SOURCE
#include "machine/control.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/log.h"

#define CONTROL_MAX_CLIENTS 8
#define STR_MAX CONTROL_DIR_MAX /* longest string value or key we keep; longer ones are refused */

/* ---- parser ---- */

enum jkind { J_STRING, J_INT, J_NUMBER, J_BOOL, J_NULL };

struct jvalue {
    enum jkind kind;
    char str[STR_MAX]; /* J_STRING, NUL-terminated, never contains NUL */
    uint64_t u;        /* J_INT: magnitude */
    bool neg;          /* J_INT/J_NUMBER: had a minus sign */
    bool big;          /* J_INT: above UINT64_MAX */
};

struct jp {
    const char *p, *end;
    char *err;
    size_t errlen;
};

static int jfail(struct jp *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int jfail(struct jp *j, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->err, j->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static void jws(struct jp *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\r' || *j->p == '\n'))
        j->p++;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* At the opening quote. Keeps at most STR_MAX-1 bytes; a longer string is an error. */
static int jstring(struct jp *j, char *out)
{
    size_t n = 0;
    j->p++; /* '"' */
    for (;;) {
        if (j->p >= j->end)
            return jfail(j, "unterminated string");
        unsigned char c = (unsigned char)*j->p++;
        if (c == '"')
            break;
        if (c < 0x20)
            return jfail(j, "control character in a string");
        if (c == '\\') {
            if (j->p >= j->end)
                return jfail(j, "unterminated string");
            char e = *j->p++;
            switch (e) {
            case '"': c = '"'; break;
            case '\\': c = '\\'; break;
            case '/': c = '/'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'u': {
                if (j->end - j->p < 4)
                    return jfail(j, "bad \\u escape");
                unsigned v = 0;
                for (int i = 0; i < 4; i++) {
                    int h = hexval(j->p[i]);
                    if (h < 0)
                        return jfail(j, "bad \\u escape");
                    v = v << 4 | (unsigned)h;
                }
                j->p += 4;
                if (v == 0)
                    return jfail(j, "NUL in a string");
                /* Names and commands are ASCII: anything else only has to compare unequal. */
                c = v < 0x80 ? (unsigned char)v : '?';
                break;
            }
            default:
                return jfail(j, "bad escape in a string");
            }
        }
        if (n + 1 >= STR_MAX)
            return jfail(j, "string too long");
        out[n++] = (char)c;
    }
    out[n] = 0;
    return 0;
}

static bool isdig(const struct jp *j)
{
    return j->p < j->end && *j->p >= '0' && *j->p <= '9';
}

static int jnumber(struct jp *j, struct jvalue *v)
{
    v->kind = J_INT;
    v->u = 0;
    v->big = false;
    v->neg = false;
    if (*j->p == '-') {
        v->neg = true;
        j->p++;
    }
    if (!isdig(j))
        return jfail(j, "bad number");
    if (*j->p == '0') {
        j->p++;
        if (isdig(j))
            return jfail(j, "bad number (leading zero)");
    } else {
        while (isdig(j)) {
            unsigned d = (unsigned)(*j->p++ - '0');
            if (v->u > (UINT64_MAX - d) / 10)
                v->big = true;
            else
                v->u = v->u * 10 + d;
        }
    }
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        if (!isdig(j))
            return jfail(j, "bad number");
        while (isdig(j))
            j->p++;
        v->kind = J_NUMBER;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (!isdig(j))
            return jfail(j, "bad number");
        while (isdig(j))
            j->p++;
        v->kind = J_NUMBER;
    }
    return 0;
}

static int jword(struct jp *j, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n))
        return jfail(j, "bad value");
    j->p += n;
    return 0;
}

static int jvalue(struct jp *j, struct jvalue *v)
{
    if (j->p >= j->end)
        return jfail(j, "value expected");
    switch (*j->p) {
    case '"':
        v->kind = J_STRING;
        return jstring(j, v->str);
    case '{':
    case '[':
        return jfail(j, "nested objects and arrays are not accepted");
    case 't':
        v->kind = J_BOOL;
        v->u = 1;
        return jword(j, "true");
    case 'f':
        v->kind = J_BOOL;
        v->u = 0;
        return jword(j, "false");
    case 'n':
        v->kind = J_NULL;
        return jword(j, "null");
    default:
        if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9'))
            return jnumber(j, v);
        return jfail(j, "bad value");
    }
}

int control_parse(const char *line, size_t len, struct control_req *req, char *err, size_t errlen)
{
    struct jp j = {.p = line, .end = line + len, .err = err, .errlen = errlen};
    bool have_cmd = false, have_target = false, have_disk = false, have_net = false;
    bool have_dir = false, have_paused = false, have_fds = false, have_down = false, have_rounds = false;
    char cmd[STR_MAX] = "";
    uint64_t target = 0, index = 0;
    struct control_limits lim = {0};
    memset(req, 0, sizeof(*req));

    jws(&j);
    if (j.p >= j.end || *j.p != '{')
        return jfail(&j, "a request is one JSON object, e.g. {\"cmd\":\"stats\"}");
    j.p++;
    jws(&j);
    if (j.p < j.end && *j.p == '}') {
        j.p++;
    } else {
        for (;;) {
            char key[STR_MAX];
            struct jvalue v;
            jws(&j);
            if (j.p >= j.end || *j.p != '"')
                return jfail(&j, "object key expected");
            if (jstring(&j, key))
                return -1;
            jws(&j);
            if (j.p >= j.end || *j.p != ':')
                return jfail(&j, "':' expected");
            j.p++;
            jws(&j);
            if (jvalue(&j, &v))
                return -1;
            if (!strcmp(key, "cmd")) {
                if (have_cmd)
                    return jfail(&j, "duplicate field 'cmd'");
                if (v.kind != J_STRING)
                    return jfail(&j, "'cmd' must be a string");
                memcpy(cmd, v.str, sizeof(cmd));
                have_cmd = true;
            } else if (!strcmp(key, "target_mib")) {
                if (have_target)
                    return jfail(&j, "duplicate field 'target_mib'");
                if (v.kind != J_INT || v.neg || v.big)
                    return jfail(&j, "'target_mib' must be a non-negative integer");
                target = v.u;
                have_target = true;
            } else if (!strcmp(key, "disk") || !strcmp(key, "net") || !strcmp(key, "bps") ||
                       !strcmp(key, "iops")) {
                bool *have = key[0] == 'd' ? &have_disk
                             : key[0] == 'n' ? &have_net
                             : key[0] == 'b' ? &lim.has_bps
                                             : &lim.has_iops;
                if (*have)
                    return jfail(&j, "duplicate field '%s'", key);
                if (v.kind != J_INT || v.neg || v.big)
                    return jfail(&j, "'%s' must be a non-negative integer", key);
                *have = true;
                if (key[0] == 'd' || key[0] == 'n')
                    index = v.u;
                else if (key[0] == 'b')
                    lim.bps = v.u;
                else
                    lim.iops = v.u;
            } else if (!strcmp(key, "dir")) {
                if (have_dir)
                    return jfail(&j, "duplicate field 'dir'");
                if (v.kind != J_STRING || !v.str[0])
                    return jfail(&j, "'dir' must be a non-empty string");
                memcpy(req->dir, v.str, sizeof(req->dir));
                have_dir = true;
            } else if (!strcmp(key, "fds")) {
                if (have_fds)
                    return jfail(&j, "duplicate field 'fds'");
                if (v.kind != J_BOOL || !v.u)
                    return jfail(&j, "'fds' must be true (the files come with the request)");
                req->fds = true;
                have_fds = true;
            } else if (!strcmp(key, "downtime_ms") || !strcmp(key, "max_rounds")) {
                bool *have = key[0] == 'd' ? &have_down : &have_rounds;
                if (*have)
                    return jfail(&j, "duplicate field '%s'", key);
                if (v.kind != J_INT || v.neg || v.big || v.u > 1000000)
                    return jfail(&j, "'%s' must be an integer from 0 to 1000000", key);
                *have = true;
                if (key[0] == 'd')
                    req->downtime_ms = v.u;
                else
                    req->max_rounds = v.u;
            } else if (!strcmp(key, "paused")) {
                if (have_paused)
                    return jfail(&j, "duplicate field 'paused'");
                if (v.kind != J_BOOL)
                    return jfail(&j, "'paused' must be true or false");
                req->paused = v.u != 0;
                have_paused = true;
            } else {
                return jfail(&j, "unknown field (known: cmd, target_mib, disk, net, bps, iops, dir, fds, paused, downtime_ms, max_rounds)");
            }
            jws(&j);
            if (j.p < j.end && *j.p == ',') {
                j.p++;
                continue;
            }
            if (j.p < j.end && *j.p == '}') {
                j.p++;
                break;
            }
            return jfail(&j, "',' or '}' expected");
        }
    }
    jws(&j);
    if (j.p != j.end)
        return jfail(&j, "trailing data after the object");
    if (!have_cmd)
        return jfail(&j, "'cmd' is required");
    if (!strcmp(cmd, "stats"))
        req->cmd = CONTROL_STATS;
    else if (!strcmp(cmd, "balloon"))
        req->cmd = CONTROL_BALLOON;
    else if (!strcmp(cmd, "powerdown"))
        req->cmd = CONTROL_POWERDOWN;
    else if (!strcmp(cmd, "quit"))
        req->cmd = CONTROL_QUIT;
    else if (!strcmp(cmd, "limits"))
        req->cmd = CONTROL_LIMITS;
    else if (!strcmp(cmd, "snapshot"))
        req->cmd = CONTROL_SNAPSHOT;
    else if (!strcmp(cmd, "pause"))
        req->cmd = CONTROL_PAUSE;
    else if (!strcmp(cmd, "resume"))
        req->cmd = CONTROL_RESUME;
    else if (!strcmp(cmd, "migrate"))
        req->cmd = CONTROL_MIGRATE;
    else if (!strcmp(cmd, "incoming"))
        req->cmd = CONTROL_INCOMING;
    else
        return jfail(&j, "unknown cmd (known: stats, balloon, powerdown, quit, limits, snapshot, pause, resume, migrate, incoming)");
    if ((have_down || have_rounds) && req->cmd != CONTROL_MIGRATE)
        return jfail(&j, "'downtime_ms' and 'max_rounds' only go with cmd migrate");
    if (req->cmd == CONTROL_MIGRATE || req->cmd == CONTROL_INCOMING) {
        if (!have_fds || have_dir || have_paused)
            return jfail(&j, "%s needs 'fds':true and the socket sent with the request (SCM_RIGHTS)", cmd);
    } else if (req->cmd == CONTROL_SNAPSHOT) {
        if (have_dir == have_fds)
            return jfail(&j, "snapshot needs either 'dir' or 'fds':true (not both)");
    } else if (have_dir || have_paused || have_fds) {
        return jfail(&j, "'dir', 'fds' and 'paused' only go with cmd snapshot");
    }
    if (req->cmd == CONTROL_BALLOON) {
        if (!have_target)
            return jfail(&j, "balloon needs 'target_mib'");
        req->target_mib = target;
    } else if (have_target) {
        return jfail(&j, "'target_mib' only goes with cmd balloon");
    }
    if (req->cmd == CONTROL_LIMITS) {
        if (have_disk == have_net)
            return jfail(&j, "limits needs exactly one of 'disk' or 'net' (a device index)");
        if (!lim.has_bps && !lim.has_iops)
            return jfail(&j, "limits needs 'bps' and/or 'iops'");
        if (have_net && lim.has_iops)
            return jfail(&j, "a network device has no 'iops' limit, only 'bps'");
        lim.is_net = have_net;
        lim.index = index;
        req->limits = lim;
    } else if (have_disk || have_net || lim.has_bps || lim.has_iops) {
        return jfail(&j, "'disk', 'net', 'bps' and 'iops' only go with cmd limits");
    }
    return 0;
}

/* ---- answers ---- */

/* Appends to out; never writes past outlen (leaves room for "\n"). */
struct sbuf {
    char *p;
    size_t len, cap;
    bool over;
};

static void sb_add(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(struct sbuf *b, const char *fmt, ...)
{
    if (b->over)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= b->cap - b->len)
        b->over = true;
    else
        b->len += (size_t)n;
}

/* Messages are ours, but quote them properly anyway. */
static size_t error_line(char *out, size_t outlen, const char *msg)
{
    size_t n = 0;
    const char *head = "{\"error\":\"";
    size_t hl = strlen(head);
    memcpy(out, head, hl);
    n = hl;
    for (const char *s = msg; *s && n + 8 < outlen; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            n += (size_t)snprintf(out + n, outlen - n, "\\u%04x", c);
        } else {
            out[n++] = (char)c;
        }
    }
    memcpy(out + n, "\"}\n", 4);
    return n + 3;
}

static uint64_t mib(uint64_t bytes)
{
    return bytes >> 20;
}

size_t control_handle_line(const struct control_ops *ops, const char *line, size_t len, char *out,
                           size_t outlen)
{
    return control_handle_line_fds(ops, line, len, NULL, 0, out, outlen);
}

size_t control_handle_line_fds(const struct control_ops *ops, const char *line, size_t len,
                               const int *fds, unsigned nfds, char *out, size_t outlen)
{
    char err[320];
    struct control_req req;
    if (control_parse(line, len, &req, err, sizeof(err)))
        return error_line(out, outlen, err);
    struct sbuf b = {.p = out, .cap = outlen - 1};
    switch (req.cmd) {
    case CONTROL_STATS: {
        struct control_stats s = {.rss_bytes = -1};
        if (!ops->stats || ops->stats(ops->ctx, &s))
            return error_line(out, outlen, "stats are not available");
        sb_add(&b, "{\"ok\":true,\"ram_bytes\":%llu,\"ram_mib\":%llu,\"rss_bytes\":%lld",
               (unsigned long long)s.ram_bytes, (unsigned long long)mib(s.ram_bytes),
               (long long)s.rss_bytes);
        if (s.balloon) {
            sb_add(&b,
                   ",\"balloon\":{\"driver\":%s,\"target_mib\":%llu,\"actual_mib\":%llu,"
                   "\"guest_mib\":%llu,\"target_bytes\":%llu,\"actual_bytes\":%llu,"
                   "\"inflated_pages\":%llu,\"deflated_pages\":%llu,\"reported_bytes\":%llu,"
                   "\"bad_pfns\":%llu}",
                   s.balloon_driver ? "true" : "false",
                   (unsigned long long)mib(s.ram_bytes - s.balloon_target_bytes),
                   (unsigned long long)mib(s.balloon_actual_bytes),
                   (unsigned long long)mib(s.ram_bytes - s.balloon_actual_bytes),
                   (unsigned long long)s.balloon_target_bytes,
                   (unsigned long long)s.balloon_actual_bytes,
                   (unsigned long long)s.inflated_pages, (unsigned long long)s.deflated_pages,
                   (unsigned long long)s.reported_bytes, (unsigned long long)s.bad_pfns);
        } else {
            sb_add(&b, ",\"balloon\":null");
        }
        sb_add(&b, ",\"disks\":[");
        for (unsigned i = 0; i < s.ndisks && i < CONTROL_MAX_DISKS; i++) {
            sb_add(&b,
                   "%s{\"reads\":%llu,\"writes\":%llu,\"flushes\":%llu,\"read_bytes\":%llu,"
                   "\"write_bytes\":%llu,\"errors\":%llu,\"throttled\":%llu,\"bps\":%llu,"
                   "\"iops\":%llu}",
                   i ? "," : "", (unsigned long long)s.disks[i].reads,
                   (unsigned long long)s.disks[i].writes, (unsigned long long)s.disks[i].flushes,
                   (unsigned long long)s.disks[i].read_bytes,
                   (unsigned long long)s.disks[i].write_bytes,
                   (unsigned long long)s.disks[i].errors, (unsigned long long)s.disks[i].throttled,
                   (unsigned long long)s.disks[i].bps_limit,
                   (unsigned long long)s.disks[i].iops_limit);
        }
        sb_add(&b, "],\"nets\":[");
        for (unsigned i = 0; i < s.nnets && i < CONTROL_MAX_NETS; i++) {
            sb_add(&b,
                   "%s{\"rx_frames\":%llu,\"rx_bytes\":%llu,\"rx_dropped\":%llu,"
                   "\"tx_frames\":%llu,\"tx_bytes\":%llu,\"tx_dropped\":%llu,"
                   "\"throttled\":%llu,\"bps\":%llu}",
                   i ? "," : "", (unsigned long long)s.nets[i].rx_frames,
                   (unsigned long long)s.nets[i].rx_bytes, (unsigned long long)s.nets[i].rx_dropped,
                   (unsigned long long)s.nets[i].tx_frames, (unsigned long long)s.nets[i].tx_bytes,
                   (unsigned long long)s.nets[i].tx_dropped,
                   (unsigned long long)s.nets[i].throttled,
                   (unsigned long long)s.nets[i].bps_limit);
        }
        sb_add(&b, "]}");
        break;
    }
    case CONTROL_BALLOON:
        if (!ops->balloon)
            return error_line(out, outlen, "no balloon device");
        if (ops->balloon(ops->ctx, req.target_mib, err, sizeof(err)))
            return error_line(out, outlen, err);
        sb_add(&b, "{\"ok\":true,\"target_mib\":%llu}", (unsigned long long)req.target_mib);
        break;
    case CONTROL_POWERDOWN:
        if (!ops->powerdown)
            return error_line(out, outlen, "powerdown is not available");
        if (ops->powerdown(ops->ctx, err, sizeof(err)))
            return error_line(out, outlen, err);
        sb_add(&b, "{\"ok\":true}");
        break;
    case CONTROL_LIMITS:
        if (!ops->limits)
            return error_line(out, outlen, "limits are not available");
        if (ops->limits(ops->ctx, &req.limits, err, sizeof(err)))
            return error_line(out, outlen, err);
        sb_add(&b, "{\"ok\":true}");
        break;
    case CONTROL_SNAPSHOT: {
        uint64_t ms = 0;
        if (!ops->snapshot)
            return error_line(out, outlen, "snapshots are not available");
        struct control_snap snap = {.dir = req.fds ? NULL : req.dir, .mem_fd = -1, .state_fd = -1,
                                    .paused = req.paused};
        if (req.fds) {
            if (nfds != 2)
                return error_line(out, outlen, "'fds':true needs two descriptors sent with the "
                                               "request (SCM_RIGHTS): the memory file, the state file");
            snap.mem_fd = fds[0];
            snap.state_fd = fds[1];
        }
        if (ops->snapshot(ops->ctx, &snap, &ms, err, sizeof(err)))
            return error_line(out, outlen, err);
        sb_add(&b, "{\"ok\":true,\"paused\":%s,\"ms\":%llu}", req.paused ? "true" : "false",
               (unsigned long long)ms);
        break;
    }
    case CONTROL_MIGRATE:
    case CONTROL_INCOMING: {
        struct control_migrate m = {0};
        if (req.cmd == CONTROL_MIGRATE ? !ops->migrate : !ops->incoming)
            return error_line(out, outlen, "migration is not available");
        if (nfds != 1)
            return error_line(out, outlen, "'fds':true needs the connected socket sent with the request (SCM_RIGHTS)");
        int r = req.cmd == CONTROL_MIGRATE
                    ? ops->migrate(ops->ctx, fds[0], req.downtime_ms, req.max_rounds, &m, err, sizeof(err))
                    : ops->incoming(ops->ctx, fds[0], &m, err, sizeof(err));
        if (r)
            return error_line(out, outlen, err);
        sb_add(&b, "{\"ok\":true,\"total_ms\":%llu,\"downtime_ms\":%llu,\"bytes\":%llu,\"pages\":%llu,"
               "\"rounds\":%llu,\"mib_per_s\":%.1f}",
               (unsigned long long)m.total_ms, (unsigned long long)m.downtime_ms,
               (unsigned long long)m.bytes, (unsigned long long)m.pages, (unsigned long long)m.rounds,
               m.mib_per_s);
        break;
    }
    case CONTROL_PAUSE:
    case CONTROL_RESUME:
        if (!ops->pause)
            return error_line(out, outlen, "pause is not available");
        if (ops->pause(ops->ctx, req.cmd == CONTROL_PAUSE, err, sizeof(err)))
            return error_line(out, outlen, err);
        sb_add(&b, "{\"ok\":true}");
        break;
    case CONTROL_QUIT:
        sb_add(&b, "{\"ok\":true}");
        if (ops->quit)
            ops->quit(ops->ctx);
        break;
    }
    if (b.over)
        return error_line(out, outlen, "answer too long");
    out[b.len++] = '\n';
    out[b.len] = 0;
    return b.len;
}

/* ---- server ---- */

struct control_client {
    int fd;
    int fds[CONTROL_MAX_FDS]; /* descriptors received with the line being read (SCM_RIGHTS) */
    unsigned nfds;
    size_t len;
    bool skipping; /* the current line is too long: drop it up to its newline */
    char buf[CONTROL_LINE_MAX];
};

struct control {
    char path[108];
    int lfd, wake_fd;
    pthread_t thread;
    struct control_ops ops;
    struct control_client clients[CONTROL_MAX_CLIENTS];
};

static void client_close_fds(struct control_client *c)
{
    for (unsigned i = 0; i < c->nfds; i++)
        close(c->fds[i]);
    c->nfds = 0;
}

static void client_drop(struct control_client *c)
{
    client_close_fds(c);
    close(c->fd);
    c->fd = -1;
}

static bool client_reply(struct control_client *c, const char *s, size_t n)
{
    /* Answers are small: a client that lets its socket buffer fill up is dropped, not waited on. */
    ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w != (ssize_t)n) {
        client_drop(c);
        return false;
    }
    return true;
}

static void client_input(struct control *ctl, struct control_client *c)
{
    char in[4096], out[CONTROL_ANSWER_MAX];
    /* Descriptors ride along with the request that uses them (unix(7), SCM_RIGHTS). */
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int) * CONTROL_MAX_FDS * 2)];
    } cm;
    struct iovec iov = {.iov_base = in, .iov_len = sizeof(in)};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf,
                        .msg_controllen = sizeof(cm.buf)};
    ssize_t n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n > 0) {
        for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); h; h = CMSG_NXTHDR(&mh, h)) {
            if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
                continue;
            size_t k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < k; i++) {
                int fd;
                memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof(int));
                if (c->nfds < CONTROL_MAX_FDS)
                    c->fds[c->nfds++] = fd;
                else
                    close(fd); /* more than any request uses */
            }
        }
        if (mh.msg_flags & MSG_CTRUNC)
            client_close_fds(c); /* some were cut: the request fails for want of them */
    }
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
        client_drop(c);
        return;
    }
    for (ssize_t i = 0; i < n; i++) {
        char ch = in[i];
        if (ch != '\n') {
            if (c->skipping)
                continue;
            if (c->len >= sizeof(c->buf)) {
                c->skipping = true;
                c->len = 0;
                continue;
            }
            c->buf[c->len++] = ch;
            continue;
        }
        size_t m;
        if (c->skipping) {
            m = error_line(out, sizeof(out), "request line too long");
            c->skipping = false;
        } else {
            m = control_handle_line_fds(&ctl->ops, c->buf, c->len, c->fds, c->nfds, out,
                                        sizeof(out));
        }
        /* The descriptors went with this line only; the handler is done with them. */
        client_close_fds(c);
        c->len = 0;
        if (!client_reply(c, out, m))
            return;
    }
}

static void *control_thread(void *arg)
{
    struct control *ctl = arg;
    for (;;) {
        struct pollfd p[2 + CONTROL_MAX_CLIENTS];
        p[0] = (struct pollfd){.fd = ctl->wake_fd, .events = POLLIN};
        p[1] = (struct pollfd){.fd = ctl->lfd, .events = POLLIN};
        for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
            p[2 + i] = (struct pollfd){.fd = ctl->clients[i].fd, .events = POLLIN};
        if (poll(p, 2 + CONTROL_MAX_CLIENTS, -1) < 0) {
            if (errno == EINTR)
                continue;
            log_err("control", "poll: %s", strerror(errno));
            return NULL;
        }
        if (p[0].revents)
            return NULL;
        if (p[1].revents & POLLIN) {
            int fd = accept4(ctl->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (fd >= 0) {
                int i = 0;
                while (i < CONTROL_MAX_CLIENTS && ctl->clients[i].fd >= 0)
                    i++;
                if (i == CONTROL_MAX_CLIENTS) {
                    static const char busy[] = "{\"error\":\"too many control connections\"}\n";
                    ssize_t w = send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
                    (void)w;
                    close(fd);
                } else {
                    ctl->clients[i].fd = fd;
                    ctl->clients[i].nfds = 0;
                    ctl->clients[i].len = 0;
                    ctl->clients[i].skipping = false;
                }
            }
        }
        for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
            if (p[2 + i].revents && ctl->clients[i].fd >= 0)
                client_input(ctl, &ctl->clients[i]);
        }
    }
}

struct control *control_start(const char *path, const struct control_ops *ops, char *err,
                              size_t errlen)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    size_t plen = strlen(path);
    if (plen == 0 || plen >= sizeof(a.sun_path)) {
        snprintf(err, errlen, "--control %s: path empty or longer than %zu bytes", path,
                 sizeof(a.sun_path) - 1);
        return NULL;
    }
    struct control *ctl = calloc(1, sizeof(*ctl));
    if (!ctl) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    memcpy(a.sun_path, path, plen + 1);
    memcpy(ctl->path, path, plen + 1);
    ctl->ops = *ops;
    ctl->lfd = ctl->wake_fd = -1;
    for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
        ctl->clients[i].fd = -1;
    ctl->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ctl->wake_fd = eventfd(0, EFD_CLOEXEC);
    if (ctl->lfd < 0 || ctl->wake_fd < 0) {
        snprintf(err, errlen, "--control: %s", strerror(errno));
        goto fail;
    }
    /* Replace a stale socket, but never unlink anything else that sits there. */
    struct stat st;
    if (!lstat(path, &st) && S_ISSOCK(st.st_mode))
        unlink(path);
    /* 0600 from the start: no window in which another user could connect. */
    mode_t old = umask(0177);
    int r = bind(ctl->lfd, (struct sockaddr *)&a, sizeof(a));
    umask(old);
    if (r || listen(ctl->lfd, 8)) {
        snprintf(err, errlen, "--control %s: %s", path, strerror(errno));
        goto fail;
    }
    int e = pthread_create(&ctl->thread, NULL, control_thread, ctl);
    if (e) {
        unlink(path);
        snprintf(err, errlen, "cannot start the control thread: %s", strerror(e));
        goto fail;
    }
    return ctl;
fail:
    if (ctl->lfd >= 0)
        close(ctl->lfd);
    if (ctl->wake_fd >= 0)
        close(ctl->wake_fd);
    free(ctl);
    return NULL;
}

void control_stop(struct control *ctl)
{
    if (!ctl)
        return;
    uint64_t one = 1;
    ssize_t w = write(ctl->wake_fd, &one, sizeof(one));
    (void)w;
    pthread_join(ctl->thread, NULL);
    for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
        if (ctl->clients[i].fd >= 0)
            close(ctl->clients[i].fd);
    }
    unlink(ctl->path);
    close(ctl->lfd);
    close(ctl->wake_fd);
    free(ctl);
}

int64_t control_self_rss(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    if (!f)
        return -1;
    char line[256];
    int64_t rss = -1;
    while (fgets(line, sizeof(line), f)) {
        unsigned long long kb;
        if (sscanf(line, "VmRSS: %llu kB", &kb) == 1) {
            rss = (int64_t)kb * 1024;
            break;
        }
    }
    fclose(f);
    return rss;
}
