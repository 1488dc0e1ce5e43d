/* The API's HTTP/1.1 request parser: what it accepts, and hostile inputs it must refuse. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/http.h"

static int parse(const char *s, struct http_request *q)
{
    return http_parse_request(s, strlen(s), q);
}

static void test_simple_get(void **state)
{
    struct http_request q;
    const char *s = "GET /v1/vms HTTP/1.1\r\nHost: kiln\r\n\r\n";
    assert_int_equal(parse(s, &q), (int)strlen(s));
    assert_string_equal(q.method, "GET");
    assert_string_equal(q.path, "/v1/vms");
    assert_string_equal(q.query, "");
    assert_int_equal(q.minor, 1);
    assert_false(q.has_content_length);
    assert_false(q.upgrade);
}

static void test_post_with_body(void **state)
{
    struct http_request q;
    const char *s = "POST /v1/vms/a/stop?timeout=5 HTTP/1.0\r\ncontent-length:  12 \r\n\r\n{\"x\": true}\n";
    int head = parse(s, &q);
    assert_int_equal(head, (int)(strstr(s, "\r\n\r\n") - s) + 4);
    assert_string_equal(q.path, "/v1/vms/a/stop");
    assert_string_equal(q.query, "timeout=5");
    assert_int_equal(q.minor, 0);
    assert_true(q.has_content_length);
    assert_int_equal(q.content_length, 12);
    char v[8];
    assert_int_equal(http_query_get(q.query, "timeout", v, sizeof(v)), 0);
    assert_string_equal(v, "5");
    assert_int_equal(http_query_get(q.query, "time", v, sizeof(v)), -ENOENT);
    assert_int_equal(http_query_get("a=123456789", "a", v, sizeof(v)), -E2BIG);
    /* Unknown keys are refused by name; no list allows none. */
    static const char *const allowed[] = {"timeout", NULL};
    char bad[80];
    assert_int_equal(http_query_check("timeout=5", allowed, bad, sizeof(bad)), 0);
    assert_int_equal(http_query_check("", NULL, bad, sizeof(bad)), 0);
    assert_int_equal(http_query_check("timout=5", allowed, bad, sizeof(bad)), -EINVAL);
    assert_string_equal(bad, "timout");
    assert_int_equal(http_query_check("timeout=5&force", allowed, bad, sizeof(bad)), -EINVAL);
    assert_string_equal(bad, "force");
    assert_int_equal(http_query_check("timeout=5", NULL, bad, sizeof(bad)), -EINVAL);
}

static void test_upgrade(void **state)
{
    struct http_request q;
    assert_true(parse("GET /v1/vms/a/console HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\n"
                      "Upgrade: kiln-console\r\n\r\n", &q) > 0);
    assert_true(q.upgrade);
    assert_string_equal(q.upgrade_proto, "kiln-console");
    assert_true(parse("GET / HTTP/1.1\r\nConnection: upgraded\r\n\r\n", &q) > 0);
    assert_false(q.upgrade);
}

static void test_incomplete(void **state)
{
    struct http_request q;
    const char *s = "GET /v1/vms HTTP/1.1\r\nHost: kiln\r\n\r\n";
    /* Every proper prefix needs more bytes, never an error. */
    for (size_t n = 0; n < strlen(s); n++)
        assert_int_equal(http_parse_request(s, n, &q), 0);
}

static void test_hostile(void **state)
{
    static const struct {
        const char *req;
        int want;
    } cases[] = {
        {"GARBAGE\r\n\r\n", -400},
        {"\r\n\r\n", -400},
        {" GET / HTTP/1.1\r\n\r\n", -400},
        {"GET  / HTTP/1.1\r\n\r\n", -400},
        {"GET / HTTP/1.1 \r\n\r\n", -400},
        {"GET http://x/ HTTP/1.1\r\n\r\n", -400},
        {"GET * HTTP/1.1\r\n\r\n", -400},
        {"GET / HTTP/1.2\r\n\r\n", -505},
        {"GET / HTTP/2.0\r\n\r\n", -505},
        {"GET / HTTP/0.9\r\n\r\n", -505},
        {"GET / HTTP/1.x\r\n\r\n", -400},
        {"GET / HTTPS/1.1\r\n\r\n", -400},
        {"GET / HTTP/1.1\nHost: x\r\n\r\n", -400},
        {"GET / HTTP/1.1\r\nHost: x\rY: z\r\n\r\n", -400},
        {"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", -400},
        {"GET / HTTP/1.1\r\nA : b\r\n\r\n", -400},
        {"GET / HTTP/1.1\r\n: b\r\n\r\n", -400},
        {"GET / HTTP/1.1\r\nNoColon\r\n\r\n", -400},
        {"GET / HTTP/1.1\r\nA: b\x7f\r\n\r\n", -400},
        {"G\x01T / HTTP/1.1\r\n\r\n", -400},
        {"GET /\x01 HTTP/1.1\r\n\r\n", -400},
        {"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", -400},
        {"POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", -400},
        {"POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", -400},
        {"POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", -400},
        {"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", -413},
        {"POST / HTTP/1.1\r\nContent-Length: 65537\r\n\r\n", -413},
        {"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", -400},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", -501},
        {"POST / HTTP/1.1\r\nUpgrade: a\r\nUpgrade: b\r\n\r\n", -400},
        {"VERYLONGMETHODNAME / HTTP/1.1\r\n\r\n", -501},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct http_request q;
        int r = parse(cases[i].req, &q);
        if (r != cases[i].want)
            fail_msg("case %zu (%s): got %d, want %d", i, cases[i].req, r, cases[i].want);
    }
    /* A NUL before the end of the head. */
    struct http_request q;
    static const char nul[] = "GET / HTTP/1.1\r\nA: \0b\r\n\r\n";
    assert_int_equal(http_parse_request(nul, sizeof(nul) - 1, &q), -400);
    assert_int_equal(http_parse_request("GET /\0", 6, &q), -400);
}

static void test_limits(void **state)
{
    struct http_request q;
    /* Exactly HTTP_MAX_BODY is fine. */
    assert_true(parse("POST / HTTP/1.1\r\nContent-Length: 65536\r\n\r\n", &q) > 0);
    assert_int_equal(q.content_length, HTTP_MAX_BODY);

    /* A head that never ends within HTTP_MAX_HEAD. */
    char *big = malloc(HTTP_MAX_HEAD + 64);
    assert_non_null(big);
    strcpy(big, "GET / HTTP/1.1\r\nX: ");
    size_t n = strlen(big);
    memset(big + n, 'a', HTTP_MAX_HEAD + 32 - n);
    assert_int_equal(http_parse_request(big, HTTP_MAX_HEAD + 32, &q), -431);
    /* The terminator just past the limit does not count. */
    memcpy(big + HTTP_MAX_HEAD - 2, "\r\n\r\n", 4);
    assert_int_equal(http_parse_request(big, HTTP_MAX_HEAD + 2, &q), -431);

    /* Too long a target. */
    memset(big, 0, HTTP_MAX_HEAD + 64);
    strcpy(big, "GET /");
    memset(big + 5, 'p', HTTP_MAX_PATH + 10);
    strcat(big, " HTTP/1.1\r\n\r\n");
    assert_int_equal(parse(big, &q), -414);

    /* Too many headers. */
    memset(big, 0, HTTP_MAX_HEAD + 64);
    strcpy(big, "GET / HTTP/1.1\r\n");
    for (int i = 0; i <= HTTP_MAX_HEADERS; i++)
        strcat(big, "A: b\r\n");
    strcat(big, "\r\n");
    assert_int_equal(parse(big, &q), -431);
    free(big);
}

static void test_reason(void **state)
{
    assert_string_equal(http_reason(404), "Not Found");
    assert_string_equal(http_reason(431), "Request Header Fields Too Large");
    assert_string_equal(http_reason(299), "Unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_get), cmocka_unit_test(test_post_with_body),
        cmocka_unit_test(test_upgrade),    cmocka_unit_test(test_incomplete),
        cmocka_unit_test(test_hostile),    cmocka_unit_test(test_limits),
        cmocka_unit_test(test_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
