/*
 * Console backend: a reader thread moves host input into the UART; guest
 * output is written straight to out_fd from the hart that wrote THR.
 *
 * Output is one write(2) per byte the guest transmits. That is cheap next to
 * the hundreds of interpreted instructions the guest spends per byte, and it
 * means nothing is ever held back (a prompt without a newline, the last words
 * before a crash).
 */
#include "backend/console.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "dev/uart.h"
#include "machine/vm.h"
#include "util/log.h"

/* How long to wait before retrying when the guest's receive FIFO is full. */
#define BACKPRESSURE_POLL_MS 10

struct console {
    struct vm *vm;
    int in_fd, out_fd;
    bool tty;       /* in_fd is a terminal: escapes are interpreted */
    bool owns_term; /* this console put the terminal in raw mode */
    bool escape;    /* the previous input byte was the escape character */
    int wake[2];    /* console_destroy() writes here to stop the thread */
    pthread_t thread;
    bool thread_started;
    _Atomic(struct uart *) uart;
    atomic_bool wait_driver; /* hold input while the guest's receive interrupt is off */

    pthread_mutex_t out_lock;
    bool out_broken; /* out_fd failed: drop output instead of retrying forever */
};

/*
 * Terminal state is process-wide by nature (there is one controlling
 * terminal, and signal handlers can only find it through a static), so it is
 * the one piece of console state that does not hang off struct console.
 */
static struct {
    int fd;
    struct termios saved;
    volatile sig_atomic_t raw; /* the terminal is in raw mode and must be restored */
    struct console *owner;
    bool atexit_done;
} term = {.fd = -1};

static const int term_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGSEGV,
                                   SIGBUS, SIGILL,  SIGFPE, SIGABRT};
#define NSIGNALS (sizeof(term_signals) / sizeof(term_signals[0]))
static struct sigaction term_old_actions[NSIGNALS];
static bool term_installed[NSIGNALS];

/* Async-signal-safe: tcsetattr() is on the POSIX list. */
static void term_restore(void)
{
    if (term.raw) {
        term.raw = 0;
        tcsetattr(term.fd, TCSANOW, &term.saved);
    }
}

static void term_signal_handler(int sig)
{
    int saved_errno = errno;
    term_restore();
    /* Hand the signal to whoever had it before (by default: terminate, or dump core). */
    for (size_t i = 0; i < NSIGNALS; i++) {
        if (term_signals[i] == sig && term_installed[i]) {
            sigaction(sig, &term_old_actions[i], NULL);
            term_installed[i] = false;
        }
    }
    /* Pending until we return; a synchronous fault (SIGSEGV...) also re-faults then. */
    raise(sig);
    errno = saved_errno;
}

static void term_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = term_signal_handler;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < NSIGNALS; i++) {
        struct sigaction old;
        if (sigaction(term_signals[i], NULL, &old) < 0)
            continue;
        /* An ignored signal (nohup) stays ignored: re-raising would do nothing anyway. */
        if (!(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_IGN)
            continue;
        term_old_actions[i] = old;
        if (sigaction(term_signals[i], &sa, NULL) == 0)
            term_installed[i] = true;
    }
}

static void term_uninstall_signals(void)
{
    for (size_t i = 0; i < NSIGNALS; i++) {
        if (!term_installed[i])
            continue;
        struct sigaction cur;
        /* Leave alone a handler someone installed after us. */
        if (sigaction(term_signals[i], NULL, &cur) == 0 &&
            !(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == term_signal_handler)
            sigaction(term_signals[i], &term_old_actions[i], NULL);
        term_installed[i] = false;
    }
}

static void term_atexit(void)
{
    term_restore();
}

/*
 * Raw input like cfmakeraw(3): no line editing, no echo, no signal keys (so
 * Ctrl-C reaches the guest), 8-bit clean. Output post-processing is kept as
 * the user had it: the guest already sends "\r\n", and kiln's own messages on
 * stderr still need "\n" → "\r\n" to render properly.
 */
static int term_enter_raw(struct console *c)
{
    struct termios t;
    if (term.owner)
        return 0; /* another console already drives this terminal */
    if (tcgetattr(c->in_fd, &t) < 0)
        return -errno;
    term.saved = t;
    term.fd = c->in_fd;
    t.c_iflag &= ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    t.c_lflag &= ~(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    t.c_cflag &= ~(CSIZE | PARENB);
    t.c_cflag |= CS8;
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    if (!term.atexit_done) {
        atexit(term_atexit);
        term.atexit_done = true;
    }
    term_install_signals();
    /* Mark raw before switching, so a signal in between still restores. */
    term.raw = 1;
    if (tcsetattr(c->in_fd, TCSANOW, &t) < 0) {
        int err = errno;
        term.raw = 0;
        term_uninstall_signals();
        return -err;
    }
    term.owner = c;
    c->owns_term = true;
    return 0;
}

static void term_leave_raw(struct console *c)
{
    if (!c->owns_term)
        return;
    term_restore();
    term_uninstall_signals();
    term.owner = NULL;
    c->owns_term = false;
}

/* Writes all of buf, riding out EINTR, partial writes and a non-blocking fd. */
static int write_all(int fd, const uint8_t *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                struct pollfd p = {.fd = fd, .events = POLLOUT};
                poll(&p, 1, -1);
                continue;
            }
            return -errno;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

void console_output(void *console, const uint8_t *buf, size_t len)
{
    struct console *c = console;
    pthread_mutex_lock(&c->out_lock);
    if (!c->out_broken && write_all(c->out_fd, buf, len) < 0)
        c->out_broken = true; /* e.g. stdout closed: the guest keeps running silently */
    pthread_mutex_unlock(&c->out_lock);
}

static void print_help(void)
{
    static const char help[] = "\r\n"
                               "kiln console escapes:\r\n"
                               "  C-a x    quit kiln (stops the VM)\r\n"
                               "  C-a h    print this help (also C-a ?)\r\n"
                               "  C-a C-a  send C-a to the guest\r\n";
    write_all(STDERR_FILENO, (const uint8_t *)help, sizeof(help) - 1);
}

/* Applies the escape state machine to in[0..n) and returns the bytes meant
 * for the guest in out (never more than n). */
static size_t filter_escapes(struct console *c, const uint8_t *in, size_t n, uint8_t *out)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t ch = in[i];
        if (!c->escape) {
            if (ch == CONSOLE_ESCAPE_CHAR)
                c->escape = true;
            else
                out[m++] = ch;
            continue;
        }
        c->escape = false;
        switch (ch) {
        case CONSOLE_ESCAPE_CHAR:
            out[m++] = ch;
            break;
        case 'x':
        case 'X':
            vm_request_exit(c->vm, 0, "quit from console");
            break;
        case 'h':
        case 'H':
        case '?':
            print_help();
            break;
        default:
            break; /* unknown escapes are swallowed, like QEMU's mux */
        }
    }
    return m;
}

/* Waits up to timeout_ms (-1: forever) for in_fd (if in >= 0) or the wake pipe.
 * Returns -1 when asked to stop, else the revents of in_fd. */
static int wait_input(struct console *c, int in, int timeout_ms)
{
    struct pollfd p[2] = {
        {.fd = c->wake[0], .events = POLLIN},
        {.fd = in, .events = POLLIN},
    };
    int r = poll(p, in >= 0 ? 2 : 1, timeout_ms);
    if (r < 0)
        return 0; /* EINTR: caller loops */
    if (p[0].revents)
        return -1;
    return in >= 0 ? p[1].revents : 0;
}

static void *console_thread(void *arg)
{
    struct console *c = arg;
    uint8_t raw[256], buf[256];
    size_t len = 0, pos = 0;
    bool open = true;

    for (;;) {
        if (pos < len) {
            /* Back-pressure: hold input until the guest drains its FIFO. */
            struct uart *u = atomic_load(&c->uart);
            /*
             * A kernel's 8250 driver clears the receive FIFO when it probes and opens
             * the port (FCR bit 1), so bytes queued before that would be lost: they
             * wait here until it enables the receive interrupt (IER.ERBFI), and again
             * whenever it turns it off (port closed, input throttled).
             */
            if (u && (!atomic_load(&c->wait_driver) || uart_rx_enabled(u)))
                pos += uart_receive(u, buf + pos, len - pos);
            if (pos < len && wait_input(c, -1, BACKPRESSURE_POLL_MS) < 0)
                break;
            continue;
        }
        int ev = wait_input(c, open ? c->in_fd : -1, -1);
        if (ev < 0)
            break;
        if (!(ev & (POLLIN | POLLHUP | POLLERR | POLLNVAL)))
            continue;
        ssize_t n = (ev & POLLNVAL) ? -1 : read(c->in_fd, raw, sizeof(raw));
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0) {
            /* End of input (or a hung-up terminal): stop reading, the VM goes on. */
            open = false;
            continue;
        }
        if (c->tty) {
            len = filter_escapes(c, raw, (size_t)n, buf);
        } else {
            memcpy(buf, raw, (size_t)n);
            len = (size_t)n;
        }
        pos = 0;
    }
    return NULL;
}

struct console *console_create(struct vm *vm, int in_fd, int out_fd)
{
    struct console *c = calloc(1, sizeof(*c));
    if (!c) {
        log_err("console", "out of memory");
        return NULL;
    }
    c->vm = vm;
    c->in_fd = in_fd;
    c->out_fd = out_fd;
    c->wake[0] = c->wake[1] = -1;
    atomic_init(&c->uart, NULL);
    atomic_init(&c->wait_driver, false);
    pthread_mutex_init(&c->out_lock, NULL);

    if (in_fd >= 0 && isatty(in_fd)) {
        c->tty = true;
        int err = term_enter_raw(c);
        if (err) {
            log_err("console", "cannot put the terminal in raw mode: %s", strerror(-err));
            goto fail;
        }
    }
    if (in_fd >= 0) {
        if (pipe(c->wake) < 0) {
            log_err("console", "pipe: %s", strerror(errno));
            goto fail;
        }
        int err = pthread_create(&c->thread, NULL, console_thread, c);
        if (err) {
            log_err("console", "cannot start the input thread: %s", strerror(err));
            goto fail;
        }
        c->thread_started = true;
    }
    return c;

fail:
    term_leave_raw(c);
    if (c->wake[0] >= 0) {
        close(c->wake[0]);
        close(c->wake[1]);
    }
    pthread_mutex_destroy(&c->out_lock);
    free(c);
    return NULL;
}

void console_attach_uart(struct console *c, struct uart *u)
{
    atomic_store(&c->uart, u);
}

void console_wait_for_driver(struct console *c, bool wait)
{
    atomic_store(&c->wait_driver, wait);
}

void console_destroy(struct console *c)
{
    if (!c)
        return;
    if (c->thread_started) {
        uint8_t b = 0;
        while (write(c->wake[1], &b, 1) < 0 && errno == EINTR)
            ;
        pthread_join(c->thread, NULL);
    }
    if (c->wake[0] >= 0) {
        close(c->wake[0]);
        close(c->wake[1]);
    }
    term_leave_raw(c);
    pthread_mutex_destroy(&c->out_lock);
    free(c);
}
