/*
 * The disks of restored VMs and clones (docs/snapshots.md "Clones and disks").
 *
 * A snapshot names its disk files; a VM restored from it writes them as a VM started with
 * them would. Clones cannot: they would all write one image (and its lock lets only the
 * first open it). So a clone writes a qcow2 overlay of its own over the snapshot's disk,
 * and a snapshot taken for clones of a VM that keeps running holds frozen copies of its
 * writable disks (DIR/disk<I>.img), taken while the VM was paused: the running VM goes
 * on writing its own image, the clones read the copies. Every restore from a snapshot
 * with copies writes an overlay, so the copies never change.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/disk.h"
#include "backend/qcow2.h"
#include "snapshot/snapshot.h"

void snapshot_frozen_disk(const char *dir, unsigned i, char *out, size_t len)
{
    snprintf(out, len, "%s/disk%u.img", dir, i);
}

/* Data ranges only (SEEK_DATA/SEEK_HOLE), in the kernel where it can: a sparse copy. */
static int copy_sparse(int in, int out, uint64_t size)
{
    if (ftruncate(out, (off_t)size) < 0)
        return -errno;
    off_t pos = 0;
    for (;;) {
        off_t data = lseek(in, pos, SEEK_DATA);
        if (data < 0)
            return errno == ENXIO ? 0 : -errno;
        off_t hole = lseek(in, data, SEEK_HOLE);
        if (hole < 0)
            return -errno;
        off_t from = data, to = data;
        while (from < hole) {
            ssize_t n = copy_file_range(in, &from, out, &to, (size_t)(hole - from), 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP)) {
                static char buf[1 << 16];
                size_t want = (size_t)(hole - from) < sizeof(buf) ? (size_t)(hole - from) : sizeof(buf);
                n = pread(in, buf, want, from);
                if (n > 0 && pwrite(out, buf, (size_t)n, to) != n)
                    return errno ? -errno : -EIO;
                if (n > 0) {
                    from += n;
                    to += n;
                }
            }
            if (n < 0)
                return -errno;
            if (n == 0)
                return -EIO; /* the file shrank under us */
        }
        pos = hole;
    }
}

void snapshot_unfreeze_disks(const char *dir)
{
    for (unsigned i = 0; i < SNAP_MAX_DISKS; i++) {
        char p[SNAP_PATH_MAX + 40];
        snapshot_frozen_disk(dir, i, p, sizeof(p));
        unlink(p);
        strcat(p, ".tmp");
        unlink(p);
    }
}

int snapshot_freeze_disks(const char *dir, const char *state_path, char *err, size_t errlen)
{
    static struct snap_machine m; /* large; one caller at a time (the daemon holds its lock) */
    if (snapshot_read_machine(state_path, &m, err, errlen))
        return -1;
    int ret = 0;
    for (unsigned i = 0; i < m.ndisks && !ret; i++) {
        const struct snap_disk *d = &m.disks[i];
        if (d->readonly)
            continue;
        char dst[SNAP_PATH_MAX + 32], tmp[SNAP_PATH_MAX + 40];
        snapshot_frozen_disk(dir, i, dst, sizeof(dst));
        snprintf(tmp, sizeof(tmp), "%s.tmp", dst);
        int in = open(d->path, O_RDONLY | O_CLOEXEC);
        int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        struct stat st;
        int e = in < 0 || out < 0 || fstat(in, &st) < 0 ? -errno : copy_sparse(in, out, (uint64_t)st.st_size);
        if (!e && fsync(out) < 0)
            e = -errno;
        if (in >= 0)
            close(in);
        if (out >= 0)
            close(out);
        if (e) {
            snprintf(err, errlen, "copying disk %s into the snapshot: %s", d->path, strerror(-e));
            ret = -1;
        } else {
            /* A qcow2 overlay's relative backing name resolved beside the original image. */
            char *why = NULL;
            if (qcow2_absolute_backing(tmp, d->path, &why) || rename(tmp, dst) < 0) {
                snprintf(err, errlen, "copying disk %s into the snapshot: %s", d->path,
                         why ? why : strerror(errno));
                ret = -1;
            }
            free(why);
        }
        if (ret)
            unlink(tmp);
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return ret;
}

int snapshot_disk_overlays(struct snap_restore *r, const char *dir, char *err, size_t errlen)
{
    for (unsigned i = 0; i < r->m.ndisks; i++) {
        struct snap_disk *d = &r->m.disks[i];
        if (d->readonly || (!r->clone && !r->disk_frozen[i]))
            continue;
        char path[SNAP_PATH_MAX], base[SNAP_PATH_MAX];
        if (!realpath(d->path, base)) {
            snprintf(err, errlen, "disk %s: %s", d->path, strerror(errno));
            return -1;
        }
        int fd = -1;
        if (dir) {
            snprintf(path, sizeof(path), "%s/clone-disk%u.qcow2", dir, i);
            struct stat st;
            if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) { /* never written through a link */
                snprintf(err, errlen, "disk overlay %s exists and is not a regular file", path);
                return -1;
            }
        } else {
            /* Temporary, as QEMU's -snapshot: unlinked once open, its writes gone at exit. */
            const char *tmpdir = getenv("TMPDIR");
            snprintf(path, sizeof(path), "%s/kiln-clone-disk%u-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/var/tmp", i);
            fd = mkostemp(path, O_CLOEXEC);
            if (fd < 0) {
                snprintf(err, errlen, "disk %s: cannot create its overlay %s: %s", d->path, path, strerror(errno));
                return -1;
            }
        }
        char *why = NULL;
        int e = disk_create(path, DISK_FORMAT_QCOW2, 0, base, DISK_FORMAT_AUTO, &why);
        if (fd >= 0)
            unlink(path);
        if (e) {
            /* The usual cause: the VM the snapshot was taken of still writes that disk. */
            bool busy = why && strstr(why, "in use by another process");
            snprintf(err, errlen, "%s%s", why ? why : "cannot create a disk overlay",
                     busy ? " (the restore reads the disk the snapshot names, under an overlay: stop the "
                            "VM that writes it, or take the snapshot with --disks)" : "");
            free(why);
            if (fd >= 0)
                close(fd);
            return -1;
        }
        if (fd >= 0) {
            /* The board opens it by this name; the descriptor keeps the file until exit. */
            r->overlay_fd[i] = fd;
            snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        }
        snprintf(d->path, sizeof(d->path), "%s", path);
        r->disk_overlay[i] = true;
    }
    return 0;
}
