/*
 * libFuzzer target for virtio-net and the --net spec parser.
 *
 * First input byte even: the rest is a --net spec string for net_parse_spec().
 * Odd: a device run. The next bytes choose features (MRG_RXBUF or not, EVENT_IDX
 * or not), the queue size and the ring addresses of both queues (so rings may
 * be misplaced), then the rest is the guest memory image holding rings and
 * descriptors. The fuzzer kicks tx (frames go to a fake backend), delivers a
 * frame from the "backend" (the rx path, on this thread), kicks rx, and resets.
 *
 * As in fuzz_virtio_blk.c, the two bus functions the transport needs are
 * stubbed so vm.c (and the CPU behind it) is not linked; nothing here pulls in
 * libslirp, so build.sh's plain link line suffices.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/net.h"
#include "dev/virtio_net.h"
#include "machine/vm.h"
#include "virtio/mmio.h"

#define RAM_BASE 0x80000000ull
#define RAM_SIZE 0x10000u

int vm_mmio_add(struct vm *vm, const char *name, uint64_t base, uint64_t size,
                const struct mmio_ops *ops, void *opaque)
{
    if (vm->nmmio >= VM_MAX_MMIO)
        return -1;
    vm->mmio[vm->nmmio++] = (struct mmio_region){name, base, size, ops, opaque};
    return 0;
}

void vm_set_irq(struct vm *vm, unsigned source, bool level)
{
    (void)vm, (void)source, (void)level;
}

static net_rx_fn rx_cb;
static void *rx_opaque;
static volatile uint8_t sink;

static int fake_send(struct net_backend *be, const uint8_t *frame, size_t len)
{
    (void)be;
    sink ^= frame[0] ^ frame[len - 1]; /* touch both ends: ASan checks the copy's bounds */
    return 0;
}

static int fake_start(struct net_backend *be, net_rx_fn rx, void *opaque)
{
    (void)be;
    rx_cb = rx;
    rx_opaque = opaque;
    return 0;
}

static void fake_stop(struct net_backend *be)
{
    (void)be;
}

static void fake_destroy(struct net_backend *be)
{
    (void)be;
}

static const struct net_backend_ops fake_ops = {
    .kind = "fake", .send = fake_send, .start = fake_start, .stop = fake_stop, .destroy = fake_destroy};
static struct net_backend fake_be = {.ops = &fake_ops};

static struct vm vm;
static struct virtio_net *net;
static struct virtio_mmio *t;

static void wreg(uint64_t off, uint32_t v)
{
    virtio_mmio_write(t, off, v, 4);
}

static void init(void)
{
    static const uint8_t mac[6] = NET_DEFAULT_MAC;
    vm.ram = calloc(1, RAM_SIZE);
    vm.ram_base = RAM_BASE;
    vm.ram_size = RAM_SIZE;
    net = virtio_net_create(&vm, VIRT_VIRTIO_BASE, VIRT_VIRTIO_IRQ, &fake_be, mac);
    if (!net)
        abort();
    t = virtio_net_transport(net);
}

static uint32_t get16(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static void device_run(const uint8_t *data, size_t size)
{
    /* ctl: features, queue size, 6 ring offsets (16 bits each, inside or just past RAM). */
    enum { CTL = 2 + 12 };
    if (size < CTL)
        return;
    uint8_t feat = data[0], qsz = data[1];
    const uint8_t *rings = data + 2;
    data += CTL, size -= CTL;

    memset(vm.ram, 0, RAM_SIZE);
    memcpy(vm.ram, data, size < RAM_SIZE ? size : RAM_SIZE);

    wreg(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    uint64_t drv = 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_NET_F_MAC | 1ull << VIRTIO_NET_F_STATUS;
    if (feat & 1)
        drv |= 1ull << VIRTIO_NET_F_MRG_RXBUF;
    if (feat & 2)
        drv |= 1ull << VIRTIO_F_EVENT_IDX;
    if (feat & 4)
        drv |= 1ull << VIRTIO_F_INDIRECT_DESC;
    wreg(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    wreg(VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)drv);
    wreg(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    wreg(VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(drv >> 32));
    wreg(VIRTIO_MMIO_STATUS,
         VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    for (unsigned q = 0; q < 2; q++) {
        wreg(VIRTIO_MMIO_QUEUE_SEL, q);
        wreg(VIRTIO_MMIO_QUEUE_NUM, 1u << (qsz >> (4 * q) & 7)); /* 1..128 */
        wreg(VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)(RAM_BASE + get16(rings + 6 * q)));
        wreg(VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)(RAM_BASE + get16(rings + 6 * q + 2)));
        wreg(VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)(RAM_BASE + get16(rings + 6 * q + 4)));
        wreg(VIRTIO_MMIO_QUEUE_READY, 1);
    }
    wreg(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                                 VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);

    wreg(VIRTIO_MMIO_QUEUE_NOTIFY, VIRTIO_NET_TXQ);
    /* A received frame whose size depends on the input, then the driver's rx kick. */
    static uint8_t frame[4096];
    size_t flen = 14 + (size_t)(feat >> 3) * 128;
    memset(frame, 0xab, flen);
    rx_cb(rx_opaque, frame, flen);
    rx_cb(rx_opaque, frame, 60);
    wreg(VIRTIO_MMIO_QUEUE_NOTIFY, VIRTIO_NET_RXQ);
    wreg(VIRTIO_MMIO_QUEUE_NOTIFY, VIRTIO_NET_TXQ);
    wreg(VIRTIO_MMIO_STATUS, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!net)
        init();
    if (size < 1)
        return 0;
    if (!(data[0] & 1)) {
        char spec[512];
        size_t n = size - 1 < sizeof(spec) - 1 ? size - 1 : sizeof(spec) - 1;
        memcpy(spec, data + 1, n);
        spec[n] = 0;
        struct net_config cfg;
        char err[128];
        if (net_parse_spec(spec, &cfg, err, sizeof(err)) == 0 && cfg.nhostfwd > NET_MAX_HOSTFWD)
            abort();
        if (memchr(err, 0, sizeof(err)) == NULL)
            abort();
        return 0;
    }
    device_run(data + 1, size - 1);
    return 0;
}
