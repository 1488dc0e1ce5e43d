/*
 * NS16550A UART. Register semantics follow the TI PC16550D datasheet
 * (SNLS378C, "8.6 Register Set", table 9 for the IIR priorities) and what
 * Linux's 8250 driver probes for (serial8250_do_startup's THRE test,
 * autoconfig's loopback and scratch tests).
 *
 * Locking: MMIO comes from hart threads, uart_receive() from the console
 * thread; one mutex covers all state. The interrupt line is driven under that
 * mutex so two threads cannot publish levels out of order.
 */
#include "dev/uart.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "machine/vm.h"
#include "snapshot/format.h"

/* Register offsets (datasheet table 2). DLAB=1 turns 0/1 into DLL/DLM. */
enum {
    REG_RBR_THR = 0,
    REG_IER = 1,
    REG_IIR_FCR = 2,
    REG_LCR = 3,
    REG_MCR = 4,
    REG_LSR = 5,
    REG_MSR = 6,
    REG_SCR = 7,
};

#define IER_ERBFI 0x01 /* received data available */
#define IER_ETBEI 0x02 /* transmitter holding register empty */
#define IER_ELSI 0x04  /* receiver line status */
#define IER_EDSSI 0x08 /* modem status */
#define IER_MASK 0x0f

#define IIR_NO_INT 0x01
#define IIR_MSI 0x00
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_RLSI 0x06
#define IIR_CTI 0x0c /* character timeout: data below the trigger level */
#define IIR_FIFO_ON 0xc0

#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define FCR_CLEAR_TX 0x04
#define FCR_TRIGGER_SHIFT 6

#define LCR_DLAB 0x80

#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MCR_MASK 0x1f

#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_BI 0x10 /* break interrupt: the character at the FIFO's head came with a break */
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80
#define MSR_DELTA 0x0f

struct uart {
    struct vm *vm;
    unsigned irq;
    uart_out_fn out_fn;
    void *out_ctx;
    pthread_mutex_t lock;

    uint8_t rx[UART_RX_FIFO_SIZE];
    bool rx_brk[UART_RX_FIFO_SIZE]; /* that entry is the 0 byte of a received break */
    unsigned rx_head, rx_count;

    uint8_t ier, lcr, mcr, msr, scr, fcr;
    uint8_t lsr_err; /* sticky error bits (OE), cleared by reading LSR */
    uint8_t dll, dlm;
    /*
     * The THRE interrupt is an edge turned into a latch (datasheet table 9:
     * "reset by reading IIR (if source of interrupt) or writing THR"): it is
     * set when THR becomes empty or when ETBEI is enabled while THR is empty.
     */
    bool thr_ipending;
    bool irq_level;
};

static unsigned rx_trigger(const struct uart *u)
{
    /* FCR bits 7:6 select 1, 4, 8 or 14 bytes (datasheet table 8). */
    static const unsigned levels[4] = {1, 4, 8, 14};
    return levels[u->fcr >> FCR_TRIGGER_SHIFT];
}

/* How many bytes the receiver holds at most: without the FIFO a 16450-style
 * single holding register (datasheet 8.4, "16450 mode"). */
static unsigned rx_capacity(const struct uart *u)
{
    return (u->fcr & FCR_ENABLE) ? UART_RX_FIFO_SIZE : 1;
}

static uint8_t lsr_value(const struct uart *u)
{
    /* The transmitter drains instantly: THR and the shift register are always empty. */
    uint8_t lsr = LSR_THRE | LSR_TEMT | u->lsr_err;
    if (u->rx_count) {
        lsr |= LSR_DR;
        /* In FIFO mode BI belongs to its character and shows while it is at the head (8.6.3). */
        if (u->rx_brk[u->rx_head])
            lsr |= LSR_BI;
    }
    return lsr;
}

/* Highest-priority pending interrupt, datasheet table 9. */
static uint8_t pending_iid(const struct uart *u)
{
    if ((u->ier & IER_ELSI) && ((u->lsr_err & LSR_OE) || (u->rx_count && u->rx_brk[u->rx_head])))
        return IIR_RLSI;
    if ((u->ier & IER_ERBFI) && u->rx_count) {
        /*
         * Below the trigger level a real chip raises the character timeout
         * interrupt after four character times of silence; the host has no
         * such clock, so report it at once. Linux treats both alike.
         */
        if (!(u->fcr & FCR_ENABLE) || u->rx_count >= rx_trigger(u))
            return IIR_RDI;
        return IIR_CTI;
    }
    if ((u->ier & IER_ETBEI) && u->thr_ipending)
        return IIR_THRI;
    if ((u->ier & IER_EDSSI) && (u->msr & MSR_DELTA))
        return IIR_MSI;
    return IIR_NO_INT;
}

/* Called with the lock held after every state change: level-triggered line. */
static void update_irq(struct uart *u)
{
    bool level = pending_iid(u) != IIR_NO_INT;
    if (level != u->irq_level) {
        u->irq_level = level;
        vm_set_irq(u->vm, u->irq, level);
    }
}

static void rx_push_flag(struct uart *u, uint8_t c, bool brk)
{
    unsigned tail = (u->rx_head + u->rx_count) % UART_RX_FIFO_SIZE;
    u->rx[tail] = c;
    u->rx_brk[tail] = brk;
    u->rx_count++;
}

static void rx_push(struct uart *u, uint8_t c)
{
    rx_push_flag(u, c, false);
}

static uint8_t rx_pop(struct uart *u)
{
    if (!u->rx_count)
        return 0;
    uint8_t c = u->rx[u->rx_head];
    u->rx_brk[u->rx_head] = false;
    u->rx_head = (u->rx_head + 1) % UART_RX_FIFO_SIZE;
    u->rx_count--;
    return c;
}

static void rx_clear(struct uart *u)
{
    memset(u->rx_brk, 0, sizeof(u->rx_brk));
    u->rx_head = 0;
    u->rx_count = 0;
}

/* Modem inputs. In loopback (datasheet 8.6.5, MCR bit 4) the outputs are wired
 * back: RTS→CTS, DTR→DSR, OUT1→RI, OUT2→DCD; Linux's autoconfig checks this.
 * Otherwise the line looks like a connected terminal: CTS, DSR, DCD. */
static uint8_t modem_inputs(const struct uart *u)
{
    if (!(u->mcr & MCR_LOOP))
        return MSR_CTS | MSR_DSR | MSR_DCD;
    uint8_t s = 0;
    if (u->mcr & MCR_RTS)
        s |= MSR_CTS;
    if (u->mcr & MCR_DTR)
        s |= MSR_DSR;
    if (u->mcr & MCR_OUT1)
        s |= MSR_RI;
    if (u->mcr & MCR_OUT2)
        s |= MSR_DCD;
    return s;
}

static void update_msr(struct uart *u)
{
    uint8_t old = u->msr & ~MSR_DELTA, now = modem_inputs(u);
    uint8_t delta = u->msr & MSR_DELTA;
    if ((old ^ now) & MSR_CTS)
        delta |= MSR_DCTS;
    if ((old ^ now) & MSR_DSR)
        delta |= MSR_DDSR;
    if ((old ^ now) & MSR_DCD)
        delta |= MSR_DDCD;
    if ((old & MSR_RI) && !(now & MSR_RI)) /* TERI: trailing edge only */
        delta |= MSR_TERI;
    u->msr = now | delta;
}

static void transmit(struct uart *u, uint8_t c)
{
    if (u->mcr & MCR_LOOP) {
        /* Loopback: the byte comes back to our own receiver, not the line. */
        if (u->rx_count < rx_capacity(u))
            rx_push(u, c);
        else
            u->lsr_err |= LSR_OE;
    } else if (u->out_fn) {
        u->out_fn(u->out_ctx, &c, 1);
    }
    /* The byte left at once: THR is empty again, which is an interrupt event. */
    u->thr_ipending = true;
}

static uint8_t reg_read(struct uart *u, uint64_t offset)
{
    switch (offset) {
    case REG_RBR_THR:
        if (u->lcr & LCR_DLAB)
            return u->dll;
        return rx_pop(u);
    case REG_IER:
        if (u->lcr & LCR_DLAB)
            return u->dlm;
        return u->ier;
    case REG_IIR_FCR: {
        uint8_t iid = pending_iid(u);
        /* Reading IIR acknowledges THRE when it is the reported source (table 9). */
        if (iid == IIR_THRI)
            u->thr_ipending = false;
        return iid | ((u->fcr & FCR_ENABLE) ? IIR_FIFO_ON : 0);
    }
    case REG_LCR:
        return u->lcr;
    case REG_MCR:
        return u->mcr;
    case REG_LSR: {
        uint8_t lsr = lsr_value(u);
        u->lsr_err = 0; /* error bits clear on read (8.6.3) */
        return lsr;
    }
    case REG_MSR: {
        uint8_t msr = u->msr;
        u->msr &= ~MSR_DELTA; /* delta bits clear on read (8.6.8) */
        return msr;
    }
    case REG_SCR:
        return u->scr;
    default:
        return 0;
    }
}

static void reg_write(struct uart *u, uint64_t offset, uint8_t v)
{
    switch (offset) {
    case REG_RBR_THR:
        if (u->lcr & LCR_DLAB) {
            u->dll = v;
            return;
        }
        u->thr_ipending = false;
        transmit(u, v);
        return;
    case REG_IER:
        if (u->lcr & LCR_DLAB) {
            u->dlm = v;
            return;
        }
        /*
         * Enabling ETBEI while THR is empty raises THRE at once; Linux's
         * serial8250_do_startup() relies on it (else it sets UART_BUG_THRE).
         */
        if ((v & IER_ETBEI) && !(u->ier & IER_ETBEI))
            u->thr_ipending = true;
        u->ier = v & IER_MASK;
        return;
    case REG_IIR_FCR:
        if ((v ^ u->fcr) & FCR_ENABLE) {
            /* Switching FIFO mode resets both FIFOs (8.6.2, FCR bit 0). */
            rx_clear(u);
        }
        if (v & FCR_CLEAR_RX)
            rx_clear(u);
        /* Bits 1-2 self-clear and 3 (DMA mode) has no effect here; keep enable and trigger. */
        u->fcr = v & (FCR_ENABLE | (3u << FCR_TRIGGER_SHIFT));
        if (!(u->fcr & FCR_ENABLE))
            u->fcr = 0;
        return;
    case REG_LCR:
        u->lcr = v;
        return;
    case REG_MCR:
        u->mcr = v & MCR_MASK;
        update_msr(u);
        return;
    case REG_SCR:
        u->scr = v;
        return;
    default:
        /* LSR and MSR are read-only (writes are "for factory test" on the datasheet). */
        return;
    }
}

uint64_t uart_mmio_read(void *opaque, uint64_t offset, unsigned size)
{
    struct uart *u = opaque;
    /* Byte registers: a wider access reads the register at `offset`, zero-extended. */
    pthread_mutex_lock(&u->lock);
    uint8_t v = reg_read(u, offset);
    update_irq(u);
    pthread_mutex_unlock(&u->lock);
    return v;
}

void uart_mmio_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    struct uart *u = opaque;
    pthread_mutex_lock(&u->lock);
    reg_write(u, offset, (uint8_t)value);
    update_irq(u);
    pthread_mutex_unlock(&u->lock);
}

static const struct mmio_ops uart_ops = {
    .read = uart_mmio_read,
    .write = uart_mmio_write,
};

static void reset_regs(struct uart *u)
{
    /* Master reset values, datasheet table 10. */
    u->ier = 0;
    u->lcr = 0;
    u->mcr = 0;
    u->fcr = 0;
    u->scr = 0;
    u->lsr_err = 0;
    u->dll = 12; /* 9600 baud from 1.8432 MHz; the value is only stored */
    u->dlm = 0;
    u->msr = modem_inputs(u);
    u->thr_ipending = false;
}

void uart_reset(struct uart *u)
{
    pthread_mutex_lock(&u->lock);
    reset_regs(u);
    /* Queued input survives: FIFO mode is off now, so the guest sees it one
     * byte at a time until it re-enables the FIFO; nothing is dropped. */
    update_irq(u);
    pthread_mutex_unlock(&u->lock);
}

struct uart *uart_create(struct vm *vm, uint64_t base, unsigned irq, uart_out_fn out_fn,
                         void *out_ctx)
{
    struct uart *u = calloc(1, sizeof(*u));
    if (!u)
        return NULL;
    u->vm = vm;
    u->irq = irq;
    u->out_fn = out_fn;
    u->out_ctx = out_ctx;
    int err = pthread_mutex_init(&u->lock, NULL);
    if (err) {
        free(u);
        errno = err;
        return NULL;
    }
    reset_regs(u);
    err = vm_mmio_add(vm, "uart", base, UART_MMIO_SIZE, &uart_ops, u);
    if (err) {
        pthread_mutex_destroy(&u->lock);
        free(u);
        errno = -err;
        return NULL;
    }
    if (!vm->uart)
        vm->uart = u;
    return u;
}

void uart_destroy(struct uart *u)
{
    if (!u)
        return;
    if (u->vm->uart == u)
        u->vm->uart = NULL;
    pthread_mutex_destroy(&u->lock);
    free(u);
}

size_t uart_receive(struct uart *u, const uint8_t *buf, size_t len)
{
    size_t n = 0;
    pthread_mutex_lock(&u->lock);
    unsigned cap = rx_capacity(u);
    while (n < len && u->rx_count < cap)
        rx_push(u, buf[n++]);
    update_irq(u);
    pthread_mutex_unlock(&u->lock);
    return n;
}

bool uart_can_receive(struct uart *u)
{
    pthread_mutex_lock(&u->lock);
    bool room = u->rx_count < rx_capacity(u);
    pthread_mutex_unlock(&u->lock);
    return room;
}

int uart_send_sysrq(struct uart *u, uint8_t key)
{
    int r = 0;
    pthread_mutex_lock(&u->lock);
    if (rx_capacity(u) - u->rx_count >= 2) {
        rx_push_flag(u, 0, true);
        rx_push(u, key);
    } else {
        r = -EAGAIN;
    }
    update_irq(u);
    pthread_mutex_unlock(&u->lock);
    return r;
}

int uart_send_break(struct uart *u)
{
    int r = 0;
    pthread_mutex_lock(&u->lock);
    /* A break is received as a 0 character with BI set (datasheet 8.6.3, LSR bit 4). */
    if (u->rx_count < rx_capacity(u))
        rx_push_flag(u, 0, true);
    else
        r = -EAGAIN;
    update_irq(u);
    pthread_mutex_unlock(&u->lock);
    return r;
}

bool uart_rx_enabled(struct uart *u)
{
    pthread_mutex_lock(&u->lock);
    bool on = (u->ier & IER_ERBFI) != 0;
    pthread_mutex_unlock(&u->lock);
    return on;
}

/* ---- snapshots ---- */

void uart_save(struct uart *u, struct snap_w *w)
{
    pthread_mutex_lock(&u->lock);
    snap_w_u32(w, UART_RX_FIFO_SIZE);
    snap_w_u32(w, u->rx_head);
    snap_w_u32(w, u->rx_count);
    snap_w_bytes(w, u->rx, sizeof(u->rx));
    for (unsigned i = 0; i < UART_RX_FIFO_SIZE; i++)
        snap_w_u8(w, u->rx_brk[i]);
    uint8_t regs[] = {u->ier, u->lcr, u->mcr, u->msr, u->scr, u->fcr, u->lsr_err, u->dll, u->dlm};
    snap_w_bytes(w, regs, sizeof(regs));
    snap_w_u8(w, u->thr_ipending);
    snap_w_u8(w, u->irq_level);
    pthread_mutex_unlock(&u->lock);
}

int uart_load(struct uart *u, struct snap_rd *r)
{
    uint8_t rx[UART_RX_FIFO_SIZE];
    bool brk[UART_RX_FIFO_SIZE];
    uint8_t regs[9];
    if (snap_r_u32(r) != UART_RX_FIFO_SIZE)
        return -EINVAL;
    uint32_t head = snap_r_u32(r), count = snap_r_u32(r);
    snap_r_bytes(r, rx, sizeof(rx));
    for (unsigned i = 0; i < UART_RX_FIFO_SIZE; i++)
        brk[i] = snap_r_bool(r);
    snap_r_bytes(r, regs, sizeof(regs));
    bool thr = snap_r_bool(r), level = snap_r_bool(r);
    if (snap_r_done(r) || head >= UART_RX_FIFO_SIZE || count > UART_RX_FIFO_SIZE)
        return -EINVAL;
    pthread_mutex_lock(&u->lock);
    memcpy(u->rx, rx, sizeof(rx));
    memcpy(u->rx_brk, brk, sizeof(brk));
    u->rx_head = head;
    u->rx_count = count;
    u->ier = regs[0] & 0x0f;
    u->lcr = regs[1];
    u->mcr = regs[2];
    u->msr = regs[3];
    u->scr = regs[4];
    u->fcr = regs[5];
    u->lsr_err = regs[6];
    u->dll = regs[7];
    u->dlm = regs[8];
    u->thr_ipending = thr;
    u->irq_level = !level; /* forces update_irq to drive the line to its real level */
    update_irq(u);
    pthread_mutex_unlock(&u->lock);
    return 0;
}
