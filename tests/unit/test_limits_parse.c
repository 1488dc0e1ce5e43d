/* The limit options of --disk (board_parse_disk) and --net (net_parse_spec). */
/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <errno.h>
#include <string.h>

#include "backend/net.h"
#include "machine/board.h"

static void test_disk_good(void **state)
{
    (void)state;
    struct board_disk d;
    char err[256];
    assert_int_equal(board_parse_disk("a.img", &d, err, sizeof(err)), 0);
    assert_int_equal(d.bps, 0);
    assert_int_equal(d.iops, 0);
    assert_int_equal(board_parse_disk("a.img,bps=4M,iops=200", &d, err, sizeof(err)), 0);
    assert_string_equal(d.path, "a.img");
    assert_int_equal(d.bps, 4ull << 20);
    assert_int_equal(d.iops, 200);
    assert_int_equal(board_parse_disk("a.img,ro,bps=1500,cache=none", &d, err, sizeof(err)), 0);
    assert_true(d.readonly);
    assert_int_equal(d.bps, 1500);
    assert_int_equal(board_parse_disk("a.img,bps=1g,iops=0", &d, err, sizeof(err)), 0);
    assert_int_equal(d.bps, 1ull << 30);
    assert_int_equal(board_parse_disk("a.img,bps=512k", &d, err, sizeof(err)), 0);
    assert_int_equal(d.bps, 512ull << 10);
}

static void test_disk_bad(void **state)
{
    (void)state;
    static const struct {
        const char *spec, *msg;
    } bad[] = {
        {"a.img,bps=", "bps must be bytes per second"},
        {"a.img,bps=fast", "bps must be bytes per second"},
        {"a.img,bps=-1", "bps must be bytes per second"},
        {"a.img,bps=4MB", "bps must be bytes per second"},
        {"a.img,bps=4T", "bps must be bytes per second"},
        {"a.img,bps=99999999999999999999", "bps must be bytes per second"},
        {"a.img,iops=1K", "iops must be a whole number"},
        {"a.img,iops=", "iops must be a whole number"},
        {"a.img,iops=1.5", "iops must be a whole number"},
        {"a.img,bandwidth=1M", "unknown option 'bandwidth=1M'"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct board_disk d;
        char err[256] = "";
        assert_int_equal(board_parse_disk(bad[i].spec, &d, err, sizeof(err)), -1);
        if (!strstr(err, bad[i].msg))
            fail_msg("%s: message '%s' lacks '%s'", bad[i].spec, err, bad[i].msg);
    }
}

static void test_net(void **state)
{
    (void)state;
    struct net_config c;
    char err[256];
    assert_int_equal(net_parse_spec("user", &c, err, sizeof(err)), 0);
    assert_int_equal(c.bps, 0);
    assert_int_equal(net_parse_spec("user,bps=2M", &c, err, sizeof(err)), 0);
    assert_int_equal(c.bps, 2ull << 20);
    assert_int_equal(
        net_parse_spec("user,hostfwd=tcp::2222-:22,bps=100000,mac=02:00:00:00:00:01", &c, err,
                       sizeof(err)),
        0);
    assert_int_equal(c.bps, 100000);
    assert_int_equal(c.nhostfwd, 1);
    assert_int_equal(net_parse_spec("tap:tap0,bps=0", &c, err, sizeof(err)), 0);
    assert_int_equal(c.bps, 0);
    static const struct {
        const char *spec, *msg;
    } bad[] = {
        {"user,bps=", "bad bps ''"},
        {"user,bps=x", "bad bps 'x'"},
        {"user,bps=1M,bps=2M", "bps= given twice"},
        {"user,bps=1P", "bad bps '1P'"},
        {"user,bps=123456789012345678901234567890123456789", "bad bps"},
        {"tap:tap0,bps=-5", "bad bps '-5'"},
        {"user,bps", "unknown option 'bps'"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = 0;
        assert_int_equal(net_parse_spec(bad[i].spec, &c, err, sizeof(err)), -EINVAL);
        if (!strstr(err, bad[i].msg))
            fail_msg("%s: message '%s' lacks '%s'", bad[i].spec, err, bad[i].msg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disk_good),
        cmocka_unit_test(test_disk_bad),
        cmocka_unit_test(test_net),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
