/* Client side of the daemon's API for the VM commands (src/cli/vmapi.c). */
#ifndef KILN_CLI_VMAPI_H
#define KILN_CLI_VMAPI_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "util/sockio.h"

struct resp {
    int status;
    char *data; /* whole response */
    size_t len;
    char *body; /* into data */
    size_t blen;
};

/* A connected API socket (the daemon started if needed), or -errno. */
int vmapi_connect(void);
/* Prints why the daemon cannot be reached; returns the exit status (1). */
int vmapi_connect_error(int e);
/* One request, one connection. 0, or a CLI exit status after printing why. */
int vmapi_request(const char *method, const char *path, json_object *body, struct resp *r);
/* A JSON answer; on a 4xx/5xx prints its error, sets *rc and returns NULL. */
json_object *vmapi_json(const char *method, const char *path, json_object *body, int *rc);
/* The "error" text of an answer body, or NULL. Valid until the next call. */
const char *vmapi_error_text(const char *body, size_t len);

const char *jget_str(json_object *o, const char *k);
int64_t jget_int(json_object *o, const char *k, int64_t def);
void fmt_bytes(uint64_t b, char *out, size_t len);
void fmt_uptime(int64_t s, char *out, size_t len);
void vm_path(char *out, size_t len, const char *name, const char *action);

/* The VM commands (vmctl.c, vmconsole.c, vminfo.c). */
int cli_console(const char *name);
int cli_info(const char *name, bool json);
int cli_ls(int argc, char **argv);
/* vmsnap.c: snapshot/restore/clone of daemon VMs. */
bool cli_vm_snap_wanted(int argc, char **argv);
int cli_vm_snapshot(int argc, char **argv);
int cli_vm_restore(int argc, char **argv);
int cli_vm_clone(int argc, char **argv);

#endif
