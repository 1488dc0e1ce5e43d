/* GDB remote protocol framing and encodings (gdb manual, "Remote Protocol" > "Overview",
 * "Binary Data"). */
#include "debug/gdb_pkt.h"

#include <string.h>

enum { ST_IDLE, ST_DATA, ST_CSUM1, ST_CSUM2 };

void gdb_rx_init(struct gdb_rx *rx)
{
    rx->state = ST_IDLE;
    rx->overflow = false;
    rx->len = 0;
    rx->sum = rx->got = 0;
    rx->buf[0] = 0;
}

int gdb_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

enum gdb_rx_event gdb_rx_feed(struct gdb_rx *rx, uint8_t byte)
{
    switch (rx->state) {
    case ST_IDLE:
        if (byte == '$') {
            rx->state = ST_DATA;
            rx->len = 0;
            rx->sum = 0;
            rx->overflow = false;
            return GDB_RX_NONE;
        }
        if (byte == 0x03)
            return GDB_RX_INTERRUPT;
        if (byte == '+')
            return GDB_RX_ACK;
        if (byte == '-')
            return GDB_RX_NACK;
        return GDB_RX_NONE; /* noise between packets */
    case ST_DATA:
        if (byte == '#') {
            rx->state = ST_CSUM1;
            return GDB_RX_NONE;
        }
        if (byte == '$') { /* a new packet before the end of this one: start over */
            rx->len = 0;
            rx->sum = 0;
            rx->overflow = false;
            return GDB_RX_NONE;
        }
        rx->sum = (uint8_t)(rx->sum + byte);
        if (rx->len < GDB_PKT_MAX)
            rx->buf[rx->len++] = (char)byte;
        else
            rx->overflow = true;
        return GDB_RX_NONE;
    case ST_CSUM1: {
        int v = gdb_hexval((char)byte);
        if (v < 0) {
            rx->state = ST_IDLE;
            return GDB_RX_BAD;
        }
        rx->got = (uint8_t)(v << 4);
        rx->state = ST_CSUM2;
        return GDB_RX_NONE;
    }
    default: {
        int v = gdb_hexval((char)byte);
        rx->state = ST_IDLE;
        if (v < 0 || (uint8_t)(rx->got | v) != rx->sum || rx->overflow)
            return GDB_RX_BAD;
        rx->buf[rx->len] = 0;
        return GDB_RX_PACKET;
    }
    }
}

int gdb_pkt_frame(const char *data, size_t len, char *out, size_t outlen)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    uint8_t sum = 0;
    if (outlen < 4)
        return -1;
    out[o++] = '$';
    for (size_t i = 0; i < len; i++) {
        uint8_t c = (uint8_t)data[i];
        bool esc = c == '$' || c == '#' || c == '}' || c == '*';
        if (o + (esc ? 2 : 1) + 3 > outlen)
            return -1;
        if (esc) {
            out[o++] = '}';
            sum = (uint8_t)(sum + '}');
            c ^= 0x20;
        }
        out[o++] = (char)c;
        sum = (uint8_t)(sum + c);
    }
    out[o++] = '#';
    out[o++] = hex[sum >> 4];
    out[o++] = hex[sum & 15];
    return (int)o;
}

bool gdb_parse_hex(const char **p, uint64_t *v)
{
    const char *s = *p;
    uint64_t r = 0;
    int n = 0;
    int d;
    while (n < 16 && (d = gdb_hexval(*s)) >= 0) {
        r = r << 4 | (uint64_t)d;
        s++;
        n++;
    }
    if (!n)
        return false;
    *p = s;
    *v = r;
    return true;
}

bool gdb_hex_decode(const char *hex, size_t hexlen, uint8_t *out, size_t n)
{
    if (hexlen < 2 * n)
        return false;
    for (size_t i = 0; i < n; i++) {
        int hi = gdb_hexval(hex[2 * i]), lo = gdb_hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

void gdb_hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * n] = 0;
}

long gdb_bin_decode(const char *in, size_t inlen, uint8_t *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < inlen; i++) {
        uint8_t c = (uint8_t)in[i];
        if (c == '}') {
            if (++i >= inlen)
                return -1;
            c = (uint8_t)in[i] ^ 0x20;
        }
        if (o >= outlen)
            return -1;
        out[o++] = c;
    }
    return (long)o;
}
