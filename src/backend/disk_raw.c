/*
 * raw: the guest's disk is the host file byte for byte.
 *
 * A raw image that was probed (the user did not say format=raw) is guarded:
 * the guest may not write a qcow2 header into sector 0, or the next probe
 * would read the guest's bytes as metadata and open any host file the guest
 * names as a backing file (the hole QEMU closes the same way).
 */
#include <errno.h>
#include <string.h>

#include "backend/disk_impl.h"
#include "util/log.h"

/* A 512-byte head has at most 512 non-empty segments. */
#define IOV_MAX_GUARD 512

static int raw_preadv(struct disk *d, const struct iovec *iov, int n, uint64_t off)
{
    return dfile_preadv(&d->file, iov, n, off, false);
}

static int raw_pwritev(struct disk *d, const struct iovec *iov, int n, uint64_t off)
{
    if (d->probed_raw && off < 512) {
        uint8_t head[512] = {0};
        struct iovec part[IOV_MAX_GUARD];
        uint64_t len = 512 - off;
        uint64_t total = 0;
        for (int i = 0; i < n; i++)
            total += iov[i].iov_len;
        if (len > total) len = total;
        int k = iov_slice(iov, n, 0, len, part, IOV_MAX_GUARD);
        if (k < 0) return -EINVAL;
        /* What sector 0 would hold: the old bytes around the new ones. */
        int r = dfile_pread(&d->file, head, sizeof(head), 0, true);
        if (r < 0) return r;
        iov_to_buf(part, k, head + off);
        if (qcow2_probe(head, sizeof(head))) {
            if (!d->warned_probe)
                log_warn("disk",
                         "%s: the guest tried to write an image header into sector 0 of a "
                         "probed raw image; refused (say format=raw to allow it)",
                         d->path);
            d->warned_probe = true;
            return -EPERM;
        }
    }
    return dfile_pwritev(&d->file, iov, n, off);
}

static int raw_flush(struct disk *d)
{
    return dfile_sync(&d->file);
}

static int raw_discard(struct disk *d, uint64_t off, uint64_t len)
{
    int r = dfile_punch(&d->file, off, len);
    /* Discard is a hint (virtio 1.2 §5.2.6.2 "MAY deallocate"): no hole support is fine. */
    return r == -EOPNOTSUPP ? 0 : r;
}

static int raw_write_zeroes(struct disk *d, uint64_t off, uint64_t len)
{
    return dfile_zero(&d->file, off, len);
}

static void raw_info(struct disk *d, struct disk_info *out)
{
    out->format = DISK_FORMAT_RAW;
}

static void raw_close(struct disk *d)
{
}

static const struct disk_driver raw_driver = {
    .name = "raw",
    .preadv = raw_preadv,
    .pwritev = raw_pwritev,
    .flush = raw_flush,
    .discard = raw_discard,
    .write_zeroes = raw_write_zeroes,
    .info = raw_info,
    .close = raw_close,
};

int raw_attach(struct disk *d, char **err)
{
    d->drv = &raw_driver;
    d->size = d->file.size;
    if (d->size % 512)
        log_warn("disk", "%s: size is not a multiple of 512; the last %llu bytes are not visible",
                 d->path, (unsigned long long)(d->size % 512));
    return 0;
}
