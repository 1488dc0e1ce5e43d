/*
 * Strict HTTP/1.1 request parsing for kiln's control API (RFC 9112).
 *
 * The API socket is local and owner-only, but what arrives on it is still
 * untrusted bytes: the parser accepts a deliberately small subset (CRLF line
 * ends, no obs-fold, no Transfer-Encoding, one Content-Length, bounded sizes)
 * and refuses everything else with the status the caller should send.
 * One request per connection: the server always answers "Connection: close".
 */
#ifndef KILN_API_HTTP_H
#define KILN_API_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_MAX_HEAD 8192      /* request line + headers, including the blank line */
#define HTTP_MAX_HEADERS 64
#define HTTP_MAX_BODY (64 << 10)
#define HTTP_MAX_METHOD 15
#define HTTP_MAX_PATH 1023

struct http_request {
    char method[HTTP_MAX_METHOD + 1];
    char path[HTTP_MAX_PATH + 1];  /* target before '?' */
    char query[HTTP_MAX_PATH + 1]; /* after '?', may be empty */
    int minor;                     /* HTTP/1.<minor>: 0 or 1 */
    size_t content_length;
    bool has_content_length;
    bool upgrade;            /* "Connection: upgrade" token present */
    char upgrade_proto[64];  /* Upgrade: header value, "" when absent */
};

/*
 * Parses the head of a request in buf[0..len).
 * Returns the head's length (through the blank line) when complete, 0 when more
 * bytes are needed (and len < HTTP_MAX_HEAD), or a negative HTTP status code
 * (-400, -405, -413, -414, -431, -501, -505) when the request must be refused.
 */
int http_parse_request(const char *buf, size_t len, struct http_request *req);

/*
 * Value of header `name` in a head http_parse_request accepted (buf[0..head)),
 * with surrounding whitespace removed. 0, -ENOENT, -EEXIST when the header
 * appears more than once (the caller decides; for Host it is a 400, RFC 9112
 * §3.2), or -E2BIG when it does not fit in out.
 */
int http_header_get(const char *buf, size_t head, const char *name, char *out, size_t outlen);

/* Reason phrase for a status code ("Not Found"); "Unknown" for others. */
const char *http_reason(int status);

/* Value of key in a query string "a=1&b=2" into out (no percent-decoding). 0, or -ENOENT/-E2BIG. */
int http_query_get(const char *query, const char *key, char *out, size_t outlen);

/*
 * Refuses a query naming a key not in the NULL-terminated allowed list (NULL:
 * none), so a typo is never silently ignored. 0, or -EINVAL with the key in bad.
 */
int http_query_check(const char *query, const char *const *allowed, char *bad, size_t badlen);

#endif
