/*
 * virtio-9p, the "9P transport" device (virtio 1.2 §5.x device ID 9): a host
 * directory served with 9P2000.L (src/backend/p9fs.c) to Linux's v9fs,
 * `mount -t 9p -o trans=virtio,version=9p2000.L TAG /mnt`. One request
 * queue; requests run on one worker thread per device, never on a hart.
 */
#ifndef KILN_DEV_VIRTIO_9P_H
#define KILN_DEV_VIRTIO_9P_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct p9fs;
struct virtio_9p;
struct virtio_mmio;

#define VIRTIO_9P_DEVICE_ID 9
#define VIRTIO_9P_MOUNT_TAG 0 /* feature bit: the mount tag is in config space */
#define VIRTIO_9P_TAG_MAX 31  /* QEMU's limit too; Linux takes any tag_len */
#define VIRTIO_9P_QUEUE_SIZE 128

/*
 * Parses a --share argument "HOST_DIR:TAG[:ro]" (the last ':' before an
 * optional ":ro"/":rw" splits directory and tag, so the directory may hold
 * colons). TAG: 1..31 of [A-Za-z0-9_.-]. 0, or -1 with a message in err.
 */
int virtio_9p_parse_share(const char *spec, char *dir, size_t dirlen, char *tag, size_t taglen,
                          bool *ro, char *err, size_t errlen);

/*
 * Maps a virtio-9p device at base on PLIC source irq serving fs under tag and
 * starts its worker. fs stays the caller's and must outlive the device. NULL
 * on failure (logged).
 */
struct virtio_9p *virtio_9p_create(struct vm *vm, uint64_t base, unsigned irq, struct p9fs *fs,
                                   const char *tag);
/* Stops the worker and frees the device (and its transport). Only while no hart runs. */
void virtio_9p_destroy(struct virtio_9p *d);
struct virtio_mmio *virtio_9p_transport(struct virtio_9p *d);
/* The 9P server behind the device (snapshots: src/snapshot/dev_9p.c). */
struct p9fs *virtio_9p_fs(struct virtio_9p *d);
/* Tests and fuzzers: wait until the worker has handled every kick made so far. */
void virtio_9p_wait_idle(struct virtio_9p *d);

#endif
