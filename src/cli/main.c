/* kiln command line: `kiln run` boots a system VM. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

#define KILN_VERSION "0.1.0"

static void usage(FILE *f)
{
    fprintf(f, "usage: kiln <command> [options]\n"
               "\n"
               "commands:\n"
               "  run       boot a system VM (default: the built-in Linux guest)\n"
               "  create, ls, start, stop, kill, pause, resume, info, console, log, set, rm\n"
               "            manage VMs through the daemon (started on demand; docs/daemon.md)\n"
               "  daemon    run the VM daemon in the foreground\n"
               "  web       serve a browser dashboard and consoles for the daemon's VMs\n"
               "  exec      run one riscv64 Linux program in its own process VM\n"
               "  oci       a runc-compatible OCI runtime (also as kiln-runc; docs/oci.md)\n"
               "  img       create, inspect and convert raw and qcow2 disk images\n"
               "  snapshot  save a running VM (kiln run --control) to a directory\n"
               "  restore   start a VM from a snapshot; clone: the same with new MACs\n"
               "  migrate   move a running daemon VM to another kiln daemon (live)\n"
               "\n"
               "  kiln --version | kiln --help | kiln <command> --help\n");
}

int main(int argc, char **argv)
{
    /*
     * A peer that hangs up (a hostfwd client, a console or API client, a closed
     * --hvc-out pipe) must never end a VM or the daemon: writes to it fail with
     * EPIPE, handled where they happen, instead of raising SIGPIPE (signal(7)).
     * Process VMs turn EPIPE back into the guest's own SIGPIPE (src/user/).
     */
    signal(SIGPIPE, SIG_IGN);
    /* Installed as kiln-runc (a link to kiln), it is the OCI runtime engines call as runc. */
    const char *base = argc > 0 ? strrchr(argv[0], '/') : NULL;
    base = base ? base + 1 : argc > 0 ? argv[0] : "";
    if (!strcmp(base, "kiln-runc"))
        return cli_oci(argc, argv, "kiln-runc");
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
        printf("kiln %s (RV64GC system VM)\n", KILN_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "run"))
        return cli_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "daemon"))
        return cli_daemon(argc - 1, argv + 1);
    if (!strcmp(cmd, "web"))
        return cli_web(argc - 1, argv + 1);
    if (!strcmp(cmd, "monitor"))
        return cli_monitor(argc - 1, argv + 1);
    static const char *const vmcmds[] = {"create", "ls", "start", "stop", "kill", "pause", "resume",
                                         "info", "console", "log", "set", "rm"};
    for (size_t i = 0; i < sizeof(vmcmds) / sizeof(vmcmds[0]); i++) {
        if (!strcmp(cmd, vmcmds[i]))
            return cli_vmctl(argc - 1, argv + 1);
    }
    if (!strcmp(cmd, "exec"))
        return cli_exec(argc - 1, argv + 1);
    if (!strcmp(cmd, "oci"))
        return cli_oci(argc - 1, argv + 1, "kiln oci");
    if (!strcmp(cmd, "img"))
        return cli_img(argc - 1, argv + 1);
    if (!strcmp(cmd, "snapshot"))
        return cli_snapshot(argc - 1, argv + 1);
    if (!strcmp(cmd, "migrate"))
        return cli_migrate(argc - 1, argv + 1);
    if (!strcmp(cmd, "restore") || !strcmp(cmd, "clone"))
        return cli_restore(argc - 1, argv + 1);
    fprintf(stderr, "kiln: unknown command '%s' (try 'kiln --help')\n", cmd);
    return 2;
}
