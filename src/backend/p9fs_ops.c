/*
 * 9P2000.L message handlers: parse the body with the bounded cursor, check
 * every fid and name, act through p9fs.c's confined helpers, write the reply
 * body. Layouts: diod's protocol.md; each handler's comment cites what it keeps.
 */
#define _GNU_SOURCE
#include "backend/p9fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "backend/p9fs_int.h"

/* ---- operations: each returns 0 with the reply body written, or -errno ---- */

#define CHECK_MSG(r, e)                                                                            \
    do {                                                                                           \
        if ((r)->bad) return -EPROTO;                                                              \
        if (e) return e;                                                                           \
    } while (0)

static int op_version(struct p9fs *fs, struct rd *r, struct wr *w)
{
    int e = 0;
    char ver[32];
    uint32_t msize = rd32(r);
    rd_str(r, ver, sizeof(ver), &e);
    if (r->bad) return -EPROTO;
    /* version(5): a Tversion aborts all outstanding I/O and clunks every fid. */
    p9_fids_clear(fs);
    fs->msize = 0;
    if (msize > P9FS_MSIZE_MAX) msize = P9FS_MSIZE_MAX;
    if (msize < P9FS_MSIZE_MIN) return -EINVAL;
    if (e || strcmp(ver, "9P2000.L")) {
        wr_le(w, msize, 4);
        wr_str(w, "unknown", 7);
        return 0;
    }
    fs->msize = msize;
    wr_le(w, msize, 4);
    wr_str(w, ver, strlen(ver));
    return 0;
}

static int op_attach(struct p9fs *fs, struct rd *r, struct wr *w)
{
    int e = 0;
    char uname[256], aname[256];
    uint32_t fid = rd32(r);
    (void)rd32(r); /* afid: no authentication */
    rd_str(r, uname, sizeof(uname), &e);
    rd_str(r, aname, sizeof(aname), &e); /* one tree per device: aname is ignored */
    uint32_t n_uname = rd32(r);
    CHECK_MSG(r, e);
    struct stat st;
    int err = p9_stat(fs, ".", &st);
    if (err) return err;
    char *path = strdup(".");
    if (!path) return -ENOMEM;
    struct fid *f;
    err = p9_fid_new(fs, fid, n_uname == NOFID ? 0 : n_uname, path, &f);
    if (err) return err;
    p9_put_qid(fs, w, &st);
    return 0;
}

static int op_walk(struct p9fs *fs, struct rd *r, struct wr *w)
{
    int e = 0;
    uint32_t fid = rd32(r), newfid = rd32(r);
    uint16_t n = rd16(r);
    if (n > MAXWELEM) return r->bad ? -EPROTO : -EINVAL;
    char names[MAXWELEM][NAME_MAX_9P + 1];
    for (unsigned i = 0; i < n; i++)
        rd_str(r, names[i], sizeof(names[i]), &e);
    CHECK_MSG(r, e);
    struct fid *f = p9_fid_get(fs, fid);
    if (!f) return -EBADF;
    if (newfid != fid && p9_fid_get(fs, newfid)) return -EEXIST;
    if (newfid == fid && n > 0 && (f->fd >= 0 || f->xattr)) return -EBUSY;
    char *path = strdup(f->path);
    if (!path) return -ENOMEM;
    struct stat st;
    int err = n ? p9_fid_stat(fs, f, &st) : 0;
    size_t count_at = w->off;
    wr_le(w, 0, 2);
    unsigned done = 0;
    for (; done < n && !err; done++) {
        if (!S_ISDIR(st.st_mode)) {
            err = -ENOTDIR;
            break;
        }
        char *next;
        err = p9_name_check(names[done]);
        if (!err) err = p9_path_join(path, names[done], &next);
        if (err) break;
        free(path);
        path = next;
        err = p9_stat(fs, path, &st);
        if (err) break;
        p9_put_qid(fs, w, &st);
    }
    if (done < n) {
        free(path);
        /* walk(5): failing on the first name is an error; later, a short Rwalk. */
        if (done == 0) return err;
        put_le(w->p + count_at, done, 2);
        return 0;
    }
    put_le(w->p + count_at, done, 2);
    if (newfid == fid) {
        free(f->path);
        f->path = path;
        return 0;
    }
    struct fid *nf;
    return p9_fid_new(fs, newfid, f->uid, path, &nf);
}

static int op_getattr(struct p9fs *fs, struct rd *r, struct wr *w)
{
    uint32_t fid = rd32(r);
    (void)rd64(r); /* request_mask: we always answer the basic set */
    CHECK_MSG(r, 0);
    struct fid *f = p9_fid_get(fs, fid);
    if (!f) return -EBADF;
    struct stat st;
    int err = p9_fid_stat(fs, f, &st);
    if (err) return err;
    wr_le(w, GETATTR_BASIC, 8);
    p9_put_qid(fs, w, &st);
    wr_le(w, st.st_mode, 4);
    wr_le(w, st.st_uid, 4);
    wr_le(w, st.st_gid, 4);
    wr_le(w, st.st_nlink, 8);
    wr_le(w, st.st_rdev, 8);
    wr_le(w, (uint64_t)st.st_size, 8);
    wr_le(w, (uint64_t)st.st_blksize, 8);
    wr_le(w, (uint64_t)st.st_blocks, 8);
    wr_le(w, (uint64_t)st.st_atim.tv_sec, 8);
    wr_le(w, (uint64_t)st.st_atim.tv_nsec, 8);
    wr_le(w, (uint64_t)st.st_mtim.tv_sec, 8);
    wr_le(w, (uint64_t)st.st_mtim.tv_nsec, 8);
    wr_le(w, (uint64_t)st.st_ctim.tv_sec, 8);
    wr_le(w, (uint64_t)st.st_ctim.tv_nsec, 8);
    for (int i = 0; i < 4; i++)
        wr_le(w, 0, 8); /* btime sec/nsec, gen, data_version: not valid */
    return 0;
}

static int setattr_times(struct p9fs *fs, struct fid *f, int fd, bool link,
                         const struct timespec ts[2])
{
    if (!link) {
        char pp[64];
        p9_proc_path(pp, sizeof(pp), fd);
        return utimensat(AT_FDCWD, pp, ts, 0) < 0 ? -errno : 0;
    }
    const char *base;
    int dir = p9_fid_parent(fs, f, &base);
    if (dir < 0) return dir;
    int err = utimensat(dir, base, ts, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
    close(dir);
    return err;
}

static int op_setattr(struct p9fs *fs, struct rd *r, struct wr *w)
{
    (void)w;
    uint32_t fid = rd32(r), valid = rd32(r), mode = rd32(r), uid = rd32(r), gid = rd32(r);
    uint64_t size = rd64(r);
    struct timespec ts[2];
    ts[0].tv_sec = (time_t)rd64(r);
    ts[0].tv_nsec = (long)rd64(r);
    ts[1].tv_sec = (time_t)rd64(r);
    ts[1].tv_nsec = (long)rd64(r);
    CHECK_MSG(r, 0);
    struct fid *f = p9_fid_get(fs, fid);
    if (!f) return -EBADF;
    if (fs->ro) return -EROFS;
    int fd = f->fd >= 0 ? f->fd : p9_opath(fs, f->path);
    if (fd < 0) return fd;
    struct stat st;
    int err = fstat(fd, &st) < 0 ? -errno : 0;
    bool link = !err && S_ISLNK(st.st_mode);
    char pp[64];
    p9_proc_path(pp, sizeof(pp), fd);
    if (!err && (valid & SETATTR_MODE)) {
        if (link)
            err = -EOPNOTSUPP; /* Linux has no lchmod */
        else if (fchmodat(AT_FDCWD, pp, p9_safe_mode(mode, S_ISDIR(st.st_mode)), 0) < 0)
            err = -errno;
    }
    if (!err && (valid & (SETATTR_UID | SETATTR_GID))) {
        uid_t u = (valid & SETATTR_UID) ? uid : (uid_t)-1;
        gid_t g = (valid & SETATTR_GID) ? gid : (gid_t)-1;
        if (fchownat(fd, "", u, g, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) err = -errno;
    }
    if (!err && (valid & SETATTR_SIZE)) {
        if (size > (uint64_t)INT64_MAX)
            err = -EFBIG;
        else if (f->fd >= 0 && f->writable)
            err = ftruncate(f->fd, (off_t)size) < 0 ? -errno : 0;
        else {
            int wfd = p9_open(fs, f->path, O_WRONLY | O_NOFOLLOW | O_NONBLOCK, 0);
            err = wfd < 0 ? wfd : ftruncate(wfd, (off_t)size) < 0 ? -errno : 0;
            if (wfd >= 0) close(wfd);
        }
    }
    if (!err && (valid & (SETATTR_ATIME | SETATTR_MTIME))) {
        /* Without the _SET bit the server's clock is used (protocol.md, setattr). */
        if (!(valid & SETATTR_ATIME))
            ts[0].tv_nsec = UTIME_OMIT;
        else if (!(valid & SETATTR_ATIME_SET))
            ts[0].tv_nsec = UTIME_NOW;
        if (!(valid & SETATTR_MTIME))
            ts[1].tv_nsec = UTIME_OMIT;
        else if (!(valid & SETATTR_MTIME_SET))
            ts[1].tv_nsec = UTIME_NOW;
        err = setattr_times(fs, f, fd, link, ts);
    }
    if (fd != f->fd) close(fd);
    return err;
}

static int op_lopen(struct p9fs *fs, struct rd *r, struct wr *w)
{
    uint32_t fid = rd32(r), flags = rd32(r);
    CHECK_MSG(r, 0);
    struct fid *f = p9_fid_get(fs, fid);
    if (!f) return -EBADF;
    if (f->fd >= 0 || f->xattr) return -EBUSY;
    int hf = p9_host_open_flags(flags);
    if (hf < 0) return hf;
    if (fs->ro && p9_flags_write(hf)) return -EROFS;
    int fd = p9_open(fs, f->path, hf, 0);
    if (fd < 0) return fd;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    f->fd = fd;
    f->writable = (hf & O_ACCMODE) != O_RDONLY;
    f->oflags = flags & DOTL_KEPT; /* a reopen (snapshot restore) must not truncate */
    p9_put_qid(fs, w, &st);
    wr_le(w, 0, 4); /* iounit 0: the client uses msize */
    return 0;
}

static int op_lcreate(struct p9fs *fs, struct rd *r, struct wr *w)
{
    int e = 0;
    char name[NAME_MAX_9P + 1];
    uint32_t fid = rd32(r);
    rd_str(r, name, sizeof(name), &e);
    uint32_t flags = rd32(r), mode = rd32(r), gid = rd32(r);
    CHECK_MSG(r, e);
    struct fid *f = p9_fid_get(fs, fid);
    if (!f) return -EBADF;
    if (f->fd >= 0 || f->xattr) return -EBUSY;
    if (fs->ro) return -EROFS;
    int err = p9_name_check(name);
    if (err) return err;
    int hf = p9_host_open_flags(flags);
    if (hf < 0) return hf;
    hf &= ~O_DIRECTORY;
    if (flags & DOTL_EXCL) hf |= O_EXCL; /* only meaningful with the create, so only here */
    char *path;
    err = p9_path_join(f->path, name, &path);
    if (err) return err;
    int fd = p9_open(fs, path, hf | O_CREAT, p9_safe_mode(mode, false));
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) < 0) {
        close(fd);
        fd = -errno;
    }
    if (fd < 0) {
        free(path);
        return fd;
    }
    if (fchown(fd, f->uid, gid) < 0) {
        /* not root on the host: the file stays kiln's */
    }
    free(f->path);
    f->path = path;
    f->fd = fd;
    f->writable = (hf & O_ACCMODE) != O_RDONLY;
    f->oflags = flags & DOTL_KEPT & ~(uint32_t)DOTL_DIRECTORY;
    p9_put_qid(fs, w, &st);
    wr_le(w, 0, 4);
    return 0;
}

static int op_read(struct p9fs *fs, struct rd *r, struct wr *w)
{
    uint32_t fid = rd32(r);
    uint64_t off = rd64(r);
    uint32_t count = rd32(r);
    CHECK_MSG(r, 0);
    struct fid *f = p9_fid_get(fs, fid);
    if (!f) return -EBADF;
    size_t room = w->cap - w->off - 4;
    if (count > room) count = (uint32_t)room;
    if (f->xattr) {
        wr_le(w, 0, 4); /* the list is empty */
        return 0;
    }
    if (f->fd < 0) return -EBADF;
    if (off > (uint64_t)INT64_MAX) return -EINVAL;
    ssize_t n;
    do
        n = pread(f->fd, w->p + w->off + 4, count, (off_t)off);
    while (n < 0 && errno == EINTR);
    if (n < 0) return -errno;
    wr_le(w, (uint64_t)n, 4);
    w->off += (size_t)n;
    return 0;
}

static int op_write(struct p9fs *fs, struct rd *r, struct wr *w)
{
    uint32_t fid = rd32(r);
    uint64_t off = rd64(r);
    uint32_t count = rd32(r);
    const uint8_t *data = rd_take(r, count);
    CHECK_MSG(r, 0);
    struct fid *f = p9_fid_get(fs, fid);
    if (!f || f->fd < 0) return -EBADF;
    if (fs->ro) return -EROFS;
    if (off > (uint64_t)INT64_MAX) return -EINVAL;
    ssize_t n;
    do
        n = pwrite(f->fd, data, count, (off_t)off);
    while (n < 0 && errno == EINTR);
    if (n < 0) return -errno;
    wr_le(w, (uint64_t)n, 4);
    return 0;
}

static int op_clunk(struct p9fs *fs, struct rd *r, struct wr *w)
{
    (void)w;
    uint32_t fid = rd32(r);
    CHECK_MSG(r, 0);
    if (!p9_fid_get(fs, fid)) return -EBADF;
    p9_fid_free(fs, fid);
    return 0;
}

static int op_remove(struct p9fs *fs, struct rd *r, struct wr *w)
{
    (void)w;
    uint32_t fid = rd32(r);
    CHECK_MSG(r, 0);
    struct fid *f = p9_fid_get(fs, fid);
    if (!f) return -EBADF;
    int err = fs->ro ? -EROFS : 0;
    const char *base;
    int dir = err ? err : p9_fid_parent(fs, f, &base);
    if (dir < 0) err = dir;
    struct stat st;
    if (!err && fstatat(dir, base, &st, AT_SYMLINK_NOFOLLOW) < 0) err = -errno;
    if (!err && unlinkat(dir, base, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) < 0) err = -errno;
    if (dir >= 0) close(dir);
    p9_fid_free(fs, fid); /* remove(5): the fid is clunked even if the remove fails */
    return err;
}

static int op_readdir(struct p9fs *fs, struct rd *r, struct wr *w)
{
    uint32_t fid = rd32(r);
    uint64_t off = rd64(r);
    uint32_t count = rd32(r);
    CHECK_MSG(r, 0);
    struct fid *f = p9_fid_get(fs, fid);
    if (!f || f->fd < 0) return -EBADF;
    if (off > (uint64_t)INT64_MAX) return -EINVAL;
    size_t room = w->cap - w->off - 4;
    if (count > room) count = (uint32_t)room;
    /* Stateless: the offset is the host's d_off cookie of the last entry returned. */
    if (lseek(f->fd, (off_t)off, SEEK_SET) < 0) return -errno;
    size_t want = count < sizeof(fs->dents) ? count : sizeof(fs->dents);
    ssize_t got = want ? getdents64(f->fd, fs->dents, want) : 0;
    if (got < 0) return -errno;
    size_t count_at = w->off;
    wr_le(w, 0, 4);
    size_t start = w->off;
    for (size_t pos = 0; pos + offsetof(struct dirent64, d_name) < (size_t)got;) {
        struct dirent64 *d = (struct dirent64 *)(fs->dents + pos);
        if (d->d_reclen == 0 || d->d_reclen > (size_t)got - pos) break;
        size_t nl = strnlen(d->d_name, d->d_reclen - offsetof(struct dirent64, d_name));
        /* qid[13] offset[8] type[1] name[s] */
        if (w->off - start + 24 + nl > count) break;
        uint8_t qt = d->d_type == DT_DIR ? QT_DIR : d->d_type == DT_LNK ? QT_SYMLINK : 0;
        /* The share's ".." is the share itself: the host's parent stays unseen. */
        bool up = !strcmp(f->path, ".") && !strcmp(d->d_name, "..");
        wr_le(w, qt, 1);
        wr_le(w, 0, 4);
        wr_le(w, up ? fs->root_ino : d->d_ino, 8);
        wr_le(w, (uint64_t)d->d_off, 8);
        wr_le(w, d->d_type, 1);
        wr_str(w, d->d_name, nl);
        pos += d->d_reclen;
    }
    put_le(w->p + count_at, w->off - start, 4);
    return 0;
}

static int op_statfs(struct p9fs *fs, struct rd *r, struct wr *w)
{
    uint32_t fid = rd32(r);
    CHECK_MSG(r, 0);
    struct fid *f = p9_fid_get(fs, fid);
    if (!f) return -EBADF;
    int fd = f->fd >= 0 ? f->fd : p9_opath(fs, f->path);
    if (fd < 0) return fd;
    struct statfs s;
    int err = fstatfs(fd, &s) < 0 ? -errno : 0;
    if (fd != f->fd) close(fd);
    if (err) return err;
    uint64_t fsid;
    memcpy(&fsid, &s.f_fsid, sizeof(fsid));
    wr_le(w, V9FS_MAGIC, 4);
    wr_le(w, (uint64_t)s.f_bsize, 4);
    wr_le(w, s.f_blocks, 8);
    wr_le(w, s.f_bfree, 8);
    wr_le(w, s.f_bavail, 8);
    wr_le(w, s.f_files, 8);
    wr_le(w, s.f_ffree, 8);
    wr_le(w, fsid, 8);
    wr_le(w, (uint64_t)s.f_namelen, 4);
    return 0;
}

/* Reply qid of a freshly made name in dir. */
static int made(struct p9fs *fs, struct wr *w, int dir, const char *name)
{
    struct stat st;
    if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0) return -errno;
    p9_put_qid(fs, w, &st);
    return 0;
}

static int op_mkdir(struct p9fs *fs, struct rd *r, struct wr *w)
{
    int e = 0;
    char name[NAME_MAX_9P + 1];
    uint32_t fid = rd32(r);
    rd_str(r, name, sizeof(name), &e);
    uint32_t mode = rd32(r), gid = rd32(r);
    CHECK_MSG(r, e);
    struct fid *f = p9_fid_get(fs, fid);
    if (!f) return -EBADF;
    if (fs->ro) return -EROFS;
    int dir = p9_fid_dir(fs, f, name);
    if (dir < 0) return dir;
    int err = mkdirat(dir, name, p9_safe_mode(mode, true)) < 0 ? -errno : 0;
    if (!err) {
        p9_chown_new(dir, name, f->uid, gid);
        err = made(fs, w, dir, name);
    }
    close(dir);
    return err;
}

static int op_symlink(struct p9fs *fs, struct rd *r, struct wr *w)
{
    int e = 0;
    char name[NAME_MAX_9P + 1], *target = malloc(PATH_MAX_9P);
    if (!target) return -ENOMEM;
    uint32_t fid = rd32(r);
    rd_str(r, name, sizeof(name), &e);
    rd_str(r, target, PATH_MAX_9P, &e);
    uint32_t gid = rd32(r);
    struct fid *f = p9_fid_get(fs, fid);
    int err = r->bad ? -EPROTO : e ? e : !f ? -EBADF : fs->ro ? -EROFS : 0;
    int dir = err ? err : p9_fid_dir(fs, f, name);
    if (dir < 0) err = dir;
    /* The target is only data: the guest resolves it in its own namespace. */
    if (!err && symlinkat(target, dir, name) < 0) err = -errno;
    if (!err) {
        p9_chown_new(dir, name, f->uid, gid);
        err = made(fs, w, dir, name);
    }
    if (dir >= 0) close(dir);
    free(target);
    return err;
}

static int op_mknod(struct p9fs *fs, struct rd *r, struct wr *w)
{
    int e = 0;
    char name[NAME_MAX_9P + 1];
    uint32_t fid = rd32(r);
    rd_str(r, name, sizeof(name), &e);
    uint32_t mode = rd32(r);
    (void)rd32(r); /* major */
    (void)rd32(r); /* minor */
    uint32_t gid = rd32(r);
    CHECK_MSG(r, e);
    struct fid *f = p9_fid_get(fs, fid);
    if (!f) return -EBADF;
    if (fs->ro) return -EROFS;
    mode_t type = mode & S_IFMT;
    /* FIFOs, sockets and plain files only: no device node ever lands on the host. */
    if (type != S_IFIFO && type != S_IFREG && type != S_IFSOCK) return -EPERM;
    int dir = p9_fid_dir(fs, f, name);
    if (dir < 0) return dir;
    int err = mknodat(dir, name, type | p9_safe_mode(mode, false), 0) < 0 ? -errno : 0;
    if (!err) {
        p9_chown_new(dir, name, f->uid, gid);
        err = made(fs, w, dir, name);
    }
    close(dir);
    return err;
}

static int op_readlink(struct p9fs *fs, struct rd *r, struct wr *w)
{
    uint32_t fid = rd32(r);
    CHECK_MSG(r, 0);
    struct fid *f = p9_fid_get(fs, fid);
    if (!f) return -EBADF;
    int fd = p9_opath(fs, f->path);
    if (fd < 0) return fd;
    char buf[PATH_MAX_9P];
    ssize_t n = readlinkat(fd, "", buf, sizeof(buf));
    int err = n < 0 ? -errno : (size_t)n >= sizeof(buf) ? -ENAMETOOLONG : 0;
    close(fd);
    if (err) return err;
    wr_str(w, buf, (size_t)n);
    return 0;
}

static int op_unlinkat(struct p9fs *fs, struct rd *r, struct wr *w)
{
    (void)w;
    int e = 0;
    char name[NAME_MAX_9P + 1];
    uint32_t fid = rd32(r);
    rd_str(r, name, sizeof(name), &e);
    uint32_t flags = rd32(r);
    CHECK_MSG(r, e);
    struct fid *f = p9_fid_get(fs, fid);
    if (!f) return -EBADF;
    if (fs->ro) return -EROFS;
    int dir = p9_fid_dir(fs, f, name);
    if (dir < 0) return dir;
    int err = unlinkat(dir, name, (flags & DOTL_AT_REMOVEDIR) ? AT_REMOVEDIR : 0) < 0 ? -errno : 0;
    close(dir);
    return err;
}

static int do_rename(struct p9fs *fs, int odir, const char *oname, int ndir, const char *nname,
                     const char *opath, const char *npath)
{
    if (renameat(odir, oname, ndir, nname) < 0) return -errno;
    if (opath && npath) p9_fids_renamed(fs, opath, npath);
    return 0;
}

/* Renames oname in the open directory od (closed here) to nname in the directory of fid nf.
 * opath names the renamed file for the fids' bookkeeping (a copy: renaming updates fids). */
static int rename_into(struct p9fs *fs, int od, const char *oname, const char *opath, struct fid *nf,
                       const char *nname)
{
    int nd = p9_fid_dir(fs, nf, nname);
    if (nd < 0) {
        close(od);
        return nd;
    }
    char *np = p9_joined(nf, nname);
    int err = do_rename(fs, od, oname, nd, nname, opath, np);
    free(np);
    close(od);
    close(nd);
    return err;
}

static int op_renameat(struct p9fs *fs, struct rd *r, struct wr *w)
{
    (void)w;
    int e = 0;
    char oname[NAME_MAX_9P + 1], nname[NAME_MAX_9P + 1];
    uint32_t ofid = rd32(r);
    rd_str(r, oname, sizeof(oname), &e);
    uint32_t nfid = rd32(r);
    rd_str(r, nname, sizeof(nname), &e);
    CHECK_MSG(r, e);
    struct fid *of = p9_fid_get(fs, ofid), *nf = p9_fid_get(fs, nfid);
    if (!of || !nf) return -EBADF;
    if (fs->ro) return -EROFS;
    int od = p9_fid_dir(fs, of, oname);
    if (od < 0) return od;
    char *op = p9_joined(of, oname);
    int err = rename_into(fs, od, oname, op, nf, nname);
    free(op);
    return err;
}

static int op_rename(struct p9fs *fs, struct rd *r, struct wr *w)
{
    (void)w;
    int e = 0;
    char name[NAME_MAX_9P + 1];
    uint32_t fid = rd32(r), dfid = rd32(r);
    rd_str(r, name, sizeof(name), &e);
    CHECK_MSG(r, e);
    struct fid *f = p9_fid_get(fs, fid), *d = p9_fid_get(fs, dfid);
    if (!f || !d) return -EBADF;
    if (fs->ro) return -EROFS;
    const char *base;
    int od = p9_fid_parent(fs, f, &base);
    if (od < 0) return od;
    char *op = strdup(f->path);
    int err = rename_into(fs, od, base, op, d, name);
    free(op);
    return err;
}

static int op_link(struct p9fs *fs, struct rd *r, struct wr *w)
{
    (void)w;
    int e = 0;
    char name[NAME_MAX_9P + 1];
    uint32_t dfid = rd32(r), fid = rd32(r);
    rd_str(r, name, sizeof(name), &e);
    CHECK_MSG(r, e);
    struct fid *d = p9_fid_get(fs, dfid), *f = p9_fid_get(fs, fid);
    if (!d || !f) return -EBADF;
    if (fs->ro) return -EROFS;
    const char *base;
    int od = p9_fid_parent(fs, f, &base);
    if (od < 0) return od;
    int nd = p9_fid_dir(fs, d, name);
    int err = nd < 0 ? nd : linkat(od, base, nd, name, 0) < 0 ? -errno : 0;
    if (nd >= 0) close(nd);
    close(od);
    return err;
}

static int op_fsync(struct p9fs *fs, struct rd *r, struct wr *w)
{
    (void)w;
    uint32_t fid = rd32(r), datasync = rd32(r);
    CHECK_MSG(r, 0);
    struct fid *f = p9_fid_get(fs, fid);
    if (!f || f->fd < 0) return -EBADF;
    return (datasync ? fdatasync(f->fd) : fsync(f->fd)) < 0 ? -errno : 0;
}

static int op_xattrwalk(struct p9fs *fs, struct rd *r, struct wr *w)
{
    int e = 0;
    char name[256];
    uint32_t fid = rd32(r), newfid = rd32(r);
    rd_str(r, name, sizeof(name), &e);
    CHECK_MSG(r, e);
    struct fid *f = p9_fid_get(fs, fid);
    if (!f) return -EBADF;
    /* No extended attributes are exported: every list is empty, every name unsupported. */
    if (name[0]) return -EOPNOTSUPP;
    char *path = strdup(f->path);
    if (!path) return -ENOMEM;
    struct fid *nf;
    int err = p9_fid_new(fs, newfid, f->uid, path, &nf);
    if (err) return err;
    nf->xattr = true;
    wr_le(w, 0, 8);
    return 0;
}

static int lock_type(uint8_t t)
{
    return t == LOCK_TYPE_RDLCK   ? F_RDLCK
           : t == LOCK_TYPE_WRLCK ? F_WRLCK
           : t == LOCK_TYPE_UNLCK ? F_UNLCK
                                  : -1;
}

/*
 * POSIX record locks become open-file-description locks on the fid's
 * descriptor: each guest open is its own fid, so two guest processes (or a
 * guest and a host process) conflict as they would on one host. Blocking requests are answered
 * BLOCKED and Linux's client retries (protocol.md, lock).
 */
static int op_lock(struct p9fs *fs, struct rd *r, struct wr *w)
{
    int e = 0;
    char client[256];
    uint32_t fid = rd32(r);
    uint8_t type = rd8(r);
    (void)rd32(r); /* flags */
    uint64_t start = rd64(r), len = rd64(r);
    (void)rd32(r); /* proc_id */
    rd_str(r, client, sizeof(client), &e);
    CHECK_MSG(r, e);
    struct fid *f = p9_fid_get(fs, fid);
    if (!f || f->fd < 0) return -EBADF;
    int t = lock_type(type);
    if (t < 0 || start > (uint64_t)INT64_MAX) return -EINVAL;
    struct flock fl = {.l_type = (short)t,
                       .l_whence = SEEK_SET,
                       .l_start = (off_t)start,
                       .l_len = len > (uint64_t)INT64_MAX - start ? 0 : (off_t)len};
    uint8_t status = LOCK_SUCCESS;
    if (fcntl(f->fd, F_OFD_SETLK, &fl) < 0) {
        if (errno == EAGAIN || errno == EACCES)
            status = LOCK_BLOCKED;
        else if (errno != EBADF)
            status = LOCK_ERROR;
        /*
         * EBADF: a write lock on a read-only open. v9fs turns flock(2), which
         * ignores the open mode, into such requests; grant them without a host
         * lock, which is all QEMU ever does.
         */
    }
    wr_le(w, status, 1);
    return 0;
}

static int op_getlock(struct p9fs *fs, struct rd *r, struct wr *w)
{
    int e = 0;
    char client[256];
    uint32_t fid = rd32(r);
    uint8_t type = rd8(r);
    uint64_t start = rd64(r), len = rd64(r);
    uint32_t proc_id = rd32(r);
    rd_str(r, client, sizeof(client), &e);
    CHECK_MSG(r, e);
    struct fid *f = p9_fid_get(fs, fid);
    if (!f || f->fd < 0) return -EBADF;
    int t = lock_type(type);
    if (t < 0 || t == F_UNLCK || start > (uint64_t)INT64_MAX) return -EINVAL;
    struct flock fl = {.l_type = (short)t,
                       .l_whence = SEEK_SET,
                       .l_start = (off_t)start,
                       .l_len = len > (uint64_t)INT64_MAX - start ? 0 : (off_t)len};
    if (fcntl(f->fd, F_OFD_GETLK, &fl) < 0) return -errno;
    uint8_t rt = fl.l_type == F_RDLCK   ? LOCK_TYPE_RDLCK
                 : fl.l_type == F_WRLCK ? LOCK_TYPE_WRLCK
                                        : LOCK_TYPE_UNLCK;
    wr_le(w, rt, 1);
    wr_le(w, rt == LOCK_TYPE_UNLCK ? start : (uint64_t)fl.l_start, 8);
    wr_le(w, rt == LOCK_TYPE_UNLCK ? len : (uint64_t)fl.l_len, 8);
    wr_le(w, rt == LOCK_TYPE_UNLCK ? proc_id : 0, 4);
    wr_str(w, client, strlen(client));
    return 0;
}

int p9_dispatch(struct p9fs *fs, uint8_t type, struct rd *r, struct wr *w)
{
    if (type == P9_TVERSION) return op_version(fs, r, w);
    if (!fs->msize) return -EPROTO; /* version(5): nothing before a successful Tversion */
    switch (type) {
    case P9_TATTACH:
        return op_attach(fs, r, w);
    case P9_TWALK:
        return op_walk(fs, r, w);
    case P9_TGETATTR:
        return op_getattr(fs, r, w);
    case P9_TSETATTR:
        return op_setattr(fs, r, w);
    case P9_TLOPEN:
        return op_lopen(fs, r, w);
    case P9_TLCREATE:
        return op_lcreate(fs, r, w);
    case P9_TREAD:
        return op_read(fs, r, w);
    case P9_TWRITE:
        return op_write(fs, r, w);
    case P9_TCLUNK:
        return op_clunk(fs, r, w);
    case P9_TREMOVE:
        return op_remove(fs, r, w);
    case P9_TREADDIR:
        return op_readdir(fs, r, w);
    case P9_TSTATFS:
        return op_statfs(fs, r, w);
    case P9_TMKDIR:
        return op_mkdir(fs, r, w);
    case P9_TSYMLINK:
        return op_symlink(fs, r, w);
    case P9_TMKNOD:
        return op_mknod(fs, r, w);
    case P9_TREADLINK:
        return op_readlink(fs, r, w);
    case P9_TUNLINKAT:
        return op_unlinkat(fs, r, w);
    case P9_TRENAMEAT:
        return op_renameat(fs, r, w);
    case P9_TRENAME:
        return op_rename(fs, r, w);
    case P9_TLINK:
        return op_link(fs, r, w);
    case P9_TFSYNC:
        return op_fsync(fs, r, w);
    case P9_TXATTRWALK:
        return op_xattrwalk(fs, r, w);
    case P9_TXATTRCREATE:
        return fs->ro ? -EROFS : -EOPNOTSUPP;
    case P9_TLOCK:
        return op_lock(fs, r, w);
    case P9_TGETLOCK:
        return op_getlock(fs, r, w);
    case P9_TFLUSH:
        /* Requests are served one at a time, in order: the old one has been answered. */
        (void)rd16(r);
        return r->bad ? -EPROTO : 0;
    case P9_TAUTH:
        return -EOPNOTSUPP;
    default:
        return -EOPNOTSUPP;
    }
}
