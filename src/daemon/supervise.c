/*
 * kilnd VM supervision: starting a VM under its monitor, stopping, signals,
 * noticing that a VM ended and recording how, and the VM's control socket
 * (docs/daemon.md). Callers hold d->lock.
 */
#define _GNU_SOURCE
#include "daemon/kilnd.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/procinfo.h"
#include "daemon/store.h"
#include "util/log.h"

/* ---- supervision ---- */

void kilnd_reap_children(void)
{
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

/* The monitor of v has ended: read how the VM ended and record it. Caller holds the lock. */
void kilnd_vm_finalize(struct daemon *d, struct vm_rec *v)
{
    char path[PATH_MAX + 32], dir[PATH_MAX];
    kilnd_vm_dir(d, v->name, dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/exit.json", dir);
    json_object *o = json_object_from_file(path);
    json_object *x;
    v->exit_code = v->exit_signal = -1;
    free(v->exit_reason);
    v->exit_reason = NULL;
    if (o) {
        if (json_object_object_get_ex(o, "code", &x))
            v->exit_code = json_object_get_int(x);
        if (json_object_object_get_ex(o, "signal", &x))
            v->exit_signal = json_object_get_int(x);
        if (json_object_object_get_ex(o, "reason", &x))
            v->exit_reason = strdup(json_object_get_string(x));
        json_object_put(o);
    } else {
        v->exit_reason = strdup("the VM's monitor process ended without recording an exit");
    }
    char oom[96];
    if (v->exit_signal == SIGKILL && cg_vm_oom_reason(&d->cg, v->name, oom, sizeof(oom)) > 0) {
        free(v->exit_reason);
        v->exit_reason = strdup(oom); /* the memory cgroup's OOM killer (docs/jail.md) */
    }
    if (!v->exit_reason && v->exit_signal > 0) {
        char buf[96];
        snprintf(buf, sizeof(buf), "killed by signal %d (%s)", v->exit_signal, strsignal(v->exit_signal));
        v->exit_reason = strdup(buf);
    }
    if (v->stop_requested || (o && v->exit_code == 0))
        v->state = VMS_STOPPED;
    else
        v->state = VMS_CRASHED;
    log_err("daemon", "VM '%s' %s (code %d, signal %d: %s)", v->name, vm_state_name(v->state),
            v->exit_code, v->exit_signal, v->exit_reason ? v->exit_reason : "");
    v->stop_requested = false;
    v->monitor_pid = v->vm_pid = 0;
    v->monitor_start = v->vm_start = 0;
    cg_vm_remove(&d->cg, v->name);
    store_save(d->store, v);
}

void kilnd_supervise_locked(struct daemon *d)
{
    kilnd_reap_children();
    for (struct vm_rec *v = d->vms; v; v = v->next) {
        if ((v->state == VMS_RUNNING || v->state == VMS_PAUSED) &&
            !proc_alive(v->monitor_pid, v->monitor_start))
            kilnd_vm_finalize(d, v);
    }
}

/* ---- the VM's control socket (kiln run --control, src/machine/control.h) ---- */


/*
 * One request line to a running VM's control socket; the answer (one JSON line) parsed
 * into *out. Short timeouts: callers hold the daemon lock. 0, or -errno (-EPROTO: no answer).
 */
int kilnd_vm_control(struct daemon *d, const struct vm_rec *v, const char *req, int timeout_ms,
                      json_object **out)
{
    char dir[PATH_MAX], path[PATH_MAX + 16];
    *out = NULL;
    kilnd_vm_dir(d, v->name, dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/control.sock", dir);
    int fd = kilnd_connect_unix(path);
    if (fd < 0)
        return fd;
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    int e = sock_send_all(fd, req, strlen(req));
    char buf[2048];
    size_t len = 0;
    while (!e && len + 1 < sizeof(buf)) {
        ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            e = n < 0 ? -errno : -EPROTO;
            break;
        }
        len += (size_t)n;
        if (memchr(buf, '\n', len))
            break;
    }
    close(fd);
    if (e)
        return e;
    buf[len] = 0;
    *out = json_tokener_parse(buf);
    return *out ? 0 : -EPROTO;
}

static int read_pidfile(const char *dir, pid_t *pid, uint64_t *start)
{
    char path[PATH_MAX + 16], buf[64];
    snprintf(path, sizeof(path), "%s/vm.pid", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -EIO;
    buf[n] = 0;
    int p;
    unsigned long long s;
    if (sscanf(buf, "%d %llu", &p, &s) != 2)
        return -EIO;
    *pid = p;
    *start = s;
    return 0;
}

/*
 * After the monitor started kiln run: true once kiln run answers on its control
 * socket (it is booting the guest), false when its monitor ended first. A VM
 * without a control socket (its path too long) gets START_SETTLE_MS instead.
 */
static bool wait_vm_ready(struct daemon *d, const struct vm_rec *v, pid_t mpid, uint64_t mstart)
{
    char dir[PATH_MAX], path[PATH_MAX + 16];
    kilnd_vm_dir(d, v->name, dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/control.sock", dir);
    bool has_ctl = strlen(path) < sizeof(((struct sockaddr_un *)0)->sun_path);
    int limit = has_ctl ? START_READY_MS : START_SETTLE_MS;
    for (int waited = 0; waited < limit; waited += 10) {
        if (!proc_alive(mpid, mstart) || !proc_alive(v->vm_pid, v->vm_start))
            return false;
        if (has_ctl) {
            int fd = kilnd_connect_unix(path);
            if (fd >= 0) {
                close(fd);
                return true;
            }
        }
        kilnd_sleep_ms(10);
    }
    /* Still setting up after all this time (a huge initrd?): report it running. */
    return proc_alive(mpid, mstart);
}

void kilnd_start(struct daemon *d, struct reply *r, struct vm_rec *v)
{
    char dir[PATH_MAX], procs[PATH_MAX], log[PATH_MAX + 16], mem[32], cpus[16];
    const char *argv[32 + VM_MAX_ARGS];
    int a = 0, nowned = 0; /* owned: the --disk/--net specs with limits, freed after spawn */
    if (v->state == VMS_RUNNING || v->state == VMS_PAUSED) {
        kilnd_err(r, 409, "VM '%s' is already %s", v->name, vm_state_name(v->state));
        return;
    }
    kilnd_vm_dir(d, v->name, dir, sizeof(dir));
    if (mkdir(dir, 0700) && errno != EEXIST) {
        kilnd_err(r, 500, "%s: %s", dir, strerror(errno));
        return;
    }
    bool cg = d->cg.version && !cg_vm_setup(&d->cg, v->name, v->cpu_cap, v->mem, v->cpus) &&
              !cg_vm_procs_path(&d->cg, v->name, procs, sizeof(procs));
    snprintf(mem, sizeof(mem), "%lluK", (unsigned long long)(v->mem >> 10));
    snprintf(cpus, sizeof(cpus), "%u", v->cpus);
    argv[a++] = "kiln";
    argv[a++] = "monitor";
    argv[a++] = "--dir";
    argv[a++] = dir;
    if (cg) {
        argv[a++] = "--cgroup";
        argv[a++] = procs;
    }
    argv[a++] = "--";
    /* The control socket (balloon, graceful powerdown, snapshots); sun_path limits its length. */
    char ctl[PATH_MAX + 16];
    snprintf(ctl, sizeof(ctl), "%s/control.sock", dir);
    bool has_ctl = strlen(ctl) < sizeof(((struct sockaddr_un *)0)->sun_path);
    if (!has_ctl)
        log_warn("daemon", "VM '%s': %s is too long for a socket: no balloon or graceful stop",
                 v->name, ctl);
    if (kilnd_is_restore(v)) {
        /* RESTORE_ARG DIR [--clone]: the snapshot fixes the machine, nothing else applies. */
        argv[a++] = "restore";
        argv[a++] = v->args[1];
        for (int i = 2; i < v->nargs && i < 3; i++)
            argv[a++] = v->args[i];
        if (v->start_paused)
            argv[a++] = "--paused";
        /* A clone's disk writes go to overlays of its own, kept with the VM (docs/snapshots.md). */
        argv[a++] = "--disk-overlays";
        argv[a++] = dir;
        if (has_ctl) {
            argv[a++] = "--control";
            argv[a++] = ctl;
        }
        argv[a] = NULL;
        goto spawn;
    }
    argv[a++] = "--mem";
    argv[a++] = mem;
    argv[a++] = "--cpus";
    argv[a++] = cpus;
    if (v->kernel) {
        argv[a++] = "--kernel";
        argv[a++] = v->kernel;
    }
    if (v->initrd) {
        argv[a++] = "--initrd";
        argv[a++] = v->initrd;
    }
    if (v->append) {
        argv[a++] = "--append";
        argv[a++] = v->append;
    }
    if (v->firmware) {
        argv[a++] = "--firmware";
        argv[a++] = v->firmware;
    }
    if (has_ctl) {
        argv[a++] = "--control";
        argv[a++] = ctl;
    }
    if (v->incoming)
        argv[a++] = "--incoming"; /* a migration's destination (docs/migration.md) */
    /* The defined limits ride on every --disk / --net spec (kiln run parses them there). */
    char *owned[VM_MAX_ARGS];
    for (int i = 0; i < v->nargs; i++) {
        const char *prev = i ? v->args[i - 1] : "";
        char *x = NULL;
        int n = 0;
        if (!strcmp(prev, "--disk") && (v->disk_bps || v->disk_iops))
            n = asprintf(&x, "%s,bps=%llu,iops=%llu", v->args[i], (unsigned long long)v->disk_bps,
                         (unsigned long long)v->disk_iops);
        else if (!strcmp(prev, "--net") && v->net_bps)
            n = asprintf(&x, "%s,bps=%llu", v->args[i], (unsigned long long)v->net_bps);
        if (n < 0)
            x = NULL;
        if (x)
            owned[nowned++] = x;
        argv[a++] = x ? x : v->args[i];
    }
    argv[a] = NULL;

spawn:;
    /* The monitor writes these afresh; an old vm.pid would name a dead process. */
    static const char *const stale[] = {"vm.pid", "exit.json", "control.sock"};
    for (size_t i = 0; i < 3; i++) {
        kilnd_pathf(log, sizeof(log), "%s/%s", dir, stale[i]);
        unlink(log);
    }
    snprintf(log, sizeof(log), "%s/monitor.log", dir);
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawnattr_init(&at);
    /* Own session: the monitor and its VM outlive the daemon and its terminal. */
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    pid_t mpid;
    extern char **environ;
    int e = posix_spawn(&mpid, "/proc/self/exe", &fa, &at, (char *const *)argv, environ);
    while (nowned)
        free(owned[--nowned]);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (e) {
        kilnd_err(r, 500, "cannot start the VM monitor: %s", strerror(e));
        return;
    }
    struct proc_stat ps = {0};
    proc_read_stat(mpid, &ps);
    pid_t vpid = 0;
    uint64_t vstart = 0;
    for (int waited = 0; waited < START_WAIT_MS; waited += 10) {
        if (!read_pidfile(dir, &vpid, &vstart))
            break;
        if (!proc_alive(mpid, ps.starttime))
            break;
        kilnd_sleep_ms(10);
    }
    v->monitor_pid = mpid;
    v->monitor_start = ps.starttime;
    v->vm_pid = vpid;
    v->vm_start = vstart;
    v->started_at = kilnd_now();
    /* last_exit stays what the previous run left until this run's end replaces it. */
    v->stop_requested = false;
    v->state = VMS_RUNNING;
    if (!vpid) {
        /* The monitor failed before starting kiln run: record why, as a crash. */
        kill(mpid, SIGKILL);
        waitpid(mpid, NULL, 0);
        kilnd_vm_finalize(d, v);
        kilnd_err(r, 500, "the VM did not start: %s", v->exit_reason ? v->exit_reason : "see monitor.log");
        return;
    }
    /*
     * kiln run serves its control socket once every device and image is set up, just
     * before the first instruction: wait for that, or for the VM to end, so that a VM
     * that cannot start (a hostfwd port in use, a bad image) is a failed start with its
     * reason, not a "running" that turns into "crashed" a moment later.
     */
    if (!wait_vm_ready(d, v, mpid, ps.starttime)) {
        for (int waited = 0; waited < KILL_WAIT_MS && proc_alive(mpid, ps.starttime); waited += 10)
            kilnd_sleep_ms(10);
        kilnd_reap_children();
        kilnd_vm_finalize(d, v);
        if (v->state == VMS_STOPPED) { /* it ran and powered off already */
            r->status = 200;
            r->json = kilnd_vm_json(d, v);
            return;
        }
        kilnd_err(r, 500, "VM '%s' ended as it started: %s", v->name,
                  v->exit_reason ? v->exit_reason : "no reason recorded (see its stderr.log)");
        return;
    }
    if (v->start_paused)
        v->state = VMS_PAUSED; /* kiln restore --paused: waits for {"cmd":"resume"} */
    store_save(d->store, v);
    r->status = 200;
    r->json = kilnd_vm_json(d, v);
}

/* Lets the harts run again if the control socket's pause stopped them (a snapshot taken
 * with paused, a restore started paused); harmless otherwise. */
static void ctl_resume(struct daemon *d, const struct vm_rec *v)
{
    json_object *ans = NULL;
    kilnd_vm_control(d, v, "{\"cmd\":\"resume\"}\n", 2000, &ans);
    json_object_put(ans);
}

void kilnd_signal(struct daemon *d, struct reply *r, struct vm_rec *v, const char *op)
{
    bool live = v->state == VMS_RUNNING || v->state == VMS_PAUSED;
    if (!live || v->vm_pid <= 0 || !proc_alive(v->vm_pid, v->vm_start)) {
        kilnd_err(r, 409, "VM '%s' is %s, not running", v->name, vm_state_name(v->state));
        return;
    }
    if (!strcmp(op, "pause")) {
        if (v->state == VMS_PAUSED) {
            kilnd_err(r, 409, "VM '%s' is already paused", v->name);
            return;
        }
        kill(v->vm_pid, SIGSTOP);
        v->state = VMS_PAUSED;
    } else {
        if (v->state != VMS_PAUSED) {
            kilnd_err(r, 409, "VM '%s' is not paused", v->name);
            return;
        }
        kill(v->vm_pid, SIGCONT);
        ctl_resume(d, v);
        v->state = VMS_RUNNING;
    }
    store_save(d->store, v);
    r->status = 200;
    r->json = kilnd_vm_json(d, v);
}

/* stop/kill: may wait with the lock released; returns with it held. */
void kilnd_stop(struct daemon *d, struct reply *r, struct vm_rec *v, bool force, int timeout_s)
{
    char name[VM_NAME_MAX + 1];
    if (v->state != VMS_RUNNING && v->state != VMS_PAUSED) {
        kilnd_err(r, 409, "VM '%s' is %s, not running", v->name, vm_state_name(v->state));
        return;
    }
    snprintf(name, sizeof(name), "%s", v->name);
    v->stop_requested = true;
    pid_t pid = v->vm_pid, mpid = v->monitor_pid;
    uint64_t mstart = v->monitor_start;
    bool vm_ok = pid > 0 && proc_alive(pid, v->vm_start);
    if (vm_ok && force) {
        kill(pid, SIGKILL);
    } else if (vm_ok) {
        /*
         * Graceful first: the guest is asked to power off through the control socket
         * (serial SysRq s, u, o). Without that socket, or when kiln run says the guest
         * cannot be asked (no serial driver), SIGTERM: kiln run then powers it off the
         * same way, or stops it at once.
         */
        kill(pid, SIGCONT); /* a paused VM must run to act on it */
        if (v->state == VMS_PAUSED)
            ctl_resume(d, v);
        json_object *ans = NULL, *ok = NULL;
        bool asked = !kilnd_vm_control(d, v, "{\"cmd\":\"powerdown\"}\n", 2000, &ans) &&
                     json_object_object_get_ex(ans, "ok", &ok) && json_object_get_boolean(ok);
        json_object_put(ans);
        if (!asked)
            kill(pid, SIGTERM);
    }
    pthread_mutex_unlock(&d->lock);
    int limit = force ? KILL_WAIT_MS : timeout_s * 1000;
    int waited = 0;
    for (; waited < limit && proc_alive(mpid, mstart); waited += 20)
        kilnd_sleep_ms(20);
    if (proc_alive(mpid, mstart) && !force) {
        if (vm_ok)
            kill(pid, SIGKILL);
        for (waited = 0; waited < KILL_WAIT_MS && proc_alive(mpid, mstart); waited += 20)
            kilnd_sleep_ms(20);
    }
    if (proc_alive(mpid, mstart))
        kill(mpid, SIGKILL); /* a monitor that does not notice its VM is gone */
    for (waited = 0; waited < KILL_WAIT_MS && proc_alive(mpid, mstart); waited += 20) {
        kilnd_reap_children();
        kilnd_sleep_ms(20);
    }
    pthread_mutex_lock(&d->lock);
    kilnd_supervise_locked(d);
    v = kilnd_find_vm(d, name);
    if (!v) {
        kilnd_err(r, 404, "VM '%s' was removed meanwhile", name);
        return;
    }
    r->status = 200;
    r->json = kilnd_vm_json(d, v);
}
