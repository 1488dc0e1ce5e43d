/*
 * Namespaces and the minimal root of a jailed `kiln run` (root only).
 *
 * The namespaces are entered while kiln has a single thread: unshare(2)
 * moves only the caller, and every thread created afterwards shares its
 * namespaces and its root (CLONE_FS), so one pivot_root(2) later moves them
 * all. The new root is an empty tmpfs, made read-only, holding bind mounts
 * (read-only, nosuid, nodev, noexec) of the few files kiln reads after
 * set-up. The old root is detached at once (pivot_root(".", ".") then
 * umount2(".", MNT_DETACH), the pattern pivot_root(2) documents).
 */
#define _GNU_SOURCE
#include "jail/root.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Where the new root is assembled: any existing directory will do, in our own mount namespace. */
#define ROOT_BUILD "/tmp"
#define BIND_FLAGS (MS_NOSUID | MS_NODEV | MS_NOEXEC)

int root_unshare(bool new_net, char *err, size_t errlen)
{
    int flags = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | (new_net ? CLONE_NEWNET : 0);
    if (unshare(flags)) {
        snprintf(err, errlen, "cannot enter new namespaces: %s", strerror(errno));
        return -1;
    }
    /* Nothing we mount may propagate back to the host (mount_namespaces(7), shared subtrees). */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) {
        snprintf(err, errlen, "cannot make the mounts private: %s", strerror(errno));
        return -1;
    }
    static const char host[] = "kiln";
    if (sethostname(host, sizeof(host) - 1)) {
        snprintf(err, errlen, "sethostname: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* mkdir -p of every parent of path below base. */
static int make_parents(const char *base, const char *path)
{
    char p[PATH_MAX];
    if (snprintf(p, sizeof(p), "%s%s", base, path) >= (int)sizeof(p))
        return -ENAMETOOLONG;
    for (char *s = p + strlen(base) + 1; (s = strchr(s, '/')); s++) {
        *s = 0;
        if (mkdir(p, 0755) && errno != EEXIST)
            return -errno;
        *s = '/';
    }
    return 0;
}

/* Bind-mounts what fd names (opened with O_PATH before anything was hidden) at base+path. */
static int bind_ro(int fd, const char *base, const char *path, bool dir)
{
    char target[PATH_MAX], src[64];
    if (snprintf(target, sizeof(target), "%s%s", base, path) >= (int)sizeof(target))
        return -ENAMETOOLONG;
    int r = make_parents(base, path);
    if (r)
        return r;
    if (dir) {
        if (mkdir(target, 0755) && errno != EEXIST)
            return -errno;
    } else {
        int t = open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0444);
        if (t < 0)
            return -errno;
        close(t);
    }
    snprintf(src, sizeof(src), "/proc/self/fd/%d", fd);
    if (mount(src, target, NULL, MS_BIND, NULL))
        return -errno;
    /* A bind mount takes its own flags only on a remount (mount(2), MS_BIND | MS_REMOUNT). */
    if (mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | BIND_FLAGS, NULL))
        return -errno;
    return 0;
}

/*
 * A process VM forks host processes that each reach their own descriptors through
 * /proc/self/fd (the mount table's file reopen, access(2), named AF_UNIX sockets), so
 * a bind of one /proc/PID would name the wrong process after a fork. Instead: a
 * procfs of our own pid namespace (only the VM's processes), subset=pid (no /proc/sys,
 * no /proc/kcore: proc(5), mount options), read-only.
 */
static int mount_proc(void)
{
    char target[64];
    snprintf(target, sizeof(target), "%s/proc", ROOT_BUILD);
    if (mkdir(target, 0555) && errno != EEXIST)
        return -errno;
    if (mount("proc", target, "proc", MS_RDONLY | BIND_FLAGS, "subset=pid,hidepid=invisible"))
        return -errno;
    return 0;
}

int root_enter(const char *const *keep, unsigned nkeep, bool fresh_proc, char *err, size_t errlen)
{
    int fds[ROOT_MAX_KEEP + 1], nfd = 0, r = 0;
    char self[32];
    if (nkeep > ROOT_MAX_KEEP) {
        snprintf(err, errlen, "too many files to keep");
        return -1;
    }
    for (unsigned i = 0; i < nkeep; i++) {
        fds[nfd] = open(keep[i], O_PATH | O_CLOEXEC);
        if (fds[nfd] < 0) {
            snprintf(err, errlen, "%s: %s", keep[i], strerror(errno));
            r = -1;
            goto out;
        }
        nfd++;
    }
    /* Our own /proc/PID as /proc/self: statistics read /proc/self/status, nothing else of /proc.
     * Opening the magic link (not /proc/getpid()) names us even in a pid namespace of our own. */
    snprintf(self, sizeof(self), "/proc/self");
    fds[nfd] = fresh_proc ? -1 : open(self, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fresh_proc)
        fds[nfd] = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC); /* a placeholder, closed below */
    if (fds[nfd] < 0) {
        snprintf(err, errlen, "%s: %s", self, strerror(errno));
        r = -1;
        goto out;
    }
    nfd++;

    if (mount("kiln-jail", ROOT_BUILD, "tmpfs", BIND_FLAGS, "mode=0755,size=64k")) {
        snprintf(err, errlen, "cannot mount a tmpfs on %s: %s", ROOT_BUILD, strerror(errno));
        r = -1;
        goto out;
    }
    for (unsigned i = 0; i < nkeep; i++) {
        int e = bind_ro(fds[i], ROOT_BUILD, keep[i], false);
        if (e) {
            snprintf(err, errlen, "cannot keep %s in the jail: %s", keep[i], strerror(-e));
            r = -1;
            goto out;
        }
    }
    int e = fresh_proc ? mount_proc() : bind_ro(fds[nkeep], ROOT_BUILD, "/proc/self", true);
    if (e) {
        snprintf(err, errlen, "cannot keep %s in the jail: %s", self, strerror(-e));
        r = -1;
        goto out;
    }
    if (mount(NULL, ROOT_BUILD, NULL, MS_REMOUNT | MS_RDONLY | BIND_FLAGS, NULL)) {
        snprintf(err, errlen, "cannot make the jail's root read-only: %s", strerror(errno));
        r = -1;
        goto out;
    }
    if (chdir(ROOT_BUILD) || syscall(SYS_pivot_root, ".", ".") || umount2(".", MNT_DETACH) ||
        chdir("/")) {
        snprintf(err, errlen, "pivot_root: %s", strerror(errno));
        r = -1;
        goto out;
    }
out:
    for (int i = 0; i < nfd; i++)
        close(fds[i]);
    return r;
}
