/*
 * 9P2000.L server over one host directory: fids, confined host access, the
 * framing of one request and its reply. The message handlers are in
 * p9fs_ops.c. See p9fs.h for the rules kept; everything in a message is
 * hostile until checked.
 */
#define _GNU_SOURCE
#include "backend/p9fs.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backend/p9fs_int.h"

/* ---- fids ---- */

static struct fid **fid_slot(struct p9fs *fs, uint32_t id)
{
    struct fid **pp = &fs->bucket[id % FID_BUCKETS];
    while (*pp && (*pp)->id != id)
        pp = &(*pp)->next;
    return pp;
}

struct fid *p9_fid_get(struct p9fs *fs, uint32_t id)
{
    return *fid_slot(fs, id);
}

/* Takes ownership of path (freed on failure). */
int p9_fid_new(struct p9fs *fs, uint32_t id, uint32_t uid, char *path, struct fid **out)
{
    int err = 0;
    if (id == NOFID)
        err = -EINVAL;
    else if (p9_fid_get(fs, id))
        err = -EEXIST;
    else if (fs->nfids >= P9FS_MAX_FIDS)
        err = -EMFILE;
    struct fid *f = err ? NULL : calloc(1, sizeof(*f));
    if (!err && !f) err = -ENOMEM;
    if (err) {
        free(path);
        return err;
    }
    f->id = id;
    f->uid = uid;
    f->path = path;
    f->fd = -1;
    struct fid **pp = &fs->bucket[id % FID_BUCKETS];
    f->next = *pp;
    *pp = f;
    fs->nfids++;
    *out = f;
    return 0;
}

void p9_fid_free(struct p9fs *fs, uint32_t id)
{
    struct fid **pp = fid_slot(fs, id);
    struct fid *f = *pp;
    if (!f) return;
    *pp = f->next;
    if (f->fd >= 0) close(f->fd);
    free(f->path);
    free(f);
    fs->nfids--;
}

void p9_fids_clear(struct p9fs *fs)
{
    for (unsigned b = 0; b < FID_BUCKETS; b++)
        while (fs->bucket[b])
            p9_fid_free(fs, fs->bucket[b]->id);
}

/* ---- confined host access ---- */

/* One path component from the guest: never empty, ".", "..", or holding '/'. */
int p9_name_check(const char *name)
{
    if (!name[0] || strchr(name, '/') || !strcmp(name, ".")) return -EINVAL;
    if (!strcmp(name, ".."))
        return -EACCES; /* no way up: the share's root is the guest's whole view */
    if (strlen(name) > NAME_MAX_9P) return -ENAMETOOLONG;
    return 0;
}

int p9_path_join(const char *dir, const char *name, char **out)
{
    size_t a = strlen(dir), b = strlen(name);
    bool root = !strcmp(dir, ".");
    size_t n = root ? b : a + 1 + b;
    if (n >= PATH_MAX_9P) return -ENAMETOOLONG;
    char *p = malloc(n + 1);
    if (!p) return -ENOMEM;
    if (root)
        memcpy(p, name, b + 1);
    else {
        memcpy(p, dir, a);
        p[a] = '/';
        memcpy(p + a + 1, name, b + 1);
    }
    *out = p;
    return 0;
}

/* openat2 beneath the share; a symlink leaving it (EXDEV) is EACCES, as in user/paths.c. */
int p9_open(struct p9fs *fs, const char *path, int flags, mode_t mode)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .mode = (flags & O_CREAT) ? mode : 0,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };
    long fd = syscall(SYS_openat2, fs->root, path, &how, sizeof(how));
    if (fd < 0) return errno == EXDEV ? -EACCES : -errno;
    return (int)fd;
}

/* The object itself (a symlink stays a symlink). */
int p9_opath(struct p9fs *fs, const char *path)
{
    return p9_open(fs, path, O_PATH | O_NOFOLLOW, 0);
}

int p9_stat(struct p9fs *fs, const char *path, struct stat *st)
{
    int fd = p9_opath(fs, path);
    if (fd < 0) return fd;
    int r = fstat(fd, st) < 0 ? -errno : 0;
    close(fd);
    return r;
}

int p9_fid_stat(struct p9fs *fs, const struct fid *f, struct stat *st)
{
    if (f->fd >= 0) return fstat(f->fd, st) < 0 ? -errno : 0; /* still right after an unlink */
    return p9_stat(fs, f->path, st);
}

/* A directory fid opened for *at() calls on one checked name. */
int p9_fid_dir(struct p9fs *fs, const struct fid *f, const char *name)
{
    int err = p9_name_check(name);
    if (err) return err;
    return p9_open(fs, f->path, O_PATH | O_DIRECTORY, 0);
}

/* Parent directory of a fid's path and its last component; the share's root has none. */
int p9_fid_parent(struct p9fs *fs, const struct fid *f, const char **base)
{
    if (!strcmp(f->path, ".")) return -EBUSY;
    const char *slash = strrchr(f->path, '/');
    *base = slash ? slash + 1 : f->path;
    if (!slash) return p9_open(fs, ".", O_PATH | O_DIRECTORY, 0);
    char dir[PATH_MAX_9P];
    size_t n = (size_t)(slash - f->path);
    memcpy(dir, f->path, n);
    dir[n] = 0;
    return p9_open(fs, dir, O_PATH | O_DIRECTORY, 0);
}

void p9_proc_path(char *buf, size_t len, int fd)
{
    snprintf(buf, len, "/proc/self/fd/%d", fd);
}

/*
 * Set-id bits never reach the host: kiln may run as root, and a guest must not
 * be able to leave a setuid file in a host directory. setgid stays on
 * directories (group inheritance).
 */
mode_t p9_safe_mode(mode_t mode, bool dir)
{
    mode &= 07777;
    mode &= ~(mode_t)S_ISUID;
    if (!dir) mode &= ~(mode_t)S_ISGID;
    return mode;
}

/* Ownership follows the guest user, as far as the host lets kiln do that. */
void p9_chown_new(int dirfd, const char *name, uint32_t uid, uint32_t gid)
{
    if (fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0) {
        /* Not root on the host: the file stays kiln's, which is all we can do. */
    }
}

void p9_put_qid(struct p9fs *fs, struct wr *w, const struct stat *st)
{
    uint8_t type = S_ISDIR(st->st_mode) ? QT_DIR : S_ISLNK(st->st_mode) ? QT_SYMLINK : 0;
    uint64_t path = st->st_ino;
    if (st->st_dev != fs->root_dev)
        path ^= (uint64_t)st->st_dev << 48; /* another file system mounted inside the share */
    wr_le(w, type, 1);
    wr_le(w, 0, 4); /* version: 0, attributes are always fetched afresh */
    wr_le(w, path, 8);
}

int p9_host_open_flags(uint32_t f)
{
    int flags = (int)(f & DOTL_ACCMODE);
    if ((flags & O_ACCMODE) == O_ACCMODE) return -EINVAL;
    if (f & DOTL_TRUNC) flags |= O_TRUNC;
    if (f & DOTL_APPEND) flags |= O_APPEND;
    if (f & DOTL_DSYNC) flags |= O_DSYNC;
    if ((f & DOTL_SYNC) == DOTL_SYNC) flags |= O_SYNC;
    if (f & DOTL_DIRECTORY) flags |= O_DIRECTORY;
    /*
     * O_NONBLOCK always: opening a FIFO must never stall the server (the
     * guest kernel serves FIFOs itself; this only guards a hostile Tlopen).
     * O_NOFOLLOW: a fid names a symlink itself, never its target.
     */
    return flags | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY;
}

bool p9_flags_write(int flags)
{
    return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
}

/* After a rename, fids below the old name follow it (as QEMU's local backend does). */
void p9_fids_renamed(struct p9fs *fs, const char *from, const char *to)
{
    size_t n = strlen(from), m = strlen(to);
    for (unsigned b = 0; b < FID_BUCKETS; b++) {
        for (struct fid *f = fs->bucket[b]; f; f = f->next) {
            if (strncmp(f->path, from, n) || (f->path[n] && f->path[n] != '/')) continue;
            size_t rest = strlen(f->path + n);
            if (m + rest >= PATH_MAX_9P) continue;
            char *p = malloc(m + rest + 1);
            if (!p) continue;
            memcpy(p, to, m);
            memcpy(p + m, f->path + n, rest + 1);
            free(f->path);
            f->path = p;
        }
    }
}

/* Path a directory fid + name would have, for p9_fids_renamed. */
char *p9_joined(const struct fid *d, const char *name)
{
    char *p = NULL;
    return p9_path_join(d->path, name, &p) ? NULL : p;
}

int p9fs_handle(struct p9fs *fs, const uint8_t *in, size_t inlen, uint8_t *out, size_t outcap)
{
    if (inlen < P9FS_HDR || outcap < RLERROR_LEN) return -EINVAL;
    uint32_t size =
        (uint32_t)in[0] | (uint32_t)in[1] << 8 | (uint32_t)in[2] << 16 | (uint32_t)in[3] << 24;
    uint8_t type = in[4];
    uint16_t tag = (uint16_t)(in[5] | in[6] << 8);
    size_t cap = outcap;
    uint32_t limit = fs->msize ? fs->msize : P9FS_MSIZE_MAX;
    if (cap > limit) cap = limit;
    struct wr w = {.p = out, .cap = cap, .off = P9FS_HDR};
    int err;
    if (size < P9FS_HDR || size > inlen)
        err = -EPROTO; /* the size field disagrees with what arrived */
    else if (size > limit)
        err = -EMSGSIZE;
    else if (type & 1)
        err = -EOPNOTSUPP; /* an R-message (odd type) sent to the server */
    else {
        struct rd r = {.p = in + P9FS_HDR, .len = size - P9FS_HDR};
        err = p9_dispatch(fs, type, &r, &w);
        if (!err && w.over) err = -ERANGE; /* the driver's buffer cannot hold the reply */
    }
    if (err) {
        w.off = P9FS_HDR;
        w.over = false;
        wr_le(&w, (uint32_t)-err, 4);
        type = P9_RLERROR;
    } else {
        type = (uint8_t)(type + 1);
    }
    put_le(out, w.off, 4);
    out[4] = type;
    put_le(out + 5, tag, 2);
    return (int)w.off;
}

int p9fs_open(const char *dir, bool readonly, struct p9fs **out)
{
    int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    struct p9fs *fs = calloc(1, sizeof(*fs));
    if (!fs) {
        close(fd);
        return -ENOMEM;
    }
    fs->root = fd;
    fs->root_dev = st.st_dev;
    fs->root_ino = st.st_ino;
    fs->ro = readonly;
    *out = fs;
    return 0;
}

void p9fs_reset(struct p9fs *fs)
{
    p9_fids_clear(fs);
    fs->msize = 0;
}

void p9fs_close(struct p9fs *fs)
{
    if (!fs) return;
    p9_fids_clear(fs);
    close(fs->root);
    free(fs);
}

uint32_t p9fs_msize(const struct p9fs *fs)
{
    return fs->msize;
}

unsigned p9fs_nfids(const struct p9fs *fs)
{
    return fs->nfids;
}

/* ---- snapshots (p9fs.h) ---- */

int p9fs_fids_each(struct p9fs *fs, int (*fn)(void *ctx, const struct p9fs_fid_state *s),
                   void *ctx)
{
    for (unsigned b = 0; b < FID_BUCKETS; b++) {
        for (const struct fid *f = fs->bucket[b]; f; f = f->next) {
            struct p9fs_fid_state s = {.id = f->id, .uid = f->uid, .path = f->path,
                                       .open = f->fd >= 0, .flags = f->fd >= 0 ? f->oflags : 0,
                                       .xattr = f->xattr};
            int r = fn(ctx, &s);
            if (r) return r;
        }
    }
    return 0;
}

int p9fs_session_restore(struct p9fs *fs, uint32_t msize)
{
    if (msize && (msize < P9FS_MSIZE_MIN || msize > P9FS_MSIZE_MAX)) return -EINVAL;
    p9_fids_clear(fs);
    fs->msize = msize;
    return 0;
}

/* A saved path must be one a walk could have built: "." or names joined by '/'. */
static int path_check(const char *path)
{
    if (!strcmp(path, ".")) return 0;
    size_t n = strlen(path);
    if (n == 0 || n >= PATH_MAX_9P) return -EINVAL;
    char buf[PATH_MAX_9P];
    memcpy(buf, path, n + 1);
    char *save = NULL;
    if (buf[0] == '/' || buf[n - 1] == '/' || strstr(buf, "//")) return -EINVAL;
    for (char *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save))
        if (p9_name_check(c)) return -EINVAL;
    return 0;
}

int p9fs_fid_restore(struct p9fs *fs, const struct p9fs_fid_state *s)
{
    if (path_check(s->path) || (s->open && s->xattr)) return -EINVAL;
    if (s->open && (s->flags & ~(uint32_t)DOTL_KEPT)) return -EINVAL;
    int fd = -1, hf = 0;
    if (s->open) {
        hf = p9_host_open_flags(s->flags);
        if (hf < 0) return hf;
        if (fs->ro && p9_flags_write(hf)) return -EROFS;
        fd = p9_open(fs, s->path, hf, 0);
        if (fd < 0) return fd;
    }
    char *path = strdup(s->path);
    if (!path) {
        if (fd >= 0) close(fd);
        return -ENOMEM;
    }
    struct fid *f;
    int err = p9_fid_new(fs, s->id, s->uid, path, &f);
    if (err) {
        if (fd >= 0) close(fd);
        return err;
    }
    f->fd = fd;
    f->writable = s->open && (hf & O_ACCMODE) != O_RDONLY;
    f->oflags = s->open ? s->flags : 0;
    f->xattr = s->xattr;
    return 0;
}
