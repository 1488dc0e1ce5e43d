/*
 * A 9P2000.L file server over one host directory (the protocol Linux's v9fs
 * speaks; message layouts in diod's protocol.md, numbers in Linux's
 * include/net/9p/9p.h). Transport-free: it turns one T-message into one
 * R-message, so virtio-9p, the unit tests and the fuzzer drive it alike.
 *
 * Confinement: every fid is a path relative to the share, and every host
 * access goes through openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) under
 * the share's directory descriptor (as src/user/paths.c does for process
 * VMs), or through a *at() call on one validated name ("", ".", "..", and
 * names holding '/' are refused) inside a directory opened that way. A
 * symlink that would leave the share fails with EACCES; a read-only share
 * refuses every write with EROFS.
 *
 * Hostile input: every size and count is checked before use, strings are
 * length-checked and NUL-free, msize is capped at P9FS_MSIZE_MAX, the fid
 * table at P9FS_MAX_FIDS. A malformed message gets an Rlerror.
 */
#ifndef KILN_BACKEND_P9FS_H
#define KILN_BACKEND_P9FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define P9FS_MSIZE_MAX (512u * 1024) /* Linux 6.1's virtio client stays below this */
#define P9FS_MSIZE_MIN 4096u         /* Linux's own floor (net/9p/client.c) */
#define P9FS_MAX_FIDS 4096u
#define P9FS_HDR 7 /* size[4] type[1] tag[2] */

/* Message types (include/net/9p/9p.h, enum p9_msg_t); R = T + 1. */
enum {
    P9_TLERROR = 6,
    P9_RLERROR = 7,
    P9_TSTATFS = 8,
    P9_TLOPEN = 12,
    P9_TLCREATE = 14,
    P9_TSYMLINK = 16,
    P9_TMKNOD = 18,
    P9_TRENAME = 20,
    P9_TREADLINK = 22,
    P9_TGETATTR = 24,
    P9_TSETATTR = 26,
    P9_TXATTRWALK = 30,
    P9_TXATTRCREATE = 32,
    P9_TREADDIR = 40,
    P9_TFSYNC = 50,
    P9_TLOCK = 52,
    P9_TGETLOCK = 54,
    P9_TLINK = 70,
    P9_TMKDIR = 72,
    P9_TRENAMEAT = 74,
    P9_TUNLINKAT = 76,
    P9_TVERSION = 100,
    P9_TAUTH = 102,
    P9_TATTACH = 104,
    P9_TFLUSH = 108,
    P9_TWALK = 110,
    P9_TREAD = 116,
    P9_TWRITE = 118,
    P9_TCLUNK = 120,
    P9_TREMOVE = 122,
};

struct p9fs;

/* Opens the share (a directory). 0 or -errno. */
int p9fs_open(const char *dir, bool readonly, struct p9fs **out);
void p9fs_close(struct p9fs *fs);

/*
 * Serves one T-message of inlen bytes (inlen may exceed the message's own
 * size field; the rest is ignored) and writes the reply into out. Returns the
 * reply's length, or -EINVAL when no reply can be formed at all (fewer than 7
 * bytes in, or out cannot hold an 11-byte Rlerror): the transport then treats
 * the request as broken.
 */
int p9fs_handle(struct p9fs *fs, const uint8_t *in, size_t inlen, uint8_t *out, size_t outcap);

/* Device reset: every fid is clunked, the session must Tversion again. */
void p9fs_reset(struct p9fs *fs);

/* Negotiated msize (0 before Tversion). */
uint32_t p9fs_msize(const struct p9fs *fs);
/* Fids currently in use. */
unsigned p9fs_nfids(const struct p9fs *fs);

/*
 * Snapshots (src/snapshot/dev_9p.c, docs/9p.md): the session is msize and the
 * fids, each a path relative to the share, the attaching uid, and for an open
 * fid the Tlopen flags (P9_DOTL_*, without TRUNC/EXCL). Reads, writes and
 * Treaddir carry their own offsets, so no file position needs saving.
 */
struct p9fs_fid_state {
    uint32_t id, uid;
    const char *path; /* "." or "a/b" */
    bool open;        /* flags is meaningful */
    uint32_t flags;
    bool xattr;       /* an (empty) Txattrwalk list */
};
/* Calls fn for every fid; stops at and returns fn's first non-zero result. */
int p9fs_fids_each(struct p9fs *fs, int (*fn)(void *ctx, const struct p9fs_fid_state *s),
                   void *ctx);
/* Restore: drops every fid and sets msize (0 = no session yet). -EINVAL for a bad msize. */
int p9fs_session_restore(struct p9fs *fs, uint32_t msize);
/*
 * Adds one saved fid. An open fid's file is reopened beneath the share exactly as
 * Tlopen opens it (openat2 RESOLVE_BENEATH, O_NOFOLLOW; EROFS for a write on a
 * read-only share). 0, or -EINVAL (bad path, flags or id), -EEXIST, or the open's -errno.
 */
int p9fs_fid_restore(struct p9fs *fs, const struct p9fs_fid_state *s);

#endif
