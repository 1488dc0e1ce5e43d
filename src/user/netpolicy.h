/*
 * What a process VM's sockets may reach (kiln exec --net). The guest shares
 * the host's network stack, so by default ("closed") it must not reach the
 * host itself: no connection or datagram to loopback (127.0.0.0/8, ::1,
 * ::ffff:127.0.0.0/104), the unspecified addresses (0.0.0.0/8, ::, which
 * mean "this host"), multicast and broadcast (delivered to local listeners
 * too), or any address of the host's own interfaces (read once at start);
 * and no abstract AF_UNIX names (host services listen there). Ports the
 * process VM itself bound (without SO_REUSEPORT, or SO_REUSEADDR on
 * datagram sockets, which would let it share a host service's port) stay
 * reachable on the host's addresses, so a program can talk to itself.
 * `--net user,host-loopback=on` turns all of this off.
 */
#ifndef KILN_USER_NETPOLICY_H
#define KILN_USER_NETPOLICY_H

#include <stdbool.h>
#include <sys/socket.h>

/* Reads the host's interface addresses; open: host-loopback=on. 0 or -errno. Call once at start. */
int netpolicy_init(bool open);
/* May a socket of type (SOCK_STREAM, SOCK_DGRAM...) send to or connect to sa? 0 or -EACCES. */
int netpolicy_check(const struct sockaddr *sa, socklen_t len, int type);
/* May the guest bind sa (AF_UNIX abstract names are refused when closed)? 0 or -EACCES. */
int netpolicy_check_bind(const struct sockaddr *sa, socklen_t len);
/* After a successful bind/listen: remembers the socket's own port as the process VM's. */
void netpolicy_bound(int hostfd);
/* Parses a --net value: "user" or "user,host-loopback=on|off". 0 or -EINVAL. */
int netpolicy_parse(const char *spec, bool *host_loopback);

#endif
