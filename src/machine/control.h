/*
 * The control socket of one `kiln run` process (--control PATH): line-delimited
 * JSON requests and answers on a Unix socket (mode 0600), served by a thread.
 *
 *   {"cmd":"stats"}                   guest RAM, balloon, host RSS, device counters
 *   {"cmd":"balloon","target_mib":N}  let the guest have N MiB (virtio-balloon)
 *   {"cmd":"powerdown"}               ask the guest to power off (serial SysRq)
 *   {"cmd":"quit"}                    stop the VM at once
 *   {"cmd":"limits","disk":I,"bps":N,"iops":N}  disk I's limits (0 = unlimited; omitted = unchanged)
 *   {"cmd":"limits","net":I,"bps":N}            NIC I's limit, each direction
 *   {"cmd":"snapshot","dir":"PATH"[,"paused":true]}  write a snapshot (docs/snapshots.md);
 *                                     the VM runs on afterwards unless paused is true
 *   {"cmd":"snapshot","fds":true[,"paused":true]}   the same into two files the client
 *                                     created and sent with the line (SCM_RIGHTS: memory,
 *                                     state); the client renames them (works in the jail)
 *   {"cmd":"pause"} / {"cmd":"resume"}  stop every hart at an instruction boundary / go on
 *   {"cmd":"migrate","fds":true[,"downtime_ms":N][,"max_rounds":N]}  + SCM_RIGHTS [socket]:
 *                                     stream this VM to the destination on the connected,
 *                                     authenticated socket (docs/migration.md); answers once
 *                                     the destination runs it (this VM stays paused) or
 *                                     the migration failed (this VM runs on)
 *   {"cmd":"incoming","fds":true}     + SCM_RIGHTS [socket]: a VM started with --incoming
 *                                     loads the stream, resumes, answers
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
/* Room for the longest answer (stats with every disk and NIC). */
#define CONTROL_ANSWER_MAX 8192

enum control_cmd {
    CONTROL_STATS, CONTROL_BALLOON, CONTROL_POWERDOWN, CONTROL_QUIT, CONTROL_LIMITS,
    CONTROL_SNAPSHOT, CONTROL_PAUSE, CONTROL_RESUME, CONTROL_MIGRATE, CONTROL_INCOMING
};

/* Descriptors one request may carry (the snapshot's memory and state files). */
#define CONTROL_MAX_FDS 2

/* Longest snapshot directory a request may name. */
#define CONTROL_DIR_MAX 1024

/* Devices `stats` reports (at least the board's BOARD_MAX_DISKS / BOARD_MAX_NETS). */
#define CONTROL_MAX_DISKS 8
#define CONTROL_MAX_NETS 4

/* CONTROL_LIMITS: exactly one of is_net / !is_net; has_* says which limits change. */
struct control_limits {
    bool is_net;
    uint64_t index;
    bool has_bps, has_iops;
    uint64_t bps, iops;
};

struct control_req {
    enum control_cmd cmd;
    uint64_t target_mib; /* CONTROL_BALLOON */
    struct control_limits limits; /* CONTROL_LIMITS */
    char dir[CONTROL_DIR_MAX];    /* CONTROL_SNAPSHOT */
    bool paused;                  /* CONTROL_SNAPSHOT: stay paused afterwards */
    bool fds;                     /* CONTROL_SNAPSHOT: files passed in, not dir */
    uint64_t downtime_ms, max_rounds; /* CONTROL_MIGRATE (0: the defaults) */
};

/* What a migration reports (src/migrate/migrate.h struct mig_stats). */
struct control_migrate {
    uint64_t total_ms, downtime_ms, bytes, pages, rounds;
    double mib_per_s;
};

/* What a snapshot request asks: a directory (dir != NULL), or two open files (mem_fd, state_fd:
 * the handler writes and syncs them, the client renames them into place). */
struct control_snap {
    const char *dir;
    int mem_fd, state_fd;
    bool paused;
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
    unsigned ndisks, nnets;
    struct {
        uint64_t reads, writes, flushes, read_bytes, write_bytes, errors, throttled;
        uint64_t bps_limit, iops_limit; /* 0 = unlimited */
    } disks[CONTROL_MAX_DISKS];
    struct {
        uint64_t rx_frames, rx_bytes, rx_dropped, tx_frames, tx_bytes, tx_dropped, throttled;
        uint64_t bps_limit; /* 0 = unlimited */
    } nets[CONTROL_MAX_NETS];
};

/* What the server calls; each on the control thread. Return 0, or -1 with a message in err. */
struct control_ops {
    void *ctx;
    int (*stats)(void *ctx, struct control_stats *out);
    int (*balloon)(void *ctx, uint64_t target_mib, char *err, size_t errlen);
    int (*powerdown)(void *ctx, char *err, size_t errlen);
    void (*quit)(void *ctx);
    int (*limits)(void *ctx, const struct control_limits *l, char *err, size_t errlen);
    /* Writes a snapshot (the VM stays paused if s->paused); *ms: how long it took. The fds stay
     * the caller's. */
    int (*snapshot)(void *ctx, const struct control_snap *s, uint64_t *ms, char *err, size_t errlen);
    /* pause: stop every hart (true) or let them run again (false). */
    int (*pause)(void *ctx, bool pause, char *err, size_t errlen);
    /* Live migration over the socket fd (the caller's): send this VM / load the incoming one. */
    int (*migrate)(void *ctx, int fd, uint64_t downtime_ms, uint64_t max_rounds,
                   struct control_migrate *out, char *err, size_t errlen);
    int (*incoming)(void *ctx, int fd, struct control_migrate *out, char *err, size_t errlen);
};

/*
 * Handles one request line; writes the one-line answer (with its '\n') into
 * out. Returns the answer's length (always < outlen; outlen must be >= 64;
 * CONTROL_ANSWER_MAX holds any answer).
 */
size_t control_handle_line(const struct control_ops *ops, const char *line, size_t len, char *out,
                           size_t outlen);
/* The same with the descriptors that came with the line (used, not closed). */
size_t control_handle_line_fds(const struct control_ops *ops, const char *line, size_t len,
                               const int *fds, unsigned nfds, char *out, size_t outlen);

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
