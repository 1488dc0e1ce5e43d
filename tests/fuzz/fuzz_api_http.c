/*
 * libFuzzer target for the API's HTTP request parser (src/api/http.c): any
 * byte string is parsed whole and at every prefix length a reader might have
 * seen; the parser must never read past the buffer and its answers must be
 * consistent (a complete head is never "need more" at a longer length).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Exact-size heap copy: ASan catches a read one past the end. */
    char *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    struct http_request q;
    int full = http_parse_request(buf, size, &q);
    if (full > 0) {
        if ((size_t)full > size || q.method[0] == 0 || q.path[0] != '/')
            abort();
        if (q.has_content_length && q.content_length > HTTP_MAX_BODY)
            abort();
        char v[32];
        http_query_get(q.query, "timeout", v, sizeof(v));
        static const char *const allowed[] = {"timeout", NULL};
        char bad[80];
        if (http_query_check(q.query, allowed, bad, sizeof(bad)) && strlen(bad) >= sizeof(bad))
            abort();
    } else if (full == 0 && size >= HTTP_MAX_HEAD) {
        abort(); /* an unbounded head must be refused */
    }
    /* A few prefixes, as a server reading in chunks would see them. */
    for (size_t n = 1; n < size && n < 64; n += 7) {
        int r = http_parse_request(buf, n, &q);
        if (r > 0 && (size_t)r > n)
            abort();
    }
    free(buf);
    return 0;
}
