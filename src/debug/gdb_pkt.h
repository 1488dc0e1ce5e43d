/*
 * GDB remote serial protocol framing (gdb manual, "Remote Protocol" > "Overview"):
 * $data#cs packets, +/- acknowledgements, the 0x03 interrupt byte, and the hex and binary
 * encodings used inside packets. Pure functions over bytes, no I/O: every input byte comes
 * from a local user and may be anything (fuzzed by tests/fuzz/fuzz_gdbstub.c).
 */
#ifndef KILN_DEBUG_GDB_PKT_H
#define KILN_DEBUG_GDB_PKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest packet we accept and advertise (qSupported PacketSize), payload bytes. */
#define GDB_PKT_MAX 0x4000

enum gdb_rx_event {
    GDB_RX_NONE,      /* byte consumed, nothing complete yet */
    GDB_RX_PACKET,    /* a packet with a good checksum: rx->buf[0..len) (NUL-terminated) */
    GDB_RX_BAD,       /* a packet with a bad checksum or too long: answer '-' */
    GDB_RX_INTERRUPT, /* 0x03 outside a packet: stop the target */
    GDB_RX_ACK,
    GDB_RX_NACK,
};

struct gdb_rx {
    int state;
    bool overflow;
    uint8_t sum, got;
    size_t len;
    char buf[GDB_PKT_MAX + 1];
};

void gdb_rx_init(struct gdb_rx *rx);
enum gdb_rx_event gdb_rx_feed(struct gdb_rx *rx, uint8_t byte);

/* Frames data as "$data#cs" into out (escaping '$', '#', '}' and '*'); returns the length or
 * -1 if out is too small. */
int gdb_pkt_frame(const char *data, size_t len, char *out, size_t outlen);

int gdb_hexval(char c); /* 0..15, -1 if not a hex digit */
/* Parses hex digits at *p (at most 16) into *v, advancing *p; false if none. */
bool gdb_parse_hex(const char **p, uint64_t *v);
/* Decodes 2*n hex digits into n bytes; false on a bad digit or short input. */
bool gdb_hex_decode(const char *hex, size_t hexlen, uint8_t *out, size_t n);
void gdb_hex_encode(const uint8_t *in, size_t n, char *out); /* 2n chars + NUL */
/* Undoes the '}' escape of binary data (X packets): returns the decoded length, or -1 if the
 * data ends inside an escape or holds more than outlen bytes. */
long gdb_bin_decode(const char *in, size_t inlen, uint8_t *out, size_t outlen);

#endif
