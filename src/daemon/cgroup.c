#include "daemon/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

static int write_file(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, s, strlen(s));
    int e = n < 0 ? errno : 0;
    close(fd);
    return n < 0 ? -e : 0;
}

static int read_file(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, len - 1);
    int e = errno;
    close(fd);
    if (n < 0)
        return -e;
    buf[n] = 0;
    return 0;
}

static int try_v2(struct cgroups *cg)
{
    struct statfs fs;
    char buf[512], path[300];
    if (statfs("/sys/fs/cgroup", &fs) || fs.f_type != CGROUP2_SUPER_MAGIC)
        return -ENOENT;
    if (read_file("/sys/fs/cgroup/cgroup.controllers", buf, sizeof(buf)) || !strstr(buf, "cpu"))
        return -ENOENT;
    /* cgroup v2 delegation: each parent must list +cpu in cgroup.subtree_control. */
    if (mkdir("/sys/fs/cgroup/kiln", 0755) && errno != EEXIST)
        return -errno;
    int r = write_file("/sys/fs/cgroup/cgroup.subtree_control", "+cpu");
    if (r)
        return r;
    r = write_file("/sys/fs/cgroup/kiln/cgroup.subtree_control", "+cpu");
    if (r)
        return r;
    snprintf(path, sizeof(path), "/sys/fs/cgroup/kiln/cgroup.procs");
    if (access(path, W_OK))
        return -errno;
    snprintf(cg->base, sizeof(cg->base), "/sys/fs/cgroup/kiln");
    cg->version = 2;
    return 0;
}

static int try_v1(struct cgroups *cg)
{
    static const char *roots[] = {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"};
    for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
        struct statfs fs;
        char path[300];
        if (statfs(roots[i], &fs) || fs.f_type != CGROUP_SUPER_MAGIC)
            continue;
        snprintf(path, sizeof(path), "%s/cpu.cfs_quota_us", roots[i]);
        if (access(path, R_OK))
            continue;
        snprintf(path, sizeof(path), "%s/kiln", roots[i]);
        if (mkdir(path, 0755) && errno != EEXIST)
            return -errno;
        snprintf(cg->base, sizeof(cg->base), "%s", path);
        snprintf(path, sizeof(path), "%s/kiln/cgroup.procs", roots[i]);
        if (access(path, W_OK))
            return -errno;
        cg->version = 1;
        return 0;
    }
    return -ENOENT;
}

void cg_init(struct cgroups *cg)
{
    memset(cg, 0, sizeof(*cg));
    int r2 = try_v2(cg);
    if (!r2)
        return;
    int r1 = try_v1(cg);
    if (!r1)
        return;
    snprintf(cg->why, sizeof(cg->why),
             "no writable cgroup cpu controller (v2: %s; v1: %s)", strerror(-r2), strerror(-r1));
}

int cg_vm_procs_path(const struct cgroups *cg, const char *name, char *out, size_t len)
{
    if (!cg->version)
        return -ENOTSUP;
    int n = snprintf(out, len, "%s/%s/cgroup.procs", cg->base, name);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int cg_vm_set_cap(const struct cgroups *cg, const char *name, unsigned cap_pct)
{
    char path[400], val[64];
    if (!cg->version)
        return -ENOTSUP;
    /* cap_pct of one CPU: quota = pct/100 * period. */
    unsigned long long quota = (unsigned long long)cap_pct * CG_PERIOD_US / 100;
    if (cg->version == 2) {
        snprintf(path, sizeof(path), "%s/%s/cpu.max", cg->base, name);
        if (cap_pct)
            snprintf(val, sizeof(val), "%llu %d", quota, CG_PERIOD_US);
        else
            snprintf(val, sizeof(val), "max %d", CG_PERIOD_US);
        return write_file(path, val);
    }
    snprintf(path, sizeof(path), "%s/%s/cpu.cfs_period_us", cg->base, name);
    snprintf(val, sizeof(val), "%d", CG_PERIOD_US);
    int r = write_file(path, val);
    if (r)
        return r;
    snprintf(path, sizeof(path), "%s/%s/cpu.cfs_quota_us", cg->base, name);
    if (cap_pct)
        snprintf(val, sizeof(val), "%llu", quota);
    else
        snprintf(val, sizeof(val), "-1");
    return write_file(path, val);
}

int cg_vm_setup(const struct cgroups *cg, const char *name, unsigned cap_pct)
{
    char path[400];
    if (!cg->version)
        return -ENOTSUP;
    snprintf(path, sizeof(path), "%s/%s", cg->base, name);
    if (mkdir(path, 0755) && errno != EEXIST)
        return -errno;
    return cg_vm_set_cap(cg, name, cap_pct);
}

void cg_vm_remove(const struct cgroups *cg, const char *name)
{
    char path[400];
    if (!cg->version)
        return;
    snprintf(path, sizeof(path), "%s/%s", cg->base, name);
    rmdir(path);
}
