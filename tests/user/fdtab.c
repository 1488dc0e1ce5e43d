/*
 * The descriptor table of a process VM: argv[1] is a writable directory.
 * Counts what the program can reach (only 0, 1, 2: nothing kiln holds or
 * inherited), closes everything and tries to write through every number,
 * then checks dup/dup3/fcntl/close_range semantics, RLIMIT_NOFILE and EMFILE,
 * and that files still open in the mapped directory afterwards.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 2 || chdir(argv[1]))
        return 2;
    if (argc > 2 && !strcmp(argv[2], "exec")) {
        /* Across execve: 5 stays (no close-on-exec), 6 goes (O_CLOEXEC). */
        int in = open("inherit.txt", O_CREAT | O_RDWR | O_TRUNC, 0644);
        if (in < 0 || write(in, "inherited\n", 10) != 10 || lseek(in, 0, SEEK_SET) != 0)
            return 3;
        dup2(in, 5);
        close(in);
        int gone = open("inherit.txt", O_RDONLY | O_CLOEXEC);
        dup3(gone, 6, O_CLOEXEC);
        char *args[] = {argv[0], argv[1], "child", NULL};
        execv(argv[0], args);
        perror("execv");
        return 4;
    }
    if (argc > 2 && !strcmp(argv[2], "child")) {
        char buf[16] = {0};
        printf("after exec: fd5 %s", read(5, buf, sizeof(buf) - 1) > 0 ? buf : "closed\n");
        printf("after exec: fd6 %s\n", fcntl(6, F_GETFD) < 0 ? "closed" : "open");
        int n = 0;
        for (int fd = 0; fd < 1024; fd++)
            n += fcntl(fd, F_GETFD) >= 0;
        printf("after exec: open %d\n", n);
        return 0;
    }
    int open_fds = 0;
    for (int fd = 0; fd < 4096; fd++)
        open_fds += fcntl(fd, F_GETFD) >= 0;
    printf("open at start: %d\n", open_fds);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    printf("nofile: %llu %llu\n", (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);

    int out = dup(1);
    int r = dup3(out, 1023, O_CLOEXEC);
    printf("dup3 to 1023: %d cloexec=%d\n", r, fcntl(1023, F_GETFD));
    r = dup3(out, 1024, 0);
    printf("dup3 to 1024: %d %s\n", r, r < 0 ? strerror(errno) : "");
    r = fcntl(out, F_DUPFD_CLOEXEC, 500);
    printf("F_DUPFD_CLOEXEC 500: %d cloexec=%d\n", r, fcntl(r, F_GETFD));
    fcntl(r, F_SETFD, 0);
    printf("F_SETFD 0: cloexec=%d\n", fcntl(r, F_GETFD));
    printf("dup3 same: %d\n", dup3(out, out, 0));
    printf("close_range cloexec: %ld\n", syscall(SYS_close_range, 500, 600, 4 /* CLOSE_RANGE_CLOEXEC */));
    printf("after: cloexec=%d\n", fcntl(500, F_GETFD));
    printf("close_range: %ld open=%d\n", syscall(SYS_close_range, 400, 1023, 0), fcntl(1023, F_GETFD) >= 0);

    /* Fill the table: EMFILE at the limit, never a crash or a kiln descriptor. */
    int n = 0, last = -1;
    for (;;) {
        int d = dup(0);
        if (d < 0) {
            printf("fill: %s after %d\n", strerror(errno), n);
            break;
        }
        n++;
        last = d;
    }
    printf("highest: %d\n", last);

    /* Close everything (stdout kept as a copy at 3) and write through every number. */
    int keep = 1;
    for (int fd = 0; fd < 1024; fd++)
        if (fd != keep)
            close(fd);
    int written = 0;
    for (int fd = 0; fd < 1024; fd++)
        if (fd != keep && write(fd, "x", 1) == 1)
            written++;
    dprintf(keep, "writes through closed numbers: %d\n", written);
    int f = open("after.txt", O_CREAT | O_WRONLY | O_TRUNC, 0644);
    dprintf(keep, "open after closing all: %d\n", f);
    dprintf(keep, "write: %zd\n", write(f, "still works\n", 12));
    close(f);
    return 0;
}
