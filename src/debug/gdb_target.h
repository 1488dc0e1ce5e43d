/*
 * What gdb sees of a stopped hart: registers by gdb's RISC-V numbering (gdb/riscv-tdep.h:
 * x0-x31 = 0-31, pc = 32, f0-f31 = 33-64, CSR n = 65 + n), the target description that names
 * them, and memory through the hart's current MMU view. Only called while the hart's thread is
 * parked (src/debug/gdbstub.c), so the hart's state is the caller's.
 */
#ifndef KILN_DEBUG_GDB_TARGET_H
#define KILN_DEBUG_GDB_TARGET_H

#include <stddef.h>
#include <stdint.h>

struct hart;

#define GDB_REG_PC 32
#define GDB_REG_F0 33
#define GDB_REG_CSR0 65
#define GDB_NUM_GREGS 33 /* what the 'g' packet carries: x0-x31 and pc */

/* The target description (gdb manual, "Target Descriptions"), NUL-terminated; static. */
const char *gdb_target_xml(void);

/* Reads register regno into out (little endian) and its size to *size: 0, or -ENOENT for a
 * number gdb was not told about, -EIO for one that cannot be read now (e.g. fcsr with FS off). */
int gdb_reg_read(struct hart *h, unsigned regno, uint8_t out[8], unsigned *size);
/* Writes register regno from len little-endian bytes: 0 or -errno. */
int gdb_reg_write(struct hart *h, unsigned regno, const uint8_t *in, size_t len);

/*
 * Copies guest memory at virtual address va as the hart would see it for a load, walking the
 * page tables without setting A/D bits and without any trap; RAM only (device registers have
 * side effects). 0, or -EFAULT if any byte is unmapped or not RAM (nothing copied then for
 * writes). Writes make every hart of the bus forget decoded code (the caller does: hart_code_flush).
 */
int gdb_mem_read(struct hart *h, uint64_t va, uint8_t *out, size_t len);
int gdb_mem_write(struct hart *h, uint64_t va, const uint8_t *in, size_t len);

#endif
