/*
 * libFuzzer target for process-VM path handling: any guest path (with any
 * base directory) must normalize to an absolute path without "." or ".."
 * components or be refused, never overflow; mount lookup must give a
 * relative remainder that stays inside the mount; and the ELF header check
 * must accept or refuse any bytes. Build: tests/fuzz/build.sh, or
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc tests/fuzz/fuzz_user_path.c \
 *         src/user/paths.c src/user/elf.c src/user/mm.c src/user/pmem.c -o /tmp/fuzz_user_path
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "user/elf.h"
#include "user/paths.h"

static int check_clean(const char *p)
{
    if (p[0] != '/')
        return 0;
    if (!strcmp(p, "/"))
        return 1;
    const char *s = p;
    while (*s) {
        s++; /* past '/' */
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
            return 0;
        s += n;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    elf_check_header(data, size, NULL, 0);
    /* Input: base path, NUL, guest path. */
    char *buf = malloc(size + 2);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = 0;
    buf[size + 1] = 0;
    const char *path = buf + strlen(buf) + 1;
    char base[GPATH_MAX], out[GPATH_MAX];
    if (path_normalize("/", buf, base, sizeof(base)) != 0)
        strcpy(base, "/");
    if (!check_clean(base))
        abort();
    int small = size & 1;
    if (path_normalize(base, path, out, small ? 16 : sizeof(out)) == 0) {
        if (!check_clean(out) || strlen(out) >= (small ? 16u : sizeof(out)))
            abort();
        static struct mounts mt;
        if (mt.n == 0) {
            strcpy(mt.m[0].guest, "/");
            strcpy(mt.m[1].guest, "/work");
            strcpy(mt.m[2].guest, "/work/a/b");
            mt.n = 3;
        }
        const char *rel;
        int i = mounts_find(&mt, out, &rel);
        if (i < 0 || rel[0] == '/' || strstr(rel, ".."))
            if (i < 0 || strstr(rel, "/../") || !strncmp(rel, "../", 3) || !strcmp(rel, ".."))
                abort();
    }
    free(buf);
    return 0;
}
