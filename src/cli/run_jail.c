/* `kiln run`'s side of the jail (docs/jail.md): what the VM keeps, and the board hooks. */
#include "cli/run_jail.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/disk.h"
#include "cli/run_rootfs.h"

static bool readable(const char *path)
{
    return access(path, R_OK) == 0;
}

static int run_lockdown(void *ctx)
{
    return jail_lockdown(ctx);
}

static void run_hart_enter(void *ctx, unsigned hart)
{
    jail_hart_enter(ctx, hart);
}

/*
 * What the jail must leave the VM (docs/jail.md): the boot images, which a guest reboot
 * reloads; /etc/resolv.conf, which libslirp reads to forward DNS; the host network for
 * a NIC; a file-size limit no lower than any disk. Then the namespaces, while kiln has
 * one thread.
 */
int run_jail_setup(struct jail *j, struct board_config *cfg, bool user_given)
{
    if (j->off)
        return 0;
    if (user_given && geteuid() != 0)
        fprintf(stderr, "kiln: --user only applies when kiln run starts as root; ignored\n");
    /* Absolute, canonical paths: the jail keeps each file at that path in its new root, whose
     * working directory is "/" (a relative path would name another file after pivot_root). */
    static char abs[3][PATH_MAX];
    const char **imgs[] = {&cfg->firmware, &cfg->kernel, &cfg->initrd};
    for (int i = 0; i < 3; i++) {
        if (*imgs[i] && realpath(*imgs[i], abs[i]))
            *imgs[i] = abs[i];
        jail_keep(j, *imgs[i]);
    }
    for (unsigned i = 0; i < cfg->nnets; i++) {
        j->host_net = true;
        if (!strncmp(cfg->nets[i], "user", 4))
            j->sockets = true;
    }
    /* --gdb listens on the host's 127.0.0.1, where the debugger runs (docs/gdb.md). */
    if (cfg->gdb_port)
        j->host_net = true;
    if (j->sockets && readable("/etc/resolv.conf"))
        jail_keep(j, "/etc/resolv.conf");
    for (unsigned i = 0; i < cfg->ndisks; i++) {
        uint64_t lim; /* a qcow2 file grows as the guest writes (disk.h) */
        if (!disk_file_limit(cfg->disks[i].path, &lim) && lim > j->fsize)
            j->fsize = lim;
    }
    for (unsigned i = 0; i < cfg->nshares; i++) {
        j->shares = true;
        /* The jailed VM (uid j->uid) serves the share: say so if it cannot write there. */
        struct stat st;
        const struct board_share *s = &cfg->shares[i];
        bool rootfs = !strcmp(s->tag, RUN_ROOTFS_TAG);
        if (geteuid() == 0 && !s->readonly && !stat(s->dir, &st) &&
            !((st.st_uid == j->uid && (st.st_mode & 0200)) ||
              (st.st_gid == j->gid && (st.st_mode & 0020)) || (st.st_mode & 0002)))
            fprintf(stderr, "kiln: %s %s: the jailed VM runs as uid %u, which cannot write "
                    "there; pass --user with its owner (docs/9p.md)\n", rootfs ? "--rootfs" : "--share",
                    s->dir, (unsigned)j->uid);
    }
    j->control = cfg->control;
    cfg->lockdown = run_lockdown;
    cfg->hart_enter = run_hart_enter;
    cfg->jail_ctx = j;
    return jail_begin(j);
}
