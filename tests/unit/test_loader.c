/* Image loaders: a valid ELF, hostile ELFs, Linux Image headers, raw files. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "machine/gmem.h"
#include "machine/loader.h"
#include "machine/vm.h"

#define RAM_SIZE (1u << 20)
#define RAM_BASE VIRT_DRAM_BASE

struct fixture {
    struct vm vm;
    char dir[64];
    char path[128];
    char err[256];
};

static int setup(void **state)
{
    static struct fixture f;
    memset(&f, 0, sizeof(f));
    if (vm_init(&f.vm, RAM_SIZE) != 0)
        return -1;
    /* Poison RAM so zeroed bss and untouched memory are both visible. */
    memset(f.vm.ram, 0xaa, RAM_SIZE);
    strcpy(f.dir, "/tmp/kiln-test-loader-XXXXXX");
    if (!mkdtemp(f.dir))
        return -1;
    snprintf(f.path, sizeof(f.path), "%s/image", f.dir);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    unlink(f->path);
    rmdir(f->dir);
    vm_destroy(&f->vm);
    return 0;
}

static void write_file(struct fixture *f, const void *data, size_t len)
{
    FILE *fp = fopen(f->path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    fclose(fp);
}

/*
 * A minimal RV64 executable: header, one PT_LOAD of 16 file bytes + 16 bss
 * bytes at RAM_BASE + 0x1000, and a .symtab with tohost/fromhost.
 * Layout: ehdr @0, phdr @64, text @0x100, symtab @0x200, strtab @0x280,
 * shstrtab-less section table @0x300 (null, symtab, strtab).
 */
struct tiny_elf {
    uint8_t b[0x300 + 3 * sizeof(Elf64_Shdr)];
};

#define SEG_PADDR (RAM_BASE + 0x1000)
#define SEG_VADDR 0xffffffff80001000ull /* linked high: symbols must be translated */

static Elf64_Ehdr *ehdr(struct tiny_elf *e)
{
    return (Elf64_Ehdr *)e->b;
}

static Elf64_Phdr *phdr(struct tiny_elf *e)
{
    return (Elf64_Phdr *)(e->b + 64);
}

static void make_elf(struct tiny_elf *e)
{
    memset(e, 0, sizeof(*e));
    Elf64_Ehdr *h = ehdr(e);
    memcpy(h->e_ident, ELFMAG, SELFMAG);
    h->e_ident[EI_CLASS] = ELFCLASS64;
    h->e_ident[EI_DATA] = ELFDATA2LSB;
    h->e_ident[EI_VERSION] = EV_CURRENT;
    h->e_type = ET_EXEC;
    h->e_machine = EM_RISCV;
    h->e_version = EV_CURRENT;
    h->e_entry = SEG_VADDR + 4;
    h->e_phoff = 64;
    h->e_shoff = 0x300;
    h->e_ehsize = sizeof(Elf64_Ehdr);
    h->e_phentsize = sizeof(Elf64_Phdr);
    h->e_phnum = 1;
    h->e_shentsize = sizeof(Elf64_Shdr);
    h->e_shnum = 3;

    Elf64_Phdr *p = phdr(e);
    p->p_type = PT_LOAD;
    p->p_offset = 0x100;
    p->p_vaddr = SEG_VADDR;
    p->p_paddr = SEG_PADDR;
    p->p_filesz = 16;
    p->p_memsz = 32;
    for (int i = 0; i < 16; i++)
        e->b[0x100 + i] = (uint8_t)(i + 1);

    const char strtab[] = "\0tohost\0fromhost\0other";
    memcpy(e->b + 0x280, strtab, sizeof(strtab));
    Elf64_Sym *sym = (Elf64_Sym *)(e->b + 0x200);
    sym[1] = (Elf64_Sym){.st_name = 1, .st_shndx = 1, .st_value = SEG_VADDR + 16};
    sym[2] = (Elf64_Sym){.st_name = 8, .st_shndx = 1, .st_value = SEG_VADDR + 24};
    sym[3] = (Elf64_Sym){.st_name = 17, .st_shndx = 1, .st_value = 0x1234};

    Elf64_Shdr *sh = (Elf64_Shdr *)(e->b + 0x300);
    sh[1] = (Elf64_Shdr){.sh_type = SHT_SYMTAB, .sh_offset = 0x200,
                         .sh_size = 4 * sizeof(Elf64_Sym), .sh_link = 2,
                         .sh_entsize = sizeof(Elf64_Sym)};
    sh[2] = (Elf64_Shdr){.sh_type = SHT_STRTAB, .sh_offset = 0x280, .sh_size = sizeof(strtab)};
}

static uint8_t *ram(struct fixture *f, uint64_t gpa)
{
    return gmem_ptr(&f->vm, gpa, 1);
}

/* Loads e through the file API and expects failure with `msg` in the error. */
static void expect_elf_error(struct fixture *f, const void *data, size_t len, const char *msg)
{
    struct load_info info;
    write_file(f, data, len);
    f->err[0] = 0;
    int ret = loader_load_elf(&f->vm, f->path, &info, f->err, sizeof(f->err));
    assert_true(ret < 0);
    if (!strstr(f->err, msg))
        fail_msg("error \"%s\" lacks \"%s\"", f->err, msg);
    assert_int_equal(strncmp(f->err, f->path, strlen(f->path)), 0);
    assert_null(strchr(f->err, '\n'));
    /* Rejected files never touch guest RAM. */
    for (uint64_t off = 0; off < RAM_SIZE; off += 0x800)
        assert_int_equal(f->vm.ram[off], 0xaa);
    assert_int_equal(*ram(f, SEG_PADDR), 0xaa);
}

static void test_valid_elf(void **state)
{
    struct fixture *f = *state;
    struct tiny_elf e;
    make_elf(&e);
    write_file(f, &e, sizeof(e));
    assert_true(loader_is_elf(f->path));

    struct load_info info;
    int ret = loader_load_elf(&f->vm, f->path, &info, f->err, sizeof(f->err));
    assert_int_equal(ret, 0);
    assert_int_equal(info.entry, SEG_PADDR + 4);
    assert_int_equal(info.lowest, SEG_PADDR);
    assert_int_equal(info.highest, SEG_PADDR + 32);
    assert_int_equal(info.tohost, SEG_PADDR + 16);
    assert_int_equal(info.fromhost, SEG_PADDR + 24);
    for (int i = 0; i < 16; i++)
        assert_int_equal(*ram(f, SEG_PADDR + i), i + 1);
    for (int i = 16; i < 32; i++)
        assert_int_equal(*ram(f, SEG_PADDR + i), 0); /* bss zeroed */
    assert_int_equal(*ram(f, SEG_PADDR + 32), 0xaa);
    assert_int_equal(*ram(f, SEG_PADDR - 1), 0xaa);
}

static void test_elf_without_symbols(void **state)
{
    struct fixture *f = *state;
    struct tiny_elf e;
    make_elf(&e);
    ehdr(&e)->e_shoff = 0;
    ehdr(&e)->e_shnum = 0;
    ehdr(&e)->e_type = ET_DYN; /* OpenSBI's FW_PIC firmware */
    struct load_info info;
    assert_int_equal(loader_load_elf_buf(&f->vm, e.b, sizeof(e.b), &info, f->err, sizeof(f->err)),
                     0);
    assert_int_equal(info.tohost, 0);
    assert_int_equal(info.fromhost, 0);

    /* A section table pointing outside the file loses the symbols, not the load. */
    make_elf(&e);
    ehdr(&e)->e_shoff = ~0ull - 8;
    assert_int_equal(loader_load_elf_buf(&f->vm, e.b, sizeof(e.b), &info, f->err, sizeof(f->err)),
                     0);
    assert_int_equal(info.tohost, 0);

    /* A symbol name offset past the string table is skipped. */
    make_elf(&e);
    ((Elf64_Sym *)(e.b + 0x200))[1].st_name = 0xfffffff0;
    /* And a name running into the end of the string table without a NUL. */
    ((Elf64_Shdr *)(e.b + 0x300))[2].sh_size = 14; /* "\0tohost\0fromho" */
    assert_int_equal(loader_load_elf_buf(&f->vm, e.b, sizeof(e.b), &info, f->err, sizeof(f->err)),
                     0);
    assert_int_equal(info.tohost, 0);
    assert_int_equal(info.fromhost, 0);
}

static void test_truncated_header(void **state)
{
    struct fixture *f = *state;
    struct tiny_elf e;
    make_elf(&e);
    expect_elf_error(f, &e, 20, "truncated ELF header");
    expect_elf_error(f, &e, 0, "truncated ELF header");
}

static void test_bad_ident(void **state)
{
    struct fixture *f = *state;
    struct tiny_elf e;
    make_elf(&e);
    e.b[0] = 'X';
    expect_elf_error(f, &e, sizeof(e), "not an ELF file");
    make_elf(&e);
    e.b[EI_CLASS] = ELFCLASS32;
    expect_elf_error(f, &e, sizeof(e), "not a 64-bit ELF");
    make_elf(&e);
    e.b[EI_DATA] = ELFDATA2MSB;
    expect_elf_error(f, &e, sizeof(e), "little-endian");
    make_elf(&e);
    ehdr(&e)->e_type = ET_REL;
    expect_elf_error(f, &e, sizeof(e), "not an executable ELF");
}

static void test_wrong_machine(void **state)
{
    struct fixture *f = *state;
    struct tiny_elf e;
    make_elf(&e);
    ehdr(&e)->e_machine = EM_X86_64;
    expect_elf_error(f, &e, sizeof(e), "not a RISC-V ELF (machine 62)");
}

static void test_segment_outside_ram(void **state)
{
    struct fixture *f = *state;
    struct tiny_elf e;
    make_elf(&e);
    phdr(&e)->p_paddr = RAM_BASE + RAM_SIZE - 16; /* memsz 32 runs past the end */
    expect_elf_error(f, &e, sizeof(e), "is outside guest RAM (0x80000000-0x80100000)");
    make_elf(&e);
    phdr(&e)->p_paddr = 0x1000; /* below RAM, like a stock vmlinux */
    expect_elf_error(f, &e, sizeof(e), "segment 0x1000 + 0x20 is outside guest RAM");
    make_elf(&e);
    phdr(&e)->p_paddr = 0x2000; /* a stock vmlinux: linked high, 0-based LMAs */
    expect_elf_error(f, &e, sizeof(e), "outside guest RAM (0x80000000-0x80100000); for a Linux "
                                       "vmlinux, boot its Image instead");
    make_elf(&e);
    phdr(&e)->p_paddr = ~0ull - 8; /* paddr + memsz wraps */
    expect_elf_error(f, &e, sizeof(e), "outside guest RAM");
    make_elf(&e);
    phdr(&e)->p_memsz = ~0ull;
    expect_elf_error(f, &e, sizeof(e), "outside guest RAM");
}

static void test_second_segment_bad_leaves_ram_untouched(void **state)
{
    struct fixture *f = *state;
    struct tiny_elf e;
    make_elf(&e);
    ehdr(&e)->e_phnum = 2;
    Elf64_Phdr *p = phdr(&e);
    p[1] = p[0];
    p[1].p_paddr = RAM_BASE + RAM_SIZE; /* first segment is fine, second is not */
    expect_elf_error(f, &e, sizeof(e), "outside guest RAM");
}

static void test_filesz_gt_memsz(void **state)
{
    struct fixture *f = *state;
    struct tiny_elf e;
    make_elf(&e);
    phdr(&e)->p_filesz = 64;
    expect_elf_error(f, &e, sizeof(e), "file size 0x40 exceeds memory size 0x20");
}

static void test_phoff_beyond_file(void **state)
{
    struct fixture *f = *state;
    struct tiny_elf e;
    make_elf(&e);
    ehdr(&e)->e_phoff = sizeof(e) - 8;
    expect_elf_error(f, &e, sizeof(e), "program headers at 0x");
    make_elf(&e);
    ehdr(&e)->e_phoff = ~0ull - 16; /* phoff + size wraps */
    expect_elf_error(f, &e, sizeof(e), "lie outside the file");
    make_elf(&e);
    expect_elf_error(f, &e, 64 + 20, "lie outside the file"); /* truncated phdr */
}

static void test_offset_filesz_overflow(void **state)
{
    struct fixture *f = *state;
    struct tiny_elf e;
    make_elf(&e);
    phdr(&e)->p_offset = ~0ull - 4;
    expect_elf_error(f, &e, sizeof(e), "is outside the file");
    make_elf(&e);
    phdr(&e)->p_offset = sizeof(e) - 8; /* 16 bytes from 8 before the end */
    expect_elf_error(f, &e, sizeof(e), "is outside the file");
    make_elf(&e);
    expect_elf_error(f, &e, 0x108, "is outside the file"); /* file ends inside the segment */
}

static void test_huge_phnum(void **state)
{
    struct fixture *f = *state;
    struct tiny_elf e;
    make_elf(&e);
    ehdr(&e)->e_phnum = 0xffff;
    expect_elf_error(f, &e, sizeof(e), "too many program headers");
    make_elf(&e);
    ehdr(&e)->e_phnum = 1000; /* under the cap but past the end of the file */
    expect_elf_error(f, &e, sizeof(e), "lie outside the file");
    make_elf(&e);
    ehdr(&e)->e_phnum = 0;
    expect_elf_error(f, &e, sizeof(e), "no program headers");
    make_elf(&e);
    ehdr(&e)->e_phentsize = 32;
    expect_elf_error(f, &e, sizeof(e), "bad program header size");
    make_elf(&e);
    phdr(&e)->p_type = PT_NOTE;
    expect_elf_error(f, &e, sizeof(e), "no loadable segments");
}

static void test_missing_file(void **state)
{
    struct fixture *f = *state;
    struct load_info info;
    uint64_t size;
    const char *p = "/nonexistent/kiln/initrd";
    assert_int_equal(loader_load_elf(&f->vm, p, &info, f->err, sizeof(f->err)), -ENOENT);
    assert_string_equal(f->err, "/nonexistent/kiln/initrd: No such file or directory");
    assert_int_equal(loader_load_raw(&f->vm, p, RAM_BASE, &size, f->err, sizeof(f->err)), -ENOENT);
    assert_string_equal(f->err, "/nonexistent/kiln/initrd: No such file or directory");
    assert_int_equal(loader_load_linux_image(&f->vm, p, RAM_BASE, &size, f->err, sizeof(f->err)),
                     -ENOENT);
    assert_false(loader_is_elf(p));
    /* A directory is not an image. */
    assert_int_equal(loader_load_raw(&f->vm, f->dir, RAM_BASE, &size, f->err, sizeof(f->err)),
                     -EINVAL);
    assert_non_null(strstr(f->err, "not a regular file"));
    /* err may be NULL. */
    assert_int_equal(loader_load_raw(&f->vm, p, RAM_BASE, &size, NULL, 0), -ENOENT);
}

static void test_raw(void **state)
{
    struct fixture *f = *state;
    uint8_t data[300];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 7);
    write_file(f, data, sizeof(data));
    assert_false(loader_is_elf(f->path));
    uint64_t size = 0;
    assert_int_equal(loader_load_raw(&f->vm, f->path, RAM_BASE + 0x800, &size, f->err,
                                     sizeof(f->err)),
                     0);
    assert_int_equal(size, sizeof(data));
    assert_memory_equal(ram(f, RAM_BASE + 0x800), data, sizeof(data));

    assert_int_equal(loader_load_raw(&f->vm, f->path, RAM_BASE + RAM_SIZE - 100, &size, f->err,
                                     sizeof(f->err)),
                     -ERANGE);
    assert_non_null(strstr(f->err, "is outside guest RAM (0x80000000-0x80100000)"));
    assert_int_equal(
        loader_load_raw(&f->vm, f->path, 0x1000, &size, f->err, sizeof(f->err)), -ERANGE);
}

static void test_raw_larger_than_ram(void **state)
{
    struct fixture *f = *state;
    /* A sparse file one byte bigger than RAM. */
    FILE *fp = fopen(f->path, "wb");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, RAM_SIZE, SEEK_SET), 0);
    fputc(0, fp);
    fclose(fp);
    uint64_t size;
    assert_int_equal(loader_load_raw(&f->vm, f->path, RAM_BASE, &size, f->err, sizeof(f->err)),
                     -EFBIG);
    assert_non_null(strstr(f->err, "file is larger than guest RAM"));
}

/* A fake Image: header + 0x1000 bytes of "code". */
static void make_image(uint8_t *img, size_t len, uint64_t image_size)
{
    memset(img, 0x5c, len);
    memset(img, 0, 64);
    uint64_t text_offset = 0x200000;
    memcpy(img + 0x08, &text_offset, 8);
    memcpy(img + 0x10, &image_size, 8);
    uint32_t version = 2;
    memcpy(img + 0x28, &version, 4);
    memcpy(img + 0x30, "RISCV\0\0\0", 8);
    memcpy(img + 0x38, "RSC\x05", 4);
}

static void test_linux_image(void **state)
{
    struct fixture *f = *state;
    static uint8_t img[0x1000];
    uint64_t size = 0;

    make_image(img, sizeof(img), 0x1800); /* bss beyond the file */
    write_file(f, img, sizeof(img));
    assert_int_equal(loader_load_linux_image(&f->vm, f->path, RAM_BASE + 0x10000, &size, f->err,
                                             sizeof(f->err)),
                     0);
    assert_int_equal(size, 0x1800);
    assert_memory_equal(ram(f, RAM_BASE + 0x10000), img, sizeof(img));

    /* image_size must fit too, not only the file. */
    assert_int_equal(loader_load_linux_image(&f->vm, f->path, RAM_BASE + RAM_SIZE - 0x1400, &size,
                                             f->err, sizeof(f->err)),
                     -ERANGE);
    assert_non_null(strstr(f->err, "outside guest RAM"));

    /* Old kernels: only the deprecated magic, no image_size. */
    make_image(img, sizeof(img), 0);
    memset(img + 0x38, 0, 4);
    write_file(f, img, sizeof(img));
    assert_int_equal(
        loader_load_linux_image(&f->vm, f->path, RAM_BASE, &size, f->err, sizeof(f->err)), 0);
    assert_int_equal(size, sizeof(img));

    /* Neither magic. */
    make_image(img, sizeof(img), 0x3000);
    memset(img + 0x30, 0, 12);
    write_file(f, img, sizeof(img));
    assert_int_equal(
        loader_load_linux_image(&f->vm, f->path, RAM_BASE, &size, f->err, sizeof(f->err)),
        -ENOEXEC);
    char want[256];
    snprintf(want, sizeof(want), "%s: not a RISC-V Linux Image (bad magic)", f->path);
    assert_string_equal(f->err, want);

    /* Cut off: far less file than the kernel occupies, or more file than it. */
    make_image(img, sizeof(img), 0x3000);
    write_file(f, img, sizeof(img));
    assert_int_equal(
        loader_load_linux_image(&f->vm, f->path, RAM_BASE, &size, f->err, sizeof(f->err)),
        -ENOEXEC);
    assert_non_null(strstr(f->err, "truncated"));
    make_image(img, sizeof(img), 0x800);
    write_file(f, img, sizeof(img));
    assert_int_equal(
        loader_load_linux_image(&f->vm, f->path, RAM_BASE, &size, f->err, sizeof(f->err)),
        -ENOEXEC);
    assert_non_null(strstr(f->err, "corrupt Image header"));

    /* EFI stub: a PE/COFF section whose raw data runs past the end of the file. */
    make_image(img, sizeof(img), 0x1000);
    img[0] = 'M';
    img[1] = 'Z';
    uint32_t pe = 0x40;
    memcpy(img + 0x3c, &pe, 4);
    memcpy(img + 0x40, "PE\0\0", 4);
    memset(img + 0x44, 0, 20);
    img[0x46] = 1; /* one section, no optional header */
    uint8_t *sh = img + 0x40 + 24;
    memset(sh, 0, 40);
    memcpy(sh, ".text", 5);
    uint32_t raw = 0x1000, ptr = 0x200;
    memcpy(sh + 16, &raw, 4);
    memcpy(sh + 20, &ptr, 4);
    write_file(f, img, sizeof(img));
    assert_int_equal(
        loader_load_linux_image(&f->vm, f->path, RAM_BASE, &size, f->err, sizeof(f->err)),
        -ENOEXEC);
    assert_non_null(strstr(f->err, "section .text ends at byte 4608"));
    raw = 0xe00; /* exactly to the end: fine */
    memcpy(sh + 16, &raw, 4);
    write_file(f, img, sizeof(img));
    assert_int_equal(
        loader_load_linux_image(&f->vm, f->path, RAM_BASE, &size, f->err, sizeof(f->err)), 0);

    /* image_size bigger than RAM. */
    make_image(img, sizeof(img), 0x10000000);
    write_file(f, img, sizeof(img));
    assert_int_equal(
        loader_load_linux_image(&f->vm, f->path, RAM_BASE, &size, f->err, sizeof(f->err)),
        -EFBIG);
    assert_non_null(strstr(f->err, "more than guest RAM"));
}

static void test_linux_image_wrong_kinds(void **state)
{
    struct fixture *f = *state;
    uint64_t size;
    static const uint8_t gz[64] = {0x1f, 0x8b, 0x08};
    write_file(f, gz, sizeof(gz));
    assert_int_equal(
        loader_load_linux_image(&f->vm, f->path, RAM_BASE, &size, f->err, sizeof(f->err)),
        -ENOEXEC);
    assert_non_null(strstr(f->err, "gzip"));

    struct tiny_elf e;
    make_elf(&e);
    write_file(f, &e, sizeof(e));
    assert_int_equal(
        loader_load_linux_image(&f->vm, f->path, RAM_BASE, &size, f->err, sizeof(f->err)),
        -ENOEXEC);
    assert_non_null(strstr(f->err, "ELF"));

    write_file(f, "RISCV", 5);
    assert_int_equal(
        loader_load_linux_image(&f->vm, f->path, RAM_BASE, &size, f->err, sizeof(f->err)),
        -ENOEXEC);
    assert_non_null(strstr(f->err, "too small"));
    assert_int_equal(f->vm.ram[0], 0xaa);
}

/* Kinds by magic only: a raw .bin is never taken for a broken Image (QEMU loads it as is). */
static void test_probe(void **state)
{
    struct fixture *f = *state;
    uint8_t img[64];
    memset(img, 0x13, sizeof(img)); /* addi x0, x0, 0 words: a plausible raw binary */
    write_file(f, img, sizeof(img));
    assert_int_equal(loader_probe(f->path), LOADER_RAW);
    write_file(f, img, 10); /* shorter than an Image header */
    assert_int_equal(loader_probe(f->path), LOADER_RAW);
    memcpy(img + 0x38, "RSC\x05", 4);
    write_file(f, img, sizeof(img));
    assert_int_equal(loader_probe(f->path), LOADER_IMAGE);
    memset(img + 0x38, 0, 4);
    memcpy(img + 0x30, "RISCV\0\0\0", 8);
    write_file(f, img, sizeof(img));
    assert_int_equal(loader_probe(f->path), LOADER_IMAGE);
    /* The Image magic cut off by the end of the file: raw. */
    write_file(f, img, 0x36);
    assert_int_equal(loader_probe(f->path), LOADER_RAW);
    static const uint8_t gz[16] = {0x1f, 0x8b, 0x08};
    write_file(f, gz, sizeof(gz));
    assert_int_equal(loader_probe(f->path), LOADER_GZIP);
    struct tiny_elf e;
    make_elf(&e);
    write_file(f, &e, sizeof(e));
    assert_int_equal(loader_probe(f->path), LOADER_ELF);
    assert_int_equal(loader_probe("/nonexistent/kiln-image"), LOADER_RAW);
}

/* The distribution's OpenSBI, when installed: a real firmware ELF. */
static void test_real_opensbi(void **state)
{
    struct fixture *f = *state;
    const char *p = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.elf";
    if (access(p, R_OK) != 0)
        skip();
    struct load_info info;
    int ret = loader_load_elf(&f->vm, p, &info, f->err, sizeof(f->err));
    if (ret == -ERANGE)
        skip(); /* a build bigger than this test's 1 MiB of RAM */
    assert_int_equal(ret, 0);
    assert_int_equal(info.entry, RAM_BASE);
    assert_int_equal(info.lowest, RAM_BASE);
    assert_true(info.highest > RAM_BASE);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_valid_elf),
        T(test_elf_without_symbols),
        T(test_truncated_header),
        T(test_bad_ident),
        T(test_wrong_machine),
        T(test_segment_outside_ram),
        T(test_second_segment_bad_leaves_ram_untouched),
        T(test_filesz_gt_memsz),
        T(test_phoff_beyond_file),
        T(test_offset_filesz_overflow),
        T(test_huge_phnum),
        T(test_missing_file),
        T(test_raw),
        T(test_raw_larger_than_ram),
        T(test_linux_image),
        T(test_linux_image_wrong_kinds),
        T(test_probe),
        T(test_real_opensbi),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
