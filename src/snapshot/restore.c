/*
 * Reading a snapshot back. The state file is hostile input: snap_parse checks
 * its framing and checksums, snap_machine_parse the configuration, and every
 * *_load its own values before applying them. The new machine is built from
 * the checked configuration and nothing runs until all of it loaded, so a bad
 * snapshot is refused with one message and never half-loaded.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cpu/hart.h"
#include "dev/clint.h"
#include "dev/plic.h"
#include "dev/rtc.h"
#include "dev/uart.h"
#include "dev/virtio_balloon.h"
#include "dev/virtio_blk.h"
#include "dev/virtio_console.h"
#include "dev/virtio_net.h"
#include "dev/virtio_rng.h"
#include "machine/vm.h"
#include "snapshot/snapshot.h"

#define PAGE 4096u
/* The limits `kiln run` accepts (src/cli/run.c). */
#define MIN_RAM (2ull << 20)
#define MAX_RAM (64ull << 30)

static uint64_t clock_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int snap_machine_parse(const struct snap_file *f, struct snap_machine *m, char *err, size_t errlen)
{
    struct snap_rd r;
    memset(m, 0, sizeof(*m));
    if (snap_find(f, "machine", &r)) {
        snprintf(err, errlen, "the state file has no machine record");
        return -EINVAL;
    }
    m->ram_base = snap_r_u64(&r);
    m->ram_size = snap_r_u64(&r);
    m->nharts = snap_r_u32(&r);
    m->misa = snap_r_u64(&r);
    m->no_rng = snap_r_bool(&r);
    m->no_balloon = snap_r_bool(&r);
    m->ndisks = snap_r_u32(&r);
    if (m->ndisks > SNAP_MAX_DISKS)
        r.bad = true;
    for (unsigned i = 0; i < m->ndisks && !r.bad; i++) {
        struct snap_disk *d = &m->disks[i];
        snap_r_str(&r, d->path, sizeof(d->path));
        d->readonly = snap_r_bool(&r);
        d->cache = snap_r_u32(&r);
        d->bps = snap_r_u64(&r);
        d->iops = snap_r_u64(&r);
        d->size = snap_r_u64(&r);
        d->mtime_ns = (int64_t)snap_r_u64(&r);
        if (!d->path[0] || d->cache > 2)
            r.bad = true;
    }
    m->nnets = snap_r_u32(&r);
    if (m->nnets > SNAP_MAX_NETS)
        r.bad = true;
    for (unsigned i = 0; i < m->nnets && !r.bad; i++) {
        snap_r_str(&r, m->nets[i], sizeof(m->nets[i]));
        if (!m->nets[i][0])
            r.bad = true;
    }
    m->mtime = snap_r_u64(&r);
    m->saved_realtime_ns = snap_r_u64(&r);
    if (snap_r_done(&r) || m->ram_base != VIRT_DRAM_BASE || m->ram_size < MIN_RAM ||
        m->ram_size > MAX_RAM || (m->ram_size & (PAGE - 1)) || m->nharts < 1 ||
        m->nharts > VM_MAX_HARTS) {
        snprintf(err, errlen, "the state file's machine record is malformed");
        return -EINVAL;
    }
    return 0;
}

static int read_small_file(const char *path, uint8_t **out, size_t *len, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)SNAP_STATE_MAX) {
        snprintf(err, errlen, "%s: not a regular file of at most %u bytes", path, SNAP_STATE_MAX);
        close(fd);
        return -1;
    }
    size_t n = (size_t)st.st_size, got = 0;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    while (got < n) {
        ssize_t k = read(fd, buf + got, n - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    close(fd);
    *out = buf;
    *len = got;
    return 0;
}

int snapshot_read_machine(const char *state_path, struct snap_machine *m, char *err, size_t errlen)
{
    uint8_t *buf;
    size_t len;
    struct snap_file f;
    char e2[256];
    if (read_small_file(state_path, &buf, &len, err, errlen))
        return -1;
    int r = snap_parse(buf, len, &f, e2, sizeof(e2)) || snap_machine_parse(&f, m, e2, sizeof(e2)) ? -1 : 0;
    if (r)
        snprintf(err, errlen, "%s: %s", state_path, e2);
    free(buf);
    return r;
}

int snapshot_open(const char *dir, struct snap_restore *out, char *err, size_t errlen)
{
    char path[4200], e2[256];
    memset(out, 0, sizeof(*out));
    out->mem_fd = -1;
    for (unsigned i = 0; i < SNAP_MAX_DISKS; i++)
        out->overlay_fd[i] = -1;
    out->t_start_ns = clock_ns(CLOCK_MONOTONIC);
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, SNAP_STATE_NAME) >= sizeof(path)) {
        snprintf(err, errlen, "snapshot directory name too long");
        return -1;
    }
    if (read_small_file(path, &out->state, &out->state_len, err, errlen))
        return -1;
    if (snap_parse(out->state, out->state_len, &out->file, e2, sizeof(e2)) ||
        snap_machine_parse(&out->file, &out->m, e2, sizeof(e2)) ||
        snap_9p_parse(&out->file, &out->m, e2, sizeof(e2))) {
        snprintf(err, errlen, "%s: %s", path, e2);
        goto fail;
    }
    /* Disk identity: the same size (a cheap check; content changes are the user's business).
     * A frozen copy in the snapshot (disks.c) stands in for the disk it was taken of. */
    for (unsigned i = 0; i < out->m.ndisks; i++) {
        struct snap_disk *d = &out->m.disks[i];
        struct stat st;
        char frozen[sizeof(path) + 32];
        snapshot_frozen_disk(dir, i, frozen, sizeof(frozen));
        size_t flen = strlen(frozen);
        if (!d->readonly && flen < sizeof(d->path) && stat(frozen, &st) == 0) {
            memcpy(d->path, frozen, flen + 1);
            out->disk_frozen[i] = true;
        }
        if (stat(d->path, &st) < 0) {
            snprintf(err, errlen, "disk %s of the snapshot: %s", d->path, strerror(errno));
            goto fail;
        }
        if ((uint64_t)st.st_size != d->size) {
            snprintf(err, errlen, "disk %s changed size since the snapshot (%llu bytes, was %llu): refusing to restore",
                     d->path, (unsigned long long)st.st_size, (unsigned long long)d->size);
            goto fail;
        }
        int64_t mt = (int64_t)st.st_mtim.tv_sec * 1000000000ll + st.st_mtim.tv_nsec;
        if (mt != d->mtime_ns && !d->readonly && !out->disk_frozen[i])
            fprintf(stderr, "kiln: note: disk %s was modified after the snapshot was taken\n", d->path);
    }
    snprintf(path, sizeof(path), "%s/%s", dir, SNAP_MEMORY_NAME);
    out->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (out->mem_fd < 0 || fstat(out->mem_fd, &st) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if ((uint64_t)st.st_size != out->m.ram_size) {
        snprintf(err, errlen, "%s: %llu bytes, the snapshot's RAM is %llu bytes (truncated or wrong file)",
                 path, (unsigned long long)st.st_size, (unsigned long long)out->m.ram_size);
        goto fail;
    }
    return 0;
fail:
    snapshot_close(out);
    return -1;
}

int snapshot_open_state(uint8_t *buf, size_t len, struct snap_restore *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->mem_fd = -1;
    for (unsigned i = 0; i < SNAP_MAX_DISKS; i++)
        out->overlay_fd[i] = -1;
    out->t_start_ns = clock_ns(CLOCK_MONOTONIC);
    out->state = buf;
    out->state_len = len;
    if (snap_parse(out->state, out->state_len, &out->file, err, errlen) ||
        snap_machine_parse(&out->file, &out->m, err, errlen)) {
        snapshot_close(out);
        return -1;
    }
    return 0;
}

void snapshot_close(struct snap_restore *r)
{
    free(r->state);
    r->state = NULL;
    if (r->mem_fd >= 0)
        close(r->mem_fd);
    r->mem_fd = -1;
    for (unsigned i = 0; i < SNAP_MAX_DISKS; i++) {
        if (r->overlay_fd[i] >= 0)
            close(r->overlay_fd[i]);
        r->overlay_fd[i] = -1;
    }
}

/* Finds `tag` and runs its loader; records left unread or short are errors. */
#define LOAD(tag, call)                                                                 \
    do {                                                                                \
        struct snap_rd rd;                                                              \
        if (snap_find(&r->file, tag, &rd)) {                                            \
            snprintf(err, errlen, "the state file has no '%s' record", tag);            \
            return -1;                                                                  \
        }                                                                               \
        struct snap_rd *in = &rd;                                                       \
        if ((call) != 0 || snap_r_done(in)) {                                           \
            snprintf(err, errlen, "the state file's '%s' record is malformed or does not fit this machine", tag); \
            return -1;                                                                  \
        }                                                                               \
    } while (0)

int snapshot_apply(struct snap_board *b, struct snap_restore *r, char *err, size_t errlen)
{
    struct vm *vm = b->vm;
    char tag[SNAP_TAG_MAX];
    /* Expected records only: an unknown one means a file this kiln does not understand. */
    unsigned expect = 1 + vm->nharts + 4 + b->ndisks + b->nnets + 1 + (b->rng != NULL) +
                      (b->balloon != NULL) + snap_9p_nrecords(b);
    if (r->file.nrec != expect) {
        snprintf(err, errlen, "the state file has %u records, this machine needs %u", r->file.nrec, expect);
        return -1;
    }
    for (unsigned i = 0; i < vm->nharts; i++) {
        snprintf(tag, sizeof(tag), "hart%u", i);
        LOAD(tag, snap_hart_load(vm->harts[i], in));
    }
    LOAD("plic", plic_load(vm->plic, in));
    LOAD("clint", clint_load(vm->clint, in));
    LOAD("uart", uart_load(b->uart, in));
    LOAD("rtc", rtc_load(b->rtc, in));
    for (unsigned i = 0; i < b->ndisks; i++) {
        snprintf(tag, sizeof(tag), "blk%u", i);
        LOAD(tag, virtio_blk_load(b->blks[i], in));
    }
    for (unsigned i = 0; i < b->nnets; i++) {
        snprintf(tag, sizeof(tag), "net%u", i);
        LOAD(tag, virtio_net_load(b->nets[i], in, r->clone ? r->mac[i] : NULL));
    }
    LOAD("hvc", virtio_console_load(b->hvc, in));
    if (b->rng)
        LOAD("rng", virtio_rng_load(b->rng, in));
    if (b->balloon)
        LOAD("balloon", virtio_balloon_load(b->balloon, in));
    if (snap_9p_load(b, r, err, errlen)) /* dev_9p.c */
        return -1;
    /*
     * Time continues (docs/snapshots.md): mtime resumes at its saved value plus
     * the wall-clock time the snapshot spent on disk, so guest timers that fell
     * due meanwhile fire at once and the guest's clock is not left behind.
     */
    uint64_t now_real = clock_ns(CLOCK_REALTIME);
    uint64_t away_ns = now_real > r->m.saved_realtime_ns ? now_real - r->m.saved_realtime_ns : 0;
    uint64_t tick_ns = 1000000000ull / VM_TIMEBASE_HZ;
    uint64_t mtime_ns = r->m.mtime * tick_ns + away_ns;
    vm->time_origin_ns = clock_ns(CLOCK_MONOTONIC) - mtime_ns;
    vm->bus.time_origin_ns = vm->time_origin_ns; /* the harts' copy (cpu/bus.h), for WFI sleeps */
    return 0;
}
