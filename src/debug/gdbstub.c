/*
 * The GDB stub: connection handling, hart control (all-stop) and the command packets of gdb's
 * remote protocol (gdb manual, "Remote Protocol": "Packets", "Stop Reply Packets",
 * "General Query Packets"). Framing is in gdb_pkt.c, registers and memory in gdb_target.c.
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
#include <stdarg.h>
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
#include "machine/vm.h"
#include "util/log.h"

#define GDB_MAX_BPS 64
#define SIG_INT 2  /* gdb's signal numbers (include/gdb/signals.def) */
#define SIG_TRAP 5
/* The largest m/M/X transfer: its hex form must fit in one packet. */
#define GDB_MEM_MAX (GDB_PKT_MAX / 2 - 32)

enum action { ACT_NONE, ACT_CONTINUE, ACT_STEP, ACT_DETACH, ACT_KILL };

struct gdbstub {
    struct vm *vm;
    struct cpu_bus bus;
    atomic_int hold; /* the harts' stop flag: raised while the debugger holds them */

    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned parked;  /* hart threads waiting in gdbstub_hart_run */
    int step_hart;    /* a hart to move by one instruction while the others stay parked; -1 */
    bool reported;    /* a stop was reported since the last resume */
    unsigned stop_hart;
    int stop_sig;
    bool hold_at_start; /* --gdb-wait: the first run starts held */

    /* Changed only while every hart is parked; read by running harts. */
    uint64_t bps[GDB_MAX_BPS];
    unsigned nbps;

    int listen_fd, conn_fd, wake_fd;
    pthread_t thread;
    bool thread_started;
    atomic_bool quit;
    bool running; /* the harts were resumed: a stop reply is owed */
    bool noack;
    unsigned g_hart; /* Hg: registers and memory */
    int c_hart;      /* Hc: which hart 's' steps; -1 = g_hart */

    bool detached; /* no socket, no thread (tests, fuzzing) */
    void (*reply_cb)(void *ctx, const char *data, size_t len); /* detached mode, may be NULL */
    void *reply_ctx;

    struct gdb_rx rx;
    char reply[GDB_PKT_MAX + 1];
    size_t rlen;
    char out[2 * GDB_PKT_MAX + 8]; /* the last framed packet, resent on '-' */
    size_t outlen;
};

const struct cpu_bus *gdbstub_bus(struct gdbstub *g)
{
    return &g->bus;
}

static unsigned nharts(const struct gdbstub *g)
{
    return g->vm->nharts;
}

static void kick_all(struct gdbstub *g)
{
    for (unsigned i = 0; i < nharts(g); i++)
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
 * compared before each; without, at full speed through hart_run().
 */
static void run_free(struct gdbstub *g, struct hart *h)
{
    if (!g->nbps) {
        hart_run(h);
        return;
    }
    const struct cpu_bus *bus = h->bus;
    while (!atomic_load_explicit(&g->hold, memory_order_relaxed)) {
        if (bp_at(g, h->pc)) {
            report_stop(g, h, SIG_TRAP);
            return;
        }
        if (bus->ops->poll)
            bus->ops->poll(bus->ctx, h);
        hart_step(h, 1);
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
            hart_step(h, 1);
            if (h->bus->ops->poll)
                h->bus->ops->poll(h->bus->ctx, h);
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
        all = g->parked >= nharts(g) && g->step_hart < 0;
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
    atomic_store(&g->hold, 0);
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

static void step_one(struct gdbstub *g, unsigned hart)
{
    pthread_mutex_lock(&g->lock);
    g->reported = false;
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

static void reply(struct gdbstub *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply(struct gdbstub *g, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(g->reply, sizeof(g->reply), fmt, ap);
    va_end(ap);
    g->rlen = n < 0 ? 0 : (size_t)n >= sizeof(g->reply) ? sizeof(g->reply) - 1 : (size_t)n;
}

static void reply_err(struct gdbstub *g, int e)
{
    reply(g, "E%02x", e & 0xff);
}

static void reply_stop(struct gdbstub *g)
{
    reply(g, "T%02xthread:%x;", g->stop_sig, g->stop_hart + 1);
}

/* ---- packets ---- */

static struct hart *cur_hart(struct gdbstub *g)
{
    unsigned n = nharts(g);
    if (!n)
        return NULL;
    return g->vm->harts[g->g_hart < n ? g->g_hart : 0];
}

/* A thread id: "-1" (all), "0" (any) or 1..n. -1: all/any; -2: invalid. Else the hart index. */
static int parse_tid(struct gdbstub *g, const char *p)
{
    if (p[0] == '-' && p[1] == '1' && p[2] == 0)
        return -1;
    uint64_t v;
    if (!gdb_parse_hex(&p, &v) || *p)
        return -2;
    if (v == 0)
        return -1;
    if (v > nharts(g))
        return -2;
    return (int)(v - 1);
}

static void cmd_read_regs(struct gdbstub *g, struct hart *h)
{
    size_t o = 0;
    for (unsigned r = 0; r < GDB_NUM_GREGS; r++) {
        uint8_t b[8];
        unsigned size;
        gdb_reg_read(h, r, b, &size);
        gdb_hex_encode(b, size, g->reply + o);
        o += 2 * size;
    }
    g->rlen = o;
}

static void cmd_write_regs(struct gdbstub *g, struct hart *h, const char *p)
{
    size_t len = strlen(p);
    for (unsigned r = 0; r < GDB_NUM_GREGS && len >= 16; r++, p += 16, len -= 16) {
        uint8_t b[8];
        if (!gdb_hex_decode(p, 16, b, 8)) {
            reply_err(g, EINVAL);
            return;
        }
        gdb_reg_write(h, r, b, 8);
    }
    reply(g, "OK");
}

static void cmd_read_reg(struct gdbstub *g, struct hart *h, const char *p)
{
    uint64_t r;
    if (!gdb_parse_hex(&p, &r) || *p || r > 0xffff) {
        reply_err(g, EINVAL);
        return;
    }
    uint8_t b[8];
    unsigned size;
    int e = gdb_reg_read(h, (unsigned)r, b, &size);
    if (e == -EIO) { /* "unavailable" (gdb manual, 'p' packet): x for every digit */
        memset(g->reply, 'x', 2 * size);
        g->rlen = 2 * size;
    } else if (e) {
        reply_err(g, -e);
    } else {
        gdb_hex_encode(b, size, g->reply);
        g->rlen = 2 * size;
    }
}

static void cmd_write_reg(struct gdbstub *g, struct hart *h, const char *p)
{
    uint64_t r;
    uint8_t b[8];
    if (!gdb_parse_hex(&p, &r) || *p != '=' || r > 0xffff) {
        reply_err(g, EINVAL);
        return;
    }
    p++;
    size_t len = strlen(p) / 2;
    if (len == 0 || len > 8 || !gdb_hex_decode(p, strlen(p), b, len)) {
        reply_err(g, EINVAL);
        return;
    }
    int e = gdb_reg_write(h, (unsigned)r, b, len);
    if (e)
        reply_err(g, -e);
    else
        reply(g, "OK");
}

/* "ADDR,LEN" then the expected terminator (':' or 0). */
static bool parse_addr_len(const char **p, uint64_t *addr, uint64_t *len, char end)
{
    if (!gdb_parse_hex(p, addr) || **p != ',')
        return false;
    (*p)++;
    if (!gdb_parse_hex(p, len) || **p != end)
        return false;
    if (end)
        (*p)++;
    return true;
}

/* Code written by the debugger must not run from stale decodes or translations: the same
 * invalidation as FENCE.I (docs/jit.md), on every hart (all parked). */
static void code_written(struct gdbstub *g)
{
    for (unsigned i = 0; i < nharts(g); i++)
        hart_code_flush(g->vm->harts[i]);
}

static void cmd_read_mem(struct gdbstub *g, struct hart *h, const char *p)
{
    uint64_t addr, len;
    static uint8_t buf[GDB_MEM_MAX]; /* only the server thread (or the detached caller) */
    if (!parse_addr_len(&p, &addr, &len, 0)) {
        reply_err(g, EINVAL);
        return;
    }
    if (len > GDB_MEM_MAX)
        len = GDB_MEM_MAX; /* a short reply is allowed: gdb asks again for the rest */
    if (gdb_mem_read(h, addr, buf, len)) {
        reply_err(g, EFAULT);
        return;
    }
    gdb_hex_encode(buf, len, g->reply);
    g->rlen = 2 * len;
}

static void cmd_write_mem(struct gdbstub *g, struct hart *h, const char *p, size_t plen,
                          bool binary)
{
    uint64_t addr, len;
    static uint8_t buf[GDB_PKT_MAX];
    const char *start = p;
    if (!parse_addr_len(&p, &addr, &len, ':') || len > sizeof(buf)) {
        reply_err(g, EINVAL);
        return;
    }
    size_t rest = plen - (size_t)(p - start);
    if (binary) {
        long n = gdb_bin_decode(p, rest, buf, sizeof(buf));
        if (n < 0 || (uint64_t)n != len) {
            reply_err(g, EINVAL);
            return;
        }
    } else if (!gdb_hex_decode(p, rest, buf, len)) {
        reply_err(g, EINVAL);
        return;
    }
    if (len && gdb_mem_write(h, addr, buf, len)) {
        reply_err(g, EFAULT);
        return;
    }
    if (len)
        code_written(g);
    reply(g, "OK");
}

/* Z0/Z1 (software and hardware breakpoints) are both pc compares; Z2-Z4 (watchpoints) are
 * left to gdb's software watchpoints (single-stepping) until the trigger module is wired. */
static void cmd_breakpoint(struct gdbstub *g, const char *p, bool insert)
{
    uint64_t type, addr, kind;
    if (!gdb_parse_hex(&p, &type) || *p++ != ',' || !gdb_parse_hex(&p, &addr) || *p++ != ',' ||
        !gdb_parse_hex(&p, &kind)) {
        reply_err(g, EINVAL);
        return;
    }
    if (type > 1) {
        g->rlen = 0; /* unsupported */
        return;
    }
    for (unsigned i = 0; i < g->nbps; i++) {
        if (g->bps[i] == addr) {
            if (!insert)
                g->bps[i] = g->bps[--g->nbps];
            reply(g, "OK");
            return;
        }
    }
    if (insert) {
        if (g->nbps >= GDB_MAX_BPS) {
            reply_err(g, ENOSPC);
            return;
        }
        g->bps[g->nbps++] = addr;
    }
    reply(g, "OK");
}

static void cmd_xfer_features(struct gdbstub *g, const char *p)
{
    static const char annex[] = "target.xml:";
    if (strncmp(p, annex, sizeof(annex) - 1)) {
        reply_err(g, ENOENT);
        return;
    }
    p += sizeof(annex) - 1;
    uint64_t off, len;
    if (!parse_addr_len(&p, &off, &len, 0)) {
        reply_err(g, EINVAL);
        return;
    }
    const char *xml = gdb_target_xml();
    size_t total = strlen(xml);
    if (len > GDB_PKT_MAX / 2)
        len = GDB_PKT_MAX / 2;
    if (off >= total) {
        reply(g, "l");
        return;
    }
    size_t n = total - off < len ? total - off : len;
    g->reply[0] = off + n >= total ? 'l' : 'm';
    memcpy(g->reply + 1, xml + off, n);
    g->rlen = n + 1;
}

/* vCont;ACTION[:TID];... (gdb manual, "Packets", vCont): all-stop, so one step or a continue. */
static enum action cmd_vcont(struct gdbstub *g, const char *p, unsigned *step_hart)
{
    bool cont = false;
    while (*p == ';') {
        p++;
        char a = *p++;
        if (a == 'C' || a == 'S') { /* the signal is not delivered: a hart has no signals */
            uint64_t sig;
            if (!gdb_parse_hex(&p, &sig))
                return ACT_NONE;
        }
        int tid = -1;
        if (*p == ':') {
            p++;
            char tbuf[24];
            size_t n = 0;
            while (*p && *p != ';' && n < sizeof(tbuf) - 1)
                tbuf[n++] = *p++;
            tbuf[n] = 0;
            tid = parse_tid(g, tbuf);
            if (tid == -2)
                return ACT_NONE;
        }
        if (a == 's' || a == 'S') {
            *step_hart = tid >= 0 ? (unsigned)tid : g->g_hart;
            return ACT_STEP;
        }
        if (a == 'c' || a == 'C')
            cont = true;
        else
            return ACT_NONE;
    }
    return cont ? ACT_CONTINUE : ACT_NONE;
}

/* Handles one packet, leaving the answer in g->reply (empty = "not supported"). */
static enum action handle_packet(struct gdbstub *g, const char *pkt, size_t len, unsigned *step_hart)
{
    struct hart *h = cur_hart(g);
    g->rlen = 0;
    if (!h)
        return ACT_NONE;
    *step_hart = g->c_hart >= 0 ? (unsigned)g->c_hart : g->g_hart;
    switch (pkt[0]) {
    case '?':
        reply_stop(g);
        return ACT_NONE;
    case 'g':
        cmd_read_regs(g, h);
        return ACT_NONE;
    case 'G':
        cmd_write_regs(g, h, pkt + 1);
        return ACT_NONE;
    case 'p':
        cmd_read_reg(g, h, pkt + 1);
        return ACT_NONE;
    case 'P':
        cmd_write_reg(g, h, pkt + 1);
        return ACT_NONE;
    case 'm':
        cmd_read_mem(g, h, pkt + 1);
        return ACT_NONE;
    case 'M':
        cmd_write_mem(g, h, pkt + 1, len - 1, false);
        return ACT_NONE;
    case 'X':
        cmd_write_mem(g, h, pkt + 1, len - 1, true);
        return ACT_NONE;
    case 'Z':
    case 'z':
        cmd_breakpoint(g, pkt + 1, pkt[0] == 'Z');
        return ACT_NONE;
    case 'c':
    case 's': {
        const char *p = pkt + 1;
        uint64_t addr;
        if (gdb_parse_hex(&p, &addr)) /* resume at addr */
            g->vm->harts[*step_hart < nharts(g) ? *step_hart : 0]->pc = addr;
        return pkt[0] == 'c' ? ACT_CONTINUE : ACT_STEP;
    }
    case 'C':
        return ACT_CONTINUE;
    case 'S':
        return ACT_STEP;
    case 'D':
        reply(g, "OK");
        return ACT_DETACH;
    case 'k':
        return ACT_KILL;
    case 'H': {
        if (len < 2)
            break;
        int t = parse_tid(g, pkt + 2);
        if (t == -2) {
            reply_err(g, ESRCH);
            return ACT_NONE;
        }
        if (pkt[1] == 'g')
            g->g_hart = t >= 0 ? (unsigned)t : g->g_hart;
        else if (pkt[1] == 'c')
            g->c_hart = t;
        reply(g, "OK");
        return ACT_NONE;
    }
    case 'T':
        if (parse_tid(g, pkt + 1) >= 0)
            reply(g, "OK");
        else
            reply_err(g, ESRCH);
        return ACT_NONE;
    case 'v':
        if (!strcmp(pkt, "vCont?")) {
            reply(g, "vCont;c;C;s;S");
        } else if (!strncmp(pkt, "vCont;", 6)) {
            enum action a = cmd_vcont(g, pkt + 5, step_hart);
            if (a == ACT_NONE)
                reply_err(g, EINVAL);
            return a;
        } else if (!strncmp(pkt, "vKill", 5)) {
            reply(g, "OK");
            return ACT_KILL;
        }
        return ACT_NONE;
    case 'q':
        if (!strncmp(pkt, "qSupported", 10)) {
            reply(g, "PacketSize=%x;qXfer:features:read+;QStartNoAckMode+;vContSupported+",
                  GDB_PKT_MAX);
        } else if (!strcmp(pkt, "qAttached")) {
            reply(g, "1");
        } else if (!strcmp(pkt, "qC")) {
            reply(g, "QC%x", g->g_hart + 1);
        } else if (!strcmp(pkt, "qfThreadInfo")) {
            size_t o = 0;
            g->reply[o++] = 'm';
            for (unsigned i = 0; i < nharts(g); i++)
                o += (size_t)snprintf(g->reply + o, sizeof(g->reply) - o, "%s%x", i ? "," : "", i + 1);
            g->rlen = o;
        } else if (!strcmp(pkt, "qsThreadInfo")) {
            reply(g, "l");
        } else if (!strncmp(pkt, "qThreadExtraInfo,", 17)) {
            int t = parse_tid(g, pkt + 17);
            if (t < 0) {
                reply_err(g, ESRCH);
            } else {
                char text[32];
                int n = snprintf(text, sizeof(text), "hart %d", t);
                gdb_hex_encode((const uint8_t *)text, (size_t)n, g->reply);
                g->rlen = 2 * (size_t)n;
            }
        } else if (!strncmp(pkt, "qXfer:features:read:", 20)) {
            cmd_xfer_features(g, pkt + 20);
        } else if (!strncmp(pkt, "qSymbol", 7)) {
            reply(g, "OK");
        }
        return ACT_NONE;
    case 'Q':
        if (!strcmp(pkt, "QStartNoAckMode")) {
            reply(g, "OK");
            g->noack = true; /* from the packet after this reply's ack (gdb manual, "Packet Acknowledgment") */
        }
        return ACT_NONE;
    default:
        break;
    }
    return ACT_NONE;
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
    } else if (wait_parked(g)) {
        g->nbps = 0;
        resume_all(g);
    }
}

static void do_action(struct gdbstub *g, enum action a, unsigned step_hart)
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
        step_one(g, step_hart < nharts(g) ? step_hart : 0);
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
        enum action a = handle_packet(g, g->rx.buf, g->rx.len, &step_hart);
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
    reply_stop(g);
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

/* The guest ended (W: exited with a status; gdb manual, "Stop Reply Packets"). */
static void report_exit(struct gdbstub *g)
{
    if (g->conn_fd < 0)
        return;
    reply(g, "W%02x", g->vm->exit_status & 0xff);
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
            if (atomic_load(&g->vm->stop))
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
        if (atomic_load(&g->vm->stop) && !atomic_load(&g->vm->reboot)) {
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

static struct gdbstub *stub_alloc(struct vm *vm)
{
    struct gdbstub *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->vm = vm;
    g->bus = *vm_bus(vm);
    g->bus.stop = &g->hold;
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
