/*
 * Linux system calls for process VMs: riscv64 numbers (asm-generic unistd.h),
 * a7 = number, a0-a5 = arguments, a0 = result or -errno. Every guest buffer
 * goes through mm_copy_in/out or per-page host pointers from mm_host; every
 * path through the mount table (paths.h); every fd must be one the guest owns.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <sys/times.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "user/proc.h"

#define IOV_PAGES 1024
#define RV_AT_FDCWD (-100)
#define RV_AT_SYMLINK_NOFOLLOW 0x100
#define RV_AT_REMOVEDIR 0x200
#define RV_AT_EMPTY_PATH 0x1000

static const char *const sys_names[RV_NR_MAX] = {RV_SYSCALL_NAMES};

struct ctx {
    struct uthread *t;
    struct proc *p;
    struct mm *mm;
    uint64_t a[6];
};

/* ---- fds ---- */

static int gfd(struct proc *p, int64_t fd)
{
    if (fd < 0 || fd >= PROC_FD_MAX || !atomic_load(&p->fdown[fd]))
        return -EBADF;
    return (int)fd;
}

/* Takes ownership of a host fd just created for the guest. */
static long new_fd(struct proc *p, int fd, const char *path)
{
    if (fd < 0)
        return fd;
    if (fd >= PROC_FD_MAX) {
        close(fd);
        return -EMFILE;
    }
    pthread_mutex_lock(&p->lock);
    free(p->fdpath[fd]);
    p->fdpath[fd] = path ? strdup(path) : NULL;
    pthread_mutex_unlock(&p->lock);
    atomic_store(&p->fdown[fd], true);
    return fd;
}

static void drop_fd(struct proc *p, int fd)
{
    atomic_store(&p->fdown[fd], false);
    pthread_mutex_lock(&p->lock);
    free(p->fdpath[fd]);
    p->fdpath[fd] = NULL;
    pthread_mutex_unlock(&p->lock);
}

static long host(long r)
{
    return r < 0 ? -errno : r;
}

/* ---- paths ---- */

/* Guest path argument resolved against dirfd (or cwd) into abs. */
static int get_path(struct ctx *c, int64_t dirfd, uint64_t va, char *abs, bool empty_ok)
{
    char path[GPATH_MAX];
    long n = mm_copy_str(c->mm, path, va, sizeof(path));
    if (n < 0)
        return (int)n;
    if (n == 0 && !empty_ok)
        return -ENOENT;
    char base[GPATH_MAX];
    pthread_mutex_lock(&c->p->lock);
    int err = 0;
    if (path[0] == '/' || (int32_t)dirfd == RV_AT_FDCWD) {
        snprintf(base, sizeof(base), "%s", c->p->cwd);
    } else if (gfd(c->p, dirfd) < 0) {
        err = -EBADF;
    } else if (!c->p->fdpath[dirfd]) {
        err = -ENOTDIR;
    } else {
        snprintf(base, sizeof(base), "%s", c->p->fdpath[dirfd]);
    }
    pthread_mutex_unlock(&c->p->lock);
    if (err)
        return err;
    if (n == 0) {
        snprintf(abs, GPATH_MAX, "%s", base);
        return 0;
    }
    return path_normalize(base, path, abs, GPATH_MAX);
}

static bool path_ro(struct proc *p, const char *abs)
{
    const char *rel;
    int i = mounts_find(&p->mounts, abs, &rel);
    return i >= 0 && p->mounts.m[i].ro;
}

/* ---- guest buffers as host iovecs ---- */

static long build_iov(struct ctx *c, uint64_t va, uint64_t len, enum mm_access acc,
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
        long r = build_iov(c, e[0], e[1], acc, iov, n, IOV_PAGES);
        if (r < 0)
            return r;
    }
    return 0;
}

static long do_rw(struct ctx *c, int nr)
{
    int fd = gfd(c->p, (int64_t)c->a[0]);
    if (fd < 0)
        return fd;
    bool reading = nr == RV_NR_read || nr == RV_NR_readv || nr == RV_NR_pread64 || nr == RV_NR_preadv;
    enum mm_access acc = reading ? MM_WRITE : MM_READ;
    struct iovec iov[IOV_PAGES];
    int n = 0;
    long r;
    if (nr == RV_NR_readv || nr == RV_NR_writev || nr == RV_NR_preadv || nr == RV_NR_pwritev)
        r = guest_iovs(c, c->a[1], c->a[2], acc, iov, &n);
    else
        r = build_iov(c, c->a[1], c->a[2], acc, iov, &n, IOV_PAGES);
    if (r < 0)
        return r;
    if (n == 0)
        iov[n++] = (struct iovec){NULL, 0};
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
    r = host(r);
    if (r == -EPIPE)
        proc_send_signal(c->p, c->t->tid, SIGPIPE);
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

/* Opens what a stat-like call names, as O_PATH. Follows the last symlink unless nofollow. */
static int open_target(struct ctx *c, int64_t dirfd, uint64_t pathva, int flags, char *abs)
{
    bool empty = flags & RV_AT_EMPTY_PATH;
    char path0;
    if (empty && mm_copy_in(c->mm, &path0, pathva, 1) == 0 && path0 == 0) {
        int fd = gfd(c->p, dirfd);
        if ((int32_t)dirfd == RV_AT_FDCWD) {
            int r = get_path(c, dirfd, pathva, abs, true);
            if (r)
                return r;
            return mounts_open(&c->p->mounts, abs, O_PATH, 0);
        }
        if (fd < 0)
            return fd;
        int d = fcntl(fd, F_DUPFD_CLOEXEC, PROC_FD_MAX);
        abs[0] = 0;
        return d < 0 ? -errno : d;
    }
    int r = get_path(c, dirfd, pathva, abs, false);
    if (r)
        return r;
    return mounts_open(&c->p->mounts, abs,
                       O_PATH | ((flags & RV_AT_SYMLINK_NOFOLLOW) ? O_NOFOLLOW : 0), 0);
}

static long do_fstatat(struct ctx *c, int64_t dirfd, uint64_t pathva, uint64_t buf, int flags)
{
    char abs[GPATH_MAX];
    int fd = open_target(c, dirfd, pathva, flags, abs);
    if (fd < 0)
        return fd;
    struct stat st;
    long r = host(fstat(fd, &st));
    close(fd);
    return r < 0 ? r : put_stat(c, buf, &st);
}

static long do_statx(struct ctx *c)
{
    char abs[GPATH_MAX];
    int flags = (int)c->a[2];
    int fd = open_target(c, (int64_t)c->a[0], c->a[1], flags, abs);
    if (fd < 0)
        return fd;
    uint8_t sx[256];
    long r = host(syscall(SYS_statx, fd, "", AT_EMPTY_PATH | (flags & 0x6000), (unsigned)c->a[3], sx));
    close(fd);
    return r < 0 ? r : mm_copy_out(c->mm, c->a[4], sx, sizeof(sx));
}

/* ---- files ---- */

static long do_openat(struct ctx *c)
{
    char abs[GPATH_MAX];
    int r = get_path(c, (int64_t)c->a[0], c->a[1], abs, false);
    if (r)
        return r;
    int flags = (int)c->a[2];
    /* riscv64 uses the generic open flag values, the same as x86-64's. */
    int fd = mounts_open(&c->p->mounts, abs, flags & ~O_CLOEXEC, (mode_t)c->a[3]);
    if (fd < 0)
        return fd;
    if (!(flags & O_CLOEXEC))
        fcntl(fd, F_SETFD, 0);
    return new_fd(c->p, fd, abs);
}

static long do_name_op(struct ctx *c, int nr)
{
    char abs[GPATH_MAX];
    const char *last;
    int r = get_path(c, (int64_t)c->a[0], c->a[1], abs, false);
    if (r)
        return r;
    bool write = nr != RV_NR_readlinkat;
    int dfd = mounts_open_parent(&c->p->mounts, abs, write, &last);
    if (dfd < 0)
        return dfd;
    long ret;
    switch (nr) {
    case RV_NR_mkdirat: ret = host(mkdirat(dfd, last, (mode_t)c->a[2])); break;
    case RV_NR_unlinkat: ret = host(unlinkat(dfd, last, (int)c->a[2] & RV_AT_REMOVEDIR)); break;
    case RV_NR_mknodat:
        ret = S_ISFIFO(c->a[2]) || S_ISREG(c->a[2]) ? host(mknodat(dfd, last, (mode_t)c->a[2], 0)) : -EPERM;
        break;
    default: { /* readlinkat */
        char buf[GPATH_MAX];
        uint64_t len = c->a[3] < sizeof(buf) ? c->a[3] : sizeof(buf);
        ret = host(readlinkat(dfd, last, buf, len));
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
    int r = get_path(c, (int64_t)c->a[0], c->a[1], a1, false);
    if (!r)
        r = get_path(c, (int64_t)c->a[2], c->a[3], a2, false);
    if (r)
        return r;
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
        ret = host(linkat(d1, l1, d2, l2, 0));
    else
        ret = host(syscall(SYS_renameat2, d1, l1, d2, l2, nr == RV_NR_renameat2 ? (unsigned)c->a[4] : 0));
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
    int r = get_path(c, (int64_t)c->a[1], c->a[2], abs, false);
    if (r)
        return r;
    int d = mounts_open_parent(&c->p->mounts, abs, true, &last);
    if (d < 0)
        return d;
    long ret = host(symlinkat(target, d, last));
    close(d);
    return ret;
}

static long via_proc(int fd, int (*fn)(const char *, void *), void *arg)
{
    char pp[64];
    snprintf(pp, sizeof(pp), "/proc/self/fd/%d", fd);
    return host(fn(pp, arg));
}

static int access_fn(const char *pp, void *arg)
{
    return access(pp, *(int *)arg);
}

static long do_faccessat(struct ctx *c, int flags)
{
    char abs[GPATH_MAX];
    int fd = open_target(c, (int64_t)c->a[0], c->a[1], flags, abs);
    if (fd < 0)
        return fd;
    int mode = (int)c->a[2] & 7;
    long r;
    if ((mode & W_OK) && abs[0] && path_ro(c->p, abs))
        r = -EROFS;
    else
        r = via_proc(fd, access_fn, &mode);
    close(fd);
    return r;
}

struct utimes_arg {
    struct timespec *ts;
};

static int utimes_fn(const char *pp, void *arg)
{
    return utimensat(AT_FDCWD, pp, ((struct utimes_arg *)arg)->ts, 0);
}

static long do_utimensat(struct ctx *c)
{
    struct timespec ts[2], *tsp = NULL;
    if (c->a[2]) {
        if (mm_copy_in(c->mm, ts, c->a[2], sizeof(ts)))
            return -EFAULT;
        tsp = ts;
    }
    if (!c->a[1]) {
        int fd = gfd(c->p, (int64_t)c->a[0]);
        return fd < 0 ? fd : host(futimens(fd, tsp));
    }
    char abs[GPATH_MAX];
    int fd = open_target(c, (int64_t)c->a[0], c->a[1], (int)c->a[3], abs);
    if (fd < 0)
        return fd;
    long r;
    if (abs[0] && path_ro(c->p, abs))
        r = -EROFS;
    else {
        struct utimes_arg ua = {tsp};
        r = via_proc(fd, utimes_fn, &ua);
    }
    close(fd);
    return r;
}

static int chmod_fn(const char *pp, void *arg)
{
    return chmod(pp, *(mode_t *)arg);
}

static long do_fchmodat(struct ctx *c)
{
    char abs[GPATH_MAX];
    int fd = open_target(c, (int64_t)c->a[0], c->a[1], 0, abs);
    if (fd < 0)
        return fd;
    mode_t m = (mode_t)c->a[2];
    long r = path_ro(c->p, abs) ? -EROFS : via_proc(fd, chmod_fn, &m);
    close(fd);
    return r;
}

static long do_chdir(struct ctx *c, bool by_fd)
{
    char abs[GPATH_MAX];
    if (by_fd) {
        int fd = gfd(c->p, (int64_t)c->a[0]);
        if (fd < 0)
            return fd;
        pthread_mutex_lock(&c->p->lock);
        const char *fp = c->p->fdpath[fd];
        if (fp)
            snprintf(c->p->cwd, sizeof(c->p->cwd), "%s", fp);
        pthread_mutex_unlock(&c->p->lock);
        return fp ? 0 : -ENOTDIR;
    }
    int r = get_path(c, RV_AT_FDCWD, c->a[0], abs, false);
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

static long do_fcntl(struct ctx *c)
{
    int fd = gfd(c->p, (int64_t)c->a[0]);
    if (fd < 0)
        return fd;
    int cmd = (int)c->a[1];
    switch (cmd) {
    case F_DUPFD:
    case F_DUPFD_CLOEXEC: {
        if (c->a[2] >= PROC_FD_MAX)
            return -EINVAL;
        char *path = NULL;
        pthread_mutex_lock(&c->p->lock);
        if (c->p->fdpath[fd])
            path = strdup(c->p->fdpath[fd]);
        pthread_mutex_unlock(&c->p->lock);
        long r = new_fd(c->p, (int)host(fcntl(fd, cmd, (int)c->a[2])), path);
        free(path);
        return r;
    }
    case F_GETFD:
    case F_SETFD:
    case F_GETFL:
    case F_SETFL:
        return host(fcntl(fd, cmd, (int)c->a[2]));
    case F_GETLK:
    case F_SETLK:
    case F_SETLKW:
    case F_OFD_GETLK:
    case F_OFD_SETLK:
    case F_OFD_SETLKW: {
        struct flock fl; /* the same 32-byte layout on riscv64 and x86-64 */
        if (mm_copy_in(c->mm, &fl, c->a[2], sizeof(fl)))
            return -EFAULT;
        long r = host(fcntl(fd, cmd, &fl));
        if (r == 0 && (cmd == F_GETLK || cmd == F_OFD_GETLK) && mm_copy_out(c->mm, c->a[2], &fl, sizeof(fl)))
            return -EFAULT;
        return r;
    }
    default:
        return -EINVAL;
    }
}

static long do_dup3(struct ctx *c, bool is_dup)
{
    int fd = gfd(c->p, (int64_t)c->a[0]);
    if (fd < 0)
        return fd;
    char *path = NULL;
    pthread_mutex_lock(&c->p->lock);
    if (c->p->fdpath[fd])
        path = strdup(c->p->fdpath[fd]);
    pthread_mutex_unlock(&c->p->lock);
    long r;
    if (is_dup) {
        r = new_fd(c->p, (int)host(fcntl(fd, F_DUPFD, 0)), path);
    } else if (c->a[1] >= PROC_FD_MAX) {
        r = -EBADF;
    } else if ((int)c->a[1] == fd) {
        r = -EINVAL;
    } else {
        r = host(dup3(fd, (int)c->a[1], (int)c->a[2] & O_CLOEXEC));
        if (r >= 0)
            r = new_fd(c->p, (int)r, path);
    }
    free(path);
    return r;
}

static long do_ioctl(struct ctx *c)
{
    int fd = gfd(c->p, (int64_t)c->a[0]);
    if (fd < 0)
        return fd;
    unsigned long req = c->a[1];
    switch (req) {
    case TCGETS: {
        uint8_t t[36]; /* asm-generic struct termios: the same on both sides */
        long r = host(ioctl(fd, TCGETS, t));
        return r < 0 ? r : mm_copy_out(c->mm, c->a[2], t, sizeof(t));
    }
    case TCSETS:
    case TCSETSW:
    case TCSETSF: {
        uint8_t t[36];
        if (mm_copy_in(c->mm, t, c->a[2], sizeof(t)))
            return -EFAULT;
        return host(ioctl(fd, req, t));
    }
    case TIOCGWINSZ: {
        struct winsize w;
        long r = host(ioctl(fd, TIOCGWINSZ, &w));
        return r < 0 ? r : mm_copy_out(c->mm, c->a[2], &w, sizeof(w));
    }
    case TIOCGPGRP:
    case FIONREAD: {
        int v;
        long r = host(ioctl(fd, req, &v));
        return r < 0 ? r : mm_copy_out(c->mm, c->a[2], &v, sizeof(v));
    }
    case TIOCSPGRP:
    case FIONBIO: {
        int v;
        if (mm_copy_in(c->mm, &v, c->a[2], sizeof(v)))
            return -EFAULT;
        return host(ioctl(fd, req, &v));
    }
    default:
        return -ENOTTY;
    }
}

static long do_getdents(struct ctx *c)
{
    int fd = gfd(c->p, (int64_t)c->a[0]);
    if (fd < 0)
        return fd;
    size_t n = c->a[2] < 65536 ? c->a[2] : 65536;
    char *buf = malloc(n ? n : 1);
    if (!buf)
        return -ENOMEM;
    long r = host(syscall(SYS_getdents64, fd, buf, n));
    if (r > 0 && mm_copy_out(c->mm, c->a[1], buf, (size_t)r))
        r = -EFAULT;
    free(buf);
    return r;
}

static long do_pipe2(struct ctx *c)
{
    int fds[2];
    int flags = (int)c->a[1];
    if (host(pipe2(fds, flags)) < 0)
        return -errno;
    if (fds[0] >= PROC_FD_MAX || fds[1] >= PROC_FD_MAX) {
        close(fds[0]);
        close(fds[1]);
        return -EMFILE;
    }
    if (mm_copy_out(c->mm, c->a[0], fds, sizeof(fds))) {
        close(fds[0]);
        close(fds[1]);
        return -EFAULT;
    }
    new_fd(c->p, fds[0], NULL);
    new_fd(c->p, fds[1], NULL);
    return 0;
}

/* ---- memory ---- */

#define RV_MAP_SHARED 0x01
#define RV_MAP_FIXED 0x10
#define RV_MAP_ANONYMOUS 0x20
#define RV_MAP_FIXED_NOREPLACE 0x100000

static uint64_t page_up(uint64_t v)
{
    return (v + MM_PAGE - 1) & ~(MM_PAGE - 1);
}

static long do_mmap(struct ctx *c)
{
    uint64_t addr = c->a[0], len = c->a[1], off = c->a[5];
    int prot = (int)c->a[2] & 7, flags = (int)c->a[3];
    if (!len || len > MM_USER_TOP || (off & (MM_PAGE - 1)) || (addr & (MM_PAGE - 1) && (flags & (RV_MAP_FIXED | RV_MAP_FIXED_NOREPLACE))))
        return -EINVAL;
    len = page_up(len);
    int fd = -1;
    if (!(flags & RV_MAP_ANONYMOUS)) {
        fd = gfd(c->p, (int64_t)c->a[4]);
        if (fd < 0)
            return fd;
        /* Shared writable file mappings would need write-back: refused (docs/process-vm.md). */
        if ((flags & RV_MAP_SHARED) && (prot & MM_PROT_WRITE))
            return -ENODEV;
        struct stat st;
        if (fstat(fd, &st) < 0)
            return -errno;
        if (S_ISDIR(st.st_mode))
            return -ENODEV;
    }
    uint64_t va;
    if (flags & (RV_MAP_FIXED | RV_MAP_FIXED_NOREPLACE)) {
        va = addr;
        if ((flags & RV_MAP_FIXED_NOREPLACE) && !mm_range_free(c->mm, va, len))
            return -EEXIST;
    } else {
        va = mm_find_free(c->mm, page_up(addr), len);
        if (!va)
            return -ENOMEM;
    }
    int r = mm_map(c->mm, va, len, fd < 0 ? prot : MM_PROT_READ | MM_PROT_WRITE);
    if (r)
        return r;
    if (fd >= 0) {
        /* MAP_PRIVATE (and read-only MAP_SHARED) file mappings are a copy of the file. */
        for (uint64_t a = va; a < va + len; a += MM_PAGE) {
            void *dst = mm_host(c->mm, a, MM_WRITE, NULL);
            if (!dst) {
                mm_unmap(c->mm, va, len);
                return -ENOMEM;
            }
            ssize_t got = pread(fd, dst, MM_PAGE, (off_t)(off + (a - va)));
            if (got < 0) {
                int e = errno;
                mm_unmap(c->mm, va, len);
                return -e;
            }
            if (got < (ssize_t)MM_PAGE)
                break; /* past the end of the file: zero pages */
        }
        mm_protect(c->mm, va, len, prot);
    }
    return (long)va;
}

static long do_mremap(struct ctx *c)
{
    uint64_t old = c->a[0], oldlen = page_up(c->a[1]), newlen = page_up(c->a[2]);
    int flags = (int)c->a[3];
    if ((old & (MM_PAGE - 1)) || !newlen)
        return -EINVAL;
    if (newlen <= oldlen) {
        if (newlen < oldlen)
            mm_unmap(c->mm, old + newlen, oldlen - newlen);
        return (long)old;
    }
    int prot = mm_page_prot(c->mm, old);
    if (prot < 0)
        return -EFAULT;
    if (mm_range_free(c->mm, old + oldlen, newlen - oldlen)) {
        int r = mm_map(c->mm, old + oldlen, newlen - oldlen, prot);
        return r ? r : (long)old;
    }
    if (!(flags & 1 /* MREMAP_MAYMOVE */))
        return -ENOMEM;
    uint64_t nva = mm_find_free(c->mm, 0, newlen);
    if (!nva || mm_map(c->mm, nva, newlen, MM_PROT_READ | MM_PROT_WRITE))
        return -ENOMEM;
    for (uint64_t o = 0; o < oldlen; o += MM_PAGE) {
        if (mm_page_prot(c->mm, old + o) <= 0)
            continue;
        void *s = mm_host(c->mm, old + o, MM_READ, NULL);
        void *d = mm_host(c->mm, nva + o, MM_WRITE, NULL);
        if (s && d)
            memcpy(d, s, MM_PAGE);
    }
    mm_protect(c->mm, nva, newlen, prot);
    mm_unmap(c->mm, old, oldlen);
    return (long)nva;
}

static long do_brk(struct ctx *c)
{
    struct mm *mm = c->mm;
    uint64_t want = c->a[0];
    if (want < mm->brk_start || want > mm->brk_start + (1ull << 40))
        return (long)mm->brk_end;
    uint64_t cur = page_up(mm->brk_end), next = page_up(want);
    if (next > cur) {
        if (!mm_range_free(mm, cur, next - cur) ||
            mm_map(mm, cur, next - cur, MM_PROT_READ | MM_PROT_WRITE))
            return (long)mm->brk_end;
    } else if (next < cur) {
        mm_unmap(mm, next, cur - next);
    }
    mm->brk_end = want;
    return (long)want;
}

static long do_madvise(struct ctx *c)
{
    /* MADV_DONTNEED on private anonymous memory: the pages read back as zero. */
    if (c->a[2] == MADV_DONTNEED && !(c->a[0] & (MM_PAGE - 1))) {
        uint64_t len = page_up(c->a[1]);
        for (uint64_t a = c->a[0]; a < c->a[0] + len; a += MM_PAGE) {
            int prot = mm_page_prot(c->mm, a);
            if (prot > 0)
                mm_map(c->mm, a, MM_PAGE, prot);
        }
    }
    return 0;
}

/* ---- futex ---- */

static long do_futex(struct ctx *c)
{
    int op = (int)c->a[1];
    int cmd = op & FUTEX_CMD_MASK;
    uint64_t ua = c->a[0];
    if (ua & 3)
        return -EINVAL;
    uint32_t *w = mm_host(c->mm, ua, MM_READ, NULL);
    if (!w)
        return -EFAULT;
    /* All guest threads live in this host process: private host futexes on the guest words. */
    int hop = cmd | FUTEX_PRIVATE_FLAG | (op & FUTEX_CLOCK_REALTIME);
    struct timespec ts, *tsp = NULL;
    uint32_t *w2 = NULL;
    switch (cmd) {
    case FUTEX_WAIT:
    case FUTEX_WAIT_BITSET:
        if (c->a[3]) {
            if (mm_copy_in(c->mm, &ts, c->a[3], sizeof(ts)))
                return -EFAULT;
            tsp = &ts;
        }
        return host(syscall(SYS_futex, w, hop, (uint32_t)c->a[2], tsp, NULL, (uint32_t)c->a[5]));
    case FUTEX_WAKE:
    case FUTEX_WAKE_BITSET:
        return host(syscall(SYS_futex, w, hop, (uint32_t)c->a[2], NULL, NULL, (uint32_t)c->a[5]));
    case FUTEX_REQUEUE:
    case FUTEX_CMP_REQUEUE:
    case FUTEX_WAKE_OP:
        if (c->a[4] & 3)
            return -EINVAL;
        w2 = mm_host(c->mm, c->a[4], cmd == FUTEX_WAKE_OP ? MM_WRITE : MM_READ, NULL);
        if (!w2)
            return -EFAULT;
        return host(syscall(SYS_futex, w, hop, (uint32_t)c->a[2], (void *)(uintptr_t)c->a[3], w2,
                            (uint32_t)c->a[5]));
    default:
        return -ENOSYS;
    }
}

/* ---- time ---- */

static long put_ts(struct ctx *c, uint64_t va, const struct timespec *ts)
{
    int64_t v[2] = {ts->tv_sec, ts->tv_nsec};
    return mm_copy_out(c->mm, va, v, sizeof(v));
}

static long do_nanosleep(struct ctx *c, bool clock)
{
    struct timespec req, rem = {0, 0};
    uint64_t reqva = clock ? c->a[2] : c->a[0], remva = clock ? c->a[3] : c->a[1];
    if (mm_copy_in(c->mm, &req, reqva, sizeof(req)))
        return -EFAULT;
    long r;
    if (clock)
        r = -clock_nanosleep((clockid_t)c->a[0], (int)c->a[1], &req, &rem);
    else
        r = host(nanosleep(&req, &rem));
    if (r == -EINTR && remva && put_ts(c, remva, &rem))
        return -EFAULT;
    return r;
}

/* ---- misc ---- */

static long do_uname(struct ctx *c)
{
    struct utsname u;
    uname(&u);
    char b[6][65];
    memset(b, 0, sizeof(b));
    snprintf(b[0], 65, "Linux");
    snprintf(b[1], 65, "%s", u.nodename);
    snprintf(b[2], 65, "6.1.0-kiln");
    snprintf(b[3], 65, "#1 SMP kiln process VM");
    snprintf(b[4], 65, "riscv64");
    snprintf(b[5], 65, "(none)");
    return mm_copy_out(c->mm, c->a[0], b, sizeof(b));
}

static long do_prlimit(struct ctx *c, int res, uint64_t newva, uint64_t oldva)
{
    (void)newva; /* limits are not enforced beyond --mem; setting them succeeds silently */
    if (res < 0 || res >= RLIM_NLIMITS)
        return -EINVAL;
    if (!oldva)
        return 0;
    struct rlimit rl;
    if (getrlimit(res, &rl) < 0)
        return -errno;
    if (res == RLIMIT_NOFILE)
        rl.rlim_cur = rl.rlim_max = PROC_FD_MAX;
    else if (res == RLIMIT_STACK)
        rl.rlim_cur = rl.rlim_max = PROC_STACK_SIZE;
    else if (res == RLIMIT_AS || res == RLIMIT_DATA)
        rl.rlim_cur = rl.rlim_max = c->p->cfg.mem;
    uint64_t v[2] = {rl.rlim_cur, rl.rlim_max};
    return mm_copy_out(c->mm, oldva, v, sizeof(v));
}

static long do_sigaction(struct ctx *c)
{
    int sig = (int)c->a[0];
    if (sig < 1 || sig > PROC_NSIG || c->a[3] != 8)
        return -EINVAL;
    struct proc_sigaction *sa = &c->p->sigact[sig];
    uint64_t old[3] = {sa->handler, sa->flags, sa->mask};
    if (c->a[1]) {
        if (sig == SIGKILL || sig == SIGSTOP)
            return -EINVAL;
        uint64_t nv[3];
        if (mm_copy_in(c->mm, nv, c->a[1], sizeof(nv)))
            return -EFAULT;
        pthread_mutex_lock(&c->p->lock);
        sa->handler = nv[0];
        sa->flags = nv[1];
        sa->mask = nv[2];
        pthread_mutex_unlock(&c->p->lock);
    }
    if (c->a[2] && mm_copy_out(c->mm, c->a[2], old, sizeof(old)))
        return -EFAULT;
    return 0;
}

static long do_sigprocmask(struct ctx *c)
{
    struct uthread *t = c->t;
    if (c->a[3] != 8)
        return -EINVAL;
    uint64_t old = t->sigmask, set;
    if (c->a[1]) {
        if (mm_copy_in(c->mm, &set, c->a[1], 8))
            return -EFAULT;
        switch (c->a[0]) {
        case SIG_BLOCK: t->sigmask |= set; break;
        case SIG_UNBLOCK: t->sigmask &= ~set; break;
        case SIG_SETMASK: t->sigmask = set; break;
        default: return -EINVAL;
        }
        t->sigmask &= ~((1ull << (SIGKILL - 1)) | (1ull << (SIGSTOP - 1)));
    }
    if (c->a[2] && mm_copy_out(c->mm, c->a[2], &old, 8))
        return -EFAULT;
    return 0;
}

static long do_sigaltstack(struct ctx *c)
{
    struct uthread *t = c->t;
    uint64_t old[3] = {t->ss_sp, t->ss_size ? 0 : 2 /* SS_DISABLE */, t->ss_size};
    if (c->a[0]) {
        uint64_t nv[3];
        if (mm_copy_in(c->mm, nv, c->a[0], sizeof(nv)))
            return -EFAULT;
        if ((uint32_t)nv[1] & 2) {
            t->ss_sp = t->ss_size = 0;
        } else {
            if (nv[2] < 2048)
                return -ENOMEM;
            t->ss_sp = nv[0];
            t->ss_size = nv[2];
        }
    }
    if (c->a[1] && mm_copy_out(c->mm, c->a[1], old, sizeof(old)))
        return -EFAULT;
    return 0;
}

static long do_kill(struct ctx *c, int64_t pid, int sig)
{
    if (pid == c->p->pid || pid == 0)
        return proc_send_signal(c->p, 0, sig);
    if (pid > 0)
        return host(kill((pid_t)pid, sig)); /* a forked child: a real host process */
    return -EPERM;
}

static long do_tgkill(struct ctx *c, int64_t tgid, int64_t tid, int sig)
{
    if (tgid != -1 && tgid != c->p->pid)
        return -ESRCH;
    return proc_send_signal(c->p, (int)tid, sig);
}

static long do_wait4(struct ctx *c)
{
    int status = 0;
    struct rusage ru;
    long r = host(wait4((pid_t)c->a[0], c->a[1] ? &status : NULL, (int)c->a[2], c->a[3] ? &ru : NULL));
    if (r > 0 && c->a[1] && mm_copy_out(c->mm, c->a[1], &status, 4))
        return -EFAULT;
    if (r > 0 && c->a[3] && mm_copy_out(c->mm, c->a[3], &ru, sizeof(ru)))
        return -EFAULT;
    return r;
}

/* ---- network (--net only) ---- */

static long copy_sockaddr(struct ctx *c, uint64_t va, uint64_t len, struct sockaddr_storage *ss)
{
    if (len > sizeof(*ss))
        return -EINVAL;
    if (mm_copy_in(c->mm, ss, va, len))
        return -EFAULT;
    /* Named AF_UNIX sockets are host paths: only abstract ones, which reach no file. */
    if (ss->ss_family == AF_UNIX && len > 2 && ((char *)ss)[2] != 0)
        return -EACCES;
    return 0;
}

static long put_sockaddr(struct ctx *c, uint64_t va, uint64_t lenva, struct sockaddr_storage *ss, socklen_t len)
{
    uint32_t glen;
    if (!va)
        return 0;
    if (mm_copy_in(c->mm, &glen, lenva, 4))
        return -EFAULT;
    if (mm_copy_out(c->mm, va, ss, glen < len ? glen : len) || mm_copy_out(c->mm, lenva, &len, 4))
        return -EFAULT;
    return 0;
}

static long do_net(struct ctx *c, int nr)
{
    if (!c->p->cfg.net)
        return -EACCES;
    if (nr == RV_NR_socket || nr == RV_NR_socketpair) {
        int dom = (int)c->a[0];
        if (dom != AF_INET && dom != AF_INET6 && dom != AF_UNIX)
            return -EAFNOSUPPORT;
        if (nr == RV_NR_socket)
            return new_fd(c->p, (int)host(socket(dom, (int)c->a[1], (int)c->a[2])), NULL);
        int sv[2];
        if (socketpair(dom, (int)c->a[1], (int)c->a[2], sv) < 0)
            return -errno;
        if (sv[0] >= PROC_FD_MAX || sv[1] >= PROC_FD_MAX || mm_copy_out(c->mm, c->a[3], sv, 8)) {
            close(sv[0]);
            close(sv[1]);
            return -EFAULT;
        }
        new_fd(c->p, sv[0], NULL);
        new_fd(c->p, sv[1], NULL);
        return 0;
    }
    int fd = gfd(c->p, (int64_t)c->a[0]);
    if (fd < 0)
        return fd;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    long r;
    switch (nr) {
    case RV_NR_connect:
    case RV_NR_bind:
        r = copy_sockaddr(c, c->a[1], c->a[2], &ss);
        if (r)
            return r;
        return nr == RV_NR_connect ? host(connect(fd, (void *)&ss, (socklen_t)c->a[2]))
                                   : host(bind(fd, (void *)&ss, (socklen_t)c->a[2]));
    case RV_NR_listen:
        return host(listen(fd, (int)c->a[1]));
    case RV_NR_shutdown:
        return host(shutdown(fd, (int)c->a[1]));
    case RV_NR_accept:
    case RV_NR_accept4:
        r = new_fd(c->p, (int)host(accept4(fd, (void *)&ss, &sl, nr == RV_NR_accept4 ? (int)c->a[3] : 0)), NULL);
        if (r >= 0 && put_sockaddr(c, c->a[1], c->a[2], &ss, sl))
            return -EFAULT;
        return r;
    case RV_NR_getsockname:
    case RV_NR_getpeername:
        r = host(nr == RV_NR_getsockname ? getsockname(fd, (void *)&ss, &sl) : getpeername(fd, (void *)&ss, &sl));
        return r < 0 ? r : put_sockaddr(c, c->a[1], c->a[2], &ss, sl);
    case RV_NR_setsockopt: {
        uint8_t v[256];
        if (c->a[4] > sizeof(v) || mm_copy_in(c->mm, v, c->a[3], c->a[4]))
            return -EFAULT;
        return host(setsockopt(fd, (int)c->a[1], (int)c->a[2], v, (socklen_t)c->a[4]));
    }
    case RV_NR_getsockopt: {
        uint8_t v[256];
        uint32_t len;
        if (mm_copy_in(c->mm, &len, c->a[4], 4))
            return -EFAULT;
        socklen_t hl = len < sizeof(v) ? len : sizeof(v);
        r = host(getsockopt(fd, (int)c->a[1], (int)c->a[2], v, &hl));
        if (r == 0 && (mm_copy_out(c->mm, c->a[3], v, hl) || mm_copy_out(c->mm, c->a[4], &hl, 4)))
            return -EFAULT;
        return r;
    }
    case RV_NR_sendto:
    case RV_NR_recvfrom: {
        bool send = nr == RV_NR_sendto;
        struct iovec iov[IOV_PAGES];
        int n = 0;
        r = build_iov(c, c->a[1], c->a[2], send ? MM_READ : MM_WRITE, iov, &n, IOV_PAGES);
        if (r < 0)
            return r;
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        if (send && c->a[4]) {
            r = copy_sockaddr(c, c->a[4], c->a[5], &ss);
            if (r)
                return r;
            mh.msg_name = &ss;
            mh.msg_namelen = (socklen_t)c->a[5];
        } else if (!send && c->a[4]) {
            mh.msg_name = &ss;
            mh.msg_namelen = sizeof(ss);
        }
        r = host(send ? sendmsg(fd, &mh, (int)c->a[3] | MSG_NOSIGNAL) : recvmsg(fd, &mh, (int)c->a[3]));
        if (r >= 0 && !send && c->a[4] && put_sockaddr(c, c->a[4], c->a[5], &ss, mh.msg_namelen))
            return -EFAULT;
        return r;
    }
    default:
        return -ENOSYS;
    }
}

/* ---- execve: re-run kiln on the new program ---- */

static long do_execve(struct ctx *c)
{
    char abs[GPATH_MAX];
    int r = get_path(c, RV_AT_FDCWD, c->a[0], abs, false);
    if (r)
        return r;
    int fd = mounts_open(&c->p->mounts, abs, O_RDONLY, 0);
    if (fd < 0)
        return fd;
    long ret = -E2BIG;
    char **args = NULL, **env = NULL;
    size_t na = 0, ne = 0, cap = 0;
    char str[GPATH_MAX];
    /* Strings of argv and envp. */
    for (int which = 0; which < 2; which++) {
        uint64_t vec = c->a[1 + which];
        char ***out = which ? &env : &args;
        size_t *cnt = which ? &ne : &na;
        cap = 0;
        for (size_t i = 0; vec; i++) {
            uint64_t sp;
            if (mm_copy_in(c->mm, &sp, vec + 8 * i, 8)) {
                ret = -EFAULT;
                goto out;
            }
            if (!sp)
                break;
            if (mm_copy_str(c->mm, str, sp, sizeof(str)) < 0 || i > 100000) {
                ret = -E2BIG;
                goto out;
            }
            if (*cnt + 2 > cap) {
                cap = cap ? cap * 2 : 16;
                char **nv = realloc(*out, cap * sizeof(char *));
                if (!nv)
                    goto out;
                *out = nv;
            }
            (*out)[(*cnt)++] = strdup(str);
            (*out)[*cnt] = NULL;
        }
    }
    if (!env) {
        env = calloc(1, sizeof(char *));
        if (!env)
            goto out;
    }
    /* "#!interp [arg]": run the interpreter with the script's path (binfmt_script). */
    char head[256] = {0};
    ssize_t got = pread(fd, head, sizeof(head) - 1, 0);
    char *interp = NULL, *iarg = NULL;
    if (got > 2 && head[0] == '#' && head[1] == '!') {
        char *nl = strchr(head, '\n');
        if (nl)
            *nl = 0;
        char *s = head + 2;
        while (*s == ' ' || *s == '\t')
            s++;
        interp = s;
        while (*s && *s != ' ' && *s != '\t')
            s++;
        if (*s) {
            *s++ = 0;
            while (*s == ' ' || *s == '\t')
                s++;
            if (*s)
                iarg = s;
        }
        close(fd);
        char iabs[GPATH_MAX];
        if (path_normalize(c->p->cwd, interp, iabs, sizeof(iabs)) ||
            (fd = mounts_open(&c->p->mounts, iabs, O_RDONLY, 0)) < 0) {
            ret = -ENOENT;
            goto out;
        }
    } else if (got < 4 || memcmp(head, "\177ELF", 4)) {
        close(fd);
        ret = -ENOEXEC;
        goto out;
    }
    /* argv for the new kiln: prefix (kiln exec [options]), --prog-fd N --execfn PATH --cwd DIR -- argv... */
    size_t npre = 0;
    while (c->p->cfg.reexec[npre])
        npre++;
    char **nargv = calloc(npre + na + 12, sizeof(char *));
    if (!nargv) {
        close(fd);
        goto out;
    }
    size_t k = 0;
    for (size_t i = 0; i < npre; i++)
        if (!c->p->forked || strcmp(c->p->cfg.reexec[i], "--own-skeleton"))
            nargv[k++] = c->p->cfg.reexec[i]; /* only the top process hands the skeleton on */
    char fdbuf[32];
    snprintf(fdbuf, sizeof(fdbuf), "%d", fd);
    nargv[k++] = "--prog-fd";
    nargv[k++] = fdbuf;
    nargv[k++] = "--cwd";
    nargv[k++] = c->p->cwd;
    nargv[k++] = "--";
    if (interp) {
        nargv[k++] = interp;
        if (iarg)
            nargv[k++] = iarg;
        nargv[k++] = abs;
        for (size_t i = 1; i < na; i++)
            nargv[k++] = args[i];
    } else {
        nargv[k++] = abs; /* the program as the guest named it: execfn */
        nargv[k++] = "--argv";
        for (size_t i = 0; i < na; i++)
            nargv[k++] = args[i];
    }
    nargv[k] = NULL;
    fcntl(fd, F_SETFD, 0);
    fflush(stdout);
    fflush(stderr);
    execve("/proc/self/exe", nargv, env);
    ret = -errno;
    close(fd);
    free(nargv);
out:
    for (size_t i = 0; i < na; i++)
        free(args[i]);
    for (size_t i = 0; i < ne; i++)
        free(env[i]);
    free(args);
    free(env);
    return ret;
}

/* ---- dispatch ---- */

static long unsupported(struct ctx *c, unsigned nr)
{
    if (nr < RV_NR_MAX && !atomic_exchange(&c->p->warned[nr], true))
        fprintf(stderr, "kiln exec: unsupported syscall %u (%s)\n", nr,
                sys_names[nr] ? sys_names[nr] : "?");
    else if (nr >= RV_NR_MAX && !atomic_exchange(&c->p->warned[0], true))
        fprintf(stderr, "kiln exec: unsupported syscall %u (?)\n", nr);
    return -ENOSYS;
}

static long dispatch(struct ctx *c, unsigned nr)
{
    struct proc *p = c->p;
    uint64_t *a = c->a;
    switch (nr) {
    case RV_NR_read: case RV_NR_write: case RV_NR_readv: case RV_NR_writev:
    case RV_NR_pread64: case RV_NR_pwrite64: case RV_NR_preadv: case RV_NR_pwritev:
        return do_rw(c, (int)nr);
    case RV_NR_openat: return do_openat(c);
    case RV_NR_close: {
        int fd = gfd(p, (int64_t)a[0]);
        if (fd < 0)
            return fd;
        drop_fd(p, fd);
        return host(close(fd));
    }
    case RV_NR_lseek: {
        int fd = gfd(p, (int64_t)a[0]);
        return fd < 0 ? fd : host(lseek(fd, (off_t)a[1], (int)a[2]));
    }
    case RV_NR_fstat: {
        int fd = gfd(p, (int64_t)a[0]);
        struct stat st;
        if (fd < 0)
            return fd;
        if (fstat(fd, &st) < 0)
            return -errno;
        return put_stat(c, a[1], &st);
    }
    case RV_NR_newfstatat: return do_fstatat(c, (int64_t)a[0], a[1], a[2], (int)a[3]);
    case RV_NR_statx: return do_statx(c);
    case RV_NR_getdents64: return do_getdents(c);
    case RV_NR_readlinkat: case RV_NR_mkdirat: case RV_NR_unlinkat: case RV_NR_mknodat:
        return do_name_op(c, (int)nr);
    case RV_NR_renameat2: case RV_NR_linkat:
        return do_two_paths(c, (int)nr);
    case RV_NR_symlinkat: return do_symlinkat(c);
    case RV_NR_faccessat: return do_faccessat(c, 0);
    case RV_NR_faccessat2: return do_faccessat(c, (int)a[3]);
    case RV_NR_fchmodat: return do_fchmodat(c);
    case RV_NR_utimensat: return do_utimensat(c);
    case RV_NR_chdir: return do_chdir(c, false);
    case RV_NR_fchdir: return do_chdir(c, true);
    case RV_NR_getcwd: return do_getcwd(c);
    case RV_NR_fcntl: return do_fcntl(c);
    case RV_NR_ioctl: return do_ioctl(c);
    case RV_NR_dup: return do_dup3(c, true);
    case RV_NR_dup3: return do_dup3(c, false);
    case RV_NR_pipe2: return do_pipe2(c);
    case RV_NR_fsync: case RV_NR_fdatasync: case RV_NR_ftruncate: case RV_NR_fchmod:
    case RV_NR_flock: case RV_NR_fallocate: case RV_NR_fchown: {
        int fd = gfd(p, (int64_t)a[0]);
        if (fd < 0)
            return fd;
        switch (nr) {
        case RV_NR_fsync: return host(fsync(fd));
        case RV_NR_fdatasync: return host(fdatasync(fd));
        case RV_NR_ftruncate: return host(ftruncate(fd, (off_t)a[1]));
        case RV_NR_fchmod: return host(fchmod(fd, (mode_t)a[1]));
        case RV_NR_flock: return host(flock(fd, (int)a[1]));
        case RV_NR_fchown: return host(fchown(fd, (uid_t)a[1], (gid_t)a[2]));
        default: return host(fallocate(fd, (int)a[1], (off_t)a[2], (off_t)a[3]));
        }
    }
    case RV_NR_sync: sync(); return 0;
    case RV_NR_umask: return umask((mode_t)a[0] & 0777);
    case RV_NR_ppoll: {
        uint64_t n = a[1];
        if (n > 256)
            return -EINVAL;
        struct pollfd pf[256];
        if (mm_copy_in(c->mm, pf, a[0], n * sizeof(struct pollfd)))
            return -EFAULT;
        for (uint64_t i = 0; i < n; i++)
            if (pf[i].fd >= 0 && gfd(p, pf[i].fd) < 0)
                pf[i].fd = -1 - PROC_FD_MAX; /* never a kiln descriptor; reported as not ready */
        struct timespec ts, *tsp = NULL;
        if (a[2]) {
            if (mm_copy_in(c->mm, &ts, a[2], sizeof(ts)))
                return -EFAULT;
            tsp = &ts;
        }
        long r = host(ppoll(pf, n, tsp, NULL));
        if (r >= 0 && mm_copy_out(c->mm, a[0], pf, n * sizeof(struct pollfd)))
            return -EFAULT;
        return r;
    }
    case RV_NR_uname: return do_uname(c);
    case RV_NR_getpid: return p->pid;
    case RV_NR_getppid: return getppid();
    case RV_NR_gettid: return c->t->tid;
    case RV_NR_getuid: return getuid();
    case RV_NR_geteuid: return geteuid();
    case RV_NR_getgid: return getgid();
    case RV_NR_getegid: return getegid();
    case RV_NR_getpgid: return host(getpgid((pid_t)a[0]));
    case RV_NR_getsid: return host(getsid((pid_t)a[0]));
    case RV_NR_setpgid: return host(setpgid((pid_t)a[0], (pid_t)a[1]));
    case RV_NR_setsid: return host(setsid());
    case RV_NR_getgroups: return 0;
    case RV_NR_getresuid: case RV_NR_getresgid: {
        uint32_t id = nr == RV_NR_getresuid ? getuid() : getgid();
        for (int i = 0; i < 3; i++)
            if (mm_copy_out(c->mm, a[i], &id, 4))
                return -EFAULT;
        return 0;
    }
    case RV_NR_set_tid_address: c->t->clear_child_tid = a[0]; return c->t->tid;
    case RV_NR_set_robust_list: return 0;
    case RV_NR_rseq: return -ENOSYS;
    case RV_NR_prlimit64:
        if (a[0] && (int)a[0] != p->pid)
            return -ESRCH;
        return do_prlimit(c, (int)a[1], a[2], a[3]);
    case RV_NR_getrlimit: return do_prlimit(c, (int)a[0], 0, a[1]);
    case RV_NR_setrlimit: return 0;
    case RV_NR_getrusage: {
        struct rusage ru;
        if (getrusage((int)a[0], &ru) < 0)
            return -errno;
        return mm_copy_out(c->mm, a[1], &ru, sizeof(ru));
    }
    case RV_NR_sysinfo: {
        struct sysinfo si;
        sysinfo(&si);
        si.totalram = p->cfg.mem;
        si.freeram = pmem_avail(&c->mm->pm) * MM_PAGE;
        si.mem_unit = 1;
        return mm_copy_out(c->mm, a[0], &si, sizeof(si));
    }
    case RV_NR_clock_gettime: case RV_NR_clock_getres: {
        struct timespec ts;
        long r = host(nr == RV_NR_clock_gettime ? clock_gettime((clockid_t)a[0], &ts)
                                                 : clock_getres((clockid_t)a[0], &ts));
        if (r < 0 || !a[1])
            return r;
        return put_ts(c, a[1], &ts);
    }
    case RV_NR_gettimeofday: {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        int64_t v[2] = {tv.tv_sec, tv.tv_usec};
        return a[0] ? mm_copy_out(c->mm, a[0], v, sizeof(v)) : 0;
    }
    case RV_NR_times: {
        struct tms tm;
        clock_t r = times(&tm);
        if (a[0] && mm_copy_out(c->mm, a[0], &tm, sizeof(tm)))
            return -EFAULT;
        return (long)r;
    }
    case RV_NR_nanosleep: return do_nanosleep(c, false);
    case RV_NR_clock_nanosleep: return do_nanosleep(c, true);
    case RV_NR_getrandom: {
        uint8_t buf[256];
        uint64_t len = a[1] < sizeof(buf) ? a[1] : sizeof(buf);
        long r = host(getrandom(buf, len, (unsigned)a[2] & ~GRND_RANDOM));
        if (r > 0 && mm_copy_out(c->mm, a[0], buf, (size_t)r))
            return -EFAULT;
        return r;
    }
    case RV_NR_sched_yield: return host(sched_yield());
    case RV_NR_sched_getaffinity: {
        if (a[1] < 8)
            return -EINVAL;
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        uint64_t mask = n >= 64 ? ~0ull : (1ull << (n > 0 ? n : 1)) - 1;
        return mm_copy_out(c->mm, a[2], &mask, 8) ? -EFAULT : 8;
    }
    case RV_NR_sched_setaffinity: case RV_NR_sched_getscheduler: case RV_NR_sched_getparam:
    case RV_NR_sched_setscheduler: case RV_NR_msync: case RV_NR_mlock: case RV_NR_munlock:
    case RV_NR_mlockall: case RV_NR_munlockall: case RV_NR_prctl: case RV_NR_riscv_flush_icache:
        return 0;
    case RV_NR_madvise: return do_madvise(c);
    case RV_NR_brk: return do_brk(c);
    case RV_NR_mmap: return do_mmap(c);
    case RV_NR_munmap:
        if (a[0] & (MM_PAGE - 1) || !a[1])
            return -EINVAL;
        return mm_unmap(c->mm, a[0], page_up(a[1]));
    case RV_NR_mprotect:
        if (a[0] & (MM_PAGE - 1))
            return -EINVAL;
        if (!a[1])
            return 0;
        return mm_protect(c->mm, a[0], page_up(a[1]), (int)a[2] & 7);
    case RV_NR_mremap: return do_mremap(c);
    case RV_NR_futex: return do_futex(c);
    case RV_NR_rt_sigaction: return do_sigaction(c);
    case RV_NR_rt_sigprocmask: return do_sigprocmask(c);
    case RV_NR_sigaltstack: return do_sigaltstack(c);
    case RV_NR_rt_sigsuspend: {
        uint64_t set, old = c->t->sigmask;
        if (mm_copy_in(c->mm, &set, a[0], 8))
            return -EFAULT;
        c->t->sigmask = set;
        while (!(atomic_load(&c->t->sigpending) & ~set) && !atomic_load(&p->host_pending) &&
               !atomic_load(&p->vm.stop))
            usleep(1000);
        proc_deliver_signals(c->t);
        c->t->sigmask = old; /* approximate: the handler's frame already holds set */
        return -EINTR;
    }
    case RV_NR_kill: return do_kill(c, (int64_t)a[0], (int)a[1]);
    case RV_NR_tkill: return do_tgkill(c, -1, (int64_t)a[0], (int)a[1]);
    case RV_NR_tgkill: return do_tgkill(c, (int64_t)a[0], (int64_t)a[1], (int)a[2]);
    case RV_NR_clone: return proc_clone(c->t, a[0], a[1], a[2], a[3], a[4]);
    case RV_NR_wait4: return do_wait4(c);
    case RV_NR_execve: return do_execve(c);
    case RV_NR_exit:
        proc_thread_exit(c->t, (int)(a[0] & 0xff));
        return 0;
    case RV_NR_exit_group:
        proc_exit(p, (int)(a[0] & 0xff), 0);
        c->t->exited = true;
        return 0;
    case RV_NR_socket: case RV_NR_socketpair: case RV_NR_connect: case RV_NR_bind:
    case RV_NR_listen: case RV_NR_accept: case RV_NR_accept4: case RV_NR_sendto:
    case RV_NR_recvfrom: case RV_NR_setsockopt: case RV_NR_getsockopt: case RV_NR_getsockname:
    case RV_NR_getpeername: case RV_NR_shutdown:
        return do_net(c, (int)nr);
    case RV_NR_membarrier: case RV_NR_clone3: case RV_NR_io_uring_setup: case RV_NR_pidfd_open:
        return -ENOSYS; /* libraries probe these and fall back quietly */
    default:
        return unsupported(c, nr);
    }
}

void proc_syscall(struct uthread *t)
{
    struct hart *h = &t->hart;
    struct ctx c = {.t = t, .p = t->p, .mm = &t->p->mm};
    for (int i = 0; i < 6; i++)
        c.a[i] = h->x[10 + i];
    unsigned nr = (unsigned)h->x[17];
    if (nr == RV_NR_rt_sigreturn) {
        proc_sigreturn(t);
    } else {
        long r = dispatch(&c, nr);
        if (t->exited)
            return;
        h->x[10] = (uint64_t)r;
        h->pc += 4;
    }
    if (atomic_load(&t->sigpending) || atomic_load(&t->p->host_pending))
        proc_deliver_signals(t);
}
