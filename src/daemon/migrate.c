/*
 * Live migration between two daemons (docs/migration.md).
 *
 * Destination: `kiln daemon --migrate-listen ADDR:PORT --migrate-token-file F`
 * accepts TCP connections on a thread of its own; each one is authenticated
 * (migrate/auth.c), may bring disk copies (--copy-disks), then the VM's
 * definition; the VM is created and started as `kiln run ... --incoming`, and
 * the connected socket is handed to it over its control socket (SCM_RIGHTS):
 * the jailed VM process reads RAM and state from it and confirms to the source.
 *
 * Source: POST /v1/vms/NAME/migrate connects, authenticates, sends the
 * definition, and hands its socket to the VM process the same way; once the
 * destination runs the VM, the source VM is stopped and forgotten here.
 */
#define _GNU_SOURCE
#include "daemon/kilnd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "backend/qcow2.h"
#include "daemon/procinfo.h"
#include "daemon/store.h"
#include "migrate/migrate.h"
#include "util/log.h"

#define MIG_IO_MS 10000
#define MIG_CONNECT_MS 10000
#define MIG_MAX_INCOMING 4
/* A VM process streaming or loading answers only at the end: bounded only by this. */
#define MIG_VM_WAIT_MS (3600 * 1000)

struct mig_listener {
    struct daemon *d;
    int lfd;
    uint8_t token[MIG_TOKEN_MAX];
    size_t toklen;
    int active; /* connections being served (atomic) */
};

struct mig_incoming {
    struct mig_listener *l;
    int fd;
    char peer[64];
};

/* ---- helpers ---- */

/* Splits "HOST:PORT" or "[V6]:PORT". 0 or -1. */
static int split_hostport(const char *s, char *host, size_t hlen, char *port, size_t plen)
{
    const char *colon;
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':' || (size_t)(end - s - 1) >= hlen)
            return -1;
        memcpy(host, s + 1, (size_t)(end - s - 1));
        host[end - s - 1] = 0;
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || (size_t)(colon - s) >= hlen || colon == s)
            return -1;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = 0;
    }
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || p < 1 || p > 65535)
        return -1;
    snprintf(port, plen, "%ld", p);
    return 0;
}

/* Sends one control line with fd attached and waits up to timeout_ms for the one-line answer. */
static int ctl_with_fd(struct daemon *d, const struct vm_rec *v, const char *line, int fd,
                       int timeout_ms, json_object **out, char *err, size_t errlen)
{
    char dir[PATH_MAX], path[PATH_MAX + 16];
    *out = NULL;
    kilnd_vm_dir(d, v->name, dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/control.sock", dir);
    int s = kilnd_connect_unix(path);
    if (s < 0) {
        snprintf(err, errlen, "the VM's control socket: %s", strerror(-s));
        return -1;
    }
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } cm;
    memset(&cm, 0, sizeof(cm));
    struct iovec iov = {.iov_base = (void *)line, .iov_len = strlen(line)};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf,
                        .msg_controllen = sizeof(cm.buf)};
    struct cmsghdr *h = CMSG_FIRSTHDR(&mh);
    h->cmsg_level = SOL_SOCKET;
    h->cmsg_type = SCM_RIGHTS;
    h->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(h), &fd, sizeof(int));
    ssize_t w;
    do
        w = sendmsg(s, &mh, MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    if (w != (ssize_t)iov.iov_len) {
        snprintf(err, errlen, "sending to the VM: %s", w < 0 ? strerror(errno) : "short write");
        close(s);
        return -1;
    }
    char buf[4096];
    size_t got = 0;
    int waited = 0;
    while (got < sizeof(buf) - 1 && !memchr(buf, '\n', got)) {
        struct pollfd p = {.fd = s, .events = POLLIN};
        int n = poll(&p, 1, 1000);
        if (n == 0) {
            if ((waited += 1000) >= timeout_ms)
                break;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        ssize_t k = n > 0 ? read(s, buf + got, sizeof(buf) - 1 - got) : -1;
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    close(s);
    buf[got] = 0;
    if (!got || !(*out = json_tokener_parse(buf))) {
        snprintf(err, errlen, "no answer from the VM process (it ended?)");
        return -1;
    }
    json_object *x;
    if (json_object_object_get_ex(*out, "error", &x)) {
        snprintf(err, errlen, "%s", json_object_get_string(x));
        return -1;
    }
    return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

/* Forgets v (it ended): its store row, directory and record. Lock held. */
static void forget_vm(struct daemon *d, struct vm_rec *v)
{
    char dir[PATH_MAX];
    store_delete(d->store, v->name);
    kilnd_vm_dir(d, v->name, dir, sizeof(dir));
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    cg_vm_remove(&d->cg, v->name);
    for (struct vm_rec **p = &d->vms; *p; p = &(*p)->next) {
        if (*p == v) {
            *p = v->next;
            break;
        }
    }
    vm_rec_free(v);
}

/* Ends a VM process at once and waits for its monitor (lock held; released while waiting). */
static void kill_vm(struct daemon *d, struct vm_rec *v)
{
    struct reply r = {0};
    kilnd_stop(d, &r, v, true, 0);
    json_object_put(r.json);
}

/* ---- destination ---- */

static bool is_disk_flag(const char *a)
{
    return !strcmp(a, "--disk") || !strcmp(a, "--drive");
}

/* The path part of a --disk spec (up to the first ','), into out. */
static void spec_path(const char *spec, char *out, size_t len)
{
    size_t n = strcspn(spec, ",");
    snprintf(out, len, "%.*s", (int)(n < len ? n : len - 1), spec);
}

static bool chunk_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

#define MIG_DISK_MAX (1ull << 40)

/*
 * --copy-disks, destination: disk i of the stream into path (created, never an existing
 * file), every chunk checked to lie inside the announced size. 0, or -1 with c->err.
 */
static int receive_disk(struct mig_conn *c, unsigned want, const char *path, uint8_t *buf)
{
    uint32_t t, n;
    if (mig_recv(c, &t, buf, MIG_CONFIG_MAX, &n))
        return -1;
    if (t != MIG_DISK || n != 12 || (buf[0] | buf[1] << 8 | buf[2] << 16 | (uint32_t)buf[3] << 24) != want) {
        snprintf(c->err, sizeof(c->err), "expected disk %u of the VM", want);
        return -1;
    }
    uint64_t size = 0;
    for (int i = 7; i >= 0; i--)
        size = size << 8 | buf[4 + i];
    if (size > MIG_DISK_MAX) {
        snprintf(c->err, sizeof(c->err), "disk %u: %llu bytes is too large", want, (unsigned long long)size);
        return -1;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
        snprintf(c->err, sizeof(c->err), "%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    uint8_t *data = malloc(8 + MIG_DISK_CHUNK);
    int ret = -1;
    for (;;) {
        if (!data) {
            snprintf(c->err, sizeof(c->err), "out of memory");
            break;
        }
        if (mig_recv(c, &t, data, 8 + MIG_DISK_CHUNK, &n))
            break;
        uint64_t off = 0;
        for (int i = 7; i >= 0 && n >= 8; i--)
            off = off << 8 | data[i];
        if (t != MIG_DISK_DATA || n < 8 || off > size || n - 8 > size - off) {
            snprintf(c->err, sizeof(c->err), "disk %u: a chunk outside the disk", want);
            break;
        }
        if (n == 8 && off == size) {
            ret = fsync(fd) < 0 ? -1 : 0;
            if (ret)
                snprintf(c->err, sizeof(c->err), "%s: %s", path, strerror(errno));
            break;
        }
        if (pwrite(fd, data + 8, n - 8, (off_t)off) != (ssize_t)(n - 8)) {
            snprintf(c->err, sizeof(c->err), "%s: %s", path, strerror(errno));
            break;
        }
    }
    free(data);
    close(fd);
    if (ret)
        unlink(path);
    return ret;
}

/* Receives the copies of the definition's disks into STATE/disks/NAME-diskI.img and points the
 * definition's --disk specs at them. 0, or -1 with err (files removed). */
struct disk_copies {
    int n;
    char paths[8][PATH_MAX + 128];
};

static void copies_remove(struct disk_copies *dc)
{
    while (dc->n > 0)
        unlink(dc->paths[--dc->n]);
}

/* A qcow2 copy's relative backing name pointed next to the source's image: it must point
 * there still (the base image at the same path on both hosts), not into STATE/disks. */
static int relink_backing(const char *copy, const char *spec, char *err, size_t errlen)
{
    size_t plen = strcspn(spec, ",");
    if (spec[0] != '/' || strstr(spec + plen, "format=raw") || plen >= PATH_MAX)
        return 0;
    char origin[PATH_MAX];
    snprintf(origin, sizeof(origin), "%.*s", (int)plen, spec);
    char *why = NULL;
    if (qcow2_absolute_backing(copy, origin, &why)) {
        snprintf(err, errlen, "copying the disks: %s", why ? why : "cannot rewrite a backing file name");
        free(why);
        return -1;
    }
    return 0;
}

static int receive_disks(struct daemon *d, struct mig_conn *c, json_object *vmdef, const char *name,
                         int64_t ndisks, uint8_t *buf, struct disk_copies *dc, char *err, size_t errlen)
{
    json_object *args;
    char dir[PATH_MAX];
    char (*paths)[PATH_MAX + 128] = dc->paths;
    int copied = 0;
    if (!json_object_object_get_ex(vmdef, "args", &args) || !json_object_is_type(args, json_type_array)) {
        snprintf(err, errlen, "malformed VM definition");
        return -1;
    }
    size_t na = json_object_array_length(args);
    int64_t found = 0;
    for (size_t i = 0; i + 1 < na; i++)
        found += is_disk_flag(json_object_get_string(json_object_array_get_idx(args, i)));
    if (ndisks != found || ndisks > 8) {
        snprintf(err, errlen, "the definition has %lld disks, the stream announces %lld", (long long)found,
                 (long long)ndisks);
        return -1;
    }
    kilnd_pathf(dir, sizeof(dir), "%s/disks", d->dir);
    if (mkdir(dir, 0700) && errno != EEXIST) {
        snprintf(err, errlen, "%.900s: %s", dir, strerror(errno));
        return -1;
    }
    for (size_t i = 0; i + 1 < na; i++) {
        if (!is_disk_flag(json_object_get_string(json_object_array_get_idx(args, i))))
            continue;
        snprintf(paths[copied], sizeof(paths[copied]), "%s/%s-%lld-disk%d.img", dir, name,
                 (long long)kilnd_now(), copied);
        if (receive_disk(c, (unsigned)copied, paths[copied], buf)) {
            snprintf(err, errlen, "copying the disks: %s", c->err);
            goto fail;
        }
        dc->n = copied + 1;
        const char *spec = json_object_get_string(json_object_array_get_idx(args, i + 1));
        if (relink_backing(paths[copied], spec, err, errlen))
            goto fail;
        char *ns = NULL;
        if (asprintf(&ns, "%s%s", paths[copied], spec + strcspn(spec, ",")) < 0) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        json_object_array_put_idx(args, i + 1, json_object_new_string(ns));
        free(ns);
        copied++;
        i++;
    }
    return 0;
fail:
    copies_remove(dc);
    return -1;
}

/* Creates and starts the incoming VM from the definition; its name in name. 0, or -1 with err. */
static int incoming_create(struct daemon *d, struct mig_conn *c, const char *cfg, size_t len, char *name,
                           size_t nlen, uint8_t *buf, struct disk_copies *dc, char *err, size_t errlen)
{
    json_object *o = json_tokener_parse(cfg), *vmdef = NULL, *lim = NULL, *x;
    int ret = -1;
    if (!o || !json_object_object_get_ex(o, "vm", &vmdef) || !json_object_is_type(vmdef, json_type_object) ||
        !json_object_object_get_ex(vmdef, "name", &x) || !json_object_is_type(x, json_type_string)) {
        snprintf(err, errlen, "malformed VM definition");
        goto out;
    }
    snprintf(name, nlen, "%s", json_object_get_string(x));
    if (!kilnd_valid_name(name)) {
        snprintf(err, errlen, "malformed VM definition (name)");
        goto out;
    }
    pthread_mutex_lock(&d->lock);
    bool taken = kilnd_find_vm(d, name) != NULL;
    pthread_mutex_unlock(&d->lock);
    if (taken) {
        snprintf(err, errlen, "a VM named '%s' already exists here", name);
        goto out;
    }
    if (json_object_object_get_ex(o, "copy_disks", &x) &&
        receive_disks(d, c, vmdef, name, json_object_get_int64(x), buf, dc, err, errlen))
        goto out;
    const char *body = json_object_to_json_string_ext(vmdef, JSON_C_TO_STRING_PLAIN);
    pthread_mutex_lock(&d->lock);
    kilnd_supervise_locked(d);
    struct reply r = {0};
    kilnd_create(d, &r, body, strlen(body));
    struct vm_rec *v = r.status == 201 ? kilnd_find_vm(d, name) : NULL;
    if (!v) {
        json_object *e;
        snprintf(err, errlen, "cannot define VM '%s' here: %s", name,
                 r.json && json_object_object_get_ex(r.json, "error", &e) ? json_object_get_string(e) : "?");
        json_object_put(r.json);
        pthread_mutex_unlock(&d->lock);
        goto out;
    }
    json_object_put(r.json);
    if (json_object_object_get_ex(o, "limits", &lim) && json_object_is_type(lim, json_type_object)) {
        if (json_object_object_get_ex(lim, "disk_bps", &x))
            v->disk_bps = (uint64_t)json_object_get_int64(x);
        if (json_object_object_get_ex(lim, "disk_iops", &x))
            v->disk_iops = (uint64_t)json_object_get_int64(x);
        if (json_object_object_get_ex(lim, "net_bps", &x))
            v->net_bps = (uint64_t)json_object_get_int64(x);
        store_save(d->store, v);
    }
    memset(&r, 0, sizeof(r));
    v->incoming = true;
    kilnd_start(d, &r, v);
    v->incoming = false;
    if (r.status >= 400) {
        json_object *e;
        snprintf(err, errlen, "cannot start VM '%s' here: %s", name,
                 r.json && json_object_object_get_ex(r.json, "error", &e) ? json_object_get_string(e) : "?");
        v = kilnd_find_vm(d, name);
        if (v)
            forget_vm(d, v);
    } else {
        ret = 0;
    }
    json_object_put(r.json);
    pthread_mutex_unlock(&d->lock);
out:
    json_object_put(o);
    (void)len;
    return ret;
}

static void *incoming_thread(void *arg)
{
    struct mig_incoming *in = arg;
    struct mig_listener *l = in->l;
    struct daemon *d = l->d;
    struct mig_conn c;
    char name[VM_NAME_MAX + 1] = "", err[MIG_ERR_MAX + 200];
    struct disk_copies *dcp = calloc(1, sizeof(*dcp)); /* large: not on the thread's stack */
    uint8_t *buf = malloc(MIG_CONFIG_MAX + 1);
    mig_conn_init(&c, in->fd, MIG_IO_MS);
    if (!buf || !dcp) {
        mig_send_error(&c, "out of memory");
        goto out;
    }
    if (mig_auth_accept(&c, l->token, l->toklen)) {
        log_err("migrate", "connection from %s refused: %s", in->peer, c.err);
        goto out;
    }
    uint32_t t, n;
    if (mig_recv(&c, &t, buf, MIG_CONFIG_MAX, &n)) {
        log_err("migrate", "from %s: %s", in->peer, c.err);
        goto out;
    }
    if (t != MIG_CONFIG) {
        mig_send_error(&c, "expected the VM definition");
        log_err("migrate", "from %s: unexpected record %u instead of the VM definition", in->peer, t);
        goto out;
    }
    buf[n] = 0;
    /* buf is reused for the disk copies: the definition is checked before it is overwritten. */
    bool nul = memchr(buf, 0, n) != NULL;
    if (nul)
        snprintf(err, sizeof(err), "malformed VM definition");
    if (nul || incoming_create(d, &c, (const char *)buf, n, name, sizeof(name), buf, dcp, err, sizeof(err))) {
        mig_send_error(&c, err);
        log_err("migrate", "from %s: %s", in->peer, err);
        copies_remove(dcp);
        goto out;
    }
    char ok[VM_NAME_MAX + 16];
    int ol = snprintf(ok, sizeof(ok), "{\"name\":\"%s\"}", name);
    if (mig_send(&c, MIG_ACCEPT, ok, (size_t)ol, NULL, 0)) {
        snprintf(err, sizeof(err), "%s", c.err);
        goto fail_vm;
    }
    /* From here the VM process speaks to the source; this thread waits for its word. */
    pthread_mutex_lock(&d->lock);
    struct vm_rec *v = kilnd_find_vm(d, name);
    struct vm_rec copy = v ? *v : (struct vm_rec){0};
    pthread_mutex_unlock(&d->lock);
    if (!v) {
        snprintf(err, sizeof(err), "the VM was removed meanwhile");
        goto fail_vm;
    }
    json_object *ans = NULL;
    int r = ctl_with_fd(d, &copy, "{\"cmd\":\"incoming\",\"fds\":true}\n", in->fd, MIG_VM_WAIT_MS, &ans,
                        err, sizeof(err));
    if (r == 0) {
        json_object *x;
        log_err("migrate", "VM '%s' migrated in from %s: running (%lld bytes received, state loaded and "
                "resumed in %lld ms)", name, in->peer,
                json_object_object_get_ex(ans, "bytes", &x) ? (long long)json_object_get_int64(x) : -1ll,
                json_object_object_get_ex(ans, "downtime_ms", &x) ? (long long)json_object_get_int64(x) : -1ll);
        json_object_put(ans);
        goto out;
    }
    json_object_put(ans);
fail_vm:
    log_err("migrate", "incoming VM '%s' from %s failed: %s; discarding it", name, in->peer, err);
    pthread_mutex_lock(&d->lock);
    struct vm_rec *fv = kilnd_find_vm(d, name);
    if (fv) {
        kill_vm(d, fv);
        if ((fv = kilnd_find_vm(d, name)))
            forget_vm(d, fv);
    }
    pthread_mutex_unlock(&d->lock);
    copies_remove(dcp);
out:
    free(dcp);
    free(buf);
    close(in->fd);
    __atomic_fetch_sub(&l->active, 1, __ATOMIC_SEQ_CST);
    free(in);
    return NULL;
}

static void *listen_thread(void *arg)
{
    struct mig_listener *l = arg;
    for (;;) {
        struct sockaddr_storage sa;
        socklen_t sl = sizeof(sa);
        int fd = accept4(l->lfd, (struct sockaddr *)&sa, &sl, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE) {
                if (errno == EMFILE || errno == ENFILE)
                    kilnd_sleep_ms(100);
                continue;
            }
            log_err("migrate", "accept: %s; the migration listener stops", strerror(errno));
            return NULL;
        }
        struct mig_incoming *in = calloc(1, sizeof(*in));
        char host[INET6_ADDRSTRLEN] = "?";
        if (sa.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&sa)->sin_addr, host, sizeof(host));
        else if (sa.ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&sa)->sin6_addr, host, sizeof(host));
        if (!in || __atomic_add_fetch(&l->active, 1, __ATOMIC_SEQ_CST) > MIG_MAX_INCOMING) {
            if (in)
                __atomic_fetch_sub(&l->active, 1, __ATOMIC_SEQ_CST);
            log_err("migrate", "connection from %s refused: too many migrations at once", host);
            free(in);
            close(fd);
            continue;
        }
        in->l = l;
        in->fd = fd;
        snprintf(in->peer, sizeof(in->peer), "%s", host);
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &at, incoming_thread, in)) {
            __atomic_fetch_sub(&l->active, 1, __ATOMIC_SEQ_CST);
            close(fd);
            free(in);
        }
        pthread_attr_destroy(&at);
    }
}

int kilnd_migrate_listen(struct daemon *d, const char *addr, const char *token_file)
{
    char host[256], port[8], err[512];
    struct mig_listener *l = calloc(1, sizeof(*l));
    if (!l)
        return -1;
    l->d = d;
    if (split_hostport(addr, host, sizeof(host), port, sizeof(port))) {
        log_err("migrate", "--migrate-listen %s: expected ADDR:PORT (e.g. 0.0.0.0:7070, [::1]:7070)", addr);
        goto fail;
    }
    if (mig_token_read(token_file, l->token, &l->toklen, err, sizeof(err))) {
        log_err("migrate", "%s", err);
        goto fail;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE},
                    *res = NULL;
    int e = getaddrinfo(host, port, &hints, &res);
    if (e) {
        log_err("migrate", "--migrate-listen %s: %s", addr, gai_strerror(e));
        goto fail;
    }
    l->lfd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (l->lfd >= 0)
        setsockopt(l->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (l->lfd < 0 || bind(l->lfd, res->ai_addr, res->ai_addrlen) || listen(l->lfd, 8)) {
        log_err("migrate", "--migrate-listen %s: %s", addr, strerror(errno));
        freeaddrinfo(res);
        if (l->lfd >= 0)
            close(l->lfd);
        goto fail;
    }
    freeaddrinfo(res);
    pthread_t t;
    if (pthread_create(&t, NULL, listen_thread, l)) {
        close(l->lfd);
        goto fail;
    }
    pthread_detach(t);
    log_err("migrate", "listening for migrations on %s", addr);
    return 0;
fail:
    free(l);
    return -1;
}

/* ---- source ---- */

static void resume_vm(struct daemon *d, const struct vm_rec *v)
{
    json_object *ans = NULL;
    kilnd_vm_control(d, v, "{\"cmd\":\"resume\"}\n", 10000, &ans);
    json_object_put(ans);
}

static int connect_to(const char *to, char *err, size_t errlen)
{
    char host[256], port[8];
    if (split_hostport(to, host, sizeof(host), port, sizeof(port))) {
        snprintf(err, errlen, "'%s' is not HOST:PORT", to);
        return -1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int e = getaddrinfo(host, port, &hints, &res);
    if (e) {
        snprintf(err, errlen, "%s: %s", host, gai_strerror(e));
        return -1;
    }
    int fd = -1;
    snprintf(err, errlen, "%s: no address", to);
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
            continue;
        int r = connect(fd, a->ai_addr, a->ai_addrlen);
        if (r < 0 && errno == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int soe = 0;
            socklen_t sl = sizeof(soe);
            if (poll(&p, 1, MIG_CONNECT_MS) == 1 && !getsockopt(fd, SOL_SOCKET, SO_ERROR, &soe, &sl))
                r = soe ? -1 : 0, errno = soe;
            else
                errno = ETIMEDOUT;
        }
        if (r == 0)
            break;
        snprintf(err, errlen, "cannot connect to %s: %s%s", to, strerror(errno),
                 errno == ECONNREFUSED ? " (is a kiln daemon there started with --migrate-listen?)" : "");
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    return fd;
}

/* --copy-disks, source: the VM's disk files, all-zero chunks left out (holes there). */
static int send_disks(struct mig_conn *c, const struct vm_rec *v)
{
    uint8_t *buf = malloc(8 + MIG_DISK_CHUNK);
    unsigned idx = 0;
    int ret = -1;
    if (!buf) {
        snprintf(c->err, sizeof(c->err), "out of memory");
        return -1;
    }
    for (int i = 0; i + 1 < v->nargs; i++) {
        if (!is_disk_flag(v->args[i]))
            continue;
        char path[PATH_MAX];
        spec_path(v->args[++i], path, sizeof(path));
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0) {
            snprintf(c->err, sizeof(c->err), "%.900s: %s", path, strerror(errno));
            if (fd >= 0)
                close(fd);
            goto out;
        }
        uint8_t hdr[12];
        uint64_t size = (uint64_t)st.st_size;
        for (int k = 0; k < 4; k++)
            hdr[k] = (uint8_t)(idx >> (8 * k));
        for (int k = 0; k < 8; k++)
            hdr[4 + k] = (uint8_t)(size >> (8 * k));
        int e = mig_send(c, MIG_DISK, hdr, sizeof(hdr), NULL, 0);
        for (uint64_t off = 0; !e; off += MIG_DISK_CHUNK) {
            size_t want = size - off < MIG_DISK_CHUNK ? (size_t)(size - off) : MIG_DISK_CHUNK;
            for (int k = 0; k < 8; k++)
                buf[k] = (uint8_t)((off < size ? off : size) >> (8 * k));
            if (off >= size) {
                e = mig_send(c, MIG_DISK_DATA, buf, 8, NULL, 0); /* the end */
                break;
            }
            ssize_t n = pread(fd, buf + 8, want, (off_t)off);
            if (n != (ssize_t)want) {
                snprintf(c->err, sizeof(c->err), "reading %.900s: %s", path, n < 0 ? strerror(errno) : "short read");
                e = -1;
                break;
            }
            if (!chunk_zero(buf + 8, want))
                e = mig_send(c, MIG_DISK_DATA, buf, 8 + want, NULL, 0);
        }
        close(fd);
        if (e)
            goto out;
        idx++;
    }
    ret = 0;
out:
    free(buf);
    return ret;
}

static int count_disks(const struct vm_rec *v)
{
    int n = 0;
    for (int i = 0; i + 1 < v->nargs; i++)
        n += is_disk_flag(v->args[i]);
    return n;
}

/* The definition the destination creates the VM from (POST /v1/vms's body) and its limits. */
static json_object *vm_definition(const struct vm_rec *v, const char *new_name)
{
    json_object *o = json_object_new_object(), *vm = json_object_new_object(), *lim = json_object_new_object();
    json_object_object_add(vm, "name", json_object_new_string(new_name ? new_name : v->name));
    json_object_object_add(vm, "mem", json_object_new_int64((int64_t)v->mem));
    json_object_object_add(vm, "cpus", json_object_new_int((int)v->cpus));
    if (v->cpu_cap)
        json_object_object_add(vm, "cpu_cap", json_object_new_int((int)v->cpu_cap));
    const char *keys[] = {"kernel", "initrd", "append", "firmware"};
    const char *vals[] = {v->kernel, v->initrd, v->append, v->firmware};
    for (int i = 0; i < 4; i++)
        if (vals[i])
            json_object_object_add(vm, keys[i], json_object_new_string(vals[i]));
    json_object *a = json_object_new_array();
    for (int i = 0; i < v->nargs; i++)
        json_object_array_add(a, json_object_new_string(v->args[i]));
    json_object_object_add(vm, "args", a);
    json_object_object_add(lim, "disk_bps", json_object_new_int64((int64_t)v->disk_bps));
    json_object_object_add(lim, "disk_iops", json_object_new_int64((int64_t)v->disk_iops));
    json_object_object_add(lim, "net_bps", json_object_new_int64((int64_t)v->net_bps));
    json_object_object_add(o, "vm", vm);
    json_object_object_add(o, "limits", lim);
    return o;
}

void kilnd_migrate(struct daemon *d, struct reply *r, struct vm_rec *v, const char *body, size_t len)
{
    json_object *o = kilnd_parse_body(r, body, len);
    if (!o)
        return;
    const char *to = NULL, *token_file = NULL, *new_name = NULL;
    int64_t downtime = 0;
    bool copy = false;
    json_object_object_foreach(o, key, val)
    {
        bool str = json_object_is_type(val, json_type_string);
        if (!strcmp(key, "to") && str) {
            to = json_object_get_string(val);
        } else if (!strcmp(key, "token_file") && str && json_object_get_string(val)[0] == '/') {
            token_file = json_object_get_string(val);
        } else if (!strcmp(key, "name") && str && kilnd_valid_name(json_object_get_string(val))) {
            new_name = json_object_get_string(val);
        } else if (!strcmp(key, "copy_disks") && json_object_is_type(val, json_type_boolean)) {
            copy = json_object_get_boolean(val);
        } else if (!strcmp(key, "downtime_ms") && json_object_is_type(val, json_type_int) &&
                   (downtime = json_object_get_int64(val)) >= 1 && downtime <= 600000) {
        } else {
            kilnd_err(r, 400, "unknown or malformed field '%s' (known: to: \"HOST:PORT\", token_file: an "
                      "absolute path, name: a VM name, downtime_ms: 1-600000, copy_disks: a boolean)", key);
            goto out;
        }
    }
    if (!to) {
        kilnd_err(r, 400, "to (HOST:PORT of the destination daemon's --migrate-listen) is required");
        goto out;
    }
    if (!token_file) {
        kilnd_err(r, 400, "token_file (the shared migration token, an absolute path) is required");
        goto out;
    }
    if (v->state != VMS_RUNNING || v->vm_pid <= 0 || !proc_alive(v->vm_pid, v->vm_start)) {
        kilnd_err(r, 409, "VM '%s' is %s: only a running VM can be migrated", v->name, vm_state_name(v->state));
        goto out;
    }
    if (kilnd_is_restore(v)) {
        kilnd_err(r, 409, "VM '%s' was restored from a snapshot: its definition names the snapshot, "
                  "which the destination does not have; migration of restored VMs is not supported yet", v->name);
        goto out;
    }
    uint8_t tok[MIG_TOKEN_MAX];
    size_t toklen;
    char err[MIG_ERR_MAX + 300];
    if (mig_token_read(token_file, tok, &toklen, err, sizeof(err))) {
        kilnd_err(r, 400, "%s", err);
        goto out;
    }
    int fd = connect_to(to, err, sizeof(err));
    if (fd < 0) {
        kilnd_err(r, 502, "migration of VM '%s' failed; it runs on here: %s", v->name, err);
        goto out;
    }
    struct mig_conn c;
    mig_conn_init(&c, fd, MIG_IO_MS);
    json_object *def = vm_definition(v, new_name);
    int ndisks = copy ? count_disks(v) : 0;
    if (ndisks)
        json_object_object_add(def, "copy_disks", json_object_new_int(ndisks));
    const char *defs = json_object_to_json_string_ext(def, JSON_C_TO_STRING_PLAIN);
    uint8_t acc[1100];
    uint32_t t, n;
    bool paused = false;
    int e = mig_auth_connect(&c, tok, toklen);
    if (!e)
        e = mig_send(&c, MIG_CONFIG, defs, strlen(defs), NULL, 0);
    json_object_put(def);
    if (!e && ndisks) {
        /* The disks are copied with the VM stopped, and it stays stopped until the end: writes
         * after the copy would be lost (docs/migration.md). */
        json_object *pa = NULL;
        e = kilnd_vm_control(d, v, "{\"cmd\":\"pause\"}\n", 10000, &pa);
        json_object *okv;
        if (e || !json_object_object_get_ex(pa, "ok", &okv)) {
            snprintf(c.err, sizeof(c.err), "the VM could not be paused for the disk copy");
            e = -1;
        } else {
            paused = true;
            e = send_disks(&c, v);
        }
        json_object_put(pa);
    }
    if (!e) {
        c.timeout_ms = START_READY_MS + START_WAIT_MS; /* the destination starts a VM process */
        e = mig_recv(&c, &t, acc, sizeof(acc), &n);
        if (!e && t != MIG_ACCEPT) {
            snprintf(c.err, sizeof(c.err), "the destination answered record %u", t);
            e = -1;
        }
    }
    if (e) {
        close(fd);
        if (paused)
            resume_vm(d, v);
        kilnd_err(r, 502, "migration of VM '%s' to %s failed; it runs on here: %s", v->name, to, c.err);
        goto out;
    }
    char line[128];
    snprintf(line, sizeof(line), "{\"cmd\":\"migrate\",\"fds\":true%s%lld}\n", downtime ? ",\"downtime_ms\":" : "",
             downtime ? (long long)downtime : 0ll);
    if (!downtime)
        snprintf(line, sizeof(line), "{\"cmd\":\"migrate\",\"fds\":true}\n");
    json_object *ans = NULL;
    e = ctl_with_fd(d, v, line, fd, MIG_VM_WAIT_MS, &ans, err, sizeof(err));
    close(fd);
    if (e) {
        if (paused)
            resume_vm(d, v);
        json_object_put(ans);
        log_err("migrate", "VM '%s' to %s: %s", v->name, to, err);
        kilnd_err(r, 502, "migration of VM '%s' to %s failed; it runs on here: %s", v->name, to, err);
        goto out;
    }
    log_err("migrate", "VM '%s' migrated to %s: %s", v->name, to, json_object_to_json_string(ans));
    /* The destination runs it: this copy (paused) ends and is forgotten here. */
    char name[VM_NAME_MAX + 1];
    snprintf(name, sizeof(name), "%s", v->name);
    kill_vm(d, v);
    if ((v = kilnd_find_vm(d, name)))
        forget_vm(d, v);
    r->status = 200;
    r->json = json_object_new_object();
    json_object_object_add(r->json, "name", json_object_new_string(name));
    json_object_object_add(r->json, "to", json_object_new_string(to));
    json_object_object_add(r->json, "state", json_object_new_string("migrated"));
    json_object_object_foreach(ans, k2, v2)
    {
        if (strcmp(k2, "ok"))
            json_object_object_add(r->json, k2, json_object_get(v2));
    }
    json_object_put(ans);
out:
    json_object_put(o);
}
