/*
 * The system-VM kind of container (annotation run.kiln.vm=system, or the spec's
 * "vm" section): a kiln system VM boots kiln's default kernel, mounts the bundle's
 * rootfs as / over virtio-9p and runs process.args as its one workload, like Kata
 * (`kiln run --rootfs`, docs/rootfs.md). The create/start/kill/delete machinery is
 * the process VM's: only the command that the container's process becomes differs.
 */
#define _GNU_SOURCE
#include "oci/launch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "oci/log.h"

/* The smallest guest a Linux kernel boots in comfortably, and the default without a limit. */
#define SYSTEM_MIN_MEM (64ull << 20)
#define SYSTEM_DEFAULT_MEM "256M"

/* A directory of the rootfs, resolved as if root were "/" (symlinks stay inside). */
static int open_dir_in(int root, const char *path)
{
    struct open_how how = {.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
                           .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
    while (*path == '/')
        path++;
    long fd = syscall(SYS_openat2, root, *path ? path : ".", &how, sizeof(how));
    return fd < 0 ? -errno : (int)fd;
}

/* process.cwd made inside the rootfs when missing, as runc does (the guest only chdirs). */
static int make_cwd(const char *rootfs, const char *cwd, bool ro)
{
    int root = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0)
        return -errno;
    char part[4096];
    size_t n = strlen(cwd);
    int rc = 0;
    for (size_t i = 1; i <= n && n < sizeof(part) && !rc; i++) {
        if (cwd[i] != '/' && cwd[i] != 0)
            continue;
        snprintf(part, sizeof(part), "%.*s", (int)i, cwd);
        int fd = open_dir_in(root, part);
        if (fd >= 0) {
            close(fd);
            continue;
        }
        if (fd != -ENOENT || ro) {
            rc = fd != -ENOENT ? fd : -EROFS;
            break;
        }
        char *slash = strrchr(part, '/');
        *slash = 0;
        int parent = open_dir_in(root, part);
        if (parent < 0) {
            rc = parent;
            break;
        }
        if (mkdirat(parent, slash + 1, 0755) && errno != EEXIST)
            rc = -errno;
        close(parent);
    }
    close(root);
    return rc;
}

/*
 * kiln's default guest, as `kiln run` finds it (KILN_CACHE, else ~/.cache/kiln): named on
 * the command line, since the container's kiln runs with an empty environment.
 */
static int guest_dir(char *out, size_t len)
{
    const char *c = getenv("KILN_CACHE");
    const char *home = getenv("HOME");
    struct passwd *pw = (!home || !*home) ? getpwuid(getuid()) : NULL;
    if (pw)
        home = pw->pw_dir;
    if (c && *c)
        snprintf(out, len, "%s/guest", c);
    else
        snprintf(out, len, "%s/.cache/kiln/guest", home && *home ? home : "/root");
    static const char *const need[] = {"Image", "initramfs.cpio.gz", "fw_dynamic.bin"};
    for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
        char f[PATH_MAX];
        snprintf(f, sizeof(f), "%s/%s", out, need[i]);
        if (access(f, R_OK))
            return -errno;
    }
    return 0;
}

int oci_system_cmd_build(const struct oci_spec *s, const char *bundle, struct oci_cmd *c, char *err,
                         size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->prog_fd = c->netns_fd = -1;
    ssize_t kl = readlink("/proc/self/exe", c->kiln, sizeof(c->kiln) - 1);
    if (kl <= 0) {
        snprintf(err, errlen, "cannot find the kiln binary: %s", strerror(errno));
        return -errno;
    }
    c->kiln[kl] = 0;
    char rootfs[8192], real[PATH_MAX];
    if (s->root_path[0] == '/')
        snprintf(rootfs, sizeof(rootfs), "%s", s->root_path);
    else
        snprintf(rootfs, sizeof(rootfs), "%s/%s", bundle, s->root_path);
    if (!realpath(rootfs, real)) {
        snprintf(err, errlen, "root.path %s: %s", rootfs, strerror(errno));
        return -errno;
    }
    if (strchr(real, ':')) {
        snprintf(err, errlen, "root.path %s: a ':' in the path cannot be shared", real);
        return -EINVAL;
    }
    const struct oci_process *p = &s->proc;
    int e = p->cwd ? make_cwd(real, p->cwd, s->root_ro) : 0;
    if (e) {
        snprintf(err, errlen, "process.cwd %s: cannot make it in the rootfs: %s", p->cwd, strerror(-e));
        return e;
    }
    char guest[PATH_MAX - 32];
    if ((e = guest_dir(guest, sizeof(guest)))) {
        snprintf(err, errlen, "a system-VM container boots kiln's default guest, not found in %s: %s "
                 "(make guest, or set KILN_CACHE for the runtime)", guest, strerror(-e));
        return e;
    }
    int rc = oci_cmd_push(c, "kiln") || oci_cmd_push(c, "run") ||
             oci_cmd_push(c, "--firmware") || oci_cmd_push(c, "%s/fw_dynamic.bin", guest) ||
             oci_cmd_push(c, "--kernel") || oci_cmd_push(c, "%s/Image", guest) ||
             oci_cmd_push(c, "--initrd") || oci_cmd_push(c, "%s/initramfs.cpio.gz", guest) ||
             oci_cmd_push(c, "--rootfs") || oci_cmd_push(c, "%s%s", real, s->root_ro ? ":ro" : "");
    if (s->mem_limit) {
        uint64_t m = s->mem_limit < SYSTEM_MIN_MEM ? SYSTEM_MIN_MEM : s->mem_limit;
        if (s->mem_limit < SYSTEM_MIN_MEM)
            oci_debug("memory limit %llu bytes: a system VM gets at least 64 MiB",
                      (unsigned long long)s->mem_limit);
        rc = rc || oci_cmd_push(c, "--mem") || oci_cmd_push(c, "%lluM", (unsigned long long)(m >> 20));
    } else {
        rc = rc || oci_cmd_push(c, "--mem") || oci_cmd_push(c, SYSTEM_DEFAULT_MEM);
    }
    rc = rc || oci_cmd_push(c, "--workdir") || oci_cmd_push(c, "%s", p->cwd ? p->cwd : "/");
    for (size_t i = 0; p->env && p->env[i]; i++)
        rc = rc || oci_cmd_push(c, "--env") || oci_cmd_push(c, "%s", p->env[i]);
    rc = rc || oci_cmd_push(c, "--uid") || oci_cmd_push(c, "%u:%u", (unsigned)p->uid, (unsigned)p->gid);
    if (p->terminal)
        rc = rc || oci_cmd_push(c, "--tty");
    if (s->nmounts)
        oci_debug("a system-VM container gets its rootfs only: %zu other mounts not passed", s->nmounts);
    if (s->pids_limit)
        oci_debug("pids limit %lld: the guest kernel's own business in a system VM",
                  (long long)s->pids_limit);
    switch (s->net) {
    case OCI_NET_PATH:
        c->netns_fd = open(s->netns_path, O_RDONLY | O_CLOEXEC);
        if (c->netns_fd >= 0 && c->netns_fd <= 2) {
            int hi = fcntl(c->netns_fd, F_DUPFD_CLOEXEC, 3);
            close(c->netns_fd);
            c->netns_fd = hi;
        }
        if (c->netns_fd < 0) {
            snprintf(err, errlen, "network namespace %s: %s", s->netns_path, strerror(errno));
            oci_cmd_free(c);
            return -errno;
        }
        /* User networking inside the engine's namespace: its veth and routes carry the VM. */
        rc = rc || oci_cmd_push(c, "--net") || oci_cmd_push(c, "user");
        break;
    case OCI_NET_HOST:
        rc = rc || oci_cmd_push(c, "--net") || oci_cmd_push(c, "user");
        break;
    case OCI_NET_NEW:
        break;
    }
    c->set_oom = p->has_oom_score_adj;
    c->oom_score_adj = p->oom_score_adj;
    rc = rc || oci_cmd_push(c, "--");
    for (size_t i = 0; p->args[i]; i++)
        rc = rc || oci_cmd_push(c, "%s", p->args[i]);
    if (rc) {
        oci_cmd_free(c);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    return 0;
}
