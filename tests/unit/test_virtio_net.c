/*
 * virtio-net against fake guest memory (the test is the driver and a fake
 * backend), hostile chains, the --net spec parser, and a real loopback run
 * of the libslirp backend: ARP and DHCP answered, a hostfwd connection
 * turned into a SYN for the guest.
 */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "backend/net.h"
#include "dev/virtio_net.h"
#include "machine/gmem.h"
#include "machine/vm.h"
#include "virtio/mmio.h"
#include "virtio/virtq.h"

#define RAM 0x80000000ull
#define RAM_SIZE (4ull << 20)
#define QN 16
#define QBASE(q) (RAM + 0x1000 + 0x4000ull * (q))
#define DESC(q) QBASE(q)
#define AVAIL(q) (QBASE(q) + 0x1000)
#define USED(q) (QBASE(q) + 0x2000)
#define BUF (RAM + 0x100000)

static const uint8_t guest_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

/* ---- a fake backend: remembers what the device sent ---- */

struct fake_be {
    struct net_backend be;
    net_rx_fn rx;
    void *opaque;
    bool started;
    unsigned nsent;
    size_t last_len;
    uint8_t last[2048];
};

static int fake_send(struct net_backend *be, const uint8_t *frame, size_t len)
{
    struct fake_be *f = (struct fake_be *)be;
    f->nsent++;
    f->last_len = len;
    memcpy(f->last, frame, len < sizeof(f->last) ? len : sizeof(f->last));
    return 0;
}

static int fake_start(struct net_backend *be, net_rx_fn rx, void *opaque)
{
    struct fake_be *f = (struct fake_be *)be;
    f->rx = rx;
    f->opaque = opaque;
    f->started = true;
    return 0;
}

static void fake_stop(struct net_backend *be)
{
    ((struct fake_be *)be)->started = false;
}

static void fake_destroy(struct net_backend *be)
{
    (void)be;
}

static const struct net_backend_ops fake_ops = {
    .kind = "fake", .send = fake_send, .start = fake_start, .stop = fake_stop, .destroy = fake_destroy};

/* ---- driver side ---- */

struct fx {
    struct vm vm;
    struct fake_be be;
    struct virtio_net *net;
    struct virtio_mmio *t;
    uint16_t avail_idx[2];
    uint16_t next_desc[2];
    uint16_t used_seen[2];
    uint64_t bufp; /* bump allocator for guest buffers */
};

static uint32_t reg(struct fx *f, uint64_t off)
{
    return (uint32_t)virtio_mmio_read(f->t, off, 4);
}

static void wreg(struct fx *f, uint64_t off, uint32_t v)
{
    virtio_mmio_write(f->t, off, v, 4);
}

static uint64_t dev_features(struct fx *f)
{
    wreg(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    uint64_t lo = reg(f, VIRTIO_MMIO_DEVICE_FEATURES);
    wreg(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    return (uint64_t)reg(f, VIRTIO_MMIO_DEVICE_FEATURES) << 32 | lo;
}

static void driver_init(struct fx *f, bool mrg)
{
    wreg(f, VIRTIO_MMIO_STATUS, 0);
    memset(f->vm.ram, 0, 0x10000);
    memset(f->avail_idx, 0, sizeof(f->avail_idx));
    memset(f->next_desc, 0, sizeof(f->next_desc));
    memset(f->used_seen, 0, sizeof(f->used_seen));
    f->bufp = BUF;
    wreg(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    uint64_t feat = dev_features(f) & ~(1ull << VIRTIO_F_EVENT_IDX);
    if (!mrg)
        feat &= ~(1ull << VIRTIO_NET_F_MRG_RXBUF);
    wreg(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    wreg(f, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)feat);
    wreg(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    wreg(f, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(feat >> 32));
    wreg(f, VIRTIO_MMIO_STATUS,
         VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    assert_true(reg(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
    for (unsigned q = 0; q < 2; q++) {
        wreg(f, VIRTIO_MMIO_QUEUE_SEL, q);
        wreg(f, VIRTIO_MMIO_QUEUE_NUM, QN);
        wreg(f, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)DESC(q));
        wreg(f, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)AVAIL(q));
        wreg(f, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)USED(q));
        wreg(f, VIRTIO_MMIO_QUEUE_READY, 1);
        assert_int_equal(reg(f, VIRTIO_MMIO_QUEUE_READY), 1);
    }
    wreg(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                                    VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
    assert_true(reg(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(vm_init(&f->vm, RAM_SIZE), 0);
    f->be.be.ops = &fake_ops;
    f->net = virtio_net_create(&f->vm, VIRT_VIRTIO_BASE, VIRT_VIRTIO_IRQ, &f->be.be, guest_mac);
    assert_non_null(f->net);
    assert_true(f->be.started);
    f->t = virtio_net_transport(f->net);
    driver_init(f, false);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    virtio_net_destroy(f->net);
    assert_false(f->be.started);
    vm_destroy(&f->vm);
    free(f);
    return 0;
}

struct seg {
    uint64_t gpa;
    uint32_t len;
    bool write;
};

static uint64_t galloc(struct fx *f, uint32_t len)
{
    uint64_t g = f->bufp;
    f->bufp += (len + 0x40 + 63) & ~63u; /* gaps between buffers */
    return g;
}

/* Post one chain on queue q (no kick). */
static void post(struct fx *f, unsigned q, const struct seg *s, unsigned n)
{
    uint16_t head = f->next_desc[q];
    for (unsigned i = 0; i < n; i++) {
        uint16_t idx = (uint16_t)((head + i) % QN);
        uint16_t next = (uint16_t)((head + i + 1) % QN);
        uint16_t flags = (s[i].write ? VIRTQ_DESC_F_WRITE : 0) | (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0);
        uint8_t d[16];
        memcpy(d, &s[i].gpa, 8);
        memcpy(d + 8, &s[i].len, 4);
        memcpy(d + 12, &flags, 2);
        memcpy(d + 14, &next, 2);
        gmem_write(&f->vm, DESC(q) + 16 * idx, d, 16);
    }
    f->next_desc[q] = (uint16_t)((head + n) % QN);
    gmem_write(&f->vm, AVAIL(q) + 4 + 2 * (f->avail_idx[q] % QN), &head, 2);
    f->avail_idx[q]++;
    __atomic_store_n((uint16_t *)gmem_ptr(&f->vm, AVAIL(q) + 2, 2), f->avail_idx[q],
                     __ATOMIC_RELEASE);
}

static void kick(struct fx *f, unsigned q)
{
    wreg(f, VIRTIO_MMIO_QUEUE_NOTIFY, q);
}

static uint16_t used_idx(struct fx *f, unsigned q)
{
    return __atomic_load_n((uint16_t *)gmem_ptr(&f->vm, USED(q) + 2, 2), __ATOMIC_ACQUIRE);
}

static void used_elem(struct fx *f, unsigned q, uint16_t i, uint32_t *id, uint32_t *len)
{
    gmem_read(&f->vm, USED(q) + 4 + 8 * (i % QN), id, 4);
    gmem_read(&f->vm, USED(q) + 8 + 8 * (i % QN), len, 4);
}

static bool needs_reset(struct fx *f)
{
    return reg(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET;
}

static void make_frame(uint8_t *p, size_t len, uint8_t seed)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(seed + i * 7);
}

/* Post one rx buffer of len bytes; returns its gpa. */
static uint64_t post_rx(struct fx *f, uint32_t len)
{
    uint64_t g = galloc(f, len);
    struct seg s = {g, len, true};
    post(f, VIRTIO_NET_RXQ, &s, 1);
    return g;
}

/* ---- device tests ---- */

static void test_identity_and_config(void **state)
{
    struct fx *f = *state;
    assert_int_equal(reg(f, VIRTIO_MMIO_DEVICE_ID), 1);
    uint64_t feat = dev_features(f);
    assert_true(feat & (1ull << VIRTIO_NET_F_MAC));
    assert_true(feat & (1ull << VIRTIO_NET_F_STATUS));
    assert_true(feat & (1ull << VIRTIO_NET_F_MRG_RXBUF));
    assert_true(feat & (1ull << VIRTIO_F_VERSION_1));
    for (unsigned i = 0; i < 6; i++)
        assert_int_equal(virtio_mmio_read(f->t, VIRTIO_MMIO_CONFIG + i, 1), guest_mac[i]);
    assert_int_equal(virtio_mmio_read(f->t, VIRTIO_MMIO_CONFIG + VIRTIO_NET_CFG_STATUS, 2),
                     VIRTIO_NET_S_LINK_UP);
}

static void test_tx_split_chain(void **state)
{
    struct fx *f = *state;
    uint8_t frame[100];
    make_frame(frame, sizeof(frame), 3);
    uint64_t h = galloc(f, 12), a = galloc(f, 30), b = galloc(f, 70);
    uint8_t hdr[12] = {0};
    gmem_write(&f->vm, h, hdr, 12);
    gmem_write(&f->vm, a, frame, 30);
    gmem_write(&f->vm, b, frame + 30, 70);
    struct seg s[3] = {{h, 12, false}, {a, 30, false}, {b, 70, false}};
    post(f, VIRTIO_NET_TXQ, s, 3);
    kick(f, VIRTIO_NET_TXQ);
    assert_int_equal(used_idx(f, VIRTIO_NET_TXQ), 1);
    assert_int_equal(f->be.nsent, 1);
    assert_int_equal(f->be.last_len, 100);
    assert_memory_equal(f->be.last, frame, 100);
    assert_true(reg(f, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_ISR_VRING);
    /* Header and frame in one descriptor, as Linux sends them. */
    uint64_t one = galloc(f, 112);
    gmem_write(&f->vm, one, hdr, 12);
    gmem_write(&f->vm, one + 12, frame, 100);
    struct seg s1 = {one, 112, false};
    post(f, VIRTIO_NET_TXQ, &s1, 1);
    kick(f, VIRTIO_NET_TXQ);
    assert_int_equal(f->be.nsent, 2);
    assert_memory_equal(f->be.last, frame, 100);
    assert_false(needs_reset(f));
}

static void test_rx_single_buffer(void **state)
{
    struct fx *f = *state;
    uint64_t g = post_rx(f, 1526);
    kick(f, VIRTIO_NET_RXQ);
    uint8_t frame[60];
    make_frame(frame, sizeof(frame), 9);
    f->be.rx(f->be.opaque, frame, sizeof(frame));
    assert_int_equal(used_idx(f, VIRTIO_NET_RXQ), 1);
    uint32_t id = 0, len = 0;
    used_elem(f, VIRTIO_NET_RXQ, 0, &id, &len);
    assert_int_equal(id, 0);
    assert_int_equal(len, 12 + 60);
    uint8_t got[72];
    gmem_read(&f->vm, g, got, 72);
    assert_int_equal(got[10] | got[11] << 8, 1); /* num_buffers */
    assert_int_equal(got[0], 0);                 /* flags */
    assert_memory_equal(got + 12, frame, 60);
    assert_true(reg(f, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_ISR_VRING);
}

static void test_rx_held_until_buffers(void **state)
{
    struct fx *f = *state;
    uint8_t a[64], b[80];
    make_frame(a, sizeof(a), 1);
    make_frame(b, sizeof(b), 2);
    f->be.rx(f->be.opaque, a, sizeof(a));
    f->be.rx(f->be.opaque, b, sizeof(b));
    assert_int_equal(used_idx(f, VIRTIO_NET_RXQ), 0);
    uint64_t g1 = post_rx(f, 1526), g2 = post_rx(f, 1526);
    kick(f, VIRTIO_NET_RXQ);
    assert_int_equal(used_idx(f, VIRTIO_NET_RXQ), 2);
    uint8_t got[12 + 80];
    gmem_read(&f->vm, g1 + 12, got, 64);
    assert_memory_equal(got, a, 64); /* in order */
    gmem_read(&f->vm, g2 + 12, got, 80);
    assert_memory_equal(got, b, 80);
}

static void test_rx_too_small_without_mrg_drops(void **state)
{
    struct fx *f = *state;
    post_rx(f, 100);
    kick(f, VIRTIO_NET_RXQ);
    uint8_t frame[200];
    make_frame(frame, sizeof(frame), 4);
    f->be.rx(f->be.opaque, frame, sizeof(frame));
    assert_int_equal(used_idx(f, VIRTIO_NET_RXQ), 0); /* buffer kept for a frame that fits */
    struct virtio_net_stats st;
    virtio_net_get_stats(f->net, &st);
    assert_int_equal(st.rx_dropped, 1);
    f->be.rx(f->be.opaque, frame, 60);
    assert_int_equal(used_idx(f, VIRTIO_NET_RXQ), 1);
    assert_false(needs_reset(f));
}

static void test_rx_mergeable(void **state)
{
    struct fx *f = *state;
    driver_init(f, true);
    uint8_t frame[1200];
    make_frame(frame, sizeof(frame), 5);
    uint64_t g[3];
    g[0] = post_rx(f, 512);
    kick(f, VIRTIO_NET_RXQ);
    f->be.rx(f->be.opaque, frame, sizeof(frame));
    assert_int_equal(used_idx(f, VIRTIO_NET_RXQ), 0); /* one buffer is not enough: held */
    g[1] = post_rx(f, 512);
    g[2] = post_rx(f, 512);
    kick(f, VIRTIO_NET_RXQ);
    assert_int_equal(used_idx(f, VIRTIO_NET_RXQ), 3);
    uint8_t got[1536];
    size_t off = 0;
    for (uint16_t i = 0; i < 3; i++) {
        uint32_t id = 0, len = 0;
        used_elem(f, VIRTIO_NET_RXQ, i, &id, &len);
        assert_int_equal(id, i);
        gmem_read(&f->vm, g[i], got + off, len);
        off += len;
    }
    assert_int_equal(off, 12 + 1200);
    assert_int_equal(got[10] | got[11] << 8, 3);
    assert_memory_equal(got + 12, frame, 1200);
}

static void test_rx_pending_limit(void **state)
{
    struct fx *f = *state;
    uint8_t frame[60];
    make_frame(frame, sizeof(frame), 6);
    for (int i = 0; i < VIRTIO_NET_RX_PENDING + 50; i++)
        f->be.rx(f->be.opaque, frame, sizeof(frame));
    struct virtio_net_stats st;
    virtio_net_get_stats(f->net, &st);
    assert_int_equal(st.rx_dropped, 50);
    /* Reset throws the held frames away. */
    driver_init(f, false);
    post_rx(f, 1526);
    kick(f, VIRTIO_NET_RXQ);
    assert_int_equal(used_idx(f, VIRTIO_NET_RXQ), 0);
}

static void test_rx_before_driver_ok_dropped(void **state)
{
    struct fx *f = *state;
    wreg(f, VIRTIO_MMIO_STATUS, 0);
    uint8_t frame[60] = {0};
    f->be.rx(f->be.opaque, frame, sizeof(frame));
    struct virtio_net_stats st;
    virtio_net_get_stats(f->net, &st);
    assert_int_equal(st.rx_dropped, 1);
}

/* ---- hostile chains: NEEDS_RESET, one log line, and the device recovers after reset ---- */

static void expect_reset_and_recover(struct fx *f)
{
    assert_true(needs_reset(f));
    driver_init(f, false);
    assert_false(needs_reset(f));
    uint64_t h = galloc(f, 72);
    uint8_t buf[72] = {0};
    make_frame(buf + 12, 60, 1);
    gmem_write(&f->vm, h, buf, 72);
    struct seg s = {h, 72, false};
    unsigned before = f->be.nsent;
    post(f, VIRTIO_NET_TXQ, &s, 1);
    kick(f, VIRTIO_NET_TXQ);
    assert_int_equal(f->be.nsent, before + 1);
}

static void test_tx_short_header(void **state)
{
    struct fx *f = *state;
    struct seg s = {galloc(f, 8), 8, false};
    post(f, VIRTIO_NET_TXQ, &s, 1);
    kick(f, VIRTIO_NET_TXQ);
    assert_int_equal(f->be.nsent, 0);
    expect_reset_and_recover(f);
}

static void test_tx_writable_descriptor(void **state)
{
    struct fx *f = *state;
    struct seg s[2] = {{galloc(f, 12), 12, false}, {galloc(f, 60), 60, true}};
    post(f, VIRTIO_NET_TXQ, s, 2);
    kick(f, VIRTIO_NET_TXQ);
    assert_int_equal(f->be.nsent, 0);
    expect_reset_and_recover(f);
}

static void test_tx_outside_ram(void **state)
{
    struct fx *f = *state;
    struct seg s[2] = {{galloc(f, 12), 12, false}, {RAM + RAM_SIZE - 10, 60, false}};
    post(f, VIRTIO_NET_TXQ, s, 2);
    kick(f, VIRTIO_NET_TXQ);
    assert_int_equal(f->be.nsent, 0);
    expect_reset_and_recover(f);
}

static void test_tx_descriptor_loop(void **state)
{
    struct fx *f = *state;
    /* Descriptor 0 → 1 → 0 ... */
    struct seg s[2] = {{galloc(f, 12), 12, false}, {galloc(f, 60), 60, false}};
    post(f, VIRTIO_NET_TXQ, s, 2);
    uint16_t zero = 0;
    gmem_write(&f->vm, DESC(VIRTIO_NET_TXQ) + 16 + 14, &zero, 2);
    uint16_t flags = VIRTQ_DESC_F_NEXT;
    gmem_write(&f->vm, DESC(VIRTIO_NET_TXQ) + 16 + 12, &flags, 2);
    kick(f, VIRTIO_NET_TXQ);
    assert_int_equal(f->be.nsent, 0);
    expect_reset_and_recover(f);
}

static void test_rx_readable_buffer(void **state)
{
    struct fx *f = *state;
    struct seg s = {galloc(f, 1526), 1526, false};
    post(f, VIRTIO_NET_RXQ, &s, 1);
    kick(f, VIRTIO_NET_RXQ);
    uint8_t frame[60] = {0};
    f->be.rx(f->be.opaque, frame, sizeof(frame));
    expect_reset_and_recover(f);
}

static void test_rx_buffer_shorter_than_header(void **state)
{
    struct fx *f = *state;
    post_rx(f, 8);
    uint8_t frame[60] = {0};
    f->be.rx(f->be.opaque, frame, sizeof(frame));
    expect_reset_and_recover(f);
}

static void test_tx_runt_frame_dropped_not_fatal(void **state)
{
    struct fx *f = *state;
    uint64_t h = galloc(f, 12 + 5);
    struct seg s = {h, 12 + 5, false};
    post(f, VIRTIO_NET_TXQ, &s, 1);
    kick(f, VIRTIO_NET_TXQ);
    assert_int_equal(used_idx(f, VIRTIO_NET_TXQ), 1);
    assert_int_equal(f->be.nsent, 0);
    assert_false(needs_reset(f));
}

/* ---- --net spec parser ---- */

static void test_parse_user_defaults(void **state)
{
    (void)state;
    struct net_config c;
    char err[160];
    assert_int_equal(net_parse_spec("user", &c, err, sizeof(err)), 0);
    assert_int_equal(c.kind, NET_USER);
    assert_memory_equal(c.mac, guest_mac, 6);
    assert_int_equal(c.nhostfwd, 0);
}

static void test_parse_user_full(void **state)
{
    (void)state;
    struct net_config c;
    char err[160];
    assert_int_equal(net_parse_spec("user,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=udp::5353-10.0.2.15:53,"
                                    "mac=52:54:00:AB:cd:01",
                                    &c, err, sizeof(err)),
                     0);
    assert_int_equal(c.nhostfwd, 2);
    assert_false(c.hostfwd[0].udp);
    assert_int_equal(c.hostfwd[0].host_port, 2222);
    assert_int_equal(c.hostfwd[0].guest_port, 22);
    assert_int_equal(ntohl(c.hostfwd[0].host_addr.s_addr), 0x7f000001);
    assert_int_equal(ntohl(c.hostfwd[0].guest_addr.s_addr), 0x0a00020f);
    assert_true(c.hostfwd[1].udp);
    assert_int_equal(ntohl(c.hostfwd[1].host_addr.s_addr), 0x7f000001); /* empty → loopback */
    assert_int_equal(c.hostfwd[1].guest_port, 53);
    const uint8_t mac[6] = {0x52, 0x54, 0x00, 0xab, 0xcd, 0x01};
    assert_memory_equal(c.mac, mac, 6);
}

static void test_parse_tap(void **state)
{
    (void)state;
    struct net_config c;
    char err[160];
    assert_int_equal(net_parse_spec("tap:tap0,mac=02:00:00:00:00:01", &c, err, sizeof(err)), 0);
    assert_int_equal(c.kind, NET_TAP);
    assert_string_equal(c.ifname, "tap0");
    assert_int_equal(c.mac[0], 2);
}

static void expect_err(const char *spec, const char *needle)
{
    struct net_config c;
    char err[160] = "untouched";
    assert_int_equal(net_parse_spec(spec, &c, err, sizeof(err)), -EINVAL);
    if (!strstr(err, needle))
        fail_msg("spec '%s': error '%s' lacks '%s'", spec, err, needle);
}

static void test_parse_errors(void **state)
{
    (void)state;
    expect_err("", "empty");
    expect_err("usr", "unknown network type");
    expect_err("user,foo=1", "unknown option 'foo'");
    expect_err("user,mac", "unknown option 'mac'");
    expect_err("user,", "empty option");
    expect_err("user,,mac=52:54:00:12:34:56", "empty option");
    expect_err("user,mac=52:54:00:12:34", "bad MAC");
    expect_err("user,mac=52:54:00:12:34:5g", "bad MAC");
    expect_err("user,mac=52-54-00-12-34-56", "bad MAC");
    expect_err("user,mac=01:00:5e:00:00:01", "multicast");
    expect_err("user,mac=52:54:00:12:34:56,mac=52:54:00:12:34:57", "twice");
    expect_err("user,hostfwd=tcp:127.0.0.1:0-:22", "host port");
    expect_err("user,hostfwd=tcp:127.0.0.1:65536-:22", "host port");
    expect_err("user,hostfwd=tcp:127.0.0.1:22x-:22", "host port");
    expect_err("user,hostfwd=tcp:127.0.0.1:2222-:", "guest port");
    expect_err("user,hostfwd=tcp:127.0.0.1:2222-:-1", "guest port");
    expect_err("user,hostfwd=tcp:127.0.0.1:2222:22", "missing '-'");
    expect_err("user,hostfwd=sctp:127.0.0.1:1-:2", "expected tcp:");
    expect_err("user,hostfwd=tcp:localhost:2222-:22", "not an IPv4 address");
    expect_err("user,hostfwd=tcp:127.0.0.1:2222-22", "ADDR:PORT");
    expect_err("tap:", "bad tap interface name");
    expect_err("tap:a/b", "bad tap interface name");
    expect_err("tap:0123456789abcdef", "bad tap interface name");
    expect_err("tap:tap0,hostfwd=tcp::1-:2", "only applies to user");
    expect_err("tap:tap0,bogus", "unknown option 'bogus'");
    char many[2048] = "user";
    for (int i = 0; i <= NET_MAX_HOSTFWD; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), ",hostfwd=tcp::%d-:22", 1000 + i);
    expect_err(many, "too many");
}

/* ---- libslirp backend, for real ---- */

struct collector {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned n;
    size_t len[64];
    uint8_t frame[64][1600];
};

static void collect(void *opaque, const uint8_t *frame, size_t len)
{
    struct collector *c = opaque;
    pthread_mutex_lock(&c->lock);
    if (c->n < 64 && len <= 1600) {
        memcpy(c->frame[c->n], frame, len);
        c->len[c->n] = len;
        c->n++;
    }
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

typedef bool (*frame_pred)(const uint8_t *f, size_t len);

/* Waits up to 5 s for a frame (from index *from on) matching pred; returns its index or -1. */
static int wait_frame(struct collector *c, unsigned *from, frame_pred pred)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 5;
    pthread_mutex_lock(&c->lock);
    int found = -1;
    for (;;) {
        for (; *from < c->n; ++*from) {
            if (pred(c->frame[*from], c->len[*from])) {
                found = (int)(*from)++;
                goto out;
            }
        }
        if (pthread_cond_timedwait(&c->cond, &c->lock, &dl) == ETIMEDOUT)
            break;
    }
out:
    pthread_mutex_unlock(&c->lock);
    return found;
}

static size_t build_arp_request(uint8_t *p, const char *target)
{
    memset(p, 0xff, 6);
    memcpy(p + 6, guest_mac, 6);
    p[12] = 0x08, p[13] = 0x06;
    uint8_t *a = p + 14;
    a[0] = 0, a[1] = 1, a[2] = 0x08, a[3] = 0, a[4] = 6, a[5] = 4, a[6] = 0, a[7] = 1;
    memcpy(a + 8, guest_mac, 6);
    inet_pton(AF_INET, NET_USER_GUEST, a + 14);
    memset(a + 18, 0, 6);
    inet_pton(AF_INET, target, a + 24);
    return 42;
}

static bool is_arp_reply_from_gateway(const uint8_t *f, size_t len)
{
    uint8_t gw[4];
    inet_pton(AF_INET, NET_USER_GATEWAY, gw);
    return len >= 42 && f[12] == 0x08 && f[13] == 0x06 && f[21] == 2 && !memcmp(f + 28, gw, 4) &&
           !memcmp(f, guest_mac, 6);
}

static uint16_t ip_csum(const uint8_t *p, size_t n)
{
    uint32_t s = 0;
    for (size_t i = 0; i + 1 < n; i += 2)
        s += (uint32_t)(p[i] << 8 | p[i + 1]);
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

static size_t build_dhcp_discover(uint8_t *p)
{
    memset(p, 0, 600);
    memset(p, 0xff, 6);
    memcpy(p + 6, guest_mac, 6);
    p[12] = 0x08, p[13] = 0x00;
    uint8_t *ip = p + 14, *udp = ip + 20, *bootp = udp + 8;
    size_t blen = 236 + 4 + 3 + 1;
    size_t ulen = 8 + blen, iplen = 20 + ulen;
    ip[0] = 0x45;
    ip[2] = (uint8_t)(iplen >> 8), ip[3] = (uint8_t)iplen;
    ip[8] = 64, ip[9] = 17;
    memset(ip + 16, 0xff, 4);
    uint16_t cs = ip_csum(ip, 20);
    ip[10] = (uint8_t)(cs >> 8), ip[11] = (uint8_t)cs;
    udp[1] = 68, udp[3] = 67;
    udp[4] = (uint8_t)(ulen >> 8), udp[5] = (uint8_t)ulen;
    bootp[0] = 1, bootp[1] = 1, bootp[2] = 6;
    bootp[4] = 0x12, bootp[5] = 0x34, bootp[6] = 0x56, bootp[7] = 0x78; /* xid */
    memcpy(bootp + 28, guest_mac, 6);
    uint8_t *o = bootp + 236;
    o[0] = 99, o[1] = 130, o[2] = 83, o[3] = 99; /* magic cookie */
    o[4] = 53, o[5] = 1, o[6] = 1;               /* DHCPDISCOVER */
    o[7] = 255;
    return 14 + iplen;
}

static bool is_dhcp_offer(const uint8_t *f, size_t len)
{
    if (len < 14 + 20 + 8 + 240 || f[12] != 0x08 || f[13] != 0 || f[14 + 9] != 17)
        return false;
    const uint8_t *udp = f + 14 + (f[14] & 15) * 4, *b = udp + 8;
    if (udp[1] != 67 || udp[3] != 68 || b[0] != 2 || memcmp(b + 4, "\x12\x34\x56\x78", 4))
        return false;
    uint8_t yi[4];
    inet_pton(AF_INET, NET_USER_GUEST, yi);
    if (memcmp(b + 16, yi, 4))
        return false;
    for (const uint8_t *o = b + 240; o + 2 < f + len && *o != 255; o += 2 + o[1])
        if (o[0] == 53)
            return o[2] == 2; /* DHCPOFFER */
    return false;
}

static bool is_arp_request_for_guest(const uint8_t *f, size_t len)
{
    uint8_t g[4];
    inet_pton(AF_INET, NET_USER_GUEST, g);
    return len >= 42 && f[12] == 0x08 && f[13] == 0x06 && f[21] == 1 && !memcmp(f + 38, g, 4);
}

static bool is_syn_to_guest_port_22(const uint8_t *f, size_t len)
{
    if (len < 14 + 20 + 20 || f[12] != 0x08 || f[13] != 0 || f[14 + 9] != 6)
        return false;
    const uint8_t *tcp = f + 14 + (f[14] & 15) * 4;
    return (size_t)(tcp - f) + 20 <= len && (tcp[2] << 8 | tcp[3]) == 22 && (tcp[13] & 0x02);
}

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &al), 0);
    close(s);
    return ntohs(a.sin_port);
}

static void test_slirp_arp_dhcp_hostfwd(void **state)
{
    (void)state;
    struct collector *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);

    int port = free_port();
    char spec[128], err[160];
    snprintf(spec, sizeof(spec), "user,hostfwd=tcp:127.0.0.1:%d-:22", port);
    struct net_config cfg;
    assert_int_equal(net_parse_spec(spec, &cfg, err, sizeof(err)), 0);
    struct net_backend *be = net_backend_create(NULL, &cfg, err, sizeof(err));
    if (!be)
        fail_msg("slirp backend: %s", err);
    assert_int_equal(net_backend_start(be, collect, c), 0);

    unsigned from = 0;
    uint8_t pkt[600];
    size_t n = build_arp_request(pkt, NET_USER_GATEWAY);
    assert_int_equal(net_backend_send(be, pkt, n), 0);
    assert_true(wait_frame(c, &from, is_arp_reply_from_gateway) >= 0);

    n = build_dhcp_discover(pkt);
    assert_int_equal(net_backend_send(be, pkt, n), 0);
    assert_true(wait_frame(c, &from, is_dhcp_offer) >= 0);

    /* A host connection to the forwarded port becomes a SYN to guest port 22. */
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int r = connect(s, (struct sockaddr *)&a, sizeof(a));
    assert_true(r == 0 || errno == EINPROGRESS);
    unsigned from2 = from;
    int idx = wait_frame(c, &from, is_syn_to_guest_port_22);
    if (idx < 0 && wait_frame(c, &from2, is_arp_request_for_guest) >= 0)
        fail_msg("slirp asked for the guest's MAC instead of sending the SYN");
    assert_true(idx >= 0);
    close(s);

    /* A second backend on the same port must fail with a clear message. */
    struct net_backend *be2 = net_backend_create(NULL, &cfg, err, sizeof(err));
    assert_null(be2);
    assert_non_null(strstr(err, "cannot forward tcp 127.0.0.1:"));

    net_backend_destroy(be);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* The full path: virtio-net device + slirp; an ARP request sent by the "guest" is answered. */
static void test_device_over_slirp(void **state)
{
    (void)state;
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(vm_init(&f->vm, RAM_SIZE), 0);
    struct net_config cfg;
    char err[160];
    assert_int_equal(net_parse_spec("user", &cfg, err, sizeof(err)), 0);
    struct net_backend *be = net_backend_create(&f->vm, &cfg, err, sizeof(err));
    assert_non_null(be);
    f->net = virtio_net_create(&f->vm, VIRT_VIRTIO_BASE, VIRT_VIRTIO_IRQ, be, cfg.mac);
    assert_non_null(f->net);
    f->t = virtio_net_transport(f->net);
    driver_init(f, true);
    uint64_t rxb = post_rx(f, 1526);
    kick(f, VIRTIO_NET_RXQ);

    uint8_t pkt[12 + 42] = {0};
    build_arp_request(pkt + 12, NET_USER_GATEWAY);
    uint64_t g = galloc(f, sizeof(pkt));
    gmem_write(&f->vm, g, pkt, sizeof(pkt));
    struct seg s = {g, sizeof(pkt), false};
    post(f, VIRTIO_NET_TXQ, &s, 1);
    kick(f, VIRTIO_NET_TXQ);
    for (int i = 0; i < 500 && used_idx(f, VIRTIO_NET_RXQ) == 0; i++) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(used_idx(f, VIRTIO_NET_RXQ), 1);
    uint8_t got[12 + 64];
    uint32_t id = 0, len = 0;
    used_elem(f, VIRTIO_NET_RXQ, 0, &id, &len);
    assert_true(len >= 12 + 42);
    gmem_read(&f->vm, rxb, got, len < sizeof(got) ? len : sizeof(got));
    assert_int_equal(got[10], 1);
    assert_true(is_arp_reply_from_gateway(got + 12, len - 12));

    virtio_net_destroy(f->net);
    net_backend_destroy(be);
    vm_destroy(&f->vm);
    free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_identity_and_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tx_split_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_single_buffer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_held_until_buffers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_too_small_without_mrg_drops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_mergeable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_pending_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_before_driver_ok_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tx_short_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tx_writable_descriptor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tx_outside_ram, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tx_descriptor_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_readable_buffer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_buffer_shorter_than_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tx_runt_frame_dropped_not_fatal, setup, teardown),
        cmocka_unit_test(test_parse_user_defaults),
        cmocka_unit_test(test_parse_user_full),
        cmocka_unit_test(test_parse_tap),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_slirp_arp_dhcp_hostfwd),
        cmocka_unit_test(test_device_over_slirp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
