/*
 * qcow2 driver on real image files: a differential test against a plain
 * buffer (random writes, zeroes, discards, reopens, over a backing file),
 * refusal of hostile headers, backing loops, the raw probe guard, and a
 * kill -9 in the middle of writes after a flush. Where qemu-img is installed
 * every image kiln wrote must pass `qemu-img check` (leaks allowed).
 */
/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend/disk.h"
#include "backend/qcow2.h"

static char dir[64];

static void path_of(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", dir, name);
}

static bool have_qemu_img(void)
{
    return system("qemu-img --version >/dev/null 2>&1") == 0;
}

/* qemu-img check: 0 clean, 3 leaks only (acceptable), anything else fails. */
static void check_image(const char *path)
{
    if (!have_qemu_img()) return;
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "qemu-img check -f qcow2 '%s' >/dev/null 2>&1", path);
    int st = system(cmd);
    assert_true(WIFEXITED(st));
    if (WEXITSTATUS(st) != 0 && WEXITSTATUS(st) != 3) {
        snprintf(cmd, sizeof(cmd), "qemu-img check -f qcow2 '%s' >&2", path);
        (void)!system(cmd);
        fail_msg("qemu-img check failed on %s", path);
    }
}

static struct disk *open_fmt(const char *path, bool ro, enum disk_format f)
{
    struct disk_opts o = {.readonly = ro, .cache = DISK_CACHE_WRITEBACK, .format = f};
    char *err = NULL;
    struct disk *d = disk_open_opts(path, &o, &err);
    if (!d) fprintf(stderr, "open %s: %s\n", path, err);
    free(err);
    return d;
}

static char *open_err(const char *path, bool ro)
{
    struct disk_opts o = {.readonly = ro, .cache = DISK_CACHE_WRITEBACK};
    char *err = NULL;
    struct disk *d = disk_open_opts(path, &o, &err);
    if (d) {
        disk_close(d);
        free(err);
        return NULL;
    }
    assert_non_null(err);
    return err;
}

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/kiln-qcow2-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    (void)!system(cmd);
    return 0;
}

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void write_file(const char *path, const void *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, len), (ssize_t)len);
    close(fd);
}

static void read_all(struct disk *d, uint8_t *buf, uint64_t len)
{
    struct iovec iov = {buf, len};
    assert_int_equal(disk_preadv(d, &iov, 1, 0), 0);
}

/* Random I/O through the driver mirrored in a buffer, over a shorter raw backing file. */
/* discard_zeroes: v3 discards whole clusters to zero clusters; v2 has no zero flag and keeps the data. */
static void differential(const char *img, uint64_t size, uint64_t cluster, int ops,
                         bool discard_zeroes)
{
    char base[256];
    path_of(base, sizeof(base), "base.raw");
    uint64_t bsize = size * 3 / 4;
    uint8_t *ref = calloc(1, size), *got = malloc(size), *tmp = malloc(1 << 20);
    uint64_t s = 88172645463325252ull;
    for (uint64_t i = 0; i < bsize; i++)
        ref[i] = (uint8_t)rnd(&s);
    write_file(base, ref, bsize);

    struct disk *d = open_fmt(img, false, DISK_FORMAT_QCOW2);
    assert_non_null(d);
    assert_int_equal(disk_size(d), size);
    for (int op = 0; op < ops; op++) {
        uint64_t kind = rnd(&s) % 10;
        uint64_t off = (rnd(&s) % (size / 512)) * 512;
        uint64_t len = ((rnd(&s) % 256) + 1) * 512;
        if (off + len > size) len = size - off;
        if (kind < 6) { /* write, split over up to 3 segments */
            for (uint64_t i = 0; i < len; i++)
                tmp[i] = (uint8_t)rnd(&s);
            uint64_t a = len / 3, b = len / 2;
            struct iovec iov[3] = {{tmp, a}, {tmp + a, b - a}, {tmp + b, len - b}};
            assert_int_equal(disk_pwritev(d, iov, 3, off), 0);
            memcpy(ref + off, tmp, len);
        } else if (kind == 6) {
            assert_int_equal(disk_write_zeroes(d, off, len), 0);
            memset(ref + off, 0, len);
        } else if (kind == 7) {
            /* Discard: whole clusters read as zeroes afterwards, the rest is unchanged. */
            assert_int_equal(disk_discard(d, off, len), 0);
            uint64_t first = (off + cluster - 1) / cluster, end = (off + len) / cluster;
            if (discard_zeroes && end > first) memset(ref + first * cluster, 0, (end - first) * cluster);
        } else if (kind == 8) {
            assert_int_equal(disk_flush(d), 0);
        } else { /* reopen: everything must have reached the file */
            disk_close(d);
            d = open_fmt(img, false, DISK_FORMAT_AUTO);
            assert_non_null(d);
        }
        if (op % 50 == 0) {
            struct iovec iov = {tmp, len};
            assert_int_equal(disk_preadv(d, &iov, 1, off), 0);
            if (memcmp(tmp, ref + off, len))
                fprintf(stderr, "op %d kind %llu off %llu len %llu\n", op, (unsigned long long)kind,
                        (unsigned long long)off, (unsigned long long)len);
            assert_memory_equal(tmp, ref + off, len);
        }
    }
    read_all(d, got, size);
    assert_memory_equal(got, ref, size);
    disk_close(d);
    check_image(img);
    d = open_fmt(img, true, DISK_FORMAT_AUTO);
    read_all(d, got, size);
    assert_memory_equal(got, ref, size);
    disk_close(d);
    free(ref);
    free(got);
    free(tmp);
}

static void test_differential(void **state)
{
    char img[256], base[256];
    path_of(img, sizeof(img), "top.qcow2");
    path_of(base, sizeof(base), "base.raw");
    write_file(base, "", 0);
    char *err = NULL;
    assert_int_equal(qcow2_create(img, 8 << 20, "base.raw", "raw", &err), 0);
    differential(img, 8 << 20, 65536, 600, true);
}

/* qemu-img's other layouts: 512-byte clusters (many L2 tables, refcount blocks allocated
 * as we go) and 1- and 64-bit refcounts. */
static void test_qemu_layouts(void **state)
{
    if (!have_qemu_img()) {
        skip();
        return;
    }
    static const char *const opts[] = {"cluster_size=512", "cluster_size=4096,refcount_bits=1",
                                       "refcount_bits=64", "compat=0.10"};
    for (unsigned i = 0; i < 4; i++) {
        char img[256], cmd[512];
        path_of(img, sizeof(img), "top.qcow2");
        snprintf(cmd, sizeof(cmd),
                 "cd '%s' && : > base.raw && qemu-img create -q -f qcow2 -o %s -b base.raw -F raw "
                 "top.qcow2 4M",
                 dir, opts[i]);
        assert_int_equal(system(cmd), 0);
        uint64_t cl = strstr(opts[i], "512") ? 512 : strstr(opts[i], "4096") ? 4096 : 65536;
        differential(img, 4 << 20, cl, 300, !strstr(opts[i], "0.10"));
    }
}

/* Small clusters outgrow a one-cluster refcount table: it is moved to a bigger one. */
static void test_reftable_grows(void **state)
{
    if (!have_qemu_img()) {
        skip();
        return;
    }
    static const char *const opts[] = {"cluster_size=512", "cluster_size=512,refcount_bits=64"};
    for (unsigned k = 0; k < 2; k++) {
        char img[256], cmd[512];
        path_of(img, sizeof(img), "grow.qcow2");
        snprintf(cmd, sizeof(cmd), "qemu-img create -q -f qcow2 -o %s '%s' 24M", opts[k], img);
        assert_int_equal(system(cmd), 0);
        struct disk *d = open_fmt(img, false, DISK_FORMAT_QCOW2);
        assert_non_null(d);
        static uint8_t chunk[65536];
        for (uint64_t off = 0; off < (24 << 20); off += sizeof(chunk)) {
            memset(chunk, (int)(off >> 16) + 1, sizeof(chunk));
            struct iovec iov = {chunk, sizeof(chunk)};
            assert_int_equal(disk_pwritev(d, &iov, 1, off), 0);
        }
        assert_int_equal(disk_flush(d), 0);
        disk_close(d);
        check_image(img);
        d = open_fmt(img, true, DISK_FORMAT_QCOW2);
        for (uint64_t off = 0; off < (24 << 20); off += sizeof(chunk)) {
            struct iovec iov = {chunk, sizeof(chunk)};
            assert_int_equal(disk_preadv(d, &iov, 1, off), 0);
            assert_int_equal(chunk[0], (uint8_t)((off >> 16) + 1));
            assert_int_equal(chunk[sizeof(chunk) - 1], (uint8_t)((off >> 16) + 1));
        }
        disk_close(d);
    }
}

/* Writes over compressed clusters: the data reads back, and their old space is given back
 * at the flush (qemu-img check finds not even a leak). */
static void test_overwrite_compressed(void **state)
{
    if (!have_qemu_img()) {
        skip();
        return;
    }
    char raw[256], img[256], cmd[600];
    path_of(raw, sizeof(raw), "c.raw");
    path_of(img, sizeof(img), "c.qcow2");
    static uint8_t ref[1 << 20], got[1 << 20];
    uint64_t s = 7;
    for (size_t i = 0; i < sizeof(ref); i++) /* compressible but not trivial */
        ref[i] = (uint8_t)(rnd(&s) % 4);
    write_file(raw, ref, sizeof(ref));
    snprintf(cmd, sizeof(cmd), "qemu-img convert -q -c -f raw -O qcow2 '%s' '%s'", raw, img);
    assert_int_equal(system(cmd), 0);
    struct disk *d = open_fmt(img, false, DISK_FORMAT_AUTO);
    assert_non_null(d);
    uint8_t buf[65536];
    memset(buf, 0xee, sizeof(buf));
    struct iovec part = {buf, 4096}, whole = {buf, 65536};
    assert_int_equal(disk_pwritev(d, &part, 1, 100 << 10), 0);
    memset(ref + (100 << 10), 0xee, 4096);
    assert_int_equal(disk_pwritev(d, &whole, 1, 256 << 10), 0);
    memset(ref + (256 << 10), 0xee, 65536);
    assert_int_equal(disk_write_zeroes(d, 512 << 10, 65536), 0);
    memset(ref + (512 << 10), 0, 65536);
    assert_int_equal(disk_flush(d), 0);
    read_all(d, got, sizeof(got));
    assert_memory_equal(got, ref, sizeof(ref));
    disk_close(d);
    snprintf(cmd, sizeof(cmd), "qemu-img check -q '%s'", img);
    assert_int_equal(system(cmd), 0);
}

/*
 * qcow2_write_compressed (kiln img convert -c): compressible clusters are stored
 * compressed and packed, incompressible ones plain, zero clusters not at all; the
 * image reads back, passes qemu-img check, and qemu-img reads it the same. Then
 * guest-style writes over the compressed clusters copy them out, and the image
 * stays clean with not even a leak.
 */
static void test_write_compressed(void **state)
{
    enum { CS = 65536, NCL = 24, SIZE = NCL * CS - 1024 }; /* a tail shorter than a cluster */
    char img[256], raw[256], cmd[700];
    path_of(img, sizeof(img), "wc.qcow2");
    path_of(raw, sizeof(raw), "wc.raw");
    char *err = NULL;
    assert_int_equal(disk_create(img, DISK_FORMAT_QCOW2, SIZE, NULL, DISK_FORMAT_AUTO, &err), 0);
    static uint8_t ref[NCL * CS], got[NCL * CS];
    memset(ref, 0, sizeof(ref));
    uint64_t s = 11;
    int kinds[NCL];
    for (unsigned c = 0; c < NCL; c++) {
        uint8_t *p = ref + c * CS;
        kinds[c] = c % 4; /* 0 zero, 1 random, 2 text, 3 low-entropy bytes */
        for (unsigned i = 0; i < CS; i++) {
            if (kinds[c] == 1) p[i] = (uint8_t)rnd(&s);
            if (kinds[c] == 2) p[i] = (uint8_t)("kiln compressed cluster "[i % 24] + c);
            if (kinds[c] == 3) p[i] = (uint8_t)(rnd(&s) % 5);
        }
    }
    memset(ref + SIZE, 0, sizeof(ref) - SIZE); /* past the end: the zero padding */
    struct disk *d = open_fmt(img, false, DISK_FORMAT_QCOW2);
    assert_non_null(d);
    assert_int_equal(qcow2_cluster_size(d), CS);
    assert_int_equal(qcow2_write_compressed(d, 100, ref), -EINVAL); /* unaligned */
    unsigned ncomp = 0;
    for (unsigned c = 0; c < NCL; c++) {
        if (kinds[c] == 0) continue;
        int r = qcow2_write_compressed(d, (uint64_t)c * CS, ref + c * CS);
        assert_int_equal(r, kinds[c] == 1 ? 0 : 1);
        ncomp += r == 1;
    }
    assert_int_equal(disk_flush(d), 0);
    /* Packed: the file holds less than one host cluster per compressed cluster. */
    struct disk_info in;
    disk_get_info(d, &in);
    read_all(d, got, SIZE);
    assert_memory_equal(got, ref, SIZE);
    disk_close(d);
    d = open_fmt(img, true, DISK_FORMAT_QCOW2);
    assert_non_null(d);
    read_all(d, got, SIZE);
    assert_memory_equal(got, ref, SIZE);
    disk_close(d);
    assert_true(in.file_bytes < (uint64_t)(4 + 1 + NCL / 4 + ncomp) * CS);
    if (have_qemu_img()) {
        snprintf(cmd, sizeof(cmd), "qemu-img check -q '%s'", img);
        assert_int_equal(system(cmd), 0);
        write_file(raw, ref, SIZE);
        snprintf(cmd, sizeof(cmd), "qemu-img compare -q -f raw -F qcow2 '%s' '%s'", raw, img);
        assert_int_equal(system(cmd), 0);
    }
    /* A raw disk has no compressed clusters. */
    struct disk *r = open_fmt(raw, false, DISK_FORMAT_RAW);
    if (r) {
        assert_int_equal(qcow2_write_compressed(r, 0, ref), -EINVAL);
        assert_int_equal(qcow2_cluster_size(r), 0);
        disk_close(r);
    }
    /* The guest writes over compressed clusters: partial, whole, zeroes. */
    d = open_fmt(img, false, DISK_FORMAT_QCOW2);
    assert_non_null(d);
    uint8_t buf[CS];
    memset(buf, 0x5a, sizeof(buf));
    struct iovec part = {buf, 3000}, whole = {buf, CS};
    assert_int_equal(disk_pwritev(d, &part, 1, 2 * CS + 777), 0);
    memset(ref + 2 * CS + 777, 0x5a, 3000);
    assert_int_equal(disk_pwritev(d, &whole, 1, 3 * CS), 0);
    memset(ref + 3 * CS, 0x5a, CS);
    assert_int_equal(disk_write_zeroes(d, 6 * CS, CS), 0);
    memset(ref + 6 * CS, 0, CS);
    assert_int_equal(disk_pwritev(d, &part, 1, 7 * CS + 5), 0); /* next to a packed neighbour */
    memset(ref + 7 * CS + 5, 0x5a, 3000);
    assert_int_equal(disk_flush(d), 0);
    read_all(d, got, SIZE);
    assert_memory_equal(got, ref, SIZE);
    disk_close(d);
    if (have_qemu_img()) {
        snprintf(cmd, sizeof(cmd), "qemu-img check -q '%s'", img);
        assert_int_equal(system(cmd), 0); /* 0: not even a leak */
        write_file(raw, ref, SIZE);
        snprintf(cmd, sizeof(cmd), "qemu-img compare -q -f raw -F qcow2 '%s' '%s'", raw, img);
        assert_int_equal(system(cmd), 0);
    }
}

/* On an image with 1-bit refcounts (qemu-img -o refcount_bits=1) no host cluster can hold
 * two compressed clusters: each gets its own, and the image stays clean. */
static void test_write_compressed_narrow_refcounts(void **state)
{
    if (!have_qemu_img()) {
        skip();
        return;
    }
    char img[256], cmd[600];
    path_of(img, sizeof(img), "wc1.qcow2");
    snprintf(cmd, sizeof(cmd), "qemu-img create -q -f qcow2 -o refcount_bits=1 '%s' 1M", img);
    assert_int_equal(system(cmd), 0);
    static uint8_t ref[1 << 20], got[1 << 20];
    struct disk *d = open_fmt(img, false, DISK_FORMAT_QCOW2);
    assert_non_null(d);
    for (unsigned c = 0; c < 8; c++) {
        memset(ref + c * 65536, 'a' + c, 65536);
        assert_int_equal(qcow2_write_compressed(d, (uint64_t)c * 65536, ref + c * 65536), 1);
    }
    assert_int_equal(disk_flush(d), 0);
    read_all(d, got, sizeof(got));
    assert_memory_equal(got, ref, sizeof(ref));
    disk_close(d);
    snprintf(cmd, sizeof(cmd), "qemu-img check -q '%s'", img);
    assert_int_equal(system(cmd), 0);
}

static void test_create_info(void **state)
{
    char img[256];
    path_of(img, sizeof(img), "a.qcow2");
    char *err = NULL;
    assert_int_equal(disk_create(img, DISK_FORMAT_QCOW2, 1ull << 40, NULL, DISK_FORMAT_AUTO, &err),
                     0);
    check_image(img);
    struct disk *d = open_fmt(img, true, DISK_FORMAT_AUTO);
    assert_non_null(d);
    struct disk_info in;
    disk_get_info(d, &in);
    assert_int_equal(in.format, DISK_FORMAT_QCOW2);
    assert_int_equal(in.size, 1ull << 40);
    assert_int_equal(in.cluster_size, 65536);
    assert_int_equal(in.version, 3);
    assert_int_equal(in.refcount_bits, 16);
    disk_close(d);
    /* The jail's file-size limit leaves a qcow2 file room to grow past its virtual size. */
    uint64_t lim;
    assert_int_equal(disk_file_limit(img, &lim), 0);
    assert_true(lim >= 2ull << 40);
    char raw[256];
    path_of(raw, sizeof(raw), "r.raw");
    assert_int_equal(disk_create(raw, DISK_FORMAT_RAW, 3 << 20, NULL, DISK_FORMAT_AUTO, &err), 0);
    assert_int_equal(disk_file_limit(raw, &lim), 0);
    assert_int_equal(lim, 3 << 20);
    /* A missing backing file is refused at create. */
    assert_int_equal(disk_create(img, DISK_FORMAT_QCOW2, 0, "nope.raw", DISK_FORMAT_RAW, &err), -1);
    assert_non_null(strstr(err, "backing file"));
    free(err);
}

/* Patches a fresh image's header and expects open to refuse it with a message naming why. */
static void expect_refused(const char *img, unsigned off, const void *bytes, size_t n,
                           const char *why, bool ro)
{
    char *err = NULL;
    assert_int_equal(qcow2_create(img, 1 << 20, NULL, NULL, &err), 0);
    int fd = open(img, O_WRONLY);
    assert_int_equal(pwrite(fd, bytes, n, off), (ssize_t)n);
    close(fd);
    err = open_err(img, ro);
    if (!err) fail_msg("image with a bad header at %u opened (expected '%s')", off, why);
    if (!strstr(err, why)) fail_msg("'%s' does not say '%s'", err, why);
    free(err);
}

static void put64(uint8_t *p, uint64_t v)
{
    v = htobe64(v);
    memcpy(p, &v, 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    v = htobe32(v);
    memcpy(p, &v, 4);
}

static void test_hostile_headers(void **state)
{
    char img[256];
    path_of(img, sizeof(img), "bad.qcow2");
    uint8_t b[8];
    put64(b, 1ull << 40);
    expect_refused(img, 72, b, 8, "unknown incompatible features", true);
    put64(b, 1ull << 2);
    expect_refused(img, 72, b, 8, "external data files", true);
    put64(b, 1ull << 4);
    expect_refused(img, 72, b, 8, "extended L2", true);
    put64(b, 1ull << 3);
    expect_refused(img, 72, b, 8, "compression type", true);
    put64(b, 1ull << 1);
    expect_refused(img, 72, b, 8, "corrupt", false);
    put64(b, 1ull << 0);
    expect_refused(img, 72, b, 8, "dirty", false);
    put32(b, 1);
    expect_refused(img, 32, b, 4, "encrypted", true);
    put32(b, 4);
    expect_refused(img, 4, b, 4, "version 4", true);
    put32(b, 30);
    expect_refused(img, 20, b, 4, "cluster size", true);
    put32(b, 7);
    expect_refused(img, 96, b, 4, "refcount order", true);
    put64(b, 1ull << 62);
    expect_refused(img, 24, b, 8, "too large", true);
    put64(b, 1ull << 45); /* L1 of 1 entry cannot cover 32 TiB */
    expect_refused(img, 24, b, 8, "L1 table", true);
    put64(b, 1ull << 40); /* L1 table past the end of the file */
    expect_refused(img, 40, b, 8, "L1 table", true);
    put64(b, 0); /* L1 table over the header */
    expect_refused(img, 40, b, 8, "L1 table", true);
    put64(b, 0); /* refcount table over the header */
    expect_refused(img, 48, b, 8, "refcount table", true);
    put64(b, 3 * 65536); /* refcount table on the L1 table */
    expect_refused(img, 48, b, 8, "overlaps", true);
    put64(b, 0x8000000000000000ull | (1ull << 40)); /* L1 entry -> outside the file */
    expect_refused(img, 3 * 65536, b, 8, "L1 entry 0", true);
    put64(b, 1ull << 41); /* refcount table entry -> outside the file */
    expect_refused(img, 65536, b, 8, "refcount table entry", true);
    put64(b, 65536 + 100); /* backing name outside the header cluster */
    expect_refused(img, 8, b, 8, "backing file name", true);
    /* A header extension running past the first cluster. */
    uint8_t ext[8];
    put32(ext, 0x12345678);
    put32(ext + 4, 1u << 20);
    expect_refused(img, 112, ext, 8, "header extension", true);
    put32(ext, 0x44415441);
    put32(ext + 4, 4);
    expect_refused(img, 112, ext, 8, "external data files", true);
}

/* Corruption found while running (an L2 table over the header): an I/O error, never a crash. */
static void test_bad_l2_at_runtime(void **state)
{
    char img[256];
    path_of(img, sizeof(img), "l2.qcow2");
    char *err = NULL;
    assert_int_equal(qcow2_create(img, 1 << 20, NULL, NULL, &err), 0);
    /* L1[0] -> cluster 1 (the refcount table): an L2 table that would overwrite metadata. */
    int fd = open(img, O_WRONLY);
    uint8_t b[8];
    put64(b, 0x8000000000000000ull | 65536);
    assert_int_equal(pwrite(fd, b, 8, 3 * 65536), 8);
    close(fd);
    struct disk *d = open_fmt(img, false, DISK_FORMAT_QCOW2);
    assert_non_null(d);
    uint8_t buf[4096];
    memset(buf, 0x5a, sizeof(buf));
    struct iovec iov = {buf, sizeof(buf)};
    assert_int_equal(disk_pwritev(d, &iov, 1, 0), -EIO);
    assert_int_equal(disk_preadv(d, &iov, 1, 0), -EIO);
    assert_int_equal(disk_pwritev(d, &iov, 1, 600 << 10), -EIO); /* broken: no more writes */
    disk_close(d);
}

static void test_backing_loops(void **state)
{
    char a[256], b[256];
    path_of(a, sizeof(a), "a.qcow2");
    path_of(b, sizeof(b), "b.qcow2");
    char *err = NULL;
    assert_int_equal(qcow2_create(a, 1 << 20, "b.qcow2", "qcow2", &err), 0);
    assert_int_equal(qcow2_create(b, 1 << 20, "a.qcow2", "qcow2", &err), 0);
    err = open_err(a, true);
    assert_non_null(err);
    assert_non_null(strstr(err, "loops"));
    free(err);
    assert_int_equal(qcow2_create(a, 1 << 20, "a.qcow2", NULL, &err), 0); /* itself, probed */
    err = open_err(a, true);
    assert_non_null(strstr(err, "loops"));
    free(err);
    /* A chain deeper than 16 images. */
    for (int i = 0; i < 20; i++) {
        char p[256], bk[32];
        snprintf(bk, sizeof(bk), "c%d.qcow2", i + 1);
        snprintf(p, sizeof(p), "%s/c%d.qcow2", dir, i);
        assert_int_equal(qcow2_create(p, 1 << 20, i < 19 ? bk : NULL, "qcow2", &err), 0);
    }
    char c0[256];
    path_of(c0, sizeof(c0), "c0.qcow2");
    err = open_err(c0, true);
    assert_non_null(strstr(err, "deeper"));
    free(err);
    /* A backing format kiln does not know. */
    assert_int_equal(qcow2_create(a, 1 << 20, "c19.qcow2", "vmdk", &err), 0);
    err = open_err(a, true);
    assert_non_null(strstr(err, "vmdk"));
    free(err);
}

/* A probed raw image may not be turned into a qcow2 header by the guest. */
static void test_probe_guard(void **state)
{
    char img[256];
    path_of(img, sizeof(img), "r.raw");
    char *err = NULL;
    assert_int_equal(disk_create(img, DISK_FORMAT_RAW, 1 << 20, NULL, DISK_FORMAT_AUTO, &err), 0);
    uint8_t sec[512] = {'Q', 'F', 'I', 0xfb, 0, 0, 0, 3};
    struct iovec iov = {sec, 512};
    struct disk *d = open_fmt(img, false, DISK_FORMAT_AUTO);
    assert_int_equal(disk_pwritev(d, &iov, 1, 0), -EPERM);
    struct iovec two[2] = {{sec, 2}, {sec + 2, 510}}; /* split over segments too */
    assert_int_equal(disk_pwritev(d, two, 2, 0), -EPERM);
    assert_int_equal(disk_pwritev(d, &iov, 1, 512), 0); /* elsewhere is fine */
    disk_close(d);
    d = open_fmt(img, false, DISK_FORMAT_RAW); /* the user said raw: allowed */
    assert_int_equal(disk_pwritev(d, &iov, 1, 0), 0);
    disk_close(d);
}

/* kill -9 after a flush, while writes continue: the flushed data and a clean image survive. */
static void test_kill9_after_flush(void **state)
{
    char img[256];
    path_of(img, sizeof(img), "k.qcow2");
    char *err = NULL;
    assert_int_equal(qcow2_create(img, 64 << 20, NULL, NULL, &err), 0);
    int p[2];
    assert_int_equal(pipe(p), 0);
    static uint8_t pat[1 << 20];
    for (size_t i = 0; i < sizeof(pat); i++)
        pat[i] = (uint8_t)(i * 7 + 3);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct disk *d = open_fmt(img, false, DISK_FORMAT_QCOW2);
        struct iovec iov = {pat, sizeof(pat)};
        if (!d || disk_pwritev(d, &iov, 1, 3 << 20) < 0 || disk_flush(d) < 0) _exit(1);
        (void)!write(p[1], "k", 1);
        uint64_t s = 1;
        static uint8_t junk[65536 + 512];
        for (;;) { /* unflushed writes all over the disk, allocating as they go */
            uint64_t off = (rnd(&s) % ((64 << 20) / 512 - 200)) * 512;
            if (off >= (3 << 20) - 70000 && off < (4 << 20)) continue;
            struct iovec j = {junk, 512 * (1 + rnd(&s) % 129)};
            junk[0]++;
            disk_pwritev(d, &j, 1, off);
        }
    }
    char c;
    assert_int_equal(read(p[0], &c, 1), 1);
    struct timespec ts = {0, 150 * 1000 * 1000};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(p[0]);
    close(p[1]);
    check_image(img);
    struct disk *d = open_fmt(img, true, DISK_FORMAT_QCOW2);
    assert_non_null(d);
    static uint8_t got[1 << 20];
    struct iovec iov = {got, sizeof(got)};
    assert_int_equal(disk_preadv(d, &iov, 1, 3 << 20), 0);
    assert_memory_equal(got, pat, sizeof(pat));
    disk_close(d);
}

/*
 * Live migration's hand-over (docs/migration.md): B opened the image without its lock while A
 * went on allocating clusters; after A flushes and drops the lock, B takes it and reloads, and
 * its own allocations must not land on A's clusters.
 */
static void test_lock_handover_reload(void **state)
{
    char img[256], base[256];
    path_of(base, sizeof(base), "base.qcow2");
    path_of(img, sizeof(img), "top.qcow2");
    char *err = NULL;
    assert_int_equal(qcow2_create(base, 8 << 20, NULL, NULL, &err), 0);
    assert_int_equal(disk_create(img, DISK_FORMAT_QCOW2, 0, "base.qcow2", DISK_FORMAT_QCOW2, &err), 0);
    struct disk *a = open_fmt(img, false, DISK_FORMAT_QCOW2);
    assert_non_null(a);
    struct disk_opts o = {.cache = DISK_CACHE_WRITEBACK, .format = DISK_FORMAT_QCOW2, .defer_lock = true};
    struct disk *b = disk_open_opts(img, &o, &err);
    assert_non_null(b);
    static uint8_t buf[65536], got[65536];
    struct iovec iov = {buf, sizeof(buf)};
    for (int i = 0; i < 64; i++) { /* 64 clusters, an L2 table and refcounts written by A */
        memset(buf, 'a' + i % 26, sizeof(buf));
        assert_int_equal(disk_pwritev(a, &iov, 1, (uint64_t)i * 65536 * 2), 0);
    }
    assert_int_equal(disk_flush(a), 0);
    assert_int_equal(disk_lock(b, true), -EAGAIN); /* A still holds it */
    assert_int_equal(disk_lock(a, false), 0);
    assert_int_equal(disk_lock(b, true), 0);
    assert_int_equal(disk_reload(b, &err), 0);
    for (int i = 0; i < 64; i++) { /* B's clusters in between A's */
        memset(buf, 'A' + i % 26, sizeof(buf));
        assert_int_equal(disk_pwritev(b, &iov, 1, ((uint64_t)i * 2 + 1) * 65536), 0);
    }
    assert_int_equal(disk_flush(b), 0);
    disk_close(b);
    disk_close(a); /* without its lock: nothing left to write */
    check_image(img);
    struct disk *r = open_fmt(img, true, DISK_FORMAT_QCOW2);
    assert_non_null(r);
    struct iovec giov = {got, sizeof(got)};
    for (int i = 0; i < 128; i++) {
        assert_int_equal(disk_preadv(r, &giov, 1, (uint64_t)i * 65536), 0);
        memset(buf, i % 2 ? 'A' + (i / 2) % 26 : 'a' + (i / 2) % 26, sizeof(buf));
        assert_memory_equal(got, buf, sizeof(buf));
    }
    disk_close(r);
}

/* kiln migrate --copy-disks: a copy moved elsewhere keeps finding its base by an absolute name. */
static void test_absolute_backing(void **state)
{
    char base[256], top[256], sub[256], copy[256], cmd[700];
    path_of(base, sizeof(base), "base.raw");
    path_of(top, sizeof(top), "top.qcow2");
    path_of(sub, sizeof(sub), "copies");
    path_of(copy, sizeof(copy), "copies/top.qcow2");
    char *err = NULL;
    assert_int_equal(disk_create(base, DISK_FORMAT_RAW, 1 << 20, NULL, DISK_FORMAT_AUTO, &err), 0);
    int fd = open(base, O_WRONLY);
    assert_int_equal(pwrite(fd, "base", 4, 4096), 4);
    close(fd);
    assert_int_equal(disk_create(top, DISK_FORMAT_QCOW2, 0, "base.raw", DISK_FORMAT_RAW, &err), 0);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", top, copy);
    assert_int_equal(system(cmd), 0);
    char *e = open_err(copy, true); /* copies/base.raw does not exist */
    assert_non_null(e);
    free(e);
    assert_int_equal(qcow2_absolute_backing(copy, top, &err), 0);
    struct disk *d = open_fmt(copy, false, DISK_FORMAT_QCOW2);
    assert_non_null(d);
    struct disk_info di;
    disk_get_info(d, &di);
    assert_string_equal(di.backing, base);
    assert_string_equal(di.backing_fmt, "raw");
    char got[4];
    struct iovec iov = {got, 4};
    assert_int_equal(disk_preadv(d, &iov, 1, 4096), 0);
    assert_memory_equal(got, "base", 4);
    disk_close(d);
    check_image(copy);
    /* Absolute names and raw files are left as they are. */
    assert_int_equal(qcow2_absolute_backing(copy, "/nowhere/top.qcow2", &err), 0);
    d = open_fmt(copy, true, DISK_FORMAT_QCOW2);
    assert_non_null(d);
    disk_close(d);
    assert_int_equal(qcow2_absolute_backing(base, "/nowhere/base.raw", &err), 0);
    fd = open(base, O_RDONLY);
    assert_int_equal(pread(fd, got, 4, 4096), 4);
    close(fd);
    assert_memory_equal(got, "base", 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_differential),  T(test_qemu_layouts), T(test_reftable_grows),
        T(test_overwrite_compressed), T(test_write_compressed), T(test_write_compressed_narrow_refcounts),
        T(test_create_info),
        T(test_hostile_headers), T(test_bad_l2_at_runtime), T(test_backing_loops),
        T(test_probe_guard),   T(test_kill9_after_flush), T(test_lock_handover_reload),
        T(test_absolute_backing),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
