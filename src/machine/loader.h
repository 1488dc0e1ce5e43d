/*
 * Guest image loaders: RV64 ELF (firmware, bare-metal tests, vmlinux with
 * physical load addresses), raw binaries (initrd, fw_jump.bin) and Linux
 * RISC-V `Image` kernels. Every image is untrusted input: each offset and size
 * is checked against the file and guest RAM before anything is copied.
 *
 * All functions return 0 or -errno. On error they write one line into err
 * (when errlen > 0), starting with the file's path, e.g.
 *   "/x/Image: not a RISC-V Linux Image (bad magic)"
 * so the caller can prefix the role: "kernel /x/Image: ...".
 */
#ifndef KILN_MACHINE_LOADER_H
#define KILN_MACHINE_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;

struct load_info {
    uint64_t entry;           /* physical entry point (e_entry translated through PT_LOAD) */
    uint64_t lowest, highest; /* physical range written: [lowest, highest) */
    uint64_t tohost, fromhost; /* physical addresses of the HTIF symbols, 0 if absent */
};

/*
 * Loads an RV64 ELF (ET_EXEC or ET_DYN, EM_RISCV, ELFCLASS64, little endian):
 * every PT_LOAD segment at its p_paddr, p_filesz bytes from the file and the
 * rest of p_memsz zeroed. All segments are validated before any is written,
 * so a rejected file leaves guest RAM untouched. Symbols `tohost` and
 * `fromhost` are looked up in .symtab if there is one (a malformed section
 * table only loses the symbols).
 * Note: a stock Linux vmlinux has p_paddr 0-based (outside RAM); load its
 * Image (objcopy -O binary) with loader_load_linux_image() instead.
 */
int loader_load_elf(struct vm *vm, const char *path, struct load_info *info, char *err,
                    size_t errlen);
/* The same from a memory buffer (the parser behind loader_load_elf; fuzzed).
 * Messages are not prefixed with a path. */
int loader_load_elf_buf(struct vm *vm, const uint8_t *buf, size_t len, struct load_info *info,
                        char *err, size_t errlen);

/* Loads a whole file at gpa; its size goes to *size_out (may be NULL). */
int loader_load_raw(struct vm *vm, const char *path, uint64_t gpa, uint64_t *size_out, char *err,
                    size_t errlen);

/* True if the file starts with the ELF magic. */
bool loader_is_elf(const char *path);

enum loader_kind { LOADER_RAW, LOADER_ELF, LOADER_IMAGE, LOADER_GZIP };
/*
 * What a boot image is, by its magic numbers only (as QEMU's virt board decides): ELF magic, a
 * Linux Image magic (magic2 "RSC\x05" at 0x38 or "RISCV\0\0\0" at 0x30), gzip, else raw
 * (a bootloader's .bin: loaded as is at the load address). Unreadable files are LOADER_RAW: the
 * loader then reports the error.
 */
enum loader_kind loader_probe(const char *path);

/*
 * Checks a Linux RISC-V kernel Image header (Documentation/riscv/
 * boot-image-header.rst: magic2 "RSC\x05" at 0x38, or the deprecated magic
 * "RISCV\0\0\0" at 0x30 of older kernels) and loads the file at gpa. The
 * header's image_size (the memory the kernel occupies, bss included; the file
 * size for old headers without one) must fit in RAM from gpa and goes to
 * *size_out. The header's text_offset is the caller's concern: Linux expects
 * gpa = a 2 MiB aligned RAM address + text_offset.
 */
int loader_load_linux_image(struct vm *vm, const char *path, uint64_t gpa, uint64_t *size_out,
                            char *err, size_t errlen);

#endif
