/* OCI hooks (hooks.h). */
#define _GNU_SOURCE
#include "oci/hooks.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "oci/log.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One hook: stdin is the state (a memfd, so no pipe can fill), stdout+stderr kept for the message. */
static int hook_run(const struct oci_hook *h, const char *kind, size_t i, const char *state, char *err,
                    size_t errlen)
{
    int in = memfd_create("oci-state", MFD_CLOEXEC), out = memfd_create("oci-hook-out", MFD_CLOEXEC);
    size_t len = strlen(state);
    if (in < 0 || out < 0 || write(in, state, len) != (ssize_t)len || lseek(in, 0, SEEK_SET)) {
        snprintf(err, errlen, "hooks.%s[%zu]: %s", kind, i, strerror(errno));
        if (in >= 0)
            close(in);
        if (out >= 0)
            close(out);
        return -EIO;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in, 0);
        dup2(out, 1);
        dup2(out, 2);
        char *argv0[] = {h->path, NULL};
        char *envp0[] = {NULL};
        signal(SIGPIPE, SIG_DFL);
        execve(h->path, h->args ? h->args : argv0, h->env ? h->env : envp0);
        dprintf(2, "cannot run %s: %s", h->path, strerror(errno));
        _exit(127);
    }
    close(in);
    int rc = 0, st = 0;
    if (pid < 0) {
        rc = -errno;
        snprintf(err, errlen, "hooks.%s[%zu]: fork: %s", kind, i, strerror(errno));
        close(out);
        return rc;
    }
    double end = h->timeout ? now_s() + h->timeout : 0;
    for (;;) {
        pid_t got = waitpid(pid, &st, WNOHANG);
        if (got == pid)
            break;
        if (got < 0 && errno != EINTR) {
            rc = -errno;
            break;
        }
        if (end && now_s() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            snprintf(err, errlen, "hooks.%s[%zu] %s: timed out after %d s", kind, i, h->path, h->timeout);
            close(out);
            return -ETIMEDOUT;
        }
        usleep(5000);
    }
    if (!rc && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
        char msg[512] = "";
        ssize_t n = pread(out, msg, sizeof(msg) - 1, 0);
        msg[n > 0 ? n : 0] = 0;
        for (char *c = msg; *c; c++)
            if (*c == '\n')
                *c = ' ';
        for (size_t l = strlen(msg); l && msg[l - 1] == ' '; l--)
            msg[l - 1] = 0;
        snprintf(err, errlen, "hooks.%s[%zu] %s: %s %d%s%s", kind, i, h->path,
                 WIFSIGNALED(st) ? "killed by signal" : "exit status",
                 WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), msg[0] ? ": " : "", msg);
        rc = -ECHILD;
    }
    close(out);
    return rc;
}

int oci_hooks_run(const struct oci_hooks *hs, const char *kind, const char *state_json, char *err,
                  size_t errlen)
{
    for (size_t i = 0; i < hs->n; i++) {
        oci_debug("hooks.%s[%zu]: %s", kind, i, hs->h[i].path);
        int rc = hook_run(&hs->h[i], kind, i, state_json, err, errlen);
        if (rc)
            return rc;
    }
    return 0;
}
