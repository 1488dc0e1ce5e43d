/*
 * The address space of a process VM: a real Sv39 page table kept in guest
 * RAM (the hart's MMU enforces it), demand-zero paging, commit accounting so
 * that --mem is a hard limit (mmap fails with -ENOMEM, as with Linux's
 * overcommit_memory=2), and copy-in/copy-out of guest buffers page by page.
 *
 * Identity frames: the page at guest va always lives at guest-physical
 * base + va, i.e. at host address mm->host + va, and the host protection of
 * that page mirrors the guest's (readable when valid R or X, writable when
 * W, PROT_NONE otherwise), so translated code may access host + va directly
 * and let the host fault when the guest would (docs/jit.md, Process VMs).
 * Page tables live in the window above the user range, behind a guard.
 *
 * Every leaf PTE describes one guest page. Hardware-valid pages have V|U|A|D
 * and their R/W/X. A mapped page that is not valid (PROT_NONE, or not yet
 * touched) keeps V clear and records itself in the RSW bits: MM_PTE_MAP, its
 * protection in the R/W/X positions (ignored by the MMU while V is clear) and
 * MM_PTE_FRAME if it still owns a frame (PROT_NONE over touched memory).
 */
#ifndef KILN_USER_MM_H
#define KILN_USER_MM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "user/pmem.h"

struct vm;

#define MM_PAGE 4096ull
/* Sv39 lower half: user addresses are below 2^38 (256 GiB, riscv64 Linux on Sv39). */
#define MM_USER_BITS 38
#define MM_USER_TOP (1ull << MM_USER_BITS)
/* Unmapped pages between the user range and the page tables: accesses straddling the top fault. */
#define MM_GUARD (16 * MM_PAGE)
/* Offset of the page-table area in the window. */
#define MM_PT_OFF (MM_USER_TOP + MM_GUARD)
/* Guest-physical window a process VM with `mem` bytes of --mem needs (page tables get as much). */
#define MM_WINDOW(mem) (MM_PT_OFF + (mem))
/* Like vm.mmap_min_addr: the first 64 KiB are never mapped, so NULL dereferences fault. */
#define MM_USER_MIN 0x10000ull

#define MM_PROT_READ 1
#define MM_PROT_WRITE 2
#define MM_PROT_EXEC 4
/* mm_map only: charge each page when it first gets a frame, not at map time (the stack). */
#define MM_PROT_NORESERVE 8

#define MM_PTE_V (1ull << 0)
#define MM_PTE_R (1ull << 1)
#define MM_PTE_W (1ull << 2)
#define MM_PTE_X (1ull << 3)
#define MM_PTE_U (1ull << 4)
#define MM_PTE_A (1ull << 6)
#define MM_PTE_D (1ull << 7)
#define MM_PTE_MAP (1ull << 8)   /* RSW: page belongs to a mapping */
#define MM_PTE_FRAME (1ull << 9) /* RSW: an invalid page that still owns its frame */
/*
 * Only while V is clear (the MMU faults on V=0 before looking at bits 63:54,
 * which must be zero once V is set): a writable page charged only when it
 * gets its frame, the way Linux grows and charges a stack a page at a time.
 */
#define MM_PTE_NORESERVE (1ull << 54)

enum mm_access { MM_READ, MM_WRITE, MM_EXEC };

struct mm {
    pthread_mutex_t lock;
    struct vm *vm;
    struct pmem pm;        /* the page-table frames */
    uint8_t *host;         /* host address of guest va 0 (the window's start) */
    uint64_t base;         /* its guest-physical address */
    uint64_t nframes;      /* --mem in pages */
    uint64_t root;         /* guest-physical address of the Sv39 root table */
    uint64_t commit;       /* pages charged: writable or owning a frame */
    uint64_t commit_limit; /* frames minus a reserve for page tables */
    uint64_t brk_start, brk_end; /* program break: [brk_start, brk_end) */
    uint64_t mmap_top;     /* top-down cursor for mmap without an address */
    atomic_uint tlb_gen;   /* bumped when a translation is removed or narrowed */
    /*
     * The process VM's shared accounting (NULL for a lone address space): every
     * change of commit is mirrored into *vm_commit (all processes of the VM and
     * kiln's copies of guest data, capped at vm_limit) and *own_commit (this
     * process's share, so whoever reaps it can give the charge back).
     */
    _Atomic uint64_t *vm_commit;
    _Atomic uint64_t *own_commit;
    uint64_t vm_limit;
    /*
     * Page ranges that may never become writable (Linux clears VM_MAYWRITE for
     * a MAP_SHARED mapping of a file not open for writing): mprotect(PROT_WRITE)
     * there is -EACCES. Sorted, disjoint; plain memory, so a fork keeps it.
     */
    struct mm_span { uint64_t start, end; } *nowrite;
    unsigned n_nowrite;
};

/*
 * Reserves vm's RAM as a process VM's window: MM_WINDOW(mem) bytes at
 * guest-physical base, PROT_NONE on the host until mapped.
 */
int mm_vm_init(struct vm *vm, uint64_t base, uint64_t mem);
/* Uses the window of vm at base (mm_vm_init) with a budget of mem bytes of user pages. */
int mm_init(struct mm *mm, struct vm *vm, uint64_t base, uint64_t mem);
void mm_destroy(struct mm *mm);
/* Joins the process VM's accounting: the current commit is charged to own (not to vm: see mm_charge). */
void mm_account(struct mm *mm, _Atomic uint64_t *vm_commit, _Atomic uint64_t *own_commit,
                uint64_t vm_limit);
/*
 * Empties the address space (execve): every page and page table goes, guest
 * RAM is given back to the host, the commit is released. Accounting stays.
 */
int mm_reset(struct mm *mm);
/*
 * Charges pages that are not page-table mappings to the process VM (a fork
 * child's copy, kiln's own copies of guest data). -ENOMEM past the limit.
 */
int mm_charge(struct mm *mm, uint64_t pages);
void mm_uncharge(struct mm *mm, uint64_t pages);
/* satp value selecting this address space (Sv39, ASID 0). */
uint64_t mm_satp(const struct mm *mm);

/*
 * Maps [va, va + len) demand-zero with prot (MM_PROT_*), replacing what was
 * there. va and len page aligned. -ENOMEM when the commit limit would be
 * exceeded (nothing changed then), -EINVAL for a range outside user space.
 */
int mm_map(struct mm *mm, uint64_t va, uint64_t len, int prot);
int mm_unmap(struct mm *mm, uint64_t va, uint64_t len);
/*
 * -ENOMEM if some page of the range is unmapped (Linux mprotect); -EACCES
 * for PROT_WRITE over a page marked with mm_set_nowrite.
 */
int mm_protect(struct mm *mm, uint64_t va, uint64_t len, int prot);
/*
 * Marks [va, va + len) as never writable (mmap(2) EACCES for a later
 * mprotect); mm_map and mm_unmap over a page take the mark off. 0 or -ENOMEM.
 */
int mm_set_nowrite(struct mm *mm, uint64_t va, uint64_t len);
/* True when the page holding va carries the mark. */
bool mm_is_nowrite(struct mm *mm, uint64_t va);
/* The first mapped page of the range (absent page tables are skipped whole), or 0. */
uint64_t mm_next_mapped(struct mm *mm, uint64_t va, uint64_t len);
/* True when no page of the range is mapped. */
bool mm_range_free(struct mm *mm, uint64_t va, uint64_t len);
/* A free range of len bytes: at hint if free, else below the mmap cursor. 0 if none. */
uint64_t mm_find_free(struct mm *mm, uint64_t hint, uint64_t len);
/* Protection of the page holding va, or -1 if unmapped. */
int mm_page_prot(struct mm *mm, uint64_t va);

/*
 * Host pointer to the byte at va, valid up to the end of its page, when the
 * page is mapped with a protection allowing acc; demand pages are populated.
 * NULL otherwise, with *err (if not NULL) = -EFAULT or -ENOMEM.
 */
void *mm_host(struct mm *mm, uint64_t va, enum mm_access acc, int *err);

/* Copies between host buffers and guest memory, page by page. 0 or -EFAULT. */
int mm_copy_in(struct mm *mm, void *dst, uint64_t va, size_t len);
int mm_copy_out(struct mm *mm, uint64_t va, const void *src, size_t len);
/* Copies a NUL-terminated string of at most max bytes (NUL included). Length, -EFAULT or -ENAMETOOLONG. */
long mm_copy_str(struct mm *mm, char *dst, uint64_t va, size_t max);

#endif
