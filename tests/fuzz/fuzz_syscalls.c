/*
 * libFuzzer target for the system-call layer of process VMs (src/user/):
 * random riscv64 system-call numbers and arguments, with random guest memory
 * behind pointer arguments, against one process's real state: an address
 * space (mm) in guest RAM, a mount table of a temporary directory (a
 * writable mapping at "/" and a read-only one at "/ro"), the descriptor
 * table, signal state, cwd. Calls go through proc_syscall(), the same entry
 * the CPU's ecall takes, but no guest instruction ever runs.
 *
 * Input: u16 length L, then L bytes copied into a 64 KiB writable scratch
 * area (at SCRATCH), then 56-byte records {u16 nr; 6 x {u8 kind; u64 value}}.
 * An argument's kind picks what the value means: 0 as is, 1 a small signed
 * number, 2 a pointer into the scratch area, 3 a pointer to one of 16 fixed
 * path strings (a read-only page at STRINGS), 4 a small descriptor number.
 *
 * The process is "lone" (no pid table): fork is refused by kiln itself
 * (EAGAIN), kill/tgkill/tkill only mark signals pending inside the process,
 * exit/exit_group and a signal death only set flags (undone after each
 * call), and wait4/waitid are ECHILD. What the harness filters or changes:
 *   - clone, clone3: skipped (a CLONE_VM thread would run random guest code);
 *   - sync, syncfs: skipped (slow and host-wide, nothing of kiln's to test);
 *   - socket: the domain is forced to AF_UNIX (with --net semantics on and the
 *     host closed), so nothing can reach a network; named addresses resolve
 *     through the mounts into the temporary directory;
 *   - fallocate: offset below 16 MiB and length below 1 MiB (FALLOC_FL_KEEP_SIZE
 *     is not bounded by RLIMIT_FSIZE); every other write is bounded by
 *     RLIMIT_FSIZE = 16 MiB (SIGXFSZ ignored);
 *   - blocking calls (read of an empty pipe, poll/select/epoll, futex wait,
 *     nanosleep, rt_sigsuspend, open of a FIFO, flock, F_SETLKW...): after
 *     5 ms a watchdog does what execve does to a thread it ends, sets
 *     t->exited and interrupts the host call with a signal, and the call must
 *     come back; a call stuck anyway is libFuzzer's timeout (-timeout).
 * Oracles besides ASan/UBSan: the read-only mapping's files and a sentinel
 * directory beside the mappings stay exactly as they were, and no host
 * descriptor leaks once the descriptor table is emptied.
 *
 * Build: tests/fuzz/build.sh. Run: build/fuzz/fuzz_syscalls -max_total_time=120 -timeout=10
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cpu/hart.h"
#include "user/fdtable.h"
#include "user/mm.h"
#include "user/netpolicy.h"
#include "user/proc.h"

#define SCRATCH 0x10000000ull
#define SCRATCH_LEN (64u << 10)
#define STRINGS 0x20000000ull
#define REC 56
#define MAX_CALLS 64
#define WATCHDOG_NS (5 * 1000000ll)
#define SIG_WAKE (SIGRTMIN + 6)
#define GUEST_MEM (32ull << 20)

static const char *const paths[16] = {
    "/", "/a", "/ro/f", "/ro", "/d", "/d/x", "..", "/../..", "/ro/../a", "l", "/fifo", "/sock",
    "/dev/null", "x/y", "", "/d/../../outside/secret",
};

/* The calls kiln implements (the dispatchers' cases), picked 7 times in 8; any number otherwise. */
static const unsigned short implemented[] = {
    RV_NR_accept, RV_NR_accept4, RV_NR_bind, RV_NR_brk, RV_NR_chdir, RV_NR_clock_getres,
    RV_NR_clock_gettime, RV_NR_clock_nanosleep, RV_NR_close, RV_NR_close_range, RV_NR_connect,
    RV_NR_dup, RV_NR_dup3, RV_NR_epoll_create1, RV_NR_epoll_ctl, RV_NR_epoll_pwait,
    RV_NR_epoll_pwait2, RV_NR_eventfd2, RV_NR_execve, RV_NR_execveat, RV_NR_exit, RV_NR_exit_group,
    RV_NR_faccessat, RV_NR_faccessat2, RV_NR_fallocate, RV_NR_fchdir, RV_NR_fchmod, RV_NR_fchmodat,
    RV_NR_fchown, RV_NR_fchownat, RV_NR_fcntl, RV_NR_fdatasync, RV_NR_fgetxattr, RV_NR_flistxattr,
    RV_NR_flock, RV_NR_fremovexattr, RV_NR_fsetxattr, RV_NR_fstat, RV_NR_fstatfs, RV_NR_fsync,
    RV_NR_ftruncate, RV_NR_futex, RV_NR_getcwd, RV_NR_getdents64, RV_NR_getpgid, RV_NR_getpid,
    RV_NR_getppid, RV_NR_getpriority, RV_NR_getrandom, RV_NR_getresgid, RV_NR_getresuid,
    RV_NR_getrlimit, RV_NR_getrusage, RV_NR_getsid, RV_NR_getsockname, RV_NR_getsockopt,
    RV_NR_gettid, RV_NR_kill, RV_NR_lgetxattr, RV_NR_linkat, RV_NR_listen, RV_NR_listxattr,
    RV_NR_lseek, RV_NR_madvise, RV_NR_mkdirat, RV_NR_mknodat, RV_NR_mmap, RV_NR_mprotect,
    RV_NR_mremap, RV_NR_msync, RV_NR_munmap, RV_NR_nanosleep, RV_NR_newfstatat, RV_NR_openat,
    RV_NR_pipe2, RV_NR_ppoll, RV_NR_prlimit64, RV_NR_pread64, RV_NR_preadv, RV_NR_pselect6,
    RV_NR_pwrite64, RV_NR_pwritev, RV_NR_read, RV_NR_readlinkat, RV_NR_readv, RV_NR_recvfrom,
    RV_NR_recvmmsg, RV_NR_recvmsg, RV_NR_renameat2, RV_NR_rt_sigaction, RV_NR_rt_sigprocmask,
    RV_NR_rt_sigreturn, RV_NR_rt_sigsuspend, RV_NR_sched_getaffinity, RV_NR_sched_getparam,
    RV_NR_sendmmsg, RV_NR_sendmsg, RV_NR_sendto, RV_NR_setpgid, RV_NR_setpriority, RV_NR_setsid,
    RV_NR_setsockopt, RV_NR_setxattr, RV_NR_shutdown, RV_NR_sigaltstack, RV_NR_socket,
    RV_NR_socketpair, RV_NR_statfs, RV_NR_statx, RV_NR_symlinkat, RV_NR_sysinfo, RV_NR_tgkill,
    RV_NR_tkill, RV_NR_truncate, RV_NR_umask, RV_NR_uname, RV_NR_unlinkat, RV_NR_utimensat,
    RV_NR_wait4, RV_NR_waitid, RV_NR_write, RV_NR_writev,
};

static char root[256], rw_dir[300], ro_dir[300], out_dir[300];
static struct proc *P;
static struct uthread *T;
static pthread_t fuzz_thread;
static _Atomic int64_t call_start; /* ns of the running call, 0 when none */
static int base_fds = -1;
static unsigned runs;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void wake(int sig)
{
    (void)sig; /* only cuts a host call short (no SA_RESTART) */
}

/* Ends a call that blocks as execve would end its thread: t->exited, then a signal. */
static void *watchdog(void *arg)
{
    (void)arg;
    for (;;) {
        usleep(2000);
        int64_t s = atomic_load(&call_start);
        if (s && now_ns() - s > WATCHDOG_NS) {
            T->exited = true;
            pthread_kill(fuzz_thread, SIG_WAKE);
        }
    }
    return NULL;
}

static void write_file(const char *dir, const char *name, const char *text, mode_t mode)
{
    char p[400];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0 || write(fd, text, strlen(text)) < 0)
        abort();
    close(fd);
    chmod(p, mode);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    if (ftw->level > 0)
        remove(path);
    return 0;
}

/* The writable mapping starts each 256 runs empty but for a file and a directory. */
static void fresh_rw(void)
{
    chmod(rw_dir, 0755);
    nftw(rw_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    write_file(rw_dir, "a", "writable\n", 0644);
    char d[400];
    snprintf(d, sizeof(d), "%s/d", rw_dir);
    mkdir(d, 0755);
}

/* What must never change: the read-only mapping and the directory beside the mappings. */
static unsigned long fingerprint(void)
{
    unsigned long h = 5381;
    const char *dirs[2] = {ro_dir, out_dir};
    for (int k = 0; k < 2; k++) {
        DIR *d = opendir(dirs[k]);
        if (!d)
            abort();
        struct dirent *e;
        while ((e = readdir(d))) {
            char p[600], buf[256];
            snprintf(p, sizeof(p), "%s/%s", dirs[k], e->d_name);
            struct stat st;
            if (lstat(p, &st))
                abort();
            if (!strcmp(e->d_name, "..") || !strcmp(e->d_name, "."))
                continue;
            h = h * 33 + (unsigned long)st.st_mode + (unsigned long)st.st_size * 7 +
                (unsigned long)st.st_mtim.tv_nsec + (unsigned long)st.st_ino + st.st_nlink;
            int fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
            ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
            for (ssize_t i = 0; i < n; i++)
                h = h * 33 + (unsigned char)buf[i];
            if (fd >= 0)
                close(fd);
            for (const char *s = e->d_name; *s; s++)
                h = h * 33 + (unsigned char)*s;
        }
        closedir(d);
    }
    return h;
}

/* Host descriptors that can only be kiln's for the guest: files beneath root, sockets, epoll, eventfd. */
static int count_fds(bool show)
{
    int n = 0;
    size_t rl = strlen(root);
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        abort();
    struct dirent *e;
    while ((e = readdir(d))) {
        char t[512];
        ssize_t k = readlinkat(dirfd(d), e->d_name, t, sizeof(t) - 1);
        if (k <= 0)
            continue;
        t[k] = 0;
        if (!strncmp(t, root, rl) || !strncmp(t, "socket:", 7) || !strncmp(t, "anon_inode:", 11)) {
            n++;
            if (show)
                fprintf(stderr, "  %s -> %s\n", e->d_name, t);
        }
    }
    closedir(d);
    return n;
}

static unsigned long ro_print;

static void remove_root(void)
{
    nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    rmdir(root);
}

static void setup(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(root, sizeof(root), "%s/kiln-fuzz-sys-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(root))
        abort();
    snprintf(rw_dir, sizeof(rw_dir), "%s/rw", root);
    snprintf(ro_dir, sizeof(ro_dir), "%s/ro", root);
    snprintf(out_dir, sizeof(out_dir), "%s/outside", root);
    if (mkdir(rw_dir, 0755) || mkdir(ro_dir, 0755) || mkdir(out_dir, 0755))
        abort();
    write_file(ro_dir, "f", "read-only file\n", 0644);
    write_file(ro_dir, "x", "#!/a\n", 0755);
    write_file(out_dir, "secret", "outside every mapping\n", 0600);
    fresh_rw();
    ro_print = fingerprint();
    atexit(remove_root);

    struct rlimit fs = {16u << 20, 16u << 20};
    setrlimit(RLIMIT_FSIZE, &fs);
    signal(SIGXFSZ, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = wake;
    sigaction(SIG_WAKE, &sa, NULL);

    static struct mounts mt;
    if (mounts_add(&mt, rw_dir, "/", false) || mounts_add(&mt, ro_dir, "/ro", true))
        abort();
    /* A lone process as proc_create() makes it, minus the program (no guest code runs). */
    P = calloc(1, sizeof(*P));
    T = calloc(1, sizeof(*T));
    if (!P || !T)
        abort();
    P->cfg.mem = GUEST_MEM;
    P->cfg.net = true; /* sockets are AF_UNIX only (see the top), the host closed */
    P->mounts = mt;
    P->sysroot_fd = -1;
    pthread_mutex_init(&P->lock, NULL);
    sem_init(&P->done, 0, 0);
    P->pid = PIDTAB_INIT;
    atomic_store(&P->next_tid, P->pid + 1);
    if (mm_vm_init(&P->vm, PROC_RAM_BASE, GUEST_MEM) || mm_init(&P->mm, &P->vm, PROC_RAM_BASE, GUEST_MEM))
        abort();
    fdtable_init(&P->fdt, &P->lock);
    netpolicy_init(false);
    if (hart_init(&T->hart, &P->vm.bus, 0))
        abort();
    T->p = P;
    T->tid = P->pid;
    T->thread = pthread_self();
    P->threads[0] = T;
    atomic_store(&P->live_threads, 1);
    fuzz_thread = pthread_self();
    pthread_t w;
    if (pthread_create(&w, NULL, watchdog, NULL))
        abort();
}

/* Back to a fresh process: empty address space and table, default signals, cwd "/". */
static void reset(const uint8_t *mem, size_t len)
{
    fdtable_close_all(&P->fdt);
    if (mm_reset(&P->mm))
        abort();
    P->mm.mmap_top = PROC_STACK_TOP - PROC_STACK_SIZE - 16 * MM_PAGE;
    strcpy(P->cwd, "/");
    memset(P->sigact, 0, sizeof(P->sigact));
    atomic_store(&P->host_pending, 0);
    atomic_store(&T->sigpending, 0);
    T->sigmask = 0;
    T->ss_sp = T->ss_size = 0;
    T->clear_child_tid = 0;
    T->restore_sigmask = false;
    if (mm_map(&P->mm, SCRATCH, SCRATCH_LEN, MM_PROT_READ | MM_PROT_WRITE) ||
        mm_map(&P->mm, STRINGS, MM_PAGE, MM_PROT_READ | MM_PROT_WRITE))
        abort();
    for (int i = 0; i < 16; i++)
        mm_copy_out(&P->mm, STRINGS + 64 * (uint64_t)i, paths[i], strlen(paths[i]) + 1);
    mm_protect(&P->mm, STRINGS, MM_PAGE, MM_PROT_READ);
    if (len)
        mm_copy_out(&P->mm, SCRATCH, mem, len);
    /* The guest stack pointer for a signal frame: the top of the scratch area. */
    T->hart.x[2] = SCRATCH + SCRATCH_LEN - 16;
}

/* After a call that ended the process or the thread (lone process: only flags). */
static void undo_exit(void)
{
    T->exited = false;
    atomic_store(&P->exiting, 0);
    atomic_store(&P->vm.stop, 0);
    atomic_store(&P->live_threads, 1);
    while (sem_trywait(&P->done) == 0)
        ;
}

static uint64_t arg_of(uint8_t kind, uint64_t v)
{
    switch (kind % 5) {
    case 0: return v;
    case 1: return (uint64_t)(int64_t)(int8_t)v;
    case 2: return SCRATCH + v % SCRATCH_LEN;
    case 3: return STRINGS + 64 * (v % 16);
    default: return v % 8;
    }
}

static void one_call(const uint8_t *r)
{
    unsigned v16 = (unsigned)(r[0] | r[1] << 8);
    unsigned n = sizeof(implemented) / sizeof(implemented[0]);
    unsigned nr = (v16 & 7) ? implemented[(v16 >> 3) % n] : (v16 >> 3) % RV_NR_MAX;
    uint64_t a[6];
    for (int i = 0; i < 6; i++) {
        uint64_t v;
        memcpy(&v, r + 2 + 9 * i + 1, 8);
        a[i] = arg_of(r[2 + 9 * i], v);
    }
    switch (nr) {
    case RV_NR_clone: case RV_NR_clone3: case RV_NR_sync: case RV_NR_syncfs:
        return;
    case RV_NR_socket: case RV_NR_socketpair:
        a[0] = AF_UNIX;
        break;
    case RV_NR_fallocate:
        a[2] %= 16u << 20;
        a[3] %= 1u << 20;
        break;
    }
    struct hart *h = &T->hart;
    for (int i = 0; i < 6; i++)
        h->x[10 + i] = a[i];
    h->x[17] = nr;
    atomic_store(&call_start, now_ns());
    proc_syscall(T);
    atomic_store(&call_start, 0);
    undo_exit();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!P)
        setup();
    if (++runs % 256 == 0)
        fresh_rw();
    size_t mlen = size >= 2 ? (size_t)(data[0] | data[1] << 8) : 0;
    size_t off = size >= 2 ? 2 : size;
    if (mlen > size - off)
        mlen = size - off;
    if (mlen > SCRATCH_LEN)
        mlen = SCRATCH_LEN;
    reset(data + off, mlen);
    off += mlen;
    for (int n = 0; n < MAX_CALLS && size - off >= REC; n++, off += REC)
        one_call(data + off);
    fdtable_close_all(&P->fdt);
    if (fingerprint() != ro_print) {
        fprintf(stderr, "fuzz_syscalls: the read-only mapping or the directory outside changed\n");
        abort();
    }
    int fds = count_fds(false);
    if (base_fds < 0)
        base_fds = fds;
    else if (fds > base_fds) {
        fprintf(stderr, "fuzz_syscalls: %d of kiln's host descriptors open, %d at the start\n", fds, base_fds);
        count_fds(true);
        abort();
    }
    return 0;
}
