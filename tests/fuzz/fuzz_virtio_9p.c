/*
 * libFuzzer target for the 9P2000.L server behind virtio-9p
 * (src/backend/p9fs.c): mutated 9P messages against a real temporary
 * directory. Each run starts from a fresh tree and a live session (Tversion,
 * Tattach fid 0, fid 1 = sub/, fid 2 = hello.txt open read-write, fid 3 = sub/
 * open for Treaddir), then feeds the input as a sequence of chunks:
 *
 *   ctl[1] len[2] bytes[len]
 *
 * ctl bit 0 patches the message's size field to len (so well-framed
 * messages are easy to reach), bits 1-3 pick the reply buffer the "driver"
 * offers (11 bytes up to msize). After every message: the reply is framed
 * right and fits the buffer; after the run: nothing outside the share
 * changed and no device node appeared. Build: tests/fuzz/build.sh.
 * Run: build/fuzz/fuzz_virtio_9p -max_total_time=60 -max_len=4096
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/p9fs.h"

#define MSIZE 8192u

static char root[64], share[96], outside[96];
static uint8_t out[MSIZE + 64];

static void rm_tree(int dirfd)
{
    DIR *d = fdopendir(dirfd);
    if (!d) {
        close(dirfd);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (unlinkat(dirfd, e->d_name, 0) == 0) continue;
        int sub = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub >= 0) {
            fchmod(sub, 0700);
            rm_tree(sub);
        }
        unlinkat(dirfd, e->d_name, AT_REMOVEDIR);
    }
    closedir(d);
}

static void put_file(const char *dir, const char *name, const char *data)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, data, strlen(data)) != (ssize_t)strlen(data)) abort();
    close(fd);
}

static void fresh_tree(void)
{
    int fd = open(share, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) abort();
    fchmod(fd, 0755);
    rm_tree(fd);
    char p[256];
    snprintf(p, sizeof(p), "%s/sub", share);
    mkdir(p, 0755);
    put_file(share, "hello.txt", "hello");
    put_file(p, "inner", "inner");
    snprintf(p, sizeof(p), "%s/escape", share);
    symlink(outside, p);
    snprintf(p, sizeof(p), "%s/up", share);
    symlink("../outside", p);
}

static void init(void)
{
    strcpy(root, "/tmp/kiln-fuzz-9p-XXXXXX");
    if (!mkdtemp(root)) abort();
    snprintf(share, sizeof(share), "%s/share", root);
    snprintf(outside, sizeof(outside), "%s/outside", root);
    if (mkdir(share, 0755) || mkdir(outside, 0755)) abort();
    put_file(outside, "secret", "SECRET");
}

static bool outside_intact(void)
{
    DIR *d = opendir(outside);
    if (!d) return false;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n++;
    closedir(d);
    char p[256], buf[16] = {0};
    snprintf(p, sizeof(p), "%s/secret", outside);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    ssize_t r = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
    if (fd >= 0) close(fd);
    return n == 3 && r == 6 && !strcmp(buf, "SECRET");
}

static bool no_devices(int dirfd)
{
    DIR *d = fdopendir(dirfd);
    if (!d) return true;
    bool ok = true;
    struct dirent *e;
    while (ok && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        struct stat st;
        if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
        if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || (st.st_mode & S_ISUID))
            ok = false;
        else if (S_ISDIR(st.st_mode)) {
            int sub = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0) ok = no_devices(sub);
        }
    }
    closedir(d);
    return ok;
}

/* One framed message built here (for the session prologue). */
static void call(struct p9fs *fs, uint8_t *m, size_t n)
{
    for (int i = 0; i < 4; i++)
        m[i] = (uint8_t)(n >> (8 * i));
    p9fs_handle(fs, m, n, out, MSIZE);
}

static void prologue(struct p9fs *fs)
{
    uint8_t m[64];
    /* Tversion tag=~0 msize=8192 "9P2000.L" */
    memcpy(m + 4,
           "\x64\xff\xff\x00\x20\x00\x00\x08\x00"
           "9P2000.L",
           17);
    call(fs, m, 21);
    /* Tattach tag=1 fid=0 afid=~0 uname="" aname="" n_uname=0 */
    memcpy(m + 4,
           "\x68\x01\x00"
           "\0\0\0\0"
           "\xff\xff\xff\xff"
           "\0\0"
           "\0\0"
           "\0\0\0\0",
           19);
    call(fs, m, 23);
    /* Twalk fid 0 -> 1 "sub"; 0 -> 2 "hello.txt"; 0 -> 3 "sub" */
    memcpy(m + 4,
           "\x6e\x01\x00"
           "\0\0\0\0"
           "\1\0\0\0"
           "\1\0"
           "\3\0sub",
           18);
    call(fs, m, 22);
    memcpy(m + 4,
           "\x6e\x01\x00"
           "\0\0\0\0"
           "\2\0\0\0"
           "\1\0"
           "\x09\0hello.txt",
           24);
    call(fs, m, 28);
    memcpy(m + 4,
           "\x6e\x01\x00"
           "\0\0\0\0"
           "\3\0\0\0"
           "\1\0"
           "\3\0sub",
           18);
    call(fs, m, 22);
    /* Tlopen fid 2 O_RDWR; fid 3 O_RDONLY|O_DIRECTORY */
    memcpy(m + 4,
           "\x0c\x01\x00"
           "\2\0\0\0"
           "\2\0\0\0",
           11);
    call(fs, m, 15);
    memcpy(m + 4,
           "\x0c\x01\x00"
           "\3\0\0\0"
           "\0\0\1\0",
           11);
    call(fs, m, 15);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct p9fs *fs;
    if (!fs) {
        init();
        if (p9fs_open(share, false, &fs)) abort();
    }
    fresh_tree();
    p9fs_reset(fs);
    prologue(fs);

    static const size_t caps[8] = {11, 16, 32, 64, 256, 1024, 4096, MSIZE};
    size_t pos = 0;
    static uint8_t msg[MSIZE];
    while (pos + 3 <= size) {
        uint8_t ctl = data[pos];
        size_t len = (size_t)data[pos + 1] | (size_t)data[pos + 2] << 8;
        pos += 3;
        if (len > size - pos) len = size - pos;
        if (len > sizeof(msg)) len = sizeof(msg);
        memcpy(msg, data + pos, len);
        pos += len;
        if ((ctl & 1) && len >= 4)
            for (int i = 0; i < 4; i++)
                msg[i] = (uint8_t)(len >> (8 * i));
        size_t cap = caps[(ctl >> 1) & 7];
        memset(out + cap, 0xa5, 64);
        int n = p9fs_handle(fs, msg, len, out, cap);
        if (n < 0) {
            if (len >= P9FS_HDR) abort(); /* every message with a tag gets a reply (cap >= 11) */
            continue;
        }
        uint32_t framed = out[0] | out[1] << 8 | out[2] << 16 | (uint32_t)out[3] << 24;
        if ((size_t)n > cap || framed != (uint32_t)n || n < P9FS_HDR) abort();
        for (int i = 0; i < 64; i++)
            if (out[cap + i] != 0xa5) abort(); /* wrote past the driver's buffer */
        if (p9fs_nfids(fs) > P9FS_MAX_FIDS) abort();
    }
    int fd = open(share, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (!outside_intact() || (fd >= 0 && !no_devices(fd))) abort();
    return 0;
}
