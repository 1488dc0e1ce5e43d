/* `kiln run`: boot one system VM in the foreground, QEMU-style flags. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/net.h"
#include "cli/cli.h"
#include "cpu/jit/jit.h"
#include "dev/virtio_9p.h"
#include "machine/board.h"
#include "machine/vm.h"
#include "util/log.h"
#include "cli/run_jail.h"
#include "cli/run_rootfs.h"

#define DEFAULT_MEM (256ull << 20)
#define MIN_MEM (2ull << 20)
#define MAX_MEM (64ull << 30)
#define DEFAULT_APPEND "console=ttyS0"
#define DEBIAN_OPENSBI "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin"

static void run_usage(FILE *f)
{
    fprintf(f,
            "usage: kiln run [options]\n"
            "       kiln run --rootfs DIR[:ro] [options] [--] CMD [ARGS...]\n"
            "\n"
            "Boots a RISC-V (RV64GC) virtual machine on QEMU virt's memory map.\n"
            "Without --kernel/--firmware it boots the default guest built by 'make guest'.\n"
            "With --rootfs the default guest runs CMD with DIR as its root (docs/rootfs.md):\n"
            "CMD's stdin, stdout and stderr are kiln's, kiln exits with CMD's status\n"
            "(128+N if a signal N killed it; 127 not found, 126 not runnable, 125 the\n"
            "guest could not start it).\n"
            "\n"
            "  --rootfs DIR[:ro] the program's root directory, shared over virtio-9p\n"
            "  --workdir DIR     its working directory in the rootfs (default /)\n"
            "  --env NAME=VALUE  set a variable in its environment (repeatable; default\n"
            "                    PATH, HOME and with --tty TERM)\n"
            "  --uid UID[:GID]   its uid and gid in the guest (default 0:0)\n"
            "  --tty             give it a terminal (a pty in the guest; stderr joins stdout)\n"
            "\n"
            "  --kernel FILE     S-mode payload at 0x80200000 started through the firmware:\n"
            "                    Linux Image, ELF or raw binary (e.g. U-Boot's u-boot.bin)\n"
            "  --initrd FILE     initial ramdisk\n"
            "  --append STR      kernel command line (default: \"" DEFAULT_APPEND "\")\n"
            "  --firmware FILE   M-mode firmware, ELF or raw binary at 0x80000000\n"
            "                    (default: OpenSBI fw_dynamic; with --firmware and no --kernel,\n"
            "                    the firmware runs alone, e.g. a bare-metal test)\n"
            "  --mem SIZE        guest RAM, e.g. 64M, 2G (default 256M)\n"
            "  --cpus N          harts, one host thread each (default 1, max %d)\n"
            "  --disk PATH[,ro][,format=raw|qcow2][,cache=writeback|none|unsafe][,bps=N][,iops=N]\n"
            "                    a raw or qcow2 image (format probed unless given) as\n"
            "                    virtio-blk (vda, vdb, ... in order);\n"
            "                    bps= bytes/s (K, M, G suffixes), iops= requests/s, 0 = unlimited\n"
            "  --net user[,hostfwd=tcp:127.0.0.1:HOSTPORT-:GUESTPORT]...[,host-loopback=on]\n"
            "            [,mac=MAC][,bps=N]\n"
            "  --net tap:IFNAME[,mac=MAC][,bps=N]\n"
            "                    a virtio-net NIC on user-mode networking (libslirp) or a tap device;\n"
            "                    bps= bytes/s each way (K, M, G suffixes), 0 = unlimited; the guest\n"
            "                    reaches the host's 127.0.0.1 at 10.0.2.2 only with host-loopback=on\n"
            "  --share DIR:TAG[:ro]\n"
            "                    share host directory DIR over virtio-9p; in the guest:\n"
            "                    mount -t 9p -o trans=virtio,version=9p2000.L TAG /mnt\n"
            "                    (:ro refuses every write; repeatable, docs/9p.md)\n"
            "  --hvc-out FILE    write the virtio console (hvc0) output to FILE\n"
            "  --no-rng          no virtio-rng device\n"
            "  --no-balloon      no virtio-balloon device\n"
            "  --incoming        wait for a live migration on the control socket (docs/migration.md)\n"
            "  --jit MODE        on (translate hot code), off (interpret), verify (check every\n"
            "                    translated block against the interpreter) (default: on)\n"
            "  --jit-cache SIZE  translated code per hart, mapped lazily (default 16M)\n"
            "  --jit-threshold N entries of a block before it is translated (default 16)\n"
            "  --control PATH    serve the control socket (JSON lines: stats, balloon,\n"
            "                    limits, powerdown, quit) at PATH, mode 0600 (docs/balloon.md)\n"
            "  --gdb PORT        serve gdb's remote protocol on 127.0.0.1:PORT (docs/gdb.md)\n"
            "  --gdb-wait        with --gdb: the harts wait for gdb before the first instruction\n"
            "  --dump-dtb FILE   write the generated device tree to FILE and exit\n"
            "  --user UID[:GID]  when started as root, the jailed VM runs as UID:GID\n"
            "                    (default %d:%d, nobody:nogroup; docs/jail.md)\n"
            "  --no-seccomp      jail without the seccomp filter (debugging)\n"
            "  --no-jail         no jail at all: no namespaces, new root, uid change, rlimits\n"
            "                    or seccomp (debugging)\n"
            "  -m SIZE, --smp N, --bios FILE, --drive SPEC\n"
            "                    QEMU's spellings of --mem, --cpus, --firmware, --disk\n"
            "  -v, --verbose     log more\n"
            "  -h, --help        this help\n"
            "\n"
            "Console: the guest's serial port is on stdin/stdout. On a terminal, Ctrl-A x quits\n"
            "and Ctrl-A h lists the other keys.\n"
            "\n"
            "SIGTERM asks the guest to power off (serial SysRq s, u, o); a second SIGTERM, or\n"
            "30 s without an exit, stops it at once (status 143). SIGINT stops it at once.\n"
            "SIGHUP (the terminal closed) and SIGPIPE never end the VM.\n"
            "A system call outside the jail's seccomp list stops kiln with status 159.\n",
            VM_MAX_HARTS, JAIL_DEFAULT_UID, JAIL_DEFAULT_GID);
}

static bool readable(const char *path)
{
    return access(path, R_OK) == 0;
}

int cli_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"user", required_argument, NULL, OPT_USER},   {"no-jail", no_argument, NULL, OPT_NO_JAIL},
        {"no-seccomp", no_argument, NULL, OPT_NO_SECCOMP},
        {"kernel", required_argument, NULL, 'k'},  {"initrd", required_argument, NULL, 'i'},
        {"append", required_argument, NULL, 'a'},  {"firmware", required_argument, NULL, 'f'},
        {"bios", required_argument, NULL, 'f'},    {"mem", required_argument, NULL, 'm'},
        {"cpus", required_argument, NULL, 'c'},    {"smp", required_argument, NULL, 'c'},
        {"dump-dtb", required_argument, NULL, 'd'}, {"verbose", no_argument, NULL, 'v'},
        {"disk", required_argument, NULL, 'D'},    {"drive", required_argument, NULL, 'D'},
        {"no-rng", no_argument, NULL, 'R'},        {"net", required_argument, NULL, 'N'},
        {"hvc-out", required_argument, NULL, 'H'}, {"share", required_argument, NULL, 'S'},
        {"control", required_argument, NULL, 'C'}, {"no-balloon", no_argument, NULL, 'B'},
        {"jit", required_argument, NULL, 'J'},     {"jit-cache", required_argument, NULL, 'j'},
        {"jit-threshold", required_argument, NULL, 'T'},
        {"gdb", required_argument, NULL, 'g'},     {"gdb-wait", no_argument, NULL, 'W'},
        {"incoming", no_argument, NULL, 'I'}, /* a migration's destination (kiln daemon) */
        {"rootfs", required_argument, NULL, OPT_ROOTFS}, {"workdir", required_argument, NULL, OPT_WORKDIR},
        {"env", required_argument, NULL, OPT_ENV}, {"uid", required_argument, NULL, OPT_UID},
        {"tty", no_argument, NULL, OPT_TTY},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    bool user_given = false;
    struct run_rootfs rootfs;
    run_rootfs_init(&rootfs);
    struct jail jail;
    jail_init(&jail);
    struct board_config cfg = {
        .mem = DEFAULT_MEM,
        .cpus = 1,
        .console_in = STDIN_FILENO,
        .console_out = STDOUT_FILENO,
    };
    bool append_given = false;
    /* Harts take their JIT settings from here when board_run() creates them. */
    struct jit_config *jit = jit_default_config();
    jit->mode = JIT_ON;
    opterr = 0;
    optind = 1;
    int c;
    /* '+': options end at the first non-option, so CMD's own options stay CMD's. */
    while ((c = getopt_long(argc, argv, "+:m:hv", opts, NULL)) != -1) {
        switch (c) {
        case OPT_ROOTFS: case OPT_WORKDIR: case OPT_ENV: case OPT_UID: case OPT_TTY:
            if (run_rootfs_option(&rootfs, c, optarg))
                return 2;
            break;
        case 'k': cfg.kernel = optarg; break;
        case 'i': cfg.initrd = optarg; break;
        case 'a': cfg.append = optarg; append_given = true; break;
        case 'f': cfg.firmware = optarg; break;
        case 'd': cfg.dump_dtb = optarg; break;
        case 'v': log_verbose = 1; break;
        case 'R': cfg.no_rng = true; break;
        case 'I': cfg.incoming = true; break;
        case 'H': cfg.hvc_out = optarg; break;
        case 'C': cfg.control = optarg; break;
        case 'B': cfg.no_balloon = true; break;
        case 'J':
            if (jit_parse_mode(optarg, &jit->mode) < 0) {
                fprintf(stderr, "kiln: --jit '%s': must be on, off or verify\n", optarg);
                return 2;
            }
            break;
        case 'j': {
            uint64_t sz;
            if (!cli_parse_size(optarg, &sz) || sz < (1u << 20) || sz > (1ull << 30)) {
                fprintf(stderr, "kiln: --jit-cache '%s': must be a size from 1M to 1G\n", optarg);
                return 2;
            }
            jit->cache_size = (size_t)sz;
            break;
        }
        case 'g': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*optarg == 0 || *end || n < 1 || n > 65535) {
                fprintf(stderr, "kiln: --gdb '%s': must be a TCP port from 1 to 65535\n", optarg);
                return 2;
            }
            cfg.gdb_port = (int)n;
            break;
        }
        case 'W': cfg.gdb_wait = true; break;
        case 'T': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*optarg == 0 || *end || n < 1 || n > 1000000) {
                fprintf(stderr, "kiln: --jit-threshold '%s': must be a number from 1 to 1000000\n", optarg);
                return 2;
            }
            jit->threshold = (unsigned)n;
            break;
        }
        case 'N':
            if (cfg.nnets >= BOARD_MAX_NETS) {
                fprintf(stderr, "kiln: at most %d --net options\n", BOARD_MAX_NETS);
                return 2;
            }
            { /* a malformed spec is a usage error (2), as for --disk */
                static struct net_config nc;
                char err[256];
                if (net_parse_spec(optarg, &nc, err, sizeof(err)) < 0) {
                    fprintf(stderr, "kiln: %s\n", err);
                    return 2;
                }
            }
            cfg.nets[cfg.nnets++] = optarg;
            break;
        case 'S': {
            char err[256];
            if (cfg.nshares >= BOARD_MAX_SHARES) {
                fprintf(stderr, "kiln: at most %d --share options\n", BOARD_MAX_SHARES);
                return 2;
            }
            struct board_share *sh = &cfg.shares[cfg.nshares];
            if (virtio_9p_parse_share(optarg, sh->dir, sizeof(sh->dir), sh->tag, sizeof(sh->tag),
                                      &sh->readonly, err, sizeof(err)) < 0) {
                fprintf(stderr, "kiln: %s\n", err);
                return 2;
            }
            cfg.nshares++;
            break;
        }
        case 'D': {
            char err[256];
            if (cfg.ndisks >= BOARD_MAX_DISKS) {
                fprintf(stderr, "kiln: at most %d --disk options\n", BOARD_MAX_DISKS);
                return 2;
            }
            if (board_parse_disk(optarg, &cfg.disks[cfg.ndisks], err, sizeof(err)) < 0) {
                fprintf(stderr, "kiln: %s\n", err);
                return 2;
            }
            cfg.ndisks++;
            break;
        }
        case 'm':
            if (!cli_parse_size(optarg, &cfg.mem)) {
                fprintf(stderr, "kiln: --mem '%s': not a size (examples: 64M, 2G)\n", optarg);
                return 2;
            }
            if (cfg.mem < MIN_MEM || cfg.mem > MAX_MEM || (cfg.mem & 0xfff)) {
                char hint[64];
                fprintf(stderr, "kiln: --mem '%s': must be a multiple of 4K between 2M and 64G%s\n",
                        optarg, cli_size_hint(optarg, hint, sizeof(hint)));
                return 2;
            }
            break;
        case 'c': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*optarg == 0 || *end || n < 1 || n > VM_MAX_HARTS) {
                fprintf(stderr, "kiln: --cpus '%s': must be a number from 1 to %d\n", optarg,
                        VM_MAX_HARTS);
                return 2;
            }
            cfg.cpus = (unsigned)n;
            break;
        }
        case OPT_NO_JAIL: jail.off = true; break;
        case OPT_NO_SECCOMP: jail.no_seccomp = true; break;
        case OPT_USER:
            if (jail_parse_user(optarg, &jail.uid, &jail.gid) < 0) {
                fprintf(stderr, "kiln: --user '%s': expected UID[:GID], numbers above 0\n", optarg);
                return 2;
            }
            user_given = true;
            break;
        case 'h': run_usage(stdout); return 0;
        case ':':
            fprintf(stderr, "kiln run: option '%s' needs a value\n", argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "kiln run: unknown option '%s' (try 'kiln run --help')\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (!rootfs.given && (rootfs.workdir || rootfs.nenv || rootfs.tty || rootfs.ids_given)) {
        fprintf(stderr, "kiln run: --workdir, --env, --uid and --tty go with --rootfs\n");
        return 2;
    }
    if (optind < argc && !rootfs.given) {
        fprintf(stderr, "kiln run: unexpected argument '%s' (try 'kiln run --help')\n", argv[optind]);
        return 2;
    }

    static char def_kernel[4200], def_initrd[4200], def_fw[4200];
    const char *cache = cli_cache_dir();
    if (!cfg.firmware) {
        snprintf(def_fw, sizeof(def_fw), "%s/guest/fw_dynamic.bin", cache);
        cfg.firmware = readable(def_fw) ? def_fw : DEBIAN_OPENSBI;
        if (!cfg.kernel) {
            snprintf(def_kernel, sizeof(def_kernel), "%s/guest/Image", cache);
            cfg.kernel = def_kernel;
            if (!cfg.initrd) {
                snprintf(def_initrd, sizeof(def_initrd), "%s/guest/initramfs.cpio.gz", cache);
                cfg.initrd = def_initrd;
            }
            if (!readable(def_kernel)) {
                fprintf(stderr, "kiln: the default guest is not built (%s is missing); run 'make guest' or pass --kernel\n",
                        def_kernel);
                return 1;
            }
        }
    }
    if (cfg.gdb_wait && !cfg.gdb_port) {
        fprintf(stderr, "kiln: --gdb-wait needs --gdb PORT\n");
        return 2;
    }
    if (cfg.kernel && !append_given)
        cfg.append = DEFAULT_APPEND;
    if (rootfs.given) {
        if (!cfg.kernel || !cfg.initrd) {
            fprintf(stderr, "kiln: --rootfs needs a kernel and an initramfs with kiln's /init (the default guest)\n");
            return 2;
        }
        int r = run_rootfs_prepare(&rootfs, &cfg, argc, argv, optind, append_given);
        if (r)
            return r;
    }
    const char *files[] = {cfg.firmware, cfg.kernel, cfg.initrd};
    const char *what[] = {"--firmware", "--kernel", "--initrd"};
    for (int i = 0; i < 3; i++) {
        if (files[i] && !readable(files[i])) {
            fprintf(stderr, "kiln: %s %s: %m\n", what[i], files[i]);
            return 1;
        }
    }
    if (cfg.initrd && !cfg.kernel) {
        fprintf(stderr, "kiln: --initrd needs --kernel\n");
        return 2;
    }
    if (run_jail_setup(&jail, &cfg, user_given) < 0)
        return 1;
    if (rootfs.given && run_rootfs_start(&rootfs))
        return 1;
    int status = board_run(&cfg);
    if (rootfs.given)
        status = run_rootfs_finish(&rootfs, status);
    jail_end(&jail);
    return status;
}
