/*
 * 9P2000.L server (src/backend/p9fs.c) against a real temporary directory:
 * the test is the client, building T-messages byte by byte as Linux's v9fs
 * would, and checking replies and what lands on the host. Escapes, the
 * read-only share and malformed messages included. Also the --share parser
 * and the virtio-9p config space (mount tag).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend/p9fs.h"
#include "dev/virtio_9p.h"
#include "machine/gmem.h"
#include "machine/vm.h"
#include "virtio/mmio.h"

#define RLERROR 7
#define OUTCAP 65536

struct msg {
    uint8_t b[8192];
    size_t n;
};

struct fx {
    char dir[64]; /* holds share/ and outside/ */
    char share[96];
    struct p9fs *fs;
    uint8_t out[OUTCAP];
    int len;
    size_t rp; /* reply read cursor */
};

/* ---- message building ---- */

static void m_le(struct msg *m, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++) /* n > 8: zero padding */
        m->b[m->n++] = i < 8 ? (uint8_t)(v >> (8 * i)) : 0;
}

static void m_begin(struct msg *m, uint8_t type)
{
    m->n = 4;
    m->b[m->n++] = type;
    m_le(m, 0x1234, 2);
}

static void m_str(struct msg *m, const char *s)
{
    size_t n = strlen(s);
    m_le(m, n, 2);
    memcpy(m->b + m->n, s, n);
    m->n += n;
}

/* Sends m; returns the reply type (the ecode is in r_err). */
static uint8_t send(struct fx *f, struct msg *m)
{
    for (int i = 0; i < 4; i++)
        m->b[i] = (uint8_t)(m->n >> (8 * i));
    f->len = p9fs_handle(f->fs, m->b, m->n, f->out, OUTCAP);
    assert_true(f->len >= 7);
    uint32_t size = f->out[0] | f->out[1] << 8 | f->out[2] << 16 | (uint32_t)f->out[3] << 24;
    assert_int_equal(size, f->len);
    assert_int_equal(f->out[5] | f->out[6] << 8, 0x1234);
    f->rp = 7;
    return f->out[4];
}

static uint64_t r_le(struct fx *f, unsigned n)
{
    uint64_t v = 0;
    assert_true(f->rp + n <= (size_t)f->len);
    for (unsigned i = 0; i < n && i < 8; i++) /* n > 8: skip bytes, value unused */
        v |= (uint64_t)f->out[f->rp + i] << (8 * i);
    f->rp += n;
    return v;
}

/* 0 if the last reply was not an Rlerror, else its errno. */
static int r_err(struct fx *f)
{
    if (f->out[4] != RLERROR) return 0;
    f->rp = 7;
    return (int)r_le(f, 4);
}

/* ---- one-call helpers for the common messages; each returns 0 or the Rlerror errno ---- */

static int t_version(struct fx *f, uint32_t msize, const char *ver)
{
    struct msg m;
    m_begin(&m, P9_TVERSION);
    m_le(&m, msize, 4);
    m_str(&m, ver);
    send(f, &m);
    return r_err(f);
}

static int t_attach(struct fx *f, uint32_t fid)
{
    struct msg m;
    m_begin(&m, P9_TATTACH);
    m_le(&m, fid, 4);
    m_le(&m, ~0u, 4);
    m_str(&m, "root");
    m_str(&m, "");
    m_le(&m, 0, 4);
    send(f, &m);
    return r_err(f);
}

/* Walks fid -> newfid along a '/'-separated path ("" = clone). Returns errno, or -n for a short
 * walk. */
static int t_walk(struct fx *f, uint32_t fid, uint32_t newfid, const char *path)
{
    struct msg m;
    m_begin(&m, P9_TWALK);
    m_le(&m, fid, 4);
    m_le(&m, newfid, 4);
    size_t at = m.n;
    m_le(&m, 0, 2);
    unsigned n = 0;
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *save, *t = strtok_r(buf, "/", &save); t; t = strtok_r(NULL, "/", &save), n++)
        m_str(&m, t);
    m.b[at] = (uint8_t)n;
    send(f, &m);
    int e = r_err(f);
    if (e) return e;
    unsigned got = (unsigned)r_le(f, 2);
    return got == n ? 0 : -(int)got;
}

static int t_fid_only(struct fx *f, uint8_t type, uint32_t fid)
{
    struct msg m;
    m_begin(&m, type);
    m_le(&m, fid, 4);
    send(f, &m);
    return r_err(f);
}

static int t_lopen(struct fx *f, uint32_t fid, uint32_t flags)
{
    struct msg m;
    m_begin(&m, P9_TLOPEN);
    m_le(&m, fid, 4);
    m_le(&m, flags, 4);
    send(f, &m);
    return r_err(f);
}

static int t_lcreate(struct fx *f, uint32_t fid, const char *name, uint32_t flags, uint32_t mode)
{
    struct msg m;
    m_begin(&m, P9_TLCREATE);
    m_le(&m, fid, 4);
    m_str(&m, name);
    m_le(&m, flags, 4);
    m_le(&m, mode, 4);
    m_le(&m, 0, 4);
    send(f, &m);
    return r_err(f);
}

static int t_write(struct fx *f, uint32_t fid, uint64_t off, const char *data)
{
    struct msg m;
    m_begin(&m, P9_TWRITE);
    m_le(&m, fid, 4);
    m_le(&m, off, 8);
    m_le(&m, strlen(data), 4);
    memcpy(m.b + m.n, data, strlen(data));
    m.n += strlen(data);
    send(f, &m);
    return r_err(f);
}

/* Reads up to count bytes into buf (NUL-terminated). Returns errno or 0. */
static int t_read(struct fx *f, uint32_t fid, uint64_t off, uint32_t count, char *buf, size_t cap)
{
    struct msg m;
    m_begin(&m, P9_TREAD);
    m_le(&m, fid, 4);
    m_le(&m, off, 8);
    m_le(&m, count, 4);
    send(f, &m);
    int e = r_err(f);
    if (e) return e;
    uint32_t n = (uint32_t)r_le(f, 4);
    assert_true(n < cap);
    memcpy(buf, f->out + f->rp, n);
    buf[n] = 0;
    return 0;
}

static int t_dir_name(struct fx *f, uint8_t type, uint32_t fid, const char *name, uint32_t a,
                      uint32_t b)
{
    struct msg m;
    m_begin(&m, type);
    m_le(&m, fid, 4);
    m_str(&m, name);
    m_le(&m, a, 4);
    if (type == P9_TMKNOD) {
        m_le(&m, 0, 4);
        m_le(&m, 0, 4);
    }
    if (type != P9_TUNLINKAT) m_le(&m, b, 4);
    send(f, &m);
    return r_err(f);
}

static int t_symlink(struct fx *f, uint32_t fid, const char *name, const char *target)
{
    struct msg m;
    m_begin(&m, P9_TSYMLINK);
    m_le(&m, fid, 4);
    m_str(&m, name);
    m_str(&m, target);
    m_le(&m, 0, 4);
    send(f, &m);
    return r_err(f);
}

static int t_renameat(struct fx *f, uint32_t ofid, const char *on, uint32_t nfid, const char *nn)
{
    struct msg m;
    m_begin(&m, P9_TRENAMEAT);
    m_le(&m, ofid, 4);
    m_str(&m, on);
    m_le(&m, nfid, 4);
    m_str(&m, nn);
    send(f, &m);
    return r_err(f);
}

/* Tgetattr: returns errno, fills size and mode. */
static int t_getattr(struct fx *f, uint32_t fid, uint64_t *size, uint32_t *mode)
{
    struct msg m;
    m_begin(&m, P9_TGETATTR);
    m_le(&m, fid, 4);
    m_le(&m, 0x7ff, 8);
    send(f, &m);
    int e = r_err(f);
    if (e) return e;
    assert_int_equal(f->len, 7 + 8 + 13 + 4 * 3 + 8 * 15);
    r_le(f, 8 + 13);
    *mode = (uint32_t)r_le(f, 4);
    r_le(f, 4 + 4 + 8 + 8);
    *size = r_le(f, 8);
    return 0;
}

/* ---- host side ---- */

static void host_write(struct fx *f, const char *rel, const char *data)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", f->dir, rel);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fputs(data, fp);
    fclose(fp);
}

static char *host_read(struct fx *f, const char *rel)
{
    static char buf[256];
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", f->dir, rel);
    FILE *fp = fopen(p, "r");
    if (!fp) return NULL;
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    buf[n] = 0;
    fclose(fp);
    return buf;
}

static bool host_exists(struct fx *f, const char *rel)
{
    char p[256];
    struct stat st;
    snprintf(p, sizeof(p), "%s/%s", f->dir, rel);
    return lstat(p, &st) == 0;
}

static int setup_mode(void **state, bool ro)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    strcpy(f->dir, "/tmp/kiln-test-p9fs-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->share, sizeof(f->share), "%s/share", f->dir);
    char p[256];
    assert_int_equal(mkdir(f->share, 0755), 0);
    snprintf(p, sizeof(p), "%s/outside", f->dir);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/share/sub", f->dir);
    assert_int_equal(mkdir(p, 0755), 0);
    host_write(f, "outside/secret", "HOST-SECRET");
    host_write(f, "share/hello.txt", "hello from the host");
    host_write(f, "share/sub/inner", "inner");
    assert_int_equal(p9fs_open(f->share, ro, &f->fs), 0);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_mode(state, false);
}

static int setup_ro(void **state)
{
    return setup_mode(state, true);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    p9fs_close(f->fs);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void session(struct fx *f)
{
    assert_int_equal(t_version(f, 65536, "9P2000.L"), 0);
    assert_int_equal(t_attach(f, 0), 0);
}

/* ---- tests ---- */

static void test_version(void **state)
{
    struct fx *f = *state;
    /* Nothing before Tversion. */
    assert_int_equal(t_attach(f, 0), EPROTO);
    /* msize is capped; an unknown version is answered "unknown". */
    assert_int_equal(t_version(f, 64u << 20, "9P2000.L"), 0);
    assert_int_equal(r_le(f, 4), P9FS_MSIZE_MAX);
    assert_int_equal(p9fs_msize(f->fs), P9FS_MSIZE_MAX);
    assert_int_equal(t_version(f, 8192, "9P2000.u"), 0);
    assert_int_equal(r_le(f, 4), 8192);
    assert_int_equal(r_le(f, 2), 7);
    assert_memory_equal(f->out + f->rp, "unknown", 7);
    assert_int_equal(p9fs_msize(f->fs), 0);
    assert_int_equal(t_version(f, 100, "9P2000.L"), EINVAL);
    session(f);
    assert_int_equal(p9fs_nfids(f->fs), 1);
    /* A new Tversion clunks every fid. */
    assert_int_equal(t_version(f, 8192, "9P2000.L"), 0);
    assert_int_equal(p9fs_nfids(f->fs), 0);
}

static void test_read_host_file(void **state)
{
    struct fx *f = *state;
    session(f);
    char buf[256];
    uint64_t size;
    uint32_t mode;
    assert_int_equal(t_walk(f, 0, 1, "hello.txt"), 0);
    assert_int_equal(t_getattr(f, 1, &size, &mode), 0);
    assert_int_equal(size, 19);
    assert_true(S_ISREG(mode));
    assert_int_equal(t_lopen(f, 1, O_RDONLY), 0);
    assert_int_equal(t_read(f, 1, 0, 4096, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "hello from the host");
    assert_int_equal(t_read(f, 1, 6, 4, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "from");
    /* A count beyond the reply buffer is clamped, not trusted. */
    assert_int_equal(t_read(f, 1, 0, 0xffffffffu, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "hello from the host");
    assert_int_equal(t_fid_only(f, P9_TCLUNK, 1), 0);
    assert_int_equal(t_fid_only(f, P9_TCLUNK, 1), EBADF);
    /* Short walk: the first name exists, the second does not. */
    assert_int_equal(t_walk(f, 0, 2, "sub/nope"), -1);
    assert_int_equal(t_walk(f, 0, 2, "nope"), ENOENT);
    assert_int_equal(t_walk(f, 0, 2, "hello.txt/x"), -1); /* ENOTDIR after one step */
    assert_int_equal(p9fs_nfids(f->fs), 1);
}

static void test_create_write_rename(void **state)
{
    struct fx *f = *state;
    session(f);
    assert_int_equal(t_walk(f, 0, 1, ""), 0);
    assert_int_equal(t_lcreate(f, 1, "new.txt", O_WRONLY | O_CREAT, 0644), 0);
    assert_int_equal(t_write(f, 1, 0, "guest wrote this"), 0);
    assert_int_equal(r_le(f, 4), 16);
    assert_string_equal(host_read(f, "share/new.txt"), "guest wrote this");
    assert_int_equal(t_walk(f, 0, 7, ""), 0);
    assert_int_equal(t_lcreate(f, 7, "new.txt", O_WRONLY | O_CREAT | O_EXCL, 0644), EEXIST);
    assert_int_equal(t_fid_only(f, P9_TCLUNK, 7), 0);
    /* mkdir, rename into it; a fid on the old name follows the rename. */
    assert_int_equal(t_dir_name(f, P9_TMKDIR, 0, "d", 0755, 0), 0);
    assert_int_equal(t_walk(f, 0, 2, "new.txt"), 0);
    assert_int_equal(t_walk(f, 0, 3, "d"), 0);
    assert_int_equal(t_renameat(f, 0, "new.txt", 3, "moved.txt"), 0);
    assert_false(host_exists(f, "share/new.txt"));
    assert_string_equal(host_read(f, "share/d/moved.txt"), "guest wrote this");
    uint64_t size;
    uint32_t mode;
    assert_int_equal(t_getattr(f, 2, &size, &mode), 0);
    assert_int_equal(size, 16);
    /* Trename of a whole directory: fids below it follow. */
    assert_int_equal(t_walk(f, 0, 4, "d/moved.txt"), 0);
    struct msg m;
    m_begin(&m, P9_TRENAME);
    m_le(&m, 3, 4);
    m_le(&m, 0, 4);
    m_str(&m, "e");
    send(f, &m);
    assert_int_equal(r_err(f), 0);
    assert_string_equal(host_read(f, "share/e/moved.txt"), "guest wrote this");
    assert_int_equal(t_lopen(f, 4, O_RDONLY), 0);
    char buf[64];
    assert_int_equal(t_read(f, 4, 6, 5, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "wrote");
    /* Truncate through Tsetattr. */
    m_begin(&m, P9_TSETATTR);
    m_le(&m, 4, 4);
    m_le(&m, 0x8, 4); /* SIZE */
    m_le(&m, 0, 4 * 3);
    m_le(&m, 5, 8);
    m_le(&m, 0, 8 * 4);
    send(f, &m);
    assert_int_equal(r_err(f), 0);
    assert_string_equal(host_read(f, "share/e/moved.txt"), "guest");
    /* Symlink + readlink; hard link; FIFO yes, device node no; unlink. */
    assert_int_equal(t_symlink(f, 0, "ln", "e/moved.txt"), 0);
    assert_int_equal(t_walk(f, 0, 5, "ln"), 0);
    assert_int_equal(t_fid_only(f, P9_TREADLINK, 5), 0);
    assert_int_equal(r_le(f, 2), 11);
    assert_memory_equal(f->out + f->rp, "e/moved.txt", 11);
    m_begin(&m, P9_TLINK);
    m_le(&m, 0, 4);
    m_le(&m, 4, 4);
    m_str(&m, "hard");
    send(f, &m);
    assert_int_equal(r_err(f), 0);
    assert_string_equal(host_read(f, "share/hard"), "guest");
    assert_int_equal(t_dir_name(f, P9_TMKNOD, 0, "fifo", S_IFIFO | 0644, 0), 0);
    assert_int_equal(t_dir_name(f, P9_TMKNOD, 0, "null", S_IFCHR | 0666, 0), EPERM);
    assert_false(host_exists(f, "share/null"));
    assert_int_equal(t_dir_name(f, P9_TUNLINKAT, 0, "hard", 0, 0), 0);
    assert_false(host_exists(f, "share/hard"));
    assert_int_equal(t_dir_name(f, P9_TUNLINKAT, 0, "e", 0, 0), EISDIR);
    /* Set-id bits never reach the host. */
    assert_int_equal(t_walk(f, 0, 6, ""), 0);
    assert_int_equal(t_lcreate(f, 6, "suid", O_WRONLY, 04755), 0);
    struct stat st;
    char p[256];
    snprintf(p, sizeof(p), "%s/suid", f->share);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);
    /* statfs answers with v9fs's magic. */
    assert_int_equal(t_fid_only(f, P9_TSTATFS, 0), 0);
    assert_int_equal(r_le(f, 4), 0x01021997);
}

/* Every entry of sub/ comes back, across several small Treaddir calls. */
static void test_readdir(void **state)
{
    struct fx *f = *state;
    session(f);
    for (int i = 0; i < 40; i++) {
        char n[64];
        snprintf(n, sizeof(n), "share/sub/file-%02d", i);
        host_write(f, n, "x");
    }
    assert_int_equal(t_walk(f, 0, 1, "sub"), 0);
    assert_int_equal(t_lopen(f, 1, O_RDONLY | 0200000), 0);
    uint64_t off = 0;
    int seen = 0, calls = 0, dots = 0;
    for (;;) {
        struct msg m;
        m_begin(&m, P9_TREADDIR);
        m_le(&m, 1, 4);
        m_le(&m, off, 8);
        m_le(&m, 200, 4);
        send(f, &m);
        assert_int_equal(r_err(f), 0);
        uint32_t count = (uint32_t)r_le(f, 4);
        assert_true(count <= 200);
        calls++;
        if (count == 0) break;
        size_t end = f->rp + count;
        while (f->rp < end) {
            r_le(f, 13);
            off = r_le(f, 8);
            r_le(f, 1);
            unsigned nl = (unsigned)r_le(f, 2);
            char name[256];
            memcpy(name, f->out + f->rp, nl);
            name[nl] = 0;
            f->rp += nl;
            if (!strcmp(name, ".") || !strcmp(name, ".."))
                dots++;
            else
                seen++;
        }
    }
    assert_int_equal(seen, 41); /* inner + 40 */
    assert_int_equal(dots, 2);
    assert_true(calls > 5);
}

/* The share's root is the guest's whole world: "..", symlinks out, swapped directories. */
static void test_escapes(void **state)
{
    struct fx *f = *state;
    session(f);
    char p[256], q[256];
    assert_int_equal(t_walk(f, 0, 1, ".."), EACCES);
    assert_int_equal(t_walk(f, 0, 1, "sub/../.."), -1);
    assert_int_equal(t_walk(f, 0, 1, "a/b"), ENOENT);
    /* Host symlinks leaving the share: absolute and relative. */
    snprintf(p, sizeof(p), "%s/outside", f->dir);
    snprintf(q, sizeof(q), "%s/abs", f->share);
    assert_int_equal(symlink(p, q), 0);
    snprintf(q, sizeof(q), "%s/rel", f->share);
    assert_int_equal(symlink("../outside", q), 0);
    snprintf(q, sizeof(q), "%s/absfile", f->share);
    snprintf(p, sizeof(p), "%s/outside/secret", f->dir);
    assert_int_equal(symlink(p, q), 0);
    /* Walking onto a symlink gives the link itself; walking through it is refused. */
    assert_int_equal(t_walk(f, 0, 1, "abs"), 0);
    assert_int_equal(t_lopen(f, 1, O_RDONLY), ELOOP);
    assert_int_equal(t_walk(f, 0, 2, "abs/secret"), -1);
    assert_int_equal(t_walk(f, 0, 2, "rel/secret"), -1);
    assert_int_equal(t_walk(f, 0, 2, "absfile"), 0);
    assert_int_equal(t_lopen(f, 2, O_RDONLY), ELOOP);
    /* Creating through a dangling symlink never creates outside. */
    snprintf(q, sizeof(q), "%s/dangling", f->share);
    snprintf(p, sizeof(p), "%s/outside/created", f->dir);
    assert_int_equal(symlink(p, q), 0);
    assert_int_equal(t_walk(f, 0, 3, ""), 0);
    assert_int_equal(t_lcreate(f, 3, "dangling", O_WRONLY, 0644), ELOOP);
    assert_false(host_exists(f, "outside/created"));
    /* Names with '/' or dot-dot in any name-taking message. */
    assert_int_equal(t_lcreate(f, 3, "../x", O_WRONLY, 0644), EINVAL);
    assert_int_equal(t_lcreate(f, 3, "..", O_WRONLY, 0644), EACCES);
    assert_int_equal(t_dir_name(f, P9_TMKDIR, 0, "../evil", 0755, 0), EINVAL);
    assert_int_equal(t_dir_name(f, P9_TUNLINKAT, 0, "..", 0, 0), EACCES);
    assert_int_equal(t_renameat(f, 0, "hello.txt", 0, "../stolen"), EINVAL);
    assert_true(host_exists(f, "share/hello.txt"));
    /*
     * A fid walked to sub/inner, then the host swaps sub for a symlink out of
     * the share: the fid's path now leads outside and must not open.
     */
    assert_int_equal(t_walk(f, 0, 4, "sub/inner"), 0);
    host_write(f, "outside/inner", "OUTSIDE");
    snprintf(p, sizeof(p), "rm -rf %s/sub", f->share);
    assert_int_equal(system(p), 0);
    snprintf(p, sizeof(p), "%s/outside", f->dir);
    snprintf(q, sizeof(q), "%s/sub", f->share);
    assert_int_equal(symlink(p, q), 0);
    assert_int_equal(t_lopen(f, 4, O_RDONLY), EACCES);
    uint64_t size;
    uint32_t mode;
    assert_int_equal(t_getattr(f, 4, &size, &mode), EACCES);
    assert_int_equal(t_dir_name(f, P9_TUNLINKAT, 4, "x", 0, 0), EACCES);
    assert_string_equal(host_read(f, "outside/secret"), "HOST-SECRET");
}

static void test_readonly(void **state)
{
    struct fx *f = *state;
    session(f);
    char buf[64];
    assert_int_equal(t_walk(f, 0, 1, "hello.txt"), 0);
    assert_int_equal(t_lopen(f, 1, O_RDWR), EROFS);
    assert_int_equal(t_lopen(f, 1, O_RDONLY | 01000), EROFS); /* O_TRUNC */
    assert_int_equal(t_lopen(f, 1, O_RDONLY), 0);
    assert_int_equal(t_read(f, 1, 0, 5, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "hello");
    assert_int_equal(t_write(f, 1, 0, "x"), EROFS);
    assert_int_equal(t_walk(f, 0, 2, ""), 0);
    assert_int_equal(t_lcreate(f, 2, "new", O_WRONLY, 0644), EROFS);
    assert_int_equal(t_dir_name(f, P9_TMKDIR, 0, "d", 0755, 0), EROFS);
    assert_int_equal(t_symlink(f, 0, "l", "x"), EROFS);
    assert_int_equal(t_dir_name(f, P9_TMKNOD, 0, "p", S_IFIFO | 0644, 0), EROFS);
    assert_int_equal(t_dir_name(f, P9_TUNLINKAT, 0, "hello.txt", 0, 0), EROFS);
    assert_int_equal(t_renameat(f, 0, "hello.txt", 0, "x"), EROFS);
    struct msg m;
    m_begin(&m, P9_TSETATTR);
    m_le(&m, 1, 4);
    m_le(&m, 0x1, 4);
    m_le(&m, 0777, 4);
    m_le(&m, 0, 4 * 2 + 8 * 5);
    send(f, &m);
    assert_int_equal(r_err(f), EROFS);
    assert_int_equal(t_walk(f, 0, 3, "hello.txt"), 0);
    assert_int_equal(t_fid_only(f, P9_TREMOVE, 3), EROFS);
    assert_int_equal(p9fs_nfids(f->fs), 3); /* remove clunked fid 3 anyway */
    assert_string_equal(host_read(f, "share/hello.txt"), "hello from the host");
    assert_false(host_exists(f, "share/new"));
}

static void test_malformed(void **state)
{
    struct fx *f = *state;
    session(f);
    struct msg m;
    uint8_t small[10];
    /* No reply possible: too short to carry a tag, or no room for Rlerror. */
    assert_int_equal(p9fs_handle(f->fs, (const uint8_t *)"\x07\0\0\0d", 5, f->out, OUTCAP),
                     -EINVAL);
    m_begin(&m, P9_TCLUNK);
    m_le(&m, 0, 4);
    m.b[0] = (uint8_t)m.n;
    assert_int_equal(p9fs_handle(f->fs, m.b, m.n, small, sizeof(small)), -EINVAL);
    /* Size field larger than what arrived, or smaller than a header. */
    m_begin(&m, P9_TCLUNK);
    m_le(&m, 0, 4);
    for (int i = 0; i < 4; i++)
        m.b[i] = 0;
    m.b[0] = 200;
    f->len = p9fs_handle(f->fs, m.b, m.n, f->out, OUTCAP);
    assert_int_equal(f->len, 11);
    assert_int_equal(r_err(f), EPROTO);
    m.b[0] = 3;
    f->len = p9fs_handle(f->fs, m.b, m.n, f->out, OUTCAP);
    assert_int_equal(r_err(f), EPROTO);
    /* Truncated body; string length beyond the message; NUL inside a name. */
    m_begin(&m, P9_TWALK);
    m_le(&m, 0, 4);
    send(f, &m);
    assert_int_equal(r_err(f), EPROTO);
    m_begin(&m, P9_TWALK);
    m_le(&m, 0, 4);
    m_le(&m, 1, 4);
    m_le(&m, 1, 2);
    m_le(&m, 60000, 2);
    m_str(&m, "abc");
    send(f, &m);
    assert_int_equal(r_err(f), EPROTO);
    m_begin(&m, P9_TWALK);
    m_le(&m, 0, 4);
    m_le(&m, 1, 4);
    m_le(&m, 1, 2);
    m_le(&m, 3, 2);
    memcpy(m.b + m.n, "a\0b", 3);
    m.n += 3;
    send(f, &m);
    assert_int_equal(r_err(f), EINVAL);
    /* Too many walk names; a write count beyond the message. */
    m_begin(&m, P9_TWALK);
    m_le(&m, 0, 4);
    m_le(&m, 1, 4);
    m_le(&m, 17, 2);
    send(f, &m);
    assert_int_equal(r_err(f), EINVAL);
    assert_int_equal(t_walk(f, 0, 1, "hello.txt"), 0);
    assert_int_equal(t_lopen(f, 1, O_RDWR), 0);
    m_begin(&m, P9_TWRITE);
    m_le(&m, 1, 4);
    m_le(&m, 0, 8);
    m_le(&m, 1000, 4);
    m_str(&m, "short");
    send(f, &m);
    assert_int_equal(r_err(f), EPROTO);
    assert_string_equal(host_read(f, "share/hello.txt"), "hello from the host");
    /* Unknown and R-type messages; NOFID; fid reuse. */
    m_begin(&m, 200);
    assert_int_equal(send(f, &m), RLERROR);
    m_begin(&m, P9_TVERSION + 1);
    assert_int_equal(send(f, &m), RLERROR);
    assert_int_equal(t_walk(f, 0, ~0u, ""), EINVAL);
    assert_int_equal(t_walk(f, 0, 1, ""), EEXIST);
    assert_int_equal(t_lopen(f, 1, O_RDONLY), EBUSY);
    assert_int_equal(t_lopen(f, 77, O_RDONLY), EBADF);
    assert_int_equal(t_lopen(f, 0, 3), EINVAL); /* O_ACCMODE */
    /* A reply that does not fit the driver's buffer is an Rlerror, never an overrun. */
    m_begin(&m, P9_TGETATTR);
    m_le(&m, 0, 4);
    m_le(&m, 0x7ff, 8);
    m.b[0] = (uint8_t)m.n;
    uint8_t tiny[40];
    memset(tiny, 0xee, sizeof(tiny));
    assert_int_equal(p9fs_handle(f->fs, m.b, m.n, tiny, 32), 11);
    assert_int_equal(tiny[4], RLERROR);
    assert_int_equal(tiny[32], 0xee);
    /* The fid table is capped. */
    unsigned i;
    for (i = 2; p9fs_nfids(f->fs) < P9FS_MAX_FIDS; i++)
        assert_int_equal(t_walk(f, 0, i, ""), 0);
    assert_int_equal(t_walk(f, 0, i, ""), EMFILE);
    assert_int_equal(t_fid_only(f, P9_TCLUNK, i - 1), 0);
    assert_int_equal(t_walk(f, 0, i, ""), 0);
}

static void test_locks_xattr(void **state)
{
    struct fx *f = *state;
    session(f);
    assert_int_equal(t_walk(f, 0, 1, "hello.txt"), 0);
    assert_int_equal(t_walk(f, 0, 2, "hello.txt"), 0);
    assert_int_equal(t_lopen(f, 1, O_RDWR), 0);
    assert_int_equal(t_lopen(f, 2, O_RDWR), 0);
    struct msg m;
    for (int fid = 1; fid <= 2; fid++) {
        m_begin(&m, P9_TLOCK);
        m_le(&m, fid, 4);
        m_le(&m, 1, 1); /* WRLCK */
        m_le(&m, 0, 4);
        m_le(&m, 0, 8);
        m_le(&m, 0, 8);
        m_le(&m, 42, 4);
        m_str(&m, "guest");
        send(f, &m);
        assert_int_equal(r_err(f), 0);
        assert_int_equal(r_le(f, 1), fid == 1 ? 0 : 1); /* SUCCESS, then BLOCKED */
    }
    m_begin(&m, P9_TGETLOCK);
    m_le(&m, 2, 4);
    m_le(&m, 0, 1);
    m_le(&m, 0, 8);
    m_le(&m, 0, 8);
    m_le(&m, 42, 4);
    m_str(&m, "guest");
    send(f, &m);
    assert_int_equal(r_err(f), 0);
    assert_int_equal(r_le(f, 1), 1); /* WRLCK held by the other open */
    /* Extended attributes: the list is empty, a named one unsupported. */
    m_begin(&m, P9_TXATTRWALK);
    m_le(&m, 0, 4);
    m_le(&m, 3, 4);
    m_str(&m, "");
    send(f, &m);
    assert_int_equal(r_err(f), 0);
    assert_int_equal(r_le(f, 8), 0);
    char buf[16];
    assert_int_equal(t_read(f, 3, 0, 100, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");
    m_begin(&m, P9_TXATTRWALK);
    m_le(&m, 0, 4);
    m_le(&m, 4, 4);
    m_str(&m, "security.capability");
    send(f, &m);
    assert_int_equal(r_err(f), EOPNOTSUPP);
    m_begin(&m, P9_TFLUSH);
    m_le(&m, 7, 2);
    assert_int_equal(send(f, &m), P9_TFLUSH + 1);
    assert_int_equal(t_fid_only(f, P9_TFSYNC, 1), EPROTO); /* datasync[4] missing */
}

/* Snapshots: the session is read out fid by fid and rebuilt into a fresh server. */
struct saved {
    unsigned n;
    struct p9fs_fid_state s[8];
    char path[8][64];
};

static int save_one(void *ctx, const struct p9fs_fid_state *st)
{
    struct saved *sv = ctx;
    if (sv->n == 8) return -1;
    sv->s[sv->n] = *st;
    snprintf(sv->path[sv->n], sizeof(sv->path[0]), "%s", st->path);
    sv->s[sv->n].path = sv->path[sv->n];
    sv->n++;
    return 0;
}

static void test_session_restore(void **state)
{
    struct fx *f = *state;
    session(f);
    char buf[64];
    assert_int_equal(t_walk(f, 0, 1, "hello.txt"), 0);
    assert_int_equal(t_lopen(f, 1, O_RDONLY | 0100000 /* LARGEFILE */), 0);
    assert_int_equal(t_walk(f, 0, 2, ""), 0);
    assert_int_equal(t_lcreate(f, 2, "new", O_RDWR | 01000 /* TRUNC */, 0644), 0);
    assert_int_equal(t_write(f, 2, 0, "written"), 0);
    assert_int_equal(t_walk(f, 0, 3, "sub"), 0); /* walked, not open */
    struct saved sv = {0};
    assert_int_equal(p9fs_fids_each(f->fs, save_one, &sv), 0);
    assert_int_equal(sv.n, 4);
    uint32_t msize = p9fs_msize(f->fs);

    /* A fresh server over the same directory, as a restored VM opens it. */
    struct p9fs *fs2;
    assert_int_equal(p9fs_open(f->share, false, &fs2), 0);
    struct p9fs *old = f->fs;
    f->fs = fs2;
    assert_int_equal(p9fs_session_restore(fs2, 100), -EINVAL); /* below P9FS_MSIZE_MIN */
    assert_int_equal(p9fs_session_restore(fs2, msize), 0);
    for (unsigned i = 0; i < sv.n; i++)
        assert_int_equal(p9fs_fid_restore(fs2, &sv.s[i]), 0);
    assert_int_equal(p9fs_nfids(fs2), 4);
    assert_int_equal(p9fs_fid_restore(fs2, &sv.s[0]), -EEXIST);
    /* The reopened files work as before; the created one was not truncated again. */
    assert_int_equal(t_read(f, 1, 0, 5, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "hello");
    assert_int_equal(t_read(f, 2, 0, 64, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "written");
    assert_int_equal(t_write(f, 2, 7, "+more"), 0);
    assert_string_equal(host_read(f, "share/new"), "written+more");
    assert_int_equal(t_walk(f, 3, 4, "inner"), 0);
    p9fs_close(old);

    /* Hostile saved fids: paths out of the share, bad flags, an open xattr fid. */
    struct p9fs_fid_state bad = {.id = 50, .path = "../outside/secret", .open = true};
    assert_int_equal(p9fs_fid_restore(fs2, &bad), -EINVAL);
    const char *paths[] = {"/etc/passwd", "sub/../..", "a//b", "sub/", "", "..", "./x"};
    for (unsigned i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        bad.path = paths[i];
        assert_int_equal(p9fs_fid_restore(fs2, &bad), -EINVAL);
    }
    bad.path = "hello.txt";
    bad.flags = 0100; /* O_CREAT: never saved */
    assert_int_equal(p9fs_fid_restore(fs2, &bad), -EINVAL);
    bad.flags = 3; /* access mode 3 */
    assert_int_equal(p9fs_fid_restore(fs2, &bad), -EINVAL);
    bad.flags = 0;
    bad.xattr = true;
    assert_int_equal(p9fs_fid_restore(fs2, &bad), -EINVAL);
    bad.xattr = false;
    bad.id = 0xffffffffu; /* NOFID */
    assert_int_equal(p9fs_fid_restore(fs2, &bad), -EINVAL);
    /* A symlink out of the share is not followed; a file that has gone is ENOENT. */
    char p[256], q[256];
    snprintf(p, sizeof(p), "%s/outside/secret", f->dir);
    snprintf(q, sizeof(q), "%s/link", f->share);
    assert_int_equal(symlink(p, q), 0);
    bad.id = 51;
    bad.path = "link";
    assert_int_equal(p9fs_fid_restore(fs2, &bad), -ELOOP);
    bad.path = "gone";
    assert_int_equal(p9fs_fid_restore(fs2, &bad), -ENOENT);
    assert_int_equal(p9fs_nfids(fs2), 5);
    /* A read-only share refuses a fid saved open for writing. */
    struct p9fs *ro;
    assert_int_equal(p9fs_open(f->share, true, &ro), 0);
    assert_int_equal(p9fs_session_restore(ro, msize), 0);
    struct p9fs_fid_state w = {.id = 1, .path = "hello.txt", .open = true, .flags = O_WRONLY};
    assert_int_equal(p9fs_fid_restore(ro, &w), -EROFS);
    w.flags = O_RDONLY;
    assert_int_equal(p9fs_fid_restore(ro, &w), 0);
    p9fs_close(ro);
}

static void test_parse_share(void **state)
{
    (void)state;
    char dir[64], tag[32], err[256];
    bool ro;
    assert_int_equal(virtio_9p_parse_share("/srv/data:hostshare", dir, sizeof(dir), tag,
                                           sizeof(tag), &ro, err, sizeof(err)),
                     0);
    assert_string_equal(dir, "/srv/data");
    assert_string_equal(tag, "hostshare");
    assert_false(ro);
    assert_int_equal(virtio_9p_parse_share("/a:b:c:ro", dir, sizeof(dir), tag, sizeof(tag), &ro,
                                           err, sizeof(err)),
                     0);
    assert_string_equal(dir, "/a:b");
    assert_string_equal(tag, "c");
    assert_true(ro);
    assert_int_equal(
        virtio_9p_parse_share("/srv", dir, sizeof(dir), tag, sizeof(tag), &ro, err, sizeof(err)),
        -1);
    assert_int_equal(
        virtio_9p_parse_share("/srv:", dir, sizeof(dir), tag, sizeof(tag), &ro, err, sizeof(err)),
        -1);
    assert_int_equal(
        virtio_9p_parse_share(":tag", dir, sizeof(dir), tag, sizeof(tag), &ro, err, sizeof(err)),
        -1);
    assert_int_equal(virtio_9p_parse_share("/srv:a b", dir, sizeof(dir), tag, sizeof(tag), &ro, err,
                                           sizeof(err)),
                     -1);
    assert_int_equal(virtio_9p_parse_share("/srv:0123456789012345678901234567890123", dir,
                                           sizeof(dir), tag, sizeof(tag), &ro, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "tag"));
}

/* The device: ID 9, MOUNT_TAG offered, le16 tag_len + tag in config space. */
static void test_device_config(void **state)
{
    struct fx *f = *state;
    struct vm vm;
    assert_int_equal(vm_init(&vm, 1 << 20), 0);
    struct virtio_9p *d =
        virtio_9p_create(&vm, VIRT_VIRTIO_BASE, VIRT_VIRTIO_IRQ, f->fs, "hostshare");
    assert_non_null(d);
    struct virtio_mmio *t = virtio_9p_transport(d);
    assert_int_equal(virtio_mmio_read(t, VIRTIO_MMIO_DEVICE_ID, 4), 9);
    virtio_mmio_write(t, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0, 4);
    assert_true(virtio_mmio_read(t, VIRTIO_MMIO_DEVICE_FEATURES, 4) & 1);
    assert_int_equal(virtio_mmio_read(t, VIRTIO_MMIO_CONFIG, 2), 9);
    char tag[10] = {0};
    for (int i = 0; i < 9; i++)
        tag[i] = (char)virtio_mmio_read(t, VIRTIO_MMIO_CONFIG + 2 + (uint64_t)i, 1);
    assert_string_equal(tag, "hostshare");
    virtio_9p_destroy(d);
    vm_destroy(&vm);
    assert_null(virtio_9p_create(&vm, VIRT_VIRTIO_BASE, VIRT_VIRTIO_IRQ, f->fs, ""));
}

/* ---- through the virtqueue, as Linux's trans_virtio lays requests out ---- */

#define QN 8
#define RAM 0x80000000ull
#define DESC (RAM + 0x1000)
#define AVAIL (RAM + 0x2000)
#define USED (RAM + 0x3000)
#define BUF (RAM + 0x10000)

static void wreg(struct virtio_mmio *t, uint64_t off, uint32_t v)
{
    virtio_mmio_write(t, off, v, 4);
}

static void q_desc(struct vm *vm, unsigned i, uint64_t addr, uint32_t len, uint16_t flags)
{
    uint8_t d[16];
    uint16_t next = (uint16_t)(i + 1);
    memcpy(d, &addr, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    memcpy(d + 14, &next, 2);
    gmem_write(vm, DESC + 16 * i, d, 16);
}

static void q_kick(struct vm *vm, struct virtio_9p *d, uint16_t *avail_idx)
{
    uint16_t head = 0;
    gmem_write(vm, AVAIL + 4 + 2 * (*avail_idx % QN), &head, 2);
    (*avail_idx)++;
    gmem_write(vm, AVAIL + 2, avail_idx, 2);
    wreg(virtio_9p_transport(d), VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    virtio_9p_wait_idle(d);
}

static void test_device_queue(void **state)
{
    struct fx *f = *state;
    struct vm vm;
    assert_int_equal(vm_init(&vm, 1 << 20), 0);
    struct virtio_9p *d = virtio_9p_create(&vm, VIRT_VIRTIO_BASE, VIRT_VIRTIO_IRQ, f->fs, "t");
    assert_non_null(d);
    struct virtio_mmio *t = virtio_9p_transport(d);
    uint32_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;
    wreg(t, VIRTIO_MMIO_STATUS, st);
    wreg(t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    wreg(t, VIRTIO_MMIO_DRIVER_FEATURES, 1); /* MOUNT_TAG */
    wreg(t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    wreg(t, VIRTIO_MMIO_DRIVER_FEATURES, 1); /* VERSION_1 */
    wreg(t, VIRTIO_MMIO_STATUS, st |= VIRTIO_STATUS_FEATURES_OK);
    wreg(t, VIRTIO_MMIO_QUEUE_SEL, 0);
    wreg(t, VIRTIO_MMIO_QUEUE_NUM, QN);
    wreg(t, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)DESC);
    wreg(t, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)AVAIL);
    wreg(t, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)USED);
    wreg(t, VIRTIO_MMIO_QUEUE_READY, 1);
    wreg(t, VIRTIO_MMIO_STATUS, st |= VIRTIO_STATUS_DRIVER_OK);
    uint16_t avail = 0, used;
    uint32_t len;

    /* Tversion split over two readable buffers, the reply over two writable ones. */
    struct msg m;
    m_begin(&m, P9_TVERSION);
    m_le(&m, 8192, 4);
    m_str(&m, "9P2000.L");
    for (int i = 0; i < 4; i++)
        m.b[i] = (uint8_t)(m.n >> (8 * i));
    gmem_write(&vm, BUF, m.b, 5);
    gmem_write(&vm, BUF + 0x100, m.b + 5, m.n - 5);
    q_desc(&vm, 0, BUF, 5, VIRTQ_DESC_F_NEXT);
    q_desc(&vm, 1, BUF + 0x100, (uint32_t)m.n - 5, VIRTQ_DESC_F_NEXT);
    q_desc(&vm, 2, BUF + 0x1000, 11, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT);
    q_desc(&vm, 3, BUF + 0x2000, 4096, VIRTQ_DESC_F_WRITE);
    q_kick(&vm, d, &avail);
    gmem_read(&vm, USED + 2, &used, 2);
    gmem_read(&vm, USED + 8, &len, 4);
    assert_int_equal(used, 1);
    assert_int_equal(len, 7 + 4 + 2 + 8);
    uint8_t r[32];
    gmem_read(&vm, BUF + 0x1000, r, 11);
    gmem_read(&vm, BUF + 0x2000, r + 11, 10);
    assert_int_equal(r[4], P9_TVERSION + 1);
    assert_memory_equal(r + 13, "9P2000.L", 8);
    assert_int_equal(p9fs_msize(f->fs), 8192);

    /* Attach, then a device reset drops the session. */
    m_begin(&m, P9_TATTACH);
    m_le(&m, 0, 4);
    m_le(&m, ~0u, 4);
    m_str(&m, "");
    m_str(&m, "");
    m_le(&m, 0, 4);
    for (int i = 0; i < 4; i++)
        m.b[i] = (uint8_t)(m.n >> (8 * i));
    gmem_write(&vm, BUF, m.b, m.n);
    q_desc(&vm, 0, BUF, (uint32_t)m.n, VIRTQ_DESC_F_NEXT);
    q_desc(&vm, 1, BUF + 0x1000, 4096, VIRTQ_DESC_F_WRITE);
    q_kick(&vm, d, &avail);
    assert_int_equal(p9fs_nfids(f->fs), 1);

    /* A chain without room for any reply is not a 9P request: NEEDS_RESET, no crash. */
    q_desc(&vm, 0, BUF, (uint32_t)m.n, VIRTQ_DESC_F_NEXT);
    q_desc(&vm, 1, BUF + 0x1000, 4, VIRTQ_DESC_F_WRITE);
    q_kick(&vm, d, &avail);
    assert_true(virtio_mmio_read(t, VIRTIO_MMIO_STATUS, 4) & VIRTIO_STATUS_NEEDS_RESET);
    gmem_read(&vm, USED + 2, &used, 2);
    assert_int_equal(used, 2);

    wreg(t, VIRTIO_MMIO_STATUS, 0);
    assert_int_equal(p9fs_nfids(f->fs), 0);
    assert_int_equal(p9fs_msize(f->fs), 0);
    virtio_9p_destroy(d);
    vm_destroy(&vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_host_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_write_rename, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readdir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readonly, setup_ro, teardown),
        cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_locks_xattr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_restore, setup, teardown),
        cmocka_unit_test(test_parse_share),
        cmocka_unit_test_setup_teardown(test_device_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_device_queue, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
