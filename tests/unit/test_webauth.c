/* The web gateway's Host, Origin, cookie and secret checks (src/api/webauth.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "api/http.h"
#include "api/webauth.h"

static void test_host(void **state)
{
    assert_true(webauth_host_ok("127.0.0.1:8006", "127.0.0.1", 8006));
    assert_true(webauth_host_ok("localhost:8006", "127.0.0.1", 8006));
    assert_true(webauth_host_ok("LOCALHOST:8006", "127.0.0.1", 8006));
    assert_true(webauth_host_ok("[::1]:8006", "::1", 8006));
    assert_true(webauth_host_ok("localhost", "127.0.0.1", 80));
    /* DNS rebinding: another name pointed at 127.0.0.1 */
    assert_false(webauth_host_ok("evil.example:8006", "127.0.0.1", 8006));
    assert_false(webauth_host_ok("localhost.evil.example:8006", "127.0.0.1", 8006));
    assert_false(webauth_host_ok("127.0.0.1", "127.0.0.1", 8006));
    assert_false(webauth_host_ok("127.0.0.1:80", "127.0.0.1", 8006));
    assert_false(webauth_host_ok("127.0.0.1:8006 ", "127.0.0.1", 8006));
    assert_false(webauth_host_ok("", "127.0.0.1", 8006));
    assert_false(webauth_host_ok("::1:8006", "::1", 8006));
}

static void test_origin(void **state)
{
    assert_true(webauth_origin_ok("http://127.0.0.1:8006", "127.0.0.1:8006"));
    assert_false(webauth_origin_ok("https://127.0.0.1:8006", "127.0.0.1:8006"));
    assert_false(webauth_origin_ok("http://evil.example", "127.0.0.1:8006"));
    assert_false(webauth_origin_ok("http://127.0.0.1:8007", "127.0.0.1:8006"));
    assert_false(webauth_origin_ok("null", "127.0.0.1:8006"));
    assert_false(webauth_origin_ok("http://127.0.0.1:8006/", "127.0.0.1:8006"));
}

static void test_cookie(void **state)
{
    char v[80];
    assert_int_equal(webauth_cookie_get("a=1; kiln_session=abc; b=2", "kiln_session", v, sizeof(v)), 0);
    assert_string_equal(v, "abc");
    assert_int_equal(webauth_cookie_get("kiln_session=xyz", "kiln_session", v, sizeof(v)), 0);
    assert_string_equal(v, "xyz");
    assert_int_equal(webauth_cookie_get("xkiln_session=1; kiln_sessionx=2", "kiln_session", v, sizeof(v)),
                     -ENOENT);
    assert_int_equal(webauth_cookie_get("", "kiln_session", v, sizeof(v)), -ENOENT);
    assert_int_equal(webauth_cookie_get("kiln_session=0123456789", "kiln_session", v, 4), -E2BIG);
}

static void test_secrets(void **state)
{
    char a[WEBAUTH_TOKEN_LEN + 1], b[WEBAUTH_TOKEN_LEN + 1];
    assert_int_equal(webauth_secret_new(a), 0);
    assert_int_equal(webauth_secret_new(b), 0);
    assert_int_equal(strlen(a), WEBAUTH_TOKEN_LEN);
    assert_int_equal(strspn(a, "0123456789abcdef"), WEBAUTH_TOKEN_LEN);
    assert_string_not_equal(a, b);
    assert_true(webauth_secret_equal(a, a));
    assert_false(webauth_secret_equal(a, b));
    char c[WEBAUTH_TOKEN_LEN + 1];
    memcpy(c, a, sizeof(c));
    c[WEBAUTH_TOKEN_LEN - 1] ^= 1;
    assert_false(webauth_secret_equal(a, c));
    c[WEBAUTH_TOKEN_LEN - 1] = 0; /* a prefix is not the secret */
    assert_false(webauth_secret_equal(c, a));
    assert_false(webauth_secret_equal("", ""));
}

static void test_header_get(void **state)
{
    const char *s = "GET / HTTP/1.1\r\nHost:  127.0.0.1:8006 \r\nOrigin: http://x\r\nX-Host: no\r\n\r\n";
    struct http_request q;
    int head = http_parse_request(s, strlen(s), &q);
    assert_true(head > 0);
    char v[64];
    assert_int_equal(http_header_get(s, (size_t)head, "host", v, sizeof(v)), 0);
    assert_string_equal(v, "127.0.0.1:8006");
    assert_int_equal(http_header_get(s, (size_t)head, "Origin", v, sizeof(v)), 0);
    assert_string_equal(v, "http://x");
    assert_int_equal(http_header_get(s, (size_t)head, "Cookie", v, sizeof(v)), -ENOENT);
    assert_int_equal(http_header_get(s, (size_t)head, "Host", v, 4), -E2BIG);
    const char *d = "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n";
    head = http_parse_request(d, strlen(d), &q);
    assert_int_equal(http_header_get(d, (size_t)head, "Host", v, sizeof(v)), -EEXIST);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host),
        cmocka_unit_test(test_origin),
        cmocka_unit_test(test_cookie),
        cmocka_unit_test(test_secrets),
        cmocka_unit_test(test_header_get),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
