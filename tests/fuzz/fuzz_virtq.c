/*
 * libFuzzer target for the split virtqueue helper: the input is a queue
 * configuration plus a guest memory image holding rings, descriptor tables and
 * buffers; the device side pops, reads, writes and pushes until the queue is
 * empty or broken. Any crash, sanitizer report or hang is a bug: nothing a
 * driver writes may take the device down. Build: see docs/virtio.md.
 *
 * Needs only src/virtio/virtq.c: the VM is a bare struct vm with RAM (gmem.h is inline).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "machine/gmem.h"
#include "machine/vm.h"
#include "virtio/virtq.h"

#define RAM_BASE 0x80000000ull
#define RAM_SIZE 0x10000u
#define HDR 12

static struct vm vm;
static struct virtq_chain chain;
static struct iovec iov[VIRTQ_MAX_SEGS];
static uint8_t scratch[4096];

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

/* Ring address from 16 input bits plus a selector that sometimes points outside RAM. */
static uint64_t ring_addr(const uint8_t *p, unsigned sel)
{
    uint64_t off = get16(p);
    switch (sel & 3) {
    case 0:
    case 1:
        return RAM_BASE + off;
    case 2:
        return RAM_BASE + RAM_SIZE - (off & 0xff);
    default:
        return off * 0x100000001ull; /* anywhere */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!vm.ram) {
        vm.ram = malloc(RAM_SIZE);
        vm.ram_base = RAM_BASE;
        vm.ram_size = RAM_SIZE;
    }
    if (size < HDR) return 0;
    memset(vm.ram, 0, RAM_SIZE);
    memcpy(vm.ram, data + HDR, size - HDR < RAM_SIZE ? size - HDR : RAM_SIZE);

    struct virtq q;
    virtq_init(&q, &vm);
    /* Mostly valid sizes, sometimes anything. */
    q.num = (data[0] & 0x80) ? get16(data + 1) : (uint16_t)(1u << (data[0] % 16));
    q.event_idx = data[3] & 1;
    q.indirect = data[3] & 2;
    q.desc = ring_addr(data + 4, data[3] >> 2);
    q.avail = ring_addr(data + 6, data[3] >> 4);
    q.used = ring_addr(data + 8, data[3] >> 6);
    q.last_avail_idx = data[10];
    q.used_idx = data[11];
    q.ready = true;
    (void)virtq_check_rings(&q);

    /* Bounded: a queue can hold at most num chains; the avail idx is in guest RAM and fixed. */
    for (int round = 0; round < 64; round++) {
        int r = virtq_pop(&q, &chain);
        if (r <= 0) break;
        /* Every segment must be inside RAM: touching it under ASan proves it. */
        for (unsigned i = 0; i < chain.nseg; i++) {
            const struct virtq_seg *s = &chain.seg[i];
            if (s->base < vm.ram || s->base + s->len > vm.ram + RAM_SIZE || s->len == 0) abort();
            if (i < chain.nread ? s->writable : !s->writable) abort();
        }
        size_t got = virtq_chain_read(&chain, data[round % size] * 3u, scratch, sizeof(scratch));
        size_t put = virtq_chain_write(&chain, data[(round + 1) % size], scratch, got);
        int n = virtq_chain_iov(&chain, round & 1, 1, chain.write_len / 2, iov, VIRTQ_MAX_SEGS);
        (void)n;
        if (virtq_push(&q, &chain, (uint32_t)put + data[(round + 2) % size]) < 0) break;
        (void)virtq_should_notify(&q);
    }
    return 0;
}
