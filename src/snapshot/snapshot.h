/*
 * Snapshot, restore and clone of a system VM (docs/snapshots.md).
 *
 * A snapshot is a directory holding SNAP_STATE_NAME (format.h: the machine's
 * configuration, every hart and device) and SNAP_MEMORY_NAME (guest RAM, raw,
 * page-aligned, sparse). The board stops its harts and quiesces its devices
 * before snapshot_write; a restored VM maps the memory file MAP_PRIVATE.
 */
#ifndef KILN_SNAPSHOT_SNAPSHOT_H
#define KILN_SNAPSHOT_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapshot/format.h"

#define SNAP_MAX_DISKS 6 /* BOARD_MAX_DISKS */
#define SNAP_MAX_NETS 2  /* BOARD_MAX_NETS */
#define SNAP_PATH_MAX 4096
#define SNAP_NET_SPEC_MAX 512
#define SNAP_MAX_SHARES 4 /* BOARD_MAX_SHARES */
#define SNAP_SHARE_TAG_MAX 32

struct vm;
struct hart;
struct clint;
struct plic;
struct uart;
struct rtc;
struct disk;
struct virtio_blk;
struct virtio_net;
struct virtio_console;
struct virtio_rng;
struct virtio_balloon;
struct virtio_9p;

/* The machine's configuration as saved: what a restore must rebuild before loading state. */
struct snap_disk {
    char path[SNAP_PATH_MAX];
    bool readonly;
    uint32_t cache;
    uint64_t bps, iops;
    uint64_t size;     /* bytes: must match at restore */
    int64_t mtime_ns;  /* a changed disk is reported (writes after the snapshot) */
};

/* A --share (virtio-9p): rebuilt at restore from the "shares" record (dev_9p.c). */
struct snap_share {
    char dir[SNAP_PATH_MAX];
    char tag[SNAP_SHARE_TAG_MAX];
    bool readonly;
};

struct snap_machine {
    uint64_t ram_base, ram_size;
    uint32_t nharts;
    uint64_t misa;
    bool no_rng, no_balloon;
    uint32_t ndisks, nnets;
    struct snap_disk disks[SNAP_MAX_DISKS];
    char nets[SNAP_MAX_NETS][SNAP_NET_SPEC_MAX];
    uint64_t mtime;           /* guest mtime (VM_TIMEBASE_HZ ticks) when saved */
    uint64_t saved_realtime_ns; /* host CLOCK_REALTIME when saved */
    uint32_t nshares;
    struct snap_share shares[SNAP_MAX_SHARES];
};

/* Everything of a running board that is saved or loaded. */
struct snap_board {
    struct vm *vm;
    struct uart *uart;
    struct rtc *rtc;
    unsigned ndisks, nnets;
    struct virtio_blk *blks[SNAP_MAX_DISKS];
    struct disk *disks[SNAP_MAX_DISKS];
    struct virtio_net *nets[SNAP_MAX_NETS];
    struct virtio_console *hvc;
    struct virtio_rng *rng;
    struct virtio_balloon *balloon;
    unsigned nshares;
    struct virtio_9p *p9[SNAP_MAX_SHARES];
    struct snap_machine cfg; /* filled by the board: disks, nets, flags (save fills the rest) */
};

/* A snapshot read back and checked, ready to be applied to a board built from `m`. */
struct snap_restore {
    uint8_t *state;   /* the state file's bytes (file points into them) */
    size_t state_len;
    struct snap_file file;
    struct snap_machine m;
    int mem_fd;       /* the memory file, to be mapped MAP_PRIVATE */
    bool paused;      /* stay paused after loading */
    bool clone;       /* new MACs (mac[]) and a note about reseeding */
    uint8_t mac[SNAP_MAX_NETS][6];
    bool disk_frozen[SNAP_MAX_DISKS];  /* m.disks[i].path is the snapshot's copy (disks.c) */
    bool disk_overlay[SNAP_MAX_DISKS]; /* m.disks[i].path is this VM's qcow2 overlay */
    int overlay_fd[SNAP_MAX_DISKS];    /* a temporary overlay's descriptor, or -1 */
    bool timing;         /* print how long the restore took to the first instruction */
    uint64_t t_start_ns; /* CLOCK_MONOTONIC when the restore began */
};

/* hart.c: one hart's architectural state. load checks all of it, then applies; -EINVAL otherwise. */
void snap_hart_save(const struct hart *h, struct snap_w *w);
int snap_hart_load(struct hart *h, struct snap_rd *r);

/* save.c: writes DIR/state + DIR/memory (temporary names, fsync, rename). Harts stopped,
 * devices quiesced. 0, or -1 with a message in err. */
int snapshot_write(struct snap_board *b, const char *dir, char *err, size_t errlen);
/* The same into two files the caller opened (a jailed VM gets them over its control socket):
 * truncated, written and fsync'ed; renaming them is the caller's (snapshot_commit). */
int snapshot_write_fds(struct snap_board *b, int mem_fd, int state_fd, char *err, size_t errlen);
/* The state file's bytes alone, into w (snap_w_init'ed here; snap_w_free it): disks flushed and
 * their identities taken first. Harts stopped, devices quiesced. 0, or -1 with a message. Live
 * migration sends these bytes as its last record (docs/migration.md). */
int snapshot_state(struct snap_board *b, struct snap_w *w, char *err, size_t errlen);
/* DIR/memory.raw.tmp and DIR/state.kiln.tmp (written, synced) take their names: the old state
 * file goes first, so a crash never leaves a state file beside the wrong memory file. */
int snapshot_commit(const char *dir, char *err, size_t errlen);

/* client.c: asks the VM serving the control socket `sock` for a snapshot into dir, passing it
 * the files (works for jailed VMs); the VM's one-line answer in ans. 0, or with a message in err:
 * -EINVAL (dir cannot hold the files: missing parent, not writable, too long) or -EIO (the VM
 * refused, did not answer, or the files could not be renamed into place). */
int snapshot_take(const char *sock, const char *dir, bool paused, bool disks, char *ans, size_t anslen,
                  char *err, size_t errlen);

/* dev_9p.c: virtio-9p shares, their transports and 9P sessions (docs/9p.md). */
/* Appends the "shares" record and one "p9_N" record per share (nothing without shares). */
void snap_9p_save(struct snap_board *b, struct snap_w *w);
/* How many records snap_9p_save writes for this board. */
unsigned snap_9p_nrecords(const struct snap_board *b);
/* The "shares" record into m (none: m->nshares = 0, as in files from before shares). */
int snap_9p_parse(const struct snap_file *f, struct snap_machine *m, char *err, size_t errlen);
/* One "p9_N" record into a device: the session (every open file reopened beneath the
 * share), then the transport. 0, or -1 with a message (a file that has gone is named). */
int snap_9p_load_one(struct virtio_9p *d, struct snap_rd *r, char *err, size_t errlen);
/* Every share of a board built from r->m. 0, or -1 with a message. */
int snap_9p_load(struct snap_board *b, const struct snap_restore *r, char *err, size_t errlen);

/* disks.c: clones and disks (docs/snapshots.md "Clones and disks"). */
/* DIR/disk<I>.img: where a snapshot keeps its frozen copy of disk i. */
void snapshot_frozen_disk(const char *dir, unsigned i, char *out, size_t len);
/* Copies every writable disk the state file at state_path names into dir (sparse; a qcow2
 * copy's relative backing name made absolute). The VM must be paused, its disks flushed,
 * as after its snapshot with paused. 0, or -1 with a message. */
int snapshot_freeze_disks(const char *dir, const char *state_path, char *err, size_t errlen);
/* Removes the copies an earlier snapshot left in dir (before a new one takes its place). */
void snapshot_unfreeze_disks(const char *dir);
/* A restore that must not write the disks it names (a clone, or a snapshot with frozen
 * copies): each writable disk becomes a new qcow2 overlay over it, in dir as
 * clone-disk<I>.qcow2 (replaced if there), or with dir NULL a temporary one, unlinked at
 * once (under $TMPDIR, else /var/tmp). r->m.disks[i].path is changed to the overlay's.
 * 0, or -1 with a message. */
int snapshot_disk_overlays(struct snap_restore *r, const char *dir, char *err, size_t errlen);

/* restore.c */
/* The "machine" record, checked. 0 or -EINVAL with a message. */
int snap_machine_parse(const struct snap_file *f, struct snap_machine *m, char *err, size_t errlen);
/* The machine record of the state file at state_path, checked. 0, or -1 with a message. */
int snapshot_read_machine(const char *state_path, struct snap_machine *m, char *err, size_t errlen);
/* Reads and checks DIR's state file and opens its memory file. 0, or -1 with a message. */
int snapshot_open(const char *dir, struct snap_restore *out, char *err, size_t errlen);
/* A state file received whole in memory (malloc'ed buf, owned by out from here on, even on
 * failure): checked as snapshot_open checks a file; no memory file (mem_fd -1). 0 or -1. */
int snapshot_open_state(uint8_t *buf, size_t len, struct snap_restore *out, char *err, size_t errlen);
void snapshot_close(struct snap_restore *r);
/* Loads every hart and device of a board built from r->m; moves guest time forward by the
 * time spent saved. Nothing runs yet. 0, or -1 with a message. */
int snapshot_apply(struct snap_board *b, struct snap_restore *r, char *err, size_t errlen);

#endif
