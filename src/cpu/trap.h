/* Trap entry and return (privileged spec 3.1.6.1, 3.1.7, 3.3.2, 4.1.1). */
#ifndef KILN_CPU_TRAP_H
#define KILN_CPU_TRAP_H

#include <stdbool.h>
#include <stdint.h>

#include "cpu/hart.h"

#define CAUSE_INTERRUPT (1ull << 63)

/* Takes exception `cause` (EXC_*) with trap value tval at h->pc; sets pc to the handler. */
void hart_raise(struct hart *h, uint64_t cause, uint64_t tval);
/* Takes the highest-priority pending and enabled interrupt, if any. Returns true if one was taken. */
bool hart_check_interrupts(struct hart *h);
/* Pending interrupt bits (mip as software sees it). */
uint64_t hart_mip(const struct hart *h);
void hart_mret(struct hart *h);
void hart_sret(struct hart *h);
/* Change privilege level, keeping derived translation state coherent. */
void hart_set_priv(struct hart *h, enum priv p);

#endif
