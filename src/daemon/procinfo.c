#include "daemon/procinfo.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static ssize_t read_small(const char *path, char *buf, size_t len)
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
    return n;
}

int proc_read_stat(pid_t pid, struct proc_stat *out)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    ssize_t n = read_small(path, buf, sizeof(buf));
    if (n < 0)
        return (int)n;
    /* comm (field 2) may hold spaces and parentheses: fields resume after the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ')
        return -EINVAL;
    p += 2;
    out->state = *p;
    /* From field 3 (state): utime is field 14, stime 15, starttime 22. */
    unsigned long long v[23] = {0};
    int field = 3;
    char *save = NULL;
    for (char *t = strtok_r(p, " ", &save); t && field <= 22; t = strtok_r(NULL, " ", &save), field++)
        v[field] = strtoull(t, NULL, 10);
    if (field <= 22)
        return -EINVAL;
    out->cpu_ticks = v[14] + v[15];
    out->starttime = v[22];
    return 0;
}

int proc_alive(pid_t pid, uint64_t starttime)
{
    struct proc_stat st;
    if (pid <= 0 || proc_read_stat(pid, &st))
        return 0;
    return st.state != 'Z' && st.state != 'X' && st.starttime == starttime;
}

static int64_t status_kib(const char *path, const char *key)
{
    char buf[4096];
    ssize_t n = read_small(path, buf, sizeof(buf));
    if (n < 0)
        return n;
    char *p = strstr(buf, key);
    if (!p)
        return -ENOENT;
    return (int64_t)strtoll(p + strlen(key), NULL, 10) * 1024;
}

int64_t proc_rss(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    return status_kib(path, "VmRSS:");
}

uint64_t host_mem_total(void)
{
    int64_t v = status_kib("/proc/meminfo", "MemTotal:");
    return v > 0 ? (uint64_t)v : 0;
}

unsigned host_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}
