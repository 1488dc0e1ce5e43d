/*
 * Image loaders. The ELF parser works on a private copy of the whole file and
 * checks every offset and size against its length with subtractions that
 * cannot overflow (x <= len && n <= len - x); guest RAM is reached only
 * through gmem_ptr(), which does the same for the destination (cf. vmd).
 * References: ELF-64 Object File Format 1.5 (the System V gABI), RISC-V ELF
 * psABI (EM_RISCV = 243), Linux Documentation/riscv/boot-image-header.rst.
 */
#include "machine/loader.h"

#include <elf.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "machine/gmem.h"
#include "machine/vm.h"

/* Bounds that no sane image exceeds; they keep hostile headers from making us
 * allocate or loop absurdly. A vmlinux with full debug info is < 2 GiB. */
#define ELF_MAX_FILE (4ull << 30)
#define ELF_MAX_PHNUM 1024

/* Linux RISC-V Image header, boot-image-header.rst (all fields little endian). */
struct riscv_image_header {
    uint32_t code0;
    uint32_t code1;
    uint64_t text_offset;
    uint64_t image_size;
    uint64_t flags;
    uint32_t version;
    uint32_t res1;
    uint64_t res2;
    uint64_t magic;  /* "RISCV\0\0\0", deprecated since header version 0.2 */
    uint32_t magic2; /* "RSC\x05" */
    uint32_t res3;
};
_Static_assert(sizeof(struct riscv_image_header) == 64, "Image header is 64 bytes");

#define RISCV_IMAGE_MAGIC "RISCV\0\0\0"
#define RISCV_IMAGE_MAGIC2 "RSC\x05"

__attribute__((format(printf, 4, 5))) static void set_err(char *err, size_t errlen,
                                                          const char *name, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (name)
        snprintf(err, errlen, "%s: %s", name, msg);
    else
        snprintf(err, errlen, "%s", msg);
}

/* True if [off, off+n) lies inside a buffer of len bytes, without overflow. */
static bool in_file(uint64_t off, uint64_t n, size_t len)
{
    return off <= len && n <= len - off;
}

static void ram_range_err(const struct vm *vm, char *err, size_t errlen, const char *name,
                          const char *what, uint64_t gpa, uint64_t size)
{
    set_err(err, errlen, name,
            "%s 0x%" PRIx64 " + 0x%" PRIx64 " is outside guest RAM (0x%" PRIx64 "-0x%" PRIx64 ")",
            what, gpa, size, vm->ram_base, vm->ram_base + vm->ram_size);
}

/* ---- ELF ---- */

/* Physical address of virtual address v, through the PT_LOAD that maps it
 * (bare-metal images have p_vaddr == p_paddr; a kernel linked high does not). */
static uint64_t virt_to_phys(const uint8_t *buf, const Elf64_Ehdr *eh, uint64_t v)
{
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, buf + eh->e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
        if (ph.p_type == PT_LOAD && v - ph.p_vaddr < ph.p_memsz)
            return ph.p_paddr + (v - ph.p_vaddr);
    }
    return v;
}

static bool sym_is(const char *strtab, uint64_t strsize, uint32_t name, const char *want)
{
    size_t n = strlen(want) + 1; /* the NUL must be inside the table too */
    return name < strsize && n <= strsize - name && memcmp(strtab + name, want, n) == 0;
}

/*
 * Finds tohost/fromhost in the first SHT_SYMTAB (gABI "Sections"). Symbols are
 * optional: any inconsistency in the section table just means "not found".
 */
static void find_htif_symbols(const uint8_t *buf, size_t len, const Elf64_Ehdr *eh,
                              struct load_info *info)
{
    if (eh->e_shoff == 0 || eh->e_shnum == 0 || eh->e_shentsize != sizeof(Elf64_Shdr))
        return;
    if (!in_file(eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr), len))
        return;
    for (unsigned i = 0; i < eh->e_shnum; i++) {
        Elf64_Shdr sh, strsh;
        memcpy(&sh, buf + eh->e_shoff + (uint64_t)i * sizeof(sh), sizeof(sh));
        if (sh.sh_type != SHT_SYMTAB)
            continue;
        if (sh.sh_link >= eh->e_shnum)
            return;
        memcpy(&strsh, buf + eh->e_shoff + (uint64_t)sh.sh_link * sizeof(strsh), sizeof(strsh));
        if (strsh.sh_type != SHT_STRTAB || !in_file(sh.sh_offset, sh.sh_size, len) ||
            !in_file(strsh.sh_offset, strsh.sh_size, len))
            return;
        const char *strtab = (const char *)buf + strsh.sh_offset;
        uint64_t nsyms = sh.sh_size / sizeof(Elf64_Sym);
        for (uint64_t k = 0; k < nsyms; k++) {
            Elf64_Sym sym;
            memcpy(&sym, buf + sh.sh_offset + k * sizeof(sym), sizeof(sym));
            if (sym.st_shndx == SHN_UNDEF)
                continue;
            if (sym_is(strtab, strsh.sh_size, sym.st_name, "tohost"))
                info->tohost = virt_to_phys(buf, eh, sym.st_value);
            else if (sym_is(strtab, strsh.sh_size, sym.st_name, "fromhost"))
                info->fromhost = virt_to_phys(buf, eh, sym.st_value);
        }
        return;
    }
}

static int elf_load(struct vm *vm, const uint8_t *buf, size_t len, struct load_info *out,
                    const char *name, char *err, size_t errlen)
{
    Elf64_Ehdr eh;
    if (len < sizeof(eh)) {
        set_err(err, errlen, name, "truncated ELF header (%zu bytes)", len);
        return -ENOEXEC;
    }
    memcpy(&eh, buf, sizeof(eh));
    if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
        set_err(err, errlen, name, "not an ELF file (bad magic)");
        return -ENOEXEC;
    }
    if (eh.e_ident[EI_CLASS] != ELFCLASS64) {
        set_err(err, errlen, name, "not a 64-bit ELF (class %u)", eh.e_ident[EI_CLASS]);
        return -ENOEXEC;
    }
    if (eh.e_ident[EI_DATA] != ELFDATA2LSB) {
        set_err(err, errlen, name, "not a little-endian ELF");
        return -ENOEXEC;
    }
    /* OpenSBI builds position-independent firmware (FW_PIC) as ET_DYN at a fixed address. */
    if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) {
        set_err(err, errlen, name, "not an executable ELF (type %u)", eh.e_type);
        return -ENOEXEC;
    }
    if (eh.e_machine != EM_RISCV) {
        set_err(err, errlen, name, "not a RISC-V ELF (machine %u)", eh.e_machine);
        return -ENOEXEC;
    }
    if (eh.e_phnum == 0) {
        set_err(err, errlen, name, "no program headers");
        return -ENOEXEC;
    }
    if (eh.e_phentsize != sizeof(Elf64_Phdr)) {
        set_err(err, errlen, name, "bad program header size %u", eh.e_phentsize);
        return -ENOEXEC;
    }
    if (eh.e_phnum > ELF_MAX_PHNUM) {
        /* Includes PN_XNUM (0xffff), the extended count we do not support. */
        set_err(err, errlen, name, "too many program headers (%u)", eh.e_phnum);
        return -ENOEXEC;
    }
    if (!in_file(eh.e_phoff, (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr), len)) {
        set_err(err, errlen, name, "program headers at 0x%" PRIx64 " lie outside the file",
                eh.e_phoff);
        return -ENOEXEC;
    }

    /* Pass 1: validate everything, so a bad file leaves guest RAM untouched. */
    struct load_info info = {0};
    unsigned nload = 0;
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, buf + eh.e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
        if (ph.p_type != PT_LOAD)
            continue;
        if (ph.p_filesz > ph.p_memsz) {
            set_err(err, errlen, name,
                    "segment %u: file size 0x%" PRIx64 " exceeds memory size 0x%" PRIx64, i,
                    ph.p_filesz, ph.p_memsz);
            return -ENOEXEC;
        }
        if (!in_file(ph.p_offset, ph.p_filesz, len)) {
            set_err(err, errlen, name,
                    "segment %u: file range 0x%" PRIx64 " + 0x%" PRIx64
                    " is outside the file (%zu bytes)",
                    i, ph.p_offset, ph.p_filesz, len);
            return -ENOEXEC;
        }
        if (ph.p_memsz == 0)
            continue;
        if (!gmem_ptr(vm, ph.p_paddr, ph.p_memsz)) {
            /* A kernel linked in the upper half with 0-based LMAs is a vmlinux. */
            bool vmlinux = (ph.p_vaddr >> 63) && ph.p_paddr < vm->ram_base;
            ram_range_err(vm, err, errlen, name, "segment", ph.p_paddr, ph.p_memsz);
            if (vmlinux && err && errlen) {
                size_t n = strlen(err);
                snprintf(err + n, errlen - n, "; for a Linux vmlinux, boot its Image instead");
            }
            return -ERANGE;
        }
        uint64_t end = ph.p_paddr + ph.p_memsz; /* cannot overflow: inside RAM */
        if (nload == 0 || ph.p_paddr < info.lowest)
            info.lowest = ph.p_paddr;
        if (nload == 0 || end > info.highest)
            info.highest = end;
        nload++;
    }
    if (nload == 0) {
        set_err(err, errlen, name, "no loadable segments");
        return -ENOEXEC;
    }

    /* Pass 2: copy the file part, zero the rest (bss). */
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, buf + eh.e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
        if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
            continue;
        uint8_t *dst = gmem_ptr(vm, ph.p_paddr, ph.p_memsz);
        memcpy(dst, buf + ph.p_offset, ph.p_filesz);
        memset(dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
    }

    info.entry = virt_to_phys(buf, &eh, eh.e_entry);
    find_htif_symbols(buf, len, &eh, &info);
    if (out)
        *out = info;
    return 0;
}

int loader_load_elf_buf(struct vm *vm, const uint8_t *buf, size_t len, struct load_info *info,
                        char *err, size_t errlen)
{
    return elf_load(vm, buf, len, info, NULL, err, errlen);
}

/* ---- files ---- */

/* Opens a regular file for reading and returns its size. */
static int open_file(const char *path, uint64_t *size, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        set_err(err, errlen, path, "%s", strerror(e));
        return -e;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        set_err(err, errlen, path, "%s", strerror(e));
        close(fd);
        return -e;
    }
    if (!S_ISREG(st.st_mode)) {
        set_err(err, errlen, path, "not a regular file");
        close(fd);
        return -EINVAL;
    }
    *size = (uint64_t)st.st_size;
    return fd;
}

/* Reads exactly len bytes; a file that shrinks under us is an error, not a short image. */
static int read_exact(int fd, uint8_t *dst, uint64_t len, const char *path, char *err,
                      size_t errlen)
{
    uint64_t done = 0;
    while (done < len) {
        size_t chunk = len - done > (1u << 30) ? (1u << 30) : (size_t)(len - done);
        ssize_t n = read(fd, dst + done, chunk);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            set_err(err, errlen, path, "read: %s", strerror(e));
            return -e;
        }
        if (n == 0) {
            set_err(err, errlen, path, "file shrank while being read");
            return -EIO;
        }
        done += (uint64_t)n;
    }
    return 0;
}

int loader_load_elf(struct vm *vm, const char *path, struct load_info *info, char *err,
                    size_t errlen)
{
    uint64_t size;
    int fd = open_file(path, &size, err, errlen);
    if (fd < 0)
        return fd;
    int ret;
    uint8_t *buf = NULL;
    if (size > ELF_MAX_FILE) {
        set_err(err, errlen, path, "file is too large (%" PRIu64 " bytes)", size);
        ret = -EFBIG;
        goto out;
    }
    /* A private copy: the file cannot change between our checks and our use. */
    buf = malloc(size ? size : 1);
    if (!buf) {
        set_err(err, errlen, path, "out of memory reading %" PRIu64 " bytes", size);
        ret = -ENOMEM;
        goto out;
    }
    ret = read_exact(fd, buf, size, path, err, errlen);
    if (ret == 0)
        ret = elf_load(vm, buf, size, info, path, err, errlen);
out:
    free(buf);
    close(fd);
    return ret;
}

bool loader_is_elf(const char *path)
{
    uint8_t magic[SELFMAG];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n;
    do {
        n = pread(fd, magic, sizeof(magic), 0);
    } while (n < 0 && errno == EINTR);
    close(fd);
    return n == (ssize_t)sizeof(magic) && memcmp(magic, ELFMAG, SELFMAG) == 0;
}

enum loader_kind loader_probe(const char *path)
{
    struct riscv_image_header h;
    memset(&h, 0, sizeof(h));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return LOADER_RAW;
    ssize_t n;
    do {
        n = pread(fd, &h, sizeof(h), 0);
    } while (n < 0 && errno == EINTR);
    close(fd);
    const uint8_t *b = (const uint8_t *)&h;
    if (n >= SELFMAG && memcmp(b, ELFMAG, SELFMAG) == 0)
        return LOADER_ELF;
    if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b)
        return LOADER_GZIP;
    /* A header cut short is a raw file that happens to be small, not a broken Image. */
    if (n == (ssize_t)sizeof(h) && (memcmp(&h.magic2, RISCV_IMAGE_MAGIC2, 4) == 0 ||
                                    memcmp(&h.magic, RISCV_IMAGE_MAGIC, 8) == 0))
        return LOADER_IMAGE;
    return LOADER_RAW;
}

/* Reads the already opened file (size bytes) into guest RAM at gpa, needing
 * `need` (>= size) bytes of RAM there. */
static int load_fd_at(struct vm *vm, int fd, uint64_t size, uint64_t need, uint64_t gpa,
                      const char *path, char *err, size_t errlen)
{
    if (size > vm->ram_size) {
        set_err(err, errlen, path, "file is larger than guest RAM (%" PRIu64 " > %" PRIu64 " bytes)",
                size, vm->ram_size);
        return -EFBIG;
    }
    uint8_t *dst = gmem_ptr(vm, gpa, need);
    if (!dst) {
        ram_range_err(vm, err, errlen, path, "image", gpa, need);
        return -ERANGE;
    }
    return read_exact(fd, dst, size, path, err, errlen);
}

int loader_load_raw(struct vm *vm, const char *path, uint64_t gpa, uint64_t *size_out, char *err,
                    size_t errlen)
{
    uint64_t size;
    int fd = open_file(path, &size, err, errlen);
    if (fd < 0)
        return fd;
    int ret = load_fd_at(vm, fd, size, size, gpa, path, err, errlen);
    close(fd);
    if (ret == 0 && size_out)
        *size_out = size;
    return ret;
}

/*
 * A truncated or damaged Image would otherwise boot into zeros and hang after
 * the firmware banner with no word of why, so check what the file says of its
 * own size before loading it:
 *  - image_size (boot-image-header.rst) is the memory the kernel occupies from
 *    its load address, bss included: the file can never be larger, and a file
 *    shorter than half of it is far more likely cut off than all bss;
 *  - a kernel built with the EFI stub carries a PE/COFF header (offset in res3,
 *    "PE\0\0"; Microsoft PE format, section table) whose sections give the exact
 *    file size: every section's raw data must lie inside the file.
 * 0, or -ENOEXEC with a message.
 */
static int image_check_size(int fd, const struct riscv_image_header *h, uint64_t size,
                            const char *path, char *err, size_t errlen)
{
    uint64_t image_size = le64toh(h->image_size);
    if (image_size && size > image_size) {
        set_err(err, errlen, path,
                "corrupt Image header: the file (%" PRIu64 " bytes) is larger than the memory "
                "the kernel says it occupies (image_size %" PRIu64 ")", size, image_size);
        return -ENOEXEC;
    }
    if (image_size && size < image_size / 2) {
        set_err(err, errlen, path,
                "truncated: the file has %" PRIu64 " bytes but the kernel occupies %" PRIu64
                " (image_size); copy it again", size, image_size);
        return -ENOEXEC;
    }
    const uint8_t *code = (const uint8_t *)&h->code0;
    uint32_t pe_off = le32toh(h->res3);
    if (code[0] != 'M' || code[1] != 'Z' || pe_off < sizeof(*h) || pe_off > size)
        return 0; /* no EFI stub: nothing more to go by */
    /* "PE\0\0", then the 20-byte COFF header: NumberOfSections at +2, SizeOfOptionalHeader at +16. */
    uint8_t coff[24];
    if (pread(fd, coff, sizeof(coff), pe_off) != (ssize_t)sizeof(coff) || memcmp(coff, "PE\0\0", 4))
        return 0;
    unsigned nsec = (unsigned)coff[6] | (unsigned)coff[7] << 8;
    unsigned opt = (unsigned)coff[20] | (unsigned)coff[21] << 8;
    uint64_t sec_off = (uint64_t)pe_off + 24 + opt;
    for (unsigned i = 0; i < nsec && i < 96; i++) {
        uint8_t sh[40]; /* section header: SizeOfRawData at +16, PointerToRawData at +20 */
        if (pread(fd, sh, sizeof(sh), (off_t)(sec_off + 40ull * i)) != (ssize_t)sizeof(sh)) {
            set_err(err, errlen, path, "truncated: its PE/COFF section table is cut off");
            return -ENOEXEC;
        }
        uint64_t raw = (uint64_t)sh[16] | (uint64_t)sh[17] << 8 | (uint64_t)sh[18] << 16 |
                       (uint64_t)sh[19] << 24;
        uint64_t ptr = (uint64_t)sh[20] | (uint64_t)sh[21] << 8 | (uint64_t)sh[22] << 16 |
                       (uint64_t)sh[23] << 24;
        if (ptr + raw > size) {
            set_err(err, errlen, path,
                    "truncated: section %.8s ends at byte %" PRIu64 " but the file has %" PRIu64,
                    (const char *)sh, ptr + raw, size);
            return -ENOEXEC;
        }
    }
    return 0;
}

int loader_load_linux_image(struct vm *vm, const char *path, uint64_t gpa, uint64_t *size_out,
                            char *err, size_t errlen)
{
    uint64_t size;
    int fd = open_file(path, &size, err, errlen);
    if (fd < 0)
        return fd;
    int ret;
    struct riscv_image_header h;
    ssize_t n;
    do {
        n = pread(fd, &h, sizeof(h), 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        ret = -errno;
        set_err(err, errlen, path, "read: %s", strerror(-ret));
        goto out;
    }
    const uint8_t *b = (const uint8_t *)&h;
    if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b) {
        set_err(err, errlen, path, "not a RISC-V Linux Image (gzip-compressed: decompress it)");
        ret = -ENOEXEC;
        goto out;
    }
    if (n >= SELFMAG && memcmp(b, ELFMAG, SELFMAG) == 0) {
        set_err(err, errlen, path, "not a RISC-V Linux Image (it is an ELF file)");
        ret = -ENOEXEC;
        goto out;
    }
    if (n < (ssize_t)sizeof(h)) {
        set_err(err, errlen, path, "not a RISC-V Linux Image (file too small for the header)");
        ret = -ENOEXEC;
        goto out;
    }
    /* magic2 is authoritative from header version 0.2; older kernels only have magic. */
    if (memcmp(&h.magic2, RISCV_IMAGE_MAGIC2, 4) != 0 &&
        memcmp(&h.magic, RISCV_IMAGE_MAGIC, 8) != 0) {
        set_err(err, errlen, path, "not a RISC-V Linux Image (bad magic)");
        ret = -ENOEXEC;
        goto out;
    }
    /* Headers before version 0.1 left image_size 0: then the file is all there is. */
    uint64_t image_size = le64toh(h.image_size);
    uint64_t need = image_size > size ? image_size : size;
    if (image_size > vm->ram_size) {
        set_err(err, errlen, path,
                "kernel needs 0x%" PRIx64 " bytes (image_size), more than guest RAM (0x%" PRIx64
                ")",
                image_size, vm->ram_size);
        ret = -EFBIG;
        goto out;
    }
    ret = image_check_size(fd, &h, size, path, err, errlen);
    if (ret)
        goto out;
    ret = load_fd_at(vm, fd, size, need, gpa, path, err, errlen);
    if (ret == 0 && size_out)
        *size_out = image_size ? image_size : size;
out:
    close(fd);
    return ret;
}
