/*
 * An OCI bundle's config.json (runtime-spec config.md, config-linux.md) as
 * kiln's OCI runtime understands it. The parser checks every field it reads
 * for its type and value; what a process VM cannot honour is only noted
 * (oci_debug), what is malformed or unknown at the top level is refused with
 * a message naming the field.
 */
#ifndef KILN_OCI_SPEC_H
#define KILN_OCI_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OCI_MAX_RLIMITS 16

/* Which kind of VM runs the container (annotation run.kiln.vm, or the spec's "vm" section). */
enum oci_vm_kind {
    OCI_VM_PROCESS, /* a `kiln exec` process VM whose root is the bundle's rootfs */
    OCI_VM_SYSTEM,  /* a system VM booting a kernel (not wired yet: refused at create) */
};

/* Network: none given (the host's), a new empty namespace, or the engine's namespace at a path. */
enum oci_net {
    OCI_NET_HOST,
    OCI_NET_NEW,
    OCI_NET_PATH,
};

struct oci_rlimit {
    int resource; /* RLIMIT_* */
    uint64_t soft, hard;
};

/* config.md "POSIX-platform Hooks": run by the runtime on the host, the state JSON on stdin. */
enum oci_hook_kind {
    OCI_HOOK_PRESTART,
    OCI_HOOK_CREATE_RUNTIME,
    OCI_HOOK_CREATE_CONTAINER, /* in the container: not run by a process VM */
    OCI_HOOK_START_CONTAINER,  /* likewise */
    OCI_HOOK_POSTSTART,
    OCI_HOOK_POSTSTOP,
    OCI_HOOK_KINDS,
};

struct oci_hook {
    char *path;  /* absolute */
    char **args; /* NULL-terminated; NULL when not given */
    char **env;  /* NULL-terminated; NULL when not given */
    int timeout; /* seconds, 0 = none */
};

struct oci_hooks {
    struct oci_hook *h;
    size_t n;
};

struct oci_mount {
    char *dest;
    char *src;  /* NULL when not given */
    char *type; /* NULL when not given */
    bool bind;  /* type "bind" or option bind/rbind */
    bool ro;
};

/* config.md "process" (also the whole of `exec --process F`). */
struct oci_process {
    bool terminal;
    unsigned cons_rows, cons_cols;
    uint32_t uid, gid;
    char **args; /* NULL-terminated, at least one */
    char **env;  /* NULL-terminated */
    char *cwd;   /* absolute */
    struct oci_rlimit rlimits[OCI_MAX_RLIMITS];
    unsigned nrlimits;
    bool has_oom_score_adj;
    int oom_score_adj;
};

struct oci_spec {
    char *oci_version;
    bool has_process;
    struct oci_process proc;
    char *root_path; /* as written: relative to the bundle or absolute */
    bool root_ro;
    char *hostname;
    struct oci_mount *mounts;
    size_t nmounts;
    char *annotations; /* the object as JSON text, "{}" when none */
    enum oci_vm_kind vm_kind;
    enum oci_net net;
    char *netns_path;
    uint64_t mem_limit; /* bytes, 0 = none */
    int64_t pids_limit; /* 0 = none */
    struct oci_hooks hooks[OCI_HOOK_KINDS];
};

/*
 * Parses config.json text. 0, or -EINVAL with a one-line reason in err
 * ("config.json: process.args: ..."). On failure s holds nothing to free.
 */
int oci_spec_parse(const char *text, size_t len, struct oci_spec *s, char *err, size_t errlen);
/* Parses a process object on its own (runc exec --process F). Same contract. */
int oci_process_parse(const char *text, size_t len, struct oci_process *p, char *err, size_t errlen);
void oci_spec_free(struct oci_spec *s);
void oci_process_free(struct oci_process *p);

#endif
