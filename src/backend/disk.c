/*
 * Raw disk image backend. See disk.h.
 *
 * cache=none opens a second descriptor with O_DIRECT and sends it only the
 * requests whose buffers, lengths and offset are all DIRECT_ALIGN-aligned (a
 * Linux guest's page-sized bios are); the rest go through the buffered
 * descriptor. Linux keeps the two coherent (direct I/O writes back and
 * invalidates the page-cache range it touches).
 */
#define _GNU_SOURCE /* O_DIRECT, F_OFD_SETLK, fallocate, vasprintf */
#include "backend/disk.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"

#define DIRECT_ALIGN 4096u

struct disk {
    int fd;
    int fd_direct; /* -1 unless cache=none and O_DIRECT works here */
    bool readonly;
    enum disk_cache cache;
    uint64_t size;
    char *path;
};

int disk_cache_parse(const char *s, enum disk_cache *out)
{
    if (!strcmp(s, "writeback"))
        *out = DISK_CACHE_WRITEBACK;
    else if (!strcmp(s, "none"))
        *out = DISK_CACHE_NONE;
    else if (!strcmp(s, "unsafe"))
        *out = DISK_CACHE_UNSAFE;
    else
        return -EINVAL;
    return 0;
}

const char *disk_cache_name(enum disk_cache c)
{
    switch (c) {
    case DISK_CACHE_WRITEBACK:
        return "writeback";
    case DISK_CACHE_NONE:
        return "none";
    case DISK_CACHE_UNSAFE:
        return "unsafe";
    }
    return "?";
}

static void set_err(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(char **err, const char *fmt, ...)
{
    if (!err) return;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(err, fmt, ap) < 0) *err = NULL;
    va_end(ap);
}

/* Whole-file lock on this open file description: 0, -EAGAIN if someone else holds it, or -errno. */
static int lock_image(int fd, bool readonly)
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

struct disk *disk_open(const char *path, bool readonly, enum disk_cache cache, char **err)
{
    if (err) *err = NULL;
    struct disk *d = calloc(1, sizeof(*d));
    if (!d) {
        set_err(err, "disk %s: out of memory", path);
        return NULL;
    }
    d->fd = -1;
    d->fd_direct = -1;
    d->readonly = readonly;
    d->cache = cache;
    d->path = strdup(path);
    if (!d->path) {
        set_err(err, "disk %s: out of memory", path);
        goto fail;
    }
    int flags = (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
    d->fd = open(path, flags);
    if (d->fd < 0) {
        int e = errno;
        set_err(err, "disk %s: cannot open%s: %s", path, readonly ? "" : " read-write",
                strerror(e));
        goto fail;
    }
    int r = lock_image(d->fd, readonly);
    if (r == -EAGAIN) {
        set_err(err, "disk %s is in use by another process%s", path,
                readonly ? " (which has it open read-write)" : "");
        goto fail;
    }
    if (r < 0) {
        set_err(err, "disk %s: cannot lock: %s", path, strerror(-r));
        goto fail;
    }
    struct stat st;
    if (fstat(d->fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))) {
        set_err(err, "disk %s: not a regular file or block device", path);
        goto fail;
    }
    off_t end = lseek(d->fd, 0, SEEK_END); /* works for block devices too, unlike st_size */
    if (end < 0) {
        int e = errno;
        set_err(err, "disk %s: cannot find its size: %s", path, strerror(e));
        goto fail;
    }
    d->size = (uint64_t)end;
    if (d->size % 512)
        log_warn("disk", "%s: size is not a multiple of 512; the last %llu bytes are not visible",
                 path, (unsigned long long)(d->size % 512));

    if (cache == DISK_CACHE_NONE) {
        d->fd_direct = open(path, flags | O_DIRECT);
        if (d->fd_direct < 0)
            log_warn("disk",
                     "%s: O_DIRECT not supported here (%s); cache=none falls back to the "
                     "host page cache",
                     path, strerror(errno));
    }
    return d;

fail:
    disk_close(d);
    return NULL;
}

void disk_close(struct disk *d)
{
    if (!d) return;
    if (d->fd_direct >= 0) close(d->fd_direct);
    if (d->fd >= 0) close(d->fd); /* drops the OFD lock */
    free(d->path);
    free(d);
}

uint64_t disk_size(const struct disk *d)
{
    return d->size;
}

bool disk_readonly(const struct disk *d)
{
    return d->readonly;
}

const char *disk_path(const struct disk *d)
{
    return d->path;
}

static bool direct_ok(const struct disk *d, const struct iovec *iov, int n, uint64_t off)
{
    if (d->fd_direct < 0 || off % DIRECT_ALIGN) return false;
    for (int i = 0; i < n; i++)
        if ((uintptr_t)iov[i].iov_base % DIRECT_ALIGN || iov[i].iov_len % DIRECT_ALIGN)
            return false;
    return true;
}

/* Loops over short transfers; the iovec array is copied because it is consumed. */
static int rw_all(struct disk *d, const struct iovec *iov_in, int n, uint64_t off, bool write)
{
    if (n < 0 || n > IOV_MAX) return -EINVAL;
    struct iovec iov[n > 0 ? n : 1];
    memcpy(iov, iov_in, sizeof(iov[0]) * (size_t)n);
    int fd = direct_ok(d, iov, n, off) ? d->fd_direct : d->fd;
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
        if (r == 0) return -EIO; /* end of file: the image shrank under us */
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

int disk_preadv(struct disk *d, const struct iovec *iov, int iovcnt, uint64_t offset)
{
    return rw_all(d, iov, iovcnt, offset, false);
}

int disk_pwritev(struct disk *d, const struct iovec *iov, int iovcnt, uint64_t offset)
{
    if (d->readonly) return -EROFS;
    return rw_all(d, iov, iovcnt, offset, true);
}

int disk_flush(struct disk *d)
{
    if (d->readonly || d->cache == DISK_CACHE_UNSAFE) return 0;
    /* O_DIRECT skips the page cache but not the drive's cache: fdatasync in both modes. */
    while (fdatasync(d->fd) < 0) {
        if (errno != EINTR) return -errno;
    }
    return 0;
}

static bool range_ok(const struct disk *d, uint64_t off, uint64_t len)
{
    return off <= d->size && len <= d->size - off && off <= (uint64_t)INT64_MAX &&
           len <= (uint64_t)INT64_MAX;
}

static int punch(struct disk *d, uint64_t off, uint64_t len)
{
    if (fallocate(d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
        return 0;
    return -errno;
}

int disk_discard(struct disk *d, uint64_t offset, uint64_t len)
{
    if (d->readonly) return -EROFS;
    if (!range_ok(d, offset, len)) return -EINVAL;
    if (len == 0) return 0;
    int r = punch(d, offset, len);
    /* Discard is a hint (virtio 1.2 §5.2.6.2 "MAY deallocate"): no hole support is fine. */
    if (r == -EOPNOTSUPP || r == -ENOSYS || r == -EINVAL) return 0;
    return r;
}

int disk_write_zeroes(struct disk *d, uint64_t offset, uint64_t len)
{
    if (d->readonly) return -EROFS;
    if (!range_ok(d, offset, len)) return -EINVAL;
    if (len == 0) return 0;
    int r = punch(d, offset, len);
    if (r == 0) return 0;
    if (r != -EOPNOTSUPP && r != -ENOSYS && r != -EINVAL) return r;
    if (fallocate(d->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)len) ==
        0)
        return 0;
    /* Neither (e.g. a block device without discard): write zeroes by hand. */
    static const uint8_t zero[65536];
    while (len > 0) {
        size_t n = len < sizeof(zero) ? (size_t)len : sizeof(zero);
        struct iovec iov = {(void *)zero, n};
        r = rw_all(d, &iov, 1, offset, true);
        if (r < 0) return r;
        offset += n;
        len -= n;
    }
    return 0;
}
