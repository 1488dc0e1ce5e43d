/*
 * A GDB remote-protocol server for a system VM (docs/gdb.md): `kiln run --gdb PORT`.
 * All-stop: every hart stops together at an instruction boundary and resumes together (a
 * single-step moves only the selected hart). Harts are gdb threads 1..n (hart id + 1).
 * Breakpoints (Z0 and Z1) are compared with the pc before each instruction while any is set,
 * so nothing is written into guest memory and translated code needs no invalidation.
 */
#ifndef KILN_DEBUG_GDBSTUB_H
#define KILN_DEBUG_GDBSTUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cpu_bus;
struct gdbstub;
struct hart;
struct vm;

/*
 * Listens on 127.0.0.1:port (never another address: the stub reads and writes all of the
 * guest) and serves one debugger at a time from its own thread. With wait, the harts stop
 * before their first instruction until gdb resumes them. Call after vm_init, before the harts
 * are created: they must use gdbstub_bus(). NULL with a message in err.
 */
struct gdbstub *gdbstub_start(struct vm *vm, int port, bool wait, char *err, size_t errlen);
/* Stops the server thread and frees everything. NULL is a no-op. */
void gdbstub_stop(struct gdbstub *g);

/* The bus the harts must be created on: the VM's, with a stop flag the stub raises to hold them. */
const struct cpu_bus *gdbstub_bus(struct gdbstub *g);

/* Called on the hart's own thread instead of hart_run(): runs it until the VM stops, parking
 * whenever the debugger holds the harts. */
void gdbstub_hart_run(struct gdbstub *g, struct hart *h);

/* Around each run of the harts (boot, and again after a guest reboot): before their threads
 * start, and once the VM has stopped (releases parked harts so their threads end). */
void gdbstub_run_begin(struct gdbstub *g);
void gdbstub_run_end(struct gdbstub *g);

/*
 * For tests and fuzzing: a stub with no socket and no thread over vm's harts (which must not
 * be running); gdbstub_feed() pushes raw bytes from "the debugger" through the packet parser
 * and the command handlers, and the replies go to reply_cb (may be NULL).
 */
struct gdbstub *gdbstub_create_detached(struct vm *vm,
                                        void (*reply_cb)(void *ctx, const char *data, size_t len),
                                        void *ctx);
void gdbstub_feed(struct gdbstub *g, const uint8_t *data, size_t len);

#endif
