/*
 * Assembles a system VM on QEMU virt's memory map, loads the boot images the
 * way QEMU does for OpenSBI's fw_dynamic (docs/firmware/fw_dynamic.md), and
 * runs one host thread per hart until the guest powers off or fails.
 */
#include "machine/board.h"
#include "machine/board_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend/console.h"
#include "backend/disk.h"
#include "cpu/hart.h"
#include "cpu/trap.h"
#include "debug/gdbstub.h"
#include "dev/clint.h"
#include "dev/plic.h"
#include "dev/pvpanic.h"
#include "dev/rtc.h"
#include "dev/syscon.h"
#include "dev/uart.h"
#include "dev/virtio_9p.h"
#include "dev/virtio_balloon.h"
#include "dev/virtio_blk.h"
#include "dev/virtio_console.h"
#include "dev/virtio_net.h"
#include "dev/virtio_rng.h"
#include "jail/pidns.h"
#include "machine/control.h"
#include "machine/fdt.h"
#include "machine/gmem.h"
#include "machine/loader.h"
#include "machine/vm.h"
#include "migrate/migrate.h"
#include "snapshot/format.h"
#include "snapshot/snapshot.h"
#include "util/log.h"
#include "virtio/mmio.h"

/* Linux wants its Image 2 MiB aligned on RV64 (boot.rst); OpenSBI occupies the first 2 MiB. */
#define KERNEL_OFFSET 0x200000ull
#define DTB_MAX 0x10000ull

/* OpenSBI fw_dynamic handoff (include/sbi/fw_dynamic.h): passed in a2. */
#define FW_DYNAMIC_MAGIC 0x4942534full /* "OSBI" */
#define FW_DYNAMIC_VERSION 2
#define FW_NEXT_MODE_S 1

/* Graceful powerdown through the console's magic SysRq (docs/balloon.md): sync, remount
 * read-only, power off, with a pause between keys for the guest to act on each. */
#define POWERDOWN_KEYS "suo"
#define POWERDOWN_GAP_MS 500
/* SIGTERM: how long the guest may take to power off before kiln stops it (status 143). */
#define SIGTERM_GRACE_MS 30000

enum snap_op { SNAP_OP_SNAPSHOT, SNAP_OP_PAUSE, SNAP_OP_RESUME, SNAP_OP_MIGRATE, SNAP_OP_INCOMING };

/* A migration's defaults (docs/migration.md): the stop-and-copy target, the dirty rounds cap, and
 * the longest wait for the peer in any read or write. */
#define MIGRATE_DOWNTIME_MS 100
#define MIGRATE_MAX_ROUNDS 30
#define MIGRATE_IO_TIMEOUT_MS 10000

struct snap_request {
    enum snap_op op;
    const char *dir;
    int mem_fd, state_fd; /* files passed in (dir NULL) */
    bool stay_paused;
    int sock;                     /* SNAP_OP_MIGRATE / SNAP_OP_INCOMING: the stream */
    uint64_t downtime_ms, max_rounds;
    struct control_migrate mig;
    bool done;
    int result;
    uint64_t ms;
    char err[MIG_ERR_MAX + 200];
};

static void *hart_thread(void *arg)
{
    struct hart *h = arg;
    /* The board that holds this hart in harts[h->id] (the bus context is the vm, or the GDB
     * stub's bus). */
    const struct board *b =
        (const struct board *)((const char *)(h - h->id) - offsetof(struct board, harts));
    if (b->hart_enter)
        b->hart_enter(b->jail_ctx, h->id);
    if (b->gdb)
        gdbstub_hart_run(b->gdb, h);
    else
        hart_run(h);
    return NULL;
}

static int write_file(const char *path, const void *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    const char *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = -errno;
            close(fd);
            return e;
        }
        p += n;
        len -= (size_t)n;
    }
    return close(fd) ? -errno : 0;
}

/* Loads firmware, kernel, initrd; builds the DTB. Returns 0 or -1 with a message printed. */
static int load_images(struct board *b, const struct board_config *cfg)
{
    struct vm *vm = &b->vm;
    char err[256];
    uint64_t ram_end = vm->ram_base + vm->ram_size;
    uint64_t used_end = vm->ram_base;
    b->entry = vm->ram_base;

    if (cfg->firmware) {
        if (loader_is_elf(cfg->firmware)) {
            struct load_info info;
            if (loader_load_elf(vm, cfg->firmware, &info, err, sizeof(err)) < 0) {
                log_err("boot", "%s", err);
                return -1;
            }
            b->entry = info.entry;
            used_end = info.highest;
            vm->htif_tohost = info.tohost;
            vm->htif_fromhost = info.fromhost;
        } else {
            uint64_t size;
            if (loader_load_raw(vm, cfg->firmware, vm->ram_base, &size, err, sizeof(err)) < 0) {
                log_err("boot", "%s", err);
                return -1;
            }
            used_end = vm->ram_base + size;
        }
    }

    uint64_t kernel_addr = vm->ram_base + (cfg->firmware ? KERNEL_OFFSET : 0);
    if (cfg->kernel) {
        if (used_end > kernel_addr) {
            log_err("boot", "firmware %s overlaps the kernel load address 0x%llx", cfg->firmware,
                    (unsigned long long)kernel_addr);
            return -1;
        }
        uint64_t size;
        int r;
        enum loader_kind kind = loader_probe(cfg->kernel);
        if (kind == LOADER_ELF) {
            struct load_info info;
            r = loader_load_elf(vm, cfg->kernel, &info, err, sizeof(err));
            kernel_addr = info.entry;
            size = info.highest - info.lowest;
        } else if (kind == LOADER_RAW) {
            /* A bootloader's .bin (e.g. S-mode U-Boot): as is at the kernel address, like QEMU. */
            r = loader_load_raw(vm, cfg->kernel, kernel_addr, &size, err, sizeof(err));
        } else {
            r = loader_load_linux_image(vm, cfg->kernel, kernel_addr, &size, err, sizeof(err));
        }
        if (r < 0) {
            log_err("boot", "%s", err);
            return -1;
        }
        used_end = kernel_addr + size;
        if (!cfg->firmware)
            b->entry = kernel_addr;
    }

    /* Device tree at the top of RAM, initrd right below it (as QEMU's loader does). */
    if (ram_end - used_end < DTB_MAX + 0x1000) {
        log_err("boot", "--mem %lluM is too small for the boot images",
                (unsigned long long)(vm->ram_size >> 20));
        return -1;
    }
    uint64_t dtb_addr = (ram_end - DTB_MAX) & ~0xfffull;
    uint64_t info_addr = dtb_addr - 0x1000;
    uint64_t initrd_start = 0, initrd_end = 0;
    if (cfg->initrd) {
        int fd = open(cfg->initrd, O_RDONLY | O_CLOEXEC);
        off_t size = fd < 0 ? -1 : lseek(fd, 0, SEEK_END);
        if (fd >= 0)
            close(fd);
        if (size < 0) {
            log_err("boot", "initrd %s: %s", cfg->initrd, strerror(errno));
            return -1;
        }
        /* The extra archive starts 4-aligned: the kernel looks for a cpio header only there. */
        uint64_t pad = cfg->initrd_extra ? (4 - ((uint64_t)size & 3)) & 3 : 0;
        uint64_t extra = cfg->initrd_extra ? pad + cfg->initrd_extra_len : 0;
        if ((uint64_t)size > info_addr - used_end || extra > info_addr - used_end - (uint64_t)size) {
            log_err("boot", "initrd %s (%lld bytes) does not fit in --mem %lluM", cfg->initrd,
                    (long long)size, (unsigned long long)(vm->ram_size >> 20));
            return -1;
        }
        initrd_start = (info_addr - (uint64_t)size - extra) & ~0xfffull;
        uint64_t got;
        if (loader_load_raw(vm, cfg->initrd, initrd_start, &got, err, sizeof(err)) < 0) {
            log_err("boot", "%s", err);
            return -1;
        }
        initrd_end = initrd_start + got;
        if (cfg->initrd_extra) {
            static const uint8_t zero[4];
            pad = (4 - (got & 3)) & 3;
            if (gmem_write(vm, initrd_end, zero, pad) ||
                gmem_write(vm, initrd_end + pad, cfg->initrd_extra, cfg->initrd_extra_len)) {
                log_err("boot", "the appended initrd archive does not fit in RAM");
                return -1;
            }
            initrd_end += pad + cfg->initrd_extra_len;
        }
    }

    struct fdt_config fc = {
        .nharts = vm->nharts,
        .ram_base = vm->ram_base,
        .ram_size = vm->ram_size,
        .bootargs = cfg->append,
        .initrd_start = initrd_start,
        .initrd_end = initrd_end,
        .nvirtio = b->nvirtio,
        .has_rtc = true,
        .has_pvpanic = true,
    };
    static uint8_t dtb[DTB_MAX];
    int dtb_size = fdt_build(&fc, dtb, sizeof(dtb));
    if (dtb_size < 0) {
        log_err("boot", "cannot build the device tree: %s", strerror(-dtb_size));
        return -1;
    }
    if (cfg->dump_dtb) {
        int r = write_file(cfg->dump_dtb, dtb, (size_t)dtb_size);
        if (r < 0) {
            log_err("boot", "--dump-dtb %s: %s", cfg->dump_dtb, strerror(-r));
            return -1;
        }
    }
    gmem_write(vm, dtb_addr, dtb, (uint64_t)dtb_size);

    uint64_t info[6] = {FW_DYNAMIC_MAGIC, FW_DYNAMIC_VERSION, kernel_addr, FW_NEXT_MODE_S, 0,
                        ~0ull /* boot hart: any (lottery) */};
    gmem_write(vm, info_addr, info, sizeof(info));
    b->a1 = dtb_addr;
    b->a2 = info_addr;
    return 0;
}

static void boot_harts(struct board *b)
{
    for (unsigned i = 0; i < b->vm.nharts; i++) {
        struct hart *h = &b->harts[i];
        hart_reset(h, b->entry);
        /* Boot protocol: a0 = hart id, a1 = device tree, a2 = fw_dynamic info (boot.rst, fw_dynamic.md). */
        h->x[10] = i;
        h->x[11] = b->a1;
        h->x[12] = b->a2;
    }
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void powerdown_start(struct board *b, uint64_t grace_ms)
{
    uint64_t now = now_ms();
    if (!b->pd.active) {
        b->pd.active = true;
        b->pd.next_key = 0;
        b->pd.next_ms = now;
    }
    if (grace_ms && !b->pd.deadline_ms)
        b->pd.deadline_ms = now + grace_ms;
}

/* Sends the keys that are due; returns how long until the next one (ms), or -1. */
static int powerdown_step(struct board *b)
{
    struct powerdown *pd = &b->pd;
    uint64_t now = now_ms();
    if (pd->deadline_ms && now >= pd->deadline_ms) {
        vm_request_exit(&b->vm, 128 + SIGTERM, "the guest did not power off within %d s of SIGTERM",
                        SIGTERM_GRACE_MS / 1000);
        return -1;
    }
    const char *keys = b->cfg->powerdown_keys ? b->cfg->powerdown_keys : POWERDOWN_KEYS;
    if (pd->active && pd->next_key < strlen(keys) && now >= pd->next_ms) {
        uint8_t key = (uint8_t)keys[pd->next_key];
        /* BREAK then the key: Linux's 8250 console takes it as SysRq (uart_handle_break). A full
         * receive FIFO (someone pasting) only delays it. */
        if (uart_send_sysrq(b->uart, key) == 0) {
            pd->next_key++;
            pd->next_ms = now + POWERDOWN_GAP_MS;
        } else {
            pd->next_ms = now + 50;
        }
    }
    uint64_t wake = UINT64_MAX;
    if (pd->active && pd->next_key < strlen(keys))
        wake = pd->next_ms;
    if (pd->deadline_ms && pd->deadline_ms < wake)
        wake = pd->deadline_ms;
    if (wake == UINT64_MAX)
        return -1;
    return wake <= now ? 0 : (int)(wake - now);
}

/* SIGUSR1: a snapshot of every hart on stderr, for debugging a guest that seems stuck. */
static void dump_harts(struct board *b)
{
    for (unsigned i = 0; i < b->vm.nharts; i++) {
        const struct hart *h = &b->harts[i];
        log_err("vm", "hart %u: pc=0x%016llx priv=%d mstatus=0x%llx mip=0x%llx mie=0x%llx mcause=0x%llx "
                "scause=0x%llx stvec=0x%llx satp=0x%llx instret=%llu",
                i, (unsigned long long)h->pc, (int)h->priv, (unsigned long long)h->mstatus,
                (unsigned long long)hart_mip(h), (unsigned long long)h->mie,
                (unsigned long long)h->mcause, (unsigned long long)h->scause,
                (unsigned long long)h->stvec, (unsigned long long)h->satp,
                (unsigned long long)h->instret);
    }
}

/* ---- pause, resume and snapshot (docs/snapshots.md) ---- */

static int harts_start(struct board *b)
{
    struct vm *vm = &b->vm;
    if (b->nrunning == 0)
        gdbstub_run_begin(b->gdb);
    for (; b->nrunning < vm->nharts; b->nrunning++) {
        int e = pthread_create(&b->threads[b->nrunning], NULL, hart_thread, &b->harts[b->nrunning]);
        if (e) {
            vm_request_exit(vm, 1, "cannot start hart thread: %s", strerror(e));
            return -1;
        }
    }
    return 0;
}

static void harts_join(struct board *b)
{
    for (unsigned i = 0; i < b->nrunning; i++)
        pthread_join(b->threads[i], NULL);
    b->nrunning = 0;
}

static struct virtio_mmio *board_transport(struct board *b, unsigned i)
{
    /* Every virtio device in slot order; NULL past the end. */
    if (i < b->ndisks)
        return virtio_blk_transport(b->blks[i]);
    i -= b->ndisks;
    if (i < b->nnets)
        return virtio_net_transport(b->nets[i]);
    i -= b->nnets;
    struct virtio_mmio *rest[3 + BOARD_MAX_SHARES] = {
        b->hvc ? virtio_console_transport(b->hvc) : NULL,
        b->rng ? virtio_rng_transport(b->rng) : NULL,
        b->balloon ? virtio_balloon_transport(b->balloon) : NULL};
    for (unsigned k = 0; k < b->cfg->nshares; k++)
        rest[3 + k] = b->p9[k] ? virtio_9p_transport(b->p9[k]) : NULL;
    for (unsigned k = 0; k < 3 + BOARD_MAX_SHARES; k++) {
        if (!rest[k])
            continue;
        if (i-- == 0)
            return rest[k];
    }
    return NULL;
}

/*
 * Stops every hart at an instruction boundary (hart_run returns when vm->stop
 * is set, WFI included) without ending the run: exit_claimed stays 0, which is
 * how wait_for_exit tells a pause from the end. Then each virtio device's
 * worker finishes the requests it took and stays off its queues.
 */
static void board_pause(struct board *b)
{
    struct vm *vm = &b->vm;
    if (b->paused)
        return;
    atomic_store(&vm->stop, 1);
    for (unsigned i = 0; i < vm->nharts; i++)
        hart_kick(vm->harts[i]);
    gdbstub_run_end(b->gdb); /* harts on the stub's bus watch its flag, not vm->stop */
    harts_join(b);
    for (unsigned i = 0; board_transport(b, i); i++)
        virtio_mmio_quiesce(board_transport(b, i));
    b->paused = true;
}

static int board_resume(struct board *b)
{
    struct vm *vm = &b->vm;
    if (!b->paused)
        return 0;
    if (atomic_load(&vm->exit_claimed))
        return -1; /* the run is ending: nothing to resume */
    for (unsigned i = 0; board_transport(b, i); i++)
        virtio_mmio_unquiesce(board_transport(b, i));
    b->paused = false;
    atomic_store(&vm->stop, 0);
    /* An exit requested meanwhile (a device, quit) must not be undone by the store above. */
    if (atomic_load(&vm->exit_claimed)) {
        atomic_store(&vm->stop, 1);
        return -1;
    }
    return harts_start(b);
}

static void board_snap_fill(struct board *b, struct snap_board *sb)
{
    memset(sb, 0, sizeof(*sb));
    sb->vm = &b->vm;
    sb->uart = b->uart;
    sb->rtc = b->rtc;
    sb->ndisks = b->ndisks;
    sb->nnets = b->nnets;
    for (unsigned i = 0; i < b->ndisks; i++) {
        sb->blks[i] = b->blks[i];
        sb->disks[i] = b->disks[i];
        const struct board_disk *d = &b->cfg->disks[i];
        snprintf(sb->cfg.disks[i].path, sizeof(sb->cfg.disks[i].path), "%s", d->path);
        sb->cfg.disks[i].readonly = d->readonly;
        sb->cfg.disks[i].cache = (uint32_t)d->cache;
        sb->cfg.disks[i].bps = d->bps;
        sb->cfg.disks[i].iops = d->iops;
    }
    for (unsigned i = 0; i < b->nnets; i++) {
        sb->nets[i] = b->nets[i];
        snprintf(sb->cfg.nets[i], sizeof(sb->cfg.nets[i]), "%s", b->cfg->nets[i]);
    }
    sb->hvc = b->hvc;
    sb->rng = b->rng;
    sb->balloon = b->balloon;
    sb->nshares = b->cfg->nshares;
    for (unsigned i = 0; i < b->cfg->nshares; i++) {
        const struct board_share *s = &b->cfg->shares[i];
        sb->p9[i] = b->p9[i];
        snprintf(sb->cfg.shares[i].dir, sizeof(sb->cfg.shares[i].dir), "%s", s->dir);
        snprintf(sb->cfg.shares[i].tag, sizeof(sb->cfg.shares[i].tag), "%s", s->tag);
        sb->cfg.shares[i].readonly = s->readonly;
    }
}

static uint64_t snap_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- live migration (docs/migration.md) ---- */

static void mig_pause_cb(void *ctx)
{
    board_pause(ctx);
}

/* Takes (lock) or drops every disk's lock; 0, or -1 with the disk named in err. */
static int disks_lock(struct board *b, bool lock, char *err, size_t errlen)
{
    for (unsigned i = 0; i < b->ndisks; i++) {
        int e = b->disks[i] ? disk_lock(b->disks[i], lock) : 0;
        if (e) {
            snprintf(err, errlen, "disk %s: %s", b->cfg->disks[i].path,
                     e == -EAGAIN ? "still in use by another process" : strerror(-e));
            while (lock && i--)
                disk_lock(b->disks[i], false);
            return -1;
        }
    }
    return 0;
}

/* The destination: the source's locks, then what the source wrote into qcow2 metadata. */
static int disks_take(struct board *b, char *err, size_t errlen)
{
    if (disks_lock(b, true, err, errlen))
        return -1;
    for (unsigned i = 0; i < b->ndisks; i++) {
        char *why = NULL;
        if (b->disks[i] && disk_reload(b->disks[i], &why)) {
            snprintf(err, errlen, "%s", why ? why : "cannot read a disk's metadata again");
            free(why);
            disks_lock(b, false, NULL, 0);
            return -1;
        }
    }
    return 0;
}

static void mig_relock_cb(void *ctx)
{
    struct board *b = ctx;
    if (b->mig_unlocked) {
        /* The destination drops the locks before it refuses, or they went with its process. */
        char err[300];
        int tries = 0;
        while (disks_lock(b, true, err, sizeof(err)) && ++tries < 40) {
            struct timespec d = {0, 50000000};
            nanosleep(&d, NULL);
        }
        if (tries == 40)
            log_warn("migrate", "cannot take the disk locks back (%s); resuming anyway", err);
        b->mig_unlocked = false;
    }
}

static void mig_resume_cb(void *ctx)
{
    mig_relock_cb(ctx);
    board_resume(ctx);
}

/* The harts are stopped and the disks flushed: the state, then the disk locks go to the destination. */
static int mig_state_cb(void *ctx, struct snap_w *w, char *err, size_t errlen)
{
    struct board *b = ctx;
    struct snap_board sb;
    board_snap_fill(b, &sb);
    if (snapshot_state(&sb, w, err, errlen))
        return -1;
    if (disks_lock(b, false, err, errlen)) {
        snap_w_free(w);
        return -1;
    }
    b->mig_unlocked = true;
    return 0;
}

static void mig_report(struct control_migrate *out, const struct mig_stats *st)
{
    out->total_ms = st->total_ms;
    out->downtime_ms = st->downtime_ms;
    out->bytes = st->bytes;
    out->pages = st->pages;
    out->rounds = st->rounds;
    out->mib_per_s = st->mib_per_s;
}

/* The source: streams this VM; on success it stays paused (the daemon ends it). */
static int migrate_out(struct board *b, struct snap_request *rq)
{
    if (b->incoming) {
        snprintf(rq->err, sizeof(rq->err), "the VM is still waiting for its own migration");
        return -1;
    }
    struct mig_conn c;
    mig_conn_init(&c, rq->sock, MIGRATE_IO_TIMEOUT_MS);
    struct mig_source src = {.vm = &b->vm, .ctx = b, .pause = mig_pause_cb, .resume = mig_resume_cb,
                             .state = mig_state_cb, .relock = mig_relock_cb, .paused = b->paused,
                             .downtime_ms = rq->downtime_ms ? (uint32_t)rq->downtime_ms : MIGRATE_DOWNTIME_MS,
                             .max_rounds = rq->max_rounds ? (uint32_t)rq->max_rounds : MIGRATE_MAX_ROUNDS};
    struct mig_stats st;
    int r = mig_send_vm(&c, &src, &st);
    mig_report(&rq->mig, &st);
    if (r) {
        mig_send_error(&c, c.err);
        snprintf(rq->err, sizeof(rq->err), "migration failed, the VM runs on here: %s", c.err);
        log_err("migrate", "%s", rq->err);
        return -1;
    }
    log_err("migrate", "migrated in %llu ms (downtime %llu ms, %llu rounds, %llu pages, %.0f MiB/s)",
             (unsigned long long)st.total_ms, (unsigned long long)st.downtime_ms,
             (unsigned long long)st.rounds, (unsigned long long)st.pages, st.mib_per_s);
    return 0;
}

/* The destination: loads the stream into this (never run) VM, resumes it, tells the source. */
static int migrate_in(struct board *b, struct snap_request *rq)
{
    struct vm *vm = &b->vm;
    if (!b->incoming) {
        snprintf(rq->err, sizeof(rq->err), "this VM was not started with --incoming");
        return -1;
    }
    struct mig_conn c;
    mig_conn_init(&c, rq->sock, MIGRATE_IO_TIMEOUT_MS);
    struct mig_sink sink = {.ram = vm->ram, .ram_size = vm->ram_size, .nharts = vm->nharts};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (mig_receive(&c, &sink)) {
        mig_send_error(&c, c.err);
        snprintf(rq->err, sizeof(rq->err), "incoming migration failed: %s", c.err);
        return -1;
    }
    if (sink.verified)
        log_err("migrate", "RAM verified: %llu pages match the source's", (unsigned long long)sink.verified);
    struct timespec tend;
    clock_gettime(CLOCK_MONOTONIC, &tend);
    static struct snap_restore sr; /* large; one main thread */
    struct snap_board sb;
    char err[400];
    if (snapshot_open_state(sink.state, sink.state_len, &sr, err, sizeof(err))) {
        snprintf(rq->err, sizeof(rq->err), "incoming migration: the state record: %s", err);
        mig_send_error(&c, rq->err);
        return -1;
    }
    board_snap_fill(b, &sb);
    /* The disks first: a restored virtio-blk may complete a request queued at the pause as soon
     * as it is loaded, and a qcow2 image's tables are read again only once the source is done
     * with them (it flushed before it dropped its locks). */
    if (disks_take(b, err, sizeof(err))) {
        snprintf(rq->err, sizeof(rq->err), "incoming migration: %s", err);
    } else if (sr.m.ram_size != vm->ram_size || sr.m.nharts != vm->nharts || sr.m.ndisks != b->ndisks ||
        sr.m.nnets != b->nnets || sr.m.no_rng != (b->rng == NULL) ||
        sr.m.no_balloon != (b->balloon == NULL)) {
        snprintf(rq->err, sizeof(rq->err), "incoming migration: the source's machine (RAM, harts, devices) differs from this one");
    } else if (snapshot_apply(&sb, &sr, err, sizeof(err)) < 0) {
        snprintf(rq->err, sizeof(rq->err), "incoming migration: %s", err);
    } else {
        rq->err[0] = 0;
    }
    snapshot_close(&sr);
    if (rq->err[0]) {
        disks_lock(b, false, err, sizeof(err)); /* the source takes them back as it resumes */
        mig_send_error(&c, rq->err);
        return -1;
    }
    b->incoming = false;
    if (board_resume(b) < 0) {
        snprintf(rq->err, sizeof(rq->err), "incoming migration: the VM could not start");
        mig_send_error(&c, rq->err);
        return -1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    /* Running: the source must not resume now. If this word is lost, both would run: the
     * source waits for it before it stops (docs/migration.md, failure behaviour). */
    if (mig_send(&c, MIG_RUNNING, NULL, 0, NULL, 0))
        log_warn("migrate", "could not tell the source the VM runs here: %s", c.err);
    rq->mig.total_ms = (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
    rq->mig.downtime_ms = (uint64_t)((t1.tv_sec - tend.tv_sec) * 1000 + (t1.tv_nsec - tend.tv_nsec) / 1000000);
    rq->mig.bytes = c.bytes_in;
    rq->mig.pages = sink.pages;
    rq->mig.rounds = sink.rounds;
    log_err("migrate", "incoming VM running: %llu pages, %llu zero pages, %llu bytes, state loaded in %llu ms",
             (unsigned long long)sink.pages, (unsigned long long)sink.zero_pages,
             (unsigned long long)c.bytes_in, (unsigned long long)rq->mig.downtime_ms);
    return 0;
}

/* On the main thread: carries out the control thread's request. */
static void snap_serve(struct board *b)
{
    uint64_t v;
    if (read(b->snap_fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
        return;
    pthread_mutex_lock(&b->snap_lock);
    struct snap_request *rq = b->sreq;
    pthread_mutex_unlock(&b->snap_lock);
    if (!rq || rq->done)
        return;
    uint64_t t0 = snap_now_ms();
    int r = 0;
    switch (rq->op) {
    case SNAP_OP_PAUSE:
        board_pause(b);
        break;
    case SNAP_OP_MIGRATE:
        r = migrate_out(b, rq);
        break;
    case SNAP_OP_INCOMING:
        r = migrate_in(b, rq);
        break;
    case SNAP_OP_RESUME:
        if (b->incoming) {
            r = -1;
            snprintf(rq->err, sizeof(rq->err), "an incoming VM starts when its migration arrives");
            break;
        }
        r = board_resume(b);
        if (r)
            snprintf(rq->err, sizeof(rq->err), "the VM is stopping");
        break;
    case SNAP_OP_SNAPSHOT: {
        bool was_paused = b->paused;
        board_pause(b);
        struct snap_board sb;
        board_snap_fill(b, &sb);
        r = rq->dir ? snapshot_write(&sb, rq->dir, rq->err, sizeof(rq->err))
                    : snapshot_write_fds(&sb, rq->mem_fd, rq->state_fd, rq->err, sizeof(rq->err));
        if (r == 0)
            log_debug("vm", "snapshot written to %s", rq->dir ? rq->dir : "the files passed in");
        if (!was_paused && !rq->stay_paused)
            board_resume(b);
        break;
    }
    }
    pthread_mutex_lock(&b->snap_lock);
    rq->result = r;
    rq->ms = snap_now_ms() - t0;
    rq->done = true;
    pthread_cond_broadcast(&b->snap_cond);
    pthread_mutex_unlock(&b->snap_lock);
}

/* Fails a request still waiting once the run is over (the control thread must not hang). */
static void snap_close(struct board *b, bool closed)
{
    pthread_mutex_lock(&b->snap_lock);
    b->snap_closed = closed;
    /* Only at the end of a run: a request made before the first run began (a migration's
     * destination is asked as soon as its control socket answers) waits for it. */
    if (closed && b->sreq && !b->sreq->done) {
        snprintf(b->sreq->err, sizeof(b->sreq->err), "the VM stopped");
        b->sreq->result = -1;
        b->sreq->done = true;
        pthread_cond_broadcast(&b->snap_cond);
    }
    pthread_mutex_unlock(&b->snap_lock);
}

/* On the control thread: hands the request to the main thread and waits for it. */
static int snap_ask(struct board *b, struct snap_request *rq, char *err, size_t errlen)
{
    pthread_mutex_lock(&b->snap_lock);
    while (b->sreq && !b->snap_closed)
        pthread_cond_wait(&b->snap_cond, &b->snap_lock);
    if (b->snap_closed) {
        pthread_mutex_unlock(&b->snap_lock);
        snprintf(err, errlen, "the VM is not running");
        return -1;
    }
    b->sreq = rq;
    uint64_t one = 1;
    if (write(b->snap_fd, &one, sizeof(one)) != (ssize_t)sizeof(one)) {
        b->sreq = NULL;
        pthread_mutex_unlock(&b->snap_lock);
        snprintf(err, errlen, "cannot wake the main thread: %s", strerror(errno));
        return -1;
    }
    while (!rq->done)
        pthread_cond_wait(&b->snap_cond, &b->snap_lock);
    b->sreq = NULL;
    pthread_cond_broadcast(&b->snap_cond);
    pthread_mutex_unlock(&b->snap_lock);
    if (rq->result) {
        snprintf(err, errlen, "%s", rq->err);
        return -1;
    }
    return 0;
}

static int ctl_snapshot(void *ctx, const struct control_snap *s, uint64_t *ms, char *err,
                        size_t errlen)
{
    struct board *b = ctx;
    if (b->cfg->lockdown && s->dir) {
        snprintf(err, errlen, "a jailed VM cannot open a snapshot directory: send the files "
                              "instead ({\"cmd\":\"snapshot\",\"fds\":true}, as kiln snapshot does)");
        return -1;
    }
    struct snap_request rq = {.op = SNAP_OP_SNAPSHOT, .dir = s->dir, .mem_fd = s->mem_fd,
                              .state_fd = s->state_fd, .stay_paused = s->paused};
    int r = snap_ask(b, &rq, err, errlen);
    *ms = rq.ms;
    return r;
}

static int ctl_migrate(void *ctx, int fd, uint64_t downtime_ms, uint64_t max_rounds,
                       struct control_migrate *out, char *err, size_t errlen)
{
    struct board *b = ctx;
    if (b->gdb) {
        snprintf(err, errlen, "a VM under the GDB stub cannot be migrated");
        return -1;
    }
    if (b->cfg->nshares) {
        snprintf(err, errlen, "VMs with --share cannot be migrated yet (9p state is not saved)");
        return -1;
    }
    struct snap_request rq = {.op = SNAP_OP_MIGRATE, .sock = fd, .downtime_ms = downtime_ms,
                              .max_rounds = max_rounds};
    int r = snap_ask(b, &rq, err, errlen);
    *out = rq.mig;
    return r;
}

static int ctl_incoming(void *ctx, int fd, struct control_migrate *out, char *err, size_t errlen)
{
    struct snap_request rq = {.op = SNAP_OP_INCOMING, .sock = fd};
    int r = snap_ask(ctx, &rq, err, errlen);
    *out = rq.mig;
    return r;
}

static int ctl_pause(void *ctx, bool pause, char *err, size_t errlen)
{
    struct snap_request rq = {.op = pause ? SNAP_OP_PAUSE : SNAP_OP_RESUME};
    return snap_ask(ctx, &rq, err, errlen);
}

/*
 * A signal sent to kiln's whole process group (a terminal, timeout(1)) reaches the VM
 * directly and again through the keeper of its pid namespace (jail/pidns.c), which
 * relays what reaches it. One of each pair is dropped: the same signal once directly
 * and once relayed within a second counts as one, so a group SIGTERM still means
 * "power off" and not "power off, then stop at once".
 */
static bool relay_echo(const struct signalfd_siginfo *si)
{
    static uint64_t last_ms[65];
    static bool last_relayed[65];
    unsigned sig = si->ssi_signo;
    if (sig >= 65)
        return false;
    bool relayed = pidns_relayed(si->ssi_code, si->ssi_int);
    uint64_t now = now_ms();
    bool echo = last_ms[sig] && now - last_ms[sig] < 1000 && last_relayed[sig] != relayed;
    last_ms[sig] = echo ? 0 : now;
    last_relayed[sig] = relayed;
    return echo;
}

/*
 * Waits for the VM to stop. SIGINT/SIGTERM/SIGHUP are blocked in every thread
 * and arrive here through a signalfd; the VM's exit eventfd wakes us the moment
 * a hart or device ends the run. SIGTERM first asks the guest to power off
 * (serial SysRq); a second one, or SIGTERM_GRACE_MS without an exit, stops it.
 * SIGHUP (the terminal closed) is only noted: issue 15, a hang-up never ends a VM.
 */
static void wait_for_exit(struct board *b, int sig_fd)
{
    struct vm *vm = &b->vm;
    /* A pause sets stop without claiming the exit: only both together end the run. */
#define RUN_ENDED() (atomic_load(&vm->stop) && atomic_load(&vm->exit_claimed))
    while (!RUN_ENDED()) {
        struct pollfd fds[4] = {{.fd = sig_fd, .events = POLLIN},
                                {.fd = vm->exit_fd, .events = POLLIN},
                                {.fd = b->powerdown_fd, .events = POLLIN},
                                {.fd = b->snap_fd, .events = POLLIN}};
        int timeout = powerdown_step(b);
        if (RUN_ENDED())
            break;
        if (timeout < 0 || timeout > 1000)
            timeout = 1000;
        if (poll(fds, 4, timeout) <= 0)
            continue;
        if (fds[3].revents & POLLIN)
            snap_serve(b);
        if (fds[1].revents & POLLIN) {
            uint64_t v;
            ssize_t n = read(vm->exit_fd, &v, sizeof(v));
            (void)n;
        }
        if (fds[2].revents & POLLIN) {
            uint64_t v;
            if (read(b->powerdown_fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
                powerdown_start(b, 0);
        }
        if (fds[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sig_fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
                continue;
            if (relay_echo(&si))
                continue;
            if (si.ssi_signo == SIGUSR1) {
                dump_harts(b);
                continue;
            }
            if (si.ssi_signo == SIGHUP) {
                /* A closed terminal must not end the VM (like nohup): it keeps
                 * running with its console output discarded; SIGTERM stops it. */
                fprintf(stderr, "kiln: SIGHUP: the terminal went away; the VM keeps running (SIGTERM powers it off)\n");
                continue;
            }
            if (si.ssi_signo == SIGTERM && !b->pd.deadline_ms && b->uart && uart_rx_enabled(b->uart)) {
                if (!b->cfg->powerdown_keys) /* else the workload's stderr is kiln's: say nothing */
                    fprintf(stderr, "kiln: SIGTERM: asking the guest to power off (send again to stop at once)\n");
                powerdown_start(b, SIGTERM_GRACE_MS);
                continue;
            }
            /* SIGINT, a second SIGTERM, or a guest that reads no serial input. */
            vm_request_exit(vm, 128 + (int)si.ssi_signo, "terminated by signal %u", si.ssi_signo);
        }
    }
#undef RUN_ENDED
}

/* ---- control socket (machine/control.h) ---- */

static int ctl_powerdown(void *ctx, char *err, size_t errlen)
{
    struct board *b = ctx;
    if (!b->uart || !uart_rx_enabled(b->uart)) {
        snprintf(err, errlen, "the guest reads no serial input, so it cannot be asked to power off; use quit");
        return -1;
    }
    uint64_t one = 1;
    if (write(b->powerdown_fd, &one, sizeof(one)) != (ssize_t)sizeof(one)) {
        snprintf(err, errlen, "cannot wake the main thread: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static void ctl_quit(void *ctx)
{
    struct board *b = ctx;
    vm_request_exit(&b->vm, 0, "stopped through the control socket");
}

static int run_once(struct board *b, int sig_fd)
{
    struct vm *vm = &b->vm;
    if (!b->restored)
        boot_harts(b);
    b->restored = false;
    memset(&b->pd, 0, sizeof(b->pd));
    atomic_store(&vm->stop, 0);
    atomic_store(&vm->exit_claimed, 0);
    atomic_store(&vm->reboot, 0);
    vm->exit_status = 0;
    vm->exit_reason[0] = 0;
    if (b->start_paused) {
        /* Restored --paused: devices loaded but quiet until a resume. */
        b->start_paused = false;
        atomic_store(&vm->stop, 1);
        for (unsigned i = 0; board_transport(b, i); i++)
            virtio_mmio_quiesce(board_transport(b, i));
        b->paused = true;
    } else {
        harts_start(b);
    }
    if (b->cfg->restore && b->cfg->restore->timing && b->cfg->restore->t_start_ns) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
        fprintf(stderr, "kiln: restored in %.2f ms (to the first instruction)\n",
                 (double)(now - b->cfg->restore->t_start_ns) / 1e6);
        b->cfg->restore->t_start_ns = 0;
    }
    wait_for_exit(b, sig_fd);
    gdbstub_run_end(b->gdb); /* parked or held harts let go, so their threads end */
    harts_join(b);
    b->paused = false;
    return vm->exit_status;
}

/* Loads a snapshot into the freshly built board. 0, or -1 after printing why. */
static int board_restore(struct board *b, struct snap_restore *r)
{
    struct snap_board sb;
    char err[300];
    board_snap_fill(b, &sb);
    if (snapshot_apply(&sb, r, err, sizeof(err)) < 0) {
        log_err("snapshot", "cannot restore: %s", err);
        return -1;
    }
    b->restored = true;
    b->start_paused = r->paused;
    return 0;
}

int board_run(const struct board_config *cfg)
{
    struct board *b = calloc(1, sizeof(*b));
    if (!b) {
        log_err("vm", "out of memory");
        return 1;
    }
    b->hvc_fd = -1;
    b->hvc_in_fd = -1;
    b->powerdown_fd = -1;
    b->snap_fd = -1;
    b->cfg = cfg;
    pthread_mutex_init(&b->snap_lock, NULL);
    pthread_cond_init(&b->snap_cond, NULL);
    int status = 1;
    int sig_fd = -1;
    struct vm *vm = &b->vm;
    /*
     * Signals are handled by the main thread only (wait_for_exit): block them
     * before any device starts a thread, since new threads inherit the mask.
     */
    sigset_t sigs, old;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &sigs, &old);
    int e = cfg->restore ? vm_init_file(vm, VIRT_DRAM_BASE, cfg->mem, cfg->restore->mem_fd)
                         : vm_init(vm, cfg->mem);
    if (e < 0) {
        log_err("vm", "cannot reserve %llu MiB of guest memory: %s",
                (unsigned long long)(cfg->mem >> 20), strerror(-e));
        free(b);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return 1;
    }
    if (cfg->gdb_port) {
        char err[256];
        b->gdb = gdbstub_start(vm, cfg->gdb_port, cfg->gdb_wait, err, sizeof(err));
        if (!b->gdb) {
            log_err("gdb", "%s", err);
            goto out;
        }
    }
    for (unsigned i = 0; i < cfg->cpus; i++) {
        if (hart_init(&b->harts[i], b->gdb ? gdbstub_bus(b->gdb) : vm_bus(vm), i) < 0) {
            log_err("vm", "cannot initialise hart %u", i);
            goto out;
        }
        vm->harts[i] = &b->harts[i];
        vm->nharts = i + 1;
    }
    if (!plic_create(vm) || !clint_create(vm)) {
        log_err("vm", "cannot create interrupt controllers");
        goto out;
    }
    b->syscon = syscon_create(vm);
    b->rtc = rtc_create(vm);
    b->pvpanic = pvpanic_create(vm);
    if (!b->syscon || !b->rtc || !b->pvpanic) {
        log_err("vm", "cannot create board devices");
        goto out;
    }
    if (board_virtio_create(b, cfg) < 0)
        goto out;
    if (!cfg->restore && !cfg->incoming && load_images(b, cfg) < 0)
        goto out;
    if (cfg->incoming) {
        /* Nothing runs until the stream arrived (migrate_in). */
        b->incoming = true;
        b->restored = true;
        b->start_paused = true;
    }
    if (cfg->dump_dtb) {
        status = 0;
        goto out;
    }

    sig_fd = signalfd(-1, &sigs, SFD_CLOEXEC);
    vm->exit_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    b->powerdown_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    b->snap_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (sig_fd < 0 || vm->exit_fd < 0 || b->powerdown_fd < 0 || b->snap_fd < 0) {
        log_err("vm", "cannot create event descriptors: %s", strerror(errno));
        goto out_sig;
    }

    b->console = console_create(vm, cfg->console_in, cfg->console_out);
    if (!b->console)
        goto out_sig;
    b->uart = uart_create(vm, VIRT_UART0_BASE, VIRT_UART0_IRQ, console_output, b->console);
    if (!b->uart) {
        log_err("vm", "cannot create the UART");
        goto out_sig;
    }
    /* A restore loads the UART's receive FIFO: input typed before that (a client that
     * writes as soon as kiln starts) would be overwritten, so the console feeds the
     * UART only once the snapshot is in. */
    if (cfg->restore && board_restore(b, cfg->restore) < 0)
        goto out_sig;
    console_attach_uart(b->console, b->uart);
    console_wait_for_driver(b->console, cfg->kernel != NULL && !cfg->incoming);

    if (cfg->control) {
        static const struct control_ops ops_tmpl = {
            .stats = board_ctl_stats, .balloon = board_ctl_balloon, .powerdown = ctl_powerdown,
            .quit = ctl_quit, .limits = board_ctl_limits, .snapshot = ctl_snapshot, .pause = ctl_pause,
            .migrate = ctl_migrate, .incoming = ctl_incoming};
        struct control_ops ops = ops_tmpl;
        ops.ctx = b;
        char err[256];
        b->control = control_start(cfg->control, &ops, err, sizeof(err));
        if (!b->control) {
            log_err("control", "%s", err);
            goto out_sig;
        }
    }
    b->hart_enter = cfg->hart_enter;
    b->jail_ctx = cfg->jail_ctx;
    if (cfg->lockdown && cfg->lockdown(cfg->jail_ctx))
        goto out_sig;

    for (;;) {
        snap_close(b, false);
        status = run_once(b, sig_fd);
        snap_close(b, true);
        if (!atomic_load(&vm->reboot))
            break;
        if (cfg->restore) {
            /* The boot images are not part of a snapshot (docs/snapshots.md). */
            log_warn("vm", "the guest asked for a reboot; a restored VM has no boot images: stopping");
            break;
        }
        /* Reboot: a machine with fresh RAM (returned to the host) and the same images. */
        vm_ram_clear(vm);
        uart_reset(b->uart);
        plic_reset(vm->plic);
        clint_reset(vm->clint);
        rtc_reset(b->rtc);
        if (load_images(b, cfg) < 0) {
            status = 1;
            break;
        }
    }
    if (status != 0 && vm->exit_reason[0])
        log_err("vm", "%s", vm->exit_reason);
    /* A process exit status keeps 8 bits: never let a failure code wrap to 0. */
    if (status > 255)
        status = 255;

out_sig:
    snap_close(b, true);
    /* First: its callbacks use the devices below. */
    control_stop(b->control);
    if (b->snap_fd >= 0)
        close(b->snap_fd);
    b->snap_fd = -1;
    b->control = NULL;
    if (b->powerdown_fd >= 0)
        close(b->powerdown_fd);
    b->powerdown_fd = -1;
    if (b->console)
        console_destroy(b->console);
    if (sig_fd >= 0)
        close(sig_fd);
    if (vm->exit_fd >= 0)
        close(vm->exit_fd);
    vm->exit_fd = -1;
out:
    gdbstub_stop(b->gdb); /* before the harts it reads */
    board_virtio_destroy(b);
    if (b->uart)
        uart_destroy(b->uart);
    if (b->rtc)
        rtc_destroy(b->rtc);
    if (b->pvpanic)
        pvpanic_destroy(b->pvpanic);
    if (b->syscon)
        syscon_destroy(b->syscon);
    if (vm->clint)
        clint_destroy(vm->clint);
    if (vm->plic)
        plic_destroy(vm->plic);
    for (unsigned i = 0; i < vm->nharts; i++)
        hart_destroy(&b->harts[i]);
    vm_destroy(vm);
    pthread_mutex_destroy(&b->snap_lock);
    pthread_cond_destroy(&b->snap_cond);
    free(b);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return status;
}
