#include "user/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cpu/exec.h"
#include "cpu/mmu.h"
#include "cpu/trap.h"
#include "user/elf.h"

/* Instructions per batch between looks at exit, TLB shootdowns and host signals. */
#define PROC_BATCH 65536
#define CLONE_VM 0x100
#define CLONE_VFORK 0x4000
#define CLONE_THREAD 0x10000
#define CLONE_SETTLS 0x80000
#define CLONE_PARENT_SETTID 0x100000
#define CLONE_CHILD_CLEARTID 0x200000
#define CLONE_CHILD_SETTID 0x1000000

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return code;
}

static void proc_trap(struct hart *h, uint64_t cause, uint64_t tval)
{
    struct uthread *t = (struct uthread *)h;
    switch (cause) {
    case EXC_ECALL_U:
        proc_syscall(t);
        break;
    case EXC_INSN_PAGE_FAULT:
    case EXC_LOAD_PAGE_FAULT:
    case EXC_STORE_PAGE_FAULT: {
        enum mm_access acc = cause == EXC_INSN_PAGE_FAULT ? MM_EXEC
                             : cause == EXC_STORE_PAGE_FAULT ? MM_WRITE
                                                             : MM_READ;
        int err = 0;
        /* Demand paging: a mapped page allowing the access gets its frame and the insn retries. */
        if (mm_host(&t->p->mm, tval, acc, &err))
            return;
        if (err == -ENOMEM) {
            fprintf(stderr, "kiln exec: out of guest memory (--mem) at 0x%llx\n",
                    (unsigned long long)tval);
            proc_force_signal(t, SIGBUS, 2 /* BUS_ADRERR */, tval);
        } else {
            int prot = mm_page_prot(&t->p->mm, tval);
            proc_force_signal(t, SIGSEGV, prot < 0 ? 1 /* SEGV_MAPERR */ : 2 /* SEGV_ACCERR */, tval);
        }
        break;
    }
    case EXC_INSN_ACCESS:
    case EXC_LOAD_ACCESS:
    case EXC_STORE_ACCESS:
        proc_force_signal(t, SIGSEGV, 2, tval);
        break;
    case EXC_INSN_MISALIGNED:
    case EXC_LOAD_MISALIGNED:
    case EXC_STORE_MISALIGNED:
        proc_force_signal(t, SIGBUS, 1 /* BUS_ADRALN */, tval);
        break;
    case EXC_ILLEGAL_INSN:
        proc_force_signal(t, SIGILL, 1 /* ILL_ILLOPC */, h->pc);
        break;
    case EXC_BREAKPOINT:
        proc_force_signal(t, SIGTRAP, 1 /* TRAP_BRKPT */, h->pc);
        break;
    default:
        proc_force_signal(t, SIGILL, 0, h->pc);
        break;
    }
    unsigned gen = atomic_load(&t->p->mm.tlb_gen);
    if (gen != t->tlb_gen) {
        t->tlb_gen = gen;
        hart_tlb_flush(h);
        hart_code_flush(h); /* frames may now hold other code */
    }
    if (t->exited || atomic_load(&t->p->vm.stop))
        h->budget = 0;
}

static void *thread_main(void *arg)
{
    struct uthread *t = arg;
    struct proc *p = t->p;
    struct hart *h = &t->hart;
    while (!t->exited && !atomic_load_explicit(&p->vm.stop, memory_order_relaxed)) {
        unsigned gen = atomic_load_explicit(&p->mm.tlb_gen, memory_order_acquire);
        if (gen != t->tlb_gen) {
            t->tlb_gen = gen;
            hart_tlb_flush(h);
            hart_code_flush(h); /* frames may now hold other code */
        }
        if (atomic_load_explicit(&t->sigpending, memory_order_relaxed) ||
            atomic_load_explicit(&p->host_pending, memory_order_relaxed))
            proc_deliver_signals(t);
        h->budget = PROC_BATCH;
        hart_exec(h);
    }
    return NULL;
}

static struct uthread *thread_new(struct proc *p, int tid)
{
    struct uthread *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    if (hart_init(&t->hart, vm_bus(&p->vm), (unsigned)tid)) {
        free(t);
        return NULL;
    }
    t->p = p;
    t->tid = tid;
    pthread_mutex_lock(&p->lock);
    unsigned slot = PROC_MAX_THREADS;
    for (unsigned i = 0; i < PROC_MAX_THREADS; i++) {
        if (!p->threads[i]) {
            slot = i;
            break;
        }
    }
    if (slot < PROC_MAX_THREADS)
        p->threads[slot] = t;
    pthread_mutex_unlock(&p->lock);
    if (slot == PROC_MAX_THREADS) {
        hart_destroy(&t->hart);
        free(t);
        return NULL;
    }
    atomic_fetch_add(&p->live_threads, 1);
    return t;
}

struct uthread *proc_find_thread(struct proc *p, int tid)
{
    struct uthread *found = NULL;
    pthread_mutex_lock(&p->lock);
    for (unsigned i = 0; i < PROC_MAX_THREADS; i++)
        if (p->threads[i] && p->threads[i]->tid == tid && !p->threads[i]->exited)
            found = p->threads[i];
    pthread_mutex_unlock(&p->lock);
    return found;
}

static void user_mode(struct hart *h, struct mm *mm)
{
    h->satp = mm_satp(mm);
    h->mstatus |= MSTATUS_FS; /* F and D on */
    h->mcounteren = h->scounteren = 7; /* rdcycle, rdtime, rdinstret from U */
    hart_set_priv(h, PRIV_U);
    mmu_update_keys(h);
    hart_tlb_flush(h);
}

static int open_interp(struct proc *p, const char *interp)
{
    char abs[GPATH_MAX];
    if (path_normalize("/", interp, abs, sizeof(abs)) == 0) {
        int fd = mounts_open(&p->mounts, abs, O_RDONLY, 0);
        if (fd >= 0)
            return fd;
    }
    /* Not visible in the guest's mounts: take it from the sysroot. */
    char path[GPATH_MAX * 2];
    snprintf(path, sizeof(path), "%s/%s", p->cfg.sysroot ? p->cfg.sysroot : "", interp);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int proc_create(struct proc *p, const struct proc_config *cfg, struct mounts *mounts, char *err,
                size_t errlen)
{
    memset(p, 0, sizeof(*p));
    p->cfg = *cfg;
    p->mounts = *mounts;
    pthread_mutex_init(&p->lock, NULL);
    sem_init(&p->done, 0, 0);
    p->pid = getpid();
    atomic_store(&p->next_tid, p->pid + 1);
    int rc = vm_init_at(&p->vm, PROC_RAM_BASE, cfg->mem);
    if (rc)
        return fail(err, errlen, rc, "cannot reserve %llu bytes of guest RAM: %s",
                    (unsigned long long)cfg->mem, strerror(-rc));
    p->vm.user_trap = proc_trap;
    p->vm.user = p;
    rc = mm_init(&p->mm, &p->vm, PROC_RAM_BASE, cfg->mem);
    if (rc)
        return fail(err, errlen, rc, "cannot set up guest memory: %s", strerror(-rc));
    p->mm.mmap_top = PROC_STACK_TOP - PROC_STACK_SIZE - 16 * MM_PAGE;

    int fd = cfg->prog_fd >= 0 ? cfg->prog_fd : open(cfg->prog_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(err, errlen, -errno, "%s: %s", cfg->execfn, strerror(errno));
    struct elf_image prog, interp;
    char why[200];
    rc = elf_load(&p->mm, fd, PROC_PIE_BASE, &prog, why, sizeof(why));
    close(fd);
    if (rc)
        return fail(err, errlen, rc, "%s: %s", cfg->execfn, why);
    uint64_t entry = prog.entry, base = 0;
    if (prog.interp[0]) {
        int ifd = open_interp(p, prog.interp);
        if (ifd < 0)
            return fail(err, errlen, ifd, "%s: interpreter %s: %s (try --sysroot)", cfg->execfn,
                        prog.interp, strerror(-ifd));
        rc = elf_load(&p->mm, ifd, 0, &interp, why, sizeof(why));
        close(ifd);
        if (rc)
            return fail(err, errlen, rc, "%s: interpreter %s: %s", cfg->execfn, prog.interp, why);
        entry = interp.entry;
        base = interp.bias;
    }
    p->mm.brk_start = p->mm.brk_end = prog.end;

    /* Sigreturn trampoline (there is no VDSO): li a7, 139; ecall. */
    p->tramp = mm_find_free(&p->mm, 0, MM_PAGE);
    static const uint32_t tramp[] = {0x08b00893, 0x00000073};
    if (!p->tramp || mm_map(&p->mm, p->tramp, MM_PAGE, MM_PROT_READ | MM_PROT_WRITE) ||
        mm_copy_out(&p->mm, p->tramp, tramp, sizeof(tramp)) ||
        mm_protect(&p->mm, p->tramp, MM_PAGE, MM_PROT_READ | MM_PROT_EXEC))
        return fail(err, errlen, -ENOMEM, "out of guest memory");

    /* Stack: demand-zero, 8 MiB like the default RLIMIT_STACK. */
    rc = mm_map(&p->mm, PROC_STACK_TOP - PROC_STACK_SIZE, PROC_STACK_SIZE,
                MM_PROT_READ | MM_PROT_WRITE);
    if (rc)
        return fail(err, errlen, rc, "out of guest memory for the stack (--mem too small)");
    uint8_t random16[16];
    if (getrandom(random16, sizeof(random16), 0) != sizeof(random16))
        memset(random16, 0x5a, sizeof(random16));
#define HWCAP(c) (1ull << ((c) - 'A'))
    struct auxv auxv[] = {
        {AT_HWCAP, HWCAP('I') | HWCAP('M') | HWCAP('A') | HWCAP('F') | HWCAP('D') | HWCAP('C')},
        {AT_PAGESZ, MM_PAGE},
        {AT_CLKTCK, 100},
        {AT_PHDR, prog.phdr},
        {AT_PHENT, prog.phent},
        {AT_PHNUM, prog.phnum},
        {AT_BASE, base},
        {AT_FLAGS, 0},
        {AT_ENTRY, prog.entry},
        {AT_UID, getuid()},
        {AT_EUID, geteuid()},
        {AT_GID, getgid()},
        {AT_EGID, getegid()},
        {AT_SECURE, 0},
        {AT_RANDOM, 0},
        {AT_EXECFN, 0},
        {AT_PLATFORM, 0},
        {AT_NULL, 0},
    };
    size_t bufsize = 1u << 20;
    uint8_t *buf = malloc(bufsize);
    uint64_t sp = 0;
    rc = buf ? elf_build_stack(buf, bufsize, PROC_STACK_TOP, cfg->argv, cfg->envp, cfg->execfn,
                               "riscv64", random16, auxv, &sp)
             : -ENOMEM;
    if (!rc)
        rc = mm_copy_out(&p->mm, sp, buf + bufsize - (PROC_STACK_TOP - sp), PROC_STACK_TOP - sp);
    free(buf);
    if (rc)
        return fail(err, errlen, rc, "arguments and environment too large for the stack");

    struct uthread *t = thread_new(p, p->pid);
    if (!t)
        return fail(err, errlen, -ENOMEM, "cannot create the main thread");
    hart_reset(&t->hart, entry);
    user_mode(&t->hart, &p->mm);
    t->hart.x[2] = sp;
    strcpy(p->cwd, "/");
    char here[GPATH_MAX];
    /* Start where the user is, if that directory is mapped. */
    if (getcwd(here, sizeof(here))) {
        const char *rel;
        int i = mounts_find(&p->mounts, here, &rel);
        if (i >= 0 && strcmp(p->mounts.m[i].guest, "/"))
            snprintf(p->cwd, sizeof(p->cwd), "%s", here);
    }
    for (int s = 1; s <= PROC_NSIG; s++)
        p->sigact[s].handler = 0; /* SIG_DFL */
    return 0;
}

void proc_adopt_fds(struct proc *p)
{
    for (int fd = 0; fd < PROC_FD_MAX; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            atomic_store(&p->fdown[fd], true);
}

int proc_start(struct proc *p)
{
    proc_install_host_signals(p);
    struct uthread *t = p->threads[0];
    int err = pthread_create(&t->thread, NULL, thread_main, t);
    return -err;
}

int proc_wait(struct proc *p, double timeout_s)
{
    if (timeout_s > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        double end = (double)ts.tv_sec + ts.tv_nsec / 1e9 + timeout_s;
        ts.tv_sec = (time_t)end;
        ts.tv_nsec = (long)((end - (double)ts.tv_sec) * 1e9);
        while (sem_timedwait(&p->done, &ts) < 0) {
            if (errno == ETIMEDOUT)
                return -ETIMEDOUT;
        }
    } else {
        while (sem_wait(&p->done) < 0)
            ;
    }
    return p->exit_status;
}

void proc_exit(struct proc *p, int status, int sig)
{
    if (atomic_exchange(&p->exiting, 1))
        return;
    fflush(stdout);
    if (p->forked) {
        /* A fork child: its parent's wait4 should see the real termination. */
        if (sig) {
            signal(sig, SIG_DFL);
            sigset_t s;
            sigemptyset(&s);
            sigaddset(&s, sig);
            pthread_sigmask(SIG_UNBLOCK, &s, NULL);
            kill(getpid(), sig);
        }
        _exit(status);
    }
    p->exit_status = sig ? 128 + sig : status;
    atomic_store(&p->vm.stop, 1);
    sem_post(&p->done);
}

void proc_thread_exit(struct uthread *t, int status)
{
    struct proc *p = t->p;
    if (t->clear_child_tid) {
        /* CLONE_CHILD_CLEARTID: zero the tid word and wake one futex waiter (pthread_join). */
        uint32_t *w = mm_host(&p->mm, t->clear_child_tid, MM_WRITE, NULL);
        if (w && !((uintptr_t)w & 3)) {
            __atomic_store_n(w, 0, __ATOMIC_SEQ_CST);
            syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
        }
    }
    t->exited = true;
    t->hart.budget = 0;
    if (atomic_fetch_sub(&p->live_threads, 1) == 1)
        proc_exit(p, status, 0);
}

static void *child_thread_main(void *arg)
{
    struct uthread *t = arg;
    thread_main(t);
    pthread_mutex_lock(&t->p->lock);
    for (unsigned i = 0; i < PROC_MAX_THREADS; i++)
        if (t->p->threads[i] == t)
            t->p->threads[i] = NULL;
    pthread_mutex_unlock(&t->p->lock);
    hart_destroy(&t->hart);
    free(t);
    return NULL;
}

static long do_fork(struct uthread *t, uint64_t flags, uint64_t newsp, uint64_t ptid, uint64_t ctid)
{
    struct proc *p = t->p;
    fflush(stdout);
    fflush(stderr);
    /* Hold the locks across fork so the child never inherits one held by a vanished thread. */
    pthread_mutex_lock(&p->lock);
    pthread_mutex_lock(&p->mm.lock);
    pid_t pid = fork();
    pthread_mutex_unlock(&p->mm.lock);
    pthread_mutex_unlock(&p->lock);
    if (pid < 0)
        return -errno;
    if (pid > 0) {
        if (flags & CLONE_PARENT_SETTID) {
            int32_t v = pid;
            mm_copy_out(&p->mm, ptid, &v, 4);
        }
        return pid;
    }
    /* Child: only this host thread exists; it becomes the whole process. */
    p->forked = true;
    p->pid = getpid();
    t->tid = p->pid;
    atomic_store(&p->next_tid, p->pid + 1);
    for (unsigned i = 0; i < PROC_MAX_THREADS; i++)
        if (p->threads[i] != t)
            p->threads[i] = NULL;
    atomic_store(&p->live_threads, 1);
    atomic_store(&p->host_pending, 0);
    atomic_store(&t->sigpending, 0);
    if (flags & CLONE_CHILD_SETTID) {
        int32_t v = t->tid;
        mm_copy_out(&p->mm, ctid, &v, 4);
    }
    if (flags & CLONE_CHILD_CLEARTID)
        t->clear_child_tid = ctid;
    if (newsp)
        t->hart.x[2] = newsp;
    return 0;
}

long proc_clone(struct uthread *t, uint64_t flags, uint64_t newsp, uint64_t ptid, uint64_t tls,
                uint64_t ctid)
{
    struct proc *p = t->p;
    if (!(flags & CLONE_VM) || ((flags & CLONE_VFORK) && !(flags & CLONE_THREAD)))
        return do_fork(t, flags, newsp, ptid, ctid);
    if (!(flags & CLONE_THREAD))
        return -ENOSYS; /* CLONE_VM without a thread: not supported */
    int tid = atomic_fetch_add(&p->next_tid, 1);
    struct uthread *c = thread_new(p, tid);
    if (!c)
        return -EAGAIN;
    struct hart *h = &c->hart, *ph = &t->hart;
    hart_reset(h, ph->pc + 4);
    memcpy(h->x, ph->x, sizeof(h->x));
    memcpy(h->f, ph->f, sizeof(h->f));
    h->fflags = ph->fflags;
    h->frm = ph->frm;
    user_mode(h, &p->mm);
    h->x[10] = 0;
    if (newsp)
        h->x[2] = newsp;
    if (flags & CLONE_SETTLS)
        h->x[4] = tls;
    c->sigmask = t->sigmask;
    c->tlb_gen = atomic_load(&p->mm.tlb_gen);
    if (flags & CLONE_CHILD_CLEARTID)
        c->clear_child_tid = ctid;
    int32_t v = tid;
    if (flags & CLONE_PARENT_SETTID)
        mm_copy_out(&p->mm, ptid, &v, 4);
    if (flags & CLONE_CHILD_SETTID)
        mm_copy_out(&p->mm, ctid, &v, 4);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int err = pthread_create(&c->thread, &attr, child_thread_main, c);
    pthread_attr_destroy(&attr);
    if (err) {
        pthread_mutex_lock(&p->lock);
        for (unsigned i = 0; i < PROC_MAX_THREADS; i++)
            if (p->threads[i] == c)
                p->threads[i] = NULL;
        pthread_mutex_unlock(&p->lock);
        atomic_fetch_sub(&p->live_threads, 1);
        hart_destroy(h);
        free(c);
        return -EAGAIN;
    }
    return tid;
}
