/*
 * kiln's OCI runtime: the runc-compatible commands behind `kiln oci` and
 * `kiln-runc` (src/cli/oci.c parses the command line). Each returns the exit
 * status of the command (0, or 1 after oci_err() said why). The lifecycle is
 * runtime-spec runtime.md's: create leaves the container's process waiting
 * before the program's first instruction, start lets it run, kill signals it,
 * delete removes a stopped container.
 */
#ifndef KILN_OCI_OCI_H
#define KILN_OCI_OCI_H

#include <stdbool.h>

#define OCI_DEFAULT_ROOT "/run/kiln-runc"
#define OCI_RUNTIME_VERSION "0.1.0"
#define OCI_SPEC_VERSION "1.1.0"

struct oci_create_opts {
    const char *id, *bundle, *pid_file, *console_socket;
};

struct oci_exec_opts {
    const char *id, *process_file, *pid_file, *console_socket, *cwd, *user;
    char **args; /* when no --process: the command */
    char **env;  /* --env NAME=VALUE, added to the container's */
    bool detach, tty, ignore_paused;
};

int oci_create(const char *root, const struct oci_create_opts *o);
/* runc run: create + start, then (unless detach) wait and delete (unless keep); the program's status. */
int oci_run(const char *root, const struct oci_create_opts *o, bool detach, bool keep);
int oci_start(const char *root, const char *id);
int oci_state(const char *root, const char *id);
int oci_kill(const char *root, const char *id, int sig, bool all);
int oci_delete(const char *root, const char *id, bool force);
int oci_ps(const char *root, const char *id, bool json);
int oci_pause(const char *root, const char *id, bool pause);
int oci_list(const char *root, bool json, bool quiet);
int oci_features(void);
int oci_exec(const char *root, const struct oci_exec_opts *o);

struct oci_spec;
/* Reads and parses a config.json: 0, or 1 after oci_err() said why. */
int oci_load_spec(const char *path, struct oci_spec *s);

/* "KILL", "SIGKILL", "sigkill" or "9": the signal number, or -1. */
int oci_signal_parse(const char *s);

/* The system-VM kind (annotation run.kiln.vm=system): not wired yet, refused with a clear error. */
int oci_system_create(const char *root, const struct oci_create_opts *o);

#endif
