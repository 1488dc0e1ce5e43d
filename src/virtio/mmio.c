/*
 * virtio-mmio transport, version 2 (virtio 1.2 §4.2.2, §4.2.3).
 *
 * Locking: `lock` serialises register accesses (from any hart thread) and the
 * device callbacks. Interrupt state has its own small `irq_lock` so a device
 * worker can raise an interrupt while a hart holds `lock` waiting for that
 * worker in ops->reset. Status is atomic for the same reason (needs_reset).
 */
#include "virtio/mmio.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "machine/vm.h"
#include "snapshot/format.h"
#include "util/log.h"

#define MAX_RESET_REPORTS 8

struct virtio_mmio {
    struct vm *vm;
    uint64_t base;
    unsigned irq;
    const struct virtio_dev_ops *ops;
    void *dev;
    unsigned nq;

    pthread_mutex_t lock;
    uint32_t dev_features_sel;
    uint32_t drv_features_sel;
    uint32_t queue_sel;
    _Atomic uint64_t driver_features;
    _Atomic uint32_t status;
    _Atomic uint32_t config_gen;
    _Atomic unsigned reset_reports; /* NEEDS_RESET log lines so far */

    pthread_mutex_t irq_lock;
    _Atomic uint32_t isr;

    struct virtq q[VIRTIO_MMIO_MAX_QUEUES];
};

static const char *dev_name(uint32_t id)
{
    switch (id) {
    case 1:
        return "virtio-net";
    case 2:
        return "virtio-blk";
    case 3:
        return "virtio-console";
    case 4:
        return "virtio-rng";
    default:
        return "virtio";
    }
}

static uint64_t offered_features(const struct virtio_mmio *t)
{
    return t->ops->features | (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_EVENT_IDX) |
           (1ull << VIRTIO_F_INDIRECT_DESC);
}

static uint16_t queue_max(const struct virtio_mmio *t)
{
    unsigned m = t->ops->queue_max;
    if (m > VIRTQ_MAX_SIZE) m = VIRTQ_MAX_SIZE;
    return (uint16_t)m;
}

static struct virtq *sel_queue(struct virtio_mmio *t)
{
    return t->queue_sel < t->nq ? &t->q[t->queue_sel] : NULL;
}

void virtio_mmio_raise(struct virtio_mmio *t, unsigned isr_bits)
{
    pthread_mutex_lock(&t->irq_lock);
    atomic_fetch_or(&t->isr, isr_bits);
    vm_set_irq(t->vm, t->irq, true);
    pthread_mutex_unlock(&t->irq_lock);
}

static void irq_ack(struct virtio_mmio *t, uint32_t bits)
{
    pthread_mutex_lock(&t->irq_lock);
    /* §4.2.2 InterruptACK: the line stays up while any cause is unacknowledged. */
    if ((atomic_fetch_and(&t->isr, ~bits) & ~bits) == 0) vm_set_irq(t->vm, t->irq, false);
    pthread_mutex_unlock(&t->irq_lock);
}

static void irq_clear(struct virtio_mmio *t)
{
    pthread_mutex_lock(&t->irq_lock);
    atomic_store(&t->isr, 0);
    vm_set_irq(t->vm, t->irq, false);
    pthread_mutex_unlock(&t->irq_lock);
}

void virtio_mmio_needs_reset(struct virtio_mmio *t, const char *why)
{
    uint32_t old = atomic_fetch_or(&t->status, VIRTIO_STATUS_NEEDS_RESET);
    /*
     * One line per reset cycle, however many requests the broken driver sends,
     * and a cap over the device's life so a reset/break loop cannot flood the log.
     */
    if (!(old & VIRTIO_STATUS_NEEDS_RESET)) {
        unsigned n = atomic_fetch_add(&t->reset_reports, 1);
        if (n < MAX_RESET_REPORTS)
            log_warn("virtio", "%s at %#llx: device needs reset: %s%s", dev_name(t->ops->device_id),
                     (unsigned long long)t->base, why ? why : "unknown error",
                     n + 1 == MAX_RESET_REPORTS ? " (further reports suppressed)" : "");
    }
    /* §2.1.2: a device setting DEVICE_NEEDS_RESET sends a configuration change notification. */
    virtio_mmio_raise(t, VIRTIO_ISR_CONFIG);
}

void virtio_mmio_config_changed(struct virtio_mmio *t)
{
    atomic_fetch_add(&t->config_gen, 1);
    virtio_mmio_raise(t, VIRTIO_ISR_CONFIG);
}

uint64_t virtio_mmio_driver_features(struct virtio_mmio *t)
{
    return atomic_load(&t->driver_features);
}

uint32_t virtio_mmio_status(struct virtio_mmio *t)
{
    return atomic_load(&t->status);
}

struct virtq *virtio_mmio_queue(struct virtio_mmio *t, unsigned i)
{
    return i < t->nq ? &t->q[i] : NULL;
}

/* §2.4 device reset: the device first lets go of the queues, then all state returns to zero. */
static void device_reset(struct virtio_mmio *t)
{
    if (t->ops->reset) t->ops->reset(t->dev);
    for (unsigned i = 0; i < t->nq; i++)
        virtq_reset(&t->q[i]);
    t->dev_features_sel = 0;
    t->drv_features_sel = 0;
    t->queue_sel = 0;
    atomic_store(&t->driver_features, 0);
    atomic_store(&t->status, 0);
    irq_clear(t);
}

/*
 * §2.2.2 / §3.1.1: FEATURES_OK only for a subset of what we offered. A driver that does not
 * accept VERSION_1 (written for legacy devices: it writes only the low feature word, e.g. the
 * xv6 teaching OS) still gets FEATURES_OK, as QEMU's virtio-mmio version 2 gives it. On a
 * little-endian guest nothing this transport does differs for such a driver: the rings are
 * placed through the same QUEUE_DESC/DRIVER/DEVICE registers with the split layout of §2.7,
 * and config space is little endian either way (§2.5.1 vs legacy "guest native").
 */
static bool features_acceptable(struct virtio_mmio *t)
{
    uint64_t drv = atomic_load(&t->driver_features);
    return (drv & ~offered_features(t)) == 0;
}

/* Ring options from the negotiated features (set when FEATURES_OK, or DRIVER_OK, sticks). */
static void latch_features(struct virtio_mmio *t)
{
    uint64_t drv = atomic_load(&t->driver_features);
    for (unsigned i = 0; i < t->nq; i++) {
        t->q[i].event_idx = drv & (1ull << VIRTIO_F_EVENT_IDX);
        t->q[i].indirect = drv & (1ull << VIRTIO_F_INDIRECT_DESC);
    }
}

static void write_status(struct virtio_mmio *t, uint32_t value)
{
    value &= 0xff;
    if (value == 0) {
        device_reset(t);
        return;
    }
    uint32_t old = atomic_load(&t->status);
    /*
     * Only a reset clears status bits (§2.1.2, §3.1.1): a driver writing a
     * smaller value must not take DRIVER_OK or FEATURES_OK back, which would
     * reopen queue setup and feature writes while the device's threads use
     * the queues, and activate the device a second time.
     */
    uint32_t want = (value & ~VIRTIO_STATUS_NEEDS_RESET) | old;
    bool activate = false;

    if ((want & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK)) {
        if (features_acceptable(t)) {
            latch_features(t);
        } else {
            /* The driver re-reads Status and sees FEATURES_OK did not stick (§3.1.1 step 6). */
            log_debug("virtio", "%s: refusing driver features %#llx", dev_name(t->ops->device_id),
                      (unsigned long long)atomic_load(&t->driver_features));
            want &= ~VIRTIO_STATUS_FEATURES_OK;
        }
    }
    if ((want & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK)) {
        if (want & VIRTIO_STATUS_FEATURES_OK) {
            activate = true;
        } else if (!(atomic_load(&t->driver_features) & (1ull << VIRTIO_F_VERSION_1))) {
            /*
             * A legacy driver never sets FEATURES_OK (legacy interface: ACKNOWLEDGE, DRIVER,
             * DRIVER_OK). QEMU's version-2 transport applies driver features only on
             * FEATURES_OK, so such a driver runs the device with none: do the same.
             */
            atomic_store(&t->driver_features, 0);
            latch_features(t);
            activate = true;
        } else {
            want &= ~VIRTIO_STATUS_DRIVER_OK; /* a version-1 driver needs FEATURES_OK first */
        }
    }
    /* Runs under t->lock; needs_reset may set NEEDS_RESET concurrently, so merge it in. */
    uint32_t cur = old;
    while (
        !atomic_compare_exchange_weak(&t->status, &cur, want | (cur & VIRTIO_STATUS_NEEDS_RESET)))
        ;
    if (activate && t->ops->activate) t->ops->activate(t->dev);
}

static void write_queue_ready(struct virtio_mmio *t, struct virtq *q, uint32_t value)
{
    if (value == 0) {
        /* Taking a queue away from a live device needs VIRTIO_F_RING_RESET, which we don't offer.
         */
        if (!(atomic_load(&t->status) & VIRTIO_STATUS_DRIVER_OK)) q->ready = false;
        return;
    }
    if (q->ready) return;
    if (!virtq_size_valid(q->num)) {
        log_debug("virtio", "%s: queue %u: refusing ready with size %u",
                  dev_name(t->ops->device_id), t->queue_sel, q->num);
        return;
    }
    if (virtq_check_rings(q) < 0) {
        virtio_mmio_needs_reset(t, "queue rings outside guest RAM or misaligned");
        return;
    }
    q->last_avail_idx = 0;
    q->used_idx = 0;
    q->signalled_valid = false;
    q->broken = false;
    q->error = NULL;
    /* Release: a device thread that sees ready (acquire in virtq_pop) sees the layout above. */
    __atomic_store_n(&q->ready, true, __ATOMIC_RELEASE);
}

static void set_half(uint64_t *field, bool high, uint32_t value)
{
    if (high)
        *field = (*field & 0xffffffffull) | ((uint64_t)value << 32);
    else
        *field = (*field & ~0xffffffffull) | value;
}

static uint32_t reg_read(struct virtio_mmio *t, uint64_t off)
{
    struct virtq *q = sel_queue(t);
    switch (off) {
    case VIRTIO_MMIO_MAGIC_VALUE:
        return VIRTIO_MMIO_MAGIC;
    case VIRTIO_MMIO_VERSION:
        return 2;
    case VIRTIO_MMIO_DEVICE_ID:
        return t->ops->device_id;
    case VIRTIO_MMIO_VENDOR_ID:
        return VIRTIO_MMIO_VENDOR;
    case VIRTIO_MMIO_DEVICE_FEATURES:
        if (t->dev_features_sel > 1) return 0;
        return (uint32_t)(offered_features(t) >> (32 * t->dev_features_sel));
    case VIRTIO_MMIO_QUEUE_NUM_MAX:
        return q ? queue_max(t) : 0; /* 0: queue not available (§4.2.2) */
    case VIRTIO_MMIO_QUEUE_READY:
        return q ? q->ready : 0;
    case VIRTIO_MMIO_INTERRUPT_STATUS:
        return atomic_load(&t->isr);
    case VIRTIO_MMIO_STATUS:
        return atomic_load(&t->status);
    case VIRTIO_MMIO_SHM_LEN_LOW:
    case VIRTIO_MMIO_SHM_LEN_HIGH:
    case VIRTIO_MMIO_SHM_BASE_LOW:
    case VIRTIO_MMIO_SHM_BASE_HIGH:
        return 0xffffffffu; /* no shared memory regions: length reads as -1 (§4.2.2) */
    case VIRTIO_MMIO_CONFIG_GENERATION:
        return atomic_load(&t->config_gen);
    default:
        return 0; /* write-only and reserved registers */
    }
}

static void reg_write(struct virtio_mmio *t, uint64_t off, uint32_t v)
{
    struct virtq *q = sel_queue(t);
    /* §4.2.3.2: queue layout may only change while the queue is not ready. */
    bool q_setup = q && !q->ready;
    switch (off) {
    case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
        t->dev_features_sel = v;
        break;
    case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
        t->drv_features_sel = v;
        break;
    case VIRTIO_MMIO_DRIVER_FEATURES:
        if (t->drv_features_sel > 1 || (atomic_load(&t->status) & VIRTIO_STATUS_FEATURES_OK)) break;
        {
            uint64_t f = atomic_load(&t->driver_features);
            set_half(&f, t->drv_features_sel == 1, v);
            atomic_store(&t->driver_features, f);
        }
        break;
    case VIRTIO_MMIO_QUEUE_SEL:
        t->queue_sel = v;
        break;
    case VIRTIO_MMIO_QUEUE_NUM:
        if (q_setup) q->num = (v <= queue_max(t) && virtq_size_valid(v)) ? (uint16_t)v : 0;
        break;
    case VIRTIO_MMIO_QUEUE_READY:
        if (q) write_queue_ready(t, q, v);
        break;
    case VIRTIO_MMIO_QUEUE_NOTIFY:
        /* Before DRIVER_OK, or for a queue that isn't live, a kick means nothing. */
        if (v < t->nq && t->q[v].ready && (atomic_load(&t->status) & VIRTIO_STATUS_DRIVER_OK) &&
            t->ops->queue_notify)
            t->ops->queue_notify(t->dev, v);
        break;
    case VIRTIO_MMIO_INTERRUPT_ACK:
        irq_ack(t, v);
        break;
    case VIRTIO_MMIO_STATUS:
        write_status(t, v);
        break;
    case VIRTIO_MMIO_QUEUE_DESC_LOW:
    case VIRTIO_MMIO_QUEUE_DESC_HIGH:
        if (q_setup) set_half(&q->desc, off == VIRTIO_MMIO_QUEUE_DESC_HIGH, v);
        break;
    case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
    case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
        if (q_setup) set_half(&q->avail, off == VIRTIO_MMIO_QUEUE_DRIVER_HIGH, v);
        break;
    case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
    case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
        if (q_setup) set_half(&q->used, off == VIRTIO_MMIO_QUEUE_DEVICE_HIGH, v);
        break;
    default:
        break; /* read-only and reserved registers */
    }
}

static bool config_access_ok(const struct virtio_mmio *t, uint64_t off, unsigned size)
{
    return (size == 1 || size == 2 || size == 4 || size == 8) && off < t->ops->config_size &&
           size <= t->ops->config_size - off;
}

uint64_t virtio_mmio_read(void *opaque, uint64_t offset, unsigned size)
{
    struct virtio_mmio *t = opaque;
    uint64_t val = 0;
    if (offset >= VIRTIO_MMIO_CONFIG) {
        uint64_t off = offset - VIRTIO_MMIO_CONFIG;
        if (!config_access_ok(t, off, size) || !t->ops->config_read) return 0;
        uint8_t buf[8] = {0};
        pthread_mutex_lock(&t->lock);
        t->ops->config_read(t->dev, (uint32_t)off, buf, size);
        pthread_mutex_unlock(&t->lock);
        /* Config fields are little-endian (§4.2.2.1 for version 2 devices). */
        for (unsigned i = 0; i < size; i++)
            val |= (uint64_t)buf[i] << (8 * i);
        return val;
    }
    /* §4.2.2.2: control registers are 32 bits wide and aligned; anything else reads 0. */
    if (size != 4 || (offset & 3)) return 0;
    pthread_mutex_lock(&t->lock);
    val = reg_read(t, offset);
    pthread_mutex_unlock(&t->lock);
    return val;
}

void virtio_mmio_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    struct virtio_mmio *t = opaque;
    if (offset >= VIRTIO_MMIO_CONFIG) {
        uint64_t off = offset - VIRTIO_MMIO_CONFIG;
        if (!config_access_ok(t, off, size) || !t->ops->config_write) return;
        uint8_t buf[8];
        for (unsigned i = 0; i < size; i++)
            buf[i] = (uint8_t)(value >> (8 * i));
        pthread_mutex_lock(&t->lock);
        t->ops->config_write(t->dev, (uint32_t)off, buf, size);
        pthread_mutex_unlock(&t->lock);
        return;
    }
    if (size != 4 || (offset & 3)) return;
    pthread_mutex_lock(&t->lock);
    reg_write(t, offset, (uint32_t)value);
    pthread_mutex_unlock(&t->lock);
}

static const struct mmio_ops virtio_mmio_ops = {
    .read = virtio_mmio_read,
    .write = virtio_mmio_write,
};

struct virtio_mmio *virtio_mmio_create(struct vm *vm, uint64_t base, unsigned irq,
                                       const struct virtio_dev_ops *ops, void *dev)
{
    if (!ops || ops->num_queues > VIRTIO_MMIO_MAX_QUEUES) {
        log_err("virtio", "device id %u: bad device description", ops ? ops->device_id : 0);
        return NULL;
    }
    if (ops->config_size > VIRTIO_MMIO_SIZE - VIRTIO_MMIO_CONFIG) {
        log_err("virtio", "%s: config space too large", dev_name(ops->device_id));
        return NULL;
    }
    struct virtio_mmio *t = calloc(1, sizeof(*t));
    if (!t) return NULL;
    t->vm = vm;
    t->base = base;
    t->irq = irq;
    t->ops = ops;
    t->dev = dev;
    t->nq = ops->num_queues;
    pthread_mutex_init(&t->lock, NULL);
    pthread_mutex_init(&t->irq_lock, NULL);
    for (unsigned i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++)
        virtq_init(&t->q[i], vm);
    int r = vm_mmio_add(vm, dev_name(ops->device_id), base, VIRTIO_MMIO_SIZE, &virtio_mmio_ops, t);
    if (r < 0) {
        log_err("virtio", "%s: cannot map at %#llx: %s", dev_name(ops->device_id),
                (unsigned long long)base, strerror(-r));
        pthread_mutex_destroy(&t->lock);
        pthread_mutex_destroy(&t->irq_lock);
        free(t);
        return NULL;
    }
    return t;
}

void virtio_mmio_kick(struct virtio_mmio *t, unsigned queue)
{
    pthread_mutex_lock(&t->lock);
    /* The same checks as a QueueNotify write: a reset queue is left alone. */
    if (queue < t->nq && t->q[queue].ready && (atomic_load(&t->status) & VIRTIO_STATUS_DRIVER_OK) &&
        t->ops->queue_notify)
        t->ops->queue_notify(t->dev, queue);
    pthread_mutex_unlock(&t->lock);
}

void virtio_mmio_destroy(struct virtio_mmio *t)
{
    if (!t) return;
    /*
     * vm.h has no vm_mmio_remove(); drop our window by hand so the bus never
     * calls a freed transport. Only safe while no hart runs (VM teardown, tests).
     */
    struct vm *vm = t->vm;
    for (unsigned i = 0; i < vm->nmmio; i++) {
        if (vm->mmio[i].opaque == t && vm->mmio[i].ops == &virtio_mmio_ops) {
            memmove(&vm->mmio[i], &vm->mmio[i + 1], (vm->nmmio - i - 1) * sizeof(vm->mmio[0]));
            vm->nmmio--;
            break;
        }
    }
    pthread_mutex_destroy(&t->lock);
    pthread_mutex_destroy(&t->irq_lock);
    free(t);
}

/* ---- snapshots (docs/snapshots.md) ---- */

void virtio_mmio_quiesce(struct virtio_mmio *t)
{
    pthread_mutex_lock(&t->lock);
    if ((atomic_load(&t->status) & VIRTIO_STATUS_DRIVER_OK) && t->ops->quiesce)
        t->ops->quiesce(t->dev, true);
    pthread_mutex_unlock(&t->lock);
}

void virtio_mmio_unquiesce(struct virtio_mmio *t)
{
    pthread_mutex_lock(&t->lock);
    if ((atomic_load(&t->status) & VIRTIO_STATUS_DRIVER_OK) && t->ops->quiesce)
        t->ops->quiesce(t->dev, false);
    pthread_mutex_unlock(&t->lock);
}

void virtio_mmio_save(struct virtio_mmio *t, struct snap_w *w)
{
    pthread_mutex_lock(&t->lock);
    snap_w_u32(w, t->ops->device_id);
    snap_w_u32(w, t->nq);
    snap_w_u32(w, t->dev_features_sel);
    snap_w_u32(w, t->drv_features_sel);
    snap_w_u32(w, t->queue_sel);
    snap_w_u64(w, atomic_load(&t->driver_features));
    snap_w_u32(w, atomic_load(&t->status));
    snap_w_u32(w, atomic_load(&t->config_gen));
    snap_w_u32(w, atomic_load(&t->isr));
    for (unsigned i = 0; i < t->nq; i++) {
        const struct virtq *q = &t->q[i];
        snap_w_u16(w, q->num);
        snap_w_u8(w, q->ready);
        snap_w_u8(w, q->event_idx);
        snap_w_u8(w, q->indirect);
        snap_w_u8(w, q->signalled_valid);
        snap_w_u8(w, q->broken);
        snap_w_u64(w, q->desc);
        snap_w_u64(w, q->avail);
        snap_w_u64(w, q->used);
        snap_w_u16(w, q->last_avail_idx);
        snap_w_u16(w, q->used_idx);
        snap_w_u16(w, q->signalled_used);
    }
    pthread_mutex_unlock(&t->lock);
}

#define STATUS_KNOWN                                                                            \
    (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK |               \
     VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED)

int virtio_mmio_load(struct virtio_mmio *t, struct snap_rd *r)
{
    struct virtq q[VIRTIO_MMIO_MAX_QUEUES];
    if (snap_r_u32(r) != t->ops->device_id || snap_r_u32(r) != t->nq)
        return -EINVAL;
    uint32_t dsel = snap_r_u32(r), rsel = snap_r_u32(r), qsel = snap_r_u32(r);
    uint64_t feat = snap_r_u64(r);
    uint32_t status = snap_r_u32(r), gen = snap_r_u32(r), isr = snap_r_u32(r);
    for (unsigned i = 0; i < t->nq; i++) {
        virtq_init(&q[i], t->vm);
        q[i].num = snap_r_u16(r);
        q[i].ready = snap_r_bool(r);
        q[i].event_idx = snap_r_bool(r);
        q[i].indirect = snap_r_bool(r);
        q[i].signalled_valid = snap_r_bool(r);
        q[i].broken = snap_r_bool(r);
        q[i].desc = snap_r_u64(r);
        q[i].avail = snap_r_u64(r);
        q[i].used = snap_r_u64(r);
        q[i].last_avail_idx = snap_r_u16(r);
        q[i].used_idx = snap_r_u16(r);
        q[i].signalled_used = snap_r_u16(r);
    }
    if (snap_r_done(r) || (status & ~STATUS_KNOWN) || (feat & ~offered_features(t)) ||
        (isr & ~(VIRTIO_ISR_VRING | VIRTIO_ISR_CONFIG)))
        return -EINVAL;
    for (unsigned i = 0; i < t->nq; i++) {
        if (q[i].num && (!virtq_size_valid(q[i].num) || q[i].num > queue_max(t)))
            return -EINVAL;
        /* The rings must lie in guest RAM, exactly as when the driver set QueueReady (§4.2.3.2). */
        if (q[i].ready && (!q[i].num || virtq_check_rings(&q[i])))
            return -EINVAL;
        if (q[i].broken)
            q[i].error = "malformed descriptor chain (before the snapshot)";
    }
    /*
     * The interrupt state first: activate lets the worker go, and a request
     * that was waiting in the avail ring at the pause completes at once; its
     * interrupt must add to the saved ISR, not be overwritten by it (a lost
     * used-ring interrupt hangs the driver for good).
     */
    pthread_mutex_lock(&t->irq_lock);
    atomic_store(&t->isr, isr);
    vm_set_irq(t->vm, t->irq, isr != 0);
    pthread_mutex_unlock(&t->irq_lock);
    pthread_mutex_lock(&t->lock);
    t->dev_features_sel = dsel;
    t->drv_features_sel = rsel;
    t->queue_sel = qsel;
    atomic_store(&t->driver_features, feat);
    atomic_store(&t->status, status);
    atomic_store(&t->config_gen, gen);
    memcpy(t->q, q, t->nq * sizeof(q[0]));
    if ((status & VIRTIO_STATUS_DRIVER_OK) && t->ops->activate)
        t->ops->activate(t->dev);
    pthread_mutex_unlock(&t->lock);
    return 0;
}
