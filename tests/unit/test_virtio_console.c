/*
 * virtio-console: the test is the driver; output goes to a pipe, input comes
 * from a pipe, hostile chains put the device in NEEDS_RESET.
 */
#define _GNU_SOURCE /* pipe2 */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dev/virtio_console.h"
#include "machine/gmem.h"
#include "machine/vm.h"
#include "virtio/mmio.h"
#include "virtio/virtq.h"

#define RAM 0x80000000ull
#define QN 8
#define QBASE(q) (RAM + 0x1000 + 0x4000ull * (q))
#define DESC(q) QBASE(q)
#define AVAIL(q) (QBASE(q) + 0x1000)
#define USED(q) (QBASE(q) + 0x2000)
#define BUF (RAM + 0x100000)

struct fx {
    struct vm vm;
    struct virtio_console *con;
    struct virtio_mmio *t;
    int in[2], out[2]; /* pipes: the test writes in[1], reads out[0] */
    uint16_t avail_idx[2], next_desc[2];
};

static uint32_t reg(struct fx *f, uint64_t off)
{
    return (uint32_t)virtio_mmio_read(f->t, off, 4);
}

static void wreg(struct fx *f, uint64_t off, uint32_t v)
{
    virtio_mmio_write(f->t, off, v, 4);
}

static void driver_init(struct fx *f)
{
    wreg(f, VIRTIO_MMIO_STATUS, 0);
    memset(f->vm.ram, 0, 0x10000);
    memset(f->avail_idx, 0, sizeof(f->avail_idx));
    memset(f->next_desc, 0, sizeof(f->next_desc));
    wreg(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    wreg(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    wreg(f, VIRTIO_MMIO_DRIVER_FEATURES, 1); /* VERSION_1 */
    wreg(f, VIRTIO_MMIO_STATUS,
         VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    for (unsigned q = 0; q < 2; q++) {
        wreg(f, VIRTIO_MMIO_QUEUE_SEL, q);
        wreg(f, VIRTIO_MMIO_QUEUE_NUM, QN);
        wreg(f, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)DESC(q));
        wreg(f, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)AVAIL(q));
        wreg(f, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)USED(q));
        wreg(f, VIRTIO_MMIO_QUEUE_READY, 1);
    }
    wreg(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                                    VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
    assert_true(reg(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(vm_init(&f->vm, 1 << 20 << 2), 0);
    assert_int_equal(pipe2(f->in, O_CLOEXEC), 0);
    assert_int_equal(pipe2(f->out, O_CLOEXEC | O_NONBLOCK), 0);
    f->con = virtio_console_create(&f->vm, VIRT_VIRTIO_BASE, VIRT_VIRTIO_IRQ, f->in[0], f->out[1]);
    assert_non_null(f->con);
    f->t = virtio_console_transport(f->con);
    assert_int_equal(reg(f, VIRTIO_MMIO_DEVICE_ID), 3);
    driver_init(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    virtio_console_destroy(f->con);
    close(f->in[0]), close(f->in[1]), close(f->out[0]), close(f->out[1]);
    vm_destroy(&f->vm);
    free(f);
    return 0;
}

static void post(struct fx *f, unsigned q, uint64_t gpa, uint32_t len, bool write)
{
    uint16_t idx = f->next_desc[q];
    uint16_t flags = write ? VIRTQ_DESC_F_WRITE : 0, next = 0;
    uint8_t d[16];
    memcpy(d, &gpa, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    memcpy(d + 14, &next, 2);
    gmem_write(&f->vm, DESC(q) + 16 * idx, d, 16);
    f->next_desc[q] = (uint16_t)((idx + 1) % QN);
    gmem_write(&f->vm, AVAIL(q) + 4 + 2 * (f->avail_idx[q] % QN), &idx, 2);
    f->avail_idx[q]++;
    __atomic_store_n((uint16_t *)gmem_ptr(&f->vm, AVAIL(q) + 2, 2), f->avail_idx[q],
                     __ATOMIC_RELEASE);
    wreg(f, VIRTIO_MMIO_QUEUE_NOTIFY, q);
}

static uint16_t used_idx(struct fx *f, unsigned q)
{
    return __atomic_load_n((uint16_t *)gmem_ptr(&f->vm, USED(q) + 2, 2), __ATOMIC_ACQUIRE);
}

static bool wait_used(struct fx *f, unsigned q, uint16_t want)
{
    for (int i = 0; i < 2000; i++) {
        if (used_idx(f, q) == want)
            return true;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return false;
}

static void test_output(void **state)
{
    struct fx *f = *state;
    const char msg[] = "hello from hvc0\n";
    gmem_write(&f->vm, BUF, msg, sizeof(msg) - 1);
    post(f, VIRTIO_CONSOLE_TXQ, BUF, sizeof(msg) - 1, false);
    virtio_console_wait_idle(f->con);
    assert_int_equal(used_idx(f, VIRTIO_CONSOLE_TXQ), 1);
    char got[64] = {0};
    assert_int_equal(read(f->out[0], got, sizeof(got)), sizeof(msg) - 1);
    assert_string_equal(got, msg);
    assert_true(reg(f, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_ISR_VRING);
}

static void test_input_waits_for_buffers(void **state)
{
    struct fx *f = *state;
    assert_int_equal(write(f->in[1], "abcdef", 6), 6);
    struct timespec ts = {0, 20000000};
    nanosleep(&ts, NULL);
    assert_int_equal(used_idx(f, VIRTIO_CONSOLE_RXQ), 0);
    /* A 4-byte buffer takes the first 4 bytes, the next buffer the rest: nothing lost. */
    post(f, VIRTIO_CONSOLE_RXQ, BUF, 4, true);
    assert_true(wait_used(f, VIRTIO_CONSOLE_RXQ, 1));
    post(f, VIRTIO_CONSOLE_RXQ, BUF + 0x100, 64, true);
    assert_true(wait_used(f, VIRTIO_CONSOLE_RXQ, 2));
    char a[5] = {0}, b[3] = {0};
    gmem_read(&f->vm, BUF, a, 4);
    gmem_read(&f->vm, BUF + 0x100, b, 2);
    assert_string_equal(a, "abcd");
    assert_string_equal(b, "ef");
    uint32_t len = 0;
    gmem_read(&f->vm, USED(VIRTIO_CONSOLE_RXQ) + 4 + 8 + 4, &len, 4);
    assert_int_equal(len, 2);
}

static void test_hostile_tx_writable(void **state)
{
    struct fx *f = *state;
    post(f, VIRTIO_CONSOLE_TXQ, BUF, 16, true);
    virtio_console_wait_idle(f->con);
    assert_true(reg(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
    driver_init(f);
    assert_false(reg(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
    gmem_write(&f->vm, BUF, "ok", 2);
    post(f, VIRTIO_CONSOLE_TXQ, BUF, 2, false);
    virtio_console_wait_idle(f->con);
    char got[8] = {0};
    assert_int_equal(read(f->out[0], got, sizeof(got)), 2);
}

static void test_hostile_rx_outside_ram(void **state)
{
    struct fx *f = *state;
    post(f, VIRTIO_CONSOLE_RXQ, RAM + (4u << 20) - 2, 64, true);
    assert_int_equal(write(f->in[1], "x", 1), 1);
    for (int i = 0; i < 2000 && !(reg(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET); i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    assert_true(reg(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
    /* After reset the pending byte still arrives. */
    driver_init(f);
    post(f, VIRTIO_CONSOLE_RXQ, BUF, 16, true);
    assert_true(wait_used(f, VIRTIO_CONSOLE_RXQ, 1));
    char c = 0;
    gmem_read(&f->vm, BUF, &c, 1);
    assert_int_equal(c, 'x');
}

static void test_big_output_in_pieces(void **state)
{
    struct fx *f = *state;
    /* Three 40 KiB chains: more than the 64 KiB staging buffer holds at once. */
    static char big[3 * 40960];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)('a' + i % 26);
    int fl = fcntl(f->out[0], F_GETFL);
    fcntl(f->out[0], F_SETFL, fl & ~O_NONBLOCK);
    fcntl(f->out[1], F_SETFL, fcntl(f->out[1], F_GETFL) & ~O_NONBLOCK);
    for (int i = 0; i < 3; i++)
        gmem_write(&f->vm, BUF + 0x10000 * (uint64_t)i, big + 40960 * i, 40960);
    for (int i = 0; i < 3; i++)
        post(f, VIRTIO_CONSOLE_TXQ, BUF + 0x10000 * (uint64_t)i, 40960, false);
    static char got[sizeof(big)];
    size_t off = 0;
    while (off < sizeof(got)) {
        ssize_t r = read(f->out[0], got + off, sizeof(got) - off);
        assert_true(r > 0);
        off += (size_t)r;
    }
    assert_memory_equal(got, big, sizeof(big));
    assert_true(wait_used(f, VIRTIO_CONSOLE_TXQ, 3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_output, setup, teardown),
        cmocka_unit_test_setup_teardown(test_input_waits_for_buffers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_tx_writable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_rx_outside_ram, setup, teardown),
        cmocka_unit_test_setup_teardown(test_big_output_in_pieces, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
