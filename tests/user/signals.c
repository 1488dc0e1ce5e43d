/* SIGUSR1 through raise() and kill() to self, SA_SIGINFO with si_signo/si_code, and sigprocmask deferral. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t got, info_signo, info_pid_ok;

static void plain(int sig)
{
    got += sig;
}

static void with_info(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    info_signo = si->si_signo;
    info_pid_ok = si->si_pid == getpid();
    got += sig;
}

int main(void)
{
    signal(SIGUSR1, plain);
    raise(SIGUSR1);
    printf("raise: got=%d\n", (int)got);
    kill(getpid(), SIGUSR1);
    printf("kill: got=%d\n", (int)got);

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = with_info;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR2, &sa, NULL);
    got = 0;
    raise(SIGUSR2);
    printf("siginfo: got=%d signo=%d pid_ok=%d\n", (int)got, (int)info_signo, (int)info_pid_ok);

    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    sigprocmask(SIG_BLOCK, &s, NULL);
    got = 0;
    raise(SIGUSR1);
    printf("blocked: got=%d\n", (int)got);
    sigprocmask(SIG_UNBLOCK, &s, NULL);
    printf("unblocked: got=%d\n", (int)got);
    double x = 1.5; /* FP state must survive a handler */
    raise(SIGUSR1);
    printf("fp=%g\n", x * 2);
    return 0;
}
