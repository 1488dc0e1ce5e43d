/*
 * Goldfish RTC (Android emulator "goldfish" virtual platform; the register set
 * Linux's drivers/rtc/rtc-goldfish.c programs, as QEMU's hw/rtc/goldfish_rtc).
 * All registers are 32 bits:
 *  - TIME_LOW/TIME_HIGH: guest time in ns since the Unix epoch. Reading LOW
 *    latches HIGH so the pair is consistent; writing HIGH then LOW sets the
 *    time (only an offset from the host CLOCK_REALTIME is stored).
 *  - ALARM_HIGH then ALARM_LOW arm a one-shot alarm; ALARM_STATUS reads 1 while
 *    armed, CLEAR_ALARM disarms. When it expires the interrupt becomes pending;
 *    the PLIC line is pending && IRQ_ENABLED, and CLEAR_INTERRUPT drops it.
 * An alarm already in the past fires at once. A future alarm is timed by one
 * thread per RTC sleeping on a CLOCK_REALTIME condition variable, so host
 * clock steps move it like they move the guest's view of time.
 */
#include "dev/rtc.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "machine/vm.h"
#include "snapshot/format.h"
#include "util/log.h"

#define RTC_MAX_SLEEP_NS (3600 * 1000000000ull)

struct rtc {
    struct vm *vm;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* default clock: CLOCK_REALTIME */
    pthread_t thread;
    bool quit;

    uint64_t offset_ns;   /* guest time - host realtime, modulo 2^64 */
    uint32_t time_high;   /* latched by a TIME_LOW read */
    uint32_t set_high;    /* TIME_HIGH written, applied by the TIME_LOW write */
    uint32_t alarm_high;  /* ALARM_HIGH written */
    uint64_t alarm_ns;    /* guest time of the armed (or last) alarm */
    bool alarm_armed;
    bool irq_enabled;
    bool irq_pending;
};

static uint64_t host_realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rtc_now(const struct rtc *r)
{
    return host_realtime_ns() + r->offset_ns;
}

/* Called with the lock held. vm_set_irq takes the PLIC lock: order is rtc -> plic. */
static void rtc_update_irq(struct rtc *r)
{
    vm_set_irq(r->vm, VIRT_RTC_IRQ, r->irq_pending && r->irq_enabled);
}

/* Fire the alarm if it is due at guest time `now`. Lock held. */
static void rtc_check_alarm_at(struct rtc *r, uint64_t now)
{
    if (r->alarm_armed && now >= r->alarm_ns) {
        r->alarm_armed = false;
        r->irq_pending = true;
        rtc_update_irq(r);
    }
}

static void rtc_check_alarm(struct rtc *r)
{
    rtc_check_alarm_at(r, rtc_now(r));
}

static void *rtc_alarm_thread(void *arg)
{
    struct rtc *r = arg;

    pthread_mutex_lock(&r->lock);
    while (!r->quit) {
        /*
         * One clock reading for both the check and the sleep: with two, an
         * alarm falling due between them made the delta below wrap and hit
         * the hour-long cap, so the alarm fired up to an hour late.
         */
        uint64_t now = host_realtime_ns();
        rtc_check_alarm_at(r, now + r->offset_ns);
        if (!r->alarm_armed) {
            pthread_cond_wait(&r->cond, &r->lock);
            continue;
        }
        /*
         * Host realtime at which the guest clock reaches the alarm, from the
         * remaining delta so no guest value can wrap it into the past (which
         * would spin). Capped: a far alarm is simply re-evaluated hourly.
         */
        uint64_t delta = r->alarm_ns - (now + r->offset_ns); /* > 0: not due at `now` */
        if (delta > RTC_MAX_SLEEP_NS)
            delta = RTC_MAX_SLEEP_NS;
        uint64_t host = now + delta;
        struct timespec ts = {
            .tv_sec = (time_t)(host / 1000000000ull),
            .tv_nsec = (long)(host % 1000000000ull),
        };
        int err = pthread_cond_timedwait(&r->cond, &r->lock, &ts);
        if (err && err != ETIMEDOUT)
            break; /* EINVAL is impossible for a normalised timespec; do not spin */
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

static uint64_t rtc_read(void *opaque, uint64_t off, unsigned size)
{
    struct rtc *r = opaque;
    uint64_t v = 0;

    if (size != 4)
        return 0;
    pthread_mutex_lock(&r->lock);
    switch (off) {
    case RTC_TIME_LOW: {
        uint64_t now = rtc_now(r);
        r->time_high = (uint32_t)(now >> 32);
        v = (uint32_t)now;
        break;
    }
    case RTC_TIME_HIGH:
        v = r->time_high;
        break;
    case RTC_ALARM_LOW:
        v = (uint32_t)r->alarm_ns;
        break;
    case RTC_ALARM_HIGH:
        v = (uint32_t)(r->alarm_ns >> 32);
        break;
    case RTC_IRQ_ENABLED:
        v = r->irq_enabled;
        break;
    case RTC_ALARM_STATUS:
        v = r->alarm_armed;
        break;
    default:
        break;
    }
    pthread_mutex_unlock(&r->lock);
    return v;
}

static void rtc_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
    struct rtc *r = opaque;
    uint32_t v = (uint32_t)value;

    if (size != 4)
        return;
    pthread_mutex_lock(&r->lock);
    switch (off) {
    case RTC_TIME_LOW:
        r->offset_ns = (((uint64_t)r->set_high << 32) | v) - host_realtime_ns();
        /* A changed clock may make an armed alarm due, or move its deadline. */
        rtc_check_alarm(r);
        pthread_cond_signal(&r->cond);
        break;
    case RTC_TIME_HIGH:
        r->set_high = v;
        break;
    case RTC_ALARM_LOW:
        r->alarm_ns = ((uint64_t)r->alarm_high << 32) | v;
        r->alarm_armed = true;
        rtc_check_alarm(r);
        pthread_cond_signal(&r->cond);
        break;
    case RTC_ALARM_HIGH:
        r->alarm_high = v;
        break;
    case RTC_IRQ_ENABLED:
        r->irq_enabled = v & 1;
        rtc_update_irq(r);
        break;
    case RTC_CLEAR_ALARM:
        r->alarm_armed = false;
        pthread_cond_signal(&r->cond);
        break;
    case RTC_CLEAR_INTERRUPT:
        r->irq_pending = false;
        rtc_update_irq(r);
        break;
    default:
        break;
    }
    pthread_mutex_unlock(&r->lock);
}

static const struct mmio_ops rtc_ops = {
    .read = rtc_read,
    .write = rtc_write,
};

struct rtc *rtc_create(struct vm *vm)
{
    struct rtc *r = calloc(1, sizeof(*r));
    if (!r) {
        log_err("rtc", "out of memory");
        return NULL;
    }
    r->vm = vm;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    int err = pthread_create(&r->thread, NULL, rtc_alarm_thread, r);
    if (err) {
        log_err("rtc", "cannot start the alarm thread: error %d", err);
        goto fail;
    }
    err = vm_mmio_add(vm, "rtc", VIRT_RTC_BASE, RTC_SIZE, &rtc_ops, r);
    if (err) {
        log_err("rtc", "cannot map at %#llx: error %d", VIRT_RTC_BASE, err);
        rtc_destroy(r);
        return NULL;
    }
    return r;
fail:
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->lock);
    free(r);
    return NULL;
}

void rtc_reset(struct rtc *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->alarm_armed = false;
    r->irq_pending = false;
    r->irq_enabled = false;
    r->alarm_ns = 0;
    r->alarm_high = 0;
    r->set_high = 0;
    rtc_update_irq(r);
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

void rtc_destroy(struct rtc *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->quit = true;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

/* ---- snapshots ---- */

/* offset_ns is against host realtime, so the guest's wall clock keeps running while saved. */
void rtc_save(struct rtc *r, struct snap_w *w)
{
    pthread_mutex_lock(&r->lock);
    snap_w_u64(w, r->offset_ns);
    snap_w_u32(w, r->time_high);
    snap_w_u32(w, r->set_high);
    snap_w_u32(w, r->alarm_high);
    snap_w_u64(w, r->alarm_ns);
    snap_w_u8(w, r->alarm_armed);
    snap_w_u8(w, r->irq_enabled);
    snap_w_u8(w, r->irq_pending);
    pthread_mutex_unlock(&r->lock);
}

int rtc_load(struct rtc *r, struct snap_rd *in)
{
    uint64_t off = snap_r_u64(in);
    uint32_t th = snap_r_u32(in), sh = snap_r_u32(in), ah = snap_r_u32(in);
    uint64_t alarm = snap_r_u64(in);
    bool armed = snap_r_bool(in), en = snap_r_bool(in), pend = snap_r_bool(in);
    if (snap_r_done(in))
        return -EINVAL;
    pthread_mutex_lock(&r->lock);
    r->offset_ns = off;
    r->time_high = th;
    r->set_high = sh;
    r->alarm_high = ah;
    r->alarm_ns = alarm;
    r->alarm_armed = armed;
    r->irq_enabled = en;
    r->irq_pending = pend;
    rtc_update_irq(r);
    pthread_cond_broadcast(&r->cond); /* the alarm thread re-times itself */
    pthread_mutex_unlock(&r->lock);
    return 0;
}
