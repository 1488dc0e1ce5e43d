/*
 * The source VM's side of a live migration (docs/migration.md): pre-copy of all
 * RAM while the harts run, rounds of the pages they dirtied meanwhile until the
 * rest fits the downtime target at the bandwidth measured so far (or the round
 * cap is reached), then pause, the last dirty pages and the device state, and
 * the destination's word that it runs. Any failure before that word resumes
 * the source.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zlib.h>

#include "machine/vm.h"
#include "migrate/migrate.h"
#include "snapshot/format.h"
#include "util/log.h"

/* How long the destination may take to load the state and resume. */
#define RUNNING_WAIT_MS 30000

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000ull + (uint64_t)ts.tv_nsec / 1000;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static bool page_is_zero(const uint8_t *p)
{
    const uint64_t *q = (const uint64_t *)p;
    for (unsigned i = 0; i < MIG_PAGE / 8; i += 4)
        if (q[i] | q[i + 1] | q[i + 2] | q[i + 3])
            return false;
    return true;
}

/*
 * One PAGES record. The harts go on writing RAM meanwhile: the pages are copied
 * first, so the CRC and the bytes sent are of the same contents (a page changed
 * after the copy is dirty again and goes in a later round).
 */
static int send_run(struct mig_conn *c, const struct vm *vm, uint8_t *stage, uint64_t first,
                    uint32_t count, bool zero)
{
    uint8_t h[16];
    put64(h, first);
    put32(h + 8, count);
    put32(h + 12, zero);
    if (!zero)
        memcpy(stage, vm->ram + first * MIG_PAGE, (size_t)count * MIG_PAGE);
    return mig_send(c, MIG_PAGES, h, sizeof(h), zero ? NULL : stage, zero ? 0 : (size_t)count * MIG_PAGE);
}

/*
 * Sends the pages whose bit is set in bm (NULL: every page), as runs of data
 * pages and runs of zero pages. skip_zero: the destination's RAM is still all
 * zero there (the first pass), so zero pages need not be sent at all.
 */
static int send_pages(struct mig_conn *c, const struct vm *vm, uint8_t *stage, const uint64_t *bm,
                      bool skip_zero, uint64_t *sent)
{
    uint64_t npages = vm->ram_size / MIG_PAGE, start = 0;
    uint32_t run = 0;
    bool run_zero = false;
    for (uint64_t i = 0; i <= npages; i++) {
        bool want = i < npages && (!bm || (bm[i >> 6] >> (i & 63) & 1));
        bool zero = want && page_is_zero(vm->ram + i * MIG_PAGE);
        if (want && zero && skip_zero)
            want = false;
        if (run && (!want || zero != run_zero || run == MIG_PAGES_MAX)) {
            if (send_run(c, vm, stage, start, run, run_zero))
                return -1;
            *sent += run;
            run = 0;
        }
        if (!want)
            continue;
        if (!run) {
            start = i;
            run_zero = zero;
        }
        run++;
    }
    return 0;
}

/*
 * KILN_MIGRATE_VERIFY=1: a CRC of every page, the harts stopped, for the destination to
 * compare with what it received. It costs downtime (a pass over all RAM on both sides):
 * a check of the dirty tracking for tests and debugging, off by default.
 */
static int send_verify(struct mig_conn *c, const struct vm *vm, uint8_t *stage)
{
    const char *v = getenv("KILN_MIGRATE_VERIFY");
    if (!v || strcmp(v, "1"))
        return 0;
    uint64_t npages = vm->ram_size / MIG_PAGE;
    for (uint64_t first = 0; first < npages; first += MIG_VERIFY_MAX) {
        uint32_t count = npages - first < MIG_VERIFY_MAX ? (uint32_t)(npages - first) : MIG_VERIFY_MAX;
        uint8_t h[16];
        put64(h, first);
        put32(h + 8, count);
        put32(h + 12, 0);
        for (uint32_t i = 0; i < count; i++)
            put32(stage + 4 * i, (uint32_t)crc32(0, vm->ram + (first + i) * MIG_PAGE, MIG_PAGE));
        if (mig_send(c, MIG_VERIFY, h, sizeof(h), stage, 4ull * count))
            return -1;
    }
    return 0;
}

static int wait_running(struct mig_conn *c)
{
    uint8_t buf[64];
    uint32_t t, n;
    int keep = c->timeout_ms;
    c->timeout_ms = RUNNING_WAIT_MS;
    int r = mig_recv(c, &t, buf, sizeof(buf), &n);
    c->timeout_ms = keep;
    if (r)
        return -1;
    if (t != MIG_RUNNING || n != 0) {
        snprintf(c->err, sizeof(c->err), "the destination answered record %u instead of RUNNING", t);
        return -1;
    }
    return 0;
}

int mig_send_vm(struct mig_conn *c, const struct mig_source *src, struct mig_stats *st)
{
    struct vm *vm = src->vm;
    size_t words = (size_t)((vm->ram_size / MIG_PAGE) + 63) / 64;
    uint64_t *pend = calloc(words, sizeof(uint64_t));
    uint8_t *stage = malloc((size_t)MIG_PAGES_MAX * MIG_PAGE);
    struct snap_w w = {0};
    bool paused = false, tracking = false, have_w = false;
    int ret = -1;
    memset(st, 0, sizeof(*st));
    uint64_t t0 = now_us(), tpause = 0;
    if (!pend || !stage) {
        free(pend);
        free(stage);
        snprintf(c->err, sizeof(c->err), "out of memory");
        return -1;
    }
    uint8_t start[16];
    put64(start, vm->ram_size);
    put32(start + 8, vm->nharts);
    put32(start + 12, MIG_PAGE);
    if (mig_send(c, MIG_START, start, sizeof(start), NULL, 0))
        goto out;
    if (src->paused) {
        /* Stopped already (the daemon copied the disks meanwhile): one pass is all. */
        tpause = t0;
        paused = true;
        if (send_pages(c, vm, stage, NULL, true, &st->pages))
            goto out;
        goto state;
    }
    int e = vm_dirty_start(vm);
    if (e) {
        snprintf(c->err, sizeof(c->err), "cannot track dirty pages: %s", strerror(-e));
        goto out;
    }
    tracking = true;
    /* Pass 0: all of RAM, the harts running. */
    uint64_t b0 = c->bytes_out;
    if (send_pages(c, vm, stage, NULL, true, &st->pages))
        goto out;
    for (;;) {
        uint64_t elapsed = now_us() - t0;
        double bw = elapsed ? (double)(c->bytes_out - b0) / ((double)elapsed / 1e6) : 1e9; /* bytes/s */
        memset(pend, 0, words * sizeof(uint64_t));
        long n = vm_dirty_collect(vm, pend);
        if (n < 0) {
            snprintf(c->err, sizeof(c->err), "dirty tracking: a hart did not answer (%s)", strerror((int)-n));
            goto out;
        }
        st->last_dirty = (uint64_t)n;
        double est_ms = (double)n * MIG_PAGE / (bw > 1 ? bw : 1) * 1000.0;
        if (est_ms <= src->downtime_ms || st->rounds >= src->max_rounds)
            break;
        if (atomic_load(&vm->stop)) { /* the guest powered off or the VM is ending */
            snprintf(c->err, sizeof(c->err), "the VM stopped during the migration");
            goto out;
        }
        st->rounds++;
        if (send_pages(c, vm, stage, pend, false, &st->pages))
            goto out;
        log_debug("migrate", "round %llu: %ld dirty pages, %.0f MiB/s", (unsigned long long)st->rounds, n,
                  bw / 1048576.0);
    }
    /* Stop and copy: what is still pending plus what the harts dirtied until they stopped. */
    tpause = now_us();
    src->pause(src->ctx);
    paused = true;
    if (vm_dirty_collect(vm, pend) < 0) {
        snprintf(c->err, sizeof(c->err), "dirty tracking failed at the pause");
        goto out;
    }
    vm_dirty_stop(vm);
    tracking = false;
    if (send_pages(c, vm, stage, pend, false, &st->pages))
        goto out;
state:
    if (send_verify(c, vm, stage))
        goto out;
    char err[300];
    if (src->state(src->ctx, &w, err, sizeof(err))) {
        snprintf(c->err, sizeof(c->err), "saving the VM state: %s", err);
        goto out;
    }
    have_w = true;
    uint8_t end[8];
    put32(end, (uint32_t)st->rounds);
    put32(end + 4, 0);
    if (mig_send(c, MIG_STATE, w.buf, w.len, NULL, 0) || mig_send(c, MIG_END, end, sizeof(end), NULL, 0) ||
        wait_running(c))
        goto out;
    ret = 0;
out:
    if (tracking)
        vm_dirty_stop(vm);
    if (have_w)
        snap_w_free(&w);
    free(pend);
    free(stage);
    uint64_t t1 = now_us();
    st->total_ms = (t1 - t0) / 1000;
    st->downtime_ms = paused ? (t1 - tpause) / 1000 : 0;
    st->bytes = c->bytes_out;
    st->mib_per_s = t1 > t0 ? (double)c->bytes_out / 1048576.0 / ((double)(t1 - t0) / 1e6) : 0;
    if (ret && paused && !src->paused)
        src->resume(src->ctx);
    else if (ret && src->paused)
        src->relock(src->ctx); /* the daemon that paused it resumes it */ /* the destination does not run it: this side goes on */
    return ret;
}
