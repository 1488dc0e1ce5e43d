/*
 * Raw disk image backend: a host file (or block device) read and written at
 * byte offsets. Synchronous: callers run it off the vCPU threads (virtio-blk
 * has a worker thread per disk).
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
#include <sys/uio.h>

enum disk_cache {
    DISK_CACHE_WRITEBACK, /* host page cache; flush = fdatasync (the default) */
    DISK_CACHE_NONE,      /* O_DIRECT where the file system allows it; flush = fdatasync */
    DISK_CACHE_UNSAFE,    /* host page cache, flush is a no-op: fast, loses data on host crash */
};

struct disk;

/* "writeback", "none", "unsafe" -> 0, anything else -> -EINVAL. */
int disk_cache_parse(const char *s, enum disk_cache *out);
const char *disk_cache_name(enum disk_cache c);

/*
 * Opens and locks path. On failure returns NULL and, if err is not NULL, sets
 * *err to a malloc'd one-line message for the user (caller frees), e.g.
 * "disk foo.img is in use by another process".
 */
struct disk *disk_open(const char *path, bool readonly, enum disk_cache cache, char **err);
void disk_close(struct disk *d);

uint64_t disk_size(const struct disk *d); /* bytes */
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
