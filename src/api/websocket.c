/* WebSocket frames (RFC 6455 §5) and the opening handshake's accept key (§4.2.2). */
#include "api/websocket.h"

#include <errno.h>
#include <openssl/evp.h>
#include <string.h>

void ws_reader_init(struct ws_reader *r)
{
    r->len = r->done = r->msg_len = 0;
    r->msg_op = -1;
}

/* Drops what earlier calls returned, so a new frame starts at in[0]. */
static void compact(struct ws_reader *r)
{
    if (!r->done)
        return;
    memmove(r->in, r->in + r->done, r->len - r->done);
    r->len -= r->done;
    r->done = 0;
}

uint8_t *ws_reader_space(struct ws_reader *r, size_t *room)
{
    compact(r);
    *room = sizeof(r->in) - r->len;
    return r->in + r->len;
}

void ws_reader_added(struct ws_reader *r, size_t n)
{
    r->len += n;
}

bool ws_utf8_valid(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k;
        uint32_t cp, min;
        if ((c & 0xe0) == 0xc0) {
            k = 1, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            k = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i <= k)
            return false;
        for (size_t j = 1; j <= k; j++) {
            if ((p[i + j] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += k + 1;
    }
    return true;
}

int ws_reader_next(struct ws_reader *r, struct ws_msg *m)
{
    for (;;) {
        compact(r);
        const uint8_t *h = r->in;
        size_t avail = r->len;
        if (avail < 2)
            return 0;
        bool fin = h[0] & 0x80;
        int op = h[0] & 0x0f;
        if (h[0] & 0x70)
            return -WS_CLOSE_PROTOCOL; /* RSV1-3 without a negotiated extension (§5.2) */
        if (!(h[1] & 0x80))
            return -WS_CLOSE_PROTOCOL; /* a client MUST mask every frame (§5.1) */
        bool control = op & 0x8;
        if (op != WS_CONT && op != WS_TEXT && op != WS_BINARY && op != WS_CLOSE && op != WS_PING &&
            op != WS_PONG)
            return -WS_CLOSE_PROTOCOL; /* reserved opcode (§5.2) */
        uint64_t plen = h[1] & 0x7f;
        size_t hl = 2;
        if (plen == 126) {
            if (avail < 4)
                return 0;
            plen = (uint64_t)h[2] << 8 | h[3];
            hl = 4;
            if (plen < 126)
                return -WS_CLOSE_PROTOCOL; /* "the minimal number of bytes MUST be used" */
        } else if (plen == 127) {
            if (avail < 10)
                return 0;
            plen = 0;
            for (int i = 0; i < 8; i++)
                plen = plen << 8 | h[2 + i];
            hl = 10;
            if (plen >> 63)
                return -WS_CLOSE_PROTOCOL; /* most significant bit MUST be 0 */
            if (plen <= 0xffff)
                return -WS_CLOSE_PROTOCOL;
        }
        if (control && (!fin || plen > 125))
            return -WS_CLOSE_PROTOCOL; /* §5.5 */
        if (plen > WS_MAX_MESSAGE)
            return -WS_CLOSE_TOO_BIG;
        if (avail < hl + 4)
            return 0;
        const uint8_t *mask = h + hl;
        hl += 4;
        if (avail - hl < plen)
            return 0;
        uint8_t *pl = r->in + hl;
        for (size_t i = 0; i < plen; i++)
            pl[i] ^= mask[i & 3];
        r->done = hl + (size_t)plen;

        if (control) {
            if (op == WS_CLOSE && plen == 1)
                return -WS_CLOSE_PROTOCOL; /* a close body starts with a 2-byte status (§5.5.1) */
            if (op == WS_CLOSE && plen > 2 && !ws_utf8_valid(pl + 2, (size_t)plen - 2))
                return -WS_CLOSE_BAD_DATA;
            *m = (struct ws_msg){.op = op, .data = pl, .len = (size_t)plen};
            return 1;
        }
        if (op != WS_CONT) {
            if (r->msg_op >= 0)
                return -WS_CLOSE_PROTOCOL; /* a new message inside a fragmented one (§5.4) */
            if (fin) {
                if (op == WS_TEXT && !ws_utf8_valid(pl, (size_t)plen))
                    return -WS_CLOSE_BAD_DATA;
                *m = (struct ws_msg){.op = op, .data = pl, .len = (size_t)plen};
                return 1;
            }
            r->msg_op = op;
            r->msg_len = 0;
        } else if (r->msg_op < 0) {
            return -WS_CLOSE_PROTOCOL; /* continuation with nothing to continue */
        }
        if (plen > sizeof(r->msg) - r->msg_len)
            return -WS_CLOSE_TOO_BIG;
        memcpy(r->msg + r->msg_len, pl, (size_t)plen);
        r->msg_len += (size_t)plen;
        if (!fin)
            continue;
        int mop = r->msg_op;
        r->msg_op = -1;
        if (mop == WS_TEXT && !ws_utf8_valid(r->msg, r->msg_len))
            return -WS_CLOSE_BAD_DATA;
        *m = (struct ws_msg){.op = mop, .data = r->msg, .len = r->msg_len};
        return 1;
    }
}

size_t ws_frame_head(uint8_t out[10], int op, size_t len)
{
    out[0] = (uint8_t)(0x80 | (op & 0x0f));
    if (len < 126) {
        out[1] = (uint8_t)len;
        return 2;
    }
    if (len <= 0xffff) {
        out[1] = 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    return 10;
}

int ws_accept_key(const char *client_key, char out[29])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"; /* §1.3 */
    size_t kl = strlen(client_key);
    if (kl != 24 || client_key[22] != '=' || client_key[23] != '=')
        return -EINVAL;
    unsigned char raw[18];
    if (EVP_DecodeBlock(raw, (const unsigned char *)client_key, 24) != 18)
        return -EINVAL; /* 16 bytes + 2 of padding */
    char cat[24 + sizeof(guid)];
    memcpy(cat, client_key, 24);
    memcpy(cat + 24, guid, sizeof(guid));
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    if (!EVP_Digest(cat, 24 + sizeof(guid) - 1, md, &mdlen, EVP_sha1(), NULL) || mdlen != 20)
        return -EINVAL;
    EVP_EncodeBlock((unsigned char *)out, md, 20);
    return 0;
}
