/*
 * Disk image backend: a host file (or block device) holding a raw or qcow2
 * image, read and written at guest byte offsets. The format is a driver
 * behind one function table (disk_impl.h; disk_raw.c, qcow2.c), so devices
 * never know it. Synchronous and single-threaded per disk: callers run it off
 * the vCPU threads (virtio-blk has a worker thread per disk).
 *
 * Locking: the image is locked for the life of the struct disk with an OFD
 * lock (fcntl F_OFD_SETLK; flock() where OFD locks are missing), a write lock
 * when read-write and a read lock when read-only, so two kiln processes can
 * share a read-only image but never write the same one.
 */
#ifndef KILN_BACKEND_DISK_H
#define KILN_BACKEND_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/uio.h>

enum disk_cache {
    DISK_CACHE_WRITEBACK, /* host page cache; flush = fdatasync (the default) */
    DISK_CACHE_NONE,      /* O_DIRECT where the file system allows it; flush = fdatasync */
    DISK_CACHE_UNSAFE,    /* host page cache, flush is a no-op: fast, loses data on host crash */
};

enum disk_format {
    DISK_FORMAT_AUTO, /* probe: qcow2 by its magic, else raw (sector 0 then guarded) */
    DISK_FORMAT_RAW,
    DISK_FORMAT_QCOW2,
};

struct disk;

struct disk_opts {
    bool readonly;
    enum disk_cache cache;
    enum disk_format format;
    bool no_backing; /* qcow2: do not open the backing file (kiln img info) */
    bool defer_lock; /* open the top image without its lock: disk_lock takes it later */
};

/* What `kiln img info` shows. */
struct disk_info {
    enum disk_format format;
    uint64_t size;       /* virtual bytes */
    uint64_t file_bytes; /* host bytes allocated */
    uint32_t cluster_size;
    int version;        /* qcow2 2 or 3 */
    int refcount_bits;
    bool dirty, corrupt, lazy_refcounts;
    char backing[1024];     /* as stored; "" for none */
    char backing_fmt[32];   /* as stored; "" when the image does not say */
};

/* "raw", "qcow2" (and "auto" when allow_auto) -> 0, else -EINVAL. */
int disk_format_parse(const char *s, enum disk_format *out);
const char *disk_format_name(enum disk_format f);

/* "writeback", "none", "unsafe" -> 0, anything else -> -EINVAL. */
int disk_cache_parse(const char *s, enum disk_cache *out);
const char *disk_cache_name(enum disk_cache c);

/*
 * Opens and locks path. On failure returns NULL and, if err is not NULL, sets
 * *err to a malloc'd one-line message for the user (caller frees), e.g.
 * "disk foo.img is in use by another process".
 */
struct disk *disk_open(const char *path, bool readonly, enum disk_cache cache, char **err);
/* Same, with an explicit format (or AUTO) and the other options. */
struct disk *disk_open_opts(const char *path, const struct disk_opts *o, char **err);
void disk_close(struct disk *d);
/*
 * Live migration hands the top image's lock from the source process to the
 * destination at the pause (docs/migration.md): take (lock true) or drop it.
 * 0, -EAGAIN when another process holds it, or -errno.
 */
int disk_lock(struct disk *d, bool lock);
/*
 * After disk_lock took the lock from another process that wrote the image: forgets what was
 * read of the format's metadata (qcow2 tables, caches, the file's end) and reads it again.
 * Raw images cache nothing. 0, or -1 with *err set (a malloc'd message) and the old state kept.
 */
int disk_reload(struct disk *d, char **err);
void disk_get_info(struct disk *d, struct disk_info *out);

/*
 * How large the host file of the image at path may grow while a VM writes it,
 * for a file-size rlimit: a raw file keeps its size; a qcow2 file appends
 * clusters, up to its virtual size plus metadata and clusters leaked by
 * crashes or given back by rewrites, bounded here by twice the virtual size
 * plus 64 MiB more than it has now. 0, or -errno if the file cannot be read.
 */
int disk_file_limit(const char *path, uint64_t *out);

/*
 * Creates an image (kiln img create): raw is a sparse file of size bytes;
 * qcow2 is version 3, 64 KiB clusters, 16-bit refcounts, optionally over a
 * backing file (size 0 = the backing file's size). An existing file is
 * overwritten unless another process has it open. 0 or -1 with *err set.
 */
int disk_create(const char *path, enum disk_format fmt, uint64_t size, const char *backing,
                enum disk_format backing_fmt, char **err);

uint64_t disk_size(const struct disk *d); /* bytes */
/* fstat(2) of the host file (works in the jail, where the path does not exist). 0 or -errno. */
int disk_host_stat(const struct disk *d, struct stat *st);
bool disk_readonly(const struct disk *d);
const char *disk_path(const struct disk *d);

/* Whole transfers or an error: 0 or -errno. Reads past the end of the image fail with -EIO. */
int disk_preadv(struct disk *d, const struct iovec *iov, int iovcnt, uint64_t offset);
int disk_pwritev(struct disk *d, const struct iovec *iov, int iovcnt, uint64_t offset);
int disk_flush(struct disk *d);
/* Deallocate a range (advisory: succeeds as a no-op where holes are unsupported). */
int disk_discard(struct disk *d, uint64_t offset, uint64_t len);
/* Make a range read back as zeroes, deallocating it where the file system can. */
int disk_write_zeroes(struct disk *d, uint64_t offset, uint64_t len);

#endif
