/*
 * libFuzzer target for the snapshot state file (src/snapshot/): arbitrary bytes
 * through snap_parse and snap_machine_parse, and every record the parser
 * accepts through the loads of a small machine (harts, PLIC, CLINT, UART,
 * RTC, a virtio-rng transport, a virtio-9p share: "shares" and "p9_0", whose fids
 * are reopened beneath a scratch directory). Nothing may crash or read outside the input;
 * a refused load must leave its device usable.
 *
 * The first input byte picks the mode: odd = the rest is a payload, wrapped in a
 * header with correct checksums so the fuzzer gets past them to the records;
 * even = the rest is a whole state file, checksums and all. Seed: 0x01 followed
 * by bytes 32.. of a state.kiln written by `kiln snapshot` (docs/snapshots.md).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cpu/hart.h"
#include "dev/clint.h"
#include "dev/plic.h"
#include "dev/rtc.h"
#include "dev/uart.h"
#include "backend/p9fs.h"
#include "dev/virtio_9p.h"
#include "dev/virtio_rng.h"
#include "machine/vm.h"
#include "snapshot/snapshot.h"

#define NHARTS 2

static struct vm vm;
static struct hart harts[NHARTS];
static struct uart *uart;
static struct rtc *rtc;
static struct virtio_rng *rng;
static struct p9fs *p9fs;
static struct virtio_9p *p9;

static void out_fn(void *ctx, const uint8_t *buf, size_t len)
{
    (void)ctx, (void)buf, (void)len;
}

static void init(void)
{
    if (vm_init(&vm, 1 << 20))
        __builtin_trap();
    for (unsigned i = 0; i < NHARTS; i++) {
        if (hart_init(&harts[i], vm_bus(&vm), i))
            __builtin_trap();
        vm.harts[i] = &harts[i];
        vm.nharts = i + 1;
    }
    if (!plic_create(&vm) || !clint_create(&vm))
        __builtin_trap();
    uart = uart_create(&vm, VIRT_UART0_BASE, VIRT_UART0_IRQ, out_fn, NULL);
    rtc = rtc_create(&vm);
    rng = virtio_rng_create(&vm, VIRT_VIRTIO_BASE, VIRT_VIRTIO_IRQ);
    if (!uart || !rtc || !rng)
        __builtin_trap();
    /* A share with a file and a directory, so saved fids can really be reopened. */
    char dir[] = "/tmp/kiln-fuzz-snap9p-XXXXXX";
    if (!mkdtemp(dir))
        __builtin_trap();
    char path[64];
    snprintf(path, sizeof(path), "%s/f", dir);
    FILE *fp = fopen(path, "w");
    if (fp)
        fclose(fp);
    snprintf(path, sizeof(path), "%s/d", dir);
    mkdir(path, 0700);
    if (p9fs_open(dir, false, &p9fs))
        __builtin_trap();
    p9 = virtio_9p_create(&vm, VIRT_VIRTIO_BASE + VIRT_VIRTIO_STRIDE, VIRT_VIRTIO_IRQ + 1, p9fs, "fz");
    if (!p9)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        init();
        ready = 1;
    }
    static struct snap_file f;
    static struct snap_machine m;
    char err[256];
    if (size < 1)
        return 0;
    uint8_t *buf = malloc(size - 1 + SNAP_HEADER_SIZE);
    if (!buf)
        return 0;
    size_t len;
    if (data[0] & 1) {
        struct snap_w w;
        snap_w_init(&w);
        snap_w_bytes(&w, data + 1, size - 1);
        snap_w_finish(&w);
        if (w.oom) {
            snap_w_free(&w);
            free(buf);
            return 0;
        }
        memcpy(buf, w.buf, w.len);
        len = w.len;
        snap_w_free(&w);
    } else {
        memcpy(buf, data + 1, size - 1);
        len = size - 1;
    }
    if (snap_parse(buf, len, &f, err, sizeof(err))) {
        free(buf);
        return 0;
    }
    snap_machine_parse(&f, &m, err, sizeof(err));
    snap_9p_parse(&f, &m, err, sizeof(err));
    for (unsigned i = 0; i < f.nrec; i++) {
        struct snap_rd r = {.p = f.rec[i].data, .len = f.rec[i].len};
        const char *t = f.rec[i].tag;
        if (!strncmp(t, "hart", 4))
            snap_hart_load(&harts[t[4] == '1'], &r);
        else if (!strcmp(t, "plic"))
            plic_load(vm.plic, &r);
        else if (!strcmp(t, "clint"))
            clint_load(vm.clint, &r);
        else if (!strcmp(t, "uart"))
            uart_load(uart, &r);
        else if (!strcmp(t, "rtc"))
            rtc_load(rtc, &r);
        else if (!strcmp(t, "rng"))
            virtio_rng_load(rng, &r);
        else if (!strcmp(t, "p9_0"))
            snap_9p_load_one(p9, &r, err, sizeof(err));
    }
    /* The 9P server must still answer whatever session was (or was not) loaded. */
    {
        static const uint8_t tclunk[] = {11, 0, 0, 0, 120, 1, 0, 0, 0, 0, 0};
        uint8_t reply[64];
        virtio_9p_wait_idle(p9);
        p9fs_handle(p9fs, tclunk, sizeof(tclunk), reply, sizeof(reply));
    }
    /* Whatever loaded must still be safe to drive: a register read of each device. */
    uart_mmio_read(uart, 5, 1);
    free(buf);
    return 0;
}
