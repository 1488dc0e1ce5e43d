/*
 * rt_sigsuspend: with SIGUSR1 blocked, a child sends it and the parent waits
 * in sigsuspend with an empty mask. The handler must run with the wait's
 * mask, sigsuspend must return -1/EINTR, and the old mask (SIGUSR1 blocked)
 * must be back afterwards (Linux restores it through the handler's frame).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t got, blocked_in_handler;

static void on_usr1(int sig)
{
    sigset_t cur;
    sigprocmask(SIG_BLOCK, NULL, &cur);
    blocked_in_handler = sigismember(&cur, SIGUSR1); /* the signal itself, while handled */
    got = sig;
}

int main(void)
{
    signal(SIGUSR1, on_usr1);
    sigset_t block, empty, after;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, NULL);
    pid_t parent = getpid();
    pid_t c = fork();
    if (c == 0) {
        kill(parent, SIGUSR1);
        _exit(0);
    }
    waitpid(c, NULL, 0);
    sigemptyset(&empty);
    int r = sigsuspend(&empty);
    printf("sigsuspend=%d %s\n", r, r < 0 && errno == EINTR ? "EINTR" : strerror(errno));
    printf("handler ran: %s, USR1 blocked in it: %s\n", got == SIGUSR1 ? "yes" : "no",
           blocked_in_handler ? "yes" : "no");
    sigprocmask(SIG_BLOCK, NULL, &after);
    printf("USR1 blocked after: %s\n", sigismember(&after, SIGUSR1) ? "yes" : "no");
    return 0;
}
