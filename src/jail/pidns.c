/*
 * `kiln run`'s pid namespace (docs/jail.md, "The pid namespace").
 *
 * A process never enters a new pid namespace itself, only its children do
 * (pid_namespaces(7)). So kiln, started as root by a user, splits in two while it
 * has one thread: the child goes on as the VM, init (pid 1) of a new namespace;
 * the parent stays behind as the *keeper*, the process the user started: it
 * relays signals to the VM, waits for it and ends the same way. The daemon
 * instead starts each VM in a namespace of its own (src/daemon/monitor.c), so
 * the pid it signals and measures is the VM's; kiln then finds itself pid 1
 * and does not split again.
 */
#define _GNU_SOURCE
#include "jail/pidns.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jail/seccomp.h"
#include "util/log.h"

/* What the keeper relays: what a user, a shell or timeout(1) sends to end or poke a VM. */
static const int relayed[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
#define NRELAYED (sizeof(relayed) / sizeof(relayed[0]))

static volatile pid_t vm_pid;
static int keeper_alive_fd = -1; /* in the VM: hangs up when the keeper is gone */

bool pidns_is_init(void)
{
    return getpid() == 1;
}

static void relay(int sig)
{
    union sigval v = {.sival_int = PIDNS_RELAY_MAGIC};
    sigqueue(vm_pid, sig, v); /* async-signal-safe: one rt_sigqueueinfo */
}

/*
 * Init of a pid namespace gets no signal from an ancestor namespace whose disposition is
 * the default, except SIGKILL and SIGSTOP (pid_namespaces(7)): until the board blocks
 * these and reads them from its signalfd, a handler ends kiln as the default would.
 */
static void init_default(int sig)
{
    _exit(128 + sig);
}

static void init_signals(void)
{
    for (size_t i = 0; i < NRELAYED; i++) {
        struct sigaction old;
        if (sigaction(relayed[i], NULL, &old) || old.sa_handler != SIG_DFL)
            continue;
        struct sigaction sa = {.sa_handler = init_default};
        sigemptyset(&sa.sa_mask);
        sigaction(relayed[i], &sa, NULL);
    }
}

/*
 * The keeper holds no descriptor of the VM's but stdio and the two pipes it owns: a pipe
 * kiln made before the split (a console or stdio relay) must see its end of file when
 * the VM closes its copy, not wait for the keeper.
 */
static void close_all_but(int a, int b)
{
    int keep[2] = {a < b ? a : b, a < b ? b : a};
    unsigned from = 3;
    for (int i = 0; i < 2; i++) {
        if (keep[i] < (int)from)
            continue;
        if ((unsigned)keep[i] > from)
            syscall(SYS_close_range, from, (unsigned)keep[i] - 1, 0);
        from = (unsigned)keep[i] + 1;
    }
    syscall(SYS_close_range, from, ~0u, 0);
}

/* The keeper's whole life: relay, wait, end as the VM ended. Never returns. */
static void keeper(pid_t child, int cleaner_fd, pid_t cleaner, int alive_fd, bool no_seccomp)
{
    close_all_but(cleaner ? cleaner_fd : -1, alive_fd);
    /* Now the VM may go on: a file it opened before the split (a disk's lock, a pipe's end)
     * is its alone (OFD locks belong to the open file, which the keeper no longer holds). */
    char go = 1;
    if (write(alive_fd, &go, 1) != 1)
        kill(child, SIGKILL);
    vm_pid = child;
    prctl(PR_SET_NAME, "kiln-keeper");
    for (size_t i = 0; i < NRELAYED; i++) {
        struct sigaction sa = {.sa_handler = relay, .sa_flags = SA_RESTART};
        sigemptyset(&sa.sa_mask);
        sigaction(relayed[i], &sa, NULL);
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTTIN, SIG_IGN);
    signal(SIGTTOU, SIG_IGN);
    signal(SIGTSTP, SIG_IGN);
    /* A root process outside every namespace: it keeps only what it does (seccomp.h). */
    if (!no_seccomp) {
        struct sc_opts o = {.wait_pid = child};
        int r = prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ? -errno : sc_prepare();
        r = r ? r : sc_load(SC_KEEPER, &o, false);
        if (r) {
            log_err("jail", "keeper: cannot load its seccomp filter: %s", strerror(-r));
            kill(child, SIGKILL);
        }
        sc_set_thread_kind("keeper", -1);
    }
    int st = 0;
    while (waitpid(child, &st, 0) < 0)
        if (errno != EINTR) {
            st = 1 << 8;
            break;
        }
    /* The socket cleaner acts once both of us have closed its pipe (jail.c). */
    if (cleaner) {
        close(cleaner_fd);
        while (waitpid(cleaner, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    if (WIFSIGNALED(st)) {
        int sig = WTERMSIG(st);
        signal(sig, SIG_DFL);
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, sig);
        sigprocmask(SIG_UNBLOCK, &s, NULL);
        raise(sig);
        _exit(128 + sig);
    }
    _exit(WEXITSTATUS(st));
}

int pidns_split(int cleaner_fd, pid_t cleaner, bool no_seccomp)
{
    if (unshare(CLONE_NEWPID)) {
        log_err("jail", "cannot make a pid namespace: %s (--no-jail runs without the jail)", strerror(errno));
        return -1;
    }
    fflush(NULL); /* nothing buffered may be written twice */
    int alive[2]; /* the keeper holds the write end for its whole life */
    if (pipe2(alive, O_CLOEXEC)) {
        log_err("jail", "pipe: %s", strerror(errno));
        return -1;
    }
    pid_t child = fork();
    if (child < 0) {
        log_err("jail", "cannot start the VM in its pid namespace: %s", strerror(errno));
        return -1;
    }
    if (child > 0) {
        keeper(child, cleaner_fd, cleaner, alive[1], no_seccomp);
    }
    /* The VM: it must not outlive the keeper, which is what the user holds. Its parent is
     * outside the namespace (getppid() says 0), so the race with the keeper's death before
     * PR_SET_PDEATHSIG is closed by the keeper's pipe: a hang-up means it is gone. */
    close(alive[1]);
    char go;
    ssize_t n;
    while ((n = read(alive[0], &go, 1)) < 0 && errno == EINTR)
        ;
    if (n != 1) /* the keeper is gone before it let us go */
        _exit(128 + SIGKILL);
    keeper_alive_fd = alive[0];
    pidns_rearm();
    init_signals();
    return 0;
}

/*
 * PR_SET_PDEATHSIG is cleared when credentials change (prctl(2)): the jail calls this
 * again after it drops to its uid. A keeper already gone shows as a hang-up.
 */
void pidns_rearm(void)
{
    if (keeper_alive_fd < 0)
        return;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    struct pollfd p = {.fd = keeper_alive_fd, .events = POLLIN};
    if (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR)))
        _exit(128 + SIGKILL);
}

void pidns_init_signals(void)
{
    init_signals();
}

bool pidns_relayed(int code, int value)
{
    return code == SI_QUEUE && value == PIDNS_RELAY_MAGIC;
}
