/*
 * libFuzzer target for every board device a guest can reach through MMIO: a
 * real VM (vm_init, two harts from hart_init so the PLIC and CLINT have
 * targets) with the PLIC, CLINT, goldfish RTC, syscon, pvpanic, and
 * virtio-blk (temp file), virtio-rng, virtio-net (an in-process backend that
 * drops frames) and virtio-console (no fds) on their virtio-mmio transports.
 *
 * The input is a sequence of operations, each an opcode byte and its operands:
 *   MMIO read/write   region, offset, size 1/2/4/8, value: through
 *                     vm_mmio_find()'s ops, naturally aligned and inside the
 *                     window as the MMU guarantees (cpu/mmu.c mmio_access)
 *   RAM write         offset, bytes (rings and data area, or anywhere)
 *   bring-up          the normal driver handshake for one device with chosen
 *                     features and queue sizes, rings at fixed places
 *   descriptor        one descriptor of a brought-up queue, any fields
 *   avail             put a head on a queue's available ring and bump idx
 *   chain             n linked descriptors with buffers (contents inline), on the ring
 *   notify            QueueNotify for a device/queue
 *   rx frame          the net backend delivers a frame (backend thread path)
 * so arbitrary ring contents get through full virtqueue processing. Device
 * threads really run; after kicks we wait for virtio-blk and virtio-console
 * to go idle. Everything is created once and reset between inputs.
 *
 * Run: tests/fuzz/build.sh && build/fuzz/fuzz_mmio_devices -max_total_time=3600 \
 *          build/fuzz/corpus-fuzz_mmio_devices
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/disk.h"
#include "backend/net.h"
#include "cpu/hart.h"
#include "dev/clint.h"
#include "dev/plic.h"
#include "dev/pvpanic.h"
#include "dev/rtc.h"
#include "dev/syscon.h"
#include "dev/virtio_blk.h"
#include "dev/virtio_console.h"
#include "dev/virtio_net.h"
#include "dev/virtio_rng.h"
#include "machine/gmem.h"
#include "machine/vm.h"
#include "virtio/mmio.h"

#define RAM_SIZE (4u << 20)
#define IMG_SIZE (256u * 1024)
#define NHARTS 2
#define NDEV 4
#define QSTRIDE 0x4000u /* per queue: desc +0, avail +0x1000, used +0x2000 */
#define DATA_AREA 0x40000u /* chain_op buffers: 64 pages from here */

/* ---- dummy network backend: frames from the guest are dropped ---- */
struct dummy_be {
    struct net_backend be;
    net_rx_fn rx;
    void *opaque;
};

static int dummy_send(struct net_backend *be, const uint8_t *frame, size_t len)
{
    (void)be, (void)frame, (void)len;
    return 0;
}

static int dummy_start(struct net_backend *be, net_rx_fn rx, void *opaque)
{
    struct dummy_be *d = (struct dummy_be *)be;
    d->rx = rx;
    d->opaque = opaque;
    return 0;
}

static void dummy_stop(struct net_backend *be)
{
    ((struct dummy_be *)be)->rx = NULL;
}

static void dummy_destroy(struct net_backend *be)
{
    (void)be;
}

static const struct net_backend_ops dummy_ops = {
    .kind = "dummy",
    .send = dummy_send,
    .start = dummy_start,
    .stop = dummy_stop,
    .destroy = dummy_destroy,
};

/* ---- the machine, created once ---- */
static struct vm vm;
static struct hart *harts[NHARTS];
static struct plic *plic;
static struct clint *clint;
static struct rtc *rtc;
static struct disk *disk;
static struct virtio_blk *blk;
static struct virtio_rng *rng;
static struct virtio_net *net;
static struct virtio_console *con;
static struct dummy_be be = {.be = {.ops = &dummy_ops}};
static struct virtio_mmio *tr[NDEV];

static void init(void)
{
    if (vm_init(&vm, RAM_SIZE) < 0) abort();
    for (unsigned i = 0; i < NHARTS; i++) {
        harts[i] = calloc(1, sizeof(*harts[i]));
        if (!harts[i] || hart_init(harts[i], vm_bus(&vm), i) < 0) abort();
        vm.harts[i] = harts[i];
    }
    vm.nharts = NHARTS;
    plic = plic_create(&vm);
    clint = clint_create(&vm);
    rtc = rtc_create(&vm);
    if (!plic || !clint || !rtc || !syscon_create(&vm) || !pvpanic_create(&vm)) abort();

    char path[] = "/tmp/kiln-fuzz-mmio-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || ftruncate(fd, IMG_SIZE) < 0) abort();
    close(fd);
    disk = disk_open(path, false, DISK_CACHE_UNSAFE, NULL);
    unlink(path); /* the open descriptor keeps it alive; nothing is left behind */
    if (!disk) abort();

    static const uint8_t mac[6] = NET_DEFAULT_MAC;
    uint64_t slot = VIRT_VIRTIO_BASE;
    blk = virtio_blk_create(&vm, slot, VIRT_VIRTIO_IRQ, disk);
    rng = virtio_rng_create(&vm, slot + VIRT_VIRTIO_STRIDE, VIRT_VIRTIO_IRQ + 1);
    net = virtio_net_create(&vm, slot + 2 * VIRT_VIRTIO_STRIDE, VIRT_VIRTIO_IRQ + 2, &be.be, mac);
    con = virtio_console_create(&vm, slot + 3 * VIRT_VIRTIO_STRIDE, VIRT_VIRTIO_IRQ + 3, -1, -1);
    if (!blk || !rng || !net || !con) abort();
    tr[0] = virtio_blk_transport(blk);
    tr[1] = virtio_rng_transport(rng);
    tr[2] = virtio_net_transport(net);
    tr[3] = virtio_console_transport(con);
}

static void settle(void)
{
    virtio_blk_wait_idle(blk);
    virtio_console_wait_idle(con);
}

/* Back to power-on state between inputs, so every input runs from the same place. */
static void reset_all(void)
{
    for (unsigned d = 0; d < NDEV; d++)
        virtio_mmio_write(tr[d], VIRTIO_MMIO_STATUS, 0, 4); /* waits for the device threads */
    settle();
    plic_reset(plic);
    clint_reset(clint);
    rtc_reset(rtc);
    vm_ram_clear(&vm); /* madvise: only the pages the last input touched cost anything */
    atomic_store(&vm.stop, 0);
    atomic_store(&vm.exit_claimed, 0);
    atomic_store(&vm.reboot, 0);
}

/* ---- input reader ---- */
struct in {
    const uint8_t *p;
    size_t n;
};

static bool take(struct in *in, void *out, size_t len)
{
    if (in->n < len) return false;
    memcpy(out, in->p, len);
    in->p += len;
    in->n -= len;
    return true;
}

static uint64_t get(struct in *in, size_t len, bool *ok)
{
    uint64_t v = 0;
    uint8_t b[8];
    if (!take(in, b, len)) {
        *ok = false;
        return 0;
    }
    for (size_t i = 0; i < len; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

static uint64_t qbase(unsigned d, unsigned q)
{
    return VIRT_DRAM_BASE + (uint64_t)(d * 2 + q) * QSTRIDE;
}

static void w32(unsigned d, uint32_t off, uint32_t v)
{
    virtio_mmio_write(tr[d], off, v, 4);
}

static void bring_up(unsigned d, uint32_t feat_lo, uint8_t sizes)
{
    uint64_t feat = (1ull << VIRTIO_F_VERSION_1) | feat_lo;
    w32(d, VIRTIO_MMIO_STATUS, 0);
    w32(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    w32(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    w32(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)feat);
    w32(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    w32(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(feat >> 32));
    w32(d, VIRTIO_MMIO_STATUS,
        VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    for (unsigned q = 0; q < 2; q++) {
        uint64_t b = qbase(d, q);
        w32(d, VIRTIO_MMIO_QUEUE_SEL, q);
        w32(d, VIRTIO_MMIO_QUEUE_NUM, 1u << ((q ? sizes >> 4 : sizes) % 9));
        w32(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)b);
        w32(d, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(b >> 32));
        w32(d, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)(b + 0x1000));
        w32(d, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)((b + 0x1000) >> 32));
        w32(d, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)(b + 0x2000));
        w32(d, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)((b + 0x2000) >> 32));
        w32(d, VIRTIO_MMIO_QUEUE_READY, 1);
    }
    w32(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                                   VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
    settle();
}

enum {
    OP_MMIO_READ,
    OP_MMIO_WRITE,
    OP_RAM_LOW,
    OP_RAM_ANY,
    OP_BRING_UP,
    OP_DESC,
    OP_AVAIL,
    OP_NOTIFY,
    OP_RX,
    OP_CHAIN,
    OP_COUNT
};

static void mmio_op(struct in *in, bool write)
{
    bool ok = true;
    unsigned ri = (unsigned)get(in, 1, &ok);
    uint64_t off = get(in, 3, &ok);
    unsigned size = 1u << (get(in, 1, &ok) & 3);
    uint64_t val = write ? get(in, 8, &ok) : 0;
    if (!ok || vm.nmmio == 0) return;
    struct mmio_region *r = &vm.mmio[ri % vm.nmmio];
    /* Keep most accesses in the first page of big windows (PLIC) but reach the rest too. */
    off = (off & 0x800000) ? off % r->size : (off & 0xfff) % r->size;
    off &= ~(uint64_t)(size - 1);
    if (size > r->size || off > r->size - size) return;
    struct mmio_region *found = vm_mmio_find(&vm, r->base + off);
    if (found != r) abort();
    if (write)
        r->ops->write(r->opaque, off, val, size);
    else
        (void)r->ops->read(r->opaque, off, size);
}

static void ram_op(struct in *in, bool low)
{
    bool ok = true;
    uint64_t off = get(in, 3, &ok);
    size_t len = (size_t)get(in, 1, &ok);
    if (!ok) return;
    off = low ? off % (DATA_AREA + 0x40000) : (off << 2) % RAM_SIZE;
    if (len > in->n) len = in->n;
    if (off + len > RAM_SIZE) len = RAM_SIZE - off;
    if (gmem_write(&vm, VIRT_DRAM_BASE + off, in->p, len) < 0) abort();
    in->p += len;
    in->n -= len;
}

/* One descriptor: addr is a RAM offset most of the time, a raw address otherwise. */
static void desc_op(struct in *in)
{
    bool ok = true;
    unsigned sel = (unsigned)get(in, 1, &ok);
    unsigned idx = (unsigned)get(in, 1, &ok);
    uint64_t addr = get(in, 4, &ok);
    uint32_t len = (uint32_t)get(in, 2, &ok);
    uint8_t fl = (uint8_t)get(in, 1, &ok);
    uint16_t next = (uint16_t)get(in, 1, &ok);
    if (!ok) return;
    unsigned d = sel % NDEV, q = (sel >> 2) & 1;
    if (fl & 0x80) len |= (uint32_t)fl << 24; /* sometimes huge */
    if (fl & 0x40)
        addr = (addr << 32) | addr; /* anything, mostly outside RAM */
    else
        addr = VIRT_DRAM_BASE + 0x20000 + addr % (RAM_SIZE - 0x20000 + 0x100);
    uint8_t raw[16];
    uint16_t flags = fl & 7;
    memcpy(raw, &addr, 8);
    memcpy(raw + 8, &len, 4);
    memcpy(raw + 12, &flags, 2);
    memcpy(raw + 14, &next, 2);
    /* Queue-relative within the 4 KiB of the table, or (fl & 0x20) an indirect table area. */
    uint64_t at = (fl & 0x20) ? VIRT_DRAM_BASE + 0x20000 + 16u * idx : qbase(d, q) + 16u * idx;
    if (gmem_write(&vm, at, raw, 16) < 0) abort();
}

static void avail_push(unsigned d, unsigned q, uint16_t head)
{
    uint64_t av = qbase(d, q) + 0x1000;
    /* The ring size is whatever the transport accepted; the fuzzer just uses 256 slots. */
    uint16_t idx;
    if (gmem_read(&vm, av + 2, &idx, 2) < 0) abort();
    uint16_t slot = idx % 256;
    if (gmem_write(&vm, av + 4 + 2u * slot, &head, 2) < 0) abort();
    idx++;
    __atomic_store_n((uint16_t *)gmem_ptr(&vm, av + 2, 2), idx, __ATOMIC_RELEASE);
}

static void avail_op(struct in *in)
{
    bool ok = true;
    unsigned sel = (unsigned)get(in, 1, &ok);
    uint16_t head = (uint16_t)get(in, 1, &ok);
    if (ok) avail_push(sel % NDEV, (sel >> 2) & 1, head);
}

/*
 * A well-formed-looking chain in one op, so requests reach the device parsers:
 * n descriptors from table index `first`, linked with NEXT, each with its own
 * 4 KiB buffer in the data area, readable ones optionally filled from the
 * input (a virtio-blk header, a net frame...), then put on the avail ring.
 */
static void chain_op(struct in *in)
{
    bool ok = true;
    unsigned sel = (unsigned)get(in, 1, &ok);
    unsigned n = (unsigned)get(in, 1, &ok);
    if (!ok) return;
    unsigned d = sel % NDEV, q = (sel >> 2) & 1, first = (n >> 4) * 3;
    n = n % 8 + 1;
    for (unsigned i = 0; i < n; i++) {
        uint32_t len = (uint32_t)get(in, 2, &ok);
        uint8_t fl = (uint8_t)get(in, 1, &ok);
        if (!ok) return;
        unsigned idx = first + i;
        uint64_t buf = VIRT_DRAM_BASE + DATA_AREA + (uint64_t)(idx % 64) * 0x1000;
        uint16_t flags = (fl & VIRTQ_DESC_F_WRITE) | (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0);
        if (fl & 0x80) len %= 0x1000; /* mostly fits its buffer; sometimes runs over the next */
        uint16_t next = (uint16_t)(idx + 1);
        uint8_t raw[16];
        memcpy(raw, &buf, 8);
        memcpy(raw + 8, &len, 4);
        memcpy(raw + 12, &flags, 2);
        memcpy(raw + 14, &next, 2);
        if (gmem_write(&vm, qbase(d, q) + 16u * (idx % 256), raw, 16) < 0) abort();
        if (!(flags & VIRTQ_DESC_F_WRITE) && (fl & 0x10)) {
            size_t k = (fl & 0x0f) * 4 + 4;
            if (k > in->n) k = in->n;
            if (gmem_write(&vm, buf, in->p, k) < 0) abort();
            in->p += k;
            in->n -= k;
        }
    }
    avail_push(d, q, (uint16_t)first);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!blk) init();
    reset_all();
    struct in in = {data, size};
    uint8_t op;
    unsigned steps = 0;
    while (take(&in, &op, 1) && steps++ < 256) {
        bool ok = true;
        switch (op % OP_COUNT) {
        case OP_MMIO_READ:
            mmio_op(&in, false);
            break;
        case OP_MMIO_WRITE:
            mmio_op(&in, true);
            settle();
            break;
        case OP_RAM_LOW:
            ram_op(&in, true);
            break;
        case OP_RAM_ANY:
            ram_op(&in, false);
            break;
        case OP_BRING_UP: {
            unsigned d = (unsigned)get(&in, 1, &ok);
            uint32_t feat = (uint32_t)get(&in, 4, &ok);
            uint8_t sizes = (uint8_t)get(&in, 1, &ok);
            if (ok) bring_up(d % NDEV, feat, sizes);
            break;
        }
        case OP_DESC:
            desc_op(&in);
            break;
        case OP_AVAIL:
            avail_op(&in);
            break;
        case OP_CHAIN:
            chain_op(&in);
            break;
        case OP_NOTIFY: {
            unsigned sel = (unsigned)get(&in, 1, &ok);
            if (!ok) break;
            w32(sel % NDEV, VIRTIO_MMIO_QUEUE_NOTIFY, (sel >> 2) & 3);
            settle();
            break;
        }
        case OP_RX: {
            size_t len = (size_t)get(&in, 2, &ok);
            if (!ok || !be.rx) break;
            /* Short inputs still make big frames: the tail is zeroes. */
            static uint8_t frame[NET_MAX_FRAME + 16];
            len %= sizeof(frame);
            size_t have = len < in.n ? len : in.n;
            memcpy(frame, in.p, have);
            memset(frame + have, 0, len - have);
            in.p += have;
            in.n -= have;
            be.rx(be.opaque, frame, len);
            break;
        }
        }
    }
    settle();
    return 0;
}
