/*
 * The control socket: its request parser with hostile lines, the answers, and
 * the server over a real Unix socket with fake VM callbacks.
 */
/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "machine/control.h"

static int parse(const char *s, struct control_req *r)
{
    char err[160];
    return control_parse(s, strlen(s), r, err, sizeof(err));
}

static void test_parse_good(void **state)
{
    struct control_req r;
    assert_int_equal(parse("{\"cmd\":\"stats\"}", &r), 0);
    assert_int_equal(r.cmd, CONTROL_STATS);
    assert_int_equal(parse("  { \"cmd\" : \"quit\" }\r", &r), 0);
    assert_int_equal(r.cmd, CONTROL_QUIT);
    assert_int_equal(parse("{\"cmd\":\"powerdown\"}", &r), 0);
    assert_int_equal(r.cmd, CONTROL_POWERDOWN);
    assert_int_equal(parse("{\"target_mib\":128,\"cmd\":\"balloon\"}", &r), 0);
    assert_int_equal(r.cmd, CONTROL_BALLOON);
    assert_int_equal(r.target_mib, 128);
    assert_int_equal(parse("{\"cmd\":\"b\\u0061lloon\",\"target_mib\":0}", &r), 0);
    assert_int_equal(r.target_mib, 0);
    assert_int_equal(parse("{\"cmd\":\"balloon\",\"target_mib\":18446744073709551615}", &r), 0);
    assert_int_equal(r.target_mib, UINT64_MAX);
}

static void test_parse_limits(void **state)
{
    struct control_req r;
    assert_int_equal(parse("{\"cmd\":\"limits\",\"disk\":1,\"bps\":4194304,\"iops\":100}", &r), 0);
    assert_int_equal(r.cmd, CONTROL_LIMITS);
    assert_false(r.limits.is_net);
    assert_int_equal(r.limits.index, 1);
    assert_true(r.limits.has_bps && r.limits.has_iops);
    assert_int_equal(r.limits.bps, 4194304);
    assert_int_equal(r.limits.iops, 100);
    assert_int_equal(parse("{\"cmd\":\"limits\",\"disk\":0,\"iops\":0}", &r), 0);
    assert_false(r.limits.has_bps);
    assert_true(r.limits.has_iops);
    assert_int_equal(parse("{\"net\":0,\"bps\":0,\"cmd\":\"limits\"}", &r), 0);
    assert_true(r.limits.is_net);
    assert_true(r.limits.has_bps);
    assert_int_equal(r.limits.bps, 0);
    static const char *bad[] = {
        "{\"cmd\":\"limits\"}",
        "{\"cmd\":\"limits\",\"disk\":0}",
        "{\"cmd\":\"limits\",\"bps\":1}",
        "{\"cmd\":\"limits\",\"disk\":0,\"net\":0,\"bps\":1}",
        "{\"cmd\":\"limits\",\"net\":0,\"iops\":1}",
        "{\"cmd\":\"limits\",\"disk\":-1,\"bps\":1}",
        "{\"cmd\":\"limits\",\"disk\":0,\"bps\":\"4M\"}",
        "{\"cmd\":\"limits\",\"disk\":0,\"bps\":1.5}",
        "{\"cmd\":\"limits\",\"disk\":0,\"bps\":1,\"bps\":2}",
        "{\"cmd\":\"limits\",\"disk\":0,\"bps\":18446744073709551616}",
        "{\"cmd\":\"stats\",\"bps\":1}",
        "{\"cmd\":\"balloon\",\"target_mib\":1,\"disk\":0}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[160] = "";
        if (control_parse(bad[i], strlen(bad[i]), &r, err, sizeof(err)) != -1)
            fail_msg("accepted: %s", bad[i]);
        assert_true(err[0] != 0);
    }
}

static void test_parse_hostile(void **state)
{
    static const char *bad[] = {
        "", " ", "{", "}", "[]", "null", "\"cmd\"", "{\"cmd\"}", "{\"cmd\":}", "{\"cmd\":\"stats\"",
        "{\"cmd\":\"stats\",}", "{,\"cmd\":\"stats\"}", "{\"cmd\":\"stats\"}}", "{\"cmd\":\"stats\"} x",
        "{\"cmd\":\"stats\"}{}", "{\"cmd\":\"nope\"}", "{\"cmd\":\"STATS\"}", "{\"cmd\":1}",
        "{\"cmd\":null}", "{\"cmd\":true}", "{\"cmd\":{\"a\":1}}", "{\"cmd\":[\"stats\"]}",
        "{\"cmd\":\"stats\",\"cmd\":\"stats\"}", "{\"cmd\":\"stats\",\"x\":1}", "{}",
        "{\"cmd\":\"balloon\"}", "{\"cmd\":\"balloon\",\"target_mib\":-1}",
        "{\"cmd\":\"balloon\",\"target_mib\":1.5}", "{\"cmd\":\"balloon\",\"target_mib\":1e3}",
        "{\"cmd\":\"balloon\",\"target_mib\":\"128\"}", "{\"cmd\":\"balloon\",\"target_mib\":0128}",
        "{\"cmd\":\"balloon\",\"target_mib\":18446744073709551616}",
        "{\"cmd\":\"balloon\",\"target_mib\":99999999999999999999999999}",
        "{\"cmd\":\"balloon\",\"target_mib\":1,\"target_mib\":2}", "{\"cmd\":\"stats\",\"target_mib\":1}",
        "{\"cmd\":\"st\\u0000ats\"}", "{\"cmd\":\"stats\\", "{\"cmd\":\"\\q\"}", "{\"cmd\":\"\\u12\"}",
        "{\"cmd\":\"\\u12g4\"}", "{\"cmd\":\"a\tb\"}", "{\"cmd\":-}", "{\"cmd\":tru}", "{\"cmd\":nul}",
        "{\"cmd\":\"stats\"\"x\":1}", "{\"cmd\":\"balloon\",\"target_mib\":-}",
        "{\"cmd\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
        "{\"cmd\":\"stats\xff\"}", "\xef\xbb\xbf{\"cmd\":\"stats\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct control_req r;
        char err[160] = "";
        int rc = control_parse(bad[i], strlen(bad[i]), &r, err, sizeof(err));
        if (rc != -1)
            fail_msg("accepted: %s", bad[i]);
        assert_true(err[0] != 0);
    }
    /* Not NUL-terminated: the parser must stop at len. */
    char buf[16];
    memcpy(buf, "{\"cmd\":\"stats\"}X", 16);
    struct control_req r;
    char err[160];
    assert_int_equal(control_parse(buf, 15, &r, err, sizeof(err)), 0);
    assert_int_equal(control_parse(buf, 14, &r, err, sizeof(err)), -1);
    assert_int_equal(control_parse(buf, 0, &r, err, sizeof(err)), -1);
}

struct fake {
    uint64_t target;
    int quits, powerdowns;
    bool refuse_powerdown;
};

static int f_stats(void *ctx, struct control_stats *s)
{
    struct fake *f = ctx;
    s->ram_bytes = 512ull << 20;
    s->balloon = true;
    s->balloon_driver = true;
    s->balloon_target_bytes = (512 - f->target) << 20;
    s->balloon_actual_bytes = 0;
    s->rss_bytes = 1234;
    return 0;
}

static int f_balloon(void *ctx, uint64_t mib, char *err, size_t errlen)
{
    struct fake *f = ctx;
    if (mib > 512) {
        snprintf(err, errlen, "target_mib \"too\" big");
        return -1;
    }
    f->target = mib;
    return 0;
}

static int f_powerdown(void *ctx, char *err, size_t errlen)
{
    struct fake *f = ctx;
    if (f->refuse_powerdown) {
        snprintf(err, errlen, "no");
        return -1;
    }
    f->powerdowns++;
    return 0;
}

static void f_quit(void *ctx)
{
    ((struct fake *)ctx)->quits++;
}

static size_t handle(struct fake *f, const char *line, char *out, size_t outlen)
{
    struct control_ops ops = {.ctx = f, .stats = f_stats, .balloon = f_balloon,
                              .powerdown = f_powerdown, .quit = f_quit};
    return control_handle_line(&ops, line, strlen(line), out, outlen);
}

static void test_handle(void **state)
{
    struct fake f = {.target = 512};
    char out[1024];
    size_t n = handle(&f, "{\"cmd\":\"balloon\",\"target_mib\":128}", out, sizeof(out));
    assert_int_equal(n, strlen(out));
    assert_string_equal(out, "{\"ok\":true,\"target_mib\":128}\n");
    assert_int_equal(f.target, 128);
    handle(&f, "{\"cmd\":\"stats\"}", out, sizeof(out));
    assert_non_null(strstr(out, "\"ram_mib\":512"));
    assert_non_null(strstr(out, "\"target_mib\":128"));
    assert_non_null(strstr(out, "\"rss_bytes\":1234"));
    assert_int_equal(out[strlen(out) - 1], '\n');
    handle(&f, "{\"cmd\":\"balloon\",\"target_mib\":600}", out, sizeof(out));
    assert_string_equal(out, "{\"error\":\"target_mib \\\"too\\\" big\"}\n");
    assert_int_equal(f.target, 128);
    handle(&f, "{\"cmd\":\"powerdown\"}", out, sizeof(out));
    assert_string_equal(out, "{\"ok\":true}\n");
    f.refuse_powerdown = true;
    handle(&f, "{\"cmd\":\"powerdown\"}", out, sizeof(out));
    assert_string_equal(out, "{\"error\":\"no\"}\n");
    assert_int_equal(f.powerdowns, 1);
    handle(&f, "{\"cmd\":\"quit\"}", out, sizeof(out));
    assert_int_equal(f.quits, 1);
    handle(&f, "garbage", out, sizeof(out));
    assert_non_null(strstr(out, "{\"error\":"));
    /* A small buffer still gets one terminated line. */
    n = handle(&f, "{\"cmd\":\"stats\"}", out, 64);
    assert_true(n < 64);
    assert_int_equal(out[n - 1], '\n');
    assert_int_equal(out[n], 0);
}

static int connect_to(const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

static void read_line(int fd, char *buf, size_t len)
{
    size_t n = 0;
    while (n + 1 < len) {
        ssize_t r = read(fd, buf + n, 1);
        assert_int_equal(r, 1);
        if (buf[n++] == '\n')
            break;
    }
    buf[n] = 0;
}

static void test_server(void **state)
{
    char dir[] = "/tmp/kiln-ctl-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof(path), "%s/c.sock", dir);
    struct fake f = {.target = 512};
    struct control_ops ops = {.ctx = &f, .stats = f_stats, .balloon = f_balloon,
                              .powerdown = f_powerdown, .quit = f_quit};
    char err[256];
    struct control *c = control_start(path, &ops, err, sizeof(err));
    assert_non_null(c);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    int fd = connect_to(path);
    char line[1024];
    /* Two requests in one write, the second split over two writes. */
    const char *a = "{\"cmd\":\"balloon\",\"target_mib\":64}\n{\"cmd\":";
    assert_int_equal(write(fd, a, strlen(a)), (ssize_t)strlen(a));
    read_line(fd, line, sizeof(line));
    assert_string_equal(line, "{\"ok\":true,\"target_mib\":64}\n");
    assert_int_equal(write(fd, "\"quit\"}\n", 8), 8);
    read_line(fd, line, sizeof(line));
    assert_string_equal(line, "{\"ok\":true}\n");
    assert_int_equal(f.quits, 1);
    /* A line far beyond CONTROL_LINE_MAX: one error, then the connection still works. */
    char *big = malloc(3 * CONTROL_LINE_MAX);
    memset(big, '{', 3 * CONTROL_LINE_MAX);
    big[3 * CONTROL_LINE_MAX - 1] = '\n';
    assert_int_equal(write(fd, big, 3 * CONTROL_LINE_MAX), 3 * CONTROL_LINE_MAX);
    free(big);
    read_line(fd, line, sizeof(line));
    assert_string_equal(line, "{\"error\":\"request line too long\"}\n");
    assert_int_equal(write(fd, "\n", 1), 1);
    read_line(fd, line, sizeof(line));
    assert_non_null(strstr(line, "\"error\""));
    assert_int_equal(write(fd, "{\"cmd\":\"stats\"}\n", 16), 16);
    read_line(fd, line, sizeof(line));
    assert_non_null(strstr(line, "\"ok\":true"));
    /* Many clients at once: those beyond the limit are told and closed, others keep working. */
    int many[12];
    for (int i = 0; i < 12; i++)
        many[i] = connect_to(path);
    for (int i = 0; i < 12; i++)
        close(many[i]);
    assert_int_equal(write(fd, "{\"cmd\":\"stats\"}\n", 16), 16);
    read_line(fd, line, sizeof(line));
    assert_non_null(strstr(line, "\"ok\":true"));
    close(fd);
    control_stop(c);
    assert_int_equal(access(path, F_OK), -1);
    rmdir(dir);
    /* A path too long for sun_path is refused with a message. */
    char longp[200];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = 0;
    assert_null(control_start(longp, &ops, err, sizeof(err)));
    assert_true(err[0] != 0);
}

/* A fake snapshot op: writes a marker into each file it is given. */
static int f_snapshot(void *ctx, const struct control_snap *s, uint64_t *ms, char *err, size_t errlen)
{
    *ms = 7;
    if (s->dir || s->mem_fd < 0 || s->state_fd < 0) {
        snprintf(err, errlen, "want files");
        return -1;
    }
    if (pwrite(s->mem_fd, "MEM", 3, 0) != 3 || pwrite(s->state_fd, "STATE", 5, 0) != 5) {
        snprintf(err, errlen, "write failed");
        return -1;
    }
    return 0;
}

static void send_with_fds(int sock, const char *line, const int *fds, int n)
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(4 * sizeof(int))];
    } cm;
    memset(&cm, 0, sizeof(cm));
    struct iovec iov = {.iov_base = (void *)line, .iov_len = strlen(line)};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (n) {
        mh.msg_control = cm.buf;
        mh.msg_controllen = CMSG_SPACE((size_t)n * sizeof(int));
        struct cmsghdr *h = CMSG_FIRSTHDR(&mh);
        h->cmsg_level = SOL_SOCKET;
        h->cmsg_type = SCM_RIGHTS;
        h->cmsg_len = CMSG_LEN((size_t)n * sizeof(int));
        memcpy(CMSG_DATA(h), fds, (size_t)n * sizeof(int));
    }
    assert_int_equal(sendmsg(sock, &mh, 0), (ssize_t)strlen(line));
}

static void test_fd_passing(void **state)
{
    struct control_req r;
    assert_int_equal(parse("{\"cmd\":\"snapshot\",\"fds\":true,\"paused\":true}", &r), 0);
    assert_true(r.fds && r.paused);
    assert_int_equal(parse("{\"cmd\":\"snapshot\",\"fds\":true,\"dir\":\"/x\"}", &r), -1);
    assert_int_equal(parse("{\"cmd\":\"snapshot\",\"fds\":false}", &r), -1);
    assert_int_equal(parse("{\"cmd\":\"snapshot\"}", &r), -1);
    assert_int_equal(parse("{\"cmd\":\"stats\",\"fds\":true}", &r), -1);

    char dir[] = "/tmp/kiln-ctlfd-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64], mp[64], sp[64];
    snprintf(path, sizeof(path), "%s/c.sock", dir);
    snprintf(mp, sizeof(mp), "%s/m", dir);
    snprintf(sp, sizeof(sp), "%s/s", dir);
    struct fake f = {.target = 512};
    struct control_ops ops = {.ctx = &f, .stats = f_stats, .snapshot = f_snapshot};
    char err[256], line[256], buf[16];
    struct control *c = control_start(path, &ops, err, sizeof(err));
    assert_non_null(c);
    int fds[2] = {open(mp, O_RDWR | O_CREAT | O_TRUNC, 0600), open(sp, O_RDWR | O_CREAT | O_TRUNC, 0600)};
    assert_true(fds[0] >= 0 && fds[1] >= 0);
    int fd = connect_to(path);
    /* Two descriptors with the line: the handler writes into the very files. */
    send_with_fds(fd, "{\"cmd\":\"snapshot\",\"fds\":true}\n", fds, 2);
    read_line(fd, line, sizeof(line));
    assert_string_equal(line, "{\"ok\":true,\"paused\":false,\"ms\":7}\n");
    assert_int_equal(pread(fds[0], buf, 3, 0), 3);
    assert_memory_equal(buf, "MEM", 3);
    assert_int_equal(pread(fds[1], buf, 5, 0), 5);
    assert_memory_equal(buf, "STATE", 5);
    /* Descriptors belong to their line: the next request has none. */
    send_with_fds(fd, "{\"cmd\":\"snapshot\",\"fds\":true}\n", fds, 0);
    read_line(fd, line, sizeof(line));
    assert_non_null(strstr(line, "SCM_RIGHTS"));
    /* One descriptor is not two. */
    send_with_fds(fd, "{\"cmd\":\"snapshot\",\"fds\":true}\n", fds, 1);
    read_line(fd, line, sizeof(line));
    assert_non_null(strstr(line, "\"error\""));
    /* Descriptors with another request are dropped, the connection goes on. */
    send_with_fds(fd, "{\"cmd\":\"stats\"}\n", fds, 2);
    read_line(fd, line, sizeof(line));
    assert_non_null(strstr(line, "\"ok\":true"));
    close(fd);
    close(fds[0]);
    close(fds[1]);
    control_stop(c);
    unlink(mp);
    unlink(sp);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_good),
        cmocka_unit_test(test_parse_hostile),
        cmocka_unit_test(test_parse_limits),
        cmocka_unit_test(test_handle),
        cmocka_unit_test(test_server),
        cmocka_unit_test(test_fd_passing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
