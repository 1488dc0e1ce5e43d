/*
 * The GDB stub's command packets (gdb manual, "Remote Protocol": "Packets", "General Query
 * Packets", "Stop Reply Packets"). Every handler runs with all harts parked and writes its
 * answer into g->reply; lengths and numbers from the packet are range-checked here.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cpu/hart.h"
#include "cpu/trigger.h"
#include "debug/gdb_pkt.h"
#include "debug/gdb_target.h"
#include "debug/gdbstub_int.h"
#include "machine/vm.h"

void gdb_reply(struct gdbstub *g, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(g->reply, sizeof(g->reply), fmt, ap);
    va_end(ap);
    g->rlen = n < 0 ? 0 : (size_t)n >= sizeof(g->reply) ? sizeof(g->reply) - 1 : (size_t)n;
}

static void reply_err(struct gdbstub *g, int e)
{
    gdb_reply(g, "E%02x", e & 0xff);
}

void gdb_reply_stop(struct gdbstub *g)
{
    /* A watchpoint names itself (gdb manual, "Stop Reply Packets": watch/rwatch/awatch). */
    static const char *const names[] = {"", "", "watch", "rwatch", "awatch"};
    const struct gdb_watch *w = g->stop_watch;
    if (w)
        gdb_reply(g, "T%02x%s:%llx;thread:%x;", g->stop_sig, names[w->type],
                  (unsigned long long)w->addr, g->stop_hart + 1);
    else
        gdb_reply(g, "T%02xthread:%x;", g->stop_sig, g->stop_hart + 1);
}

/* Z2/Z3/Z4 kinds as the trigger module's match bits. */
static unsigned watch_kinds(unsigned type)
{
    return type == 2 ? TRIG_STORE : type == 3 ? TRIG_LOAD : TRIG_LOAD | TRIG_STORE;
}

static void watch_free(struct gdbstub *g, struct gdb_watch *w, unsigned nharts)
{
    for (unsigned i = 0; i < nharts; i++)
        if (w->trig[i] >= 0)
            trig_remove(g->vm->harts[i], watch_kinds(w->type), w->addr, w->len);
}

void gdb_watch_clear(struct gdbstub *g)
{
    for (unsigned k = 0; k < g->nwatch; k++)
        watch_free(g, &g->watches[k], gdb_nharts(g));
    g->nwatch = 0;
}

/*
 * Hardware watchpoints: one Sdtrig trigger with the debugger action on every hart
 * (cpu/trigger.h trig_insert), firing before the access; gdb then steps over the access
 * with the watchpoint removed (RISC-V watchpoints are "non-steppable") and compares values.
 */
static void cmd_watch(struct gdbstub *g, unsigned type, uint64_t addr, uint64_t len, bool insert)
{
    unsigned n = gdb_nharts(g);
    for (unsigned k = 0; k < g->nwatch; k++) {
        struct gdb_watch *w = &g->watches[k];
        if (w->type == type && w->addr == addr && w->len == len) {
            if (!insert) {
                watch_free(g, w, n);
                *w = g->watches[--g->nwatch];
            }
            gdb_reply(g, "OK");
            return;
        }
    }
    if (!insert) {
        gdb_reply(g, "OK");
        return;
    }
    /* The trigger matches a naturally aligned power-of-two range (napot). */
    if (g->nwatch >= GDB_MAX_WATCH || len == 0 || len > 4096 || (len & (len - 1)) || (addr & (len - 1))) {
        reply_err(g, ENOSPC);
        return;
    }
    struct gdb_watch *w = &g->watches[g->nwatch];
    *w = (struct gdb_watch){.type = type, .addr = addr, .len = len};
    for (unsigned i = 0; i < VM_MAX_HARTS; i++)
        w->trig[i] = -1;
    for (unsigned i = 0; i < n; i++) {
        w->trig[i] = trig_insert(g->vm->harts[i], watch_kinds(type), addr, len);
        if (w->trig[i] < 0) {
            watch_free(g, w, i);
            reply_err(g, ENOSPC);
            return;
        }
    }
    g->nwatch++;
    gdb_reply(g, "OK");
}

static struct hart *cur_hart(struct gdbstub *g)
{
    unsigned n = gdb_nharts(g);
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
    if (v > gdb_nharts(g))
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
    gdb_reply(g, "OK");
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
        gdb_reply(g, "OK");
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
    for (unsigned i = 0; i < gdb_nharts(g); i++)
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
    gdb_reply(g, "OK");
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
    if (type >= 2 && type <= 4) {
        cmd_watch(g, (unsigned)type, addr, kind, insert);
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
            gdb_reply(g, "OK");
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
    gdb_reply(g, "OK");
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
        gdb_reply(g, "l");
        return;
    }
    size_t n = total - off < len ? total - off : len;
    g->reply[0] = off + n >= total ? 'l' : 'm';
    memcpy(g->reply + 1, xml + off, n);
    g->rlen = n + 1;
}

/* vCont;ACTION[:TID];... (gdb manual, "Packets", vCont): all-stop, so one step or a continue. */
static enum gdb_action cmd_vcont(struct gdbstub *g, const char *p, unsigned *step_hart)
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
enum gdb_action gdb_cmd_handle(struct gdbstub *g, const char *pkt, size_t len, unsigned *step_hart)
{
    struct hart *h = cur_hart(g);
    g->rlen = 0;
    if (!h)
        return ACT_NONE;
    *step_hart = g->c_hart >= 0 ? (unsigned)g->c_hart : g->g_hart;
    switch (pkt[0]) {
    case '?':
        gdb_reply_stop(g);
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
            g->vm->harts[*step_hart < gdb_nharts(g) ? *step_hart : 0]->pc = addr;
        return pkt[0] == 'c' ? ACT_CONTINUE : ACT_STEP;
    }
    case 'C':
        return ACT_CONTINUE;
    case 'S':
        return ACT_STEP;
    case 'D':
        gdb_reply(g, "OK");
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
        gdb_reply(g, "OK");
        return ACT_NONE;
    }
    case 'T':
        if (parse_tid(g, pkt + 1) >= 0)
            gdb_reply(g, "OK");
        else
            reply_err(g, ESRCH);
        return ACT_NONE;
    case 'v':
        if (!strcmp(pkt, "vCont?")) {
            gdb_reply(g, "vCont;c;C;s;S");
        } else if (!strncmp(pkt, "vCont;", 6)) {
            enum gdb_action a = cmd_vcont(g, pkt + 5, step_hart);
            if (a == ACT_NONE)
                reply_err(g, EINVAL);
            return a;
        } else if (!strncmp(pkt, "vKill", 5)) {
            gdb_reply(g, "OK");
            return ACT_KILL;
        }
        return ACT_NONE;
    case 'q':
        if (!strncmp(pkt, "qSupported", 10)) {
            gdb_reply(g, "PacketSize=%x;qXfer:features:read+;QStartNoAckMode+;vContSupported+",
                  GDB_PKT_MAX);
        } else if (!strcmp(pkt, "qAttached")) {
            gdb_reply(g, "1");
        } else if (!strcmp(pkt, "qC")) {
            gdb_reply(g, "QC%x", g->g_hart + 1);
        } else if (!strcmp(pkt, "qfThreadInfo")) {
            size_t o = 0;
            g->reply[o++] = 'm';
            for (unsigned i = 0; i < gdb_nharts(g); i++)
                o += (size_t)snprintf(g->reply + o, sizeof(g->reply) - o, "%s%x", i ? "," : "", i + 1);
            g->rlen = o;
        } else if (!strcmp(pkt, "qsThreadInfo")) {
            gdb_reply(g, "l");
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
            gdb_reply(g, "OK");
        }
        return ACT_NONE;
    case 'Q':
        if (!strcmp(pkt, "QStartNoAckMode")) {
            gdb_reply(g, "OK");
            g->noack = true; /* from the packet after this reply's ack (gdb manual, "Packet Acknowledgment") */
        }
        return ACT_NONE;
    default:
        break;
    }
    return ACT_NONE;
}
