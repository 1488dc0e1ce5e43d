/* Token bucket (token_bucket.h). */
#include "util/token_bucket.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Called with the lock held. */
static void refill(struct token_bucket *tb, uint64_t now)
{
    if (now <= tb->last || tb->rate == 0)
        return; /* a stale `now` (another thread read the clock earlier) just adds nothing */
    unsigned __int128 acc = (unsigned __int128)(now - tb->last) * tb->rate + tb->frac;
    tb->last = now;
    unsigned __int128 add = acc / TB_NSEC;
    tb->frac = (uint64_t)(acc % TB_NSEC);
    __int128 level = (__int128)tb->tokens + (__int128)add;
    if (level >= (__int128)tb->burst) {
        tb->tokens = (int64_t)tb->burst;
        tb->frac = 0;
    } else {
        tb->tokens = (int64_t)level;
    }
}

static void set_locked(struct token_bucket *tb, uint64_t rate, uint64_t burst, uint64_t now)
{
    if (burst == 0)
        burst = rate ? rate : 1;
    if (burst > INT64_MAX)
        burst = INT64_MAX;
    tb->rate = rate;
    tb->burst = burst;
    tb->tokens = (int64_t)burst;
    tb->frac = 0;
    tb->last = now;
}

void tb_init(struct token_bucket *tb, uint64_t rate, uint64_t burst, uint64_t now)
{
    memset(tb, 0, sizeof(*tb));
    pthread_mutex_init(&tb->lock, NULL);
    set_locked(tb, rate, burst, now);
}

void tb_destroy(struct token_bucket *tb)
{
    pthread_mutex_destroy(&tb->lock);
}

void tb_set(struct token_bucket *tb, uint64_t rate, uint64_t burst, uint64_t now)
{
    pthread_mutex_lock(&tb->lock);
    set_locked(tb, rate, burst, now);
    pthread_mutex_unlock(&tb->lock);
}

uint64_t tb_rate(struct token_bucket *tb)
{
    pthread_mutex_lock(&tb->lock);
    uint64_t r = tb->rate;
    pthread_mutex_unlock(&tb->lock);
    return r;
}

/* Lock held, refilled. */
static uint64_t delay_locked(const struct token_bucket *tb, uint64_t cost)
{
    if (tb->rate == 0)
        return 0;
    uint64_t need = cost < tb->burst ? cost : tb->burst;
    if ((__int128)tb->tokens >= (__int128)need)
        return 0;
    /* ns until `need` tokens: (need - tokens) * 1e9 / rate, minus what frac already holds, rounded up. */
    unsigned __int128 missing = (unsigned __int128)((__int128)need - tb->tokens) * TB_NSEC;
    missing = missing > tb->frac ? missing - tb->frac : 0;
    unsigned __int128 ns = (missing + tb->rate - 1) / tb->rate;
    return ns > UINT64_MAX ? UINT64_MAX : (uint64_t)ns;
}

static void charge_locked(struct token_bucket *tb, uint64_t cost)
{
    if (tb->rate == 0)
        return;
    __int128 t = (__int128)tb->tokens - (__int128)cost;
    tb->tokens = t < INT64_MIN / 2 ? INT64_MIN / 2 : (int64_t)t;
}

uint64_t tb_delay(struct token_bucket *tb, uint64_t cost, uint64_t now)
{
    pthread_mutex_lock(&tb->lock);
    refill(tb, now);
    uint64_t d = delay_locked(tb, cost);
    pthread_mutex_unlock(&tb->lock);
    return d;
}

void tb_charge(struct token_bucket *tb, uint64_t cost, uint64_t now)
{
    pthread_mutex_lock(&tb->lock);
    refill(tb, now);
    charge_locked(tb, cost);
    pthread_mutex_unlock(&tb->lock);
}

bool tb_take(struct token_bucket *tb, uint64_t cost, uint64_t now, uint64_t *wait_ns)
{
    pthread_mutex_lock(&tb->lock);
    refill(tb, now);
    uint64_t d = delay_locked(tb, cost);
    if (d == 0)
        charge_locked(tb, cost);
    pthread_mutex_unlock(&tb->lock);
    if (wait_ns)
        *wait_ns = d;
    return d == 0;
}

uint64_t tb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * TB_NSEC + (uint64_t)ts.tv_nsec;
}

int tb_parse_limit(const char *s, bool suffixes, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    uint64_t v = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    unsigned shift = 0;
    if (suffixes && *s) {
        switch (*s) {
        case 'k': case 'K': shift = 10; break;
        case 'm': case 'M': shift = 20; break;
        case 'g': case 'G': shift = 30; break;
        default: return -1;
        }
        s++;
    }
    if (*s || v > (UINT64_MAX >> shift))
        return -1;
    *out = v << shift;
    return 0;
}
