/* Strict HTTP/1.1 request head parser; see http.h for the accepted subset. */
#include "api/http.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* RFC 9110 §5.6.2 tchar. */
static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Field value bytes (RFC 9110 §5.5): VCHAR, SP, HTAB, obs-text; never CR, LF or NUL. */
static bool is_vchar_or_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || (c >= 0x21 && c != 0x7f);
}

/* Finds "\r\n\r\n" within the first len bytes; returns the offset past it, or 0. */
static size_t find_head_end(const char *buf, size_t len)
{
    for (size_t i = 0; i + 3 < len; i++) {
        if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n')
            return i + 4;
    }
    return 0;
}

/* Does the comma-separated token list v[0..n) contain tok (case-insensitive)? */
static bool list_has_token(const char *v, size_t n, const char *tok)
{
    size_t tl = strlen(tok), i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && v[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e - s == tl && !strncasecmp(v + s, tok, tl))
            return true;
    }
    return false;
}

static int parse_request_line(const char *p, size_t n, struct http_request *req)
{
    size_t i = 0, m = 0;
    while (i < n && p[i] != ' ') {
        unsigned char c = (unsigned char)p[i];
        if (!is_tchar(c))
            return -400;
        if (m >= HTTP_MAX_METHOD)
            return -501; /* no method kiln knows is this long */
        req->method[m++] = (char)c;
        i++;
    }
    req->method[m] = 0;
    if (m == 0 || i >= n)
        return -400;
    i++; /* the single SP */
    size_t ts = i;
    while (i < n && p[i] != ' ') {
        unsigned char c = (unsigned char)p[i];
        if (c <= 0x20 || c >= 0x7f)
            return -400;
        i++;
    }
    size_t tl = i - ts;
    if (tl == 0 || p[ts] != '/' || i >= n)
        return -400; /* origin-form only (RFC 9112 §3.2.1) */
    if (tl > HTTP_MAX_PATH)
        return -414;
    const char *q = memchr(p + ts, '?', tl);
    size_t pl = q ? (size_t)(q - (p + ts)) : tl;
    memcpy(req->path, p + ts, pl);
    req->path[pl] = 0;
    if (q) {
        size_t ql = tl - pl - 1;
        memcpy(req->query, q + 1, ql);
        req->query[ql] = 0;
    }
    i++;
    /* HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 9112 §2.3); only 1.0 and 1.1 are spoken here. */
    const char *v = p + i;
    if (n - i != 8 || memcmp(v, "HTTP/", 5) || v[6] != '.' || v[5] < '0' || v[5] > '9' ||
        v[7] < '0' || v[7] > '9')
        return -400;
    if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
        return -505;
    req->minor = v[7] - '0';
    return 0;
}

static int parse_content_length(const char *v, size_t n, size_t *out)
{
    if (n == 0)
        return -400;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -400;
        x = x * 10 + (uint64_t)(v[i] - '0');
        if (x > HTTP_MAX_BODY)
            return -413;
    }
    *out = (size_t)x;
    return 0;
}

static int parse_header(const char *p, size_t n, struct http_request *req)
{
    const char *colon = memchr(p, ':', n);
    if (!colon || colon == p)
        return -400;
    size_t nl = (size_t)(colon - p);
    for (size_t i = 0; i < nl; i++) {
        if (!is_tchar((unsigned char)p[i]))
            return -400; /* includes whitespace before the colon (RFC 9112 §5.1) */
    }
    const char *v = colon + 1, *end = p + n;
    for (const char *c = v; c < end; c++) {
        if (!is_vchar_or_ws((unsigned char)*c))
            return -400;
    }
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t vl = (size_t)(end - v);

    if (nl == 14 && !strncasecmp(p, "Content-Length", 14)) {
        if (req->has_content_length)
            return -400; /* duplicates invite request smuggling: refuse them all */
        int r = parse_content_length(v, vl, &req->content_length);
        if (r)
            return r;
        req->has_content_length = true;
    } else if (nl == 17 && !strncasecmp(p, "Transfer-Encoding", 17)) {
        return -501;
    } else if (nl == 10 && !strncasecmp(p, "Connection", 10)) {
        if (list_has_token(v, vl, "upgrade"))
            req->upgrade = true;
    } else if (nl == 7 && !strncasecmp(p, "Upgrade", 7)) {
        if (vl >= sizeof(req->upgrade_proto) || req->upgrade_proto[0])
            return -400;
        memcpy(req->upgrade_proto, v, vl);
        req->upgrade_proto[vl] = 0;
    }
    return 0;
}

int http_parse_request(const char *buf, size_t len, struct http_request *req)
{
    memset(req, 0, sizeof(*req));
    size_t scan = len < HTTP_MAX_HEAD ? len : HTTP_MAX_HEAD;
    size_t head = find_head_end(buf, scan);
    if (!head) {
        if (len >= HTTP_MAX_HEAD)
            return -431;
        /* Refuse early what can never become valid: a NUL, or a bare LF. */
        for (size_t i = 0; i < len; i++) {
            if (buf[i] == 0 || (buf[i] == '\n' && (i == 0 || buf[i - 1] != '\r')))
                return -400;
        }
        return 0;
    }
    const char *p = buf, *end = buf + head - 2; /* keep the final CRLF as a terminator */
    bool first = true;
    int nheaders = 0;
    while (p < end) {
        const char *cr = NULL;
        for (const char *c = p; c + 1 < end + 2; c++) {
            if (*c == '\n' || *c == 0)
                return -400; /* bare LF or NUL */
            if (*c == '\r') {
                if (c[1] != '\n')
                    return -400; /* bare CR */
                cr = c;
                break;
            }
        }
        if (!cr)
            return -400;
        size_t n = (size_t)(cr - p);
        int r;
        if (first) {
            r = parse_request_line(p, n, req);
            first = false;
        } else {
            if (n == 0)
                break;
            if (p[0] == ' ' || p[0] == '\t')
                return -400; /* obs-fold (RFC 9112 §5.2) */
            if (++nheaders > HTTP_MAX_HEADERS)
                return -431;
            r = parse_header(p, n, req);
        }
        if (r)
            return r;
        p = cr + 2;
    }
    if (first)
        return -400;
    return (int)head;
}

int http_header_get(const char *buf, size_t head, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    const char *p = memchr(buf, '\n', head), *end = buf + head;
    int found = 0;
    while (p && ++p < end) {
        const char *eol = memchr(p, '\r', (size_t)(end - p));
        if (!eol || eol == p)
            break;
        if ((size_t)(eol - p) > nl && p[nl] == ':' && !strncasecmp(p, name, nl)) {
            if (found)
                return -EEXIST;
            const char *v = p + nl + 1, *e = eol;
            while (v < e && (*v == ' ' || *v == '\t'))
                v++;
            while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            if ((size_t)(e - v) + 1 > outlen)
                return -E2BIG;
            memcpy(out, v, (size_t)(e - v));
            out[e - v] = 0;
            found = 1;
        }
        p = memchr(eol, '\n', (size_t)(end - eol));
    }
    return found ? 0 : -ENOENT;
}

const char *http_reason(int status)
{
    switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 302: return "Found";
    case 303: return "See Other";
    case 401: return "Unauthorized";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

int http_query_get(const char *query, const char *key, char *out, size_t outlen)
{
    size_t kl = strlen(key);
    const char *p = query;
    while (p && *p) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        if (n > kl && p[kl] == '=' && !strncmp(p, key, kl)) {
            size_t vl = n - kl - 1;
            if (vl + 1 > outlen)
                return -E2BIG;
            memcpy(out, p + kl + 1, vl);
            out[vl] = 0;
            return 0;
        }
        p = amp ? amp + 1 : NULL;
    }
    return -ENOENT;
}

int http_query_check(const char *query, const char *const *allowed, char *bad, size_t badlen)
{
    const char *p = query;
    while (p && *p) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        size_t kl = eq ? (size_t)(eq - p) : n;
        bool ok = false;
        for (size_t i = 0; kl && allowed && allowed[i]; i++) {
            if (strlen(allowed[i]) == kl && !strncmp(p, allowed[i], kl))
                ok = true;
        }
        if (!ok) {
            snprintf(bad, badlen, "%.*s", (int)(kl < 64 ? kl : 64), p);
            return -EINVAL;
        }
        p = amp ? amp + 1 : NULL;
    }
    return 0;
}
