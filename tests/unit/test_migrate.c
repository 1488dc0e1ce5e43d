/*
 * Live migration's parts without a guest (docs/migration.md): dirty tracking
 * from the MMU's store path and from devices (gmem_dirty), the write-TLB flush
 * a running hart honours so it marks a page again after a collect, the record
 * stream over a socketpair (pages land where they belong, hostile records are
 * refused), and the token handshake.
 */
/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cpu/hart.h"
#include "cpu/mmu.h"
#include "machine/gmem.h"
#include "machine/vm.h"
#include "migrate/migrate.h"

#define RAM VIRT_DRAM_BASE
#define NPAGES 16

struct rig {
    struct vm vm;
    struct hart h;
};

static int setup(void **state)
{
    static struct rig r;
    memset(&r, 0, sizeof(r));
    assert_int_equal(vm_init(&r.vm, NPAGES * PAGE_SIZE), 0);
    assert_int_equal(hart_init(&r.h, vm_bus(&r.vm), 0), 0);
    r.vm.harts[0] = &r.h;
    r.vm.nharts = 1;
    *state = &r;
    return 0;
}

static int teardown(void **state)
{
    struct rig *r = *state;
    hart_destroy(&r->h);
    vm_destroy(&r->vm);
    return 0;
}

static bool bit(const uint64_t *bm, unsigned pg)
{
    return bm[pg / 64] >> (pg % 64) & 1;
}

/* Stores through the MMU and device writes mark their pages only while tracking. */
static void test_marks(void **state)
{
    struct rig *r = *state;
    uint64_t out[1] = {0};
    hart_reset(&r->h, RAM); /* M mode, bare: va = pa */
    atomic_store(&r->vm.stop, 1); /* no hart thread runs: the syncs need no answer */
    assert_true(mem_store(&r->h, RAM + 3 * PAGE_SIZE + 8, 8, 42));
    assert_int_equal(vm_dirty_start(&r->vm), 0);
    assert_int_equal(vm_dirty_collect(&r->vm, out), 0); /* before tracking: not marked */
    hart_tlb_flush(&r->h); /* what the sync asks a running hart to do */
    assert_true(mem_store(&r->h, RAM + 3 * PAGE_SIZE + 16, 4, 7));
    assert_true(mem_store(&r->h, RAM + 5 * PAGE_SIZE - 2, 4, 7)); /* crosses into page 5 */
    uint8_t buf[100] = {1};
    assert_int_equal(gmem_write(&r->vm, RAM + 9 * PAGE_SIZE + 4050, buf, sizeof(buf)), 0);
    assert_int_equal(vm_dirty_collect(&r->vm, out), 5);
    assert_true(bit(out, 3) && bit(out, 4) && bit(out, 5) && bit(out, 9) && bit(out, 10));
    assert_false(bit(out, 0) || bit(out, 6) || bit(out, 11));
    memset(out, 0, sizeof(out));
    assert_int_equal(vm_dirty_collect(&r->vm, out), 0); /* collected means cleared */
    vm_dirty_stop(&r->vm);
    gmem_dirty(&r->vm, r->vm.ram, PAGE_SIZE);
    assert_int_equal(r->vm.dirty_bm[0], 0);
    atomic_store(&r->vm.stop, 0);
}

static void *run_hart(void *arg)
{
    hart_run(arg);
    return NULL;
}

/*
 * A running hart stores to one page in a loop through its write TLB entry: each
 * collect must find the page dirty again, which it can only be if the hart
 * dropped the entry when asked (else its stores never reach the slow path).
 */
static void test_running_hart_marks_again(void **state)
{
    struct rig *r = *state;
    static const uint32_t loop[] = {
        0x0002b023, /* sd x0, 0(t0) */
        0xffdff06f, /* j . - 4 */
    };
    memcpy(r->vm.ram, loop, sizeof(loop));
    hart_reset(&r->h, RAM);
    r->h.x[5] = RAM + 7 * PAGE_SIZE;
    atomic_store(&r->vm.stop, 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, run_hart, &r->h), 0);
    assert_int_equal(vm_dirty_start(&r->vm), 0);
    for (int round = 0; round < 5; round++) {
        uint64_t out[1] = {0};
        usleep(2000);
        long n = vm_dirty_collect(&r->vm, out);
        assert_true(n >= 1);
        assert_true(bit(out, 7));
    }
    vm_dirty_stop(&r->vm);
    atomic_store(&r->vm.stop, 1);
    hart_kick(&r->h);
    pthread_join(t, NULL);
    atomic_store(&r->vm.stop, 0);
}

/* ---- the stream ---- */

struct rx {
    int fd;
    struct mig_sink sink;
    int ret;
    char err[MIG_ERR_MAX + 200];
};

static void *receiver(void *arg)
{
    struct rx *x = arg;
    struct mig_conn c;
    mig_conn_init(&c, x->fd, 2000);
    x->ret = mig_receive(&c, &x->sink);
    snprintf(x->err, sizeof(x->err), "%s", c.err);
    return NULL;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void pages_hdr(uint8_t h[16], uint64_t first, uint32_t count, uint32_t zero)
{
    put64(h, first);
    put32(h + 8, count);
    put32(h + 12, zero);
}

static void start_rx(struct rx *x, int sv[2], uint8_t *ram)
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    memset(x, 0, sizeof(*x));
    x->fd = sv[1];
    x->sink = (struct mig_sink){.ram = ram, .ram_size = NPAGES * PAGE_SIZE, .nharts = 1};
}

static void test_stream_roundtrip(void **state)
{
    uint8_t *ram = calloc(NPAGES, PAGE_SIZE);
    uint8_t data[2 * PAGE_SIZE], h[16], st[16];
    memset(data, 0xab, sizeof(data));
    memset(ram + 4 * PAGE_SIZE, 0x55, PAGE_SIZE); /* made zero by a zero-page record */
    int sv[2];
    struct rx x;
    start_rx(&x, sv, ram);
    pthread_t t;
    pthread_create(&t, NULL, receiver, &x);
    struct mig_conn c;
    mig_conn_init(&c, sv[0], 2000);
    put64(st, NPAGES * PAGE_SIZE);
    put32(st + 8, 1);
    put32(st + 12, 4096);
    assert_int_equal(mig_send(&c, MIG_START, st, 16, NULL, 0), 0);
    pages_hdr(h, 2, 2, 0);
    assert_int_equal(mig_send(&c, MIG_PAGES, h, 16, data, sizeof(data)), 0);
    pages_hdr(h, 4, 1, 1);
    assert_int_equal(mig_send(&c, MIG_PAGES, h, 16, NULL, 0), 0);
    assert_int_equal(mig_send(&c, MIG_STATE, "state!", 6, NULL, 0), 0);
    uint8_t end[8] = {3};
    assert_int_equal(mig_send(&c, MIG_END, end, 8, NULL, 0), 0);
    pthread_join(t, NULL);
    assert_int_equal(x.ret, 0);
    assert_memory_equal(ram + 2 * PAGE_SIZE, data, sizeof(data));
    assert_int_equal(ram[4 * PAGE_SIZE + 100], 0);
    assert_int_equal(ram[PAGE_SIZE], 0);
    assert_int_equal(x.sink.state_len, 6);
    assert_memory_equal(x.sink.state, "state!", 6);
    assert_int_equal(x.sink.rounds, 3);
    free(x.sink.state);
    close(sv[0]);
    close(sv[1]);
    free(ram);
}

/* Hostile records: each is refused with a message, never applied outside RAM. */
static void test_stream_refused(void **state)
{
    uint8_t *ram = calloc(NPAGES, PAGE_SIZE);
    struct {
        uint64_t first;
        uint32_t count, zero, datalen;
        const char *want;
    } cases[] = {
        {NPAGES, 1, 1, 0, "outside"},
        {NPAGES - 1, 2, 1, 0, "outside"},
        {0, 0, 1, 0, "outside"},
        {UINT64_MAX, 1, 1, 0, "outside"},
        {0, 2, 0, PAGE_SIZE, "length"},
        {0, 1, 7, 0, "outside"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int sv[2];
        struct rx x;
        start_rx(&x, sv, ram);
        pthread_t t;
        pthread_create(&t, NULL, receiver, &x);
        struct mig_conn c;
        mig_conn_init(&c, sv[0], 2000);
        uint8_t st[16], h[16];
        static uint8_t data[PAGE_SIZE];
        put64(st, NPAGES * PAGE_SIZE);
        put32(st + 8, 1);
        put32(st + 12, 4096);
        mig_send(&c, MIG_START, st, 16, NULL, 0);
        pages_hdr(h, cases[i].first, cases[i].count, cases[i].zero);
        mig_send(&c, MIG_PAGES, h, 16, data, cases[i].datalen);
        shutdown(sv[0], SHUT_WR);
        pthread_join(t, NULL);
        assert_int_equal(x.ret, -1);
        assert_non_null(strstr(x.err, cases[i].want));
        close(sv[0]);
        close(sv[1]);
    }
    /* A flipped bit: the CRC catches it before anything is applied. */
    int sv[2];
    struct rx x;
    start_rx(&x, sv, ram);
    pthread_t t;
    pthread_create(&t, NULL, receiver, &x);
    uint8_t rec[16 + 16];
    put32(rec, MIG_MAGIC);
    put32(rec + 4, MIG_START);
    put32(rec + 8, 16);
    put32(rec + 12, 0x12345678);
    memset(rec + 16, 0, 16);
    assert_int_equal(write(sv[0], rec, sizeof(rec)), (ssize_t)sizeof(rec));
    shutdown(sv[0], SHUT_WR);
    pthread_join(t, NULL);
    assert_int_equal(x.ret, -1);
    assert_non_null(strstr(x.err, "checksum"));
    close(sv[0]);
    close(sv[1]);
    free(ram);
}

/* ---- the handshake ---- */

struct acc {
    int fd;
    const char *tok;
    int ret;
};

static void *acceptor(void *arg)
{
    struct acc *a = arg;
    struct mig_conn c;
    mig_conn_init(&c, a->fd, 2000);
    a->ret = mig_auth_accept(&c, (const uint8_t *)a->tok, strlen(a->tok));
    return NULL;
}

static int handshake(const char *dst_tok, const char *src_tok, int *dst_ret, char *err, size_t errlen)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    struct acc a = {.fd = sv[1], .tok = dst_tok};
    pthread_t t;
    pthread_create(&t, NULL, acceptor, &a);
    struct mig_conn c;
    mig_conn_init(&c, sv[0], 2000);
    int r = mig_auth_connect(&c, (const uint8_t *)src_tok, strlen(src_tok));
    snprintf(err, errlen, "%s", c.err);
    shutdown(sv[0], SHUT_RDWR);
    pthread_join(t, NULL);
    close(sv[0]);
    close(sv[1]);
    *dst_ret = a.ret;
    return r;
}

static void test_auth(void **state)
{
    int dr;
    char err[MIG_ERR_MAX + 200];
    assert_int_equal(handshake("s3cret-token-0123", "s3cret-token-0123", &dr, err, sizeof(err)), 0);
    assert_int_equal(dr, 0);
    assert_int_equal(handshake("s3cret-token-0123", "s3cret-token-0124", &dr, err, sizeof(err)), -1);
    assert_int_equal(dr, -1);
    assert_non_null(strstr(err, "wrong migration token"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_marks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_running_hart_marks_again, setup, teardown),
        cmocka_unit_test(test_stream_roundtrip),
        cmocka_unit_test(test_stream_refused),
        cmocka_unit_test(test_auth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
