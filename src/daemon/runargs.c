/*
 * Validation of a definition's kiln run flags (runargs.h). The table mirrors
 * src/cli/run.c's options; values are parsed with the same parsers kiln run
 * uses (board_parse_disk, net_parse_spec), without opening devices: a port in
 * use or a locked disk is a matter for `start`, which reports it.
 */
#include "daemon/runargs.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/net.h"
#include "machine/board.h"
#include "util/token_bucket.h"

#define MIN_MEM (2ull << 20)
#define MAX_MEM (64ull << 30)
#define MAX_HARTS 32

enum kind { K_FLAG, K_FILE, K_OUTFILE, K_DISK, K_NET, K_MEM, K_CPUS, K_TEXT, K_DAEMON };

static const struct {
    const char *name;
    enum kind kind;
} flags[] = {
    {"--kernel", K_FILE},   {"--initrd", K_FILE},     {"--firmware", K_FILE}, {"--bios", K_FILE},
    {"--append", K_TEXT},   {"--mem", K_MEM},         {"-m", K_MEM},          {"--cpus", K_CPUS},
    {"--smp", K_CPUS},      {"--disk", K_DISK},       {"--drive", K_DISK},    {"--net", K_NET},
    {"--hvc-out", K_OUTFILE}, {"--no-rng", K_FLAG},   {"--no-balloon", K_FLAG}, {"-v", K_FLAG},
    {"--verbose", K_FLAG},  {"--control", K_DAEMON},  {"--dump-dtb", K_DAEMON},
    {"--user", K_TEXT},     {"--no-jail", K_FLAG},    {"--no-seccomp", K_FLAG},
    {"--share", K_TEXT},    {"--jit", K_TEXT},      {"--jit-cache", K_TEXT},  {"--jit-threshold", K_TEXT},
};

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int check_file(const char *flag, const char *path, bool out, char *err, size_t errlen)
{
    if (path[0] != '/')
        return fail(err, errlen, "args: %s %s: the path must be absolute (kiln create makes it so)",
                    flag, path);
    if (!out) {
        if (access(path, R_OK))
            return fail(err, errlen, "args: %s %s: %s", flag, path, strerror(errno));
        return 0;
    }
    /* An output file may not exist yet; its directory must. */
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = 0;
    else
        *slash = 0;
    struct stat st;
    if (stat(dir, &st) || !S_ISDIR(st.st_mode))
        return fail(err, errlen, "args: %s %s: no such directory", flag, path);
    return 0;
}

static int check_value(const char *flag, enum kind k, const char *val, char *err, size_t errlen)
{
    uint64_t n;
    switch (k) {
    case K_FILE:
        return check_file(flag, val, false, err, errlen);
    case K_OUTFILE:
        return check_file(flag, val, true, err, errlen);
    case K_DISK: {
        struct board_disk disk;
        char e[300];
        if (board_parse_disk(val, &disk, e, sizeof(e)) < 0)
            return fail(err, errlen, "args: %s", e);
        if (check_file(flag, disk.path, false, err, errlen))
            return -1;
        if (!disk.readonly && access(disk.path, W_OK))
            return fail(err, errlen, "args: --disk %s: not writable (add ,ro for a read-only disk)",
                        disk.path);
        return 0;
    }
    case K_NET: {
        static struct net_config nc; /* large; callers hold the daemon lock */
        char e[300];
        if (net_parse_spec(val, &nc, e, sizeof(e)) < 0)
            return fail(err, errlen, "args: %s", e);
        return 0;
    }
    case K_MEM:
        if (tb_parse_limit(val, true, &n) || n < MIN_MEM || n > MAX_MEM || (n & 0xfff))
            return fail(err, errlen, "args: %s '%s': a size such as 256M, a multiple of 4K from 2M to 64G",
                        flag, val);
        return 0;
    case K_CPUS:
        if (tb_parse_limit(val, false, &n) || n < 1 || n > MAX_HARTS)
            return fail(err, errlen, "args: %s '%s': a whole number from 1 to 32", flag, val);
        return 0;
    default:
        return 0;
    }
}

int runargs_check(char *const *args, int nargs, char *err, size_t errlen)
{
    for (int i = 0; i < nargs; i++) {
        const char *a = args[i], *val = NULL;
        char name[64];
        const char *eq = strncmp(a, "--", 2) ? NULL : strchr(a, '=');
        size_t nl = eq ? (size_t)(eq - a) : strlen(a);
        if (nl >= sizeof(name))
            return fail(err, errlen, "args: unknown kiln run flag '%s'", a);
        memcpy(name, a, nl);
        name[nl] = 0;
        size_t f;
        for (f = 0; f < sizeof(flags) / sizeof(flags[0]) && strcmp(flags[f].name, name); f++)
            ;
        if (f == sizeof(flags) / sizeof(flags[0])) {
            if (a[0] != '-')
                return fail(err, errlen, "args: unexpected argument '%s' (kiln run takes flags only)", a);
            return fail(err, errlen, "args: unknown kiln run flag '%s' (kiln run --help lists them)", a);
        }
        enum kind k = flags[f].kind;
        if (k == K_DAEMON)
            return fail(err, errlen, "args: %s is set by the daemon itself", name);
        if (k == K_FLAG) {
            if (eq)
                return fail(err, errlen, "args: %s takes no value", name);
            continue;
        }
        if (eq) {
            val = eq + 1;
        } else {
            if (i + 1 >= nargs)
                return fail(err, errlen, "args: %s needs a value", name);
            val = args[++i];
        }
        if (check_value(name, k, val, err, errlen))
            return -1;
    }
    return 0;
}
