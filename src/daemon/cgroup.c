#include "daemon/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
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
    /* memory and pids when the host offers them; the CPU cap works without. */
    static const char *const extra[] = {"memory", "pids"};
    char *bases[] = {cg->mem_base, cg->pids_base};
    for (int i = 0; i < 2; i++) {
        char on[16];
        snprintf(on, sizeof(on), "+%s", extra[i]);
        if (strstr(buf, extra[i]) && !write_file("/sys/fs/cgroup/cgroup.subtree_control", on) &&
            !write_file("/sys/fs/cgroup/kiln/cgroup.subtree_control", on))
            snprintf(bases[i], sizeof(cg->mem_base), "%s", cg->base);
    }
    return 0;
}

/* cgroup v1 keeps each controller in its own hierarchy: memory and pids get their own kiln/. */
static void v1_extra(struct cgroups *cg)
{
    static const char *const roots[] = {"/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids"};
    static const char *const probe[] = {"memory.limit_in_bytes", "pids.max"};
    char *bases[] = {cg->mem_base, cg->pids_base};
    for (int i = 0; i < 2; i++) {
        struct statfs fs;
        char path[300];
        if (statfs(roots[i], &fs) || fs.f_type != CGROUP_SUPER_MAGIC)
            continue;
        snprintf(path, sizeof(path), "%s/%s", roots[i], probe[i]);
        if (access(path, R_OK) && i == 0)
            continue;
        snprintf(path, sizeof(path), "%s/kiln", roots[i]);
        if (mkdir(path, 0755) && errno != EEXIST)
            continue;
        snprintf(bases[i], sizeof(cg->mem_base), "%s", path);
    }
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
        v1_extra(cg);
        return 0;
    }
    return -ENOENT;
}

void cg_init(struct cgroups *cg)
{
    memset(cg, 0, sizeof(*cg));
    const char *o = getenv("KILN_CGROUP_MEM_LIMIT_MIB");
    if (o && atoll(o) > 0)
        cg->mem_limit_override = (uint64_t)atoll(o) << 20;
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
    if (n < 0 || (size_t)n >= len)
        return -ENAMETOOLONG;
    if (cg->version == 1) {
        const char *bases[] = {cg->mem_base, cg->pids_base};
        for (int i = 0; i < 2; i++) {
            if (!bases[i][0])
                continue;
            size_t at = strlen(out);
            n = snprintf(out + at, len - at, ":%s/%s/cgroup.procs", bases[i], name);
            if (n < 0 || (size_t)n >= len - at)
                return -ENAMETOOLONG;
        }
    }
    return 0;
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

static int make_group(const char *base, const char *name)
{
    char path[400];
    snprintf(path, sizeof(path), "%s/%s", base, name);
    if (mkdir(path, 0755) && errno != EEXIST)
        return -errno;
    return 0;
}

static int write_u64(const char *base, const char *name, const char *file, uint64_t v)
{
    char path[400], val[32];
    snprintf(path, sizeof(path), "%s/%s/%s", base, name, file);
    snprintf(val, sizeof(val), "%" PRIu64, v);
    return write_file(path, val);
}

static uint64_t mem_limit(const struct cgroups *cg, uint64_t mem_bytes)
{
    if (cg->mem_limit_override)
        return cg->mem_limit_override;
    return mem_bytes + ((uint64_t)CG_VMM_ALLOWANCE_MIB << 20);
}

static int set_memory(const struct cgroups *cg, const char *name, uint64_t limit)
{
    if (cg->version == 2) {
        /* No swap beyond the limit either: the limit is what the VM process may hold. */
        int r = write_u64(cg->mem_base, name, "memory.max", limit);
        if (!r)
            write_u64(cg->mem_base, name, "memory.swap.max", 0);
        return r;
    }
    /* v1: memsw (RAM + swap) must stay >= limit_in_bytes at every step, so the order
     * depends on whether the limit grows or shrinks; trying limit, memsw, limit covers both. */
    int r = write_u64(cg->mem_base, name, "memory.limit_in_bytes", limit);
    write_u64(cg->mem_base, name, "memory.memsw.limit_in_bytes", limit);
    if (r)
        r = write_u64(cg->mem_base, name, "memory.limit_in_bytes", limit);
    return r;
}

int cg_vm_setup(const struct cgroups *cg, const char *name, unsigned cap_pct, uint64_t mem_bytes,
                unsigned cpus)
{
    if (!cg->version)
        return -ENOTSUP;
    int r = make_group(cg->base, name);
    if (r)
        return r;
    if (cg->mem_base[0]) {
        r = make_group(cg->mem_base, name);
        r = r ? r : set_memory(cg, name, mem_limit(cg, mem_bytes));
        if (r)
            return r;
    }
    if (cg->pids_base[0]) {
        r = make_group(cg->pids_base, name);
        r = r ? r : write_u64(cg->pids_base, name, "pids.max", (uint64_t)cpus + CG_PIDS_SPARE);
        if (r)
            return r;
    }
    return cg_vm_set_cap(cg, name, cap_pct);
}

int cg_vm_oom_reason(const struct cgroups *cg, const char *name, char *out, size_t len)
{
    char path[400], buf[1024], lim[64];
    if (!cg->version || !cg->mem_base[0])
        return 0;
    /* v1: memory.oom_control's oom_kill; v2: memory.events' oom_kill (cgroup-v2.rst). */
    snprintf(path, sizeof(path), "%s/%s/%s", cg->mem_base, name,
             cg->version == 2 ? "memory.events" : "memory.oom_control");
    int r = read_file(path, buf, sizeof(buf));
    if (r)
        return r;
    const char *k = strstr(buf, "oom_kill ");
    if (!k || strtoull(k + 9, NULL, 10) == 0)
        return 0;
    snprintf(path, sizeof(path), "%s/%s/%s", cg->mem_base, name,
             cg->version == 2 ? "memory.max" : "memory.limit_in_bytes");
    if (read_file(path, lim, sizeof(lim)))
        snprintf(out, len, "out of memory (cgroup limit)");
    else
        snprintf(out, len, "out of memory (cgroup limit %" PRIu64 " MiB)",
                 (uint64_t)strtoull(lim, NULL, 10) >> 20);
    return 1;
}

void cg_vm_remove(const struct cgroups *cg, const char *name)
{
    char path[400];
    if (!cg->version)
        return;
    const char *bases[] = {cg->base, cg->mem_base, cg->pids_base};
    for (int i = 0; i < 3; i++) {
        if (!bases[i][0] || (i && !strcmp(bases[i], cg->base)))
            continue;
        snprintf(path, sizeof(path), "%s/%s", bases[i], name);
        rmdir(path);
    }
}
