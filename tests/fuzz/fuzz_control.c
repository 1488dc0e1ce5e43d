/*
 * libFuzzer target for the control socket's request handling: arbitrary bytes as
 * one request line through control_parse() and control_handle_line() with fake
 * callbacks. The answer must always be one NUL-terminated line that fits.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "machine/control.h"

static int f_stats(void *ctx, struct control_stats *s)
{
    s->ram_bytes = 256ull << 20;
    s->balloon = true;
    s->balloon_target_bytes = 1ull << 20;
    s->rss_bytes = 1;
    return 0;
}

static int f_balloon(void *ctx, uint64_t mib, char *err, size_t errlen)
{
    if (mib > 256) {
        strncpy(err, "out of range", errlen - 1);
        err[errlen - 1] = 0;
        return -1;
    }
    return 0;
}

static int f_powerdown(void *ctx, char *err, size_t errlen)
{
    return 0;
}

static void f_quit(void *ctx)
{
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A private copy of exactly size bytes, so ASan sees any read past the line. */
    char *line = malloc(size ? size : 1);
    if (!line)
        return 0;
    memcpy(line, data, size);
    struct control_req req;
    char err[160];
    if (control_parse(line, size, &req, err, sizeof(err)) < 0 && !memchr(err, 0, sizeof(err)))
        abort();
    static const struct control_ops ops = {
        .stats = f_stats, .balloon = f_balloon, .powerdown = f_powerdown, .quit = f_quit};
    char out[256];
    size_t n = control_handle_line(&ops, line, size, out, sizeof(out));
    if (n == 0 || n >= sizeof(out) || out[n - 1] != '\n' || out[n] != 0 || strlen(out) != n)
        abort();
    free(line);
    return 0;
}
