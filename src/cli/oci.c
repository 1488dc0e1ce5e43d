/*
 * `kiln oci ...` and `kiln-runc ...`: kiln as a runc-compatible OCI runtime
 * (src/oci/, docs/oci.md). This file only reads the command line the way
 * engines (containerd's runc shim, podman's conmon) write it: global flags,
 * then a command, its flags and the container id. Flags are taken as
 * "--name value", "--name=value" or with one dash, as runc's parser does.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "oci/log.h"
#include "oci/oci.h"

#define MAX_ARGS 256

static void oci_usage(FILE *f, const char *prog)
{
    fprintf(f,
            "usage: %s [global options] <command> [options] <container-id>\n"
            "\n"
            "kiln as an OCI runtime: each container runs in a kiln process VM whose root is the\n"
            "bundle's rootfs (docs/oci.md).\n"
            "\n"
            "global options:\n"
            "  --root DIR            container state (default %s)\n"
            "  --log FILE            also write messages here\n"
            "  --log-format text|json\n"
            "  --debug               debug messages\n"
            "  --systemd-cgroup      accepted, ignored\n"
            "\n"
            "commands:\n"
            "  create --bundle DIR [--pid-file F] [--console-socket S] ID\n"
            "  run --bundle DIR [--detach] [--keep] [--pid-file F] [--console-socket S] ID\n"
            "  start ID | state ID | pause ID | resume ID\n"
            "  kill [--all] ID [SIGNAL]        (default SIGTERM)\n"
            "  delete [--force] ID\n"
            "  ps [--format table|json] ID\n"
            "  exec [--process F | ARGS...] [--detach] [--pid-file F] [--console-socket S]\n"
            "       [--tty] [--env NAME=VALUE] [--cwd DIR] [--user UID[:GID]] ID [ARGS...]\n"
            "  list [--format table|json] [--quiet]\n"
            "  features | version\n",
            prog, OCI_DEFAULT_ROOT);
}

struct flags {
    int argc;
    char **argv;
    int i;
    const char *name;  /* the current flag without dashes or "=value" */
    const char *value; /* its "=value", or NULL */
    char buf[128];
};

/* The next flag of the command line, or false at the first positional argument. */
static bool flag_next(struct flags *f)
{
    if (f->i >= f->argc)
        return false;
    const char *a = f->argv[f->i];
    if (a[0] != '-' || !a[1])
        return false;
    if (!strcmp(a, "--")) {
        f->i++;
        return false;
    }
    a += a[1] == '-' ? 2 : 1;
    const char *eq = strchr(a, '=');
    snprintf(f->buf, sizeof(f->buf), "%.*s", (int)(eq ? eq - a : (long)strlen(a)), a);
    f->name = f->buf;
    f->value = eq ? eq + 1 : NULL;
    f->i++;
    return true;
}

static bool flag_is(struct flags *f, const char *longname, const char *shortname)
{
    return !strcmp(f->name, longname) || (shortname && !strcmp(f->name, shortname));
}

/* The flag's value ("=v" or the next argument); NULL after an error message. */
static const char *flag_value(struct flags *f)
{
    if (f->value)
        return f->value;
    if (f->i >= f->argc) {
        oci_err("flag --%s needs a value", f->name);
        return NULL;
    }
    return f->argv[f->i++];
}

/* A boolean flag: "--x", "--x=true" or "--x=false". */
static bool flag_bool(struct flags *f)
{
    return !f->value || !strcmp(f->value, "true") || !strcmp(f->value, "1");
}

static int unknown(struct flags *f, const char *cmd)
{
    oci_err("%s: unknown flag --%s", cmd, f->name);
    return 2;
}

/* The one container id a command takes: 0, or 2 after saying what is wrong. */
static int take_id(struct flags *f, const char *cmd, const char **id)
{
    if (f->i >= f->argc) {
        oci_err("%s: a container id is required", cmd);
        return 2;
    }
    *id = f->argv[f->i++];
    return 0;
}

static int cmd_create(struct flags *f, const char *root, bool run)
{
    struct oci_create_opts o = {.bundle = "."};
    bool detach = false, keep = false;
    while (flag_next(f)) {
        if (flag_is(f, "bundle", "b")) {
            if (!(o.bundle = flag_value(f)))
                return 2;
        } else if (flag_is(f, "pid-file", NULL)) {
            if (!(o.pid_file = flag_value(f)))
                return 2;
        } else if (flag_is(f, "console-socket", NULL)) {
            if (!(o.console_socket = flag_value(f)))
                return 2;
        } else if (flag_is(f, "preserve-fds", NULL)) {
            const char *v = flag_value(f);
            if (!v)
                return 2;
            if (strcmp(v, "0"))
                oci_debug("--preserve-fds %s: a process VM gets only stdin, stdout and stderr", v);
        } else if (flag_is(f, "detach", "d")) {
            detach = flag_bool(f); /* create always detaches */
        } else if (run && flag_is(f, "keep", NULL)) {
            keep = flag_bool(f);
        } else if (flag_is(f, "no-pivot", NULL) || flag_is(f, "no-new-keyring", NULL) ||
                   flag_is(f, "no-subreaper", NULL)) {
            (void)flag_bool(f); /* a process VM has no pivot_root or keyring */
        } else {
            return unknown(f, run ? "run" : "create");
        }
    }
    if (take_id(f, run ? "run" : "create", &o.id))
        return 2;
    return run ? oci_run(root, &o, detach, keep) : oci_create(root, &o);
}

static int cmd_exec(struct flags *f, const char *root)
{
    struct oci_exec_opts o = {0};
    static char *env[MAX_ARGS + 1];
    size_t ne = 0;
    while (flag_next(f)) {
        const char **dst = NULL;
        if (flag_is(f, "process", "p"))
            dst = &o.process_file;
        else if (flag_is(f, "pid-file", NULL))
            dst = &o.pid_file;
        else if (flag_is(f, "console-socket", NULL))
            dst = &o.console_socket;
        else if (flag_is(f, "cwd", NULL))
            dst = &o.cwd;
        else if (flag_is(f, "user", "u"))
            dst = &o.user;
        if (dst) {
            if (!(*dst = flag_value(f)))
                return 2;
        } else if (flag_is(f, "env", "e")) {
            const char *v = flag_value(f);
            if (!v)
                return 2;
            if (ne == MAX_ARGS) {
                oci_err("exec: too many --env");
                return 2;
            }
            env[ne++] = (char *)v;
        } else if (flag_is(f, "detach", "d")) {
            o.detach = flag_bool(f);
        } else if (flag_is(f, "tty", "t")) {
            o.tty = flag_bool(f);
        } else if (flag_is(f, "ignore-paused", NULL)) {
            o.ignore_paused = flag_bool(f);
        } else if (flag_is(f, "no-new-privs", NULL)) {
            (void)flag_bool(f);
        } else if (flag_is(f, "preserve-fds", NULL) || flag_is(f, "cap", "c") ||
                   flag_is(f, "apparmor", NULL) || flag_is(f, "process-label", NULL) ||
                   flag_is(f, "additional-gids", "g") || flag_is(f, "cgroup", NULL)) {
            const char *v = flag_value(f);
            if (!v)
                return 2;
            oci_debug("exec --%s %s: not applicable to a process VM; ignored", f->name, v);
        } else {
            return unknown(f, "exec");
        }
    }
    env[ne] = NULL;
    o.env = env;
    if (take_id(f, "exec", &o.id))
        return 2;
    if (f->i < f->argc && !strcmp(f->argv[f->i], "--"))
        f->i++;
    o.args = f->argv + f->i;
    if (o.process_file && o.args[0]) {
        oci_err("exec: give either --process FILE or a command, not both");
        return 2;
    }
    return oci_exec(root, &o);
}

static int cmd_simple(struct flags *f, const char *root, const char *cmd)
{
    bool all = false, force = false, json = false, quiet = false;
    while (flag_next(f)) {
        if (!strcmp(cmd, "kill") && flag_is(f, "all", "a")) {
            all = flag_bool(f);
        } else if (!strcmp(cmd, "delete") && flag_is(f, "force", "f")) {
            force = flag_bool(f);
        } else if ((!strcmp(cmd, "ps") || !strcmp(cmd, "list")) && flag_is(f, "format", "f")) {
            const char *v = flag_value(f);
            if (!v)
                return 2;
            if (strcmp(v, "json") && strcmp(v, "table")) {
                oci_err("%s: --format must be table or json, not '%s'", cmd, v);
                return 2;
            }
            json = !strcmp(v, "json");
        } else if (!strcmp(cmd, "list") && flag_is(f, "quiet", "q")) {
            quiet = flag_bool(f);
        } else {
            return unknown(f, cmd);
        }
    }
    if (!strcmp(cmd, "list"))
        return oci_list(root, json, quiet);
    const char *id;
    if (take_id(f, cmd, &id))
        return 2;
    if (!strcmp(cmd, "kill")) {
        const char *sname = f->i < f->argc ? f->argv[f->i++] : "SIGTERM";
        int sig = oci_signal_parse(sname);
        if (sig < 0) {
            oci_err("kill: unknown signal '%s'", sname);
            return 2;
        }
        return oci_kill(root, id, sig, all);
    }
    if (f->i < f->argc) {
        oci_err("%s: unexpected argument '%s'", cmd, f->argv[f->i]);
        return 2;
    }
    if (!strcmp(cmd, "start"))
        return oci_start(root, id);
    if (!strcmp(cmd, "state"))
        return oci_state(root, id);
    if (!strcmp(cmd, "delete"))
        return oci_delete(root, id, force);
    if (!strcmp(cmd, "ps"))
        return oci_ps(root, id, json);
    return oci_pause(root, id, !strcmp(cmd, "pause"));
}

static int version(void)
{
    printf("kiln-runc version %s\nspec: %s\n", OCI_RUNTIME_VERSION, OCI_SPEC_VERSION);
    return 0;
}

int cli_oci(int argc, char **argv, const char *prog)
{
    /* A caller may start us with stdin, stdout or stderr closed: /dev/null fills the slot, so
       no descriptor of ours (the state directory and its flock) lands there and reaches the
       container as its stdio. */
    for (int fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) < 0)
            return 1;
    struct flags f = {.argc = argc, .argv = argv, .i = 1};
    const char *root = OCI_DEFAULT_ROOT, *log = NULL;
    bool json = false, debug = false;
    oci_log_init(NULL, false, false);
    while (flag_next(&f)) {
        if (flag_is(&f, "root", NULL)) {
            if (!(root = flag_value(&f)))
                return 2;
        } else if (flag_is(&f, "log", NULL)) {
            if (!(log = flag_value(&f)))
                return 2;
        } else if (flag_is(&f, "log-format", NULL)) {
            const char *v = flag_value(&f);
            if (!v)
                return 2;
            if (strcmp(v, "json") && strcmp(v, "text")) {
                oci_err("--log-format must be text or json, not '%s'", v);
                return 2;
            }
            json = !strcmp(v, "json");
        } else if (flag_is(&f, "debug", NULL)) {
            debug = flag_bool(&f);
        } else if (flag_is(&f, "systemd-cgroup", NULL)) {
            (void)flag_bool(&f); /* process VMs use no cgroup of their own */
        } else if (flag_is(&f, "rootless", NULL) || flag_is(&f, "criu", NULL)) {
            if (!f.value && !flag_value(&f))
                return 2;
        } else if (flag_is(&f, "version", "v")) {
            return version();
        } else if (flag_is(&f, "help", "h")) {
            oci_usage(stdout, prog);
            return 0;
        } else {
            oci_err("unknown global flag --%s (try '%s --help')", f.name, prog);
            return 2;
        }
    }
    oci_log_init(log, json, debug);
    if (f.i >= argc) {
        oci_usage(stderr, prog);
        return 2;
    }
    if (root[0] != '/') {
        oci_err("--root must be an absolute path, not '%s'", root);
        return 2;
    }
    const char *cmd = argv[f.i++];
    if (!strcmp(cmd, "create") || !strcmp(cmd, "run"))
        return cmd_create(&f, root, !strcmp(cmd, "run"));
    if (!strcmp(cmd, "exec"))
        return cmd_exec(&f, root);
    if (!strcmp(cmd, "features"))
        return oci_features();
    if (!strcmp(cmd, "version"))
        return version();
    if (!strcmp(cmd, "help")) {
        oci_usage(stdout, prog);
        return 0;
    }
    static const char *const simple[] = {"start", "state", "kill", "delete", "ps", "pause", "resume", "list"};
    for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
        if (!strcmp(cmd, simple[i]))
            return cmd_simple(&f, root, cmd);
    if (!strcmp(cmd, "update") || !strcmp(cmd, "events") ||
        !strcmp(cmd, "checkpoint") || !strcmp(cmd, "restore") || !strcmp(cmd, "spec")) {
        oci_err("%s: not supported by kiln's OCI runtime (docs/oci.md)", cmd);
        return 1;
    }
    oci_err("unknown command '%s' (try '%s --help')", cmd, prog);
    return 2;
}
