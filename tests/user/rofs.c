/* Writes into argv[1] (expected to be mapped read-only) and prints each errno. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2 || chdir(argv[1]) != 0)
        return 2;
    int fd = open("new.txt", O_WRONLY | O_CREAT, 0644);
    printf("create: %s\n", fd < 0 ? strerror(errno) : "OK");
    printf("mkdir: %s\n", mkdir("d", 0755) ? strerror(errno) : "OK");
    printf("unlink: %s\n", unlink("existing") ? strerror(errno) : "OK");
    fd = open("existing", O_RDONLY);
    printf("read: %s\n", fd < 0 ? strerror(errno) : "OK");
    return 0;
}
