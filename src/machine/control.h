/*
 * The control socket of one `kiln run` process (--control PATH): line-delimited
 * JSON requests and answers on a Unix socket (mode 0600), served by a thread.
 *
 *   {"cmd":"stats"}                   guest RAM, balloon, host RSS, device counters
 *   {"cmd":"balloon","target_mib":N}  let the guest have N MiB (virtio-balloon)
 *   {"cmd":"powerdown"}               ask the guest to power off (serial SysRq)
 *   {"cmd":"quit"}                    stop the VM at once
 *
 * Every answer is one line: {"ok":true,...} or {"error":"..."}. Requests are
 * user-controlled input; the parser (control_parse) is a small strict parser of
 * one flat JSON object, without json-c, so the fuzz target links without it.
 */
#ifndef KILN_MACHINE_CONTROL_H
#define KILN_MACHINE_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A request line longer than this is refused (and the rest of it skipped). */
#define CONTROL_LINE_MAX 4096

enum control_cmd { CONTROL_STATS, CONTROL_BALLOON, CONTROL_POWERDOWN, CONTROL_QUIT };

struct control_req {
    enum control_cmd cmd;
    uint64_t target_mib; /* CONTROL_BALLOON */
};

/*
 * Parses one request line (without its newline; need not be NUL-terminated).
 * Returns 0, or -1 with a message in err. Range checks that need the VM (the
 * balloon target against guest RAM) are the handler's.
 */
int control_parse(const char *line, size_t len, struct control_req *req, char *err, size_t errlen);

struct control_stats {
    uint64_t ram_bytes;
    bool balloon; /* a balloon device exists; then: */
    bool balloon_driver; /* the guest driver runs it (DRIVER_OK) */
    uint64_t balloon_target_bytes; /* what the host asks the guest to give back */
    uint64_t balloon_actual_bytes; /* what the guest says it gave back */
    uint64_t inflated_pages, deflated_pages, reported_bytes, bad_pfns;
    int64_t rss_bytes; /* VmRSS of this process, -1 if unknown */
};

/* What the server calls; each on the control thread. Return 0, or -1 with a message in err. */
struct control_ops {
    void *ctx;
    int (*stats)(void *ctx, struct control_stats *out);
    int (*balloon)(void *ctx, uint64_t target_mib, char *err, size_t errlen);
    int (*powerdown)(void *ctx, char *err, size_t errlen);
    void (*quit)(void *ctx);
};

/*
 * Handles one request line; writes the one-line answer (with its '\n') into
 * out. Returns the answer's length (always < outlen; outlen must be >= 64).
 */
size_t control_handle_line(const struct control_ops *ops, const char *line, size_t len, char *out,
                           size_t outlen);

struct control;

/* Creates the socket at path (an old socket file there is replaced) and starts the thread. NULL
 * with a message in err on failure. */
struct control *control_start(const char *path, const struct control_ops *ops, char *err,
                              size_t errlen);
/* Stops the thread, closes every connection and removes the socket file. */
void control_stop(struct control *c);

/* VmRSS of this process in bytes (/proc/self/status), or -1. */
int64_t control_self_rss(void);

#endif
