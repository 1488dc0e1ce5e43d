/*
 * virtio-rng: the test is the driver; random bytes must land in the
 * device-writable buffers of the chain, readable ones stay untouched.
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

#include "dev/virtio_rng.h"
#include "machine/gmem.h"
#include "machine/vm.h"
#include "virtio/mmio.h"
#include "virtio/virtq.h"

#define RAM 0x80000000ull
#define QN 8
#define DESC (RAM + 0x1000)
#define AVAIL (RAM + 0x2000)
#define USED (RAM + 0x3000)
#define BUF (RAM + 0x10000)

struct fx {
    struct vm vm;
    struct virtio_rng *rng;
    struct virtio_mmio *t;
    uint16_t avail_idx;
};

static void wreg(struct fx *f, uint64_t off, uint32_t v)
{
    virtio_mmio_write(f->t, off, v, 4);
}

static uint32_t reg(struct fx *f, uint64_t off)
{
    return (uint32_t)virtio_mmio_read(f->t, off, 4);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(vm_init(&f->vm, 1 << 20), 0);
    f->rng = virtio_rng_create(&f->vm, VIRT_VIRTIO_BASE + 0x1000, VIRT_VIRTIO_IRQ + 1);
    assert_non_null(f->rng);
    f->t = virtio_rng_transport(f->rng);
    assert_int_equal(reg(f, VIRTIO_MMIO_DEVICE_ID), 4);
    wreg(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    wreg(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    wreg(f, VIRTIO_MMIO_DRIVER_FEATURES, 1); /* VERSION_1 */
    wreg(f, VIRTIO_MMIO_STATUS,
         VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    wreg(f, VIRTIO_MMIO_QUEUE_SEL, 0);
    wreg(f, VIRTIO_MMIO_QUEUE_NUM, QN);
    wreg(f, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)DESC);
    wreg(f, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)AVAIL);
    wreg(f, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)USED);
    wreg(f, VIRTIO_MMIO_QUEUE_READY, 1);
    wreg(f, VIRTIO_MMIO_STATUS,
         VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
             VIRTIO_STATUS_DRIVER_OK);
    assert_true(reg(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    virtio_rng_destroy(f->rng);
    vm_destroy(&f->vm);
    free(f);
    return 0;
}

static void desc(struct fx *f, unsigned i, uint64_t addr, uint32_t len, uint16_t flags)
{
    uint8_t d[16];
    uint16_t next = (uint16_t)(i + 1);
    memcpy(d, &addr, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    memcpy(d + 14, &next, 2);
    gmem_write(&f->vm, DESC + 16 * i, d, 16);
}

static void kick(struct fx *f)
{
    uint16_t head = 0;
    gmem_write(&f->vm, AVAIL + 4 + 2 * (f->avail_idx % QN), &head, 2);
    f->avail_idx++;
    gmem_write(&f->vm, AVAIL + 2, &f->avail_idx, 2);
    wreg(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i]) return false;
    return true;
}

static void test_random_bytes(void **state)
{
    struct fx *f = *state;
    uint8_t *a = gmem_ptr(&f->vm, BUF, 64);
    uint8_t *b = gmem_ptr(&f->vm, BUF + 0x3000, 4096);
    uint8_t *ro = gmem_ptr(&f->vm, BUF + 0x8000, 32);
    memset(ro, 0, 32);
    desc(f, 0, BUF + 0x8000, 32, VIRTQ_DESC_F_NEXT);
    desc(f, 1, BUF, 64, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT);
    desc(f, 2, BUF + 0x3000, 4096, VIRTQ_DESC_F_WRITE);
    kick(f);

    uint16_t used;
    uint32_t id, len;
    gmem_read(&f->vm, USED + 2, &used, 2);
    gmem_read(&f->vm, USED + 4, &id, 4);
    gmem_read(&f->vm, USED + 8, &len, 4);
    assert_int_equal(used, 1);
    assert_int_equal(id, 0);
    assert_int_equal(len, 64 + 4096);
    /* 2^-512 and 2^-32768 chances of a false failure. */
    assert_false(all_zero(a, 64));
    assert_false(all_zero(b, 4096));
    assert_true(all_zero(ro, 32));
    assert_true(reg(f, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_ISR_VRING);

    /* A second request gets different bytes. */
    uint8_t first[64];
    memcpy(first, a, 64);
    desc(f, 0, BUF, 64, VIRTQ_DESC_F_WRITE);
    kick(f);
    assert_memory_not_equal(first, a, 64);
}

static void test_bad_chain(void **state)
{
    struct fx *f = *state;
    desc(f, 0, RAM + (1 << 20) - 4, 64, VIRTQ_DESC_F_WRITE);
    kick(f);
    assert_true(reg(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
    uint16_t used;
    gmem_read(&f->vm, USED + 2, &used, 2);
    assert_int_equal(used, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_random_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_chain, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
