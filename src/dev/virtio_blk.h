/*
 * virtio-blk (virtio 1.2 §5.2) on the virtio-mmio transport, backed by a raw
 * disk image. Requests run on one worker thread per disk, never on a hart.
 */
#ifndef KILN_DEV_VIRTIO_BLK_H
#define KILN_DEV_VIRTIO_BLK_H

#include <stdint.h>

struct vm;
struct disk;
struct virtio_blk;
struct virtio_mmio;

/* Feature bits (virtio 1.2 §5.2.3). */
#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types and status values (virtio 1.2 §5.2.6). */
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_ID_BYTES 20
#define VIRTIO_BLK_QUEUE_SIZE 256
#define VIRTIO_BLK_SEG_MAX (VIRTIO_BLK_QUEUE_SIZE - 2) /* data segments; + header + status */
#define VIRTIO_BLK_MAX_DISCARD_SEG 32
#define VIRTIO_BLK_MAX_DISCARD_SECTORS 0x400000u /* 2 GiB per segment */

/* Config space offsets (virtio 1.2 §5.2.4, struct virtio_blk_config). */
#define VIRTIO_BLK_CFG_CAPACITY 0
#define VIRTIO_BLK_CFG_SEG_MAX 12
#define VIRTIO_BLK_CFG_BLK_SIZE 20
#define VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS 36
#define VIRTIO_BLK_CFG_MAX_DISCARD_SEG 40
#define VIRTIO_BLK_CFG_DISCARD_ALIGN 44
#define VIRTIO_BLK_CFG_MAX_WZ_SECTORS 48
#define VIRTIO_BLK_CFG_MAX_WZ_SEG 52
#define VIRTIO_BLK_CFG_WZ_MAY_UNMAP 56
#define VIRTIO_BLK_CFG_SIZE 60

/*
 * Maps a virtio-blk device at base (one virtio-mmio slot) on PLIC source irq
 * and starts its worker. The disk stays owned by the caller and must outlive
 * the device. NULL on failure (logged).
 */
struct virtio_blk *virtio_blk_create(struct vm *vm, uint64_t base, unsigned irq, struct disk *disk);
/* Stops the worker and frees the device (and its transport). Only while no hart runs. */
void virtio_blk_destroy(struct virtio_blk *b);
/* GET_ID string (NUL-padded to 20 bytes, truncated beyond). Default: the image's file name. */
void virtio_blk_set_serial(struct virtio_blk *b, const char *serial);
struct virtio_mmio *virtio_blk_transport(struct virtio_blk *b);
struct virtio_blk_stats {
    uint64_t reads, writes, flushes; /* requests by type */
    uint64_t read_bytes, write_bytes; /* data moved by successful reads and writes */
    uint64_t errors;                  /* requests answered with a status other than OK */
    uint64_t throttled;               /* requests that had to wait for a limit */
    uint64_t bps_limit, iops_limit;   /* current limits; 0 = unlimited */
};

/*
 * Limits the disk to bps bytes/s and iops requests/s (0 = unlimited), each
 * with a one-second burst. Any thread, any time; a throttled request looks at
 * the new limits at once.
 */
void virtio_blk_set_limits(struct virtio_blk *b, uint64_t bps, uint64_t iops);
void virtio_blk_get_stats(struct virtio_blk *b, struct virtio_blk_stats *out);
/* Tests and fuzzers: wait until the worker has handled every kick made so far. */
void virtio_blk_wait_idle(struct virtio_blk *b);


/* Snapshots (docs/snapshots.md): transport and device state; load checks first, -EINVAL applies nothing. */
struct snap_w;
struct snap_rd;
void virtio_blk_save(struct virtio_blk *b, struct snap_w *w);
int virtio_blk_load(struct virtio_blk *b, struct snap_rd *r);
#endif
