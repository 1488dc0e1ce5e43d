/* Token bucket (util/token_bucket.h) on a fake clock. */
/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include "util/token_bucket.h"

#define MS 1000000ull
#define SEC TB_NSEC

static void test_unlimited(void **state)
{
    (void)state;
    struct token_bucket tb;
    tb_init(&tb, 0, 0, 0);
    uint64_t w = 123;
    for (int i = 0; i < 1000; i++)
        assert_true(tb_take(&tb, UINT64_MAX / 2, 0, &w));
    assert_int_equal(w, 0);
    assert_int_equal(tb_delay(&tb, UINT64_MAX, 0), 0);
    tb_destroy(&tb);
}

static void test_rate_and_wait(void **state)
{
    (void)state;
    struct token_bucket tb;
    uint64_t now = 5 * SEC, w;
    tb_init(&tb, 1000, 0, now); /* 1000/s, burst 1000, starts full */
    assert_true(tb_take(&tb, 600, now, &w));
    assert_true(tb_take(&tb, 400, now, &w));
    /* Empty: 100 tokens take 100 ms. */
    assert_false(tb_take(&tb, 100, now, &w));
    assert_int_equal(w, 100 * MS);
    /* A failed take charges nothing. */
    assert_false(tb_take(&tb, 100, now + 50 * MS, &w));
    assert_int_equal(w, 50 * MS);
    assert_true(tb_take(&tb, 100, now + 100 * MS, &w));
    /* Refill is exact over many small steps (no rounding loss): 1 token per ms. */
    now += 100 * MS;
    for (int i = 0; i < 1000; i++) {
        now += MS / 3; /* a third of a token each time */
        tb_delay(&tb, 1, now);
    }
    assert_int_equal(tb_delay(&tb, 333, now), 0);
    assert_true(tb_delay(&tb, 334, now) > 0);
    /* Never more than the burst, however long it idles. */
    now += 3600 * SEC;
    assert_true(tb_take(&tb, 1000, now, &w));
    assert_false(tb_take(&tb, 1, now, &w));
    assert_int_equal(w, MS);
    tb_destroy(&tb);
}

static void test_oversized_debt(void **state)
{
    (void)state;
    struct token_bucket tb;
    uint64_t now = 0, w;
    tb_init(&tb, 1000, 500, now);
    /* Bigger than the burst: admitted on a full bucket, leaves 1500 of debt. */
    assert_true(tb_take(&tb, 2000, now, &w));
    assert_false(tb_take(&tb, 1, now, &w));
    assert_int_equal(w, 1501 * MS);
    /* Not full yet: a second oversized one waits for the whole burst. */
    assert_false(tb_take(&tb, 2000, now + 1501 * MS, &w));
    assert_int_equal(w, 499 * MS);
    assert_true(tb_take(&tb, 2000, now + 2000 * MS, &w));
    tb_destroy(&tb);
}

static void test_set_live(void **state)
{
    (void)state;
    struct token_bucket tb;
    uint64_t w;
    tb_init(&tb, 100, 0, 0);
    assert_true(tb_take(&tb, 100, 0, &w));
    assert_false(tb_take(&tb, 100, 0, &w));
    assert_int_equal(w, SEC);
    tb_set(&tb, 0, 0, 0); /* unlimited */
    assert_int_equal(tb_rate(&tb), 0);
    assert_true(tb_take(&tb, 1000000, 0, &w));
    tb_set(&tb, 10, 5, 0); /* limited again: starts full at the new burst */
    assert_int_equal(tb_rate(&tb), 10);
    assert_true(tb_take(&tb, 5, 0, &w));
    assert_false(tb_take(&tb, 1, 0, &w));
    assert_int_equal(w, 100 * MS);
    /* A clock reading older than the last refill adds nothing and does not underflow. */
    assert_false(tb_take(&tb, 1, 0, &w));
    tb_destroy(&tb);
}

static void test_huge_values(void **state)
{
    (void)state;
    struct token_bucket tb;
    uint64_t w;
    tb_init(&tb, UINT64_MAX, 0, 0);
    assert_true(tb_take(&tb, UINT64_MAX, 0, &w));
    assert_true(tb_delay(&tb, 1, 10 * SEC) == 0);
    tb_set(&tb, 1, 1, 0);
    assert_true(tb_take(&tb, UINT64_MAX, 0, &w)); /* deep debt, clamped, no overflow */
    assert_true(tb_delay(&tb, 1, 1) > 1000 * SEC);
    tb_destroy(&tb);
}

static void test_parse(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(tb_parse_limit("0", true, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(tb_parse_limit("4M", true, &v), 0);
    assert_int_equal(v, 4ull << 20);
    assert_int_equal(tb_parse_limit("512k", true, &v), 0);
    assert_int_equal(v, 512ull << 10);
    assert_int_equal(tb_parse_limit("2G", true, &v), 0);
    assert_int_equal(v, 2ull << 30);
    assert_int_equal(tb_parse_limit("1500", false, &v), 0);
    assert_int_equal(v, 1500);
    assert_int_equal(tb_parse_limit("1K", false, &v), -1);
    assert_int_equal(tb_parse_limit("", true, &v), -1);
    assert_int_equal(tb_parse_limit("-1", true, &v), -1);
    assert_int_equal(tb_parse_limit("4MB", true, &v), -1);
    assert_int_equal(tb_parse_limit("4T", true, &v), -1);
    assert_int_equal(tb_parse_limit(" 4", true, &v), -1);
    assert_int_equal(tb_parse_limit("18446744073709551616", true, &v), -1);
    assert_int_equal(tb_parse_limit("17179869184G", true, &v), -1);
    assert_int_equal(tb_parse_limit(NULL, true, &v), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unlimited),      cmocka_unit_test(test_rate_and_wait),
        cmocka_unit_test(test_oversized_debt), cmocka_unit_test(test_set_live),
        cmocka_unit_test(test_huge_values),    cmocka_unit_test(test_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
