/* Process-VM memory: the frame allocator, the Sv48 page table as the hart's MMU sees it, commit limits, copies. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cpu/hart.h"
#include "cpu/mmu.h"
#include "cpu/trap.h"
#include "machine/vm.h"
#include "user/elf.h"
#include "user/mm.h"
#include "user/pmem.h"

#define BASE 0x80000000ull

static void test_pmem(void **state)
{
    (void)state;
    struct vm vm;
    assert_int_equal(vm_init_at(&vm, BASE, 16 * 4096), 0);
    struct pmem pm;
    assert_int_equal(pmem_init(&pm, &vm, BASE + 1, 4096), -EINVAL);
    assert_int_equal(pmem_init(&pm, &vm, BASE, 32 * 4096), -EINVAL); /* larger than RAM */
    assert_int_equal(pmem_init(&pm, &vm, BASE, 16 * 4096), 0);
    uint64_t got[16];
    for (int i = 0; i < 16; i++) {
        got[i] = pmem_alloc(&pm);
        assert_int_equal(got[i], BASE + (uint64_t)i * 4096);
    }
    assert_int_equal(pmem_alloc(&pm), 0);
    assert_int_equal(pmem_avail(&pm), 0);
    memset(vm.ram + 5 * 4096, 0xab, 4096);
    pmem_free(&pm, got[5]);
    pmem_free(&pm, BASE + 100 * 4096); /* outside: ignored */
    pmem_free(&pm, got[6] + 8);        /* unaligned: ignored */
    assert_int_equal(pmem_avail(&pm), 1);
    uint64_t again = pmem_alloc(&pm);
    assert_int_equal(again, got[5]);
    for (int i = 0; i < 4096; i++)
        assert_int_equal(vm.ram[5 * 4096 + i], 0); /* reused frames come back zeroed */
    pmem_destroy(&pm);
    vm_destroy(&vm);
}

struct env {
    struct vm vm;
    struct mm mm;
    struct hart h;
};

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    if (mm_vm_init(&e->vm, BASE, 8ull << 20) || mm_init(&e->mm, &e->vm, BASE, 8ull << 20) ||
        hart_init(&e->h, vm_bus(&e->vm), 0))
        return -1;
    e->h.satp = mm_satp(&e->mm);
    hart_set_priv(&e->h, PRIV_U);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    hart_destroy(&e->h);
    mm_destroy(&e->mm);
    vm_destroy(&e->vm);
    free(e);
    return 0;
}

static int translate(struct env *e, uint64_t va, enum access acc)
{
    uint64_t pa;
    return mmu_translate(&e->h, va, acc, &pa);
}

static void test_mmu_view(void **state)
{
    struct env *e = *state;
    uint64_t va = 0x400000;
    assert_int_equal(mm_map(&e->mm, va, 3 * MM_PAGE, MM_PROT_READ | MM_PROT_WRITE), 0);
    /* Writable and charged: valid at once, at its identity frame (host + va). */
    assert_int_equal(translate(e, va, ACC_READ), 0);
    uint8_t *p = mm_host(&e->mm, va, MM_WRITE, NULL);
    assert_ptr_equal(p, e->mm.host + va);
    p[0] = 0x5a;
    /* A NORESERVE (stack) page and a read-only one wait for their first touch. */
    assert_int_equal(mm_map(&e->mm, va + 8 * MM_PAGE, MM_PAGE,
                            MM_PROT_READ | MM_PROT_WRITE | MM_PROT_NORESERVE), 0);
    assert_int_equal(mm_map(&e->mm, va + 9 * MM_PAGE, MM_PAGE, MM_PROT_READ), 0);
    uint64_t c0 = e->mm.commit;
    assert_int_equal(translate(e, va + 8 * MM_PAGE, ACC_READ), EXC_LOAD_PAGE_FAULT);
    assert_int_equal(translate(e, va + 9 * MM_PAGE, ACC_READ), EXC_LOAD_PAGE_FAULT);
    assert_non_null(mm_host(&e->mm, va + 8 * MM_PAGE, MM_WRITE, NULL));
    assert_int_equal(e->mm.commit, c0 + 1);
    assert_int_equal(translate(e, va + 8 * MM_PAGE, ACC_WRITE), 0);
    e->mm.host[va + 8 * MM_PAGE] = 1; /* host-writable now */
    assert_int_equal(mm_unmap(&e->mm, va + 8 * MM_PAGE, 2 * MM_PAGE), 0);
    assert_int_equal(e->mm.commit, c0);
    assert_int_equal(translate(e, va, ACC_READ), 0);
    assert_int_equal(translate(e, va, ACC_WRITE), 0);
    assert_int_equal(translate(e, va, ACC_EXEC), EXC_INSN_PAGE_FAULT);
    assert_int_equal(mm_protect(&e->mm, va, MM_PAGE, MM_PROT_READ), 0);
    assert_int_equal(translate(e, va, ACC_WRITE), EXC_STORE_PAGE_FAULT);
    assert_null(mm_host(&e->mm, va, MM_WRITE, NULL));
    assert_int_equal(mm_protect(&e->mm, va, MM_PAGE, 0), 0);
    assert_int_equal(translate(e, va, ACC_READ), EXC_LOAD_PAGE_FAULT);
    assert_int_equal(mm_page_prot(&e->mm, va), 0);
    /* Contents survive PROT_NONE and back. */
    assert_int_equal(mm_protect(&e->mm, va, MM_PAGE, MM_PROT_READ | MM_PROT_EXEC), 0);
    assert_int_equal(translate(e, va, ACC_EXEC), 0);
    uint8_t b;
    assert_int_equal(mm_copy_in(&e->mm, &b, va, 1), 0);
    assert_int_equal(b, 0x5a);
    assert_int_equal(mm_unmap(&e->mm, va, 3 * MM_PAGE), 0);
    assert_int_equal(translate(e, va, ACC_READ), EXC_LOAD_PAGE_FAULT);
    assert_int_equal(mm_page_prot(&e->mm, va), -1);
    /* mprotect of an unmapped range, maps outside user space. */
    assert_int_equal(mm_protect(&e->mm, va, MM_PAGE, MM_PROT_READ), -ENOMEM);
    assert_int_equal(mm_map(&e->mm, 0, MM_PAGE, MM_PROT_READ), -EINVAL);
    assert_int_equal(mm_map(&e->mm, MM_USER_TOP - MM_PAGE, 2 * MM_PAGE, MM_PROT_READ), -EINVAL);
    assert_int_equal(mm_map(&e->mm, va + 1, MM_PAGE, MM_PROT_READ), -EINVAL);
}

static void test_commit_limit(void **state)
{
    struct env *e = *state;
    /* 8 MiB of RAM: 16 MiB writable cannot be promised, 16 MiB PROT_NONE can. */
    assert_int_equal(mm_map(&e->mm, 0x10000000, 16ull << 20, MM_PROT_READ | MM_PROT_WRITE), -ENOMEM);
    assert_int_equal(mm_map(&e->mm, 0x10000000, 16ull << 20, 0), 0);
    assert_int_equal(mm_protect(&e->mm, 0x10000000, 16ull << 20, MM_PROT_WRITE), -ENOMEM);
    assert_int_equal(mm_protect(&e->mm, 0x10000000, 1ull << 20, MM_PROT_WRITE), 0);
    assert_int_equal(mm_unmap(&e->mm, 0x10000000, 16ull << 20), 0);
    assert_int_equal(e->mm.commit, 0);
    assert_int_equal(mm_map(&e->mm, 0x10000000, 4ull << 20, MM_PROT_READ | MM_PROT_WRITE), 0);
    assert_int_equal(mm_unmap(&e->mm, 0x10000000, 4ull << 20), 0);
}

static void test_copies(void **state)
{
    struct env *e = *state;
    uint64_t va = 0x200000;
    assert_int_equal(mm_map(&e->mm, va, 2 * MM_PAGE, MM_PROT_READ | MM_PROT_WRITE), 0);
    char buf[100], out[100];
    for (int i = 0; i < 100; i++)
        buf[i] = (char)('a' + i % 26);
    buf[99] = 0;
    /* Straddles the two pages, whose frames are not adjacent in guest RAM. */
    uint64_t at = va + MM_PAGE - 40;
    assert_int_equal(mm_copy_out(&e->mm, at, buf, 100), 0);
    assert_int_equal(mm_copy_in(&e->mm, out, at, 100), 0);
    assert_memory_equal(buf, out, 100);
    assert_int_equal(mm_copy_str(&e->mm, out, at, sizeof(out)), 99);
    assert_string_equal(out, buf);
    assert_int_equal(mm_copy_str(&e->mm, out, at, 10), -ENAMETOOLONG);
    /* Running off the mapping is -EFAULT. */
    assert_int_equal(mm_copy_in(&e->mm, out, va + 2 * MM_PAGE - 10, 20), -EFAULT);
    assert_int_equal(mm_copy_out(&e->mm, 0x1000, buf, 1), -EFAULT);
    assert_int_equal(mm_copy_in(&e->mm, out, ~0ull - 4, 8), -EFAULT);
}

static void test_find_free(void **state)
{
    struct env *e = *state;
    e->mm.mmap_top = 0x40000000;
    uint64_t a = mm_find_free(&e->mm, 0, 4 * MM_PAGE);
    assert_int_equal(a, 0x40000000 - 4 * MM_PAGE);
    assert_int_equal(mm_map(&e->mm, a, 4 * MM_PAGE, MM_PROT_READ), 0);
    uint64_t b = mm_find_free(&e->mm, 0, 4 * MM_PAGE);
    assert_int_equal(b, a - 4 * MM_PAGE);
    /* A hint that is free is honoured; a taken one is not. */
    assert_int_equal(mm_find_free(&e->mm, 0x300000, MM_PAGE), 0x300000);
    assert_int_not_equal(mm_find_free(&e->mm, a, MM_PAGE), a);
    /* Holes are reused after munmap. */
    assert_int_equal(mm_unmap(&e->mm, a, 4 * MM_PAGE), 0);
    assert_int_equal(mm_find_free(&e->mm, 0, 4 * MM_PAGE), a);
}

/* A shared mapping of a file not open for writing never becomes writable (mprotect EACCES). */
static void test_nowrite(void **state)
{
    struct env *e = *state;
    uint64_t a = 0x200000, P = MM_PAGE;
    assert_int_equal(mm_map(&e->mm, a, 8 * P, MM_PROT_READ), 0);
    assert_int_equal(mm_set_nowrite(&e->mm, a, 8 * P), 0);
    assert_int_equal(mm_protect(&e->mm, a, 8 * P, MM_PROT_READ | MM_PROT_WRITE), -EACCES);
    assert_int_equal(mm_protect(&e->mm, a + 7 * P, P, MM_PROT_WRITE), -EACCES);
    assert_int_equal(mm_protect(&e->mm, a, 8 * P, MM_PROT_READ | MM_PROT_EXEC), 0);
    assert_int_equal(mm_page_prot(&e->mm, a), MM_PROT_READ | MM_PROT_EXEC);
    /* Unmapping the middle splits the span; a new mapping there is an ordinary one. */
    assert_int_equal(mm_unmap(&e->mm, a + 3 * P, 2 * P), 0);
    assert_int_equal(e->mm.n_nowrite, 2);
    assert_int_equal(mm_map(&e->mm, a + 3 * P, 2 * P, MM_PROT_READ), 0);
    assert_int_equal(mm_protect(&e->mm, a + 3 * P, 2 * P, MM_PROT_READ | MM_PROT_WRITE), 0);
    assert_true(mm_is_nowrite(&e->mm, a + 2 * P));
    assert_false(mm_is_nowrite(&e->mm, a + 4 * P));
    assert_true(mm_is_nowrite(&e->mm, a + 5 * P));
    assert_int_equal(mm_protect(&e->mm, a + 2 * P, 2 * P, MM_PROT_WRITE), -EACCES);
    /* Mapping over the whole range clears both halves; so does execve's reset. */
    assert_int_equal(mm_map(&e->mm, a, 8 * P, MM_PROT_READ), 0);
    assert_int_equal(e->mm.n_nowrite, 0);
    assert_int_equal(mm_set_nowrite(&e->mm, a, P), 0);
    assert_int_equal(mm_reset(&e->mm), 0);
    assert_int_equal(e->mm.n_nowrite, 0);
}

static void test_stack_layout(void **state)
{
    (void)state;
    static uint8_t buf[8192] __attribute__((aligned(16)));
    char *argv[] = {"prog", "a1", NULL};
    char *envp[] = {"K=V", NULL};
    uint8_t rnd[16];
    memset(rnd, 7, sizeof(rnd));
    struct auxv auxv[] = {{AT_PAGESZ, 4096}, {AT_RANDOM, 0}, {AT_EXECFN, 0}, {AT_PLATFORM, 0}, {AT_NULL, 0}};
    uint64_t top = 0x7ffff000, sp;
    assert_int_equal(elf_build_stack(buf, sizeof(buf), top, argv, envp, "/bin/prog", "riscv64", rnd, auxv, &sp), 0);
    assert_int_equal(sp & 15, 0);
#define AT(va) (buf + sizeof(buf) - (top - (va)))
    uint64_t *w = (uint64_t *)(void *)AT(sp);
    assert_int_equal(w[0], 2);
    assert_string_equal((char *)AT(w[1]), "prog");
    assert_string_equal((char *)AT(w[2]), "a1");
    assert_int_equal(w[3], 0);
    assert_string_equal((char *)AT(w[4]), "K=V");
    assert_int_equal(w[5], 0);
    assert_int_equal(w[6], AT_PAGESZ);
    assert_int_equal(w[7], 4096);
    assert_int_equal(w[8], AT_RANDOM);
    assert_memory_equal(AT(w[9]), rnd, 16);
    assert_int_equal(w[10], AT_EXECFN);
    assert_string_equal((char *)AT(w[11]), "/bin/prog");
    assert_int_equal(w[12], AT_PLATFORM);
    assert_string_equal((char *)AT(w[13]), "riscv64");
    assert_int_equal(w[14], AT_NULL);
    /* Too small a buffer: -E2BIG, never an overflow. */
    struct auxv a2[] = {{AT_NULL, 0}};
    assert_int_equal(elf_build_stack(buf, 32, top, argv, envp, "/bin/prog", NULL, rnd, a2, &sp), -E2BIG);
#undef AT
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pmem),
        cmocka_unit_test_setup_teardown(test_mmu_view, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_find_free, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nowrite, setup, teardown),
        cmocka_unit_test(test_stack_layout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
