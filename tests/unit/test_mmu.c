/*
 * MMU slow paths (src/cpu/mmu.c) at the edges a hostile guest can reach:
 * instruction fetch at the last bytes of RAM, page-crossing loads and stores
 * next to the end of RAM, MMIO accesses at window edges.
 */
/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <string.h>
#include <sys/mman.h>

#include "cpu/hart.h"
#include "cpu/mmu.h"
#include "machine/gmem.h"
#include "machine/vm.h"

#define RAM VIRT_DRAM_BASE
#define RAM_SIZE (2 * PAGE_SIZE)

struct rig {
    struct vm vm;
    struct hart h;
};

/*
 * Two pages of guest RAM followed by an inaccessible host page, so a host
 * access one byte past guest RAM faults instead of reading a neighbour.
 */
static int setup(void **state)
{
    static struct rig r;
    memset(&r, 0, sizeof(r));
    assert_int_equal(vm_init(&r.vm, RAM_SIZE + PAGE_SIZE), 0);
    assert_int_equal(mprotect(r.vm.ram + RAM_SIZE, PAGE_SIZE, PROT_NONE), 0);
    r.vm.ram_size = RAM_SIZE;
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
    r->vm.ram_size = RAM_SIZE + PAGE_SIZE;
    vm_destroy(&r->vm);
    return 0;
}

/*
 * An odd pc (reachable through paths that set pc from guest data, e.g. a
 * process VM's signal handler address) on the last byte of RAM: the fetch must
 * trap, not read the byte after guest RAM.
 */
static void test_fetch_odd_pc_at_ram_end(void **state)
{
    struct rig *r = *state;
    hart_reset(&r->h, RAM + RAM_SIZE - 1);
    hart_step(&r->h, 1);
    assert_int_equal(r->h.mcause, EXC_INSN_MISALIGNED);
    assert_int_equal(r->h.mtval, RAM + RAM_SIZE - 1);
}

/* The same in the middle of RAM, across a page boundary: still misaligned, not executed. */
static void test_fetch_odd_pc_page_cross(void **state)
{
    struct rig *r = *state;
    hart_reset(&r->h, RAM + PAGE_SIZE - 1);
    hart_step(&r->h, 1);
    assert_int_equal(r->h.mcause, EXC_INSN_MISALIGNED);
    assert_int_equal(r->h.mtval, RAM + PAGE_SIZE - 1);
}

/* A 32-bit instruction whose second half would lie past RAM: access fault on pc + 2. */
static void test_fetch_straddles_ram_end(void **state)
{
    struct rig *r = *state;
    uint16_t lo = 0x0013; /* low half of addi x0,x0,0 (a 32-bit encoding) */
    assert_int_equal(gmem_write(&r->vm, RAM + RAM_SIZE - 2, &lo, 2), 0);
    hart_reset(&r->h, RAM + RAM_SIZE - 2);
    hart_step(&r->h, 1);
    assert_int_equal(r->h.mcause, EXC_INSN_ACCESS);
    assert_int_equal(r->h.mtval, RAM + RAM_SIZE);
}

/* Misaligned loads/stores crossing the end of RAM fault without a partial access. */
static void test_load_store_straddle_ram_end(void **state)
{
    struct rig *r = *state;
    hart_reset(&r->h, RAM);
    uint64_t v = 0x1122334455667788ull;
    assert_false(mem_store(&r->h, RAM + RAM_SIZE - 4, 8, v));
    uint32_t tail;
    assert_int_equal(gmem_read(&r->vm, RAM + RAM_SIZE - 4, &tail, 4), 0);
    assert_int_equal(tail, 0);
    uint64_t out = 1;
    assert_false(mem_load(&r->h, RAM + RAM_SIZE - 4, 8, &out));
    /* Inside RAM a page-crossing access works. */
    assert_true(mem_store(&r->h, RAM + PAGE_SIZE - 3, 8, v));
    assert_true(mem_load(&r->h, RAM + PAGE_SIZE - 3, 8, &out));
    assert_int_equal(out, v);
}

static uint64_t edge_read(void *opaque, uint64_t off, unsigned size)
{
    return 0xab;
}

static unsigned edge_writes;
static void edge_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
    assert_true(off + size <= 0x1000);
    edge_writes++;
}

/* MMIO accesses at the window edges: in-window works, misaligned or past the end faults. */
static void test_mmio_window_edges(void **state)
{
    struct rig *r = *state;
    static const struct mmio_ops ops = {edge_read, edge_write};
    assert_int_equal(vm_mmio_add(&r->vm, "edge", 0x10000000, 0x1000, &ops, NULL), 0);
    hart_reset(&r->h, RAM);
    uint64_t out = 0;
    assert_true(mem_load(&r->h, 0x10000000 + 0xff8, 8, &out));
    assert_int_equal(out, 0xab);
    edge_writes = 0;
    assert_true(mem_store(&r->h, 0x10000000 + 0xff8, 8, 1));
    assert_false(mem_store(&r->h, 0x10000000 + 0xffc, 8, 1)); /* misaligned, crosses the page */
    assert_false(mem_store(&r->h, 0x10000000 + 0xff9, 4, 1)); /* misaligned */
    assert_false(mem_load(&r->h, 0x10000000 + 0x1000, 4, &out)); /* unmapped */
    assert_int_equal(edge_writes, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_fetch_odd_pc_at_ram_end),
        T(test_fetch_odd_pc_page_cross),
        T(test_fetch_straddles_ram_end),
        T(test_load_store_straddle_ram_end),
        T(test_mmio_window_edges),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
