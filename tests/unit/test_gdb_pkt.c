/* GDB remote protocol framing (src/debug/gdb_pkt.c): checksums, bounds, escapes, 0x03. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "debug/gdb_pkt.h"

static struct gdb_rx rx;

/* Feeds s; returns the last event that was not GDB_RX_NONE (or NONE). */
static enum gdb_rx_event feed(const char *s, size_t n)
{
    enum gdb_rx_event last = GDB_RX_NONE;
    for (size_t i = 0; i < n; i++) {
        enum gdb_rx_event e = gdb_rx_feed(&rx, (uint8_t)s[i]);
        if (e != GDB_RX_NONE)
            last = e;
    }
    return last;
}
#define FEED(s) feed(s, sizeof(s) - 1)

static void test_good_and_bad_checksums(void **state)
{
    (void)state;
    gdb_rx_init(&rx);
    assert_int_equal(FEED("$qC#b4"), GDB_RX_PACKET);
    assert_string_equal(rx.buf, "qC");
    assert_int_equal(rx.len, 2);
    assert_int_equal(FEED("$qC#b5"), GDB_RX_BAD);
    assert_int_equal(FEED("$qC#zz"), GDB_RX_BAD);
    assert_int_equal(FEED("$#00"), GDB_RX_PACKET); /* empty packet */
    assert_int_equal(rx.len, 0);
    /* Noise between packets and acks. */
    assert_int_equal(FEED("xyz+"), GDB_RX_ACK);
    assert_int_equal(FEED("-"), GDB_RX_NACK);
    assert_int_equal(FEED("\x03"), GDB_RX_INTERRUPT);
    /* 0x03 inside a packet is data, not an interrupt. */
    assert_int_equal(FEED("$\x03#03"), GDB_RX_PACKET);
    /* A '$' restarts a packet cut short. */
    assert_int_equal(FEED("$qSupp$qC#b4"), GDB_RX_PACKET);
    assert_string_equal(rx.buf, "qC");
}

static void test_oversized_packet_refused(void **state)
{
    (void)state;
    gdb_rx_init(&rx);
    static char big[GDB_PKT_MAX + 100];
    memset(big, 'A', sizeof(big));
    uint8_t sum = 0;
    gdb_rx_feed(&rx, '$');
    for (size_t i = 0; i < sizeof(big); i++) {
        assert_int_equal(gdb_rx_feed(&rx, (uint8_t)big[i]), GDB_RX_NONE);
        sum = (uint8_t)(sum + 'A');
    }
    char tail[4];
    snprintf(tail, sizeof(tail), "#%02x", sum);
    assert_int_equal(feed(tail, 3), GDB_RX_BAD); /* right checksum, too long: still refused */
    assert_int_equal(FEED("$qC#b4"), GDB_RX_PACKET); /* and the next one works */
}

static void test_frame_escapes(void **state)
{
    (void)state;
    char out[64];
    int n = gdb_pkt_frame("a#b$c}d*", 8, out, sizeof(out));
    assert_true(n > 0);
    out[n] = 0;
    assert_string_equal(out, "$a}\x03" "b}\x04" "c}]d}\x0a#ec"); /* sum of the escaped bytes */
    /* Round trip through the receiver and the binary decoder. */
    gdb_rx_init(&rx);
    assert_int_equal(feed(out, (size_t)n), GDB_RX_PACKET);
    uint8_t dec[16];
    assert_int_equal(gdb_bin_decode(rx.buf, rx.len, dec, sizeof(dec)), 8);
    assert_memory_equal(dec, "a#b$c}d*", 8);
    assert_int_equal(gdb_pkt_frame("abc", 3, out, 6), -1); /* no room */
}

static void test_hex(void **state)
{
    (void)state;
    const char *p = "80000000,10";
    uint64_t v;
    assert_true(gdb_parse_hex(&p, &v));
    assert_int_equal(v, 0x80000000);
    assert_int_equal(*p, ',');
    p = "zz";
    assert_false(gdb_parse_hex(&p, &v));
    p = "123456789abcdef0123"; /* at most 16 digits taken */
    assert_true(gdb_parse_hex(&p, &v));
    assert_int_equal(v, 0x123456789abcdef0ull);
    assert_string_equal(p, "123");
    uint8_t b[4];
    assert_true(gdb_hex_decode("deadBEEF", 8, b, 4));
    assert_int_equal(b[0], 0xde);
    assert_int_equal(b[3], 0xef);
    assert_false(gdb_hex_decode("dea", 3, b, 2));
    assert_false(gdb_hex_decode("dexx", 4, b, 2));
    char h[9];
    gdb_hex_encode(b, 4, h);
    assert_string_equal(h, "deadbeef");
    assert_int_equal(gdb_bin_decode("ab}", 3, b, 4), -1); /* ends inside an escape */
    assert_int_equal(gdb_bin_decode("abcde", 5, b, 4), -1); /* more than fits */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_and_bad_checksums),
        cmocka_unit_test(test_oversized_packet_refused),
        cmocka_unit_test(test_frame_escapes),
        cmocka_unit_test(test_hex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
