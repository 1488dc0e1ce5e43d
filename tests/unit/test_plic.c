/* PLIC: priority/threshold/claim/complete, per-context enables, M vs S lines, hostile accesses. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "cpu/hart.h"
#include "dev/plic.h"
#include "machine/vm.h"

#define NHARTS 2

struct fixture {
    struct vm vm;
    struct hart harts[NHARTS];
    struct plic *plic;
    struct mmio_region *r;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(vm_init(&f->vm, 1 << 20), 0);
    for (unsigned i = 0; i < NHARTS; i++) {
        assert_int_equal(hart_init(&f->harts[i], vm_bus(&f->vm), i), 0);
        f->vm.harts[i] = &f->harts[i];
    }
    f->vm.nharts = NHARTS;
    f->plic = plic_create(&f->vm);
    assert_non_null(f->plic);
    assert_ptr_equal(f->vm.plic, f->plic);
    f->r = vm_mmio_find(&f->vm, VIRT_PLIC_BASE);
    assert_non_null(f->r);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    plic_destroy(f->plic);
    for (unsigned i = 0; i < NHARTS; i++)
        hart_destroy(&f->harts[i]);
    vm_destroy(&f->vm);
    free(f);
    return 0;
}

static uint32_t rd(struct fixture *f, uint64_t off)
{
    return (uint32_t)f->r->ops->read(f->r->opaque, off, 4);
}

static void wr(struct fixture *f, uint64_t off, uint32_t v)
{
    f->r->ops->write(f->r->opaque, off, v, 4);
}

static void set_prio(struct fixture *f, unsigned src, uint32_t prio)
{
    wr(f, 4 * src, prio);
}

static void enable(struct fixture *f, unsigned ctx, unsigned src, bool on)
{
    uint64_t off = 0x2000 + 0x80 * ctx + 4 * (src / 32);
    uint32_t v = rd(f, off);
    wr(f, off, on ? v | (1u << (src % 32)) : v & ~(1u << (src % 32)));
}

static void threshold(struct fixture *f, unsigned ctx, uint32_t t)
{
    wr(f, 0x200000 + 0x1000 * ctx, t);
}

static uint32_t claim(struct fixture *f, unsigned ctx)
{
    return rd(f, 0x200004 + 0x1000 * ctx);
}

static void complete(struct fixture *f, unsigned ctx, uint32_t src)
{
    wr(f, 0x200004 + 0x1000 * ctx, src);
}

static bool line(struct fixture *f, unsigned hart, unsigned irq)
{
    return (atomic_load(&f->harts[hart].mip_ext) >> irq) & 1;
}

static void test_claim_empty(void **state)
{
    struct fixture *f = *state;
    for (unsigned ctx = 0; ctx < 2 * NHARTS; ctx++)
        assert_int_equal(claim(f, ctx), 0);
    assert_false(line(f, 0, IRQ_MEI));
    assert_false(line(f, 0, IRQ_SEI));
}

static void test_priority_order(void **state)
{
    struct fixture *f = *state;
    set_prio(f, 3, 2);
    set_prio(f, 5, 6);
    set_prio(f, 7, 6); /* tie with 5: lower id wins */
    set_prio(f, 9, 1);
    for (unsigned s = 3; s <= 9; s += 2)
        enable(f, 1, s, true);
    plic_set_irq(f->plic, 3, true);
    plic_set_irq(f->plic, 5, true);
    plic_set_irq(f->plic, 7, true);
    plic_set_irq(f->plic, 9, true);
    assert_true(line(f, 0, IRQ_SEI));
    assert_false(line(f, 0, IRQ_MEI)); /* context 0 enables nothing */
    assert_int_equal(rd(f, 0x1000), (1u << 3) | (1u << 5) | (1u << 7) | (1u << 9));

    assert_int_equal(claim(f, 1), 5);
    assert_int_equal(claim(f, 1), 7);
    assert_int_equal(claim(f, 1), 3);
    assert_int_equal(claim(f, 1), 9);
    assert_int_equal(claim(f, 1), 0); /* all claimed: nothing pending */
    assert_false(line(f, 0, IRQ_SEI));
    assert_int_equal(rd(f, 0x1000), 0);

    /* Complete re-arms a level source still asserted; a deasserted one stays quiet. */
    plic_set_irq(f->plic, 5, false);
    complete(f, 1, 5);
    complete(f, 1, 7);
    assert_true(line(f, 0, IRQ_SEI));
    assert_int_equal(claim(f, 1), 7);
    assert_int_equal(claim(f, 1), 0);
}

static void test_threshold(void **state)
{
    struct fixture *f = *state;
    set_prio(f, 4, 3);
    enable(f, 0, 4, true);
    threshold(f, 0, 3); /* priority must exceed the threshold */
    assert_int_equal(rd(f, 0x200000), 3);
    plic_set_irq(f->plic, 4, true);
    assert_false(line(f, 0, IRQ_MEI));
    assert_int_equal(claim(f, 0), 0);
    assert_int_equal(rd(f, 0x1000), 1u << 4); /* still pending */
    threshold(f, 0, 2);
    assert_true(line(f, 0, IRQ_MEI));
    /* Priority 0 never interrupts. */
    set_prio(f, 4, 0);
    threshold(f, 0, 0);
    assert_false(line(f, 0, IRQ_MEI));
    set_prio(f, 4, 1);
    assert_true(line(f, 0, IRQ_MEI));
    assert_int_equal(claim(f, 0), 4);
    assert_false(line(f, 0, IRQ_MEI));
}

static void test_contexts(void **state)
{
    struct fixture *f = *state;
    set_prio(f, 10, 1);
    set_prio(f, 40, 1);
    enable(f, 3, 10, true); /* hart 1 S-mode */
    enable(f, 2, 40, true); /* hart 1 M-mode */
    assert_int_equal(rd(f, 0x2000 + 0x80 * 3), 1u << 10);
    assert_int_equal(rd(f, 0x2000 + 0x80 * 2 + 4), 1u << 8);

    plic_set_irq(f->plic, 10, true);
    assert_true(line(f, 1, IRQ_SEI));
    assert_false(line(f, 1, IRQ_MEI));
    assert_false(line(f, 0, IRQ_SEI));
    assert_false(line(f, 0, IRQ_MEI));
    assert_int_equal(claim(f, 2), 0); /* not enabled for hart 1 M */

    plic_set_irq(f->plic, 40, true);
    assert_true(line(f, 1, IRQ_MEI));
    assert_int_equal(claim(f, 2), 40);
    assert_false(line(f, 1, IRQ_MEI));
    assert_true(line(f, 1, IRQ_SEI));

    /* Completing from a context where the source is not enabled is ignored (spec §8). */
    complete(f, 0, 40);
    assert_false(line(f, 1, IRQ_MEI));
    complete(f, 2, 40);
    assert_true(line(f, 1, IRQ_MEI));

    /* Disabling withdraws the line without losing the pending bit. */
    enable(f, 3, 10, false);
    assert_false(line(f, 1, IRQ_SEI));
    enable(f, 3, 10, true);
    assert_true(line(f, 1, IRQ_SEI));

    /* Deasserting before a claim withdraws the request. */
    plic_set_irq(f->plic, 10, false);
    assert_false(line(f, 1, IRQ_SEI));
    assert_int_equal(claim(f, 3), 0);
}

static void test_hostile(void **state)
{
    struct fixture *f = *state;
    const struct mmio_ops *o = f->r->ops;

    /* Source 0 is reserved: no priority, no enable, no pending. */
    set_prio(f, 0, 7);
    assert_int_equal(rd(f, 0), 0);
    wr(f, 0x2000, ~0u);
    assert_int_equal(rd(f, 0x2000), ~1u);
    plic_set_irq(f->plic, 0, true);
    plic_set_irq(f->plic, PLIC_NUM_SOURCES, true);
    plic_set_irq(f->plic, ~0u, true);
    plic_set_irq(NULL, 1, true);
    assert_int_equal(rd(f, 0x1000), 0);
    /* Priorities are 3 bits. */
    set_prio(f, 1, 0xffffffff);
    assert_int_equal(rd(f, 4), 7);
    /* Past the last source / word. */
    wr(f, 4 * PLIC_NUM_SOURCES, 5);
    assert_int_equal(rd(f, 4 * PLIC_NUM_SOURCES), 0);
    wr(f, 0x2000 + 12, ~0u);
    assert_int_equal(rd(f, 0x2000 + 12), 0);
    /* Pending is read-only. */
    wr(f, 0x1000, ~0u);
    assert_int_equal(rd(f, 0x1000), 0);
    /* Contexts past the harts'. */
    wr(f, 0x2000 + 0x80 * 2 * NHARTS, ~0u);
    assert_int_equal(rd(f, 0x2000 + 0x80 * 2 * NHARTS), 0);
    threshold(f, 2 * NHARTS, 1);
    assert_int_equal(rd(f, 0x200000 + 0x1000 * 2 * NHARTS), 0);
    assert_int_equal(claim(f, 2 * NHARTS), 0);
    complete(f, 2 * NHARTS, 1);
    complete(f, 0, 0);
    complete(f, 0, 12345);
    complete(f, 0, ~0u);
    /* Odd sizes and misalignment read 0 and are ignored; the far end of the window too. */
    o->write(f->r->opaque, 4, 3, 1);
    o->write(f->r->opaque, 4, 3, 2);
    o->write(f->r->opaque, 4, 3, 8);
    o->write(f->r->opaque, 5, 3, 4);
    assert_int_equal(rd(f, 4), 7);
    assert_int_equal(o->read(f->r->opaque, 4, 1), 0);
    assert_int_equal(o->read(f->r->opaque, 4, 8), 0);
    assert_int_equal(o->read(f->r->opaque, 6, 4), 0);
    assert_int_equal(o->read(f->r->opaque, 3, 0), 0);
    for (uint64_t off = 0x200000; off < VIRT_PLIC_SIZE; off += 0x1234) {
        o->write(f->r->opaque, off & ~3ull, ~0ull, 4);
        (void)o->read(f->r->opaque, off & ~3ull, 4);
    }
    o->write(f->r->opaque, VIRT_PLIC_SIZE - 4, ~0ull, 4);
    o->write(f->r->opaque, ~0ull - 3, ~0ull, 4);
    (void)o->read(f->r->opaque, ~0ull - 3, 4);
    assert_false(line(f, 0, IRQ_MEI));
    assert_false(line(f, 1, IRQ_SEI));
}

static void test_reset(void **state)
{
    struct fixture *f = *state;
    set_prio(f, 6, 3);
    set_prio(f, 8, 3);
    enable(f, 0, 6, true);
    enable(f, 0, 8, true);
    threshold(f, 1, 4);
    plic_set_irq(f->plic, 6, true);
    plic_set_irq(f->plic, 8, true);
    assert_int_equal(claim(f, 0), 6); /* 6 is claimed, 8 pending */
    plic_set_irq(f->plic, 8, false);
    plic_reset(f->plic);
    assert_false(line(f, 0, IRQ_MEI));
    assert_int_equal(rd(f, 4 * 6), 0);
    assert_int_equal(rd(f, 0x2000), 0);
    assert_int_equal(rd(f, 0x201000), 0);
    /* 6 is still asserted: pending again after reset, and no longer held as claimed. */
    assert_int_equal(rd(f, 0x1000), 1u << 6);
    set_prio(f, 6, 1);
    enable(f, 0, 6, true);
    assert_true(line(f, 0, IRQ_MEI));
    assert_int_equal(claim(f, 0), 6);
    plic_reset(NULL);
}

/* Two VMs in one process must not share PLIC state. */
static void test_two_vms(void **state)
{
    struct fixture *f = *state;
    struct vm vm2;
    struct hart h2;
    assert_int_equal(vm_init(&vm2, 0), 0);
    assert_int_equal(hart_init(&h2, vm_bus(&vm2), 0), 0);
    vm2.harts[0] = &h2;
    vm2.nharts = 1;
    struct plic *p2 = plic_create(&vm2);
    assert_non_null(p2);
    set_prio(f, 2, 1);
    enable(f, 0, 2, true);
    plic_set_irq(p2, 2, true);
    assert_int_equal(rd(f, 0x1000), 0);
    vm_set_irq(&f->vm, 2, true);
    assert_true(line(f, 0, IRQ_MEI));
    assert_false((atomic_load(&h2.mip_ext) >> IRQ_MEI) & 1);
    plic_destroy(p2);
    assert_null(vm2.plic);
    hart_destroy(&h2);
    vm_destroy(&vm2);
}

/* Device threads toggle lines while two "harts" claim and complete: no lost state, nothing stuck. */
struct stress {
    struct fixture *f;
    unsigned id;
    atomic_int *stop;
    pthread_barrier_t *go;
    unsigned long claims;
};

static void *stress_device(void *arg)
{
    struct stress *s = arg;
    pthread_barrier_wait(s->go);
    for (unsigned i = 0; i < 50000; i++) {
        unsigned src = 1 + (s->id * 7 + i) % (PLIC_NUM_SOURCES - 1);
        plic_set_irq(s->f->plic, src, i & 1);
        if (i % 64 == 0)
            sched_yield(); /* let the claiming threads in on small hosts */
    }
    return NULL;
}

static void *stress_hart(void *arg)
{
    struct stress *s = arg;
    pthread_barrier_wait(s->go);
    while (!atomic_load(s->stop)) {
        uint32_t src = claim(s->f, s->id);
        if (src) {
            s->claims++;
            complete(s->f, s->id, src);
        }
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    struct fixture *f = *state;
    atomic_int stop = 0;
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, 6);
    for (unsigned src = 1; src < PLIC_NUM_SOURCES; src++) {
        set_prio(f, src, 1 + src % 7);
        enable(f, src & 1 ? 1 : 2, src, true); /* hart 0 S / hart 1 M */
    }
    struct stress dev[4], hart[2] = {{f, 1, &stop, &go, 0}, {f, 2, &stop, &go, 0}};
    pthread_t dt[4], ht[2];
    for (unsigned i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&ht[i], NULL, stress_hart, &hart[i]), 0);
    for (unsigned i = 0; i < 4; i++) {
        dev[i] = (struct stress){f, i, &stop, &go, 0};
        assert_int_equal(pthread_create(&dt[i], NULL, stress_device, &dev[i]), 0);
    }
    for (unsigned i = 0; i < 4; i++)
        pthread_join(dt[i], NULL);
    /* Every source ends deasserted; drain what is still pending. */
    for (unsigned src = 1; src < PLIC_NUM_SOURCES; src++)
        plic_set_irq(f->plic, src, false);
    atomic_store(&stop, 1);
    for (unsigned i = 0; i < 2; i++)
        pthread_join(ht[i], NULL);
    pthread_barrier_destroy(&go);
    assert_true(hart[0].claims + hart[1].claims > 0);
    for (unsigned w = 0; w < 3; w++)
        assert_int_equal(rd(f, 0x1000 + 4 * w), 0);
    assert_int_equal(claim(f, 1), 0);
    assert_int_equal(claim(f, 2), 0);
    assert_false(line(f, 0, IRQ_SEI));
    assert_false(line(f, 1, IRQ_MEI));
    /* Nothing is left claimed: a new edge on every source is seen again. */
    for (unsigned src = 1; src < PLIC_NUM_SOURCES; src++)
        plic_set_irq(f->plic, src, true);
    unsigned seen = 0;
    for (uint32_t s; (s = claim(f, 1)) != 0; seen++)
        ;
    for (uint32_t s; (s = claim(f, 2)) != 0; seen++)
        ;
    assert_int_equal(seen, PLIC_NUM_SOURCES - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_claim_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_priority_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threshold, setup, teardown),
        cmocka_unit_test_setup_teardown(test_contexts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_vms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
