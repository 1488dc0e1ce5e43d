/*
 * select, pselect, poll and an epoll + eventfd event loop over pipes, with a
 * thread and a fork child as the other side. Prints only what does not
 * depend on timing, so the output is the same under kiln and qemu-riscv64.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int efd, pfd[2];

static void nap(int ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static void *writer(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3; i++) {
        nap(20);
        uint64_t one = 1;
        if (write(efd, &one, 8) != 8)
            perror("eventfd write");
    }
    nap(20);
    if (write(pfd[1], "x", 1) != 1)
        perror("pipe write");
    return NULL;
}

/* A descriptor number that is surely closed now. A fixed number (200, 300) is not: runners hand
 * descriptors down, qemu-riscv64 passes them to its guest and its own descriptors land wherever
 * the lowest free number is, so the two emulators saw different things under CI. */
static int just_closed_descriptor(void)
{
    int q[2];
    if (pipe(q))
        return 1023;
    close(q[0]);
    close(q[1]);
    return q[1];
}

static void test_select(void)
{
    int p[2];
    if (pipe(p))
        return;
    fd_set rd, wr;
    struct timeval tv = {0, 0};
    FD_ZERO(&rd);
    FD_SET(p[0], &rd);
    printf("select empty: %d\n", select(p[0] + 1, &rd, NULL, NULL, &tv));
    FD_ZERO(&rd);
    FD_ZERO(&wr);
    FD_SET(p[0], &rd);
    FD_SET(p[1], &wr);
    int n = select(p[1] + 1, &rd, &wr, NULL, NULL);
    printf("select write end: %d read=%d write=%d\n", n, FD_ISSET(p[0], &rd), FD_ISSET(p[1], &wr));
    if (write(p[1], "a", 1) != 1)
        return;
    FD_ZERO(&rd);
    FD_SET(p[0], &rd);
    tv = (struct timeval){1, 0};
    n = select(p[0] + 1, &rd, NULL, NULL, &tv);
    printf("select data: %d read=%d\n", n, FD_ISSET(p[0], &rd));
    FD_ZERO(&rd);
    FD_SET(p[0], &rd);
    struct timespec ts = {0, 10000000};
    sigset_t none;
    sigemptyset(&none);
    printf("pselect data: %d\n", pselect(p[0] + 1, &rd, NULL, NULL, &ts, &none));
    int closed = just_closed_descriptor();
    FD_ZERO(&rd);
    FD_SET(closed, &rd);
    n = select(closed + 1, &rd, NULL, NULL, &tv);
    printf("select closed fd: %d %s\n", n, n < 0 ? strerror(errno) : "");
    close(p[0]);
    close(p[1]);
}

static void test_poll(void)
{
    int p[2];
    if (pipe(p))
        return;
    struct pollfd f[3] = {{p[0], POLLIN, 0}, {-1, POLLIN, 0}, {just_closed_descriptor(), POLLIN, 0}};
    int n = poll(f, 2, 10);
    printf("poll empty: %d\n", n);
    n = poll(f, 3, 10);
    printf("poll closed fd: %d revents=%#x\n", n, f[2].revents);
    if (write(p[1], "ab", 2) != 2)
        return;
    n = poll(f, 2, -1);
    printf("poll data: %d revents=%#x\n", n, f[0].revents);
    close(p[1]);
    char buf[4];
    if (read(p[0], buf, sizeof(buf)) != 2)
        return;
    n = poll(f, 1, -1);
    printf("poll hangup: %d revents=%#x\n", n, f[0].revents);
    close(p[0]);
}

static void test_epoll(void)
{
    efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (efd < 0 || ep < 0 || pipe2(pfd, O_CLOEXEC)) {
        perror("epoll setup");
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0x1122334455667788ull};
    printf("epoll_ctl add eventfd: %d\n", epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev));
    ev = (struct epoll_event){.events = EPOLLIN, .data.u32 = 7};
    printf("epoll_ctl add pipe: %d\n", epoll_ctl(ep, EPOLL_CTL_ADD, pfd[0], &ev));
    int r = epoll_ctl(ep, EPOLL_CTL_ADD, pfd[0], &ev);
    printf("epoll_ctl add again: %d %s\n", r, r ? strerror(errno) : "");
    struct epoll_event out[4];
    printf("epoll_wait idle: %d\n", epoll_wait(ep, out, 4, 0));
    pthread_t th;
    pthread_create(&th, NULL, writer, NULL);
    uint64_t total = 0;
    int got_pipe = 0, bad_data = 0;
    while (total < 3 || !got_pipe) {
        int n = epoll_wait(ep, out, 4, 5000);
        if (n <= 0) {
            printf("epoll_wait: %d %s\n", n, n ? strerror(errno) : "timeout");
            break;
        }
        for (int i = 0; i < n; i++) {
            if (out[i].data.u64 == 0x1122334455667788ull) {
                uint64_t v;
                if (read(efd, &v, 8) == 8)
                    total += v;
            } else if (out[i].data.u32 == 7) {
                char c;
                got_pipe = read(pfd[0], &c, 1) == 1 && c == 'x';
            } else {
                bad_data++;
            }
        }
    }
    pthread_join(th, NULL);
    printf("event loop: eventfd total=%llu pipe=%d bad=%d\n", (unsigned long long)total, got_pipe, bad_data);

    /* A fork child as the writer; the parent waits in the same epoll. */
    pid_t pid = fork();
    if (pid == 0) {
        nap(30);
        const char msg[] = "from child";
        _exit(write(pfd[1], msg, sizeof(msg)) == sizeof(msg) ? 3 : 4);
    }
    int n = epoll_wait(ep, out, 4, 5000);
    char buf[32] = {0};
    if (n == 1 && out[0].data.u32 == 7 && read(pfd[0], buf, sizeof(buf)) > 0)
        printf("fork: %s\n", buf);
    int st;
    waitpid(pid, &st, 0);
    printf("fork: exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    printf("epoll_ctl del: %d\n", epoll_ctl(ep, EPOLL_CTL_DEL, pfd[0], NULL));
    ev = (struct epoll_event){.events = EPOLLIN | EPOLLET, .data.u32 = 9};
    printf("epoll_ctl mod: %d\n", epoll_ctl(ep, EPOLL_CTL_MOD, efd, &ev));
    uint64_t two = 2;
    if (write(efd, &two, 8) != 8)
        return;
    n = epoll_wait(ep, out, 4, 1000);
    printf("edge: %d data=%u\n", n, n == 1 ? out[0].data.u32 : 0);
    printf("edge again: %d\n", epoll_wait(ep, out, 4, 0));
    close(ep);
    close(efd);
    int sem = eventfd(2, EFD_SEMAPHORE | EFD_NONBLOCK);
    uint64_t v = 0;
    for (int i = 0; i < 3; i++) {
        int r2 = (int)read(sem, &v, 8);
        printf("semaphore read: %d %s\n", r2, r2 < 0 ? strerror(errno) : "");
    }
}

static volatile int got_usr1;
static pthread_t main_thread;

static void on_usr1(int sig)
{
    (void)sig;
    got_usr1 = 1;
}

static void *signaller(void *arg)
{
    (void)arg;
    nap(50);
    pthread_kill(main_thread, SIGUSR1);
    return NULL;
}

/* A signal with a handler ends a wait that has no timeout with EINTR (signal(7)). */
static void test_interrupt(void)
{
    struct sigaction sa = {.sa_handler = on_usr1};
    sigaction(SIGUSR1, &sa, NULL);
    main_thread = pthread_self();
    int p[2];
    if (pipe(p))
        return;
    struct pollfd f = {p[0], POLLIN, 0};
    pthread_t th;
    pthread_create(&th, NULL, signaller, NULL);
    int n = poll(&f, 1, -1);
    printf("poll interrupted: %d %s handler=%d\n", n, n < 0 ? strerror(errno) : "", got_usr1);
    pthread_join(th, NULL);
    got_usr1 = 0;
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN};
    epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);
    pthread_create(&th, NULL, signaller, NULL);
    n = epoll_wait(ep, &ev, 1, -1);
    printf("epoll interrupted: %d %s handler=%d\n", n, n < 0 ? strerror(errno) : "", got_usr1);
    pthread_join(th, NULL);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    test_select();
    test_poll();
    test_epoll();
    test_interrupt();
    return 5;
}
