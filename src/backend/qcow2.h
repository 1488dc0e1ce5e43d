/* qcow2 image format driver (qcow2.c); opened through disk_open(), created here. */
#ifndef KILN_BACKEND_QCOW2_H
#define KILN_BACKEND_QCOW2_H

#include <stddef.h>
#include <stdint.h>

/*
 * Writes a new, empty qcow2 v3 image of size bytes (64 KiB clusters, 16-bit
 * refcounts), over backing (stored as given, NULL for none) of format
 * backing_fmt (NULL: not recorded). 0 or -1 with *err set.
 */
int qcow2_create(const char *path, uint64_t size, const char *backing, const char *backing_fmt,
                 char **err);

struct disk;

/*
 * Writes the whole guest cluster at off (cluster-aligned; buf holds one cluster,
 * zero-padded past the disk's end) as a zlib compressed cluster (compression
 * type 0, raw deflate, as QEMU writes it), packed after the previous one. A
 * cluster that does not shrink, or that is allocated already, is written as a
 * normal cluster. 1 = stored compressed, 0 = stored normally, or -errno
 * (-EINVAL: not a qcow2 disk or a bad offset). Meant for writing a new image
 * (kiln img convert -c); a later guest write copies the cluster out (qcow2.c).
 */
int qcow2_write_compressed(struct disk *d, uint64_t off, const void *buf);
/*
 * The two halves of it, so callers can compress on several threads: qcow2_deflate
 * compresses one cluster of cs bytes into out (room for cs bytes) and returns the
 * length, or 0 when it would not shrink; it touches no image and is thread-safe.
 * qcow2_write_deflated stores cluster buf at off from its deflated form z/zlen
 * (zlen 0: buf is stored plainly); one thread per image.
 */
size_t qcow2_deflate(const void *in, size_t cs, void *out);
int qcow2_write_deflated(struct disk *d, uint64_t off, const void *buf, const void *z,
                         size_t zlen);
/*
 * A copy of an image moved to another directory (kiln migrate --copy-disks, snapshot
 * --disks): a relative backing file name, which resolves against the image's directory, is
 * rewritten in place as the absolute name it had beside origin, the path the image had. Raw files, qcow2 images without a backing
 * file or with an absolute name are left alone. The file must not be open elsewhere.
 * 0, or -1 with *err set.
 */
int qcow2_absolute_backing(const char *path, const char *origin, char **err);
/* The image's cluster size, 0 if d is not a qcow2 image. */
uint32_t qcow2_cluster_size(const struct disk *d);

#endif
