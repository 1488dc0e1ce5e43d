/*
 * `exec`: another process in a running container. It runs in a process VM
 * of its own over the container's root file system, mounts, limits and
 * network namespace, so it sees and changes the same files; its pids are its
 * own (a process VM has one pid space per VM). docs/oci.md.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "oci/launch.h"
#include "oci/log.h"
#include "oci/oci.h"
#include "oci/spawn.h"
#include "oci/state.h"

static volatile pid_t exec_child;

static void exec_forward(int sig)
{
    if (exec_child > 0)
        kill(exec_child, sig);
}

/* The process from `--process FILE`, or from the command line over the container's own. */
static int exec_process(const struct oci_exec_opts *o, const struct oci_spec *s, struct oci_process *p)
{
    char err[512];
    if (o->process_file) {
        int fd = open(o->process_file, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            oci_err("--process %s: %s", o->process_file, strerror(errno));
            return 1;
        }
        static char text[1 << 20];
        ssize_t n = read(fd, text, sizeof(text) - 1);
        close(fd);
        if (n < 0) {
            oci_err("--process %s: %s", o->process_file, strerror(errno));
            return 1;
        }
        if (oci_process_parse(text, (size_t)n, p, err, sizeof(err))) {
            oci_err("--process %s: %s", o->process_file, err + strlen("config.json: "));
            return 1;
        }
        return 0;
    }
    if (!o->args || !o->args[0]) {
        oci_err("exec: no command given (args after the id, or --process FILE)");
        return 1;
    }
    memset(p, 0, sizeof(*p));
    size_t na = 0, ne = 0, nb = 0;
    while (o->args[na])
        na++;
    while (s->proc.env && s->proc.env[nb])
        nb++;
    while (o->env && o->env[ne])
        ne++;
    p->args = calloc(na + 1, sizeof(char *));
    p->env = calloc(nb + ne + 1, sizeof(char *));
    p->cwd = strdup(o->cwd ? o->cwd : s->proc.cwd ? s->proc.cwd : "/");
    if (!p->args || !p->env || !p->cwd)
        return 1;
    for (size_t i = 0; i < na; i++)
        p->args[i] = strdup(o->args[i]);
    for (size_t i = 0; i < nb; i++)
        p->env[i] = strdup(s->proc.env[i]);
    for (size_t i = 0; i < ne; i++) {
        if (!strchr(o->env[i], '=')) {
            oci_err("exec: --env '%s' is not NAME=VALUE", o->env[i]);
            return 1;
        }
        p->env[nb + i] = strdup(o->env[i]);
    }
    p->terminal = o->tty;
    p->uid = s->proc.uid;
    p->gid = s->proc.gid;
    if (o->user) {
        unsigned long u, g;
        char *end;
        u = strtoul(o->user, &end, 10);
        g = u;
        if (*end == ':')
            g = strtoul(end + 1, &end, 10);
        if (*end || u > 0xfffffffeul || g > 0xfffffffeul) {
            oci_err("exec: --user '%s' must be UID[:GID] (numbers)", o->user);
            return 1;
        }
        p->uid = (uint32_t)u;
        p->gid = (uint32_t)g;
    }
    if (p->cwd[0] != '/') {
        oci_err("exec: --cwd '%s' must be absolute", p->cwd);
        return 1;
    }
    return 0;
}

int oci_exec(const char *root, const struct oci_exec_opts *o)
{
    if (!oci_id_valid(o->id)) {
        oci_err("invalid container id '%s'", o->id);
        return 1;
    }
    int dirfd = oci_state_open(root, o->id, false, false);
    if (dirfd < 0) {
        oci_err("container %s does not exist", o->id);
        return 1;
    }
    struct oci_state st;
    struct oci_spec spec;
    struct oci_process proc;
    struct oci_cmd cmd = {.prog_fd = -1, .netns_fd = -1};
    memset(&spec, 0, sizeof(spec));
    memset(&proc, 0, sizeof(proc));
    int ret = 1;
    if (oci_state_load(dirfd, &st)) {
        oci_err("container %s: cannot read its state", o->id);
        close(dirfd);
        return 1;
    }
    enum oci_status s = oci_status_of(dirfd, &st);
    if (s == OCI_STOPPED || s == OCI_CREATING || (s == OCI_PAUSED && !o->ignore_paused)) {
        oci_err("cannot exec in container %s: it is %s", o->id, oci_status_name(s));
        goto out;
    }
    char dir[PATH_MAX + 8], cfg[PATH_MAX + 32], err[1024];
    snprintf(dir, sizeof(dir), "%s/%s", root, o->id);
    snprintf(cfg, sizeof(cfg), "%s/config.json", dir);
    if (oci_load_spec(cfg, &spec) || exec_process(o, &spec, &proc))
        goto out;
    if (proc.terminal && !o->console_socket) {
        oci_err("exec: a terminal was asked for but no --console-socket was given");
        goto out;
    }
    if (oci_cmd_build(&spec, &proc, st.bundle, dir, &cmd, err, sizeof(err))) {
        oci_err("%s", err);
        goto out;
    }
    struct oci_spawn sp = {.console_socket = o->console_socket, .terminal = proc.terminal,
                           .rows = proc.cons_rows, .cols = proc.cons_cols};
    pid_t pid = oci_spawn(&cmd, &sp, err, sizeof(err));
    oci_cmd_free(&cmd);
    if (pid < 0) {
        oci_err("%s", err);
        goto out;
    }
    int rc;
    if (o->pid_file && (rc = oci_write_pid_file(o->pid_file, pid))) {
        oci_err("--pid-file %s: %s", o->pid_file, strerror(-rc));
        kill(pid, SIGKILL);
        goto out;
    }
    close(dirfd);
    dirfd = -1;
    if (o->detach) {
        ret = 0;
        goto out;
    }
    /* Attached: this command ends with the process, passing on the signals it gets (as runc). */
    exec_child = pid;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = exec_forward;
    static const int fwd[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
    for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++)
        sigaction(fwd[i], &sa, NULL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    ret = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
out:
    oci_process_free(&proc);
    oci_spec_free(&spec);
    oci_state_free(&st);
    if (dirfd >= 0)
        close(dirfd);
    return ret;
}
