/*
 * Snapshot records of virtio-9p shares (docs/snapshots.md, docs/9p.md).
 *
 *   "shares": u32 n; n x { str dir; str tag; u8 readonly }   (the --share options)
 *   "p9_N":   u32 msize; u32 nfids;
 *             nfids x { u32 fid; u32 uid; str path; u8 open; u32 flags; u8 xattr }
 *             then the virtio-mmio transport (virtio_mmio_save)
 *
 * A file with neither record is a snapshot of a VM without shares (or from before
 * shares could be saved) and loads as before. The session goes in before the
 * transport: loading a DRIVER_OK transport starts the worker, which must find
 * the fids already there. Each open fid is reopened by p9fs_fid_restore through
 * the same openat2(RESOLVE_BENEATH) as Tlopen; a file that has gone since the
 * snapshot fails the restore with its name. Hostile input: every count, string
 * and flag is checked by the reader or by p9fs_fid_restore.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "backend/p9fs.h"
#include "dev/virtio_9p.h"
#include "snapshot/snapshot.h"
#include "virtio/mmio.h"

#define P9_PATH_MAX 4096 /* p9fs's PATH_MAX_9P */

unsigned snap_9p_nrecords(const struct snap_board *b)
{
    return b->nshares ? 1 + b->nshares : 0;
}

static int save_fid(void *ctx, const struct p9fs_fid_state *s)
{
    struct snap_w *w = ctx;
    snap_w_u32(w, s->id);
    snap_w_u32(w, s->uid);
    snap_w_str(w, s->path);
    snap_w_u8(w, s->open);
    snap_w_u32(w, s->flags);
    snap_w_u8(w, s->xattr);
    return 0;
}

void snap_9p_save(struct snap_board *b, struct snap_w *w)
{
    if (!b->nshares)
        return;
    snap_w_begin(w, "shares");
    snap_w_u32(w, b->nshares);
    for (unsigned i = 0; i < b->nshares; i++) {
        snap_w_str(w, b->cfg.shares[i].dir);
        snap_w_str(w, b->cfg.shares[i].tag);
        snap_w_u8(w, b->cfg.shares[i].readonly);
    }
    snap_w_end(w);
    char tag[SNAP_TAG_MAX];
    for (unsigned i = 0; i < b->nshares; i++) {
        struct p9fs *fs = virtio_9p_fs(b->p9[i]);
        snprintf(tag, sizeof(tag), "p9_%u", i);
        snap_w_begin(w, tag);
        snap_w_u32(w, p9fs_msize(fs));
        snap_w_u32(w, p9fs_nfids(fs));
        p9fs_fids_each(fs, save_fid, w); /* the device is quiesced: the table holds still */
        virtio_mmio_save(virtio_9p_transport(b->p9[i]), w);
        snap_w_end(w);
    }
}

/* A mount tag as --share takes it (virtio_9p_parse_share): 1..31 of [A-Za-z0-9_.-]. */
static bool tag_ok(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > VIRTIO_9P_TAG_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)t[i]) && !strchr("_.-", t[i]))
            return false;
    return true;
}

int snap_9p_parse(const struct snap_file *f, struct snap_machine *m, char *err, size_t errlen)
{
    struct snap_rd r;
    m->nshares = 0;
    if (snap_find(f, "shares", &r))
        return 0;
    uint32_t n = snap_r_u32(&r);
    if (n == 0 || n > SNAP_MAX_SHARES)
        r.bad = true;
    for (uint32_t i = 0; i < n && !r.bad; i++) {
        struct snap_share *s = &m->shares[i];
        snap_r_str(&r, s->dir, sizeof(s->dir));
        snap_r_str(&r, s->tag, sizeof(s->tag));
        s->readonly = snap_r_bool(&r);
        if (!s->dir[0] || !tag_ok(s->tag))
            r.bad = true;
    }
    if (snap_r_done(&r)) {
        snprintf(err, errlen, "the state file's shares record is malformed");
        return -EINVAL;
    }
    m->nshares = n;
    return 0;
}

int snap_9p_load_one(struct virtio_9p *d, struct snap_rd *r, char *err, size_t errlen)
{
    struct p9fs *fs = virtio_9p_fs(d);
    uint32_t msize = snap_r_u32(r), nfids = snap_r_u32(r);
    if (r->bad || nfids > P9FS_MAX_FIDS || (msize == 0 && nfids) ||
        p9fs_session_restore(fs, msize)) {
        snprintf(err, errlen, "its 9P session is malformed (msize %u, %u fids)", msize, nfids);
        return -1;
    }
    static char path[P9_PATH_MAX]; /* one restore at a time: keeps a 4 KiB buffer off the stack */
    for (uint32_t i = 0; i < nfids; i++) {
        struct p9fs_fid_state s = {0};
        s.id = snap_r_u32(r);
        s.uid = snap_r_u32(r);
        snap_r_str(r, path, sizeof(path));
        s.path = path;
        s.open = snap_r_bool(r);
        s.flags = snap_r_u32(r);
        s.xattr = snap_r_bool(r);
        if (r->bad) {
            snprintf(err, errlen, "its 9P session is truncated (fid %u of %u)", i + 1, nfids);
            goto fail;
        }
        int e = p9fs_fid_restore(fs, &s);
        if (e == -EINVAL || e == -EEXIST) {
            snprintf(err, errlen, "its 9P session holds a malformed fid %u ('%s')", s.id, path);
            goto fail;
        }
        if (e) {
            snprintf(err, errlen, "cannot reopen '%s' beneath the share (open in the guest when "
                     "the snapshot was taken): %s", path, strerror(-e));
            goto fail;
        }
    }
    if (virtio_mmio_load(virtio_9p_transport(d), r) || snap_r_done(r)) {
        snprintf(err, errlen, "its virtio transport is malformed or does not fit this machine");
        goto fail;
    }
    return 0;
fail:
    p9fs_session_restore(fs, 0); /* no half-loaded session: every reopened file is closed */
    return -1;
}

int snap_9p_load(struct snap_board *b, const struct snap_restore *r, char *err, size_t errlen)
{
    char tag[SNAP_TAG_MAX], why[512];
    if (b->nshares != r->m.nshares) {
        snprintf(err, errlen, "the snapshot has %u shares, this machine %u", r->m.nshares, b->nshares);
        return -1;
    }
    for (unsigned i = 0; i < b->nshares; i++) {
        struct snap_rd rd;
        snprintf(tag, sizeof(tag), "p9_%u", i);
        if (snap_find(&r->file, tag, &rd)) {
            snprintf(err, errlen, "the state file has no '%s' record", tag);
            return -1;
        }
        if (snap_9p_load_one(b->p9[i], &rd, why, sizeof(why))) {
            snprintf(err, errlen, "share '%s' (%s): %s", r->m.shares[i].tag, r->m.shares[i].dir, why);
            for (unsigned k = 0; k < i; k++)
                p9fs_session_restore(virtio_9p_fs(b->p9[k]), 0);
            return -1;
        }
    }
    return 0;
}
