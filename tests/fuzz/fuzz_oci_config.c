/*
 * libFuzzer target for kiln's OCI config.json parser (src/oci/spec.c): any
 * byte string is either refused with a message or parsed into a spec whose
 * invariants hold (a non-empty program, absolute cwd and mount destinations,
 * NAME=VALUE environment, rlimits within soft <= hard, annotations that are a
 * JSON object), and everything is freed (LeakSanitizer). The same bytes also
 * go through the `exec --process` parser. Built by tests/fuzz/build.sh.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oci/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_process(const struct oci_process *p)
{
    if (!p->args || !p->args[0] || !p->args[0][0] || !p->cwd || p->cwd[0] != '/' || !p->env)
        abort();
    for (size_t i = 0; p->env[i]; i++)
        if (!strchr(p->env[i], '=') || p->env[i][0] == '=')
            abort();
    if (p->nrlimits > OCI_MAX_RLIMITS)
        abort();
    for (unsigned i = 0; i < p->nrlimits; i++)
        if (p->rlimits[i].soft > p->rlimits[i].hard)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    struct oci_spec s;
    if (oci_spec_parse((const char *)data, size, &s, err, sizeof(err)) == 0) {
        if (!s.oci_version || !s.root_path || !s.root_path[0] || !s.annotations || s.annotations[0] != '{')
            abort();
        if (s.has_process)
            check_process(&s.proc);
        for (size_t i = 0; i < s.nmounts; i++)
            if (!s.mounts[i].dest || s.mounts[i].dest[0] != '/' || (s.mounts[i].bind && !s.mounts[i].src))
                abort();
        if ((s.net == OCI_NET_PATH) != (s.netns_path != NULL))
            abort();
        oci_spec_free(&s);
    } else if (strncmp(err, "config.json: ", 13)) {
        abort(); /* every refusal says why */
    }
    struct oci_process p;
    if (oci_process_parse((const char *)data, size, &p, err, sizeof(err)) == 0) {
        check_process(&p);
        oci_process_free(&p);
    }
    return 0;
}
