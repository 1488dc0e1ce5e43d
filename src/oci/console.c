/* The container's pseudo-terminal and --console-socket (console.h). */
#define _GNU_SOURCE
#include "oci/console.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

int oci_console_open(int *master, int *slave, unsigned rows, unsigned cols)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0)
        return -errno;
    char name[128];
    if (grantpt(m) || unlockpt(m) || ptsname_r(m, name, sizeof(name))) {
        int e = errno;
        close(m);
        return -e;
    }
    int s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s < 0) {
        int e = errno;
        close(m);
        return -e;
    }
    if (rows && cols) {
        struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
        ioctl(m, TIOCSWINSZ, &ws);
    }
    *master = m;
    *slave = s;
    return 0;
}

int oci_console_send(const char *path, int master)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    strcpy(sa.sun_path, path);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -errno;
    if (connect(s, (struct sockaddr *)&sa, sizeof(sa))) {
        int e = errno;
        close(s);
        return -e;
    }
    char name[128] = "/dev/ptmx";
    ptsname_r(master, name, sizeof(name));
    struct iovec iov = {.iov_base = name, .iov_len = strlen(name)};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } c;
    memset(&c, 0, sizeof(c));
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf,
                         .msg_controllen = sizeof(c.buf)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &master, sizeof(int));
    ssize_t n = sendmsg(s, &msg, MSG_NOSIGNAL);
    int e = n < 0 ? errno : 0;
    close(s);
    return -e;
}

int oci_console_attach(int slave)
{
    if (setsid() < 0 && errno != EPERM)
        return -errno;
    /* tty_ioctl(4) TIOCSCTTY: the session leader takes the terminal as its controlling one. */
    if (ioctl(slave, TIOCSCTTY, 0))
        return -errno;
    for (int fd = 0; fd < 3; fd++)
        if (dup2(slave, fd) < 0)
            return -errno;
    if (slave > 2)
        close(slave);
    return 0;
}
