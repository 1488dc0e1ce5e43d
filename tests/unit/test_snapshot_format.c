/*
 * Snapshot state file (src/snapshot/format.c, restore.c, hart.c): round trips
 * through the writer and the parser, every way a file can be broken, cursor
 * bounds, the machine record's checks, and device loads refusing bad values
 * without applying any of them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/hart.h"
#include "dev/clint.h"
#include "dev/plic.h"
#include "machine/vm.h"
#include "snapshot/format.h"
#include "snapshot/snapshot.h"

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* A file with two records: "alpha" (u8, u16, u32, u64, str) and "beta" (5 raw bytes). */
static void build(struct snap_w *w)
{
    snap_w_init(w);
    snap_w_begin(w, "alpha");
    snap_w_u8(w, 0xab);
    snap_w_u16(w, 0x1234);
    snap_w_u32(w, 0xdeadbeef);
    snap_w_u64(w, 0x0123456789abcdefull);
    snap_w_str(w, "disk.img");
    snap_w_end(w);
    snap_w_begin(w, "beta");
    snap_w_bytes(w, "hello", 5);
    snap_w_end(w);
    assert_int_equal(snap_w_finish(w), 0);
}

/* Re-seals the header after a test changed it (header CRC over bytes 0..27). */
static void reseal(uint8_t *buf)
{
    put32(buf + 28, snap_crc32(0, buf, 28));
}

static void reseal_payload(uint8_t *buf, size_t len)
{
    put32(buf + 24, snap_crc32(0, buf + SNAP_HEADER_SIZE, len - SNAP_HEADER_SIZE));
    reseal(buf);
}

static void test_crc32_known(void **state)
{
    /* The standard check value of CRC-32/IEEE ("123456789" -> 0xCBF43926). */
    assert_int_equal(snap_crc32(0, "123456789", 9), 0xcbf43926u);
    assert_int_equal(snap_crc32(0, "", 0), 0);
}

static void test_roundtrip(void **state)
{
    struct snap_w w;
    build(&w);
    assert_int_equal(w.len % 8, 0);
    static struct snap_file f;
    char err[200];
    assert_int_equal(snap_parse(w.buf, w.len, &f, err, sizeof(err)), 0);
    assert_int_equal(f.nrec, 2);
    struct snap_rd r;
    assert_int_equal(snap_find(&f, "alpha", &r), 0);
    assert_int_equal(snap_r_u8(&r), 0xab);
    assert_int_equal(snap_r_u16(&r), 0x1234);
    assert_int_equal(snap_r_u32(&r), 0xdeadbeef);
    assert_true(snap_r_u64(&r) == 0x0123456789abcdefull);
    char s[32];
    snap_r_str(&r, s, sizeof(s));
    assert_string_equal(s, "disk.img");
    assert_int_equal(snap_r_done(&r), 0);
    assert_int_equal(snap_find(&f, "beta", &r), 0);
    assert_int_equal(r.len, 5);
    assert_int_equal(snap_find(&f, "gamma", &r), -ENOENT);
    snap_w_free(&w);
}

static void test_reader_bounds(void **state)
{
    uint8_t data[3] = {1, 2, 3};
    struct snap_rd r = {.p = data, .len = sizeof(data)};
    assert_int_equal(snap_r_u16(&r), 0x0201);
    assert_int_equal(snap_r_u32(&r), 0); /* only one byte left */
    assert_true(r.bad);
    assert_int_equal(snap_r_u8(&r), 0); /* stays bad */
    assert_int_not_equal(snap_r_done(&r), 0);

    /* Not read to the end: also an error (a record longer than this kiln expects). */
    struct snap_rd r2 = {.p = data, .len = sizeof(data)};
    snap_r_u8(&r2);
    assert_int_not_equal(snap_r_done(&r2), 0);

    /* bool: only 0 and 1. */
    uint8_t two = 2;
    struct snap_rd r3 = {.p = &two, .len = 1};
    snap_r_bool(&r3);
    assert_true(r3.bad);

    /* Strings: length past the end, embedded NUL, too long for the buffer. */
    uint8_t s1[] = {10, 0, 'a', 'b'};
    struct snap_rd r4 = {.p = s1, .len = sizeof(s1)};
    char out[8];
    snap_r_str(&r4, out, sizeof(out));
    assert_true(r4.bad);
    assert_string_equal(out, "");
    uint8_t s2[] = {3, 0, 'a', 0, 'b'};
    struct snap_rd r5 = {.p = s2, .len = sizeof(s2)};
    snap_r_str(&r5, out, sizeof(out));
    assert_true(r5.bad);
    uint8_t s3[] = {8, 0, 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a'};
    struct snap_rd r6 = {.p = s3, .len = sizeof(s3)};
    snap_r_str(&r6, out, sizeof(out));
    assert_true(r6.bad);
}

static void expect_refused(const uint8_t *buf, size_t len, const char *msg)
{
    static struct snap_file f;
    char err[200] = "";
    assert_int_equal(snap_parse(buf, len, &f, err, sizeof(err)), -EINVAL);
    if (!strstr(err, msg))
        fail_msg("error '%s' lacks '%s'", err, msg);
}

static void test_refused(void **state)
{
    struct snap_w w;
    build(&w);
    size_t n = w.len;
    uint8_t *b = malloc(n + 16);
    assert_non_null(b);

    /* Truncated anywhere: in the header, in a record, at the end. */
    for (size_t cut = 0; cut < n; cut++) {
        static struct snap_file f;
        char err[200];
        assert_int_equal(snap_parse(w.buf, cut, &f, err, sizeof(err)), -EINVAL);
    }
    expect_refused(w.buf, 10, "truncated");
    expect_refused(w.buf, n - 8, "truncated");

    /* Trailing bytes. */
    memcpy(b, w.buf, n);
    memset(b + n, 0, 8);
    expect_refused(b, n + 8, "trailing");

    /* Bad magic. */
    memcpy(b, w.buf, n);
    b[0] = 'X';
    expect_refused(b, n, "bad magic");

    /* Any flipped bit of the payload: the checksum. */
    for (size_t i = SNAP_HEADER_SIZE; i < n; i += 7) {
        memcpy(b, w.buf, n);
        b[i] ^= 0x10;
        expect_refused(b, n, "checksum mismatch");
    }
    /* A flipped header bit: the header checksum. */
    memcpy(b, w.buf, n);
    b[17] ^= 1;
    expect_refused(b, n, "checksum mismatch");
    /* The payload checksum field itself wrong (header re-sealed). */
    memcpy(b, w.buf, n);
    b[24] ^= 1;
    reseal(b);
    expect_refused(b, n, "checksum mismatch");

    /* Newer and older versions. */
    memcpy(b, w.buf, n);
    put32(b + 8, SNAP_VERSION + 1);
    reseal(b);
    expect_refused(b, n, "newer kiln");
    put32(b + 8, 0);
    reseal(b);
    expect_refused(b, n, "unsupported snapshot format version 0");

    /* Records that lie, with valid checksums: a length past the end, a bad tag, a duplicate. */
    memcpy(b, w.buf, n);
    put32(b + SNAP_HEADER_SIZE + SNAP_TAG_MAX, 0x7fffffff);
    reseal_payload(b, n);
    expect_refused(b, n, "runs past the end");
    memcpy(b, w.buf, n);
    b[SNAP_HEADER_SIZE] = 'A'; /* upper case is not a tag */
    reseal_payload(b, n);
    expect_refused(b, n, "bad record tag");
    memcpy(b, w.buf, n);
    memset(b + SNAP_HEADER_SIZE, 'a', SNAP_TAG_MAX); /* no NUL */
    reseal_payload(b, n);
    expect_refused(b, n, "bad record tag");
    memcpy(b, w.buf, n);
    size_t second = SNAP_HEADER_SIZE + SNAP_TAG_MAX + 8 + 32; /* alpha: 25 bytes, padded to 32 */
    memcpy(b + second, "alpha\0", 6);
    reseal_payload(b, n);
    expect_refused(b, n, "duplicate record");
    free(b);
    snap_w_free(&w);
}

/* A machine record as save.c writes it. */
static void machine_record(struct snap_w *w, uint64_t ram, uint32_t harts, uint32_t ndisks)
{
    snap_w_begin(w, "machine");
    snap_w_u64(w, VIRT_DRAM_BASE);
    snap_w_u64(w, ram);
    snap_w_u32(w, harts);
    snap_w_u64(w, 0);
    snap_w_u8(w, 0);
    snap_w_u8(w, 1);
    snap_w_u32(w, ndisks);
    for (uint32_t i = 0; i < ndisks && i < 8; i++) {
        snap_w_str(w, "/tmp/disk.img");
        snap_w_u8(w, 0);
        snap_w_u32(w, 0);
        snap_w_u64(w, 0);
        snap_w_u64(w, 0);
        snap_w_u64(w, 1 << 20);
        snap_w_u64(w, 0);
    }
    snap_w_u32(w, 1);
    snap_w_str(w, "user");
    snap_w_u64(w, 12345);
    snap_w_u64(w, 67890);
    snap_w_end(w);
}

static int machine_parse(uint64_t ram, uint32_t harts, uint32_t ndisks, struct snap_machine *m)
{
    struct snap_w w;
    snap_w_init(&w);
    machine_record(&w, ram, harts, ndisks);
    assert_int_equal(snap_w_finish(&w), 0);
    static struct snap_file f;
    char err[200];
    assert_int_equal(snap_parse(w.buf, w.len, &f, err, sizeof(err)), 0);
    int r = snap_machine_parse(&f, m, err, sizeof(err));
    snap_w_free(&w);
    return r;
}

static void test_machine(void **state)
{
    static struct snap_machine m;
    assert_int_equal(machine_parse(256 << 20, 2, 1, &m), 0);
    assert_true(m.ram_size == 256 << 20);
    assert_int_equal(m.nharts, 2);
    assert_int_equal(m.ndisks, 1);
    assert_string_equal(m.disks[0].path, "/tmp/disk.img");
    assert_int_equal(m.nnets, 1);
    assert_string_equal(m.nets[0], "user");
    assert_true(m.no_balloon && !m.no_rng);
    assert_true(m.mtime == 12345);

    assert_int_equal(machine_parse(256 << 20, 0, 1, &m), -EINVAL);   /* no hart */
    assert_int_equal(machine_parse(256 << 20, 33, 1, &m), -EINVAL);  /* too many harts */
    assert_int_equal(machine_parse(12345, 1, 1, &m), -EINVAL);       /* not page aligned */
    assert_int_equal(machine_parse(1ull << 40, 1, 1, &m), -EINVAL);  /* too big */
    assert_int_equal(machine_parse(256 << 20, 1, 7, &m), -EINVAL);   /* too many disks */
    assert_int_equal(machine_parse(256 << 20, 1, 1000000, &m), -EINVAL);

    /* No machine record at all. */
    struct snap_w w;
    snap_w_init(&w);
    snap_w_begin(&w, "hart0");
    snap_w_end(&w);
    assert_int_equal(snap_w_finish(&w), 0);
    static struct snap_file f;
    char err[200];
    assert_int_equal(snap_parse(w.buf, w.len, &f, err, sizeof(err)), 0);
    assert_int_equal(snap_machine_parse(&f, &m, err, sizeof(err)), -EINVAL);
    snap_w_free(&w);
}

/* Hart, CLINT and PLIC state round-trip; bad values are refused and leave the target alone. */
/* A "shares" record with n shares (dev_9p.c), parsed; extra: a trailing byte. */
static int shares_parse(uint32_t n, const char *dir, const char *tag, uint8_t ro, bool extra,
                        struct snap_machine *m)
{
    struct snap_w w;
    snap_w_init(&w);
    snap_w_begin(&w, "shares");
    snap_w_u32(&w, n);
    for (uint32_t i = 0; i < n && i < 8; i++) {
        snap_w_str(&w, dir);
        snap_w_str(&w, tag);
        snap_w_u8(&w, ro);
    }
    if (extra)
        snap_w_u8(&w, 0);
    snap_w_end(&w);
    assert_int_equal(snap_w_finish(&w), 0);
    struct snap_file f;
    char err[256];
    assert_int_equal(snap_parse(w.buf, w.len, &f, err, sizeof(err)), 0);
    memset(m, 0, sizeof(*m));
    int r = snap_9p_parse(&f, m, err, sizeof(err));
    if (r)
        assert_non_null(strstr(err, "shares record"));
    snap_w_free(&w);
    return r;
}

static void test_shares(void **state)
{
    struct snap_machine m;
    assert_int_equal(shares_parse(2, "/srv/data", "data.1-x_", 1, false, &m), 0);
    assert_int_equal(m.nshares, 2);
    assert_string_equal(m.shares[1].dir, "/srv/data");
    assert_string_equal(m.shares[1].tag, "data.1-x_");
    assert_true(m.shares[1].readonly);
    assert_int_equal(shares_parse(0, "/d", "t", 0, false, &m), -EINVAL);
    assert_int_equal(shares_parse(5, "/d", "t", 0, false, &m), -EINVAL); /* > SNAP_MAX_SHARES */
    assert_int_equal(shares_parse(1, "", "t", 0, false, &m), -EINVAL);
    assert_int_equal(shares_parse(1, "/d", "", 0, false, &m), -EINVAL);
    assert_int_equal(shares_parse(1, "/d", "bad tag", 0, false, &m), -EINVAL);
    assert_int_equal(shares_parse(1, "/d", "t\n", 0, false, &m), -EINVAL);
    assert_int_equal(shares_parse(1, "/d", "0123456789012345678901234567890123", 0, false, &m), -EINVAL);
    assert_int_equal(shares_parse(1, "/d", "t", 2, false, &m), -EINVAL);
    assert_int_equal(shares_parse(1, "/d", "t", 0, true, &m), -EINVAL);
    assert_int_equal(m.nshares, 0);
    /* No record: a snapshot without shares (or from before them). */
    struct snap_w w;
    struct snap_file f;
    char err[128];
    build(&w);
    assert_int_equal(snap_parse(w.buf, w.len, &f, err, sizeof(err)), 0);
    m.nshares = 3;
    assert_int_equal(snap_9p_parse(&f, &m, err, sizeof(err)), 0);
    assert_int_equal(m.nshares, 0);
    snap_w_free(&w);
}

static void test_devices(void **state)
{
    static struct vm vm;
    static struct hart h[2];
    assert_int_equal(vm_init(&vm, 1 << 20), 0);
    for (unsigned i = 0; i < 2; i++) {
        assert_int_equal(hart_init(&h[i], vm_bus(&vm), i), 0);
        vm.harts[i] = &h[i];
        vm.nharts = i + 1;
    }
    assert_non_null(plic_create(&vm));
    assert_non_null(clint_create(&vm));

    h[0].x[5] = 0x55;
    h[0].pc = 0x80001234;
    h[0].priv = PRIV_S;
    h[0].satp = 8ull << 60 | 0x80123;
    h[0].f[3] = 0x4000000000000000ull;
    h[0].resv_valid = true;
    h[0].resv_addr = 0x80000040;
    struct snap_w w;
    snap_w_init(&w);
    snap_hart_save(&h[0], &w);
    size_t hart_len = w.len - SNAP_HEADER_SIZE;
    clint_save(vm.clint, &w);
    size_t clint_end = w.len - SNAP_HEADER_SIZE;
    assert_false(w.oom);

    struct snap_rd r = {.p = w.buf + SNAP_HEADER_SIZE, .len = hart_len};
    assert_int_equal(snap_hart_load(&h[1], &r), 0);
    assert_int_equal(h[1].x[5], 0x55);
    assert_true(h[1].pc == 0x80001234);
    assert_int_equal(h[1].priv, PRIV_S);
    assert_true(h[1].satp == h[0].satp);
    assert_true(h[1].f[3] == h[0].f[3]);
    assert_true(h[1].resv_valid && h[1].resv_addr == 0x80000040);

    /* Hostile hart records: x0 != 0, privilege 2, an odd pc, a short record. */
    uint8_t *copy = malloc(hart_len);
    assert_non_null(copy);
    size_t offs[] = {0 /* x0 */, 32 * 8 /* pc */, 32 * 8 + 8 + 32 * 8 + 8 /* priv */};
    uint8_t vals[] = {1, 1, 2};
    for (int k = 0; k < 3; k++) {
        memcpy(copy, w.buf + SNAP_HEADER_SIZE, hart_len);
        copy[offs[k]] = vals[k];
        h[1].x[5] = 0x77;
        struct snap_rd bad = {.p = copy, .len = hart_len};
        assert_int_equal(snap_hart_load(&h[1], &bad), -EINVAL);
        assert_int_equal(h[1].x[5], 0x77); /* nothing applied */
    }
    struct snap_rd shortr = {.p = w.buf + SNAP_HEADER_SIZE, .len = hart_len - 1};
    assert_int_equal(snap_hart_load(&h[1], &shortr), -EINVAL);
    free(copy);

    /* CLINT: the right hart count loads; a record for another machine does not. */
    struct snap_rd cr = {.p = w.buf + SNAP_HEADER_SIZE + hart_len, .len = clint_end - hart_len};
    assert_int_equal(clint_load(vm.clint, &cr), 0);
    uint8_t wrong[4] = {5, 0, 0, 0};
    struct snap_rd cw = {.p = wrong, .len = 4};
    assert_int_equal(clint_load(vm.clint, &cw), -EINVAL);

    /* PLIC round trip. */
    struct snap_w pw;
    snap_w_init(&pw);
    plic_save(vm.plic, &pw);
    struct snap_rd pr = {.p = pw.buf + SNAP_HEADER_SIZE, .len = pw.len - SNAP_HEADER_SIZE};
    assert_int_equal(plic_load(vm.plic, &pr), 0);
    struct snap_rd ps = {.p = pw.buf + SNAP_HEADER_SIZE, .len = pw.len - SNAP_HEADER_SIZE - 4};
    assert_int_equal(plic_load(vm.plic, &ps), -EINVAL);
    snap_w_free(&pw);
    snap_w_free(&w);

    clint_destroy(vm.clint);
    plic_destroy(vm.plic);
    for (unsigned i = 0; i < 2; i++)
        hart_destroy(&h[i]);
    vm_destroy(&vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32_known),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_reader_bounds),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_machine),
        cmocka_unit_test(test_devices),
        cmocka_unit_test(test_shares),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
