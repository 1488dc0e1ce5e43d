/*
 * Tries to change what kiln's caller handed in as stdin (a host file, /dev/null
 * or a terminal): its mode, owner, times and size; then the same on the host's
 * /dev/null that kiln maps. Each must be refused; reading and writing still
 * work. The test checks the host file and /dev/null after.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void show(const char *what, long r)
{
    printf("%s: %s\n", what, r < 0 ? strerror(errno) : "OK");
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    char buf[16];
    show("read stdin", read(0, buf, sizeof(buf)));
    show("fchmod stdin", fchmod(0, 06777));
    show("fchown stdin", fchown(0, 1234, 1234));
    struct timespec ts[2] = {{1, 0}, {1, 0}};
    show("futimens stdin", futimens(0, ts));
    show("utimensat empty path stdin", utimensat(0, "", ts, AT_EMPTY_PATH));
    show("fchownat empty path stdin", fchownat(0, "", 1234, 1234, AT_EMPTY_PATH));
    show("ftruncate stdin", ftruncate(0, 0));
    show("fchmod stderr", fchmod(2, 0));
    show("fchmod dup of stdin", fchmod(dup(0), 0));
    int nul = open("/dev/null", O_RDWR);
    show("write /dev/null", write(nul, "x", 1));
    show("fchmod /dev/null", fchmod(nul, 0));
    show("chmod /dev/null", chmod("/dev/null", 0));
    show("chown /dev/null", chown("/dev/null", 5, 5));
    show("utimensat /dev/null", utimensat(AT_FDCWD, "/dev/null", ts, 0));
    return 0;
}
