/*
 * Messages of kiln's OCI runtime. Errors go to stderr and, with the global
 * --log FILE, to that file too (text, or one JSON object a line with
 * --log-format json: {"level","msg","time"}, what containerd's shim reads back
 * to report why a runtime call failed). Debug lines (fields a process VM
 * cannot honour, each step) appear only with --debug.
 */
#ifndef KILN_OCI_LOG_H
#define KILN_OCI_LOG_H

#include <stdbool.h>

/* path NULL: stderr only. Never fails: an unopenable log file is reported once on stderr. */
void oci_log_init(const char *path, bool json, bool debug);
bool oci_log_debugging(void);
void oci_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void oci_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void oci_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
