/* config.json → `kiln exec` (launch.h). */
#define _GNU_SOURCE
#include "oci/launch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "oci/log.h"
#include "user/pidtab.h"
#include "util/errmsg.h"

/* kiln exec takes at most 24 --dir (src/cli/exec.c MAX_DIRS); the rootfs is one of them. */
#define LAUNCH_MAX_DIRS 24
#define DEFAULT_OCI_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define MIN_MEM (4ull << 20)

int oci_cmd_push(struct oci_cmd *c, const char *fmt, ...)
{
    if (c->n + 2 > c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 64;
        char **v = realloc(c->argv, cap * sizeof(char *));
        if (!v)
            return -ENOMEM;
        c->argv = v;
        c->cap = cap;
    }
    va_list ap;
    va_start(ap, fmt);
    int r = vasprintf(&c->argv[c->n], fmt, ap);
    va_end(ap);
    if (r < 0)
        return -ENOMEM;
    c->argv[++c->n] = NULL;
    return 0;
}

/* openat2(2) with the path resolved as if dirfd were "/" (RESOLVE_IN_ROOT): symlinks stay inside. */
static int open_in(int dirfd, const char *path, int flags)
{
    struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC),
                           .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
    while (*path == '/')
        path++;
    long fd = syscall(SYS_openat2, dirfd, *path ? path : ".", &how, sizeof(how));
    return fd < 0 ? -errno : (int)fd;
}

/* A mount of the container as kiln maps it: a host directory or file at a guest path. */
struct rmount {
    char dest[4096];
    char host[4096];
    bool ro;
};

struct rmounts {
    struct rmount m[LAUNCH_MAX_DIRS];
    unsigned n;
};

/* The mount whose destination holds guest path g (the longest), or NULL; *rel the rest. */
static const struct rmount *mount_of(const struct rmounts *ms, const char *g, const char **rel)
{
    const struct rmount *best = NULL;
    size_t bl = 0;
    for (unsigned i = 0; i < ms->n; i++) {
        const struct rmount *m = &ms->m[i];
        size_t l = strlen(m->dest);
        if (l == 1)
            l = 0; /* "/" */
        if ((best && l <= bl) || strncmp(g, m->dest, l) || (g[l] && g[l] != '/'))
            continue;
        best = m;
        bl = l;
        *rel = g + l;
    }
    return best;
}

/* Opens guest path g of the container (its rootfs, or a mount over it). */
static int open_guest(const struct rmounts *ms, const char *g, int flags)
{
    const char *rel = g;
    const struct rmount *m = mount_of(ms, g, &rel);
    if (!m)
        return -ENOENT;
    int base = open(m->host, O_PATH | O_CLOEXEC);
    if (base < 0)
        return -errno;
    struct stat st;
    int fd;
    if (fstat(base, &st) == 0 && !S_ISDIR(st.st_mode)) {
        fd = *rel ? -ENOTDIR : open(m->host, flags | O_CLOEXEC);
        if (fd == -1)
            fd = -errno;
    } else {
        fd = open_in(base, rel, flags);
    }
    close(base);
    return fd;
}

/* Folds "." and ".." of an absolute path (".." at "/" stays at "/", as in a chroot). */
static void normalize(const char *base, const char *path, char *out, size_t len)
{
    char tmp[8192];
    if (path[0] == '/')
        snprintf(tmp, sizeof(tmp), "%s", path);
    else
        snprintf(tmp, sizeof(tmp), "%s/%s", base, path);
    size_t o = 0;
    out[0] = 0;
    for (char *save, *c = strtok_r(tmp, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (!strcmp(c, "."))
            continue;
        if (!strcmp(c, "..")) {
            while (o > 0 && out[--o] != '/')
                ;
            out[o] = 0;
            continue;
        }
        int w = snprintf(out + o, len - o, "/%s", c);
        if (w < 0 || (size_t)w >= len - o)
            break;
        o += (size_t)w;
    }
    if (!o)
        snprintf(out, len, "/");
}

static const char *env_get(char *const *env, const char *name)
{
    size_t l = strlen(name);
    for (size_t i = 0; env && env[i]; i++)
        if (!strncmp(env[i], name, l) && env[i][l] == '=')
            return env[i] + l + 1;
    return NULL;
}

/* An executable regular file at guest path g: its fd, else -errno. */
static int open_program(const struct rmounts *ms, const char *g)
{
    int fd = open_guest(ms, g, O_RDONLY);
    if (fd < 0)
        return fd;
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode) || !(st.st_mode & 0111)) {
        close(fd);
        return -EACCES;
    }
    return fd;
}

/*
 * Finds process.args[0] as execve(2) and a shell would: a path with a slash
 * relative to cwd, else each directory of PATH (process.env's, else the
 * usual one). gpath gets the guest path found.
 */
static int find_program(const struct rmounts *ms, const struct oci_process *p, char *gpath, size_t len, char *err, size_t errlen)
{
    const char *a0 = p->args[0];
    if (strchr(a0, '/')) {
        normalize(p->cwd, a0, gpath, len);
        int fd = open_program(ms, gpath);
        if (fd < 0)
            return errmsg(err, errlen, fd, "exec: \"%s\": %s", a0, strerror(-fd));
        return fd;
    }
    const char *path = env_get(p->env, "PATH");
    char *dirs = strdup(path ? path : DEFAULT_OCI_PATH);
    if (!dirs)
        return -ENOMEM;
    int fd = -ENOENT;
    for (char *save, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        char cand[8192];
        snprintf(cand, sizeof(cand), "%s/%s", d, a0);
        normalize(p->cwd, cand, gpath, len);
        fd = open_program(ms, gpath);
        if (fd >= 0)
            break;
    }
    free(dirs);
    if (fd < 0)
        /* runc's words: engines look for "executable file not found" to exit 127. */
        return errmsg(err, errlen, -ENOENT, "exec: \"%s\": executable file not found in $PATH", a0);
    return fd;
}

/* A "#!" script: its interpreter (and optional argument) from the first line (execve(2)). */
static int script_interp(int fd, char *interp, size_t ilen, char *arg, size_t alen)
{
    char line[256];
    ssize_t n = pread(fd, line, sizeof(line) - 1, 0);
    if (n < 2 || line[0] != '#' || line[1] != '!')
        return 0;
    line[n] = 0;
    char *nl = strchr(line, '\n');
    if (!nl)
        return -ENOEXEC;
    *nl = 0;
    char *i = line + 2;
    i += strspn(i, " \t");
    size_t il = strcspn(i, " \t");
    if (!il)
        return -ENOEXEC;
    char *rest = i + il;
    rest += strspn(rest, " \t");
    size_t rl = strlen(rest);
    while (rl && (rest[rl - 1] == ' ' || rest[rl - 1] == '\t'))
        rest[--rl] = 0;
    snprintf(interp, ilen, "%.*s", (int)il, i);
    snprintf(arg, alen, "%s", rest);
    return 1;
}

/* mkdir -p of guest directory g in the container (runc makes a missing process.cwd). */
static int make_cwd(const struct rmounts *ms, const char *g)
{
    char part[4096];
    size_t n = strlen(g);
    for (size_t i = 1; i <= n && n < sizeof(part); i++) {
        if (g[i] != '/' && g[i] != 0)
            continue;
        snprintf(part, sizeof(part), "%.*s", (int)i, g);
        int fd = open_guest(ms, part, O_PATH | O_DIRECTORY);
        if (fd >= 0) {
            close(fd);
            continue;
        }
        if (fd != -ENOENT)
            return fd;
        const char *rel;
        const struct rmount *m = mount_of(ms, part, &rel);
        if (!m || m->ro)
            return -EROFS;
        char *slash = strrchr(part, '/');
        *slash = 0;
        int parent = open_guest(ms, part[0] ? part : "/", O_PATH | O_DIRECTORY);
        if (parent < 0)
            return parent;
        int r = mkdirat(parent, slash + 1, 0755);
        int e = errno;
        close(parent);
        if (r && e != EEXIST)
            return -e;
    }
    return 0;
}

static bool is_under(const char *g, const char *dir)
{
    size_t l = strlen(dir);
    return !strncmp(g, dir, l) && (g[l] == 0 || g[l] == '/');
}

/* Each mount of config.json: a bind mount is a --dir, a tmpfs a fresh directory under the state
   directory; /proc, /sys, /dev and the rest are what the process VM provides itself. */
static int resolve_mounts(const struct oci_spec *s, const char *state_dir, struct rmounts *ms,
                          char *err, size_t errlen)
{
    for (size_t i = 0; i < s->nmounts; i++) {
        const struct oci_mount *m = &s->mounts[i];
        char dest[4096];
        normalize("/", m->dest, dest, sizeof(dest));
        /* A later mount at the same place hides an earlier one, as on Linux. */
        bool hidden = false;
        for (size_t k = i + 1; k < s->nmounts && !hidden; k++) {
            char d2[4096];
            normalize("/", s->mounts[k].dest, d2, sizeof(d2));
            hidden = !strcmp(d2, dest) && (s->mounts[k].bind || (s->mounts[k].type &&
                                                                  !strcmp(s->mounts[k].type, "tmpfs")));
        }
        if (hidden)
            continue;
        const char *type = m->type ? m->type : "";
        char host[4096];
        if (m->bind) {
            if (!strcmp(dest, "/"))
                return errmsg(err, errlen, -EINVAL, "mounts[%zu]: a bind mount over / (use root.path)", i);
            if (m->src[0] != '/')
                return errmsg(err, errlen, -EINVAL, "mounts[%zu]: bind source '%s' is not absolute", i, m->src);
            if (access(m->src, F_OK))
                return errmsg(err, errlen, -errno, "mounts[%zu]: bind source %s: %s", i, m->src,
                            strerror(errno));
            snprintf(host, sizeof(host), "%s", m->src);
        } else if (!strcmp(type, "tmpfs") && !is_under(dest, "/dev")) {
            snprintf(host, sizeof(host), "%s/tmpfs-%zu", state_dir, i);
            if (mkdir(host, 0755) && errno != EEXIST)
                return errmsg(err, errlen, -errno, "mounts[%zu]: %s: %s", i, host, strerror(errno));
            /* tmpfs(5) defaults to mode 1777; a private directory stands in for it. */
            chmod(host, 01777);
        } else {
            oci_debug("mounts[%zu]: %s at %s: provided by the process VM itself or not needed; ignored",
                      i, type[0] ? type : "(no type)", dest);
            continue;
        }
        if (strchr(host, ':') || strchr(dest, ':')) {
            oci_warn("mounts[%zu]: %s at %s: a ':' in the path cannot be mapped; skipped", i, host, dest);
            continue;
        }
        if (ms->n >= LAUNCH_MAX_DIRS)
            return errmsg(err, errlen, -E2BIG, "more than %d mounts: a process VM maps at most %d directories",
                        LAUNCH_MAX_DIRS - 1, LAUNCH_MAX_DIRS - 1);
        struct rmount *r = &ms->m[ms->n++];
        snprintf(r->dest, sizeof(r->dest), "%s", dest);
        snprintf(r->host, sizeof(r->host), "%s", host);
        r->ro = m->ro;
    }
    return 0;
}

int oci_cmd_build(const struct oci_spec *s, const struct oci_process *p, const char *bundle,
                  const char *state_dir, struct oci_cmd *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->prog_fd = c->netns_fd = -1;
    int rc = -ENOMEM;
    ssize_t kl = readlink("/proc/self/exe", c->kiln, sizeof(c->kiln) - 1);
    if (kl <= 0)
        return errmsg(err, errlen, -errno, "cannot find the kiln binary: %s", strerror(errno));
    c->kiln[kl] = 0;
    char rootfs[8192], real[PATH_MAX];
    if (s->root_path[0] == '/')
        snprintf(rootfs, sizeof(rootfs), "%s", s->root_path);
    else
        snprintf(rootfs, sizeof(rootfs), "%s/%s", bundle, s->root_path);
    if (!realpath(rootfs, real))
        return errmsg(err, errlen, -errno, "root.path %s: %s", rootfs, strerror(errno));
    if (strchr(real, ':'))
        return errmsg(err, errlen, -EINVAL, "root.path %s: a ':' in the path cannot be mapped", real);
    struct rmounts *ms = calloc(1, sizeof(*ms));
    if (!ms)
        return errmsg(err, errlen, -ENOMEM, "out of memory");
    ms->n = 1;
    snprintf(ms->m[0].dest, sizeof(ms->m[0].dest), "/");
    snprintf(ms->m[0].host, sizeof(ms->m[0].host), "%s", real);
    ms->m[0].ro = s->root_ro;
    if ((rc = resolve_mounts(s, state_dir, ms, err, errlen))) {
        free(ms);
        return rc;
    }
    rc = make_cwd(ms, p->cwd);
    if (rc)
        oci_debug("process.cwd %s: cannot create it: %s", p->cwd, strerror(-rc));
    char gpath[4096];
    int fd = find_program(ms, p, gpath, sizeof(gpath), err, errlen);
    if (fd < 0) {
        free(ms);
        return fd;
    }
    /* "#!": the interpreter runs with the script's guest path as its argument (execve(2)). */
    char interp[256], iarg[256], ipath[4096];
    int sc = script_interp(fd, interp, sizeof(interp), iarg, sizeof(iarg));
    if (sc < 0 || (sc > 0 && interp[0] != '/')) {
        close(fd);
        free(ms);
        return errmsg(err, errlen, -ENOEXEC, "exec: \"%s\": bad #! line", p->args[0]);
    }
    if (sc > 0) {
        normalize("/", interp, ipath, sizeof(ipath));
        int ifd = open_program(ms, ipath);
        if (ifd < 0) {
            close(fd);
            free(ms);
            return errmsg(err, errlen, ifd, "exec: \"%s\": interpreter %s: %s", p->args[0], ipath,
                        strerror(-ifd));
        }
        close(fd);
        fd = ifd;
    }
    /* Above stdio: the child puts the pty or the caller's files on 0-2 (a caller may have
       started us with one of them closed, so open() could have returned it). */
    c->prog_fd = fd > 2 ? fd : fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (fd <= 2)
        close(fd);
    if (c->prog_fd < 0) {
        rc = errmsg(err, errlen, -errno, "cannot keep the program open: %s", strerror(errno));
        goto out;
    }

    if (oci_cmd_push(c, "%s", c->kiln) || oci_cmd_push(c, "exec") || oci_cmd_push(c, "--sysroot") ||
        oci_cmd_push(c, "none"))
        goto nomem;
    for (unsigned i = 0; i < ms->n; i++)
        if (oci_cmd_push(c, "--dir") ||
            oci_cmd_push(c, "%s:%s%s", ms->m[i].host, ms->m[i].dest, ms->m[i].ro ? ":ro" : ""))
            goto nomem;
    for (size_t i = 0; p->env[i]; i++)
        if (oci_cmd_push(c, "--env") || oci_cmd_push(c, "%s", p->env[i]))
            goto nomem;
    if (oci_cmd_push(c, "--cwd") || oci_cmd_push(c, "%s", p->cwd))
        goto nomem;
    if (oci_cmd_push(c, "--guest-id") || oci_cmd_push(c, "%u:%u", p->uid, p->gid))
        goto nomem;
    /* The host side runs as that user too (file permissions in the rootfs apply as with runc);
       kiln's jail takes uid 0 as "root without capabilities" (docs/jail.md). */
    if (p->uid && p->gid && (oci_cmd_push(c, "--user") || oci_cmd_push(c, "%u:%u", p->uid, p->gid)))
        goto nomem;
    if (s->mem_limit) {
        uint64_t m = s->mem_limit < MIN_MEM ? MIN_MEM : s->mem_limit;
        if (m != s->mem_limit)
            oci_warn("linux.resources.memory.limit %llu is below the process VM's minimum; using 4M",
                     (unsigned long long)s->mem_limit);
        if (oci_cmd_push(c, "--mem") || oci_cmd_push(c, "%llu", (unsigned long long)(m & ~4095ull)))
            goto nomem;
    }
    /* The VM's process cap: pids.limit, and RLIMIT_NPROC (every process of the VM is the
       container's one user), whichever is lower. */
    long long procs = s->pids_limit;
    for (unsigned i = 0; i < p->nrlimits; i++) {
        const struct oci_rlimit *rl = &p->rlimits[i];
        if (rl->resource == RLIMIT_NPROC && rl->soft < RLIM_INFINITY) {
            if (!procs || (long long)rl->soft < procs)
                procs = rl->soft ? (long long)rl->soft : 1;
        } else {
            oci_debug("process.rlimits[%u]: a process VM keeps its own limits (1024 descriptors, --mem); "
                      "not applied", i);
        }
    }
    if (procs) {
        if (procs > PIDTAB_SIZE)
            procs = PIDTAB_SIZE;
        if (oci_cmd_push(c, "--procs") || oci_cmd_push(c, "%lld", procs))
            goto nomem;
    }
    switch (s->net) {
    case OCI_NET_HOST:
        if (oci_cmd_push(c, "--net"))
            goto nomem;
        break;
    case OCI_NET_PATH:
        c->netns_fd = open(s->netns_path, O_RDONLY | O_CLOEXEC);
        if (c->netns_fd >= 0 && c->netns_fd <= 2) {
            int hi = fcntl(c->netns_fd, F_DUPFD_CLOEXEC, 3);
            close(c->netns_fd);
            c->netns_fd = hi;
        }
        if (c->netns_fd < 0) {
            rc = errmsg(err, errlen, -errno, "network namespace %s: %s", s->netns_path, strerror(errno));
            goto out;
        }
        if (oci_cmd_push(c, "--net"))
            goto nomem;
        break;
    case OCI_NET_NEW:
        /* A new, empty namespace: kiln's jail makes one and the VM gets no sockets at all. */
        break;
    }
    c->set_oom = p->has_oom_score_adj;
    c->oom_score_adj = p->oom_score_adj;
    if (oci_cmd_push(c, "--argv0") || oci_cmd_push(c, "%s", sc > 0 ? interp : p->args[0]) ||
        oci_cmd_push(c, "--") || oci_cmd_push(c, "/proc/self/fd/%d", c->prog_fd))
        goto nomem;
    if (sc > 0 && ((iarg[0] && oci_cmd_push(c, "%s", iarg)) || oci_cmd_push(c, "%s", gpath)))
        goto nomem;
    for (size_t i = 1; p->args[i]; i++)
        if (oci_cmd_push(c, "%s", p->args[i]))
            goto nomem;
    free(ms);
    return 0;
nomem:
    rc = errmsg(err, errlen, -ENOMEM, "out of memory");
out:
    free(ms);
    oci_cmd_free(c);
    return rc;
}

int oci_cmd_control(struct oci_cmd *c, const char *path)
{
    /* After "kiln exec": two more slots, moved up by two. */
    if (c->n < 2 || oci_cmd_push(c, "--control-socket") || oci_cmd_push(c, "%s", path))
        return -ENOMEM;
    char *opt = c->argv[c->n - 2], *val = c->argv[c->n - 1];
    memmove(&c->argv[4], &c->argv[2], (c->n - 4) * sizeof(char *));
    c->argv[2] = opt;
    c->argv[3] = val;
    return 0;
}

void oci_cmd_free(struct oci_cmd *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->argv[i]);
    free(c->argv);
    if (c->prog_fd >= 0)
        close(c->prog_fd);
    if (c->netns_fd >= 0)
        close(c->netns_fd);
    memset(c, 0, sizeof(*c));
    c->prog_fd = c->netns_fd = -1;
}

int oci_cmd_enter(struct oci_cmd *c, char *err, size_t errlen)
{
    if (c->netns_fd >= 0 && setns(c->netns_fd, CLONE_NEWNET))
        return errmsg(err, errlen, -errno, "cannot enter the network namespace: %s", strerror(errno));
    if (c->set_oom) {
        int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
        char v[16];
        int n = snprintf(v, sizeof(v), "%d", c->oom_score_adj);
        if (fd < 0 || write(fd, v, (size_t)n) != n)
            oci_debug("process.oomScoreAdj %d: not applied: %s", c->oom_score_adj, strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    /* kiln exec opens the program through this descriptor (/proc/self/fd/N in its argv); a
     * system VM (kiln run --rootfs) looks it up in the guest. */
    if (c->prog_fd < 0)
        return 0;
    int fl = fcntl(c->prog_fd, F_GETFD);
    if (fl < 0 || fcntl(c->prog_fd, F_SETFD, fl & ~FD_CLOEXEC))
        return errmsg(err, errlen, -errno, "program descriptor: %s", strerror(errno));
    return 0;
}

int oci_cmd_exec(struct oci_cmd *c, char *err, size_t errlen)
{
    /* kiln's side runs with an empty environment; the program's is in the --env options. */
    char *envp[] = {NULL};
    execve(c->kiln, c->argv, envp);
    return errmsg(err, errlen, -errno, "cannot run %s: %s", c->kiln, strerror(errno));
}
