/*
 * OCI hooks (config.md "POSIX-platform Hooks"): programs of the host the runtime runs
 * at points of the lifecycle, with the container's state JSON on stdin. kiln runs
 * prestart and createRuntime at create (a failure fails create), poststart after start
 * and poststop at delete (a failure is a warning, as the spec asks). createContainer and
 * startContainer belong inside the container's namespaces, which a process VM has not.
 */
#ifndef KILN_OCI_HOOKS_H
#define KILN_OCI_HOOKS_H

#include <stddef.h>

#include "oci/spec.h"

/* Runs the hooks in order; the first failure stops them: -errno with a message in err. */
int oci_hooks_run(const struct oci_hooks *hs, const char *kind, const char *state_json, char *err,
                  size_t errlen);

#endif
