/*
 * The web gateway's request checks (docs/web.md), kept apart from its sockets
 * so they are unit-tested: Host against DNS rebinding, Origin against CSRF and
 * cross-site WebSockets, the session cookie, and constant-time token compares.
 */
#ifndef KILN_API_WEBAUTH_H
#define KILN_API_WEBAUTH_H

#include <stdbool.h>
#include <stddef.h>

#define WEBAUTH_TOKEN_LEN 64 /* hex of 32 random bytes */
#define WEBAUTH_COOKIE "kiln_session"

/*
 * Is `host` (the Host header) one this gateway answers to? Only the listen
 * address itself or `localhost`, with the listen port (RFC 9110 §7.2): a page
 * of another site whose name was rebound to 127.0.0.1 sends its own name.
 */
bool webauth_host_ok(const char *host, const char *listen_addr, unsigned port);

/* Is `origin` (the Origin header, RFC 6454 §7) this gateway's own, "http://" + host? */
bool webauth_origin_ok(const char *origin, const char *host);

/* Value of cookie `name` in a Cookie header (RFC 6265 §5.4). 0, -ENOENT or -E2BIG. */
int webauth_cookie_get(const char *header, const char *name, char *out, size_t outlen);

/* Constant-time equality of two NUL-terminated secrets (time depends on lengths only). */
bool webauth_secret_equal(const char *a, const char *b);

/* A new secret: WEBAUTH_TOKEN_LEN lowercase hex characters from getrandom(2). 0 or -errno. */
int webauth_secret_new(char out[WEBAUTH_TOKEN_LEN + 1]);

#endif
