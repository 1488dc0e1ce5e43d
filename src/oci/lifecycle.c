/*
 * create, start, kill, delete, pause and resume (runtime-spec runtime.md
 * "Lifecycle" and "Operations"; runc's behaviour where the spec leaves room:
 * a created container may be deleted, a stopped one not killed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "oci/hooks.h"
#include "oci/launch.h"
#include "oci/log.h"
#include "oci/oci.h"
#include "oci/spawn.h"
#include "oci/state.h"
#include "user/proc.h"

#define MAX_TREE 4096

/* Reads a whole small file (config.json) into a malloc'd buffer. */
static char *read_file(const char *path, size_t max, size_t *len, int *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *err = errno;
        return NULL;
    }
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap + 1);
    ssize_t r;
    while (buf && (r = read(fd, buf + n, cap - n)) > 0) {
        n += (size_t)r;
        if (n == cap) {
            if (cap >= max) {
                free(buf);
                buf = NULL;
                *err = EFBIG;
                break;
            }
            char *b = realloc(buf, 2 * cap + 1);
            if (!b) {
                free(buf);
                buf = NULL;
                *err = ENOMEM;
                break;
            }
            buf = b;
            cap *= 2;
        }
    }
    close(fd);
    if (buf) {
        buf[n] = 0;
        *len = n;
    } else if (!*err) {
        *err = ENOMEM;
    }
    return buf;
}

int oci_load_spec(const char *path, struct oci_spec *s)
{
    size_t len = 0;
    int e = 0;
    char *text = read_file(path, 8u << 20, &len, &e);
    if (!text) {
        oci_err("%s: %s", path, strerror(e));
        return 1;
    }
    char err[512];
    int rc = oci_spec_parse(text, len, s, err, sizeof(err));
    free(text);
    if (rc) {
        oci_err("%s", err);
        return 1;
    }
    return 0;
}

static int copy_file(const char *from, int dirfd, const char *to)
{
    size_t len = 0;
    int e = 0;
    char *text = read_file(from, 8u << 20, &len, &e);
    if (!text)
        return -e;
    int fd = openat(dirfd, to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = fd < 0 ? -errno : write(fd, text, len) == (ssize_t)len ? 0 : -EIO;
    if (fd >= 0)
        close(fd);
    free(text);
    return rc;
}

static void now_rfc3339(char *out, size_t len)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec);
}

/* Opens and loads a container; 0, or 1 after saying why. */
static int open_container(const char *root, const char *id, bool exclusive, int *dirfd,
                          struct oci_state *st)
{
    if (!oci_id_valid(id)) {
        oci_err("invalid container id '%s'", id);
        return 1;
    }
    int fd = oci_state_open(root, id, false, exclusive);
    if (fd == -ENOENT) {
        oci_err("container %s does not exist", id);
        return 1;
    }
    if (fd < 0) {
        oci_err("container %s: %s/%s: %s", id, root, id, strerror(-fd));
        return 1;
    }
    int rc = oci_state_load(fd, st);
    if (rc) {
        oci_err("container %s: cannot read its state: %s", id, strerror(-rc));
        close(fd);
        return 1;
    }
    *dirfd = fd;
    return 0;
}

int oci_create(const char *root, const struct oci_create_opts *o)
{
    if (!oci_id_valid(o->id)) {
        oci_err("invalid container id '%s' (letters, digits, '_', '+', '-', '.')", o->id);
        return 1;
    }
    char bundle[PATH_MAX], cfgpath[PATH_MAX + 32];
    if (!realpath(o->bundle ? o->bundle : ".", bundle)) {
        oci_err("bundle %s: %s", o->bundle ? o->bundle : ".", strerror(errno));
        return 1;
    }
    snprintf(cfgpath, sizeof(cfgpath), "%s/config.json", bundle);
    struct oci_spec spec;
    if (oci_load_spec(cfgpath, &spec))
        return 1;
    if (!spec.has_process) {
        oci_err("config.json: process is required to create a container");
        oci_spec_free(&spec);
        return 1;
    }
    if (spec.proc.terminal && !o->console_socket) {
        oci_err("process.terminal is true but no --console-socket was given");
        oci_spec_free(&spec);
        return 1;
    }
    if (!spec.proc.terminal && o->console_socket)
        oci_debug("--console-socket without process.terminal: the container keeps the caller's stdio");
    int dirfd = oci_state_open(root, o->id, true, true);
    if (dirfd == -EEXIST) {
        oci_err("container with id %s already exists", o->id);
        oci_spec_free(&spec);
        return 1;
    }
    if (dirfd < 0) {
        oci_err("cannot make the state directory %s/%s: %s", root, o->id, strerror(-dirfd));
        oci_spec_free(&spec);
        return 1;
    }
    char dir[PATH_MAX + 8], fifo[PATH_MAX + 32], err[1024];
    snprintf(dir, sizeof(dir), "%s/%s", root, o->id);
    snprintf(fifo, sizeof(fifo), "%s/exec.fifo", dir);
    struct oci_cmd cmd = {.prog_fd = -1, .netns_fd = -1};
    pid_t pid = -1;
    int rc = copy_file(cfgpath, dirfd, "config.json");
    if (rc) {
        oci_err("cannot keep config.json in %s: %s", dir, strerror(-rc));
        goto fail;
    }
    if (spec.vm_kind == OCI_VM_SYSTEM ? oci_system_cmd_build(&spec, bundle, &cmd, err, sizeof(err))
                                      : oci_cmd_build(&spec, &spec.proc, bundle, dir, &cmd, err, sizeof(err))) {
        oci_err("%s", err);
        goto fail;
    }
    /* `exec` joins a process VM through its supervisor's socket (exec_proc.c). */
    char ctl[PATH_MAX + 32];
    snprintf(ctl, sizeof(ctl), "%s/" OCI_CTL_SOCKET, dir);
    if (spec.vm_kind == OCI_VM_PROCESS && oci_cmd_control(&cmd, ctl)) {
        oci_err("out of memory");
        goto fail;
    }
    if (oci_log_debugging())
        for (size_t i = 0; i < cmd.n; i++)
            oci_debug("kiln exec argv[%zu] = %s", i, cmd.argv[i]);
    if (mkfifo(fifo, 0600)) {
        oci_err("cannot make %s: %s", fifo, strerror(errno));
        goto fail;
    }
    struct oci_spawn sp = {.console_socket = o->console_socket, .terminal = spec.proc.terminal,
                           .rows = spec.proc.cons_rows, .cols = spec.proc.cons_cols, .fifo = fifo};
    pid = oci_spawn(&cmd, &sp, err, sizeof(err));
    if (pid < 0) {
        oci_err("%s", err);
        goto fail;
    }
    struct oci_state st = {.pid = pid, .vm_kind = spec.vm_kind, .annotations = spec.annotations};
    snprintf(st.id, sizeof(st.id), "%s", o->id);
    snprintf(st.bundle, sizeof(st.bundle), "%s", bundle);
    if (spec.root_path[0] == '/')
        snprintf(st.rootfs, sizeof(st.rootfs), "%s", spec.root_path);
    else
        snprintf(st.rootfs, sizeof(st.rootfs), "%.2000s/%.2000s", bundle, spec.root_path);
    now_rfc3339(st.created, sizeof(st.created));
    if (oci_proc_stat(pid, &st.start_time, NULL, NULL)) {
        oci_err("the container's process %d ended at once", (int)pid);
        goto fail;
    }
    rc = oci_state_save(dirfd, &st);
    if (rc) {
        oci_err("cannot write %s/state.json: %s", dir, strerror(-rc));
        goto fail;
    }
    /* config.md: prestart (deprecated) then createRuntime, once the runtime environment exists;
       a failing hook fails create and the container goes. */
    char *sj = oci_state_json(&st, OCI_CREATING, false);
    for (int k = OCI_HOOK_PRESTART; sj && k <= OCI_HOOK_CREATE_RUNTIME; k++)
        if (oci_hooks_run(&spec.hooks[k], k == OCI_HOOK_PRESTART ? "prestart" : "createRuntime", sj, err,
                          sizeof(err))) {
            oci_err("%s", err);
            free(sj);
            goto fail;
        }
    free(sj);
    if (o->pid_file && (rc = oci_write_pid_file(o->pid_file, pid))) {
        oci_err("--pid-file %s: %s", o->pid_file, strerror(-rc));
        goto fail;
    }
    oci_debug("container %s created: pid %d", o->id, (int)pid);
    oci_cmd_free(&cmd);
    oci_spec_free(&spec);
    close(dirfd);
    return 0;
fail:
    if (pid > 0)
        kill(pid, SIGKILL);
    oci_cmd_free(&cmd);
    oci_spec_free(&spec);
    oci_state_remove(root, o->id);
    close(dirfd);
    return 1;
}

/* poststart, poststop: from the config.json kept at create; a failure is only a warning (config.md). */
static void run_hooks_warn(const char *root, const struct oci_state *st, enum oci_hook_kind k,
                           const char *kind, enum oci_status s)
{
    char cfg[PATH_MAX + OCI_ID_MAX + 32], err[1024];
    snprintf(cfg, sizeof(cfg), "%s/%s/config.json", root, st->id);
    struct oci_spec spec;
    size_t len = 0;
    int e = 0;
    char *text = read_file(cfg, 8u << 20, &len, &e);
    if (!text)
        return;
    int rc = oci_spec_parse(text, len, &spec, err, sizeof(err));
    free(text);
    if (rc)
        return;
    char *sj = spec.hooks[k].n ? oci_state_json(st, s, false) : NULL;
    if (sj && oci_hooks_run(&spec.hooks[k], kind, sj, err, sizeof(err)))
        oci_warn("%s", err);
    free(sj);
    oci_spec_free(&spec);
}

int oci_start(const char *root, const char *id)
{
    int dirfd;
    struct oci_state st;
    if (open_container(root, id, true, &dirfd, &st))
        return 1;
    enum oci_status s = oci_status_of(dirfd, &st);
    int ret = 1;
    if (s != OCI_CREATED) {
        /* runtime.md "start": on a container that is not created, an error and no effect. */
        oci_err("cannot start container %s: it is %s, not created", id, oci_status_name(s));
        goto out;
    }
    int fd = openat(dirfd, "exec.fifo", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        oci_err("cannot start container %s: exec.fifo: %s", id, strerror(errno));
        goto out;
    }
    /* The waiting process's open for writing completes now; its one byte says it goes on. */
    char c = 0;
    ssize_t n = -1;
    for (int i = 0; i < 1000 && n != 1; i++) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        poll(&pf, 1, 10);
        n = read(fd, &c, 1);
        if (n != 1 && oci_status_of(dirfd, &st) == OCI_STOPPED)
            break;
    }
    close(fd);
    unlinkat(dirfd, "exec.fifo", 0);
    if (n != 1) {
        oci_err("cannot start container %s: its process ended before start", id);
        goto out;
    }
    oci_debug("container %s started", id);
    run_hooks_warn(root, &st, OCI_HOOK_POSTSTART, "poststart", OCI_RUNNING);
    ret = 0;
out:
    oci_state_free(&st);
    close(dirfd);
    return ret;
}

static volatile pid_t run_child;

static void run_forward(int sig)
{
    if (run_child > 0)
        kill(run_child, sig);
}

int oci_run(const char *root, const struct oci_create_opts *o, bool detach, bool keep)
{
    if (oci_create(root, o))
        return 1;
    int dirfd;
    struct oci_state st;
    if (open_container(root, o->id, false, &dirfd, &st))
        return 1;
    pid_t pid = st.pid;
    oci_state_free(&st);
    close(dirfd);
    if (oci_start(root, o->id)) {
        oci_delete(root, o->id, true);
        return 1;
    }
    if (detach)
        return 0;
    /* The container's process is our child: wait for it, passing signals on (as runc run). */
    run_child = pid;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = run_forward;
    static const int fwd[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
    for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++)
        sigaction(fwd[i], &sa, NULL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!keep)
        oci_delete(root, o->id, true);
    return WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
}

/* Signals pid and every process below it; a second pass catches children forked meanwhile. */
static void signal_tree(pid_t pid, int sig)
{
    pid_t *tree = malloc(MAX_TREE * sizeof(pid_t));
    if (!tree) {
        kill(pid, sig);
        return;
    }
    for (int pass = 0; pass < 2; pass++) {
        size_t n = oci_ptree(pid, tree, MAX_TREE);
        for (size_t i = 0; i < n; i++)
            kill(tree[i], sig);
    }
    free(tree);
}

/*
 * The host process of the guest's first program (its pid 1): the shallowest process below the
 * container's that leads its own process group (kiln exec's first_program() makes one; kiln's
 * supervisor, and the jail's outer process, stay in the container process's group). 0 if none
 * yet (a created container, or the VM still starting).
 */
static pid_t first_program(pid_t pid)
{
    pid_t tree[64];
    size_t n = oci_ptree(pid, tree, 64);
    for (size_t i = 1; i < n; i++)
        if (oci_proc_pgrp(tree[i]) == tree[i])
            return tree[i];
    return 0;
}

int oci_kill(const char *root, const char *id, int sig, bool all)
{
    int dirfd;
    struct oci_state st;
    if (open_container(root, id, false, &dirfd, &st))
        return 1;
    enum oci_status s = oci_status_of(dirfd, &st);
    int ret = 1;
    if (s != OCI_CREATED && s != OCI_RUNNING && s != OCI_PAUSED) {
        /* runtime.md "kill": only a created or running container can be signalled. */
        oci_err("cannot kill container %s: it is %s (container not running)", id, oci_status_name(s));
        goto out;
    }
    /*
     * SIGKILL goes to the VM's own process (the whole VM ends with it). Any other signal is
     * the guest's: it reaches the guest's first program (pid 1, as runc signals the
     * container's init) the way one process of a VM signals another, as the guest signal
     * carried by PROC_SIG_CARRIER (src/user/signal.c); kiln exec's own forwarding knows only
     * a few signals, and a host SIGPWR would just end the VM.
     */
    pid_t target = st.pid;
    int rc = 0;
    /* A system VM takes signals as kiln run does: SIGTERM/SIGINT reach the workload. */
    pid_t first = !all && sig != SIGKILL && sig != SIGSTOP && sig != SIGCONT && s == OCI_RUNNING &&
                          st.vm_kind == OCI_VM_PROCESS
                      ? first_program(st.pid)
                      : 0;
    if (all) {
        signal_tree(st.pid, sig);
    } else if (first > 0) {
        union sigval v = {.sival_int = sig};
        target = first;
        rc = sigqueue(first, PROC_SIG_CARRIER, v);
    } else {
        rc = kill(target, sig);
    }
    if (rc) {
        oci_err("kill %d: %s", (int)target, strerror(errno));
        goto out;
    }
    /* A paused container only sees the signal once resumed, except SIGKILL. */
    oci_debug("container %s: signal %d sent to %s%d", id, sig, all ? "every process of " : "", (int)target);
    ret = 0;
out:
    oci_state_free(&st);
    close(dirfd);
    return ret;
}

/* Kills the whole container and waits (up to 10 s) until its process has ended or is a zombie. */
static int kill_and_wait(int dirfd, struct oci_state *st)
{
    signal_tree(st->pid, SIGKILL);
    for (int i = 0; i < 1000; i++) {
        if (oci_status_of(dirfd, st) == OCI_STOPPED)
            return 0;
        usleep(10000);
    }
    return -ETIMEDOUT;
}

int oci_delete(const char *root, const char *id, bool force)
{
    if (!oci_id_valid(id)) {
        oci_err("invalid container id '%s'", id);
        return 1;
    }
    int dirfd = oci_state_open(root, id, false, true);
    if (dirfd == -ENOENT) {
        if (force) {
            /* runc: deleting what is not there is fine with --force (and any directory left is removed). */
            oci_state_remove(root, id);
            return 0;
        }
        oci_err("container %s does not exist", id);
        return 1;
    }
    if (dirfd < 0) {
        oci_err("container %s: %s", id, strerror(-dirfd));
        return 1;
    }
    struct oci_state st;
    int ret = 1;
    if (oci_state_load(dirfd, &st)) {
        if (!force) {
            oci_err("container %s: cannot read its state (delete --force removes it)", id);
            close(dirfd);
            return 1;
        }
        oci_state_remove(root, id);
        close(dirfd);
        return 0;
    }
    enum oci_status s = oci_status_of(dirfd, &st);
    if ((s == OCI_RUNNING || s == OCI_PAUSED) && !force) {
        /* runtime.md "delete": a container that is not stopped is an error, left as it is. */
        oci_err("cannot delete container %s that is not stopped: %s", id, oci_status_name(s));
        goto out;
    }
    if (s != OCI_STOPPED) {
        if (s == OCI_PAUSED)
            signal_tree(st.pid, SIGCONT);
        if (kill_and_wait(dirfd, &st)) {
            oci_err("container %s: its processes did not end after SIGKILL", id);
            goto out;
        }
    }
    run_hooks_warn(root, &st, OCI_HOOK_POSTSTOP, "poststop", OCI_STOPPED);
    int rc = oci_state_remove(root, id);
    if (rc) {
        oci_err("container %s: cannot remove %s/%s: %s", id, root, id, strerror(-rc));
        goto out;
    }
    ret = 0;
out:
    oci_state_free(&st);
    close(dirfd);
    return ret;
}

int oci_pause(const char *root, const char *id, bool pause)
{
    int dirfd;
    struct oci_state st;
    if (open_container(root, id, true, &dirfd, &st))
        return 1;
    enum oci_status s = oci_status_of(dirfd, &st);
    int ret = 1;
    if (pause && s != OCI_RUNNING) {
        oci_err("cannot pause container %s: it is %s, not running", id, oci_status_name(s));
        goto out;
    }
    if (!pause && s != OCI_PAUSED) {
        oci_err("cannot resume container %s: it is %s, not paused", id, oci_status_name(s));
        goto out;
    }
    /* Without a cgroup freezer: SIGSTOP/SIGCONT of every host process of the VM (kiln's own
       and the guest's), which keeps guest time running but no guest instruction. */
    signal_tree(st.pid, pause ? SIGSTOP : SIGCONT);
    st.paused = pause;
    int rc = oci_state_save(dirfd, &st);
    if (rc) {
        oci_err("container %s: cannot save its state: %s", id, strerror(-rc));
        goto out;
    }
    ret = 0;
out:
    oci_state_free(&st);
    close(dirfd);
    return ret;
}
