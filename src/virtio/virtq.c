/*
 * Split virtqueue, device side (virtio 1.2 §2.7). See virtq.h for the rules.
 *
 * Ring layout (virtio 1.2 §2.7.5, §2.7.6, §2.7.8), sizes for queue size N:
 *   descriptor table  16*N bytes, 16-byte aligned
 *   available ring    flags, idx, ring[N], used_event   = 6 + 2*N, 2-byte aligned
 *   used ring         flags, idx, ring[N]{id,len}, avail_event = 6 + 8*N, 4-byte aligned
 * The event fields are always part of the checked size, as every driver
 * allocates them whether or not VIRTIO_F_EVENT_IDX is negotiated.
 */
#include "virtio/virtq.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

#include "machine/gmem.h"

struct vdesc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

static uint64_t avail_size(unsigned num)
{
    return 6 + 2ull * num;
}

static uint64_t used_size(unsigned num)
{
    return 6 + 8ull * num;
}

/* Ring index fields are shared with guest harts on other threads: single loads, acquire on idx. */
static uint16_t load16(const uint8_t *p, int order)
{
    return le16toh(__atomic_load_n((const uint16_t *)p, order));
}

static void store16(uint8_t *p, uint16_t v, int order)
{
    __atomic_store_n((uint16_t *)p, htole16(v), order);
}

/* One load of a layout field, which the compiler may not repeat (see virtq_pop). */
static uint16_t snap16(const uint16_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static uint64_t snap64(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

void virtq_init(struct virtq *q, struct vm *vm)
{
    memset(q, 0, sizeof(*q));
    q->vm = vm;
}

void virtq_reset(struct virtq *q)
{
    virtq_init(q, q->vm);
}

bool virtq_size_valid(unsigned n)
{
    return n >= 1 && n <= VIRTQ_MAX_SIZE && (n & (n - 1)) == 0;
}

int virtq_check_rings(const struct virtq *q)
{
    if (!virtq_size_valid(q->num)) return -EINVAL;
    /* Alignment: virtio 1.2 §2.7 "Alignment requirements"; also what makes our atomics legal. */
    if ((q->desc & 15) || (q->avail & 1) || (q->used & 3)) return -EINVAL;
    if (!gmem_ptr(q->vm, q->desc, 16ull * q->num) ||
        !gmem_ptr(q->vm, q->avail, avail_size(q->num)) ||
        !gmem_ptr(q->vm, q->used, used_size(q->num)))
        return -EINVAL;
    return 0;
}

static int fail(struct virtq *q, const char *why)
{
    q->broken = true;
    q->error = why;
    return -EINVAL;
}

void virtq_mark_broken(struct virtq *q, const char *why)
{
    fail(q, why);
}

static void read_desc(const uint8_t *table, uint32_t i, struct vdesc *d)
{
    uint8_t raw[16];
    /* One copy: the driver may rewrite the descriptor while we look at it. */
    memcpy(raw, table + 16ull * i, sizeof(raw));
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
    memcpy(&addr, raw, 8);
    memcpy(&len, raw + 8, 4);
    memcpy(&flags, raw + 12, 2);
    memcpy(&next, raw + 14, 2);
    d->addr = le64toh(addr);
    d->len = le32toh(len);
    d->flags = le16toh(flags);
    d->next = le16toh(next);
}

/* Walks the chain starting at head (virtio 1.2 §2.7.5, §2.7.5.3 indirect descriptors). */
static int walk_chain(struct virtq *q, uint64_t desc, uint32_t num, uint16_t head,
                      struct virtq_chain *c)
{
    const uint8_t *table = gmem_ptr(q->vm, desc, 16ull * num);
    uint32_t table_n = num;
    bool in_indirect = false;
    uint32_t i = head;
    uint32_t hops = 0;

    c->head = head;
    c->nseg = 0;
    c->nread = 0;
    c->read_len = 0;
    c->write_len = 0;
    if (!table) return fail(q, "descriptor table outside guest RAM");

    for (;;) {
        if (i >= table_n) return fail(q, "descriptor index out of range");
        /*
         * Without a loop a chain visits each table entry at most once, so more
         * hops than entries is a loop. For the ring's table this is exactly
         * §2.7.5.3.1 "no chain longer than the Queue Size"; an indirect table
         * may be longer (Linux sizes them by seg_max), bounded by its own length.
         */
        if (++hops > table_n) return fail(q, "descriptor chain loops");
        struct vdesc d;
        read_desc(table, i, &d);

        if (d.flags & VIRTQ_DESC_F_INDIRECT) {
            /* §2.7.5.3.1 driver requirements, enforced device-side. */
            if (!q->indirect) return fail(q, "indirect descriptor without VIRTIO_F_INDIRECT_DESC");
            if (in_indirect) return fail(q, "nested indirect descriptor");
            if (d.flags & VIRTQ_DESC_F_NEXT) return fail(q, "indirect descriptor with NEXT set");
            if (d.len == 0 || d.len % 16 != 0 || d.len / 16 > VIRTQ_MAX_SIZE)
                return fail(q, "bad indirect table length");
            table = gmem_ptr(q->vm, d.addr, d.len);
            if (!table) return fail(q, "indirect table outside guest RAM");
            /* The WRITE flag of the descriptor naming the table is ignored (§2.7.5.3.2). */
            table_n = d.len / 16;
            in_indirect = true;
            i = 0;
            hops = 0;
            continue;
        }

        /* Zero-length buffers are legal and carry nothing: drop them without touching addr. */
        if (d.len != 0) {
            bool w = d.flags & VIRTQ_DESC_F_WRITE;
            if (!w && c->nseg > c->nread)
                return fail(q, "readable descriptor after a writable one");
            if (c->nseg >= VIRTQ_MAX_SEGS) return fail(q, "too many segments in chain");
            uint8_t *p = gmem_ptr(q->vm, d.addr, d.len);
            if (!p) return fail(q, "buffer outside guest RAM");
            c->seg[c->nseg++] = (struct virtq_seg){p, d.len, w};
            if (w) {
                c->write_len += d.len;
            } else {
                c->nread++;
                c->read_len += d.len;
            }
        }
        if (!(d.flags & VIRTQ_DESC_F_NEXT)) return 0;
        i = d.next;
    }
}

/*
 * The queue's layout (num, desc, avail, used) is read once per call into
 * locals and everything is checked and computed from those: a transport that
 * let a register write through while another thread pops could otherwise
 * make us validate one size and index with another. ready is published with
 * a release store once the layout is final (see virtio/mmio.c).
 */
int virtq_pop(struct virtq *q, struct virtq_chain *c)
{
    if (!__atomic_load_n(&q->ready, __ATOMIC_ACQUIRE)) return 0;
    const uint16_t num = snap16(&q->num);
    const uint64_t desc = snap64(&q->desc), avail_gpa = snap64(&q->avail), used_gpa = snap64(&q->used);
    if (!virtq_size_valid(num)) return 0;
    if (q->broken) return -EINVAL;
    if (avail_gpa & 1) return fail(q, "available ring misaligned");
    uint8_t *avail = gmem_ptr(q->vm, avail_gpa, avail_size(num));
    if (!avail) return fail(q, "available ring outside guest RAM");

    /* Acquire: the ring entry and descriptors the driver wrote before idx must be visible. */
    uint16_t aidx = load16(avail + 2, __ATOMIC_ACQUIRE);
    if (aidx == q->last_avail_idx) {
        if (!q->event_idx) return 0;
        /*
         * §2.7.10: tell the driver to notify us once it adds past what we have
         * consumed, then look again: a buffer added before the driver saw the
         * new avail_event would otherwise never be kicked.
         */
        if (used_gpa & 3) return fail(q, "used ring misaligned");
        uint8_t *used = gmem_ptr(q->vm, used_gpa, used_size(num));
        if (!used) return fail(q, "used ring outside guest RAM");
        store16(used + 4 + 8ull * num, q->last_avail_idx, __ATOMIC_RELAXED);
        gmem_dirty(q->vm, used + 4 + 8ull * num, 2);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        aidx = load16(avail + 2, __ATOMIC_ACQUIRE);
        if (aidx == q->last_avail_idx) return 0;
    }
    /* The driver can never have more than num buffers outstanding (§2.7.6). */
    if ((uint16_t)(aidx - q->last_avail_idx) > num)
        return fail(q, "available index moved by more than the queue size");

    uint16_t slot = q->last_avail_idx & (num - 1);
    uint16_t head = load16(avail + 4 + 2ull * slot, __ATOMIC_RELAXED);
    int r = walk_chain(q, desc, num, head, c);
    if (r < 0) return r;
    q->last_avail_idx++;
    return 1;
}

size_t virtq_chain_read(const struct virtq_chain *c, uint64_t offset, void *dst, size_t len)
{
    uint8_t *out = dst;
    size_t done = 0;
    for (unsigned i = 0; i < c->nread && done < len; i++) {
        const struct virtq_seg *s = &c->seg[i];
        if (offset >= s->len) {
            offset -= s->len;
            continue;
        }
        size_t n = s->len - offset;
        if (n > len - done) n = len - done;
        memcpy(out + done, s->base + offset, n);
        done += n;
        offset = 0;
    }
    return done;
}

size_t virtq_chain_write(const struct virtq_chain *c, uint64_t offset, const void *src, size_t len)
{
    const uint8_t *in = src;
    size_t done = 0;
    for (unsigned i = c->nread; i < c->nseg && done < len; i++) {
        const struct virtq_seg *s = &c->seg[i];
        if (offset >= s->len) {
            offset -= s->len;
            continue;
        }
        size_t n = s->len - offset;
        if (n > len - done) n = len - done;
        memcpy(s->base + offset, in + done, n);
        done += n;
        offset = 0;
    }
    return done;
}

int virtq_chain_iov(const struct virtq_chain *c, bool writable, uint64_t offset, uint64_t len,
                    struct iovec *iov, unsigned max)
{
    unsigned first = writable ? c->nread : 0;
    unsigned end = writable ? c->nseg : c->nread;
    uint64_t total = writable ? c->write_len : c->read_len;
    if (offset > total || len > total - offset) return -EINVAL;
    unsigned n = 0;
    for (unsigned i = first; i < end && len > 0; i++) {
        const struct virtq_seg *s = &c->seg[i];
        if (offset >= s->len) {
            offset -= s->len;
            continue;
        }
        if (n >= max) return -EINVAL;
        uint64_t take = s->len - offset;
        if (take > len) take = len;
        iov[n].iov_base = s->base + offset;
        iov[n].iov_len = take;
        n++;
        len -= take;
        offset = 0;
    }
    return (int)n;
}

int virtq_push(struct virtq *q, const struct virtq_chain *c, uint32_t written)
{
    const uint16_t num = snap16(&q->num);
    const uint64_t used_gpa = snap64(&q->used);
    if (!virtq_size_valid(num)) return -EINVAL;
    uint8_t *used = (used_gpa & 3) ? NULL : gmem_ptr(q->vm, used_gpa, used_size(num));
    if (!used) {
        fail(q, "used ring outside guest RAM or misaligned");
        return -EFAULT;
    }
    if (written > c->write_len) written = (uint32_t)c->write_len;
    /* §2.7.8: element first, then publish it with a release store of idx. */
    uint32_t *elem = (uint32_t *)(used + 4 + 8ull * (q->used_idx & (num - 1)));
    __atomic_store_n(&elem[0], htole32(c->head), __ATOMIC_RELAXED);
    __atomic_store_n(&elem[1], htole32(written), __ATOMIC_RELAXED);
    q->used_idx++;
    store16(used + 2, q->used_idx, __ATOMIC_RELEASE);
    /* Live migration: what the device wrote into the chain and the used ring (machine/gmem.h). */
    for (unsigned i = c->nread; i < c->nseg; i++)
        gmem_dirty(q->vm, c->seg[i].base, c->seg[i].len);
    gmem_dirty(q->vm, used, used_size(num));
    return 0;
}

bool virtq_should_notify(struct virtq *q)
{
    const uint16_t num = snap16(&q->num);
    const uint64_t avail_gpa = snap64(&q->avail);
    if (!virtq_size_valid(num) || (avail_gpa & 1)) return true;
    const uint8_t *avail = gmem_ptr(q->vm, avail_gpa, avail_size(num));
    if (!avail) return true; /* rings are broken anyway; a spurious interrupt is harmless */

    /*
     * The used idx store must be globally visible before we read the driver's
     * suppression state, or we can miss the driver re-enabling interrupts
     * (§2.7.7 / §2.7.10: store-load ordering needs a full fence).
     */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);

    if (!q->event_idx) {
        uint16_t flags = load16(avail, __ATOMIC_RELAXED);
        return !(flags & VIRTQ_AVAIL_F_NO_INTERRUPT);
    }

    uint16_t old = q->signalled_used;
    uint16_t now = q->used_idx;
    bool valid = q->signalled_valid;
    q->signalled_used = now;
    q->signalled_valid = true;
    if (!valid) return true;
    /* §2.7.10: interrupt iff used_event lies in [old, now), modulo 2^16. */
    uint16_t used_event = load16(avail + 4 + 2ull * num, __ATOMIC_RELAXED);
    return (uint16_t)(now - used_event - 1) < (uint16_t)(now - old);
}
