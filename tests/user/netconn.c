/*
 * Tries to reach the host from a process VM: TCP to port argv[1] on every
 * spelling of "this host" (loopback, 0.0.0.0, IPv4-mapped, ::1, and
 * argv[2], one of the host's own addresses, if given), a UDP datagram to
 * 127.0.0.1, and finally a listener of its own on 127.0.0.1, which stays
 * reachable. Prints one line per attempt.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int port;

static void try_tcp(const char *addr)
{
    struct sockaddr_storage ss = {0};
    socklen_t len;
    if (strchr(addr, ':')) {
        struct sockaddr_in6 *a = (void *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        inet_pton(AF_INET6, addr, &a->sin6_addr);
        len = sizeof(*a);
    } else {
        struct sockaddr_in *a = (void *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        inet_pton(AF_INET, addr, &a->sin_addr);
        len = sizeof(*a);
    }
    int s = socket(ss.ss_family, SOCK_STREAM, 0);
    int r = connect(s, (struct sockaddr *)&ss, len);
    printf("tcp %s: %s\n", addr, r ? strerror(errno) : "OK");
    close(s);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 2)
        return 2;
    port = atoi(argv[1]);
    try_tcp("127.0.0.1");
    try_tcp("127.9.9.9");
    try_tcp("0.0.0.0");
    try_tcp("::ffff:127.0.0.1");
    try_tcp("::1");
    try_tcp("::");
    if (argc > 2)
        try_tcp(argv[2]);
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    long r = sendto(u, "ping", 4, 0, (struct sockaddr *)&a, sizeof(a));
    printf("udp 127.0.0.1: %s\n", r < 0 ? strerror(errno) : "OK");
    r = connect(u, (struct sockaddr *)&a, sizeof(a));
    printf("udp connect 127.0.0.1: %s\n", r < 0 ? strerror(errno) : "OK");

    /* Its own listener. */
    int l = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in me = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &me.sin_addr);
    socklen_t ml = sizeof(me);
    if (bind(l, (struct sockaddr *)&me, sizeof(me)) || listen(l, 1) || getsockname(l, (struct sockaddr *)&me, &ml))
        perror("own listener");
    int c = socket(AF_INET, SOCK_STREAM, 0);
    r = connect(c, (struct sockaddr *)&me, sizeof(me));
    printf("own listener: %s\n", r ? strerror(errno) : "OK");
    int acc = accept(l, NULL, NULL);
    if (r == 0 && acc >= 0 && write(c, "hi", 2) == 2) {
        char b[3] = {0};
        printf("own listener read: %zd %s\n", read(acc, b, 2), b);
    }
    return 0;
}
