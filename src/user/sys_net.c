/*
 * Process-VM socket system calls (--net only). Addresses, options and
 * message headers are copied between guest memory and host buffers of the
 * size the host kernel uses; socket options come from an allow-list
 * (anything else is ENOPROTOOPT and never reaches the host, so e.g.
 * SO_ATTACH_FILTER cannot make the host kernel read a guest address);
 * control messages are refused, so no host descriptor ever travels. Where
 * a socket may connect or send is netpolicy.h's decision; named AF_UNIX
 * addresses are guest paths, resolved through the mount table.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "user/netpolicy.h"
#include "user/sys.h"

static int sock_type(int fd);

/* riscv64 (LP64) struct msghdr: name, namelen (+pad), iov, iovlen, control, controllen, flags (+pad). */
#define RV_MSGHDR_SIZE 56
#define RV_MMSGHDR_SIZE 64

static long get_sockaddr(struct ctx *c, uint64_t va, uint64_t len, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (len > sizeof(*ss))
        return -EINVAL;
    if (len && mm_copy_in(c->mm, ss, va, len))
        return -EFAULT;
    return 0;
}

/* An address for the guest; a named AF_UNIX one is a host path (kiln's), so it comes back unnamed. */
static long put_sockaddr(struct ctx *c, uint64_t va, uint64_t lenva, struct sockaddr_storage *ss, socklen_t len)
{
    uint32_t glen;
    if (!va)
        return 0;
    if (ss->ss_family == AF_UNIX && len > sizeof(sa_family_t) && ((struct sockaddr_un *)ss)->sun_path[0])
        len = sizeof(sa_family_t);
    if (mm_copy_in(c->mm, &glen, lenva, 4))
        return -EFAULT;
    if ((int32_t)glen < 0)
        return -EINVAL;
    if (mm_copy_out(c->mm, va, ss, glen < len ? glen : len) || mm_copy_out(c->mm, lenva, &len, 4))
        return -EFAULT;
    return 0;
}

/*
 * A named AF_UNIX address is a guest path: resolved through the mount table
 * and handed to the host as a /proc/self/fd path kiln built. For bind, the
 * parent directory opened beneath its mount plus the last name (bind never
 * follows a final symlink: EADDRINUSE); otherwise the socket file itself,
 * opened O_PATH without following a final symlink and checked to be a
 * socket, so the host connects to exactly that inode. *hold: the descriptor
 * to close after the call.
 */
static long unix_named(struct ctx *c, struct sockaddr_storage *ss, socklen_t *len, bool bind, int *hold)
{
    struct sockaddr_un *un = (struct sockaddr_un *)ss;
    char name[sizeof(un->sun_path) + 1], cwd[GPATH_MAX], abs[GPATH_MAX];
    if (*len > sizeof(*un))
        return -EINVAL; /* unix(7): addrlen is at most sizeof(struct sockaddr_un) */
    size_t n = *len - offsetof(struct sockaddr_un, sun_path);
    memcpy(name, un->sun_path, n);
    name[n] = 0;
    pthread_mutex_lock(&c->p->lock);
    snprintf(cwd, sizeof(cwd), "%s", c->p->cwd);
    pthread_mutex_unlock(&c->p->lock);
    int r = path_normalize(cwd, name, abs, sizeof(abs));
    if (r)
        return r;
    const char *last = NULL;
    int fd;
    if (bind) {
        fd = mounts_open_parent(&c->p->mounts, abs, true, &last);
    } else {
        fd = mounts_open(&c->p->mounts, abs, O_PATH | O_NOFOLLOW, 0);
        struct stat st;
        if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode))) {
            close(fd);
            return -ECONNREFUSED; /* what connect(2) says for a file that is not a socket */
        }
    }
    if (fd < 0)
        return fd;
    memset(un->sun_path, 0, sizeof(un->sun_path));
    int k = last ? snprintf(un->sun_path, sizeof(un->sun_path), "/proc/self/fd/%d/%s", fd, last)
                 : snprintf(un->sun_path, sizeof(un->sun_path), "/proc/self/fd/%d", fd);
    if (k < 0 || (size_t)k >= sizeof(un->sun_path)) {
        close(fd);
        return -ENAMETOOLONG;
    }
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)k + 1);
    *hold = fd;
    return 0;
}

enum addr_use { ADDR_CONNECT, ADDR_BIND };

/*
 * A destination or local address from the guest, checked (netpolicy.h) and
 * translated for the host. *len is updated; *hold gets a descriptor to close
 * after the call, or stays -1.
 */
static long guest_addr(struct ctx *c, int fd, uint64_t va, socklen_t *len, struct sockaddr_storage *ss,
                       enum addr_use use, int *hold)
{
    *hold = -1;
    long r = get_sockaddr(c, va, *len, ss);
    if (r)
        return r;
    if (ss->ss_family == AF_UNIX && *len > offsetof(struct sockaddr_un, sun_path) &&
        ((struct sockaddr_un *)ss)->sun_path[0])
        return unix_named(c, ss, len, use == ADDR_BIND, hold);
    return use == ADDR_BIND ? netpolicy_check_bind((struct sockaddr *)ss, *len)
                            : netpolicy_check((struct sockaddr *)ss, *len, sock_type(fd));
}

static void release(int hold)
{
    if (hold >= 0)
        close(hold);
}

static int sock_type(int fd)
{
    int type = 0;
    socklen_t l = sizeof(type);
    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l);
    return type;
}

/* ---- socket options: allow-list with per-option translation ---- */

enum opt_kind { OPT_INT, OPT_INT_GET, OPT_LINGER, OPT_TIME };

struct sockopt {
    int level, name;
    enum opt_kind kind;
};

/* asm-generic socket.h numbers: riscv64 and x86-64 share them. */
static const struct sockopt sockopts[] = {
    {SOL_SOCKET, SO_REUSEADDR, OPT_INT},
    {SOL_SOCKET, SO_REUSEPORT, OPT_INT},
    {SOL_SOCKET, SO_KEEPALIVE, OPT_INT},
    {SOL_SOCKET, SO_BROADCAST, OPT_INT},
    {SOL_SOCKET, SO_RCVBUF, OPT_INT},
    {SOL_SOCKET, SO_SNDBUF, OPT_INT},
    {SOL_SOCKET, SO_OOBINLINE, OPT_INT},
    {SOL_SOCKET, SO_RCVLOWAT, OPT_INT},
    {SOL_SOCKET, SO_PRIORITY, OPT_INT},
    {SOL_SOCKET, SO_ERROR, OPT_INT_GET},
    {SOL_SOCKET, SO_TYPE, OPT_INT_GET},
    {SOL_SOCKET, SO_DOMAIN, OPT_INT_GET},
    {SOL_SOCKET, SO_PROTOCOL, OPT_INT_GET},
    {SOL_SOCKET, SO_ACCEPTCONN, OPT_INT_GET},
    {SOL_SOCKET, SO_LINGER, OPT_LINGER},
    {SOL_SOCKET, 20 /* SO_RCVTIMEO_OLD */, OPT_TIME},
    {SOL_SOCKET, 21 /* SO_SNDTIMEO_OLD */, OPT_TIME},
    {SOL_SOCKET, 66 /* SO_RCVTIMEO_NEW */, OPT_TIME},
    {SOL_SOCKET, 67 /* SO_SNDTIMEO_NEW */, OPT_TIME},
    {IPPROTO_TCP, TCP_NODELAY, OPT_INT},
    {IPPROTO_TCP, TCP_MAXSEG, OPT_INT},
    {IPPROTO_TCP, TCP_CORK, OPT_INT},
    {IPPROTO_TCP, TCP_KEEPIDLE, OPT_INT},
    {IPPROTO_TCP, TCP_KEEPINTVL, OPT_INT},
    {IPPROTO_TCP, TCP_KEEPCNT, OPT_INT},
    {IPPROTO_TCP, TCP_QUICKACK, OPT_INT},
    {IPPROTO_TCP, TCP_USER_TIMEOUT, OPT_INT},
    {IPPROTO_IP, IP_TOS, OPT_INT},
    {IPPROTO_IP, IP_TTL, OPT_INT},
    {IPPROTO_IP, IP_MTU_DISCOVER, OPT_INT},
    {IPPROTO_IPV6, IPV6_V6ONLY, OPT_INT},
    {IPPROTO_IPV6, IPV6_UNICAST_HOPS, OPT_INT},
    {IPPROTO_IPV6, IPV6_TCLASS, OPT_INT},
};

static size_t opt_size(enum opt_kind k)
{
    return k == OPT_LINGER ? sizeof(struct linger) : k == OPT_TIME ? 16 : sizeof(int);
}

static const struct sockopt *find_opt(struct ctx *c, int level, int name)
{
    for (size_t i = 0; i < sizeof(sockopts) / sizeof(sockopts[0]); i++)
        if (sockopts[i].level == level && sockopts[i].name == name) {
            /* Sharing a port with a host service is a way to the host: only when it is open. */
            if (name == SO_REUSEPORT && level == SOL_SOCKET && !c->p->cfg.net_host_loopback)
                return NULL;
            return &sockopts[i];
        }
    return NULL;
}

static long do_setsockopt(struct ctx *c, int fd)
{
    const struct sockopt *o = find_opt(c, (int)c->a[1], (int)c->a[2]);
    if (!o || o->kind == OPT_INT_GET)
        return -ENOPROTOOPT;
    uint8_t v[16];
    size_t n = opt_size(o->kind);
    if ((uint32_t)c->a[4] < n)
        return -EINVAL;
    if (mm_copy_in(c->mm, v, c->a[3], n))
        return -EFAULT;
    return sys_ret(setsockopt(fd, o->level, o->name, v, (socklen_t)n));
}

static long do_getsockopt(struct ctx *c, int fd)
{
    const struct sockopt *o = find_opt(c, (int)c->a[1], (int)c->a[2]);
    if (!o)
        return -ENOPROTOOPT;
    int32_t glen;
    if (mm_copy_in(c->mm, &glen, c->a[4], 4))
        return -EFAULT;
    if (glen < 0)
        return -EINVAL;
    uint8_t v[16] = {0};
    socklen_t hl = (socklen_t)opt_size(o->kind);
    long r = sys_ret(getsockopt(fd, o->level, o->name, v, &hl));
    if (r)
        return r;
    uint32_t out = (uint32_t)glen < hl ? (uint32_t)glen : hl;
    if (mm_copy_out(c->mm, c->a[3], v, out) || mm_copy_out(c->mm, c->a[4], &out, 4))
        return -EFAULT;
    return 0;
}

/* ---- messages ---- */

struct rv_msghdr {
    uint64_t name;
    uint32_t namelen, pad0;
    uint64_t iov, iovlen, control, controllen;
    int32_t flags, pad1;
};

static long guest_iovs(struct ctx *c, uint64_t giov, uint64_t cnt, enum mm_access acc, struct iovec *iov, int *n)
{
    if (cnt > 1024)
        return -EMSGSIZE;
    for (uint64_t i = 0; i < cnt && *n < IOV_PAGES; i++) {
        uint64_t e[2];
        if (mm_copy_in(c->mm, e, giov + 16 * i, 16))
            return -EFAULT;
        long r = sys_iov(c, e[0], e[1], acc, iov, n, IOV_PAGES);
        if (r < 0)
            return r;
    }
    return 0;
}

/* One sendmsg/recvmsg with the guest's msghdr at va; the header is updated for recvmsg. */
static long msg_io(struct ctx *c, int fd, uint64_t va, int flags, bool send)
{
    struct rv_msghdr g;
    if (mm_copy_in(c->mm, &g, va, sizeof(g)))
        return -EFAULT;
    if (send && g.controllen)
        return -EINVAL; /* control messages (SCM_RIGHTS, credentials) are not passed */
    struct iovec *iov = malloc(IOV_PAGES * sizeof(*iov));
    if (!iov)
        return -ENOMEM;
    int n = 0;
    long r = guest_iovs(c, g.iov, g.iovlen, send ? MM_READ : MM_WRITE, iov, &n);
    struct sockaddr_storage ss;
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
    int hold = -1;
    if (!r && g.name) {
        if (send) {
            socklen_t nl = g.namelen;
            r = guest_addr(c, fd, g.name, &nl, &ss, ADDR_CONNECT, &hold);
            mh.msg_namelen = nl;
        } else {
            memset(&ss, 0, sizeof(ss));
            mh.msg_namelen = sizeof(ss);
        }
        mh.msg_name = &ss;
    }
    if (!r)
        r = sys_ret(send ? sendmsg(fd, &mh, flags | MSG_NOSIGNAL) : recvmsg(fd, &mh, flags & ~MSG_CMSG_CLOEXEC));
    release(hold);
    free(iov);
    if (r == -EPIPE && send && !(flags & MSG_NOSIGNAL))
        proc_send_signal(c->p, c->t->tid, SIGPIPE);
    if (r < 0 || send)
        return r;
    if (g.name) {
        if (ss.ss_family == AF_UNIX && mh.msg_namelen > sizeof(sa_family_t) && ((struct sockaddr_un *)&ss)->sun_path[0])
            mh.msg_namelen = sizeof(sa_family_t); /* a host path: unnamed to the guest */
        uint32_t l = mh.msg_namelen < g.namelen ? mh.msg_namelen : g.namelen;
        if (mm_copy_out(c->mm, g.name, &ss, l))
            return -EFAULT;
        g.namelen = mh.msg_namelen;
    }
    g.controllen = 0;
    g.flags = mh.msg_flags;
    if (mm_copy_out(c->mm, va, &g, sizeof(g)))
        return -EFAULT;
    return r;
}

/* sendmmsg/recvmmsg as a loop of single messages (the timeout of recvmmsg is not applied). */
static long mmsg_io(struct ctx *c, int fd, bool send)
{
    uint64_t vec = c->a[1];
    unsigned vlen = (unsigned)c->a[2] > 1024 ? 1024 : (unsigned)c->a[2];
    int flags = (int)c->a[3];
    long done = 0;
    for (unsigned i = 0; i < vlen && !c->t->exited; i++) { /* an execve elsewhere ends the loop */
        long r = msg_io(c, fd, vec + (uint64_t)i * RV_MMSGHDR_SIZE, flags, send);
        if (r < 0)
            return done ? done : r;
        uint32_t len = (uint32_t)r;
        if (mm_copy_out(c->mm, vec + (uint64_t)i * RV_MMSGHDR_SIZE + RV_MSGHDR_SIZE, &len, 4))
            return done ? done : -EFAULT;
        done++;
        if (!send && (flags & MSG_WAITFORONE))
            flags |= MSG_DONTWAIT;
    }
    return done;
}

static long do_sendto(struct ctx *c, int fd, bool send)
{
    struct iovec iov[IOV_PAGES];
    int n = 0;
    struct sockaddr_storage ss;
    long r = sys_iov(c, c->a[1], c->a[2], send ? MM_READ : MM_WRITE, iov, &n, IOV_PAGES);
    if (r < 0)
        return r;
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
    int hold = -1;
    if (send && c->a[4]) {
        socklen_t nl = c->a[5] > sizeof(ss) ? sizeof(ss) + 1 : (socklen_t)c->a[5];
        r = guest_addr(c, fd, c->a[4], &nl, &ss, ADDR_CONNECT, &hold);
        if (r)
            return r;
        mh.msg_name = &ss;
        mh.msg_namelen = nl;
    } else if (!send && c->a[4]) {
        mh.msg_name = &ss;
        mh.msg_namelen = sizeof(ss);
    }
    int flags = (int)c->a[3];
    r = sys_ret(send ? sendmsg(fd, &mh, flags | MSG_NOSIGNAL) : recvmsg(fd, &mh, flags));
    release(hold);
    if (r == -EPIPE && send && !(flags & MSG_NOSIGNAL))
        proc_send_signal(c->p, c->t->tid, SIGPIPE);
    if (r >= 0 && !send && c->a[4] && put_sockaddr(c, c->a[4], c->a[5], &ss, mh.msg_namelen))
        return -EFAULT;
    return r;
}

static long do_socket(struct ctx *c, int nr)
{
    int dom = (int)c->a[0], type = (int)c->a[1];
    if (dom != AF_INET && dom != AF_INET6 && dom != AF_UNIX)
        return -EAFNOSUPPORT;
    int base = type & ~(SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (base != SOCK_STREAM && base != SOCK_DGRAM && base != SOCK_SEQPACKET)
        return -EACCES; /* no raw or packet sockets, whatever kiln's privileges */
    bool cloexec = type & SOCK_CLOEXEC;
    type |= SOCK_CLOEXEC;
    if (nr == RV_NR_socket)
        return sys_fd_new(c->p, (int)sys_ret(socket(dom, type, (int)c->a[2])), FD_SOCKET, false, NULL, cloexec);
    int sv[2];
    if (socketpair(dom, type, (int)c->a[2], sv) < 0)
        return -errno;
    int32_t g[2];
    g[0] = (int32_t)sys_fd_new(c->p, sv[0], FD_SOCKET, false, NULL, cloexec);
    if (g[0] < 0) {
        close(sv[1]);
        return g[0];
    }
    g[1] = (int32_t)sys_fd_new(c->p, sv[1], FD_SOCKET, false, NULL, cloexec);
    if (g[1] < 0 || mm_copy_out(c->mm, c->a[3], g, sizeof(g))) {
        fdtable_close(&c->p->fdt, g[0]);
        if (g[1] >= 0)
            fdtable_close(&c->p->fdt, g[1]);
        return g[1] < 0 ? g[1] : -EFAULT;
    }
    return 0;
}

static long do_net(struct ctx *c, int nr, int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    long r;
    switch (nr) {
    case RV_NR_connect:
    case RV_NR_bind: {
        int hold;
        sl = c->a[2] > sizeof(ss) ? sizeof(ss) + 1 : (socklen_t)c->a[2];
        r = guest_addr(c, fd, c->a[1], &sl, &ss, nr == RV_NR_bind ? ADDR_BIND : ADDR_CONNECT, &hold);
        if (r)
            return r;
        r = sys_ret(nr == RV_NR_connect ? connect(fd, (void *)&ss, sl) : bind(fd, (void *)&ss, sl));
        release(hold);
        if (r == 0 && nr == RV_NR_bind)
            netpolicy_bound(fd);
        return r;
    }
    case RV_NR_listen:
        r = sys_ret(listen(fd, (int)c->a[1]));
        if (r == 0)
            netpolicy_bound(fd); /* listen on an unbound socket picks a port */
        return r;
    case RV_NR_shutdown:
        return sys_ret(shutdown(fd, (int)c->a[1]));
    case RV_NR_accept:
    case RV_NR_accept4: {
        int flags = nr == RV_NR_accept4 ? (int)c->a[3] : 0;
        if (flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK))
            return -EINVAL;
        r = sys_fd_new(c->p, (int)sys_ret(accept4(fd, (void *)&ss, &sl, flags | SOCK_CLOEXEC)), FD_SOCKET, false,
                       NULL, flags & SOCK_CLOEXEC);
        if (r >= 0 && put_sockaddr(c, c->a[1], c->a[2], &ss, sl))
            return -EFAULT;
        return r;
    }
    case RV_NR_getsockname:
    case RV_NR_getpeername:
        r = sys_ret(nr == RV_NR_getsockname ? getsockname(fd, (void *)&ss, &sl) : getpeername(fd, (void *)&ss, &sl));
        return r < 0 ? r : put_sockaddr(c, c->a[1], c->a[2], &ss, sl);
    case RV_NR_setsockopt: return do_setsockopt(c, fd);
    case RV_NR_getsockopt: return do_getsockopt(c, fd);
    case RV_NR_sendto: return do_sendto(c, fd, true);
    case RV_NR_recvfrom: return do_sendto(c, fd, false);
    case RV_NR_sendmsg: return msg_io(c, fd, c->a[1], (int)c->a[2], true);
    case RV_NR_recvmsg: return msg_io(c, fd, c->a[1], (int)c->a[2], false);
    case RV_NR_sendmmsg: return mmsg_io(c, fd, true);
    default: return mmsg_io(c, fd, false); /* recvmmsg */
    }
}

/* Socket system calls; SYS_UNHANDLED for numbers that are not this file's. */
long sys_net(struct ctx *c, unsigned nr)
{
    switch (nr) {
    case RV_NR_socket: case RV_NR_socketpair: case RV_NR_connect: case RV_NR_bind:
    case RV_NR_listen: case RV_NR_accept: case RV_NR_accept4: case RV_NR_sendto:
    case RV_NR_recvfrom: case RV_NR_setsockopt: case RV_NR_getsockopt: case RV_NR_getsockname:
    case RV_NR_getpeername: case RV_NR_shutdown: case RV_NR_sendmsg: case RV_NR_recvmsg:
    case RV_NR_sendmmsg: case RV_NR_recvmmsg:
        break;
    default:
        return SYS_UNHANDLED;
    }
    if (!c->p->cfg.net)
        return -EACCES;
    if (nr == RV_NR_socket || nr == RV_NR_socketpair)
        return do_socket(c, (int)nr);
    struct fdfile *f = sys_file(c->p, (int64_t)c->a[0]);
    if (!f)
        return -EBADF;
    long r = f->kind == FD_SOCKET || f->kind == FD_OTHER ? do_net(c, (int)nr, f->host) : -ENOTSOCK;
    fdfile_put(f);
    return r;
}
