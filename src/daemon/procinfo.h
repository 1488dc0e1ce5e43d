/* What /proc says about a process and the host (proc(5)). */
#ifndef KILN_DAEMON_PROCINFO_H
#define KILN_DAEMON_PROCINFO_H

#include <stdint.h>
#include <sys/types.h>

struct proc_stat {
    char state;         /* R, S, D, T, Z, ... */
    uint64_t starttime; /* clock ticks after boot: with the pid, identifies the process */
    uint64_t cpu_ticks; /* utime + stime */
};

/* 0, or -ENOENT when no such process. */
int proc_read_stat(pid_t pid, struct proc_stat *out);
/* Is pid alive (not a zombie) and started at `starttime`? */
int proc_alive(pid_t pid, uint64_t starttime);
/* Resident set size in bytes (VmRSS), or -errno. */
int64_t proc_rss(pid_t pid);
uint64_t host_mem_total(void);
unsigned host_cpus(void);

#endif
