#define _GNU_SOURCE
#include "user/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <linux/openat2.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cpu/exec.h"
#include "cpu/jit/jit.h"
#include "cpu/mmu.h"
#include "cpu/trap.h"
#include "user/elf.h"
#include "user/sys.h"
#include "util/errmsg.h"

/* Instructions per batch between looks at exit, TLB shootdowns and host signals. */
#define PROC_BATCH 65536
#define RV_CLONE_VM 0x100
#define RV_CLONE_PIDFD 0x1000
#define RV_CLONE_PARENT 0x8000
/* NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET (include/uapi/linux/sched.h) */
#define RV_CLONE_NAMESPACES 0x7e020000ull
#define RV_CLONE_VFORK 0x4000
#define RV_CLONE_THREAD 0x10000
#define RV_CLONE_SETTLS 0x80000
#define RV_CLONE_PARENT_SETTID 0x100000
#define RV_CLONE_CHILD_CLEARTID 0x200000
#define RV_CLONE_CHILD_SETTID 0x1000000

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

/*
 * What harts read as the number of harts sharing memory: guest threads, and
 * MAP_SHARED memory across fork, can always be running beside this one, so
 * FENCE is a real fence and --jit=verify re-checks a difference that another
 * writer may have caused (docs/jit.md).
 */
static const unsigned proc_shared_harts = 2;

static struct uthread *thread_new(struct proc *p, int tid)
{
    struct uthread *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    /* The bus is filled once (proc_create); refilling it here would race with running harts. */
    if (hart_init(&t->hart, &p->vm.bus, (unsigned)tid)) {
        free(t);
        return NULL;
    }
    t->p = p;
    t->tid = tid;
    pthread_mutex_lock(&p->lock);
    unsigned slot = PROC_MAX_THREADS;
    for (unsigned i = 0; i < PROC_MAX_THREADS && !p->execing; i++) {
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
    h->direct_base = mm->host; /* translated code accesses user memory there (mm.h) */
    h->mstatus |= MSTATUS_FS; /* F and D on */
    h->mcounteren = h->scounteren = 7; /* rdcycle, rdtime, rdinstret from U */
    hart_set_priv(h, PRIV_U);
    mmu_update_keys(h);
    /* All TLB slots: a process touches many pages and flushes rarely (hart.h). Set
       while the hart has no translations (new thread, or execve's jit_flush). */
    h->tlb_mask = TLB_SIZE - 1;
    hart_tlb_flush(h);
}

int proc_vpid_of_host(struct proc *p, int host)
{
    if (!p->pids)
        return host == getpid() ? p->pid : 0;
    pidtab_lock(p->pids);
    struct pident *e = pidtab_find_host(p->pids, host);
    int v = e ? e->vpid : 0;
    pidtab_unlock(p->pids);
    return v;
}

int proc_new_tid(struct proc *p)
{
    if (!p->pids)
        return atomic_fetch_add(&p->next_tid, 1);
    pidtab_lock(p->pids);
    int id = pidtab_new_id(p->pids);
    pidtab_unlock(p->pids);
    return id;
}

/* Beneath dirfd only: neither ".." nor a symlink can lead out (openat2(2) RESOLVE_BENEATH). */
static int open_beneath(int dirfd, const char *rel)
{
    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
    long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
    return fd < 0 ? -errno : (int)fd;
}

int proc_open_interp(struct proc *p, const char *path)
{
    char abs[GPATH_MAX];
    /* Like the kernel's open_exec(): relative to the cwd; ".." folds lexically, as at "/" of a chroot. */
    if (path_normalize(p->cwd[0] ? p->cwd : "/", path, abs, sizeof(abs)))
        return -ENOENT;
    int fd = mounts_open(&p->mounts, abs, O_RDONLY, 0);
    if (fd < 0 && p->sysroot_fd >= 0 && abs[1])
        fd = open_beneath(p->sysroot_fd, abs + 1); /* not in the mounts: the sysroot's copy */
    /* One answer for every failure, so the error never tells which host files exist. */
    return fd < 0 ? -ENOENT : fd;
}

static size_t vec_bytes(char *const *v, size_t *n)
{
    size_t b = 0;
    for (*n = 0; v[*n]; (*n)++)
        b += strlen(v[*n]) + 1 + sizeof(uint64_t);
    return b;
}

/*
 * Loads the program (fd) and its interpreter (ifd, or -1) into the empty
 * address space, maps the sigreturn trampoline and the stack, and builds the
 * initial stack. *entry and *spp get where the thread starts.
 */
static int load_image(struct proc *p, int fd, int ifd, const char *execfn, char *const *argv,
                      char *const *envp, uint64_t *entry, uint64_t *spp, char *err, size_t errlen)
{
    struct elf_image prog, interp;
    char why[200];
    int rc = elf_load(&p->mm, fd, PROC_PIE_BASE, &prog, why, sizeof(why));
    if (rc)
        return errmsg(err, errlen, rc, "%s", why);
    *entry = prog.entry;
    uint64_t base = 0;
    if (ifd >= 0) {
        rc = elf_load(&p->mm, ifd, 0, &interp, why, sizeof(why));
        if (rc)
            return errmsg(err, errlen, rc, "interpreter %s: %s", prog.interp, why);
        *entry = interp.entry;
        base = interp.bias;
    }
    p->mm.brk_start = p->mm.brk_end = prog.end;

    /* Sigreturn trampoline (there is no VDSO): li a7, 139; ecall. */
    p->tramp = mm_find_free(&p->mm, 0, MM_PAGE);
    static const uint32_t tramp[] = {0x08b00893, 0x00000073};
    if (!p->tramp || mm_map(&p->mm, p->tramp, MM_PAGE, MM_PROT_READ | MM_PROT_WRITE) ||
        mm_copy_out(&p->mm, p->tramp, tramp, sizeof(tramp)) ||
        mm_protect(&p->mm, p->tramp, MM_PAGE, MM_PROT_READ | MM_PROT_EXEC))
        return errmsg(err, errlen, -ENOMEM, "out of guest memory");

    /* Stack: demand-zero, 8 MiB like the default RLIMIT_STACK, charged as it is touched. */
    rc = mm_map(&p->mm, PROC_STACK_TOP - PROC_STACK_SIZE, PROC_STACK_SIZE,
                MM_PROT_READ | MM_PROT_WRITE | MM_PROT_NORESERVE);
    if (rc)
        return errmsg(err, errlen, rc, "out of guest memory for the stack (--mem too small)");
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
        {AT_UID, proc_uid(&p->cfg)},
        {AT_EUID, proc_uid(&p->cfg)},
        {AT_GID, proc_gid(&p->cfg)},
        {AT_EGID, proc_gid(&p->cfg)},
        {AT_SECURE, 0},
        {AT_RANDOM, 0},
        {AT_EXECFN, 0},
        {AT_PLATFORM, 0},
        {AT_NULL, 0},
    };
    /* The image is built in a host buffer just big enough, charged to --mem while it lives. */
    size_t na, ne;
    size_t bufsize = vec_bytes(argv, &na) + vec_bytes(envp, &ne) + strlen(execfn) + 1024;
    bufsize = (bufsize + MM_PAGE - 1) & ~(size_t)(MM_PAGE - 1);
    if (bufsize > PROC_ARG_MAX + 64 * 1024)
        return errmsg(err, errlen, -E2BIG, "arguments and environment too large (%zu bytes)", bufsize);
    if (mm_charge(&p->mm, bufsize / MM_PAGE))
        return errmsg(err, errlen, -ENOMEM, "out of guest memory for the arguments");
    uint8_t *buf = malloc(bufsize);
    uint64_t sp = 0;
    rc = buf ? elf_build_stack(buf, bufsize, PROC_STACK_TOP, argv, envp, execfn, "riscv64",
                               random16, auxv, &sp)
             : -ENOMEM;
    if (!rc)
        rc = mm_copy_out(&p->mm, sp, buf + bufsize - (PROC_STACK_TOP - sp), PROC_STACK_TOP - sp);
    free(buf);
    mm_uncharge(&p->mm, bufsize / MM_PAGE);
    if (rc)
        return errmsg(err, errlen, rc, "arguments and environment too large for the stack");
    *spp = sp;
    return 0;
}

/* The file's interpreter, opened; -1 when it has none. A missing one is -ENOENT (err says which). */
static int open_interp_of(struct proc *p, int fd, char *err, size_t errlen)
{
    char interp[256], why[200];
    int rc = elf_probe(fd, interp, sizeof(interp), why, sizeof(why));
    if (rc)
        return errmsg(err, errlen, rc, "%s", why);
    if (!interp[0])
        return -1;
    int ifd = proc_open_interp(p, interp);
    if (ifd < 0)
        return errmsg(err, errlen, ifd, "interpreter %s: %s", interp, strerror(-ifd));
    char inner[256];
    rc = elf_probe(ifd, inner, sizeof(inner), why, sizeof(why));
    if (!rc && inner[0])
        rc = errmsg(err, errlen, -ELIBBAD, "interpreter %s has an interpreter itself", interp);
    else if (rc)
        errmsg(err, errlen, rc, "interpreter %s: %s", interp, why);
    if (rc) {
        close(ifd);
        return rc;
    }
    return ifd;
}

int proc_create(struct proc *p, const struct proc_config *cfg, struct mounts *mounts, char *err,
                size_t errlen)
{
    memset(p, 0, sizeof(*p));
    p->cfg = *cfg;
    p->mounts = *mounts;
    p->sysroot_fd = -1;
    pthread_mutex_init(&p->lock, NULL);
    sem_init(&p->done, 0, 0);
    p->pids = cfg->pids;
    if (p->pids) {
        pidtab_lock(p->pids);
        p->self = pidtab_add(p->pids, 0, 0, 0);
        pidtab_unlock(p->pids);
        if (!p->self)
            return errmsg(err, errlen, -EAGAIN, "the process table is full");
        p->self->host = getpid();
        p->pid = p->self->vpid;
    } else {
        p->pid = PIDTAB_INIT;
        atomic_store(&p->next_tid, p->pid + 1);
    }
    int rc = mm_vm_init(&p->vm, PROC_RAM_BASE, cfg->mem);
    if (rc)
        return errmsg(err, errlen, rc,
                    "cannot reserve the guest's address space (%llu GiB of host addresses, "
                    "not memory; is `ulimit -v` set?): %s",
                    (unsigned long long)(MM_WINDOW(cfg->mem) >> 30), strerror(-rc));
    p->vm.user_trap = proc_trap;
    p->vm.user = p;
    (void)vm_bus(&p->vm); /* fills p->vm.bus */
    p->vm.bus.nharts = &proc_shared_harts;
    rc = mm_init(&p->mm, &p->vm, PROC_RAM_BASE, cfg->mem);
    if (rc)
        return errmsg(err, errlen, rc, "cannot set up guest memory: %s", strerror(-rc));
    p->mm.mmap_top = PROC_STACK_TOP - PROC_STACK_SIZE - 16 * MM_PAGE;
    if (p->pids) {
        /* --mem is one budget for every process of the VM (and kiln's copies of guest data). */
        if (!p->pids->commit_limit || p->pids->commit_limit > p->mm.commit_limit)
            p->pids->commit_limit = p->mm.commit_limit;
        mm_account(&p->mm, &p->pids->commit, &p->self->commit, p->pids->commit_limit);
        atomic_fetch_add(&p->pids->commit, p->mm.commit);
    }
    if (cfg->sysroot) {
        /* kiln's own: guest numbers index the descriptor table (fdtable.h), never the host's. */
        p->sysroot_fd = open(cfg->sysroot, O_PATH | O_DIRECTORY | O_CLOEXEC);
    }
    strcpy(p->cwd, "/");
    char here[GPATH_MAX];
    /* Start where the user is, if that directory is mapped. */
    if (getcwd(here, sizeof(here))) {
        const char *rel;
        int i = mounts_find(&p->mounts, here, &rel);
        if (i >= 0 && strcmp(p->mounts.m[i].guest, "/"))
            snprintf(p->cwd, sizeof(p->cwd), "%s", here);
    }
    if (cfg->cwd && path_normalize("/", cfg->cwd, p->cwd, sizeof(p->cwd)))
        return errmsg(err, errlen, -EINVAL, "bad working directory '%s'", cfg->cwd);

    int fd = cfg->prog_path ? open(cfg->prog_path, O_RDONLY | O_CLOEXEC)
                            : fcntl(cfg->prog_fd, F_DUPFD_CLOEXEC, 3);
    if (fd < 0)
        return errmsg(err, errlen, -errno, "%s: %s", cfg->execfn, strerror(errno));
    char why[300];
    int ifd = open_interp_of(p, fd, why, sizeof(why));
    if (ifd < -1) {
        close(fd);
        return errmsg(err, errlen, ifd, "%s: %s%s", cfg->execfn, why,
                    ifd == -ENOENT ? " (try --sysroot)" : "");
    }
    uint64_t entry = 0, sp = 0;
    rc = load_image(p, fd, ifd, cfg->execfn, cfg->argv, cfg->envp, &entry, &sp, why, sizeof(why));
    close(fd);
    if (ifd >= 0)
        close(ifd);
    if (rc)
        return errmsg(err, errlen, rc, "%s: %s", cfg->execfn, why);

    struct uthread *t = thread_new(p, p->pid);
    if (!t)
        return errmsg(err, errlen, -ENOMEM, "cannot create the main thread");
    hart_reset(&t->hart, entry);
    user_mode(&t->hart, &p->mm);
    t->hart.x[2] = sp;
    for (int s = 1; s <= PROC_NSIG; s++)
        p->sigact[s].handler = 0; /* SIG_DFL */
    return 0;
}

void proc_adopt_fds(struct proc *p)
{
    fdtable_init(&p->fdt, &p->lock);
    for (int fd = 0; fd < 3; fd++) {
        if (fcntl(fd, F_GETFD) < 0)
            continue; /* closed: the guest's is closed too */
        int h = fcntl(fd, F_DUPFD_CLOEXEC, 3); /* kiln keeps its own stdio */
        if (h < 0)
            continue;
        struct fdfile *f = fdfile_new(h, FD_OTHER, false, NULL);
        if (!f)
            continue;
        f->host_stdio = true;
        fdtable_install_at(&p->fdt, fd, f, false);
    }
}

/* Every guest thread runs here; it leaves the table and frees itself when it ends. */
static void *thread_run(void *arg)
{
    struct uthread *t = arg;
    struct proc *p = t->p;
    thread_main(t);
    if (atomic_load(&p->vm.stop) && !atomic_load(&p->exiting)) {
        /* A hart asked the VM to end (--jit=verify found a difference; out of host memory). */
        fprintf(stderr, "kiln exec: %s\n", p->vm.exit_reason);
        proc_exit(p, p->vm.exit_status ? p->vm.exit_status : 1, 0);
    }
    pthread_mutex_lock(&p->lock);
    for (unsigned i = 0; i < PROC_MAX_THREADS; i++)
        if (p->threads[i] == t)
            p->threads[i] = NULL;
    bool zapped = t->zapped;
    pthread_mutex_unlock(&p->lock);
    hart_destroy(&t->hart);
    free(t);
    if (zapped)
        atomic_fetch_sub(&p->live_threads, 1); /* what the execve waits for */
    return NULL;
}

static int thread_spawn(struct uthread *t)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int err = pthread_create(&t->thread, &attr, thread_run, t);
    pthread_attr_destroy(&attr);
    return -err;
}

int proc_start(struct proc *p)
{
    proc_install_host_signals(p);
    return thread_spawn(p->threads[0]);
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
    if (p->pids) {
        /* Memory goes back to the VM at exit, not when the parent gets round to reaping. */
        if (p->self) {
            pidtab_uncharge(p->pids, p->self);
            p->self->exited = 1;
            /* Orphans belong to init now (getppid() 1). If the lock is busy (this may be a
               signal handler), the reaper's pidtab_remove() does it instead. */
            if (pidtab_trylock(p->pids)) {
                pidtab_reparent(p->pids, p->pid);
                pidtab_unlock(p->pids);
            }
        }
        /* The parent's wait4 (or kiln's supervisor) sees the real termination. */
        if (sig) {
            signal(sig, SIG_DFL);
            sigset_t s;
            sigemptyset(&s);
            sigaddset(&s, sig);
            pthread_sigmask(SIG_UNBLOCK, &s, NULL);
            /* To this very thread, so it lands before the _exit below (kill() may pick another). */
            syscall(SYS_tgkill, getpid(), (pid_t)syscall(SYS_gettid), sig);
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
        /* RV_CLONE_CHILD_CLEARTID: zero the tid word and wake one futex waiter (pthread_join). */
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

/*
 * With SIGCHLD ignored (or SA_NOCLDWAIT) Linux reaps children as they end
 * (wait(2) NOTES). Here they stay host zombies, so they are reaped before
 * each fork, where they would count against --procs. Entry first, then the
 * zombie, as in wait4 (pidtab.h).
 */
static void reap_unwaited(struct proc *p)
{
    const struct proc_sigaction *sa = &p->sigact[SIGCHLD];
    if (sa->handler != 1 /* SIG_IGN */ && !(sa->flags & 2 /* SA_NOCLDWAIT */))
        return;
    for (;;) {
        siginfo_t si;
        memset(&si, 0, sizeof(si));
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || !si.si_pid)
            return;
        pidtab_lock(p->pids);
        struct pident *e = pidtab_find_host(p->pids, si.si_pid);
        if (e)
            pidtab_remove(p->pids, e);
        pidtab_unlock(p->pids);
        waitpid(si.si_pid, NULL, WNOHANG);
    }
}

static long do_fork(struct uthread *t, uint64_t flags, uint64_t newsp, uint64_t ptid, uint64_t ctid)
{
    struct proc *p = t->p;
    if (!p->pids)
        return -EAGAIN; /* a lone process (tests) has no pid space to put a child in */
    reap_unwaited(p);
    /* The child's vpid and process-cap slot are taken before the host fork. */
    pidtab_lock(p->pids);
    struct pident *e = pidtab_add(p->pids, p->pid, p->self->pgid, p->self->sid);
    pidtab_unlock(p->pids);
    if (!e)
        return -EAGAIN;
    fflush(stdout);
    fflush(stderr);
    /* Hold the locks across fork so the child never inherits one held by a vanished thread. */
    pthread_mutex_lock(&p->lock);
    pthread_mutex_lock(&p->mm.lock);
    /*
     * The child's copy of every charged page is charged now (strict accounting,
     * as Linux's overcommit_memory=2 does at fork): it belongs to the child's
     * entry, so it is given back however the child ends.
     */
    pid_t pid = -ENOMEM;
    if (!mm_charge(&p->mm, p->mm.commit)) {
        atomic_store(&e->commit, p->mm.commit);
        pid = fork();
        if (pid < 0)
            pid = -EAGAIN;
        if (pid == 0)
            fdtable_forked(&p->fdt); /* still under p->lock */
    }
    pthread_mutex_unlock(&p->mm.lock);
    pthread_mutex_unlock(&p->lock);
    if (pid < 0) {
        pidtab_lock(p->pids);
        pidtab_remove(p->pids, e); /* gives the charge back too */
        pidtab_unlock(p->pids);
        return pid;
    }
    if (pid > 0) {
        e->host = pid;
        if (flags & RV_CLONE_PARENT_SETTID) {
            int32_t v = e->vpid;
            mm_copy_out(&p->mm, ptid, &v, 4);
        }
        return e->vpid;
    }
    /* Child: only this host thread exists; it becomes the whole process. */
    jit_forked(&t->hart); /* translated code of its own: the inherited cache is the parent's */
    e->host = getpid();
    p->self = e;
    p->pid = e->vpid;
    p->mm.own_commit = &e->commit;
    t->tid = p->pid;
    for (unsigned i = 0; i < PROC_MAX_THREADS; i++)
        if (p->threads[i] != t)
            p->threads[i] = NULL;
    atomic_store(&p->live_threads, 1);
    atomic_store(&p->host_pending, 0);
    atomic_store(&t->sigpending, 0);
    if (flags & RV_CLONE_CHILD_SETTID) {
        int32_t v = t->tid;
        mm_copy_out(&p->mm, ctid, &v, 4);
    }
    if (flags & RV_CLONE_CHILD_CLEARTID)
        t->clear_child_tid = ctid;
    if (newsp)
        t->hart.x[2] = newsp;
    return 0;
}

long proc_clone(struct uthread *t, uint64_t flags, uint64_t newsp, uint64_t ptid, uint64_t tls,
                uint64_t ctid)
{
    struct proc *p = t->p;
    /* New namespaces need privileges the VM does not give; there are no pidfds; a child's
       parent is always its creator here. */
    if (flags & RV_CLONE_NAMESPACES)
        return -EPERM;
    if (flags & (RV_CLONE_PIDFD | RV_CLONE_PARENT))
        return -EINVAL;
    if (!(flags & RV_CLONE_VM) || ((flags & RV_CLONE_VFORK) && !(flags & RV_CLONE_THREAD)))
        return do_fork(t, flags, newsp, ptid, ctid);
    if (!(flags & RV_CLONE_THREAD))
        return -ENOSYS; /* RV_CLONE_VM without a thread: not supported */
    int tid = proc_new_tid(p);
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
    if (flags & RV_CLONE_SETTLS)
        h->x[4] = tls;
    c->sigmask = t->sigmask;
    c->tlb_gen = atomic_load(&p->mm.tlb_gen);
    if (flags & RV_CLONE_CHILD_CLEARTID)
        c->clear_child_tid = ctid;
    int32_t v = tid;
    if (flags & RV_CLONE_PARENT_SETTID)
        mm_copy_out(&p->mm, ptid, &v, 4);
    if (flags & RV_CLONE_CHILD_SETTID)
        mm_copy_out(&p->mm, ctid, &v, 4);
    int err = thread_spawn(c);
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

/* ---- execve ---- */

/*
 * Ends every other thread (fs/exec.c de_thread): each is marked, woken out of
 * any host call by PROC_SIG_ZAP, and leaves at its next look at t->exited
 * without touching guest memory. Returns once only t is left.
 */
static int zap_threads(struct proc *p, struct uthread *self)
{
    pthread_mutex_lock(&p->lock);
    p->execing = true;
    for (unsigned i = 0; i < PROC_MAX_THREADS; i++) {
        struct uthread *o = p->threads[i];
        if (o && o != self && !o->exited) {
            o->zapped = true;
            o->exited = true;
            o->hart.budget = 0;
        }
    }
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; atomic_load(&p->live_threads) > 1; i++) {
        if (i % 10 == 0) {
            pthread_mutex_lock(&p->lock);
            for (unsigned k = 0; k < PROC_MAX_THREADS; k++)
                if (p->threads[k] && p->threads[k]->zapped)
                    pthread_kill(p->threads[k]->thread, PROC_SIG_ZAP);
            pthread_mutex_unlock(&p->lock);
        }
        if (i > 10000) /* 10 s: a thread stuck in the host */
            return -EBUSY;
        usleep(1000);
    }
    return 0;
}

int proc_exec(struct uthread *t, int fd, const char *execfn, char *const *argv, char *const *envp)
{
    struct proc *p = t->p;
    char why[300];
    int ifd = open_interp_of(p, fd, why, sizeof(why));
    if (ifd < -1)
        return ifd;

    /* The point of no return (fs/exec.c begin_new_exec): from here a failure kills the process. */
    int rc = zap_threads(p, t);
    if (rc)
        snprintf(why, sizeof(why), "a thread did not stop");
    fdtable_exec(p); /* close-on-exec descriptors go (execve(2)); the rest stay at their numbers */
    proc_sig_exec_reset(t);
    if (!rc && (rc = mm_reset(&p->mm)))
        snprintf(why, sizeof(why), "cannot reset guest memory: %s", strerror(-rc));
    uint64_t entry = 0, sp = 0;
    if (!rc) {
        p->mm.mmap_top = PROC_STACK_TOP - PROC_STACK_SIZE - 16 * MM_PAGE;
        rc = load_image(p, fd, ifd, execfn, argv, envp, &entry, &sp, why, sizeof(why));
    }
    if (ifd >= 0)
        close(ifd);
    if (rc) {
        fprintf(stderr, "kiln exec: execve %s: %s\n", execfn, why);
        proc_exit(p, 128 + SIGSEGV, SIGSEGV);
        t->exited = true;
        t->hart.budget = 0;
        return 0;
    }
    struct hart *h = &t->hart;
    t->tid = p->pid; /* a non-leader thread that execs becomes the leader */
    t->clear_child_tid = 0;
    hart_reset(h, entry);
    jit_flush(h); /* the old image's translations: its frames now hold other code */
    user_mode(h, &p->mm);
    h->x[2] = sp;
    t->tlb_gen = atomic_load(&p->mm.tlb_gen);
    /* proc_syscall stores the result (a0 = 0: no rtld_fini, as ELF_PLAT_INIT) and steps over the ecall. */
    h->pc = entry - 4;
    pthread_mutex_lock(&p->lock);
    p->execing = false;
    pthread_mutex_unlock(&p->lock);
    return 0;
}

/* ---- the terminal's foreground group ---- */

int proc_tty_getpgrp(struct proc *p, int hostfd)
{
    pid_t fg = tcgetpgrp(hostfd);
    if (fg < 0)
        return -errno;
    if (!p->pids)
        return p->pid;
    if (fg != getpgrp())
        return -ENOTTY; /* kiln runs in the background: the VM has no terminal to control */
    pidtab_lock(p->pids);
    int v = p->pids->tty_pgrp;
    pidtab_unlock(p->pids);
    return v;
}

int proc_tty_setpgrp(struct proc *p, int hostfd, int pgrp)
{
    if (tcgetpgrp(hostfd) < 0)
        return -errno;
    if (pgrp <= 0)
        return -EINVAL;
    if (!p->pids)
        return pgrp == p->pid ? 0 : -EPERM;
    /* tcsetpgrp(3): a group of the caller's session. */
    int r = -EPERM;
    pidtab_lock(p->pids);
    for (int i = 0; i < PIDTAB_SIZE; i++) {
        struct pident *e = &p->pids->e[i];
        if (e->vpid && e->pgid == pgrp && e->sid == p->self->sid) {
            p->pids->tty_pgrp = pgrp;
            r = 0;
            break;
        }
    }
    pidtab_unlock(p->pids);
    return r;
}
