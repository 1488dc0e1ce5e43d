/*
 * `kiln snapshot`, `kiln restore` and `kiln clone` (docs/snapshots.md).
 *
 *   kiln snapshot --control SOCK DIR [--paused]   ask a running VM to write a snapshot
 *   kiln restore DIR [--paused] [--clone] [--control SOCK] [--hvc-out FILE] [--timing] [--no-jail]
 *   kiln clone DIR [...]                           kiln restore DIR --clone
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "backend/disk.h"
#include "cli/cli.h"
#include "cli/run_jail.h"
#include "cli/vmapi.h"
#include "cpu/jit/jit.h"
#include "machine/board.h"
#include "snapshot/snapshot.h"
#include "util/log.h"

enum { OPT_PAUSED = 0x200, OPT_CLONE, OPT_TIMING, OPT_CONTROL, OPT_HVC, OPT_JIT, OPT_OVERLAYS, OPT_DISKS };

int cli_snapshot(int argc, char **argv)
{
    static const struct option opts[] = {
        {"control", required_argument, NULL, OPT_CONTROL}, {"paused", no_argument, NULL, OPT_PAUSED},
        {"disks", no_argument, NULL, OPT_DISKS}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *sock = NULL;
    bool paused = false, disks = false;
    if (cli_vm_snap_wanted(argc, argv))
        return cli_vm_snapshot(argc, argv); /* kiln snapshot NAME DIR: a daemon VM */
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_CONTROL: sock = optarg; break;
        case OPT_PAUSED: paused = true; break;
        case OPT_DISKS: disks = true; break;
        case 'h':
            printf("usage: kiln snapshot NAME DIR [--paused] [--disks] [--json]\n"
                   "  asks the daemon for a snapshot of its VM NAME into DIR\n"
                   "usage: kiln snapshot --control SOCK DIR [--paused] [--disks]\n"
                   "  writes a snapshot of the VM serving SOCK (kiln run --control) into DIR;\n"
                   "  the VM runs on afterwards unless --paused. Restore: kiln restore DIR\n"
                   "  --disks  also copy its writable disks into DIR (the VM stays paused while\n"
                   "           they are copied); restores then write overlays over the copies\n");
            return 0;
        default:
            fprintf(stderr, "kiln snapshot: bad option '%s' (try 'kiln snapshot --help')\n", argv[optind - 1]);
            return 2;
        }
    }
    if (!sock || optind != argc - 1) {
        fprintf(stderr, "usage: kiln snapshot --control SOCK DIR [--paused] [--disks]\n");
        return 2;
    }
    /* The files are created here and passed to the VM: a jailed VM has no path to DIR. */
    char ans[4096], err[4400];
    if (snapshot_take(sock, argv[optind], paused, disks, ans, sizeof(ans), err, sizeof(err))) {
        fprintf(stderr, "kiln snapshot: %s\n", err);
        return 1;
    }
    printf("%s\n", ans);
    return 0;
}

static bool has_name(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--name") || !strncmp(argv[i], "--name=", 7))
            return true;
    return false;
}

static void restore_usage(FILE *f)
{
    fprintf(f, "usage: kiln restore DIR [options]     (kiln clone DIR = kiln restore DIR --clone)\n"
               "  starts a VM from the snapshot in DIR (kiln snapshot); its memory is mapped\n"
               "  copy-on-write, so any number of VMs can start from one snapshot.\n"
               "  --paused          load everything, run nothing until {\"cmd\":\"resume\"}\n"
               "  --clone           new MAC addresses for its NICs (the guest re-reads them when\n"
               "                    its driver probes; see docs/snapshots.md for reseeding), and\n"
               "                    its writes to disks go to qcow2 overlays of its own\n"
               "  --disk-overlays DIR  keep those overlays in DIR (clone-diskN.qcow2); without\n"
               "                    it they are temporary, their writes gone when the VM ends\n"
               "  --control PATH    serve the control socket\n"
               "  --hvc-out FILE    write the virtio console (hvc0) output to FILE\n"
               "  --timing          print how long the restore took to the first instruction\n"
               "  --jit MODE        on (default), off or verify, as for kiln run\n"
               "  --no-jail         run without the jail (see kiln run --help)\n"
               "usage: kiln restore DIR --name NEW [--paused] [--clone] [--json]\n"
               "  a new daemon VM NEW started from the snapshot (its size is the snapshot's)\n"
               "usage: kiln clone NAME NEW [--count N] [--json]\n"
               "  snapshots the running daemon VM NAME, then starts N clones of it (NEW, or\n"
               "  NEW-1..NEW-N), each with new MAC addresses and its own disk overlays\n");
}

int cli_restore(int argc, char **argv)
{
    static const struct option opts[] = {
        {"paused", no_argument, NULL, OPT_PAUSED},   {"clone", no_argument, NULL, OPT_CLONE},
        {"timing", no_argument, NULL, OPT_TIMING},   {"control", required_argument, NULL, OPT_CONTROL},
        {"hvc-out", required_argument, NULL, OPT_HVC}, {"no-jail", no_argument, NULL, OPT_NO_JAIL},
        {"no-seccomp", no_argument, NULL, OPT_NO_SECCOMP}, {"verbose", no_argument, NULL, 'v'},
        {"jit", required_argument, NULL, OPT_JIT}, {"disk-overlays", required_argument, NULL, OPT_OVERLAYS},
        {"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0}};
    static struct snap_restore r;
    const char *overlays = NULL;
    if (cli_vm_snap_wanted(argc, argv)) /* --name NEW / clone NAME NEW: the daemon's */
        return !strcmp(argv[0], "clone") && !has_name(argc, argv) ? cli_vm_clone(argc, argv)
                                                                   : cli_vm_restore(argc, argv);
    struct jail jail;
    jail_init(&jail);
    bool paused = false, clone = !strcmp(argv[0], "clone"), timing = false;
    struct board_config cfg = {.cpus = 1, .console_in = STDIN_FILENO, .console_out = STDOUT_FILENO};
    /* Translated code is never part of a snapshot: the restored VM translates afresh. */
    jit_default_config()->mode = JIT_ON;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":hv", opts, NULL)) != -1) {
        switch (c) {
        case OPT_PAUSED: paused = true; break;
        case OPT_CLONE: clone = true; break;
        case OPT_TIMING: timing = true; break;
        case OPT_CONTROL: cfg.control = optarg; break;
        case OPT_HVC: cfg.hvc_out = optarg; break;
        case OPT_OVERLAYS: overlays = optarg; break;
        case OPT_NO_JAIL: jail.off = true; break;
        case OPT_NO_SECCOMP: jail.no_seccomp = true; break;
        case 'v': log_verbose = 1; break;
        case OPT_JIT:
            if (jit_parse_mode(optarg, &jit_default_config()->mode) < 0) {
                fprintf(stderr, "kiln: --jit '%s': must be on, off or verify\n", optarg);
                return 2;
            }
            break;
        case 'h': restore_usage(stdout); return 0;
        case ':':
            fprintf(stderr, "kiln %s: option '%s' needs a value\n", argv[0], argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "kiln %s: unknown option '%s' (try 'kiln restore --help')\n", argv[0],
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind != argc - 1) {
        restore_usage(stderr);
        return 2;
    }
    char err[SNAP_PATH_MAX + 600];
    if (snapshot_open(argv[optind], &r, err, sizeof(err)) < 0) {
        fprintf(stderr, "kiln: cannot restore %s: %s\n", argv[optind], err);
        return 1;
    }
    r.paused = paused;
    r.clone = clone;
    r.timing = timing;
    if (snapshot_disk_overlays(&r, overlays, err, sizeof(err)) < 0) {
        fprintf(stderr, "kiln: cannot restore %s: %s\n", argv[optind], err);
        snapshot_close(&r);
        return 1;
    }
    for (unsigned i = 0; i < r.m.ndisks; i++)
        if (r.overlay_fd[i] >= 0)
            fprintf(stderr, "kiln: disk %u writes to a temporary qcow2 overlay (gone when the VM ends; "
                    "--disk-overlays DIR keeps it)\n", i);
    const struct snap_machine *m = &r.m;
    cfg.mem = m->ram_size;
    cfg.cpus = m->nharts;
    cfg.no_rng = m->no_rng;
    cfg.no_balloon = m->no_balloon;
    cfg.ndisks = m->ndisks;
    for (unsigned i = 0; i < m->ndisks; i++) {
        struct board_disk *d = &cfg.disks[i];
        snprintf(d->path, sizeof(d->path), "%s", m->disks[i].path);
        if (r.disk_overlay[i])
            d->format = DISK_FORMAT_QCOW2;
        d->readonly = m->disks[i].readonly;
        d->cache = (int)m->disks[i].cache;
        d->bps = m->disks[i].bps;
        d->iops = m->disks[i].iops;
    }
    cfg.nnets = m->nnets;
    for (unsigned i = 0; i < m->nnets; i++)
        cfg.nets[i] = m->nets[i];
    cfg.nshares = m->nshares; /* opened as `kiln run --share` opens them (docs/9p.md) */
    for (unsigned i = 0; i < m->nshares; i++) {
        snprintf(cfg.shares[i].dir, sizeof(cfg.shares[i].dir), "%s", m->shares[i].dir);
        snprintf(cfg.shares[i].tag, sizeof(cfg.shares[i].tag), "%s", m->shares[i].tag);
        cfg.shares[i].readonly = m->shares[i].readonly;
    }
    if (clone) {
        /* A locally unique MAC per clone, in QEMU's 52:54:00 range. */
        for (unsigned i = 0; i < m->nnets; i++) {
            uint8_t rnd[3];
            if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
                fprintf(stderr, "kiln: getrandom: %s\n", strerror(errno));
                snapshot_close(&r);
                return 1;
            }
            uint8_t mac[6] = {0x52, 0x54, 0x00, rnd[0], rnd[1], rnd[2]};
            memcpy(r.mac[i], mac, 6);
            fprintf(stderr, "kiln: clone: NIC %u has MAC %02x:%02x:%02x:%02x:%02x:%02x\n", i, mac[0],
                    mac[1], mac[2], mac[3], mac[4], mac[5]);
        }
    }
    cfg.restore = &r;
    if (run_jail_setup(&jail, &cfg, false) < 0) {
        snapshot_close(&r);
        return 1;
    }
    int status = board_run(&cfg);
    jail_end(&jail);
    snapshot_close(&r);
    return status;
}
