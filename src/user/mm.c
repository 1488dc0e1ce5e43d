#include "user/mm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cpu/hart.h"
#include "machine/gmem.h"
#include "machine/vm.h"

#define PPN_MASK ((1ull << 44) - 1)
#define PROT_BITS (MM_PTE_R | MM_PTE_W | MM_PTE_X)
#define LEAF_FLAGS (MM_PTE_V | MM_PTE_U | MM_PTE_A | MM_PTE_D | MM_PTE_MAP)

static uint64_t pte_pa(uint64_t pte)
{
    return ((pte >> 10) & PPN_MASK) << 12;
}

static bool has_frame(uint64_t pte)
{
    return (pte & MM_PTE_V) || (pte & MM_PTE_FRAME);
}

/* Pages count against --mem when writable (they may be written any time) or when they hold a frame. */
static uint64_t charge(uint64_t pte)
{
    return (pte & MM_PTE_MAP) &&
           (((pte & MM_PTE_W) && !(pte & MM_PTE_NORESERVE)) || has_frame(pte));
}

static uint64_t prot_bits(int prot)
{
    uint64_t b = 0;
    /* W without R is reserved in a PTE (priv spec 10.3.1): write-only pages are also readable, as on Linux. */
    if (prot & (MM_PROT_READ | MM_PROT_WRITE))
        b |= MM_PTE_R;
    if (prot & MM_PROT_WRITE)
        b |= MM_PTE_W;
    if (prot & MM_PROT_EXEC)
        b |= MM_PTE_X;
    return b;
}

static void pte_store(uint64_t *p, uint64_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* The PPN field of va's frame: identity frames, the page at va is at base + va. */
static uint64_t ident(const struct mm *mm, uint64_t va)
{
    return ((mm->base + (va & ~(MM_PAGE - 1))) >> 12) << 10;
}

/*
 * The host protection mirroring a PTE. A valid page is readable if R or X
 * (execute-only pages are host-readable: translated code never reads them,
 * only the interpreter's fetch does), writable if W. A mapped page without
 * a frame is readable when R/X (it reads as zeros, and reading creates
 * nothing to charge) but never writable: its first write must go through
 * mm_host, which charges it (the stack's NORESERVE pages). A PROT_NONE page
 * keeping a frame is inaccessible, its contents stay.
 */
static int host_prot(uint64_t pte)
{
    if (!(pte & MM_PTE_MAP) || (!(pte & MM_PTE_V) && (pte & MM_PTE_FRAME)))
        return PROT_NONE;
    int p = (pte & (MM_PTE_R | MM_PTE_X)) ? PROT_READ : PROT_NONE;
    if ((pte & MM_PTE_V) && (pte & MM_PTE_W))
        p |= PROT_WRITE;
    return p;
}

/* Fresh zero pages with prot over [va, va + len) of the host window: the old contents are dropped. */
static int host_fresh(struct mm *mm, uint64_t va, uint64_t len, int prot)
{
    if (!mm->host || !len)
        return 0;
    void *p = mmap(mm->host + va, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED,
                   -1, 0);
    return p == MAP_FAILED ? -ENOMEM : 0;
}

static int host_protect(struct mm *mm, uint64_t va, uint64_t len, int prot)
{
    if (!mm->host || !len)
        return 0;
    return mprotect(mm->host + va, len, prot) ? -ENOMEM : 0;
}

static bool user_range(uint64_t va, uint64_t len)
{
    return !((va | len) & (MM_PAGE - 1)) && len && va >= MM_USER_MIN && va < MM_USER_TOP &&
           len <= MM_USER_TOP - va;
}

/*
 * Process-VM accounting around a change of mm->commit: reserve the growth
 * first (so two processes cannot both pass the check), then settle the real
 * difference once the change is done. Caller holds mm->lock.
 */
static int vm_reserve(struct mm *mm, int64_t want)
{
    if (!mm->vm_commit || want <= 0)
        return 0;
    uint64_t now = atomic_fetch_add(mm->vm_commit, (uint64_t)want) + (uint64_t)want;
    if (now > mm->vm_limit) {
        atomic_fetch_sub(mm->vm_commit, (uint64_t)want);
        return -ENOMEM;
    }
    return 0;
}

static void vm_settle(struct mm *mm, uint64_t before, int64_t want)
{
    if (!mm->vm_commit)
        return;
    int64_t actual = (int64_t)(mm->commit - before);
    int64_t extra = actual - (want > 0 ? want : 0);
    if (extra)
        atomic_fetch_add(mm->vm_commit, (uint64_t)extra); /* wraps correctly when negative */
    if (actual && mm->own_commit)
        atomic_fetch_add(mm->own_commit, (uint64_t)actual);
}

void mm_account(struct mm *mm, _Atomic uint64_t *vm_commit, _Atomic uint64_t *own_commit,
                uint64_t vm_limit)
{
    pthread_mutex_lock(&mm->lock);
    mm->vm_commit = vm_commit;
    mm->own_commit = own_commit;
    mm->vm_limit = vm_limit;
    if (own_commit)
        atomic_store(own_commit, mm->commit);
    pthread_mutex_unlock(&mm->lock);
}

int mm_charge(struct mm *mm, uint64_t pages)
{
    if (!mm->vm_commit || !pages)
        return 0;
    if (pages > mm->vm_limit)
        return -ENOMEM;
    uint64_t now = atomic_fetch_add(mm->vm_commit, pages) + pages;
    if (now > mm->vm_limit) {
        atomic_fetch_sub(mm->vm_commit, pages);
        return -ENOMEM;
    }
    return 0;
}

void mm_uncharge(struct mm *mm, uint64_t pages)
{
    if (mm->vm_commit && pages)
        atomic_fetch_sub(mm->vm_commit, pages);
}

/* What translated code assumes of the window (cpu/hart.h direct_base). */
_Static_assert(MM_USER_BITS == HART_DIRECT_BITS && MM_GUARD >= HART_DIRECT_GUARD,
               "the JIT's direct accesses rely on this layout");

/* Low, so that translated code can address host + va with a 32-bit displacement. */
#define MM_HOST_HINT 0x40000000ull

int mm_vm_init(struct vm *vm, uint64_t base, uint64_t mem)
{
    if ((mem & (MM_PAGE - 1)) || mem > (1ull << 44))
        return -EINVAL;
    return vm_init_reserved(vm, base, MM_WINDOW(mem), MM_HOST_HINT);
}

int mm_init(struct mm *mm, struct vm *vm, uint64_t base, uint64_t mem)
{
    memset(mm, 0, sizeof(*mm));
    mm->vm = vm;
    mm->base = base;
    mm->nframes = mem / MM_PAGE;
    if ((mem & (MM_PAGE - 1)) || mem > (1ull << 44))
        return -EINVAL;
    mm->host = gmem_ptr(vm, base, MM_WINDOW(mem));
    if (!mm->host)
        return -EINVAL;
    /* The page tables' area is ordinary memory; the user range stays PROT_NONE until mapped. */
    if (mem && mprotect(mm->host + MM_PT_OFF, mem, PROT_READ | PROT_WRITE))
        return -errno;
    int err = pmem_init(&mm->pm, vm, base + MM_PT_OFF, mem);
    if (err)
        return err;
    mm->root = pmem_alloc(&mm->pm);
    if (!mm->root) {
        pmem_destroy(&mm->pm);
        return -ENOMEM;
    }
    /* Keep ~1.5% of --mem (at least 64 pages) out of the commit, as when page tables shared it. */
    uint64_t reserve = mm->nframes / 64 + 64;
    mm->commit_limit = mm->nframes > reserve ? mm->nframes - reserve : 0;
    pthread_mutex_init(&mm->lock, NULL);
    return 0;
}

/* ---- never-writable spans (mm.h nowrite); mm->lock held ---- */

static bool nowrite_hits(const struct mm *mm, uint64_t va, uint64_t end)
{
    for (unsigned i = 0; i < mm->n_nowrite; i++)
        if (mm->nowrite[i].start < end && va < mm->nowrite[i].end)
            return true;
    return false;
}

/* Takes [va, end) out of every span; a span cut in two needs one more slot (kept whole without it). */
static void nowrite_clear(struct mm *mm, uint64_t va, uint64_t end)
{
    for (unsigned i = 0; i < mm->n_nowrite; i++) {
        struct mm_span *s = &mm->nowrite[i];
        if (s->end <= va || end <= s->start)
            continue;
        if (s->start < va && end < s->end) {
            struct mm_span *n = realloc(mm->nowrite, (mm->n_nowrite + 1) * sizeof(*n));
            if (!n)
                return;
            mm->nowrite = n;
            s = &n[i];
            memmove(s + 2, s + 1, (mm->n_nowrite - i - 1) * sizeof(*s));
            s[1] = (struct mm_span){end, s->end};
            s->end = va;
            mm->n_nowrite++;
            return;
        }
        if (va <= s->start && s->end <= end) {
            memmove(s, s + 1, (mm->n_nowrite - i - 1) * sizeof(*s));
            mm->n_nowrite--;
            i--;
        } else if (va <= s->start) {
            s->start = end;
        } else {
            s->end = va;
        }
    }
}

int mm_set_nowrite(struct mm *mm, uint64_t va, uint64_t len)
{
    if (!user_range(va, len))
        return -EINVAL;
    pthread_mutex_lock(&mm->lock);
    nowrite_clear(mm, va, va + len);
    int err = -ENOMEM;
    struct mm_span *n = realloc(mm->nowrite, (mm->n_nowrite + 1) * sizeof(*n));
    if (n) {
        unsigned i = 0;
        while (i < mm->n_nowrite && n[i].start < va)
            i++;
        memmove(n + i + 1, n + i, (mm->n_nowrite - i) * sizeof(*n));
        n[i] = (struct mm_span){va, va + len};
        mm->nowrite = n;
        mm->n_nowrite++;
        /* Touching neighbours become one span, so page-by-page marks stay one entry. */
        if (i + 1 < mm->n_nowrite && n[i + 1].start == n[i].end) {
            n[i].end = n[i + 1].end;
            memmove(n + i + 1, n + i + 2, (mm->n_nowrite - i - 2) * sizeof(*n));
            mm->n_nowrite--;
        }
        if (i > 0 && n[i - 1].end == n[i].start) {
            n[i - 1].end = n[i].end;
            memmove(n + i, n + i + 1, (mm->n_nowrite - i - 1) * sizeof(*n));
            mm->n_nowrite--;
        }
        err = 0;
    }
    pthread_mutex_unlock(&mm->lock);
    return err;
}

bool mm_is_nowrite(struct mm *mm, uint64_t va)
{
    va &= ~(MM_PAGE - 1);
    pthread_mutex_lock(&mm->lock);
    bool r = nowrite_hits(mm, va, va + MM_PAGE);
    pthread_mutex_unlock(&mm->lock);
    return r;
}

void mm_destroy(struct mm *mm)
{
    free(mm->nowrite);
    mm->nowrite = NULL;
    mm->n_nowrite = 0;
    pmem_destroy(&mm->pm);
    pthread_mutex_destroy(&mm->lock);
}

int mm_reset(struct mm *mm)
{
    pthread_mutex_lock(&mm->lock);
    uint64_t before = mm->commit;
    mm->commit = 0;
    vm_settle(mm, before, 0);
    struct pmem *pm = &mm->pm;
    uint64_t base = pm->base, size = pm->nframes * MM_PAGE;
    /* Every user page inaccessible and dropped; the page tables zero-fill on next touch. */
    int err = host_fresh(mm, 0, MM_USER_TOP, PROT_NONE);
    if (!err && size && madvise(mm->host + MM_PT_OFF, size, MADV_DONTNEED))
        memset(mm->host + MM_PT_OFF, 0, size);
    pmem_destroy(pm);
    if (!err)
        err = pmem_init(pm, mm->vm, base, size);
    if (!err) {
        mm->root = pmem_alloc(pm);
        if (!mm->root)
            err = -ENOMEM;
    }
    mm->brk_start = mm->brk_end = 0;
    free(mm->nowrite);
    mm->nowrite = NULL;
    mm->n_nowrite = 0;
    atomic_fetch_add(&mm->tlb_gen, 1);
    pthread_mutex_unlock(&mm->lock);
    return err;
}

uint64_t mm_satp(const struct mm *mm)
{
    return (8ull << 60) | (mm->root >> 12);
}

/*
 * The leaf PTE of va. Without create, NULL when an intermediate table is
 * missing, and *skip (if not NULL) is the first address past the hole.
 */
static uint64_t *pte_ptr(struct mm *mm, uint64_t va, bool create, uint64_t *skip)
{
    uint64_t table = mm->root;
    for (int level = 2; level > 0; level--) {
        unsigned shift = 12 + 9 * (unsigned)level;
        uint64_t *e = gmem_ptr(mm->vm, table + ((va >> shift) & 0x1ff) * 8, 8);
        if (!e)
            return NULL;
        if (!(*e & MM_PTE_V)) {
            if (!create) {
                if (skip)
                    *skip = ((va >> shift) + 1) << shift;
                return NULL;
            }
            uint64_t pa = pmem_alloc(&mm->pm);
            if (!pa)
                return NULL;
            pte_store(e, ((pa >> 12) << 10) | MM_PTE_V);
        }
        table = pte_pa(*e);
    }
    return gmem_ptr(mm->vm, table + ((va >> 12) & 0x1ff) * 8, 8);
}

static uint64_t pte_get(struct mm *mm, uint64_t va)
{
    uint64_t *p = pte_ptr(mm, va, false, NULL);
    return p ? *p : 0;
}

static void release(struct mm *mm, uint64_t *p)
{
    uint64_t old = *p;
    if (!(old & MM_PTE_MAP))
        return;
    mm->commit -= charge(old); /* the caller drops the host page */
    pte_store(p, 0);
}

int mm_map(struct mm *mm, uint64_t va, uint64_t len, int prot)
{
    if (!user_range(va, len))
        return -EINVAL;
    /*
     * Every 2 MiB of the range needs a leaf table frame: a range that could not
     * fit even in all of guest RAM fails at once, not after walking billions
     * of pages (a PROT_NONE reservation of the whole address space).
     */
    if (len / (512 * MM_PAGE) > mm->pm.nframes)
        return -ENOMEM;
    uint64_t bits = prot_bits(prot);
    uint64_t fresh = MM_PTE_MAP | bits | ((prot & MM_PROT_NORESERVE) ? MM_PTE_NORESERVE : 0);
    /*
     * Writable and charged now: valid at once with its identity frame, so the
     * host page is writable from the start (the host zero-fills it on first touch).
     */
    bool now = (bits & MM_PTE_W) && !(prot & MM_PROT_NORESERVE);
    if (now)
        fresh = LEAF_FLAGS | bits;
    pthread_mutex_lock(&mm->lock);
    uint64_t need = charge(fresh) * (len / MM_PAGE), give = 0;
    for (uint64_t a = va; a < va + len; a += MM_PAGE)
        give += charge(pte_get(mm, a));
    int err = 0;
    uint64_t before = mm->commit;
    int64_t want = (int64_t)need - (int64_t)give;
    if (mm->commit - give + need > mm->commit_limit || vm_reserve(mm, want)) {
        err = -ENOMEM;
        goto out;
    }
    uint64_t a;
    for (a = va; a < va + len; a += MM_PAGE) {
        uint64_t *p = pte_ptr(mm, a, true, NULL);
        if (!p) {
            err = -ENOMEM;
            break;
        }
        release(mm, p);
        pte_store(p, fresh | (now ? ident(mm, a) : 0));
        mm->commit += charge(fresh);
    }
    if (host_fresh(mm, va, a - va, host_prot(fresh)))
        err = -ENOMEM;
    nowrite_clear(mm, va, va + len); /* a new mapping: its own rules */
    vm_settle(mm, before, want);
    atomic_fetch_add(&mm->tlb_gen, 1);
out:
    pthread_mutex_unlock(&mm->lock);
    return err;
}

int mm_unmap(struct mm *mm, uint64_t va, uint64_t len)
{
    if (!user_range(va, len))
        return -EINVAL;
    pthread_mutex_lock(&mm->lock);
    uint64_t before = mm->commit;
    for (uint64_t a = va; a < va + len && a >= va;) {
        uint64_t skip = a + MM_PAGE;
        uint64_t *p = pte_ptr(mm, a, false, &skip);
        if (p)
            release(mm, p);
        a = skip;
    }
    host_fresh(mm, va, len, PROT_NONE);
    nowrite_clear(mm, va, va + len);
    vm_settle(mm, before, 0);
    if (va + len > mm->mmap_top && va + len <= MM_USER_TOP)
        mm->mmap_top = va + len; /* let the next search reuse the hole */
    atomic_fetch_add(&mm->tlb_gen, 1);
    pthread_mutex_unlock(&mm->lock);
    return 0;
}

static uint64_t with_prot(const struct mm *mm, uint64_t va, uint64_t old, uint64_t bits)
{
    uint64_t pa = pte_pa(old);
    if (!bits)
        return has_frame(old) ? (MM_PTE_MAP | MM_PTE_FRAME | ((pa >> 12) << 10))
                              : MM_PTE_MAP | (old & MM_PTE_NORESERVE);
    if (has_frame(old))
        return LEAF_FLAGS | bits | ((pa >> 12) << 10);
    /* Charged once writable (see mm_map): valid at once. */
    if ((bits & MM_PTE_W) && !(old & MM_PTE_NORESERVE))
        return LEAF_FLAGS | bits | ident(mm, va);
    return MM_PTE_MAP | bits | (old & MM_PTE_NORESERVE);
}

/* Host protections of [va, va + len) := what the PTEs say, one mprotect per run. Lock held. */
static int host_sync(struct mm *mm, uint64_t va, uint64_t len)
{
    int err = 0, run = -1;
    uint64_t start = va;
    for (uint64_t a = va; a < va + len; a += MM_PAGE) {
        int hp = host_prot(pte_get(mm, a));
        if (hp != run) {
            if (run >= 0 && host_protect(mm, start, a - start, run))
                err = -ENOMEM;
            run = hp;
            start = a;
        }
    }
    if (run >= 0 && host_protect(mm, start, va + len - start, run))
        err = -ENOMEM;
    return err;
}

int mm_protect(struct mm *mm, uint64_t va, uint64_t len, int prot)
{
    if (!user_range(va, len))
        return -EINVAL;
    uint64_t bits = prot_bits(prot);
    pthread_mutex_lock(&mm->lock);
    int err = 0;
    uint64_t need = 0, give = 0;
    for (uint64_t a = va; a < va + len; a += MM_PAGE) {
        uint64_t old = pte_get(mm, a);
        if (!(old & MM_PTE_MAP)) {
            err = -ENOMEM;
            goto out;
        }
    }
    /* mprotect(2) EACCES: write access to a shared mapping of a file not open for writing. */
    if ((prot & MM_PROT_WRITE) && nowrite_hits(mm, va, va + len)) {
        err = -EACCES;
        goto out;
    }
    for (uint64_t a = va; a < va + len; a += MM_PAGE) {
        uint64_t old = pte_get(mm, a);
        give += charge(old);
        need += charge(with_prot(mm, a, old, bits));
    }
    uint64_t before = mm->commit;
    int64_t want = (int64_t)need - (int64_t)give;
    if (mm->commit - give + need > mm->commit_limit || vm_reserve(mm, want)) {
        err = -ENOMEM;
        goto out;
    }
    for (uint64_t a = va; a < va + len; a += MM_PAGE) {
        uint64_t *p = pte_ptr(mm, a, false, NULL);
        uint64_t nv = with_prot(mm, a, *p, bits);
        mm->commit += charge(nv) - charge(*p);
        pte_store(p, nv);
    }
    err = host_sync(mm, va, len);
    vm_settle(mm, before, want);
    atomic_fetch_add(&mm->tlb_gen, 1);
out:
    pthread_mutex_unlock(&mm->lock);
    return err;
}

/* Lowest mapped address in [va, va + len), or 0 if none. Caller holds the lock. */
static uint64_t first_mapped(struct mm *mm, uint64_t va, uint64_t len)
{
    for (uint64_t a = va; a < va + len && a >= va;) {
        uint64_t skip = a + MM_PAGE;
        uint64_t *p = pte_ptr(mm, a, false, &skip);
        if (p && (*p & MM_PTE_MAP))
            return a;
        a = skip;
    }
    return 0;
}

uint64_t mm_next_mapped(struct mm *mm, uint64_t va, uint64_t len)
{
    if (!user_range(va, len))
        return 0;
    pthread_mutex_lock(&mm->lock);
    uint64_t a = first_mapped(mm, va, len);
    pthread_mutex_unlock(&mm->lock);
    return a;
}

bool mm_range_free(struct mm *mm, uint64_t va, uint64_t len)
{
    if (!user_range(va, len))
        return false;
    pthread_mutex_lock(&mm->lock);
    bool free = first_mapped(mm, va, len) == 0;
    pthread_mutex_unlock(&mm->lock);
    return free;
}

uint64_t mm_find_free(struct mm *mm, uint64_t hint, uint64_t len)
{
    if (!len || (len & (MM_PAGE - 1)) || len > MM_USER_TOP)
        return 0;
    if (hint && user_range(hint, len) && mm_range_free(mm, hint, len))
        return hint;
    pthread_mutex_lock(&mm->lock);
    uint64_t top = mm->mmap_top, found = 0;
    while (top >= MM_USER_MIN + len) {
        uint64_t cand = top - len;
        uint64_t hit = first_mapped(mm, cand, len);
        if (!hit) {
            found = cand;
            mm->mmap_top = cand;
            break;
        }
        top = hit;
    }
    pthread_mutex_unlock(&mm->lock);
    return found;
}

int mm_page_prot(struct mm *mm, uint64_t va)
{
    pthread_mutex_lock(&mm->lock);
    uint64_t pte = va < MM_USER_TOP ? pte_get(mm, va) : 0;
    pthread_mutex_unlock(&mm->lock);
    if (!(pte & MM_PTE_MAP))
        return -1;
    if (!(pte & MM_PTE_V) && (pte & MM_PTE_FRAME))
        return 0;
    return ((pte & MM_PTE_R) ? MM_PROT_READ : 0) | ((pte & MM_PTE_W) ? MM_PROT_WRITE : 0) |
           ((pte & MM_PTE_X) ? MM_PROT_EXEC : 0);
}

void *mm_host(struct mm *mm, uint64_t va, enum mm_access acc, int *err)
{
    static const uint64_t need[] = {[MM_READ] = MM_PTE_R, [MM_WRITE] = MM_PTE_W, [MM_EXEC] = MM_PTE_X};
    int e = -EFAULT;
    void *host = NULL;
    if (va >= MM_USER_TOP)
        goto out;
    pthread_mutex_lock(&mm->lock);
    uint64_t *p = pte_ptr(mm, va, false, NULL);
    if (!p || !(*p & MM_PTE_MAP) || !(*p & need[acc]))
        goto unlock;
    if (!(*p & MM_PTE_V)) {
        /* Demand-zero page (a page with a frame and a protection is always valid). */
        uint64_t old = *p, before = mm->commit;
        int64_t want = 1 - (int64_t)charge(old); /* a page with a frame is always charged */
        uint64_t nv = LEAF_FLAGS | (old & PROT_BITS) | ident(mm, va);
        if (mm->commit + (uint64_t)want > mm->commit_limit) {
            e = -ENOMEM;
            goto unlock;
        }
        if (vm_reserve(mm, want)) {
            e = -ENOMEM;
            goto unlock;
        }
        if (host_prot(nv) != host_prot(old) &&
            host_protect(mm, va & ~(MM_PAGE - 1), MM_PAGE, host_prot(nv))) {
            vm_settle(mm, before, want); /* gives the reservation back */
            e = -ENOMEM;
            goto unlock;
        }
        mm->commit += charge(nv) - charge(old);
        pte_store(p, nv);
        vm_settle(mm, before, want);
    }
    host = gmem_ptr(mm->vm, pte_pa(*p) + (va & (MM_PAGE - 1)), 1);
unlock:
    pthread_mutex_unlock(&mm->lock);
out:
    if (!host && err)
        *err = e;
    return host;
}

int mm_copy_in(struct mm *mm, void *dst, uint64_t va, size_t len)
{
    uint8_t *d = dst;
    while (len) {
        size_t n = MM_PAGE - (va & (MM_PAGE - 1));
        if (n > len)
            n = len;
        const void *s = mm_host(mm, va, MM_READ, NULL);
        if (!s)
            return -EFAULT;
        memcpy(d, s, n);
        d += n, va += n, len -= n;
    }
    return 0;
}

int mm_copy_out(struct mm *mm, uint64_t va, const void *src, size_t len)
{
    const uint8_t *s = src;
    while (len) {
        size_t n = MM_PAGE - (va & (MM_PAGE - 1));
        if (n > len)
            n = len;
        void *d = mm_host(mm, va, MM_WRITE, NULL);
        if (!d)
            return -EFAULT;
        memcpy(d, s, n);
        s += n, va += n, len -= n;
    }
    return 0;
}

long mm_copy_str(struct mm *mm, char *dst, uint64_t va, size_t max)
{
    size_t got = 0;
    while (got < max) {
        size_t n = MM_PAGE - (va & (MM_PAGE - 1));
        if (n > max - got)
            n = max - got;
        const char *s = mm_host(mm, va, MM_READ, NULL);
        if (!s)
            return -EFAULT;
        const char *z = memchr(s, 0, n);
        if (z) {
            memcpy(dst + got, s, (size_t)(z - s) + 1);
            return (long)(got + (size_t)(z - s));
        }
        memcpy(dst + got, s, n);
        got += n, va += n;
    }
    return -ENAMETOOLONG;
}
