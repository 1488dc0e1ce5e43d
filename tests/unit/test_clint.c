/* CLINT: msip, mtimecmp (whole and in halves), mtime, hostile accesses. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <time.h>

#include "cpu/hart.h"
#include "dev/clint.h"
#include "machine/vm.h"

#define NHARTS 3

struct fixture {
    struct vm vm;
    struct hart harts[NHARTS];
    struct clint *clint;
    struct mmio_region *r;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(vm_init(&f->vm, 1 << 20), 0);
    for (unsigned i = 0; i < NHARTS; i++) {
        assert_int_equal(hart_init(&f->harts[i], vm_bus(&f->vm), i), 0);
        f->vm.harts[i] = &f->harts[i];
    }
    f->vm.nharts = NHARTS;
    f->clint = clint_create(&f->vm);
    assert_non_null(f->clint);
    assert_ptr_equal(f->vm.clint, f->clint);
    f->r = vm_mmio_find(&f->vm, VIRT_CLINT_BASE + 0xbff8);
    assert_non_null(f->r);
    assert_int_equal(f->r->base, VIRT_CLINT_BASE);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    clint_destroy(f->clint);
    for (unsigned i = 0; i < NHARTS; i++)
        hart_destroy(&f->harts[i]);
    vm_destroy(&f->vm);
    free(f);
    return 0;
}

static uint64_t rd(struct fixture *f, uint64_t off, unsigned size)
{
    return f->r->ops->read(f->r->opaque, off, size);
}

static void wr(struct fixture *f, uint64_t off, uint64_t v, unsigned size)
{
    f->r->ops->write(f->r->opaque, off, v, size);
}

static bool msi(struct fixture *f, unsigned h)
{
    return (atomic_load(&f->harts[h].mip_ext) >> IRQ_MSI) & 1;
}

static void test_msip(void **state)
{
    struct fixture *f = *state;
    wr(f, 4 * 1, 1, 4);
    assert_true(msi(f, 1));
    assert_false(msi(f, 0));
    assert_false(msi(f, 2));
    assert_int_equal(rd(f, 4, 4), 1);
    /* Only bit 0 exists. */
    wr(f, 4 * 2, 0xfffffffe, 4);
    assert_false(msi(f, 2));
    assert_int_equal(rd(f, 8, 4), 0);
    wr(f, 4 * 1, 0, 4);
    assert_false(msi(f, 1));
    /* A byte write to bit 0 works too. */
    wr(f, 0, 1, 1);
    assert_true(msi(f, 0));
    assert_int_equal(rd(f, 0, 1), 1);
    wr(f, 0, 0, 4);
    assert_false(msi(f, 0));
}

static void test_mtimecmp(void **state)
{
    struct fixture *f = *state;
    /* Reset: nothing pending. */
    for (unsigned i = 0; i < NHARTS; i++) {
        assert_true(rd(f, 0x4000 + 8 * i, 8) == UINT64_MAX);
        assert_true(atomic_load(&f->harts[i].mtimecmp) == UINT64_MAX);
    }
    wr(f, 0x4000 + 8, 0x123456789abcdef0ull, 8);
    assert_true(atomic_load(&f->harts[1].mtimecmp) == 0x123456789abcdef0ull);
    assert_true(rd(f, 0x4008, 8) == 0x123456789abcdef0ull);
    assert_true(rd(f, 0x4008, 4) == 0x9abcdef0u);
    assert_true(rd(f, 0x400c, 4) == 0x12345678u);
    assert_true(atomic_load(&f->harts[0].mtimecmp) == UINT64_MAX);

    /* The RV32 sequence: high = ~0, low, high (privileged spec 3.2.1). */
    wr(f, 0x4014, 0xffffffff, 4);
    wr(f, 0x4010, 0x11112222, 4);
    wr(f, 0x4014, 0x00000033, 4);
    assert_true(atomic_load(&f->harts[2].mtimecmp) == 0x0000003311112222ull);
    assert_true(rd(f, 0x4010, 8) == 0x0000003311112222ull);
    /* 16-bit piece. */
    wr(f, 0x4012, 0xabcd, 2);
    assert_true(rd(f, 0x4010, 8) == 0x00000033abcd2222ull);
}

static void test_mtime(void **state)
{
    struct fixture *f = *state;
    uint64_t a = vm_time_now(&f->vm);
    uint64_t t = rd(f, 0xbff8, 8);
    uint64_t b = vm_time_now(&f->vm);
    assert_true(a <= t && t <= b);
    uint32_t lo = (uint32_t)rd(f, 0xbff8, 4);
    uint32_t hi = (uint32_t)rd(f, 0xbffc, 4);
    uint64_t c = vm_time_now(&f->vm);
    assert_true(hi == (uint32_t)(c >> 32) || hi + 1 == (uint32_t)(c >> 32));
    assert_true((uint32_t)c - lo < 100000000u); /* ticks, with slack for a slow host */
    /* Writes are ignored: mtime keeps following the VM clock. */
    wr(f, 0xbff8, 0, 8);
    assert_true(rd(f, 0xbff8, 8) >= b);
    /* Time advances. */
    uint64_t d = rd(f, 0xbff8, 8);
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
    assert_true(rd(f, 0xbff8, 8) > d);
}

static void test_reset(void **state)
{
    struct fixture *f = *state;
    wr(f, 4, 1, 4);
    wr(f, 0x4008, 1234, 8);
    assert_true(msi(f, 1));
    clint_reset(f->clint);
    assert_false(msi(f, 1));
    assert_int_equal(rd(f, 4, 4), 0);
    assert_true(rd(f, 0x4008, 8) == UINT64_MAX);
    assert_true(atomic_load(&f->harts[1].mtimecmp) == UINT64_MAX);
    clint_reset(NULL);
}

static void test_hostile(void **state)
{
    struct fixture *f = *state;
    /* Harts that do not exist. */
    wr(f, 4 * NHARTS, 1, 4);
    assert_int_equal(rd(f, 4 * NHARTS, 4), 0);
    wr(f, 0x3ffc, 1, 4);
    wr(f, 0x4000 + 8 * NHARTS, 5, 8);
    assert_int_equal(rd(f, 0x4000 + 8 * NHARTS, 8), 0);
    wr(f, 0xbff0, 5, 8);
    assert_int_equal(rd(f, 0xbff0, 8), 0);
    /* Sizes larger than the register, misaligned, zero, odd. */
    wr(f, 0, 1, 8);
    assert_false(msi(f, 0));
    wr(f, 2, 1, 4);
    wr(f, 0, 1, 3);
    wr(f, 0, 1, 0);
    assert_false(msi(f, 0));
    wr(f, 0x4004, 0, 8);
    wr(f, 0x4001, 0, 4);
    assert_true(rd(f, 0x4000, 8) == UINT64_MAX);
    assert_int_equal(rd(f, 0x4004, 8), 0);
    assert_int_equal(rd(f, 0xbffc, 8), 0);
    assert_int_equal(rd(f, 0xbff9, 4), 0);
    assert_int_equal(rd(f, 0xbff8, 16), 0);
    /* Past mtime, the rest of the window, and absurd offsets. */
    for (uint64_t off = 0xc000; off < VIRT_CLINT_SIZE; off += 0x100) {
        wr(f, off, ~0ull, 8);
        assert_int_equal(rd(f, off, 4), 0);
    }
    wr(f, ~0ull - 7, 1, 8);
    assert_int_equal(rd(f, ~0ull - 7, 8), 0);
    for (unsigned i = 0; i < NHARTS; i++)
        assert_false(msi(f, i));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_msip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mtimecmp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mtime, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
