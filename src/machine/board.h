/* The kiln "virt" board: harts, devices, boot images and the run loop of one system VM. */
#ifndef KILN_MACHINE_BOARD_H
#define KILN_MACHINE_BOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct snap_restore;

#define BOARD_MAX_DISKS 6
#define BOARD_MAX_NETS 2
#define BOARD_MAX_SHARES 4

struct board_share { /* --share HOST_DIR:TAG[:ro] (virtio-9p, docs/9p.md) */
    char dir[4096];
    char tag[32];
    bool readonly;
};

struct board_disk {
    char path[4096];
    bool readonly;
    int cache;  /* enum disk_cache */
    int format; /* enum disk_format; 0 = probe */
    uint64_t bps, iops; /* limits; 0 = unlimited */
};

struct board_config {
    uint64_t mem;          /* bytes of guest RAM */
    unsigned cpus;         /* harts */
    const char *firmware;  /* M-mode firmware (ELF or raw); NULL = none */
    const char *kernel;    /* S-mode payload loaded at 0x80200000; NULL = none */
    const char *initrd;    /* NULL = none */
    const char *append;    /* kernel command line; NULL = none */
    const char *dump_dtb;  /* write the device tree here and exit */
    int console_in, console_out;
    struct board_disk disks[BOARD_MAX_DISKS];
    unsigned ndisks;
    bool no_rng;
    const char *nets[BOARD_MAX_NETS]; /* --net specs (src/backend/net.h) */
    unsigned nnets;
    const char *hvc_out; /* file receiving the virtio-console (hvc0) output; NULL = discard */
    const char *control; /* control socket path (machine/control.h); NULL = none */
    bool no_balloon;
    /* The jail (src/jail/jail.h), NULL for none: lockdown runs once set-up is done, before the
     * first hart starts (non-zero: kiln stops); hart_enter first thing in each hart thread. */
    int (*lockdown)(void *ctx);
    void (*hart_enter)(void *ctx, unsigned hart);
    void *jail_ctx;
    struct board_share shares[BOARD_MAX_SHARES];
    unsigned nshares;
    /* Restore from a snapshot (src/snapshot/snapshot.h) instead of booting: RAM is mapped from
     * its memory file and every hart and device loaded before anything runs. NULL = boot. */
    struct snap_restore *restore;
    /* --incoming: a live migration's destination (docs/migration.md): built like a boot but
     * nothing is loaded or run until {"cmd":"incoming"} brings RAM and state over a socket. */
    bool incoming;
    /* kiln run --rootfs (docs/rootfs.md): bytes appended to the initrd in guest RAM, a second
     * cpio archive (Linux unpacks concatenated archives); NULL = none. */
    const void *initrd_extra;
    size_t initrd_extra_len;
    /* The virtio console (hvc0) reads hvc_in and writes hvc_out_fd (both dup'd) instead of
     * hvc_out; only when hvc_fds is set. */
    bool hvc_fds;
    int hvc_in, hvc_out_fd;
    /* SysRq keys a SIGTERM or a control-socket powerdown sends; NULL = "suo" (sync, remount
     * read-only, power off). kiln run --rootfs sends "e": SIGTERM to the program. */
    const char *powerdown_keys;
    int gdb_port;  /* --gdb PORT: a GDB stub on 127.0.0.1 (docs/gdb.md); 0 = none */
    bool gdb_wait; /* --gdb-wait: harts stop before the first instruction */
};

/*
 * Parses "PATH[,ro][,cache=writeback|none|unsafe][,format=raw|qcow2][,bps=N[K|M|G]][,iops=N]".
 * Returns 0, or -1 with a message in err.
 */
int board_parse_disk(const char *spec, struct board_disk *out, char *err, size_t errlen);

/* Builds the VM, boots it and runs it to the end. Returns kiln's exit status. */
int board_run(const struct board_config *cfg);

#endif
