/*
 * Loading a riscv64 Linux program into a process VM's address space (ELF64
 * ET_EXEC / ET_DYN, EM_RISCV, PT_LOAD + PT_INTERP + PT_PHDR), and laying out
 * the initial stack: argc, argv, envp, auxv and the strings they point to
 * (System V ABI, "Process Initialization"; Linux fs/binfmt_elf.c order).
 */
#ifndef KILN_USER_ELF_H
#define KILN_USER_ELF_H

#include <stddef.h>
#include <stdint.h>

struct mm;

struct elf_image {
    uint64_t entry;      /* relocated entry point */
    uint64_t bias;       /* load bias (0 for ET_EXEC) */
    uint64_t phdr;       /* guest address of the program headers, 0 if not loaded */
    uint64_t phnum, phent;
    uint64_t end;        /* first page past the highest segment */
    char interp[256];    /* PT_INTERP path, "" if none */
};

/*
 * Maps fd's PT_LOAD segments into mm. ET_DYN images go at a free range near
 * dyn_hint (0: anywhere). Validates every header before mapping anything.
 * 0 or -errno, with a one-line reason in err.
 */
int elf_load(struct mm *mm, int fd, uint64_t dyn_hint, struct elf_image *img, char *err,
             size_t errlen);

/*
 * Checks fd's ELF and program headers without mapping anything, and copies
 * its PT_INTERP ("" if none) into interp. 0 or -errno with a reason in err.
 */
int elf_probe(int fd, char *interp, size_t len, char *err, size_t errlen);

/* Checks only the ELF header of a buffer (what `kiln exec` reports before loading). 0 or -ENOEXEC. */
int elf_check_header(const uint8_t *buf, size_t len, char *err, size_t errlen);

struct auxv {
    uint64_t type, value;
};

/*
 * Builds the initial stack image for a stack whose highest address is top:
 * writes it into buf so that buf[size - n .. size) holds guest bytes
 * [top - n, top), and returns the 16-byte aligned sp (top - n) in *sp.
 * auxv must end with AT_NULL; entries of type AT_RANDOM, AT_EXECFN and
 * AT_PLATFORM get their values filled in (pointers to the copied data).
 * -E2BIG if the strings and vectors do not fit in size bytes.
 */
int elf_build_stack(uint8_t *buf, size_t size, uint64_t top, char *const *argv, char *const *envp,
                    const char *execfn, const char *platform, const uint8_t random16[16],
                    struct auxv *auxv, uint64_t *sp);

#define AT_NULL 0
#define AT_PHDR 3
#define AT_PHENT 4
#define AT_PHNUM 5
#define AT_PAGESZ 6
#define AT_BASE 7
#define AT_FLAGS 8
#define AT_ENTRY 9
#define AT_UID 11
#define AT_EUID 12
#define AT_GID 13
#define AT_EGID 14
#define AT_PLATFORM 15
#define AT_HWCAP 16
#define AT_CLKTCK 17
#define AT_SECURE 23
#define AT_RANDOM 25
#define AT_EXECFN 31

#endif
