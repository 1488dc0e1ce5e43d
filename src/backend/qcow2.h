/* qcow2 image format driver (qcow2.c); opened through disk_open(), created here. */
#ifndef KILN_BACKEND_QCOW2_H
#define KILN_BACKEND_QCOW2_H

#include <stdint.h>

/*
 * Writes a new, empty qcow2 v3 image of size bytes (64 KiB clusters, 16-bit
 * refcounts), over backing (stored as given, NULL for none) of format
 * backing_fmt (NULL: not recorded). 0 or -1 with *err set.
 */
int qcow2_create(const char *path, uint64_t size, const char *backing, const char *backing_fmt,
                 char **err);

#endif
