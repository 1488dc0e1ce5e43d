#define _GNU_SOURCE
#include "user/paths.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int path_normalize(const char *base, const char *path, char *out, size_t outlen)
{
    if (!path || !*path)
        return -ENOENT;
    if (outlen < 2)
        return -ENAMETOOLONG;
    size_t len = 0;
    out[0] = 0;
    for (int pass = 0; pass < 2; pass++) {
        const char *p = pass == 0 ? (path[0] == '/' ? "" : base) : path;
        while (p && *p) {
            while (*p == '/')
                p++;
            const char *end = strchr(p, '/');
            size_t n = end ? (size_t)(end - p) : strlen(p);
            if (n == 0)
                break;
            if (n == 1 && p[0] == '.') {
                /* nothing */
            } else if (n == 2 && p[0] == '.' && p[1] == '.') {
                while (len > 0 && out[len - 1] != '/')
                    len--;
                if (len > 0)
                    len--; /* drop the slash; at "/" this stays empty (root) */
                out[len] = 0;
            } else {
                if (len + 1 + n + 1 > outlen)
                    return -ENAMETOOLONG;
                out[len++] = '/';
                memcpy(out + len, p, n);
                len += n;
                out[len] = 0;
            }
            p += n;
        }
    }
    if (len == 0) {
        out[0] = '/';
        out[1] = 0;
    }
    return 0;
}

int mounts_parse_spec(const char *spec, char *host, size_t hostlen, char *guest, size_t guestlen,
                      bool *ro)
{
    char buf[2 * GPATH_MAX];
    if (!spec || !*spec || strlen(spec) >= sizeof(buf))
        return -EINVAL;
    strcpy(buf, spec);
    *ro = false;
    size_t n = strlen(buf);
    if (n > 3 && !strcmp(buf + n - 3, ":ro")) {
        *ro = true;
        buf[n - 3] = 0;
    } else if (n > 3 && !strcmp(buf + n - 3, ":rw")) {
        buf[n - 3] = 0;
    }
    char *colon = strchr(buf, ':');
    const char *g = buf;
    if (colon) {
        *colon = 0;
        g = colon + 1;
        if (!*g || strchr(g, ':'))
            return -EINVAL;
    }
    if (!*buf || strlen(buf) >= hostlen)
        return -EINVAL;
    strcpy(host, buf);
    if (g != buf && g[0] != '/')
        return -EINVAL; /* a guest path must be absolute */
    if (g == buf) {
        /* GUEST defaults to HOST made absolute against the current directory. */
        char cwd[GPATH_MAX];
        if (!getcwd(cwd, sizeof(cwd)))
            return -EINVAL;
        return path_normalize(cwd, host, guest, guestlen) ? -EINVAL : 0;
    }
    return path_normalize("/", g, guest, guestlen) ? -EINVAL : 0;
}

int mounts_add(struct mounts *mt, const char *host, const char *guest, bool ro)
{
    if (mt->n >= MOUNTS_MAX)
        return -ENOSPC;
    char g[GPATH_MAX];
    int err = path_normalize("/", guest, g, sizeof(g));
    if (err)
        return err;
    if (mounts_has(mt, g))
        return -EEXIST;
    int fd = open(host, O_PATH | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        err = -errno;
        close(fd);
        return err;
    }
    struct mount *m = &mt->m[mt->n++];
    snprintf(m->guest, sizeof(m->guest), "%s", g);
    snprintf(m->host, sizeof(m->host), "%s", host);
    m->fd = fd;
    m->ro = ro;
    m->is_dir = S_ISDIR(st.st_mode);
    return 0;
}

void mounts_close(struct mounts *mt)
{
    for (unsigned i = 0; i < mt->n; i++)
        close(mt->m[i].fd);
    mt->n = 0;
}

bool mounts_has(const struct mounts *mt, const char *g)
{
    for (unsigned i = 0; i < mt->n; i++)
        if (!strcmp(mt->m[i].guest, g))
            return true;
    return false;
}

int mounts_find(const struct mounts *mt, const char *abs, const char **rel)
{
    int best = -1;
    size_t best_len = 0;
    for (unsigned i = 0; i < mt->n; i++) {
        const char *g = mt->m[i].guest;
        size_t n = strlen(g);
        bool match;
        if (n == 1) /* "/" */
            match = abs[0] == '/';
        else
            match = !strncmp(abs, g, n) && (abs[n] == 0 || abs[n] == '/');
        if (match && (best < 0 || n > best_len)) {
            best = (int)i;
            best_len = n;
        }
    }
    if (best >= 0) {
        const char *r = abs + (best_len == 1 ? 1 : best_len);
        while (*r == '/')
            r++;
        *rel = *r ? r : ".";
    }
    return best;
}

static int open_beneath(int dirfd, const char *rel, int flags, mode_t mode)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };
    long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
    if (fd < 0)
        return errno == EXDEV ? -EACCES : -errno; /* EXDEV: a symlink tried to leave the mount */
    return (int)fd;
}

static int reopen_mount(const struct mount *m, int flags, mode_t mode)
{
    char proc[64];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", m->fd);
    int fd = open(proc, (flags & ~O_CREAT) | O_CLOEXEC, mode);
    return fd < 0 ? -errno : fd;
}

static bool writes(int flags)
{
    return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
}

int mounts_open(const struct mounts *mt, const char *abs, int flags, mode_t mode)
{
    const char *rel;
    int i = mounts_find(mt, abs, &rel);
    if (i < 0)
        return -ENOENT;
    const struct mount *m = &mt->m[i];
    if (m->ro && (writes(flags) || (flags & O_TMPFILE) == O_TMPFILE))
        return -EROFS;
    if (!m->is_dir)
        return strcmp(rel, ".") ? -ENOTDIR : reopen_mount(m, flags, mode);
    if (m->ro && (flags & O_CREAT)) {
        int fd = open_beneath(m->fd, rel, flags & ~(O_CREAT | O_EXCL), 0);
        if (fd >= 0 && (flags & O_EXCL)) {
            close(fd);
            return -EEXIST;
        }
        return fd == -ENOENT ? -EROFS : fd;
    }
    return open_beneath(m->fd, rel, flags, mode);
}

int mounts_open_parent(const struct mounts *mt, const char *abs, bool write, const char **last)
{
    const char *rel;
    int i = mounts_find(mt, abs, &rel);
    if (i < 0)
        return -ENOENT;
    const struct mount *m = &mt->m[i];
    if (!strcmp(rel, "."))
        return -EBUSY;
    if (write && m->ro)
        return -EROFS;
    const char *slash = strrchr(rel, '/');
    *last = slash ? slash + 1 : rel;
    if (!slash)
        return open_beneath(m->fd, ".", O_PATH | O_DIRECTORY, 0);
    char dir[GPATH_MAX];
    size_t n = (size_t)(slash - rel);
    memcpy(dir, rel, n);
    dir[n] = 0;
    return open_beneath(m->fd, dir, O_PATH | O_DIRECTORY, 0);
}
