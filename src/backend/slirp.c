/*
 * User-mode networking through libslirp: a whole IPv4 network in-process
 * (guest 10.0.2.15/24, gateway 10.0.2.2, DNS 10.0.2.3, DHCP), outbound
 * TCP/UDP through ordinary host sockets, and host→guest port forwards.
 *
 * libslirp is single-threaded, so every slirp_* call happens on one thread,
 * this backend's poll loop (or in net_slirp_create before it starts). Frames
 * the guest sends arrive on hart threads; send() copies them into a bounded
 * queue under a mutex and kicks an eventfd, and the loop feeds them to
 * slirp_input(). Frames slirp produces for the guest come out of its
 * send_packet callback, on the loop thread, straight into the rx callback.
 * Timers (slirp's TCP/RA timers) are a short list scanned every iteration.
 *
 * The host's loopback is out of the guest's reach unless `host-loopback=on`
 * (docs/net.md, docs/jail.md).
 */
#include "backend/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <slirp/libslirp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"

/* Frames queued from the guest before the loop thread takes them; beyond that they are dropped. */
#define TXQ_LEN 256

struct slirp_timer {
    struct slirp_timer *next;
    SlirpTimerCb cb;
    void *cb_opaque;
    int64_t expire_ms; /* -1: not armed */
};

struct txframe {
    size_t len;
    uint8_t *data;
};

struct slirp_be {
    struct net_backend be;
    Slirp *slirp;
    struct slirp_timer *timers;

    pthread_t thread;
    bool running;
    int wake; /* eventfd: tx frames queued, stop requested, or slirp's notify() */
    atomic_bool stop;
    net_rx_fn rx;
    void *rx_opaque;

    pthread_mutex_t txlock;
    struct txframe txq[TXQ_LEN];
    unsigned tx_head, tx_count;
    uint64_t tx_dropped;

    /* Loop-thread scratch for slirp_pollfds_fill. */
    struct pollfd *pfd;
    unsigned npfd, cap_pfd;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void kick(struct slirp_be *s)
{
    uint64_t one = 1;
    (void)!write(s->wake, &one, sizeof(one));
}

/* ---- SlirpCb ---- */

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
    struct slirp_be *s = opaque;
    if (s->rx && len <= NET_MAX_FRAME)
        s->rx(s->rx_opaque, buf, len);
    return (ssize_t)len;
}

static void cb_guest_error(const char *msg, void *opaque)
{
    log_debug("net", "slirp: guest error: %s", msg);
}

static int64_t cb_clock_get_ns(void *opaque)
{
    return now_ns();
}

static void *cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
    struct slirp_be *s = opaque;
    struct slirp_timer *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL; /* slirp then runs without that timer; nothing better to do */
    t->cb = cb;
    t->cb_opaque = cb_opaque;
    t->expire_ms = -1;
    t->next = s->timers;
    s->timers = t;
    return t;
}

static void cb_timer_free(void *timer, void *opaque)
{
    struct slirp_be *s = opaque;
    for (struct slirp_timer **pp = &s->timers; *pp; pp = &(*pp)->next) {
        if (*pp == timer) {
            *pp = ((struct slirp_timer *)timer)->next;
            free(timer);
            return;
        }
    }
}

static void cb_timer_mod(void *timer, int64_t expire_time, void *opaque)
{
    if (timer)
        ((struct slirp_timer *)timer)->expire_ms = expire_time;
}

static void cb_register_poll_fd(int fd, void *opaque)
{
    /* Nothing: slirp_pollfds_fill lists every fd on each iteration. */
}

static void cb_unregister_poll_fd(int fd, void *opaque)
{
}

static void cb_notify(void *opaque)
{
    kick(opaque);
}

static const SlirpCb slirp_callbacks = {
    .send_packet = cb_send_packet,
    .guest_error = cb_guest_error,
    .clock_get_ns = cb_clock_get_ns,
    .timer_new = cb_timer_new,
    .timer_free = cb_timer_free,
    .timer_mod = cb_timer_mod,
    .register_poll_fd = cb_register_poll_fd,
    .unregister_poll_fd = cb_unregister_poll_fd,
    .notify = cb_notify,
};

/* ---- poll loop ---- */

static int add_poll(int fd, int events, void *opaque)
{
    struct slirp_be *s = opaque;
    if (s->npfd == s->cap_pfd) {
        unsigned cap = s->cap_pfd ? 2 * s->cap_pfd : 32;
        struct pollfd *p = realloc(s->pfd, cap * sizeof(*p));
        if (!p)
            return -1; /* get_revents reports nothing for it */
        s->pfd = p;
        s->cap_pfd = cap;
    }
    short ev = 0;
    /* While the guest's receive backlog is long, leave host sockets unread (flow control). */
    if ((events & SLIRP_POLL_IN) && (fd == s->wake || !atomic_load(&s->be.rx_paused)))
        ev |= POLLIN;
    if (events & SLIRP_POLL_OUT)
        ev |= POLLOUT;
    if (events & SLIRP_POLL_PRI)
        ev |= POLLPRI;
    s->pfd[s->npfd] = (struct pollfd){.fd = fd, .events = ev};
    return (int)s->npfd++;
}

static int get_revents(int idx, void *opaque)
{
    struct slirp_be *s = opaque;
    if (idx < 0 || (unsigned)idx >= s->npfd)
        return 0;
    short re = s->pfd[idx].revents;
    int r = 0;
    if (re & POLLIN)
        r |= SLIRP_POLL_IN;
    if (re & POLLOUT)
        r |= SLIRP_POLL_OUT;
    if (re & POLLPRI)
        r |= SLIRP_POLL_PRI;
    if (re & POLLERR)
        r |= SLIRP_POLL_ERR;
    if (re & POLLHUP)
        r |= SLIRP_POLL_HUP;
    return r;
}

static void run_timers(struct slirp_be *s, uint32_t *timeout_ms)
{
    int64_t now = now_ns() / 1000000;
    /* A callback may free or re-arm timers, so restart the scan after each one fires. */
    for (bool fired = true; fired;) {
        fired = false;
        for (struct slirp_timer *t = s->timers; t; t = t->next) {
            if (t->expire_ms >= 0 && t->expire_ms <= now) {
                t->expire_ms = -1;
                t->cb(t->cb_opaque);
                fired = true;
                break;
            }
        }
    }
    for (struct slirp_timer *t = s->timers; t; t = t->next) {
        if (t->expire_ms >= 0) {
            int64_t d = t->expire_ms - now;
            if (d < 0)
                d = 0;
            if ((uint64_t)d < *timeout_ms)
                *timeout_ms = (uint32_t)d;
        }
    }
}

/* Hands queued guest frames to slirp, outside the lock so send() never waits on slirp. */
static void drain_tx(struct slirp_be *s)
{
    for (;;) {
        pthread_mutex_lock(&s->txlock);
        if (!s->tx_count) {
            pthread_mutex_unlock(&s->txlock);
            return;
        }
        struct txframe f = s->txq[s->tx_head];
        s->tx_head = (s->tx_head + 1) % TXQ_LEN;
        s->tx_count--;
        pthread_mutex_unlock(&s->txlock);
        slirp_input(s->slirp, f.data, (int)f.len);
        free(f.data);
    }
}

static void *slirp_loop(void *arg)
{
    struct slirp_be *s = arg;
    while (!atomic_load(&s->stop)) {
        uint32_t timeout = 1000; /* also bounds how stale the timer scan can get */
        run_timers(s, &timeout);
        s->npfd = 0;
        add_poll(s->wake, SLIRP_POLL_IN, s);
        slirp_pollfds_fill(s->slirp, &timeout, add_poll, s);
        int n = poll(s->pfd, s->npfd, (int)(timeout > 1000 ? 1000 : timeout));
        if (n < 0 && errno != EINTR) {
            log_err("net", "slirp: poll: %s", strerror(errno));
            break;
        }
        if (n > 0 && s->pfd[0].revents) {
            uint64_t v;
            (void)!read(s->wake, &v, sizeof(v));
        }
        if (atomic_load(&s->stop))
            break;
        drain_tx(s);
        slirp_pollfds_poll(s->slirp, n < 0, get_revents, s);
    }
    return NULL;
}

/* ---- net_backend_ops ---- */

static void sl_rx_resume(struct net_backend *be)
{
    struct slirp_be *s = (struct slirp_be *)be;
    uint64_t one = 1;
    (void)!write(s->wake, &one, sizeof(one)); /* poll again, with POLLIN on the sockets */
}

static int sl_send(struct net_backend *be, const uint8_t *frame, size_t len)
{
    struct slirp_be *s = (struct slirp_be *)be;
    if (len == 0 || len > NET_MAX_FRAME)
        return -EINVAL;
    uint8_t *copy = malloc(len);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, frame, len);
    pthread_mutex_lock(&s->txlock);
    if (s->tx_count == TXQ_LEN) {
        s->tx_dropped++;
        pthread_mutex_unlock(&s->txlock);
        free(copy);
        return -ENOBUFS;
    }
    s->txq[(s->tx_head + s->tx_count) % TXQ_LEN] = (struct txframe){.len = len, .data = copy};
    bool first = s->tx_count++ == 0;
    pthread_mutex_unlock(&s->txlock);
    if (first) /* the loop drains everything per wake-up */
        kick(s);
    return 0;
}

static int sl_start(struct net_backend *be, net_rx_fn rx, void *opaque)
{
    struct slirp_be *s = (struct slirp_be *)be;
    if (s->running)
        return -EBUSY;
    s->rx = rx;
    s->rx_opaque = opaque;
    atomic_store(&s->stop, false);
    int r = pthread_create(&s->thread, NULL, slirp_loop, s);
    if (r)
        return -r;
    s->running = true;
    return 0;
}

static void sl_stop(struct net_backend *be)
{
    struct slirp_be *s = (struct slirp_be *)be;
    if (!s->running)
        return;
    atomic_store(&s->stop, true);
    kick(s);
    pthread_join(s->thread, NULL);
    s->running = false;
    s->rx = NULL;
}

static void sl_destroy(struct net_backend *be)
{
    struct slirp_be *s = (struct slirp_be *)be;
    sl_stop(be);
    if (s->slirp)
        slirp_cleanup(s->slirp); /* frees its timers through cb_timer_free */
    while (s->timers)
        cb_timer_free(s->timers, s);
    for (unsigned i = 0; i < s->tx_count; i++)
        free(s->txq[(s->tx_head + i) % TXQ_LEN].data);
    if (s->wake >= 0)
        close(s->wake);
    pthread_mutex_destroy(&s->txlock);
    free(s->pfd);
    free(s);
}

static const struct net_backend_ops slirp_ops = {
    .kind = "user",
    .send = sl_send,
    .start = sl_start,
    .stop = sl_stop,
    .rx_resume = sl_rx_resume,
    .destroy = sl_destroy,
};

__attribute__((format(printf, 3, 4))) static void seterr(char *err, size_t errlen, const char *fmt,
                                                         ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
}

struct net_backend *net_slirp_create(const struct net_config *cfg, char *err, size_t errlen)
{
    struct slirp_be *s = calloc(1, sizeof(*s));
    if (!s) {
        seterr(err, errlen, "out of memory");
        return NULL;
    }
    s->be.ops = &slirp_ops;
    pthread_mutex_init(&s->txlock, NULL);
    s->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->wake < 0) {
        seterr(err, errlen, "user networking: eventfd: %s", strerror(errno));
        goto fail;
    }

    SlirpConfig sc;
    memset(&sc, 0, sizeof(sc));
    sc.version = 1; /* only version-1 fields are used, so any libslirp 4.x accepts it */
    sc.restricted = 0;
    sc.in_enabled = true;
    inet_pton(AF_INET, NET_USER_NET, &sc.vnetwork);
    inet_pton(AF_INET, "255.255.255.0", &sc.vnetmask);
    inet_pton(AF_INET, NET_USER_GATEWAY, &sc.vhost);
    inet_pton(AF_INET, NET_USER_GUEST, &sc.vdhcp_start);
    inet_pton(AF_INET, NET_USER_DNS, &sc.vnameserver);
    sc.in6_enabled = false;
    sc.vhostname = "kiln";
    sc.if_mtu = 1500;
    sc.if_mru = 1500;
    /* Closed by default (issue 9): the gateway 10.0.2.2 is not the host's loopback, so a guest
     * cannot reach services that listen on 127.0.0.1 only. hostfwd is unaffected. */
    sc.disable_host_loopback = !cfg->host_loopback;
    s->slirp = slirp_new(&sc, &slirp_callbacks, s);
    if (!s->slirp) {
        seterr(err, errlen, "user networking: libslirp refused its configuration");
        goto fail;
    }
    for (unsigned i = 0; i < cfg->nhostfwd; i++) {
        const struct net_hostfwd *fw = &cfg->hostfwd[i];
        if (slirp_add_hostfwd(s->slirp, fw->udp, fw->host_addr, fw->host_port, fw->guest_addr,
                              fw->guest_port) < 0) {
            char ha[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, &fw->host_addr, ha, sizeof(ha));
            seterr(err, errlen,
                   "user networking: cannot forward %s %s:%u (port in use or not allowed?)",
                   fw->udp ? "udp" : "tcp", ha, fw->host_port);
            goto fail;
        }
    }
    return &s->be;

fail:
    sl_destroy(&s->be);
    return NULL;
}

struct net_backend *net_backend_create(struct vm *vm, const struct net_config *cfg, char *err,
                                       size_t errlen)
{
    (void)vm; /* per-VM state lives in the backend; kept for a future per-VM event loop */
    switch (cfg->kind) {
    case NET_USER:
        return net_slirp_create(cfg, err, errlen);
    case NET_TAP:
        return net_tap_create(cfg->ifname, err, errlen);
    }
    seterr(err, errlen, "unknown network backend kind %d", (int)cfg->kind);
    return NULL;
}
