/*
 * A container's record under the runtime's --root: DIR/ID/ holds state.json
 * (replaced atomically: written beside, then renamed), config.json (the
 * bundle's, as it was at create: exec reads its rootfs, mounts and limits from
 * it), exec.fifo while the container waits for `start` (as runc's), and the
 * directories kiln backs tmpfs mounts with, and ctl.sock (the VM's control socket). Every command that changes a
 * container holds flock(2) on DIR/ID.
 */
#ifndef KILN_OCI_STATE_H
#define KILN_OCI_STATE_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "oci/spec.h"

#define OCI_ID_MAX 1024
/* The VM supervisor's control socket in DIR/ID (ctl.h): how `exec` joins the container's VM. */
#define OCI_CTL_SOCKET "ctl.sock"

enum oci_status {
    OCI_CREATING,
    OCI_CREATED,
    OCI_RUNNING,
    OCI_PAUSED,
    OCI_STOPPED,
};

struct oci_state {
    char id[OCI_ID_MAX + 1];
    pid_t pid;                           /* the container's process (the VM's own), 0 before it exists */
    unsigned long long start_time;       /* of pid (/proc/PID/stat field 22): a reused pid is not it */
    char bundle[PATH_MAX];
    char rootfs[PATH_MAX];
    char created[128];                   /* RFC 3339, UTC */
    bool paused;
    enum oci_vm_kind vm_kind;
    char *annotations;                   /* JSON object text */
};

/* runc's rule for ids: letters, digits, '_', '+', '-', '.', not "." or "..". */
bool oci_id_valid(const char *id);
const char *oci_status_name(enum oci_status s);

/*
 * Opens (create: makes, failing with -EEXIST) the container's directory and
 * takes its lock (LOCK_EX, or LOCK_SH for a reader). Returns the directory's
 * descriptor or -errno (-ENOENT: no such container).
 */
int oci_state_open(const char *root, const char *id, bool create, bool exclusive);
int oci_state_load(int dirfd, struct oci_state *st);
int oci_state_save(int dirfd, const struct oci_state *st);
void oci_state_free(struct oci_state *st);
/* Removes the container's directory and everything kiln put in it. */
int oci_state_remove(const char *root, const char *id);

/* The status from the record and the process: stopped once pid is gone (or a zombie). */
enum oci_status oci_status_of(int dirfd, const struct oci_state *st);
/* The OCI state JSON (runtime.md "State"), malloc'd; pid 0 once stopped, as runc prints it. */
char *oci_state_json(const struct oci_state *st, enum oci_status s, bool pretty);

/* Start time of pid (field 22 of /proc/PID/stat) and whether it is a zombie. 0 or -errno. */
int oci_proc_stat(pid_t pid, unsigned long long *start_time, bool *zombie, pid_t *ppid);
/* The process group of pid (field 5 of /proc/PID/stat, as this pid namespace sees it), or -errno. */
pid_t oci_proc_pgrp(pid_t pid);
/* pid and every host process below it (children of children...), pid first; the count. */
size_t oci_ptree(pid_t pid, pid_t *out, size_t max);

#endif
