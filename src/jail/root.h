/* Namespaces and the minimal root of a jailed VM process (root only; see jail.h). */
#ifndef KILN_JAIL_ROOT_H
#define KILN_JAIL_ROOT_H

#include <stdbool.h>
#include <stddef.h>

#define ROOT_MAX_KEEP 8

/* New mount (private), IPC and UTS namespaces, and a network one if new_net. 0 or -1 + err. */
int root_unshare(bool new_net, char *err, size_t errlen);
/* pivot_root into an empty read-only tmpfs holding keep[] (read-only, same paths) and
 * /proc/self, or with fresh_proc a new read-only procfs of the caller's pid namespace at
 * /proc. Call inside root_unshare's namespaces. 0 or -1 + err. */
int root_enter(const char *const *keep, unsigned nkeep, bool fresh_proc, char *err, size_t errlen);

#endif
