/*
 * Process-VM system calls on files, descriptors and paths (riscv64 numbers,
 * asm-generic unistd.h). Every path goes through the mount table (paths.h);
 * every fd must be one the guest owns.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <termios.h>
#include <unistd.h>

#include "user/sys.h"

/* ---- fds ---- */

struct fdfile *sys_file(struct proc *p, int64_t fd)
{
    return fd < 0 || fd >= PROC_FD_MAX ? NULL : fdtable_get(&p->fdt, (int)fd);
}

long sys_fd_new(struct proc *p, int host, enum fd_kind kind, bool ro, const char *path, bool cloexec)
{
    if (host < 0)
        return host;
    struct fdfile *f = fdfile_new(host, kind, ro, path);
    if (!f)
        return -ENOMEM;
    int fd = fdtable_install(&p->fdt, f, 0, cloexec);
    if (fd < 0)
        fdfile_put(f);
    return fd;
}

long sys_ret(long r)
{
    return r < 0 ? -errno : r;
}

/* ---- paths ---- */

/* Guest path argument resolved against dirfd (or cwd) into abs. */
int sys_path(struct ctx *c, int64_t dirfd, uint64_t va, char *abs, bool empty_ok)
{
    char path[GPATH_MAX];
    long n = mm_copy_str(c->mm, path, va, sizeof(path));
    if (n < 0)
        return (int)n;
    if (n == 0 && !empty_ok)
        return -ENOENT;
    char base[GPATH_MAX];
    if (path[0] == '/' || (int32_t)dirfd == RV_AT_FDCWD) {
        pthread_mutex_lock(&c->p->lock);
        snprintf(base, sizeof(base), "%s", c->p->cwd);
        pthread_mutex_unlock(&c->p->lock);
    } else {
        struct fdfile *f = sys_file(c->p, dirfd);
        if (!f)
            return -EBADF;
        int err = f->path ? 0 : -ENOTDIR;
        if (f->path)
            snprintf(base, sizeof(base), "%s", f->path);
        fdfile_put(f);
        if (err)
            return err;
    }
    if (n == 0) {
        snprintf(abs, GPATH_MAX, "%s", base);
        return 0;
    }
    return path_normalize(base, path, abs, GPATH_MAX);
}

bool sys_path_ro(struct proc *p, const char *abs)
{
    const char *rel;
    int i = mounts_find(&p->mounts, abs, &rel);
    return i >= 0 && p->mounts.m[i].ro;
}

/* ---- guest buffers as host iovecs ---- */

long sys_iov(struct ctx *c, uint64_t va, uint64_t len, enum mm_access acc,
                      struct iovec *iov, int *n, int max)
{
    long total = 0;
    while (len && *n < max) {
        uint64_t chunk = MM_PAGE - (va & (MM_PAGE - 1));
        if (chunk > len)
            chunk = len;
        void *hp = mm_host(c->mm, va, acc, NULL);
        if (!hp)
            return total ? total : -EFAULT;
        iov[*n].iov_base = hp;
        iov[*n].iov_len = chunk;
        (*n)++;
        total += (long)chunk;
        va += chunk, len -= chunk;
    }
    return total;
}

static long guest_iovs(struct ctx *c, uint64_t giov, uint64_t cnt, enum mm_access acc,
                       struct iovec *iov, int *n)
{
    if (cnt > 1024)
        return -EINVAL;
    for (uint64_t i = 0; i < cnt && *n < IOV_PAGES; i++) {
        uint64_t e[2];
        if (mm_copy_in(c->mm, e, giov + 16 * i, 16))
            return -EFAULT;
        long r = sys_iov(c, e[0], e[1], acc, iov, n, IOV_PAGES);
        if (r < 0)
            return r;
    }
    return 0;
}

static long do_rw(struct ctx *c, int nr)
{
    struct fdfile *f = sys_file(c->p, (int64_t)c->a[0]);
    if (!f)
        return -EBADF;
    bool reading = nr == RV_NR_read || nr == RV_NR_readv || nr == RV_NR_pread64 || nr == RV_NR_preadv;
    enum mm_access acc = reading ? MM_WRITE : MM_READ;
    struct iovec iov[IOV_PAGES];
    int n = 0;
    long r;
    if (!reading && f->ro) {
        r = -EBADF; /* never opened for writing: read-only mappings refuse O_WRONLY/O_RDWR */
        goto out;
    }
    if (nr == RV_NR_readv || nr == RV_NR_writev || nr == RV_NR_preadv || nr == RV_NR_pwritev)
        r = guest_iovs(c, c->a[1], c->a[2], acc, iov, &n);
    else
        r = sys_iov(c, c->a[1], c->a[2], acc, iov, &n, IOV_PAGES);
    if (r < 0)
        goto out;
    if (n == 0)
        iov[n++] = (struct iovec){NULL, 0};
    int fd = f->host;
    switch (nr) {
    case RV_NR_read:
    case RV_NR_readv: r = readv(fd, iov, n); break;
    case RV_NR_write:
    case RV_NR_writev: r = writev(fd, iov, n); break;
    case RV_NR_pread64: r = preadv(fd, iov, n, (off_t)c->a[3]); break;
    case RV_NR_pwrite64: r = pwritev(fd, iov, n, (off_t)c->a[3]); break;
    case RV_NR_preadv: r = preadv(fd, iov, n, (off_t)c->a[3]); break;
    default: r = pwritev(fd, iov, n, (off_t)c->a[3]); break;
    }
    r = sys_ret(r);
    if (r == -EPIPE)
        proc_send_signal(c->p, c->t->tid, SIGPIPE);
out:
    fdfile_put(f);
    return r;
}

/* ---- stat ---- */

/* struct stat of asm-generic (riscv64): 128 bytes. */
static long put_stat(struct ctx *c, uint64_t va, const struct stat *st)
{
    uint8_t b[128];
    memset(b, 0, sizeof(b));
#define W64(off, v) do { uint64_t x_ = (uint64_t)(v); memcpy(b + (off), &x_, 8); } while (0)
#define W32(off, v) do { uint32_t x_ = (uint32_t)(v); memcpy(b + (off), &x_, 4); } while (0)
    W64(0, st->st_dev);
    W64(8, st->st_ino);
    W32(16, st->st_mode);
    W32(20, st->st_nlink);
    W32(24, st->st_uid);
    W32(28, st->st_gid);
    W64(32, st->st_rdev);
    W64(48, st->st_size);
    W32(56, st->st_blksize);
    W64(64, st->st_blocks);
    W64(72, st->st_atim.tv_sec);
    W64(80, st->st_atim.tv_nsec);
    W64(88, st->st_mtim.tv_sec);
    W64(96, st->st_mtim.tv_nsec);
    W64(104, st->st_ctim.tv_sec);
    W64(112, st->st_ctim.tv_nsec);
#undef W64
#undef W32
    return mm_copy_out(c->mm, va, b, sizeof(b));
}

/*
 * Opens what a *at() call names, as a host O_PATH descriptor (kiln's, closed
 * by the caller): the dirfd itself for AT_EMPTY_PATH with "", else the path
 * (the last symlink followed unless AT_SYMLINK_NOFOLLOW). *ro: it lies on a
 * read-only mapping, so nothing may change it.
 */
static int open_target(struct ctx *c, int64_t dirfd, uint64_t pathva, int flags, bool *ro)
{
    char abs[GPATH_MAX];
    char path0;
    *ro = false;
    if ((flags & RV_AT_EMPTY_PATH) && mm_copy_in(c->mm, &path0, pathva, 1) == 0 && path0 == 0 &&
        (int32_t)dirfd != RV_AT_FDCWD) {
        struct fdfile *f = sys_file(c->p, dirfd);
        if (!f)
            return -EBADF;
        int d = fcntl(f->host, F_DUPFD_CLOEXEC, 3);
        *ro = f->ro || f->host_stdio;
        fdfile_put(f);
        return d < 0 ? -errno : d;
    }
    int r = sys_path(c, dirfd, pathva, abs, flags & RV_AT_EMPTY_PATH);
    if (r)
        return r;
    *ro = sys_path_ro(c->p, abs);
    return mounts_open(&c->p->mounts, abs, O_PATH | ((flags & RV_AT_SYMLINK_NOFOLLOW) ? O_NOFOLLOW : 0), 0);
}

static long do_fstatat(struct ctx *c, int64_t dirfd, uint64_t pathva, uint64_t buf, int flags)
{
    bool ro;
    int fd = open_target(c, dirfd, pathva, flags, &ro);
    if (fd < 0)
        return fd;
    struct stat st;
    long r = sys_ret(fstat(fd, &st));
    close(fd);
    return r < 0 ? r : put_stat(c, buf, &st);
}

/*
 * A host device node (the /dev/null, /dev/zero, /dev/urandom kiln maps, or one
 * under a --dir): the guest reads and writes it but never changes its mode,
 * owner or times. It runs as uid 0, which owns those nodes on the host.
 */
static bool host_node(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode));
}

/* Why a change to fd's object (mode, owner, times) is refused, or 0: a read-only mapping, a host node. */
static long change_refused(bool ro, int fd)
{
    return ro ? -EROFS : host_node(fd) ? -EPERM : 0;
}

static long do_statx(struct ctx *c)
{
    bool ro;
    int flags = (int)c->a[2];
    int fd = open_target(c, (int64_t)c->a[0], c->a[1], flags, &ro);
    if (fd < 0)
        return fd;
    uint8_t sx[256]; /* sizeof(struct statx): the same on riscv64 and x86-64 */
    long r = sys_ret(syscall(SYS_statx, fd, "", AT_EMPTY_PATH | (flags & 0x6000), (unsigned)c->a[3], sx));
    close(fd);
    return r < 0 ? r : mm_copy_out(c->mm, c->a[4], sx, sizeof(sx));
}

/*
 * statfs/fstatfs: struct statfs is the same 120 bytes on riscv64 and x86-64
 * (asm-generic statfs.h with 64-bit words); a read-only mapping says
 * ST_RDONLY, as a read-only mount does.
 */
static long do_statfs(struct ctx *c, bool by_fd)
{
    bool ro;
    int fd;
    if (by_fd) {
        struct fdfile *f = sys_file(c->p, (int64_t)c->a[0]);
        if (!f)
            return -EBADF;
        ro = f->ro;
        fd = fcntl(f->host, F_DUPFD_CLOEXEC, 3);
        fdfile_put(f);
        if (fd < 0)
            return -errno;
    } else {
        fd = open_target(c, RV_AT_FDCWD, c->a[0], 0, &ro);
        if (fd < 0)
            return fd;
    }
    struct statfs sf;
    long r = sys_ret(fstatfs(fd, &sf));
    close(fd);
    if (r < 0)
        return r;
    _Static_assert(sizeof(sf) == 120, "struct statfs is 120 bytes on both sides");
    if (ro)
        sf.f_flags |= ST_RDONLY;
    return mm_copy_out(c->mm, c->a[1], &sf, sizeof(sf));
}

/* ---- files ---- */

static long do_openat(struct ctx *c)
{
    char abs[GPATH_MAX];
    int r = sys_path(c, (int64_t)c->a[0], c->a[1], abs, false);
    if (r)
        return r;
    int flags = (int)c->a[2];
    /* riscv64 uses the generic open flag values, the same as x86-64's; the host side is always O_CLOEXEC. */
    int fd = mounts_open(&c->p->mounts, abs, flags & ~O_CLOEXEC, (mode_t)c->a[3]);
    if (fd < 0)
        return fd;
    return sys_fd_new(c->p, fd, FD_FILE, sys_path_ro(c->p, abs), abs, flags & O_CLOEXEC);
}

/* truncate(2) by path: opened for writing, so a read-only mapping answers EROFS. */
static long do_truncate(struct ctx *c)
{
    char abs[GPATH_MAX];
    int r = sys_path(c, RV_AT_FDCWD, c->a[0], abs, false);
    if (r)
        return r;
    int fd = mounts_open(&c->p->mounts, abs, O_WRONLY, 0);
    if (fd < 0)
        return fd;
    long ret = sys_ret(ftruncate(fd, (off_t)c->a[1]));
    close(fd);
    return ret;
}

static long do_name_op(struct ctx *c, int nr)
{
    char abs[GPATH_MAX];
    const char *last;
    int r = sys_path(c, (int64_t)c->a[0], c->a[1], abs, false);
    if (r)
        return r;
    bool write = nr != RV_NR_readlinkat;
    int dfd = mounts_open_parent(&c->p->mounts, abs, write, &last);
    if (dfd < 0)
        return dfd;
    long ret;
    switch (nr) {
    case RV_NR_mkdirat: ret = sys_ret(mkdirat(dfd, last, (mode_t)c->a[2])); break;
    case RV_NR_unlinkat: ret = sys_ret(unlinkat(dfd, last, (int)c->a[2] & RV_AT_REMOVEDIR)); break;
    case RV_NR_mknodat:
        ret = S_ISFIFO(c->a[2]) || S_ISREG(c->a[2]) ? sys_ret(mknodat(dfd, last, (mode_t)c->a[2], 0)) : -EPERM;
        break;
    default: { /* readlinkat */
        char buf[GPATH_MAX];
        uint64_t len = c->a[3] < sizeof(buf) ? c->a[3] : sizeof(buf);
        ret = sys_ret(readlinkat(dfd, last, buf, len));
        if (ret > 0 && mm_copy_out(c->mm, c->a[2], buf, (size_t)ret))
            ret = -EFAULT;
        break;
    }
    }
    close(dfd);
    return ret;
}

static long do_two_paths(struct ctx *c, int nr)
{
    /* renameat2(olddfd, old, newdfd, new, flags), linkat(olddfd, old, newdfd, new, flags) */
    char a1[GPATH_MAX], a2[GPATH_MAX];
    const char *l1, *l2;
    int r = sys_path(c, (int64_t)c->a[0], c->a[1], a1, false);
    if (!r)
        r = sys_path(c, (int64_t)c->a[2], c->a[3], a2, false);
    if (r)
        return r;
    /*
     * A hard link shares the inode, so a link of a read-only file into a
     * writable mapping would make it writable: refused as a link across
     * mounts is (EXDEV, link(2)), after the EROFS of a read-only target.
     */
    if (nr == RV_NR_linkat && !sys_path_ro(c->p, a2) && sys_path_ro(c->p, a1))
        return -EXDEV;
    int d1 = mounts_open_parent(&c->p->mounts, a1, nr != RV_NR_linkat, &l1);
    if (d1 < 0)
        return d1;
    int d2 = mounts_open_parent(&c->p->mounts, a2, true, &l2);
    if (d2 < 0) {
        close(d1);
        return d2;
    }
    long ret;
    if (nr == RV_NR_linkat)
        ret = sys_ret(linkat(d1, l1, d2, l2, 0));
    else
        ret = sys_ret(syscall(SYS_renameat2, d1, l1, d2, l2, nr == RV_NR_renameat2 ? (unsigned)c->a[4] : 0));
    close(d1);
    close(d2);
    return ret;
}

static long do_symlinkat(struct ctx *c)
{
    char target[GPATH_MAX], abs[GPATH_MAX];
    const char *last;
    if (mm_copy_str(c->mm, target, c->a[0], sizeof(target)) < 0)
        return -EFAULT;
    int r = sys_path(c, (int64_t)c->a[1], c->a[2], abs, false);
    if (r)
        return r;
    int d = mounts_open_parent(&c->p->mounts, abs, true, &last);
    if (d < 0)
        return d;
    long ret = sys_ret(symlinkat(target, d, last));
    close(d);
    return ret;
}

static long via_proc(int fd, int (*fn)(const char *, void *), void *arg)
{
    char pp[64];
    snprintf(pp, sizeof(pp), "/proc/self/fd/%d", fd);
    return sys_ret(fn(pp, arg));
}

static int access_fn(const char *pp, void *arg)
{
    return access(pp, *(int *)arg);
}

static long do_faccessat(struct ctx *c, int flags)
{
    bool ro;
    int fd = open_target(c, (int64_t)c->a[0], c->a[1], flags, &ro);
    if (fd < 0)
        return fd;
    int mode = (int)c->a[2] & 7;
    long r = (mode & W_OK) && ro ? -EROFS : via_proc(fd, access_fn, &mode);
    close(fd);
    return r;
}

static int utimes_fn(const char *pp, void *arg)
{
    return utimensat(AT_FDCWD, pp, arg, 0);
}

static long do_utimensat(struct ctx *c)
{
    struct timespec ts[2], *tsp = NULL; /* two 16-byte timespecs on both sides */
    if (c->a[2]) {
        if (mm_copy_in(c->mm, ts, c->a[2], sizeof(ts)))
            return -EFAULT;
        tsp = ts;
    }
    bool ro;
    int fd;
    if (!c->a[1]) { /* futimens(fd): utimensat(fd, NULL, ...) */
        struct fdfile *f = sys_file(c->p, (int64_t)c->a[0]);
        if (!f)
            return -EBADF;
        ro = f->ro || f->host_stdio;
        fd = fcntl(f->host, F_DUPFD_CLOEXEC, 3);
        fdfile_put(f);
        if (fd < 0)
            return -errno;
    } else {
        fd = open_target(c, (int64_t)c->a[0], c->a[1], (int)c->a[3], &ro);
        if (fd < 0)
            return fd;
    }
    long r = change_refused(ro, fd);
    if (!r)
        r = via_proc(fd, utimes_fn, tsp);
    close(fd);
    return r;
}

static int chmod_fn(const char *pp, void *arg)
{
    return chmod(pp, *(mode_t *)arg);
}

static long do_fchmodat(struct ctx *c)
{
    bool ro;
    int fd = open_target(c, (int64_t)c->a[0], c->a[1], 0, &ro);
    if (fd < 0)
        return fd;
    mode_t m = (mode_t)c->a[2];
    long r = change_refused(ro, fd);
    if (!r)
        r = via_proc(fd, chmod_fn, &m);
    close(fd);
    return r;
}

static long do_fchownat(struct ctx *c)
{
    bool ro;
    int fd = open_target(c, (int64_t)c->a[0], c->a[1], (int)c->a[4], &ro);
    if (fd < 0)
        return fd;
    long r = change_refused(ro, fd);
    if (!r)
        r = sys_ret(fchownat(fd, "", (uid_t)c->a[2], (gid_t)c->a[3], AT_EMPTY_PATH));
    close(fd);
    return r;
}

/*
 * Changes through a descriptor (fchmod, fchown, ftruncate, fallocate...): never
 * on a read-only mapping, never on the stdio kiln's caller handed in (a guest
 * running as uid 0 would otherwise chmod the host's /dev/null or terminal).
 */
static long do_fd_op(struct ctx *c, unsigned nr)
{
    struct fdfile *f = sys_file(c->p, (int64_t)c->a[0]);
    if (!f)
        return -EBADF;
    int fd = f->host;
    const uint64_t *a = c->a;
    long r;
    bool change = nr == RV_NR_ftruncate || nr == RV_NR_fchmod || nr == RV_NR_fchown || nr == RV_NR_fallocate;
    if (change && (f->host_stdio || host_node(fd)))
        r = -EPERM;
    else if (change && f->ro)
        r = -EROFS;
    else if (nr == RV_NR_fsync)
        r = sys_ret(fsync(fd));
    else if (nr == RV_NR_fdatasync)
        r = sys_ret(fdatasync(fd));
    else if (nr == RV_NR_ftruncate)
        r = sys_ret(ftruncate(fd, (off_t)a[1]));
    else if (nr == RV_NR_fchmod)
        r = sys_ret(fchmod(fd, (mode_t)a[1]));
    else if (nr == RV_NR_flock)
        r = sys_ret(flock(fd, (int)a[1]));
    else if (nr == RV_NR_fchown)
        r = sys_ret(fchown(fd, (uid_t)a[1], (gid_t)a[2]));
    else if (nr == RV_NR_lseek)
        r = sys_ret(lseek(fd, (off_t)a[1], (int)a[2]));
    else
        r = sys_ret(fallocate(fd, (int)a[1], (off_t)a[2], (off_t)a[3]));
    fdfile_put(f);
    return r;
}

/*
 * Extended attributes are not part of the view: reads find none, changes are
 * refused (EROFS on a read-only mapping, else ENOTSUP as on a file system
 * without them), and nothing reaches the host.
 */
static long do_xattr(struct ctx *c, unsigned nr)
{
    bool change = nr == RV_NR_setxattr || nr == RV_NR_lsetxattr || nr == RV_NR_fsetxattr ||
                  nr == RV_NR_removexattr || nr == RV_NR_lremovexattr || nr == RV_NR_fremovexattr;
    bool by_fd = nr == RV_NR_fsetxattr || nr == RV_NR_fgetxattr || nr == RV_NR_flistxattr ||
                 nr == RV_NR_fremovexattr;
    bool ro;
    if (by_fd) {
        struct fdfile *f = sys_file(c->p, (int64_t)c->a[0]);
        if (!f)
            return -EBADF;
        ro = f->ro;
        fdfile_put(f);
    } else {
        int fd = open_target(c, RV_AT_FDCWD, c->a[0], 0, &ro);
        if (fd < 0)
            return fd;
        close(fd);
    }
    if (change)
        return ro ? -EROFS : -ENOTSUP;
    return nr == RV_NR_listxattr || nr == RV_NR_llistxattr || nr == RV_NR_flistxattr ? 0 : -ENODATA;
}

static long do_chdir(struct ctx *c, bool by_fd)
{
    char abs[GPATH_MAX];
    if (by_fd) {
        struct fdfile *f = sys_file(c->p, (int64_t)c->a[0]);
        if (!f)
            return -EBADF;
        long r = -ENOTDIR;
        if (f->path) {
            pthread_mutex_lock(&c->p->lock);
            snprintf(c->p->cwd, sizeof(c->p->cwd), "%s", f->path);
            pthread_mutex_unlock(&c->p->lock);
            r = 0;
        }
        fdfile_put(f);
        return r;
    }
    int r = sys_path(c, RV_AT_FDCWD, c->a[0], abs, false);
    if (r)
        return r;
    int fd = mounts_open(&c->p->mounts, abs, O_PATH | O_DIRECTORY, 0);
    if (fd < 0)
        return fd;
    close(fd);
    pthread_mutex_lock(&c->p->lock);
    snprintf(c->p->cwd, sizeof(c->p->cwd), "%s", abs);
    pthread_mutex_unlock(&c->p->lock);
    return 0;
}

static long do_getcwd(struct ctx *c)
{
    char cwd[GPATH_MAX];
    pthread_mutex_lock(&c->p->lock);
    snprintf(cwd, sizeof(cwd), "%s", c->p->cwd);
    pthread_mutex_unlock(&c->p->lock);
    size_t n = strlen(cwd) + 1;
    if (c->a[1] < n)
        return -ERANGE;
    return mm_copy_out(c->mm, c->a[0], cwd, n) ? -EFAULT : (long)n;
}

/* ---- descriptors ---- */

static long do_fcntl(struct ctx *c)
{
    int gfd = (int)c->a[0];
    struct fdfile *f = sys_file(c->p, (int64_t)c->a[0]);
    if (!f)
        return -EBADF;
    int fd = f->host, cmd = (int)c->a[1];
    long r;
    switch (cmd) {
    case F_DUPFD:
    case F_DUPFD_CLOEXEC:
        if (c->a[2] >= PROC_FD_MAX) {
            r = -EINVAL;
            break;
        }
        r = fdtable_install(&c->p->fdt, f, (int)c->a[2], cmd == F_DUPFD_CLOEXEC);
        if (r >= 0)
            return r; /* the table took the reference */
        break;
    case F_GETFD:
        r = fdtable_get_cloexec(&c->p->fdt, gfd);
        r = r < 0 ? r : r ? FD_CLOEXEC : 0;
        break;
    case F_SETFD:
        r = fdtable_set_cloexec(&c->p->fdt, gfd, c->a[2] & FD_CLOEXEC);
        break;
    case F_GETFL:
    case F_SETFL: /* status flags: the same generic values on both sides */
        r = sys_ret(fcntl(fd, cmd, (int)c->a[2]));
        break;
    case F_GETLK:
    case F_SETLK:
    case F_SETLKW:
    case F_OFD_GETLK:
    case F_OFD_SETLK:
    case F_OFD_SETLKW: {
        struct flock fl; /* the same 32-byte layout on riscv64 and x86-64 */
        if (mm_copy_in(c->mm, &fl, c->a[2], sizeof(fl))) {
            r = -EFAULT;
            break;
        }
        r = sys_ret(fcntl(fd, cmd, &fl));
        /*
         * The holder's pid is a host pid: shown as its vpid when it is a process
         * of this VM, else 0, as Linux shows a holder outside the caller's pid
         * namespace (fcntl(2) F_GETLK). An open file description lock stays -1.
         */
        if (fl.l_type != F_UNLCK && fl.l_pid > 0)
            fl.l_pid = proc_vpid_of_host(c->p, fl.l_pid);
        if (r == 0 && (cmd == F_GETLK || cmd == F_OFD_GETLK) && mm_copy_out(c->mm, c->a[2], &fl, sizeof(fl)))
            r = -EFAULT;
        break;
    }
    default:
        r = -EINVAL;
    }
    fdfile_put(f);
    return r;
}

static long do_dup3(struct ctx *c, bool is_dup)
{
    struct fdfile *f = sys_file(c->p, (int64_t)c->a[0]);
    if (!f)
        return -EBADF;
    long r;
    if (is_dup)
        r = fdtable_install(&c->p->fdt, f, 0, false);
    else if (c->a[1] >= PROC_FD_MAX)
        r = -EBADF;
    else if (c->a[1] == c->a[0] || (c->a[2] & ~(uint64_t)RV_O_CLOEXEC))
        r = -EINVAL;
    else
        r = fdtable_install_at(&c->p->fdt, (int)c->a[1], f, c->a[2] & RV_O_CLOEXEC);
    if (r < 0)
        fdfile_put(f);
    return r;
}

static long do_close_range(struct ctx *c)
{
    uint64_t lo = (uint32_t)c->a[0], hi = (uint32_t)c->a[1], flags = c->a[2];
    if (lo > hi || (flags & ~(uint64_t)(2 | 4))) /* CLOSE_RANGE_UNSHARE, CLOSE_RANGE_CLOEXEC */
        return -EINVAL;
    fdtable_close_range(&c->p->fdt, (unsigned)lo, (unsigned)hi, flags & 4);
    return 0;
}

/*
 * ioctl: an allow-list, each request copied in or out at the size the host
 * really uses (asm-generic ioctl numbers and termios: the same on riscv64 and
 * x86-64). Anything else (TIOCSTI, TIOCSCTTY, TIOCLINUX...) is ENOTTY and
 * never reaches the host.
 */
static long do_ioctl(struct ctx *c)
{
    int gfd = (int)c->a[0];
    struct fdfile *f = sys_file(c->p, (int64_t)c->a[0]);
    if (!f)
        return -EBADF;
    int fd = f->host;
    unsigned long req = (uint32_t)c->a[1];
    uint8_t buf[64];
    size_t in = 0, out = 0;
    switch (req) {
    case TCGETS: out = 36; break;                     /* struct termios (kernel): 4*4 + 1 + 19 */
    case TCSETS: case TCSETSW: case TCSETSF: in = 36; break;
    case TIOCGWINSZ: out = sizeof(struct winsize); break;
    case TIOCSWINSZ: in = sizeof(struct winsize); break;
    case FIONREAD: case TIOCOUTQ: out = sizeof(int); break;
    case FIONBIO: in = sizeof(int); break;
    case TCFLSH: { /* the argument is the queue (TCIFLUSH, TCOFLUSH, TCIOFLUSH), not a pointer */
        long r = c->a[2] <= TCIOFLUSH ? sys_ret(ioctl(fd, TCFLSH, (int)c->a[2])) : -EINVAL;
        fdfile_put(f);
        return r;
    }
    case TIOCGPGRP: { /* the VM's own process groups (proc.h), never the host's */
        int32_t v = proc_tty_getpgrp(c->p, fd);
        long r = v < 0 ? v : mm_copy_out(c->mm, c->a[2], &v, sizeof(v));
        fdfile_put(f);
        return r;
    }
    case TIOCSPGRP: {
        int32_t v;
        long r = mm_copy_in(c->mm, &v, c->a[2], sizeof(v)) ? -EFAULT : proc_tty_setpgrp(c->p, fd, v);
        fdfile_put(f);
        return r;
    }
    case FIOCLEX:
    case FIONCLEX: {
        fdfile_put(f);
        return fdtable_set_cloexec(&c->p->fdt, gfd, req == FIOCLEX);
    }
    default:
        fdfile_put(f);
        return -ENOTTY;
    }
    long r = 0;
    memset(buf, 0, sizeof(buf));
    if (in && mm_copy_in(c->mm, buf, c->a[2], in))
        r = -EFAULT;
    if (!r)
        r = sys_ret(ioctl(fd, req, buf));
    if (r >= 0 && out && mm_copy_out(c->mm, c->a[2], buf, out))
        r = -EFAULT;
    fdfile_put(f);
    return r;
}

static long do_getdents(struct ctx *c)
{
    struct fdfile *f = sys_file(c->p, (int64_t)c->a[0]);
    if (!f)
        return -EBADF;
    size_t n = c->a[2] < 65536 ? c->a[2] : 65536;
    char *buf = malloc(n ? n : 1);
    long r = -ENOMEM;
    if (buf)
        r = sys_ret(syscall(SYS_getdents64, f->host, buf, n));
    if (r > 0 && mm_copy_out(c->mm, c->a[1], buf, (size_t)r))
        r = -EFAULT;
    free(buf);
    fdfile_put(f);
    return r;
}

static long do_pipe2(struct ctx *c)
{
    int hfd[2];
    int flags = (int)c->a[1];
    if (flags & ~(O_CLOEXEC | O_NONBLOCK | O_DIRECT))
        return -EINVAL;
    if (pipe2(hfd, (flags & ~O_CLOEXEC) | O_CLOEXEC) < 0)
        return -errno;
    bool cloexec = flags & O_CLOEXEC;
    int32_t g[2];
    g[0] = (int32_t)sys_fd_new(c->p, hfd[0], FD_PIPE, false, NULL, cloexec);
    if (g[0] < 0) {
        close(hfd[1]);
        return g[0];
    }
    g[1] = (int32_t)sys_fd_new(c->p, hfd[1], FD_PIPE, false, NULL, cloexec);
    if (g[1] < 0) {
        fdtable_close(&c->p->fdt, g[0]);
        return g[1];
    }
    if (mm_copy_out(c->mm, c->a[0], g, sizeof(g))) {
        fdtable_close(&c->p->fdt, g[0]);
        fdtable_close(&c->p->fdt, g[1]);
        return -EFAULT;
    }
    return 0;
}

/* File, descriptor and path system calls; SYS_UNHANDLED for numbers that are not this file's. */
long sys_fs(struct ctx *c, unsigned nr)
{
    uint64_t *a = c->a;
    switch (nr) {
    case RV_NR_read: case RV_NR_write: case RV_NR_readv: case RV_NR_writev:
    case RV_NR_pread64: case RV_NR_pwrite64: case RV_NR_preadv: case RV_NR_pwritev:
        return do_rw(c, (int)nr);
    case RV_NR_openat: return do_openat(c);
    case RV_NR_close: return fdtable_close(&c->p->fdt, (int)a[0]);
    case RV_NR_close_range: return do_close_range(c);
    case RV_NR_fstat: {
        struct fdfile *f = sys_file(c->p, (int64_t)a[0]);
        if (!f)
            return -EBADF;
        struct stat st;
        long r = sys_ret(fstat(f->host, &st));
        fdfile_put(f);
        return r < 0 ? r : put_stat(c, a[1], &st);
    }
    case RV_NR_newfstatat: return do_fstatat(c, (int64_t)a[0], a[1], a[2], (int)a[3]);
    case RV_NR_statx: return do_statx(c);
    case RV_NR_getdents64: return do_getdents(c);
    case RV_NR_readlinkat: case RV_NR_mkdirat: case RV_NR_unlinkat: case RV_NR_mknodat:
        return do_name_op(c, (int)nr);
    case RV_NR_renameat2: case RV_NR_linkat:
        return do_two_paths(c, (int)nr);
    case RV_NR_symlinkat: return do_symlinkat(c);
    case RV_NR_truncate: return do_truncate(c);
    case RV_NR_statfs: return do_statfs(c, false);
    case RV_NR_fstatfs: return do_statfs(c, true);
    case RV_NR_faccessat: return do_faccessat(c, 0);
    case RV_NR_faccessat2: return do_faccessat(c, (int)a[3]);
    case RV_NR_fchmodat: return do_fchmodat(c);
    case RV_NR_fchownat: return do_fchownat(c);
    case RV_NR_utimensat: return do_utimensat(c);
    case RV_NR_setxattr: case RV_NR_lsetxattr: case RV_NR_fsetxattr: case RV_NR_getxattr:
    case RV_NR_lgetxattr: case RV_NR_fgetxattr: case RV_NR_listxattr: case RV_NR_llistxattr:
    case RV_NR_flistxattr: case RV_NR_removexattr: case RV_NR_lremovexattr: case RV_NR_fremovexattr:
        return do_xattr(c, nr);
    case RV_NR_chdir: return do_chdir(c, false);
    case RV_NR_fchdir: return do_chdir(c, true);
    case RV_NR_getcwd: return do_getcwd(c);
    case RV_NR_fcntl: return do_fcntl(c);
    case RV_NR_ioctl: return do_ioctl(c);
    case RV_NR_dup: return do_dup3(c, true);
    case RV_NR_dup3: return do_dup3(c, false);
    case RV_NR_pipe2: return do_pipe2(c);
    case RV_NR_lseek: case RV_NR_fsync: case RV_NR_fdatasync: case RV_NR_ftruncate: case RV_NR_fchmod:
    case RV_NR_flock: case RV_NR_fallocate: case RV_NR_fchown:
        return do_fd_op(c, nr);
    case RV_NR_sync: sync(); return 0;
    case RV_NR_umask: return umask((mode_t)a[0] & 0777);
    default:
        return SYS_UNHANDLED;
    }
}
