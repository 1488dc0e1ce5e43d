/*
 * Goldfish RTC ("google,goldfish-rtc") at VIRT_RTC_BASE, PLIC source
 * VIRT_RTC_IRQ: host wall-clock time in ns, settable by the guest (kept as an
 * offset, the host clock is never touched), with one alarm.
 */
#ifndef KILN_DEV_RTC_H
#define KILN_DEV_RTC_H

struct vm;
struct rtc;

#define RTC_SIZE 0x1000u

/* Register map (goldfish virtual platform spec, drivers/rtc/rtc-goldfish.c). */
#define RTC_TIME_LOW 0x00        /* read: low 32 bits of now, latches TIME_HIGH; write: sets time */
#define RTC_TIME_HIGH 0x04
#define RTC_ALARM_LOW 0x08       /* write: arms the alarm at ALARM_HIGH:value */
#define RTC_ALARM_HIGH 0x0c
#define RTC_IRQ_ENABLED 0x10
#define RTC_CLEAR_ALARM 0x14
#define RTC_ALARM_STATUS 0x18    /* 1 while an alarm is armed */
#define RTC_CLEAR_INTERRUPT 0x1c

/* Maps itself at VIRT_RTC_BASE and starts the alarm thread. NULL on failure. */
struct rtc *rtc_create(struct vm *vm);
/* Machine reset: alarm disarmed, interrupt cleared and disabled; the guest-set time is kept (it is a clock). */
void rtc_reset(struct rtc *r);
/* Stops the alarm thread. Call only while tearing the VM down (the window stays mapped). */
void rtc_destroy(struct rtc *r);


/* Snapshots (src/snapshot/, docs/snapshots.md): state out, and back in after checking it. */
struct snap_w;
struct snap_rd;
void rtc_save(struct rtc *r, struct snap_w *w);
int rtc_load(struct rtc *r, struct snap_rd *in);
#endif
