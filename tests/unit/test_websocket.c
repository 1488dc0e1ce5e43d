/* The web gateway's WebSocket framing (RFC 6455) and handshake key. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "api/websocket.h"

static struct ws_reader rd;

/* A masked client frame (§5.2) into out; returns its length. */
static size_t frame(uint8_t *out, int b0, const void *payload, size_t n)
{
    static const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    size_t h = 0;
    out[h++] = (uint8_t)b0;
    if (n < 126) {
        out[h++] = (uint8_t)(0x80 | n);
    } else if (n <= 0xffff) {
        out[h++] = 0x80 | 126;
        out[h++] = (uint8_t)(n >> 8);
        out[h++] = (uint8_t)n;
    } else {
        out[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            out[h++] = (uint8_t)((uint64_t)n >> (8 * i));
    }
    memcpy(out + h, mask, 4);
    h += 4;
    for (size_t i = 0; i < n; i++)
        out[h + i] = ((const uint8_t *)payload)[i] ^ mask[i & 3];
    return h + n;
}

static void feed(const uint8_t *p, size_t n)
{
    size_t room;
    uint8_t *s = ws_reader_space(&rd, &room);
    assert_true(n <= room);
    memcpy(s, p, n);
    ws_reader_added(&rd, n);
}

static void test_rfc_example_hello(void **state)
{
    /* RFC 6455 §5.7: a single-frame masked text message "Hello" */
    static const uint8_t f[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    struct ws_msg m;
    ws_reader_init(&rd);
    for (size_t i = 0; i < sizeof(f) - 1; i++) {
        feed(f + i, 1);
        assert_int_equal(ws_reader_next(&rd, &m), 0); /* byte by byte: not complete yet */
    }
    feed(f + sizeof(f) - 1, 1);
    assert_int_equal(ws_reader_next(&rd, &m), 1);
    assert_int_equal(m.op, WS_TEXT);
    assert_int_equal(m.len, 5);
    assert_memory_equal(m.data, "Hello", 5);
    assert_int_equal(ws_reader_next(&rd, &m), 0);
}

static void test_fragments_with_ping_between(void **state)
{
    uint8_t buf[256];
    size_t n = frame(buf, WS_BINARY, "ab", 2);          /* FIN clear: first fragment */
    n += frame(buf + n, 0x80 | WS_PING, "p", 1);         /* control frames may interleave (§5.4) */
    n += frame(buf + n, WS_CONT, "cd", 2);
    n += frame(buf + n, 0x80 | WS_CONT, "e", 1);
    ws_reader_init(&rd);
    feed(buf, n);
    struct ws_msg m;
    assert_int_equal(ws_reader_next(&rd, &m), 1);
    assert_int_equal(m.op, WS_PING);
    assert_memory_equal(m.data, "p", 1);
    assert_int_equal(ws_reader_next(&rd, &m), 1);
    assert_int_equal(m.op, WS_BINARY);
    assert_int_equal(m.len, 5);
    assert_memory_equal(m.data, "abcde", 5);
}

static void test_extended_lengths(void **state)
{
    static uint8_t payload[70000], buf[70100];
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)i;
    struct ws_msg m;
    ws_reader_init(&rd);
    size_t n = frame(buf, 0x80 | WS_BINARY, payload, 300); /* 16-bit length */
    feed(buf, n);
    assert_int_equal(ws_reader_next(&rd, &m), 1);
    assert_int_equal(m.len, 300);
    assert_memory_equal(m.data, payload, 300);
    /* 64-bit length above the cap: refused from the header alone */
    ws_reader_init(&rd);
    n = frame(buf, 0x80 | WS_BINARY, payload, 70000);
    feed(buf, 14);
    assert_int_equal(ws_reader_next(&rd, &m), -WS_CLOSE_TOO_BIG);
}

static void expect_refused(const uint8_t *f, size_t n, int status)
{
    struct ws_msg m;
    ws_reader_init(&rd);
    feed(f, n);
    assert_int_equal(ws_reader_next(&rd, &m), -status);
}

static void test_hostile_frames(void **state)
{
    uint8_t b[64];
    static const uint8_t unmasked[] = {0x82, 0x01, 'x'};
    expect_refused(unmasked, sizeof(unmasked), WS_CLOSE_PROTOCOL);
    size_t n = frame(b, 0x80 | 0x40 | WS_BINARY, "x", 1); /* RSV1 */
    expect_refused(b, n, WS_CLOSE_PROTOCOL);
    n = frame(b, 0x80 | 3, "x", 1); /* reserved opcode */
    expect_refused(b, n, WS_CLOSE_PROTOCOL);
    n = frame(b, WS_PING, "x", 1); /* fragmented control frame */
    expect_refused(b, n, WS_CLOSE_PROTOCOL);
    n = frame(b, 0x80 | WS_CONT, "x", 1); /* continuation of nothing */
    expect_refused(b, n, WS_CLOSE_PROTOCOL);
    n = frame(b, WS_TEXT, "a", 1);
    n += frame(b + n, 0x80 | WS_BINARY, "b", 1); /* new message inside a fragmented one */
    expect_refused(b, n, WS_CLOSE_PROTOCOL);
    static const uint8_t bad_utf8[] = {0xc0, 0xaf}; /* overlong '/' */
    n = frame(b, 0x80 | WS_TEXT, bad_utf8, 2);
    expect_refused(b, n, WS_CLOSE_BAD_DATA);
    n = frame(b, 0x80 | WS_CLOSE, "\x03", 1); /* 1-byte close body */
    expect_refused(b, n, WS_CLOSE_PROTOCOL);
    /* a 16-bit length for a payload that fits 7 bits: not minimal */
    static const uint8_t nonminimal[] = {0x82, 0x80 | 126, 0x00, 0x05, 1, 2, 3, 4};
    expect_refused(nonminimal, sizeof(nonminimal), WS_CLOSE_PROTOCOL);
    /* a 64-bit length with the top bit set */
    static const uint8_t top[] = {0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0};
    expect_refused(top, sizeof(top), WS_CLOSE_PROTOCOL);
    /* a ping of 126 bytes */
    static const uint8_t bigping[] = {0x89, 0x80 | 126, 0x00, 126};
    expect_refused(bigping, sizeof(bigping), WS_CLOSE_PROTOCOL);
}

static void test_fragmented_total_cap(void **state)
{
    static uint8_t part[40000], buf[40100];
    struct ws_msg m;
    ws_reader_init(&rd);
    size_t n = frame(buf, WS_BINARY, part, sizeof(part));
    feed(buf, n);
    assert_int_equal(ws_reader_next(&rd, &m), 0);
    n = frame(buf, 0x80 | WS_CONT, part, sizeof(part)); /* 80000 bytes in all */
    feed(buf, n);
    assert_int_equal(ws_reader_next(&rd, &m), -WS_CLOSE_TOO_BIG);
}

static void test_server_frame_head(void **state)
{
    uint8_t h[10];
    assert_int_equal(ws_frame_head(h, WS_BINARY, 5), 2);
    assert_int_equal(h[0], 0x82);
    assert_int_equal(h[1], 5);
    assert_int_equal(ws_frame_head(h, WS_TEXT, 126), 4);
    assert_int_equal(h[1], 126);
    assert_int_equal(h[2] << 8 | h[3], 126);
    assert_int_equal(ws_frame_head(h, WS_BINARY, 65536), 10);
    assert_int_equal(h[1], 127);
    assert_int_equal(h[7], 1);
    assert_int_equal(h[8], 0);
}

static void test_accept_key(void **state)
{
    char out[29];
    /* RFC 6455 §1.3's example */
    assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), 0);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_int_not_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ", out), 0);
    assert_int_not_equal(ws_accept_key("dGhlIHNhbXBsZSBub25j!Q==", out), 0);
    assert_int_not_equal(ws_accept_key("", out), 0);
}

static void test_utf8(void **state)
{
    assert_true(ws_utf8_valid((const uint8_t *)"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", 16));
    assert_false(ws_utf8_valid((const uint8_t *)"\xed\xa0\x80", 3));     /* surrogate */
    assert_false(ws_utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
    assert_false(ws_utf8_valid((const uint8_t *)"\xe2\x82", 2));         /* cut short */
    assert_false(ws_utf8_valid((const uint8_t *)"\xff", 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc_example_hello),
        cmocka_unit_test(test_fragments_with_ping_between),
        cmocka_unit_test(test_extended_lengths),
        cmocka_unit_test(test_hostile_frames),
        cmocka_unit_test(test_fragmented_total_cap),
        cmocka_unit_test(test_server_frame_head),
        cmocka_unit_test(test_accept_key),
        cmocka_unit_test(test_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
