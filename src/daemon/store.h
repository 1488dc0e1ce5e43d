/* SQLite persistence of VM definitions and their last known state. */
#ifndef KILN_DAEMON_STORE_H
#define KILN_DAEMON_STORE_H

#include "daemon/daemon.h"

struct store;

int store_open(const char *path, struct store **out);
void store_close(struct store *s);
/* Inserts or replaces the row for v->name. */
int store_save(struct store *s, const struct vm_rec *v);
int store_delete(struct store *s, const char *name);
/* Loads every VM into a newly allocated list (*out, linked by next). */
int store_load(struct store *s, struct vm_rec **out);

#endif
