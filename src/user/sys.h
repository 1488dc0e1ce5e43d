/*
 * What the process-VM system-call files (syscall.c, sys_*.c) share: the call
 * context and the helpers every area needs to reach guest descriptors, paths
 * and buffers. Internal to src/user/.
 */
#ifndef KILN_USER_SYS_H
#define KILN_USER_SYS_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <time.h>

#include "user/proc.h"

#define IOV_PAGES 1024
#define RV_AT_FDCWD (-100)
#define RV_AT_SYMLINK_NOFOLLOW 0x100
#define RV_AT_REMOVEDIR 0x200
#define RV_AT_EMPTY_PATH 0x1000
#define RV_O_CLOEXEC 02000000 /* asm-generic fcntl.h, the same as x86-64 */

/* An area dispatcher's answer for a number it does not implement. */
#define SYS_UNHANDLED LONG_MIN

struct ctx {
    struct uthread *t;
    struct proc *p;
    struct mm *mm;
    uint64_t a[6];
};

/* Area dispatchers. */
long sys_fs(struct ctx *c, unsigned nr);
long sys_mem(struct ctx *c, unsigned nr);
long sys_proc(struct ctx *c, unsigned nr);
long sys_net(struct ctx *c, unsigned nr);
long sys_poll(struct ctx *c, unsigned nr);

/* A host call's result as the guest sees it: r, or -errno when r < 0. */
long sys_ret(long r);
/* The open file behind guest fd with a new reference (fdfile_put it), or NULL: EBADF. */
struct fdfile *sys_file(struct proc *p, int64_t fd);
/*
 * Installs a host descriptor just made for the guest (host < 0: returned as
 * the error) at the lowest free guest number: the guest fd, or -errno with
 * host closed. ro: opened on a read-only mapping; path: its guest path or NULL.
 */
long sys_fd_new(struct proc *p, int host, enum fd_kind kind, bool ro, const char *path, bool cloexec);
/* Guest path argument resolved against dirfd (or cwd) into abs (GPATH_MAX bytes). */
int sys_path(struct ctx *c, int64_t dirfd, uint64_t va, char *abs, bool empty_ok);
/* True when a normalized guest path lies on a read-only mapping. */
bool sys_path_ro(struct proc *p, const char *abs);
/* Guest range [va, va+len) as per-page host iovecs appended at iov[*n]; bytes covered or -EFAULT. */
long sys_iov(struct ctx *c, uint64_t va, uint64_t len, enum mm_access acc, struct iovec *iov,
             int *n, int max);
long sys_put_ts(struct ctx *c, uint64_t va, const struct timespec *ts);
uint64_t sys_page_up(uint64_t v);

#endif
