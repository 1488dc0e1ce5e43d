/*
 * Inside the 9P2000.L server (p9fs.c: fids and confined host access;
 * p9fs_ops.c: one handler per message). Not for use outside src/backend/p9fs*.c.
 * Protocol numbers: Linux's include/net/9p/9p.h; layouts: diod's protocol.md.
 */
#ifndef KILN_BACKEND_P9FS_INT_H
#define KILN_BACKEND_P9FS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "backend/p9fs.h"

#define FID_BUCKETS 256
#define NOFID 0xffffffffu
#define MAXWELEM 16      /* P9_MAXWELEM: names one Twalk may carry */
#define NAME_MAX_9P 255  /* one path component */
#define PATH_MAX_9P 4096 /* a whole path relative to the share */
#define V9FS_MAGIC 0x01021997u
#define RLERROR_LEN 11

/* Qid types (9p.h, enum p9_qid_t). */
#define QT_DIR 0x80
#define QT_SYMLINK 0x02

/* Tlopen/Tlcreate flags (9p.h, P9_DOTL_*): the generic Linux open(2) values. */
#define DOTL_ACCMODE 03
#define DOTL_EXCL 0200
#define DOTL_TRUNC 01000
#define DOTL_APPEND 02000
#define DOTL_DSYNC 010000
#define DOTL_DIRECTORY 0200000
#define DOTL_SYNC 04000000
#define DOTL_AT_REMOVEDIR 0x200
/* The flags p9_host_open_flags acts on besides TRUNC: what a snapshot keeps of an open fid. */
#define DOTL_KEPT (DOTL_ACCMODE | DOTL_APPEND | DOTL_DSYNC | DOTL_DIRECTORY | DOTL_SYNC)

/* Tgetattr / Tsetattr masks (9p.h). */
#define GETATTR_BASIC 0x7ffull
#define SETATTR_MODE 0x1u
#define SETATTR_UID 0x2u
#define SETATTR_GID 0x4u
#define SETATTR_SIZE 0x8u
#define SETATTR_ATIME 0x10u
#define SETATTR_MTIME 0x20u
#define SETATTR_ATIME_SET 0x80u
#define SETATTR_MTIME_SET 0x100u

/* Tlock (9p.h). */
#define LOCK_TYPE_RDLCK 0
#define LOCK_TYPE_WRLCK 1
#define LOCK_TYPE_UNLCK 2
#define LOCK_SUCCESS 0
#define LOCK_BLOCKED 1
#define LOCK_ERROR 2

struct fid {
    struct fid *next;
    uint32_t id;
    uint32_t uid;  /* the attaching user (n_uname), inherited by walks */
    char *path;    /* relative to the share: "." or "a/b" */
    int fd;        /* after Tlopen/Tlcreate, else -1 */
    bool writable; /* fd open for writing */
    uint32_t oflags; /* the Tlopen/Tlcreate flags (DOTL_*) fd was opened with, for snapshots */
    bool xattr;    /* an (empty) xattr list from Txattrwalk */
};

struct p9fs {
    int root; /* O_PATH descriptor of the share */
    dev_t root_dev;
    ino_t root_ino;
    bool ro;
    uint32_t msize; /* 0 until Tversion */
    unsigned nfids;
    struct fid *bucket[FID_BUCKETS];
    char dents[65536]; /* Treaddir scratch */
};

/* ---- message decoding: a cursor that turns sticky-bad on any overrun ---- */

struct rd {
    const uint8_t *p;
    size_t len, off;
    bool bad;
};

static inline const uint8_t *rd_take(struct rd *r, size_t n)
{
    if (r->bad || n > r->len - r->off) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *p = r->p + r->off;
    r->off += n;
    return p;
}

static inline uint64_t rd_le(struct rd *r, unsigned n)
{
    const uint8_t *p = rd_take(r, n);
    uint64_t v = 0;
    if (p)
        for (unsigned i = 0; i < n; i++)
            v |= (uint64_t)p[i] << (8 * i);
    return v;
}

#define rd8(r) ((uint8_t)rd_le(r, 1))
#define rd16(r) ((uint16_t)rd_le(r, 2))
#define rd32(r) ((uint32_t)rd_le(r, 4))
#define rd64(r) rd_le(r, 8)

/*
 * A string: len[2] bytes[len], copied NUL-terminated into buf. A string with
 * a NUL inside, or longer than cap - 1, poisons the message (the length on
 * the wire is never trusted beyond what the message holds).
 */
static inline void rd_str(struct rd *r, char *buf, size_t cap, int *err)
{
    uint16_t n = rd16(r);
    const uint8_t *p = rd_take(r, n);
    buf[0] = 0;
    if (!p) return;
    if (n >= cap) {
        if (!*err) *err = -ENAMETOOLONG;
        return;
    }
    if (memchr(p, 0, n)) {
        if (!*err) *err = -EINVAL;
        return;
    }
    memcpy(buf, p, n);
    buf[n] = 0;
}

/* ---- reply encoding: bounded by the buffer the driver gave us and msize ---- */

struct wr {
    uint8_t *p;
    size_t cap, off;
    bool over;
};

static inline uint8_t *wr_take(struct wr *w, size_t n)
{
    if (w->over || n > w->cap - w->off) {
        w->over = true;
        return NULL;
    }
    uint8_t *p = w->p + w->off;
    w->off += n;
    return p;
}

static inline void wr_le(struct wr *w, uint64_t v, unsigned n)
{
    uint8_t *p = wr_take(w, n);
    if (p)
        for (unsigned i = 0; i < n; i++)
            p[i] = (uint8_t)(v >> (8 * i));
}

static inline void put_le(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void wr_str(struct wr *w, const char *s, size_t n)
{
    if (n > 0xffff) {
        w->over = true;
        return;
    }
    wr_le(w, n, 2);
    uint8_t *p = wr_take(w, n);
    if (p) memcpy(p, s, n);
}

/* ---- fids and confined host access (p9fs.c) ---- */

struct fid *p9_fid_get(struct p9fs *fs, uint32_t id);
int p9_fid_new(struct p9fs *fs, uint32_t id, uint32_t uid, char *path, struct fid **out);
void p9_fid_free(struct p9fs *fs, uint32_t id);
void p9_fids_clear(struct p9fs *fs);
int p9_name_check(const char *name);
int p9_path_join(const char *dir, const char *name, char **out);
int p9_open(struct p9fs *fs, const char *path, int flags, mode_t mode);
int p9_opath(struct p9fs *fs, const char *path);
int p9_stat(struct p9fs *fs, const char *path, struct stat *st);
int p9_fid_stat(struct p9fs *fs, const struct fid *f, struct stat *st);
int p9_fid_dir(struct p9fs *fs, const struct fid *f, const char *name);
int p9_fid_parent(struct p9fs *fs, const struct fid *f, const char **base);
void p9_proc_path(char *buf, size_t len, int fd);
mode_t p9_safe_mode(mode_t mode, bool dir);
void p9_chown_new(int dirfd, const char *name, uint32_t uid, uint32_t gid);
void p9_put_qid(struct p9fs *fs, struct wr *w, const struct stat *st);
int p9_host_open_flags(uint32_t f);
bool p9_flags_write(int flags);
void p9_fids_renamed(struct p9fs *fs, const char *from, const char *to);
char *p9_joined(const struct fid *d, const char *name);

/* One message body: 0 with the reply body written, or -errno (p9fs_ops.c). */
int p9_dispatch(struct p9fs *fs, uint8_t type, struct rd *r, struct wr *w);

#endif
