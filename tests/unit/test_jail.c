/*
 * The jail's pieces that run without root: --user parsing, host-loopback= in --net specs,
 * and the seccomp filters themselves, loaded in forked children (a filter cannot be
 * removed again): allowed calls work, forbidden ones end the child with status 159 and
 * the documented message.
 */
/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/net.h"
#include "jail/jail.h"
#include "jail/seccomp.h"

static void test_parse_user(void **state)
{
    (void)state;
    uid_t u;
    gid_t g;
    assert_int_equal(jail_parse_user("1000", &u, &g), 0);
    assert_int_equal(u, 1000);
    assert_int_equal(g, 1000);
    assert_int_equal(jail_parse_user("4321:4322", &u, &g), 0);
    assert_int_equal(u, 4321);
    assert_int_equal(g, 4322);
    static const char *const bad[] = {"", "0", "0:5", "5:0", "abc", "1000:", ":5", "1000:x",
                                      "-1", "12x", "4294967295", "1:2:3"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(jail_parse_user(bad[i], &u, &g), -EINVAL);
}

static void test_host_loopback_spec(void **state)
{
    (void)state;
    struct net_config c;
    char err[256];
    assert_int_equal(net_parse_spec("user", &c, err, sizeof(err)), 0);
    assert_false(c.host_loopback); /* closed unless asked for */
    assert_int_equal(net_parse_spec("user,host-loopback=on", &c, err, sizeof(err)), 0);
    assert_true(c.host_loopback);
    assert_int_equal(net_parse_spec("user,host-loopback=on,host-loopback=off", &c, err, sizeof(err)), 0);
    assert_false(c.host_loopback);
    assert_int_not_equal(net_parse_spec("user,host-loopback=yes", &c, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "on or off"));
    assert_int_not_equal(net_parse_spec("user,host-loopback", &c, err, sizeof(err)), 0);
    assert_int_not_equal(net_parse_spec("tap:t0,host-loopback=on", &c, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "user networking"));
}

/* Runs fn in a child with stderr on a pipe; returns its wait status, its stderr in out. */
static int in_child(void (*fn)(void), char *out, size_t len)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 2);
        close(p[0]);
        fn();
        _exit(0);
    }
    close(p[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < len && (r = read(p[0], out + n, len - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = 0;
    close(p[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return st;
}

static void load(enum sc_kind kind)
{
    struct sc_opts o = {0};
    if (sc_prepare() || sc_load(kind, &o, false))
        _exit(2);
}

static void hart_allowed(void)
{
    struct sock_fprog prog;
    struct sc_opts o = {0};
    if (sc_prepare() || sc_compile(SC_HART, &o, &prog) || prog.len == 0)
        _exit(2);
    sc_set_thread_kind("hart", 3);
    if (sc_install(&prog))
        _exit(3);
    /* What a hart does: time, sleep, memory, log lines. */
    struct timespec ts = {0, 1000};
    nanosleep(&ts, NULL);
    void *m = malloc(1 << 20);
    free(m);
    if (write(2, "alive\n", 6) != 6 || getpid() <= 0)
        _exit(4);
}

static void hart_opens(void)
{
    hart_allowed();
    syscall(SYS_openat, AT_FDCWD, "/", O_RDONLY);
    _exit(5); /* not reached */
}

static void test_hart_filter(void **state)
{
    (void)state;
    char err[512];
    int st = in_child(hart_allowed, err, sizeof(err));
    if (!WIFEXITED(st) || WEXITSTATUS(st))
        fprintf(stderr, "status 0x%x: %s", st, err);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_non_null(strstr(err, "alive"));
    st = in_child(hart_opens, err, sizeof(err));
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), JAIL_EXIT_SECCOMP);
    assert_non_null(strstr(err, "kiln: seccomp: forbidden system call 257 (openat) in hart 3;"));
}

static void *thread_fn(void *arg)
{
    return arg;
}

/* kiln run's process filter: threads yes (clone3 falls back to clone), processes no. */
static void run_threads(void)
{
    load(SC_RUN);
    pthread_t t;
    void *r = NULL;
    if (pthread_create(&t, NULL, thread_fn, (void *)7) || pthread_join(t, &r) || r != (void *)7)
        _exit(4);
    int fd = openat(AT_FDCWD, "/", O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        _exit(5);
    close(fd);
}

static void run_forks(void)
{
    load(SC_RUN);
    if (fork() == 0)
        _exit(0);
    _exit(6);
}

static void run_writes(void)
{
    load(SC_RUN);
    openat(AT_FDCWD, "/tmp/kiln-jail-unit-never", O_WRONLY | O_CREAT, 0600);
    _exit(6);
}

static void exec_no_ptrace(void)
{
    struct sc_opts o = {0};
    if (sc_prepare() || sc_load(SC_EXEC, &o, false))
        _exit(2);
    sc_set_thread_kind("process VM", -1);
    syscall(SYS_ptrace, 0, 0, 0, 0);
    _exit(6);
}

static void exec_no_execve(void)
{
    struct sc_opts o = {0};
    if (sc_prepare() || sc_load(SC_EXEC, &o, false))
        _exit(2);
    char *argv[] = {"true", NULL};
    execve("/bin/true", argv, argv + 1);
    _exit(6);
}

static void test_run_and_exec_filters(void **state)
{
    (void)state;
    char err[512];
    int st = in_child(run_threads, err, sizeof(err));
    assert_true(WIFEXITED(st));
    if (WEXITSTATUS(st))
        fprintf(stderr, "%s", err);
    assert_int_equal(WEXITSTATUS(st), 0);

    st = in_child(run_forks, err, sizeof(err));
    assert_int_equal(WEXITSTATUS(st), JAIL_EXIT_SECCOMP);
    assert_non_null(strstr(err, "(clone)"));

    st = in_child(run_writes, err, sizeof(err));
    assert_int_equal(WEXITSTATUS(st), JAIL_EXIT_SECCOMP);
    assert_non_null(strstr(err, "(openat)"));
    assert_int_equal(access("/tmp/kiln-jail-unit-never", F_OK), -1);

    st = in_child(exec_no_ptrace, err, sizeof(err));
    assert_int_equal(WEXITSTATUS(st), JAIL_EXIT_SECCOMP);
    assert_non_null(strstr(err, "(ptrace) in process VM;"));

    st = in_child(exec_no_execve, err, sizeof(err));
    assert_int_equal(WEXITSTATUS(st), JAIL_EXIT_SECCOMP);
    assert_non_null(strstr(err, "(execve)"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_user),
        cmocka_unit_test(test_host_loopback_spec),
        cmocka_unit_test(test_hart_filter),
        cmocka_unit_test(test_run_and_exec_filters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
