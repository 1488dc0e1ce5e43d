/*
 * Checks the kiln run flags of a VM definition (the API's `args`) when it is
 * created, so a definition kiln run would refuse is never stored: every flag
 * known, every value well-formed, every file absolute and there.
 */
#ifndef KILN_DAEMON_RUNARGS_H
#define KILN_DAEMON_RUNARGS_H

#include <stddef.h>

/* 0, or -1 with a one-line reason in err. */
int runargs_check(char *const *args, int nargs, char *err, size_t errlen);

#endif
