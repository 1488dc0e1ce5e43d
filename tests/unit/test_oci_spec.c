/* Golden tests of the OCI config.json parser (src/oci/spec.c) and the signal names of `kill`. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>

#include <cmocka.h>

#include "oci/oci.h"
#include "oci/spec.h"
#include "oci/state.h"

static const char full[] =
    "{\"ociVersion\":\"1.0.2\",\"process\":{\"terminal\":true,\"consoleSize\":{\"height\":25,\"width\":80},"
    "\"user\":{\"uid\":1000,\"gid\":100,\"additionalGids\":[5]},\"args\":[\"sh\",\"-c\",\"echo hi\"],"
    "\"env\":[\"PATH=/bin\",\"A=b=c\"],\"cwd\":\"/w\",\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"soft\":1024,"
    "\"hard\":18446744073709551615}],\"oomScoreAdj\":-500,\"capabilities\":{},\"noNewPrivileges\":true},"
    "\"root\":{\"path\":\"rootfs\",\"readonly\":true},\"hostname\":\"h\","
    "\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
    "{\"destination\":\"/data\",\"type\":\"none\",\"source\":\"/srv\",\"options\":[\"rbind\",\"ro\"]}],"
    "\"annotations\":{\"run.kiln.vm\":\"process\",\"x\":\"y\"},"
    "\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"network\",\"path\":\"/run/netns/n\"}],"
    "\"resources\":{\"memory\":{\"limit\":67108864},\"pids\":{\"limit\":32},\"cpu\":{\"quota\":5000,"
    "\"period\":10000}},\"seccomp\":{},\"futureKey\":1}}";

static void test_full(void **state)
{
    (void)state;
    struct oci_spec s;
    char err[256];
    assert_int_equal(oci_spec_parse(full, strlen(full), &s, err, sizeof(err)), 0);
    assert_string_equal(s.oci_version, "1.0.2");
    assert_true(s.has_process);
    assert_true(s.proc.terminal);
    assert_int_equal(s.proc.cons_rows, 25);
    assert_int_equal(s.proc.cons_cols, 80);
    assert_int_equal(s.proc.uid, 1000);
    assert_int_equal(s.proc.gid, 100);
    assert_string_equal(s.proc.args[2], "echo hi");
    assert_null(s.proc.args[3]);
    assert_string_equal(s.proc.env[1], "A=b=c");
    assert_string_equal(s.proc.cwd, "/w");
    assert_int_equal(s.proc.nrlimits, 1);
    assert_int_equal(s.proc.rlimits[0].resource, RLIMIT_NOFILE);
    assert_true(s.proc.rlimits[0].hard == UINT64_MAX);
    assert_true(s.proc.has_oom_score_adj);
    assert_int_equal(s.proc.oom_score_adj, -500);
    assert_string_equal(s.root_path, "rootfs");
    assert_true(s.root_ro);
    assert_int_equal(s.nmounts, 2);
    assert_false(s.mounts[0].bind);
    assert_true(s.mounts[1].bind);
    assert_true(s.mounts[1].ro);
    assert_string_equal(s.mounts[1].src, "/srv");
    assert_int_equal(s.vm_kind, OCI_VM_PROCESS);
    assert_int_equal(s.net, OCI_NET_PATH);
    assert_string_equal(s.netns_path, "/run/netns/n");
    assert_true(s.mem_limit == 64u << 20);
    assert_int_equal(s.pids_limit, 32);
    assert_non_null(strstr(s.annotations, "\"x\":\"y\""));
    oci_spec_free(&s);
}

/* Each malformed document is refused, with the field named in the message. */
static void test_refused(void **state)
{
    (void)state;
    static const struct {
        const char *json, *want;
    } cases[] = {
        {"", "not valid JSON"},
        {"{\"ociVersion\":\"1.0.0\"} x", "extra data"},
        {"{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"bogus\":1}", "unknown top-level field 'bogus'"},
        {"{\"root\":{\"path\":\"r\"}}", "ociVersion is required"},
        {"{\"ociVersion\":1,\"root\":{\"path\":\"r\"}}", "ociVersion must be a string"},
        {"{\"ociVersion\":\"1.0.0\"}", "root is required"},
        {"{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"\"}}", "root.path is empty"},
        {"{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"a\"],\"cwd\":\"/\","
         "\"user\":{\"uid\":4294967295}}}", "out of range"},
        {"{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"a\"],\"cwd\":\"/\","
         "\"user\":{\"uid\":1.5}}}", "process.user.uid must be an integer"},
        {"{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"a\"]}}", "process.cwd is required"},
        {"{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"\"],\"cwd\":\"/\"}}",
         "process.args[0] is empty"},
        {"{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"process\":{\"args\":[\"a\"],\"cwd\":\"/\","
         "\"rlimits\":[{\"type\":\"RLIMIT_CPU\",\"soft\":-1,\"hard\":1}]}}", "non-negative"},
        {"{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"linux\":{\"namespaces\":[{\"type\":\"network\","
         "\"path\":\"rel\"}]}}", "path must be absolute"},
        {"{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"linux\":{\"resources\":{\"pids\":{\"limit\":\"5\"}}}}",
         "linux.resources.pids.limit must be an integer"},
        {"{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"mounts\":{}}", "mounts must be an array"},
        {"{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"mounts\":[{\"destination\":\"/a\","
         "\"options\":[1]}]}", "mounts[0].options[0] must be a string"},
        {"{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\"},\"vm\":[]}", "vm must be an object"},
        {"{\"ociVersion\":\"1.0.0\",\"root\":{\"path\":\"r\",\"readonly\":\"no\"}}", "must be true or false"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct oci_spec s;
        char err[256] = "";
        int rc = oci_spec_parse(cases[i].json, strlen(cases[i].json), &s, err, sizeof(err));
        if (rc != -EINVAL || !strstr(err, cases[i].want))
            fail_msg("case %zu: rc %d, '%s' (want '%s')", i, rc, err, cases[i].want);
    }
}

static void test_kinds(void **state)
{
    (void)state;
    const char *sys = "{\"ociVersion\":\"1.1.0\",\"root\":{\"path\":\"r\"},\"annotations\":{\"run.kiln.vm\":\"system\"}}";
    const char *vm = "{\"ociVersion\":\"1.1.0\",\"root\":{\"path\":\"r\"},\"vm\":{\"kernel\":{\"path\":\"/k\"}}}";
    const char *nonet = "{\"ociVersion\":\"1.1.0\",\"root\":{\"path\":\"r\"},\"linux\":{\"namespaces\":[{\"type\":\"network\"}]}}";
    struct oci_spec s;
    char err[256];
    assert_int_equal(oci_spec_parse(sys, strlen(sys), &s, err, sizeof(err)), 0);
    assert_int_equal(s.vm_kind, OCI_VM_SYSTEM);
    assert_false(s.has_process);
    assert_int_equal(s.net, OCI_NET_HOST);
    oci_spec_free(&s);
    assert_int_equal(oci_spec_parse(vm, strlen(vm), &s, err, sizeof(err)), 0);
    assert_int_equal(s.vm_kind, OCI_VM_SYSTEM);
    oci_spec_free(&s);
    assert_int_equal(oci_spec_parse(nonet, strlen(nonet), &s, err, sizeof(err)), 0);
    assert_int_equal(s.net, OCI_NET_NEW);
    assert_null(s.netns_path);
    oci_spec_free(&s);
}

static void test_process_only(void **state)
{
    (void)state;
    const char *p = "{\"args\":[\"ls\"],\"cwd\":\"/\",\"env\":[\"A=1\"],\"terminal\":false}";
    struct oci_process pr;
    char err[256];
    assert_int_equal(oci_process_parse(p, strlen(p), &pr, err, sizeof(err)), 0);
    assert_string_equal(pr.args[0], "ls");
    oci_process_free(&pr);
    assert_int_equal(oci_process_parse("{}", 2, &pr, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "process.args"));
}

static void test_signals_ids(void **state)
{
    (void)state;
    assert_int_equal(oci_signal_parse("KILL"), SIGKILL);
    assert_int_equal(oci_signal_parse("SIGTERM"), SIGTERM);
    assert_int_equal(oci_signal_parse("sigusr1"), SIGUSR1);
    assert_int_equal(oci_signal_parse("9"), 9);
    assert_int_equal(oci_signal_parse("RTMIN+2"), SIGRTMIN + 2);
    assert_int_equal(oci_signal_parse("0"), -1);
    assert_int_equal(oci_signal_parse("65"), -1);
    assert_int_equal(oci_signal_parse("SIGNOPE"), -1);
    assert_int_equal(oci_signal_parse("RTMAX+1"), -1);
    assert_true(oci_id_valid("abc-1.2_x+y"));
    assert_false(oci_id_valid(""));
    assert_false(oci_id_valid(".."));
    assert_false(oci_id_valid("a/b"));
    assert_false(oci_id_valid("a b"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_process_only),
        cmocka_unit_test(test_signals_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
