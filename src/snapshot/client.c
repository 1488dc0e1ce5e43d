/*
 * Taking a snapshot of a VM from outside it (kiln snapshot, the daemon): this
 * process creates DIR and the two temporary files, hands their descriptors to
 * the VM with the request (unix(7) SCM_RIGHTS), and once the VM says they are
 * written and synced, renames them into place (snapshot_commit). The VM thus
 * needs no path at all, which is what lets a jailed VM (read-only empty root,
 * no open/rename in its seccomp filter) be snapshotted.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "snapshot/snapshot.h"

static int connect_unix(const char *sock, char *err, size_t errlen)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(sock) >= sizeof(a.sun_path)) {
        snprintf(err, errlen, "%s: socket path too long", sock);
        return -1;
    }
    strcpy(a.sun_path, sock);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        snprintf(err, errlen, "%s: %s", sock, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* Sends line with both descriptors (unless -1) attached to its first byte, reads the one-line answer. */
static int ask(int sfd, const char *line, int mem_fd, int state_fd, char *ans, size_t anslen,
               char *err, size_t errlen)
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(2 * sizeof(int))];
    } cm;
    memset(&cm, 0, sizeof(cm));
    struct iovec iov = {.iov_base = (void *)line, .iov_len = strlen(line)};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf,
                        .msg_controllen = sizeof(cm.buf)};
    if (mem_fd >= 0) {
        struct cmsghdr *h = CMSG_FIRSTHDR(&mh);
        h->cmsg_level = SOL_SOCKET;
        h->cmsg_type = SCM_RIGHTS;
        h->cmsg_len = CMSG_LEN(2 * sizeof(int));
        int fds[2] = {mem_fd, state_fd};
        memcpy(CMSG_DATA(h), fds, sizeof(fds));
    } else {
        mh.msg_control = NULL; /* a plain request (resume) */
        mh.msg_controllen = 0;
    }
    ssize_t w;
    do
        w = sendmsg(sfd, &mh, MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    if (w != (ssize_t)iov.iov_len) {
        snprintf(err, errlen, "sending the request: %s", w < 0 ? strerror(errno) : "short write");
        return -1;
    }
    size_t got = 0;
    while (got < anslen - 1) {
        ssize_t n = read(sfd, ans + got, anslen - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
        if (memchr(ans, '\n', got))
            break;
    }
    ans[got] = 0;
    if (!got) {
        snprintf(err, errlen, "no answer from the VM (it stopped?)");
        return -1;
    }
    char *nl = strchr(ans, '\n');
    if (nl)
        *nl = 0;
    if (strncmp(ans, "{\"ok\":true", 10)) {
        snprintf(err, errlen, "%s", ans);
        return -1;
    }
    return 0;
}

/* Lets the harts of the VM serving sock run again. 0 or -1. */
static int resume(const char *sock)
{
    char err[256], ans[256];
    int sfd = connect_unix(sock, err, sizeof(err));
    if (sfd < 0)
        return -1;
    int r = ask(sfd, "{\"cmd\":\"resume\"}\n", -1, -1, ans, sizeof(ans), err, sizeof(err));
    close(sfd);
    return r;
}

int snapshot_take(const char *sock, const char *dir, bool paused, bool disks, char *ans, size_t anslen,
                  char *err, size_t errlen)
{
    char mem_tmp[SNAP_PATH_MAX + 32], state_tmp[SNAP_PATH_MAX + 32];
    if ((size_t)snprintf(mem_tmp, sizeof(mem_tmp), "%s/%s.tmp", dir, SNAP_MEMORY_NAME) >=
            sizeof(mem_tmp) ||
        (size_t)snprintf(state_tmp, sizeof(state_tmp), "%s/%s.tmp", dir, SNAP_STATE_NAME) >=
            sizeof(state_tmp)) {
        snprintf(err, errlen, "%s: path too long", dir);
        return -EINVAL;
    }
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -EINVAL;
    }
    int sfd = connect_unix(sock, err, errlen);
    if (sfd < 0)
        return -EIO;
    int ret = -EINVAL, state_fd = -1; /* the files first: the caller's directory */
    /* O_NOFOLLOW: never write through a link someone left under the temporary name. */
    int mem_fd = open(mem_tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (mem_fd < 0) {
        snprintf(err, errlen, "%s: %s", mem_tmp, strerror(errno));
        goto out;
    }
    state_fd = open(state_tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (state_fd < 0) {
        snprintf(err, errlen, "%s: %s", state_tmp, strerror(errno));
        goto out;
    }
    char line[96];
    /* With disks, the VM stays paused until they are copied (resumed below unless paused). */
    snprintf(line, sizeof(line), "{\"cmd\":\"snapshot\",\"fds\":true,\"paused\":%s}\n",
             paused || disks ? "true" : "false");
    ret = -EIO; /* from here on: the VM */
    if (ask(sfd, line, mem_fd, state_fd, ans, anslen, err, errlen))
        goto out;
    /* The VM synced both; sync again from here so the rule holds whatever the VM did. */
    if (fsync(mem_fd) < 0 || fsync(state_fd) < 0) {
        snprintf(err, errlen, "fsync: %s", strerror(errno));
        goto out;
    }
    /* The old state file goes before anything of the new snapshot takes its place (the
     * rule of snapshot_commit), then the old snapshot's disk copies. */
    char state[SNAP_PATH_MAX + 32];
    snprintf(state, sizeof(state), "%s/%s", dir, SNAP_STATE_NAME);
    if (unlink(state) < 0 && errno != ENOENT) {
        snprintf(err, errlen, "%s: %s", state, strerror(errno));
        goto out;
    }
    snapshot_unfreeze_disks(dir);
    if (disks && snapshot_freeze_disks(dir, state_tmp, err, errlen))
        goto out;
    ret = snapshot_commit(dir, err, errlen) ? -EIO : 0;
out:
    if (disks && !paused && ret != -EINVAL && resume(sock) < 0 && !ret) {
        snprintf(err, errlen, "the snapshot is written but the VM did not resume");
        ret = -EIO;
    }
    close(sfd);
    if (mem_fd >= 0)
        close(mem_fd);
    if (state_fd >= 0)
        close(state_fd);
    if (ret) {
        unlink(mem_tmp);
        unlink(state_tmp);
        if (disks && ret != -EINVAL)
            snapshot_unfreeze_disks(dir);
    }
    return ret;
}
