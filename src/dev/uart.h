/*
 * NS16550A UART, as on QEMU's virt board (compatible "ns16550a", reg-shift 0,
 * reg-io-width 1): the console of OpenSBI (lib/utils/serial/uart8250.c) and of
 * Linux (drivers/tty/serial/8250). Transmission is instantaneous, so THR is
 * always empty from the guest's point of view.
 */
#ifndef KILN_DEV_UART_H
#define KILN_DEV_UART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct uart;

#define UART_MMIO_SIZE 0x100
/* Receive FIFO depth. A real 16550 has 16 bytes; ours is deeper so that text
 * pasted into the console is not lost while the guest is slow to drain it. */
#define UART_RX_FIFO_SIZE 256

typedef void (*uart_out_fn)(void *ctx, const uint8_t *buf, size_t len);

/*
 * Maps a 16550A at `base` (UART_MMIO_SIZE bytes of byte registers) raising PLIC
 * source `irq` through vm_set_irq(). Each byte the guest transmits is passed to
 * out_fn(out_ctx, ...) as soon as it is written (out_fn may be NULL: output is
 * discarded). out_fn is called with the UART's lock held, so it must not call
 * back into this UART. Returns NULL (errno set) on failure.
 */
struct uart *uart_create(struct vm *vm, uint64_t base, unsigned irq, uart_out_fn out_fn,
                         void *out_ctx);
/* Frees the UART. The VM must no longer run (its MMIO window stays registered). */
void uart_destroy(struct uart *u);

/* Back to power-on state (datasheet table 10), e.g. on a guest reboot. Queued
 * input is kept: it was typed for whatever runs next. Thread-safe. */
void uart_reset(struct uart *u);

/* Host side: queue received bytes. Thread-safe. Returns how many were accepted
 * (fewer than len when the receive FIFO is full; nothing is ever dropped). */
size_t uart_receive(struct uart *u, const uint8_t *buf, size_t len);
/* True when the receive FIFO has room for at least one byte. Thread-safe. */
bool uart_can_receive(struct uart *u);

/*
 * Host side: a line break, as a terminal's BREAK key sends: one 0 character
 * with LSR.BI set, raising the receiver line status (if enabled) and data
 * interrupts. Linux's 8250 driver takes a break followed by a key as magic
 * SysRq on the console. Returns 0, or -EAGAIN when the receive FIFO is full.
 * Thread-safe.
 */
int uart_send_break(struct uart *u);
/* A break and then `key` (magic SysRq on a Linux console), both or neither: -EAGAIN when the
 * FIFO has no room for two characters. Thread-safe. */
int uart_send_sysrq(struct uart *u, uint8_t key);
/* True when the guest has enabled the received-data interrupt (a driver reads input). */
bool uart_rx_enabled(struct uart *u);

/* Guest side, exported for unit tests: the MMIO handlers registered on the bus. */
uint64_t uart_mmio_read(void *opaque, uint64_t offset, unsigned size);
void uart_mmio_write(void *opaque, uint64_t offset, uint64_t value, unsigned size);


/* Snapshots (src/snapshot/, docs/snapshots.md): state out, and back in after checking it. */
struct snap_w;
struct snap_rd;
void uart_save(struct uart *u, struct snap_w *w);
int uart_load(struct uart *u, struct snap_rd *r);
#endif
