/*
 * `kiln exec [options] PROGRAM [ARGS...]`: runs one riscv64 Linux program in
 * its own throw-away process VM (src/user/). kiln exits with the program's
 * exit status, or 128+N when it was killed by signal N.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "user/elf.h"
#include "user/netpolicy.h"
#include "user/paths.h"
#include "user/proc.h"

#define DEFAULT_SYSROOT "/usr/riscv64-linux-gnu"
#define MAX_DIRS 24

extern char **environ;

static void exec_usage(FILE *f)
{
    fprintf(f,
            "usage: kiln exec [options] PROGRAM [ARGS...]\n"
            "\n"
            "Runs a riscv64 Linux program (static, or dynamic through its interpreter) in its own\n"
            "process VM. The program sees only the directories given with --dir.\n"
            "\n"
            "options:\n"
            "  --dir HOST[:GUEST][:ro]  map a host directory (GUEST defaults to HOST; --dir . maps cwd)\n"
            "  --sysroot DIR            riscv64 libraries, mapped read-only at /lib (default %s)\n"
            "  --mem SIZE               guest RAM, a hard limit (default 1G)\n"
            "  --time SECONDS           kill the program after this wall time (exit 137)\n"
            "  --net [user[,host-loopback=on]]\n"
            "                           allow sockets; the host itself (loopback, its own addresses,\n"
            "                           abstract Unix sockets) stays closed unless host-loopback=on\n",
            DEFAULT_SYSROOT);
}

struct skeleton {
    char root[128];
    bool own;
};

/* mkdir -p of guest path g (a directory, or an empty file when file) under the skeleton. */
static void skel_make(struct skeleton *sk, const char *g, bool file)
{
    char path[GPATH_MAX + 128];
    snprintf(path, sizeof(path), "%s%s", sk->root, g);
    size_t base = strlen(sk->root);
    for (size_t i = base + 1; path[i - 1]; i++) {
        if (path[i] != '/' && path[i] != 0)
            continue;
        char save = path[i];
        path[i] = 0;
        if (save == 0 && file) {
            int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0444);
            if (fd >= 0)
                close(fd);
        } else {
            mkdir(path, 0755);
        }
        path[i] = save;
    }
}

/* Copies (or hard-links) the program to dst. */
static int skel_put_program(const char *prog, const char *dst)
{
    if (link(prog, dst) == 0)
        return 0;
    int in = open(prog, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -1;
    int out = open(dst, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0755);
    if (out < 0) {
        close(in);
        return -1;
    }
    char buf[65536];
    ssize_t n;
    int rc = 0;
    while ((n = read(in, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)n) != n)
            rc = -1;
    close(in);
    close(out);
    return rc;
}

/*
 * A multi-call busybox as PROGRAM: its shell looks applets up in PATH, so the
 * skeleton gets /bin/busybox (a link or copy of the program) and one hard link
 * per applet listed in busybox.links beside it (what guest/build.sh leaves).
 */
static void skel_busybox(struct skeleton *sk, const char *prog)
{
    const char *base = strrchr(prog, '/');
    base = base ? base + 1 : prog;
    if (strcmp(base, "busybox"))
        return;
    char bin[GPATH_MAX], links[GPATH_MAX];
    snprintf(bin, sizeof(bin), "%s/bin", sk->root);
    mkdir(bin, 0755);
    snprintf(bin, sizeof(bin), "%s/bin/busybox", sk->root);
    if (skel_put_program(prog, bin))
        return;
    snprintf(links, sizeof(links), "%.*s/busybox.links", (int)(base - prog), prog);
    FILE *f = fopen(links, "re");
    if (!f)
        return;
    char line[256];
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = 0;
        const char *name = strrchr(line, '/');
        name = name ? name + 1 : line;
        if (!*name || strchr(name, '.'))
            continue;
        char dst[GPATH_MAX + 300];
        snprintf(dst, sizeof(dst), "%s/bin/%s", sk->root, name);
        if (link(bin, dst) < 0 && errno != EEXIST)
            break;
    }
    fclose(f);
}

static int skel_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

static void skel_remove(struct skeleton *sk)
{
    /* Only empty directories and files kiln made; FTW_PHYS never follows a link out. */
    if (sk->own && sk->root[0])
        nftw(sk->root, skel_rm, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

int cli_exec(int argc, char **argv)
{
    const char *dirs[MAX_DIRS];
    unsigned ndirs = 0;
    const char *sysroot = DEFAULT_SYSROOT, *cwd = NULL, *skel_path = NULL;
    uint64_t mem = 1ull << 30;
    double time_limit = 0;
    bool net = false, net_open = false, explicit_argv = false, own_skel = false;
    int prog_fd = -1;
    /* kiln argv prefix for execve(): kiln exec + the options that describe this VM. */
    char **reexec = calloc((size_t)argc + 8, sizeof(char *));
    if (!reexec)
        return 1;
    unsigned nre = 0;
    reexec[nre++] = "kiln";
    reexec[nre++] = "exec";
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        bool has_next = i + 1 < argc;
        if (!strcmp(a, "--")) {
            i++;
            break;
        }
        if (a[0] != '-')
            break;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            exec_usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--net") || !strncmp(a, "--net=", 6)) {
            net = true;
            reexec[nre++] = argv[i];
            /* An optional value: "--net=SPEC", or "--net user[,...]" as kiln run spells it. */
            const char *spec = a[5] == '=' ? a + 6 : NULL;
            if (!spec && has_next && !strncmp(argv[i + 1], "user", 4) && (!argv[i + 1][4] || argv[i + 1][4] == ','))
                spec = reexec[nre++] = argv[++i];
            if (spec && netpolicy_parse(spec, &net_open)) {
                fprintf(stderr, "kiln exec: bad --net '%s' (want user or user,host-loopback=on)\n", spec);
                free(reexec);
                return 2;
            }
            continue;
        }
        if (!strcmp(a, "--own-skeleton")) {
            own_skel = true;
            continue;
        }
        if (!has_next) {
            fprintf(stderr, "kiln exec: %s needs a value (try 'kiln exec --help')\n", a);
            return 2;
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--dir")) {
            if (ndirs == MAX_DIRS) {
                fprintf(stderr, "kiln exec: too many --dir (at most %d)\n", MAX_DIRS);
                return 2;
            }
            dirs[ndirs++] = v;
            reexec[nre++] = argv[i - 1];
            reexec[nre++] = argv[i];
        } else if (!strcmp(a, "--sysroot")) {
            sysroot = v;
            reexec[nre++] = argv[i - 1];
            reexec[nre++] = argv[i];
        } else if (!strcmp(a, "--mem")) {
            if (!cli_parse_size(v, &mem) || mem < (4ull << 20) || mem > (1ull << 40)) {
                fprintf(stderr, "kiln exec: bad --mem '%s' (4M to 1T, e.g. 512M or 2G)\n", v);
                return 2;
            }
            mem &= ~4095ull;
            reexec[nre++] = argv[i - 1];
            reexec[nre++] = argv[i];
        } else if (!strcmp(a, "--time")) {
            char *end;
            time_limit = strtod(v, &end);
            if (*end || !(time_limit > 0)) {
                fprintf(stderr, "kiln exec: bad --time '%s' (seconds, > 0)\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--prog-fd")) {
            prog_fd = atoi(v);
        } else if (!strcmp(a, "--cwd")) {
            cwd = v;
        } else if (!strcmp(a, "--skeleton")) {
            skel_path = v;
        } else {
            fprintf(stderr, "kiln exec: unknown option '%s' (try 'kiln exec --help')\n", a);
            return 2;
        }
    }
    if (i >= argc) {
        fprintf(stderr, "kiln exec: no program given (usage: kiln exec [options] PROGRAM [ARGS...])\n");
        return 2;
    }
    const char *prog = argv[i];
    /* From execve (with --prog-fd): "PATH --argv ARGV0 ARGS..." when argv[0] differs from PATH. */
    explicit_argv = prog_fd >= 0 && i + 1 < argc && !strcmp(argv[i + 1], "--argv");
    char **gargv = explicit_argv ? argv + i + 2 : argv + i;

    /* Quick checks with one clear line before building anything. */
    if (prog_fd < 0) {
        int fd = open(prog, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            fprintf(stderr, "kiln exec: %s: %s\n", prog, strerror(errno));
            return 127;
        }
        uint8_t hdr[64];
        ssize_t n = read(fd, hdr, sizeof(hdr));
        close(fd);
        char why[160];
        if (elf_check_header(hdr, n > 0 ? (size_t)n : 0, why, sizeof(why))) {
            fprintf(stderr, "kiln exec: %s: %s\n", prog, why);
            return 126;
        }
    }

    struct mounts *mt = calloc(1, sizeof(*mt));
    if (!mt)
        return 1;
    for (unsigned d = 0; d < ndirs; d++) {
        char host[GPATH_MAX], guest[GPATH_MAX];
        bool ro;
        if (mounts_parse_spec(dirs[d], host, sizeof(host), guest, sizeof(guest), &ro)) {
            fprintf(stderr, "kiln exec: bad --dir '%s' (HOST[:GUEST][:ro], GUEST absolute)\n", dirs[d]);
            return 2;
        }
        int rc = mounts_add(mt, host, guest, ro);
        if (rc) {
            fprintf(stderr, "kiln exec: --dir %s: %s\n", dirs[d], strerror(-rc));
            return 2;
        }
    }
    /* The sysroot's lib/ at /lib (read-only): where ld.so and its search path find libc. */
    char lib[GPATH_MAX];
    snprintf(lib, sizeof(lib), "%s/lib", sysroot);
    struct stat st;
    if (!mounts_has(mt, "/lib") && stat(lib, &st) == 0 && S_ISDIR(st.st_mode))
        mounts_add(mt, lib, "/lib", true);
    static const char *const devs[] = {"/dev/null", "/dev/zero", "/dev/urandom", "/dev/random"};
    for (size_t d = 0; d < sizeof(devs) / sizeof(devs[0]); d++)
        if (!mounts_has(mt, devs[d]))
            mounts_add(mt, devs[d], devs[d], false);

    /* No mapping at "/": a read-only skeleton holding just the mount points, so "/" lists them. */
    struct skeleton sk = {.own = false};
    if (!mounts_has(mt, "/")) {
        if (skel_path) {
            snprintf(sk.root, sizeof(sk.root), "%s", skel_path);
            sk.own = own_skel;
        } else {
            const char *tmp = getenv("TMPDIR");
            snprintf(sk.root, sizeof(sk.root), "%s/kiln-root-XXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
            if (!mkdtemp(sk.root)) {
                fprintf(stderr, "kiln exec: cannot create the root skeleton in /tmp: %s\n", strerror(errno));
                return 1;
            }
            sk.own = true;
            skel_busybox(&sk, prog);
        }
        unsigned n = mt->n;
        for (unsigned m = 0; m < n; m++)
            skel_make(&sk, mt->m[m].guest, !mt->m[m].is_dir);
        int rc = mounts_add(mt, sk.root, "/", true);
        if (rc) {
            fprintf(stderr, "kiln exec: root skeleton %s: %s\n", sk.root, strerror(-rc));
            skel_remove(&sk);
            return 1;
        }
        reexec[nre++] = "--skeleton";
        reexec[nre++] = sk.root;
    }
    if (sk.own)
        reexec[nre++] = "--own-skeleton"; /* removed again by proc when the exec is not from the owner */
    reexec[nre] = NULL;

    struct proc_config cfg = {
        .prog_path = prog,
        .prog_fd = prog_fd,
        .execfn = prog,
        .argv = gargv,
        .envp = environ,
        .sysroot = sysroot,
        .mem = mem,
        .net = net,
        .net_host_loopback = net_open,
        .reexec = reexec,
    };
    struct proc *p = calloc(1, sizeof(*p));
    if (!p)
        return 1;
    char err[512];
    int rc = proc_create(p, &cfg, mt, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "kiln exec: %s\n", err);
        skel_remove(&sk);
        return rc == -ENOEXEC ? 126 : 1;
    }
    if (cwd)
        snprintf(p->cwd, sizeof(p->cwd), "%s", cwd);
    if (net && netpolicy_init(net_open))
        fprintf(stderr, "kiln exec: cannot read the host's addresses; they stay reachable\n");
    proc_adopt_fds(p);
    rc = proc_start(p);
    if (rc) {
        fprintf(stderr, "kiln exec: cannot start: %s\n", strerror(-rc));
        skel_remove(&sk);
        return 1;
    }
    int status = proc_wait(p, time_limit);
    if (status == -ETIMEDOUT) {
        fprintf(stderr, "kiln exec: %s: time limit of %g s reached, killed\n", prog, time_limit);
        status = 128 + 9;
    }
    skel_remove(&sk);
    fflush(stdout);
    /* Guest threads may still be inside host calls: leave without tearing the VM down under them. */
    _exit(status);
}
