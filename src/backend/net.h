/*
 * Network backends: where a virtio-net device's Ethernet frames go and come
 * from. A small function-pointer interface (cf. TinyEMU's EthernetDevice), so
 * the device knows nothing about slirp or tap and tests plug in fakes.
 *
 * Threading contract:
 *  - send() may be called from any thread (a hart, holding the device's
 *    transport lock) and must never block: a backend that cannot take a frame
 *    right now drops it (Ethernet may lose frames; TCP retransmits).
 *  - the rx callback runs on the backend's own thread, one frame at a time,
 *    between start() and stop(); after stop() returns it is never called again.
 */
#ifndef KILN_BACKEND_NET_H
#define KILN_BACKEND_NET_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct net_backend;

/* Largest Ethernet frame (without FCS) a backend delivers or accepts: 64 KiB covers tap with offloads off. */
#define NET_MAX_FRAME 65536u
#define NET_MAX_HOSTFWD 16
#define NET_IFNAME_MAX 16 /* IFNAMSIZ, with the NUL */

/* QEMU's user-mode network defaults, which guest images and docs assume. */
#define NET_USER_NET "10.0.2.0"
#define NET_USER_GATEWAY "10.0.2.2"
#define NET_USER_DNS "10.0.2.3"
#define NET_USER_GUEST "10.0.2.15"
#define NET_DEFAULT_MAC {0x52, 0x54, 0x00, 0x12, 0x34, 0x56}

typedef void (*net_rx_fn)(void *opaque, const uint8_t *frame, size_t len);

struct net_backend_ops {
    /* Optional: the device has room again after rx_paused was set (any thread). */
    void (*rx_resume)(struct net_backend *be);
    const char *kind;
    /* Queue one frame for the outside world; 0, or -errno if dropped. Never blocks. */
    int (*send)(struct net_backend *be, const uint8_t *frame, size_t len);
    /* Start delivering received frames to rx(opaque, ...). 0 or -errno. */
    int (*start)(struct net_backend *be, net_rx_fn rx, void *opaque);
    /* Stop delivering; when this returns the rx callback has returned for good. */
    void (*stop)(struct net_backend *be);
    void (*destroy)(struct net_backend *be);
};

struct net_backend {
    const struct net_backend_ops *ops;
    /*
     * Set by the device while its guest-side receive backlog is long: the
     * backend stops reading from the outside world (so TCP peers see flow
     * control instead of losses that make them back off), and resumes when
     * ops->rx_resume() is called.
     */
    atomic_bool rx_paused;
};

enum net_kind { NET_USER, NET_TAP };

struct net_hostfwd {
    bool udp;
    struct in_addr host_addr; /* default 127.0.0.1: nothing is exposed beyond the host unless asked */
    uint16_t host_port;
    struct in_addr guest_addr; /* default 10.0.2.15 */
    uint16_t guest_port;
};

/* What `--net SPEC` says. */
struct net_config {
    enum net_kind kind;
    char ifname[NET_IFNAME_MAX]; /* NET_TAP */
    uint8_t mac[6];              /* the guest's MAC; NET_DEFAULT_MAC unless mac= */
    unsigned nhostfwd;           /* NET_USER */
    struct net_hostfwd hostfwd[NET_MAX_HOSTFWD];
    uint64_t bps;                /* bytes/s limit, each direction; 0 = unlimited */
    bool host_loopback;          /* NET_USER: 10.0.2.2 reaches the host's 127.0.0.1 (off by default) */
};

/*
 * Parses `user[,hostfwd=tcp:127.0.0.1:HOSTPORT-:GUESTPORT]...[,host-loopback=on|off][,mac=52:54:00:12:34:56][,bps=N]`
 * or `tap:IFNAME[,mac=...][,bps=N]`; bps takes K, M, G suffixes (powers of 1024). hostfwd is `(tcp|udp):[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT`.
 * Returns 0, or -EINVAL with a one-line reason in err (always NUL-terminated when errlen > 0).
 */
int net_parse_spec(const char *spec, struct net_config *out, char *err, size_t errlen);

/*
 * Creates (but does not start) the backend cfg describes: sockets and
 * forwards are set up here, so errors (port in use, no such tap device) are
 * reported before the guest boots. NULL with err filled on failure.
 */
struct net_backend *net_backend_create(struct vm *vm, const struct net_config *cfg, char *err,
                                       size_t errlen);

/* The two backends, for callers that want one directly. */
struct net_backend *net_slirp_create(const struct net_config *cfg, char *err, size_t errlen);
struct net_backend *net_tap_create(const char *ifname, char *err, size_t errlen);

static inline int net_backend_send(struct net_backend *be, const uint8_t *frame, size_t len)
{
    return be->ops->send(be, frame, len);
}

static inline int net_backend_start(struct net_backend *be, net_rx_fn rx, void *opaque)
{
    return be->ops->start(be, rx, opaque);
}

static inline void net_backend_stop(struct net_backend *be)
{
    be->ops->stop(be);
}

/* Stops it if running, then frees it. NULL is fine. */
static inline void net_backend_destroy(struct net_backend *be)
{
    if (be)
        be->ops->destroy(be);
}

#endif
