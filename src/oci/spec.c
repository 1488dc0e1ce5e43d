/*
 * config.json of an OCI bundle (runtime-spec v1.x config.md, config-linux.md)
 * read with json-c into struct oci_spec. Every field read is checked for its
 * type and value; fields a process VM cannot honour are only noted through
 * oci_debug(). One deliberate difference from config.md ("MUST ignore unknown
 * properties"): an unknown *top-level* key is refused, so a misspelt
 * "mount" or "proccess" is an error instead of a container without it.
 */
#define _GNU_SOURCE
#include "oci/spec.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "oci/log.h"

/* config.json of a real engine is a few KiB; this bounds what a hostile one costs. */
#define SPEC_MAX_BYTES (4u << 20)
#define SPEC_MAX_DEPTH 32
#define SPEC_MAX_STRINGS 65536

struct perr {
    char *buf;
    size_t len;
};

static int fail(struct perr *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct perr *e, const char *fmt, ...)
{
    if (e->buf && e->len) {
        int n = snprintf(e->buf, e->len, "config.json: ");
        va_list ap;
        va_start(ap, fmt);
        if (n >= 0 && (size_t)n < e->len)
            vsnprintf(e->buf + n, e->len - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

static const char *type_name(json_object *o)
{
    return o ? json_type_to_name(json_object_get_type(o)) : "null";
}

/* A string field: 0 and *out (a copy) when present, or when absent and !required (*out NULL). */
static int get_string(struct perr *e, json_object *obj, const char *key, const char *where,
                      bool required, char **out)
{
    json_object *v;
    *out = NULL;
    if (!json_object_object_get_ex(obj, key, &v) || !v) {
        if (required)
            return fail(e, "%s.%s is required", where, key);
        return 0;
    }
    if (!json_object_is_type(v, json_type_string))
        return fail(e, "%s.%s must be a string, not %s", where, key, type_name(v));
    const char *s = json_object_get_string(v);
    if (strlen(s) != (size_t)json_object_get_string_len(v))
        return fail(e, "%s.%s contains a NUL byte", where, key);
    *out = strdup(s);
    return *out ? 0 : -ENOMEM;
}

static int get_bool(struct perr *e, json_object *obj, const char *key, const char *where, bool *out)
{
    json_object *v;
    if (!json_object_object_get_ex(obj, key, &v) || !v)
        return 0;
    if (!json_object_is_type(v, json_type_boolean))
        return fail(e, "%s.%s must be true or false, not %s", where, key, type_name(v));
    *out = json_object_get_boolean(v);
    return 0;
}

/* An integer in [min, max] (json-c keeps 64-bit integers exactly; 1.5 or "5" are refused). */
static int int_value(struct perr *e, json_object *v, const char *where, const char *key,
                     int64_t min, int64_t max, int64_t *out)
{
    if (!json_object_is_type(v, json_type_int))
        return fail(e, "%s.%s must be an integer, not %s", where, key, type_name(v));
    errno = 0;
    int64_t n = json_object_get_int64(v);
    if (n < min || n > max || (n == INT64_MAX && errno))
        return fail(e, "%s.%s: %lld is out of range (%lld to %lld)", where, key, (long long)n,
                    (long long)min, (long long)max);
    *out = n;
    return 0;
}

static int get_int(struct perr *e, json_object *obj, const char *key, const char *where, int64_t min,
                   int64_t max, bool *present, int64_t *out)
{
    json_object *v;
    *present = false;
    if (!json_object_object_get_ex(obj, key, &v) || !v)
        return 0;
    *present = true;
    return int_value(e, v, where, key, min, max, out);
}

/* An unsigned 64-bit value (rlimits: RLIM_INFINITY is 2^64-1, above json-c's int64). */
static int get_u64(struct perr *e, json_object *obj, const char *key, const char *where, uint64_t *out)
{
    json_object *v;
    if (!json_object_object_get_ex(obj, key, &v) || !v)
        return fail(e, "%s.%s is required", where, key);
    if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
        return fail(e, "%s.%s must be a non-negative integer", where, key);
    *out = json_object_get_uint64(v);
    return 0;
}

static json_object *get_object(struct perr *e, json_object *obj, const char *key, const char *where,
                               int *rc)
{
    json_object *v;
    *rc = 0;
    if (!json_object_object_get_ex(obj, key, &v) || !v)
        return NULL;
    if (!json_object_is_type(v, json_type_object)) {
        *rc = fail(e, "%s.%s must be an object, not %s", where, key, type_name(v));
        return NULL;
    }
    return v;
}

static json_object *get_array(struct perr *e, json_object *obj, const char *key, const char *where,
                              int *rc)
{
    json_object *v;
    *rc = 0;
    if (!json_object_object_get_ex(obj, key, &v) || !v)
        return NULL;
    if (!json_object_is_type(v, json_type_array)) {
        *rc = fail(e, "%s.%s must be an array, not %s", where, key, type_name(v));
        return NULL;
    }
    return v;
}

static void free_strv(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

/* A NULL-terminated copy of an array of strings. */
static int get_strv(struct perr *e, json_object *arr, const char *where, char ***out)
{
    size_t n = json_object_array_length(arr);
    if (n > SPEC_MAX_STRINGS)
        return fail(e, "%s: more than %u entries", where, SPEC_MAX_STRINGS);
    char **v = calloc(n + 1, sizeof(char *));
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_object *s = json_object_array_get_idx(arr, i);
        if (!json_object_is_type(s, json_type_string)) {
            free_strv(v);
            return fail(e, "%s[%zu] must be a string, not %s", where, i, type_name(s));
        }
        if (strlen(json_object_get_string(s)) != (size_t)json_object_get_string_len(s)) {
            free_strv(v);
            return fail(e, "%s[%zu] contains a NUL byte", where, i);
        }
        v[i] = strdup(json_object_get_string(s));
        if (!v[i]) {
            free_strv(v);
            return -ENOMEM;
        }
    }
    *out = v;
    return 0;
}

/* Keys of obj not in known[] are noted: the spec lets runtimes ignore them (config.md). */
static void note_unknown(json_object *obj, const char *where, const char *const *known)
{
    json_object_object_foreach(obj, key, val) {
        (void)val;
        bool found = false;
        for (size_t i = 0; known[i] && !found; i++)
            found = !strcmp(key, known[i]);
        if (!found)
            oci_debug("%s.%s: not part of the spec kiln knows; ignored", where, key);
    }
}

/* Fields that exist in the spec but mean nothing to a process VM (kiln enforces its own). */
static void note_ignored(json_object *obj, const char *where, const char *const *keys, const char *why)
{
    for (size_t i = 0; keys[i]; i++)
        if (json_object_object_get_ex(obj, keys[i], NULL))
            oci_debug("%s.%s: %s; ignored", where, keys[i], why);
}

static const struct {
    const char *name;
    int res;
} rlimit_names[] = {
    {"RLIMIT_AS", RLIMIT_AS},         {"RLIMIT_CORE", RLIMIT_CORE},
    {"RLIMIT_CPU", RLIMIT_CPU},       {"RLIMIT_DATA", RLIMIT_DATA},
    {"RLIMIT_FSIZE", RLIMIT_FSIZE},   {"RLIMIT_LOCKS", RLIMIT_LOCKS},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK}, {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
    {"RLIMIT_NICE", RLIMIT_NICE},     {"RLIMIT_NOFILE", RLIMIT_NOFILE},
    {"RLIMIT_NPROC", RLIMIT_NPROC},   {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_RTPRIO", RLIMIT_RTPRIO}, {"RLIMIT_RTTIME", RLIMIT_RTTIME},
    {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING}, {"RLIMIT_STACK", RLIMIT_STACK},
};

static int parse_rlimits(struct perr *e, json_object *arr, struct oci_process *p)
{
    size_t n = json_object_array_length(arr);
    for (size_t i = 0; i < n; i++) {
        json_object *r = json_object_array_get_idx(arr, i);
        char where[64];
        snprintf(where, sizeof(where), "process.rlimits[%zu]", i);
        if (!json_object_is_type(r, json_type_object))
            return fail(e, "%s must be an object, not %s", where, type_name(r));
        char *type;
        int rc = get_string(e, r, "type", where, true, &type);
        if (rc)
            return rc;
        int res = -1;
        for (size_t k = 0; k < sizeof(rlimit_names) / sizeof(rlimit_names[0]); k++)
            if (!strcmp(type, rlimit_names[k].name))
                res = rlimit_names[k].res;
        if (res < 0) {
            rc = fail(e, "%s.type: unknown rlimit '%s'", where, type);
            free(type);
            return rc;
        }
        free(type);
        struct oci_rlimit rl = {.resource = res};
        if ((rc = get_u64(e, r, "soft", where, &rl.soft)) || (rc = get_u64(e, r, "hard", where, &rl.hard)))
            return rc;
        if (rl.soft > rl.hard)
            return fail(e, "%s: soft limit %llu is above the hard limit %llu", where,
                        (unsigned long long)rl.soft, (unsigned long long)rl.hard);
        /* config.md: "If config.json contains duplicated entries, the runtime MUST generate an error." */
        for (unsigned k = 0; k < p->nrlimits; k++)
            if (p->rlimits[k].resource == res)
                return fail(e, "%s: the same rlimit is given twice", where);
        if (p->nrlimits == OCI_MAX_RLIMITS)
            return fail(e, "process.rlimits: too many entries");
        p->rlimits[p->nrlimits++] = rl;
    }
    return 0;
}

static int parse_process_obj(struct perr *e, json_object *o, struct oci_process *p)
{
    static const char *const known[] = {
        "terminal", "consoleSize", "user", "args", "env", "cwd", "rlimits", "oomScoreAdj",
        "capabilities", "noNewPrivileges", "apparmorProfile", "selinuxLabel", "ioPriority",
        "scheduler", "execCPUAffinity", "commandLine", NULL};
    int rc = 0;
    int64_t n;
    bool present;
    memset(p, 0, sizeof(*p));
    if ((rc = get_bool(e, o, "terminal", "process", &p->terminal)))
        return rc;
    json_object *cs = get_object(e, o, "consoleSize", "process", &rc);
    if (rc)
        return rc;
    if (cs) {
        if ((rc = get_int(e, cs, "height", "process.consoleSize", 0, 65535, &present, &n)))
            return rc;
        p->cons_rows = present ? (unsigned)n : 0;
        if ((rc = get_int(e, cs, "width", "process.consoleSize", 0, 65535, &present, &n)))
            return rc;
        p->cons_cols = present ? (unsigned)n : 0;
    }
    json_object *user = get_object(e, o, "user", "process", &rc);
    if (rc)
        return rc;
    if (user) {
        if ((rc = get_int(e, user, "uid", "process.user", 0, UINT32_MAX - 1, &present, &n)))
            return rc;
        p->uid = present ? (uint32_t)n : 0;
        if ((rc = get_int(e, user, "gid", "process.user", 0, UINT32_MAX - 1, &present, &n)))
            return rc;
        p->gid = present ? (uint32_t)n : 0;
        static const char *const ign[] = {"umask", "additionalGids", NULL};
        note_ignored(user, "process.user", ign, "a process VM has one uid and gid");
    }
    json_object *args = get_array(e, o, "args", "process", &rc);
    if (rc)
        return rc;
    if (!args || json_object_array_length(args) == 0)
        return fail(e, "process.args must be a non-empty array of strings (the program to run)");
    if ((rc = get_strv(e, args, "process.args", &p->args)))
        goto out;
    if (!p->args[0][0]) {
        rc = fail(e, "process.args[0] is empty");
        goto out;
    }
    json_object *env = get_array(e, o, "env", "process", &rc);
    if (rc)
        goto out;
    if (env) {
        if ((rc = get_strv(e, env, "process.env", &p->env)))
            goto out;
        for (size_t i = 0; p->env[i]; i++)
            if (!strchr(p->env[i], '=') || p->env[i][0] == '=') {
                rc = fail(e, "process.env[%zu]: '%s' is not NAME=VALUE", i, p->env[i]);
                goto out;
            }
    } else {
        p->env = calloc(1, sizeof(char *));
        if (!p->env) {
            rc = -ENOMEM;
            goto out;
        }
    }
    if ((rc = get_string(e, o, "cwd", "process", true, &p->cwd)))
        goto out;
    if (p->cwd[0] != '/') {
        rc = fail(e, "process.cwd must be an absolute path, not '%s'", p->cwd);
        goto out;
    }
    json_object *rl = get_array(e, o, "rlimits", "process", &rc);
    if (rc || (rl && (rc = parse_rlimits(e, rl, p))))
        goto out;
    if ((rc = get_int(e, o, "oomScoreAdj", "process", -1000, 1000, &present, &n)))
        goto out;
    p->has_oom_score_adj = present;
    p->oom_score_adj = (int)n;
    static const char *const ign[] = {"capabilities", "apparmorProfile", "selinuxLabel",
                                      "ioPriority", "scheduler", "execCPUAffinity", NULL};
    note_ignored(o, "process", ign, "the process VM's jail decides this");
    json_object *nnp;
    if (json_object_object_get_ex(o, "noNewPrivileges", &nnp) && nnp &&
        !json_object_is_type(nnp, json_type_boolean)) {
        rc = fail(e, "process.noNewPrivileges must be true or false");
        goto out;
    }
    note_unknown(o, "process", known);
    return 0;
out:
    oci_process_free(p);
    return rc;
}

static int parse_mounts(struct perr *e, json_object *arr, struct oci_spec *s)
{
    size_t n = json_object_array_length(arr);
    if (n > 1024)
        return fail(e, "mounts: more than 1024 entries");
    s->mounts = calloc(n ? n : 1, sizeof(*s->mounts));
    if (!s->mounts)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_object *m = json_object_array_get_idx(arr, i);
        char where[32];
        snprintf(where, sizeof(where), "mounts[%zu]", i);
        if (!json_object_is_type(m, json_type_object))
            return fail(e, "%s must be an object, not %s", where, type_name(m));
        struct oci_mount *om = &s->mounts[s->nmounts++];
        int rc;
        if ((rc = get_string(e, m, "destination", where, true, &om->dest)) ||
            (rc = get_string(e, m, "source", where, false, &om->src)) ||
            (rc = get_string(e, m, "type", where, false, &om->type)))
            return rc;
        if (om->dest[0] != '/')
            return fail(e, "%s.destination must be an absolute path, not '%s'", where, om->dest);
        om->bind = om->type && !strcmp(om->type, "bind");
        json_object *opts = get_array(e, m, "options", where, &rc);
        if (rc)
            return rc;
        for (size_t k = 0; opts && k < json_object_array_length(opts); k++) {
            json_object *op = json_object_array_get_idx(opts, k);
            if (!json_object_is_type(op, json_type_string))
                return fail(e, "%s.options[%zu] must be a string, not %s", where, k, type_name(op));
            const char *v = json_object_get_string(op);
            if (!strcmp(v, "bind") || !strcmp(v, "rbind"))
                om->bind = true;
            else if (!strcmp(v, "ro") || !strcmp(v, "rro"))
                om->ro = true;
            else if (!strcmp(v, "rw") || !strcmp(v, "rrw"))
                om->ro = false;
        }
        if (om->bind && !om->src)
            return fail(e, "%s: a bind mount needs a source", where);
    }
    return 0;
}

static const char *const hook_names[OCI_HOOK_KINDS] = {
    "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"};

static int parse_hooks(struct perr *e, json_object *hooks, struct oci_spec *s)
{
    for (int k = 0; k < OCI_HOOK_KINDS; k++) {
        int rc;
        json_object *arr = get_array(e, hooks, hook_names[k], "hooks", &rc);
        if (rc)
            return rc;
        size_t n = arr ? json_object_array_length(arr) : 0;
        if (!n)
            continue;
        if (n > 256)
            return fail(e, "hooks.%s: more than 256 hooks", hook_names[k]);
        struct oci_hooks *hs = &s->hooks[k];
        hs->h = calloc(n, sizeof(*hs->h));
        if (!hs->h)
            return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
            json_object *o = json_object_array_get_idx(arr, i);
            char where[64];
            snprintf(where, sizeof(where), "hooks.%s[%zu]", hook_names[k], i);
            if (!json_object_is_type(o, json_type_object))
                return fail(e, "%s must be an object, not %s", where, type_name(o));
            struct oci_hook *h = &hs->h[hs->n++];
            if ((rc = get_string(e, o, "path", where, true, &h->path)))
                return rc;
            if (h->path[0] != '/')
                return fail(e, "%s.path must be absolute, not '%s'", where, h->path);
            json_object *v = get_array(e, o, "args", where, &rc);
            if (rc || (v && (rc = get_strv(e, v, where, &h->args))))
                return rc;
            v = get_array(e, o, "env", where, &rc);
            if (rc || (v && (rc = get_strv(e, v, where, &h->env))))
                return rc;
            int64_t t;
            bool present;
            if ((rc = get_int(e, o, "timeout", where, 1, 86400, &present, &t)))
                return rc;
            h->timeout = present ? (int)t : 0;
        }
        if (k == OCI_HOOK_CREATE_CONTAINER || k == OCI_HOOK_START_CONTAINER)
            oci_debug("hooks.%s: runs inside the container's namespaces; a process VM has none, not run",
                      hook_names[k]);
    }
    return 0;
}

static const char *const ns_types[] = {"pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time", NULL};

static int parse_namespaces(struct perr *e, json_object *arr, struct oci_spec *s)
{
    bool seen[8] = {false};
    size_t n = json_object_array_length(arr);
    for (size_t i = 0; i < n; i++) {
        json_object *ns = json_object_array_get_idx(arr, i);
        char where[40];
        snprintf(where, sizeof(where), "linux.namespaces[%zu]", i);
        if (!json_object_is_type(ns, json_type_object))
            return fail(e, "%s must be an object, not %s", where, type_name(ns));
        char *type, *path;
        int rc = get_string(e, ns, "type", where, true, &type);
        if (rc)
            return rc;
        int t = -1;
        for (int k = 0; ns_types[k]; k++)
            if (!strcmp(type, ns_types[k]))
                t = k;
        if (t < 0) {
            rc = fail(e, "%s.type: unknown namespace '%s'", where, type);
            free(type);
            return rc;
        }
        free(type);
        /* config-linux.md: a duplicated namespace type MUST be an error. */
        if (seen[t])
            return fail(e, "%s: namespace '%s' is given twice", where, ns_types[t]);
        seen[t] = true;
        if ((rc = get_string(e, ns, "path", where, false, &path)))
            return rc;
        if (path && path[0] != '/') {
            rc = fail(e, "%s.path must be absolute, not '%s'", where, path);
            free(path);
            return rc;
        }
        if (!strcmp(ns_types[t], "network")) {
            s->net = path ? OCI_NET_PATH : OCI_NET_NEW;
            s->netns_path = path;
        } else {
            /* The process VM is its own pid, mount, IPC and UTS space (its jail, docs/jail.md). */
            if (path)
                oci_debug("%s: joining a %s namespace is not needed by a process VM; ignored",
                          where, ns_types[t]);
            free(path);
        }
    }
    return 0;
}

static int parse_resources(struct perr *e, json_object *res, struct oci_spec *s)
{
    int rc;
    int64_t n;
    bool present;
    json_object *mem = get_object(e, res, "memory", "linux.resources", &rc);
    if (rc)
        return rc;
    if (mem) {
        if ((rc = get_int(e, mem, "limit", "linux.resources.memory", -1, INT64_MAX, &present, &n)))
            return rc;
        if (present && n > 0)
            s->mem_limit = (uint64_t)n;
        static const char *const ign[] = {"reservation", "swap", "kernel", "kernelTCP",
                                          "swappiness", "disableOOMKiller", "useHierarchy",
                                          "checkBeforeUpdate", NULL};
        note_ignored(mem, "linux.resources.memory", ign, "a process VM has one RAM limit");
    }
    json_object *cpu = get_object(e, res, "cpu", "linux.resources", &rc);
    if (rc)
        return rc;
    if (cpu) {
        if ((rc = get_int(e, cpu, "quota", "linux.resources.cpu", -1, INT64_MAX, &present, &n)))
            return rc;
        if ((rc = get_int(e, cpu, "period", "linux.resources.cpu", 0, INT64_MAX, &present, &n)))
            return rc;
        static const char *const ign[] = {"quota", "period", "shares", "cpus", "mems",
                                          "realtimeRuntime", "realtimePeriod", "idle", "burst", NULL};
        note_ignored(cpu, "linux.resources.cpu", ign, "process VMs have no CPU cap yet");
    }
    json_object *pids = get_object(e, res, "pids", "linux.resources", &rc);
    if (rc)
        return rc;
    if (pids) {
        if ((rc = get_int(e, pids, "limit", "linux.resources.pids", INT64_MIN, INT64_MAX, &present, &n)))
            return rc;
        if (present && n > 0)
            s->pids_limit = n;
    }
    static const char *const ign[] = {"devices", "blockIO", "hugepageLimits", "network", "rdma",
                                      "unified", NULL};
    note_ignored(res, "linux.resources", ign, "not applicable to a process VM");
    return 0;
}

static int parse_linux(struct perr *e, json_object *lx, struct oci_spec *s)
{
    int rc;
    json_object *nss = get_array(e, lx, "namespaces", "linux", &rc);
    if (rc || (nss && (rc = parse_namespaces(e, nss, s))))
        return rc;
    json_object *res = get_object(e, lx, "resources", "linux", &rc);
    if (rc || (res && (rc = parse_resources(e, res, s))))
        return rc;
    static const char *const ign[] = {"uidMappings", "gidMappings", "cgroupsPath", "sysctl",
                                      "seccomp", "maskedPaths", "readonlyPaths", "devices",
                                      "rootfsPropagation", "mountLabel", "intelRdt", "personality",
                                      "timeOffsets", NULL};
    note_ignored(lx, "linux", ign, "the process VM's own walls stand instead (docs/oci.md)");
    return 0;
}

/* Top-level keys of config.md; anything else is refused (see the header comment). */
static const char *const top_keys[] = {"ociVersion", "process", "root", "hostname", "domainname",
                                       "mounts", "hooks", "annotations", "linux", "vm",
                                       "solaris", "windows", "zos", NULL};

static int parse_top(struct perr *e, json_object *o, struct oci_spec *s)
{
    int rc;
    json_object_object_foreach(o, key, val) {
        (void)val;
        bool ok = false;
        for (size_t i = 0; top_keys[i] && !ok; i++)
            ok = !strcmp(key, top_keys[i]);
        if (!ok)
            return fail(e, "unknown top-level field '%s'", key);
    }
    if ((rc = get_string(e, o, "ociVersion", "(top)", true, &s->oci_version)))
        return rc;
    if (strncmp(s->oci_version, "1.", 2))
        return fail(e, "ociVersion '%s' is not a 1.x runtime spec", s->oci_version);
    static const char *const other[] = {"solaris", "windows", "zos"};
    for (size_t i = 0; i < 3; i++)
        if (json_object_object_get_ex(o, other[i], NULL))
            return fail(e, "'%s' section: kiln runs Linux containers only", other[i]);
    json_object *proc = get_object(e, o, "process", "(top)", &rc);
    if (rc)
        return rc;
    if (proc) {
        if ((rc = parse_process_obj(e, proc, &s->proc)))
            return rc;
        s->has_process = true;
    }
    json_object *root = get_object(e, o, "root", "(top)", &rc);
    if (rc)
        return rc;
    if (!root)
        return fail(e, "root is required (the bundle's root file system)");
    if ((rc = get_string(e, root, "path", "root", true, &s->root_path)) ||
        (rc = get_bool(e, root, "readonly", "root", &s->root_ro)))
        return rc;
    if (!s->root_path[0])
        return fail(e, "root.path is empty");
    if ((rc = get_string(e, o, "hostname", "(top)", false, &s->hostname)))
        return rc;
    if (s->hostname)
        oci_debug("hostname '%s': a process VM reports kiln's own uname; ignored", s->hostname);
    json_object *mounts = get_array(e, o, "mounts", "(top)", &rc);
    if (rc || (mounts && (rc = parse_mounts(e, mounts, s))))
        return rc;
    json_object *hooks = get_object(e, o, "hooks", "(top)", &rc);
    if (rc)
        return rc;
    if (hooks && (rc = parse_hooks(e, hooks, s)))
        return rc;
    json_object *ann = get_object(e, o, "annotations", "(top)", &rc);
    if (rc)
        return rc;
    if (ann) {
        json_object_object_foreach(ann, k, v) {
            if (!json_object_is_type(v, json_type_string))
                return fail(e, "annotations.%s must be a string, not %s", k, type_name(v));
        }
        json_object *kind;
        if (json_object_object_get_ex(ann, "run.kiln.vm", &kind)) {
            const char *k = json_object_get_string(kind);
            if (!strcmp(k, "system"))
                s->vm_kind = OCI_VM_SYSTEM;
            else if (strcmp(k, "process"))
                return fail(e, "annotations.run.kiln.vm must be 'process' or 'system', not '%s'", k);
        }
    }
    s->annotations = strdup(ann ? json_object_to_json_string_ext(ann, JSON_C_TO_STRING_PLAIN) : "{}");
    if (!s->annotations)
        return -ENOMEM;
    json_object *vm = get_object(e, o, "vm", "(top)", &rc);
    if (rc)
        return rc;
    if (vm)
        s->vm_kind = OCI_VM_SYSTEM;
    json_object *lx = get_object(e, o, "linux", "(top)", &rc);
    if (rc || (lx && (rc = parse_linux(e, lx, s))))
        return rc;
    return 0;
}

static json_object *parse_text(struct perr *e, const char *text, size_t len, int *rc)
{
    *rc = 0;
    if (len > SPEC_MAX_BYTES) {
        *rc = fail(e, "larger than %u bytes", SPEC_MAX_BYTES);
        return NULL;
    }
    json_tokener *tok = json_tokener_new_ex(SPEC_MAX_DEPTH);
    if (!tok) {
        *rc = -ENOMEM;
        return NULL;
    }
    json_object *o = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error je = json_tokener_get_error(tok);
    size_t used = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (!o || je != json_tokener_success) {
        json_object_put(o);
        *rc = fail(e, "not valid JSON: %s at byte %zu",
                   je == json_tokener_continue ? "unexpected end" : json_tokener_error_desc(je), used);
        return NULL;
    }
    while (used < len && strchr(" \t\r\n", text[used]))
        used++;
    if (used < len) {
        json_object_put(o);
        *rc = fail(e, "not valid JSON: extra data at byte %zu", used);
        return NULL;
    }
    if (!json_object_is_type(o, json_type_object)) {
        *rc = fail(e, "must be a JSON object, not %s", type_name(o));
        json_object_put(o);
        return NULL;
    }
    return o;
}

int oci_spec_parse(const char *text, size_t len, struct oci_spec *s, char *err, size_t errlen)
{
    struct perr e = {err, errlen};
    memset(s, 0, sizeof(*s));
    if (err && errlen)
        err[0] = 0;
    int rc;
    json_object *o = parse_text(&e, text, len, &rc);
    if (!o)
        return rc;
    rc = parse_top(&e, o, s);
    json_object_put(o);
    if (rc) {
        if (rc == -ENOMEM)
            fail(&e, "out of memory");
        oci_spec_free(s);
    }
    return rc;
}

int oci_process_parse(const char *text, size_t len, struct oci_process *p, char *err, size_t errlen)
{
    struct perr e = {err, errlen};
    memset(p, 0, sizeof(*p));
    if (err && errlen)
        err[0] = 0;
    int rc;
    json_object *o = parse_text(&e, text, len, &rc);
    if (!o)
        return rc;
    rc = parse_process_obj(&e, o, p);
    json_object_put(o);
    if (rc == -ENOMEM)
        fail(&e, "out of memory");
    return rc;
}

void oci_process_free(struct oci_process *p)
{
    free_strv(p->args);
    free_strv(p->env);
    free(p->cwd);
    memset(p, 0, sizeof(*p));
}

void oci_spec_free(struct oci_spec *s)
{
    free(s->oci_version);
    oci_process_free(&s->proc);
    free(s->root_path);
    free(s->hostname);
    for (size_t i = 0; i < s->nmounts; i++) {
        free(s->mounts[i].dest);
        free(s->mounts[i].src);
        free(s->mounts[i].type);
    }
    free(s->mounts);
    free(s->annotations);
    free(s->netns_path);
    for (int k = 0; k < OCI_HOOK_KINDS; k++) {
        for (size_t i = 0; i < s->hooks[k].n; i++) {
            free(s->hooks[k].h[i].path);
            free_strv(s->hooks[k].h[i].args);
            free_strv(s->hooks[k].h[i].env);
        }
        free(s->hooks[k].h);
    }
    memset(s, 0, sizeof(*s));
}
