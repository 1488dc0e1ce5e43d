/*
 * The file-system view of a process VM: a mount table of host directories
 * (or single files) at guest paths, and path resolution against it. Guest
 * paths are made absolute and normalized lexically ("..", "." and repeated
 * slashes folded, ".." at "/" stays at "/", as in a chroot), the longest
 * mount prefix wins, and the rest is opened beneath the mount's host
 * directory with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS): a
 * symlink that would leave the mount fails (-EACCES here), so nothing outside
 * the mappings is ever reachable. Paths outside every mount are -ENOENT.
 */
#ifndef KILN_USER_PATHS_H
#define KILN_USER_PATHS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define MOUNTS_MAX 32
#define GPATH_MAX 4096

struct mount {
    char guest[GPATH_MAX]; /* normalized absolute guest path */
    char host[GPATH_MAX];  /* for messages */
    int fd;                /* O_PATH descriptor of the host directory or file */
    bool ro;
    bool is_dir;
};

struct mounts {
    struct mount m[MOUNTS_MAX];
    unsigned n;
};

/*
 * Joins path to base (an absolute normalized directory) unless path is
 * absolute, and normalizes the result into out. 0, -ENOENT for "", -ENAMETOOLONG.
 */
int path_normalize(const char *base, const char *path, char *out, size_t outlen);

/* Parses a --dir argument "HOST[:GUEST][:ro]". GUEST defaults to HOST. 0 or -EINVAL. */
int mounts_parse_spec(const char *spec, char *host, size_t hostlen, char *guest, size_t guestlen,
                      bool *ro);
/* Adds a mount (host is opened now). 0, -EEXIST for a repeated guest path, -errno from open. */
int mounts_add(struct mounts *mt, const char *host, const char *guest, bool ro);
void mounts_close(struct mounts *mt);
/* True if a mount sits exactly at guest path g. */
bool mounts_has(const struct mounts *mt, const char *g);
/*
 * Mount of a normalized absolute guest path, or -1. *rel gets the path
 * relative to the mount root ("." for the root itself).
 */
int mounts_find(const struct mounts *mt, const char *abs, const char **rel);

/*
 * Opens a normalized guest path (open(2) flags, O_CLOEXEC added). Writes on a
 * read-only mount (O_WRONLY, O_RDWR, O_TRUNC, or O_CREAT of a missing file)
 * fail with -EROFS. Returns a host fd or -errno.
 */
int mounts_open(const struct mounts *mt, const char *abs, int flags, mode_t mode);
/*
 * For operations on a name (mkdir, unlink, rename, lstat, readlink...):
 * opens the parent directory of abs (O_PATH) and points *last at the final
 * component. -EBUSY for a mount root itself, -EROFS when write is set on a
 * read-only mount.
 */
int mounts_open_parent(const struct mounts *mt, const char *abs, bool write, const char **last);

#endif
