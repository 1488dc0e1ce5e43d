/* The interpreter's entry point: runs h->budget instructions (or fewer, if something ends the batch). */
#ifndef KILN_CPU_EXEC_H
#define KILN_CPU_EXEC_H

#include <stdint.h>

#include "cpu/hart.h"

/* Returns the number of instructions attempted (retired or trapped). */
uint64_t hart_exec(struct hart *h);
/* WFI: sleeps until an interrupt is pending and enabled in mie, or the VM stops (priv 3.3.3). */
void hart_wfi(struct hart *h);

#endif
