/* The container's process (spawn.h). */
#define _GNU_SOURCE
#include "oci/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "oci/console.h"
#include "oci/log.h"

/* In the child: reports err on the sync pipe (the parent prints it) and ends. */
static void child_fail(int sync, const char *err)
{
    size_t n = strlen(err);
    if (!n || write(sync, err, n) < 0)
        _exit(1);
    _exit(1);
}

static int cmp_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

/*
 * Closes every descriptor above stderr but the ones the child needs: above all
 * the state directory's, whose flock(2) a copy would hold for as long as the
 * container runs (flock belongs to the open file description).
 */
static void close_others(int *keep, size_t n)
{
    qsort(keep, n, sizeof(int), cmp_int);
    unsigned from = 3;
    for (size_t i = 0; i < n; i++) {
        if (keep[i] < 3)
            continue;
        if ((unsigned)keep[i] > from)
            syscall(SYS_close_range, from, (unsigned)keep[i] - 1, 0);
        from = (unsigned)keep[i] + 1;
    }
    syscall(SYS_close_range, from, ~0u, 0);
}

static void child(struct oci_cmd *cmd, const struct oci_spawn *sp, int sync, int slave)
{
    char err[512];
    int keep[] = {sync, slave, cmd->prog_fd, cmd->netns_fd};
    close_others(keep, sizeof(keep) / sizeof(keep[0]));
    /* Default dispositions: kiln exec relies on them (e.g. SIGCHLD, SIGPIPE handled itself). */
    signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (slave >= 0) {
        int rc = oci_console_attach(slave);
        if (rc) {
            snprintf(err, sizeof(err), "cannot make the pty the container's terminal: %s", strerror(-rc));
            child_fail(sync, err);
        }
    } else if (setsid() < 0) {
        /* Already a group leader (the caller made it one): keep its session. */
    }
    if (oci_cmd_enter(cmd, err, sizeof(err)))
        child_fail(sync, err);
    /* Ready: one NUL byte. The engine gets the pid now; no guest code has run. */
    if (write(sync, "", 1) != 1)
        _exit(1);
    close(sync);
    if (sp->fifo) {
        /* fifo(7): opening for writing blocks until `start` opens it for reading. */
        int fd = open(sp->fifo, O_WRONLY | O_CLOEXEC);
        if (fd < 0) {
            fprintf(stderr, "kiln-runc: exec.fifo: %s\n", strerror(errno));
            _exit(1);
        }
        if (write(fd, "0", 1) != 1) {
            /* start went away before reading: it reports the failure itself. */
        }
        close(fd);
    }
    oci_cmd_exec(cmd, err, sizeof(err));
    fprintf(stderr, "kiln-runc: %s\n", err);
    _exit(127);
}

pid_t oci_spawn(struct oci_cmd *cmd, const struct oci_spawn *sp, char *err, size_t errlen)
{
    int master = -1, slave = -1, rc;
    if (sp->terminal) {
        rc = oci_console_open(&master, &slave, sp->rows, sp->cols);
        if (rc) {
            snprintf(err, errlen, "cannot open a pseudo-terminal: %s", strerror(-rc));
            return rc;
        }
        rc = oci_console_send(sp->console_socket, master);
        close(master);
        if (rc) {
            close(slave);
            snprintf(err, errlen, "--console-socket %s: %s", sp->console_socket, strerror(-rc));
            return rc;
        }
    }
    int sync[2];
    if (pipe2(sync, O_CLOEXEC)) {
        rc = -errno;
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        if (slave >= 0)
            close(slave);
        return rc;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        rc = -errno;
        snprintf(err, errlen, "fork: %s", strerror(errno));
        close(sync[0]);
        close(sync[1]);
        if (slave >= 0)
            close(slave);
        return rc;
    }
    if (pid == 0) {
        close(sync[0]);
        child(cmd, sp, sync[1], slave);
    }
    close(sync[1]);
    if (slave >= 0)
        close(slave);
    char buf[512];
    ssize_t n;
    while ((n = read(sync[0], buf, sizeof(buf) - 1)) < 0 && errno == EINTR)
        ;
    close(sync[0]);
    if (n == 1 && buf[0] == 0)
        return pid;
    /* Not ready: a message, or nothing when it died. Its exit is collected here, not by the engine. */
    buf[n > 0 ? n : 0] = 0;
    snprintf(err, errlen, "%s", n > 0 ? buf : "the container's process ended while being set up");
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -EIO;
}

int oci_write_pid_file(const char *path, pid_t pid)
{
    char tmp[4200];
    if (snprintf(tmp, sizeof(tmp), "%s.kiln-tmp", path) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    char v[32];
    int len = snprintf(v, sizeof(v), "%d", (int)pid);
    int rc = write(fd, v, (size_t)len) == len ? 0 : -EIO;
    close(fd);
    if (!rc && rename(tmp, path))
        rc = -errno;
    if (rc)
        unlink(tmp);
    return rc;
}
