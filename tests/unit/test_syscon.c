/* SiFive test device: power-off, reboot, failure codes, ignored values. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "dev/syscon.h"
#include "machine/vm.h"

struct fixture {
    struct vm vm;
    struct syscon *s;
    struct mmio_region *r;
};

static struct fixture fx;

static int setup(void **state)
{
    assert_int_equal(vm_init(&fx.vm, 0), 0);
    fx.s = syscon_create(&fx.vm);
    assert_non_null(fx.s);
    fx.r = vm_mmio_find(&fx.vm, VIRT_TEST_BASE);
    assert_non_null(fx.r);
    assert_int_equal(fx.r->size, 0x1000);
    *state = &fx;
    return 0;
}

static int teardown(void **state)
{
    syscon_destroy(fx.s);
    vm_destroy(&fx.vm);
    return 0;
}

static void wr(struct fixture *f, uint64_t off, uint64_t v, unsigned size)
{
    f->r->ops->write(f->r->opaque, off, v, size);
}

static void test_poweroff(void **state)
{
    struct fixture *f = *state;
    wr(f, 0, 0x5555, 4);
    assert_int_equal(atomic_load(&f->vm.stop), 1);
    assert_int_equal(f->vm.exit_status, 0);
    assert_int_equal(atomic_load(&f->vm.reboot), 0);
    assert_string_equal(f->vm.exit_reason, "guest powered off");
    /* A later reboot request must not turn the power-off into a restart. */
    wr(f, 0, 0x7777, 4);
    assert_int_equal(atomic_load(&f->vm.reboot), 0);
}

static void test_reboot(void **state)
{
    struct fixture *f = *state;
    wr(f, 0, 0x7777, 4);
    assert_int_equal(atomic_load(&f->vm.stop), 1);
    assert_int_equal(atomic_load(&f->vm.reboot), 1);
    assert_int_equal(f->vm.exit_status, 0);
    assert_string_equal(f->vm.exit_reason, "guest reboot");
}

static void test_fail_code(void **state)
{
    struct fixture *f = *state;
    wr(f, 0, 0x3333 | (42u << 16), 4);
    assert_int_equal(atomic_load(&f->vm.stop), 1);
    assert_int_equal(f->vm.exit_status, 42);
    assert_string_equal(f->vm.exit_reason, "guest reported failure 42");
}

static void test_fail_no_code(void **state)
{
    struct fixture *f = *state;
    wr(f, 0, 0x3333, 4);
    assert_int_equal(atomic_load(&f->vm.stop), 1);
    assert_int_equal(f->vm.exit_status, 1);
    assert_string_equal(f->vm.exit_reason, "guest reported failure 0");
}

static void test_ignored(void **state)
{
    struct fixture *f = *state;
    const uint64_t vals[] = {0, 1, 0x5554, 0x15556, 0x3334, 0x7776, ~0ull, 0x55550000};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
        wr(f, 0, vals[i], 4);
    /* Right value, wrong place or size. */
    wr(f, 4, 0x5555, 4);
    wr(f, 0xffc, 0x5555, 4);
    wr(f, 0, 0x5555, 1);
    wr(f, 0, 0x5555, 8);
    wr(f, 0, 0x5555, 0);
    wr(f, 1, 0x5555, 2);
    wr(f, ~0ull, 0x5555, 4);
    assert_int_equal(atomic_load(&f->vm.stop), 0);
    assert_int_equal(f->r->ops->read(f->r->opaque, 0, 4), 0);
    assert_int_equal(f->r->ops->read(f->r->opaque, ~0ull, 8), 0);
    /* The 16-bit form QEMU also accepts. */
    wr(f, 0, 0x5555, 2);
    assert_int_equal(atomic_load(&f->vm.stop), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_poweroff, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reboot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fail_code, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fail_no_code, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ignored, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
