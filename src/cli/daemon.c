/* `kiln daemon` (kilnd) and `kiln monitor` (its per-VM helper): see docs/daemon.md. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "daemon/daemon.h"

int cli_daemon(int argc, char **argv)
{
    static const struct option opts[] = {
        {"migrate-listen", required_argument, NULL, 'l'},
        {"migrate-token-file", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *listen = NULL, *token = NULL;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'l': listen = optarg; break;
        case 't': token = optarg; break;
        case 'h':
            printf("usage: kiln daemon [--migrate-listen ADDR:PORT --migrate-token-file FILE]\n"
                   "\n"
                   "Runs the VM daemon in the foreground. It keeps VM definitions in\n"
                   "$KILN_STATE_DIR/kiln.db (default ~/.local/share/kiln) and serves the API\n"
                   "(docs/api.md) on $KILN_STATE_DIR/kiln.sock. The VM commands (kiln create, ls,\n"
                   "start, ...) start it on demand. SIGTERM ends it; running VMs keep running\n"
                   "and the next daemon re-adopts them.\n"
                   "\n"
                   "  --migrate-listen ADDR:PORT   accept live migrations from other daemons on this\n"
                   "                               TCP address (docs/migration.md); off by default\n"
                   "  --migrate-token-file FILE    the shared secret senders must prove they know\n");
            return 0;
        case ':':
            fprintf(stderr, "kiln daemon: option '%s' needs a value\n", argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "kiln daemon: unknown option '%s'\n", argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "kiln daemon: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!listen != !token) {
        fprintf(stderr, "kiln daemon: --migrate-listen and --migrate-token-file go together\n");
        return 2;
    }
    if (cli_state_dir_check("kiln daemon"))
        return 1;
    return daemon_main(cli_state_dir(), listen, token);
}

int cli_monitor(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"cgroup", required_argument, NULL, 'g'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = NULL, *cg = NULL;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dir = optarg; break;
        case 'g': cg = optarg; break;
        default:
            fprintf(stderr, "kiln monitor: internal command of kiln daemon; bad option\n");
            return 2;
        }
    }
    if (!dir) {
        fprintf(stderr, "usage: kiln monitor --dir VMDIR [--cgroup PROCS] -- RUN-ARGS...\n");
        return 2;
    }
    return monitor_main(dir, cg, argc - optind, argv + optind);
}
