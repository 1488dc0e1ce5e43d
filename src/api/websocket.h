/*
 * WebSocket framing (RFC 6455) for kiln's web gateway (docs/web.md).
 *
 * What a browser sends is hostile input: the reader accepts only masked
 * client frames (§5.1), no extensions (RSV bits 0, §5.2), minimal length
 * encodings, control frames that are final and at most 125 bytes (§5.5),
 * continuation frames only inside a fragmented message (§5.4), text that is
 * valid UTF-8 (§8.1), and messages of at most WS_MAX_MESSAGE bytes. Anything
 * else ends the connection with the close status the RFC names (§7.4.1).
 */
#ifndef KILN_API_WEBSOCKET_H
#define KILN_API_WEBSOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WS_MAX_MESSAGE (64 << 10)
#define WS_MAX_HEAD 14 /* 2 + 8 extended length + 4 mask */

enum ws_op { WS_CONT = 0, WS_TEXT = 1, WS_BINARY = 2, WS_CLOSE = 8, WS_PING = 9, WS_PONG = 10 };

/* Close status codes (RFC 6455 §7.4.1). */
#define WS_CLOSE_NORMAL 1000
#define WS_CLOSE_GOING_AWAY 1001
#define WS_CLOSE_PROTOCOL 1002
#define WS_CLOSE_BAD_DATA 1007
#define WS_CLOSE_POLICY 1008
#define WS_CLOSE_TOO_BIG 1009

struct ws_reader {
    uint8_t in[WS_MAX_HEAD + WS_MAX_MESSAGE]; /* received, not yet parsed: at most one frame */
    size_t len, done;                         /* bytes in `in`; bytes of it already returned */
    uint8_t msg[WS_MAX_MESSAGE];              /* a fragmented message being assembled */
    size_t msg_len;
    int msg_op; /* WS_TEXT/WS_BINARY while assembling, else -1 */
};

struct ws_msg {
    int op;                 /* WS_TEXT, WS_BINARY, WS_CLOSE, WS_PING or WS_PONG */
    const uint8_t *data;    /* unmasked payload, valid until the next ws_reader_next */
    size_t len;
};

void ws_reader_init(struct ws_reader *r);
/* Where the next received bytes go, and how many fit (0 only while a message is pending). */
uint8_t *ws_reader_space(struct ws_reader *r, size_t *room);
void ws_reader_added(struct ws_reader *r, size_t n);
/*
 * The next complete message: 1 (and *m), 0 when more bytes are needed, or
 * -STATUS (-1002, -1007, -1009) when the peer broke the protocol.
 */
int ws_reader_next(struct ws_reader *r, struct ws_msg *m);

/* Header of an unmasked server frame (§5.2) with FIN set; returns its length (2, 4 or 10). */
size_t ws_frame_head(uint8_t out[10], int op, size_t len);

/*
 * Sec-WebSocket-Accept for a client's Sec-WebSocket-Key (§4.2.2): the key must be
 * base64 of 16 bytes. 0, or -EINVAL.
 */
int ws_accept_key(const char *client_key, char out[29]);

/* Is p[0..n) well-formed UTF-8 (RFC 3629 §4: no overlongs, surrogates or > U+10FFFF)? */
bool ws_utf8_valid(const uint8_t *p, size_t n);

#endif
