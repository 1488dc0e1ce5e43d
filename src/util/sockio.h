/* Small socket helpers shared by the CLI, the daemon and the web gateway. */
#ifndef KILN_UTIL_SOCKIO_H
#define KILN_UTIL_SOCKIO_H

#include <stddef.h>

/* A connected SOCK_STREAM Unix socket (close-on-exec) to path, or -errno. */
int sock_connect_unix(const char *path);
/*
 * Sends all of buf, retrying on EINTR and short writes. MSG_NOSIGNAL: a peer
 * that hung up is -EPIPE, never a SIGPIPE. 0 or -errno.
 */
int sock_send_all(int fd, const void *buf, size_t len);

#endif
