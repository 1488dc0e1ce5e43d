/*
 * `kiln run --rootfs` (docs/rootfs.md): one program in a host directory, as a system VM.
 *
 * The program's spec (argv, environment, working directory, uid/gid) travels as a file
 * in a small cpio archive appended to the default initramfs, so no byte of it passes
 * through the kernel command line; that only says kiln.rootfs=TAG, which makes the
 * guest's /init exec /sbin/kiln-rootfs (guest/kiln-rootfs.c). The rootfs is the 9p share
 * TAG. The program's stdio travel in frames over the virtio console (hvc0): the UART
 * keeps the firmware banner and kernel log, which kiln discards (or shows on stderr with
 * -v), so stdout carries the program's bytes and nothing else, stderr stays apart and the
 * end of stdin reaches the program as an end of file.
 */
#define _GNU_SOURCE
#include "cli/run_rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cli/cli.h"
#include "machine/board.h"
#include "util/log.h"

#define SPEC_MAGIC "kiln-spec-1"
#define FRAME_MAX 4096 /* payload bytes per frame, as guest/kiln-rootfs.c */
#define STATUS_SETUP 125
#define DEFAULT_APPEND "console=ttyS0 quiet"
#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

void run_rootfs_init(struct run_rootfs *r)
{
    memset(r, 0, sizeof(*r));
    r->null_fd = -1;
    r->to_guest[0] = r->to_guest[1] = r->from_guest[0] = r->from_guest[1] = -1;
    r->uart[0] = r->uart[1] = -1;
    r->winch_fd = -1;
    r->status = -1;
}

/* "UID[:GID]", each 0..2^32-2; GID defaults to 0 (root's group), as `docker run --user UID`. */
static int parse_ids(const char *s, unsigned *uid, unsigned *gid)
{
    char buf[64];
    unsigned long long u, g = 0;
    if (strlen(s) >= sizeof(buf))
        return -1;
    strcpy(buf, s);
    char *colon = strchr(buf, ':');
    if (colon)
        *colon = 0;
    if (cli_parse_uint(buf, 0, 0xfffffffeu, &u) || (colon && cli_parse_uint(colon + 1, 0, 0xfffffffeu, &g)))
        return -1;
    *uid = (unsigned)u;
    *gid = (unsigned)g;
    return 0;
}

int run_rootfs_option(struct run_rootfs *r, int opt, const char *arg)
{
    switch (opt) {
    case OPT_ROOTFS: {
        size_t n = strlen(arg);
        r->dir = arg;
        r->given = true;
        /* HOST_DIR[:ro]: the directory itself may contain ':' (as --share). */
        if (n > 3 && !strcmp(arg + n - 3, ":ro")) {
            char *d = strndup(arg, n - 3);
            if (!d)
                return 2;
            r->dir = d;
            r->readonly = true;
        }
        if (!*r->dir) {
            fprintf(stderr, "kiln: --rootfs needs a directory\n");
            return 2;
        }
        return 0;
    }
    case OPT_WORKDIR:
        if (arg[0] != '/') {
            fprintf(stderr, "kiln: --workdir '%s': must be an absolute path in the rootfs\n", arg);
            return 2;
        }
        r->workdir = arg;
        return 0;
    case OPT_ENV: {
        const char *eq = strchr(arg, '=');
        if (!eq || eq == arg) {
            fprintf(stderr, "kiln: --env '%s': expected NAME=VALUE\n", arg);
            return 2;
        }
        if (r->nenv >= RUN_ROOTFS_MAX_ENV) {
            fprintf(stderr, "kiln: at most %d --env options\n", RUN_ROOTFS_MAX_ENV);
            return 2;
        }
        r->env[r->nenv++] = arg;
        return 0;
    }
    case OPT_UID:
        if (parse_ids(arg, &r->uid, &r->gid)) {
            fprintf(stderr, "kiln: --uid '%s': expected UID[:GID] (numbers)\n", arg);
            return 2;
        }
        r->ids_given = true;
        return 0;
    case OPT_TTY:
        r->tty = true;
        return 0;
    }
    return 2;
}

/* ---- the spec and its archive ---- */

struct buf {
    uint8_t *p;
    size_t len, cap;
    bool oom;
};

static void buf_add(struct buf *b, const void *data, size_t len)
{
    if (b->oom || !len) /* memcpy's source must not be NULL, even for 0 bytes */
        return;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + len)
            cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, len);
    b->len += len;
}

/* One NUL-terminated "key=value" record (the value may hold any byte but NUL). */
static void spec_rec(struct buf *b, const char *key, const char *val)
{
    buf_add(b, key, strlen(key));
    buf_add(b, "=", 1);
    buf_add(b, val, strlen(val) + 1);
}

static bool env_given(const struct run_rootfs *r, const char *name)
{
    size_t n = strlen(name);
    for (unsigned i = 0; i < r->nenv; i++)
        if (!strncmp(r->env[i], name, n) && r->env[i][n] == '=')
            return true;
    return false;
}

static void spec_build(const struct run_rootfs *r, struct buf *b)
{
    char num[32];
    buf_add(b, SPEC_MAGIC, sizeof(SPEC_MAGIC));
    spec_rec(b, "tag", RUN_ROOTFS_TAG);
    spec_rec(b, "ro", r->readonly ? "1" : "0");
    spec_rec(b, "tty", r->tty ? "1" : "0");
    spec_rec(b, "cwd", r->workdir ? r->workdir : "/");
    snprintf(num, sizeof(num), "%u", r->uid);
    spec_rec(b, "uid", num);
    snprintf(num, sizeof(num), "%u", r->gid);
    spec_rec(b, "gid", num);
    /* A clean environment as a container engine's: PATH, HOME and, on a terminal, TERM,
     * each unless --env gives it. */
    if (!env_given(r, "PATH"))
        spec_rec(b, "env", DEFAULT_PATH);
    if (!env_given(r, "HOME"))
        spec_rec(b, "env", r->uid ? "HOME=/" : "HOME=/root");
    if (r->tty && !env_given(r, "TERM"))
        spec_rec(b, "env", "TERM=xterm");
    for (unsigned i = 0; i < r->nenv; i++)
        spec_rec(b, "env", r->env[i]);
    for (char *const *a = r->argv; *a; a++)
        spec_rec(b, "arg", *a);
}

static void pad4(struct buf *b)
{
    static const uint8_t zero[4];
    buf_add(b, zero, (4 - (b->len & 3)) & 3);
}

/* One "newc" entry (Documentation/driver-api/early-userspace/buffer-format.rst). */
static void cpio_entry(struct buf *b, unsigned ino, const char *name, unsigned mode,
                       const void *data, size_t len)
{
    char hdr[111];
    snprintf(hdr, sizeof(hdr), "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
             ino, mode, 0u, 0u, 1u, 0u, (unsigned)len, 0u, 0u, 0u, 0u, (unsigned)strlen(name) + 1, 0u);
    buf_add(b, hdr, 110);
    buf_add(b, name, strlen(name) + 1);
    pad4(b);
    buf_add(b, data, len);
    pad4(b);
}

static int archive_build(struct run_rootfs *r)
{
    struct buf spec = {0}, a = {0};
    spec_build(r, &spec);
    if (spec.oom || spec.len > 0x7fffffff) {
        free(spec.p);
        fprintf(stderr, "kiln: --rootfs: the command and environment are too large\n");
        return -1;
    }
    cpio_entry(&a, 1, "kiln", 040755, NULL, 0);
    cpio_entry(&a, 2, "kiln/spec", 0100400, spec.p, spec.len);
    cpio_entry(&a, 0, "TRAILER!!!", 0, NULL, 0);
    free(spec.p);
    if (a.oom) {
        free(a.p);
        fprintf(stderr, "kiln: out of memory\n");
        return -1;
    }
    r->cpio = a.p;
    r->cpio_len = a.len;
    return 0;
}

int run_rootfs_prepare(struct run_rootfs *r, struct board_config *cfg, int argc, char **argv,
                       int first, bool append_given)
{
    if (first >= argc) {
        fprintf(stderr, "kiln run: --rootfs needs a command: kiln run --rootfs DIR -- CMD [ARGS...]\n");
        return 2;
    }
    r->argv = argv + first;
    /* A closed stdin, stdout or stderr becomes /dev/null first, so no descriptor opened
     * below takes its number and receives the program's output. */
    for (int fd = 0; fd <= 2; fd++)
        if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd) {
            fprintf(stderr, "kiln: cannot open /dev/null: %s\n", strerror(errno));
            return 1;
        }
    if (cfg->hvc_out) {
        fprintf(stderr, "kiln: --hvc-out and --rootfs: the virtio console carries the program's stdio\n");
        return 2;
    }
    struct stat st;
    if (stat(r->dir, &st)) {
        fprintf(stderr, "kiln: --rootfs %s: %s\n", r->dir, strerror(errno));
        return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "kiln: --rootfs %s: not a directory\n", r->dir);
        return 1;
    }
    if (cfg->nshares >= BOARD_MAX_SHARES) {
        fprintf(stderr, "kiln: --rootfs takes one of the %d shares: at most %d --share options with it\n",
                BOARD_MAX_SHARES, BOARD_MAX_SHARES - 1);
        return 2;
    }
    for (unsigned i = 0; i < cfg->nshares; i++)
        if (!strcmp(cfg->shares[i].tag, RUN_ROOTFS_TAG)) {
            fprintf(stderr, "kiln: --share tag %s is --rootfs's own\n", RUN_ROOTFS_TAG);
            return 2;
        }
    struct board_share *sh = &cfg->shares[cfg->nshares];
    if (strlen(r->dir) >= sizeof(sh->dir)) {
        fprintf(stderr, "kiln: --rootfs %s: path too long\n", r->dir);
        return 2;
    }
    strcpy(sh->dir, r->dir);
    strcpy(sh->tag, RUN_ROOTFS_TAG);
    sh->readonly = r->readonly;
    cfg->nshares++;

    if (archive_build(r) < 0)
        return 1;
    cfg->initrd_extra = r->cpio;
    cfg->initrd_extra_len = r->cpio_len;
    snprintf(r->append, sizeof(r->append), "%s kiln.rootfs=%s",
             append_given && cfg->append ? cfg->append : DEFAULT_APPEND, RUN_ROOTFS_TAG);
    cfg->append = r->append;

    /* The UART: no input; its output (OpenSBI's banner, the kernel log) goes through the
     * relay, which shows it only with -v and watches it for an /init that ignored --rootfs. */
    r->null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (r->null_fd < 0 || pipe2(r->to_guest, O_CLOEXEC) || pipe2(r->from_guest, O_CLOEXEC) ||
        pipe2(r->uart, O_CLOEXEC)) {
        fprintf(stderr, "kiln: %s\n", strerror(errno));
        return 1;
    }
    /* The relay never blocks on the guest: stdin waits in its buffer until the pipe has room. */
    fcntl(r->to_guest[1], F_SETFL, O_NONBLOCK);
    cfg->console_in = r->null_fd;
    cfg->console_out = r->uart[1];
    cfg->hvc_fds = true;
    cfg->hvc_in = r->to_guest[0];
    cfg->hvc_out_fd = r->from_guest[1];
    cfg->hvc_out = NULL;
    /* SIGTERM to kiln: SysRq e, SIGTERM to every process but PID 1, which then reports the
     * program's status and powers off (or kiln stops the VM after its grace period, 143). */
    cfg->powerdown_keys = "e";
    return 0;
}

/* ---- the stdio relay ---- */

static void write_all(int fd, const uint8_t *p, size_t len)
{
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* a reader that went away loses the rest, the program goes on */
        p += w;
        len -= (size_t)w;
    }
}

struct relay {
    struct run_rootfs *r;
    size_t banner; /* bytes of STALE_BANNER matched so far on the UART */
    uint8_t rx[3 + FRAME_MAX];
    size_t rxlen;
    uint8_t tx[3 + FRAME_MAX];
    size_t txoff, txlen;
    bool hello, in_open, winch, broken;
};

static void tx_frame(struct relay *s, char type, const void *data, size_t len)
{
    s->tx[0] = (uint8_t)type;
    s->tx[1] = (uint8_t)(len & 0xff);
    s->tx[2] = (uint8_t)(len >> 8);
    if (len)
        memcpy(s->tx + 3, data, len);
    s->txoff = 0;
    s->txlen = 3 + len;
}

static void relay_winsize(struct relay *s)
{
    struct winsize ws;
    s->winch = false;
    if (s->r->tty && (!ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) || !ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws)) &&
        ws.ws_row && ws.ws_col) {
        uint8_t p[4] = {(uint8_t)ws.ws_row, (uint8_t)(ws.ws_row >> 8), (uint8_t)ws.ws_col,
                        (uint8_t)(ws.ws_col >> 8)};
        tx_frame(s, 'W', p, 4);
    }
}

/* Frames from the guest. false once its side is closed or out of step. */
static bool relay_rx(struct relay *s)
{
    ssize_t n = read(s->r->from_guest[0], s->rx + s->rxlen, sizeof(s->rx) - s->rxlen);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (n <= 0)
        return false;
    s->rxlen += (size_t)n;
    while (s->rxlen >= 3) {
        size_t len = s->rx[1] | (size_t)s->rx[2] << 8;
        if (len > FRAME_MAX) {
            /* Out of step: say so once and drop the rest, but keep draining, or the
             * virtio console would block on a full pipe and never let the VM end. */
            if (!s->broken)
                log_err("rootfs", "malformed frame from the guest; dropping its output");
            s->broken = true;
        }
        if (s->broken) {
            s->rxlen = 0;
            break;
        }
        if (s->rxlen < 3 + len)
            break;
        const uint8_t *p = s->rx + 3;
        switch (s->rx[0]) {
        case 'H':
            s->hello = true;
            relay_winsize(s);
            break;
        case 'O': write_all(STDOUT_FILENO, p, len); break;
        case 'E': write_all(STDERR_FILENO, p, len); break;
        case 'X':
            if (len == 1)
                s->r->status = p[0];
            break;
        default: break; /* an unknown frame: a newer guest, skip it */
        }
        memmove(s->rx, s->rx + 3 + len, s->rxlen - 3 - len);
        s->rxlen -= 3 + len;
    }
    return true;
}

static void relay_stdin(struct relay *s)
{
    uint8_t buf[FRAME_MAX];
    ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n > 0) {
        tx_frame(s, 'I', buf, (size_t)n);
        return;
    }
    tx_frame(s, 'C', NULL, 0); /* end of input (or an unreadable stdin): the program sees EOF */
    s->in_open = false;
}

/*
 * The UART's bytes: shown with -v, else dropped. A guest whose /init predates --rootfs
 * prints the normal mode's "kiln-init: ready" and starts a shell nobody talks to: stop
 * the VM at once (SIGINT, which the board takes) instead of waiting forever.
 */
static void relay_uart(struct relay *s)
{
    static const char banner[] = "kiln-init: ready";
    uint8_t buf[4096];
    ssize_t n = read(s->r->uart[0], buf, sizeof(buf));
    if (n <= 0)
        return;
    if (log_verbose)
        write_all(STDERR_FILENO, buf, (size_t)n);
    for (ssize_t i = 0; i < n && !s->r->stale_guest; i++) {
        /* The banner's first letter occurs in it only once: a mismatch restarts at 0 or 1. */
        s->banner = buf[i] == (uint8_t)banner[s->banner] ? s->banner + 1 : buf[i] == 'k';
        if (s->banner == sizeof(banner) - 1) {
            s->r->stale_guest = true;
            /* To the thread that reads the board's signalfd; the jail allows only tgkill on
             * kiln itself (src/jail/seccomp.c). */
            syscall(SYS_tgkill, getpid(), s->r->main_tid, SIGINT);
        }
    }
}

static void *relay_main(void *arg)
{
    struct relay *s = arg;
    struct run_rootfs *r = s->r;
    for (;;) {
        bool want_in = s->hello && s->in_open && !s->txlen;
        struct pollfd p[5] = {
            {.fd = r->from_guest[0], .events = POLLIN},
            {.fd = want_in ? STDIN_FILENO : -1, .events = POLLIN},
            {.fd = s->txlen ? r->to_guest[1] : -1, .events = POLLOUT},
            {.fd = r->uart[0], .events = POLLIN},
            {.fd = r->winch_fd, .events = POLLIN},
        };
        if (poll(p, 5, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[4].revents) {
            struct signalfd_siginfo si;
            while (read(r->winch_fd, &si, sizeof(si)) > 0)
                ;
            s->winch = true;
        }
        if (s->winch && s->hello && !s->txlen)
            relay_winsize(s);
        if (p[3].revents & POLLIN)
            relay_uart(s);
        else if (p[3].revents) /* kiln closed it: the run is over */
            r->uart[0] = -1 - r->uart[0]; /* poll ignores it from now on; finish restores it */
        if (p[0].revents && !relay_rx(s))
            break;
        if (p[1].revents)
            relay_stdin(s);
        if (p[2].revents & (POLLERR | POLLHUP | POLLNVAL)) {
            s->txlen = 0;
            s->in_open = false;
        } else if (p[2].revents) {
            ssize_t w = write(r->to_guest[1], s->tx + s->txoff, s->txlen - s->txoff);
            if (w > 0 && (s->txoff += (size_t)w) == s->txlen)
                s->txlen = s->txoff = 0;
        }
    }
    free(s);
    return NULL;
}

int run_rootfs_start(struct run_rootfs *r)
{
    struct relay *s = calloc(1, sizeof(*s));
    if (!s) {
        fprintf(stderr, "kiln: out of memory\n");
        return 1;
    }
    s->r = r;
    s->in_open = true;
    r->main_tid = (pid_t)syscall(SYS_gettid); /* board_run() runs here */
    /* Raw only now, when nothing can fail before run_rootfs_finish() restores it. */
    if (r->tty && isatty(STDIN_FILENO) && !tcgetattr(STDIN_FILENO, &r->saved)) {
        struct termios t = r->saved;
        cfmakeraw(&t);
        if (!tcsetattr(STDIN_FILENO, TCSANOW, &t))
            r->raw = true;
    }
    /* A resized terminal: SIGWINCH stays pending (blocked here, so in the harts started
     * from this thread too) for the relay's signalfd. */
    if (r->raw) {
        sigset_t w;
        sigemptyset(&w);
        sigaddset(&w, SIGWINCH);
        pthread_sigmask(SIG_BLOCK, &w, NULL);
        r->winch_fd = signalfd(-1, &w, SFD_CLOEXEC | SFD_NONBLOCK);
    }
    /* Signals stay with the board's signalfd: the relay thread takes none. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int e = pthread_create(&r->thread, NULL, relay_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e) {
        free(s);
        if (r->raw)
            tcsetattr(STDIN_FILENO, TCSANOW, &r->saved);
        fprintf(stderr, "kiln: cannot start the stdio relay: %s\n", strerror(e));
        return 1;
    }
    r->thread_started = true;
    return 0;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

int run_rootfs_finish(struct run_rootfs *r, int board_status)
{
    /* The board closed its copies: the guest side of the relay now ends, after what the
     * program wrote last. */
    close_fd(&r->from_guest[1]);
    close_fd(&r->to_guest[0]);
    close_fd(&r->uart[1]);
    if (r->thread_started)
        pthread_join(r->thread, NULL);
    if (r->uart[0] < -1)
        r->uart[0] = -1 - r->uart[0];
    close_fd(&r->uart[0]);
    close_fd(&r->from_guest[0]);
    close_fd(&r->to_guest[1]);
    close_fd(&r->null_fd);
    close_fd(&r->winch_fd);
    if (r->raw)
        tcsetattr(STDIN_FILENO, TCSANOW, &r->saved);
    free(r->cpio);
    r->cpio = NULL;
    if (r->stale_guest) {
        fprintf(stderr, "kiln: --rootfs: this guest's /init does not know --rootfs (it started a "
                        "login shell); rebuild the default guest with 'make guest'\n");
        return STATUS_SETUP;
    }
    if (board_status != 0)
        return board_status; /* kiln said why: a kernel panic, a signal, a failure */
    if (r->status >= 0)
        return r->status;
    fprintf(stderr, "kiln: the guest powered off without the program's exit status (is the "
                    "default guest built from this tree's guest/? run 'make guest')\n");
    return STATUS_SETUP;
}
