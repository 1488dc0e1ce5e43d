/* `kiln run`'s pid namespace and its keeper (pidns.c, docs/jail.md). */
#ifndef KILN_JAIL_PIDNS_H
#define KILN_JAIL_PIDNS_H

#include <stdbool.h>
#include <sys/types.h>

/* sigqueue value of a signal the keeper relays (the board tells it from a direct one). */
#define PIDNS_RELAY_MAGIC 0x6b696c6e /* "kiln" */

/* true when kiln is init of its pid namespace already (the daemon made it). */
bool pidns_is_init(void);

/*
 * As root, with one thread: a new pid namespace; kiln goes on in the child, pid 1 there.
 * The parent becomes the keeper and never returns (it ends as the VM ends); it closes
 * cleaner_fd and waits for the socket cleaner (0: none) first. 0 in the VM, or -1.
 */
int pidns_split(int cleaner_fd, pid_t cleaner, bool no_seccomp);

/* In the VM after a change of credentials: die with the keeper again (pidns.c). */
void pidns_rearm(void);

/* Init of a pid namespace the daemon made: default-ending handlers (pidns.c). */
void pidns_init_signals(void);

/* true for a signal (si_code, si_int) the keeper relayed. */
bool pidns_relayed(int code, int value);

#endif
