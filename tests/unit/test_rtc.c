/* Goldfish RTC: time against the host clock, setting the time, alarms and their interrupt. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <time.h>

#include "cpu/hart.h"
#include "dev/plic.h"
#include "dev/rtc.h"
#include "machine/vm.h"

struct fixture {
    struct vm vm;
    struct hart hart;
    struct plic *plic;
    struct rtc *rtc;
    struct mmio_region *r, *pr;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(vm_init(&f->vm, 0), 0);
    assert_int_equal(hart_init(&f->hart, vm_bus(&f->vm), 0), 0);
    f->vm.harts[0] = &f->hart;
    f->vm.nharts = 1;
    f->plic = plic_create(&f->vm);
    assert_non_null(f->plic);
    f->rtc = rtc_create(&f->vm);
    assert_non_null(f->rtc);
    f->r = vm_mmio_find(&f->vm, VIRT_RTC_BASE);
    assert_non_null(f->r);
    f->pr = vm_mmio_find(&f->vm, VIRT_PLIC_BASE);
    /* Route the RTC source to hart 0's S-mode context. */
    f->pr->ops->write(f->pr->opaque, 4 * VIRT_RTC_IRQ, 1, 4);
    f->pr->ops->write(f->pr->opaque, 0x2000 + 0x80, 1u << VIRT_RTC_IRQ, 4);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    rtc_destroy(f->rtc);
    plic_destroy(f->plic);
    hart_destroy(&f->hart);
    vm_destroy(&f->vm);
    free(f);
    return 0;
}

static uint32_t rd(struct fixture *f, uint64_t off)
{
    return (uint32_t)f->r->ops->read(f->r->opaque, off, 4);
}

static void wr(struct fixture *f, uint64_t off, uint32_t v)
{
    f->r->ops->write(f->r->opaque, off, v, 4);
}

/* The way Linux's rtc-goldfish reads it: LOW first (latches HIGH), then HIGH. */
static uint64_t guest_time(struct fixture *f)
{
    uint64_t lo = rd(f, RTC_TIME_LOW);
    uint64_t hi = rd(f, RTC_TIME_HIGH);
    return hi << 32 | lo;
}

static uint64_t host_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool irq(struct fixture *f)
{
    return (atomic_load(&f->hart.mip_ext) >> IRQ_SEI) & 1;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static void test_time(void **state)
{
    struct fixture *f = *state;
    uint64_t a = host_ns();
    uint64_t t = guest_time(f);
    uint64_t b = host_ns();
    assert_true(a <= t && t <= b);
}

static void test_set_time(void **state)
{
    struct fixture *f = *state;
    const uint64_t want = 1000000000ull * 86400 * 365; /* 1971 */
    wr(f, RTC_TIME_HIGH, (uint32_t)(want >> 32));
    wr(f, RTC_TIME_LOW, (uint32_t)want);
    uint64_t t = guest_time(f);
    assert_true(t >= want && t - want < 1000000000ull);
    sleep_ms(5);
    assert_true(guest_time(f) > t);
}

static void test_alarm_past_fires_now(void **state)
{
    struct fixture *f = *state;
    uint64_t when = guest_time(f) - 1;
    wr(f, RTC_ALARM_HIGH, (uint32_t)(when >> 32));
    wr(f, RTC_ALARM_LOW, (uint32_t)when);
    assert_int_equal(rd(f, RTC_ALARM_STATUS), 0);
    assert_false(irq(f)); /* IRQ_ENABLED still 0 */
    wr(f, RTC_IRQ_ENABLED, 1);
    assert_int_equal(rd(f, RTC_IRQ_ENABLED), 1);
    assert_true(irq(f));
    assert_int_equal(rd(f, RTC_ALARM_LOW), (uint32_t)when);
    assert_int_equal(rd(f, RTC_ALARM_HIGH), (uint32_t)(when >> 32));
    wr(f, RTC_CLEAR_INTERRUPT, 1);
    assert_false(irq(f));
}

static void test_alarm_future(void **state)
{
    struct fixture *f = *state;
    wr(f, RTC_IRQ_ENABLED, 1);
    uint64_t when = guest_time(f) + 30000000ull; /* 30 ms */
    wr(f, RTC_ALARM_HIGH, (uint32_t)(when >> 32));
    wr(f, RTC_ALARM_LOW, (uint32_t)when);
    assert_int_equal(rd(f, RTC_ALARM_STATUS), 1);
    assert_false(irq(f));
    for (int i = 0; i < 200 && !irq(f); i++)
        sleep_ms(10);
    assert_true(irq(f));
    assert_true(guest_time(f) >= when);
    assert_int_equal(rd(f, RTC_ALARM_STATUS), 0);
    wr(f, RTC_CLEAR_INTERRUPT, 1);
    assert_false(irq(f));
}

static void test_alarm_cancel(void **state)
{
    struct fixture *f = *state;
    wr(f, RTC_IRQ_ENABLED, 1);
    uint64_t when = guest_time(f) + 20000000ull;
    wr(f, RTC_ALARM_HIGH, (uint32_t)(when >> 32));
    wr(f, RTC_ALARM_LOW, (uint32_t)when);
    wr(f, RTC_CLEAR_ALARM, 1);
    assert_int_equal(rd(f, RTC_ALARM_STATUS), 0);
    sleep_ms(50);
    assert_false(irq(f));
    /* Alarm centuries ahead: the host deadline must not wrap (the thread would spin). */
    uint64_t now = guest_time(f);
    wr(f, RTC_ALARM_HIGH, (uint32_t)((now - 1000) >> 32));
    wr(f, RTC_ALARM_LOW, (uint32_t)(now - 1000));
    wr(f, RTC_CLEAR_INTERRUPT, 1);
    wr(f, RTC_TIME_HIGH, 0);
    wr(f, RTC_TIME_LOW, 0); /* guest clock at 1970: alarm is now ~55 years ahead */
    wr(f, RTC_ALARM_HIGH, 0xfffffff0);
    wr(f, RTC_ALARM_LOW, 0);
    assert_int_equal(rd(f, RTC_ALARM_STATUS), 1);
    struct timespec c0, c1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
    sleep_ms(50);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
    assert_true(c1.tv_sec - c0.tv_sec < 1 && (c1.tv_sec - c0.tv_sec) * 1000000000l + c1.tv_nsec - c0.tv_nsec < 25000000l);
    assert_false(irq(f));
    /* Far-future alarm, then destroy with it armed (teardown). */
    wr(f, RTC_ALARM_HIGH, 0xffffffff);
    wr(f, RTC_ALARM_LOW, 0xffffffff);
    assert_int_equal(rd(f, RTC_ALARM_STATUS), 1);
}

static void test_reset(void **state)
{
    struct fixture *f = *state;
    wr(f, RTC_IRQ_ENABLED, 1);
    uint64_t when = guest_time(f) - 1;
    wr(f, RTC_ALARM_HIGH, (uint32_t)(when >> 32));
    wr(f, RTC_ALARM_LOW, (uint32_t)when);
    assert_true(irq(f));
    wr(f, RTC_ALARM_HIGH, 0xffffffff);
    wr(f, RTC_ALARM_LOW, 0);
    assert_int_equal(rd(f, RTC_ALARM_STATUS), 1);
    rtc_reset(f->rtc);
    assert_false(irq(f));
    assert_int_equal(rd(f, RTC_ALARM_STATUS), 0);
    assert_int_equal(rd(f, RTC_IRQ_ENABLED), 0);
    rtc_reset(NULL);
}

static void test_hostile(void **state)
{
    struct fixture *f = *state;
    const struct mmio_ops *o = f->r->ops;
    for (uint64_t off = 0x20; off < RTC_SIZE; off += 4) {
        o->write(f->r->opaque, off, ~0ull, 4);
        assert_int_equal(o->read(f->r->opaque, off, 4), 0);
    }
    o->write(f->r->opaque, RTC_IRQ_ENABLED, 1, 1);
    o->write(f->r->opaque, RTC_IRQ_ENABLED, 1, 8);
    o->write(f->r->opaque, RTC_IRQ_ENABLED + 1, 1, 4);
    assert_int_equal(rd(f, RTC_IRQ_ENABLED), 0);
    assert_int_equal(o->read(f->r->opaque, RTC_TIME_LOW, 8), 0);
    assert_int_equal(o->read(f->r->opaque, ~0ull, 4), 0);
    o->write(f->r->opaque, ~0ull, 1, 4);
    /* Time near the top of the 64-bit range, and an alarm "before" it that wraps. */
    wr(f, RTC_TIME_HIGH, 0xffffffff);
    wr(f, RTC_TIME_LOW, 0xffffffff);
    wr(f, RTC_ALARM_HIGH, 0);
    wr(f, RTC_ALARM_LOW, 0);
    (void)guest_time(f);
    assert_false(irq(f));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alarm_past_fires_now, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alarm_future, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alarm_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
