/*
 * What board.c (board assembly, run loop) and board_virtio.c (virtio-slot wiring, --disk parsing,
 * control-socket statistics) share: the board itself. Internal to src/machine/.
 */
#ifndef KILN_MACHINE_BOARD_INT_H
#define KILN_MACHINE_BOARD_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "cpu/hart.h"
#include "machine/board.h"
#include "machine/control.h"
#include "machine/vm.h"

struct console;
struct uart;
struct syscon;
struct rtc;
struct pvpanic;
struct disk;
struct virtio_blk;
struct virtio_rng;
struct net_backend;
struct virtio_net;
struct virtio_console;
struct virtio_balloon;
struct p9fs;
struct virtio_9p;
struct gdbstub;
struct snap_request;

struct powerdown {
    bool active;
    unsigned next_key;   /* index into POWERDOWN_KEYS */
    uint64_t next_ms;    /* when to send it (monotonic) */
    uint64_t deadline_ms; /* 0 = none; else stop at once (143) then */
};

struct board {
    struct vm vm;
    struct hart harts[VM_MAX_HARTS];
    pthread_t threads[VM_MAX_HARTS];
    struct console *console;
    struct uart *uart;
    struct syscon *syscon;
    struct rtc *rtc;
    struct pvpanic *pvpanic;
    struct disk *disks[BOARD_MAX_DISKS];
    struct virtio_blk *blks[BOARD_MAX_DISKS];
    unsigned ndisks, nnets; /* devices created (the control thread reads them after boot) */
    struct virtio_rng *rng;
    struct net_backend *net_be[BOARD_MAX_NETS];
    struct virtio_net *nets[BOARD_MAX_NETS];
    struct virtio_console *hvc;
    int hvc_fd, hvc_in_fd;
    unsigned nvirtio; /* virtio-mmio slots in use */
    struct virtio_balloon *balloon;
    struct p9fs *p9fs[BOARD_MAX_SHARES];
    struct virtio_9p *p9[BOARD_MAX_SHARES];
    struct control *control;
    int powerdown_fd; /* eventfd: the control thread asks the main thread for a powerdown */
    struct powerdown pd;
    uint64_t entry, a1, a2;
    void (*hart_enter)(void *ctx, unsigned hart);
    void *jail_ctx;
    struct gdbstub *gdb; /* --gdb; NULL = none */
    const struct board_config *cfg;
    /* Pause and snapshot (docs/snapshots.md): the control thread asks, the main thread does it. */
    unsigned nrunning; /* hart threads started and not yet joined */
    bool paused;       /* harts joined and devices quiesced, the VM not ended */
    bool start_paused; /* restored with --paused: the first run starts with no hart running */
    bool restored;     /* harts hold a snapshot's state: the first run must not boot them */
    bool incoming;     /* --incoming: waiting for a migration's stream (docs/migration.md) */
    bool mig_unlocked; /* migrating out: the disks' locks were given up at the pause */
    int snap_fd;       /* eventfd: a request is waiting in `sreq` */
    pthread_mutex_t snap_lock;
    pthread_cond_t snap_cond;
    struct snap_request *sreq; /* the request in flight, NULL = none (snap_lock) */
    bool snap_closed;  /* the run is over: requests fail at once (snap_lock) */
};

/* board_virtio.c: creates the virtio-mmio devices in their slots (0 or -1, messages printed),
 * and frees them. */
int board_virtio_create(struct board *b, const struct board_config *cfg);
void board_virtio_destroy(struct board *b);

/* board_virtio.c: control-socket callbacks (machine/control.h) over the virtio devices. */
int board_ctl_stats(void *ctx, struct control_stats *out);
int board_ctl_limits(void *ctx, const struct control_limits *l, char *err, size_t errlen);
int board_ctl_balloon(void *ctx, uint64_t target_mib, char *err, size_t errlen);

#endif
