/*
 * Process-VM system calls on files, descriptors and paths (riscv64 numbers,
 * asm-generic unistd.h). Every path goes through the mount table (paths.h);
 * every fd must be one the guest owns.
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

#include "user/sys.h"

/* ---- fds ---- */

int sys_fd(struct proc *p, int64_t fd)
{
    if (fd < 0 || fd >= PROC_FD_MAX || !atomic_load(&p->fdown[fd]))
        return -EBADF;
    return (int)fd;
}

/* Takes ownership of a host fd just created for the guest. */
long sys_fd_new(struct proc *p, int fd, const char *path)
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

void sys_fd_drop(struct proc *p, int fd)
{
    atomic_store(&p->fdown[fd], false);
    pthread_mutex_lock(&p->lock);
    free(p->fdpath[fd]);
    p->fdpath[fd] = NULL;
    pthread_mutex_unlock(&p->lock);
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
    pthread_mutex_lock(&c->p->lock);
    int err = 0;
    if (path[0] == '/' || (int32_t)dirfd == RV_AT_FDCWD) {
        snprintf(base, sizeof(base), "%s", c->p->cwd);
    } else if (sys_fd(c->p, dirfd) < 0) {
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
    int fd = sys_fd(c->p, (int64_t)c->a[0]);
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
        r = sys_iov(c, c->a[1], c->a[2], acc, iov, &n, IOV_PAGES);
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
    r = sys_ret(r);
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
        int fd = sys_fd(c->p, dirfd);
        if ((int32_t)dirfd == RV_AT_FDCWD) {
            int r = sys_path(c, dirfd, pathva, abs, true);
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
    int r = sys_path(c, dirfd, pathva, abs, false);
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
    long r = sys_ret(fstat(fd, &st));
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
    long r = sys_ret(syscall(SYS_statx, fd, "", AT_EMPTY_PATH | (flags & 0x6000), (unsigned)c->a[3], sx));
    close(fd);
    return r < 0 ? r : mm_copy_out(c->mm, c->a[4], sx, sizeof(sx));
}

/* ---- files ---- */

static long do_openat(struct ctx *c)
{
    char abs[GPATH_MAX];
    int r = sys_path(c, (int64_t)c->a[0], c->a[1], abs, false);
    if (r)
        return r;
    int flags = (int)c->a[2];
    /* riscv64 uses the generic open flag values, the same as x86-64's. */
    int fd = mounts_open(&c->p->mounts, abs, flags & ~O_CLOEXEC, (mode_t)c->a[3]);
    if (fd < 0)
        return fd;
    if (!(flags & O_CLOEXEC))
        fcntl(fd, F_SETFD, 0);
    return sys_fd_new(c->p, fd, abs);
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
    char abs[GPATH_MAX];
    int fd = open_target(c, (int64_t)c->a[0], c->a[1], flags, abs);
    if (fd < 0)
        return fd;
    int mode = (int)c->a[2] & 7;
    long r;
    if ((mode & W_OK) && abs[0] && sys_path_ro(c->p, abs))
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
        int fd = sys_fd(c->p, (int64_t)c->a[0]);
        return fd < 0 ? fd : sys_ret(futimens(fd, tsp));
    }
    char abs[GPATH_MAX];
    int fd = open_target(c, (int64_t)c->a[0], c->a[1], (int)c->a[3], abs);
    if (fd < 0)
        return fd;
    long r;
    if (abs[0] && sys_path_ro(c->p, abs))
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
    long r = sys_path_ro(c->p, abs) ? -EROFS : via_proc(fd, chmod_fn, &m);
    close(fd);
    return r;
}

static long do_chdir(struct ctx *c, bool by_fd)
{
    char abs[GPATH_MAX];
    if (by_fd) {
        int fd = sys_fd(c->p, (int64_t)c->a[0]);
        if (fd < 0)
            return fd;
        pthread_mutex_lock(&c->p->lock);
        const char *fp = c->p->fdpath[fd];
        if (fp)
            snprintf(c->p->cwd, sizeof(c->p->cwd), "%s", fp);
        pthread_mutex_unlock(&c->p->lock);
        return fp ? 0 : -ENOTDIR;
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

static long do_fcntl(struct ctx *c)
{
    int fd = sys_fd(c->p, (int64_t)c->a[0]);
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
        long r = sys_fd_new(c->p, (int)sys_ret(fcntl(fd, cmd, (int)c->a[2])), path);
        free(path);
        return r;
    }
    case F_GETFD:
    case F_SETFD:
    case F_GETFL:
    case F_SETFL:
        return sys_ret(fcntl(fd, cmd, (int)c->a[2]));
    case F_GETLK:
    case F_SETLK:
    case F_SETLKW:
    case F_OFD_GETLK:
    case F_OFD_SETLK:
    case F_OFD_SETLKW: {
        struct flock fl; /* the same 32-byte layout on riscv64 and x86-64 */
        if (mm_copy_in(c->mm, &fl, c->a[2], sizeof(fl)))
            return -EFAULT;
        long r = sys_ret(fcntl(fd, cmd, &fl));
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
    int fd = sys_fd(c->p, (int64_t)c->a[0]);
    if (fd < 0)
        return fd;
    char *path = NULL;
    pthread_mutex_lock(&c->p->lock);
    if (c->p->fdpath[fd])
        path = strdup(c->p->fdpath[fd]);
    pthread_mutex_unlock(&c->p->lock);
    long r;
    if (is_dup) {
        r = sys_fd_new(c->p, (int)sys_ret(fcntl(fd, F_DUPFD, 0)), path);
    } else if (c->a[1] >= PROC_FD_MAX) {
        r = -EBADF;
    } else if ((int)c->a[1] == fd) {
        r = -EINVAL;
    } else {
        r = sys_ret(dup3(fd, (int)c->a[1], (int)c->a[2] & O_CLOEXEC));
        if (r >= 0)
            r = sys_fd_new(c->p, (int)r, path);
    }
    free(path);
    return r;
}

static long do_ioctl(struct ctx *c)
{
    int fd = sys_fd(c->p, (int64_t)c->a[0]);
    if (fd < 0)
        return fd;
    unsigned long req = c->a[1];
    switch (req) {
    case TCGETS: {
        uint8_t t[36]; /* asm-generic struct termios: the same on both sides */
        long r = sys_ret(ioctl(fd, TCGETS, t));
        return r < 0 ? r : mm_copy_out(c->mm, c->a[2], t, sizeof(t));
    }
    case TCSETS:
    case TCSETSW:
    case TCSETSF: {
        uint8_t t[36];
        if (mm_copy_in(c->mm, t, c->a[2], sizeof(t)))
            return -EFAULT;
        return sys_ret(ioctl(fd, req, t));
    }
    case TIOCGWINSZ: {
        struct winsize w;
        long r = sys_ret(ioctl(fd, TIOCGWINSZ, &w));
        return r < 0 ? r : mm_copy_out(c->mm, c->a[2], &w, sizeof(w));
    }
    case TIOCGPGRP: { /* the VM's own process groups (proc.h) */
        int32_t v = proc_tty_getpgrp(c->p, fd);
        return v < 0 ? v : mm_copy_out(c->mm, c->a[2], &v, sizeof(v));
    }
    case TIOCSPGRP: {
        int32_t v;
        if (mm_copy_in(c->mm, &v, c->a[2], sizeof(v)))
            return -EFAULT;
        return proc_tty_setpgrp(c->p, fd, v);
    }
    case FIONREAD: {
        int v;
        long r = sys_ret(ioctl(fd, req, &v));
        return r < 0 ? r : mm_copy_out(c->mm, c->a[2], &v, sizeof(v));
    }
    case FIONBIO: {
        int v;
        if (mm_copy_in(c->mm, &v, c->a[2], sizeof(v)))
            return -EFAULT;
        return sys_ret(ioctl(fd, req, &v));
    }
    default:
        return -ENOTTY;
    }
}

static long do_getdents(struct ctx *c)
{
    int fd = sys_fd(c->p, (int64_t)c->a[0]);
    if (fd < 0)
        return fd;
    size_t n = c->a[2] < 65536 ? c->a[2] : 65536;
    char *buf = malloc(n ? n : 1);
    if (!buf)
        return -ENOMEM;
    long r = sys_ret(syscall(SYS_getdents64, fd, buf, n));
    if (r > 0 && mm_copy_out(c->mm, c->a[1], buf, (size_t)r))
        r = -EFAULT;
    free(buf);
    return r;
}

static long do_pipe2(struct ctx *c)
{
    int fds[2];
    int flags = (int)c->a[1];
    if (sys_ret(pipe2(fds, flags)) < 0)
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
    sys_fd_new(c->p, fds[0], NULL);
    sys_fd_new(c->p, fds[1], NULL);
    return 0;
}

/* File, descriptor and path system calls; SYS_UNHANDLED for numbers that are not this file's. */
long sys_fs(struct ctx *c, unsigned nr)
{
    struct proc *p = c->p;
    uint64_t *a = c->a;
    (void)p;
    (void)a;
    switch (nr) {
    case RV_NR_read: case RV_NR_write: case RV_NR_readv: case RV_NR_writev:
    case RV_NR_pread64: case RV_NR_pwrite64: case RV_NR_preadv: case RV_NR_pwritev:
        return do_rw(c, (int)nr);
    case RV_NR_openat: return do_openat(c);
    case RV_NR_close: {
        int fd = sys_fd(p, (int64_t)a[0]);
        if (fd < 0)
            return fd;
        sys_fd_drop(p, fd);
        return sys_ret(close(fd));
    }
    case RV_NR_lseek: {
        int fd = sys_fd(p, (int64_t)a[0]);
        return fd < 0 ? fd : sys_ret(lseek(fd, (off_t)a[1], (int)a[2]));
    }
    case RV_NR_fstat: {
        int fd = sys_fd(p, (int64_t)a[0]);
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
        int fd = sys_fd(p, (int64_t)a[0]);
        if (fd < 0)
            return fd;
        switch (nr) {
        case RV_NR_fsync: return sys_ret(fsync(fd));
        case RV_NR_fdatasync: return sys_ret(fdatasync(fd));
        case RV_NR_ftruncate: return sys_ret(ftruncate(fd, (off_t)a[1]));
        case RV_NR_fchmod: return sys_ret(fchmod(fd, (mode_t)a[1]));
        case RV_NR_flock: return sys_ret(flock(fd, (int)a[1]));
        case RV_NR_fchown: return sys_ret(fchown(fd, (uid_t)a[1], (gid_t)a[2]));
        default: return sys_ret(fallocate(fd, (int)a[1], (off_t)a[2], (off_t)a[3]));
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
            if (pf[i].fd >= 0 && sys_fd(p, pf[i].fd) < 0)
                pf[i].fd = -1 - PROC_FD_MAX; /* never a kiln descriptor; reported as not ready */
        struct timespec ts, *tsp = NULL;
        if (a[2]) {
            if (mm_copy_in(c->mm, &ts, a[2], sizeof(ts)))
                return -EFAULT;
            tsp = &ts;
        }
        long r = sys_ret(ppoll(pf, n, tsp, NULL));
        if (r >= 0 && mm_copy_out(c->mm, a[0], pf, n * sizeof(struct pollfd)))
            return -EFAULT;
        return r;
    }
    default:
        return SYS_UNHANDLED;
    }
}
