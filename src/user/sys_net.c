/*
 * Process-VM socket system calls (--net only).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <sys/times.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "user/sys.h"

/* ---- network (--net only) ---- */

static long copy_sockaddr(struct ctx *c, uint64_t va, uint64_t len, struct sockaddr_storage *ss)
{
    if (len > sizeof(*ss))
        return -EINVAL;
    if (mm_copy_in(c->mm, ss, va, len))
        return -EFAULT;
    /* Named AF_UNIX sockets are host paths: only abstract ones, which reach no file. */
    if (ss->ss_family == AF_UNIX && len > 2 && ((char *)ss)[2] != 0)
        return -EACCES;
    return 0;
}

static long put_sockaddr(struct ctx *c, uint64_t va, uint64_t lenva, struct sockaddr_storage *ss, socklen_t len)
{
    uint32_t glen;
    if (!va)
        return 0;
    if (mm_copy_in(c->mm, &glen, lenva, 4))
        return -EFAULT;
    if (mm_copy_out(c->mm, va, ss, glen < len ? glen : len) || mm_copy_out(c->mm, lenva, &len, 4))
        return -EFAULT;
    return 0;
}

static long do_net(struct ctx *c, int nr)
{
    if (!c->p->cfg.net)
        return -EACCES;
    if (nr == RV_NR_socket || nr == RV_NR_socketpair) {
        int dom = (int)c->a[0];
        if (dom != AF_INET && dom != AF_INET6 && dom != AF_UNIX)
            return -EAFNOSUPPORT;
        if (nr == RV_NR_socket)
            return sys_fd_new(c->p, (int)sys_ret(socket(dom, (int)c->a[1], (int)c->a[2])), NULL);
        int sv[2];
        if (socketpair(dom, (int)c->a[1], (int)c->a[2], sv) < 0)
            return -errno;
        if (sv[0] >= PROC_FD_MAX || sv[1] >= PROC_FD_MAX || mm_copy_out(c->mm, c->a[3], sv, 8)) {
            close(sv[0]);
            close(sv[1]);
            return -EFAULT;
        }
        sys_fd_new(c->p, sv[0], NULL);
        sys_fd_new(c->p, sv[1], NULL);
        return 0;
    }
    int fd = sys_fd(c->p, (int64_t)c->a[0]);
    if (fd < 0)
        return fd;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    long r;
    switch (nr) {
    case RV_NR_connect:
    case RV_NR_bind:
        r = copy_sockaddr(c, c->a[1], c->a[2], &ss);
        if (r)
            return r;
        return nr == RV_NR_connect ? sys_ret(connect(fd, (void *)&ss, (socklen_t)c->a[2]))
                                   : sys_ret(bind(fd, (void *)&ss, (socklen_t)c->a[2]));
    case RV_NR_listen:
        return sys_ret(listen(fd, (int)c->a[1]));
    case RV_NR_shutdown:
        return sys_ret(shutdown(fd, (int)c->a[1]));
    case RV_NR_accept:
    case RV_NR_accept4:
        r = sys_fd_new(c->p, (int)sys_ret(accept4(fd, (void *)&ss, &sl, nr == RV_NR_accept4 ? (int)c->a[3] : 0)), NULL);
        if (r >= 0 && put_sockaddr(c, c->a[1], c->a[2], &ss, sl))
            return -EFAULT;
        return r;
    case RV_NR_getsockname:
    case RV_NR_getpeername:
        r = sys_ret(nr == RV_NR_getsockname ? getsockname(fd, (void *)&ss, &sl) : getpeername(fd, (void *)&ss, &sl));
        return r < 0 ? r : put_sockaddr(c, c->a[1], c->a[2], &ss, sl);
    case RV_NR_setsockopt: {
        uint8_t v[256];
        if (c->a[4] > sizeof(v) || mm_copy_in(c->mm, v, c->a[3], c->a[4]))
            return -EFAULT;
        return sys_ret(setsockopt(fd, (int)c->a[1], (int)c->a[2], v, (socklen_t)c->a[4]));
    }
    case RV_NR_getsockopt: {
        uint8_t v[256];
        uint32_t len;
        if (mm_copy_in(c->mm, &len, c->a[4], 4))
            return -EFAULT;
        socklen_t hl = len < sizeof(v) ? len : sizeof(v);
        r = sys_ret(getsockopt(fd, (int)c->a[1], (int)c->a[2], v, &hl));
        if (r == 0 && (mm_copy_out(c->mm, c->a[3], v, hl) || mm_copy_out(c->mm, c->a[4], &hl, 4)))
            return -EFAULT;
        return r;
    }
    case RV_NR_sendto:
    case RV_NR_recvfrom: {
        bool send = nr == RV_NR_sendto;
        struct iovec iov[IOV_PAGES];
        int n = 0;
        r = sys_iov(c, c->a[1], c->a[2], send ? MM_READ : MM_WRITE, iov, &n, IOV_PAGES);
        if (r < 0)
            return r;
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        if (send && c->a[4]) {
            r = copy_sockaddr(c, c->a[4], c->a[5], &ss);
            if (r)
                return r;
            mh.msg_name = &ss;
            mh.msg_namelen = (socklen_t)c->a[5];
        } else if (!send && c->a[4]) {
            mh.msg_name = &ss;
            mh.msg_namelen = sizeof(ss);
        }
        r = sys_ret(send ? sendmsg(fd, &mh, (int)c->a[3] | MSG_NOSIGNAL) : recvmsg(fd, &mh, (int)c->a[3]));
        if (r >= 0 && !send && c->a[4] && put_sockaddr(c, c->a[4], c->a[5], &ss, mh.msg_namelen))
            return -EFAULT;
        return r;
    }
    default:
        return -ENOSYS;
    }
}

/* Socket system calls; SYS_UNHANDLED for numbers that are not this file's. */
long sys_net(struct ctx *c, unsigned nr)
{
    struct proc *p = c->p;
    uint64_t *a = c->a;
    (void)p;
    (void)a;
    switch (nr) {
    case RV_NR_socket: case RV_NR_socketpair: case RV_NR_connect: case RV_NR_bind:
    case RV_NR_listen: case RV_NR_accept: case RV_NR_accept4: case RV_NR_sendto:
    case RV_NR_recvfrom: case RV_NR_setsockopt: case RV_NR_getsockopt: case RV_NR_getsockname:
    case RV_NR_getpeername: case RV_NR_shutdown:
        return do_net(c, (int)nr);
    default:
        return SYS_UNHANDLED;
    }
}
