/*
 * Writing a snapshot: the state file and the sparse memory file, each under a
 * temporary name, synced, then renamed. The old state file is removed before
 * the new memory file takes its name, so a crash at any point leaves either no
 * state file or a state file with its own memory file (docs/snapshots.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backend/disk.h"
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

static uint64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void save_machine(struct snap_board *b, struct snap_w *w)
{
    const struct vm *vm = b->vm;
    snap_w_begin(w, "machine");
    snap_w_u64(w, vm->ram_base);
    snap_w_u64(w, vm->ram_size);
    snap_w_u32(w, vm->nharts);
    snap_w_u64(w, vm->harts[0]->misa);
    snap_w_u8(w, b->rng == NULL);
    snap_w_u8(w, b->balloon == NULL);
    snap_w_u32(w, b->ndisks);
    for (unsigned i = 0; i < b->ndisks; i++) {
        const struct snap_disk *d = &b->cfg.disks[i];
        snap_w_str(w, d->path);
        snap_w_u8(w, d->readonly);
        snap_w_u32(w, d->cache);
        snap_w_u64(w, d->bps);
        snap_w_u64(w, d->iops);
        snap_w_u64(w, d->size);
        snap_w_u64(w, (uint64_t)d->mtime_ns);
    }
    snap_w_u32(w, b->nnets);
    for (unsigned i = 0; i < b->nnets; i++)
        snap_w_str(w, b->cfg.nets[i]);
    snap_w_u64(w, vm_time_now(vm));
    snap_w_u64(w, realtime_ns());
    snap_w_end(w);
}

static void save_devices(struct snap_board *b, struct snap_w *w)
{
    struct vm *vm = b->vm;
    char tag[SNAP_TAG_MAX];
    for (unsigned i = 0; i < vm->nharts; i++) {
        snprintf(tag, sizeof(tag), "hart%u", i);
        snap_w_begin(w, tag);
        snap_hart_save(vm->harts[i], w);
        snap_w_end(w);
    }
    snap_w_begin(w, "clint");
    clint_save(vm->clint, w);
    snap_w_end(w);
    snap_w_begin(w, "plic");
    plic_save(vm->plic, w);
    snap_w_end(w);
    snap_w_begin(w, "uart");
    uart_save(b->uart, w);
    snap_w_end(w);
    snap_w_begin(w, "rtc");
    rtc_save(b->rtc, w);
    snap_w_end(w);
    for (unsigned i = 0; i < b->ndisks; i++) {
        snprintf(tag, sizeof(tag), "blk%u", i);
        snap_w_begin(w, tag);
        virtio_blk_save(b->blks[i], w);
        snap_w_end(w);
    }
    for (unsigned i = 0; i < b->nnets; i++) {
        snprintf(tag, sizeof(tag), "net%u", i);
        snap_w_begin(w, tag);
        virtio_net_save(b->nets[i], w);
        snap_w_end(w);
    }
    snap_w_begin(w, "hvc");
    virtio_console_save(b->hvc, w);
    snap_w_end(w);
    if (b->rng) {
        snap_w_begin(w, "rng");
        virtio_rng_save(b->rng, w);
        snap_w_end(w);
    }
    if (b->balloon) {
        snap_w_begin(w, "balloon");
        virtio_balloon_save(b->balloon, w);
        snap_w_end(w);
    }
}

static int write_all(int fd, const void *buf, size_t len, off_t off)
{
    const char *p = buf;
    while (len) {
        ssize_t n = pwrite(fd, p, len, off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        off += n;
        len -= (size_t)n;
    }
    return 0;
}

static bool page_is_zero(const uint8_t *p)
{
    const uint64_t *q = (const uint64_t *)p;
    for (unsigned i = 0; i < PAGE / 8; i += 4)
        if (q[i] | q[i + 1] | q[i + 2] | q[i + 3])
            return false;
    return true;
}

/* Guest RAM, with every all-zero page left a hole (never-touched pages read as zero). */
static int write_memory(const struct vm *vm, int fd)
{
    if (ftruncate(fd, (off_t)vm->ram_size) < 0)
        return -errno;
    uint64_t npages = vm->ram_size / PAGE;
    uint64_t run = 0, start = 0;
    for (uint64_t i = 0; i <= npages; i++) {
        bool data = i < npages && !page_is_zero(vm->ram + i * PAGE);
        if (data) {
            if (!run)
                start = i;
            run++;
            continue;
        }
        if (run) {
            int e = write_all(fd, vm->ram + start * PAGE, run * PAGE, (off_t)(start * PAGE));
            if (e)
                return e;
            run = 0;
        }
    }
    return fsync(fd) < 0 ? -errno : 0;
}

static int path_in(char *out, size_t len, const char *dir, const char *name)
{
    return (size_t)snprintf(out, len, "%s/%s", dir, name) >= len ? -ENAMETOOLONG : 0;
}

/* Flushes the disks and records their size and mtime (from the open file: the jail has no paths). */
static int save_disks(struct snap_board *b, char *err, size_t errlen)
{
    for (unsigned i = 0; i < b->ndisks; i++) {
        struct stat st;
        int fe = b->disks[i] ? disk_flush(b->disks[i]) : 0;
        if (fe < 0) {
            snprintf(err, errlen, "flushing disk %s: %s", b->cfg.disks[i].path, strerror(-fe));
            return -1;
        }
        if (b->disks[i] ? !disk_host_stat(b->disks[i], &st) : !stat(b->cfg.disks[i].path, &st)) {
            b->cfg.disks[i].size = (uint64_t)st.st_size;
            b->cfg.disks[i].mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000ll + st.st_mtim.tv_nsec;
        }
    }
    return 0;
}

static int build_state(struct snap_board *b, struct snap_w *w, char *err, size_t errlen)
{
    snap_w_init(w);
    save_machine(b, w);
    save_devices(b, w);
    snap_9p_save(b, w); /* dev_9p.c */
    if (snap_w_finish(w) < 0) {
        snap_w_free(w);
        snprintf(err, errlen, "out of memory building the state file");
        return -1;
    }
    return 0;
}

int snapshot_state(struct snap_board *b, struct snap_w *w, char *err, size_t errlen)
{
    if (save_disks(b, err, errlen))
        return -1;
    return build_state(b, w, err, errlen);
}

/* A descriptor handed in must be a regular file open for writing. */
static int check_out_fd(int fd, const char *what, char *err, size_t errlen)
{
    struct stat st;
    int fl = fcntl(fd, F_GETFL);
    if (fd < 0 || fstat(fd, &st) < 0 || fl < 0) {
        snprintf(err, errlen, "%s file descriptor: %s", what, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode) || (fl & O_ACCMODE) == O_RDONLY || (fl & O_APPEND)) {
        snprintf(err, errlen, "%s file descriptor is not a regular file open for writing", what);
        return -1;
    }
    return 0;
}

int snapshot_write_fds(struct snap_board *b, int mem_fd, int state_fd, char *err, size_t errlen)
{
    if (check_out_fd(mem_fd, "memory", err, errlen) ||
        check_out_fd(state_fd, "state", err, errlen) || save_disks(b, err, errlen))
        return -1;
    struct snap_w w;
    if (build_state(b, &w, err, errlen))
        return -1;
    int ret = -1;
    /* The client may hand in a file with old contents: holes must read as zero. */
    int e = ftruncate(mem_fd, 0) < 0 ? -errno : write_memory(b->vm, mem_fd);
    if (e) {
        snprintf(err, errlen, "writing the memory file: %s", strerror(-e));
        goto out;
    }
    e = ftruncate(state_fd, 0) < 0 ? -errno : write_all(state_fd, w.buf, w.len, 0);
    if (!e && fsync(state_fd) < 0)
        e = -errno;
    if (e) {
        snprintf(err, errlen, "writing the state file: %s", strerror(-e));
        goto out;
    }
    ret = 0;
out:
    snap_w_free(&w);
    return ret;
}

int snapshot_write(struct snap_board *b, const char *dir, char *err, size_t errlen)
{
    char state[4200], state_tmp[4200], mem[4200], mem_tmp[4200];
    if (path_in(state, sizeof(state), dir, SNAP_STATE_NAME) ||
        path_in(state_tmp, sizeof(state_tmp), dir, SNAP_STATE_NAME ".tmp") ||
        path_in(mem, sizeof(mem), dir, SNAP_MEMORY_NAME) ||
        path_in(mem_tmp, sizeof(mem_tmp), dir, SNAP_MEMORY_NAME ".tmp")) {
        snprintf(err, errlen, "snapshot directory name too long");
        return -1;
    }
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    int ret = -1, mfd = -1, sfd = -1;
    mfd = open(mem_tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (mfd < 0) {
        snprintf(err, errlen, "%s: %s", mem_tmp, strerror(errno));
        return -1;
    }
    sfd = open(state_tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (sfd < 0) {
        snprintf(err, errlen, "%s: %s", state_tmp, strerror(errno));
        goto out;
    }
    if (snapshot_write_fds(b, mfd, sfd, err, errlen))
        goto out;
    if (snapshot_commit(dir, err, errlen) == 0)
        ret = 0;
out:
    close(mfd);
    if (sfd >= 0)
        close(sfd);
    if (ret) {
        unlink(mem_tmp);
        unlink(state_tmp);
    }
    return ret;
}

int snapshot_commit(const char *dir, char *err, size_t errlen)
{
    char state[4200], state_tmp[4200], mem[4200], mem_tmp[4200];
    if (path_in(state, sizeof(state), dir, SNAP_STATE_NAME) ||
        path_in(state_tmp, sizeof(state_tmp), dir, SNAP_STATE_NAME ".tmp") ||
        path_in(mem, sizeof(mem), dir, SNAP_MEMORY_NAME) ||
        path_in(mem_tmp, sizeof(mem_tmp), dir, SNAP_MEMORY_NAME ".tmp")) {
        snprintf(err, errlen, "snapshot directory name too long");
        return -1;
    }
    /* Order matters: no moment where an old state file sits beside the new memory. */
    if ((unlink(state) < 0 && errno != ENOENT) || rename(mem_tmp, mem) < 0 ||
        rename(state_tmp, state) < 0) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}
