/*
 * qcow2 (versions 2 and 3; QEMU's docs/interop/qcow2.txt, cited as "spec").
 *
 * Reads: standard, zero and compressed (zlib, raw deflate) clusters, and
 * unallocated ones from the backing file (or zeroes). qcow2_write_compressed
 * (kiln img convert -c) packs compressed clusters. Writes: in place into a
 * cluster whose refcount is one (L2 bit 63 "COPIED"); anything else gets a
 * new cluster, filled from the old contents where the write is partial.
 * Write-zeroes and discard set the zero flag (v3), keeping the host cluster.
 *
 * Everything the image says is hostile input: every offset is checked
 * against alignment and the file before use, metadata writes never land on
 * the header, L1 or refcount table, and a bad image is refused at open with
 * a message, never trusted.
 *
 * Crash ordering (kill -9 and host crash). Metadata is written through, and
 * an fdatasync ("barrier", skipped with cache=unsafe) orders the steps that
 * depend on each other, so the file is consistent between any two writes,
 * short of leaked clusters:
 *   1. a new cluster's refcount is written before anything points at it
 *      (a new refcount block is written, barrier, then the table entry);
 *   2. the data (or a new L2 table) is written into it;
 *   3. barrier; then the L2 entries (and L1 entries) that point at it. These
 *      are queued (the in-memory tables already have them) and written at the
 *      guest's FLUSH, when 4096 are queued, or when their L2 table leaves the
 *      cache: many allocating requests share one barrier, and a write the
 *      guest has not flushed is at worst lost, its clusters leaked;
 *   4. a cluster no longer referenced is only given back (refcount
 *      decremented) at a FLUSH, after the barrier that made the new L2
 *      entries durable; a crash before that leaks it, never frees it early.
 * A FLUSH is therefore: barrier, queued entries, barrier, then the frees.
 *
 * Allocation appends: the first free cluster is past the file's end and every
 * cluster with a refcount, found at open.
 */
#define _GNU_SOURCE
#include "backend/qcow2.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "backend/disk_impl.h"
#include "util/log.h"

#define QCOW2_MAGIC 0x514649fbu /* "QFI\xfb" */
#define HDR_V2_LEN 72
#define HDR_V3_LEN 104

#define INCOMPAT_DIRTY (1ull << 0)
#define INCOMPAT_CORRUPT (1ull << 1)
#define INCOMPAT_DATA_FILE (1ull << 2)
#define INCOMPAT_COMPRESSION (1ull << 3)
#define INCOMPAT_EXTL2 (1ull << 4)
#define COMPAT_LAZY_REFCOUNTS (1ull << 0)

#define EXT_END 0x00000000u
#define EXT_BACKING_FMT 0xe2792acau
#define EXT_DATA_FILE 0x44415441u

#define L1_OFF_MASK 0x00fffffffffffe00ull /* spec: bits 9-55 */
#define L2_OFF_MASK 0x00fffffffffffe00ull
#define ENTRY_COPIED (1ull << 63)
#define ENTRY_COMPRESSED (1ull << 62)
#define ENTRY_ZERO 1ull

/* QEMU's own limits, which real images stay inside (spec "size" note). */
#define MAX_L1_BYTES (32u << 20)
#define MAX_REFTABLE_BYTES (8u << 20)
#define MAX_HOST_OFFSET (1ull << 56)
#define L2_CACHE_SLOTS 16
#define MAX_PENDING_FREES 4096
#define MAX_QUEUED_UPDATES 4096

struct l2_slot {
    uint64_t off; /* 0 = empty */
    uint64_t *t;  /* host byte order */
    uint64_t used;
};

/* An L1/L2 entry to write after this request's barrier (crash ordering step 3). */
struct meta_update {
    uint64_t file_off;
    uint64_t value;
    uint64_t old; /* L2 updates: the previous entry, whose cluster is freed later */
};

struct qcow2 {
    struct disk *d;
    struct disk_file *f;
    int version;
    unsigned cluster_bits;
    uint64_t cs;
    uint64_t l2_entries;
    uint64_t incompat, compat, autoclear;
    unsigned refcount_order;
    uint64_t rb_entries;

    uint64_t l1_off;
    uint32_t l1_size;
    uint64_t *l1;
    uint64_t rt_off;
    uint64_t rt_entries;
    uint64_t *rt;

    char backing_name[1024];
    char backing_fmt[32];
    struct disk *backing;

    uint64_t next_free; /* cluster index */
    uint64_t end;       /* file end as we know it */

    struct l2_slot l2c[L2_CACHE_SLOTS];
    uint64_t l2_clock;
    uint8_t *rb;      /* one cached refcount block */
    uint64_t rb_off;  /* 0 = none */
    uint8_t *clbuf;   /* one cluster: COW scratch */
    uint8_t *zbuf;    /* compressed input, 2 clusters + a sector */
    uint8_t *dcbuf;   /* last decompressed cluster */
    uint64_t dc_entry; /* its L2 entry, 0 = none */
    uint64_t cz_next;  /* qcow2_write_compressed: where the next one may go (0 = a new cluster) */
    struct iovec *slice;

    struct meta_update *upd;
    unsigned nupd, maxupd;
    uint64_t *frees; /* L2 entries whose clusters lose a reference at the next flush */
    unsigned nfrees;
    bool broken; /* a corruption found while running: no more writes */
};

static uint32_t be32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return be32toh(v);
}

static uint64_t be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return be64toh(v);
}

static void put_be32(uint8_t *p, uint32_t v)
{
    v = htobe32(v);
    memcpy(p, &v, 4);
}

static void put_be64(uint8_t *p, uint64_t v)
{
    v = htobe64(v);
    memcpy(p, &v, 8);
}

bool qcow2_probe(const uint8_t *buf, size_t len)
{
    /* The magic alone: a qcow2 image of another version is refused, not read as raw. */
    return len >= 4 && be32(buf) == QCOW2_MAGIC;
}

/* A corruption found after open: logged once, the image becomes read-only for us. */
static int corrupt(struct qcow2 *q, const char *what, uint64_t off)
{
    if (!q->broken)
        log_err("qcow2", "%s: %s (offset 0x%llx); no further writes to this image",
                q->d->path, what, (unsigned long long)off);
    q->broken = true;
    return -EIO;
}

/* Is [off, off+len) clear of the header cluster, the L1 table and the refcount table? */
static bool overlaps_meta(const struct qcow2 *q, uint64_t off, uint64_t len)
{
    uint64_t l1_len = (uint64_t)q->l1_size * 8, rt_len = q->rt_entries * 8;
    if (off < q->cs) return true;
    if (off < q->l1_off + l1_len && q->l1_off < off + len) return true;
    if (off < q->rt_off + rt_len && q->rt_off < off + len) return true;
    return false;
}

static int host_write(struct qcow2 *q, const struct iovec *iov, int n, uint64_t off, uint64_t len)
{
    if (overlaps_meta(q, off, len)) return corrupt(q, "a write would overwrite metadata", off);
    int r = dfile_pwritev(q->f, iov, n, off);
    if (r == 0 && off + len > q->end) q->end = off + len;
    return r;
}

static int host_write_buf(struct qcow2 *q, const void *buf, uint64_t len, uint64_t off)
{
    struct iovec iov = {(void *)buf, (size_t)len};
    return host_write(q, &iov, 1, off, len);
}

static int barrier(struct qcow2 *q)
{
    return dfile_sync(q->f);
}

static int commit_updates(struct qcow2 *q);

/* ---- L2 tables ---- */

static int l2_load(struct qcow2 *q, uint64_t off, uint64_t **out)
{
    struct l2_slot *victim = &q->l2c[0];
    for (int i = 0; i < L2_CACHE_SLOTS; i++) {
        struct l2_slot *s = &q->l2c[i];
        if (s->off == off) {
            s->used = ++q->l2_clock;
            *out = s->t;
            return 0;
        }
        if (s->used < victim->used) victim = s;
    }
    if (off % q->cs || off + q->cs > q->end || off + q->cs > MAX_HOST_OFFSET ||
        overlaps_meta(q, off, q->cs))
        return corrupt(q, "L2 table is unaligned, outside the file or over other metadata", off);
    /* Queued entries may sit in the victim: make them durable before it is dropped. */
    if (victim->off && q->nupd) {
        int r = commit_updates(q);
        if (r < 0) return r;
    }
    if (!victim->t) {
        victim->t = malloc(q->cs);
        if (!victim->t) return -ENOMEM;
    }
    victim->off = 0;
    int r = dfile_pread(q->f, victim->t, q->cs, off, true);
    if (r < 0) return r;
    for (uint64_t i = 0; i < q->l2_entries; i++)
        victim->t[i] = be64toh(victim->t[i]);
    victim->off = off;
    victim->used = ++q->l2_clock;
    *out = victim->t;
    return 0;
}

/* L2 entry for a guest cluster; 0 (unallocated) where there is no L2 table. */
static int l2_entry(struct qcow2 *q, uint64_t gcl, uint64_t *e, uint64_t **table)
{
    uint64_t l1i = gcl / q->l2_entries;
    *e = 0;
    if (table) *table = NULL;
    if (l1i >= q->l1_size) return 0;
    uint64_t l2off = q->l1[l1i] & L1_OFF_MASK;
    if (!l2off) return 0;
    uint64_t *t;
    int r = l2_load(q, l2off, &t);
    if (r < 0) return r;
    *e = t[gcl % q->l2_entries];
    if (table) *table = t;
    return 0;
}

/* ---- refcounts ---- */

static int rb_load(struct qcow2 *q, uint64_t off)
{
    if (q->rb_off == off) return 0;
    if (off % q->cs || off + q->cs > q->end || overlaps_meta(q, off, q->cs))
        return corrupt(q, "refcount block is unaligned, outside the file or over other metadata",
                       off);
    q->rb_off = 0;
    int r = dfile_pread(q->f, q->rb, q->cs, off, true);
    if (r < 0) return r;
    q->rb_off = off;
    return 0;
}

static uint64_t rb_get(const struct qcow2 *q, const uint8_t *rb, uint64_t i)
{
    unsigned bits = 1u << q->refcount_order;
    if (bits < 8) {
        uint64_t bit = i * bits;
        return (rb[bit / 8] >> (bit % 8)) & ((1u << bits) - 1); /* spec: bit 0 is the LSB */
    }
    uint64_t v = 0;
    for (unsigned k = 0; k < bits / 8; k++)
        v = v << 8 | rb[i * (bits / 8) + k];
    return v;
}

/* Sets entry i; returns the byte range to write back in *at, *len. */
static void rb_set(const struct qcow2 *q, uint8_t *rb, uint64_t i, uint64_t v, uint64_t *at,
                   unsigned *len)
{
    unsigned bits = 1u << q->refcount_order;
    if (bits < 8) {
        uint64_t bit = i * bits;
        uint8_t mask = (uint8_t)(((1u << bits) - 1) << (bit % 8));
        rb[bit / 8] = (uint8_t)((rb[bit / 8] & ~mask) | ((v << (bit % 8)) & mask));
        *at = bit / 8;
        *len = 1;
        return;
    }
    unsigned nb = bits / 8;
    for (unsigned k = 0; k < nb; k++)
        rb[i * nb + k] = (uint8_t)(v >> (8 * (nb - 1 - k)));
    *at = i * nb;
    *len = nb;
}

static uint64_t refcount_max(const struct qcow2 *q)
{
    unsigned bits = 1u << q->refcount_order;
    return bits == 64 ? UINT64_MAX : (1ull << bits) - 1;
}

static int refcount_get(struct qcow2 *q, uint64_t cl, uint64_t *out)
{
    uint64_t ri = cl / q->rb_entries;
    *out = 0;
    if (ri >= q->rt_entries || !q->rt[ri]) return 0;
    int r = rb_load(q, q->rt[ri]);
    if (r < 0) return r;
    *out = rb_get(q, q->rb, cl % q->rb_entries);
    return 0;
}

/* Adds delta (+1 / -1) to a cluster's refcount whose refcount block exists. */
static int refcount_add(struct qcow2 *q, uint64_t cl, int delta)
{
    uint64_t ri = cl / q->rb_entries;
    if (ri >= q->rt_entries || !q->rt[ri])
        return corrupt(q, "refcount change for a cluster without a refcount block", cl * q->cs);
    int r = rb_load(q, q->rt[ri]);
    if (r < 0) return r;
    uint64_t i = cl % q->rb_entries, v = rb_get(q, q->rb, i);
    if ((delta < 0 && v == 0) || (delta > 0 && v == refcount_max(q)))
        return corrupt(q, "refcount would underflow or overflow", cl * q->cs);
    v = delta < 0 ? v - 1 : v + 1;
    uint64_t at;
    unsigned len;
    rb_set(q, q->rb, i, v, &at, &len);
    return dfile_pwrite(q->f, q->rb + at, len, q->rb_off + at);
}

/* Does refcount block index r need a new block (none yet, or past the old table)? */
static bool rb_missing(const struct qcow2 *q, uint64_t r)
{
    return r >= q->rt_entries || !q->rt[r];
}

/*
 * The refcount table is full: a bigger one is written past the end of the file
 * with the refcount blocks that cover it (and themselves), then the header is
 * pointed at it in one 12-byte write (offset and cluster count together), then
 * the old table's clusters are given back. A crash before the header write
 * leaves the old table in force and the new clusters unreferenced (leaked, at
 * worst); after it, the new table is already durable.
 */
static int grow_reftable(struct qcow2 *q)
{
    uint64_t per_cl = q->cs / 8, start = q->next_free;
    uint64_t nt = 0, nb = 0, new_entries = 0;
    /* Table clusters (nt) and new blocks (nb) such that everything covers itself. */
    for (int iter = 0; iter < 64; iter++) {
        uint64_t end = start + nt + nb;
        uint64_t last_r = (end ? end - 1 : 0) / q->rb_entries;
        uint64_t want = q->rt_entries * 2 > last_r + 1 ? q->rt_entries * 2 : last_r + 1;
        uint64_t want_nt = (want + per_cl - 1) / per_cl;
        uint64_t want_nb = 0;
        for (uint64_t r = start / q->rb_entries; r <= last_r; r++)
            want_nb += rb_missing(q, r);
        if (nt && want_nt == nt && want_nb == nb) {
            new_entries = nt * per_cl;
            break;
        }
        nt = want_nt;
        nb = want_nb;
    }
    if (!new_entries || nt * q->cs > MAX_REFTABLE_BYTES ||
        (start + nt + nb) * q->cs > MAX_HOST_OFFSET) {
        log_err("qcow2", "%s: the refcount table cannot grow any further", q->d->path);
        return -ENOSPC;
    }
    uint64_t end = start + nt + nb;
    uint64_t *rt = calloc(new_entries, 8);
    uint8_t *blk = malloc(q->cs);
    uint8_t *disk_rt = malloc(nt * q->cs);
    int r = -ENOMEM;
    if (!rt || !blk || !disk_rt) goto out;
    memcpy(rt, q->rt, q->rt_entries * 8);
    /* New blocks at start + nt.., each counting the new clusters it covers. */
    uint64_t b = start + nt;
    for (uint64_t ri = start / q->rb_entries; ri <= (end - 1) / q->rb_entries; ri++) {
        if (!rb_missing(q, ri)) continue;
        memset(blk, 0, q->cs);
        for (uint64_t cl = start; cl < end; cl++) {
            if (cl / q->rb_entries != ri) continue;
            uint64_t at;
            unsigned len;
            rb_set(q, blk, cl % q->rb_entries, 1, &at, &len);
        }
        if ((r = host_write_buf(q, blk, q->cs, b * q->cs)) < 0) goto out;
        rt[ri] = b * q->cs;
        b++;
    }
    /* New clusters under existing blocks: counted there. */
    for (uint64_t cl = start; cl < end; cl++) {
        if (rb_missing(q, cl / q->rb_entries)) continue;
        if ((r = refcount_add(q, cl, +1)) < 0) goto out;
    }
    for (uint64_t i = 0; i < new_entries; i++) {
        uint64_t v = htobe64(rt[i]);
        memcpy(disk_rt + i * 8, &v, 8);
    }
    memset(disk_rt + new_entries * 8, 0, nt * q->cs - new_entries * 8);
    if ((r = host_write_buf(q, disk_rt, nt * q->cs, start * q->cs)) < 0) goto out;
    if ((r = barrier(q)) < 0) goto out;
    uint8_t hdr[12];
    put_be64(hdr, start * q->cs);
    put_be32(hdr + 8, (uint32_t)nt);
    if ((r = dfile_pwrite(q->f, hdr, sizeof(hdr), 48)) < 0) goto out;
    if ((r = barrier(q)) < 0) goto out;
    uint64_t old_off = q->rt_off, old_cl = (q->rt_entries * 8 + q->cs - 1) / q->cs;
    free(q->rt);
    q->rt = rt;
    rt = NULL;
    q->rt_off = start * q->cs;
    q->rt_entries = new_entries;
    q->next_free = end;
    q->rb_off = 0;
    for (uint64_t i = 0; i < old_cl; i++) /* the old table: a leak at worst if this fails */
        if (refcount_add(q, old_off / q->cs + i, -1) < 0) break;
    r = 0;
out:
    free(rt);
    free(blk);
    free(disk_rt);
    return r;
}

/* Crash ordering step 1: one new cluster with refcount 1, appended. Returns its offset. */
static int alloc_cluster(struct qcow2 *q, uint64_t *out)
{
    for (;;) {
        uint64_t cl = q->next_free;
        if ((cl + 1) * q->cs > MAX_HOST_OFFSET) return -ENOSPC;
        uint64_t ri = cl / q->rb_entries;
        if (ri >= q->rt_entries) {
            int r = grow_reftable(q);
            if (r < 0) return r;
            continue;
        }
        if (!q->rt[ri]) {
            /* A new refcount block at cl, counting itself; then the table entry. */
            memset(q->clbuf, 0, q->cs);
            uint64_t at;
            unsigned len;
            rb_set(q, q->clbuf, cl % q->rb_entries, 1, &at, &len);
            int r = host_write_buf(q, q->clbuf, q->cs, cl * q->cs);
            if (r < 0) return r;
            if ((r = barrier(q)) < 0) return r;
            uint8_t ent[8];
            put_be64(ent, cl * q->cs);
            r = dfile_pwrite(q->f, ent, 8, q->rt_off + ri * 8);
            if (r < 0) return r;
            q->rt[ri] = cl * q->cs;
            q->next_free++;
            continue;
        }
        uint64_t rc;
        int r = refcount_get(q, cl, &rc);
        if (r < 0) return r;
        q->next_free++;
        if (rc) continue; /* in use after all (a refcount past the file's end) */
        if ((r = refcount_add(q, cl, +1)) < 0) return r;
        *out = cl * q->cs;
        return 0;
    }
}

/* ---- reading ---- */

static int read_compressed(struct qcow2 *q, uint64_t e)
{
    if (q->dc_entry == e) return 0;
    unsigned x = 62 - (q->cluster_bits - 8); /* spec: Compressed Clusters Descriptor */
    uint64_t off = e & ((1ull << x) - 1);
    uint64_t nsec = (e & ~(ENTRY_COPIED | ENTRY_COMPRESSED)) >> x;
    uint64_t len = (nsec + 1) * 512 - (off & 511);
    if (off >= MAX_HOST_OFFSET || off >= q->end || off < q->cs)
        return corrupt(q, "compressed cluster outside the file", off);
    if (off + len > q->end) len = q->end - off;
    q->dc_entry = 0;
    int r = dfile_pread(q->f, q->zbuf, (size_t)len, off, true);
    if (r < 0) return r;
    z_stream zs = {0};
    if (inflateInit2(&zs, -15) != Z_OK) return -ENOMEM; /* raw deflate, as QEMU writes it */
    zs.next_in = q->zbuf;
    zs.avail_in = (uInt)len;
    zs.next_out = q->dcbuf;
    zs.avail_out = (uInt)q->cs;
    int zr = inflate(&zs, Z_FINISH);
    uInt left = zs.avail_out;
    inflateEnd(&zs);
    /* Decompression stops when it has a whole cluster; less is a broken image. */
    if ((zr != Z_STREAM_END && zr != Z_BUF_ERROR && zr != Z_OK) || left != 0)
        return corrupt(q, "compressed cluster does not decompress to a whole cluster", off);
    q->dc_entry = e;
    return 0;
}

/* Reads len bytes at in-cluster offset inoff of guest cluster gcl into iov. */
static int read_chunk(struct qcow2 *q, uint64_t gcl, uint64_t inoff, const struct iovec *iov,
                      int n, uint64_t len)
{
    uint64_t e;
    int r = l2_entry(q, gcl, &e, NULL);
    if (r < 0) return r;
    if (e & ENTRY_COMPRESSED) {
        if ((r = read_compressed(q, e)) < 0) return r;
        iov_from_buf(iov, n, q->dcbuf + inoff);
        return 0;
    }
    if (q->version >= 3 && (e & ENTRY_ZERO)) {
        iov_memset(iov, n, 0);
        return 0;
    }
    uint64_t host = e & L2_OFF_MASK;
    if (host) {
        if (host % q->cs) return corrupt(q, "data cluster offset is unaligned", host);
        return dfile_preadv(q->f, iov, n, host + inoff, true);
    }
    /* Unallocated: the backing file, zeroes past its end (spec "Cluster mapping"). */
    uint64_t goff = gcl * q->cs + inoff, have = 0;
    if (q->backing && goff < q->backing->size) {
        have = q->backing->size - goff < len ? q->backing->size - goff : len;
        struct iovec part[IOV_MAX];
        int k = iov_slice(iov, n, 0, have, part, IOV_MAX);
        if (k < 0) return -EINVAL;
        if ((r = disk_preadv(q->backing, part, k, goff)) < 0) return r;
    }
    if (have < len) {
        struct iovec part[IOV_MAX];
        int k = iov_slice(iov, n, have, len - have, part, IOV_MAX);
        if (k < 0) return -EINVAL;
        iov_memset(part, k, 0);
    }
    return 0;
}

static int q_preadv(struct disk *d, const struct iovec *iov, int n, uint64_t off)
{
    struct qcow2 *q = d->priv;
    uint64_t total = 0, pos = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    while (pos < total) {
        uint64_t g = off + pos, inoff = g % q->cs;
        uint64_t len = q->cs - inoff < total - pos ? q->cs - inoff : total - pos;
        int k = iov_slice(iov, n, pos, len, q->slice, IOV_MAX);
        if (k < 0) return -EINVAL;
        int r = read_chunk(q, g / q->cs, inoff, q->slice, k, len);
        if (r < 0) return r;
        pos += len;
    }
    return 0;
}

/* ---- writing ---- */

static int queue_update(struct qcow2 *q, uint64_t file_off, uint64_t value, uint64_t old)
{
    if (q->nupd == q->maxupd) {
        unsigned m = q->maxupd ? q->maxupd * 2 : 64;
        struct meta_update *u = realloc(q->upd, m * sizeof(*u));
        if (!u) return -ENOMEM;
        q->upd = u;
        q->maxupd = m;
    }
    q->upd[q->nupd++] = (struct meta_update){file_off, value, old};
    return 0;
}

/* A cluster no longer referenced after an L2 update; its reference goes at the next flush. */
static void queue_free(struct qcow2 *q, uint64_t old)
{
    bool referenced = (old & ENTRY_COMPRESSED) || (old & L2_OFF_MASK);
    if (!referenced) return;
    if (q->nfrees == MAX_PENDING_FREES) return; /* leaks it: harmless, qemu-img check -r leaks */
    q->frees[q->nfrees++] = old;
}

/* Crash ordering step 3: barrier, then the entries. */
static int commit_updates(struct qcow2 *q)
{
    if (!q->nupd) return 0;
    int r = barrier(q);
    for (unsigned i = 0; r == 0 && i < q->nupd; i++) {
        uint8_t ent[8];
        put_be64(ent, q->upd[i].value);
        r = dfile_pwrite(q->f, ent, 8, q->upd[i].file_off);
        if (r == 0) queue_free(q, q->upd[i].old);
    }
    q->nupd = 0;
    return r;
}

/* The L2 table for gcl, allocating an empty one (written now, its L1 entry queued). */
static int l2_for_write(struct qcow2 *q, uint64_t gcl, uint64_t **table, uint64_t *l2off)
{
    uint64_t l1i = gcl / q->l2_entries;
    if (l1i >= q->l1_size) return corrupt(q, "write beyond the L1 table", gcl * q->cs);
    uint64_t l1e = q->l1[l1i];
    uint64_t off = l1e & L1_OFF_MASK;
    if (off) {
        if (!(l1e & ENTRY_COPIED))
            return corrupt(q, "shared L2 table (internal snapshot); cannot write", off);
        *l2off = off;
        return l2_load(q, off, table);
    }
    int r = alloc_cluster(q, &off);
    if (r < 0) return r;
    memset(q->clbuf, 0, q->cs);
    if ((r = host_write_buf(q, q->clbuf, q->cs, off)) < 0) return r;
    q->l1[l1i] = off | ENTRY_COPIED;
    if ((r = queue_update(q, q->l1_off + l1i * 8, off | ENTRY_COPIED, 0)) < 0) return r;
    *l2off = off;
    return l2_load(q, off, table);
}

/* One chunk inside one guest cluster; data goes out now, the L2 entry is queued. */
static int write_chunk(struct qcow2 *q, uint64_t gcl, uint64_t inoff, const struct iovec *iov,
                       int n, uint64_t len, bool zero)
{
    uint64_t *t, l2off;
    int r;
    if (zero) {
        /* Already reads as zeroes: nothing to do, and no L2 table to allocate for it. */
        uint64_t e0;
        if ((r = l2_entry(q, gcl, &e0, NULL)) < 0) return r;
        bool comp = e0 & ENTRY_COMPRESSED;
        if (!comp && ((q->version >= 3 && (e0 & ENTRY_ZERO)) ||
                      (!(e0 & L2_OFF_MASK) && !q->backing)))
            return 0;
    }
    r = l2_for_write(q, gcl, &t, &l2off);
    if (r < 0) return r;
    uint64_t idx = gcl % q->l2_entries, e = t[idx];
    uint64_t host = e & L2_OFF_MASK;
    bool normal = !(e & ENTRY_COMPRESSED) && host && (e & ENTRY_COPIED);
    /* Bit 0 is the zero flag only in a standard descriptor; in a compressed one it is offset. */
    bool zflag = !(e & ENTRY_COMPRESSED) && q->version >= 3 && (e & ENTRY_ZERO);
    if (normal && host % q->cs) return corrupt(q, "data cluster offset is unaligned", host);

    if (zero && q->version >= 3 && len == q->cs) {
        /* A whole cluster of zeroes: the zero flag, keeping a cluster we own (spec bit 0). */
        uint64_t ne = normal ? (host | ENTRY_COPIED | ENTRY_ZERO) : ENTRY_ZERO;
        if (e == ne) return 0;
        t[idx] = ne;
        return queue_update(q, l2off + idx * 8, ne, normal ? 0 : e);
    }
    if (normal && !zflag) { /* in place: no metadata */
        if (!zero) return host_write(q, iov, n, host + inoff, len);
        if (overlaps_meta(q, host + inoff, len))
            return corrupt(q, "a write would overwrite metadata", host);
        return dfile_zero(q->f, host + inoff, len);
    }

    /* The cluster first: a new refcount block on the way is built in clbuf. */
    uint64_t target = normal ? host : 0;
    if (!target && (r = alloc_cluster(q, &target)) < 0) return r;
    /* Whole new contents of the cluster: old contents (or zeroes), then the new bytes. */
    uint8_t *buf = q->clbuf;
    if (len < q->cs) {
        if (zflag) {
            memset(buf, 0, q->cs);
        } else {
            struct iovec whole = {buf, q->cs};
            if ((r = read_chunk(q, gcl, 0, &whole, 1, q->cs)) < 0) return r;
        }
    }
    if (zero)
        memset(buf + inoff, 0, len);
    else
        iov_to_buf(iov, n, buf + inoff);
    if ((r = host_write_buf(q, buf, q->cs, target)) < 0) return r;
    uint64_t ne = target | ENTRY_COPIED;
    t[idx] = ne;
    if (q->dc_entry == e) q->dc_entry = 0;
    return queue_update(q, l2off + idx * 8, ne, normal ? 0 : e);
}

static int write_range(struct qcow2 *q, const struct iovec *iov, int n, uint64_t off,
                       uint64_t total, bool zero)
{
    if (q->broken) return -EIO;
    uint64_t pos = 0;
    int r = 0;
    while (pos < total) {
        uint64_t g = off + pos, inoff = g % q->cs;
        uint64_t len = q->cs - inoff < total - pos ? q->cs - inoff : total - pos;
        int k = 0;
        if (!zero && (k = iov_slice(iov, n, pos, len, q->slice, IOV_MAX)) < 0) {
            r = -EINVAL;
            break;
        }
        if ((r = write_chunk(q, g / q->cs, inoff, q->slice, k, len, zero)) < 0) break;
        pos += len;
    }
    /*
     * The entries wait for the guest's FLUSH (or a full queue, or an L2 table leaving the
     * cache): until then the request is not durable anyway, and the data written so far
     * is only unreferenced space after a crash. One barrier then covers many requests.
     */
    int c = q->nupd >= MAX_QUEUED_UPDATES ? commit_updates(q) : 0;
    return r < 0 ? r : c;
}

static int q_pwritev(struct disk *d, const struct iovec *iov, int n, uint64_t off)
{
    uint64_t total = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    return write_range(d->priv, iov, n, off, total, false);
}

static int q_write_zeroes(struct disk *d, uint64_t off, uint64_t len)
{
    return write_range(d->priv, NULL, 0, off, len, true);
}

/* Discard (a hint, virtio 1.2 §5.2.6.2): whole clusters become zero clusters, their host space a hole. */
static int q_discard(struct disk *d, uint64_t off, uint64_t len)
{
    struct qcow2 *q = d->priv;
    if (q->version < 3) return 0;
    uint64_t first = (off + q->cs - 1) / q->cs, end = (off + len) / q->cs;
    if (end <= first) return 0;
    int r = write_range(q, NULL, 0, first * q->cs, (end - first) * q->cs, true);
    if (r < 0) return r;
    for (uint64_t gcl = first; gcl < end; gcl++) {
        uint64_t e;
        if (l2_entry(q, gcl, &e, NULL) < 0) break;
        uint64_t host = e & L2_OFF_MASK;
        if ((e & ENTRY_ZERO) && !(e & ENTRY_COMPRESSED) && host && !(host % q->cs) &&
            !overlaps_meta(q, host, q->cs))
            dfile_punch(q->f, host, q->cs); /* reads as zeroes anyway: the flag says so */
    }
    return 0;
}

/* Crash ordering step 4: references dropped only once the new entries are durable. */
static int q_flush(struct disk *d)
{
    struct qcow2 *q = d->priv;
    int r = commit_updates(q); /* barrier, entries */
    if (r == 0) r = barrier(q); /* the entries durable before any reference is dropped */
    if (r < 0 || q->broken) return r;
    unsigned n = q->nfrees;
    q->nfrees = 0;
    if (n) q->cz_next = 0; /* the cluster being packed may lose its references */
    for (unsigned i = 0; i < n; i++) {
        uint64_t e = q->frees[i];
        uint64_t start, stop;
        if (e & ENTRY_COMPRESSED) {
            unsigned x = 62 - (q->cluster_bits - 8);
            uint64_t off = e & ((1ull << x) - 1);
            uint64_t nsec = (e & ~(ENTRY_COPIED | ENTRY_COMPRESSED)) >> x;
            start = off / q->cs;
            stop = (off + (nsec + 1) * 512 - (off & 511) - 1) / q->cs;
        } else {
            start = stop = (e & L2_OFF_MASK) / q->cs;
        }
        for (uint64_t cl = start; cl <= stop; cl++) {
            if ((r = refcount_add(q, cl, -1)) < 0) return r;
            uint64_t rc;
            if (refcount_get(q, cl, &rc) == 0 && rc == 0 && !overlaps_meta(q, cl * q->cs, q->cs))
                dfile_punch(q->f, cl * q->cs, q->cs);
        }
    }
    return 0;
}

static void q_info(struct disk *d, struct disk_info *out)
{
    struct qcow2 *q = d->priv;
    out->format = DISK_FORMAT_QCOW2;
    out->cluster_size = (uint32_t)q->cs;
    out->version = q->version;
    out->refcount_bits = 1 << q->refcount_order;
    out->dirty = q->incompat & INCOMPAT_DIRTY;
    out->corrupt = q->incompat & INCOMPAT_CORRUPT;
    out->lazy_refcounts = q->compat & COMPAT_LAZY_REFCOUNTS;
    snprintf(out->backing, sizeof(out->backing), "%s", q->backing_name);
    snprintf(out->backing_fmt, sizeof(out->backing_fmt), "%s", q->backing_fmt);
}

/* The in-memory state only: no flush, the backing disk left to the caller. */
static void q_free(struct qcow2 *q)
{
    for (int i = 0; i < L2_CACHE_SLOTS; i++)
        free(q->l2c[i].t);
    free(q->l1);
    free(q->rt);
    free(q->rb);
    free(q->clbuf);
    free(q->zbuf);
    free(q->dcbuf);
    free(q->slice);
    free(q->upd);
    free(q->frees);
    free(q);
}

static void q_close(struct disk *d)
{
    struct qcow2 *q = d->priv;
    if (!q) return;
    if (!d->readonly && q->f->fd >= 0) q_flush(d);
    disk_close(q->backing);
    q_free(q);
    d->priv = NULL;
}

/*
 * Another process wrote the image while this one held it open without its lock (a migration's
 * source, docs/migration.md): every table, cached L2 and refcount block and the file's end may
 * have moved. The header is parsed again as at open, the backing disk kept (its path may not
 * be reachable from a jail any more; it is read-only, so nothing in it changed).
 */
static int q_reload(struct disk *d, char **err)
{
    struct qcow2 *old = d->priv;
    if (old->nupd || old->nfrees) {
        disk_set_err(err, "disk %s: qcow2 metadata changes are pending here", d->path);
        return -1;
    }
    off_t end = lseek(d->file.fd, 0, SEEK_END);
    if (end < 0) {
        disk_set_err(err, "disk %s: cannot find its size: %s", d->path, strerror(errno));
        return -1;
    }
    struct disk tmp = *d;
    tmp.priv = NULL;
    tmp.file.size = (uint64_t)end;
    struct disk_opts o = {.readonly = d->readonly, .cache = d->file.cache, .no_backing = true};
    int r = qcow2_attach(&tmp, &o, NULL, err);
    struct qcow2 *q = tmp.priv;
    if (r == 0 && (tmp.size != d->size || strcmp(q->backing_name, old->backing_name))) {
        disk_set_err(err, "disk %s: its qcow2 size or backing file changed under this process",
                     d->path);
        r = -1;
    }
    if (r < 0) {
        if (q) q_free(q);
        return -1;
    }
    q->d = d;
    q->f = &d->file;
    q->backing = old->backing;
    old->backing = NULL;
    d->file.size = tmp.file.size;
    d->priv = q;
    q_free(old);
    return 0;
}

static const struct disk_driver qcow2_driver = {
    .name = "qcow2",
    .preadv = q_preadv,
    .pwritev = q_pwritev,
    .flush = q_flush,
    .discard = q_discard,
    .write_zeroes = q_write_zeroes,
    .info = q_info,
    .close = q_close,
    .reload = q_reload,
};

/* ---- open ---- */

/* Header extensions (spec "Header extensions"); 0 or -1 with *err set. */
static int parse_extensions(struct qcow2 *q, const uint8_t *h, uint64_t start, uint64_t limit,
                            char **err)
{
    const char *p = q->d->path;
    uint64_t pos = start;
    while (pos + 8 <= limit) {
        uint32_t type = be32(h + pos), len = be32(h + pos + 4);
        if (type == EXT_END) return 0;
        if (len > limit - pos - 8) {
            disk_set_err(err, "disk %s: qcow2 header extension 0x%08x runs past the first cluster",
                         p, type);
            return -1;
        }
        const uint8_t *data = h + pos + 8;
        if (type == EXT_BACKING_FMT) {
            if (len == 0 || len >= sizeof(q->backing_fmt)) {
                disk_set_err(err, "disk %s: qcow2 backing format name is %s", p,
                             len ? "too long" : "empty");
                return -1;
            }
            memcpy(q->backing_fmt, data, len);
            q->backing_fmt[len] = 0;
        } else if (type == EXT_DATA_FILE) {
            disk_set_err(err, "disk %s: qcow2 external data files are not supported", p);
            return -1;
        }
        pos += 8 + (((uint64_t)len + 7) & ~7ull);
    }
    return 0;
}

/* Is [off, off+len) cluster-aligned, inside the file, and clear of the header cluster? */
static bool table_ok(const struct qcow2 *q, uint64_t off, uint64_t len)
{
    return off % q->cs == 0 && off >= q->cs && off < MAX_HOST_OFFSET && len <= q->end &&
           off <= q->end - len;
}

static int open_backing(struct qcow2 *q, const struct disk_opts *o, struct disk_chain *chain,
                        char **err)
{
    const char *p = q->d->path;
    char *path = disk_backing_path(p, q->backing_name);
    if (!path) {
        disk_set_err(err, "disk %s: out of memory", p);
        return -1;
    }
    enum disk_format fmt = DISK_FORMAT_AUTO;
    if (q->backing_fmt[0] && disk_format_parse(q->backing_fmt, &fmt) < 0) {
        disk_set_err(err, "disk %s: backing file %s has format '%s', which kiln cannot read", p,
                     q->backing_name, q->backing_fmt);
        free(path);
        return -1;
    }
    struct disk_opts bo = {.readonly = true, .cache = o->cache, .format = fmt};
    char *berr = NULL;
    q->backing = disk_open_chain(path, &bo, chain, &berr);
    free(path);
    if (!q->backing) {
        /* berr reads "disk BASE: why": say "backing file BASE: why", not "disk" twice. */
            disk_set_err(err, "disk %s: backing file %s", p,
                         berr ? (strncmp(berr, "disk ", 5) ? berr : berr + 5) : "cannot be opened");
        free(berr);
        return -1;
    }
    /* A probed raw backing file is read-only here: nothing to guard. */
    return 0;
}

/* The first free cluster: past the file and past every cluster with a refcount. */
static int find_next_free(struct qcow2 *q)
{
    q->next_free = (q->end + q->cs - 1) / q->cs;
    for (uint64_t ri = 0; ri < q->rt_entries; ri++) {
        if (!q->rt[ri]) continue;
        int r = rb_load(q, q->rt[ri]);
        if (r < 0) return r;
        for (uint64_t i = q->rb_entries; i-- > 0;) {
            if (rb_get(q, q->rb, i)) {
                uint64_t cl = ri * q->rb_entries + i + 1;
                if (cl > q->next_free) q->next_free = cl;
                break;
            }
        }
    }
    return 0;
}

int qcow2_attach(struct disk *d, const struct disk_opts *o, struct disk_chain *chain, char **err)
{
    const char *p = d->path;
    uint8_t h[HDR_V3_LEN + 8];
    memset(h, 0, sizeof(h));
    struct qcow2 *q = calloc(1, sizeof(*q));
    if (!q) {
        disk_set_err(err, "disk %s: out of memory", p);
        return -1;
    }
    d->priv = q;
    d->drv = &qcow2_driver;
    q->d = d;
    q->f = &d->file;
    q->end = d->file.size;
    if (dfile_pread(q->f, h, sizeof(h), 0, true) < 0 || be32(h) != QCOW2_MAGIC) {
        disk_set_err(err, "disk %s: not a qcow2 image", p);
        return -1;
    }
    q->version = (int)be32(h + 4);
    if (q->version != 2 && q->version != 3) {
        disk_set_err(err, "disk %s: qcow2 version %d is not supported (only 2 and 3)", p,
                     q->version);
        return -1;
    }
    uint64_t backing_off = be64(h + 8);
    uint32_t backing_len = be32(h + 16);
    q->cluster_bits = be32(h + 20);
    uint64_t size = be64(h + 24);
    uint32_t crypt = be32(h + 32);
    q->l1_size = be32(h + 36);
    q->l1_off = be64(h + 40);
    q->rt_off = be64(h + 48);
    uint32_t rt_clusters = be32(h + 56);
    uint32_t nb_snapshots = be32(h + 60);
    uint32_t hdr_len = HDR_V2_LEN;
    q->refcount_order = 4;
    if (q->version == 3) {
        q->incompat = be64(h + 72);
        q->compat = be64(h + 80);
        q->autoclear = be64(h + 88);
        q->refcount_order = be32(h + 96);
        hdr_len = be32(h + 100);
    }
    if (q->cluster_bits < 9 || q->cluster_bits > 21) {
        disk_set_err(err, "disk %s: qcow2 cluster size 2^%u is outside 512 B..2 MiB", p,
                     q->cluster_bits);
        return -1;
    }
    q->cs = 1ull << q->cluster_bits;
    q->l2_entries = q->cs / 8;
    if (q->version == 3 && (hdr_len < HDR_V3_LEN || hdr_len % 8 || hdr_len > q->cs)) {
        disk_set_err(err, "disk %s: qcow2 header length %u is invalid", p, hdr_len);
        return -1;
    }
    uint64_t known = INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_DATA_FILE |
                     INCOMPAT_COMPRESSION | INCOMPAT_EXTL2;
    if (q->incompat & ~known) {
        disk_set_err(err, "disk %s: qcow2 image uses unknown incompatible features (0x%llx)", p,
                     (unsigned long long)(q->incompat & ~known));
        return -1;
    }
    if (q->incompat & INCOMPAT_DATA_FILE) {
        disk_set_err(err, "disk %s: qcow2 external data files are not supported", p);
        return -1;
    }
    if (q->incompat & INCOMPAT_EXTL2) {
        disk_set_err(err, "disk %s: qcow2 extended L2 entries (subclusters) are not supported", p);
        return -1;
    }
    if (q->incompat & INCOMPAT_COMPRESSION) {
        int type = hdr_len > 104 ? h[104] : 0;
        disk_set_err(err, "disk %s: qcow2 compression type %d is not supported (only zlib)", p,
                     type);
        return -1;
    }
    if (crypt) {
        disk_set_err(err, "disk %s: encrypted qcow2 images are not supported", p);
        return -1;
    }
    if (q->refcount_order > 6) {
        disk_set_err(err, "disk %s: qcow2 refcount order %u is invalid (at most 6)", p,
                     q->refcount_order);
        return -1;
    }
    q->rb_entries = q->cs * 8 >> q->refcount_order;
    if (!o->readonly && (q->incompat & (INCOMPAT_DIRTY | INCOMPAT_CORRUPT))) {
        disk_set_err(err,
                     "disk %s: qcow2 image is marked %s; open it read-only or repair it with "
                     "'qemu-img check -r all'",
                     p, q->incompat & INCOMPAT_CORRUPT ? "corrupt" : "dirty");
        return -1;
    }
    if (!o->readonly && nb_snapshots) {
        disk_set_err(err,
                     "disk %s: qcow2 image has internal snapshots; kiln writes only images "
                     "without them (open it read-only, or use an overlay)",
                     p);
        return -1;
    }
    /* Huge sizes: the L1 table must cover the disk, inside QEMU's 32 MiB limit. */
    uint64_t per_l2 = q->l2_entries * q->cs;
    if (size > MAX_HOST_OFFSET || size > (uint64_t)INT64_MAX) {
        disk_set_err(err, "disk %s: qcow2 virtual size %llu is too large", p,
                     (unsigned long long)size);
        return -1;
    }
    uint64_t l1_need = (size + per_l2 - 1) / per_l2;
    if ((uint64_t)q->l1_size * 8 > MAX_L1_BYTES || l1_need > q->l1_size) {
        disk_set_err(err, "disk %s: qcow2 L1 table (%u entries) is too %s for the disk size", p,
                     q->l1_size, l1_need > q->l1_size ? "small" : "large");
        return -1;
    }
    d->size = size;

    /* The first cluster: header extensions and the backing file name. */
    uint8_t *h0 = malloc(q->cs);
    if (!h0) {
        disk_set_err(err, "disk %s: out of memory", p);
        return -1;
    }
    if (dfile_pread(q->f, h0, q->cs, 0, true) < 0) {
        free(h0);
        disk_set_err(err, "disk %s: cannot read the qcow2 header", p);
        return -1;
    }
    int r = parse_extensions(q, h0, hdr_len, q->cs, err);
    if (r == 0 && backing_off) {
        if (backing_len == 0 || backing_len > 1023 || backing_off > q->cs ||
            backing_len > q->cs - backing_off) {
            disk_set_err(err, "disk %s: qcow2 backing file name is outside the header cluster",
                         p);
            r = -1;
        } else {
            memcpy(q->backing_name, h0 + backing_off, backing_len);
            q->backing_name[backing_len] = 0;
            if (strlen(q->backing_name) != backing_len) {
                disk_set_err(err, "disk %s: qcow2 backing file name contains a NUL byte", p);
                r = -1;
            }
        }
    }
    free(h0);
    if (r < 0) return -1;

    /* L1 and refcount tables: aligned, inside the file, clear of the header and each other. */
    uint64_t l1_bytes = (uint64_t)q->l1_size * 8;
    if (q->l1_size && !table_ok(q, q->l1_off, l1_bytes)) {
        disk_set_err(err, "disk %s: qcow2 L1 table is unaligned, outside the file or over the header",
                     p);
        return -1;
    }
    uint64_t rt_bytes = (uint64_t)rt_clusters * q->cs;
    if (!rt_clusters || rt_bytes > MAX_REFTABLE_BYTES || !table_ok(q, q->rt_off, rt_bytes)) {
        disk_set_err(err,
                     "disk %s: qcow2 refcount table is empty, too large, unaligned, outside the "
                     "file or over the header",
                     p);
        return -1;
    }
    if (q->l1_size && q->l1_off < q->rt_off + rt_bytes && q->rt_off < q->l1_off + l1_bytes) {
        disk_set_err(err, "disk %s: qcow2 L1 table overlaps the refcount table", p);
        return -1;
    }
    q->rt_entries = rt_bytes / 8;
    q->l1 = calloc(q->l1_size ? q->l1_size : 1, 8);
    q->rt = calloc(q->rt_entries, 8);
    q->rb = malloc(q->cs);
    q->clbuf = malloc(q->cs);
    q->zbuf = malloc(2 * q->cs + 512);
    q->dcbuf = malloc(q->cs);
    q->slice = calloc(IOV_MAX, sizeof(*q->slice));
    q->frees = calloc(MAX_PENDING_FREES, sizeof(*q->frees));
    if (!q->l1 || !q->rt || !q->rb || !q->clbuf || !q->zbuf || !q->dcbuf || !q->slice ||
        !q->frees) {
        disk_set_err(err, "disk %s: out of memory", p);
        return -1;
    }
    if ((l1_bytes && dfile_pread(q->f, q->l1, l1_bytes, q->l1_off, false) < 0) ||
        dfile_pread(q->f, q->rt, rt_bytes, q->rt_off, false) < 0) {
        disk_set_err(err, "disk %s: cannot read the qcow2 tables", p);
        return -1;
    }
    for (uint32_t i = 0; i < q->l1_size; i++) {
        q->l1[i] = be64toh(q->l1[i]);
        uint64_t off = q->l1[i] & L1_OFF_MASK;
        if (off && (off % q->cs || off > q->end || q->end - off < q->cs)) {
            disk_set_err(err, "disk %s: qcow2 L1 entry %u points outside the file", p, i);
            return -1;
        }
    }
    for (uint64_t i = 0; i < q->rt_entries; i++) {
        q->rt[i] = be64toh(q->rt[i]);
        uint64_t off = q->rt[i];
        if (off && (off % q->cs || off < q->cs || off > q->end || q->end - off < q->cs)) {
            disk_set_err(err, "disk %s: qcow2 refcount table entry %llu points outside the file",
                         p, (unsigned long long)i);
            return -1;
        }
    }

    if (!o->readonly) {
        if ((r = find_next_free(q)) < 0) {
            disk_set_err(err, "disk %s: cannot read the qcow2 refcounts: %s", p, strerror(-r));
            return -1;
        }
        /* spec: a writer must clear the auto-clear bits it does not maintain. */
        if (q->autoclear) {
            uint8_t zero[8] = {0};
            if (dfile_pwrite(q->f, zero, 8, 88) < 0 || dfile_sync(q->f) < 0) {
                disk_set_err(err, "disk %s: cannot update the qcow2 header", p);
                return -1;
            }
            q->autoclear = 0;
        }
    }
    if (q->backing_name[0] && !o->no_backing && open_backing(q, o, chain, err) < 0) return -1;
    return 0;
}

/* ---- compressed writes (kiln img convert -c) ---- */

/*
 * Raw deflate with a 4 KiB window (windowBits -12), as QEMU compresses: its
 * reader inflates with that window, so a longer one could reach back too far.
 */
size_t qcow2_deflate(const void *in, size_t cs, void *out)
{
    z_stream zs = {0};
    if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        return 0;
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)cs;
    zs.next_out = out;
    zs.avail_out = (uInt)(cs - 1);
    int zr = deflate(&zs, Z_FINISH);
    size_t n = zr == Z_STREAM_END ? cs - 1 - zs.avail_out : 0;
    deflateEnd(&zs);
    return n;
}

/*
 * Where clen compressed bytes go. Compressed clusters are packed at byte
 * granularity (spec "Compressed Clusters Descriptor": any host offset, a count
 * of 512-byte sectors); every host cluster they touch holds one reference per
 * compressed cluster in it, which is what qemu-img check counts. A blob
 * continues into the next host cluster only when that is the one allocated next.
 */
static int compressed_place(struct qcow2 *q, uint64_t clen, uint64_t *start)
{
    uint64_t cur = q->cz_next, room = cur ? q->cs - cur % q->cs : 0, rc = 0;
    int r;
    /* Narrow refcounts (1-bit ones in images qemu-img made) cannot count a second user. */
    if (cur && (r = refcount_get(q, cur / q->cs, &rc)) < 0) return r;
    if (rc >= refcount_max(q)) cur = 0;
    if (cur && clen <= room) {
        *start = cur;
        return refcount_add(q, cur / q->cs, +1);
    }
    uint64_t fresh;
    if ((r = alloc_cluster(q, &fresh)) < 0) return r;
    if (cur && fresh == (cur / q->cs + 1) * q->cs) {
        *start = cur;
        return refcount_add(q, cur / q->cs, +1); /* the fresh one already counts this blob */
    }
    *start = fresh;
    return 0;
}

int qcow2_write_deflated(struct disk *d, uint64_t off, const void *buf, const void *z,
                         size_t zlen)
{
    if (d->drv != &qcow2_driver) return -EINVAL;
    struct qcow2 *q = d->priv;
    if (q->broken) return -EIO;
    if (off % q->cs || off >= d->size || zlen >= q->cs) return -EINVAL;
    uint64_t gcl = off / q->cs, *t, l2off;
    int r = l2_for_write(q, gcl, &t, &l2off);
    if (r < 0) return r;
    uint64_t idx = gcl % q->l2_entries;
    if (!zlen || t[idx]) { /* incompressible, or allocated already: a normal cluster */
        struct iovec iov = {(void *)buf, (size_t)q->cs};
        r = write_range(q, &iov, 1, off, q->cs, false);
        return r < 0 ? r : 0;
    }
    uint64_t start;
    if ((r = compressed_place(q, zlen, &start)) < 0) return r;
    /* Zeroes to the end of the last sector: a reader takes whole sectors (QEMU too). */
    uint64_t padded = ((start + zlen + 511) & ~511ull) - start;
    if (z != q->zbuf) memcpy(q->zbuf, z, zlen);
    memset(q->zbuf + zlen, 0, (size_t)(padded - zlen));
    if ((r = host_write_buf(q, q->zbuf, padded, start)) < 0) return r;
    q->cz_next = (start + zlen) % q->cs ? start + zlen : 0;
    unsigned x = 62 - (q->cluster_bits - 8);
    uint64_t nsec = ((start + zlen - 1) >> 9) - (start >> 9); /* sectors after the first */
    uint64_t e = ENTRY_COMPRESSED | (nsec << x) | start;
    t[idx] = e;
    if ((r = queue_update(q, l2off + idx * 8, e, 0)) < 0) return r;
    if (q->nupd >= MAX_QUEUED_UPDATES && (r = commit_updates(q)) < 0) return r;
    return 1;
}

int qcow2_write_compressed(struct disk *d, uint64_t off, const void *buf)
{
    if (d->drv != &qcow2_driver) return -EINVAL;
    struct qcow2 *q = d->priv;
    return qcow2_write_deflated(d, off, buf, q->zbuf, qcow2_deflate(buf, q->cs, q->zbuf));
}

uint32_t qcow2_cluster_size(const struct disk *d)
{
    return d->drv == &qcow2_driver ? (uint32_t)((struct qcow2 *)d->priv)->cs : 0;
}

/* ---- create ---- */

int qcow2_create(const char *path, uint64_t size, const char *backing, const char *backing_fmt,
                 char **err)
{
    const unsigned bits = 16;
    const uint64_t cs = 1ull << bits, per_l2 = (cs / 8) * cs;
    uint64_t l1_size = (size + per_l2 - 1) / per_l2;
    if (size > (1ull << 50) || l1_size * 8 > MAX_L1_BYTES) {
        disk_set_err(err, "disk %s: size %llu is too large for a qcow2 image", path,
                     (unsigned long long)size);
        return -1;
    }
    size_t blen = backing ? strlen(backing) : 0, flen = backing_fmt ? strlen(backing_fmt) : 0;
    if (blen > 1023 || flen > 31) {
        disk_set_err(err, "disk %s: backing file name too long", path);
        return -1;
    }
    uint64_t l1_clusters = (l1_size * 8 + cs - 1) / cs;
    if (!l1_clusters) l1_clusters = 1;
    /* Layout: header | refcount table | refcount block | L1 table. */
    uint64_t rt_off = cs, rb_off = 2 * cs, l1_off = 3 * cs, nclusters = 3 + l1_clusters;
    uint64_t total = nclusters * cs;
    uint8_t *img = calloc(1, total);
    if (!img) {
        disk_set_err(err, "disk %s: out of memory", path);
        return -1;
    }
    put_be32(img, QCOW2_MAGIC);
    put_be32(img + 4, 3);
    put_be32(img + 20, bits);
    put_be64(img + 24, size);
    put_be32(img + 36, (uint32_t)l1_size);
    put_be64(img + 40, l1_off);
    put_be64(img + 48, rt_off);
    put_be32(img + 56, 1);
    put_be32(img + 96, 4);   /* refcount_order: 16-bit refcounts */
    put_be32(img + 100, 112); /* header_length: through compression_type (0 = zlib) + padding */
    uint64_t pos = 112;
    if (flen) {
        put_be32(img + pos, EXT_BACKING_FMT);
        put_be32(img + pos + 4, (uint32_t)flen);
        memcpy(img + pos + 8, backing_fmt, flen);
        pos += 8 + ((flen + 7) & ~7ull);
    }
    pos += 8; /* end-of-extensions marker: zeroes */
    if (blen) {
        put_be64(img + 8, pos);
        put_be32(img + 16, (uint32_t)blen);
        memcpy(img + pos, backing, blen);
    }
    put_be64(img + rt_off, rb_off);
    for (uint64_t i = 0; i < nclusters; i++) /* 16-bit big-endian refcounts of 1 */
        img[rb_off + 2 * i + 1] = 1;

    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        free(img);
        disk_set_err(err, "disk %s: cannot create: %s", path, strerror(e));
        return -1;
    }
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    int r = 0;
    if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
        disk_set_err(err, "disk %s is in use by another process", path);
        r = -1;
    } else if (ftruncate(fd, 0) < 0 || pwrite(fd, img, total, 0) != (ssize_t)total ||
               fsync(fd) < 0) {
        disk_set_err(err, "disk %s: cannot write: %s", path, strerror(errno));
        r = -1;
    }
    close(fd);
    free(img);
    return r;
}

int qcow2_absolute_backing(const char *path, const char *origin, char **err)
{
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        disk_set_err(err, "disk %s: %s", path, strerror(errno));
        return -1;
    }
    uint8_t h[HDR_V2_LEN];
    char name[1024], *full = NULL;
    int r = 0;
    if (pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) || be32(h) != QCOW2_MAGIC) goto out;
    uint64_t off = be64(h + 8), cs = 1ull << (be32(h + 20) & 31);
    uint32_t len = be32(h + 16);
    if (!off || !len) goto out;
    if (len >= sizeof(name) || off > cs || len > cs - off ||
        pread(fd, name, len, (off_t)off) != (ssize_t)len) {
        disk_set_err(err, "disk %s: its qcow2 backing file name cannot be read", path);
        r = -1;
        goto out;
    }
    name[len] = 0;
    if (name[0] == '/') goto out;
    if (!(full = disk_backing_path(origin, name))) {
        disk_set_err(err, "disk %s: out of memory", path);
        r = -1;
        goto out;
    }
    size_t n = strlen(full);
    /* The name is the last thing in the header cluster (the spec puts it after the extensions). */
    if (n > 1023 || n > cs - off) {
        disk_set_err(err, "disk %s: the backing file name %s is too long", path, full);
        r = -1;
        goto out;
    }
    uint8_t lenbuf[4];
    put_be32(lenbuf, (uint32_t)n);
    if (pwrite(fd, full, n, (off_t)off) != (ssize_t)n || pwrite(fd, lenbuf, 4, 16) != 4 || fsync(fd) < 0) {
        disk_set_err(err, "disk %s: cannot rewrite its backing file name: %s", path, strerror(errno));
        r = -1;
    }
out:
    free(full);
    close(fd);
    return r;
}
