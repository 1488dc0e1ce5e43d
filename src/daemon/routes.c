/*
 * kilnd request routing: the API's paths and methods (docs/api.md), the VM
 * object, validation of definitions and their handlers (create, patch,
 * delete, console snapshot). Lifecycle handlers are in supervise.c.
 */
#define _GNU_SOURCE
#include "daemon/kilnd.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/procinfo.h"
#include "daemon/runargs.h"
#include "daemon/store.h"
#include "machine/control.h"
#include "util/token_bucket.h"

/* ---- JSON views ---- */

static json_object *jstr_or_null(const char *s)
{
    return s ? json_object_new_string(s) : NULL;
}

/* Sum of one counter over the objects of array `key` in kiln run's stats answer. */
static int64_t stats_sum(json_object *st, const char *key, const char *field)
{
    json_object *arr, *x;
    if (!field) /* the number of devices */
        return json_object_object_get_ex(st, key, &arr) && json_object_is_type(arr, json_type_array)
                   ? (int64_t)json_object_array_length(arr) : 0;
    int64_t sum = 0;
    if (!json_object_object_get_ex(st, key, &arr) || !json_object_is_type(arr, json_type_array))
        return 0;
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        if (json_object_object_get_ex(json_object_array_get_idx(arr, i), field, &x))
            sum += json_object_get_int64(x);
    }
    return sum;
}

/* Cumulative disk and network bytes of every device, for rates (the web dashboard). */
static json_object *io_totals(json_object *st)
{
    json_object *io = json_object_new_object();
    json_object_object_add(io, "disk_read_bytes", json_object_new_int64(stats_sum(st, "disks", "read_bytes")));
    json_object_object_add(io, "disk_write_bytes", json_object_new_int64(stats_sum(st, "disks", "write_bytes")));
    json_object_object_add(io, "net_rx_bytes", json_object_new_int64(stats_sum(st, "nets", "rx_bytes")));
    json_object_object_add(io, "net_tx_bytes", json_object_new_int64(stats_sum(st, "nets", "tx_bytes")));
    json_object_object_add(io, "disks", json_object_new_int64(stats_sum(st, "disks", NULL)));
    json_object_object_add(io, "nets", json_object_new_int64(stats_sum(st, "nets", NULL)));
    return io;
}

json_object *kilnd_vm_json(struct daemon *d, struct vm_rec *v)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(v->name));
    json_object_object_add(o, "state", json_object_new_string(vm_state_name(v->state)));
    json_object_object_add(o, "mem", json_object_new_int64((int64_t)v->mem));
    json_object_object_add(o, "cpus", json_object_new_int((int)v->cpus));
    json_object_object_add(o, "kernel", jstr_or_null(v->kernel));
    json_object_object_add(o, "initrd", jstr_or_null(v->initrd));
    json_object_object_add(o, "append", jstr_or_null(v->append));
    json_object_object_add(o, "firmware", jstr_or_null(v->firmware));
    json_object *args = json_object_new_array();
    for (int i = 0; i < v->nargs; i++)
        json_object_array_add(args, json_object_new_string(v->args[i]));
    json_object_object_add(o, "args", args);
    json_object_object_add(o, "cpu_cap", json_object_new_int((int)v->cpu_cap));
    json_object_object_add(o, "disk_bps", json_object_new_int64((int64_t)v->disk_bps));
    json_object_object_add(o, "disk_iops", json_object_new_int64((int64_t)v->disk_iops));
    json_object_object_add(o, "net_bps", json_object_new_int64((int64_t)v->net_bps));
    json_object_object_add(o, "created_at", json_object_new_int64(v->created_at));

    bool live = v->state == VMS_RUNNING || v->state == VMS_PAUSED;
    struct proc_stat ps;
    if (live && v->vm_pid > 0 && !proc_read_stat(v->vm_pid, &ps) && ps.starttime == v->vm_start) {
        long tck = sysconf(_SC_CLK_TCK);
        json_object_object_add(o, "pid", json_object_new_int(v->vm_pid));
        json_object_object_add(o, "monitor_pid", json_object_new_int(v->monitor_pid));
        json_object_object_add(o, "started_at", json_object_new_int64(v->started_at));
        json_object_object_add(o, "uptime_s", json_object_new_int64(kilnd_now() - v->started_at));
        json_object_object_add(o, "cpu_time_s",
                               json_object_new_double((double)ps.cpu_ticks / (double)(tck > 0 ? tck : 100)));
        int64_t rss = proc_rss(v->vm_pid);
        json_object_object_add(o, "rss_bytes", json_object_new_int64(rss > 0 ? rss : 0));
        /* Balloon state from kiln run itself; a paused VM cannot answer. */
        json_object *st = NULL, *bal = NULL;
        if (v->state == VMS_RUNNING && !kilnd_vm_control(d, v, "{\"cmd\":\"stats\"}\n", 500, &st) &&
            json_object_object_get_ex(st, "balloon", &bal) && json_object_is_type(bal, json_type_object)) {
            json_object *b = json_object_new_object();
            static const char *const keys[] = {"target_mib", "actual_mib", "guest_mib", "reported_bytes"};
            for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
                json_object *x;
                if (json_object_object_get_ex(bal, keys[i], &x))
                    json_object_object_add(b, keys[i], json_object_new_int64(json_object_get_int64(x)));
            }
            json_object_object_add(o, "balloon", b);
        } else {
            json_object_object_add(o, "balloon", NULL);
        }
        if (st)
            json_object_object_add(o, "io", io_totals(st));
        json_object_put(st);
    } else {
        json_object_object_add(o, "pid", NULL);
    }
    json_object *cap = json_object_new_object();
    json_object_object_add(cap, "backend", json_object_new_string(
                               d->cg.version == 2 ? "cgroup2" : d->cg.version == 1 ? "cgroup1" : "none"));
    if (d->cg.version) {
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/%s", d->cg.base, v->name);
        json_object_object_add(cap, "cgroup", json_object_new_string(p));
        json_object_object_add(cap, "enforced", json_object_new_boolean(v->cpu_cap > 0));
    } else {
        json_object_object_add(cap, "enforced", json_object_new_boolean(false));
        json_object_object_add(cap, "why", json_object_new_string(d->cg.why));
    }
    json_object_object_add(o, "cpu_limit", cap);
    if (v->exit_code >= 0 || v->exit_signal > 0 || v->exit_reason) {
        json_object *e = json_object_new_object();
        json_object_object_add(e, "code", v->exit_code >= 0 ? json_object_new_int(v->exit_code) : NULL);
        json_object_object_add(e, "signal", v->exit_signal > 0 ? json_object_new_int(v->exit_signal) : NULL);
        json_object_object_add(e, "reason", jstr_or_null(v->exit_reason));
        json_object_object_add(o, "last_exit", e);
    }
    return o;
}

/* ---- validation ---- */

bool kilnd_valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > VM_NAME_MAX || s[0] == '.' || s[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

/* "64M", "2G", "65536" (bytes) or a JSON integer (bytes). */
static int parse_mem(json_object *j, uint64_t *out)
{
    if (json_object_is_type(j, json_type_int)) {
        int64_t v = json_object_get_int64(j);
        if (v <= 0)
            return -EINVAL;
        *out = (uint64_t)v;
        return 0;
    }
    if (!json_object_is_type(j, json_type_string))
        return -EINVAL;
    const char *s = json_object_get_string(j);
    uint64_t v = 0;
    size_t i = 0;
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        if (v > (UINT64_MAX - 9) / 10)
            return -ERANGE;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (i == 0)
        return -EINVAL;
    unsigned shift = 0;
    switch (s[i]) {
    case 'K': case 'k': shift = 10; i++; break;
    case 'M': case 'm': shift = 20; i++; break;
    case 'G': case 'g': shift = 30; i++; break;
    default: break;
    }
    if (s[i] || v == 0 || v > (UINT64_MAX >> shift))
        return -EINVAL;
    *out = v << shift;
    return 0;
}

/*
 * "256" is 256 bytes, but people used to QEMU's `-m 256` mean MiB: a plain
 * number too small to be a VM's memory gets the likely meaning in its error.
 */
static int mem_hint(struct reply *r, json_object *j, uint64_t mem)
{
    if (mem >= VM_MIN_MEM || mem > 65536)
        return 0;
    if (json_object_is_type(j, json_type_string))
        return kilnd_err(r, 400, "mem \"%s\" is %llu bytes; did you mean \"%lluM\"?",
                         json_object_get_string(j), (unsigned long long)mem, (unsigned long long)mem);
    return kilnd_err(r, 400, "mem %llu is bytes; did you mean \"%lluM\"?", (unsigned long long)mem,
                     (unsigned long long)mem);
}

static int check_mem(struct reply *r, uint64_t mem)
{
    uint64_t host = host_mem_total();
    if (mem < VM_MIN_MEM || mem > VM_MAX_MEM || (mem & 0xfff))
        return kilnd_err(r, 400, "mem must be a multiple of 4K between 2M and 64G");
    if (host && mem > host)
        return kilnd_err(r, 400, "mem %llu MiB is more than the host has (%llu MiB)",
                         (unsigned long long)(mem >> 20), (unsigned long long)(host >> 20));
    return 0;
}

static int get_int(json_object *j, int64_t *out)
{
    if (!json_object_is_type(j, json_type_int))
        return -EINVAL;
    *out = json_object_get_int64(j);
    return 0;
}

static int check_cap(struct reply *r, json_object *j, unsigned *out)
{
    int64_t cap;
    unsigned maxcap = 100 * host_cpus();
    if (get_int(j, &cap) || cap < 0 || cap > maxcap)
        return kilnd_err(r, 400, "cpu_cap must be a percentage of one host CPU from 0 (no cap) to %u", maxcap);
    *out = (unsigned)cap;
    return 0;
}

/* A file path field: absolute and readable by the daemon, or null. */
static int get_path(struct reply *r, json_object *j, const char *key, char **out)
{
    if (!j)
        return 0;
    if (!json_object_is_type(j, json_type_string))
        return kilnd_err(r, 400, "%s must be a string", key);
    const char *s = json_object_get_string(j);
    if (s[0] != '/')
        return kilnd_err(r, 400, "%s must be an absolute path", key);
    if (access(s, R_OK))
        return kilnd_err(r, 400, "%s %s: %s", key, s, strerror(errno));
    *out = strdup(s);
    return *out ? 0 : kilnd_err(r, 500, "out of memory");
}

/*
 * Keys of the top-level object in JSON text that json-c has already accepted
 * (RFC 8259 §4: names SHOULD be unique; with duplicates behaviour is undefined).
 */
static size_t count_top_keys(const char *p, size_t len)
{
    size_t keys = 0;
    int depth = 0;
    bool in_str = false, expect_key = false;
    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
            continue;
        }
        switch (c) {
        case '"':
            in_str = true;
            if (depth == 1 && expect_key)
                keys++;
            expect_key = false;
            break;
        case '{':
        case '[':
            depth++;
            expect_key = depth == 1 && c == '{';
            break;
        case '}':
        case ']':
            depth--;
            break;
        case ',':
            expect_key = depth == 1;
            break;
        default:
            break;
        }
    }
    return keys;
}

json_object *kilnd_parse_body(struct reply *r, const char *body, size_t len)
{
    if (!body || len == 0) {
        kilnd_err(r, 400, "request body must be a JSON object");
        return NULL;
    }
    json_tokener *tok = json_tokener_new();
    json_object *o = tok ? json_tokener_parse_ex(tok, body, (int)len) : NULL;
    bool ok = o && json_tokener_get_error(tok) == json_tokener_success &&
              (size_t)json_tokener_get_parse_end(tok) == len;
    if (tok)
        json_tokener_free(tok);
    if (!ok || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        kilnd_err(r, 400, "request body is not a JSON object");
        return NULL;
    }
    /* json-c keeps the last of duplicate keys; which one was meant is a guess, so refuse. */
    if (count_top_keys(body, len) != (size_t)json_object_object_length(o)) {
        json_object_put(o);
        kilnd_err(r, 400, "request body has a duplicate key");
        return NULL;
    }
    return o;
}

/* ---- handlers (caller holds d->lock) ---- */

void kilnd_create(struct daemon *d, struct reply *r, const char *body, size_t len)
{
    json_object *o = kilnd_parse_body(r, body, len);
    if (!o)
        return;
    struct vm_rec *v = calloc(1, sizeof(*v));
    if (!v) {
        kilnd_err(r, 500, "out of memory");
        goto out;
    }
    v->mem = 256ull << 20;
    v->cpus = 1;
    v->exit_code = v->exit_signal = -1;
    bool have_name = false;
    json_object_object_foreach(o, key, val)
    {
        if (!strcmp(key, "name")) {
            if (!json_object_is_type(val, json_type_string) || !kilnd_valid_name(json_object_get_string(val))) {
                kilnd_err(r, 400, "name must be 1-63 characters of A-Z a-z 0-9 . _ - not starting with . or -");
                goto out;
            }
            snprintf(v->name, sizeof(v->name), "%s", json_object_get_string(val));
            have_name = true;
        } else if (!strcmp(key, "mem")) {
            if (parse_mem(val, &v->mem)) {
                kilnd_err(r, 400, "mem must be a size such as \"64M\" or \"2G\", or bytes");
                goto out;
            }
            if (mem_hint(r, val, v->mem) || check_mem(r, v->mem))
                goto out;
        } else if (!strcmp(key, "cpus")) {
            int64_t n;
            /* Like kiln run (and QEMU): more harts than host CPUs is allowed, only slower. */
            if (get_int(val, &n) || n < 1 || n > VM_MAX_CPUS) {
                kilnd_err(r, 400, "cpus must be a whole number from 1 to %d", VM_MAX_CPUS);
                goto out;
            }
            v->cpus = (unsigned)n;
        } else if (!strcmp(key, "cpu_cap")) {
            if (check_cap(r, val, &v->cpu_cap))
                goto out;
        } else if (!strcmp(key, "kernel")) {
            if (get_path(r, val, key, &v->kernel))
                goto out;
        } else if (!strcmp(key, "initrd")) {
            if (get_path(r, val, key, &v->initrd))
                goto out;
        } else if (!strcmp(key, "firmware")) {
            if (get_path(r, val, key, &v->firmware))
                goto out;
        } else if (!strcmp(key, "append")) {
            if (val && (!json_object_is_type(val, json_type_string) ||
                        strlen(json_object_get_string(val)) > 4000)) {
                kilnd_err(r, 400, "append must be a string of at most 4000 bytes");
                goto out;
            }
            if (val && !(v->append = strdup(json_object_get_string(val)))) {
                kilnd_err(r, 500, "out of memory");
                goto out;
            }
        } else if (!strcmp(key, "args")) {
            int n = json_object_is_type(val, json_type_array) ? (int)json_object_array_length(val) : -1;
            if (n < 0 || n > VM_MAX_ARGS) {
                kilnd_err(r, 400, "args must be an array of at most %d strings", VM_MAX_ARGS);
                goto out;
            }
            v->args = calloc((size_t)n + 1, sizeof(char *));
            for (int i = 0; v->args && i < n; i++) {
                json_object *a = json_object_array_get_idx(val, (size_t)i);
                if (!json_object_is_type(a, json_type_string) || strlen(json_object_get_string(a)) > 4000) {
                    kilnd_err(r, 400, "args must be an array of strings");
                    goto out;
                }
                v->args[i] = strdup(json_object_get_string(a));
                v->nargs = i + 1;
            }
        } else {
            kilnd_err(r, 400, "unknown field '%s'", key);
            goto out;
        }
    }
    if (!have_name) {
        kilnd_err(r, 400, "name is required");
        goto out;
    }
    if (v->initrd && !v->kernel) {
        kilnd_err(r, 400, "initrd needs kernel");
        goto out;
    }
    char aerr[512];
    if (runargs_check(v->args, v->nargs, aerr, sizeof(aerr))) {
        kilnd_err(r, 400, "%s", aerr);
        goto out;
    }
    if (kilnd_find_vm(d, v->name)) {
        kilnd_err(r, 409, "a VM named '%s' already exists", v->name);
        goto out;
    }
    v->created_at = kilnd_now();
    v->state = VMS_DEFINED;
    if (store_save(d->store, v)) {
        kilnd_err(r, 500, "could not save the VM definition");
        goto out;
    }
    v->next = NULL;
    struct vm_rec **tail = &d->vms;
    while (*tail)
        tail = &(*tail)->next;
    *tail = v;
    r->status = 201;
    r->json = kilnd_vm_json(d, v);
    v = NULL;
out:
    vm_rec_free(v);
    json_object_put(o);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

/*
 * The snapshot `kiln clone` took under STATE/snapshots/ goes with the last VM restored from it
 * (v, already unlinked from the list). Snapshots elsewhere are the user's and stay.
 */
static void drop_clone_snapshot(struct daemon *d, const struct vm_rec *v)
{
    char sdir[PATH_MAX];
    kilnd_pathf(sdir, sizeof(sdir), "%s/snapshots/", d->dir);
    if (!kilnd_is_restore(v) || strncmp(v->args[1], sdir, strlen(sdir)) || strchr(v->args[1] + strlen(sdir), '/'))
        return;
    for (const struct vm_rec *o = d->vms; o; o = o->next)
        if (kilnd_is_restore(o) && !strcmp(o->args[1], v->args[1]))
            return;
    nftw(v->args[1], rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void h_delete(struct daemon *d, struct reply *r, struct vm_rec *v)
{
    char dir[PATH_MAX];
    if (v->state == VMS_RUNNING || v->state == VMS_PAUSED) {
        kilnd_err(r, 409, "VM '%s' is %s: stop it first", v->name, vm_state_name(v->state));
        return;
    }
    if (store_delete(d->store, v->name)) {
        kilnd_err(r, 500, "could not delete the VM from the store");
        return;
    }
    kilnd_vm_dir(d, v->name, dir, sizeof(dir));
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    cg_vm_remove(&d->cg, v->name);
    for (struct vm_rec **p = &d->vms; *p; p = &(*p)->next) {
        if (*p == v) {
            *p = v->next;
            break;
        }
    }
    drop_clone_snapshot(d, v);
    vm_rec_free(v);
    r->status = 200;
    r->json = json_object_new_object();
}

/* A limit: an integer, or (bytes/s only) a string with a K/M/G suffix. */
static int parse_limit(json_object *val, bool suffixes, uint64_t *out)
{
    if (json_object_is_type(val, json_type_int)) {
        int64_t n = json_object_get_int64(val);
        if (n < 0)
            return -1;
        *out = (uint64_t)n;
        return 0;
    }
    if (json_object_is_type(val, json_type_string))
        return tb_parse_limit(json_object_get_string(val), suffixes, out);
    return -1;
}

/*
 * Sends the changed limits of a running VM to every disk / NIC through its
 * control socket ("no disk N" ends the walk). 0, or -1 with the reply set.
 */
static int apply_limits(struct daemon *d, struct reply *r, struct vm_rec *v, const bool set[3],
                        const uint64_t lim[3])
{
    for (int net = 0; net < 2; net++) {
        if (net ? !set[2] : !(set[0] || set[1]))
            continue;
        for (int i = 0; i < CONTROL_MAX_DISKS; i++) {
            char req[160];
            if (net)
                snprintf(req, sizeof(req), "{\"cmd\":\"limits\",\"net\":%d,\"bps\":%llu}\n", i,
                         (unsigned long long)lim[2]);
            else if (set[0] && set[1])
                snprintf(req, sizeof(req), "{\"cmd\":\"limits\",\"disk\":%d,\"bps\":%llu,\"iops\":%llu}\n",
                         i, (unsigned long long)lim[0], (unsigned long long)lim[1]);
            else
                snprintf(req, sizeof(req), "{\"cmd\":\"limits\",\"disk\":%d,\"%s\":%llu}\n", i,
                         set[0] ? "bps" : "iops", (unsigned long long)(set[0] ? lim[0] : lim[1]));
            json_object *ans = NULL, *x = NULL;
            int e = kilnd_vm_control(d, v, req, 2000, &ans);
            if (e) {
                kilnd_err(r, 409, "VM '%s' has no working control socket (%s)", v->name, strerror(-e));
                json_object_put(ans);
                return -1;
            }
            bool err = json_object_object_get_ex(ans, "error", &x);
            bool nodev = err && !strncmp(json_object_get_string(x), "no ", 3);
            if (err && !nodev) {
                kilnd_err(r, 400, "%s", json_object_get_string(x));
                json_object_put(ans);
                return -1;
            }
            json_object_put(ans);
            if (nodev)
                break; /* past the last device (a VM without any is fine) */
        }
    }
    return 0;
}

/* Does the VM's definition pass `flag` (as "--flag X" or "--flag=X") to kiln run? */
static bool vm_has_arg(const struct vm_rec *v, const char *flag)
{
    size_t fl = strlen(flag);
    for (int i = 0; i < v->nargs; i++) {
        if (!strncmp(v->args[i], flag, fl) && (v->args[i][fl] == 0 || v->args[i][fl] == '='))
            return true;
    }
    return false;
}

static void h_patch(struct daemon *d, struct reply *r, struct vm_rec *v, const char *body, size_t len)
{
    json_object *o = kilnd_parse_body(r, body, len);
    if (!o)
        return;
    unsigned cap = v->cpu_cap;
    bool set_cap = false, set_mem = false, set_lim[3] = {false, false, false};
    uint64_t mem = v->mem;
    uint64_t lim[3] = {v->disk_bps, v->disk_iops, v->net_bps};
    static const char *const lim_keys[3] = {"disk_bps", "disk_iops", "net_bps"};
    json_object_object_foreach(o, key, val)
    {
        int li = -1;
        for (int k = 0; k < 3; k++)
            if (!strcmp(key, lim_keys[k]))
                li = k;
        if (li >= 0) {
            if (parse_limit(val, li != 1, &lim[li])) {
                kilnd_err(r, 400,
                          "%s must be a non-negative number%s (0 = unlimited)", key,
                          li != 1 ? " of bytes per second, or a string such as \"4M\"" : " of requests per second");
                goto out;
            }
            set_lim[li] = true;
        } else if (!strcmp(key, "cpu_cap")) {
            if (check_cap(r, val, &cap))
                goto out;
            set_cap = true;
        } else if (!strcmp(key, "mem")) {
            if (parse_mem(val, &mem)) {
                kilnd_err(r, 400, "mem must be a size such as \"128M\" or a number of bytes");
                goto out;
            }
            if (mem_hint(r, val, mem))
                goto out;
            set_mem = true;
        } else {
            kilnd_err(r, 400, "unknown or unchangeable field '%s'", key);
            goto out;
        }
    }
    /* A limit on devices the VM does not have would be stored and do nothing: refuse it. */
    if ((set_lim[0] || set_lim[1]) && (lim[0] || lim[1]) && !vm_has_arg(v, "--disk")) {
        kilnd_err(r, 400, "VM '%s' has no disk (no --disk in its run flags): disk limits would do nothing",
                  v->name);
        goto out;
    }
    if (set_lim[2] && lim[2] && !vm_has_arg(v, "--net")) {
        kilnd_err(r, 400, "VM '%s' has no network device (no --net in its run flags): a net limit would do nothing",
                  v->name);
        goto out;
    }
    bool live = v->state == VMS_RUNNING || v->state == VMS_PAUSED;
    if (set_mem && !live && kilnd_is_restore(v)) {
        /* kiln restore builds the machine the snapshot describes: its RAM cannot change. */
        kilnd_err(r, 409, "VM '%s' is restored from a snapshot: its memory size is the snapshot's",
                  v->name);
        goto out;
    }
    if (set_mem && live) {
        /* A running VM: the balloon gives the guest `mem`, at most what it was started with. */
        if (v->state == VMS_PAUSED) {
            kilnd_err(r, 409, "VM '%s' is paused: resume it to change its memory", v->name);
            goto out;
        }
        if (mem > v->mem || mem < BALLOON_MIN_MEM) {
            kilnd_err(r, 400, "mem of a running VM must be between %llu MiB and its defined %llu MiB",
                      (unsigned long long)(BALLOON_MIN_MEM >> 20), (unsigned long long)(v->mem >> 20));
            goto out;
        }
        char req[96];
        snprintf(req, sizeof(req), "{\"cmd\":\"balloon\",\"target_mib\":%llu}\n",
                 (unsigned long long)(mem >> 20));
        json_object *ans = NULL, *x = NULL;
        int e = kilnd_vm_control(d, v, req, 2000, &ans);
        if (e) {
            kilnd_err(r, 409, "VM '%s' has no working control socket (%s): was it started by an older kiln?",
                      v->name, strerror(-e));
            json_object_put(ans);
            goto out;
        }
        if (json_object_object_get_ex(ans, "error", &x)) {
            kilnd_err(r, 400, "%s", json_object_get_string(x));
            json_object_put(ans);
            goto out;
        }
        json_object_put(ans);
    } else if (set_mem) {
        /* A VM that does not run: this is its definition. */
        if (check_mem(r, mem))
            goto out;
        v->mem = mem;
    }
    if (set_cap && (v->state == VMS_RUNNING || v->state == VMS_PAUSED) && d->cg.version) {
        int e = cg_vm_set_cap(&d->cg, v->name, cap);
        if (e) {
            kilnd_err(r, 500, "could not set the cgroup CPU limit: %s", strerror(-e));
            goto out;
        }
    }
    if ((set_lim[0] || set_lim[1] || set_lim[2]) && live &&
        apply_limits(d, r, v, set_lim, lim))
        goto out;
    v->cpu_cap = cap;
    v->disk_bps = lim[0];
    v->disk_iops = lim[1];
    v->net_bps = lim[2];
    store_save(d->store, v);
    r->status = 200;
    r->json = kilnd_vm_json(d, v);
out:
    json_object_put(o);
}

static void h_console_log(struct daemon *d, struct reply *r, struct vm_rec *v)
{
    char dir[PATH_MAX], path[PATH_MAX + 16];
    kilnd_vm_dir(d, v->name, dir, sizeof(dir));
    size_t cap = 70 << 10, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        kilnd_err(r, 500, "out of memory");
        return;
    }
    int fd = -1;
    bool live = v->state == VMS_RUNNING || v->state == VMS_PAUSED;
    if (live) {
        snprintf(path, sizeof(path), "%s/console.sock", dir);
        fd = kilnd_connect_unix(path);
        if (fd >= 0) {
            struct timeval tv = {2, 0};
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
            if (sock_send_all(fd, "log\n", 4)) {
                close(fd);
                fd = -1;
            }
        }
    } else {
        snprintf(path, sizeof(path), "%s/console.log", dir);
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (fd >= 0) {
        ssize_t n;
        while (len < cap && (n = read(fd, buf + len, cap - len)) > 0)
            len += (size_t)n;
        close(fd);
    }
    r->status = 200;
    r->raw = buf;
    r->rawlen = len;
}

static bool split_vm_path(const char *path, char *name, size_t nlen, const char **action)
{
    static const char pre[] = "/v1/vms/";
    if (strncmp(path, pre, sizeof(pre) - 1))
        return false;
    const char *n = path + sizeof(pre) - 1;
    const char *slash = strchr(n, '/');
    size_t l = slash ? (size_t)(slash - n) : strlen(n);
    if (l == 0 || l >= nlen)
        return false;
    memcpy(name, n, l);
    name[l] = 0;
    *action = slash ? slash + 1 : "";
    return true;
}

static void host_json(struct daemon *d, struct reply *r)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "cpus", json_object_new_int((int)host_cpus()));
    json_object_object_add(o, "mem", json_object_new_int64((int64_t)host_mem_total()));
    json_object_object_add(o, "cpu_limit_backend", json_object_new_string(
                               d->cg.version == 2 ? "cgroup2" : d->cg.version == 1 ? "cgroup1" : "none"));
    if (!d->cg.version)
        json_object_object_add(o, "cpu_limit_why", json_object_new_string(d->cg.why));
    json_object_object_add(o, "api", json_object_new_string("v1"));
    json_object_object_add(o, "daemon_pid", json_object_new_int((int)getpid()));
    r->status = 200;
    r->json = o;
}

/*
 * Routes one request. For a console upgrade, returns the monitor's socket in
 * *console_fd (and r->status 101) for the caller to proxy.
 */
void kilnd_route(struct daemon *d, const struct http_request *q, const char *body, size_t blen,
                  struct reply *r, int *console_fd)
{
    const char *m = q->method, *action;
    char name[VM_NAME_MAX + 2];
    pthread_mutex_lock(&d->lock);
    kilnd_supervise_locked(d);
    /* Only stop takes a parameter; any other key is a typo to report, not to ignore. */
    static const char *const stop_params[] = {"timeout", NULL};
    size_t pl = strlen(q->path);
    bool is_stop = pl > 5 && !strcmp(q->path + pl - 5, "/stop");
    char bad[80];
    if (http_query_check(q->query, is_stop ? stop_params : NULL, bad, sizeof(bad))) {
        kilnd_err(r, 400, "unknown query parameter '%s'%s", bad,
                  is_stop ? " (stop takes timeout)" : " (this endpoint takes none)");
        goto out;
    }
    if (!strcmp(q->path, "/v1/vms")) {
        if (!strcmp(m, "GET")) {
            json_object *a = json_object_new_array();
            for (struct vm_rec *v = d->vms; v; v = v->next)
                json_object_array_add(a, kilnd_vm_json(d, v));
            r->status = 200;
            r->json = a;
        } else if (!strcmp(m, "POST")) {
            kilnd_create(d, r, body, blen);
        } else {
            kilnd_err(r, 405, "%s not allowed on /v1/vms", m);
            r->allow = "GET, POST";
        }
        goto out;
    }
    if (!strcmp(q->path, "/v1/restore")) {
        if (strcmp(m, "POST")) {
            kilnd_err(r, 405, "%s not allowed on /v1/restore", m);
            r->allow = "POST";
        } else {
            kilnd_restore(d, r, body, blen);
        }
        goto out;
    }
    if (!strcmp(q->path, "/v1/host")) {
        if (strcmp(m, "GET")) {
            kilnd_err(r, 405, "%s not allowed on /v1/host", m);
            r->allow = "GET";
        } else {
            host_json(d, r);
        }
        goto out;
    }
    if (!split_vm_path(q->path, name, sizeof(name), &action)) {
        kilnd_err(r, 404, "no such endpoint: %s", q->path);
        goto out;
    }
    struct vm_rec *v = kilnd_find_vm(d, name);
    if (!v) {
        kilnd_err(r, 404, "no VM named '%s'", name);
        goto out;
    }
    if (!*action) {
        if (!strcmp(m, "GET")) {
            r->status = 200;
            r->json = kilnd_vm_json(d, v);
        } else if (!strcmp(m, "DELETE")) {
            h_delete(d, r, v);
        } else if (!strcmp(m, "PATCH")) {
            h_patch(d, r, v, body, blen);
        } else {
            kilnd_err(r, 405, "%s not allowed on a VM", m);
            r->allow = "GET, PATCH, DELETE";
        }
        goto out;
    }
    if (!strcmp(action, "console")) {
        if (strcmp(m, "GET")) {
            kilnd_err(r, 405, "%s not allowed on a console", m);
            r->allow = "GET";
        } else if (!q->upgrade) {
            h_console_log(d, r, v);
        } else if (strcmp(q->upgrade_proto, "kiln-console")) {
            kilnd_err(r, 400, "the console speaks 'Upgrade: kiln-console' only");
        } else if (v->state != VMS_RUNNING && v->state != VMS_PAUSED) {
            kilnd_err(r, 409, "VM '%s' is %s, not running", v->name, vm_state_name(v->state));
        } else {
            char dir[PATH_MAX], path[PATH_MAX + 16];
            kilnd_vm_dir(d, v->name, dir, sizeof(dir));
            snprintf(path, sizeof(path), "%s/console.sock", dir);
            int fd = kilnd_connect_unix(path);
            if (fd < 0 || sock_send_all(fd, "console\n", 8)) {
                if (fd >= 0)
                    close(fd);
                kilnd_err(r, 503, "the console of VM '%s' is not reachable", v->name);
            } else {
                *console_fd = fd;
                r->status = 101;
            }
        }
        goto out;
    }
    if (!strcmp(action, "snapshot") || !strcmp(action, "clone")) {
        if (strcmp(m, "POST")) {
            kilnd_err(r, 405, "%s not allowed on %s", m, action);
            r->allow = "POST";
        } else if (action[0] == 's') {
            kilnd_snapshot(d, r, v, body, blen);
        } else {
            kilnd_clone(d, r, v, body, blen);
        }
        goto out;
    }
    if (!strcmp(action, "migrate")) {
        if (strcmp(m, "POST")) {
            kilnd_err(r, 405, "%s not allowed on migrate", m);
            r->allow = "POST";
        } else {
            kilnd_migrate(d, r, v, body, blen);
        }
        goto out;
    }
    static const char *const ops[] = {"start", "stop", "kill", "pause", "resume"};
    size_t i;
    for (i = 0; i < 5 && strcmp(action, ops[i]); i++)
        ;
    if (i == 5) {
        kilnd_err(r, 404, "no such endpoint: %s", q->path);
        goto out;
    }
    if (strcmp(m, "POST")) {
        kilnd_err(r, 405, "%s not allowed on %s", m, action);
        r->allow = "POST";
        goto out;
    }
    if (i == 0) {
        kilnd_start(d, r, v);
    } else if (i == 1 || i == 2) {
        int timeout = STOP_TIMEOUT_S;
        char t[16];
        if (!http_query_get(q->query, "timeout", t, sizeof(t))) {
            char *end;
            long x = strtol(t, &end, 10);
            if (!*t || *end || x < 0 || x > 3600) {
                kilnd_err(r, 400, "timeout must be 0-3600 seconds");
                goto out;
            }
            timeout = (int)x;
        }
        kilnd_stop(d, r, v, i == 2, timeout);
    } else {
        kilnd_signal(d, r, v, ops[i]);
    }
out:
    pthread_mutex_unlock(&d->lock);
}
