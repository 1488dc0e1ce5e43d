/* The control socket's two ends (ctl.h): unix(7) SOCK_SEQPACKET with SCM_RIGHTS. */
#define _GNU_SOURCE
#include "oci/ctl.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Runs bind or connect on path; a long path through its directory (fchdir, then the base name). */
static int ctl_addr_op(int fd, const char *path, bool do_bind)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    const char *name = path;
    int here = -1, rc = 0;
    if (strlen(path) >= sizeof(a.sun_path)) {
        const char *slash = strrchr(path, '/');
        if (!slash || strlen(slash + 1) >= sizeof(a.sun_path))
            return -ENAMETOOLONG;
        char dir[4096];
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
        here = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (here < 0 || chdir(dir[0] ? dir : "/")) {
            rc = -errno;
            if (here >= 0)
                close(here);
            return rc;
        }
        name = slash + 1;
    }
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", name);
    if (do_bind) {
        unlink(name); /* a socket left by an earlier run of the same container id */
        mode_t old = umask(0177); /* srw------- */
        rc = bind(fd, (struct sockaddr *)&a, sizeof(a)) ? -errno : 0;
        umask(old);
    } else {
        rc = connect(fd, (struct sockaddr *)&a, sizeof(a)) ? -errno : 0;
    }
    if (here >= 0) {
        if (fchdir(here) && !rc)
            rc = -errno;
        close(here);
    }
    return rc;
}

int ctl_listen(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    int rc = ctl_addr_op(fd, path, true);
    if (!rc && listen(fd, 8))
        rc = -errno;
    if (rc) {
        close(fd);
        return rc;
    }
    return fd;
}

int ctl_accept(int lfd, uid_t owner)
{
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return -errno;
    struct ucred cr;
    socklen_t l = sizeof(cr);
    /* The socket file is 0600 already; the peer's credentials say the same in the kernel's words. */
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &l) || (cr.uid != 0 && cr.uid != owner)) {
        close(fd);
        return -EPERM;
    }
    return fd;
}

int ctl_connect(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int rc = ctl_addr_op(fd, path, false);
    if (rc) {
        close(fd);
        return rc;
    }
    return fd;
}

ssize_t ctl_recv(int fd, void *buf, size_t cap, int *fds, unsigned *nfds)
{
    union {
        char b[CMSG_SPACE(sizeof(int) * CTL_MAX_FDS)];
        struct cmsghdr align;
    } u;
    memset(&u, 0, sizeof(u));
    struct iovec iov = {.iov_base = buf, .iov_len = cap};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
                       .msg_controllen = sizeof(u.b)};
    *nfds = 0;
    ssize_t n = recvmsg(fd, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0)
        return -errno;
    bool bad = (m.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) != 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int d;
            memcpy(&d, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (*nfds < CTL_MAX_FDS && !bad)
                fds[(*nfds)++] = d;
            else {
                close(d);
                bad = true;
            }
        }
    }
    if (bad) {
        for (unsigned i = 0; i < *nfds; i++)
            close(fds[i]);
        *nfds = 0;
        return -EMSGSIZE;
    }
    return n;
}

int ctl_send(int fd, const void *buf, size_t len, const int *fds, unsigned nfds)
{
    union {
        char b[CMSG_SPACE(sizeof(int) * CTL_MAX_FDS)];
        struct cmsghdr align;
    } u;
    if (nfds > CTL_MAX_FDS)
        return -EINVAL;
    memset(&u, 0, sizeof(u));
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds) {
        m.msg_control = u.b;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    ssize_t n;
    while ((n = sendmsg(fd, &m, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    return n < 0 ? -errno : 0;
}

int ctl_send_msg(int fd, uint32_t kind, int32_t a, int32_t b, const char *msg)
{
    struct ctl_msg m;
    memset(&m, 0, sizeof(m));
    m.magic = CTL_MAGIC;
    m.kind = kind;
    m.a = a;
    m.b = b;
    if (msg)
        snprintf(m.msg, sizeof(m.msg), "%s", msg);
    return ctl_send(fd, &m, sizeof(m), NULL, 0);
}
