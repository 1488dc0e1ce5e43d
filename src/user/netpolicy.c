/* What a process VM's sockets may reach (netpolicy.h). */
#define _GNU_SOURCE
#include "user/netpolicy.h"

#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/un.h>

#define HOST_ADDRS 64
#define OWN_PORTS 256

static bool is_open;
static bool ready;
static struct in_addr host4[HOST_ADDRS];
static struct in6_addr host6[HOST_ADDRS];
static int nhost4, nhost6;
/* Ports bound by the process VM, as (type << 16 | port); in shared memory so fork children add to it too. */
static _Atomic uint32_t *own;

int netpolicy_init(bool open)
{
    is_open = open;
    ready = true;
    if (open)
        return 0;
    void *m = mmap(NULL, OWN_PORTS * sizeof(uint32_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m != MAP_FAILED)
        own = m;
    struct ifaddrs *ifa;
    if (getifaddrs(&ifa) < 0)
        return -errno;
    for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
        for (int k = 0; k < 2; k++) {
            const struct sockaddr *sa = k ? i->ifa_broadaddr : i->ifa_addr;
            if (k && !(i->ifa_flags & 0x2 /* IFF_BROADCAST */))
                break;
            if (!sa)
                continue;
            if (sa->sa_family == AF_INET && nhost4 < HOST_ADDRS)
                host4[nhost4++] = ((const struct sockaddr_in *)sa)->sin_addr;
            else if (sa->sa_family == AF_INET6 && nhost6 < HOST_ADDRS)
                host6[nhost6++] = ((const struct sockaddr_in6 *)sa)->sin6_addr;
        }
    }
    freeifaddrs(ifa);
    return 0;
}

static uint32_t own_key(int type, unsigned port)
{
    return (uint32_t)(type & 0xf) << 16 | (port & 0xffff);
}

static bool own_port(int type, unsigned port)
{
    if (!own)
        return false;
    uint32_t key = own_key(type, port);
    for (int i = 0; i < OWN_PORTS; i++) {
        uint32_t v = atomic_load(&own[i]);
        if (!v)
            return false;
        if (v == key)
            return true;
    }
    return false;
}

void netpolicy_bound(int fd)
{
    if (is_open || !own)
        return;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    int type = 0, reuse = 0, reuseport = 0;
    socklen_t il = sizeof(int);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0 || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &il) < 0)
        return;
    il = sizeof(int);
    getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, &il);
    il = sizeof(int);
    getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &reuseport, &il);
    /* A port shared with a host service is not the process VM's own. */
    if (reuseport || (reuse && type != SOCK_STREAM))
        return;
    unsigned port;
    if (ss.ss_family == AF_INET)
        port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    else if (ss.ss_family == AF_INET6)
        port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    else
        return;
    uint32_t key = own_key(type, port);
    for (int i = 0; i < OWN_PORTS; i++) {
        uint32_t zero = 0;
        if (atomic_load(&own[i]) == key || atomic_compare_exchange_strong(&own[i], &zero, key) || zero == key)
            return;
    }
}

static bool host_v4(struct in_addr a)
{
    uint32_t h = ntohl(a.s_addr);
    if ((h >> 24) == 127 || (h >> 24) == 0 || (h >> 28) == 0xe || h == 0xffffffffu)
        return true; /* loopback, "this host", multicast, broadcast */
    for (int i = 0; i < nhost4; i++)
        if (host4[i].s_addr == a.s_addr)
            return true;
    return false;
}

static bool host_v6(const struct in6_addr *a)
{
    static const uint8_t zero12[12];
    if (!memcmp(a->s6_addr, zero12, 12))
        return true; /* ::, ::1 and the IPv4-compatible ::a.b.c.d */
    if (IN6_IS_ADDR_V4MAPPED(a)) {
        struct in_addr v4;
        memcpy(&v4, a->s6_addr + 12, 4);
        return host_v4(v4);
    }
    if (a->s6_addr[0] == 0xff)
        return true; /* multicast */
    for (int i = 0; i < nhost6; i++)
        if (!memcmp(&host6[i], a, sizeof(*a)))
            return true;
    return false;
}

int netpolicy_check(const struct sockaddr *sa, socklen_t len, int type)
{
    if (!ready)
        netpolicy_init(false);
    if (is_open || !sa || len < sizeof(sa_family_t))
        return 0;
    type &= 0xf; /* without SOCK_NONBLOCK / SOCK_CLOEXEC */
    switch (sa->sa_family) {
    case AF_INET: {
        if (len < sizeof(struct sockaddr_in))
            return 0; /* the kernel refuses it */
        const struct sockaddr_in *in = (const void *)sa;
        return host_v4(in->sin_addr) && !own_port(type, ntohs(in->sin_port)) ? -EACCES : 0;
    }
    case AF_INET6: {
        if (len < sizeof(struct sockaddr_in6))
            return 0;
        const struct sockaddr_in6 *in = (const void *)sa;
        return host_v6(&in->sin6_addr) && !own_port(type, ntohs(in->sin6_port)) ? -EACCES : 0;
    }
    case AF_UNIX:
        return netpolicy_check_bind(sa, len);
    default:
        return 0;
    }
}

int netpolicy_check_bind(const struct sockaddr *sa, socklen_t len)
{
    if (sa->sa_family != AF_UNIX || len <= sizeof(sa_family_t))
        return 0; /* an empty AF_UNIX address autobinds a fresh name */
    const char *path = ((const struct sockaddr_un *)sa)->sun_path;
    if (path[0] != 0)
        return -EACCES; /* a host path: sys_net.c resolves named sockets through the mount table first */
    return is_open ? 0 : -EACCES;
}

int netpolicy_parse(const char *spec, bool *host_loopback)
{
    *host_loopback = false;
    if (strncmp(spec, "user", 4) || (spec[4] && spec[4] != ','))
        return -EINVAL;
    const char *p = spec + 4;
    while (*p == ',') {
        p++;
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == 16 && !strncmp(p, "host-loopback=on", n))
            *host_loopback = true;
        else if (n == 17 && !strncmp(p, "host-loopback=off", n))
            *host_loopback = false;
        else
            return -EINVAL;
        p += n;
    }
    return 0;
}
