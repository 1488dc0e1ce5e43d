/* A container's record under --root (state.h). */
#define _GNU_SOURCE
#include "oci/state.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

bool oci_id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > OCI_ID_MAX || !strcmp(id, ".") || !strcmp(id, ".."))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)id[i]) && !strchr("_+-.", id[i]))
            return false;
    return true;
}

const char *oci_status_name(enum oci_status s)
{
    static const char *const names[] = {"creating", "created", "running", "paused", "stopped"};
    return names[s];
}

static int mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return -ENAMETOOLONG;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, 0711) && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0711) && errno != EEXIST)
        return -errno;
    return 0;
}

int oci_state_open(const char *root, const char *id, bool create, bool exclusive)
{
    if (!oci_id_valid(id))
        return -EINVAL;
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof(dir), "%s/%s", root, id) >= (int)sizeof(dir))
        return -ENAMETOOLONG;
    if (create) {
        int rc = mkdir_p(root);
        if (rc)
            return rc;
        if (mkdir(dir, 0711))
            return -errno;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (flock(fd, exclusive ? LOCK_EX : LOCK_SH)) {
        int e = errno;
        close(fd);
        return -e;
    }
    /* A concurrent delete may have removed it while we waited for the lock. */
    struct stat st;
    if (!create && fstatat(fd, "state.json", &st, 0)) {
        close(fd);
        return -ENOENT;
    }
    return fd;
}

static void copy_str(char *dst, size_t n, json_object *o, const char *key)
{
    json_object *v;
    if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
        snprintf(dst, n, "%s", json_object_get_string(v));
}

int oci_state_load(int dirfd, struct oci_state *st)
{
    memset(st, 0, sizeof(*st));
    int fd = openat(dirfd, "state.json", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    /* Annotations make it as large as an engine wants: read it whole (up to 16 MiB). */
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap + 1);
    ssize_t got;
    while (buf && (got = read(fd, buf + n, cap - n)) > 0) {
        n += (size_t)got;
        if (n == cap) {
            char *b = cap < (16u << 20) ? realloc(buf, 2 * cap + 1) : NULL;
            if (!b) {
                free(buf);
                buf = NULL;
            }
            buf = b;
            cap *= 2;
        }
    }
    close(fd);
    if (!buf)
        return -ENOMEM;
    buf[n] = 0;
    json_object *o = n ? json_tokener_parse(buf) : NULL;
    free(buf);
    if (!o || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return -EIO;
    }
    copy_str(st->id, sizeof(st->id), o, "id");
    copy_str(st->bundle, sizeof(st->bundle), o, "bundle");
    copy_str(st->rootfs, sizeof(st->rootfs), o, "rootfs");
    copy_str(st->created, sizeof(st->created), o, "created");
    json_object *v;
    if (json_object_object_get_ex(o, "pid", &v))
        st->pid = (pid_t)json_object_get_int(v);
    if (json_object_object_get_ex(o, "kiln.startTime", &v))
        st->start_time = (unsigned long long)json_object_get_int64(v);
    if (json_object_object_get_ex(o, "kiln.paused", &v))
        st->paused = json_object_get_boolean(v);
    if (json_object_object_get_ex(o, "kiln.vm", &v))
        st->vm_kind = !strcmp(json_object_get_string(v), "system") ? OCI_VM_SYSTEM : OCI_VM_PROCESS;
    if (json_object_object_get_ex(o, "annotations", &v) && json_object_is_type(v, json_type_object))
        st->annotations = strdup(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    if (!st->annotations)
        st->annotations = strdup("{}");
    return st->annotations ? 0 : -ENOMEM;
}

static json_object *state_object(const struct oci_state *st, enum oci_status s, bool internal)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "ociVersion", json_object_new_string("1.1.0"));
    json_object_object_add(o, "id", json_object_new_string(st->id));
    json_object_object_add(o, "status", json_object_new_string(oci_status_name(s)));
    /* runtime.md: pid is REQUIRED when status is created or running; runc prints 0 once stopped. */
    json_object_object_add(o, "pid", json_object_new_int(s == OCI_STOPPED && !internal ? 0 : st->pid));
    json_object_object_add(o, "bundle", json_object_new_string(st->bundle));
    json_object_object_add(o, "rootfs", json_object_new_string(st->rootfs));
    json_object_object_add(o, "created", json_object_new_string(st->created));
    json_object_object_add(o, "owner", json_object_new_string(""));
    json_object *ann = json_tokener_parse(st->annotations ? st->annotations : "{}");
    json_object_object_add(o, "annotations", ann ? ann : json_object_new_object());
    if (internal) {
        json_object_object_add(o, "kiln.startTime", json_object_new_int64((int64_t)st->start_time));
        json_object_object_add(o, "kiln.paused", json_object_new_boolean(st->paused));
        json_object_object_add(o, "kiln.vm", json_object_new_string(st->vm_kind == OCI_VM_SYSTEM ? "system" : "process"));
    }
    return o;
}

int oci_state_save(int dirfd, const struct oci_state *st)
{
    json_object *o = state_object(st, OCI_CREATED, true);
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    int rc = 0;
    int fd = openat(dirfd, "state.json.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = -errno;
    } else {
        size_t len = strlen(text);
        if (write(fd, text, len) != (ssize_t)len || fsync(fd))
            rc = -EIO;
        close(fd);
        /* rename(2) is atomic: a reader sees the old record or the new one, never half. */
        if (!rc && renameat(dirfd, "state.json.tmp", dirfd, "state.json"))
            rc = -errno;
    }
    json_object_put(o);
    return rc;
}

void oci_state_free(struct oci_state *st)
{
    free(st->annotations);
    st->annotations = NULL;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

int oci_state_remove(const char *root, const char *id)
{
    if (!oci_id_valid(id))
        return -EINVAL;
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof(dir), "%s/%s", root, id) >= (int)sizeof(dir))
        return -ENAMETOOLONG;
    /* FTW_PHYS: a symlink a container left in a tmpfs directory is removed, never followed. */
    if (nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT))
        return -errno;
    return access(dir, F_OK) == 0 ? -ENOTEMPTY : 0;
}

int oci_proc_stat(pid_t pid, unsigned long long *start_time, bool *zombie, pid_t *ppid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -EIO;
    buf[n] = 0;
    /* proc(5): "pid (comm) state ppid ..."; comm may hold spaces and parentheses. */
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ')
        return -EIO;
    char state = p[2];
    unsigned long long f[20];
    int got = sscanf(p + 3, " %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu "
                            "%llu %llu %llu %llu",
                     &f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6], &f[7], &f[8], &f[9], &f[10],
                     &f[11], &f[12], &f[13], &f[14], &f[15], &f[16], &f[17], &f[18]);
    if (got < 19)
        return -EIO;
    if (ppid)
        *ppid = (pid_t)f[0];  /* field 4 */
    if (start_time)
        *start_time = f[18]; /* field 22 */
    if (zombie)
        *zombie = state == 'Z' || state == 'X';
    return 0;
}

pid_t oci_proc_pgrp(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -EIO;
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    int ppid, pgrp;
    if (!p || sscanf(p + 1, " %*c %d %d", &ppid, &pgrp) != 2)
        return -EIO;
    return (pid_t)pgrp;
}

enum oci_status oci_status_of(int dirfd, const struct oci_state *st)
{
    if (st->pid <= 0)
        return OCI_CREATING;
    unsigned long long t;
    bool zombie;
    if (oci_proc_stat(st->pid, &t, &zombie, NULL) || zombie || t != st->start_time)
        return OCI_STOPPED;
    if (st->paused)
        return OCI_PAUSED;
    struct stat sb;
    if (fstatat(dirfd, "exec.fifo", &sb, AT_SYMLINK_NOFOLLOW) == 0)
        return OCI_CREATED;
    return OCI_RUNNING;
}

char *oci_state_json(const struct oci_state *st, enum oci_status s, bool pretty)
{
    json_object *o = state_object(st, s, false);
    char *text = strdup(json_object_to_json_string_ext(o, pretty ? JSON_C_TO_STRING_PRETTY |
                                                                       JSON_C_TO_STRING_SPACED
                                                                 : JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    return text;
}

size_t oci_ptree(pid_t pid, pid_t *out, size_t max)
{
    if (max == 0)
        return 0;
    size_t n = 0;
    out[n++] = pid;
    /* Breadth first over /proc: each pass adds the children of what is already listed. */
    DIR *d = opendir("/proc");
    if (!d)
        return n;
    size_t cap = 4096, all = 0;
    pid_t(*pp)[2] = malloc(cap * sizeof(*pp));
    struct dirent *de;
    while (pp && (de = readdir(d))) {
        char *end;
        long p = strtol(de->d_name, &end, 10);
        if (*end || p <= 0)
            continue;
        pid_t ppid;
        if (oci_proc_stat((pid_t)p, NULL, NULL, &ppid))
            continue;
        if (all == cap) {
            void *bigger = realloc(pp, 2 * cap * sizeof(*pp));
            if (!bigger)
                break;
            pp = bigger;
            cap *= 2;
        }
        pp[all][0] = (pid_t)p;
        pp[all][1] = ppid;
        all++;
    }
    closedir(d);
    for (size_t i = 0; pp && i < n; i++)
        for (size_t k = 0; k < all && n < max; k++)
            if (pp[k][1] == out[i])
                out[n++] = pp[k][0];
    free(pp);
    return n;
}
