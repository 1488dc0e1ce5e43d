/*
 * Linux system calls for process VMs: riscv64 numbers (asm-generic unistd.h),
 * a7 = number, a0-a5 = arguments, a0 = result or -errno. Each area has its own
 * file (sys_fs.c, sys_poll.c, sys_mem.c, sys_proc.c, sys_net.c) with a dispatcher that answers
 * SYS_UNHANDLED for numbers it does not own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>

#include "user/sys.h"

static const char *const sys_names[RV_NR_MAX] = {RV_SYSCALL_NAMES};

static long unsupported(struct ctx *c, unsigned nr)
{
    if (nr < RV_NR_MAX && !atomic_exchange(&c->p->warned[nr], true))
        fprintf(stderr, "kiln exec: unsupported syscall %u (%s)\n", nr,
                sys_names[nr] ? sys_names[nr] : "?");
    else if (nr >= RV_NR_MAX && !atomic_exchange(&c->p->warned[0], true))
        fprintf(stderr, "kiln exec: unsupported syscall %u (?)\n", nr);
    return -ENOSYS;
}

static long dispatch(struct ctx *c, unsigned nr)
{
    static long (*const areas[])(struct ctx *, unsigned) = {sys_fs, sys_poll, sys_mem, sys_proc, sys_net};
    for (size_t i = 0; i < sizeof(areas) / sizeof(areas[0]); i++) {
        long r = areas[i](c, nr);
        if (r != SYS_UNHANDLED)
            return r;
    }
    switch (nr) {
    case RV_NR_membarrier: case RV_NR_clone3: case RV_NR_io_uring_setup: case RV_NR_pidfd_open:
        return -ENOSYS; /* libraries probe these and fall back quietly */
    default:
        return unsupported(c, nr);
    }
}

void proc_syscall(struct uthread *t)
{
    struct hart *h = &t->hart;
    struct ctx c = {.t = t, .p = t->p, .mm = &t->p->mm};
    for (int i = 0; i < 6; i++)
        c.a[i] = h->x[10 + i];
    unsigned nr = (unsigned)h->x[17];
    if (nr == RV_NR_rt_sigreturn) {
        proc_sigreturn(t);
    } else {
        long r = dispatch(&c, nr);
        if (t->exited)
            return;
        h->x[10] = (uint64_t)r;
        h->pc += 4;
    }
    if (atomic_load(&t->sigpending) || atomic_load(&t->p->host_pending))
        proc_deliver_signals(t);
}
