/* CSR access (Zicsr; privileged spec chapter 2 address map and 3/4 for M/S registers). */
#ifndef KILN_CPU_CSR_H
#define KILN_CPU_CSR_H

#include <stdbool.h>
#include <stdint.h>

#include "cpu/hart.h"

/*
 * Reads CSR `csr` into *val. `will_write` tells whether the instruction writes
 * (so a read-only CSR is illegal). Returns false when the access is illegal;
 * the caller raises illegal instruction.
 */
bool csr_read(struct hart *h, unsigned csr, uint64_t *val, bool will_write);
/* Writes CSR `csr` (after csr_read has checked the access). Returns false if illegal. */
bool csr_write(struct hart *h, unsigned csr, uint64_t val);

uint64_t csr_sstatus_mask(void);
/* The value CSRRS/CSRRC modify: `read` for most CSRs, the software-owned bits for mip/sip. */
uint64_t csr_rmw_base(const struct hart *h, unsigned csr, uint64_t read);

/* mseccfg ("Machine Security Configuration"): Zkr's USEED and SSEED, the only bits kept. */
#define MSECCFG_USEED (1ull << 8)
#define MSECCFG_SSEED (1ull << 9)

#endif
