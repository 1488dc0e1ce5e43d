/* What the GDB stub's files share (src/debug/): the stub itself. Internal. */
#ifndef KILN_DEBUG_GDBSTUB_INT_H
#define KILN_DEBUG_GDBSTUB_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cpu/bus.h"
#include "debug/gdb_pkt.h"
#include "machine/vm.h"

#define GDB_MAX_BPS 64
#define GDB_MAX_WATCH 4 /* hardware watchpoints: each takes one Sdtrig trigger on every hart */
#define SIG_INT 2  /* gdb's signal numbers (include/gdb/signals.def) */
#define SIG_TRAP 5
/* The largest m/M/X transfer: its hex form must fit in one packet. */
#define GDB_MEM_MAX (GDB_PKT_MAX / 2 - 32)

/* What a packet asks of the harts once its reply is out. */
enum gdb_action { ACT_NONE, ACT_CONTINUE, ACT_STEP, ACT_DETACH, ACT_KILL };

/* A Z2/Z3/Z4 watchpoint and the trigger it holds on each hart (cpu/trigger.h). */
struct gdb_watch {
    unsigned type; /* 2 write, 3 read, 4 access */
    uint64_t addr, len;
    int trig[VM_MAX_HARTS];
};

struct gdbstub {
    struct vm *vm;
    struct cpu_bus bus;           /* the VM's, with ctx = the stub and ops = `ops` */
    struct cpu_bus_ops ops;       /* the VM's ops through forwarders, plus debug_halt */
    const struct cpu_bus_ops *vm_ops;
    atomic_int hold; /* the harts' stop flag: raised while the debugger holds them */

    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned parked;  /* hart threads waiting in gdbstub_hart_run */
    int step_hart;    /* a hart to move by one instruction while the others stay parked; -1 */
    bool reported;    /* a stop was reported since the last resume */
    unsigned stop_hart;
    int stop_sig;
    bool hold_at_start; /* --gdb-wait: the first run starts held */

    /* Changed only while every hart is parked; read by running harts. */
    uint64_t bps[GDB_MAX_BPS];
    unsigned nbps;
    struct gdb_watch watches[GDB_MAX_WATCH];
    unsigned nwatch;
    const struct gdb_watch *stop_watch; /* the watchpoint that stopped the harts, or NULL */

    int listen_fd, conn_fd, wake_fd;
    pthread_t thread;
    bool thread_started;
    atomic_bool quit;
    bool running; /* the harts were resumed: a stop reply is owed */
    bool noack;
    unsigned g_hart; /* Hg: registers and memory */
    int c_hart;      /* Hc: which hart 's' steps; -1 = g_hart */

    bool detached; /* no socket, no thread (tests, fuzzing) */
    void (*reply_cb)(void *ctx, const char *data, size_t len); /* detached mode, may be NULL */
    void *reply_ctx;

    struct gdb_rx rx;
    char reply[GDB_PKT_MAX + 1];
    size_t rlen;
    char out[2 * GDB_PKT_MAX + 8]; /* the last framed packet, resent on '-' */
    size_t outlen;
};

static inline unsigned gdb_nharts(const struct gdbstub *g)
{
    return g->vm->nharts;
}

/* gdb_cmd.c: handles one packet (every hart parked), leaving the answer in g->reply (empty =
 * "not supported"); for ACT_STEP, *step_hart is the hart to move. */
enum gdb_action gdb_cmd_handle(struct gdbstub *g, const char *pkt, size_t len, unsigned *step_hart);
void gdb_reply(struct gdbstub *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void gdb_reply_stop(struct gdbstub *g);
/* Removes every watchpoint from every hart (detach). */
void gdb_watch_clear(struct gdbstub *g);

#endif
