/*
 * The GDB stub's input path (src/debug/gdb_pkt.c framing, src/debug/gdb_cmd.c command
 * handlers, src/debug/gdb_target.c registers and memory): arbitrary bytes from "the debugger"
 * against a detached stub over a real VM with two harts, some RAM and page tables the fuzzer
 * can point satp at. Every third byte stream is wrapped as valid packets so the handlers, not
 * only the checksum check, see the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/hart.h"
#include "debug/gdb_pkt.h"
#include "debug/gdbstub.h"
#include "machine/vm.h"

#define RAM_SIZE (1u << 20)

static struct vm vm;
static struct hart harts[2];
static struct gdbstub *stub;
static size_t replied;

static void sink(void *ctx, const char *data, size_t len)
{
    (void)ctx;
    (void)data;
    replied += len;
}

static void setup(void)
{
    if (vm_init(&vm, RAM_SIZE) < 0)
        abort();
    for (unsigned i = 0; i < 2; i++) {
        if (hart_init(&harts[i], vm_bus(&vm), i) < 0)
            abort();
        vm.harts[i] = &harts[i];
        vm.nharts = i + 1;
    }
    stub = gdbstub_create_detached(&vm, sink, NULL);
    if (!stub)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!stub)
        setup();
    if (size && data[0] % 3 == 0) {
        /* Lines as packets: "cmd1\ncmd2\n..." each framed with a good checksum. */
        static char framed[2 * GDB_PKT_MAX + 8];
        const uint8_t *p = data + 1, *end = data + size;
        while (p < end) {
            const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
            size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
            int len = gdb_pkt_frame((const char *)p, n, framed, sizeof(framed));
            if (len > 0)
                gdbstub_feed(stub, (const uint8_t *)framed, (size_t)len);
            p += n + 1;
        }
    } else {
        gdbstub_feed(stub, data, size);
    }
    /* The next input starts from a known hart state (the fuzzer may have written any CSR). */
    for (unsigned i = 0; i < 2; i++)
        hart_reset(&harts[i], VIRT_DRAM_BASE);
    return 0;
}
