/*
 * libFuzzer target for the ELF loader: any byte string must either load into
 * a 1 MiB guest or be refused, never read outside the buffer or write outside
 * guest RAM. Build (from the repository root):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc tests/fuzz/fuzz_elf.c \
 *         src/machine/loader.c src/machine/vm.c src/util/log.c -o /tmp/fuzz_elf
 * vm.c refers to hart_kick() and plic_set_irq(), which this target never
 * reaches; weak stand-ins below let it link without the CPU and PLIC, and
 * step aside when the real ones are linked in.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "machine/loader.h"
#include "machine/vm.h"

struct hart;
struct plic;

__attribute__((weak)) void hart_kick(struct hart *h)
{
    (void)h;
}

__attribute__((weak)) void plic_set_irq(struct plic *p, unsigned source, bool level)
{
    (void)p;
    (void)source;
    (void)level;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct vm vm;
    static bool ready;
    if (!ready) {
        if (vm_init(&vm, 1u << 20) != 0)
            abort();
        ready = true;
    }
    /* An exact-size copy, so ASan flags any read past the end of the input. */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    struct load_info info;
    char err[256] = "";
    if (loader_load_elf_buf(&vm, buf, size, &info, err, sizeof(err)) == 0) {
        /* Whatever loaded must be inside RAM. */
        if (info.lowest < vm.ram_base || info.highest > vm.ram_base + vm.ram_size ||
            info.lowest >= info.highest)
            abort();
    } else if (err[0] == 0 || strchr(err, '\n')) {
        abort(); /* every refusal explains itself on one line */
    }
    free(buf);
    return 0;
}
