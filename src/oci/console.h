/*
 * process.terminal with --console-socket: kiln opens a pseudo-terminal, sends
 * its master over the engine's Unix socket (SCM_RIGHTS, unix(7)), as runc
 * does, and the container gets the slave as stdio and controlling terminal.
 */
#ifndef KILN_OCI_CONSOLE_H
#define KILN_OCI_CONSOLE_H

/* A new pty (rows/cols 0: left as is). 0 or -errno; *master and *slave close-on-exec. */
int oci_console_open(int *master, int *slave, unsigned rows, unsigned cols);
/* Connects to the socket at path and sends master (with the pty's name as the payload). */
int oci_console_send(const char *path, int master);
/* In the container's process: a new session whose controlling terminal is slave, on fds 0-2. */
int oci_console_attach(int slave);

#endif
