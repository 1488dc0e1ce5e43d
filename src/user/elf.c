#include "user/elf.h"

#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "user/mm.h"
#include "util/errmsg.h"

#define MAX_PHDRS 64

int elf_check_header(const uint8_t *buf, size_t len, char *err, size_t errlen)
{
    if (len < 4 || memcmp(buf, ELFMAG, SELFMAG))
        return errmsg(err, errlen, -ENOEXEC, "not an ELF file");
    if (len < sizeof(Elf64_Ehdr))
        return errmsg(err, errlen, -ENOEXEC, "truncated ELF header");
    const Elf64_Ehdr *eh = (const void *)buf;
    if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB)
        return errmsg(err, errlen, -ENOEXEC, "not a 64-bit little-endian ELF (wrong architecture)");
    if (eh->e_machine != EM_RISCV)
        return errmsg(err, errlen, -ENOEXEC, "ELF for machine %u, not RISC-V (wrong architecture)",
                    eh->e_machine);
    if (eh->e_type != ET_EXEC && eh->e_type != ET_DYN)
        return errmsg(err, errlen, -ENOEXEC, "not an executable ELF (type %u)", eh->e_type);
    if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 || eh->e_phnum > MAX_PHDRS)
        return errmsg(err, errlen, -ENOEXEC, "bad program header table (%u entries of %u bytes)",
                    eh->e_phnum, eh->e_phentsize);
    return 0;
}

static int prot_of(uint32_t pf)
{
    return ((pf & PF_R) ? MM_PROT_READ : 0) | ((pf & PF_W) ? MM_PROT_WRITE : 0) |
           ((pf & PF_X) ? MM_PROT_EXEC : 0);
}

/* The protection of the page at a of segment i: its own, or'ed with earlier segments sharing the page. */
static int page_prot(const Elf64_Phdr *ph, unsigned n, unsigned i, uint64_t bias, uint64_t a)
{
    int prot = prot_of(ph[i].p_flags);
    for (unsigned j = 0; j < i && j < n; j++) {
        const Elf64_Phdr *q = &ph[j];
        if (q->p_type != PT_LOAD || q->p_memsz == 0)
            continue;
        uint64_t qs = (q->p_vaddr + bias) & ~(MM_PAGE - 1);
        uint64_t qe = (q->p_vaddr + bias + q->p_memsz + MM_PAGE - 1) & ~(MM_PAGE - 1);
        if (a >= qs && a < qe)
            prot |= prot_of(q->p_flags);
    }
    return prot;
}

/* Reads file bytes [off, off + len) to guest va, page by page (the pages are mapped writable). */
static int copy_file(struct mm *mm, int fd, uint64_t off, uint64_t va, uint64_t len)
{
    while (len) {
        uint64_t n = MM_PAGE - (va & (MM_PAGE - 1));
        if (n > len)
            n = len;
        void *dst = mm_host(mm, va, MM_WRITE, NULL);
        if (!dst)
            return -ENOMEM;
        ssize_t got = pread(fd, dst, n, (off_t)off);
        if (got < 0)
            return -errno;
        if ((uint64_t)got < n)
            return -EIO; /* the file shrank under us */
        off += n, va += n, len -= n;
    }
    return 0;
}

/* Reads and checks the ELF and program headers, and PT_INTERP into img->interp. */
static int read_headers(int fd, Elf64_Ehdr *ehp, Elf64_Phdr *ph, uint64_t *fsizep,
                        struct elf_image *img, char *err, size_t errlen)
{
    memset(img, 0, sizeof(*img));
    struct stat st;
    if (fstat(fd, &st) < 0)
        return errmsg(err, errlen, -errno, "cannot stat: %s", strerror(errno));
    if (!S_ISREG(st.st_mode))
        return errmsg(err, errlen, -EACCES, "not a regular file");
    uint64_t fsize = (uint64_t)st.st_size;
    uint8_t hdr[sizeof(Elf64_Ehdr)];
    ssize_t got = pread(fd, hdr, sizeof(hdr), 0);
    if (got < 0)
        return errmsg(err, errlen, -errno, "cannot read: %s", strerror(errno));
    int rc = elf_check_header(hdr, (size_t)got, err, errlen);
    if (rc)
        return rc;
    Elf64_Ehdr eh;
    memcpy(&eh, hdr, sizeof(eh));
    uint64_t phsize = (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr);
    if (eh.e_phoff > fsize || phsize > fsize - eh.e_phoff ||
        pread(fd, ph, phsize, (off_t)eh.e_phoff) != (ssize_t)phsize)
        return errmsg(err, errlen, -ENOEXEC, "program headers outside the file");
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        const Elf64_Phdr *p = &ph[i];
        if (p->p_type == PT_INTERP &&
            (p->p_filesz < 2 || p->p_filesz > sizeof(img->interp) || p->p_offset > fsize ||
             p->p_filesz > fsize - p->p_offset ||
             pread(fd, img->interp, p->p_filesz, (off_t)p->p_offset) != (ssize_t)p->p_filesz ||
             img->interp[p->p_filesz - 1] != 0))
            return errmsg(err, errlen, -ENOEXEC, "bad PT_INTERP");
    }
    *ehp = eh;
    *fsizep = fsize;
    return 0;
}

int elf_probe(int fd, char *interp, size_t len, char *err, size_t errlen)
{
    Elf64_Ehdr eh;
    Elf64_Phdr ph[MAX_PHDRS];
    uint64_t fsize;
    struct elf_image img;
    int rc = read_headers(fd, &eh, ph, &fsize, &img, err, errlen);
    if (!rc)
        snprintf(interp, len, "%s", img.interp);
    return rc;
}

int elf_load(struct mm *mm, int fd, uint64_t dyn_hint, struct elf_image *img, char *err,
             size_t errlen)
{
    Elf64_Ehdr eh;
    Elf64_Phdr ph[MAX_PHDRS];
    uint64_t fsize;
    int rc = read_headers(fd, &eh, ph, &fsize, img, err, errlen);
    if (rc)
        return rc;
    uint64_t phsize = (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr);

    /* Validate every segment and find the image's span before mapping anything. */
    uint64_t lo = UINT64_MAX, hi = 0;
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        const Elf64_Phdr *p = &ph[i];
        if (p->p_type != PT_LOAD || p->p_memsz == 0)
            continue;
        if (p->p_filesz > p->p_memsz || p->p_offset > fsize || p->p_filesz > fsize - p->p_offset)
            return errmsg(err, errlen, -ENOEXEC, "segment %u outside the file", i);
        if ((p->p_vaddr - p->p_offset) & (MM_PAGE - 1))
            return errmsg(err, errlen, -ENOEXEC, "segment %u not page-congruent", i);
        if (p->p_vaddr >= MM_USER_TOP || p->p_memsz > MM_USER_TOP - p->p_vaddr)
            return errmsg(err, errlen, -ENOEXEC, "segment %u outside user space", i);
        uint64_t s = p->p_vaddr & ~(MM_PAGE - 1);
        uint64_t e = (p->p_vaddr + p->p_memsz + MM_PAGE - 1) & ~(MM_PAGE - 1);
        if (s < lo)
            lo = s;
        if (e > hi)
            hi = e;
    }
    if (hi == 0)
        return errmsg(err, errlen, -ENOEXEC, "no loadable segment");

    uint64_t bias = 0;
    if (eh.e_type == ET_DYN) {
        uint64_t base = mm_find_free(mm, dyn_hint, hi - lo);
        if (!base)
            return errmsg(err, errlen, -ENOMEM, "no room for a %llu-byte image",
                        (unsigned long long)(hi - lo));
        bias = base - lo;
    } else if (lo < MM_USER_MIN) {
        return errmsg(err, errlen, -ENOEXEC, "segments below 0x%llx", (unsigned long long)MM_USER_MIN);
    }

    for (unsigned i = 0; i < eh.e_phnum; i++) {
        const Elf64_Phdr *p = &ph[i];
        if (p->p_type != PT_LOAD || p->p_memsz == 0)
            continue;
        uint64_t s = (p->p_vaddr + bias) & ~(MM_PAGE - 1);
        uint64_t e = (p->p_vaddr + bias + p->p_memsz + MM_PAGE - 1) & ~(MM_PAGE - 1);
        /* Pages shared with an earlier segment keep their contents: map only new pages, a run at a time. */
        for (uint64_t a = s; a < e;) {
            if (mm_page_prot(mm, a) >= 0) {
                a += MM_PAGE;
                continue;
            }
            uint64_t run = a + MM_PAGE;
            while (run < e && mm_page_prot(mm, run) < 0)
                run += MM_PAGE;
            rc = mm_map(mm, a, run - a, MM_PROT_READ | MM_PROT_WRITE);
            if (rc)
                return errmsg(err, errlen, rc, "out of guest memory loading segment %u", i);
            a = run;
        }
        rc = copy_file(mm, fd, p->p_offset, p->p_vaddr + bias, p->p_filesz);
        if (rc)
            return errmsg(err, errlen, rc, "cannot load segment %u: %s", i, strerror(-rc));
    }
    /* Final protections; a page shared by two segments gets the union of theirs. */
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        const Elf64_Phdr *p = &ph[i];
        if (p->p_type != PT_LOAD || p->p_memsz == 0)
            continue;
        uint64_t s = (p->p_vaddr + bias) & ~(MM_PAGE - 1);
        uint64_t e = (p->p_vaddr + bias + p->p_memsz + MM_PAGE - 1) & ~(MM_PAGE - 1);
        /* One mm_protect per run of pages with the same protection (each is a host mprotect). */
        uint64_t run = s;
        int run_prot = -1;
        for (uint64_t a = s; a <= e; a += MM_PAGE) {
            int prot = a < e ? page_prot(ph, eh.e_phnum, i, bias, a) : -1;
            if (prot != run_prot) {
                if (run_prot >= 0)
                    mm_protect(mm, run, a - run, run_prot);
                run = a;
                run_prot = prot;
            }
        }
    }

    img->bias = bias;
    img->entry = eh.e_entry + bias;
    img->end = hi + bias;
    img->phnum = eh.e_phnum;
    img->phent = sizeof(Elf64_Phdr);
    for (unsigned i = 0; i < eh.e_phnum; i++)
        if (ph[i].p_type == PT_PHDR)
            img->phdr = ph[i].p_vaddr + bias;
    if (!img->phdr) {
        for (unsigned i = 0; i < eh.e_phnum; i++) {
            const Elf64_Phdr *p = &ph[i];
            if (p->p_type == PT_LOAD && eh.e_phoff >= p->p_offset &&
                eh.e_phoff - p->p_offset + phsize <= p->p_filesz)
                img->phdr = p->p_vaddr + bias + (eh.e_phoff - p->p_offset);
        }
    }
    return 0;
}

int elf_build_stack(uint8_t *buf, size_t size, uint64_t top, char *const *argv, char *const *envp,
                    const char *execfn, const char *platform, const uint8_t random16[16],
                    struct auxv *auxv, uint64_t *sp)
{
    size_t pos = size; /* buf[pos] corresponds to guest address top - (size - pos) */
#define VA(p) (top - (size - (p)))
#define PUSH(src, n)                                                                               \
    do {                                                                                           \
        if ((n) > pos)                                                                             \
            return -E2BIG;                                                                         \
        pos -= (n);                                                                                \
        memcpy(buf + pos, (src), (n));                                                             \
    } while (0)
    static const uint8_t zero8[8];
    PUSH(zero8, 8); /* end marker, as Linux leaves one word below the top */
    PUSH(execfn, strlen(execfn) + 1);
    uint64_t execfn_va = VA(pos);
    size_t argc = 0, envc = 0;
    while (argv[argc])
        argc++;
    while (envp[envc])
        envc++;
    if (argc > 65536 || envc > 65536)
        return -E2BIG;
    /* Strings are pushed last-first so that argv[0] ends lowest, like Linux. */
    uint64_t env_va[envc + 1], arg_va[argc + 1];
    for (size_t i = envc; i-- > 0;) {
        PUSH(envp[i], strlen(envp[i]) + 1);
        env_va[i] = VA(pos);
    }
    for (size_t i = argc; i-- > 0;) {
        PUSH(argv[i], strlen(argv[i]) + 1);
        arg_va[i] = VA(pos);
    }
    uint64_t plat_va = 0;
    if (platform) {
        PUSH(platform, strlen(platform) + 1);
        plat_va = VA(pos);
    }
    pos &= ~(size_t)15;
    PUSH(random16, 16);
    uint64_t rand_va = VA(pos);
    size_t nauxv = 0;
    while (auxv[nauxv].type != AT_NULL)
        nauxv++;
    nauxv++;
    for (size_t i = 0; i < nauxv; i++) {
        if (auxv[i].type == AT_RANDOM)
            auxv[i].value = rand_va;
        else if (auxv[i].type == AT_EXECFN)
            auxv[i].value = execfn_va;
        else if (auxv[i].type == AT_PLATFORM)
            auxv[i].value = plat_va;
    }
    size_t words = 1 + argc + 1 + envc + 1 + 2 * nauxv;
    if (words * 8 + 16 > pos)
        return -E2BIG;
    pos = (pos - words * 8) & ~(size_t)15;
    uint64_t *w = (uint64_t *)(void *)(buf + pos);
    size_t k = 0;
    w[k++] = argc;
    for (size_t i = 0; i < argc; i++)
        w[k++] = arg_va[i];
    w[k++] = 0;
    for (size_t i = 0; i < envc; i++)
        w[k++] = env_va[i];
    w[k++] = 0;
    for (size_t i = 0; i < nauxv; i++) {
        w[k++] = auxv[i].type;
        w[k++] = auxv[i].value;
    }
    *sp = VA(pos);
    return 0;
#undef VA
#undef PUSH
}
