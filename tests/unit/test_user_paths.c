/* Process-VM path resolution: lexical normalization, --dir parsing, mount lookup, escapes. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "user/paths.h"

static void norm(const char *base, const char *path, const char *want)
{
    char out[GPATH_MAX];
    assert_int_equal(path_normalize(base, path, out, sizeof(out)), 0);
    assert_string_equal(out, want);
}

static void test_normalize(void **state)
{
    (void)state;
    norm("/", "/a/b", "/a/b");
    norm("/x/y", "z", "/x/y/z");
    norm("/x/y", "../z", "/x/z");
    norm("/x", "../../../../etc/passwd", "/etc/passwd");
    norm("/", "..", "/");
    norm("/a", ".", "/a");
    norm("/a", "b//c/./d/", "/a/b/c/d");
    norm("/a/b", "/..//../c", "/c");
    norm("/", "a/b/../../..", "/");
    char out[8];
    assert_int_equal(path_normalize("/", "", out, sizeof(out)), -ENOENT);
    assert_int_equal(path_normalize("/", "/abcdefghij", out, sizeof(out)), -ENAMETOOLONG);
}

static void test_parse_spec(void **state)
{
    (void)state;
    char h[GPATH_MAX], g[GPATH_MAX];
    bool ro;
    assert_int_equal(mounts_parse_spec("/srv:/data:ro", h, sizeof(h), g, sizeof(g), &ro), 0);
    assert_string_equal(h, "/srv");
    assert_string_equal(g, "/data");
    assert_true(ro);
    assert_int_equal(mounts_parse_spec("/srv", h, sizeof(h), g, sizeof(g), &ro), 0);
    assert_string_equal(g, "/srv");
    assert_false(ro);
    assert_int_equal(mounts_parse_spec("/srv:ro", h, sizeof(h), g, sizeof(g), &ro), 0);
    assert_string_equal(g, "/srv");
    assert_true(ro);
    assert_int_equal(mounts_parse_spec("/srv:/a/../b/", h, sizeof(h), g, sizeof(g), &ro), 0);
    assert_string_equal(g, "/b");
    assert_int_equal(mounts_parse_spec("/srv:rel", h, sizeof(h), g, sizeof(g), &ro), -EINVAL);
    assert_int_equal(mounts_parse_spec("", h, sizeof(h), g, sizeof(g), &ro), -EINVAL);
    assert_int_equal(mounts_parse_spec("/a:/b:/c", h, sizeof(h), g, sizeof(g), &ro), -EINVAL);
    assert_int_equal(mounts_parse_spec("/a:", h, sizeof(h), g, sizeof(g), &ro), -EINVAL);
    char cwd[GPATH_MAX];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(mounts_parse_spec(".", h, sizeof(h), g, sizeof(g), &ro), 0);
    assert_string_equal(g, cwd);
}

struct fixture {
    char dir[64];
    char outside[64];
    struct mounts mt;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/kiln-paths-XXXXXX");
    strcpy(f->outside, "/tmp/kiln-out-XXXXXX");
    if (!mkdtemp(f->dir) || !mkdtemp(f->outside))
        return -1;
    char p[256];
    snprintf(p, sizeof(p), "%s/sub", f->dir);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/sub/file", f->dir);
    FILE *fp = fopen(p, "w");
    fputs("inside", fp);
    fclose(fp);
    snprintf(p, sizeof(p), "%s/secret", f->outside);
    fp = fopen(p, "w");
    fputs("secret", fp);
    fclose(fp);
    snprintf(p, sizeof(p), "%s/abs-link", f->dir);
    char target[256];
    snprintf(target, sizeof(target), "%s/secret", f->outside);
    if (symlink(target, p))
        return -1;
    snprintf(p, sizeof(p), "%s/sub/rel-link", f->dir);
    if (symlink("../../../../../../../../tmp", p))
        return -1;
    snprintf(p, sizeof(p), "%s/ok-link", f->dir);
    if (symlink("sub/file", p))
        return -1;
    if (mounts_add(&f->mt, f->dir, "/work", false) || mounts_add(&f->mt, f->dir, "/ro", true) ||
        mounts_add(&f->mt, f->dir, "/work/nested/deeper", true))
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[300];
    mounts_close(&f->mt);
    snprintf(cmd, sizeof(cmd), "rm -rf %s %s", f->dir, f->outside);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static void test_find(void **state)
{
    struct fixture *f = *state;
    const char *rel;
    assert_int_equal(mounts_find(&f->mt, "/work", &rel), 0);
    assert_string_equal(rel, ".");
    assert_int_equal(mounts_find(&f->mt, "/work/sub/file", &rel), 0);
    assert_string_equal(rel, "sub/file");
    assert_int_equal(mounts_find(&f->mt, "/workshop", &rel), -1);
    assert_int_equal(mounts_find(&f->mt, "/work/nested/deeper/x", &rel), 2);
    assert_string_equal(rel, "x");
    assert_int_equal(mounts_find(&f->mt, "/", &rel), -1);
    assert_int_equal(mounts_add(&f->mt, f->dir, "/work/", false), -EEXIST);
}

static void read_is(int fd, const char *want)
{
    assert_true(fd >= 0);
    char buf[32] = {0};
    assert_true(read(fd, buf, sizeof(buf) - 1) >= 0);
    close(fd);
    assert_string_equal(buf, want);
}

static void test_open(void **state)
{
    struct fixture *f = *state;
    read_is(mounts_open(&f->mt, "/work/sub/file", O_RDONLY, 0), "inside");
    read_is(mounts_open(&f->mt, "/work/ok-link", O_RDONLY, 0), "inside");
    /* Symlinks out of the mount are refused, absolute or relative. */
    assert_int_equal(mounts_open(&f->mt, "/work/abs-link", O_RDONLY, 0), -EACCES);
    assert_int_equal(mounts_open(&f->mt, "/work/sub/rel-link/x", O_RDONLY, 0), -EACCES);
    assert_int_equal(mounts_open(&f->mt, "/etc/passwd", O_RDONLY, 0), -ENOENT);
    assert_int_equal(mounts_open(&f->mt, "/work/missing", O_RDONLY, 0), -ENOENT);
    /* Read-only mounts: reads fine, writes -EROFS, creating a missing file -EROFS. */
    read_is(mounts_open(&f->mt, "/ro/sub/file", O_RDONLY, 0), "inside");
    assert_int_equal(mounts_open(&f->mt, "/ro/sub/file", O_WRONLY, 0), -EROFS);
    assert_int_equal(mounts_open(&f->mt, "/ro/sub/file", O_RDONLY | O_TRUNC, 0), -EROFS);
    assert_int_equal(mounts_open(&f->mt, "/ro/new", O_RDONLY | O_CREAT, 0644), -EROFS);
    int fd = mounts_open(&f->mt, "/work/new", O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    close(fd);
}

static void test_parent(void **state)
{
    struct fixture *f = *state;
    const char *last;
    int fd = mounts_open_parent(&f->mt, "/work/sub/file", false, &last);
    assert_true(fd >= 0);
    assert_string_equal(last, "file");
    close(fd);
    fd = mounts_open_parent(&f->mt, "/work/x", true, &last);
    assert_true(fd >= 0);
    assert_string_equal(last, "x");
    close(fd);
    assert_int_equal(mounts_open_parent(&f->mt, "/work", true, &last), -EBUSY);
    assert_int_equal(mounts_open_parent(&f->mt, "/ro/sub/file", true, &last), -EROFS);
    assert_int_equal(mounts_open_parent(&f->mt, "/nowhere/x", false, &last), -ENOENT);
    assert_int_equal(mounts_open_parent(&f->mt, "/work/abs-link/x", false, &last), -EACCES);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_parse_spec),
        cmocka_unit_test_setup_teardown(test_find, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parent, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
