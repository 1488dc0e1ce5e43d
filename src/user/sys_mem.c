/*
 * Process-VM system calls on the address space: mmap, brk, mprotect, futex.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <sys/times.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "user/sys.h"

/* ---- memory ---- */

#define RV_MAP_SHARED 0x01
#define RV_MAP_FIXED 0x10
#define RV_MAP_ANONYMOUS 0x20
#define RV_MAP_FIXED_NOREPLACE 0x100000

uint64_t sys_page_up(uint64_t v)
{
    return (v + MM_PAGE - 1) & ~(MM_PAGE - 1);
}

static long map_it(struct ctx *c, uint64_t addr, uint64_t len, uint64_t off, int prot, int flags, int fd);

static long do_mmap(struct ctx *c)
{
    uint64_t addr = c->a[0], len = c->a[1], off = c->a[5];
    int prot = (int)c->a[2] & 7, flags = (int)c->a[3];
    if (!len || len > MM_USER_TOP || (off & (MM_PAGE - 1)) || (addr & (MM_PAGE - 1) && (flags & (RV_MAP_FIXED | RV_MAP_FIXED_NOREPLACE))))
        return -EINVAL;
    len = sys_page_up(len);
    int fd = -1;
    struct fdfile *file = NULL;
    if (!(flags & RV_MAP_ANONYMOUS)) {
        file = sys_file(c->p, (int64_t)c->a[4]);
        if (!file)
            return -EBADF;
        fd = file->host;
        long err = 0;
        struct stat st;
        /* Writable sharing of a file not open for writing (always so on a :ro mapping) is EACCES, mmap(2). */
        if ((flags & RV_MAP_SHARED) && (prot & MM_PROT_WRITE) && (file->ro || (fcntl(fd, F_GETFL) & O_ACCMODE) != O_RDWR))
            err = -EACCES;
        /* Other shared writable file mappings would need write-back: refused (docs/process-vm.md). */
        else if ((flags & RV_MAP_SHARED) && (prot & MM_PROT_WRITE))
            err = -ENODEV;
        else if (fstat(fd, &st) < 0)
            err = -errno;
        else if (S_ISDIR(st.st_mode))
            err = -ENODEV;
        if (err) {
            fdfile_put(file);
            return err;
        }
    }
    long ret = map_it(c, addr, len, off, prot, flags, fd);
    /* Shared and not writable through this file: mprotect(PROT_WRITE) must fail later too (mmap(2) EACCES). */
    if (ret >= 0 && file && (flags & RV_MAP_SHARED) && (file->ro || (fcntl(fd, F_GETFL) & O_ACCMODE) != O_RDWR) &&
        mm_set_nowrite(c->mm, (uint64_t)ret, len)) {
        mm_unmap(c->mm, (uint64_t)ret, len);
        ret = -ENOMEM;
    }
    fdfile_put(file);
    return ret;
}

static long map_it(struct ctx *c, uint64_t addr, uint64_t len, uint64_t off, int prot, int flags, int fd)
{
    uint64_t va;
    if (flags & (RV_MAP_FIXED | RV_MAP_FIXED_NOREPLACE)) {
        va = addr;
        /* Beyond the user range (2^38, Sv39): get_unmapped_area's ENOMEM. */
        if (va > MM_USER_TOP - len)
            return -ENOMEM;
        if ((flags & RV_MAP_FIXED_NOREPLACE) && !mm_range_free(c->mm, va, len))
            return -EEXIST;
    } else {
        va = mm_find_free(c->mm, sys_page_up(addr), len);
        if (!va)
            return -ENOMEM;
    }
    int r = mm_map(c->mm, va, len, fd < 0 ? prot : MM_PROT_READ | MM_PROT_WRITE);
    if (r)
        return r;
    if (fd >= 0) {
        /* MAP_PRIVATE (and read-only MAP_SHARED) file mappings are a copy of the file. */
        for (uint64_t a = va; a < va + len; a += MM_PAGE) {
            void *dst = mm_host(c->mm, a, MM_WRITE, NULL);
            if (!dst) {
                mm_unmap(c->mm, va, len);
                return -ENOMEM;
            }
            ssize_t got = pread(fd, dst, MM_PAGE, (off_t)(off + (a - va)));
            if (got < 0) {
                int e = errno;
                mm_unmap(c->mm, va, len);
                return -e;
            }
            if (got < (ssize_t)MM_PAGE)
                break; /* past the end of the file: zero pages */
        }
        mm_protect(c->mm, va, len, prot);
    }
    return (long)va;
}

static long do_mremap(struct ctx *c)
{
    uint64_t old = c->a[0], oldlen = sys_page_up(c->a[1]), newlen = sys_page_up(c->a[2]);
    int flags = (int)c->a[3];
    if ((old & (MM_PAGE - 1)) || !newlen)
        return -EINVAL;
    if (newlen <= oldlen) {
        if (newlen < oldlen)
            mm_unmap(c->mm, old + newlen, oldlen - newlen);
        return (long)old;
    }
    int prot = mm_page_prot(c->mm, old);
    if (prot < 0)
        return -EFAULT;
    /* mremap(2) EFAULT: every page of the old range must be mapped (checked before anything moves). */
    if (oldlen > MM_USER_TOP - old || newlen > MM_USER_TOP)
        return -EFAULT;
    for (uint64_t o = 0; o < oldlen; o += MM_PAGE)
        if (mm_page_prot(c->mm, old + o) < 0)
            return -EFAULT;
    bool nowrite = mm_is_nowrite(c->mm, old); /* the grown or moved mapping keeps the mark */
    if (mm_range_free(c->mm, old + oldlen, newlen - oldlen)) {
        int r = mm_map(c->mm, old + oldlen, newlen - oldlen, prot);
        if (!r && nowrite && (r = mm_set_nowrite(c->mm, old + oldlen, newlen - oldlen)))
            mm_unmap(c->mm, old + oldlen, newlen - oldlen);
        return r ? r : (long)old;
    }
    if (!(flags & 1 /* MREMAP_MAYMOVE */))
        return -ENOMEM;
    uint64_t nva = mm_find_free(c->mm, 0, newlen);
    if (!nva || mm_map(c->mm, nva, newlen, MM_PROT_READ | MM_PROT_WRITE))
        return -ENOMEM;
    for (uint64_t o = 0; o < oldlen; o += MM_PAGE) {
        if (mm_page_prot(c->mm, old + o) <= 0)
            continue;
        void *s = mm_host(c->mm, old + o, MM_READ, NULL);
        void *d = mm_host(c->mm, nva + o, MM_WRITE, NULL);
        if (s && d)
            memcpy(d, s, MM_PAGE);
    }
    mm_protect(c->mm, nva, newlen, prot);
    if (nowrite && mm_set_nowrite(c->mm, nva, newlen)) {
        mm_unmap(c->mm, nva, newlen);
        return -ENOMEM;
    }
    mm_unmap(c->mm, old, oldlen);
    return (long)nva;
}

static long do_brk(struct ctx *c)
{
    struct mm *mm = c->mm;
    uint64_t want = c->a[0];
    if (want < mm->brk_start || want > mm->brk_start + (1ull << 40))
        return (long)mm->brk_end;
    uint64_t cur = sys_page_up(mm->brk_end), next = sys_page_up(want);
    if (next > cur) {
        if (!mm_range_free(mm, cur, next - cur) ||
            mm_map(mm, cur, next - cur, MM_PROT_READ | MM_PROT_WRITE))
            return (long)mm->brk_end;
    } else if (next < cur) {
        mm_unmap(mm, next, cur - next);
    }
    mm->brk_end = want;
    return (long)want;
}

static long do_madvise(struct ctx *c)
{
    uint64_t va = c->a[0], len = c->a[1];
    /* madvise(2) EINVAL: an unaligned start, or a range that wraps or leaves user space. */
    if ((va & (MM_PAGE - 1)) || len > MM_USER_TOP || va + sys_page_up(len) < va)
        return -EINVAL;
    len = sys_page_up(len);
    /* MADV_DONTNEED on private anonymous memory: the pages read back as zero. */
    if (c->a[2] == MADV_DONTNEED && len) {
        for (uint64_t a = va; a < va + len;) {
            a = mm_next_mapped(c->mm, a, va + len - a); /* unmapped stretches at once */
            if (!a)
                break;
            int prot = mm_page_prot(c->mm, a);
            bool nowrite = mm_is_nowrite(c->mm, a);
            /* A run of pages alike is mapped afresh at once (each mm_map is a host mmap). */
            uint64_t end = a + MM_PAGE;
            while (end < va + len && mm_page_prot(c->mm, end) == prot && mm_is_nowrite(c->mm, end) == nowrite)
                end += MM_PAGE;
            if (prot > 0 && !mm_map(c->mm, a, end - a, prot) && nowrite)
                mm_set_nowrite(c->mm, a, end - a);
            a = end;
        }
    }
    return 0;
}

/* ---- futex ---- */

static long do_futex(struct ctx *c)
{
    int op = (int)c->a[1];
    int cmd = op & FUTEX_CMD_MASK;
    uint64_t ua = c->a[0];
    if (ua & 3)
        return -EINVAL;
    uint32_t *w = mm_host(c->mm, ua, MM_READ, NULL);
    if (!w)
        return -EFAULT;
    /* All guest threads live in this host process: private host futexes on the guest words. */
    int hop = cmd | FUTEX_PRIVATE_FLAG | (op & FUTEX_CLOCK_REALTIME);
    struct timespec ts, *tsp = NULL;
    uint32_t *w2 = NULL;
    switch (cmd) {
    case FUTEX_WAIT:
    case FUTEX_WAIT_BITSET:
        if (c->a[3]) {
            if (mm_copy_in(c->mm, &ts, c->a[3], sizeof(ts)))
                return -EFAULT;
            tsp = &ts;
        }
        return sys_ret(syscall(SYS_futex, w, hop, (uint32_t)c->a[2], tsp, NULL, (uint32_t)c->a[5]));
    case FUTEX_WAKE:
    case FUTEX_WAKE_BITSET:
        return sys_ret(syscall(SYS_futex, w, hop, (uint32_t)c->a[2], NULL, NULL, (uint32_t)c->a[5]));
    case FUTEX_REQUEUE:
    case FUTEX_CMP_REQUEUE:
    case FUTEX_WAKE_OP:
        if (c->a[4] & 3)
            return -EINVAL;
        w2 = mm_host(c->mm, c->a[4], cmd == FUTEX_WAKE_OP ? MM_WRITE : MM_READ, NULL);
        if (!w2)
            return -EFAULT;
        return sys_ret(syscall(SYS_futex, w, hop, (uint32_t)c->a[2], (void *)(uintptr_t)c->a[3], w2,
                            (uint32_t)c->a[5]));
    default:
        return -ENOSYS;
    }
}

/* Address-space system calls; SYS_UNHANDLED for numbers that are not this file's. */
long sys_mem(struct ctx *c, unsigned nr)
{
    struct proc *p = c->p;
    uint64_t *a = c->a;
    (void)p;
    (void)a;
    switch (nr) {
    case RV_NR_madvise: return do_madvise(c);
    case RV_NR_brk: return do_brk(c);
    case RV_NR_mmap: return do_mmap(c);
    case RV_NR_munmap:
        if (a[0] & (MM_PAGE - 1) || !a[1])
            return -EINVAL;
        return mm_unmap(c->mm, a[0], sys_page_up(a[1]));
    case RV_NR_mprotect:
        if (a[0] & (MM_PAGE - 1))
            return -EINVAL;
        if (!a[1])
            return 0;
        return mm_protect(c->mm, a[0], sys_page_up(a[1]), (int)a[2] & 7);
    case RV_NR_mremap: return do_mremap(c);
    case RV_NR_futex: return do_futex(c);
    default:
        return SYS_UNHANDLED;
    }
}
