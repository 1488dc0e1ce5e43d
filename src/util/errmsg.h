/*
 * Error text for callers that pass a buffer: formats into err (when errlen)
 * and returns rc, so a failure path is one line: return errmsg(err, n, -EINVAL, "...").
 */
#ifndef KILN_UTIL_ERRMSG_H
#define KILN_UTIL_ERRMSG_H

#include <stddef.h>

int errmsg(char *err, size_t errlen, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
