/*
 * Split virtqueue helper against fake guest memory: a bare VM (no CPU), the
 * test plays the driver, lays out rings and descriptor chains with gaps
 * between buffers, and checks what the device side makes of them.
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
#include <stdlib.h>
#include <string.h>

#include "machine/gmem.h"
#include "machine/vm.h"
#include "virtio/virtq.h"

#define RAM 0x80000000ull
#define RAM_SIZE (1ull << 20)
#define DESC (RAM + 0x1000)
#define AVAIL (RAM + 0x2000)
#define USED (RAM + 0x3000)
#define IND (RAM + 0x8000) /* indirect tables */
#define BUF (RAM + 0x20000)

struct fx {
    struct vm vm;
    struct virtq q;
    struct virtq_chain chain;
    uint16_t num;
    uint16_t avail_idx;
};

static void w16(struct fx *f, uint64_t gpa, uint16_t v)
{
    assert_int_equal(gmem_write(&f->vm, gpa, &v, 2), 0);
}

static uint16_t r16(struct fx *f, uint64_t gpa)
{
    uint16_t v = 0;
    assert_int_equal(gmem_read(&f->vm, gpa, &v, 2), 0);
    return v;
}

static uint32_t r32(struct fx *f, uint64_t gpa)
{
    uint32_t v = 0;
    assert_int_equal(gmem_read(&f->vm, gpa, &v, 4), 0);
    return v;
}

static void desc_at(struct fx *f, uint64_t table, unsigned i, uint64_t addr, uint32_t len,
                    uint16_t flags, uint16_t next)
{
    uint8_t d[16];
    memcpy(d, &addr, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    memcpy(d + 14, &next, 2);
    assert_int_equal(gmem_write(&f->vm, table + 16ull * i, d, 16), 0);
}

static void desc(struct fx *f, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
                 uint16_t next)
{
    desc_at(f, DESC, i, addr, len, flags, next);
}

static void avail_add(struct fx *f, uint16_t head)
{
    w16(f, AVAIL + 4 + 2ull * (f->avail_idx % f->num), head);
    f->avail_idx++;
    w16(f, AVAIL + 2, f->avail_idx);
}

static void setup_num(struct fx *f, uint16_t num)
{
    f->num = num;
    f->avail_idx = 0;
    memset(f->vm.ram, 0, 0x10000);
    virtq_init(&f->q, &f->vm);
    f->q.num = num;
    f->q.desc = DESC;
    f->q.avail = AVAIL;
    f->q.used = USED;
    f->q.indirect = true;
    f->q.ready = true;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(vm_init(&f->vm, RAM_SIZE), 0);
    setup_num(f, 16);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    vm_destroy(&f->vm);
    free(f);
    return 0;
}

static void expect_broken(struct fx *f)
{
    assert_int_equal(virtq_pop(&f->q, &f->chain), -EINVAL);
    assert_true(f->q.broken);
    assert_non_null(f->q.error);
    /* Stays broken: no second look at a ring the driver has corrupted. */
    assert_int_equal(virtq_pop(&f->q, &f->chain), -EINVAL);
}

static void test_empty(void **state)
{
    struct fx *f = *state;
    assert_int_equal(virtq_pop(&f->q, &f->chain), 0);
    f->q.ready = false;
    avail_add(f, 0);
    assert_int_equal(virtq_pop(&f->q, &f->chain), 0);
}

static void test_pop_push_gaps(void **state)
{
    struct fx *f = *state;
    /* Two readable buffers and two writable ones, scattered with gaps, chained out of order. */
    uint8_t pattern[300];
    for (unsigned i = 0; i < sizeof(pattern); i++)
        pattern[i] = (uint8_t)(i * 7 + 1);
    gmem_write(&f->vm, BUF + 0x100, pattern, 100);
    gmem_write(&f->vm, BUF + 0x5000, pattern + 100, 200);
    desc(f, 3, BUF + 0x100, 100, VIRTQ_DESC_F_NEXT, 7);
    desc(f, 7, BUF + 0x5000, 200, VIRTQ_DESC_F_NEXT, 1);
    desc(f, 1, BUF + 0x9003, 50, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 12);
    desc(f, 12, BUF + 0x20000, 70, VIRTQ_DESC_F_WRITE, 0);
    avail_add(f, 3);

    assert_int_equal(virtq_pop(&f->q, &f->chain), 1);
    struct virtq_chain *c = &f->chain;
    assert_int_equal(c->head, 3);
    assert_int_equal(c->nseg, 4);
    assert_int_equal(c->nread, 2);
    assert_int_equal(c->read_len, 300);
    assert_int_equal(c->write_len, 120);
    assert_ptr_equal(c->seg[0].base, f->vm.ram + 0x20100);
    assert_ptr_equal(c->seg[3].base, f->vm.ram + 0x40000);
    assert_true(c->seg[2].writable);

    uint8_t got[300];
    assert_int_equal(virtq_chain_read(c, 0, got, sizeof(got)), 300);
    assert_memory_equal(got, pattern, 300);
    /* Offset crossing a segment boundary, and reads clipped at the end. */
    assert_int_equal(virtq_chain_read(c, 95, got, 10), 10);
    assert_memory_equal(got, pattern + 95, 10);
    assert_int_equal(virtq_chain_read(c, 290, got, 100), 10);

    uint8_t out[120];
    memset(out, 0xab, sizeof(out));
    assert_int_equal(virtq_chain_write(c, 0, out, sizeof(out)), 120);
    assert_int_equal(virtq_chain_write(c, 100, out, 100), 20);
    uint8_t chk[70];
    gmem_read(&f->vm, BUF + 0x20000, chk, 70);
    for (int i = 0; i < 70; i++)
        assert_int_equal(chk[i], 0xab);

    struct iovec iov[4];
    assert_int_equal(virtq_chain_iov(c, true, 40, 20, iov, 4), 2);
    assert_ptr_equal(iov[0].iov_base, f->vm.ram + 0x29003 + 40);
    assert_int_equal(iov[0].iov_len, 10);
    assert_int_equal(iov[1].iov_len, 10);
    assert_int_equal(virtq_chain_iov(c, true, 40, 81, iov, 4), -EINVAL);
    assert_int_equal(virtq_chain_iov(c, false, 0, 300, iov, 1), -EINVAL);
    assert_int_equal(virtq_chain_iov(c, false, 0, 300, iov, 2), 2);

    assert_int_equal(virtq_push(&f->q, c, 120), 0);
    assert_int_equal(r16(f, USED + 2), 1);
    assert_int_equal(r32(f, USED + 4), 3);
    assert_int_equal(r32(f, USED + 8), 120);
    assert_int_equal(virtq_pop(&f->q, &f->chain), 0);

    /* Written length is clamped to what the chain can hold. */
    desc(f, 0, BUF, 8, VIRTQ_DESC_F_WRITE, 0);
    avail_add(f, 0);
    assert_int_equal(virtq_pop(&f->q, &f->chain), 1);
    assert_int_equal(virtq_push(&f->q, &f->chain, 9999), 0);
    assert_int_equal(r32(f, USED + 4 + 8 + 4), 8);
}

static void test_wraparound(void **state)
{
    struct fx *f = *state;
    /* Indices are free-running 16-bit counters (§2.7.6); cross 65535 -> 0. */
    f->avail_idx = 65533;
    w16(f, AVAIL + 2, f->avail_idx);
    f->q.last_avail_idx = 65533;
    f->q.used_idx = 65533;
    for (int k = 0; k < 6; k++) {
        desc(f, (unsigned)k, BUF + 0x1000ull * k, 16, VIRTQ_DESC_F_WRITE, 0);
        avail_add(f, (uint16_t)k);
        assert_int_equal(virtq_pop(&f->q, &f->chain), 1);
        assert_int_equal(f->chain.head, k);
        assert_int_equal(virtq_push(&f->q, &f->chain, 1), 0);
    }
    assert_int_equal(r16(f, USED + 2), (uint16_t)(65533 + 6));
    assert_int_equal(virtq_pop(&f->q, &f->chain), 0);
}

static void test_loop(void **state)
{
    struct fx *f = *state;
    desc(f, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
    desc(f, 1, BUF, 16, VIRTQ_DESC_F_NEXT, 2);
    desc(f, 2, BUF, 16, VIRTQ_DESC_F_NEXT, 0);
    avail_add(f, 0);
    expect_broken(f);
}

static void test_self_loop_zero_len(void **state)
{
    struct fx *f = *state;
    /* Zero-length descriptors add no segment, so only the hop limit stops this one. */
    desc(f, 5, 0, 0, VIRTQ_DESC_F_NEXT, 5);
    avail_add(f, 5);
    expect_broken(f);
}

static void test_next_out_of_range(void **state)
{
    struct fx *f = *state;
    desc(f, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 16);
    avail_add(f, 0);
    expect_broken(f);
}

static void test_head_out_of_range(void **state)
{
    struct fx *f = *state;
    avail_add(f, 0xffff);
    expect_broken(f);
}

static void one_bad_buffer(struct fx *f, uint64_t addr, uint32_t len)
{
    desc(f, 0, addr, len, 0, 0);
    avail_add(f, 0);
    expect_broken(f);
}

static void test_addr_past_ram(void **state)
{
    one_bad_buffer(*state, RAM + RAM_SIZE - 10, 20);
}

static void test_addr_below_ram(void **state)
{
    one_bad_buffer(*state, RAM - 8, 16);
}

static void test_addr_len_overflow(void **state)
{
    one_bad_buffer(*state, 0xfffffffffffffff0ull, 0x100);
}

static void test_len_near_4g(void **state)
{
    one_bad_buffer(*state, RAM + 0x1000, 0xffffffffu);
}

static void test_buffer_at_ram_end(void **state)
{
    struct fx *f = *state;
    /* Exactly the last bytes of RAM are fine. */
    desc(f, 0, RAM + RAM_SIZE - 16, 16, 0, 0);
    avail_add(f, 0);
    assert_int_equal(virtq_pop(&f->q, &f->chain), 1);
}

static void test_write_before_read(void **state)
{
    struct fx *f = *state;
    desc(f, 0, BUF, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    desc(f, 1, BUF + 0x100, 16, 0, 0);
    avail_add(f, 0);
    expect_broken(f);
}

static void test_zero_length(void **state)
{
    struct fx *f = *state;
    /* Zero-length buffers (even at a bogus address, even "writable" before readable) are ignored.
     */
    desc(f, 0, 0, 0, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    desc(f, 1, BUF, 16, VIRTQ_DESC_F_NEXT, 2);
    desc(f, 2, ~0ull, 0, VIRTQ_DESC_F_WRITE, 0);
    avail_add(f, 0);
    assert_int_equal(virtq_pop(&f->q, &f->chain), 1);
    assert_int_equal(f->chain.nseg, 1);
    assert_int_equal(f->chain.nread, 1);
    assert_int_equal(f->chain.write_len, 0);
    uint8_t x;
    assert_int_equal(virtq_chain_write(&f->chain, 0, &x, 1), 0);
}

static void test_avail_jump(void **state)
{
    struct fx *f = *state;
    desc(f, 0, BUF, 16, 0, 0);
    w16(f, AVAIL + 4, 0);
    w16(f, AVAIL + 2, 17); /* num is 16 */
    expect_broken(f);
}

static void test_indirect(void **state)
{
    struct fx *f = *state;
    desc_at(f, IND, 0, BUF, 32, VIRTQ_DESC_F_NEXT, 2);
    desc_at(f, IND, 2, BUF + 0x3000, 64, VIRTQ_DESC_F_NEXT, 1);
    desc_at(f, IND, 1, BUF + 0x7000, 1, VIRTQ_DESC_F_WRITE, 0);
    /* A direct readable descriptor, then the table (WRITE on it is ignored). */
    desc(f, 4, BUF + 0x9000, 8, VIRTQ_DESC_F_NEXT, 9);
    desc(f, 9, IND, 48, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0);
    avail_add(f, 4);
    assert_int_equal(virtq_pop(&f->q, &f->chain), 1);
    assert_int_equal(f->chain.head, 4);
    assert_int_equal(f->chain.nseg, 4);
    assert_int_equal(f->chain.nread, 3);
    assert_int_equal(f->chain.read_len, 8 + 32 + 64);
    assert_int_equal(f->chain.write_len, 1);
}

static void bad_indirect(struct fx *f, uint64_t addr, uint32_t len, uint16_t flags)
{
    desc(f, 0, addr, len, VIRTQ_DESC_F_INDIRECT | flags, 1);
    desc(f, 1, BUF, 16, 0, 0);
    avail_add(f, 0);
    expect_broken(f);
}

static void test_indirect_out_of_range(void **state)
{
    bad_indirect(*state, RAM + RAM_SIZE - 32, 64, 0);
}

static void test_indirect_len_not_multiple(void **state)
{
    bad_indirect(*state, IND, 40, 0);
}

static void test_indirect_len_zero(void **state)
{
    bad_indirect(*state, IND, 0, 0);
}

static void test_indirect_with_next(void **state)
{
    bad_indirect(*state, IND, 32, VIRTQ_DESC_F_NEXT);
}

static void test_indirect_nested(void **state)
{
    struct fx *f = *state;
    desc_at(f, IND, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
    desc_at(f, IND, 1, IND + 0x100, 16, VIRTQ_DESC_F_INDIRECT, 0);
    bad_indirect(f, IND, 32, 0);
}

static void test_indirect_not_negotiated(void **state)
{
    struct fx *f = *state;
    f->q.indirect = false;
    desc_at(f, IND, 0, BUF, 16, 0, 0);
    bad_indirect(f, IND, 16, 0);
}

static void test_indirect_loop(void **state)
{
    struct fx *f = *state;
    desc_at(f, IND, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
    desc_at(f, IND, 1, BUF, 16, VIRTQ_DESC_F_NEXT, 0);
    bad_indirect(f, IND, 32, 0);
}

static void test_indirect_next_out_of_table(void **state)
{
    struct fx *f = *state;
    desc_at(f, IND, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 2);
    bad_indirect(f, IND, 32, 0);
}

static void fill_indirect(struct fx *f, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        desc_at(f, IND, i, BUF + i, 1, i + 1 < n ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
    desc(f, 0, IND, 16 * n, VIRTQ_DESC_F_INDIRECT, 0);
    avail_add(f, 0);
}

static void test_max_segments(void **state)
{
    struct fx *f = *state;
    fill_indirect(f, VIRTQ_MAX_SEGS);
    assert_int_equal(virtq_pop(&f->q, &f->chain), 1);
    assert_int_equal(f->chain.nseg, VIRTQ_MAX_SEGS);
}

static void test_too_many_segments(void **state)
{
    struct fx *f = *state;
    fill_indirect(f, VIRTQ_MAX_SEGS + 1);
    expect_broken(f);
}

static void test_misaligned_rings(void **state)
{
    struct fx *f = *state;
    f->q.avail = AVAIL + 1;
    assert_int_equal(virtq_check_rings(&f->q), -EINVAL);
    assert_int_equal(virtq_pop(&f->q, &f->chain), -EINVAL);
    setup_num(f, 16);
    f->q.used = USED + 2;
    assert_int_equal(virtq_check_rings(&f->q), -EINVAL);
    setup_num(f, 16);
    f->q.desc = DESC + 8;
    assert_int_equal(virtq_check_rings(&f->q), -EINVAL);
    setup_num(f, 16);
    f->q.used = RAM + RAM_SIZE - 8;
    assert_int_equal(virtq_check_rings(&f->q), -EINVAL);
    setup_num(f, 16);
    assert_int_equal(virtq_check_rings(&f->q), 0);
}

static void test_sizes(void **state)
{
    struct fx *f = *state;
    assert_false(virtq_size_valid(0));
    assert_true(virtq_size_valid(1));
    assert_false(virtq_size_valid(3));
    assert_false(virtq_size_valid(100));
    assert_true(virtq_size_valid(32768));
    assert_false(virtq_size_valid(65536));
    /* A queue whose size is not a power of two is unusable, not a crash. */
    setup_num(f, 3);
    avail_add(f, 0);
    assert_int_equal(virtq_pop(&f->q, &f->chain), 0);
    assert_int_equal(virtq_check_rings(&f->q), -EINVAL);
    assert_int_equal(virtq_push(&f->q, &f->chain, 0), -EINVAL);
    /* Size 1 works. */
    setup_num(f, 1);
    desc(f, 0, BUF, 4, 0, 0);
    avail_add(f, 0);
    assert_int_equal(virtq_pop(&f->q, &f->chain), 1);
    assert_int_equal(virtq_push(&f->q, &f->chain, 0), 0);
    avail_add(f, 0);
    assert_int_equal(virtq_pop(&f->q, &f->chain), 1);
}

static void push_one(struct fx *f)
{
    desc(f, 0, BUF, 4, VIRTQ_DESC_F_WRITE, 0);
    avail_add(f, 0);
    assert_int_equal(virtq_pop(&f->q, &f->chain), 1);
    assert_int_equal(virtq_push(&f->q, &f->chain, 4), 0);
}

static void test_no_interrupt_flag(void **state)
{
    struct fx *f = *state;
    push_one(f);
    assert_true(virtq_should_notify(&f->q));
    w16(f, AVAIL, VIRTQ_AVAIL_F_NO_INTERRUPT);
    push_one(f);
    assert_false(virtq_should_notify(&f->q));
}

static void test_event_idx(void **state)
{
    struct fx *f = *state;
    f->q.event_idx = true;
    const uint64_t used_event = AVAIL + 4 + 2 * 16;
    const uint64_t avail_event = USED + 4 + 8 * 16;

    push_one(f);                             /* used idx 1 */
    assert_true(virtq_should_notify(&f->q)); /* first decision always notifies */
    w16(f, used_event, 3);                   /* "interrupt me when entry 3 is used" */
    push_one(f);                             /* used idx 2: entry 1 */
    assert_false(virtq_should_notify(&f->q));
    push_one(f); /* entry 2 */
    assert_false(virtq_should_notify(&f->q));
    push_one(f); /* entry 3 */
    assert_true(virtq_should_notify(&f->q));
    /* Several pushes, one decision: used_event anywhere in the batch triggers. */
    w16(f, used_event, 5);
    push_one(f);
    push_one(f);
    push_one(f); /* entries 4..6 */
    assert_true(virtq_should_notify(&f->q));
    /* The flag is ignored with EVENT_IDX. */
    w16(f, AVAIL, VIRTQ_AVAIL_F_NO_INTERRUPT);
    w16(f, used_event, 7);
    push_one(f);
    assert_true(virtq_should_notify(&f->q));
    /* Nothing pushed since the last decision: no interrupt. */
    assert_false(virtq_should_notify(&f->q));

    /* Device side: an empty pop publishes avail_event = next index it will look at. */
    assert_int_equal(virtq_pop(&f->q, &f->chain), 0);
    assert_int_equal(r16(f, avail_event), f->q.last_avail_idx);
    assert_int_equal(f->q.last_avail_idx, 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_empty),
        T(test_pop_push_gaps),
        T(test_wraparound),
        T(test_loop),
        T(test_self_loop_zero_len),
        T(test_next_out_of_range),
        T(test_head_out_of_range),
        T(test_addr_past_ram),
        T(test_addr_below_ram),
        T(test_addr_len_overflow),
        T(test_len_near_4g),
        T(test_buffer_at_ram_end),
        T(test_write_before_read),
        T(test_zero_length),
        T(test_avail_jump),
        T(test_indirect),
        T(test_indirect_out_of_range),
        T(test_indirect_len_not_multiple),
        T(test_indirect_len_zero),
        T(test_indirect_with_next),
        T(test_indirect_nested),
        T(test_indirect_not_negotiated),
        T(test_indirect_loop),
        T(test_indirect_next_out_of_table),
        T(test_max_segments),
        T(test_too_many_segments),
        T(test_misaligned_rings),
        T(test_sizes),
        T(test_no_interrupt_flag),
        T(test_event_idx),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
