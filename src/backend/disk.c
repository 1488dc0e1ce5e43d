/*
 * Disk backend front: opens an image (probing its format), checks every
 * request's range, and hands it to the format's driver. See disk.h.
 */
#define _GNU_SOURCE /* vasprintf */
#include "backend/disk.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/disk_impl.h"
#include "backend/qcow2.h"
#include "util/log.h"

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

int disk_format_parse(const char *s, enum disk_format *out)
{
    if (!strcmp(s, "raw"))
        *out = DISK_FORMAT_RAW;
    else if (!strcmp(s, "qcow2"))
        *out = DISK_FORMAT_QCOW2;
    else
        return -EINVAL;
    return 0;
}

const char *disk_format_name(enum disk_format f)
{
    switch (f) {
    case DISK_FORMAT_AUTO:
        return "auto";
    case DISK_FORMAT_RAW:
        return "raw";
    case DISK_FORMAT_QCOW2:
        return "qcow2";
    }
    return "?";
}

void disk_set_err(char **err, const char *fmt, ...)
{
    if (!err) return;
    free(*err);
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(err, fmt, ap) < 0) *err = NULL;
    va_end(ap);
}

struct disk *disk_open_chain(const char *path, const struct disk_opts *o, struct disk_chain *chain,
                             char **err)
{
    struct disk *d = calloc(1, sizeof(*d));
    if (!d) {
        disk_set_err(err, "disk %s: out of memory", path);
        return NULL;
    }
    d->file.fd = d->file.fd_direct = -1;
    d->readonly = o->readonly;
    d->path = strdup(path);
    if (!d->path) {
        disk_set_err(err, "disk %s: out of memory", path);
        goto fail;
    }
    if (dfile_open(&d->file, path, o->readonly, o->cache, !o->defer_lock, err) < 0) goto fail;
    for (unsigned i = 0; i < chain->n; i++) {
        if (chain->dev[i] == d->file.dev && chain->ino[i] == d->file.ino) {
            disk_set_err(err, "disk %s: backing chain loops (the file is its own backing file)",
                         path);
            goto fail;
        }
    }
    if (chain->n >= DISK_MAX_CHAIN) {
        disk_set_err(err, "disk %s: backing chain is deeper than %d images", path,
                     DISK_MAX_CHAIN);
        goto fail;
    }
    chain->dev[chain->n] = d->file.dev;
    chain->ino[chain->n] = d->file.ino;
    chain->n++;

    enum disk_format fmt = o->format;
    if (fmt == DISK_FORMAT_AUTO) {
        uint8_t head[512];
        if (dfile_pread(&d->file, head, sizeof(head), 0, true) < 0) {
            disk_set_err(err, "disk %s: cannot read its first sector", path);
            goto fail;
        }
        fmt = qcow2_probe(head, sizeof(head)) ? DISK_FORMAT_QCOW2 : DISK_FORMAT_RAW;
        d->probed_raw = fmt == DISK_FORMAT_RAW;
    }
    int r = fmt == DISK_FORMAT_QCOW2 ? qcow2_attach(d, o, chain, err) : raw_attach(d, err);
    if (r < 0) goto fail;
    return d;

fail:
    if (err && !*err) disk_set_err(err, "disk %s: cannot open", path);
    disk_close(d);
    return NULL;
}

struct disk *disk_open_opts(const char *path, const struct disk_opts *o, char **err)
{
    if (err) *err = NULL;
    struct disk_chain chain = {0};
    return disk_open_chain(path, o, &chain, err);
}

struct disk *disk_open(const char *path, bool readonly, enum disk_cache cache, char **err)
{
    struct disk_opts o = {.readonly = readonly, .cache = cache, .format = DISK_FORMAT_AUTO};
    return disk_open_opts(path, &o, err);
}

void disk_close(struct disk *d)
{
    if (!d) return;
    if (d->drv) d->drv->close(d);
    dfile_close(&d->file);
    free(d->path);
    free(d);
}

void disk_get_info(struct disk *d, struct disk_info *out)
{
    memset(out, 0, sizeof(*out));
    out->size = d->size;
    struct stat st;
    if (fstat(d->file.fd, &st) == 0) out->file_bytes = (uint64_t)st.st_blocks * 512;
    d->drv->info(d, out);
}

uint64_t disk_size(const struct disk *d)
{
    return d->size;
}

int disk_host_stat(const struct disk *d, struct stat *st)
{
    return fstat(d->file.fd, st) < 0 ? -errno : 0;
}

bool disk_readonly(const struct disk *d)
{
    return d->readonly;
}

const char *disk_path(const struct disk *d)
{
    return d->path;
}

static uint64_t iov_total(const struct iovec *iov, int n)
{
    uint64_t t = 0;
    for (int i = 0; i < n; i++)
        t += iov[i].iov_len;
    return t;
}

static bool range_ok(const struct disk *d, uint64_t off, uint64_t len)
{
    return off <= d->size && len <= d->size - off && off <= (uint64_t)INT64_MAX &&
           len <= (uint64_t)INT64_MAX;
}

int disk_preadv(struct disk *d, const struct iovec *iov, int iovcnt, uint64_t offset)
{
    if (iovcnt < 0) return -EINVAL;
    if (!range_ok(d, offset, iov_total(iov, iovcnt))) return -EIO;
    return d->drv->preadv(d, iov, iovcnt, offset);
}

int disk_pwritev(struct disk *d, const struct iovec *iov, int iovcnt, uint64_t offset)
{
    if (d->readonly) return -EROFS;
    if (iovcnt < 0) return -EINVAL;
    if (!range_ok(d, offset, iov_total(iov, iovcnt))) return -EIO;
    return d->drv->pwritev(d, iov, iovcnt, offset);
}

int disk_flush(struct disk *d)
{
    if (d->readonly) return 0;
    return d->drv->flush(d);
}

int disk_discard(struct disk *d, uint64_t offset, uint64_t len)
{
    if (d->readonly) return -EROFS;
    if (!range_ok(d, offset, len)) return -EINVAL;
    if (len == 0) return 0;
    return d->drv->discard(d, offset, len);
}

int disk_write_zeroes(struct disk *d, uint64_t offset, uint64_t len)
{
    if (d->readonly) return -EROFS;
    if (!range_ok(d, offset, len)) return -EINVAL;
    if (len == 0) return 0;
    return d->drv->write_zeroes(d, offset, len);
}

int disk_file_limit(const char *path, uint64_t *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    struct stat st;
    uint8_t h[32];
    int r = 0;
    if (fstat(fd, &st) < 0) {
        r = -errno;
    } else {
        *out = (uint64_t)st.st_size;
        if (pread(fd, h, sizeof(h), 0) == (ssize_t)sizeof(h) && qcow2_probe(h, sizeof(h))) {
            uint64_t vsize;
            memcpy(&vsize, h + 24, 8);
            vsize = be64toh(vsize);
            if (vsize > (1ull << 60)) vsize = 1ull << 60; /* refused at open anyway */
            *out += 2 * vsize + (64ull << 20);
        }
    }
    close(fd);
    return r;
}

int disk_create(const char *path, enum disk_format fmt, uint64_t size, const char *backing,
                enum disk_format backing_fmt, char **err)
{
    if (err) *err = NULL;
    if (fmt == DISK_FORMAT_RAW) {
        if (backing) {
            disk_set_err(err, "disk %s: raw images have no backing file", path);
            return -1;
        }
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
            disk_set_err(err, "disk %s: cannot create: %s", path, strerror(errno));
            return -1;
        }
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        int r = 0;
        if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
            disk_set_err(err, "disk %s is in use by another process", path);
            r = -1;
        } else if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)size) < 0 || fsync(fd) < 0) {
            disk_set_err(err, "disk %s: cannot create: %s", path, strerror(errno));
            r = -1;
        }
        close(fd);
        return r;
    }
    if (fmt != DISK_FORMAT_QCOW2) {
        disk_set_err(err, "disk %s: unknown format", path);
        return -1;
    }
    if (backing) {
        /* The backing file must open as what we record, relative to the new image's directory. */
        char *full = disk_backing_path(path, backing);
        if (!full) {
            disk_set_err(err, "disk %s: out of memory", path);
            return -1;
        }
        struct disk_opts o = {.readonly = true, .cache = DISK_CACHE_WRITEBACK, .format = backing_fmt};
        char *berr = NULL;
        struct disk *b = disk_open_opts(full, &o, &berr);
        free(full);
        if (!b) {
            /* berr reads "disk BASE: why": say "backing file BASE: why", not "disk" twice. */
            disk_set_err(err, "disk %s: backing file %s", path,
                         berr ? (strncmp(berr, "disk ", 5) ? berr : berr + 5) : "cannot be opened");
            free(berr);
            return -1;
        }
        struct disk_info bi;
        disk_get_info(b, &bi);
        disk_close(b);
        if (!size) size = bi.size;
        backing_fmt = bi.format;
    }
    return qcow2_create(path, size, backing, backing ? disk_format_name(backing_fmt) : NULL, err);
}

char *disk_backing_path(const char *image, const char *name)
{
    if (name[0] == '/') return strdup(name);
    char *dup = strdup(image), *full = NULL;
    if (dup && asprintf(&full, "%s/%s", dirname(dup), name) < 0) full = NULL;
    free(dup);
    return full;
}

int disk_lock(struct disk *d, bool lock)
{
    return dfile_lock(&d->file, lock);
}

int disk_reload(struct disk *d, char **err)
{
    return d->drv->reload ? d->drv->reload(d, err) : 0;
}
