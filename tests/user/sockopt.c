/*
 * Socket options, ioctls and control messages a guest must not hand to the
 * host: SO_ATTACH_FILTER with a pointer the host kernel would read,
 * SO_GET_FILTER with a length counted in 8-byte units, unknown ioctls,
 * SCM_RIGHTS. Each must be refused; allowed options must still work.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

static void show(const char *what, long r)
{
    printf("%s: %s\n", what, r < 0 ? strerror(errno) : "OK");
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    show("socket", s);
    /* A filter whose instructions point at an address that means nothing on the host. */
    struct sock_fprog prog = {.len = 1, .filter = (struct sock_filter *)0x7fff00001000ull};
    show("SO_ATTACH_FILTER", setsockopt(s, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)));
    char big[4096];
    socklen_t len = 512; /* in filter blocks: 4 KiB wanted from the host kernel */
    show("SO_GET_FILTER", getsockopt(s, SOL_SOCKET, SO_GET_FILTER, big, &len));
    show("SO_ATTACH_BPF", setsockopt(s, SOL_SOCKET, SO_ATTACH_BPF, big, 4));
    show("SO_BINDTODEVICE", setsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, "lo", 3));
    show("SO_PEERCRED", getsockopt(s, SOL_SOCKET, SO_PEERCRED, big, &len));
    int one = 1, v = 0;
    len = sizeof(v);
    show("SO_REUSEADDR set", setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)));
    show("SO_REUSEADDR get", getsockopt(s, SOL_SOCKET, SO_REUSEADDR, &v, &len));
    printf("value %d len %u\n", v, len);
    show("TCP_NODELAY set", setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)));
    len = sizeof(v);
    show("SO_TYPE get", getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &len));
    printf("type %d\n", v);
    show("SO_TYPE set", setsockopt(s, SOL_SOCKET, SO_TYPE, &one, sizeof(one)));
    show("short optlen", setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &one, 2));
    struct linger lg = {1, 5};
    show("SO_LINGER", setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)));
    struct timeval tv = {2, 0};
    show("SO_RCVTIMEO", setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)));
    memset(&tv, 0, sizeof(tv));
    len = sizeof(tv);
    show("SO_RCVTIMEO get", getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, &len));
    printf("timeout %ld\n", (long)tv.tv_sec);

    /* ioctls: an allow-list. */
    show("ioctl SIOCGIFCONF", ioctl(s, SIOCGIFCONF, big));
    show("ioctl TIOCSTI", ioctl(0, TIOCSTI, "x"));
    show("ioctl FIONREAD", ioctl(s, FIONREAD, &v));
    show("ioctl FIOCLEX", ioctl(s, FIOCLEX));

    /* Descriptors never travel in control messages. */
    int sv[2];
    show("socketpair", socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {"x", 1};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &s, sizeof(int));
    show("sendmsg SCM_RIGHTS", sendmsg(sv[0], &mh, 0));
    mh.msg_control = NULL;
    mh.msg_controllen = 0;
    show("sendmsg plain", sendmsg(sv[0], &mh, 0));
    char r = 0;
    iov = (struct iovec){&r, 1};
    mh = (struct msghdr){.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
    show("recvmsg", recvmsg(sv[1], &mh, 0));
    printf("got %c controllen %zu\n", r, (size_t)mh.msg_controllen);

    /* Abstract Unix sockets are the host's. */
    int u = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, "\0kiln-test", 10);
    show("connect abstract", connect(u, (struct sockaddr *)&sa, sizeof(sa_family_t) + 10));
    show("bind abstract", bind(u, (struct sockaddr *)&sa, sizeof(sa_family_t) + 10));
    show("raw socket", socket(AF_INET, SOCK_RAW, IPPROTO_ICMP));
    return 0;
}
