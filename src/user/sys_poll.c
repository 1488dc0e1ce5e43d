/*
 * Waiting on guest descriptors: ppoll, pselect6, epoll_create1/ctl/pwait(2)
 * and eventfd2, all on the process's descriptor table (fdtable.h). Guest
 * numbers are translated to host descriptors for the wait and back for the
 * answer; every structure is copied at its riscv64 size (struct epoll_event
 * is 16 bytes there, 12 and packed on x86-64). Blocking waits run in slices
 * so a signal for the guest ends them with EINTR, as the kernel does (see
 * signal(7), "Interruption of system calls").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "user/sys.h"

#define SLICE_MS 50
#define EPOLL_BATCH 256

/* A signal the guest would take now (not blocked, not ignored): ends a wait with EINTR. */
static bool interrupted(struct ctx *c)
{
    uint64_t pend = (atomic_load(&c->t->sigpending) | atomic_load(&c->p->host_pending)) & ~c->t->sigmask;
    for (int sig = 1; sig <= PROC_NSIG && pend; sig++) {
        if (!(pend & (1ull << sig)))
            continue;
        uint64_t h = c->p->sigact[sig].handler;
        if (h > 1 || (h == 0 && !proc_sig_default_ignored(sig)))
            return true;
    }
    return false;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Guest timespec at va (0: none) as nanoseconds, -1 for "forever". */
static long get_timeout(struct ctx *c, uint64_t va, int64_t *ns)
{
    *ns = -1;
    if (!va)
        return 0;
    int64_t ts[2];
    if (mm_copy_in(c->mm, ts, va, sizeof(ts)))
        return -EFAULT;
    if (ts[0] < 0 || ts[1] < 0 || ts[1] >= 1000000000)
        return -EINVAL;
    *ns = ts[0] > INT64_MAX / 1000000000 - 1 ? INT64_MAX : ts[0] * 1000000000 + ts[1];
    return 0;
}

/* Writes the time left back, as ppoll(2) and pselect6 do. */
static void put_left(struct ctx *c, uint64_t va, int64_t deadline)
{
    if (!va || deadline == INT64_MAX)
        return;
    int64_t left = deadline - now_ns();
    if (left < 0)
        left = 0;
    int64_t ts[2] = {left / 1000000000, left % 1000000000};
    mm_copy_out(c->mm, va, ts, sizeof(ts));
}

/*
 * Runs wait(arg, ms) in slices until it reports something, the deadline
 * (absolute ns, INT64_MAX for none) passes, a signal arrives, or the thread
 * was ended (t->exited: execve's PROC_SIG_ZAP cuts the host wait short) (-EINTR).
 */
static long wait_sliced(struct ctx *c, long (*wait)(void *, int), void *arg, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline == INT64_MAX ? SLICE_MS * 1000000ll : deadline - now_ns();
        if (left < 0)
            left = 0;
        int ms = left >= SLICE_MS * 1000000ll ? SLICE_MS : (int)((left + 999999) / 1000000);
        long r = wait(arg, ms);
        if (r != 0 && r != -EINTR)
            return r;
        /* An execve in another thread (or the process's end) has ended this thread: leave now. */
        if (c->t->exited || interrupted(c))
            return -EINTR;
        if (deadline != INT64_MAX && now_ns() >= deadline)
            return 0;
    }
}

static int64_t deadline_of(int64_t ns)
{
    if (ns < 0)
        return INT64_MAX;
    int64_t now = now_ns();
    return ns > INT64_MAX - now ? INT64_MAX : now + ns;
}

/* ---- poll and select ---- */

/* Host pollfds for guest descriptors, holding a reference to each file while it waits. */
struct pollset {
    struct pollfd *pf;
    struct fdfile **f;
    nfds_t n;
    int bad; /* guest numbers that are not open: POLLNVAL (poll) or EBADF (select) */
};

static int pollset_init(struct pollset *s, nfds_t n)
{
    s->n = n;
    s->bad = 0;
    s->pf = calloc(n ? n : 1, sizeof(*s->pf));
    s->f = calloc(n ? n : 1, sizeof(*s->f));
    return s->pf && s->f ? 0 : -ENOMEM;
}

/* Slot i waits on guest fd (negative: ignored, as poll(2) does). */
static void pollset_set(struct pollset *s, struct proc *p, nfds_t i, int fd, short events)
{
    s->pf[i] = (struct pollfd){.fd = -1, .events = events};
    if (fd < 0)
        return;
    s->f[i] = sys_file(p, fd);
    if (s->f[i])
        s->pf[i].fd = s->f[i]->host;
    else
        s->bad++;
}

static void pollset_free(struct pollset *s)
{
    for (nfds_t i = 0; s->f && i < s->n; i++)
        fdfile_put(s->f[i]);
    free(s->pf);
    free(s->f);
}

static long poll_wait(void *arg, int ms)
{
    struct pollset *s = arg;
    int r = poll(s->pf, s->n, ms);
    return r < 0 ? -errno : r;
}

static long poll_count(struct pollset *s, int64_t deadline, struct ctx *c)
{
    long r = wait_sliced(c, poll_wait, s, s->bad ? 0 : deadline);
    if (r < 0)
        return r;
    long n = 0;
    for (nfds_t i = 0; i < s->n; i++)
        n += s->pf[i].revents != 0;
    return n;
}

/* ppoll(fds, nfds, tsp, sigmask, sigsetsize); struct pollfd is 8 bytes on both sides. The mask is not applied. */
static long do_ppoll(struct ctx *c)
{
    uint64_t n = c->a[1];
    if (n > PROC_FD_MAX)
        return -EINVAL;
    int64_t ns;
    long r = get_timeout(c, c->a[2], &ns);
    if (r)
        return r;
    struct pollfd *g = calloc(n ? n : 1, sizeof(*g));
    struct pollset s = {0};
    if (!g || pollset_init(&s, n)) {
        free(g);
        pollset_free(&s);
        return -ENOMEM;
    }
    if (n && mm_copy_in(c->mm, g, c->a[0], n * sizeof(*g))) {
        r = -EFAULT;
        goto out;
    }
    for (nfds_t i = 0; i < n; i++)
        pollset_set(&s, c->p, i, g[i].fd, g[i].events);
    int64_t deadline = deadline_of(ns);
    r = poll_count(&s, deadline, c);
    if (r < 0)
        goto out;
    for (nfds_t i = 0; i < n; i++) {
        g[i].revents = s.pf[i].revents;
        if (g[i].fd >= 0 && !s.f[i]) {
            g[i].revents = POLLNVAL;
            r++;
        }
    }
    if (n && mm_copy_out(c->mm, c->a[0], g, n * sizeof(*g)))
        r = -EFAULT;
    else
        put_left(c, c->a[2], deadline);
out:
    free(g);
    pollset_free(&s);
    return r;
}

#define SEL_IN (POLLIN | POLLRDNORM | POLLRDBAND | POLLHUP | POLLERR)
#define SEL_OUT (POLLOUT | POLLWRNORM | POLLWRBAND | POLLERR)
#define SEL_EX POLLPRI

/* pselect6(n, in, out, ex, tsp, sigmask): fd_set is an array of 64-bit words on riscv64, as on x86-64. */
static long do_pselect6(struct ctx *c)
{
    int64_t n = (int32_t)c->a[0];
    if (n < 0)
        return -EINVAL;
    if (n > PROC_FD_MAX)
        n = PROC_FD_MAX;
    size_t words = (size_t)(n + 63) / 64, bytes = words * 8;
    uint64_t set[3][PROC_FD_MAX / 64], res[3][PROC_FD_MAX / 64];
    memset(set, 0, sizeof(set));
    memset(res, 0, sizeof(res));
    for (int k = 0; k < 3; k++)
        if (c->a[1 + k] && bytes && mm_copy_in(c->mm, set[k], c->a[1 + k], bytes))
            return -EFAULT;
    int64_t ns;
    long r = get_timeout(c, c->a[4], &ns);
    if (r)
        return r;
    nfds_t cnt = 0;
    for (int64_t fd = 0; fd < n; fd++)
        if ((set[0][fd / 64] | set[1][fd / 64] | set[2][fd / 64]) >> (fd % 64) & 1)
            cnt++;
    struct pollset s = {0};
    int *gfd = calloc(cnt ? cnt : 1, sizeof(int));
    if (!gfd || pollset_init(&s, cnt)) {
        free(gfd);
        pollset_free(&s);
        return -ENOMEM;
    }
    nfds_t i = 0;
    for (int64_t fd = 0; fd < n; fd++) {
        uint64_t bit = 1ull << (fd % 64);
        short ev = (short)((set[0][fd / 64] & bit ? SEL_IN : 0) | (set[1][fd / 64] & bit ? SEL_OUT : 0) |
                           (set[2][fd / 64] & bit ? SEL_EX : 0));
        if (ev) {
            gfd[i] = (int)fd;
            pollset_set(&s, c->p, i++, (int)fd, ev);
        }
    }
    int64_t deadline = deadline_of(ns);
    if (s.bad) {
        r = -EBADF;
        goto out;
    }
    r = poll_count(&s, deadline, c);
    if (r < 0)
        goto out;
    r = 0;
    for (i = 0; i < cnt; i++) {
        int fd = gfd[i];
        uint64_t bit = 1ull << (fd % 64);
        short rev = s.pf[i].revents;
        if ((set[0][fd / 64] & bit) && (rev & SEL_IN))
            res[0][fd / 64] |= bit, r++;
        if ((set[1][fd / 64] & bit) && (rev & SEL_OUT))
            res[1][fd / 64] |= bit, r++;
        if ((set[2][fd / 64] & bit) && (rev & SEL_EX))
            res[2][fd / 64] |= bit, r++;
    }
    for (int k = 0; k < 3; k++)
        if (c->a[1 + k] && bytes && mm_copy_out(c->mm, c->a[1 + k], res[k], bytes))
            r = -EFAULT;
    if (r >= 0)
        put_left(c, c->a[4], deadline);
out:
    free(gfd);
    pollset_free(&s);
    return r;
}

/* ---- epoll and eventfd ---- */

/* riscv64's struct epoll_event: u32 events, 4 bytes of padding, u64 data (16 bytes). */
struct rv_epoll_event {
    uint32_t events;
    uint32_t pad;
    uint64_t data;
};

static long do_epoll_create1(struct ctx *c)
{
    int flags = (int)c->a[0];
    if (flags & ~EPOLL_CLOEXEC)
        return -EINVAL;
    return sys_fd_new(c->p, sys_ret(epoll_create1(EPOLL_CLOEXEC)), FD_EPOLL, false, NULL,
                      flags & EPOLL_CLOEXEC);
}

static long do_epoll_ctl(struct ctx *c)
{
    int op = (int)c->a[1];
    struct rv_epoll_event ge = {0};
    if (op != EPOLL_CTL_DEL && mm_copy_in(c->mm, &ge, c->a[3], sizeof(ge)))
        return -EFAULT;
    struct fdfile *ep = sys_file(c->p, (int64_t)c->a[0]);
    struct fdfile *f = sys_file(c->p, (int64_t)c->a[2]);
    long r;
    if (!ep || !f)
        r = -EBADF;
    else if (ep->kind != FD_EPOLL || ep == f)
        r = -EINVAL;
    else {
        struct epoll_event he = {.events = ge.events, .data.u64 = ge.data};
        r = sys_ret(epoll_ctl(ep->host, op, f->host, &he));
    }
    fdfile_put(ep);
    fdfile_put(f);
    return r;
}

struct epwait {
    int ep;
    struct epoll_event *ev;
    int max;
    int got;
};

static long epoll_wait_fn(void *arg, int ms)
{
    struct epwait *w = arg;
    w->got = epoll_wait(w->ep, w->ev, w->max, ms);
    return w->got < 0 ? -errno : w->got;
}

/* epoll_pwait(epfd, events, maxevents, timeout ms, sigmask, size) and epoll_pwait2 (timespec). The mask is not applied. */
static long do_epoll_pwait(struct ctx *c, bool ts)
{
    int max = (int)c->a[2];
    if (max <= 0)
        return -EINVAL;
    int64_t ns = -1;
    if (ts) {
        long r = get_timeout(c, c->a[3], &ns);
        if (r)
            return r;
    } else if ((int)c->a[3] >= 0) {
        ns = (int64_t)(int)c->a[3] * 1000000;
    }
    struct fdfile *ep = sys_file(c->p, (int64_t)c->a[0]);
    if (!ep)
        return -EBADF;
    struct epoll_event ev[EPOLL_BATCH];
    struct epwait w = {.ep = ep->host, .ev = ev, .max = max < EPOLL_BATCH ? max : EPOLL_BATCH};
    long r = ep->kind != FD_EPOLL ? -EINVAL : wait_sliced(c, epoll_wait_fn, &w, deadline_of(ns));
    fdfile_put(ep);
    for (long i = 0; i < r; i++) {
        struct rv_epoll_event ge = {.events = ev[i].events, .data = ev[i].data.u64};
        if (mm_copy_out(c->mm, c->a[1] + (uint64_t)i * sizeof(ge), &ge, sizeof(ge)))
            return -EFAULT;
    }
    return r;
}

static long do_eventfd2(struct ctx *c)
{
    int flags = (int)c->a[1];
    if (flags & ~(EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE))
        return -EINVAL;
    return sys_fd_new(c->p, sys_ret(eventfd((unsigned)c->a[0], (flags & ~EFD_CLOEXEC) | EFD_CLOEXEC)),
                      FD_EVENTFD, false, NULL, flags & EFD_CLOEXEC);
}

/* Waiting system calls; SYS_UNHANDLED for numbers that are not this file's. */
long sys_poll(struct ctx *c, unsigned nr)
{
    switch (nr) {
    case RV_NR_ppoll: return do_ppoll(c);
    case RV_NR_pselect6: return do_pselect6(c);
    case RV_NR_epoll_create1: return do_epoll_create1(c);
    case RV_NR_epoll_ctl: return do_epoll_ctl(c);
    case RV_NR_epoll_pwait: return do_epoll_pwait(c, false);
    case RV_NR_epoll_pwait2: return do_epoll_pwait(c, true);
    case RV_NR_eventfd2: return do_eventfd2(c);
    default: return SYS_UNHANDLED;
    }
}
