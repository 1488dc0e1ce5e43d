/*
 * virtio-balloon against fake guest memory: the test is the driver. Inflated and
 * reported pages must read back as zeros (MADV_DONTNEED on the private anonymous
 * RAM mapping), hostile PFNs must be counted and ignored, never touched.
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

#include "dev/virtio_balloon.h"
#include "machine/gmem.h"
#include "machine/vm.h"
#include "virtio/mmio.h"
#include "virtio/virtq.h"

#define RAM 0x80000000ull
#define RAM_SIZE (4ull << 20)
#define QN 8
#define RING(q) (RAM + 0x10000 * (q) + 0x1000) /* desc; avail +0x1000; used +0x2000 */
#define BUF (RAM + 0x100000)
#define PAGES (RAM + 0x200000) /* pages handed to the balloon */

struct fx {
    struct vm vm;
    struct virtio_balloon *b;
    struct virtio_mmio *t;
    uint16_t avail_idx[3];
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
    assert_int_equal(vm_init(&f->vm, RAM_SIZE), 0);
    f->b = virtio_balloon_create(&f->vm, VIRT_VIRTIO_BASE, VIRT_VIRTIO_IRQ);
    assert_non_null(f->b);
    f->t = virtio_balloon_transport(f->b);
    assert_int_equal(reg(f, VIRTIO_MMIO_DEVICE_ID), 5);
    wreg(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    uint32_t feat = reg(f, VIRTIO_MMIO_DEVICE_FEATURES);
    assert_true(feat & (1u << VIRTIO_BALLOON_F_PAGE_REPORTING));
    assert_true(feat & (1u << VIRTIO_BALLOON_F_DEFLATE_ON_OOM));
    wreg(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    wreg(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    wreg(f, VIRTIO_MMIO_DRIVER_FEATURES,
         (1u << VIRTIO_BALLOON_F_PAGE_REPORTING) | (1u << VIRTIO_BALLOON_F_DEFLATE_ON_OOM));
    wreg(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    wreg(f, VIRTIO_MMIO_DRIVER_FEATURES, 1); /* VERSION_1 */
    wreg(f, VIRTIO_MMIO_STATUS,
         VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    /* Linux numbers the present queues 0, 1, 2: inflate, deflate, reporting. */
    for (unsigned q = 0; q < 3; q++) {
        wreg(f, VIRTIO_MMIO_QUEUE_SEL, q);
        wreg(f, VIRTIO_MMIO_QUEUE_NUM, QN);
        wreg(f, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)RING(q));
        wreg(f, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)(RING(q) + 0x1000));
        wreg(f, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)(RING(q) + 0x2000));
        wreg(f, VIRTIO_MMIO_QUEUE_READY, 1);
    }
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
    virtio_balloon_destroy(f->b);
    vm_destroy(&f->vm);
    free(f);
    return 0;
}

static void desc(struct fx *f, unsigned q, unsigned i, uint64_t addr, uint32_t len, uint16_t flags)
{
    uint8_t d[16];
    uint16_t next = (uint16_t)(i + 1);
    memcpy(d, &addr, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    memcpy(d + 14, &next, 2);
    assert_int_equal(gmem_write(&f->vm, RING(q) + 16 * i, d, 16), 0);
}

static void kick(struct fx *f, unsigned q)
{
    uint16_t head = 0;
    gmem_write(&f->vm, RING(q) + 0x1000 + 4 + 2 * (f->avail_idx[q] % QN), &head, 2);
    f->avail_idx[q]++;
    gmem_write(&f->vm, RING(q) + 0x1000 + 2, &f->avail_idx[q], 2);
    wreg(f, VIRTIO_MMIO_QUEUE_NOTIFY, q);
}

static uint16_t used_idx(struct fx *f, unsigned q)
{
    uint16_t v = 0;
    gmem_read(&f->vm, RING(q) + 0x2000 + 2, &v, 2);
    return v;
}

static bool all_byte(const uint8_t *p, size_t n, uint8_t b)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != b) return false;
    return true;
}

/* Sends pfns[] on queue q as one readable buffer. */
static void send_pfns(struct fx *f, unsigned q, const uint32_t *pfns, unsigned n, uint32_t len)
{
    assert_int_equal(gmem_write(&f->vm, BUF, pfns, 4ull * n), 0);
    desc(f, q, 0, BUF, len, 0);
    kick(f, q);
}

static void test_inflate_discards(void **state)
{
    struct fx *f = *state;
    uint8_t *p = gmem_ptr(&f->vm, PAGES, 4 * 4096);
    assert_non_null(p);
    memset(p, 0xaa, 4 * 4096);
    /* Pages 0, 1 and 3 (a run and a single), page 2 stays. */
    uint32_t base = (uint32_t)(PAGES >> 12);
    uint32_t pfns[3] = {base, base + 1, base + 3};
    send_pfns(f, 0, pfns, 3, sizeof(pfns));
    assert_int_equal(used_idx(f, 0), 1);
    assert_true(all_byte(p, 2 * 4096, 0));
    assert_true(all_byte(p + 2 * 4096, 4096, 0xaa));
    assert_true(all_byte(p + 3 * 4096, 4096, 0));
    struct virtio_balloon_stats s;
    virtio_balloon_get_stats(f->b, &s);
    assert_int_equal(s.inflated_pages, 3);
    assert_int_equal(s.bad_pfns, 0);
    assert_true(s.driver_ok);
}

static void test_hostile_pfns(void **state)
{
    struct fx *f = *state;
    uint8_t *last = gmem_ptr(&f->vm, RAM + RAM_SIZE - 4096, 4096);
    memset(last, 0x55, 4096);
    uint32_t end = (uint32_t)((RAM + RAM_SIZE) >> 12);
    uint32_t pfns[] = {0, 1, (uint32_t)(RAM >> 12) - 1, end, end + 1, 0xffffffffu, 0x7fffffffu,
                       end - 1 /* valid: the last page */};
    /* A length that is not a multiple of 4: the partial PFN is ignored. */
    send_pfns(f, 0, pfns, 8, sizeof(pfns) + 3);
    assert_int_equal(used_idx(f, 0), 1);
    struct virtio_balloon_stats s;
    virtio_balloon_get_stats(f->b, &s);
    assert_int_equal(s.bad_pfns, 7);
    assert_int_equal(s.inflated_pages, 1);
    assert_true(all_byte(last, 4096, 0));
    /* The device is still fine. */
    assert_false(reg(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_deflate_counts(void **state)
{
    struct fx *f = *state;
    uint32_t base = (uint32_t)(PAGES >> 12);
    uint32_t pfns[4] = {base, base + 1, 0xdeadbeef, base + 2};
    uint8_t *p = gmem_ptr(&f->vm, PAGES, 3 * 4096);
    memset(p, 0x11, 3 * 4096);
    send_pfns(f, 1, pfns, 4, sizeof(pfns));
    assert_int_equal(used_idx(f, 1), 1);
    struct virtio_balloon_stats s;
    virtio_balloon_get_stats(f->b, &s);
    assert_int_equal(s.deflated_pages, 3);
    assert_int_equal(s.bad_pfns, 1);
    /* Deflating does not discard. */
    assert_true(all_byte(p, 3 * 4096, 0x11));
}

static void test_report_discards(void **state)
{
    struct fx *f = *state;
    uint8_t *p = gmem_ptr(&f->vm, PAGES, 64 * 1024);
    memset(p, 0xcc, 64 * 1024);
    /* Linux reports free ranges as device-writable buffers; one is unaligned at both ends. */
    desc(f, 2, 0, PAGES, 32 * 1024, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT);
    desc(f, 2, 1, PAGES + 32 * 1024 + 100, 16 * 1024, VIRTQ_DESC_F_WRITE);
    kick(f, 2);
    assert_int_equal(used_idx(f, 2), 1);
    assert_true(all_byte(p, 32 * 1024, 0));
    /* Only whole pages inside the second range: its first and last partial pages stay. */
    assert_true(all_byte(p + 32 * 1024, 4096, 0xcc));
    assert_true(all_byte(p + 36 * 1024, 12 * 1024, 0));
    assert_true(all_byte(p + 48 * 1024, 16 * 1024, 0xcc));
    struct virtio_balloon_stats s;
    virtio_balloon_get_stats(f->b, &s);
    assert_int_equal(s.reported_bytes, 48 * 1024);
}

static void test_report_out_of_ram(void **state)
{
    struct fx *f = *state;
    /* A range running past the end of RAM: the queue helper refuses it, the device needs reset. */
    desc(f, 2, 0, RAM + RAM_SIZE - 4096, 8192, VIRTQ_DESC_F_WRITE);
    kick(f, 2);
    assert_true(reg(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
    struct virtio_balloon_stats s;
    virtio_balloon_get_stats(f->b, &s);
    assert_int_equal(s.reported_bytes, 0);
}

static void test_config(void **state)
{
    struct fx *f = *state;
    assert_int_equal(reg(f, VIRTIO_MMIO_CONFIG + 0), 0);
    virtio_balloon_set_target(f->b, 100);
    assert_int_equal(reg(f, VIRTIO_MMIO_CONFIG + 0), 100);
    assert_true(reg(f, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_ISR_CONFIG);
    /* Clamped to guest RAM. */
    virtio_balloon_set_target(f->b, 0xffffffffu);
    assert_int_equal(reg(f, VIRTIO_MMIO_CONFIG + 0), RAM_SIZE >> 12);
    /* The driver writes actual; num_pages is not the driver's. */
    wreg(f, VIRTIO_MMIO_CONFIG + 4, 42);
    wreg(f, VIRTIO_MMIO_CONFIG + 0, 7);
    assert_int_equal(reg(f, VIRTIO_MMIO_CONFIG + 4), 42);
    assert_int_equal(reg(f, VIRTIO_MMIO_CONFIG + 0), RAM_SIZE >> 12);
    virtio_mmio_write(f->t, VIRTIO_MMIO_CONFIG + 5, 1, 1); /* byte access: actual = 42 + 256 */
    struct virtio_balloon_stats s;
    virtio_balloon_get_stats(f->b, &s);
    assert_int_equal(s.actual_pages, 42 + 256);
    /* Reset empties the balloon; the host's target stays. */
    wreg(f, VIRTIO_MMIO_STATUS, 0);
    virtio_balloon_get_stats(f->b, &s);
    assert_int_equal(s.actual_pages, 0);
    assert_false(s.driver_ok);
    assert_int_equal(s.target_pages, RAM_SIZE >> 12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_inflate_discards, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_pfns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deflate_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_report_discards, setup, teardown),
        cmocka_unit_test_setup_teardown(test_report_out_of_ram, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
