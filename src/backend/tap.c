/*
 * Tap backend: frames go to and come from a Linux tap interface
 * (/dev/net/tun, IFF_TAP | IFF_NO_PI: one read or write is one bare Ethernet
 * frame). A reader thread polls the fd; send() writes on the caller's thread
 * with the fd non-blocking, so a full tap queue drops the frame rather than
 * stalling a hart.
 *
 * This file also holds net_parse_spec(), the backend-independent `--net`
 * parser: it lives apart from slirp.c so that users of the parser alone (the
 * fuzzers) do not drag libslirp into their link.
 */
#define _GNU_SOURCE /* memrchr */
#include "backend/net.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util/log.h"
#include "util/token_bucket.h"

/* ---- --net SPEC parser ---- */

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt,
                                                      ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/* Decimal 1..65535, digits only (no sign, no spaces, no 0x). */
static bool parse_port(const char *s, size_t n, uint16_t *out)
{
    if (n == 0 || n > 5)
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v == 0 || v > 65535)
        return false;
    *out = (uint16_t)v;
    return true;
}

static bool parse_addr(const char *s, size_t n, struct in_addr *out)
{
    char buf[INET_ADDRSTRLEN];
    if (n >= sizeof(buf))
        return false;
    memcpy(buf, s, n);
    buf[n] = 0;
    return inet_pton(AF_INET, buf, out) == 1;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Exactly xx:xx:xx:xx:xx:xx; unicast only (bit 0 of the first octet is the group bit). */
static int parse_mac(const char *s, size_t n, uint8_t mac[6], char *err, size_t errlen)
{
    if (n != 17)
        return fail(err, errlen, "bad MAC '%.*s': expected six hex pairs like 52:54:00:12:34:56",
                    (int)(n > 40 ? 40 : n), s);
    for (unsigned i = 0; i < 6; i++) {
        int hi = hexval(s[3 * i]), lo = hexval(s[3 * i + 1]);
        if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
            return fail(err, errlen,
                        "bad MAC '%.*s': expected six hex pairs like 52:54:00:12:34:56", (int)n, s);
        mac[i] = (uint8_t)(hi << 4 | lo);
    }
    if (mac[0] & 1)
        return fail(err, errlen, "bad MAC '%.*s': multicast address (first octet is odd)", (int)n,
                    s);
    return 0;
}

/* [ADDR]:PORT, the last ':' separating them. */
static int parse_endpoint(const char *s, size_t n, struct in_addr *addr, uint16_t *port,
                          const char *which, char *err, size_t errlen)
{
    const char *colon = memrchr(s, ':', n);
    if (!colon)
        return fail(err, errlen, "bad hostfwd: %s part '%.*s' needs ADDR:PORT or :PORT", which,
                    (int)n, s);
    size_t an = (size_t)(colon - s), pn = n - an - 1;
    if (an && !parse_addr(s, an, addr))
        return fail(err, errlen, "bad hostfwd: %s address '%.*s' is not an IPv4 address", which,
                    (int)an, s);
    if (!parse_port(colon + 1, pn, port))
        return fail(err, errlen, "bad hostfwd: %s port '%.*s' (expected 1-65535)", which, (int)pn,
                    colon + 1);
    return 0;
}

/* (tcp|udp):[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT */
static int parse_hostfwd(const char *s, size_t n, struct net_hostfwd *fw, char *err, size_t errlen)
{
    memset(fw, 0, sizeof(*fw));
    inet_pton(AF_INET, "127.0.0.1", &fw->host_addr);
    inet_pton(AF_INET, NET_USER_GUEST, &fw->guest_addr);
    if (n >= 4 && !memcmp(s, "tcp:", 4))
        fw->udp = false;
    else if (n >= 4 && !memcmp(s, "udp:", 4))
        fw->udp = true;
    else
        return fail(err, errlen,
                    "bad hostfwd '%.*s': expected tcp:127.0.0.1:HOSTPORT-:GUESTPORT (or udp:...)",
                    (int)(n > 60 ? 60 : n), s);
    s += 4, n -= 4;
    const char *dash = memchr(s, '-', n);
    if (!dash)
        return fail(err, errlen, "bad hostfwd: missing '-' between host and guest parts");
    size_t hn = (size_t)(dash - s);
    if (parse_endpoint(s, hn, &fw->host_addr, &fw->host_port, "host", err, errlen) < 0)
        return -EINVAL;
    return parse_endpoint(dash + 1, n - hn - 1, &fw->guest_addr, &fw->guest_port, "guest", err,
                          errlen);
}

static bool ifname_ok(const char *s, size_t n)
{
    if (n == 0 || n >= NET_IFNAME_MAX || (n == 1 && s[0] == '.') || (n == 2 && !memcmp(s, "..", 2)))
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '/' || s[i] == ':' || isspace((unsigned char)s[i]) || !isprint((unsigned char)s[i]))
            return false;
    return true;
}

int net_parse_spec(const char *spec, struct net_config *out, char *err, size_t errlen)
{
    static const uint8_t default_mac[6] = NET_DEFAULT_MAC;
    if (err && errlen)
        err[0] = 0;
    memset(out, 0, sizeof(*out));
    memcpy(out->mac, default_mac, 6);
    if (!spec || !*spec)
        return fail(err, errlen, "empty network spec: expected user[,...] or tap:IFNAME[,...]");

    const char *p = spec;
    size_t n = strcspn(p, ",");
    if (n == 4 && !memcmp(p, "user", 4)) {
        out->kind = NET_USER;
    } else if (n >= 4 && !memcmp(p, "tap:", 4)) {
        out->kind = NET_TAP;
        if (!ifname_ok(p + 4, n - 4))
            return fail(err, errlen, "bad tap interface name '%.*s' (1-%d characters, no '/' or ':')",
                        (int)((n - 4) > 40 ? 40 : n - 4), p + 4, NET_IFNAME_MAX - 1);
        memcpy(out->ifname, p + 4, n - 4);
    } else {
        return fail(err, errlen, "unknown network type '%.*s': expected user or tap:IFNAME",
                    (int)(n > 40 ? 40 : n), p);
    }

    bool have_mac = false, have_bps = false;
    for (p += n; *p; p += n) {
        p++; /* the ',' */
        n = strcspn(p, ",");
        const char *eq = memchr(p, '=', n);
        size_t kn = eq ? (size_t)(eq - p) : n;
        const char *v = eq ? eq + 1 : p + n;
        size_t vn = eq ? n - kn - 1 : 0;
        if (n == 0)
            return fail(err, errlen, "empty option in network spec (stray ',')");
        if (kn == 3 && !memcmp(p, "mac", 3) && eq) {
            if (have_mac)
                return fail(err, errlen, "mac= given twice");
            if (parse_mac(v, vn, out->mac, err, errlen) < 0)
                return -EINVAL;
            have_mac = true;
        } else if (kn == 3 && !memcmp(p, "bps", 3) && eq) {
            char num[32];
            if (have_bps)
                return fail(err, errlen, "bps= given twice");
            if (vn >= sizeof(num))
                vn = sizeof(num) - 1; /* too long to be valid: still refused below */
            memcpy(num, v, vn);
            num[vn] = 0;
            if (vn == sizeof(num) - 1 || tb_parse_limit(num, true, &out->bps) < 0)
                return fail(err, errlen,
                            "bad bps '%.*s': expected bytes per second, e.g. bps=1M (K, M, G "
                            "suffixes; 0 = unlimited)",
                            (int)(vn > 40 ? 40 : vn), v);
            have_bps = true;
        } else if (kn == 7 && !memcmp(p, "hostfwd", 7) && eq) {
            if (out->kind != NET_USER)
                return fail(err, errlen, "hostfwd= only applies to user networking");
            if (out->nhostfwd >= NET_MAX_HOSTFWD)
                return fail(err, errlen, "too many hostfwd= options (at most %d)", NET_MAX_HOSTFWD);
            if (parse_hostfwd(v, vn, &out->hostfwd[out->nhostfwd], err, errlen) < 0)
                return -EINVAL;
            out->nhostfwd++;
        } else if (kn == 13 && !memcmp(p, "host-loopback", 13) && eq) {
            if (out->kind != NET_USER)
                return fail(err, errlen, "host-loopback= only applies to user networking");
            if (vn == 2 && !memcmp(v, "on", 2))
                out->host_loopback = true;
            else if (vn == 3 && !memcmp(v, "off", 3))
                out->host_loopback = false;
            else
                return fail(err, errlen, "host-loopback must be on or off");
        } else {
            return fail(err, errlen, "unknown option '%.*s' in network spec (expected %s)",
                        (int)(kn > 40 ? 40 : kn), p,
                        out->kind == NET_USER ? "hostfwd=, host-loopback=, mac= or bps="
                                              : "mac= or bps=");
        }
    }
    return 0;
}

/* ---- tap backend ---- */

struct tap {
    struct net_backend be;
    char ifname[NET_IFNAME_MAX];
    int fd;
    int wake; /* eventfd: stop() wakes the reader */
    pthread_t thread;
    bool running;
    net_rx_fn rx;
    void *rx_opaque;
    uint8_t buf[NET_MAX_FRAME];
};

static void *tap_reader(void *arg)
{
    struct tap *t = arg;
    struct pollfd pfd[2] = {{.fd = t->wake, .events = POLLIN}, {.fd = t->fd, .events = POLLIN}};
    for (;;) {
        /* While the guest's receive backlog is long, leave frames in the kernel's tap queue. */
        bool paused = atomic_load(&t->be.rx_paused);
        pfd[1].events = paused ? 0 : POLLIN;
        if (poll(pfd, 2, paused ? 5 : -1) < 0) {
            if (errno == EINTR)
                continue;
            log_err("net", "tap %s: poll: %s", t->ifname, strerror(errno));
            break;
        }
        if (pfd[0].revents)
            break;
        if (pfd[1].revents & (POLLERR | POLLNVAL)) {
            log_err("net", "tap %s: device error, no more frames from the host", t->ifname);
            break;
        }
        /* Drain what is there: one read() is one frame. */
        for (int i = 0; i < 64 && !paused && !atomic_load(&t->be.rx_paused); i++) {
            ssize_t r = read(t->fd, t->buf, sizeof(t->buf));
            if (r < 0) {
                if (errno != EAGAIN && errno != EINTR)
                    log_debug("net", "tap %s: read: %s", t->ifname, strerror(errno));
                break;
            }
            if (r > 0)
                t->rx(t->rx_opaque, t->buf, (size_t)r);
        }
    }
    return NULL;
}

static int tap_send(struct net_backend *be, const uint8_t *frame, size_t len)
{
    struct tap *t = (struct tap *)be;
    ssize_t r;
    do
        r = write(t->fd, frame, len);
    while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : 0; /* EAGAIN: tap queue full, frame dropped */
}

static int tap_start(struct net_backend *be, net_rx_fn rx, void *opaque)
{
    struct tap *t = (struct tap *)be;
    if (t->running)
        return -EBUSY;
    t->rx = rx;
    t->rx_opaque = opaque;
    int r = pthread_create(&t->thread, NULL, tap_reader, t);
    if (r)
        return -r;
    t->running = true;
    return 0;
}

static void tap_stop(struct net_backend *be)
{
    struct tap *t = (struct tap *)be;
    if (!t->running)
        return;
    uint64_t one = 1;
    if (write(t->wake, &one, sizeof(one)) < 0)
        log_err("net", "tap %s: cannot wake reader: %s", t->ifname, strerror(errno));
    pthread_join(t->thread, NULL);
    uint64_t v;
    (void)!read(t->wake, &v, sizeof(v)); /* re-arm for a later start() */
    t->running = false;
}

static void tap_destroy(struct net_backend *be)
{
    struct tap *t = (struct tap *)be;
    tap_stop(be);
    if (t->fd >= 0)
        close(t->fd);
    if (t->wake >= 0)
        close(t->wake);
    free(t);
}

static const struct net_backend_ops tap_ops = {
    .kind = "tap",
    .send = tap_send,
    .start = tap_start,
    .stop = tap_stop,
    .destroy = tap_destroy,
};

struct net_backend *net_tap_create(const char *ifname, char *err, size_t errlen)
{
    if (!ifname_ok(ifname, strlen(ifname))) {
        fail(err, errlen, "bad tap interface name '%s'", ifname);
        return NULL;
    }
    struct tap *t = calloc(1, sizeof(*t));
    if (!t) {
        fail(err, errlen, "out of memory");
        return NULL;
    }
    t->be.ops = &tap_ops;
    t->wake = -1;
    snprintf(t->ifname, sizeof(t->ifname), "%s", ifname);
    t->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (t->fd < 0) {
        fail(err, errlen, "tap %s: cannot open /dev/net/tun: %s (is the tun module loaded?)", ifname,
             strerror(errno));
        goto fail;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
    if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
        fail(err, errlen,
             "tap %s: TUNSETIFF failed: %s (create it first: ip tuntap add %s mode tap user $USER)",
             ifname, strerror(errno), ifname);
        goto fail;
    }
    t->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (t->wake < 0) {
        fail(err, errlen, "tap %s: eventfd: %s", ifname, strerror(errno));
        goto fail;
    }
    return &t->be;

fail:
    tap_destroy(&t->be);
    return NULL;
}
