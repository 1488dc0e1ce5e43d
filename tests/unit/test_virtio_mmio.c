/*
 * virtio-mmio transport against a fake device: register reset values,
 * feature negotiation, queue setup rules, config space bounds, reset,
 * interrupts (observed through the real PLIC's pending bits).
 */
/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <stdlib.h>
#include <string.h>

#include "dev/plic.h"
#include "machine/gmem.h"
#include "machine/vm.h"
#include "virtio/mmio.h"

#define BASE VIRT_VIRTIO_BASE
#define IRQ VIRT_VIRTIO_IRQ
#define RAM 0x80000000ull

struct fake {
    uint8_t config[12];
    int notified[4];
    int resets;
    int activates;
};

static void fake_config_read(void *dev, uint32_t off, void *buf, unsigned size)
{
    struct fake *f = dev;
    memcpy(buf, f->config + off, size);
}

static void fake_config_write(void *dev, uint32_t off, const void *buf, unsigned size)
{
    struct fake *f = dev;
    memcpy(f->config + off, buf, size);
}

static void fake_notify(void *dev, unsigned q)
{
    struct fake *f = dev;
    f->notified[q]++;
}

static void fake_reset(void *dev)
{
    ((struct fake *)dev)->resets++;
}

static void fake_activate(void *dev)
{
    ((struct fake *)dev)->activates++;
}

static const struct virtio_dev_ops fake_ops = {
    .device_id = 42,
    .features = 1ull << 3 | 1ull << 40,
    .num_queues = 2,
    .queue_max = 64,
    .config_read = fake_config_read,
    .config_write = fake_config_write,
    .config_size = sizeof(((struct fake *)0)->config),
    .queue_notify = fake_notify,
    .reset = fake_reset,
    .activate = fake_activate,
};

struct fx {
    struct vm vm;
    struct fake dev;
    struct virtio_mmio *t;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(vm_init(&f->vm, 1 << 20), 0);
    assert_non_null(plic_create(&f->vm));
    for (unsigned i = 0; i < sizeof(f->dev.config); i++)
        f->dev.config[i] = (uint8_t)(0x10 + i);
    f->t = virtio_mmio_create(&f->vm, BASE, IRQ, &fake_ops, &f->dev);
    assert_non_null(f->t);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    virtio_mmio_destroy(f->t);
    plic_destroy(f->vm.plic);
    vm_destroy(&f->vm);
    free(f);
    return 0;
}

/* Through the bus, as a hart would. */
static uint64_t rd(struct fx *f, uint64_t off, unsigned size)
{
    struct mmio_region *r = vm_mmio_find(&f->vm, BASE + off);
    assert_non_null(r);
    return r->ops->read(r->opaque, BASE + off - r->base, size);
}

static void wr(struct fx *f, uint64_t off, uint64_t v, unsigned size)
{
    struct mmio_region *r = vm_mmio_find(&f->vm, BASE + off);
    assert_non_null(r);
    r->ops->write(r->opaque, BASE + off - r->base, v, size);
}

static uint32_t r32(struct fx *f, uint64_t off)
{
    return (uint32_t)rd(f, off, 4);
}

static void w32(struct fx *f, uint64_t off, uint32_t v)
{
    wr(f, off, v, 4);
}

static bool line(struct fx *f)
{
    struct mmio_region *r = vm_mmio_find(&f->vm, VIRT_PLIC_BASE);
    assert_non_null(r);
    uint32_t pending = (uint32_t)r->ops->read(r->opaque, 0x1000 + 4 * (IRQ / 32), 4);
    return pending & (1u << (IRQ % 32));
}

static void negotiate(struct fx *f, uint64_t features)
{
    w32(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    w32(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    w32(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    w32(f, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
    w32(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    w32(f, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
    w32(f, VIRTIO_MMIO_STATUS,
        VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
}

static const uint64_t GOOD = 1ull << VIRTIO_F_VERSION_1 | 1ull << 3 | 1ull << VIRTIO_F_EVENT_IDX;

static void setup_queue(struct fx *f, unsigned qi, uint32_t num)
{
    w32(f, VIRTIO_MMIO_QUEUE_SEL, qi);
    w32(f, VIRTIO_MMIO_QUEUE_NUM, num);
    w32(f, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)(RAM + 0x1000));
    w32(f, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
    w32(f, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)(RAM + 0x2000));
    w32(f, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, 0);
    w32(f, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)(RAM + 0x3000));
    w32(f, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, 0);
    w32(f, VIRTIO_MMIO_QUEUE_READY, 1);
}

static void driver_ok(struct fx *f)
{
    w32(f, VIRTIO_MMIO_STATUS,
        VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
            VIRTIO_STATUS_DRIVER_OK);
}

static void test_reset_values(void **state)
{
    struct fx *f = *state;
    assert_int_equal(r32(f, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
    assert_int_equal(r32(f, VIRTIO_MMIO_VERSION), 2);
    assert_int_equal(r32(f, VIRTIO_MMIO_DEVICE_ID), 42);
    assert_int_equal(r32(f, VIRTIO_MMIO_VENDOR_ID), 0x554d4551);
    assert_int_equal(r32(f, VIRTIO_MMIO_STATUS), 0);
    assert_int_equal(r32(f, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
    assert_int_equal(r32(f, VIRTIO_MMIO_CONFIG_GENERATION), 0);
    assert_int_equal(r32(f, VIRTIO_MMIO_QUEUE_NUM_MAX), 64);
    assert_int_equal(r32(f, VIRTIO_MMIO_QUEUE_READY), 0);
    assert_int_equal(r32(f, VIRTIO_MMIO_SHM_LEN_LOW), 0xffffffffu);
    assert_int_equal(r32(f, VIRTIO_MMIO_SHM_LEN_HIGH), 0xffffffffu);
    w32(f, VIRTIO_MMIO_QUEUE_SEL, 2); /* no such queue */
    assert_int_equal(r32(f, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
    assert_int_equal(r32(f, VIRTIO_MMIO_QUEUE_READY), 0);
    w32(f, VIRTIO_MMIO_QUEUE_READY, 1);
    w32(f, VIRTIO_MMIO_QUEUE_SEL, 0xffffffffu);
    assert_int_equal(r32(f, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
    /* Write-only registers read 0. */
    assert_int_equal(r32(f, VIRTIO_MMIO_QUEUE_NOTIFY), 0);
    assert_int_equal(r32(f, VIRTIO_MMIO_DRIVER_FEATURES), 0);
    assert_false(line(f));
}

static void test_features(void **state)
{
    struct fx *f = *state;
    w32(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    uint32_t lo = r32(f, VIRTIO_MMIO_DEVICE_FEATURES);
    w32(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    uint32_t hi = r32(f, VIRTIO_MMIO_DEVICE_FEATURES);
    w32(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
    assert_int_equal(r32(f, VIRTIO_MMIO_DEVICE_FEATURES), 0);
    uint64_t feat = (uint64_t)hi << 32 | lo;
    assert_true(feat & (1ull << VIRTIO_F_VERSION_1));
    assert_true(feat & (1ull << VIRTIO_F_EVENT_IDX));
    assert_true(feat & (1ull << VIRTIO_F_INDIRECT_DESC));
    assert_true(feat & (1ull << 3));
    assert_true(feat & (1ull << 40));

    /* A feature the device never offered: FEATURES_OK does not stick. */
    negotiate(f, GOOD | 1ull << 5);
    assert_false(r32(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
    /* DRIVER_OK without FEATURES_OK is refused too. */
    driver_ok(f);
    assert_false(r32(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK);
    assert_int_equal(f->dev.activates, 0);

    /* No VERSION_1 (a driver for legacy devices, e.g. xv6): accepted, as QEMU's
     * virtio-mmio version 2 does, with only what it asked for. */
    w32(f, VIRTIO_MMIO_STATUS, 0);
    negotiate(f, 1ull << 3 | 1ull << VIRTIO_F_EVENT_IDX);
    assert_true(r32(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
    assert_int_equal(virtio_mmio_driver_features(f->t), 1ull << 3 | 1ull << VIRTIO_F_EVENT_IDX);
    assert_true(virtio_mmio_queue(f->t, 0)->event_idx);
    /* ...but still not with a feature the device never offered. */
    w32(f, VIRTIO_MMIO_STATUS, 0);
    negotiate(f, 1ull << 3 | 1ull << 5);
    assert_false(r32(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);

    /* A legacy driver that never sets FEATURES_OK: DRIVER_OK works, with no features applied
     * (QEMU applies driver features only at FEATURES_OK). */
    w32(f, VIRTIO_MMIO_STATUS, 0);
    w32(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    w32(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    w32(f, VIRTIO_MMIO_DRIVER_FEATURES, 1u << 3 | 1u << VIRTIO_F_EVENT_IDX);
    setup_queue(f, 0, 16);
    w32(f, VIRTIO_MMIO_STATUS,
        VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK);
    assert_true(r32(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK);
    assert_int_equal(f->dev.activates, 1);
    assert_int_equal(virtio_mmio_driver_features(f->t), 0);
    assert_false(virtio_mmio_queue(f->t, 0)->event_idx);
    f->dev.activates = 0;

    w32(f, VIRTIO_MMIO_STATUS, 0);
    negotiate(f, GOOD);
    assert_true(r32(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
    assert_int_equal(virtio_mmio_driver_features(f->t), GOOD);
    assert_true(virtio_mmio_queue(f->t, 0)->event_idx);
    assert_false(virtio_mmio_queue(f->t, 0)->indirect);
    /* After FEATURES_OK the driver features are frozen. */
    w32(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    w32(f, VIRTIO_MMIO_DRIVER_FEATURES, 0xffffffffu);
    assert_int_equal(virtio_mmio_driver_features(f->t), GOOD);

    setup_queue(f, 0, 16);
    driver_ok(f);
    assert_int_equal(f->dev.activates, 1);
    assert_true(r32(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK);
    driver_ok(f); /* writing the same status again does not re-activate */
    assert_int_equal(f->dev.activates, 1);
}

static void test_notify_rules(void **state)
{
    struct fx *f = *state;
    negotiate(f, GOOD);
    setup_queue(f, 0, 16);
    w32(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0); /* before DRIVER_OK */
    assert_int_equal(f->dev.notified[0], 0);
    driver_ok(f);
    w32(f, VIRTIO_MMIO_QUEUE_NOTIFY, 1); /* queue 1 not ready */
    w32(f, VIRTIO_MMIO_QUEUE_NOTIFY, 2); /* no such queue */
    w32(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0xffffffffu);
    assert_int_equal(f->dev.notified[1], 0);
    w32(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_int_equal(f->dev.notified[0], 1);
    /* A 16-bit write is not a register access. */
    wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0, 2);
    assert_int_equal(f->dev.notified[0], 1);
}

static void test_queue_setup_while_ready(void **state)
{
    struct fx *f = *state;
    negotiate(f, GOOD);
    setup_queue(f, 0, 16);
    assert_int_equal(r32(f, VIRTIO_MMIO_QUEUE_READY), 1);
    struct virtq *q = virtio_mmio_queue(f->t, 0);
    w32(f, VIRTIO_MMIO_QUEUE_NUM, 32);
    w32(f, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x1234);
    w32(f, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, 7);
    w32(f, VIRTIO_MMIO_QUEUE_DEVICE_LOW, 0);
    assert_int_equal(q->num, 16);
    assert_int_equal(q->desc, RAM + 0x1000);
    assert_int_equal(q->avail, RAM + 0x2000);
    assert_int_equal(q->used, RAM + 0x3000);
    /* The other queue is still configurable. */
    w32(f, VIRTIO_MMIO_QUEUE_SEL, 1);
    w32(f, VIRTIO_MMIO_QUEUE_NUM, 8);
    assert_int_equal(virtio_mmio_queue(f->t, 1)->num, 8);
    /* ready := 0 while DRIVER_OK is ignored (no VIRTIO_F_RING_RESET). */
    driver_ok(f);
    w32(f, VIRTIO_MMIO_QUEUE_SEL, 0);
    w32(f, VIRTIO_MMIO_QUEUE_READY, 0);
    assert_int_equal(r32(f, VIRTIO_MMIO_QUEUE_READY), 1);
}

static void test_bad_queue_num(void **state)
{
    struct fx *f = *state;
    negotiate(f, GOOD);
    const uint32_t bad[] = {0, 3, 48, 128, 65536, 0xffffffffu};
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setup_queue(f, 0, bad[i]);
        assert_int_equal(r32(f, VIRTIO_MMIO_QUEUE_READY), 0);
    }
    setup_queue(f, 0, 64); /* max is fine */
    assert_int_equal(r32(f, VIRTIO_MMIO_QUEUE_READY), 1);
    assert_int_equal(r32(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET, 0);
}

static void test_rings_outside_ram(void **state)
{
    struct fx *f = *state;
    negotiate(f, GOOD);
    w32(f, VIRTIO_MMIO_QUEUE_SEL, 0);
    w32(f, VIRTIO_MMIO_QUEUE_NUM, 16);
    w32(f, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x1000); /* below RAM */
    w32(f, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)(RAM + 0x2000));
    w32(f, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)(RAM + 0x3000));
    w32(f, VIRTIO_MMIO_QUEUE_READY, 1);
    assert_int_equal(r32(f, VIRTIO_MMIO_QUEUE_READY), 0);
    assert_true(r32(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
    assert_true(r32(f, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_ISR_CONFIG);
    assert_true(line(f));
}

static void test_config_space(void **state)
{
    struct fx *f = *state;
    const uint64_t C = VIRTIO_MMIO_CONFIG;
    assert_int_equal(rd(f, C + 0, 1), 0x10);
    assert_int_equal(rd(f, C + 2, 2), 0x1312);
    assert_int_equal(rd(f, C + 4, 4), 0x17161514);
    assert_int_equal(rd(f, C + 4, 8), 0x1b1a191817161514ull);
    /* Past the end, straddling the end, odd sizes: 0. */
    assert_int_equal(rd(f, C + 12, 1), 0);
    assert_int_equal(rd(f, C + 10, 4), 0);
    assert_int_equal(rd(f, C + 8, 8), 0);
    assert_int_equal(rd(f, C + 0, 3), 0);
    assert_int_equal(rd(f, 0xffc, 4), 0);
    wr(f, C + 1, 0xaa, 1);
    assert_int_equal(f->dev.config[1], 0xaa);
    wr(f, C + 10, 0xffffffff, 4);
    wr(f, C + 12, 0xff, 1);
    wr(f, 0xff8, ~0ull, 8);
    assert_int_equal(f->dev.config[10], 0x1a);
    assert_int_equal(f->dev.config[11], 0x1b);
}

static void test_status_zero_resets(void **state)
{
    struct fx *f = *state;
    negotiate(f, GOOD);
    setup_queue(f, 0, 16);
    setup_queue(f, 1, 8);
    driver_ok(f);
    virtio_mmio_raise(f->t, VIRTIO_ISR_VRING);
    virtio_mmio_needs_reset(f->t, "test");
    assert_true(line(f));
    /* The driver cannot clear NEEDS_RESET except by resetting. */
    driver_ok(f);
    assert_true(r32(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);

    w32(f, VIRTIO_MMIO_STATUS, 0);
    assert_int_equal(f->dev.resets, 1);
    assert_int_equal(r32(f, VIRTIO_MMIO_STATUS), 0);
    assert_int_equal(r32(f, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
    assert_false(line(f));
    assert_int_equal(virtio_mmio_driver_features(f->t), 0);
    for (unsigned i = 0; i < 2; i++) {
        w32(f, VIRTIO_MMIO_QUEUE_SEL, i);
        assert_int_equal(r32(f, VIRTIO_MMIO_QUEUE_READY), 0);
        assert_int_equal(virtio_mmio_queue(f->t, i)->num, 0);
        assert_int_equal(virtio_mmio_queue(f->t, i)->desc, 0);
    }
    /* And the device can be brought up again. */
    negotiate(f, GOOD);
    setup_queue(f, 0, 16);
    driver_ok(f);
    assert_int_equal(f->dev.activates, 2);
}

static void test_interrupts(void **state)
{
    struct fx *f = *state;
    virtio_mmio_raise(f->t, VIRTIO_ISR_VRING);
    assert_true(line(f));
    virtio_mmio_config_changed(f->t);
    assert_int_equal(r32(f, VIRTIO_MMIO_INTERRUPT_STATUS), 3);
    assert_int_equal(r32(f, VIRTIO_MMIO_CONFIG_GENERATION), 1);
    w32(f, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_ISR_VRING);
    assert_true(line(f)); /* config change still unacknowledged */
    w32(f, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_ISR_CONFIG);
    assert_false(line(f));
    assert_int_equal(r32(f, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
}

static void test_needs_reset_logged_once(void **state)
{
    struct fx *f = *state;
    for (int i = 0; i < 100; i++)
        virtio_mmio_needs_reset(f->t, "hostile driver");
    assert_true(virtio_mmio_status(f->t) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_every_offset(void **state)
{
    struct fx *f = *state;
    /* Whatever offset, size or value: no crash. Reads first, then writes of junk. */
    static const unsigned sizes[] = {1, 2, 4, 8};
    for (uint64_t off = 0; off < VIRTIO_MMIO_SIZE; off++)
        for (unsigned s = 0; s < 4; s++)
            if (off + sizes[s] <= VIRTIO_MMIO_SIZE) (void)rd(f, off, sizes[s]);
    for (uint64_t off = 0; off < VIRTIO_MMIO_SIZE; off++)
        for (unsigned s = 0; s < 4; s++)
            if (off + sizes[s] <= VIRTIO_MMIO_SIZE)
                wr(f, off, 0xdeadbeefcafef00dull ^ off, sizes[s]);
}

static void test_two_vms(void **state)
{
    (void)state;
    /* No static state: two VMs with a device each, independent. */
    struct vm a, b;
    struct fake da = {0}, db = {0};
    assert_int_equal(vm_init(&a, 1 << 16), 0);
    assert_int_equal(vm_init(&b, 1 << 16), 0);
    struct virtio_mmio *ta = virtio_mmio_create(&a, BASE, IRQ, &fake_ops, &da);
    struct virtio_mmio *tb = virtio_mmio_create(&b, BASE, IRQ, &fake_ops, &db);
    assert_non_null(ta);
    assert_non_null(tb);
    virtio_mmio_write(ta, VIRTIO_MMIO_STATUS, 1, 4);
    assert_int_equal(virtio_mmio_read(ta, VIRTIO_MMIO_STATUS, 4), 1);
    assert_int_equal(virtio_mmio_read(tb, VIRTIO_MMIO_STATUS, 4), 0);
    /* The same slot twice on one bus is refused. */
    assert_null(virtio_mmio_create(&a, BASE, IRQ, &fake_ops, &da));
    virtio_mmio_destroy(ta);
    virtio_mmio_destroy(tb);
    assert_int_equal(a.nmmio, 0);
    vm_destroy(&a);
    vm_destroy(&b);
}

/*
 * Status bits are cleared only by a reset (virtio 1.2 §2.1.2). A driver that
 * drops DRIVER_OK by writing a smaller value must not get the queues back
 * into setup mode (QueueReady=0, new QueueNum/addresses) while the device's
 * threads still use them, nor a second activate() or a feature change.
 */
static void test_status_bits_sticky(void **state)
{
    struct fx *f = *state;
    negotiate(f, GOOD);
    setup_queue(f, 0, 16);
    driver_ok(f);
    assert_int_equal(f->dev.activates, 1);

    /* Clear DRIVER_OK and FEATURES_OK without a reset. */
    w32(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    assert_true(r32(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK);
    assert_true(r32(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);

    /* The live queue stays as it was. */
    w32(f, VIRTIO_MMIO_QUEUE_SEL, 0);
    w32(f, VIRTIO_MMIO_QUEUE_READY, 0);
    assert_int_equal(r32(f, VIRTIO_MMIO_QUEUE_READY), 1);
    w32(f, VIRTIO_MMIO_QUEUE_NUM, 64);
    assert_int_equal(virtio_mmio_queue(f->t, 0)->num, 16);

    /* Features cannot change under the device either. */
    w32(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    w32(f, VIRTIO_MMIO_DRIVER_FEATURES, 0);
    assert_int_equal(virtio_mmio_driver_features(f->t), GOOD);

    /* Setting DRIVER_OK again is not a second activation. */
    driver_ok(f);
    assert_int_equal(f->dev.activates, 1);
    assert_true(virtio_mmio_queue(f->t, 0)->event_idx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_reset_values),  T(test_features),
        T(test_notify_rules),  T(test_queue_setup_while_ready),
        T(test_bad_queue_num), T(test_rings_outside_ram),
        T(test_config_space),  T(test_status_zero_resets),
        T(test_interrupts),    T(test_needs_reset_logged_once),
        T(test_every_offset),  T(test_status_bits_sticky),
        cmocka_unit_test(test_two_vms),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
