/*
 * Per-VM limits through the host's cgroups: cgroup v2 `cpu.max` when the
 * unified hierarchy has the cpu controller, else the cgroup v1 cpu
 * controller's CFS quota (hybrid hosts bind cpu to v1). Each VM gets
 * <root>/kiln/<name>, in each v1 hierarchy it uses. Beside the CPU cap, the
 * memory controller caps the VM process at its RAM plus CG_VMM_ALLOWANCE_MIB
 * (docs/jail.md) and the pids controller at its harts plus CG_PIDS_SPARE
 * threads, when the host has those controllers.
 */
#ifndef KILN_DAEMON_CGROUP_H
#define KILN_DAEMON_CGROUP_H

#include <stddef.h>
#include <stdint.h>

#define CG_PERIOD_US 100000
/* kiln's own memory beside guest RAM: binary and libraries, hart decode caches and
 * translated code, device and slirp buffers, thread stacks, page cache of disk I/O. */
#define CG_VMM_ALLOWANCE_MIB 192
/* Threads beside the harts: main, console, control, RTC, disk workers, NIC threads, the
 * jail's socket cleaner. */
#define CG_PIDS_SPARE 32

struct cgroups {
    int version;       /* 2, 1, or 0 when unusable */
    char base[320];    /* .../kiln */
    char why[256];     /* why unusable, for `kiln info` */
    char mem_base[320];  /* the memory controller's .../kiln, "" if none (v1: its hierarchy) */
    char pids_base[320]; /* the pids controller's .../kiln, "" if none */
    uint64_t mem_limit_override; /* $KILN_CGROUP_MEM_LIMIT_MIB (tests): bytes, 0 = none */
};

/* Finds a usable cpu controller and creates the kiln group. Never fails: see cg->version. */
void cg_init(struct cgroups *cg);
/* Creates the VM's groups, sets its cap (0 = none) and, where the controllers exist, its
 * memory limit (mem_bytes of RAM + CG_VMM_ALLOWANCE_MIB) and pids limit (cpus +
 * CG_PIDS_SPARE). Returns 0 or -errno. */
int cg_vm_setup(const struct cgroups *cg, const char *name, unsigned cap_pct, uint64_t mem_bytes,
                unsigned cpus);
/* Changes the cap of an existing VM group. */
int cg_vm_set_cap(const struct cgroups *cg, const char *name, unsigned cap_pct);
/* The files a process writes its pid to, to join the VM's groups: one path, or several
 * joined by ':' (cgroup v1, one per hierarchy). */
int cg_vm_procs_path(const struct cgroups *cg, const char *name, char *out, size_t len);
/* Removes the VM's groups (they must be empty). */
void cg_vm_remove(const struct cgroups *cg, const char *name);
/* When the memory controller killed a process of the VM's group: a reason such as
 * "out of memory (cgroup limit 448 MiB)" in out, and 1. 0 when it did not, -errno. */
int cg_vm_oom_reason(const struct cgroups *cg, const char *name, char *out, size_t len);

#endif
