/*
 * The daemon's snapshot verbs (docs/snapshots.md, docs/api.md):
 *
 *   kiln snapshot NAME DIR [--paused] [--disks] [--json]  POST /v1/vms/NAME/snapshot
 *   kiln restore DIR --name NEW [--paused] [--clone] [--json]   POST /v1/restore
 *   kiln clone NAME NEW [--count N] [--json]            POST /v1/vms/NAME/clone
 *
 * Without a daemon VM name these commands work on a VM process directly
 * (kiln snapshot --control SOCK DIR, kiln restore DIR, kiln clone DIR: snapshot.c).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/vmapi.h"

#define CLONE_MAX 16

/* DIR as an absolute path: the daemon has its own working directory. */
static int abs_dir(const char *cmd, const char *p, char *out, size_t len)
{
    char cwd[PATH_MAX];
    int n;
    if (p[0] == '/') {
        n = snprintf(out, len, "%s", p);
    } else if (!getcwd(cwd, sizeof(cwd))) {
        fprintf(stderr, "kiln %s: getcwd: %s\n", cmd, strerror(errno));
        return 1;
    } else {
        n = snprintf(out, len, "%s/%s", cwd, p);
    }
    if (n < 0 || (size_t)n >= len) {
        fprintf(stderr, "kiln %s: %s: path too long\n", cmd, p);
        return 2;
    }
    return 0;
}

static bool valid_name(const char *n)
{
    size_t l = strlen(n);
    if (!l || l > 63 || n[0] == '-' || n[0] == '.')
        return false;
    return strspn(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == l;
}

static void print_json(json_object *v)
{
    printf("%s\n", json_object_to_json_string_ext(v, JSON_C_TO_STRING_PRETTY));
}

static void print_vm(const char *verb, json_object *v)
{
    int64_t pid = jget_int(v, "pid", 0);
    printf("%s %s: %s", verb, jget_str(v, "name"), jget_str(v, "state"));
    if (pid)
        printf(" (pid %lld)", (long long)pid);
    printf("\n");
}

int cli_vm_snapshot(int argc, char **argv)
{
    const char *pos[2];
    int npos = 0;
    bool paused = false, json = false, disks = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--paused"))
            paused = true;
        else if (!strcmp(argv[i], "--json"))
            json = true;
        else if (!strcmp(argv[i], "--disks"))
            disks = true;
        else if (argv[i][0] != '-' && npos < 2)
            pos[npos++] = argv[i];
        else {
            fprintf(stderr, "kiln snapshot: unexpected argument '%s' (kiln snapshot --help)\n", argv[i]);
            return 2;
        }
    }
    if (npos != 2 || !valid_name(pos[0])) {
        fprintf(stderr, "usage: kiln snapshot NAME DIR [--paused] [--disks] [--json]   (a daemon VM)\n"
                        "       kiln snapshot --control SOCK DIR [--paused] [--disks]  (a kiln run process)\n");
        return 2;
    }
    char dir[PATH_MAX], path[300];
    int rc = abs_dir("snapshot", pos[1], dir, sizeof(dir));
    if (rc || (rc = cli_state_dir_check("kiln")))
        return rc;
    json_object *body = json_object_new_object();
    json_object_object_add(body, "dir", json_object_new_string(dir));
    if (paused)
        json_object_object_add(body, "paused", json_object_new_boolean(true));
    if (disks)
        json_object_object_add(body, "disks", json_object_new_boolean(true));
    vm_path(path, sizeof(path), pos[0], "snapshot");
    json_object *v = vmapi_json("POST", path, body, &rc);
    json_object_put(body);
    if (v && json)
        print_json(v);
    else if (v)
        printf("snapshot of %s written to %s (the VM stood still %lld ms%s)\n", pos[0], dir,
               (long long)jget_int(v, "ms", 0), paused ? "; it stays paused" : "");
    json_object_put(v);
    return rc;
}

int cli_vm_restore(int argc, char **argv)
{
    const char *snap = NULL, *name = NULL;
    bool paused = false, clone = !strcmp(argv[0], "clone"), json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--paused"))
            paused = true;
        else if (!strcmp(argv[i], "--clone"))
            clone = true;
        else if (!strcmp(argv[i], "--json"))
            json = true;
        else if (!strcmp(argv[i], "--name") && i + 1 < argc)
            name = argv[++i];
        else if (!strncmp(argv[i], "--name=", 7))
            name = argv[i] + 7;
        else if (argv[i][0] != '-' && !snap)
            snap = argv[i];
        else {
            fprintf(stderr, "kiln %s: unexpected argument '%s' with --name (kiln restore --help)\n",
                    argv[0], argv[i]);
            return 2;
        }
    }
    if (!snap || !name || !valid_name(name)) {
        fprintf(stderr, "usage: kiln restore DIR --name NEW [--paused] [--clone] [--json]\n");
        return 2;
    }
    char dir[PATH_MAX];
    int rc = abs_dir(argv[0], snap, dir, sizeof(dir));
    if (rc || (rc = cli_state_dir_check("kiln")))
        return rc;
    json_object *body = json_object_new_object();
    json_object_object_add(body, "name", json_object_new_string(name));
    json_object_object_add(body, "dir", json_object_new_string(dir));
    if (clone)
        json_object_object_add(body, "clone", json_object_new_boolean(true));
    if (paused)
        json_object_object_add(body, "paused", json_object_new_boolean(true));
    json_object *v = vmapi_json("POST", "/v1/restore", body, &rc);
    json_object_put(body);
    if (v && json)
        print_json(v);
    else if (v)
        print_vm("restored", v);
    json_object_put(v);
    return rc;
}

int cli_vm_clone(int argc, char **argv)
{
    const char *pos[2];
    int npos = 0;
    unsigned long long count = 1;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *cv = NULL;
        if (!strcmp(argv[i], "--json"))
            json = true;
        else if (!strcmp(argv[i], "--count") && i + 1 < argc)
            cv = argv[++i];
        else if (!strncmp(argv[i], "--count=", 8))
            cv = argv[i] + 8;
        else if (argv[i][0] != '-' && npos < 2)
            pos[npos++] = argv[i];
        else {
            fprintf(stderr, "kiln clone: unexpected argument '%s' (kiln clone --help)\n", argv[i]);
            return 2;
        }
        if (cv && cli_parse_uint(cv, 1, CLONE_MAX, &count)) {
            fprintf(stderr, "kiln clone: --count '%s' must be a number from 1 to %d\n", cv, CLONE_MAX);
            return 2;
        }
    }
    if (npos != 2 || !valid_name(pos[0]) || !valid_name(pos[1])) {
        fprintf(stderr, "usage: kiln clone NAME NEW [--count N] [--json]   (a running daemon VM)\n"
                        "       kiln clone DIR [kiln restore options]       (a snapshot directory)\n");
        return 2;
    }
    int rc = cli_state_dir_check("kiln");
    if (rc)
        return rc;
    char path[300];
    json_object *body = json_object_new_object();
    json_object_object_add(body, "name", json_object_new_string(pos[1]));
    json_object_object_add(body, "count", json_object_new_int64((int64_t)count));
    vm_path(path, sizeof(path), pos[0], "clone");
    json_object *v = vmapi_json("POST", path, body, &rc);
    json_object_put(body);
    if (v && json) {
        print_json(v);
    } else if (v) {
        json_object *vms;
        if (json_object_object_get_ex(v, "vms", &vms))
            for (size_t i = 0; i < json_object_array_length(vms); i++)
                print_vm("cloned", json_object_array_get_idx(vms, i));
        printf("(from the snapshot %s, taken in %lld ms)\n", jget_str(v, "snapshot"),
               (long long)jget_int(v, "ms", 0));
    }
    json_object_put(v);
    return rc;
}

/* Which form a snapshot/restore/clone command line is: true for the daemon's. */
bool cli_vm_snap_wanted(int argc, char **argv)
{
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h") || !strcmp(a, "--control") ||
            !strncmp(a, "--control=", 10))
            return false;
        if (!strcmp(a, "--name") || !strncmp(a, "--name=", 7) || !strcmp(a, "--count") ||
            !strncmp(a, "--count=", 8) || !strcmp(a, "--json"))
            return true;
        if (a[0] != '-')
            npos++;
    }
    /* kiln snapshot without --control names a daemon VM; kiln clone NAME NEW has two words. */
    return !strcmp(argv[0], "snapshot") || (!strcmp(argv[0], "clone") && npos == 2);
}
