/* The snapshot state file: writer, cursor reader and the checking parser (format.h). */
#include "snapshot/format.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), the one zlib and gzip use. */
uint32_t snap_crc32(uint32_t crc, const void *buf, size_t len)
{
    static uint32_t table[256];
    static _Atomic int ready;
    if (!ready) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
        ready = 1; /* racing threads compute the same table */
    }
    const uint8_t *p = buf;
    crc = ~crc;
    while (len--)
        crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* ---- writer ---- */

void snap_w_init(struct snap_w *w)
{
    memset(w, 0, sizeof(*w));
    w->rec = SIZE_MAX;
    uint8_t hdr[SNAP_HEADER_SIZE] = {0};
    snap_w_bytes(w, hdr, sizeof(hdr));
}

void snap_w_free(struct snap_w *w)
{
    free(w->buf);
    w->buf = NULL;
    w->len = w->cap = 0;
}

void snap_w_bytes(struct snap_w *w, const void *p, size_t n)
{
    if (w->oom)
        return;
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < w->len + n)
            cap *= 2;
        uint8_t *nb = realloc(w->buf, cap);
        if (!nb) {
            w->oom = true;
            return;
        }
        w->buf = nb;
        w->cap = cap;
    }
    if (n)
        memcpy(w->buf + w->len, p, n);
    w->len += n;
}

void snap_w_u8(struct snap_w *w, uint8_t v) { snap_w_bytes(w, &v, 1); }
void snap_w_u16(struct snap_w *w, uint16_t v) { uint8_t b[2]; put_le(b, v, 2); snap_w_bytes(w, b, 2); }
void snap_w_u32(struct snap_w *w, uint32_t v) { uint8_t b[4]; put_le(b, v, 4); snap_w_bytes(w, b, 4); }
void snap_w_u64(struct snap_w *w, uint64_t v) { uint8_t b[8]; put_le(b, v, 8); snap_w_bytes(w, b, 8); }

void snap_w_str(struct snap_w *w, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n > UINT16_MAX) {
        w->oom = true;
        return;
    }
    snap_w_u16(w, (uint16_t)n);
    snap_w_bytes(w, s, n);
}

void snap_w_begin(struct snap_w *w, const char *tag)
{
    uint8_t hdr[SNAP_TAG_MAX + 8] = {0};
    size_t n = strlen(tag);
    if (n == 0 || n >= SNAP_TAG_MAX) {
        w->oom = true;
        return;
    }
    memcpy(hdr, tag, n);
    w->rec = w->len;
    snap_w_bytes(w, hdr, sizeof(hdr));
}

void snap_w_end(struct snap_w *w)
{
    if (w->oom || w->rec == SIZE_MAX)
        return;
    size_t body = w->len - w->rec - (SNAP_TAG_MAX + 8);
    if (body > UINT32_MAX) {
        w->oom = true;
        return;
    }
    put_le(w->buf + w->rec + SNAP_TAG_MAX, body, 4);
    static const uint8_t zero[8];
    snap_w_bytes(w, zero, (8 - body % 8) % 8);
    w->rec = SIZE_MAX;
}

int snap_w_finish(struct snap_w *w)
{
    if (w->oom)
        return -ENOMEM;
    uint8_t *h = w->buf;
    memcpy(h, SNAP_MAGIC, 8);
    put_le(h + 8, SNAP_VERSION, 4);
    put_le(h + 12, SNAP_HEADER_SIZE, 4);
    put_le(h + 16, w->len - SNAP_HEADER_SIZE, 8);
    put_le(h + 24, snap_crc32(0, w->buf + SNAP_HEADER_SIZE, w->len - SNAP_HEADER_SIZE), 4);
    put_le(h + 28, snap_crc32(0, h, 28), 4);
    return 0;
}

/* ---- reader ---- */

static const uint8_t *take(struct snap_rd *r, size_t n)
{
    if (r->bad || n > r->len - r->off) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *p = r->p + r->off;
    r->off += n;
    return p;
}

uint8_t snap_r_u8(struct snap_rd *r) { const uint8_t *p = take(r, 1); return p ? *p : 0; }
uint16_t snap_r_u16(struct snap_rd *r) { const uint8_t *p = take(r, 2); return p ? (uint16_t)get_le(p, 2) : 0; }
uint32_t snap_r_u32(struct snap_rd *r) { const uint8_t *p = take(r, 4); return p ? (uint32_t)get_le(p, 4) : 0; }
uint64_t snap_r_u64(struct snap_rd *r) { const uint8_t *p = take(r, 8); return p ? get_le(p, 8) : 0; }

bool snap_r_bool(struct snap_rd *r)
{
    uint8_t v = snap_r_u8(r);
    if (v > 1)
        r->bad = true;
    return v == 1;
}

void snap_r_bytes(struct snap_rd *r, void *dst, size_t n)
{
    const uint8_t *p = take(r, n);
    if (p)
        memcpy(dst, p, n);
    else
        memset(dst, 0, n);
}

void snap_r_str(struct snap_rd *r, char *dst, size_t cap)
{
    uint16_t n = snap_r_u16(r);
    const uint8_t *p = take(r, n);
    dst[0] = 0;
    if (!p)
        return;
    if ((size_t)n >= cap || memchr(p, 0, n)) {
        r->bad = true;
        return;
    }
    memcpy(dst, p, n);
    dst[n] = 0;
}

int snap_r_done(const struct snap_rd *r)
{
    return !r->bad && r->off == r->len ? 0 : -EINVAL;
}

/* ---- parser ---- */

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static bool tag_ok(const char *t, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

int snap_parse(const uint8_t *buf, size_t len, struct snap_file *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (len < SNAP_HEADER_SIZE)
        return fail(err, errlen, "state file is truncated (%zu bytes, no complete header)", len);
    if (memcmp(buf, SNAP_MAGIC, 8))
        return fail(err, errlen, "not a kiln snapshot state file (bad magic)");
    uint32_t version = (uint32_t)get_le(buf + 8, 4);
    if (snap_crc32(0, buf, 28) != (uint32_t)get_le(buf + 28, 4))
        return fail(err, errlen, "state file header checksum mismatch (corrupted)");
    if (version != SNAP_VERSION)
        return fail(err, errlen, "unsupported snapshot format version %u (this kiln reads version %u)%s",
                    version, SNAP_VERSION, version > SNAP_VERSION ? ": written by a newer kiln" : "");
    if (get_le(buf + 12, 4) != SNAP_HEADER_SIZE)
        return fail(err, errlen, "bad state file header size");
    uint64_t plen = get_le(buf + 16, 8);
    if (plen != len - SNAP_HEADER_SIZE)
        return fail(err, errlen, "state file is truncated or has trailing data (%llu payload bytes, header says %llu)",
                    (unsigned long long)(len - SNAP_HEADER_SIZE), (unsigned long long)plen);
    const uint8_t *p = buf + SNAP_HEADER_SIZE;
    if (snap_crc32(0, p, plen) != (uint32_t)get_le(buf + 24, 4))
        return fail(err, errlen, "state file checksum mismatch (corrupted)");
    out->version = version;
    size_t off = 0;
    while (off < plen) {
        if (plen - off < SNAP_TAG_MAX + 8)
            return fail(err, errlen, "truncated record header at offset %zu", off);
        const char *tag = (const char *)p + off;
        size_t tl = strnlen(tag, SNAP_TAG_MAX);
        if (tl == SNAP_TAG_MAX || !tag_ok(tag, tl))
            return fail(err, errlen, "bad record tag at offset %zu", off);
        for (size_t i = tl; i < SNAP_TAG_MAX; i++)
            if (tag[i])
                return fail(err, errlen, "bad record tag at offset %zu", off);
        uint64_t rl = get_le(p + off + SNAP_TAG_MAX, 4);
        if (get_le(p + off + SNAP_TAG_MAX + 4, 4) != 0)
            return fail(err, errlen, "bad record header at offset %zu", off);
        off += SNAP_TAG_MAX + 8;
        uint64_t padded = rl + (8 - rl % 8) % 8;
        if (padded > plen - off)
            return fail(err, errlen, "record '%s' runs past the end of the file", tag);
        if (out->nrec >= SNAP_MAX_RECORDS)
            return fail(err, errlen, "too many records");
        for (unsigned i = 0; i < out->nrec; i++)
            if (!strcmp(out->rec[i].tag, tag))
                return fail(err, errlen, "duplicate record '%s'", tag);
        struct snap_record *rec = &out->rec[out->nrec++];
        memcpy(rec->tag, tag, tl);
        rec->tag[tl] = 0;
        rec->data = p + off;
        rec->len = (uint32_t)rl;
        off += padded;
    }
    return 0;
}

int snap_find(const struct snap_file *f, const char *tag, struct snap_rd *r)
{
    for (unsigned i = 0; i < f->nrec; i++) {
        if (!strcmp(f->rec[i].tag, tag)) {
            *r = (struct snap_rd){.p = f->rec[i].data, .len = f->rec[i].len};
            return 0;
        }
    }
    *r = (struct snap_rd){.bad = true};
    return -ENOENT;
}
