/*
 * libFuzzer target for the web gateway's WebSocket reader (src/api/websocket.c):
 * the input is what a browser (or anyone who got past the login) sends after the
 * upgrade, fed in pieces of the sizes its first bytes choose, as reads from a
 * socket would deliver it. Messages must stay within their caps, text must be
 * UTF-8, control frames at most 125 bytes, and a refused stream stays refused.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/websocket.h"

static struct ws_reader rd;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ws_reader_init(&rd);
    size_t pos = 0;
    unsigned chunk = size ? (data[0] % 64) + 1 : 1;
    int last = 0;
    while (pos < size) {
        size_t room;
        uint8_t *space = ws_reader_space(&rd, &room);
        size_t n = size - pos < chunk ? size - pos : chunk;
        if (n > room)
            n = room;
        if (n == 0)
            break;
        memcpy(space, data + pos, n);
        ws_reader_added(&rd, n);
        pos += n;
        struct ws_msg m;
        while ((last = ws_reader_next(&rd, &m)) == 1) {
            if (m.len > WS_MAX_MESSAGE)
                abort();
            if ((m.op & 0x8) && m.len > 125)
                abort();
            if (m.op == WS_TEXT && !ws_utf8_valid(m.data, m.len))
                abort();
            if (m.op != WS_TEXT && m.op != WS_BINARY && m.op != WS_CLOSE && m.op != WS_PING && m.op != WS_PONG)
                abort();
            volatile uint8_t sink = 0;
            for (size_t i = 0; i < m.len; i++)
                sink ^= m.data[i]; /* every byte readable */
            (void)sink;
        }
        if (last < 0) {
            if (last != -WS_CLOSE_PROTOCOL && last != -WS_CLOSE_BAD_DATA && last != -WS_CLOSE_TOO_BIG)
                abort();
            break;
        }
    }
    uint8_t h[10];
    size_t hl = ws_frame_head(h, WS_BINARY, size);
    if (hl != 2 && hl != 4 && hl != 10)
        abort();
    char key[25], acc[29];
    if (size >= 24) {
        memcpy(key, data, 24);
        key[24] = 0;
        if (!memchr(key, 0, 24))
            ws_accept_key(key, acc);
    }
    return 0;
}
