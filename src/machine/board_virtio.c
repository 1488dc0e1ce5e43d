/* The board's virtio-mmio slots: which device goes in which slot, --disk parsing, and the
 * control socket's view of the devices (statistics, limits, balloon). */
#include "machine/board_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/disk.h"
#include "backend/net.h"
#include "backend/p9fs.h"
#include "dev/virtio_9p.h"
#include "dev/virtio_balloon.h"
#include "dev/virtio_blk.h"
#include "dev/virtio_console.h"
#include "dev/virtio_net.h"
#include "dev/virtio_rng.h"
#include "machine/fdt.h"
#include "util/log.h"
#include "util/token_bucket.h"

/* The smallest guest a balloon request may leave. */
#define BALLOON_MIN_MIB 16

static uint64_t virtio_slot_base(unsigned slot)
{
    return VIRT_VIRTIO_BASE + slot * VIRT_VIRTIO_STRIDE;
}

/* virtio-mmio slots in QEMU's order of the command line: disks first, so the first disk is vda. */
int board_virtio_create(struct board *b, const struct board_config *cfg)
{
    struct vm *vm = &b->vm;
    for (unsigned i = 0; i < cfg->ndisks; i++) {
        const struct board_disk *d = &cfg->disks[i];
        char *err = NULL;
        struct disk_opts o = {.readonly = d->readonly, .cache = (enum disk_cache)d->cache,
                              .format = (enum disk_format)d->format,
                              .defer_lock = cfg->incoming}; /* the source holds it until the pause */
        b->disks[i] = disk_open_opts(d->path, &o, &err);
        if (!b->disks[i]) {
            fprintf(stderr, "kiln: %s\n", err ? err : d->path); /* err starts "disk PATH" */
            free(err);
            return -1;
        }
        unsigned slot = b->nvirtio++;
        b->blks[i] = virtio_blk_create(vm, virtio_slot_base(slot), VIRT_VIRTIO_IRQ + slot, b->disks[i]);
        if (!b->blks[i]) {
            log_err("disk", "%s: cannot create the virtio-blk device", d->path);
            return -1;
        }
        if (d->bps || d->iops)
            virtio_blk_set_limits(b->blks[i], d->bps, d->iops);
        b->ndisks = i + 1;
    }
    for (unsigned i = 0; i < cfg->nnets; i++) {
        struct net_config nc;
        char err[256];
        if (net_parse_spec(cfg->nets[i], &nc, err, sizeof(err)) < 0) {
            log_err("net", "--net %s: %s", cfg->nets[i], err);
            return -1;
        }
        /* Each further NIC gets the next MAC, as QEMU numbers its default MACs. */
        nc.mac[5] = (uint8_t)(nc.mac[5] + i);
        b->net_be[i] = net_backend_create(vm, &nc, err, sizeof(err));
        if (!b->net_be[i]) {
            log_err("net", "--net %s: %s", cfg->nets[i], err);
            return -1;
        }
        unsigned slot = b->nvirtio++;
        b->nets[i] = virtio_net_create(vm, virtio_slot_base(slot), VIRT_VIRTIO_IRQ + slot, b->net_be[i], nc.mac);
        if (!b->nets[i]) {
            log_err("net", "cannot create the virtio-net device");
            return -1;
        }
        if (nc.bps)
            virtio_net_set_limit(b->nets[i], nc.bps);
        b->nnets = i + 1;
    }
    b->hvc_fd = -1;
    b->hvc_in_fd = -1;
    if (cfg->hvc_fds) {
        b->hvc_fd = cfg->hvc_out_fd >= 0 ? fcntl(cfg->hvc_out_fd, F_DUPFD_CLOEXEC, 3) : -1;
        b->hvc_in_fd = cfg->hvc_in >= 0 ? fcntl(cfg->hvc_in, F_DUPFD_CLOEXEC, 3) : -1;
    } else if (cfg->hvc_out) {
        b->hvc_fd = open(cfg->hvc_out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (b->hvc_fd < 0) {
            log_err("vm", "--hvc-out %s: %s", cfg->hvc_out, strerror(errno));
            return -1;
        }
    }
    {
        unsigned slot = b->nvirtio++;
        b->hvc = virtio_console_create(vm, virtio_slot_base(slot), VIRT_VIRTIO_IRQ + slot, b->hvc_in_fd, b->hvc_fd);
        if (!b->hvc) {
            log_err("vm", "cannot create the virtio-console device");
            return -1;
        }
    }
    if (!cfg->no_rng) {
        unsigned slot = b->nvirtio++;
        b->rng = virtio_rng_create(vm, virtio_slot_base(slot), VIRT_VIRTIO_IRQ + slot);
        if (!b->rng) {
            log_err("vm", "cannot create the virtio-rng device");
            return -1;
        }
    }
    for (unsigned i = 0; i < cfg->nshares; i++) {
        const struct board_share *sh = &cfg->shares[i];
        int err = p9fs_open(sh->dir, sh->readonly, &b->p9fs[i]);
        if (err) {
            fprintf(stderr, "kiln: --share %s: %s\n", sh->dir, strerror(-err));
            return -1;
        }
        if (b->nvirtio >= FDT_MAX_VIRTIO) {
            fprintf(stderr, "kiln: --share %s: no virtio slot left (at most %d virtio devices)\n",
                    sh->dir, FDT_MAX_VIRTIO);
            return -1;
        }
        unsigned slot = b->nvirtio++;
        b->p9[i] = virtio_9p_create(vm, virtio_slot_base(slot), VIRT_VIRTIO_IRQ + slot, b->p9fs[i], sh->tag);
        if (!b->p9[i])
            return -1;
    }
    /* The balloon last: it must not move any other device's slot. */
    if (!cfg->no_balloon) {
        if (b->nvirtio >= FDT_MAX_VIRTIO) {
            log_warn("vm", "no virtio slot left for the balloon: memory cannot be resized");
        } else {
            unsigned slot = b->nvirtio++;
            b->balloon = virtio_balloon_create(vm, virtio_slot_base(slot), VIRT_VIRTIO_IRQ + slot);
            if (!b->balloon) {
                log_err("vm", "cannot create the virtio-balloon device");
                return -1;
            }
        }
    }
    return 0;
}

int board_parse_disk(const char *spec, struct board_disk *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->cache = DISK_CACHE_WRITEBACK;
    const char *comma = strchr(spec, ',');
    size_t plen = comma ? (size_t)(comma - spec) : strlen(spec);
    if (plen == 0 || plen >= sizeof(out->path)) {
        snprintf(err, errlen, "--disk '%s': expected PATH[,ro][,cache=writeback|none|unsafe]", spec);
        return -1;
    }
    memcpy(out->path, spec, plen);
    while (comma) {
        const char *opt = comma + 1;
        comma = strchr(opt, ',');
        size_t len = comma ? (size_t)(comma - opt) : strlen(opt);
        char buf[64];
        if (len >= sizeof(buf)) {
            snprintf(err, errlen, "--disk '%s': option too long", spec);
            return -1;
        }
        memcpy(buf, opt, len);
        buf[len] = 0;
        enum disk_cache c;
        if (!strcmp(buf, "ro") || !strcmp(buf, "readonly")) {
            out->readonly = true;
        } else if (!strcmp(buf, "rw")) {
            out->readonly = false;
        } else if (!strncmp(buf, "cache=", 6)) {
            if (disk_cache_parse(buf + 6, &c) < 0) {
                snprintf(err, errlen, "--disk '%s': cache must be writeback, none or unsafe", spec);
                return -1;
            }
            out->cache = (int)c;
        } else if (!strncmp(buf, "bps=", 4)) {
            if (tb_parse_limit(buf + 4, true, &out->bps) < 0) {
                snprintf(err, errlen,
                         "--disk '%s': bps must be bytes per second, e.g. bps=4M (K, M, G suffixes; "
                         "0 = unlimited)",
                         spec);
                return -1;
            }
        } else if (!strncmp(buf, "iops=", 5)) {
            if (tb_parse_limit(buf + 5, false, &out->iops) < 0) {
                snprintf(err, errlen,
                         "--disk '%s': iops must be a whole number of requests per second (0 = "
                         "unlimited)",
                         spec);
                return -1;
            }
        } else if (!strncmp(buf, "format=", 7)) {
            enum disk_format f;
            if (disk_format_parse(buf + 7, &f) < 0) {
                snprintf(err, errlen, "--disk '%s': format must be raw or qcow2", spec);
                return -1;
            }
            out->format = (int)f;
        } else {
            snprintf(err, errlen, "--disk '%s': unknown option '%s'", spec, buf);
            return -1;
        }
    }
    return 0;
}

void board_virtio_destroy(struct board *b)
{
    for (unsigned i = 0; i < BOARD_MAX_DISKS; i++) {
        if (b->blks[i])
            virtio_blk_destroy(b->blks[i]);
        if (b->disks[i])
            disk_close(b->disks[i]);
    }
    if (b->rng)
        virtio_rng_destroy(b->rng);
    if (b->balloon)
        virtio_balloon_destroy(b->balloon);
    for (unsigned i = 0; i < BOARD_MAX_SHARES; i++) {
        virtio_9p_destroy(b->p9[i]);
        p9fs_close(b->p9fs[i]);
    }
    for (unsigned i = 0; i < BOARD_MAX_NETS; i++) {
        if (b->nets[i])
            virtio_net_destroy(b->nets[i]);
        net_backend_destroy(b->net_be[i]);
    }
    if (b->hvc)
        virtio_console_destroy(b->hvc);
    if (b->hvc_fd >= 0)
        close(b->hvc_fd);
    if (b->hvc_in_fd >= 0)
        close(b->hvc_in_fd);
}

/* ---- control socket (machine/control.h) ---- */

int board_ctl_stats(void *ctx, struct control_stats *out)
{
    struct board *b = ctx;
    out->ram_bytes = b->vm.ram_size;
    out->rss_bytes = control_self_rss();
    if (b->balloon) {
        struct virtio_balloon_stats bs;
        virtio_balloon_get_stats(b->balloon, &bs);
        out->balloon = true;
        out->balloon_driver = bs.driver_ok;
        out->balloon_target_bytes = (uint64_t)bs.target_pages << VIRTIO_BALLOON_PFN_SHIFT;
        out->balloon_actual_bytes = (uint64_t)bs.actual_pages << VIRTIO_BALLOON_PFN_SHIFT;
        if (out->balloon_actual_bytes > out->ram_bytes)
            out->balloon_actual_bytes = out->ram_bytes; /* the guest writes actual */
        out->inflated_pages = bs.inflated_pages;
        out->deflated_pages = bs.deflated_pages;
        out->reported_bytes = bs.reported_bytes;
        out->bad_pfns = bs.bad_pfns;
    }
    for (unsigned i = 0; i < b->ndisks && i < CONTROL_MAX_DISKS; i++) {
        struct virtio_blk_stats st;
        virtio_blk_get_stats(b->blks[i], &st);
        out->disks[i].reads = st.reads;
        out->disks[i].writes = st.writes;
        out->disks[i].flushes = st.flushes;
        out->disks[i].read_bytes = st.read_bytes;
        out->disks[i].write_bytes = st.write_bytes;
        out->disks[i].errors = st.errors;
        out->disks[i].throttled = st.throttled;
        out->disks[i].bps_limit = st.bps_limit;
        out->disks[i].iops_limit = st.iops_limit;
        out->ndisks = i + 1;
    }
    for (unsigned i = 0; i < b->nnets && i < CONTROL_MAX_NETS; i++) {
        struct virtio_net_stats st;
        virtio_net_get_stats(b->nets[i], &st);
        out->nets[i].rx_frames = st.rx_frames;
        out->nets[i].rx_bytes = st.rx_bytes;
        out->nets[i].rx_dropped = st.rx_dropped;
        out->nets[i].tx_frames = st.tx_frames;
        out->nets[i].tx_bytes = st.tx_bytes;
        out->nets[i].tx_dropped = st.tx_dropped;
        out->nets[i].throttled = st.throttled;
        out->nets[i].bps_limit = st.bps_limit;
        out->nnets = i + 1;
    }
    return 0;
}

int board_ctl_limits(void *ctx, const struct control_limits *l, char *err, size_t errlen)
{
    struct board *b = ctx;
    if (l->is_net) {
        if (l->index >= b->nnets) {
            snprintf(err, errlen, "no network device %llu (this VM has %u)",
                     (unsigned long long)l->index, b->nnets);
            return -1;
        }
        virtio_net_set_limit(b->nets[l->index], l->bps);
        return 0;
    }
    if (l->index >= b->ndisks) {
        snprintf(err, errlen, "no disk %llu (this VM has %u)", (unsigned long long)l->index,
                 b->ndisks);
        return -1;
    }
    struct virtio_blk_stats st;
    virtio_blk_get_stats(b->blks[l->index], &st);
    virtio_blk_set_limits(b->blks[l->index], l->has_bps ? l->bps : st.bps_limit,
                          l->has_iops ? l->iops : st.iops_limit);
    return 0;
}

int board_ctl_balloon(void *ctx, uint64_t target_mib, char *err, size_t errlen)
{
    struct board *b = ctx;
    uint64_t ram_mib = b->vm.ram_size >> 20;
    if (!b->balloon) {
        snprintf(err, errlen, "this VM has no balloon device");
        return -1;
    }
    if (target_mib < BALLOON_MIN_MIB || target_mib > ram_mib) {
        snprintf(err, errlen, "target_mib must be between %d and %llu (the VM's RAM)", BALLOON_MIN_MIB,
                 (unsigned long long)ram_mib);
        return -1;
    }
    uint64_t pages = (b->vm.ram_size - (target_mib << 20)) >> VIRTIO_BALLOON_PFN_SHIFT;
    virtio_balloon_set_target(b->balloon, (uint32_t)pages);
    return 0;
}
