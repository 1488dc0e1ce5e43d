/* Signal names for `kill ID SIGNAL` (signal(7)): "TERM", "SIGTERM", "term" or "15". */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>

#include "oci/oci.h"

static const struct {
    const char *name;
    int sig;
} sigs[] = {
    {"HUP", SIGHUP},   {"INT", SIGINT},     {"QUIT", SIGQUIT},   {"ILL", SIGILL},
    {"TRAP", SIGTRAP}, {"ABRT", SIGABRT},   {"IOT", SIGIOT},     {"BUS", SIGBUS},
    {"FPE", SIGFPE},   {"KILL", SIGKILL},   {"USR1", SIGUSR1},   {"SEGV", SIGSEGV},
    {"USR2", SIGUSR2}, {"PIPE", SIGPIPE},   {"ALRM", SIGALRM},   {"TERM", SIGTERM},
    {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT}, {"STOP", SIGSTOP},
    {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN},   {"TTOU", SIGTTOU},   {"URG", SIGURG},
    {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ},   {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},
    {"WINCH", SIGWINCH}, {"IO", SIGIO},     {"POLL", SIGPOLL},   {"PWR", SIGPWR},
    {"SYS", SIGSYS},
};

int oci_signal_parse(const char *s)
{
    if (!s || !*s)
        return -1;
    char *end;
    long n = strtol(s, &end, 10);
    if (!*end)
        return n >= 1 && n <= 64 ? (int)n : -1;
    if (!strncasecmp(s, "SIG", 3))
        s += 3;
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        if (!strcasecmp(s, sigs[i].name))
            return sigs[i].sig;
    /* RTMIN+N / RTMAX-N */
    if (!strncasecmp(s, "RTMIN", 5) || !strncasecmp(s, "RTMAX", 5)) {
        int base = toupper((unsigned char)s[3]) == 'I' ? SIGRTMIN : SIGRTMAX;
        long off = s[5] ? strtol(s + 5, &end, 10) : 0;
        if (s[5] && *end)
            return -1;
        long sig = base + off;
        return sig >= SIGRTMIN && sig <= SIGRTMAX ? (int)sig : -1;
    }
    return -1;
}
