/*
 * The process VM's shared pid table and its VM-wide memory accounting: the
 * process cap, ids that never collide with live ones, orphans handed to
 * init, charges given back however a process ends, and mm's mirror of its
 * commit into the shared counter (NORESERVE pages charged at first touch).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "machine/vm.h"
#include "user/mm.h"
#include "user/pidtab.h"

#define BASE 0x80000000ull
#define PAGE 4096ull

static void test_cap_and_ids(void **state)
{
    (void)state;
    assert_null(pidtab_create(0, 0));
    assert_null(pidtab_create(PIDTAB_SIZE + 1, 0));
    struct pidtab *pt = pidtab_create(4, 100);
    assert_non_null(pt);
    pidtab_lock(pt);
    struct pident *init = pidtab_add(pt, 0, 0, 0);
    assert_int_equal(init->vpid, PIDTAB_INIT);
    assert_int_equal(init->pgid, PIDTAB_INIT); /* a new leader by default */
    assert_int_equal(init->sid, PIDTAB_INIT);
    int tid = pidtab_new_id(pt); /* a thread id in between */
    struct pident *a = pidtab_add(pt, 1, init->pgid, init->sid);
    struct pident *b = pidtab_add(pt, a->vpid, a->pgid, a->sid);
    struct pident *c = pidtab_add(pt, 1, 1, 1);
    assert_true(a->vpid > tid && b->vpid > a->vpid && c->vpid > b->vpid);
    assert_int_equal(b->pgid, 1);
    assert_null(pidtab_add(pt, 1, 1, 1)); /* the cap: 4 processes, zombies included */
    a->host = 4242;
    assert_ptr_equal(pidtab_find_host(pt, 4242), a);
    assert_ptr_equal(pidtab_find(pt, b->vpid), b);
    assert_null(pidtab_find(pt, 0));
    assert_null(pidtab_find(pt, 99999));

    /* a goes: its child b now belongs to init, and its slot is free again. */
    int avpid = a->vpid;
    pidtab_remove(pt, a);
    assert_null(pidtab_find(pt, avpid));
    assert_null(pidtab_find_host(pt, 4242));
    assert_int_equal(b->ppid, PIDTAB_INIT);
    assert_non_null(pidtab_add(pt, 1, 1, 1));

    /* Ids wrap below PIDTAB_PID_MAX and skip live vpids. */
    pt->next = PIDTAB_PID_MAX - 1;
    int w1 = pidtab_new_id(pt);
    int w2 = pidtab_new_id(pt);
    assert_int_equal(w1, PIDTAB_PID_MAX - 1);
    assert_true(w2 > PIDTAB_INIT && w2 < PIDTAB_PID_MAX);
    pt->next = b->vpid;
    assert_int_not_equal(pidtab_new_id(pt), b->vpid);
    pidtab_unlock(pt);
    assert_true(pidtab_trylock(pt));
    pidtab_unlock(pt);
    munmap(pt, sizeof(*pt));
}

static void test_uncharge_once(void **state)
{
    (void)state;
    struct pidtab *pt = pidtab_create(8, 1000);
    pidtab_lock(pt);
    struct pident *e = pidtab_add(pt, 0, 0, 0);
    atomic_store(&pt->commit, 30);
    atomic_store(&e->commit, 20);
    pidtab_uncharge(pt, e); /* at exit */
    assert_int_equal(atomic_load(&pt->commit), 10);
    pidtab_remove(pt, e); /* and again when reaped: nothing left to give */
    assert_int_equal(atomic_load(&pt->commit), 10);
    pidtab_unlock(pt);
    munmap(pt, sizeof(*pt));
}

/* Two address spaces (two processes) charging one shared counter. */
static void test_vm_wide_commit(void **state)
{
    (void)state;
    struct pidtab *pt = pidtab_create(8, 64);
    struct vm vm1, vm2;
    struct mm m1, m2;
    assert_int_equal(mm_vm_init(&vm1, BASE, 8ull << 20), 0);
    assert_int_equal(mm_vm_init(&vm2, BASE, 8ull << 20), 0);
    assert_int_equal(mm_init(&m1, &vm1, BASE, 8ull << 20), 0);
    assert_int_equal(mm_init(&m2, &vm2, BASE, 8ull << 20), 0);
    pidtab_lock(pt);
    struct pident *p1 = pidtab_add(pt, 0, 0, 0), *p2 = pidtab_add(pt, 1, 1, 1);
    pidtab_unlock(pt);
    mm_account(&m1, &pt->commit, &p1->commit, pt->commit_limit);
    mm_account(&m2, &pt->commit, &p2->commit, pt->commit_limit);

    /* 40 writable pages here, then only 24 fit there (each alone would have room). */
    assert_int_equal(mm_map(&m1, 0x100000, 40 * PAGE, MM_PROT_READ | MM_PROT_WRITE), 0);
    assert_int_equal(atomic_load(&pt->commit), 40);
    assert_int_equal(atomic_load(&p1->commit), 40);
    assert_int_equal(mm_map(&m2, 0x100000, 25 * PAGE, MM_PROT_READ | MM_PROT_WRITE), -ENOMEM);
    assert_int_equal(mm_map(&m2, 0x100000, 24 * PAGE, MM_PROT_READ | MM_PROT_WRITE), 0);
    assert_int_equal(atomic_load(&pt->commit), 64);

    /* kiln's own copies count too. */
    assert_int_equal(mm_charge(&m1, 1), -ENOMEM);
    mm_unmap(&m1, 0x100000, 8 * PAGE);
    assert_int_equal(atomic_load(&p1->commit), 32);
    assert_int_equal(mm_charge(&m1, 8), 0);
    assert_int_equal(mm_charge(&m1, 1), -ENOMEM);
    mm_uncharge(&m1, 8);

    /* A NORESERVE mapping (the stack) costs nothing until touched, then a page at a time. */
    mm_unmap(&m2, 0x100000, 24 * PAGE);
    uint64_t before = atomic_load(&pt->commit);
    assert_int_equal(mm_map(&m2, 0x400000, 64 * PAGE, MM_PROT_READ | MM_PROT_WRITE | MM_PROT_NORESERVE), 0);
    assert_int_equal(atomic_load(&pt->commit), before);
    assert_non_null(mm_host(&m2, 0x400000 + 3 * PAGE, MM_WRITE, NULL));
    assert_int_equal(atomic_load(&pt->commit), before + 1);
    assert_int_equal(mm_page_prot(&m2, 0x400000), MM_PROT_READ | MM_PROT_WRITE);
    /* Once the VM is full, touching another page fails instead of overcommitting. */
    assert_int_equal(mm_map(&m1, 0x200000, (64 - before - 1) * PAGE, MM_PROT_READ | MM_PROT_WRITE), 0);
    int err = 0;
    assert_null(mm_host(&m2, 0x400000 + 9 * PAGE, MM_WRITE, &err));
    assert_int_equal(err, -ENOMEM);

    /* execve empties an address space and gives its whole charge back. */
    uint64_t own1 = atomic_load(&p1->commit);
    assert_int_equal(mm_reset(&m1), 0);
    assert_int_equal(atomic_load(&p1->commit), 0);
    assert_int_equal(atomic_load(&pt->commit), 64 - own1);
    assert_int_equal(mm_page_prot(&m1, 0x100000 + 10 * PAGE), -1);

    mm_destroy(&m1);
    mm_destroy(&m2);
    vm_destroy(&vm1);
    vm_destroy(&vm2);
    munmap(pt, sizeof(*pt));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cap_and_ids),
        cmocka_unit_test(test_uncharge_once),
        cmocka_unit_test(test_vm_wide_commit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
