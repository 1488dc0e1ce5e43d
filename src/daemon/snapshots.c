/*
 * Snapshots of daemon VMs (docs/snapshots.md, docs/api.md):
 *
 *   POST /v1/vms/NAME/snapshot {"dir":ABS[,"paused":true]}  the VM's state into dir
 *   POST /v1/restore {"name":NEW,"dir":ABS[,"clone":true][,"paused":true]}
 *                                    a new VM started from the snapshot in dir
 *   POST /v1/vms/NAME/clone {"name":NEW[,"count":N]}  a snapshot of NAME under the
 *                                    state dir, then N VMs restored from it as clones
 *
 * The daemon creates the snapshot's files itself and hands them to the VM over its
 * control socket (snapshot_take), so jailed VMs are snapshotted without a path. A
 * restored VM is a daemon VM whose args are RESTORE_ARG DIR [--clone]: its monitor
 * starts `kiln restore` instead of `kiln run`, and its size is the snapshot's.
 * Callers hold d->lock (a snapshot keeps it for the time the VM takes to write it).
 */
#define _GNU_SOURCE
#include "daemon/kilnd.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daemon/procinfo.h"
#include "daemon/store.h"
#include "snapshot/snapshot.h"

#define CLONE_MAX 16

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool kilnd_is_restore(const struct vm_rec *v)
{
    return v->nargs >= 2 && !strcmp(v->args[0], RESTORE_ARG);
}

static bool vm_live(const struct vm_rec *v)
{
    return (v->state == VMS_RUNNING || v->state == VMS_PAUSED) && v->vm_pid > 0 &&
           proc_alive(v->vm_pid, v->vm_start);
}

/* An absolute directory path from a JSON value, or an error reply. */
static const char *get_dir(struct reply *r, json_object *val)
{
    const char *s = json_object_is_type(val, json_type_string) ? json_object_get_string(val) : NULL;
    if (!s || s[0] != '/' || strlen(s) >= SNAP_PATH_MAX - 32) {
        kilnd_err(r, 400, "dir must be an absolute path");
        return NULL;
    }
    return s;
}

/*
 * Snapshots v into dir. A VM the daemon paused (SIGSTOP) is let run just long enough to
 * write it, with its harts kept stopped (the control socket's pause), so it stays paused.
 * Returns the HTTP status of a failure (0 on success) with r set.
 */
static int snap_vm(struct daemon *d, struct reply *r, struct vm_rec *v, const char *dir,
                   bool paused, bool disks, uint64_t *ms)
{
    char vdir[PATH_MAX], ctl[PATH_MAX + 16], ans[1024], err[SNAP_PATH_MAX + 600];
    if (!vm_live(v))
        return kilnd_err(r, 409, "VM '%s' is %s, not running", v->name, vm_state_name(v->state));
    kilnd_vm_dir(d, v->name, vdir, sizeof(vdir));
    snprintf(ctl, sizeof(ctl), "%s/control.sock", vdir);
    if (strlen(ctl) >= sizeof(((struct sockaddr_un *)0)->sun_path))
        return kilnd_err(r, 409, "VM '%s' has no control socket (its path is too long)", v->name);
    bool was_paused = v->state == VMS_PAUSED;
    if (was_paused) {
        paused = true;
        kill(v->vm_pid, SIGCONT);
    }
    int e = snapshot_take(ctl, dir, paused, disks, ans, sizeof(ans), err, sizeof(err));
    if (e) {
        if (was_paused)
            kill(v->vm_pid, SIGSTOP); /* as it was: the snapshot left its harts running */
        return kilnd_err(r, e == -EINVAL ? 400 : 500, "snapshot of VM '%s' failed: %s", v->name, err);
    }
    json_object *o = json_tokener_parse(ans), *x;
    *ms = o && json_object_object_get_ex(o, "ms", &x) ? (uint64_t)json_object_get_int64(x) : 0;
    json_object_put(o);
    if (paused && v->state != VMS_PAUSED) {
        v->state = VMS_PAUSED;
        store_save(d->store, v);
    }
    return 0;
}

void kilnd_snapshot(struct daemon *d, struct reply *r, struct vm_rec *v, const char *body,
                    size_t len)
{
    json_object *o = kilnd_parse_body(r, body, len);
    if (!o)
        return;
    const char *dir = NULL;
    bool paused = false, disks = false;
    json_object_object_foreach(o, key, val)
    {
        if (!strcmp(key, "dir")) {
            if (!(dir = get_dir(r, val)))
                goto out;
        } else if (!strcmp(key, "paused") && json_object_is_type(val, json_type_boolean)) {
            paused = json_object_get_boolean(val);
        } else if (!strcmp(key, "disks") && json_object_is_type(val, json_type_boolean)) {
            disks = json_object_get_boolean(val);
        } else {
            kilnd_err(r, 400, "unknown or malformed field '%s' (known: dir, paused and disks: booleans)", key);
            goto out;
        }
    }
    if (!dir) {
        kilnd_err(r, 400, "dir is required");
        goto out;
    }
    uint64_t ms;
    if (snap_vm(d, r, v, dir, paused, disks, &ms))
        goto out;
    r->status = 200;
    r->json = json_object_new_object();
    json_object_object_add(r->json, "name", json_object_new_string(v->name));
    json_object_object_add(r->json, "dir", json_object_new_string(dir));
    json_object_object_add(r->json, "paused", json_object_new_boolean(v->state == VMS_PAUSED));
    json_object_object_add(r->json, "ms", json_object_new_int64((int64_t)ms));
out:
    json_object_put(o);
}

static void vm_unlink(struct daemon *d, struct vm_rec *v)
{
    for (struct vm_rec **p = &d->vms; *p; p = &(*p)->next) {
        if (*p == v) {
            *p = v->next;
            break;
        }
    }
}

/*
 * Defines VM `name` restored from dir and starts it. The snapshot is read and checked
 * first (its size becomes the VM's). On failure the VM is not kept and r holds why.
 */
static struct vm_rec *restore_vm(struct daemon *d, struct reply *r, const char *name,
                                 const char *dir, bool clone, bool paused)
{
    static struct snap_restore sr; /* large; callers hold d->lock */
    char err[SNAP_PATH_MAX + 600];
    if (snapshot_open(dir, &sr, err, sizeof(err))) {
        kilnd_err(r, 400, "cannot restore %s: %s", dir, err);
        return NULL;
    }
    uint64_t mem = sr.m.ram_size;
    unsigned cpus = sr.m.nharts;
    snapshot_close(&sr);
    struct vm_rec *v = calloc(1, sizeof(*v));
    if (!v || !(v->args = calloc(4, sizeof(char *))) || !(v->args[0] = strdup(RESTORE_ARG)) ||
        !(v->args[1] = strdup(dir)) || (clone && !(v->args[2] = strdup("--clone")))) {
        if (v) {
            v->nargs = 3;
            vm_rec_free(v);
        }
        kilnd_err(r, 500, "out of memory");
        return NULL;
    }
    v->nargs = clone ? 3 : 2;
    snprintf(v->name, sizeof(v->name), "%s", name);
    v->mem = mem;
    v->cpus = cpus;
    v->exit_code = v->exit_signal = -1;
    v->created_at = kilnd_now();
    v->state = VMS_DEFINED;
    if (store_save(d->store, v)) {
        vm_rec_free(v);
        kilnd_err(r, 500, "could not save the VM definition");
        return NULL;
    }
    struct vm_rec **tail = &d->vms;
    while (*tail)
        tail = &(*tail)->next;
    *tail = v;
    v->start_paused = paused;
    kilnd_start(d, r, v);
    v->start_paused = false;
    if (r->status >= 400) {
        /* Not a VM anyone asked to keep: free its name again. */
        store_delete(d->store, v->name);
        vm_unlink(d, v);
        vm_rec_free(v);
        return NULL;
    }
    return v;
}

void kilnd_restore(struct daemon *d, struct reply *r, const char *body, size_t len)
{
    json_object *o = kilnd_parse_body(r, body, len);
    if (!o)
        return;
    const char *name = NULL, *dir = NULL;
    bool clone = false, paused = false;
    json_object_object_foreach(o, key, val)
    {
        if (!strcmp(key, "name")) {
            name = json_object_is_type(val, json_type_string) ? json_object_get_string(val) : "";
            if (!kilnd_valid_name(name)) {
                kilnd_err(r, 400, "name must be 1-63 characters of A-Z a-z 0-9 . _ - not starting with . or -");
                goto out;
            }
        } else if (!strcmp(key, "dir")) {
            if (!(dir = get_dir(r, val)))
                goto out;
        } else if (!strcmp(key, "clone") && json_object_is_type(val, json_type_boolean)) {
            clone = json_object_get_boolean(val);
        } else if (!strcmp(key, "paused") && json_object_is_type(val, json_type_boolean)) {
            paused = json_object_get_boolean(val);
        } else {
            kilnd_err(r, 400, "unknown or malformed field '%s' (known: name, dir, clone and paused: booleans)", key);
            goto out;
        }
    }
    if (!name || !dir) {
        kilnd_err(r, 400, "name and dir are required");
        goto out;
    }
    if (kilnd_find_vm(d, name)) {
        kilnd_err(r, 409, "a VM named '%s' already exists", name);
        goto out;
    }
    struct vm_rec *v = restore_vm(d, r, name, dir, clone, paused);
    if (v)
        r->status = 201;
out:
    json_object_put(o);
}

void kilnd_clone(struct daemon *d, struct reply *r, struct vm_rec *v, const char *body,
                 size_t len)
{
    json_object *o = kilnd_parse_body(r, body, len);
    if (!o)
        return;
    const char *base = NULL;
    int64_t count = 1;
    json_object_object_foreach(o, key, val)
    {
        if (!strcmp(key, "name") && json_object_is_type(val, json_type_string)) {
            base = json_object_get_string(val);
        } else if (!strcmp(key, "count") && json_object_is_type(val, json_type_int)) {
            count = json_object_get_int64(val);
        } else {
            kilnd_err(r, 400, "unknown or malformed field '%s' (known: name, count: a number)", key);
            goto out;
        }
    }
    if (!base) {
        kilnd_err(r, 400, "name (of the new VM) is required");
        goto out;
    }
    if (count < 1 || count > CLONE_MAX) {
        kilnd_err(r, 400, "count must be from 1 to %d", CLONE_MAX);
        goto out;
    }
    /* One clone takes the name; several are NAME-1 .. NAME-N. All checked before anything. */
    char names[CLONE_MAX][VM_NAME_MAX + 8];
    for (int64_t i = 0; i < count; i++) {
        if (count == 1)
            snprintf(names[i], sizeof(names[i]), "%s", base);
        else
            snprintf(names[i], sizeof(names[i]), "%s-%lld", base, (long long)i + 1);
        if (!kilnd_valid_name(names[i])) {
            kilnd_err(r, 400, "'%s' is not a valid VM name", names[i]);
            goto out;
        }
        if (kilnd_find_vm(d, names[i])) {
            kilnd_err(r, 409, "a VM named '%s' already exists", names[i]);
            goto out;
        }
    }
    /* The snapshot belongs to the daemon: the clones map its memory file for as long as
     * they exist (and restore from it again when started again). */
    char sdir[PATH_MAX], dir[PATH_MAX + 96];
    kilnd_pathf(sdir, sizeof(sdir), "%s/snapshots", d->dir);
    if (mkdir(sdir, 0700) && errno != EEXIST) {
        kilnd_err(r, 500, "%s: %s", sdir, strerror(errno));
        goto out;
    }
    snprintf(dir, sizeof(dir), "%s/%s-%lld", sdir, v->name, now_ms());
    uint64_t ms;
    /* With its writable disks copied into the snapshot while it is paused: the clones'
     * overlays sit on those copies while the VM goes on writing its own images. */
    if (snap_vm(d, r, v, dir, false, true, &ms))
        goto out;
    json_object *vms = json_object_new_array();
    for (int64_t i = 0; i < count; i++) {
        struct reply one = {0};
        struct vm_rec *c = restore_vm(d, &one, names[i], dir, true, false);
        if (!c) {
            json_object_put(vms);
            *r = one;
            goto out;
        }
        json_object_array_add(vms, one.json);
    }
    r->status = 201;
    r->json = json_object_new_object();
    json_object_object_add(r->json, "snapshot", json_object_new_string(dir));
    json_object_object_add(r->json, "ms", json_object_new_int64((int64_t)ms));
    json_object_object_add(r->json, "vms", vms);
out:
    json_object_put(o);
}
