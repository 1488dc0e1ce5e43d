/*
 * Named AF_UNIX sockets are guest paths: argv[1] is a writable mapping
 * (holding "evil", a symlink to a host socket outside every mapping),
 * argv[2] a read-only one (holding "host.sock", a socket served on the host).
 * Binds and connects through the mappings work; the symlink, the read-only
 * mapping and paths outside the mappings do not lead anywhere.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static socklen_t addr(struct sockaddr_un *a, const char *dir, const char *name)
{
    memset(a, 0, sizeof(*a));
    a->sun_family = AF_UNIX;
    snprintf(a->sun_path, sizeof(a->sun_path), "%s%s%s", dir, dir[0] ? "/" : "", name);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(a->sun_path) + 1);
}

static void show(const char *what, long r)
{
    printf("%s: %s\n", what, r < 0 ? strerror(errno) : "OK");
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 3)
        return 2;
    const char *w = argv[1], *ro = argv[2];
    struct sockaddr_un a;
    socklen_t l;

    int srv = socket(AF_UNIX, SOCK_STREAM, 0);
    l = addr(&a, w, "s.sock");
    show("bind in mapping", bind(srv, (struct sockaddr *)&a, l));
    show("listen", listen(srv, 4));
    int cl = socket(AF_UNIX, SOCK_STREAM, 0);
    show("connect in mapping", connect(cl, (struct sockaddr *)&a, l));
    int acc = accept(srv, NULL, NULL);
    char buf[8] = {0};
    if (write(cl, "hi", 2) == 2 && read(acc, buf, 2) == 2)
        printf("exchange: %s\n", buf);
    struct sockaddr_un back;
    socklen_t bl = sizeof(back);
    getsockname(srv, (struct sockaddr *)&back, &bl);
    printf("getsockname: family %d len %u\n", back.sun_family, bl);
    if (chdir(w) == 0) {
        int rel = socket(AF_UNIX, SOCK_STREAM, 0);
        l = addr(&a, "", "s.sock");
        show("connect relative", connect(rel, (struct sockaddr *)&a, l));
    }

    int ds = socket(AF_UNIX, SOCK_DGRAM, 0), dc = socket(AF_UNIX, SOCK_DGRAM, 0);
    l = addr(&a, w, "d.sock");
    show("bind datagram", bind(ds, (struct sockaddr *)&a, l));
    show("sendto datagram", sendto(dc, "dg", 2, 0, (struct sockaddr *)&a, l));
    memset(buf, 0, sizeof(buf));
    show("recv datagram", recv(ds, buf, sizeof(buf), 0));
    printf("datagram: %s\n", buf);

    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    l = addr(&a, w, "evil");
    show("connect symlink out", connect(s, (struct sockaddr *)&a, l));
    show("sendto symlink out", sendto(dc, "x", 1, 0, (struct sockaddr *)&a, l));
    show("bind over symlink", bind(s, (struct sockaddr *)&a, l));
    l = addr(&a, ro, "new.sock");
    show("bind read-only", bind(s, (struct sockaddr *)&a, l));
    l = addr(&a, ro, "host.sock");
    int h = socket(AF_UNIX, SOCK_STREAM, 0);
    show("connect mapped host socket", connect(h, (struct sockaddr *)&a, l));
    l = addr(&a, "/tmp/kiln-no-such-dir", "x.sock");
    show("connect outside mappings", connect(s, (struct sockaddr *)&a, l));
    l = addr(&a, w, "../../../../../../tmp/x.sock");
    show("connect dotdot", connect(s, (struct sockaddr *)&a, l));
    return 0;
}
