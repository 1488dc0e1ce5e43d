/*
 * Tries every way to change a file on a read-only mapping: argv[1] is the
 * read-only directory (holding "f"), argv[2] a writable one. Prints each
 * result; the test checks on the host that f is unchanged byte for byte,
 * in mode and in mtime.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

static char ro[256], rw[256];

static const char *in(const char *dir, const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof(buf[k]), "%s/%s", dir, name);
    return buf[k];
}

static void show(const char *what, long r)
{
    printf("%s: %s\n", what, r < 0 ? strerror(errno) : "OK");
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 3)
        return 2;
    snprintf(ro, sizeof(ro), "%s", argv[1]);
    snprintf(rw, sizeof(rw), "%s", argv[2]);
    char f[512];
    snprintf(f, sizeof(f), "%s", in(ro, "f"));
    struct timespec ts[2] = {{1, 0}, {1, 0}};

    /* Through a descriptor opened read-only. */
    int fd = open(f, O_RDONLY);
    show("open rdonly", fd);
    show("write", write(fd, "x", 1));
    show("pwrite", pwrite(fd, "x", 1, 0));
    show("ftruncate", ftruncate(fd, 0));
    show("fallocate", fallocate(fd, 0, 0, 65536));
    show("fchmod", fchmod(fd, 0777));
    show("fchown", fchown(fd, getuid(), getgid()));
    show("futimens", futimens(fd, ts));
    show("utimensat empty path", utimensat(fd, "", ts, AT_EMPTY_PATH));
    show("fchownat empty path", fchownat(fd, "", getuid(), getgid(), AT_EMPTY_PATH));
    show("fsetxattr", fsetxattr(fd, "user.x", "1", 1, 0));
    show("fremovexattr", fremovexattr(fd, "user.x"));
    void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    show("mmap shared writable", m == MAP_FAILED ? -1 : 0);
    m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
    show("mmap shared read-only", m == MAP_FAILED ? -1 : 0);
    if (m != MAP_FAILED) {
        int r = mprotect(m, 4096, PROT_READ | PROT_WRITE);
        show("mprotect shared writable", r);
        if (r == 0)
            memset(m, 'Z', 16); /* would be a private copy: the file must not change */
    }
    int dfd = open(ro, O_RDONLY | O_DIRECTORY);
    show("fchmodat via dirfd", fchmodat(dfd, "f", 0777, 0));
    show("unlinkat via dirfd", unlinkat(dfd, "f", 0));

    /* Opening for a change. */
    show("open wronly", open(f, O_WRONLY));
    show("open rdwr", open(f, O_RDWR));
    show("open trunc", open(f, O_RDONLY | O_TRUNC));
    show("open append", open(f, O_WRONLY | O_APPEND));
    show("open creat", open(in(ro, "new"), O_CREAT | O_WRONLY, 0644));
    show("open tmpfile", open(ro, O_TMPFILE | O_RDWR, 0600));

    /* By path. */
    show("truncate", truncate(f, 0));
    show("chmod", chmod(f, 0777));
    show("chown", chown(f, getuid(), getgid()));
    show("utimensat", utimensat(AT_FDCWD, f, ts, 0));
    show("setxattr", setxattr(f, "user.x", "1", 1, 0));
    show("mknod fifo", mknod(in(ro, "fifo"), S_IFIFO | 0600, 0));
    show("symlink", symlink("/x", in(ro, "sym")));
    show("mkdir", mkdir(in(ro, "d"), 0755));
    show("unlink", unlink(f));
    show("link out", link(f, in(rw, "hard")));
    show("rename out", rename(f, in(rw, "moved")));
    int w = open(in(rw, "w"), O_CREAT | O_WRONLY, 0644);
    close(w);
    show("rename in", rename(in(rw, "w"), f));
    show("renameat2 exchange", syscall(SYS_renameat2, AT_FDCWD, in(rw, "w"), AT_FDCWD, f, 2 /* RENAME_EXCHANGE */));
    show("access W_OK", access(f, W_OK));

    struct statfs sf;
    show("statfs", statfs(ro, &sf));
    printf("statfs read-only: %d\n", (int)(sf.f_flags & ST_RDONLY));

    /* Still readable. */
    char buf[64] = {0};
    lseek(fd, 0, SEEK_SET);
    show("read", read(fd, buf, sizeof(buf) - 1));
    printf("content: %s", buf);
    return 0;
}
