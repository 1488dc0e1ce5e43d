/*
 * `kiln run --rootfs HOST_DIR[:ro] [...] -- CMD [ARGS...]` (docs/rootfs.md): the default
 * guest boots with HOST_DIR as its root over virtio-9p and runs one program there; kiln
 * relays the program's stdin, stdout and stderr over the virtio console and exits with
 * its status.
 */
#ifndef KILN_CLI_RUN_ROOTFS_H
#define KILN_CLI_RUN_ROOTFS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <termios.h>

struct board_config;

/* run.c's option codes for the --rootfs flags (after run_jail.h's). */
enum { OPT_ROOTFS = 0x180, OPT_WORKDIR, OPT_ENV, OPT_UID, OPT_TTY };

#define RUN_ROOTFS_TAG "kiln-root"
#define RUN_ROOTFS_MAX_ENV 1024

struct run_rootfs {
    /* From the command line. */
    const char *dir;
    bool readonly, tty, given, ids_given;
    const char *workdir;
    unsigned uid, gid;
    const char *env[RUN_ROOTFS_MAX_ENV];
    unsigned nenv;
    char *const *argv; /* CMD ARGS..., NULL-terminated */

    /* While running. */
    uint8_t *cpio;
    size_t cpio_len;
    char append[4096];
    int null_fd;
    int to_guest[2], from_guest[2], uart[2];
    pid_t main_tid;
    int winch_fd; /* --tty on a host terminal: SIGWINCH, relayed as a window-size frame */
    bool stale_guest; /* the UART showed the normal mode's banner: an /init without --rootfs */
    pthread_t thread;
    bool thread_started;
    int status; /* the program's exit status from the guest; -1 until it arrives */
    struct termios saved;
    bool raw;
};

void run_rootfs_init(struct run_rootfs *r);
/* One of the OPT_* options above. 0, or 2 (usage error) after printing why. */
int run_rootfs_option(struct run_rootfs *r, int opt, const char *arg);
/*
 * After the options: CMD is argv[first..]. Checks the directory, writes the spec into an
 * archive appended to the initrd and points cfg at the share, the command line and the
 * console descriptors. 0, or kiln's exit status after printing why.
 */
int run_rootfs_prepare(struct run_rootfs *r, struct board_config *cfg, int argc, char **argv,
                       int first, bool append_given);
/* Starts the stdio relay; call right before board_run(). 0 or 1. */
int run_rootfs_start(struct run_rootfs *r);
/* After board_run(): waits for the relay, frees everything, returns kiln's exit status. */
int run_rootfs_finish(struct run_rootfs *r, int board_status);

#endif
