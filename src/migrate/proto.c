/*
 * The migration stream's framing (migrate.h): records with a bounded length and
 * a CRC, over a socket with a timeout on every wait (a peer that stops talking
 * fails the migration instead of hanging it).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include "migrate/migrate.h"

void mig_conn_init(struct mig_conn *c, int fd, int timeout_ms)
{
    memset(c, 0, sizeof(*c));
    c->fd = fd;
    c->timeout_ms = timeout_ms;
}

uint32_t mig_max_len(uint32_t type)
{
    switch (type) {
    case MIG_HELLO: return 4 + MIG_NONCE;
    case MIG_AUTH: return MIG_NONCE + MIG_MAC;
    case MIG_AUTH_OK: return MIG_MAC;
    case MIG_CONFIG: return MIG_CONFIG_MAX;
    case MIG_ACCEPT: return 1024;
    case MIG_ERROR: return MIG_ERR_MAX;
    case MIG_DISK: return 12;
    case MIG_DISK_DATA: return 8 + MIG_DISK_CHUNK;
    case MIG_START: return 16;
    case MIG_PAGES: return 16 + MIG_PAGES_MAX * MIG_PAGE;
    case MIG_STATE: return 16 + MIG_PAGES_MAX * MIG_PAGE; /* state files are a few KiB */
    case MIG_END: return 8;
    case MIG_RUNNING: return 0;
    case MIG_VERIFY: return 16 + 4 * MIG_VERIFY_MAX;
    default: return 0;
    }
}

/* CRC-32 (IEEE), zlib's: the same values as snap_crc32, faster over megabytes of pages. */
static uint32_t crc(uint32_t c, const void *buf, size_t len)
{
    while (len) {
        uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;
        c = (uint32_t)crc32(c, buf, n);
        buf = (const uint8_t *)buf + n;
        len -= n;
    }
    return c;
}

static int fail(struct mig_conn *c, const char *fmt, const char *arg)
{
    snprintf(c->err, sizeof(c->err), fmt, arg);
    return -1;
}

static int wait_fd(struct mig_conn *c, short ev)
{
    struct pollfd p = {.fd = c->fd, .events = ev};
    for (;;) {
        int n = poll(&p, 1, c->timeout_ms);
        if (n > 0)
            return 0;
        if (n == 0)
            return fail(c, "%s", "the peer stopped answering (timeout)");
        if (errno != EINTR)
            return fail(c, "poll: %s", strerror(errno));
    }
}

static int write_all(struct mig_conn *c, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (wait_fd(c, POLLOUT))
                    return -1;
                continue;
            }
            return fail(c, "sending: %s", strerror(errno));
        }
        p += n;
        len -= (size_t)n;
        c->bytes_out += (uint64_t)n;
    }
    return 0;
}

static int read_all(struct mig_conn *c, void *buf, size_t len)
{
    uint8_t *p = buf;
    if (c->mem) {
        if (len > c->mem_len - c->mem_off)
            return fail(c, "%s", "the stream ended in the middle of a record");
        memcpy(p, c->mem + c->mem_off, len);
        c->mem_off += len;
        c->bytes_in += len;
        return 0;
    }
    while (len) {
        ssize_t n = recv(c->fd, p, len, MSG_DONTWAIT);
        if (n == 0)
            return fail(c, "%s", "the peer closed the connection");
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (wait_fd(c, POLLIN))
                    return -1;
                continue;
            }
            return fail(c, "receiving: %s", strerror(errno));
        }
        p += n;
        len -= (size_t)n;
        c->bytes_in += (uint64_t)n;
    }
    return 0;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int mig_send(struct mig_conn *c, uint32_t type, const void *a, size_t alen, const void *b, size_t blen)
{
    uint8_t h[MIG_HDR];
    if (alen + blen > mig_max_len(type) && !(type == MIG_RUNNING && alen + blen == 0))
        return fail(c, "%s", "internal error: record too long");
    put32(h, MIG_MAGIC);
    put32(h + 4, type & 0xffff);
    put32(h + 8, (uint32_t)(alen + blen));
    uint32_t sum = crc(0, h, 12);
    if (alen)
        sum = crc(sum, a, alen);
    if (blen)
        sum = crc(sum, b, blen);
    put32(h + 12, sum);
    if (write_all(c, h, sizeof(h)) || (alen && write_all(c, a, alen)) || (blen && write_all(c, b, blen)))
        return -1;
    return 0;
}

void mig_send_error(struct mig_conn *c, const char *msg)
{
    size_t n = strnlen(msg, MIG_ERR_MAX);
    char keep[sizeof(c->err)];
    memcpy(keep, c->err, sizeof(keep)); /* the reason stays the caller's */
    mig_send(c, MIG_ERROR, msg, n, NULL, 0);
    memcpy(c->err, keep, sizeof(keep));
}

int mig_recv(struct mig_conn *c, uint32_t *type, uint8_t *buf, size_t cap, uint32_t *len)
{
    uint8_t h[MIG_HDR];
    if (read_all(c, h, sizeof(h)))
        return -1;
    if (get32(h) != MIG_MAGIC)
        return fail(c, "%s", "not a kiln migration stream (bad record magic)");
    uint32_t t = get32(h + 4), n = get32(h + 8);
    if (t > 0xffff)
        return fail(c, "%s", "malformed record header");
    uint32_t max = mig_max_len(t);
    if (max == 0 && t != MIG_RUNNING)
        return fail(c, "%s", "unknown record type");
    /* An ERROR may come where a short record was expected: it has its own buffer. */
    uint8_t ebuf[MIG_ERR_MAX];
    if (t == MIG_ERROR && n <= max) {
        buf = ebuf;
        cap = sizeof(ebuf);
    }
    if (n > max || n > cap)
        return fail(c, "%s", "record longer than its type allows");
    if (n && read_all(c, buf, n))
        return -1;
    uint32_t sum = crc(crc(0, h, 12), buf, n);
    if (sum != get32(h + 12))
        return fail(c, "%s", "record checksum mismatch (corrupted stream)");
    if (t == MIG_ERROR) {
        char msg[MIG_ERR_MAX + 1];
        size_t k = 0;
        for (uint32_t i = 0; i < n; i++) /* printable only: it ends up in logs */
            msg[k++] = (buf[i] >= 0x20 && buf[i] < 0x7f) ? (char)buf[i] : '?';
        msg[k] = 0;
        return fail(c, "the peer refused: %s", msg);
    }
    *type = t;
    *len = n;
    return 0;
}
