/*
 * libFuzzer target for the qcow2 driver: any byte string, put in a memfd and
 * opened as a qcow2 image, must be refused with a one-line message or read and
 * written without a crash, a leak or an access outside the driver's buffers.
 *
 * Input: byte 0 selects the mode (bit 0: read-write, bit 1: open backing
 * files, which may name the memfd itself through /proc/self/fd, bit 2: reload
 * the metadata halfway as a migration's destination does, bit 3: rewrite a
 * relative backing name as --copy-disks does, on a file copy), the rest is
 * the image. Good seeds are small-cluster images (docs/disk-images.md):
 *   qemu-img create -f qcow2 -o cluster_size=512 s.qcow2 1M; qemu-io -c 'write 0 4k' s.qcow2
 * and prefix one mode byte. Hostile images log one "qcow2: ... corrupt" line
 * each: run with -close_fd_mask=2 (or 2>/dev/null).
 */
#define _GNU_SOURCE /* memfd_create */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backend/disk.h"
#include "backend/qcow2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t mode = data[0];
    int fd = memfd_create("fuzz-qcow2", MFD_CLOEXEC);
    if (fd < 0) abort();
    if (size > 1 && write(fd, data + 1, size - 1) != (ssize_t)(size - 1)) abort();
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    if (mode & 8) {
        char tmp[] = "/tmp/fuzz-qcow2-XXXXXX";
        int t = mkstemp(tmp);
        if (t < 0) abort();
        if (size > 1 && write(t, data + 1, size - 1) != (ssize_t)(size - 1)) abort();
        close(t);
        char *why = NULL;
        if (qcow2_absolute_backing(tmp, "/nonexistent/dir/image", &why) && (!why || strchr(why, '\n'))) abort();
        free(why);
        unlink(tmp);
    }
    struct disk_opts o = {.readonly = !(mode & 1),
                          .cache = DISK_CACHE_UNSAFE,
                          .format = DISK_FORMAT_QCOW2,
                          .no_backing = !(mode & 2)};
    char *err = NULL;
    struct disk *d = disk_open_opts(path, &o, &err);
    if (!d) {
        if (!err || !err[0] || strchr(err, '\n')) abort(); /* every refusal explains itself */
        free(err);
        close(fd);
        return 0;
    }
    free(err);
    uint64_t dsize = disk_size(d);
    uint64_t seed = 0x9e3779b97f4a7c15ull ^ size;
    for (size_t i = 0; i < size && i < 64; i++)
        seed = seed * 31 + data[i];
    if (!seed) seed = 1;
    static uint8_t buf[3 * 65536];
    for (int op = 0; op < 24 && dsize; op++) {
        uint64_t r = next(&seed);
        /* Offsets near the start, near cluster edges, and anywhere. */
        uint64_t off = (r >> 8) % (op & 1 ? dsize : (dsize < (1 << 20) ? dsize : (1 << 20)));
        uint64_t len = 1 + (next(&seed) % sizeof(buf));
        if (len > dsize - off) len = dsize - off;
        struct iovec iov[2] = {{buf, len / 2}, {buf + len / 2, len - len / 2}};
        switch (r % 6) {
        case 0:
        case 1:
            disk_preadv(d, iov, 2, off);
            break;
        case 2:
            memset(buf, (int)op, len);
            disk_pwritev(d, iov, 2, off);
            break;
        case 3:
            disk_write_zeroes(d, off, len);
            break;
        case 4:
            disk_discard(d, off, len);
            break;
        case 5:
            disk_flush(d);
            break;
        }
        if (op == 12 && (mode & 4)) {
            char *why = NULL;
            disk_flush(d);
            if (disk_reload(d, &why) && (!why || strchr(why, '\n'))) abort();
            free(why);
        }
    }
    disk_close(d);
    close(fd);
    return 0;
}
