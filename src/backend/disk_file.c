/*
 * The host file under every image format: open + OFD lock, cache modes,
 * whole-transfer preadv/pwritev, fdatasync, holes. See disk.h for the lock
 * rules.
 *
 * cache=none opens a second descriptor with O_DIRECT and sends it only the
 * requests whose buffers, lengths and offset are all DIRECT_ALIGN-aligned (a
 * Linux guest's page-sized bios are); the rest go through the buffered
 * descriptor. Linux keeps the two coherent (direct I/O writes back and
 * invalidates the page-cache range it touches).
 */
#define _GNU_SOURCE /* O_DIRECT, F_OFD_SETLK, fallocate */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backend/disk_impl.h"
#include "util/log.h"

#define DIRECT_ALIGN 4096u

/* Whole-file lock on this open file description: 0, -EAGAIN if someone else holds it, or -errno. */
static int lock_image_once(int fd, bool readonly)
{
    struct flock fl = {
        .l_type = readonly ? F_RDLCK : F_WRLCK,
        .l_whence = SEEK_SET,
        .l_start = 0,
        .l_len = 0,
    };
    if (fcntl(fd, F_OFD_SETLK, &fl) == 0) return 0;
    if (errno == EAGAIN || errno == EACCES) return -EAGAIN;
    if (errno != EINVAL) return -errno;
    /* No OFD locks (old kernel): flock() is also per open file description. */
    if (flock(fd, (readonly ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0) return 0;
    return errno == EWOULDBLOCK ? -EAGAIN : -errno;
}

/*
 * A VM killed a moment ago may still hold its lock: a killed process's open files are let go
 * only when its last thread has exited, after its main thread already shows as a zombie. So a
 * lock found taken is asked again for up to LOCK_RETRY_MS before the disk counts as in use.
 */
#define LOCK_RETRY_MS 2000
static int lock_image(int fd, bool readonly)
{
    int r;
    for (int waited = 0; (r = lock_image_once(fd, readonly)) == -EAGAIN && waited < LOCK_RETRY_MS;
         waited += 20)
        nanosleep(&(struct timespec){.tv_nsec = 20 * 1000000}, NULL);
    return r;
}

int dfile_open(struct disk_file *f, const char *path, bool readonly, enum disk_cache cache, bool lock,
               char **err)
{
    f->fd = -1;
    f->fd_direct = -1;
    f->readonly = readonly;
    f->cache = cache;
    int flags = (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
    f->fd = open(path, flags);
    if (f->fd < 0) {
        int e = errno;
        disk_set_err(err, "disk %s: cannot open%s: %s", path, readonly ? "" : " read-write",
                     strerror(e));
        return -1;
    }
    int r = lock ? lock_image(f->fd, readonly) : 0;
    if (r == -EAGAIN) {
        disk_set_err(err, "disk %s is in use by another process%s", path,
                     readonly ? " (which has it open read-write)" : "");
        goto fail;
    }
    if (r < 0) {
        disk_set_err(err, "disk %s: cannot lock: %s", path, strerror(-r));
        goto fail;
    }
    struct stat st;
    if (fstat(f->fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))) {
        disk_set_err(err, "disk %s: not a regular file or block device", path);
        goto fail;
    }
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    off_t end = lseek(f->fd, 0, SEEK_END); /* works for block devices too, unlike st_size */
    if (end < 0) {
        int e = errno;
        disk_set_err(err, "disk %s: cannot find its size: %s", path, strerror(e));
        goto fail;
    }
    f->size = (uint64_t)end;
    if (cache == DISK_CACHE_NONE) {
        f->fd_direct = open(path, flags | O_DIRECT);
        if (f->fd_direct < 0)
            log_warn("disk",
                     "%s: O_DIRECT not supported here (%s); cache=none falls back to the "
                     "host page cache",
                     path, strerror(errno));
    }
    return 0;
fail:
    dfile_close(f);
    return -1;
}

int dfile_lock(struct disk_file *f, bool lock)
{
    if (lock)
        return lock_image(f->fd, f->readonly);
    struct flock fl = {.l_type = F_UNLCK, .l_whence = SEEK_SET};
    if (fcntl(f->fd, F_OFD_SETLK, &fl) == 0)
        return 0;
    /* flock() only where lock_image fell back to it (not on a jailed VM's seccomp list). */
    if (errno == EINVAL && flock(f->fd, LOCK_UN) == 0)
        return 0;
    return -errno;
}

void dfile_close(struct disk_file *f)
{
    if (f->fd_direct >= 0) close(f->fd_direct);
    if (f->fd >= 0) close(f->fd); /* drops the OFD lock */
    f->fd = f->fd_direct = -1;
}

static bool direct_ok(const struct disk_file *f, const struct iovec *iov, int n, uint64_t off)
{
    if (f->fd_direct < 0 || off % DIRECT_ALIGN) return false;
    for (int i = 0; i < n; i++)
        if ((uintptr_t)iov[i].iov_base % DIRECT_ALIGN || iov[i].iov_len % DIRECT_ALIGN)
            return false;
    return true;
}

/* Loops over short transfers; the iovec array is copied because it is consumed. */
static int rw_all(struct disk_file *f, const struct iovec *iov_in, int n, uint64_t off, bool write,
                  bool zero_eof)
{
    if (n < 0 || n > IOV_MAX) return -EINVAL;
    struct iovec iov[n > 0 ? n : 1];
    memcpy(iov, iov_in, sizeof(iov[0]) * (size_t)n);
    int fd = direct_ok(f, iov, n, off) ? f->fd_direct : f->fd;
    struct iovec *p = iov;
    while (n > 0) {
        if (p->iov_len == 0) {
            p++, n--;
            continue;
        }
        if (off > (uint64_t)INT64_MAX) return -EINVAL;
        ssize_t r = write ? pwritev(fd, p, n, (off_t)off) : preadv(fd, p, n, (off_t)off);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        if (r == 0) {
            if (!zero_eof || write) return -EIO; /* end of file: the image shrank under us */
            iov_memset(p, n, 0);
            return 0;
        }
        off += (uint64_t)r;
        size_t left = (size_t)r;
        while (n > 0 && left >= p->iov_len) {
            left -= p->iov_len;
            p++, n--;
        }
        if (n > 0) {
            p->iov_base = (char *)p->iov_base + left;
            p->iov_len -= left;
        }
    }
    return 0;
}

int dfile_preadv(struct disk_file *f, const struct iovec *iov, int n, uint64_t off, bool zero_eof)
{
    return rw_all(f, iov, n, off, false, zero_eof);
}

int dfile_pwritev(struct disk_file *f, const struct iovec *iov, int n, uint64_t off)
{
    if (f->readonly) return -EROFS;
    return rw_all(f, iov, n, off, true, false);
}

int dfile_pread(struct disk_file *f, void *buf, size_t len, uint64_t off, bool zero_eof)
{
    struct iovec iov = {buf, len};
    return rw_all(f, &iov, 1, off, false, zero_eof);
}

int dfile_pwrite(struct disk_file *f, const void *buf, size_t len, uint64_t off)
{
    struct iovec iov = {(void *)buf, len};
    return dfile_pwritev(f, &iov, 1, off);
}

int dfile_sync(struct disk_file *f)
{
    if (f->readonly || f->cache == DISK_CACHE_UNSAFE) return 0;
    /* O_DIRECT skips the page cache but not the drive's cache: fdatasync in both modes. */
    while (fdatasync(f->fd) < 0) {
        if (errno != EINTR) return -errno;
    }
    return 0;
}

int dfile_punch(struct disk_file *f, uint64_t off, uint64_t len)
{
    if (f->readonly) return -EROFS;
    if (off > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX) return -EINVAL;
    if (fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
        return 0;
    int e = errno;
    return (e == ENOSYS || e == EINVAL) ? -EOPNOTSUPP : -e;
}

int dfile_zero(struct disk_file *f, uint64_t off, uint64_t len)
{
    int r = dfile_punch(f, off, len);
    if (r == 0) return 0;
    if (r != -EOPNOTSUPP) return r;
    if (fallocate(f->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
        return 0;
    /* Neither (e.g. a block device without discard): write zeroes by hand. */
    static const uint8_t zero[65536];
    while (len > 0) {
        size_t n = len < sizeof(zero) ? (size_t)len : sizeof(zero);
        r = dfile_pwrite(f, zero, n, off);
        if (r < 0) return r;
        off += n;
        len -= n;
    }
    return 0;
}

int iov_slice(const struct iovec *iov, int n, uint64_t skip, uint64_t len, struct iovec *dst,
              int max)
{
    int k = 0;
    for (int i = 0; i < n && len > 0; i++) {
        if (skip >= iov[i].iov_len) {
            skip -= iov[i].iov_len;
            continue;
        }
        size_t take = iov[i].iov_len - (size_t)skip;
        if (take > len) take = (size_t)len;
        if (k >= max) return -EINVAL;
        dst[k].iov_base = (char *)iov[i].iov_base + skip;
        dst[k].iov_len = take;
        k++;
        len -= take;
        skip = 0;
    }
    return len ? -EINVAL : k;
}

void iov_memset(const struct iovec *iov, int n, int c)
{
    for (int i = 0; i < n; i++)
        memset(iov[i].iov_base, c, iov[i].iov_len);
}

void iov_to_buf(const struct iovec *iov, int n, void *buf)
{
    char *p = buf;
    for (int i = 0; i < n; i++) {
        memcpy(p, iov[i].iov_base, iov[i].iov_len);
        p += iov[i].iov_len;
    }
}

void iov_from_buf(const struct iovec *iov, int n, const void *buf)
{
    const char *p = buf;
    for (int i = 0; i < n; i++) {
        memcpy(iov[i].iov_base, p, iov[i].iov_len);
        p += iov[i].iov_len;
    }
}
