#ifndef KILN_CLI_CLI_H
#define KILN_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Subcommands: argv[0] is the subcommand name. Return kiln's exit status. */
int cli_run(int argc, char **argv);
int cli_daemon(int argc, char **argv);
int cli_web(int argc, char **argv);
int cli_monitor(int argc, char **argv);
/* create, ls, start, stop, kill, pause, resume, info, console, log, set, rm */
int cli_vmctl(int argc, char **argv);
/* Daemon state: $KILN_STATE_DIR, else $XDG_DATA_HOME/kiln or ~/.local/share/kiln. */
const char *cli_state_dir(void);
int cli_exec(int argc, char **argv);
/* kiln oci ... / kiln-runc ...: the OCI runtime (src/cli/oci.c); prog names it in messages. */
int cli_oci(int argc, char **argv, const char *prog);
/* kiln img create|info|convert (src/cli/img.c) */
int cli_img(int argc, char **argv);
/* snapshot --control SOCK DIR; restore DIR; clone DIR (docs/snapshots.md) */
int cli_snapshot(int argc, char **argv);
int cli_restore(int argc, char **argv);
int cli_migrate(int argc, char **argv);

/* Parses "256M", "2G", "65536", "64K" into bytes. Returns false on a malformed or zero size. */
bool cli_parse_size(const char *s, uint64_t *out);
/*
 * Parses a whole decimal number in [min, max]: no sign, no spaces, no suffix.
 * 0, -EINVAL (not a number) or -ERANGE (outside the range).
 */
int cli_parse_uint(const char *s, unsigned long long min, unsigned long long max,
                   unsigned long long *out);
/* For a size given as a small plain number ("256"): "; did you mean 256M?", else "". */
const char *cli_size_hint(const char *s, char *buf, size_t len);
/*
 * An explicit $KILN_STATE_DIR whose parent does not exist is a typo, not a
 * request for a new daemon: 0, or -1 after printing why.
 */
int cli_state_dir_check(const char *prog);

/* Directory of built guest artifacts: $KILN_CACHE or ~/.cache/kiln. */
const char *cli_cache_dir(void);

#endif
