/*
 * CPU caps through the host's cgroups: cgroup v2 `cpu.max` when the unified
 * hierarchy has the cpu controller, else the cgroup v1 cpu controller's CFS
 * quota (hybrid hosts bind cpu to v1). Each VM gets <root>/kiln/<name>.
 */
#ifndef KILN_DAEMON_CGROUP_H
#define KILN_DAEMON_CGROUP_H

#include <stddef.h>

#define CG_PERIOD_US 100000

struct cgroups {
    int version;       /* 2, 1, or 0 when unusable */
    char base[320];    /* .../kiln */
    char why[256];     /* why unusable, for `kiln info` */
};

/* Finds a usable cpu controller and creates the kiln group. Never fails: see cg->version. */
void cg_init(struct cgroups *cg);
/* Creates the VM's group and sets its cap (0 = none). Returns 0 or -errno. */
int cg_vm_setup(const struct cgroups *cg, const char *name, unsigned cap_pct);
/* Changes the cap of an existing VM group. */
int cg_vm_set_cap(const struct cgroups *cg, const char *name, unsigned cap_pct);
/* Path of the file a process writes its pid to, to join the VM's group. */
int cg_vm_procs_path(const struct cgroups *cg, const char *name, char *out, size_t len);
/* Removes the VM's group (it must be empty). */
void cg_vm_remove(const struct cgroups *cg, const char *name);

#endif
