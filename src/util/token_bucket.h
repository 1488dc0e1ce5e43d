/*
 * A token bucket for I/O limits (disk bytes/s and IOPS, network bytes/s).
 *
 * The bucket holds up to `burst` tokens and refills at `rate` tokens per
 * second; rate 0 means unlimited. A request of cost C is admitted once the
 * bucket holds min(C, burst) tokens and then takes all C of them: a request
 * bigger than the burst is not starved, it leaves the bucket in debt and the
 * requests after it wait that debt off, so the long-run rate holds.
 *
 * Time is passed in (nanoseconds, any monotonic origin) so tests run on a
 * fake clock; tb_now() is CLOCK_MONOTONIC for real callers. Every function is
 * thread-safe: the control thread changes limits while a worker takes tokens.
 */
#ifndef KILN_UTIL_TOKEN_BUCKET_H
#define KILN_UTIL_TOKEN_BUCKET_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define TB_NSEC 1000000000ull

struct token_bucket {
    pthread_mutex_t lock;
    uint64_t rate;  /* tokens per second; 0 = unlimited */
    uint64_t burst; /* capacity */
    int64_t tokens; /* may go negative after an oversized request */
    uint64_t frac;  /* refill remainder, in tokens * 1e-9 */
    uint64_t last;  /* time of the last refill */
};

/* rate 0 = unlimited; burst 0 = one second's worth of rate (at least 1). The bucket starts full. */
void tb_init(struct token_bucket *tb, uint64_t rate, uint64_t burst, uint64_t now);
void tb_destroy(struct token_bucket *tb);
/* Change the limits; the bucket starts full again at the new burst. */
void tb_set(struct token_bucket *tb, uint64_t rate, uint64_t burst, uint64_t now);
uint64_t tb_rate(struct token_bucket *tb);

/* 0 if a request of this cost would be admitted at `now`, else how many ns until it would be. */
uint64_t tb_delay(struct token_bucket *tb, uint64_t cost, uint64_t now);
/* Takes cost tokens whatever the level (use after tb_delay said 0 for every bucket involved). */
void tb_charge(struct token_bucket *tb, uint64_t cost, uint64_t now);
/* tb_delay + tb_charge in one step: true (charged) if admitted, else false with *wait_ns set. */
bool tb_take(struct token_bucket *tb, uint64_t cost, uint64_t now, uint64_t *wait_ns);

/* CLOCK_MONOTONIC in ns. */
uint64_t tb_now(void);

/*
 * Parses a limit: decimal digits with an optional K, M or G suffix (powers of
 * 1024) when `suffixes`; "0" means unlimited. Returns 0, or -1 when s is not
 * such a number or overflows 64 bits.
 */
int tb_parse_limit(const char *s, bool suffixes, uint64_t *out);

#endif
