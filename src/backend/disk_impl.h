/*
 * Inside the disk backend: the block-driver interface that raw and qcow2
 * implement, and the host-file layer both sit on. Not for use outside
 * src/backend/ (devices see only disk.h).
 */
#ifndef KILN_BACKEND_DISK_IMPL_H
#define KILN_BACKEND_DISK_IMPL_H

#include <sys/types.h>

#include "backend/disk.h"

/* The host file under an image: locked, with the cache mode applied. */
struct disk_file {
    int fd;
    int fd_direct; /* -1 unless cache=none and O_DIRECT works here */
    bool readonly;
    enum disk_cache cache;
    uint64_t size; /* at open; drivers that append keep their own end */
    dev_t dev;
    ino_t ino;
};

/* lock false: no lock yet (a migration's destination takes it later, disk_lock). */
int dfile_open(struct disk_file *f, const char *path, bool readonly, enum disk_cache cache, bool lock,
               char **err);
void dfile_close(struct disk_file *f);
/* Takes (0 or -EAGAIN if held elsewhere) or drops the lock of the open file. */
int dfile_lock(struct disk_file *f, bool lock);
/* Whole transfers or -errno. zero_eof: a read past the end of the file reads zeroes. */
int dfile_preadv(struct disk_file *f, const struct iovec *iov, int n, uint64_t off, bool zero_eof);
int dfile_pwritev(struct disk_file *f, const struct iovec *iov, int n, uint64_t off);
int dfile_pread(struct disk_file *f, void *buf, size_t len, uint64_t off, bool zero_eof);
int dfile_pwrite(struct disk_file *f, const void *buf, size_t len, uint64_t off);
/* fdatasync, a no-op for cache=unsafe. */
int dfile_sync(struct disk_file *f);
/* Deallocates the range; -EOPNOTSUPP where the file system cannot. */
int dfile_punch(struct disk_file *f, uint64_t off, uint64_t len);
/* Makes the range read as zeroes: punch, zero-range, or written zeroes. */
int dfile_zero(struct disk_file *f, uint64_t off, uint64_t len);

struct disk;

/* One per image format. Offsets are guest bytes, ranges already checked against size. */
struct disk_driver {
    const char *name;
    int (*preadv)(struct disk *d, const struct iovec *iov, int n, uint64_t off);
    int (*pwritev)(struct disk *d, const struct iovec *iov, int n, uint64_t off);
    int (*flush)(struct disk *d);
    int (*discard)(struct disk *d, uint64_t off, uint64_t len);
    int (*write_zeroes)(struct disk *d, uint64_t off, uint64_t len);
    void (*info)(struct disk *d, struct disk_info *out);
    void (*close)(struct disk *d);
    /* Re-reads what another process may have changed (disk_reload); NULL: nothing cached. */
    int (*reload)(struct disk *d, char **err);
};

/* Loop detection in backing chains: the files already open below the top image. */
#define DISK_MAX_CHAIN 16
struct disk_chain {
    unsigned n;
    dev_t dev[DISK_MAX_CHAIN];
    ino_t ino[DISK_MAX_CHAIN];
};

struct disk {
    const struct disk_driver *drv;
    void *priv;
    struct disk_file file;
    uint64_t size; /* guest-visible bytes */
    bool readonly;
    bool probed_raw; /* raw by probing, not by the user's word: sector 0 is guarded */
    bool warned_probe;
    char *path;
};

void disk_set_err(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Where the backing file name stored in the image at `image` points: an absolute name as it
 * is, a relative one in the image's directory (as QEMU reads them). malloc'd; NULL: no memory. */
char *disk_backing_path(const char *image, const char *name);

/* Opens path as one link of a chain (backing files recurse through here). */
struct disk *disk_open_chain(const char *path, const struct disk_opts *o, struct disk_chain *chain,
                             char **err);

/* Format openers: fill d->drv, d->priv, d->size. 0 or -1 with *err set. */
int raw_attach(struct disk *d, char **err);
int qcow2_attach(struct disk *d, const struct disk_opts *o, struct disk_chain *chain, char **err);
/* Does this first sector look like a qcow2 header? */
bool qcow2_probe(const uint8_t *buf, size_t len);

/* Copies len bytes starting skip bytes into iov into dst[]; returns the count or -EINVAL. */
int iov_slice(const struct iovec *iov, int n, uint64_t skip, uint64_t len, struct iovec *dst,
              int max);
void iov_memset(const struct iovec *iov, int n, int c);
void iov_to_buf(const struct iovec *iov, int n, void *buf);
void iov_from_buf(const struct iovec *iov, int n, const void *buf);

#endif
