/*
 * Starting the container's process (create) or a second one (exec): a child
 * of the caller in a session of its own, with the pty slave as stdio when
 * there is a console socket, else the caller's stdio (the engine's pipes). It
 * says when it is set up, optionally waits on exec.fifo until `start`, then
 * becomes kiln exec, so the pid the engine gets is the VM's own process.
 */
#ifndef KILN_OCI_SPAWN_H
#define KILN_OCI_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "oci/launch.h"

struct oci_spawn {
    const char *console_socket; /* with terminal: where the pty master goes */
    bool terminal;
    unsigned rows, cols;
    const char *fifo; /* wait on this FIFO (runc's exec.fifo) before running anything */
};

/* The child's pid once it is ready (before any guest code), or -errno with a message in err. */
pid_t oci_spawn(struct oci_cmd *cmd, const struct oci_spawn *sp, char *err, size_t errlen);
/* Writes pid to path atomically (a temporary file renamed), as engines read it at once. */
int oci_write_pid_file(const char *path, pid_t pid);

#endif
