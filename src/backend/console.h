/*
 * Console backend: joins the host's stdin/stdout (or any pair of fds) to a
 * guest UART. On a terminal it switches to raw mode and understands a
 * QEMU-style escape prefix, Ctrl-A:
 *   Ctrl-A x       quit (vm_request_exit(vm, 0, "quit from console"))
 *   Ctrl-A h or ?  print the escape help on stderr
 *   Ctrl-A Ctrl-A  send one Ctrl-A to the guest
 * Any other key after Ctrl-A is swallowed, as QEMU does.
 */
#ifndef KILN_BACKEND_CONSOLE_H
#define KILN_BACKEND_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct uart;
struct console;

#define CONSOLE_ESCAPE_CHAR 0x01 /* Ctrl-A */

/*
 * Starts a thread that reads in_fd and feeds the attached UART; guest output
 * goes to out_fd. If in_fd is a terminal it is put in raw mode, restored by
 * console_destroy(), at exit(), and on fatal/terminating signals (SIGINT,
 * SIGTERM, SIGHUP, SIGQUIT, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT): the
 * handler restores the terminal, reinstates the previous action and re-raises.
 * If in_fd is not a terminal it is read as a plain stream, without escapes;
 * at its end the console stops reading but the VM goes on.
 * Returns NULL after printing a message on failure.
 */
struct console *console_create(struct vm *vm, int in_fd, int out_fd);
/* Where input goes. Until a UART is attached, input waits (nothing is lost). */
void console_attach_uart(struct console *c, struct uart *u);
/*
 * With wait, input is handed to the UART only while the guest has its receive
 * interrupt enabled: an OS kernel's driver resets the FIFO when it takes the
 * port over, so input typed or piped during boot waits for it instead of being
 * lost. For kernels; a bare-metal program that polls the UART never enables it.
 */
void console_wait_for_driver(struct console *c, bool wait);
/* uart_out_fn for uart_create(): writes guest output to out_fd, whole. Thread-safe. */
void console_output(void *console, const uint8_t *buf, size_t len);
/* Stops the input thread and restores the terminal. Destroy the UART (or stop
 * every hart) first: the UART keeps a pointer to the console for output. */
void console_destroy(struct console *c);

#endif
