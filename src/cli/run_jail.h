/* `kiln run`'s side of the jail (src/jail/jail.h, docs/jail.md). */
#ifndef KILN_CLI_RUN_JAIL_H
#define KILN_CLI_RUN_JAIL_H

#include <stdbool.h>

#include "jail/jail.h"
#include "machine/board.h"

/* Long-only options of kiln run for the jail (outside the range of short option letters). */
enum { OPT_USER = 0x100, OPT_NO_JAIL, OPT_NO_SECCOMP };

/*
 * Fills in what the jail must leave the VM, hooks it into cfg (lockdown, hart_enter)
 * and enters the namespaces: call once the options are parsed, before board_run.
 * 0, or -1 with a message printed.
 */
int run_jail_setup(struct jail *j, struct board_config *cfg, bool user_given);

#endif
