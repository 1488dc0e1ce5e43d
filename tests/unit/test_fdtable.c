/* Process-VM descriptor table (lowest free number, dup sharing, close-on-exec, fork, limits) and net policy. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "user/fdtable.h"
#include "user/netpolicy.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static bool host_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

static struct fdfile *new_file(void)
{
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    struct fdfile *f = fdfile_new(fd, FD_FILE, false, "/dev/null");
    assert_non_null(f);
    return f;
}

static void test_install_lowest(void **state)
{
    (void)state;
    static struct fdtable t;
    fdtable_init(&t, &lock);
    assert_int_equal(fdtable_install(&t, new_file(), 0, false), 0);
    assert_int_equal(fdtable_install(&t, new_file(), 0, true), 1);
    assert_int_equal(fdtable_install(&t, new_file(), 10, false), 10);
    assert_int_equal(fdtable_install(&t, new_file(), 0, false), 2);
    assert_int_equal(fdtable_close(&t, 1), 0);
    assert_int_equal(fdtable_close(&t, 1), -EBADF);
    assert_int_equal(fdtable_install(&t, new_file(), 0, false), 1);
    assert_int_equal(fdtable_get_cloexec(&t, 1), 0);
    assert_int_equal(fdtable_get_cloexec(&t, 5), -EBADF);
    assert_null(fdtable_get(&t, -1));
    assert_null(fdtable_get(&t, FDT_MAX));
    struct fdfile *extra = new_file();
    assert_int_equal(fdtable_install(&t, extra, FDT_MAX, false), -EINVAL); /* the caller keeps its reference */
    fdfile_put(extra);
    assert_int_equal(fdtable_count(&t), 4);
    fdtable_close_all(&t);
    assert_int_equal(fdtable_count(&t), 0);
}

/* A fork child's table: a call in flight in the parent holds a reference the child must not keep. */
static void test_forked(void **state)
{
    (void)state;
    static struct fdtable t;
    fdtable_init(&t, &lock);
    struct fdfile *f = new_file();
    int host = f->host;
    assert_int_equal(fdtable_install(&t, f, 0, false), 0);
    assert_int_equal(fdtable_install(&t, fdfile_ref(f), 5, false), 5); /* dup */
    struct fdfile *busy = fdtable_get(&t, 0); /* as a blocking read() in another thread */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        fdtable_forked(&t);
        bool ok = atomic_load(&f->refs) == 2;
        fdtable_close(&t, 0);
        ok = ok && host_open(host);
        fdtable_close(&t, 5);
        _exit(ok && !host_open(host) ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    fdtable_close_all(&t);
    assert_true(host_open(host)); /* the parent's call still holds it */
    fdfile_put(busy);
    assert_false(host_open(host));
}

static void test_dup_shares_until_last(void **state)
{
    (void)state;
    static struct fdtable t;
    fdtable_init(&t, &lock);
    struct fdfile *f = new_file();
    int host = f->host;
    assert_int_equal(fdtable_install(&t, f, 0, false), 0);
    struct fdfile *g = fdtable_get(&t, 0);
    assert_ptr_equal(g, f);
    assert_int_equal(fdtable_install_at(&t, 7, g, true), 7); /* dup3: the table takes g's reference */
    assert_int_equal(fdtable_get_cloexec(&t, 7), 1);
    struct fdfile *busy = fdtable_get(&t, 7); /* a call in progress */
    assert_int_equal(fdtable_close(&t, 0), 0);
    assert_int_equal(fdtable_close(&t, 7), 0);
    assert_true(host_open(host)); /* still used by the call */
    fdfile_put(busy);
    assert_false(host_open(host));
}

static void test_install_at_replaces(void **state)
{
    (void)state;
    static struct fdtable t;
    fdtable_init(&t, &lock);
    struct fdfile *a = new_file(), *b = new_file();
    int ha = a->host;
    assert_int_equal(fdtable_install(&t, a, 3, false), 3);
    assert_int_equal(fdtable_install_at(&t, 3, b, false), 3);
    assert_false(host_open(ha));
    struct fdfile *c = new_file();
    assert_int_equal(fdtable_install_at(&t, FDT_MAX, c, false), -EBADF);
    fdfile_put(c);
    fdtable_close_all(&t);
}

static void test_exec_and_limit(void **state)
{
    (void)state;
    static struct fdtable t;
    fdtable_init(&t, &lock);
    struct fdfile *f = new_file();
    assert_int_equal(fdtable_install(&t, f, 0, false), 0);
    int n = 1;
    for (;; n++) {
        int r = fdtable_install(&t, fdfile_ref(f), 0, n % 2 == 0);
        if (r < 0) {
            assert_int_equal(r, -EMFILE);
            fdfile_put(f);
            break;
        }
        assert_int_equal(r, n);
    }
    assert_int_equal(n, FDT_MAX);
    fdtable_close_range(&t, 10, 19, true);
    fdtable_close_cloexec(&t);
    /* Left: slot 0 and the odd slots, less the five odd ones close_range marked. */
    assert_int_equal(fdtable_count(&t), 1 + FDT_MAX / 2 - 5);
    assert_null(fdtable_get(&t, 11));
    assert_null(fdtable_get(&t, 12));
    struct fdfile *kept = fdtable_get(&t, 21);
    assert_non_null(kept);
    fdfile_put(kept);
    fdtable_close_range(&t, 0, ~0u, false);
    assert_int_equal(fdtable_count(&t), 0);
}

static int check4(const char *ip, unsigned port, int type)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, ip, &a.sin_addr);
    return netpolicy_check((struct sockaddr *)&a, sizeof(a), type);
}

static int check6(const char *ip)
{
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(80)};
    inet_pton(AF_INET6, ip, &a.sin6_addr);
    return netpolicy_check((struct sockaddr *)&a, sizeof(a), SOCK_STREAM);
}

static void test_netpolicy(void **state)
{
    (void)state;
    bool open;
    assert_int_equal(netpolicy_parse("user", &open), 0);
    assert_false(open);
    assert_int_equal(netpolicy_parse("user,host-loopback=on", &open), 0);
    assert_true(open);
    assert_int_equal(netpolicy_parse("user,host-loopback=off", &open), 0);
    assert_false(open);
    assert_int_equal(netpolicy_parse("user,host-loopback=yes", &open), -EINVAL);
    assert_int_equal(netpolicy_parse("users", &open), -EINVAL);
    assert_int_equal(netpolicy_parse("tap", &open), -EINVAL);

    assert_int_equal(netpolicy_init(false), 0);
    assert_int_equal(check4("127.0.0.1", 80, SOCK_STREAM), -EACCES);
    assert_int_equal(check4("127.200.0.1", 80, SOCK_STREAM), -EACCES);
    assert_int_equal(check4("0.0.0.0", 80, SOCK_STREAM), -EACCES);
    assert_int_equal(check4("224.0.0.251", 5353, SOCK_DGRAM), -EACCES);
    assert_int_equal(check4("255.255.255.255", 67, SOCK_DGRAM), -EACCES);
    assert_int_equal(check4("198.51.100.7", 80, SOCK_STREAM), 0);
    assert_int_equal(check6("::1"), -EACCES);
    assert_int_equal(check6("::"), -EACCES);
    assert_int_equal(check6("::ffff:127.0.0.1"), -EACCES);
    assert_int_equal(check6("::ffff:198.51.100.7"), 0);
    assert_int_equal(check6("ff02::1"), -EACCES);
    assert_int_equal(check6("2001:db8::1"), 0);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    memcpy(un.sun_path, "\0x", 2);
    assert_int_equal(netpolicy_check((struct sockaddr *)&un, sizeof(sa_family_t) + 2, SOCK_STREAM), -EACCES);
    assert_int_equal(netpolicy_check_bind((struct sockaddr *)&un, sizeof(sa_family_t)), 0); /* autobind */
    strcpy(un.sun_path, "/tmp/x");
    assert_int_equal(netpolicy_check_bind((struct sockaddr *)&un, sizeof(un)), -EACCES);

    /* A port the process VM bound itself stays reachable on loopback (not for another socket type). */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in me = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &me.sin_addr);
    socklen_t ml = sizeof(me);
    assert_int_equal(bind(s, (struct sockaddr *)&me, sizeof(me)), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&me, &ml), 0);
    netpolicy_bound(s);
    assert_int_equal(check4("127.0.0.1", ntohs(me.sin_port), SOCK_STREAM), 0);
    assert_int_equal(check4("127.0.0.1", ntohs(me.sin_port), SOCK_DGRAM), -EACCES);
    close(s);

    assert_int_equal(netpolicy_init(true), 0);
    assert_int_equal(check4("127.0.0.1", 80, SOCK_STREAM), 0);
    assert_int_equal(check6("::1"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_install_lowest),
        cmocka_unit_test(test_dup_shares_until_last),
        cmocka_unit_test(test_install_at_replaces),
        cmocka_unit_test(test_exec_and_limit),
        cmocka_unit_test(test_forked),
        cmocka_unit_test(test_netpolicy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
