/* state, ps, list and features: the read-only commands. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci/log.h"
#include "oci/oci.h"
#include "oci/state.h"

#define MAX_TREE 4096

int oci_state(const char *root, const char *id)
{
    if (!oci_id_valid(id)) {
        oci_err("invalid container id '%s'", id);
        return 1;
    }
    int dirfd = oci_state_open(root, id, false, false);
    if (dirfd < 0) {
        oci_err("container %s does not exist", id);
        return 1;
    }
    struct oci_state st;
    int rc = oci_state_load(dirfd, &st);
    if (rc) {
        oci_err("container %s: cannot read its state: %s", id, strerror(-rc));
        close(dirfd);
        return 1;
    }
    char *text = oci_state_json(&st, oci_status_of(dirfd, &st), true);
    if (text)
        printf("%s\n", text);
    free(text);
    oci_state_free(&st);
    close(dirfd);
    return text ? 0 : 1;
}

static void comm_of(pid_t pid, char *out, size_t len)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    snprintf(out, len, "?");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, out, len - 1);
    close(fd);
    if (n <= 0)
        return;
    out[n] = 0;
    for (ssize_t i = 0; i < n - 1; i++)
        if (!out[i])
            out[i] = ' ';
}

int oci_ps(const char *root, const char *id, bool json)
{
    if (!oci_id_valid(id)) {
        oci_err("invalid container id '%s'", id);
        return 1;
    }
    int dirfd = oci_state_open(root, id, false, false);
    if (dirfd < 0) {
        oci_err("container %s does not exist", id);
        return 1;
    }
    struct oci_state st;
    if (oci_state_load(dirfd, &st)) {
        oci_err("container %s: cannot read its state", id);
        close(dirfd);
        return 1;
    }
    enum oci_status s = oci_status_of(dirfd, &st);
    pid_t *tree = malloc(MAX_TREE * sizeof(pid_t));
    size_t n = 0;
    if (tree && s != OCI_STOPPED && s != OCI_CREATING)
        n = oci_ptree(st.pid, tree, MAX_TREE);
    if (json) {
        /* runc ps --format json: the host pids of the container, what containerd's shim reads. */
        printf("[");
        for (size_t i = 0; i < n; i++)
            printf("%s%d", i ? "," : "", (int)tree[i]);
        printf("]\n");
    } else {
        printf("%-8s %-8s %s\n", "PID", "PPID", "CMD");
        for (size_t i = 0; i < n; i++) {
            pid_t ppid = 0;
            char cmd[256];
            oci_proc_stat(tree[i], NULL, NULL, &ppid);
            comm_of(tree[i], cmd, sizeof(cmd));
            printf("%-8d %-8d %s\n", (int)tree[i], (int)ppid, cmd);
        }
    }
    free(tree);
    oci_state_free(&st);
    close(dirfd);
    return 0;
}

int oci_list(const char *root, bool json, bool quiet)
{
    DIR *d = opendir(root);
    if (!d && errno != ENOENT) {
        oci_err("--root %s: %s", root, strerror(errno));
        return 1;
    }
    json_object *arr = json_object_new_array();
    if (!json && !quiet)
        printf("%-20s %-8s %-10s %-40s %s\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED");
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (!oci_id_valid(de->d_name))
            continue;
        int fd = oci_state_open(root, de->d_name, false, false);
        if (fd < 0)
            continue;
        struct oci_state st;
        if (oci_state_load(fd, &st) == 0) {
            enum oci_status s = oci_status_of(fd, &st);
            if (quiet) {
                printf("%s\n", st.id);
            } else if (json) {
                char *t = oci_state_json(&st, s, false);
                json_object *o = t ? json_tokener_parse(t) : NULL;
                if (o)
                    json_object_array_add(arr, o);
                free(t);
            } else {
                printf("%-20s %-8d %-10s %-40s %s\n", st.id, s == OCI_STOPPED ? 0 : (int)st.pid,
                       oci_status_name(s), st.bundle, st.created);
            }
            oci_state_free(&st);
        }
        close(fd);
    }
    if (d)
        closedir(d);
    if (json)
        printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PLAIN));
    json_object_put(arr);
    return 0;
}

static json_object *strings(const char *const *v)
{
    json_object *a = json_object_new_array();
    for (size_t i = 0; v[i]; i++)
        json_object_array_add(a, json_object_new_string(v[i]));
    return a;
}

int oci_features(void)
{
    /* runtime-spec features.md: what this runtime accepts. createContainer and startContainer
       hooks are not run (they belong inside container namespaces; docs/oci.md). */
    static const char *const hooks[] = {"prestart", "createRuntime", "poststart", "poststop", NULL};
    static const char *const mount_opts[] = {"bind", "rbind", "ro", "rro", "rw", "rrw", NULL};
    static const char *const ns[] = {"cgroup", "ipc", "mount", "network", "pid", "user", "uts", NULL};
    json_object *o = json_object_new_object();
    json_object_object_add(o, "ociVersionMin", json_object_new_string("1.0.0"));
    json_object_object_add(o, "ociVersionMax", json_object_new_string(OCI_SPEC_VERSION));
    json_object_object_add(o, "hooks", strings(hooks));
    json_object_object_add(o, "mountOptions", strings(mount_opts));
    json_object *lx = json_object_new_object();
    json_object_object_add(lx, "namespaces", strings(ns));
    json_object_object_add(lx, "capabilities", json_object_new_array());
    json_object *cg = json_object_new_object();
    json_object_object_add(cg, "v1", json_object_new_boolean(false));
    json_object_object_add(cg, "v2", json_object_new_boolean(false));
    json_object_object_add(cg, "systemd", json_object_new_boolean(false));
    json_object_object_add(cg, "systemdUser", json_object_new_boolean(false));
    json_object_object_add(lx, "cgroup", cg);
    json_object *sc = json_object_new_object();
    json_object_object_add(sc, "enabled", json_object_new_boolean(false));
    json_object_object_add(lx, "seccomp", sc);
    json_object *aa = json_object_new_object();
    json_object_object_add(aa, "enabled", json_object_new_boolean(false));
    json_object_object_add(lx, "apparmor", aa);
    json_object *se = json_object_new_object();
    json_object_object_add(se, "enabled", json_object_new_boolean(false));
    json_object_object_add(lx, "selinux", se);
    json_object_object_add(o, "linux", lx);
    json_object *ann = json_object_new_object();
    json_object_object_add(ann, "run.kiln.version", json_object_new_string(OCI_RUNTIME_VERSION));
    json_object_object_add(ann, "run.kiln.vm.kinds", json_object_new_string("process"));
    json_object_object_add(o, "annotations", ann);
    printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED));
    json_object_put(o);
    return 0;
}
