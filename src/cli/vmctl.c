/*
 * VM commands that talk to the daemon over its API socket (docs/api.md):
 * create, start, stop, kill, pause, resume, info, console, log, rm, set, ls.
 * The client side of the API is src/cli/vmapi.c; console and info/ls have
 * their own files. Usage mistakes exit 2, refusals by the daemon exit 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/vmapi.h"
#include "util/token_bucket.h"

#define MAX_CPUS 32          /* VM_MAX_HARTS of kiln run */
#define MAX_CPU_CAP 102400   /* 100 x 1024 CPUs; the daemon checks the host's real count */
#define MAX_STOP_TIMEOUT 3600 /* as the API's ?timeout= */

static const char create_usage[] =
    "usage: kiln create NAME [--mem SIZE] [--cpus N] [--cpu-cap PCT] [--kernel FILE]\n"
    "                   [--initrd FILE] [--append STR] [--firmware FILE] [--disk SPEC]...\n"
    "                   [--net SPEC]... [--hvc-out FILE] [--no-rng] [--no-balloon]\n"
    "                   [-- OTHER-RUN-FLAGS...]\n"
    "Defines a VM; 'kiln start NAME' boots it. The flags are kiln run's (kiln run --help):\n"
    "  --mem SIZE        guest RAM, e.g. 256M, 2G (default 256M)\n"
    "  --cpus N          harts, 1-32 (default 1)\n"
    "  --cpu-cap PCT     percent of one host CPU (default 0: no cap)\n"
    "  --disk, --net, --hvc-out, --no-rng, --no-balloon, --kernel, --initrd,\n"
    "  --append, --firmware   as for kiln run\n"
    "Relative paths are made absolute here, against the current directory. Flags of\n"
    "kiln run that create does not list go after '--', as they are. Everything is\n"
    "checked now: a definition kiln run would refuse is not stored.\n";

static const char set_usage[] =
    "usage: kiln set NAME [--cpu-cap PCT] [--mem SIZE] [--disk-bps N] [--disk-iops N]\n"
    "                     [--net-bps N]\n"
    "  --cpu-cap PCT   percent of one host CPU (0 removes the cap)\n"
    "  --mem SIZE      a running VM: let the guest have SIZE (balloon), at most\n"
    "                  its defined memory; a stopped VM: its defined memory\n"
    "  --disk-bps N    bytes/s for each disk, e.g. 4M (K, M, G suffixes; 0 = unlimited)\n"
    "  --disk-iops N   requests/s for each disk (0 = unlimited)\n"
    "  --net-bps N     bytes/s each way for each NIC, e.g. 1M (0 = unlimited)\n"
    "  A running VM gets new limits at once; a stopped one keeps them for its next start.\n";

static const char console_usage[] =
    "usage: kiln console NAME\n"
    "Attaches to the serial console of a running VM (recent output is replayed first).\n"
    "Detaching never stops the VM ('kiln stop NAME' does). On a terminal:\n"
    "  Ctrl-]            detach\n"
    "  Ctrl-A d, x, q    detach\n"
    "  Ctrl-A Ctrl-A     send Ctrl-A to the guest\n"
    "  Ctrl-A h, ?       list the keys\n"
    "Input that is not a terminal is sent as it is, with no keys; after its end, kiln\n"
    "console detaches once the output has paused for a second.\n";

static const char stop_usage[] =
    "usage: kiln stop NAME [--timeout SECONDS]\n"
    "Asks the guest to power off (it syncs its disks first) and waits; after SECONDS\n"
    "(0-3600, default 10) the VM is killed. 'kiln kill NAME' kills it at once.\n";

static void usage_vm(FILE *f)
{
    fprintf(f, "usage: kiln create NAME [options] [-- RUN-FLAGS]   (kiln create --help)\n"
               "       kiln start|kill|pause|resume|rm NAME\n"
               "       kiln stop NAME [--timeout SECONDS]\n"
               "       kiln info NAME [--json]   kiln console NAME   kiln log NAME\n"
               "       kiln set NAME [--cpu-cap PCT] [--mem SIZE] [--disk-bps N] [--disk-iops N] [--net-bps N]\n"
               "       kiln ls [--json]\n");
}

/* The usage of one command, for `kiln CMD --help`. */
static void usage_cmd(const char *cmd, FILE *f)
{
    if (!strcmp(cmd, "create"))
        fputs(create_usage, f);
    else if (!strcmp(cmd, "set"))
        fputs(set_usage, f);
    else if (!strcmp(cmd, "console"))
        fputs(console_usage, f);
    else if (!strcmp(cmd, "stop"))
        fputs(stop_usage, f);
    else if (!strcmp(cmd, "info"))
        fputs("usage: kiln info NAME [--json]\n"
              "A VM's definition, state, resources and last exit; --json prints the API's object.\n", f);
    else if (!strcmp(cmd, "log"))
        fputs("usage: kiln log NAME\n"
              "Prints the last 64 KiB of the VM's console output (of its last run once ended).\n", f);
    else if (!strcmp(cmd, "start"))
        fputs("usage: kiln start NAME\n"
              "Boots a defined or stopped VM; fails with the reason if it ends at once.\n", f);
    else if (!strcmp(cmd, "kill"))
        fputs("usage: kiln kill NAME\nStops the VM at once (SIGKILL), without a guest shutdown.\n", f);
    else if (!strcmp(cmd, "pause") || !strcmp(cmd, "resume"))
        fprintf(f, "usage: kiln %s NAME\nFreezes (pause) or thaws (resume) the VM's process.\n", cmd);
    else if (!strcmp(cmd, "ls"))
        fputs("usage: kiln ls [--json]\nEvery VM with its state, size, pid, CPU cap, uptime and last exit.\n", f);
    else if (!strcmp(cmd, "rm"))
        fputs("usage: kiln rm NAME\nRemoves a VM that does not run, with its directory.\n", f);
    else
        usage_vm(f);
}

static bool valid_cli_name(const char *n)
{
    return *n && strlen(n) < 200 && !strpbrk(n, "/?#% \t\r\n");
}

/* p made absolute against the current directory, without touching the file system. */
static int make_abs(const char *p, char *out, size_t len)
{
    char cwd[PATH_MAX];
    int n;
    if (p[0] == '/') {
        n = snprintf(out, len, "%s", p);
    } else {
        if (!getcwd(cwd, sizeof(cwd)))
            return -errno;
        n = snprintf(out, len, "%s/%s", cwd, p);
    }
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* kiln run flags whose value starts with a file name. */
static bool path_flag(const char *flag)
{
    static const char *const f[] = {"--disk", "--drive", "--hvc-out", "--kernel", "--initrd",
                                    "--firmware", "--bios"};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        if (!strcmp(flag, f[i]))
            return true;
    }
    return false;
}

/*
 * The value of a path flag with its file name made absolute: for --disk only
 * the part before the first ',' ("x.img,ro" → "/cwd/x.img,ro"). NULL after
 * printing why.
 */
static char *abs_value(const char *flag, const char *val)
{
    char path[PATH_MAX], full[PATH_MAX + 4096];
    bool disk = !strcmp(flag, "--disk") || !strcmp(flag, "--drive");
    size_t plen = disk ? strcspn(val, ",") : strlen(val);
    if (plen == 0 || plen >= sizeof(path)) {
        fprintf(stderr, "kiln create: %s '%s': no file name\n", flag, val);
        return NULL;
    }
    memcpy(path, val, plen);
    path[plen] = 0;
    int e = make_abs(path, full, sizeof(full) - strlen(val + plen));
    if (e) {
        fprintf(stderr, "kiln create: %s %s: %s\n", flag, val, strerror(-e));
        return NULL;
    }
    strcat(full, val + plen);
    return strdup(full);
}

static void args_add(json_object *args, const char *s)
{
    json_object_array_add(args, json_object_new_string(s));
}

/* Adds "--flag value" to args, the value's file name made absolute when it has one. */
static int args_add_flag(json_object *args, const char *flag, const char *val)
{
    args_add(args, flag);
    if (!val)
        return 0;
    if (!path_flag(flag)) {
        args_add(args, val);
        return 0;
    }
    char *v = abs_value(flag, val);
    if (!v)
        return -1;
    args_add(args, v);
    free(v);
    return 0;
}

/* The run flags after "--": every file name made absolute, as for the flags before it. */
static int add_raw_args(json_object *args, int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        char *eq = strncmp(argv[i], "--", 2) ? NULL : strchr(argv[i], '=');
        if (eq) { /* --disk=x.img */
            char flag[64];
            size_t fl = (size_t)(eq - argv[i]);
            if (fl < sizeof(flag)) {
                memcpy(flag, argv[i], fl);
                flag[fl] = 0;
                if (path_flag(flag)) {
                    if (args_add_flag(args, flag, eq + 1))
                        return -1;
                    continue;
                }
            }
        } else if (path_flag(argv[i]) && i + 1 < argc) {
            if (args_add_flag(args, argv[i], argv[i + 1]))
                return -1;
            i++;
            continue;
        }
        args_add(args, argv[i]);
    }
    return 0;
}

static int parse_count(const char *cmd, const char *flag, const char *val, unsigned long long min,
                       unsigned long long max, bool pct, unsigned long long *out)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%s", val);
    size_t l = strlen(buf);
    if (pct && l > 1 && buf[l - 1] == '%')
        buf[l - 1] = 0;
    if (cli_parse_uint(buf, min, max, out) == 0)
        return 0;
    fprintf(stderr, "kiln %s: %s '%s' must be a whole number from %llu to %llu\n", cmd, flag, val,
            min, max);
    return -1;
}

static int cmd_create(int argc, char **argv)
{
    enum { O_DISK = 256, O_NET, O_HVC, O_NORNG, O_NOBALLOON };
    static const struct option opts[] = {
        {"mem", required_argument, NULL, 'm'},      {"cpus", required_argument, NULL, 'c'},
        {"kernel", required_argument, NULL, 'k'},   {"initrd", required_argument, NULL, 'i'},
        {"append", required_argument, NULL, 'a'},   {"firmware", required_argument, NULL, 'f'},
        {"cpu-cap", required_argument, NULL, 'p'},  {"help", no_argument, NULL, 'h'},
        {"disk", required_argument, NULL, O_DISK},  {"net", required_argument, NULL, O_NET},
        {"hvc-out", required_argument, NULL, O_HVC}, {"no-rng", no_argument, NULL, O_NORNG},
        {"no-balloon", no_argument, NULL, O_NOBALLOON},
        {NULL, 0, NULL, 0},
    };
    json_object *o = json_object_new_object(), *args = json_object_new_array();
    int rc = 2, c;
    char abs[PATH_MAX];
    unsigned long long n;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        const char *key = NULL;
        switch (c) {
        case 'm': key = "mem"; break;
        case 'a': key = "append"; break;
        case 'k': key = "kernel"; break;
        case 'i': key = "initrd"; break;
        case 'f': key = "firmware"; break;
        case 'c':
            if (parse_count("create", "--cpus", optarg, 1, MAX_CPUS, false, &n))
                goto out;
            json_object_object_add(o, "cpus", json_object_new_int64((int64_t)n));
            continue;
        case 'p':
            if (parse_count("create", "--cpu-cap", optarg, 0, MAX_CPU_CAP, true, &n))
                goto out;
            json_object_object_add(o, "cpu_cap", json_object_new_int64((int64_t)n));
            continue;
        case O_DISK:
            if (args_add_flag(args, "--disk", optarg))
                goto out;
            continue;
        case O_NET:
            args_add_flag(args, "--net", optarg);
            continue;
        case O_HVC:
            if (args_add_flag(args, "--hvc-out", optarg))
                goto out;
            continue;
        case O_NORNG:
            args_add(args, "--no-rng");
            continue;
        case O_NOBALLOON:
            args_add(args, "--no-balloon");
            continue;
        case 'h':
            fputs(create_usage, stdout);
            rc = 0;
            goto out;
        case ':':
            fprintf(stderr, "kiln create: option '%s' needs a value\n", argv[optind - 1]);
            goto out;
        default:
            fprintf(stderr, "kiln create: unknown option '%s': other kiln run flags go after '--' "
                            "(kiln create NAME [options] -- RUN-FLAGS...)\n", argv[optind - 1]);
            goto out;
        }
        const char *val = optarg;
        /* Files are opened by the daemon, in another directory: make paths absolute here. */
        if (c == 'k' || c == 'i' || c == 'f') {
            if (!realpath(optarg, abs)) {
                fprintf(stderr, "kiln create: --%s %s: %s\n", key, optarg, strerror(errno));
                rc = 1;
                goto out;
            }
            val = abs;
        }
        json_object_object_add(o, key, json_object_new_string(val));
    }
    if (optind >= argc) {
        fprintf(stderr, "usage: kiln create NAME [options] [-- RUN-FLAGS...] (kiln create --help)\n");
        goto out;
    }
    const char *name = argv[optind++];
    if (name[0] == '-') {
        fprintf(stderr, "kiln create: '%s' is not a VM name\n", name);
        goto out;
    }
    json_object_object_add(o, "name", json_object_new_string(name));
    if (add_raw_args(args, argc - optind, argv + optind))
        goto out;
    if (json_object_array_length(args)) {
        json_object_object_add(o, "args", args);
        args = NULL;
    }
    json_object *v = vmapi_json("POST", "/v1/vms", o, &rc);
    if (v) {
        printf("created %s\n", jget_str(v, "name"));
        json_object_put(v);
    }
out:
    json_object_put(args);
    json_object_put(o);
    return rc;
}

static int cmd_set(const char *name, int argc, char **argv)
{
    static const char *const lim_opts[] = {"--disk-bps", "--disk-iops", "--net-bps"};
    static const char *const lim_keys[] = {"disk_bps", "disk_iops", "net_bps"};
    char path[300];
    int rc = 2;
    json_object *o = json_object_new_object();
    bool cap = false, mem = false, lim = false;
    for (int i = 2; i < argc; i += 2) {
        int li = -1;
        for (int k = 0; k < 3; k++)
            if (!strcmp(argv[i], lim_opts[k]))
                li = k;
        if (li < 0 && strcmp(argv[i], "--cpu-cap") && strcmp(argv[i], "--mem")) {
            fprintf(stderr, "kiln set: unknown option '%s' (kiln set --help)\n", argv[i]);
            goto out;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "kiln set: option '%s' needs a value\n", argv[i]);
            goto out;
        }
        if (li >= 0) {
            uint64_t n;
            if (tb_parse_limit(argv[i + 1], li != 1, &n) < 0 || n > INT64_MAX) {
                fprintf(stderr, "kiln set: %s '%s' is not %s\n", argv[i], argv[i + 1],
                        li != 1 ? "a number of bytes per second such as 4M (K, M, G suffixes)"
                                : "a whole number of requests per second");
                goto out;
            }
            json_object_object_add(o, lim_keys[li], json_object_new_int64((int64_t)n));
            lim = true;
        } else if (!strcmp(argv[i], "--mem")) {
            json_object_object_add(o, "mem", json_object_new_string(argv[i + 1]));
            mem = true;
        } else {
            unsigned long long n;
            if (parse_count("set", "--cpu-cap", argv[i + 1], 0, MAX_CPU_CAP, true, &n))
                goto out;
            json_object_object_add(o, "cpu_cap", json_object_new_int64((int64_t)n));
            cap = true;
        }
    }
    if (!cap && !mem && !lim) {
        fputs(set_usage, stderr);
        goto out;
    }
    vm_path(path, sizeof(path), name, NULL);
    json_object *v = vmapi_json("PATCH", path, o, &rc);
    if (v && cap)
        printf("%s: cpu cap %lld%%\n", name, (long long)jget_int(v, "cpu_cap", 0));
    if (v && lim)
        printf("%s: disk %lld bytes/s, %lld IOPS; net %lld bytes/s (0 = unlimited)\n", name,
               (long long)jget_int(v, "disk_bps", 0), (long long)jget_int(v, "disk_iops", 0),
               (long long)jget_int(v, "net_bps", 0));
    if (v && mem) {
        json_object *b;
        if (json_object_object_get_ex(v, "balloon", &b) && b)
            printf("%s: the guest is to have %lld MiB (balloon target; now %lld MiB)\n", name,
                   (long long)jget_int(b, "target_mib", 0), (long long)jget_int(b, "guest_mib", 0));
        else
            printf("%s: mem %lld MiB\n", name, (long long)(jget_int(v, "mem", 0) >> 20));
    }
    json_object_put(v);
out:
    json_object_put(o);
    return rc;
}

static int cmd_log(const char *name)
{
    char path[300];
    struct resp r;
    vm_path(path, sizeof(path), name, "console");
    int rc = vmapi_request("GET", path, NULL, &r);
    if (!rc && r.status == 200) {
        fwrite(r.body, 1, r.blen, stdout);
    } else if (!rc) {
        const char *e = vmapi_error_text(r.body, r.blen);
        if (e)
            fprintf(stderr, "kiln: %s\n", e);
        else
            fprintf(stderr, "kiln: the daemon answered %d\n", r.status);
        rc = 1;
    }
    free(r.data);
    return rc;
}

static void print_state(json_object *v, const char *verb)
{
    const char *n = jget_str(v, "name"), *s = jget_str(v, "state");
    int64_t pid = jget_int(v, "pid", 0);
    json_object *e;
    if (pid)
        printf("%s %s: %s (pid %lld)\n", verb, n, s, (long long)pid);
    else if (json_object_object_get_ex(v, "last_exit", &e) && e && jget_str(e, "reason"))
        printf("%s %s: %s (%s)\n", verb, n, s, jget_str(e, "reason"));
    else
        printf("%s %s: %s\n", verb, n, s);
}

static int cmd_op(const char *cmd, const char *name, int argc, char **argv)
{
    static const char *const ops[] = {"start", "stop", "kill", "pause", "resume"};
    static const char *const verbs[] = {"started", "stopped", "killed", "paused", "resumed"};
    char act[64], path[300];
    int rc, i;
    for (i = 0; i < 5 && strcmp(cmd, ops[i]); i++)
        ;
    if (i == 5) {
        usage_vm(stderr);
        return 2;
    }
    snprintf(act, sizeof(act), "%s", ops[i]);
    if (i == 1 && argc > 2) {
        /* kiln stop NAME --timeout S | --timeout=S: strictly a number, the API's range. */
        const char *t = NULL;
        if (argc == 4 && !strcmp(argv[2], "--timeout"))
            t = argv[3];
        else if (argc == 3 && !strncmp(argv[2], "--timeout=", 10))
            t = argv[2] + 10;
        if (!t) {
            fputs(stop_usage, stderr);
            return 2;
        }
        unsigned long long s;
        if (cli_parse_uint(t, 0, MAX_STOP_TIMEOUT, &s)) {
            fprintf(stderr, "kiln stop: --timeout '%s' must be a whole number of seconds from 0 to %d\n",
                    t, MAX_STOP_TIMEOUT);
            return 2;
        }
        snprintf(act, sizeof(act), "stop?timeout=%llu", s);
    } else if (argc > 2) {
        fprintf(stderr, "kiln %s: unexpected argument '%s' (kiln %s --help)\n", cmd, argv[2], cmd);
        return 2;
    }
    vm_path(path, sizeof(path), name, act);
    json_object *v = vmapi_json("POST", path, NULL, &rc);
    if (v)
        print_state(v, verbs[i]);
    json_object_put(v);
    return rc;
}

static bool wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            return false;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return true;
    }
    return false;
}

int cli_vmctl(int argc, char **argv)
{
    const char *cmd = argv[0];
    char path[300];
    int rc;
    if (wants_help(argc, argv)) {
        usage_cmd(cmd, stdout);
        return 0;
    }
    if (cli_state_dir_check("kiln"))
        return 1;
    if (!strcmp(cmd, "ls"))
        return cli_ls(argc, argv);
    if (!strcmp(cmd, "create"))
        return cmd_create(argc, argv);
    if (argc < 2) {
        usage_cmd(cmd, stderr);
        return 2;
    }
    const char *name = argv[1];
    if (!valid_cli_name(name) || name[0] == '-') {
        fprintf(stderr, "kiln %s: '%s' is not a VM name (kiln %s --help)\n", cmd, name, cmd);
        return 2;
    }
    if (!strcmp(cmd, "set"))
        return cmd_set(name, argc, argv);
    if (!strcmp(cmd, "info")) {
        if (argc > 3 || (argc == 3 && strcmp(argv[2], "--json"))) {
            fprintf(stderr, "usage: kiln info NAME [--json]\n");
            return 2;
        }
        return cli_info(name, argc == 3);
    }
    if (argc > 2 && strcmp(cmd, "stop")) {
        fprintf(stderr, "kiln %s: unexpected argument '%s' (kiln %s --help)\n", cmd, argv[2], cmd);
        return 2;
    }
    if (!strcmp(cmd, "console"))
        return cli_console(name);
    if (!strcmp(cmd, "log"))
        return cmd_log(name);
    if (!strcmp(cmd, "rm")) {
        vm_path(path, sizeof(path), name, NULL);
        json_object *v = vmapi_json("DELETE", path, NULL, &rc);
        if (v)
            printf("removed %s\n", name);
        json_object_put(v);
        return rc;
    }
    return cmd_op(cmd, name, argc, argv);
}
