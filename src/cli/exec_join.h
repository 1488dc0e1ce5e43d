/*
 * Processes joining a running process VM (`kiln exec --control-socket PATH`,
 * docs/oci.md "exec", docs/process-vm.md): the supervisor listens on a unix
 * socket bound before the jail, and for each request (src/oci/ctl_req.h)
 * forks the new program the way it forked the first one: a member of the
 * same pid table (a VM pid, counted by --procs and --mem), the same
 * mappings, network and jail. It answers with the VM pid, relays the
 * caller's signals, and sends the exit status when the process ends.
 */
#ifndef KILN_CLI_EXEC_JOIN_H
#define KILN_CLI_EXEC_JOIN_H

#include <poll.h>
#include <sys/types.h>

#include "user/paths.h"
#include "user/proc.h"

struct exec_join;

/*
 * Shared with the first program (exec.c): creates the process from cfg and
 * adopts fds 0-2 as its stdio. On failure says why on stderr (and, when
 * report_fd >= 0, writes the message there) and _exits 126, 127 or 1.
 */
struct proc *exec_program_load(const struct proc_config *cfg, struct mounts *mt, int report_fd);
/* Runs the loaded process; never returns (every exit is a host exit). */
void exec_program_run(struct proc *p) __attribute__((noreturn));

/* Binds the socket (before the jail, before the first program's fork). NULL with a message. */
struct exec_join *exec_join_open(const char *path, const struct proc_config *cfg, struct mounts *mt);
/* In the first program's child: drops the listening socket. */
void exec_join_forget(struct exec_join *j);
/* The first program's host pid (joining processes join its host process group). */
void exec_join_set_first(struct exec_join *j, pid_t first);
/* Fills at most max pollfds; returns how many. */
int exec_join_pollfds(struct exec_join *j, struct pollfd *pf, int max);
/* After poll: accepts, answers requests, relays signals, reaps. */
void exec_join_handle(struct exec_join *j, const struct pollfd *pf, int n);
/* The VM is ending: no more requests; every joined process is killed. */
void exec_join_end(struct exec_join *j);

#endif
