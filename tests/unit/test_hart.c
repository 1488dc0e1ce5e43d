/* Hart-level unit tests: instructions run from fake guest RAM, no firmware. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "cpu/hart.h"
#include "cpu/trap.h"
#include "machine/gmem.h"
#include "machine/vm.h"

struct rig {
    struct vm vm;
    struct hart h;
};

static int setup(void **state)
{
    static struct rig r;
    memset(&r, 0, sizeof(r));
    assert_int_equal(vm_init(&r.vm, 1 << 20), 0);
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

/* Runs until pc reaches `end` (a CSR write may end a batch early, so step repeatedly). */
static void run_to(struct rig *r, uint64_t end)
{
    for (int i = 0; i < 100 && r->h.pc != end; i++)
        hart_step(&r->h, 1);
    assert_int_equal(r->h.pc, end);
}

static void load(struct rig *r, const uint32_t *code, size_t n)
{
    assert_int_equal(gmem_write(&r->vm, VIRT_DRAM_BASE, code, n * 4), 0);
    hart_reset(&r->h, VIRT_DRAM_BASE);
}

/* csrrs on mip must not latch a device-driven line into the software bits (priv 3.1.9). */
static void test_mip_rmw_does_not_latch_lines(void **state)
{
    struct rig *r = *state;
    const uint32_t code[] = {
        0x34416073, /* csrrsi x0, mip, 2   (set SSIP) */
        0x344022f3, /* csrrs  t0, mip, x0  (read) */
    };
    load(r, code, 2);
    atomic_fetch_or(&r->h.mip_ext, 1ull << IRQ_SEI);
    run_to(r, VIRT_DRAM_BASE + 8);
    assert_int_equal(r->h.mip, 1ull << IRQ_SSI);
    assert_true(r->h.x[5] & (1ull << IRQ_SEI));
    atomic_fetch_and(&r->h.mip_ext, ~(1ull << IRQ_SEI));
    assert_false(hart_mip(&r->h) & (1ull << IRQ_SEI));
}

/* Division by zero and overflow never trap (unpriv 7.2). */
static void test_div_edge_cases(void **state)
{
    struct rig *r = *state;
    const uint32_t code[] = {
        0x02b54633, /* div  a2, a0, a1 */
        0x02b576b3, /* remu a3, a0, a1 */
    };
    load(r, code, 2);
    r->h.x[10] = 1234;
    r->h.x[11] = 0;
    hart_step(&r->h, 2);
    assert_int_equal(r->h.x[12], (uint64_t)-1);
    assert_int_equal(r->h.x[13], 1234);
    assert_int_equal(r->h.pc, VIRT_DRAM_BASE + 8);
}

/* An illegal instruction traps to mtvec with the bits in mtval; a compressed one gives 16 bits. */
static void test_illegal_tval(void **state)
{
    struct rig *r = *state;
    const uint32_t code[] = {0xffffffff};
    load(r, code, 1);
    r->h.mtvec = VIRT_DRAM_BASE + 0x100;
    hart_step(&r->h, 1);
    assert_int_equal(r->h.mcause, EXC_ILLEGAL_INSN);
    assert_int_equal(r->h.mtval, 0xffffffff);
    assert_int_equal(r->h.pc, VIRT_DRAM_BASE + 0x100);
    const uint32_t zero[] = {0x00000000};
    load(r, zero, 1);
    r->h.mtvec = VIRT_DRAM_BASE + 0x100;
    hart_step(&r->h, 1);
    assert_int_equal(r->h.mcause, EXC_ILLEGAL_INSN);
    assert_int_equal(r->h.mtval, 0);
}

/* A load outside RAM and devices is an access fault with the address in mtval. */
static void test_load_access_fault(void **state)
{
    struct rig *r = *state;
    const uint32_t code[] = {0x00053503}; /* ld a0, 0(a0) */
    load(r, code, 1);
    r->h.x[10] = 0x40000000;
    r->h.mtvec = VIRT_DRAM_BASE + 0x100;
    hart_step(&r->h, 1);
    assert_int_equal(r->h.mcause, EXC_LOAD_ACCESS);
    assert_int_equal(r->h.mtval, 0x40000000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_mip_rmw_does_not_latch_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_div_edge_cases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_illegal_tval, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_access_fault, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
