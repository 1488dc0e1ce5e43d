/*
 * `kiln console NAME`: attaches the terminal to a daemon VM's serial console
 * (GET /v1/vms/NAME/console with Upgrade: kiln-console, docs/api.md).
 *
 * Leaving the console never stops the VM (that is `kiln stop`), as with
 * virsh's Ctrl-] or screen's detach. On a terminal the keys are:
 *   Ctrl-]                 detach
 *   Ctrl-A d, x or q       detach (x is kiln run's "quit": here it only detaches)
 *   Ctrl-A Ctrl-A, Ctrl-A a  send one Ctrl-A to the guest
 *   Ctrl-A h or ?          list the keys
 * Any other key after Ctrl-A is swallowed. The monitor delivers every byte we
 * send literally to the guest (src/daemon/monitor.c), so nothing sent from
 * here can reach kiln run's own escapes. Input that is not a terminal is sent
 * as it is, with no escapes.
 */
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/vmapi.h"

#define DETACH_KEY 0x1d /* Ctrl-] */
#define ESCAPE_KEY 0x01 /* Ctrl-A */
#define QUIET_MS 1000    /* after input ends: detach once the output pauses this long */

static struct termios saved_tio;
static bool tio_raw;

static void restore_tio(void)
{
    if (tio_raw)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
    tio_raw = false;
}

static void print_keys(void)
{
    fprintf(stderr, "\r\nkiln console keys (the VM keeps running when you detach):\r\n"
                    "  Ctrl-]          detach\r\n"
                    "  Ctrl-A d, x, q  detach\r\n"
                    "  Ctrl-A Ctrl-A   send Ctrl-A to the guest\r\n"
                    "  Ctrl-A h, ?     this list\r\n"
                    "Stop the VM with 'kiln stop NAME'.\r\n");
}

struct keys {
    bool escape; /* the previous byte was Ctrl-A */
};

/*
 * Filters terminal input: bytes for the guest go to out (at most n).
 * Returns true when the user asked to detach (out holds what came before).
 */
static bool filter_keys(struct keys *k, const char *in, size_t n, char *out, size_t *outlen)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (!k->escape) {
            if (c == DETACH_KEY) {
                *outlen = m;
                return true;
            }
            if (c == ESCAPE_KEY)
                k->escape = true;
            else
                out[m++] = c;
            continue;
        }
        k->escape = false;
        switch (c) {
        case ESCAPE_KEY:
        case 'a':
            out[m++] = ESCAPE_KEY;
            break;
        case 'd': case 'D': case 'x': case 'X': case 'q': case 'Q':
            *outlen = m;
            return true;
        case 'h': case 'H': case '?':
            print_keys();
            break;
        default:
            break;
        }
    }
    *outlen = m;
    return false;
}

/* Reads the answer's head byte by byte (what follows it is console output): the status. */
static int read_status(int fd)
{
    char head[8192];
    size_t hl = 0;
    while (hl + 1 < sizeof(head)) {
        ssize_t r = read(fd, head + hl, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        hl++;
        if (hl >= 4 && !memcmp(head + hl - 4, "\r\n\r\n", 4))
            break;
    }
    head[hl] = 0;
    int status = 0;
    sscanf(head, "HTTP/1.%*d %d", &status);
    return status;
}

int cli_console(const char *name)
{
    char req[512];
    int fd = vmapi_connect();
    if (fd < 0)
        return vmapi_connect_error(fd);
    int n = snprintf(req, sizeof(req),
                     "GET /v1/vms/%s/console HTTP/1.1\r\nHost: kiln\r\nConnection: Upgrade\r\n"
                     "Upgrade: kiln-console\r\n\r\n", name);
    if (sock_send_all(fd, req, (size_t)n)) {
        int e = -errno;
        close(fd);
        return vmapi_connect_error(e);
    }
    int status = read_status(fd);
    if (status != 101) {
        char body[1024];
        ssize_t r = read(fd, body, sizeof(body) - 1);
        const char *e = vmapi_error_text(body, r > 0 ? (size_t)r : 0);
        fprintf(stderr, "kiln: %s\n", e ? e : "the daemon refused the console");
        close(fd);
        return 1;
    }
    bool tty = isatty(STDIN_FILENO);
    if (tty && !tcgetattr(STDIN_FILENO, &saved_tio)) {
        struct termios t = saved_tio;
        cfmakeraw(&t);
        if (!tcsetattr(STDIN_FILENO, TCSANOW, &t)) {
            tio_raw = true;
            atexit(restore_tio);
        }
        fprintf(stderr, "[attached to %s: Ctrl-] or Ctrl-A d detaches and the VM keeps running; "
                        "Ctrl-A Ctrl-A sends Ctrl-A; Ctrl-A h lists the keys]\r\n", name);
    }
    char buf[4096], out[4096];
    struct keys k = {0};
    bool in_open = true, detached = false;
    while (!detached) {
        struct pollfd p[2] = {{.fd = in_open ? STDIN_FILENO : -1, .events = POLLIN},
                              {.fd = fd, .events = POLLIN}};
        /* After the end of our input: the guest's answer, then detach once it is quiet. */
        int pr = poll(p, 2, in_open ? -1 : QUIET_MS);
        if (pr < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pr == 0)
            break;
        if (p[1].revents) {
            ssize_t r = read(fd, buf, sizeof(buf));
            if (r < 0 && errno == EINTR)
                continue;
            /* Our stdout going away (EPIPE) ends the attachment, never the VM. */
            if (r <= 0 || write(STDOUT_FILENO, buf, (size_t)r) != r)
                break;
        }
        if (p[0].revents) {
            ssize_t r = read(STDIN_FILENO, buf, sizeof(buf));
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                /* Not a half-close: the daemon would end the console at once. */
                in_open = false;
                continue;
            }
            size_t len = (size_t)r;
            const char *send = buf;
            if (tty) {
                detached = filter_keys(&k, buf, (size_t)r, out, &len);
                send = out;
            }
            if (len && sock_send_all(fd, send, len))
                break;
        }
    }
    restore_tio();
    if (tty)
        fprintf(stderr, detached ? "\n[detached from %s; it keeps running]\n"
                                 : "\n[the console of %s closed]\n", name);
    close(fd);
    return 0;
}
