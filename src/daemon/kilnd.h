/*
 * kilnd internals shared by daemon.c (process, sockets, HTTP plumbing),
 * supervise.c (VM lifecycle) and routes.c (the API's requests). Not an API.
 */
#ifndef KILN_DAEMON_KILND_H
#define KILN_DAEMON_KILND_H

#include <json-c/json.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "api/http.h"
#include "daemon/cgroup.h"
#include "daemon/daemon.h"
#include "util/sockio.h"

#define SUPERVISE_MS 200
#define START_WAIT_MS 5000
#define START_READY_MS 10000 /* kiln run loading its images */
#define START_SETTLE_MS 300
#define STOP_TIMEOUT_S 10
#define KILL_WAIT_MS 5000
#define VM_MIN_MEM (2ull << 20)
#define VM_MAX_MEM (64ull << 30)
/* The smallest guest PATCH mem may balloon a running VM down to (kiln run's own limit). */
#define BALLOON_MIN_MEM (16ull << 20)
#define VM_MAX_CPUS 32 /* VM_MAX_HARTS of kiln run */
#define IO_TIMEOUT_S 10

struct daemon {
    char dir[PATH_MAX];
    char sock[PATH_MAX];
    uid_t uid;
    int lfd;
    struct store *store;
    struct cgroups cg;
    pthread_mutex_t lock;
    struct vm_rec *vms;
};

struct conn {
    struct daemon *d;
    int fd;
};

/* A handler's answer: status and JSON body (owned), or a raw body. */
struct reply {
    int status;
    json_object *json;
    char *raw;
    size_t rawlen;
    const char *allow; /* 405: the methods the path takes (RFC 9110 §15.5.6) */
};

/* daemon.c: helpers */
int64_t kilnd_now(void);
void kilnd_sleep_ms(int ms);
/* Sets r to status with {"error": message}; returns status. */
int kilnd_err(struct reply *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
struct vm_rec *kilnd_find_vm(struct daemon *d, const char *name);
void kilnd_pathf(char *out, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void kilnd_vm_dir(const struct daemon *d, const char *name, char *out, size_t len);
int kilnd_connect_unix(const char *path);

/* supervise.c: the VM lifecycle (callers hold d->lock) */
void kilnd_reap_children(void);
void kilnd_vm_finalize(struct daemon *d, struct vm_rec *v);
void kilnd_supervise_locked(struct daemon *d);
int kilnd_vm_control(struct daemon *d, const struct vm_rec *v, const char *req, int timeout_ms,
                     json_object **out);
void kilnd_start(struct daemon *d, struct reply *r, struct vm_rec *v);
void kilnd_signal(struct daemon *d, struct reply *r, struct vm_rec *v, const char *op);
void kilnd_stop(struct daemon *d, struct reply *r, struct vm_rec *v, bool force, int timeout_s);

/* routes.c: the API */
json_object *kilnd_vm_json(struct daemon *d, struct vm_rec *v);
bool kilnd_valid_name(const char *s);
/* The request body as one JSON object (no duplicate keys), or NULL with r set to a 400. */
json_object *kilnd_parse_body(struct reply *r, const char *body, size_t len);

/* snapshots.c: snapshot, restore and clone of daemon VMs (docs/snapshots.md). Lock held. */
/* The first argument of a VM restored from a snapshot: its args are RESTORE_ARG DIR [--clone]. */
#define RESTORE_ARG "--restore-from"
bool kilnd_is_restore(const struct vm_rec *v);
void kilnd_snapshot(struct daemon *d, struct reply *r, struct vm_rec *v, const char *body,
                    size_t len);
void kilnd_restore(struct daemon *d, struct reply *r, const char *body, size_t len);
void kilnd_clone(struct daemon *d, struct reply *r, struct vm_rec *v, const char *body,
                 size_t len);
/* migrate.c: live migration (docs/migration.md). Lock held for kilnd_migrate. */
void kilnd_migrate(struct daemon *d, struct reply *r, struct vm_rec *v, const char *body, size_t len);
/* Starts the listener thread (--migrate-listen ADDR:PORT --migrate-token-file F). 0 or -1 (logged). */
int kilnd_migrate_listen(struct daemon *d, const char *addr, const char *token_file);
/* routes.c: POST /v1/vms (a migration's destination defines its VM the same way). Lock held. */
void kilnd_create(struct daemon *d, struct reply *r, const char *body, size_t len);

/*
 * Routes one request. For a console upgrade, returns the monitor's socket in
 * *console_fd (and r->status 101) for the caller to proxy.
 */
void kilnd_route(struct daemon *d, const struct http_request *q, const char *body, size_t blen,
                 struct reply *r, int *console_fd);

#endif
