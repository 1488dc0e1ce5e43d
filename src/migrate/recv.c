/*
 * The destination VM's side of the stream (migrate.h): START, PAGES..., STATE,
 * END, each checked before use. Pages land straight in guest RAM; the state
 * record is kept for the snapshot loader, which checks it again field by field.
 * Nothing runs until all of it arrived, so a broken stream leaves a VM that
 * never ran (the daemon discards it).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "migrate/migrate.h"

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static bool page_is_zero(const uint8_t *p)
{
    const uint64_t *q = (const uint64_t *)p;
    for (unsigned i = 0; i < MIG_PAGE / 8; i++)
        if (q[i])
            return false;
    return true;
}

static int bad(struct mig_conn *c, const char *msg)
{
    snprintf(c->err, sizeof(c->err), "%s", msg);
    return -1;
}

static int apply_pages(struct mig_conn *c, struct mig_sink *s, const uint8_t *b, uint32_t n)
{
    if (n < 16)
        return bad(c, "short PAGES record");
    uint64_t first = get64(b), npages = s->ram_size / MIG_PAGE;
    uint32_t count = get32(b + 8), flag = get32(b + 12);
    if (count == 0 || count > MIG_PAGES_MAX || flag > 1 || first >= npages || count > npages - first)
        return bad(c, "PAGES record outside guest RAM");
    if (n != 16 + (flag ? 0 : (uint64_t)count * MIG_PAGE))
        return bad(c, "PAGES record length does not match its page count");
    uint8_t *dst = s->ram + first * MIG_PAGE;
    if (flag) {
        /* Zero pages: only those that hold something (untouched RAM stays unallocated). */
        for (uint32_t i = 0; i < count; i++, dst += MIG_PAGE)
            if (!page_is_zero(dst))
                memset(dst, 0, MIG_PAGE);
        s->zero_pages += count;
    } else {
        memcpy(dst, b + 16, (size_t)count * MIG_PAGE);
        s->pages += count;
    }
    return 0;
}

/* KILN_MIGRATE_VERIFY: the source's CRC of each page against what arrived here. */
static int verify_pages(struct mig_conn *c, struct mig_sink *s, const uint8_t *b, uint32_t n)
{
    if (n < 16)
        return bad(c, "short VERIFY record");
    uint64_t first = get64(b), npages = s->ram_size / MIG_PAGE;
    uint32_t count = get32(b + 8);
    if (count == 0 || count > MIG_VERIFY_MAX || get32(b + 12) || first >= npages || count > npages - first ||
        n != 16 + 4ull * count)
        return bad(c, "VERIFY record outside guest RAM or of the wrong length");
    for (uint32_t i = 0; i < count; i++) {
        uint32_t want = get32(b + 16 + 4ull * i);
        if ((uint32_t)crc32(0, s->ram + (first + i) * MIG_PAGE, MIG_PAGE) != want && !s->mismatched++)
            s->first_mismatch = first + i;
    }
    s->verified += count;
    return 0;
}

int mig_receive(struct mig_conn *c, struct mig_sink *s)
{
    uint32_t cap = mig_max_len(MIG_PAGES);
    uint8_t *buf = malloc(cap);
    uint32_t t, n;
    int ret = -1;
    s->state = NULL;
    s->state_len = 0;
    if (!buf)
        return bad(c, "out of memory");
    if (mig_recv(c, &t, buf, cap, &n))
        goto out;
    if (t != MIG_START || n != 16) {
        bad(c, "the stream does not begin with START");
        goto out;
    }
    if (get64(buf) != s->ram_size || get32(buf + 8) != s->nharts || get32(buf + 12) != MIG_PAGE) {
        snprintf(c->err, sizeof(c->err),
                 "the source VM (%llu bytes of RAM, %u harts) does not match this one (%llu, %u)",
                 (unsigned long long)get64(buf), get32(buf + 8), (unsigned long long)s->ram_size, s->nharts);
        goto out;
    }
    for (;;) {
        if (mig_recv(c, &t, buf, cap, &n))
            goto out;
        if (t == MIG_PAGES) {
            if (s->state) {
                bad(c, "PAGES after STATE");
                goto out;
            }
            if (apply_pages(c, s, buf, n))
                goto out;
        } else if (t == MIG_VERIFY) {
            if (s->state) {
                bad(c, "VERIFY after STATE");
                goto out;
            }
            if (verify_pages(c, s, buf, n))
                goto out;
        } else if (t == MIG_STATE) {
            if (s->state || n == 0) {
                bad(c, "a second or empty STATE record");
                goto out;
            }
            /* Bounded by the receive buffer (a PAGES record, 1 MiB): state files are a few KiB. */
            if (!(s->state = malloc(n))) {
                bad(c, "out of memory");
                goto out;
            }
            memcpy(s->state, buf, n);
            s->state_len = n;
        } else if (t == MIG_END) {
            if (!s->state || n != 8) {
                bad(c, "END before STATE");
                goto out;
            }
            s->rounds = get32(buf);
            if (s->mismatched) {
                snprintf(c->err, sizeof(c->err),
                         "guest RAM differs from the source's in %llu of %llu pages checked (first: page %llu, "
                         "guest physical offset 0x%llx): a write the dirty tracking missed",
                         (unsigned long long)s->mismatched, (unsigned long long)s->verified,
                         (unsigned long long)s->first_mismatch, (unsigned long long)s->first_mismatch * MIG_PAGE);
                goto out;
            }
            ret = 0;
            goto out;
        } else {
            bad(c, "unexpected record in the memory stream");
            goto out;
        }
    }
out:
    free(buf);
    if (ret) {
        free(s->state);
        s->state = NULL;
        s->state_len = 0;
    }
    return ret;
}
