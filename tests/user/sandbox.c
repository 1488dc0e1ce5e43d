/*
 * Attempts on the process-VM boundary and the limits of a process VM, one
 * per subcommand (tests/integration/test_exec_sandbox.sh runs them):
 *   preload SELF SO DIR   copy SO into DIR and execve SELF with LD_PRELOAD=it
 *   kill PID              signal a pid from outside the VM; print getppid
 *   pids                  fork, getppid, wait4, waitid, kill of a child, process groups
 *   forkmem N MB          N children each try to touch MB MiB at the same time
 *   forkbomb              fork until it fails; print how many and why
 *   ignchld               100 short-lived children with SIGCHLD ignored (never waited for)
 *   e2big SELF            execve with oversized argv/envp, then one that fits
 *   sleepers N            N children that never end; print "ready", then sleep
 *   timefork PROG         a child execs PROG, the parent execs PROG too
 *   execthreads SELF      execve while other threads are blocked in the host (read, sleep, poll, select, epoll)
 *   getlk FILE            F_GETLK's l_pid for a holder in the VM, an OFD lock, a host holder
 *   sigexec SELF          execve keeps ignored signals and the mask, resets handlers
 *   fexec SELF            fexecve (execveat with AT_EMPTY_PATH) of an open descriptor
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY), out = open(to, O_CREAT | O_WRONLY | O_TRUNC, 0755);
    if (in < 0 || out < 0)
        return -1;
    char buf[4096];
    ssize_t n;
    while ((n = read(in, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)n) != n)
            return -1;
    close(in);
    close(out);
    return 0;
}

static int preload(char **argv)
{
    char dst[512];
    snprintf(dst, sizeof(dst), "%s/evil.so", argv[4]);
    if (copy_file(argv[3], dst)) {
        perror("copy");
        return 1;
    }
    char env[600];
    snprintf(env, sizeof(env), "LD_PRELOAD=%s", dst);
    char *nenv[] = {env, "PATH=/bin", NULL};
    char *nargv[] = {argv[2], "stage2", NULL};
    execve(argv[2], nargv, nenv);
    perror("execve");
    return 1;
}

static int stage2(void)
{
    const char *v = getenv("LD_PRELOAD");
    printf("stage2 LD_PRELOAD=%s\n", v ? v : "(none)");
    return 0;
}

static int killer(char **argv)
{
    pid_t pid = (pid_t)atoi(argv[2]);
    printf("kill: %s\n", kill(pid, SIGTERM) ? strerror(errno) : "OK");
    printf("kill0: %s\n", kill(pid, 0) ? strerror(errno) : "OK");
    printf("kill-group: %s\n", kill(-pid, SIGTERM) ? strerror(errno) : "OK");
    printf("pid=%d ppid=%d\n", getpid(), getppid());
    return 0;
}

static int pids(void)
{
    pid_t me = getpid();
    printf("pid=%d ppid=%d pgid=%d sid=%d\n", me, getppid(), getpgid(0), getsid(0));
    int fds[2];
    if (pipe(fds))
        return 1;
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        char b = getppid() == me ? 'y' : 'n';
        if (write(fds[1], &b, 1) != 1)
            _exit(3);
        _exit(7);
    }
    char b = 0;
    if (read(fds[0], &b, 1) != 1)
        return 1;
    printf("child sees parent: %c\n", b);
    int st = 0;
    pid_t w = waitpid(c, &st, 0);
    printf("wait4: same pid %s, exited %d status %d\n", w == c ? "yes" : "no", WIFEXITED(st),
           WEXITSTATUS(st));
    printf("wait4 again: %s\n", waitpid(c, &st, WNOHANG) < 0 ? strerror(errno) : "found");
    fflush(stdout);
    c = fork();
    if (c == 0) {
        for (;;)
            pause();
    }
    printf("kill child: %s\n", kill(c, SIGTERM) ? strerror(errno) : "OK");
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    int r = waitid(P_PID, (id_t)c, &si, WEXITED);
    printf("waitid: %d pid %s code %s sig %d\n", r, si.si_pid == c ? "same" : "other",
           si.si_code == CLD_KILLED ? "KILLED" : "?", si.si_status);
    fflush(stdout);
    c = fork();
    if (c == 0) {
        printf("setpgid child: %d\n", setpgid(0, 0));
        fflush(stdout);
        _exit(getpgid(0) == getpid() ? 0 : 1);
    }
    waitpid(c, &st, 0);
    printf("child own group: %d\n", WEXITSTATUS(st));
    printf("setsid leader: %s\n", setsid() < 0 ? strerror(errno) : "OK");
    printf("no children: %s\n", wait(&st) < 0 ? strerror(errno) : "found");
    return 0;
}

static int forkmem(char **argv)
{
    int n = atoi(argv[2]);
    size_t mb = (size_t)atoi(argv[3]);
    int res[2], hold[2];
    if (pipe(res) || pipe(hold))
        return 1;
    fflush(stdout);
    int forked = 0;
    for (int i = 0; i < n; i++) {
        pid_t c = fork();
        if (c < 0) {
            printf("fork %d: %s\n", i, strerror(errno));
            continue;
        }
        forked++;
        if (c == 0) {
            close(hold[1]);
            close(res[0]);
            char *m = malloc(mb << 20);
            char ok = 'n';
            if (m) {
                for (size_t off = 0; off < (mb << 20); off += 4096)
                    m[off] = 1;
                ok = 'y';
            }
            if (write(res[1], &ok, 1) != 1)
                _exit(2);
            close(res[1]);
            char b;
            while (read(hold[0], &b, 1) > 0) /* keep the memory until the parent says */
                ;
            _exit(0);
        }
    }
    close(res[1]);
    int good = 0, got = 0;
    char b;
    while (got < forked && read(res[0], &b, 1) == 1) {
        got++;
        good += b == 'y';
    }
    close(hold[1]);
    while (wait(NULL) > 0)
        ;
    printf("children=%d touched=%d MiB\n", got, good * (int)mb);
    return 0;
}

static int forkbomb(void)
{
    int hold[2];
    if (pipe(hold))
        return 1;
    fflush(stdout);
    int n = 0;
    for (;;) {
        pid_t c = fork();
        if (c < 0) {
            printf("forked=%d then %s\n", n, errno == EAGAIN ? "EAGAIN" : strerror(errno));
            break;
        }
        if (c == 0) {
            close(hold[1]);
            char b;
            while (read(hold[0], &b, 1) > 0)
                ;
            _exit(0);
        }
        if (++n > 100000)
            break;
    }
    close(hold[1]);
    int reaped = 0;
    while (wait(NULL) > 0)
        reaped++;
    printf("reaped=%d\n", reaped);
    return 0;
}

/* With SIGCHLD ignored, ended children are reaped by the system and never pile up. */
static int ignchld(void)
{
    signal(SIGCHLD, SIG_IGN);
    int n = 0;
    for (int i = 0; i < 100; i++) {
        pid_t c = fork();
        if (c < 0) {
            printf("fork %d: %s\n", i, strerror(errno));
            break;
        }
        if (c == 0)
            _exit(0);
        n++;
        usleep(3000);
    }
    printf("forked=%d\n", n);
    return 0;
}

static int e2big(char **argv)
{
    /* One string over MAX_ARG_STRLEN (128 KiB). */
    size_t big = 200 << 10;
    char *s = malloc(big + 1);
    memset(s, 'a', big);
    s[big] = 0;
    char *a1[] = {argv[2], s, NULL};
    execve(argv[2], a1, environ);
    printf("long string: %s\n", strerror(errno));
    /* 100000 pointers to one 4000-byte string: 400 MB of argv from 4 KB of memory. */
    size_t n = 100000;
    char **v = calloc(n + 2, sizeof(char *));
    s[4000] = 0;
    v[0] = argv[2];
    for (size_t i = 1; i <= n; i++)
        v[i] = s;
    execve(argv[2], v, environ);
    printf("huge argv: %s\n", strerror(errno));
    char *a2[] = {argv[2], NULL};
    execve(argv[2], a2, v);
    printf("huge envp: %s\n", strerror(errno));
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("maxrss_kib=%ld\n", ru.ru_maxrss);
    fflush(stdout);
    /* 250 strings of 4000 bytes (1 MB) fit. */
    v[251] = NULL;
    v[1] = "count";
    execve(argv[2], v, environ);
    printf("1 MB argv: %s\n", strerror(errno));
    return 1;
}

static int sleepers(char **argv)
{
    int n = atoi(argv[2]);
    for (int i = 0; i < n; i++) {
        if (fork() == 0) {
            for (;;)
                pause();
        }
    }
    printf("ready\n");
    fflush(stdout);
    for (;;)
        pause();
}

static int timefork(char **argv)
{
    char *a[] = {argv[2], NULL};
    if (fork() == 0) {
        execve(argv[2], a, environ);
        _exit(1);
    }
    execve(argv[2], a, environ);
    return 1;
}

static void *blocker(void *arg)
{
    int fd = *(int *)arg;
    char b;
    if (read(fd, &b, 1) < 0) /* never returns: nobody writes */
        return NULL;
    return NULL;
}

/* The poll family waits in slices inside kiln: each must stop for execve too. */
static void *poller(void *arg)
{
    struct pollfd pfd = {.fd = *(int *)arg, .events = POLLIN};
    poll(&pfd, 1, -1);
    return NULL;
}

static void *selecter(void *arg)
{
    int fd = *(int *)arg;
    fd_set r;
    FD_ZERO(&r);
    FD_SET(fd, &r);
    select(fd + 1, &r, NULL, NULL, NULL);
    return NULL;
}

static void *epoller(void *arg)
{
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN}, out;
    epoll_ctl(ep, EPOLL_CTL_ADD, *(int *)arg, &ev);
    epoll_wait(ep, &out, 1, -1);
    return NULL;
}

static void *sleeper(void *arg)
{
    (void)arg;
    for (;;)
        sleep(100);
    return NULL;
}

static int execthreads(char **argv)
{
    static int fds[2];
    if (pipe(fds))
        return 1;
    pthread_t t[5];
    pthread_create(&t[0], NULL, blocker, &fds[0]);
    pthread_create(&t[1], NULL, sleeper, NULL);
    pthread_create(&t[2], NULL, poller, &fds[0]);
    pthread_create(&t[3], NULL, selecter, &fds[0]);
    pthread_create(&t[4], NULL, epoller, &fds[0]);
    usleep(100000);
    char *a[] = {argv[2], "count", "from-threads", NULL};
    execve(argv[2], a, environ);
    perror("execve");
    return 1;
}

static int fexec(char **argv)
{
    int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
    char *a[] = {argv[2], "count", "via-fd", NULL};
    fexecve(fd, a, environ); /* execveat(fd, "", ..., AT_EMPTY_PATH) */
    perror("fexecve");
    return 1;
}

static void on_usr1(int sig)
{
    (void)sig;
}

static int sigexec(char **argv)
{
    signal(SIGUSR1, on_usr1);
    signal(SIGUSR2, SIG_IGN);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGHUP);
    sigprocmask(SIG_BLOCK, &s, NULL);
    char *a[] = {argv[2], "sigcheck", NULL};
    execve(argv[2], a, environ);
    perror("execve");
    return 1;
}

/* Who F_GETLK names as the holder of the lock on [start, start+1) of path. */
static const char *holder(const char *path, off_t start)
{
    int fd = open(path, O_RDWR);
    struct flock q = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = start, .l_len = 1};
    if (fd < 0 || fcntl(fd, F_GETLK, &q) < 0)
        return strerror(errno);
    close(fd);
    if (q.l_type == F_UNLCK)
        return "none";
    if (q.l_pid == getppid())
        return "parent";
    return q.l_pid == 0 ? "0" : q.l_pid == -1 ? "-1" : "other";
}

/*
 * F_GETLK's l_pid inside the VM: the parent's vpid for its POSIX lock, -1 for
 * an open file description lock, 0 for a holder outside the VM (byte 200, taken
 * by the test script on the host), as in a pid namespace.
 */
static int getlk(char **argv)
{
    int fd = open(argv[2], O_RDWR);
    struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
    struct flock o = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 100, .l_len = 1};
    if (fd < 0 || fcntl(fd, F_SETLK, &l) < 0)
        return 1;
    int ofd = open(argv[2], O_RDWR);
    if (ofd < 0 || fcntl(ofd, F_OFD_SETLK, &o) < 0)
        return 1;
    pid_t c = fork();
    if (c == 0) {
        printf("posix %s\nofd %s\nhost %s\n", holder(argv[2], 0), holder(argv[2], 100),
               holder(argv[2], 200));
        fflush(stdout);
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    return 0;
}

static int sigcheck(void)
{
    struct sigaction sa;
    sigaction(SIGUSR1, NULL, &sa);
    printf("USR1 %s\n", sa.sa_handler == SIG_DFL ? "default" : "kept");
    sigaction(SIGUSR2, NULL, &sa);
    printf("USR2 %s\n", sa.sa_handler == SIG_IGN ? "ignored" : "reset");
    sigset_t s;
    sigprocmask(SIG_BLOCK, NULL, &s);
    printf("HUP %s\n", sigismember(&s, SIGHUP) ? "blocked" : "unblocked");
    return 0;
}

int main(int argc, char **argv)
{
    const char *m = argc > 1 ? argv[1] : "";
    if (!strcmp(m, "preload") && argc == 5)
        return preload(argv);
    if (!strcmp(m, "stage2"))
        return stage2();
    if (!strcmp(m, "kill") && argc == 3)
        return killer(argv);
    if (!strcmp(m, "pids"))
        return pids();
    if (!strcmp(m, "forkmem") && argc == 4)
        return forkmem(argv);
    if (!strcmp(m, "forkbomb"))
        return forkbomb();
    if (!strcmp(m, "ignchld"))
        return ignchld();
    if (!strcmp(m, "e2big") && argc == 3)
        return e2big(argv);
    if (!strcmp(m, "count")) {
        if (argc > 2 && strlen(argv[2]) < 64)
            printf("argc=%d %s\n", argc, argv[2]);
        else
            printf("argc=%d\n", argc);
        return 0;
    }
    if (!strcmp(m, "sleepers") && argc == 3)
        return sleepers(argv);
    if (!strcmp(m, "timefork") && argc == 3)
        return timefork(argv);
    if (!strcmp(m, "execthreads") && argc == 3)
        return execthreads(argv);
    if (!strcmp(m, "fexec") && argc == 3)
        return fexec(argv);
    if (!strcmp(m, "sigexec") && argc == 3)
        return sigexec(argv);
    if (!strcmp(m, "sigcheck"))
        return sigcheck();
    if (!strcmp(m, "getlk") && argc == 3)
        return getlk(argv);
    fprintf(stderr, "usage: sandbox preload|kill|pids|forkmem|forkbomb|e2big|sleepers|timefork|"
                    "execthreads|sigexec|getlk ...\n");
    return 2;
}
