/* Tries to leave the mapped directory argv[1] through "..", an absolute path, and a symlink; prints what it got. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void try(const char *what, const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {
        char buf[16] = {0};
        read(fd, buf, sizeof(buf) - 1);
        printf("%s: OPENED (%.10s)\n", what, buf);
        close(fd);
    } else {
        printf("%s: %s\n", what, strerror(errno));
    }
}

int main(int argc, char **argv)
{
    if (argc < 2 || chdir(argv[1]) != 0)
        return 2;
    try("dotdot", "../../../../../../etc/passwd");
    try("absolute", "/etc/passwd");
    unlink("link");
    if (symlink("/etc/passwd", "link") != 0)
        printf("symlink: %s\n", strerror(errno));
    try("symlink-abs", "link");
    unlink("link2");
    symlink("../../../../../../../etc/passwd", "link2");
    try("symlink-rel", "link2");
    unlink("link");
    unlink("link2");
    return 0;
}
