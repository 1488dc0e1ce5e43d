/*
 * kiln-rootfs: PID 1 of a `kiln run --rootfs` guest (docs/rootfs.md).
 *
 * /init execs it when the kernel command line says kiln.rootfs=TAG. It reads
 * the workload's spec from /kiln/spec (an archive kiln appends to the
 * initramfs), mounts the 9p share TAG as the new root with proc, sys, dev and
 * tmp inside, starts the program there (chroot, cwd, gid, uid, exact argv and
 * environment) and relays its stdio over /dev/hvc0 in frames until it exits.
 * The last frame carries the exit status; then the machine powers off.
 *
 * Frames, both ways: type (1 byte), payload length (2 bytes, little-endian),
 * payload (at most FRAME_MAX bytes).
 *   guest -> host: 'H' ready for input, 'O' stdout, 'E' stderr, 'X' status (1 byte)
 *   host -> guest: 'I' stdin, 'C' end of stdin, 'W' window rows, cols (le16 each)
 * The tty carrying them is raw, so every byte passes untouched; stdout and
 * stderr stay apart and the end of stdin is a frame, not a control character.
 *
 * Spec: "kiln-spec-1\0" then NUL-terminated records "KEY=VALUE": tag, ro,
 * tty, cwd, uid, gid, env (repeated, NAME=VALUE), arg (repeated, argv[0]
 * first). A record may hold any byte but NUL, as argv and environ do.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <stdbool.h>
#include <termios.h>
#include <unistd.h>

#define SPEC_PATH "/kiln/spec"
#define SPEC_MAGIC "kiln-spec-1"
#define NEWROOT "/newroot"
#define HVC "/dev/hvc0"
#define FRAME_MAX 4096
#define MAX_ITEMS 4096
#define STDIN_BUF 65536
#define STATUS_SETUP 125 /* kiln-rootfs itself failed (as docker run's 125) */

static int hvc = -1;

static void hvc_write(const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t w = write(hvc, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        len -= (size_t)w;
    }
}

/* One write per frame: the hvc driver passes each write on in buffers of a page. */
static void frame_send(char type, const void *data, size_t len)
{
    unsigned char f[3 + FRAME_MAX];
    while (1) {
        size_t n = len > FRAME_MAX ? FRAME_MAX : len;
        f[0] = (unsigned char)type;
        f[1] = (unsigned char)(n & 0xff);
        f[2] = (unsigned char)(n >> 8);
        if (n)
            memcpy(f + 3, data, n);
        hvc_write(f, 3 + n);
        data = (const char *)data + n;
        len -= n;
        if (!len)
            break;
    }
}

/* A message on the program's stderr channel, and on the (usually discarded) console. */
static void say(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof(msg) - 2)
        n = sizeof(msg) - 2;
    msg[n++] = '\n';
    if (hvc >= 0)
        frame_send('E', msg, (size_t)n);
    (void)!write(2, msg, (size_t)n);
}

static void power_off(int status)
{
    unsigned char s = (unsigned char)status;
    if (hvc >= 0) {
        frame_send('X', &s, 1);
        tcdrain(hvc);
    }
    sync();
    reboot(RB_POWER_OFF);
    for (;;)
        pause();
}

struct spec {
    const char *tag, *cwd;
    int ro, tty;
    unsigned uid, gid;
    char *env[MAX_ITEMS + 1], *argv[MAX_ITEMS + 1];
    int nenv, nargv;
};

static int spec_read(struct spec *s)
{
    int fd = open(SPEC_PATH, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) || st.st_size < (off_t)sizeof(SPEC_MAGIC)) {
        say("kiln: %s: %s", SPEC_PATH, fd < 0 ? strerror(errno) : "too short");
        return -1;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (buf && got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (!buf || got != (size_t)st.st_size || memcmp(buf, SPEC_MAGIC, sizeof(SPEC_MAGIC))) {
        say("kiln: %s: not a kiln spec", SPEC_PATH);
        return -1;
    }
    buf[got] = 0;
    memset(s, 0, sizeof(*s));
    s->cwd = "/";
    for (size_t off = sizeof(SPEC_MAGIC), len; off < got; off += len + 1) {
        char *rec = buf + off, *v = strchr(rec, '=');
        len = strlen(rec); /* before the '=' below cuts it */
        if (!v)
            continue;
        *v++ = 0;
        if (!strcmp(rec, "tag"))
            s->tag = v;
        else if (!strcmp(rec, "cwd"))
            s->cwd = v;
        else if (!strcmp(rec, "ro"))
            s->ro = atoi(v);
        else if (!strcmp(rec, "tty"))
            s->tty = atoi(v);
        else if (!strcmp(rec, "uid"))
            s->uid = (unsigned)strtoul(v, NULL, 10);
        else if (!strcmp(rec, "gid"))
            s->gid = (unsigned)strtoul(v, NULL, 10);
        else if (!strcmp(rec, "env") && s->nenv < MAX_ITEMS)
            s->env[s->nenv++] = v;
        else if (!strcmp(rec, "arg") && s->nargv < MAX_ITEMS)
            s->argv[s->nargv++] = v;
    }
    if (!s->tag || !s->nargv) {
        say("kiln: %s: no share tag or no command", SPEC_PATH);
        return -1;
    }
    return 0;
}

/* Mounts fs on NEWROOT/dir when the root has that directory: a missing one is left alone. */
static void mount_in(const char *dir, const char *src, const char *type, unsigned long fl, const char *opt)
{
    char path[256];
    struct stat st;
    snprintf(path, sizeof(path), NEWROOT "%s", dir);
    if (stat(path, &st) || !S_ISDIR(st.st_mode))
        return;
    if (mount(src, path, type, fl, opt))
        say("kiln: mount %s on %s: %s", type, dir, strerror(errno));
}

static int root_mount(const struct spec *s)
{
    mkdir(NEWROOT, 0755);
    /* cache=mmap: page cache only for mmap (shared writable maps work), every read and write
     * goes to the host at once, so host and guest agree on the files (Documentation/filesystems/9p.rst). */
    if (mount(s->tag, NEWROOT, "9p", s->ro ? MS_RDONLY : 0,
              "trans=virtio,version=9p2000.L,msize=262144,cache=mmap")) {
        say("kiln: cannot mount the root filesystem (9p share %s): %s", s->tag, strerror(errno));
        return -1;
    }
    unsigned long safe = MS_NOSUID | MS_NODEV | MS_NOEXEC;
    mount_in("/proc", "proc", "proc", safe, NULL);
    mount_in("/sys", "sysfs", "sysfs", safe | (s->ro ? MS_RDONLY : 0), NULL);
    mount_in("/dev", "devtmpfs", "devtmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755");
    mkdir(NEWROOT "/dev/pts", 0755);
    mount_in("/dev/pts", "devpts", "devpts", MS_NOSUID | MS_NOEXEC, "ptmxmode=0666,mode=0620");
    mkdir(NEWROOT "/dev/shm", 01777);
    mount_in("/dev/shm", "shm", "tmpfs", safe, "mode=1777");
    mount_in("/tmp", "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
    return 0;
}

/* The child: from here on, errors go to the program's own stderr. Never returns. */
static void child_run(const struct spec *s, int in, int out, int err, int tty)
{
    setsid();
    if (tty >= 0) {
        ioctl(tty, TIOCSCTTY, 0);
        in = out = err = tty;
    }
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
        _exit(STATUS_SETUP);
    for (int fd = 3; fd < 1024; fd++)
        close(fd);
    signal(SIGPIPE, SIG_DFL);
    if (chroot(NEWROOT) || chdir("/")) {
        fprintf(stderr, "kiln: chroot: %s\n", strerror(errno));
        _exit(STATUS_SETUP);
    }
    if (chdir(s->cwd)) {
        fprintf(stderr, "kiln: cannot enter the working directory %s: %s\n", s->cwd, strerror(errno));
        _exit(STATUS_SETUP);
    }
    if (setgroups(0, NULL) || setgid(s->gid) || setuid(s->uid)) {
        fprintf(stderr, "kiln: cannot become %u:%u: %s\n", s->uid, s->gid, strerror(errno));
        _exit(STATUS_SETUP);
    }
    /* execvp searches the PATH of the environment it runs in: the program's own. */
    clearenv();
    for (int i = 0; i < s->nenv; i++)
        putenv(s->env[i]);
    execvp(s->argv[0], s->argv);
    int e = errno;
    /* As a shell reports them (POSIX 2.8.2): 127 not found, 126 found but not runnable. */
    if (e == ENOENT || e == ENOTDIR) {
        fprintf(stderr, "kiln: %s: %s\n", s->argv[0], strchr(s->argv[0], '/') ? "No such file or directory" : "command not found");
        _exit(127);
    }
    fprintf(stderr, "kiln: %s: %s\n", s->argv[0], strerror(e));
    _exit(126);
}

struct relay {
    int out, err;        /* read ends of the program's stdout/stderr (or the pty master) */
    int in;              /* write end of its stdin (or the pty master); -1 once closed */
    char inbuf[STDIN_BUF];
    size_t inlen;
    bool in_eof;
    unsigned char rx[3 + FRAME_MAX];
    size_t rxlen;
};

/* Frames from the host: stdin bytes go to a buffer the program drains at its own pace. */
static void relay_rx(struct relay *r, bool tty)
{
    ssize_t n = read(hvc, r->rx + r->rxlen, sizeof(r->rx) - r->rxlen);
    if (n <= 0)
        return;
    r->rxlen += (size_t)n;
    while (r->rxlen >= 3) {
        size_t len = r->rx[1] | (size_t)r->rx[2] << 8;
        if (len > FRAME_MAX) { /* lost sync: cannot happen on a raw tty; drop everything */
            r->rxlen = 0;
            return;
        }
        if (r->rxlen < 3 + len)
            break;
        unsigned char *p = r->rx + 3;
        if (r->rx[0] == 'I' && !r->in_eof && r->in >= 0 && len <= STDIN_BUF - r->inlen) {
            memcpy(r->inbuf + r->inlen, p, len);
            r->inlen += len;
        } else if (r->rx[0] == 'C') {
            r->in_eof = true;
        } else if (r->rx[0] == 'W' && len == 4 && tty && r->in >= 0) {
            struct winsize ws = {.ws_row = (unsigned short)(p[0] | p[1] << 8),
                                 .ws_col = (unsigned short)(p[2] | p[3] << 8)};
            ioctl(r->in, TIOCSWINSZ, &ws);
        }
        memmove(r->rx, r->rx + 3 + len, r->rxlen - 3 - len);
        r->rxlen -= 3 + len;
    }
}

/* Copies what one output descriptor has into frames; closes it at EOF (or EIO of a pty). */
static void relay_out(int *fd, char type, bool *was_eof)
{
    char buf[FRAME_MAX - 3]; /* header and payload fill one 4 KiB page exactly */
    ssize_t n = read(*fd, buf, sizeof(buf));
    if (n > 0) {
        frame_send(type, buf, (size_t)n);
        return;
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    close(*fd);
    *fd = -1;
    if (was_eof)
        *was_eof = true;
}

static void relay_stdin(struct relay *r, bool tty)
{
    if (r->inlen) {
        ssize_t w = write(r->in, r->inbuf, r->inlen);
        if (w > 0) {
            memmove(r->inbuf, r->inbuf + w, r->inlen - (size_t)w);
            r->inlen -= (size_t)w;
        } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
            r->inlen = 0; /* the program closed its stdin: drop the rest */
            r->in_eof = true;
        }
    }
    if (r->in_eof && !r->inlen && !tty && r->in >= 0) {
        close(r->in);
        r->in = -1;
    }
}

static int wait_status(int st)
{
    return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
}

int main(void)
{
    struct spec s;
    hvc = open(HVC, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (hvc < 0) {
        say("kiln: %s: %s", HVC, strerror(errno));
        power_off(STATUS_SETUP);
    }
    struct termios t;
    if (!tcgetattr(hvc, &t)) {
        cfmakeraw(&t);
        tcsetattr(hvc, TCSANOW, &t);
    }
    if (spec_read(&s) || root_mount(&s))
        power_off(STATUS_SETUP);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    signal(SIGPIPE, SIG_IGN);

    struct relay r = {.out = -1, .err = -1, .in = -1};
    int tty = -1, pin[2], pout[2], perr[2];
    if (s.tty) {
        /* From the rootfs's own devpts, so the program finds its terminal under /dev/pts. */
        char slave[64];
        int n = 0, m = open(NEWROOT "/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (m >= 0 && !unlockpt(m) && !ioctl(m, TIOCGPTN, &n)) {
            snprintf(slave, sizeof(slave), NEWROOT "/dev/pts/%d", n);
        } else {
            if (m >= 0)
                close(m);
            m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
            if (m >= 0 && !grantpt(m) && !unlockpt(m) && ptsname(m))
                snprintf(slave, sizeof(slave), "%s", ptsname(m));
        }
        if (m < 0 || (tty = open(slave, O_RDWR | O_NOCTTY)) < 0) {
            say("kiln: cannot open a pseudo-terminal: %s", strerror(errno));
            power_off(STATUS_SETUP);
        }
        r.out = m;
        r.in = fcntl(m, F_DUPFD_CLOEXEC, 3);
        fcntl(r.in, F_SETFL, O_NONBLOCK);
    } else {
        if (pipe2(pin, O_CLOEXEC) || pipe2(pout, O_CLOEXEC) || pipe2(perr, O_CLOEXEC)) {
            say("kiln: pipe: %s", strerror(errno));
            power_off(STATUS_SETUP);
        }
        r.in = pin[1];
        r.out = pout[0];
        r.err = perr[0];
        fcntl(r.in, F_SETFL, O_NONBLOCK);
    }
    pid_t pid = fork();
    if (pid == 0) {
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        signal(SIGPIPE, SIG_DFL);
        child_run(&s, s.tty ? -1 : pin[0], s.tty ? -1 : pout[1], s.tty ? -1 : perr[1], tty);
    }
    if (pid < 0) {
        say("kiln: fork: %s", strerror(errno));
        power_off(STATUS_SETUP);
    }
    if (s.tty) {
        close(tty);
    } else {
        close(pin[0]);
        close(pout[1]);
        close(perr[1]);
    }
    frame_send('H', NULL, 0);

    int status = -1;
    while (status < 0 || r.out >= 0 || r.err >= 0) {
        struct pollfd p[5] = {
            {.fd = sfd, .events = POLLIN},
            {.fd = r.inlen < STDIN_BUF - FRAME_MAX ? hvc : -1, .events = POLLIN},
            {.fd = r.out, .events = POLLIN},
            {.fd = r.err, .events = POLLIN},
            {.fd = r.inlen ? r.in : -1, .events = POLLOUT},
        };
        /* Once the program is gone: what is left in the pipes, then stop (no waiting on
         * background processes, which are killed: the container ends with its program). */
        if (poll(p, 5, status < 0 ? -1 : 0) <= 0 && status >= 0)
            break;
        if (p[0].revents) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof(si)) > 0)
                ;
            int st;
            pid_t w;
            while ((w = waitpid(-1, &st, WNOHANG)) > 0)
                if (w == pid)
                    status = wait_status(st);
            if (status >= 0) {
                kill(-1, SIGKILL);
                /* Every writer is gone: the pipes now end, so reads cannot block. */
                if (r.out >= 0)
                    fcntl(r.out, F_SETFL, O_NONBLOCK);
                if (r.err >= 0)
                    fcntl(r.err, F_SETFL, O_NONBLOCK);
            }
        }
        if (p[1].revents)
            relay_rx(&r, s.tty);
        if (p[2].revents)
            relay_out(&r.out, 'O', NULL);
        if (p[3].revents)
            relay_out(&r.err, 'E', NULL);
        if (r.in >= 0)
            relay_stdin(&r, s.tty);
    }
    sync();
    power_off(status < 0 ? STATUS_SETUP : status);
}
