/*
 * From a config.json to a `kiln exec` command line: the process VM whose root
 * is the bundle's rootfs (docs/oci.md has the whole mapping). The program is
 * looked up inside the rootfs (PATH of process.env, "#!" scripts through
 * their interpreter) and handed to kiln exec as an open descriptor
 * (/proc/self/fd/N), so nothing the container changes later can swap it.
 */
#ifndef KILN_OCI_LAUNCH_H
#define KILN_OCI_LAUNCH_H

#include <stddef.h>

#include "oci/spec.h"

struct oci_cmd {
    char **argv; /* kiln exec's argv, NULL-terminated */
    size_t n, cap;
    int prog_fd; /* the program, inherited by kiln exec */
    int netns_fd; /* linux.namespaces network path, or -1 */
    int oom_score_adj;
    bool set_oom;
    char kiln[4096]; /* the kiln binary (this one) */
};

/*
 * Builds the command for process p of container s. bundle: the bundle
 * directory; state_dir: the container's directory under --root (tmpfs mounts
 * get a directory there). 0, or -errno with a message in err.
 */
int oci_cmd_build(const struct oci_spec *s, const struct oci_process *p, const char *bundle,
                  const char *state_dir, struct oci_cmd *cmd, char *err, size_t errlen);
/* The same for a system-VM container: `kiln run --rootfs` (vm_system.c). */
int oci_system_cmd_build(const struct oci_spec *s, const char *bundle, struct oci_cmd *cmd, char *err,
                         size_t errlen);
void oci_cmd_free(struct oci_cmd *cmd);
/* Appends one printf-formatted argument to cmd's argv. 0 or -ENOMEM. */
int oci_cmd_push(struct oci_cmd *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Adds `--control-socket path` (processes joining the VM: `exec`, docs/oci.md). 0 or -ENOMEM. */
int oci_cmd_control(struct oci_cmd *cmd, const char *path);
/* In the container's process: enters the network namespace and sets the OOM score. 0 or -errno. */
int oci_cmd_enter(struct oci_cmd *cmd, char *err, size_t errlen);
/* Then replaces the process with kiln exec. Returns only on failure (-errno, message in err). */
int oci_cmd_exec(struct oci_cmd *cmd, char *err, size_t errlen);

#endif
