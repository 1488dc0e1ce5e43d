/*
 * The Sdtrig trigger module (RISC-V debug spec 1.0, chapter 5 "Sdtrig"):
 * TRIG_COUNT address-match triggers of type mcontrol (2) and mcontrol6 (6)
 * on execute, load and store, in M, S and U. A guest-set trigger raises a
 * breakpoint exception (action 0, cause 3, tval the matched address); one set
 * by a debugger through trig_insert() (action 1) stops the hart instead.
 *
 * Off the fast path: while an execute trigger is enabled the hart interprets
 * (no translated code) and checks pc before each fetch; while a load/store
 * trigger is enabled no page is cached in the data TLBs, so every access
 * takes the slow path, which checks it.
 */
#ifndef KILN_CPU_TRIGGER_H
#define KILN_CPU_TRIGGER_H

#include <stdbool.h>
#include <stdint.h>

#include "cpu/hart.h"

/* What a trigger watches: the execute/store/load bits of mcontrol(6). */
#define TRIG_LOAD 1u
#define TRIG_STORE 2u
#define TRIG_EXEC 4u

enum {
    CSR_TSELECT = 0x7a0, CSR_TDATA1 = 0x7a1, CSR_TDATA2 = 0x7a2, CSR_TDATA3 = 0x7a3,
    CSR_TINFO = 0x7a4, CSR_TCONTROL = 0x7a5,
};

/* tselect..tcontrol. False for any other CSR. */
bool trig_csr_read(struct hart *h, unsigned csr, uint64_t *val);
bool trig_csr_write(struct hart *h, unsigned csr, uint64_t val);

/*
 * An access of `kind` (one TRIG_* bit) at virtual address va, size bytes, by
 * the hart's current (effective) privilege. True when a trigger fired: the
 * breakpoint exception is raised (or the debugger told) and the access must
 * not happen. Only called when h->trig_exec / h->trig_data is set.
 */
bool trig_check(struct hart *h, unsigned kind, uint64_t va, unsigned size);

/* After tdata1/tdata2 were set directly (a snapshot restore): recompute trig_exec/trig_data. */
void trig_sync(struct hart *h);

/* tcontrol.mte/mpte across traps into M and MRET (debug spec 5.7.6). */
void trig_trap_to_m(struct hart *h);
void trig_mret(struct hart *h);

/*
 * Debugger interface (a GDB stub): a trigger on [addr, addr + len) for the
 * TRIG_* kinds in `kinds`, in every privilege mode, that stops the hart
 * through cpu_bus_ops.debug_halt instead of trapping into the guest.
 * Returns the trigger's index, or -ENOSPC when all are in use.
 * trig_remove() frees the one set with the same kinds/addr/len (0 or -ENOENT).
 * Call them on the hart's thread, or while it is stopped.
 */
int trig_insert(struct hart *h, unsigned kinds, uint64_t addr, uint64_t len);
int trig_remove(struct hart *h, unsigned kinds, uint64_t addr, uint64_t len);

#endif
