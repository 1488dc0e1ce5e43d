/*
 * The GDB stub: the connection (gdb manual, "Remote Protocol": "Overview", "Interrupts") and
 * hart control (all-stop). Framing is in gdb_pkt.c, command packets in gdb_cmd.c, registers
 * and memory in gdb_target.c.
 *
 * Hart control: the harts run on a bus whose stop flag is the stub's `hold`. Raising it makes
 * hart_run() return at the end of its batch (an instruction boundary, WFI included); each hart
 * thread then parks on g->cond until gdb resumes it. The stub touches hart state only when
 * every hart is parked.
 */
#define _GNU_SOURCE /* accept4 */
#include "debug/gdbstub.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cpu/bus.h"
#include "cpu/hart.h"
#include "debug/gdb_pkt.h"
#include "debug/gdb_target.h"
#include "debug/gdbstub_int.h"
#include "machine/vm.h"

const struct cpu_bus *gdbstub_bus(struct gdbstub *g)
{
    return &g->bus;
}

static void kick_all(struct gdbstub *g)
{
    for (unsigned i = 0; i < gdb_nharts(g); i++)
        hart_kick(g->vm->harts[i]);
}

static void wake_server(struct gdbstub *g)
{
    if (g->wake_fd >= 0) {
        uint64_t one = 1;
        ssize_t n = write(g->wake_fd, &one, sizeof(one));
        (void)n;
    }
}

/* A hart saw a reason to stop (breakpoint, finished step): hold every hart. */
static void report_stop(struct gdbstub *g, const struct hart *h, int sig)
{
    pthread_mutex_lock(&g->lock);
    if (!g->reported) {
        g->reported = true;
        g->stop_hart = h->id;
        g->stop_sig = sig;
    }
    atomic_store(&g->hold, 1);
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
    kick_all(g);
    wake_server(g);
}

/* Any breakpoint at pc? (Only changed while every hart is parked.) */
static bool bp_at(const struct gdbstub *g, uint64_t pc)
{
    for (unsigned i = 0; i < g->nbps; i++)
        if (g->bps[i] == pc)
            return true;
    return false;
}

/*
 * Runs the hart until the stub holds it. With breakpoints set, one instruction at a time
 * through hart_step() (exact: the JIT never runs past a count of 1, docs/jit.md) with the pc
 * compared before each. With watchpoints set, in bounded batches: a firing trigger parks the
 * hart mid-batch (stub_debug_halt) and ends the batch, and gdb may meanwhile have set the
 * breakpoint it steps over the access with. Otherwise at full speed through hart_run().
 */
#define WATCH_BATCH 4096
static void run_free(struct gdbstub *g, struct hart *h)
{
    const struct cpu_bus *bus = h->bus;
    while (!atomic_load_explicit(&g->hold, memory_order_relaxed)) {
        if (g->nbps) {
            if (bp_at(g, h->pc)) {
                report_stop(g, h, SIG_TRAP);
                return;
            }
            bus->ops->poll(bus->ctx, h);
            hart_step(h, 1);
        } else if (g->nwatch) {
            bus->ops->poll(bus->ctx, h);
            hart_step(h, WATCH_BATCH);
        } else {
            hart_run(h);
            return;
        }
    }
}

void gdbstub_hart_run(struct gdbstub *g, struct hart *h)
{
    struct vm *vm = g->vm;
    for (;;) {
        pthread_mutex_lock(&g->lock);
        g->parked++;
        pthread_cond_broadcast(&g->cond);
        while (atomic_load(&g->hold) && !atomic_load(&vm->stop) && g->step_hart != (int)h->id)
            pthread_cond_wait(&g->cond, &g->lock);
        g->parked--;
        bool step = g->step_hart == (int)h->id;
        if (step)
            g->step_hart = -1;
        pthread_mutex_unlock(&g->lock);
        if (atomic_load(&vm->stop))
            return;
        if (step) {
            h->trig_hit = 0;
            hart_step(h, 1);
            if (h->bus->ops->poll)
                h->bus->ops->poll(h->bus->ctx, h);
            /* A watchpoint that fired in the step reported the stop itself (debug_halt). */
            if (!h->trig_hit)
                report_stop(g, h, SIG_TRAP);
            continue;
        }
        run_free(g, h);
    }
}

void gdbstub_run_begin(struct gdbstub *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->lock);
    g->parked = 0;
    g->step_hart = -1;
    if (g->hold_at_start) {
        /* --gdb-wait: held before the first instruction, as if stopped there. */
        atomic_store(&g->hold, 1);
        g->reported = true;
        g->stop_hart = 0;
        g->stop_sig = SIG_TRAP;
        g->hold_at_start = false;
    } else if (!g->reported) {
        atomic_store(&g->hold, 0);
    }
    pthread_mutex_unlock(&g->lock);
}

void gdbstub_run_end(struct gdbstub *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->lock);
    atomic_store(&g->hold, 1);
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
    kick_all(g);
    wake_server(g);
}

/* Holds every hart (Ctrl-C, a new connection); sig is the reason to report. */
static void hold_all(struct gdbstub *g, int sig)
{
    pthread_mutex_lock(&g->lock);
    if (!g->reported) {
        g->reported = true;
        g->stop_hart = g->g_hart;
        g->stop_sig = sig;
    }
    atomic_store(&g->hold, 1);
    pthread_mutex_unlock(&g->lock);
    kick_all(g);
}

/* Waits until every hart is parked (or the VM or the stub ends). True when they all are. */
static bool wait_parked(struct gdbstub *g)
{
    bool all;
    pthread_mutex_lock(&g->lock);
    for (;;) {
        all = g->parked >= gdb_nharts(g) && g->step_hart < 0;
        if (all || atomic_load(&g->vm->stop) || atomic_load(&g->quit))
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&g->cond, &g->lock, &ts);
    }
    pthread_mutex_unlock(&g->lock);
    return all;
}

static void resume_all(struct gdbstub *g)
{
    pthread_mutex_lock(&g->lock);
    g->reported = false;
    g->stop_watch = NULL;
    atomic_store(&g->hold, 0);
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

static void step_one(struct gdbstub *g, unsigned hart)
{
    pthread_mutex_lock(&g->lock);
    g->reported = false;
    g->stop_watch = NULL;
    g->step_hart = (int)hart;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

/* ---- output ---- */

static void send_raw(struct gdbstub *g, const char *p, size_t len)
{
    if (g->detached) {
        if (g->reply_cb)
            g->reply_cb(g->reply_ctx, p, len);
        return;
    }
    while (len && g->conn_fd >= 0) {
        ssize_t n = send(g->conn_fd, p, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return; /* the next recv sees the broken connection */
        }
        p += n;
        len -= (size_t)n;
    }
}

static void send_packet(struct gdbstub *g, const char *data, size_t len)
{
    int n = gdb_pkt_frame(data, len, g->out, sizeof(g->out));
    if (n < 0)
        n = gdb_pkt_frame("E01", 3, g->out, sizeof(g->out));
    g->outlen = (size_t)n;
    send_raw(g, g->out, g->outlen);
}

/* ---- the connection ---- */

static void detach(struct gdbstub *g)
{
    if (g->conn_fd >= 0)
        close(g->conn_fd);
    g->conn_fd = -1;
    g->running = false;
    /* The guest runs on without the debugger: no breakpoint may stop it any more. */
    if (g->detached) {
        g->nbps = 0;
        gdb_watch_clear(g);
    } else if (wait_parked(g)) {
        g->nbps = 0;
        gdb_watch_clear(g);
        resume_all(g);
    }
}

static void do_action(struct gdbstub *g, enum gdb_action a, unsigned step_hart)
{
    if (g->detached) /* tests, fuzzing: nothing runs */
        return;
    switch (a) {
    case ACT_CONTINUE:
        g->running = true;
        resume_all(g);
        break;
    case ACT_STEP:
        g->running = true;
        step_one(g, step_hart < gdb_nharts(g) ? step_hart : 0);
        break;
    case ACT_DETACH:
        detach(g);
        break;
    case ACT_KILL:
        vm_request_exit(g->vm, 0, "killed from gdb");
        if (g->conn_fd >= 0)
            close(g->conn_fd);
        g->conn_fd = -1;
        g->running = false;
        break;
    default:
        break;
    }
}

static void handle_byte(struct gdbstub *g, uint8_t byte)
{
    switch (gdb_rx_feed(&g->rx, byte)) {
    case GDB_RX_PACKET: {
        if (!g->noack)
            send_raw(g, "+", 1);
        if (g->running)
            return; /* all-stop: nothing but 0x03 is expected until the stop reply */
        unsigned step_hart = 0;
        enum gdb_action a = gdb_cmd_handle(g, g->rx.buf, g->rx.len, &step_hart);
        /* Resuming packets answer with the stop reply later; k has no answer. */
        if (a == ACT_NONE || a == ACT_DETACH)
            send_packet(g, g->reply, g->rlen);
        do_action(g, a, step_hart);
        break;
    }
    case GDB_RX_BAD:
        if (!g->noack)
            send_raw(g, "-", 1);
        break;
    case GDB_RX_NACK:
        if (!g->noack && g->outlen)
            send_raw(g, g->out, g->outlen);
        break;
    case GDB_RX_INTERRUPT:
        if (g->running && !g->detached)
            hold_all(g, SIG_INT);
        break;
    default:
        break;
    }
}

void gdbstub_feed(struct gdbstub *g, const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len && (g->conn_fd >= 0 || g->detached); i++)
        handle_byte(g, data[i]);
}

/* The harts stopped after a resume: tell gdb why (or that the guest is gone). */
static void finish_stop(struct gdbstub *g)
{
    if (!wait_parked(g))
        return;
    g->running = false;
    g->g_hart = g->stop_hart;
    g->c_hart = -1;
    gdb_reply_stop(g);
    send_packet(g, g->reply, g->rlen);
}

static void on_connect(struct gdbstub *g, int fd)
{
    g->conn_fd = fd;
    g->noack = false;
    g->outlen = 0;
    g->g_hart = 0;
    g->c_hart = -1;
    gdb_rx_init(&g->rx);
    /* gdb expects a stopped target once connected (QEMU stops too). */
    hold_all(g, SIG_TRAP);
    wait_parked(g);
    g->running = false;
}

/* The run is over for good: not a reboot, and not a pause (docs/snapshots.md: a pause stops
 * the harts without claiming the exit). */
static bool guest_ended(const struct gdbstub *g)
{
    return atomic_load(&g->vm->stop) && atomic_load(&g->vm->exit_claimed) &&
           !atomic_load(&g->vm->reboot);
}

/* The guest ended (W: exited with a status; gdb manual, "Stop Reply Packets"). */
static void report_exit(struct gdbstub *g)
{
    if (g->conn_fd < 0)
        return;
    gdb_reply(g, "W%02x", g->vm->exit_status & 0xff);
    send_packet(g, g->reply, g->rlen);
    close(g->conn_fd);
    g->conn_fd = -1;
    g->running = false;
}

static void *server_thread(void *arg)
{
    struct gdbstub *g = arg;
    uint8_t buf[4096];
    for (;;) { /* ends on quit, below */
        struct pollfd fds[2] = {{.fd = g->conn_fd >= 0 ? g->conn_fd : g->listen_fd, .events = POLLIN},
                                {.fd = g->wake_fd, .events = POLLIN}};
        int r = poll(fds, 2, 200);
        if (r < 0 && errno != EINTR)
            break;
        if (fds[1].revents & POLLIN) {
            uint64_t v;
            ssize_t n = read(g->wake_fd, &v, sizeof(v));
            (void)n;
        }
        if (atomic_load(&g->quit)) {
            /* kiln is ending: tell a debugger still attached how the guest ended. */
            if (guest_ended(g))
                report_exit(g);
            break;
        }
        if (g->conn_fd < 0) {
            if (fds[0].revents & POLLIN) {
                int fd = accept4(g->listen_fd, NULL, NULL, SOCK_CLOEXEC);
                if (fd >= 0)
                    on_connect(g, fd);
            }
            continue;
        }
        if (guest_ended(g)) {
            report_exit(g);
            continue;
        }
        if (g->running) {
            pthread_mutex_lock(&g->lock);
            bool rep = g->reported;
            pthread_mutex_unlock(&g->lock);
            if (rep)
                finish_stop(g);
        }
        if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = recv(g->conn_fd, buf, sizeof(buf), 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                detach(g); /* gdb went away: the guest runs on */
                continue;
            }
            gdbstub_feed(g, buf, (size_t)n);
        }
    }
    return NULL;
}

/* ---- the harts' bus: the VM's, with the stub as context (for debug_halt) ---- */

static bool fw_mmio_read(void *ctx, uint64_t pa, unsigned size, uint64_t *val)
{
    struct gdbstub *g = ctx;
    return g->vm_ops->mmio_read(g->vm, pa, size, val);
}

static bool fw_mmio_write(void *ctx, uint64_t pa, unsigned size, uint64_t val)
{
    struct gdbstub *g = ctx;
    return g->vm_ops->mmio_write(g->vm, pa, size, val);
}

static uint64_t fw_time_now(void *ctx)
{
    struct gdbstub *g = ctx;
    return g->vm_ops->time_now(g->vm);
}

static void fw_request_exit(void *ctx, int status, const char *reason)
{
    struct gdbstub *g = ctx;
    g->vm_ops->request_exit(g->vm, status, reason);
}

static bool fw_user_trap(void *ctx, struct hart *h, uint64_t cause, uint64_t tval)
{
    struct gdbstub *g = ctx;
    return g->vm_ops->user_trap && g->vm_ops->user_trap(g->vm, h, cause, tval);
}

static void fw_poll(void *ctx, struct hart *h)
{
    struct gdbstub *g = ctx;
    if (g->vm_ops->poll)
        g->vm_ops->poll(g->vm, h);
}

/*
 * A watchpoint's trigger fired before an access of the instruction at h->pc (cpu/trigger.h):
 * stop every hart and park this one right here, mid-instruction, until gdb resumes or steps
 * it. The access does not happen; the hart runs the instruction again once resumed (gdb
 * first steps over it with the watchpoint removed).
 */
static void stub_debug_halt(void *ctx, struct hart *h)
{
    struct gdbstub *g = ctx;
    const struct gdb_watch *hit = NULL;
    for (unsigned k = 0; k < g->nwatch; k++)
        if (g->watches[k].trig[h->id] == (int)h->trig_hit - 1)
            hit = &g->watches[k];
    pthread_mutex_lock(&g->lock);
    if (!g->reported) {
        g->reported = true;
        g->stop_hart = h->id;
        g->stop_sig = SIG_TRAP;
        g->stop_watch = hit;
    }
    atomic_store(&g->hold, 1);
    pthread_mutex_unlock(&g->lock);
    kick_all(g);
    wake_server(g);
    pthread_mutex_lock(&g->lock);
    g->parked++;
    pthread_cond_broadcast(&g->cond);
    while (atomic_load(&g->hold) && !atomic_load(&g->vm->stop) && g->step_hart != (int)h->id)
        pthread_cond_wait(&g->cond, &g->lock);
    g->parked--;
    pthread_mutex_unlock(&g->lock);
}

static struct gdbstub *stub_alloc(struct vm *vm)
{
    struct gdbstub *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->vm = vm;
    g->bus = *vm_bus(vm);
    g->bus.stop = &g->hold;
    g->vm_ops = g->bus.ops;
    g->ops = (struct cpu_bus_ops){.mmio_read = fw_mmio_read, .mmio_write = fw_mmio_write,
                                  .time_now = fw_time_now, .request_exit = fw_request_exit,
                                  .user_trap = fw_user_trap, .poll = fw_poll,
                                  .debug_halt = stub_debug_halt};
    g->bus.ops = &g->ops;
    g->bus.ctx = g;
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->cond, NULL);
    g->step_hart = -1;
    g->c_hart = -1;
    g->listen_fd = g->conn_fd = g->wake_fd = -1;
    g->stop_sig = SIG_TRAP;
    gdb_rx_init(&g->rx);
    return g;
}

struct gdbstub *gdbstub_create_detached(struct vm *vm,
                                        void (*reply_cb)(void *ctx, const char *data, size_t len),
                                        void *ctx)
{
    struct gdbstub *g = stub_alloc(vm);
    if (!g)
        return NULL;
    g->detached = true;
    g->reply_cb = reply_cb;
    g->reply_ctx = ctx;
    return g;
}

struct gdbstub *gdbstub_start(struct vm *vm, int port, bool wait, char *err, size_t errlen)
{
    if (port <= 0 || port > 65535) {
        snprintf(err, errlen, "--gdb %d: the port must be 1-65535", port);
        return NULL;
    }
    struct gdbstub *g = stub_alloc(vm);
    if (!g) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    g->hold_at_start = wait;
    g->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (g->listen_fd < 0 || g->wake_fd < 0) {
        snprintf(err, errlen, "--gdb: cannot create a socket: %s", strerror(errno));
        goto fail;
    }
    int one = 1;
    setsockopt(g->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    /* Accepted sockets inherit it: every reply is one small packet that must not wait (Nagle). */
    setsockopt(g->listen_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(g->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(g->listen_fd, 1) < 0) {
        snprintf(err, errlen, "--gdb %d: cannot listen on 127.0.0.1:%d: %s", port, port, strerror(errno));
        goto fail;
    }
    int e = pthread_create(&g->thread, NULL, server_thread, g);
    if (e) {
        snprintf(err, errlen, "--gdb: cannot start the stub's thread: %s", strerror(e));
        goto fail;
    }
    g->thread_started = true;
    fprintf(stderr, "kiln: gdb: listening on 127.0.0.1:%d%s\n", port,
            wait ? " (the harts wait for gdb to continue them)" : "");
    return g;
fail:
    gdbstub_stop(g);
    return NULL;
}

void gdbstub_stop(struct gdbstub *g)
{
    if (!g)
        return;
    atomic_store(&g->quit, true);
    wake_server(g);
    if (g->thread_started)
        pthread_join(g->thread, NULL);
    if (g->conn_fd >= 0)
        close(g->conn_fd);
    if (g->listen_fd >= 0)
        close(g->listen_fd);
    if (g->wake_fd >= 0)
        close(g->wake_fd);
    pthread_cond_destroy(&g->cond);
    pthread_mutex_destroy(&g->lock);
    free(g);
}
