/*
 * `kiln ls` and `kiln info`: the daemon's VM objects (docs/api.md) as text.
 * `--json` prints the object exactly as the API gives it; the text form is a
 * summary for people: sizes with units, local times, nested fields named.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/vmapi.h"

static bool jget(json_object *o, const char *k, json_object **v)
{
    return json_object_object_get_ex(o, k, v) && *v;
}

static void row(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void row(const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%-13s ", key);
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
}

static void fmt_time(int64_t t, char *out, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (t <= 0 || !localtime_r(&tt, &tm) || !strftime(out, len, "%Y-%m-%d %H:%M:%S %Z", &tm))
        snprintf(out, len, "-");
}

/* A bytes/s or requests/s limit: "unlimited", "4M/s". */
static void fmt_rate(int64_t v, bool bytes, char *out, size_t len)
{
    if (v <= 0) {
        snprintf(out, len, "unlimited");
    } else if (bytes) {
        char b[32];
        fmt_bytes((uint64_t)v, b, sizeof(b));
        snprintf(out, len, "%s/s", v < 1024 ? "<1K" : b);
    } else {
        snprintf(out, len, "%" PRId64 " IOPS", v);
    }
}

static void print_exit(json_object *e)
{
    json_object *c, *s;
    const char *reason = jget_str(e, "reason");
    char how[64] = "";
    if (jget(e, "code", &c))
        snprintf(how, sizeof(how), "exit code %d", json_object_get_int(c));
    else if (jget(e, "signal", &s) && !(reason && strstr(reason, "signal")))
        snprintf(how, sizeof(how), "signal %d", json_object_get_int(s));
    row("last exit", "%s%s%s", how, *how && reason ? ": " : "", reason ? reason : "");
}

static void print_info(json_object *v)
{
    char a[64], b[64];
    json_object *x;
    row("name", "%s", jget_str(v, "name"));
    int64_t pid = jget_int(v, "pid", 0);
    if (pid) {
        fmt_uptime(jget_int(v, "uptime_s", -1), a, sizeof(a));
        row("state", "%s (pid %" PRId64 ", monitor pid %" PRId64 ", up %s)", jget_str(v, "state"),
            pid, jget_int(v, "monitor_pid", 0), a);
    } else {
        row("state", "%s", jget_str(v, "state"));
    }
    fmt_bytes((uint64_t)jget_int(v, "mem", 0), a, sizeof(a));
    row("memory", "%s", a);
    if (jget(v, "balloon", &x)) {
        row("balloon", "guest has %" PRId64 "M (target %" PRId64 "M, inflated %" PRId64
            "M, free pages reported %" PRId64 "M)", jget_int(x, "guest_mib", 0),
            jget_int(x, "target_mib", 0), jget_int(x, "actual_mib", 0),
            jget_int(x, "reported_bytes", 0) >> 20);
    }
    row("cpus", "%" PRId64, jget_int(v, "cpus", 0));
    int64_t cap = jget_int(v, "cpu_cap", 0);
    if (jget(v, "cpu_limit", &x)) {
        const char *be = jget_str(x, "backend"), *why = jget_str(x, "why");
        json_object *en;
        bool enforced = jget(x, "enforced", &en) && json_object_get_boolean(en);
        if (cap)
            row("cpu cap", "%" PRId64 "%% of one host CPU (%s)", cap,
                enforced ? be : "not enforced: no cgroup cpu controller");
        else
            row("cpu cap", "none");
        if (why)
            row("cpu limits", "unavailable: %s", why);
    }
    static const char *const files[] = {"kernel", "initrd", "firmware"};
    for (size_t i = 0; i < 3; i++) {
        const char *f = jget_str(v, files[i]);
        row(files[i], "%s", f ? f : "(default guest)");
    }
    const char *ap = jget_str(v, "append");
    row("append", "%s", ap ? ap : "(default)");
    if (jget(v, "args", &x) && json_object_array_length(x)) {
        printf("%-13s", "run flags");
        for (size_t i = 0; i < json_object_array_length(x); i++)
            printf(" %s", json_object_get_string(json_object_array_get_idx(x, i)));
        putchar('\n');
    }
    int64_t dbps = jget_int(v, "disk_bps", 0), diops = jget_int(v, "disk_iops", 0);
    fmt_rate(dbps, true, a, sizeof(a));
    fmt_rate(diops, false, b, sizeof(b));
    if (dbps || diops)
        row("disk limits", "%s%s, %s%s", a, dbps ? "" : " bytes/s", b, diops ? "" : " IOPS");
    else
        row("disk limits", "none");
    fmt_rate(jget_int(v, "net_bps", 0), true, a, sizeof(a));
    row("net limit", jget_int(v, "net_bps", 0) ? "%s each way" : "none", a);
    fmt_time(jget_int(v, "created_at", 0), a, sizeof(a));
    row("created", "%s", a);
    if (pid) {
        fmt_time(jget_int(v, "started_at", 0), a, sizeof(a));
        row("started", "%s", a);
        if (jget(v, "cpu_time_s", &x))
            row("cpu time", "%.2f s", json_object_get_double(x));
        fmt_bytes((uint64_t)jget_int(v, "rss_bytes", 0), a, sizeof(a));
        row("host memory", "%s resident", a);
    }
    if (jget(v, "last_exit", &x))
        print_exit(x);
}

int cli_info(const char *name, bool json)
{
    char path[300];
    int rc;
    vm_path(path, sizeof(path), name, NULL);
    json_object *v = vmapi_json("GET", path, NULL, &rc);
    if (!v)
        return rc;
    if (json)
        printf("%s\n", json_object_to_json_string_ext(v, JSON_C_TO_STRING_PRETTY));
    else
        print_info(v);
    json_object_put(v);
    return 0;
}

int cli_ls(int argc, char **argv)
{
    bool json = argc > 1 && !strcmp(argv[1], "--json");
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: kiln ls [--json]\n");
        return 0;
    }
    if (argc > (json ? 2 : 1)) {
        fprintf(stderr, "usage: kiln ls [--json]\n");
        return 2;
    }
    int rc;
    json_object *a = vmapi_json("GET", "/v1/vms", NULL, &rc);
    if (!a)
        return rc;
    if (json) {
        printf("%s\n", json_object_to_json_string_ext(a, JSON_C_TO_STRING_PRETTY));
        json_object_put(a);
        return 0;
    }
    printf("%-20s %-8s %4s %6s %8s %7s %8s %s\n", "NAME", "STATE", "CPUS", "MEM", "PID", "CPU-CAP",
           "UPTIME", "LAST EXIT");
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        json_object *v = json_object_array_get_idx(a, i), *e;
        char mem[32], pid[32], cap[32], up[48];
        fmt_bytes((uint64_t)jget_int(v, "mem", 0), mem, sizeof(mem));
        int64_t p = jget_int(v, "pid", 0);
        snprintf(pid, sizeof(pid), p ? "%lld" : "-", (long long)p);
        int64_t c = jget_int(v, "cpu_cap", 0);
        snprintf(cap, sizeof(cap), c ? "%lld%%" : "-", (long long)c);
        fmt_uptime(p ? jget_int(v, "uptime_s", -1) : -1, up, sizeof(up));
        const char *reason = "";
        if (json_object_object_get_ex(v, "last_exit", &e) && e)
            reason = jget_str(e, "reason") ? jget_str(e, "reason") : "";
        printf("%-20s %-8s %4lld %6s %8s %7s %8s %s\n", jget_str(v, "name"), jget_str(v, "state"),
               (long long)jget_int(v, "cpus", 0), mem, pid, cap, up, reason);
    }
    json_object_put(a);
    return 0;
}
