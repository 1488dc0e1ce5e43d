/*
 * kiln web: the browser-facing gateway to the daemon's API (docs/web.md).
 *
 * A separate process (`kiln web`) that listens on loopback TCP, serves the
 * dashboard's static files, and forwards what an authenticated browser asks
 * to the daemon's owner-only Unix socket: API calls, a Server-Sent Events
 * stream of every VM's metrics, and each VM's console as a WebSocket. The
 * daemon itself never listens on TCP.
 */
#ifndef KILN_DAEMON_WEB_H
#define KILN_DAEMON_WEB_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include "util/sockio.h"

struct web_opts {
    const char *state_dir;   /* the daemon's: kiln.sock and web.token live there */
    const char *listen_addr; /* numeric IPv4/IPv6 address, e.g. "127.0.0.1" */
    unsigned port;           /* 0: any free port (printed) */
    const char *assets;      /* directory with index.html, app.js, xterm.js, ... */
    bool rotate;             /* only write a new token (ends every session), print its URL */
};

/* Serves until SIGTERM/SIGINT. Prints the login URL once on stdout. Returns an exit status. */
int web_main(const struct web_opts *o);

/* ---- shared by web.c and web_console.c ---- */

struct web;

/* Security headers every answer carries (CSP and friends), CRLF-terminated. */
extern const char web_security_headers[];

/* A connected socket to the daemon's API, or -errno. */
int web_daemon_connect(const struct web *w);
/* Sends a complete answer with a JSON {"error": msg} body. */
void web_send_error(int fd, int status, const char *msg);
/*
 * One request to the daemon; the answer's status, body (malloc'd, NUL-terminated)
 * and length. 0 or -errno (the daemon cannot be reached).
 */
int web_daemon_request(const struct web *w, const char *method, const char *target,
                       const char *body, size_t blen, int *status, char **out, size_t *olen);

/* Bridges a WebSocket upgrade request for VM `name` to its console (web_console.c). */
void web_console(const struct web *w, int fd, const char *name, const char *head, size_t hlen,
                 const char *early, size_t elen);

#endif
