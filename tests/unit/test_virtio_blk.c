/*
 * virtio-blk end to end on a real temporary image: the test is the driver,
 * talking to the device through its MMIO registers and rings in fake guest
 * memory, while the device's worker thread does the I/O.
 */
/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backend/disk.h"
#include "dev/virtio_blk.h"
#include "machine/gmem.h"
#include "machine/vm.h"
#include "snapshot/format.h"
#include "virtio/mmio.h"
#include "virtio/virtq.h"

#define RAM 0x80000000ull
#define RAM_SIZE (4ull << 20)
#define QN 16
#define DESC (RAM + 0x1000)
#define AVAIL (RAM + 0x2000)
#define USED (RAM + 0x3000)
#define HDR (RAM + 0x10000)
#define STATUS (RAM + 0x10100)
#define DATA (RAM + 0x100000)
#define IMG_SECTORS 4096 /* 2 MiB image */

struct seg {
    uint64_t gpa;
    uint32_t len;
    bool write;
};

struct fx {
    struct vm vm;
    char path[64];
    struct disk *disk;
    struct virtio_blk *blk;
    struct virtio_mmio *t;
    uint16_t avail_idx;
};

static uint32_t reg(struct fx *f, uint64_t off)
{
    return (uint32_t)virtio_mmio_read(f->t, off, 4);
}

static void wreg(struct fx *f, uint64_t off, uint32_t v)
{
    virtio_mmio_write(f->t, off, v, 4);
}

static uint64_t features(struct fx *f)
{
    wreg(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    uint64_t lo = reg(f, VIRTIO_MMIO_DEVICE_FEATURES);
    wreg(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    return (uint64_t)reg(f, VIRTIO_MMIO_DEVICE_FEATURES) << 32 | lo;
}

/* The driver side of virtio 1.2 §3.1.1 device initialisation, accepting everything offered. */
static void driver_init(struct fx *f)
{
    wreg(f, VIRTIO_MMIO_STATUS, 0);
    memset(f->vm.ram, 0, 0x4000);
    f->avail_idx = 0;
    wreg(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    uint64_t feat = features(f) & ~(1ull << VIRTIO_F_EVENT_IDX);
    wreg(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    wreg(f, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)feat);
    wreg(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    wreg(f, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(feat >> 32));
    wreg(f, VIRTIO_MMIO_STATUS,
         VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    assert_true(reg(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
    wreg(f, VIRTIO_MMIO_QUEUE_SEL, 0);
    assert_true(reg(f, VIRTIO_MMIO_QUEUE_NUM_MAX) >= QN);
    wreg(f, VIRTIO_MMIO_QUEUE_NUM, QN);
    wreg(f, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)DESC);
    wreg(f, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)AVAIL);
    wreg(f, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)USED);
    wreg(f, VIRTIO_MMIO_QUEUE_READY, 1);
    assert_int_equal(reg(f, VIRTIO_MMIO_QUEUE_READY), 1);
    wreg(f, VIRTIO_MMIO_STATUS,
         VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
             VIRTIO_STATUS_DRIVER_OK);
}

static void make_image(struct fx *f, const char *tag)
{
    snprintf(f->path, sizeof(f->path), "/tmp/kiln-blk-%s-XXXXXX", tag);
    int fd = mkstemp(f->path);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, IMG_SECTORS * 512), 0);
    close(fd);
}

static void attach(struct fx *f, bool readonly)
{
    char *err = NULL;
    f->disk = disk_open(f->path, readonly, DISK_CACHE_WRITEBACK, &err);
    assert_null(err);
    assert_non_null(f->disk);
    f->blk = virtio_blk_create(&f->vm, VIRT_VIRTIO_BASE, VIRT_VIRTIO_IRQ, f->disk);
    assert_non_null(f->blk);
    f->t = virtio_blk_transport(f->blk);
    driver_init(f);
}

static void detach(struct fx *f)
{
    virtio_blk_destroy(f->blk);
    disk_close(f->disk);
    f->blk = NULL;
    f->disk = NULL;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(vm_init(&f->vm, RAM_SIZE), 0);
    make_image(f, "rw");
    attach(f, false);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    detach(f);
    unlink(f->path);
    vm_destroy(&f->vm);
    free(f);
    return 0;
}

static uint16_t used_idx(struct fx *f)
{
    return __atomic_load_n((uint16_t *)gmem_ptr(&f->vm, USED + 2, 2), __ATOMIC_ACQUIRE);
}

/* Post one chain (descriptors 0..n-1) in the avail ring and kick; returns the used idx before. */
static uint16_t post(struct fx *f, const struct seg *s, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        uint8_t d[16];
        uint16_t flags =
            (s[i].write ? VIRTQ_DESC_F_WRITE : 0) | (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0);
        uint16_t next = (uint16_t)(i + 1);
        memcpy(d, &s[i].gpa, 8);
        memcpy(d + 8, &s[i].len, 4);
        memcpy(d + 12, &flags, 2);
        memcpy(d + 14, &next, 2);
        gmem_write(&f->vm, DESC + 16 * i, d, 16);
    }
    uint16_t head = 0;
    gmem_write(&f->vm, AVAIL + 4 + 2 * (f->avail_idx % QN), &head, 2);
    uint16_t before = used_idx(f);
    f->avail_idx++;
    __atomic_store_n((uint16_t *)gmem_ptr(&f->vm, AVAIL + 2, 2), f->avail_idx, __ATOMIC_RELEASE);
    wreg(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    return before;
}

/* Waits until the used idx moves past before, or the device asks for a reset. */
static bool wait_used(struct fx *f, uint16_t before)
{
    for (int i = 0; i < 5000; i++) {
        if (used_idx(f) != before) return true;
        if (reg(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET) return false;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    fail_msg("device neither completed the request nor asked for a reset");
    return false;
}

/* Post one chain, kick, wait until it is used or the device gives up. */
static bool submit(struct fx *f, const struct seg *s, unsigned n)
{
    return wait_used(f, post(f, s, n));
}

static void put_hdr(struct fx *f, uint32_t type, uint64_t sector)
{
    uint8_t h[16] = {0};
    memcpy(h, &type, 4);
    memcpy(h + 8, &sector, 8);
    gmem_write(&f->vm, HDR, h, 16);
    uint8_t junk = 0xee;
    gmem_write(&f->vm, STATUS, &junk, 1);
}

static uint8_t status_byte(struct fx *f)
{
    uint8_t s = 0xff;
    gmem_read(&f->vm, STATUS, &s, 1);
    return s;
}

/* Simple request: header, data buffer (gpa, len, device-writable for reads), status. */
static uint8_t rq(struct fx *f, uint32_t type, uint64_t sector, uint64_t data, uint32_t len)
{
    put_hdr(f, type, sector);
    struct seg s[3] = {
        {HDR, 16, false},
        {data, len, type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID || type > 0xff},
        {STATUS, 1, true}};
    if (len) {
        assert_true(submit(f, s, 3));
    } else {
        s[1] = s[2];
        assert_true(submit(f, s, 2));
    }
    return status_byte(f);
}

static void fill(struct fx *f, uint64_t gpa, size_t len, uint8_t seed)
{
    uint8_t *p = gmem_ptr(&f->vm, gpa, len);
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(seed + i * 13 + (i >> 9));
}

static void test_config(void **state)
{
    struct fx *f = *state;
    uint64_t feat = features(f);
    assert_true(feat & (1ull << VIRTIO_BLK_F_FLUSH));
    assert_true(feat & (1ull << VIRTIO_BLK_F_SEG_MAX));
    assert_true(feat & (1ull << VIRTIO_BLK_F_BLK_SIZE));
    assert_true(feat & (1ull << VIRTIO_BLK_F_DISCARD));
    assert_true(feat & (1ull << VIRTIO_BLK_F_WRITE_ZEROES));
    assert_false(feat & (1ull << VIRTIO_BLK_F_RO));
    assert_int_equal(reg(f, VIRTIO_MMIO_DEVICE_ID), 2);
    assert_int_equal(virtio_mmio_read(f->t, VIRTIO_MMIO_CONFIG + VIRTIO_BLK_CFG_CAPACITY, 8),
                     IMG_SECTORS);
    assert_int_equal(virtio_mmio_read(f->t, VIRTIO_MMIO_CONFIG + VIRTIO_BLK_CFG_SEG_MAX, 4),
                     VIRTIO_BLK_SEG_MAX);
    assert_int_equal(virtio_mmio_read(f->t, VIRTIO_MMIO_CONFIG + VIRTIO_BLK_CFG_BLK_SIZE, 4), 512);
    assert_int_equal(virtio_mmio_read(f->t, VIRTIO_MMIO_CONFIG + VIRTIO_BLK_CFG_MAX_DISCARD_SEG, 4),
                     VIRTIO_BLK_MAX_DISCARD_SEG);
    assert_int_equal(virtio_mmio_read(f->t, VIRTIO_MMIO_CONFIG + VIRTIO_BLK_CFG_SIZE, 4), 0);
}

static void test_write_read_back(void **state)
{
    struct fx *f = *state;
    /* Write 3 sectors from two guest buffers with a gap, splitting a sector across them. */
    fill(f, DATA, 700, 1);
    fill(f, DATA + 0x5000, 836, 2);
    put_hdr(f, VIRTIO_BLK_T_OUT, 100);
    struct seg w[] = {
        {HDR, 16, false}, {DATA, 700, false}, {DATA + 0x5000, 836, false}, {STATUS, 1, true}};
    assert_true(submit(f, w, 4));
    assert_int_equal(status_byte(f), VIRTIO_BLK_S_OK);
    assert_true(reg(f, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_ISR_VRING);
    wreg(f, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_ISR_VRING);

    /* The image holds exactly that at sector 100. */
    uint8_t want[1536], got[1536];
    memcpy(want, gmem_ptr(&f->vm, DATA, 700), 700);
    memcpy(want + 700, gmem_ptr(&f->vm, DATA + 0x5000, 836), 836);
    int fd = open(f->path, O_RDONLY);
    assert_int_equal(pread(fd, got, sizeof(got), 100 * 512), sizeof(got));
    close(fd);
    assert_memory_equal(got, want, sizeof(got));

    /* Read it back into other buffers, with a different split. */
    memset(gmem_ptr(&f->vm, DATA + 0x20000, 0x10000), 0, 0x10000);
    put_hdr(f, VIRTIO_BLK_T_IN, 100);
    struct seg r[] = {{HDR, 16, false},
                      {DATA + 0x20000, 1000, true},
                      {DATA + 0x28000, 536, true},
                      {STATUS, 1, true}};
    assert_true(submit(f, r, 4));
    assert_int_equal(status_byte(f), VIRTIO_BLK_S_OK);
    assert_memory_equal(gmem_ptr(&f->vm, DATA + 0x20000, 1000), want, 1000);
    assert_memory_equal(gmem_ptr(&f->vm, DATA + 0x28000, 536), want + 1000, 536);
    /* Used length covers data + status. */
    uint32_t used_len;
    gmem_read(&f->vm, USED + 4 + 8 * 1 + 4, &used_len, 4);
    assert_int_equal(used_len, 1537);

    /* Status byte in its own writable descriptor after data that shares... a big one-buffer I/O. */
    fill(f, DATA, 1 << 20, 9);
    assert_int_equal(rq(f, VIRTIO_BLK_T_OUT, 2048, DATA, 1 << 20), VIRTIO_BLK_S_OK);
    memset(gmem_ptr(&f->vm, DATA + (1 << 20), 1 << 20), 0, 1 << 20);
    assert_int_equal(rq(f, VIRTIO_BLK_T_IN, 2048, DATA + (1 << 20), 1 << 20), VIRTIO_BLK_S_OK);
    assert_memory_equal(gmem_ptr(&f->vm, DATA, 1 << 20),
                        gmem_ptr(&f->vm, DATA + (1 << 20), 1 << 20), 1 << 20);
}

static void test_status_in_data_buffer(void **state)
{
    struct fx *f = *state;
    /* Data and status in one writable descriptor: the status is its last byte. */
    put_hdr(f, VIRTIO_BLK_T_IN, 0);
    struct seg s[] = {{HDR, 16, false}, {DATA, 513, true}};
    assert_true(submit(f, s, 2));
    uint8_t st;
    gmem_read(&f->vm, DATA + 512, &st, 1);
    assert_int_equal(st, VIRTIO_BLK_S_OK);
}

static void test_out_of_range(void **state)
{
    struct fx *f = *state;
    assert_int_equal(rq(f, VIRTIO_BLK_T_IN, IMG_SECTORS - 1, DATA, 512), VIRTIO_BLK_S_OK);
    assert_int_equal(rq(f, VIRTIO_BLK_T_IN, IMG_SECTORS, DATA, 512), VIRTIO_BLK_S_IOERR);
    assert_int_equal(rq(f, VIRTIO_BLK_T_IN, IMG_SECTORS - 1, DATA, 1024), VIRTIO_BLK_S_IOERR);
    assert_int_equal(rq(f, VIRTIO_BLK_T_OUT, IMG_SECTORS - 1, DATA, 1024), VIRTIO_BLK_S_IOERR);
    assert_int_equal(rq(f, VIRTIO_BLK_T_IN, ~0ull, DATA, 512), VIRTIO_BLK_S_IOERR);
    assert_int_equal(rq(f, VIRTIO_BLK_T_OUT, ~0ull >> 9, DATA, 512), VIRTIO_BLK_S_IOERR);
    /* Not a whole number of sectors. */
    assert_int_equal(rq(f, VIRTIO_BLK_T_IN, 0, DATA, 100), VIRTIO_BLK_S_IOERR);
    /* The image did not grow. */
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_size, IMG_SECTORS * 512);
}

static void test_flush_get_id_unsupp(void **state)
{
    struct fx *f = *state;
    assert_int_equal(rq(f, VIRTIO_BLK_T_FLUSH, 0, 0, 0), VIRTIO_BLK_S_OK);

    memset(gmem_ptr(&f->vm, DATA, 32), 0x55, 32);
    assert_int_equal(rq(f, VIRTIO_BLK_T_GET_ID, 0, DATA, 20), VIRTIO_BLK_S_OK);
    char id[21] = {0};
    gmem_read(&f->vm, DATA, id, 20);
    const char *base = strrchr(f->path, '/') + 1;
    assert_string_equal(id, base);
    assert_int_equal(id[strlen(base)], 0); /* NUL padded */

    virtio_blk_set_serial(f->blk, "0123456789abcdefghijKLMN");
    assert_int_equal(rq(f, VIRTIO_BLK_T_GET_ID, 0, DATA, 20), VIRTIO_BLK_S_OK);
    assert_memory_equal(gmem_ptr(&f->vm, DATA, 20), "0123456789abcdefghij", 20);
    assert_int_equal(*(uint8_t *)gmem_ptr(&f->vm, DATA + 20, 1), 0x55); /* nothing past 20 */

    assert_int_equal(rq(f, 0x1234, 0, DATA, 512), VIRTIO_BLK_S_UNSUPP);
    assert_int_equal(rq(f, 10 /* GET_LIFETIME, not offered */, 0, DATA, 8), VIRTIO_BLK_S_UNSUPP);
}

static uint8_t dwz(struct fx *f, uint32_t type, uint64_t sector, uint32_t num, uint32_t flags)
{
    uint8_t seg[16];
    memcpy(seg, &sector, 8);
    memcpy(seg + 8, &num, 4);
    memcpy(seg + 12, &flags, 4);
    gmem_write(&f->vm, DATA + 0x2f0000, seg, 16);
    return rq(f, type, 0, DATA + 0x2f0000, 16);
}

static void test_discard_write_zeroes(void **state)
{
    struct fx *f = *state;
    /* 1 MiB of data at sector 1024, on disk. */
    fill(f, DATA, 1 << 20, 3);
    assert_int_equal(rq(f, VIRTIO_BLK_T_OUT, 1024, DATA, 1 << 20), VIRTIO_BLK_S_OK);
    assert_int_equal(rq(f, VIRTIO_BLK_T_FLUSH, 0, 0, 0), VIRTIO_BLK_S_OK);
    struct stat before, after;
    assert_int_equal(stat(f->path, &before), 0);

    assert_int_equal(dwz(f, VIRTIO_BLK_T_DISCARD, 1024, 2048, 0), VIRTIO_BLK_S_OK);
    assert_int_equal(stat(f->path, &after), 0);
    assert_true(after.st_blocks < before.st_blocks);
    assert_int_equal(after.st_size, IMG_SECTORS * 512);

    /* Write zeroes: reads back zero. */
    assert_int_equal(rq(f, VIRTIO_BLK_T_OUT, 0, DATA, 4096), VIRTIO_BLK_S_OK);
    assert_int_equal(dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 1), VIRTIO_BLK_S_OK);
    memset(gmem_ptr(&f->vm, DATA, 4096), 0x77, 4096);
    assert_int_equal(rq(f, VIRTIO_BLK_T_IN, 0, DATA, 4096), VIRTIO_BLK_S_OK);
    for (int i = 0; i < 4096; i++)
        assert_int_equal(*(uint8_t *)gmem_ptr(&f->vm, DATA + i, 1), 0);

    /* §5.2.6.2: unmap on discard and unknown flags are UNSUPP; bad ranges IOERR. */
    assert_int_equal(dwz(f, VIRTIO_BLK_T_DISCARD, 0, 8, 1), VIRTIO_BLK_S_UNSUPP);
    assert_int_equal(dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 2), VIRTIO_BLK_S_UNSUPP);
    assert_int_equal(dwz(f, VIRTIO_BLK_T_DISCARD, IMG_SECTORS - 4, 8, 0), VIRTIO_BLK_S_IOERR);
    assert_int_equal(dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, ~0ull, 8, 0), VIRTIO_BLK_S_IOERR);
    /* Segment array not a multiple of 16 bytes. */
    assert_int_equal(rq(f, VIRTIO_BLK_T_DISCARD, 0, DATA + 0x2f0000, 20), VIRTIO_BLK_S_IOERR);
}

static void test_read_only(void **state)
{
    struct fx *f = *state;
    /* Put a pattern in the image, then reopen it read-only. */
    fill(f, DATA, 512, 5);
    assert_int_equal(rq(f, VIRTIO_BLK_T_OUT, 7, DATA, 512), VIRTIO_BLK_S_OK);
    detach(f);
    attach(f, true);
    assert_true(features(f) & (1ull << VIRTIO_BLK_F_RO));
    assert_false(features(f) & (1ull << VIRTIO_BLK_F_DISCARD));

    fill(f, DATA + 0x1000, 512, 99);
    assert_int_equal(rq(f, VIRTIO_BLK_T_OUT, 7, DATA + 0x1000, 512), VIRTIO_BLK_S_IOERR);
    assert_int_equal(rq(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, DATA, 16), VIRTIO_BLK_S_UNSUPP);
    memset(gmem_ptr(&f->vm, DATA + 0x2000, 512), 0, 512);
    assert_int_equal(rq(f, VIRTIO_BLK_T_IN, 7, DATA + 0x2000, 512), VIRTIO_BLK_S_OK);
    assert_memory_equal(gmem_ptr(&f->vm, DATA + 0x2000, 512), gmem_ptr(&f->vm, DATA, 512), 512);
    assert_int_equal(rq(f, VIRTIO_BLK_T_FLUSH, 0, 0, 0), VIRTIO_BLK_S_OK);
}

static void expect_needs_reset(struct fx *f, const struct seg *s, unsigned n)
{
    uint16_t before = used_idx(f);
    assert_false(submit(f, s, n));
    assert_int_equal(used_idx(f), before);
    /* The worker publishes NEEDS_RESET first and raises the config interrupt just after
     * (virtio 1.2 §2.1.2): give it the moment in between. */
    for (int i = 0; i < 5000 && !(reg(f, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_ISR_CONFIG); i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    assert_true(reg(f, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_ISR_CONFIG);
    /* The driver resets the device and carries on. */
    driver_init(f);
    assert_false(reg(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
    assert_int_equal(rq(f, VIRTIO_BLK_T_IN, 0, DATA, 512), VIRTIO_BLK_S_OK);
}

static void test_malformed(void **state)
{
    struct fx *f = *state;
    put_hdr(f, VIRTIO_BLK_T_IN, 0);
    /* Header too short. */
    struct seg a[] = {{HDR, 8, false}, {STATUS, 1, true}};
    expect_needs_reset(f, a, 2);
    /* No status byte (nothing writable). */
    struct seg b[] = {{HDR, 16, false}, {DATA, 512, false}};
    expect_needs_reset(f, b, 2);
    /* Header in a device-writable buffer. */
    struct seg c[] = {{HDR, 16, true}, {STATUS, 1, true}};
    expect_needs_reset(f, c, 2);
    /* A chain the queue helper rejects: buffer outside RAM. */
    struct seg d[] = {{HDR, 16, false}, {RAM + RAM_SIZE - 256, 512, true}, {STATUS, 1, true}};
    expect_needs_reset(f, d, 3);
}

static void test_lock_conflict(void **state)
{
    struct fx *f = *state;
    char *err = NULL;
    /* f->disk holds the write lock. */
    assert_null(disk_open(f->path, false, DISK_CACHE_WRITEBACK, &err));
    assert_non_null(err);
    assert_non_null(strstr(err, "is in use by another process"));
    free(err);
    err = NULL;
    assert_null(disk_open(f->path, true, DISK_CACHE_WRITEBACK, &err));
    assert_non_null(strstr(err, "is in use by another process"));
    free(err);

    /* Readers share. */
    detach(f);
    struct disk *r1 = disk_open(f->path, true, DISK_CACHE_WRITEBACK, NULL);
    struct disk *r2 = disk_open(f->path, true, DISK_CACHE_NONE, NULL);
    assert_non_null(r1);
    assert_non_null(r2);
    err = NULL;
    assert_null(disk_open(f->path, false, DISK_CACHE_WRITEBACK, &err));
    assert_non_null(strstr(err, "is in use by another process"));
    free(err);
    disk_close(r1);
    disk_close(r2);
    /* Released on close. */
    attach(f, false);

    err = NULL;
    assert_null(disk_open("/nonexistent/kiln.img", false, DISK_CACHE_WRITEBACK, &err));
    assert_non_null(strstr(err, "/nonexistent/kiln.img"));
    free(err);
    err = NULL;
    assert_null(disk_open("/tmp", true, DISK_CACHE_WRITEBACK, &err));
    assert_non_null(strstr(err, "not a regular file"));
    free(err);
}

static void test_cache_modes(void **state)
{
    struct fx *f = *state;
    enum disk_cache c;
    assert_int_equal(disk_cache_parse("none", &c), 0);
    assert_int_equal(c, DISK_CACHE_NONE);
    assert_int_equal(disk_cache_parse("unsafe", &c), 0);
    assert_int_equal(disk_cache_parse("writeback", &c), 0);
    assert_int_equal(disk_cache_parse("directsync", &c), -EINVAL);

    /* cache=none: aligned requests take O_DIRECT, unaligned ones the buffered path; same data. */
    detach(f);
    f->disk = disk_open(f->path, false, DISK_CACHE_NONE, NULL);
    assert_non_null(f->disk);
    f->blk = virtio_blk_create(&f->vm, VIRT_VIRTIO_BASE, VIRT_VIRTIO_IRQ, f->disk);
    f->t = virtio_blk_transport(f->blk);
    driver_init(f);
    fill(f, DATA, 8192, 11);
    assert_int_equal(rq(f, VIRTIO_BLK_T_OUT, 16, DATA, 8192), VIRTIO_BLK_S_OK);
    fill(f, DATA + 0x10000 + 3, 1024, 12);
    assert_int_equal(rq(f, VIRTIO_BLK_T_OUT, 40, DATA + 0x10000 + 3, 1024), VIRTIO_BLK_S_OK);
    assert_int_equal(rq(f, VIRTIO_BLK_T_FLUSH, 0, 0, 0), VIRTIO_BLK_S_OK);
    assert_int_equal(rq(f, VIRTIO_BLK_T_IN, 16, DATA + 0x20000, 8192), VIRTIO_BLK_S_OK);
    assert_memory_equal(gmem_ptr(&f->vm, DATA + 0x20000, 8192), gmem_ptr(&f->vm, DATA, 8192), 8192);
    assert_int_equal(rq(f, VIRTIO_BLK_T_IN, 40, DATA + 0x30001, 1024), VIRTIO_BLK_S_OK);
    assert_memory_equal(gmem_ptr(&f->vm, DATA + 0x30001, 1024),
                        gmem_ptr(&f->vm, DATA + 0x10003, 1024), 1024);
}

#define NREQ 5
static void test_many_in_flight(void **state)
{
    struct fx *f = *state;
    /* NREQ write requests (3 descriptors each, queue of 16) posted at once, one kick; then NREQ
     * reads, checked one by one. */
    for (int pass = 0; pass < 2; pass++) {
        bool rd = pass == 1;
        uint16_t before = used_idx(f);
        for (unsigned r = 0; r < NREQ; r++) {
            uint64_t hdr = HDR + 0x20 * r, st = STATUS + r, buf = DATA + 0x2000ull * r;
            uint32_t type = rd ? VIRTIO_BLK_T_IN : VIRTIO_BLK_T_OUT;
            uint64_t sector = 300 + 4 * r;
            uint8_t h[16] = {0};
            memcpy(h, &type, 4);
            memcpy(h + 8, &sector, 8);
            gmem_write(&f->vm, hdr, h, 16);
            if (rd)
                memset(gmem_ptr(&f->vm, buf + 0x10000, 2048), 0, 2048);
            else
                fill(f, buf, 2048, (uint8_t)(r * 31));
            const struct seg s[3] = {
                {hdr, 16, false}, {rd ? buf + 0x10000 : buf, 2048, rd}, {st, 1, true}};
            for (unsigned i = 0; i < 3; i++) {
                unsigned di = 3 * r + i;
                uint8_t d[16];
                uint16_t flags =
                    (s[i].write ? VIRTQ_DESC_F_WRITE : 0) | (i < 2 ? VIRTQ_DESC_F_NEXT : 0);
                uint16_t next = (uint16_t)(di + 1);
                memcpy(d, &s[i].gpa, 8);
                memcpy(d + 8, &s[i].len, 4);
                memcpy(d + 12, &flags, 2);
                memcpy(d + 14, &next, 2);
                gmem_write(&f->vm, DESC + 16 * di, d, 16);
            }
            uint16_t head = (uint16_t)(3 * r);
            gmem_write(&f->vm, AVAIL + 4 + 2 * (f->avail_idx % QN), &head, 2);
            f->avail_idx++;
        }
        __atomic_store_n((uint16_t *)gmem_ptr(&f->vm, AVAIL + 2, 2), f->avail_idx,
                         __ATOMIC_RELEASE);
        wreg(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
        virtio_blk_wait_idle(f->blk);
        assert_int_equal((uint16_t)(used_idx(f) - before), NREQ);
        for (unsigned r = 0; r < NREQ; r++) {
            assert_int_equal(*(uint8_t *)gmem_ptr(&f->vm, STATUS + r, 1), VIRTIO_BLK_S_OK);
            if (rd)
                assert_memory_equal(gmem_ptr(&f->vm, DATA + 0x2000ull * r + 0x10000, 2048),
                                    gmem_ptr(&f->vm, DATA + 0x2000ull * r, 2048), 2048);
        }
    }
}

static double secs_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Post one read of len bytes at DATA (descriptors 0..2) and kick, without waiting. */
static void post_read(struct fx *f, uint32_t len)
{
    put_hdr(f, VIRTIO_BLK_T_IN, 0);
    struct seg s[3] = {{HDR, 16, false}, {DATA, len, true}, {STATUS, 1, true}};
    for (unsigned i = 0; i < 3; i++) {
        uint8_t d[16];
        uint16_t flags = (s[i].write ? VIRTQ_DESC_F_WRITE : 0) | (i < 2 ? VIRTQ_DESC_F_NEXT : 0);
        uint16_t next = (uint16_t)(i + 1);
        memcpy(d, &s[i].gpa, 8);
        memcpy(d + 8, &s[i].len, 4);
        memcpy(d + 12, &flags, 2);
        memcpy(d + 14, &next, 2);
        gmem_write(&f->vm, DESC + 16 * i, d, 16);
    }
    uint16_t head = 0;
    gmem_write(&f->vm, AVAIL + 4 + 2 * (f->avail_idx % QN), &head, 2);
    f->avail_idx++;
    __atomic_store_n((uint16_t *)gmem_ptr(&f->vm, AVAIL + 2, 2), f->avail_idx, __ATOMIC_RELEASE);
    wreg(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
}

static void test_bps_limit(void **state)
{
    struct fx *f = *state;
    struct virtio_blk_stats st;
    virtio_blk_set_limits(f->blk, 1 << 20, 0); /* 1 MiB/s, 1 MiB burst */
    virtio_blk_get_stats(f->blk, &st);
    assert_int_equal(st.bps_limit, 1 << 20);
    assert_int_equal(st.iops_limit, 0);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* The burst covers the first MiB; the next 1.5 MiB need 1.5 s of refill. */
    assert_int_equal(rq(f, VIRTIO_BLK_T_IN, 0, DATA, 1 << 20), VIRTIO_BLK_S_OK);
    assert_true(secs_since(&t0) < 0.75);
    assert_int_equal(rq(f, VIRTIO_BLK_T_IN, 0, DATA, 1 << 20), VIRTIO_BLK_S_OK);
    assert_true(secs_since(&t0) >= 0.8 * 1.0);
    assert_int_equal(rq(f, VIRTIO_BLK_T_IN, 0, DATA, 1 << 19), VIRTIO_BLK_S_OK);
    double took = secs_since(&t0);
    assert_true(took >= 0.8 * 1.5);
    assert_true(took < 4.0);
    virtio_blk_get_stats(f->blk, &st);
    assert_int_equal(st.reads, 3);
    assert_int_equal(st.read_bytes, (2 << 20) + (1 << 19));
    assert_int_equal(st.throttled, 2);
}

static void test_iops_limit(void **state)
{
    struct fx *f = *state;
    virtio_blk_set_limits(f->blk, 0, 20); /* 20 requests/s, burst 20 */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 30; i++)
        assert_int_equal(rq(f, VIRTIO_BLK_T_IN, 0, DATA, 512), VIRTIO_BLK_S_OK);
    double took = secs_since(&t0);
    assert_true(took >= 0.8 * 0.5); /* 10 beyond the burst at 20/s */
    assert_true(took < 3.0);
    /* Lifting the limit: back to full speed. */
    virtio_blk_set_limits(f->blk, 0, 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 100; i++)
        assert_int_equal(rq(f, VIRTIO_BLK_T_IN, 0, DATA, 512), VIRTIO_BLK_S_OK);
    assert_true(secs_since(&t0) < 5.0);
}

/* A worker waiting on a limit wakes at once for a limit change, a reset and destroy. */
static void test_throttled_wakeups(void **state)
{
    struct fx *f = *state;
    virtio_blk_set_limits(f->blk, 512, 0); /* 512 B/s: the second MiB would take ~34 minutes */
    assert_int_equal(rq(f, VIRTIO_BLK_T_IN, 0, DATA, 1 << 20), VIRTIO_BLK_S_OK);
    uint16_t before = used_idx(f);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    post_read(f, 4096);
    struct timespec ts = {0, 100 * 1000000};
    nanosleep(&ts, NULL);
    assert_int_equal(used_idx(f), before);
    virtio_blk_set_limits(f->blk, 0, 0);
    virtio_blk_wait_idle(f->blk);
    assert_int_equal((uint16_t)(used_idx(f) - before), 1);
    assert_true(secs_since(&t0) < 10.0);

    /* Reset while throttled: returns promptly, the request is dropped with the queue. */
    virtio_blk_set_limits(f->blk, 512, 0);
    assert_int_equal(rq(f, VIRTIO_BLK_T_IN, 0, DATA, 1 << 20), VIRTIO_BLK_S_OK);
    post_read(f, 4096);
    nanosleep(&ts, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    wreg(f, VIRTIO_MMIO_STATUS, 0);
    assert_true(secs_since(&t0) < 10.0);
    /* The device still works after re-initialisation (the limit stays). */
    virtio_blk_set_limits(f->blk, 0, 0);
    driver_init(f);
    assert_int_equal(rq(f, VIRTIO_BLK_T_IN, 0, DATA, 4096), VIRTIO_BLK_S_OK);

    /* Destroy while throttled (teardown) must not hang either. */
    virtio_blk_set_limits(f->blk, 512, 0);
    assert_int_equal(rq(f, VIRTIO_BLK_T_IN, 0, DATA, 1 << 20), VIRTIO_BLK_S_OK);
    post_read(f, 4096);
    nanosleep(&ts, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    detach(f);
    assert_true(secs_since(&t0) < 10.0);
    attach(f, false); /* for teardown */
}

/*
 * A request the driver queued just before a pause (its kick came in, the worker
 * had not taken it yet) is carried by a snapshot or a migration: the restored
 * device completes it as soon as it is loaded, and its interrupt must survive
 * the rest of the load (the ISR saved at the pause used to overwrite it, and a
 * Linux guest then waited for that completion for ever). Repeated: the worker
 * races with the load.
 */
static void test_restore_completes_queued_request(void **state)
{
    struct fx *f = *state;
    for (unsigned round = 0; round < 200; round++) {
        virtio_mmio_quiesce(f->t);
        fill(f, DATA, 512, (uint8_t)round);
        put_hdr(f, VIRTIO_BLK_T_OUT, round);
        struct seg w[] = {{HDR, 16, false}, {DATA, 512, false}, {STATUS, 1, true}};
        uint16_t before = post(f, w, 3);
        assert_int_equal(used_idx(f), before); /* paused: not taken */
        assert_int_equal(reg(f, VIRTIO_MMIO_INTERRUPT_STATUS), 0);

        struct snap_w sw;
        snap_w_init(&sw);
        virtio_blk_save(f->blk, &sw);
        assert_false(sw.oom);
        /* A new device (the restored VM's) on the same RAM and image. */
        virtio_blk_destroy(f->blk);
        f->blk = virtio_blk_create(&f->vm, VIRT_VIRTIO_BASE, VIRT_VIRTIO_IRQ, f->disk);
        assert_non_null(f->blk);
        f->t = virtio_blk_transport(f->blk);
        struct snap_rd r = {.p = sw.buf + SNAP_HEADER_SIZE, .len = sw.len - SNAP_HEADER_SIZE};
        assert_int_equal(virtio_blk_load(f->blk, &r), 0);
        snap_w_free(&sw);

        assert_true(wait_used(f, before));
        assert_int_equal(status_byte(f), VIRTIO_BLK_S_OK);
        virtio_blk_wait_idle(f->blk);
        assert_true(reg(f, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_ISR_VRING);
        wreg(f, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_ISR_VRING);
    }
    /* The last write reached the image. */
    uint8_t got[512];
    int fd = open(f->path, O_RDONLY);
    assert_int_equal(pread(fd, got, sizeof(got), 199 * 512), sizeof(got));
    close(fd);
    assert_memory_equal(got, gmem_ptr(&f->vm, DATA, 512), 512);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_config),       T(test_write_read_back),     T(test_status_in_data_buffer),
        T(test_out_of_range), T(test_flush_get_id_unsupp), T(test_discard_write_zeroes),
        T(test_read_only),    T(test_malformed),           T(test_lock_conflict),
        T(test_cache_modes),  T(test_many_in_flight),
        T(test_bps_limit),    T(test_iops_limit),          T(test_throttled_wakeups),
        T(test_restore_completes_queued_request),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
