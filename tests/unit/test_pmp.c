/*
 * PMP matching (src/cpu/pmp.c, privileged spec 3.7): address matching modes,
 * priority, partial matches, M-mode and locks, the WARL rules of the CSR
 * writes; and the debugger side of the trigger module (cpu/trigger.h).
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
#include <string.h>

#include "cpu/hart.h"
#include "cpu/mmu.h"
#include "cpu/pmp.h"
#include "cpu/trigger.h"
#include "machine/vm.h"

#define RWX (PMP_R | PMP_W | PMP_X)
#define NAPOT 0x18
#define NA4 0x10
#define TOR 0x08
#define LOCK 0x80

static struct hart hart;

static struct hart *fresh(void)
{
    memset(&hart, 0, sizeof(hart));
    return &hart;
}

/* Entry i's configuration byte. */
static void cfg(struct hart *h, unsigned i, unsigned byte)
{
    unsigned n = (i / 8) * 2, sh = 8 * (i % 8);
    pmp_write_cfg(h, n, (h->pmpcfg[n] & ~(0xffull << sh)) | ((uint64_t)byte << sh));
}

static uint64_t napot(uint64_t base, uint64_t size)
{
    return (base >> 2) | ((size / 8) - 1);
}

static void test_no_entries_allow_everything(void **state)
{
    struct hart *h = fresh();
    assert_int_equal(pmp_perm(h, 0x80000000, 8, PRIV_U), RWX);
    assert_int_equal(pmp_perm(h, 0, 4096, PRIV_S), RWX);
}

static void test_napot_priority_and_default(void **state)
{
    struct hart *h = fresh();
    pmp_write_addr(h, 0, napot(0x80000000, 0x20000)); /* 128 KiB, no access */
    pmp_write_addr(h, 1, ~0ull);                      /* everything */
    cfg(h, 0, NAPOT);
    cfg(h, 1, NAPOT | RWX);
    assert_int_equal(pmp_perm(h, 0x80000000, 8, PRIV_S), 0);
    assert_int_equal(pmp_perm(h, 0x8001fff8, 8, PRIV_U), 0);
    assert_int_equal(pmp_perm(h, 0x80020000, 8, PRIV_S), RWX);
    assert_int_equal(pmp_perm(h, 0x7ffffff8, 8, PRIV_S), RWX);
    /* straddling the top: partly in entry 0 -> fails */
    assert_int_equal(pmp_perm(h, 0x8001fffc, 8, PRIV_S), 0);
    /* the whole-address-space entry covers the last byte */
    assert_int_equal(pmp_perm(h, ~0ull - 7, 8, PRIV_S), RWX);
    /* M passes unlocked entries */
    assert_int_equal(pmp_perm(h, 0x80000000, 8, PRIV_M), RWX);
    /* with entry 1 off, nothing matches outside: S/U denied, M allowed */
    cfg(h, 1, 0);
    assert_int_equal(pmp_perm(h, 0x90000000, 8, PRIV_S), 0);
    assert_int_equal(pmp_perm(h, 0x90000000, 8, PRIV_M), RWX);
    /* page queries: a page wholly inside, and one the entry only partly covers */
    assert_int_equal(pmp_perm(h, 0x80001000, 4096, PRIV_S), 0);
    cfg(h, 1, NAPOT | RWX);
    assert_int_equal(pmp_perm(h, 0x80021000, 4096, PRIV_S), RWX);
}

static void test_tor_and_na4(void **state)
{
    struct hart *h = fresh();
    /* entry 0 TOR: [0, 0x1000) */
    pmp_write_addr(h, 0, 0x1000 >> 2);
    cfg(h, 0, TOR | PMP_R);
    assert_int_equal(pmp_perm(h, 0xff8, 8, PRIV_S), PMP_R);
    assert_int_equal(pmp_perm(h, 0x1000, 8, PRIV_S), 0);
    /* entry 2 TOR over entry 1's address: [0x2000, 0x3000) X; a reversed range matches nothing */
    pmp_write_addr(h, 1, 0x2000 >> 2);
    pmp_write_addr(h, 2, 0x3000 >> 2);
    cfg(h, 2, TOR | PMP_X);
    assert_int_equal(pmp_perm(h, 0x2000, 4, PRIV_U), PMP_X);
    assert_int_equal(pmp_perm(h, 0x1ffc, 4, PRIV_U), 0);
    pmp_write_addr(h, 2, 0x1800 >> 2);
    assert_int_equal(pmp_perm(h, 0x2000, 4, PRIV_U), 0);
    /* NA4 at 0x5000: 4 bytes exactly */
    pmp_write_addr(h, 3, 0x5000 >> 2);
    cfg(h, 3, NA4 | PMP_R | PMP_W);
    assert_int_equal(pmp_perm(h, 0x5000, 4, PRIV_S), PMP_R | PMP_W);
    assert_int_equal(pmp_perm(h, 0x5000, 8, PRIV_S), 0);
    assert_int_equal(pmp_perm(h, 0x5000, 8, PRIV_M), 0); /* partial fails even for M */
}

static void test_warl_and_lock(void **state)
{
    struct hart *h = fresh();
    cfg(h, 0, NAPOT | PMP_W | 0x60); /* W without R and reserved bits 6:5 */
    assert_int_equal(h->pmpcfg[0] & 0xff, NAPOT);
    pmp_write_addr(h, 4, 0x9000 >> 2);
    cfg(h, 4, LOCK | NA4);
    assert_int_equal(pmp_perm(h, 0x9000, 4, PRIV_M), 0); /* locked binds M */
    cfg(h, 4, NA4 | RWX);                                /* ignored */
    assert_int_equal((h->pmpcfg[0] >> 32) & 0xff, LOCK | NA4);
    pmp_write_addr(h, 4, 0);
    assert_int_equal(h->pmpaddr[4], 0x9000 >> 2);
    /* a locked TOR entry freezes the address below it too */
    pmp_write_addr(h, 8, 0x100);
    pmp_write_addr(h, 9, 0x200);
    cfg(h, 9, LOCK | TOR | PMP_R);
    pmp_write_addr(h, 8, 0x50);
    assert_int_equal(h->pmpaddr[8], 0x100);
    assert_int_equal(h->pmpcfg[2] >> 8 & 0xff, LOCK | TOR | PMP_R);
    /* the address is 54 bits wide */
    pmp_write_addr(h, 10, ~0ull);
    assert_int_equal(h->pmpaddr[10], (1ull << 54) - 1);
}

/* ---- triggers through the debugger interface, on a running hart ---- */

struct rig {
    struct vm vm;
    struct hart h;
};

static void put32(struct rig *r, uint64_t off, uint32_t insn)
{
    memcpy(r->vm.ram + off, &insn, 4);
}

static void test_debugger_triggers(void **state)
{
    static struct rig r;
    memset(&r, 0, sizeof(r));
    assert_int_equal(vm_init(&r.vm, 4 * PAGE_SIZE), 0);
    assert_int_equal(hart_init(&r.h, vm_bus(&r.vm), 0), 0);
    r.vm.harts[0] = &r.h;
    r.vm.nharts = 1;
    uint64_t ram = VIRT_DRAM_BASE;
    for (unsigned i = 0; i < 8; i++)
        put32(&r, 4 * i, 0x00128293); /* addi x5, x5, 1 */
    put32(&r, 32, 0x00033383);        /* ld x7, 0(x6) */
    put32(&r, 36, 0x00128293);
    hart_reset(&r.h, ram);
    r.h.x[6] = ram + 0x800;
    memcpy(r.vm.ram + 0x800, &(uint64_t){0x1234}, 8);

    int t = trig_insert(&r.h, TRIG_EXEC, ram + 12, 1);
    assert_true(t >= 0);
    hart_step(&r.h, 20);
    assert_int_equal(r.h.pc, ram + 12); /* stopped before the instruction */
    assert_int_equal(r.h.x[5], 3);
    assert_int_equal(r.h.trig_hit, (unsigned)t + 1);
    assert_int_equal(r.h.mcause, 0); /* no guest trap */
    assert_int_equal(trig_remove(&r.h, TRIG_EXEC, ram + 12, 1), 0);
    assert_int_equal(trig_remove(&r.h, TRIG_EXEC, ram + 12, 1), -ENOENT);

    /* a load watchpoint on the doubleword: stops before the ld */
    int w = trig_insert(&r.h, TRIG_LOAD, ram + 0x800, 8);
    assert_true(w >= 0);
    r.h.trig_hit = 0;
    hart_step(&r.h, 20);
    assert_int_equal(r.h.pc, ram + 32);
    assert_int_equal(r.h.x[7], 0);
    assert_true(r.h.trig_hit != 0);
    /* the guest cannot rewrite the debugger's trigger */
    r.h.tselect = (uint64_t)w;
    uint64_t before = r.h.tdata1[w];
    assert_true(trig_csr_write(&r.h, CSR_TDATA1, 0));
    assert_int_equal(r.h.tdata1[w], before);
    assert_int_equal(trig_remove(&r.h, TRIG_LOAD, ram + 0x800, 8), 0);
    hart_step(&r.h, 2);
    assert_int_equal(r.h.x[7], 0x1234);
    assert_int_equal(r.h.x[5], 9);
    /* all four in use: the fifth is refused */
    for (unsigned i = 0; i < TRIG_COUNT; i++)
        assert_true(trig_insert(&r.h, TRIG_STORE, ram + 0x100 * i, 4) >= 0);
    assert_int_equal(trig_insert(&r.h, TRIG_STORE, ram, 4), -ENOSPC);
    assert_int_equal(trig_insert(&r.h, TRIG_STORE, ram, 3), -EINVAL);
    hart_destroy(&r.h);
    vm_destroy(&r.vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_entries_allow_everything),
        cmocka_unit_test(test_napot_priority_and_default),
        cmocka_unit_test(test_tor_and_na4),
        cmocka_unit_test(test_warl_and_lock),
        cmocka_unit_test(test_debugger_triggers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
