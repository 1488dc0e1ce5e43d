/*
 * libFuzzer target for kiln's OCI config.json parser (src/oci/spec.c): any
 * byte string is either refused with a message or parsed into a spec whose
 * invariants hold (a non-empty program, absolute cwd and mount destinations,
 * NAME=VALUE environment, rlimits within soft <= hard, annotations that are a
 * JSON object), and everything is freed (LeakSanitizer). The same bytes also
 * go through the `exec --process` parser. Random bytes are rarely JSON, so an
 * input starting with '!' instead drives a generator: a JSON document built
 * from the spec's own key and value words, with the fuzzer choosing shapes,
 * types and numbers, which reaches every field check. Built by tests/fuzz/build.sh.
 */
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oci/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const words[] = {
    "ociVersion", "1.0.2", "1.1.0", "process", "root", "path", "rootfs", "readonly", "args", "sh",
    "env", "PATH=/bin", "A", "cwd", "/", "/w", "tmp", "user", "uid", "gid", "terminal",
    "consoleSize", "height", "width", "rlimits", "type", "RLIMIT_NOFILE", "RLIMIT_NPROC", "soft",
    "hard", "oomScoreAdj", "mounts", "destination", "source", "options", "bind", "rbind", "ro",
    "rw", "tmpfs", "proc", "linux", "namespaces", "network", "pid", "/run/netns/x", "resources",
    "memory", "limit", "pids", "cpu", "quota", "period", "annotations", "run.kiln.vm", "system",
    "vm", "hooks", "hostname", "windows", "noNewPrivileges", "capabilities", "prestart",
    "createRuntime", "poststop", "timeout", "/bin/true", "",
};
#define NWORDS (sizeof(words) / sizeof(words[0]))

struct gen {
    const uint8_t *p;
    size_t n;
};

static unsigned next(struct gen *g)
{
    if (!g->n)
        return 0;
    g->n--;
    return *g->p++;
}

static json_object *gen_value(struct gen *g, int depth)
{
    unsigned b = next(g);
    switch (depth > 5 ? b % 4 : b % 7) {
    case 0: return NULL;
    case 1: return json_object_new_boolean(b & 8);
    case 2: {
        uint64_t v = 0;
        for (int i = 0, k = (int)(next(g) % 9); i < k; i++)
            v = (v << 8) | next(g);
        if (b & 32)
            return json_object_new_uint64(v);
        return json_object_new_int64(b & 16 ? -(int64_t)(v >> 1) : (int64_t)(v >> 1));
    }
    case 3: return json_object_new_string(words[next(g) % NWORDS]);
    case 4: {
        json_object *a = json_object_new_array();
        for (unsigned i = 0, k = next(g) % 5; i < k; i++)
            json_object_array_add(a, gen_value(g, depth + 1));
        return a;
    }
    default: {
        json_object *o = json_object_new_object();
        for (unsigned i = 0, k = next(g) % 7; i < k; i++)
            json_object_object_add(o, words[next(g) % NWORDS], gen_value(g, depth + 1));
        return o;
    }
    }
}

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
    json_object *doc = NULL;
    if (size && data[0] == '!') {
        struct gen g = {data + 1, size - 1};
        doc = json_object_new_object();
        for (unsigned i = 0, k = next(&g) % 12; i < k; i++)
            json_object_object_add(doc, words[next(&g) % NWORDS], gen_value(&g, 1));
        const char *text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN);
        data = (const uint8_t *)text;
        size = strlen(text);
    }
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
    json_object_put(doc);
    return 0;
}
