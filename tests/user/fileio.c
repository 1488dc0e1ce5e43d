/* File I/O inside a mapped directory (argv[1]): create, write, read back, stat, list, rename, unlink. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    if (chdir(argv[1]) != 0) {
        printf("chdir: %s\n", strerror(errno));
        return 1;
    }
    FILE *f = fopen("a.txt", "w");
    if (!f) {
        printf("fopen: %s\n", strerror(errno));
        return 1;
    }
    for (int i = 0; i < 1000; i++)
        fprintf(f, "line %d\n", i);
    fclose(f);
    struct stat st;
    stat("a.txt", &st);
    printf("size=%lld regular=%d\n", (long long)st.st_size, S_ISREG(st.st_mode));
    f = fopen("a.txt", "r");
    char line[64], last[64] = "";
    int n = 0;
    while (fgets(line, sizeof(line), f)) {
        n++;
        strcpy(last, line);
    }
    fclose(f);
    printf("lines=%d last=%s", n, last);
    mkdir("sub", 0755);
    rename("a.txt", "sub/b.txt");
    DIR *d = opendir("sub");
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.')
            printf("entry %s\n", e->d_name);
    if (d)
        closedir(d);
    int fd = open("sub/b.txt", O_RDONLY);
    char buf[8] = {0};
    pread(fd, buf, 6, 7);
    printf("pread=%s\n", buf);
    close(fd);
    printf("unlink=%d rmdir=%d\n", unlink("sub/b.txt"), rmdir("sub"));
    char cwd[256];
    printf("cwd=%s\n", getcwd(cwd, sizeof(cwd)) ? cwd : strerror(errno));
    return 0;
}
