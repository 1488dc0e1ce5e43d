/*
 * Split virtqueue, device side (virtio 1.2 §2.7). One helper for every device:
 * pop a descriptor chain into validated host segments, copy in/out of it, push
 * the used element, decide whether the driver wants an interrupt.
 *
 * Everything the ring holds is guest-controlled and may change under our feet
 * (guest harts run on other host threads): each field is read once into a
 * local, every buffer is translated with gmem_ptr() over its whole length, and
 * a malformed chain is reported as an error (the transport then sets
 * DEVICE_NEEDS_RESET) — never an assert.
 *
 * Threading: one thread at a time owns a queue (pop/push/should_notify). The
 * transport hands it to the device at DRIVER_OK and takes it back at reset.
 */
#ifndef KILN_VIRTIO_VIRTQ_H
#define KILN_VIRTIO_VIRTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct vm;

/* virtio 1.2 §2.7.5 */
#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
/* virtio 1.2 §2.7.6, §2.7.8 */
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY 1

/* virtio 1.2 §2.7: split queue sizes are powers of two up to 32768. */
#define VIRTQ_MAX_SIZE 32768u
/* Segments one chain may carry (also Linux's IOV_MAX, so a chain fits one preadv). */
#define VIRTQ_MAX_SEGS 1024u

struct virtq_seg {
    uint8_t *base; /* host pointer, valid for len bytes (checked by gmem_ptr) */
    uint32_t len;  /* never 0: zero-length descriptors are dropped */
    bool writable;
};

/* A popped chain: readable segments [0, nread), writable ones [nread, nseg). */
struct virtq_chain {
    uint16_t head;
    unsigned nseg;
    unsigned nread;
    uint64_t read_len;  /* total bytes of the readable part */
    uint64_t write_len; /* total bytes of the writable part */
    struct virtq_seg seg[VIRTQ_MAX_SEGS];
};

struct virtq {
    struct vm *vm;
    uint16_t num; /* queue size; 0 = not configured */
    bool ready;
    bool event_idx;             /* VIRTIO_F_EVENT_IDX negotiated */
    bool indirect;              /* VIRTIO_F_INDIRECT_DESC negotiated */
    uint64_t desc, avail, used; /* guest physical addresses */

    uint16_t last_avail_idx; /* next avail entry to pop */
    uint16_t used_idx;       /* next used entry to fill (shadow of used->idx) */
    uint16_t signalled_used; /* used_idx at the last notification decision */
    bool signalled_valid;

    bool broken;       /* a malformed chain was seen: nothing more until reset */
    const char *error; /* why, for the single log line */
};

void virtq_init(struct virtq *q, struct vm *vm);
/* Back to the reset state (virtio 1.2 §2.4): unconfigured, not ready, indices 0. */
void virtq_reset(struct virtq *q);

/* True if n is a valid split queue size (virtio 1.2 §2.7). */
bool virtq_size_valid(unsigned n);
/* Ring placement check: all three areas inside RAM and aligned (virtio 1.2 §2.7 table). 0 or
 * -EINVAL. */
int virtq_check_rings(const struct virtq *q);

/*
 * Pops the next available chain. Returns 1 with *chain filled, 0 if the queue is
 * empty (or not ready), a negative errno if the driver broke the ring; then
 * q->error says why and the queue stays broken until virtq_reset().
 */
int virtq_pop(struct virtq *q, struct virtq_chain *chain);

/* A device found a chain it cannot make sense of: stop using the queue until reset. */
void virtq_mark_broken(struct virtq *q, const char *why);

/* Copy from the readable part / into the writable part at offset. Return bytes copied. */
size_t virtq_chain_read(const struct virtq_chain *c, uint64_t offset, void *dst, size_t len);
size_t virtq_chain_write(const struct virtq_chain *c, uint64_t offset, const void *src, size_t len);

/*
 * Fill iov[] with the part [offset, offset+len) of the readable (writable=false)
 * or writable part of the chain, for zero-copy preadv/pwritev. Returns the
 * number of iovecs, or -EINVAL if the range is not wholly inside that part or
 * needs more than max iovecs.
 */
int virtq_chain_iov(const struct virtq_chain *c, bool writable, uint64_t offset, uint64_t len,
                    struct iovec *iov, unsigned max);

/* Return the chain to the driver; written = bytes the device wrote (clamped). 0 or -EFAULT. */
int virtq_push(struct virtq *q, const struct virtq_chain *chain, uint32_t written);

/* After one or more pushes: does the driver want a used-buffer interrupt (§2.7.7, §2.7.10)? */
bool virtq_should_notify(struct virtq *q);

#endif
