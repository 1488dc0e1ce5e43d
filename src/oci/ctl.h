/*
 * The control socket of a process VM (ctl_req.h has the wire format): the
 * supervisor's listening side (`kiln exec --control-socket PATH`) and
 * kiln-runc's connecting side. Paths longer than sun_path are reached
 * through their directory (bind/connect of the base name after fchdir).
 */
#ifndef KILN_OCI_CTL_H
#define KILN_OCI_CTL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "oci/ctl_req.h"

#define CTL_MAX_FDS 4

/* Binds and listens at path (mode 0600, a stale socket replaced). The fd, or -errno. */
int ctl_listen(const char *path);
/* Accepts one connection, non-blocking, from uid 0 or owner only (SO_PEERCRED). fd or -errno. */
int ctl_accept(int lfd, uid_t owner);
/* Connects to the socket at path. fd or -errno. */
int ctl_connect(const char *path);

/*
 * Receives one message (at most cap bytes) and up to CTL_MAX_FDS descriptors.
 * Bytes received, 0 at end of stream, or -errno. Extra or truncated descriptors
 * are closed and reported as -EMSGSIZE.
 */
ssize_t ctl_recv(int fd, void *buf, size_t cap, int *fds, unsigned *nfds);
/* Sends one message with nfds descriptors. 0 or -errno. */
int ctl_send(int fd, const void *buf, size_t len, const int *fds, unsigned nfds);
/* Sends a struct ctl_msg (msg may be NULL). 0 or -errno. */
int ctl_send_msg(int fd, uint32_t kind, int32_t a, int32_t b, const char *msg);

#endif
