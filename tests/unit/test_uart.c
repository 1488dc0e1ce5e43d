/* NS16550A UART: register semantics, FIFO, interrupt identification and the
 * PLIC line it drives. */
#define _GNU_SOURCE /* posix_openpt and friends */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "backend/console.h"

#include "dev/plic.h"
#include "dev/uart.h"
#include "machine/vm.h"

#define UART_BASE VIRT_UART0_BASE
#define UART_IRQ VIRT_UART0_IRQ
#define PLIC_PENDING_OFF 0x1000

struct fixture {
    struct vm vm;
    struct uart *u;
    uint8_t out[1024];
    size_t nout;
    unsigned out_calls;
};

static void capture(void *ctx, const uint8_t *buf, size_t len)
{
    struct fixture *f = ctx;
    for (size_t i = 0; i < len && f->nout < sizeof(f->out); i++)
        f->out[f->nout++] = buf[i];
    f->out_calls++;
}

static int setup(void **state)
{
    static struct fixture f;
    memset(&f, 0, sizeof(f));
    if (vm_init(&f.vm, 0) != 0)
        return -1;
    if (!plic_create(&f.vm))
        return -1;
    f.u = uart_create(&f.vm, UART_BASE, UART_IRQ, capture, &f);
    if (!f.u)
        return -1;
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    uart_destroy(f->u);
    plic_destroy(f->vm.plic);
    vm_destroy(&f->vm);
    return 0;
}

/* Go through the bus as a hart would. */
static uint8_t rd(struct fixture *f, uint64_t off)
{
    struct mmio_region *r = vm_mmio_find(&f->vm, UART_BASE + off);
    assert_non_null(r);
    return (uint8_t)r->ops->read(r->opaque, off, 1);
}

static void wr(struct fixture *f, uint64_t off, uint8_t v)
{
    struct mmio_region *r = vm_mmio_find(&f->vm, UART_BASE + off);
    assert_non_null(r);
    r->ops->write(r->opaque, off, v, 1);
}

/* The UART's PLIC source is pending iff its line is high (no claim in these tests). */
static bool irq_line(struct fixture *f)
{
    struct mmio_region *r = vm_mmio_find(&f->vm, VIRT_PLIC_BASE);
    uint32_t w = (uint32_t)r->ops->read(r->opaque, PLIC_PENDING_OFF + 4 * (UART_IRQ / 32), 4);
    return (w >> (UART_IRQ % 32)) & 1;
}

static void feed(struct fixture *f, const char *s)
{
    assert_int_equal(uart_receive(f->u, (const uint8_t *)s, strlen(s)), strlen(s));
}

static void test_reset_state(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(rd(f, 5), 0x60); /* LSR: THRE | TEMT, no data */
    assert_int_equal(rd(f, 2), 0x01); /* IIR: no interrupt, FIFO off */
    assert_int_equal(rd(f, 1), 0x00); /* IER */
    assert_int_equal(rd(f, 3), 0x00); /* LCR */
    assert_int_equal(rd(f, 6) & 0xf0, 0xb0); /* MSR: DCD, DSR, CTS */
    assert_false(irq_line(f));
    assert_ptr_equal(f->vm.uart, f->u);
}

static void test_thr_reaches_out_fn(void **state)
{
    struct fixture *f = *state;
    const char *msg = "hi\r\n";
    for (const char *p = msg; *p; p++)
        wr(f, 0, (uint8_t)*p);
    assert_int_equal(f->nout, 4);
    assert_memory_equal(f->out, msg, 4);
    assert_int_equal(rd(f, 5) & 0x60, 0x60); /* still empty: transmission is instant */
}

static void test_rx_fifo_order_and_dr(void **state)
{
    struct fixture *f = *state;
    wr(f, 2, 0x01); /* enable FIFO */
    assert_int_equal(rd(f, 2) & 0xc0, 0xc0);
    feed(f, "abc");
    assert_int_equal(rd(f, 5) & 0x01, 0x01);
    assert_int_equal(rd(f, 0), 'a');
    assert_int_equal(rd(f, 0), 'b');
    assert_int_equal(rd(f, 0), 'c');
    assert_int_equal(rd(f, 5) & 0x01, 0x00);
    assert_int_equal(rd(f, 0), 0); /* empty FIFO reads 0, no crash */
}

static void test_scratch(void **state)
{
    struct fixture *f = *state;
    wr(f, 7, 0x5a);
    assert_int_equal(rd(f, 7), 0x5a);
    wr(f, 7, 0xa5);
    assert_int_equal(rd(f, 7), 0xa5);
}

static void test_dlab(void **state)
{
    struct fixture *f = *state;
    wr(f, 1, 0x05); /* IER */
    wr(f, 3, 0x83); /* DLAB + 8N1 */
    wr(f, 0, 0x34);
    wr(f, 1, 0x12);
    assert_int_equal(rd(f, 0), 0x34);
    assert_int_equal(rd(f, 1), 0x12);
    assert_int_equal(f->nout, 0); /* DLL write is not a transmission */
    wr(f, 3, 0x03);
    assert_int_equal(rd(f, 1), 0x05); /* IER untouched by the DLM write */
    assert_int_equal(rd(f, 3), 0x03);
}

static void test_rx_interrupt(void **state)
{
    struct fixture *f = *state;
    wr(f, 2, 0x01 | 0x80); /* FIFO, trigger level 8 */
    wr(f, 1, 0x01);        /* ERBFI */
    assert_false(irq_line(f));
    assert_int_equal(rd(f, 2), 0xc1);

    feed(f, "x");
    assert_true(irq_line(f));
    assert_int_equal(rd(f, 2), 0xcc); /* below the trigger: character timeout */
    feed(f, "1234567");
    assert_int_equal(rd(f, 2), 0xc4); /* at the trigger: data available */
    for (int i = 0; i < 8; i++)
        rd(f, 0);
    assert_false(irq_line(f));
    assert_int_equal(rd(f, 2), 0xc1);

    /* Disabling the source drops the line even with data present. */
    feed(f, "y");
    assert_true(irq_line(f));
    wr(f, 1, 0x00);
    assert_false(irq_line(f));
}

static void test_thre_interrupt(void **state)
{
    struct fixture *f = *state;
    /* Enabling ETBEI with THR empty raises THRE at once (serial8250_do_startup). */
    wr(f, 1, 0x02);
    assert_true(irq_line(f));
    assert_int_equal(rd(f, 2) & 0x0f, 0x02);
    /* Reading IIR while THRE is the reported source acknowledges it. */
    assert_false(irq_line(f));
    assert_int_equal(rd(f, 2) & 0x0f, 0x01);
    /* Re-enabling raises it again: Linux's UART_BUG_THRE probe expects that. */
    wr(f, 1, 0x00);
    wr(f, 1, 0x02);
    assert_int_equal(rd(f, 2) & 0x0f, 0x02);
    /* A THR write clears it; the byte leaves at once, so THR is empty again. */
    wr(f, 0, 'z');
    assert_true(irq_line(f));
    assert_int_equal(rd(f, 2) & 0x0f, 0x02);
    assert_false(irq_line(f));
}

static void test_iir_priority(void **state)
{
    struct fixture *f = *state;
    wr(f, 2, 0x01);
    wr(f, 1, 0x03); /* ERBFI | ETBEI: THRE pending */
    feed(f, "q");
    /* Received data outranks THRE (datasheet table 9); reading IIR must not ack THRE. */
    assert_int_equal(rd(f, 2) & 0x0f, 0x04); /* trigger level 1 */
    assert_int_equal(rd(f, 0), 'q');
    assert_int_equal(rd(f, 2) & 0x0f, 0x02);
    assert_int_equal(rd(f, 2) & 0x0f, 0x01);
}

static void test_fifo_overflow_refused(void **state)
{
    struct fixture *f = *state;
    uint8_t buf[UART_RX_FIFO_SIZE + 10];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)i;

    /* FIFO disabled: a single holding register. */
    assert_int_equal(uart_receive(f->u, buf, sizeof(buf)), 1);
    assert_false(uart_can_receive(f->u));
    assert_int_equal(rd(f, 0), 0);
    assert_true(uart_can_receive(f->u));

    wr(f, 2, 0x01);
    assert_int_equal(uart_receive(f->u, buf, sizeof(buf)), UART_RX_FIFO_SIZE);
    assert_false(uart_can_receive(f->u));
    assert_int_equal(uart_receive(f->u, buf, 1), 0);
    assert_int_equal(rd(f, 5) & 0x02, 0); /* refused, not overrun */
    for (unsigned i = 0; i < UART_RX_FIFO_SIZE; i++)
        assert_int_equal(rd(f, 0), (uint8_t)i);
    assert_true(uart_can_receive(f->u));

    /* FCR "clear receive FIFO" drops what is queued. */
    feed(f, "abc");
    wr(f, 2, 0x03);
    assert_int_equal(rd(f, 5) & 0x01, 0);
}

static void test_loopback(void **state)
{
    struct fixture *f = *state;
    wr(f, 2, 0x01);
    rd(f, 6); /* clear deltas */
    /* Linux autoconfig: LOOP | OUT2 | RTS must read back as DCD | CTS. */
    wr(f, 4, 0x10 | 0x0a);
    assert_int_equal(rd(f, 6) & 0xf0, 0x90);
    wr(f, 0, 'L');
    assert_int_equal(f->nout, 0); /* not on the wire */
    assert_int_equal(rd(f, 5) & 0x01, 0x01);
    assert_int_equal(rd(f, 0), 'L');
    wr(f, 4, 0x00);
    wr(f, 0, 'W');
    assert_int_equal(f->nout, 1);
    assert_int_equal(f->out[0], 'W');
}

static void test_bad_offsets_and_sizes(void **state)
{
    struct fixture *f = *state;
    struct mmio_region *r = vm_mmio_find(&f->vm, UART_BASE);
    assert_int_equal(r->size, UART_MMIO_SIZE);
    for (uint64_t off = 8; off < UART_MMIO_SIZE; off++) {
        r->ops->write(r->opaque, off, 0xff, 1);
        assert_int_equal(r->ops->read(r->opaque, off, 1), 0);
    }
    /* Offsets beyond the window (a buggy caller) must not crash either. */
    r->ops->write(r->opaque, ~0ull, 0xff, 8);
    assert_int_equal(r->ops->read(r->opaque, ~0ull, 8), 0);
    /* Wide accesses act on the byte register at the offset. */
    r->ops->write(r->opaque, 7, 0x1122334455667788ull, 8);
    assert_int_equal(r->ops->read(r->opaque, 7, 4), 0x88);
    /* LSR and MSR ignore writes. */
    wr(f, 5, 0x00);
    assert_int_equal(rd(f, 5), 0x60);
    assert_int_equal(f->nout, 0);
}

static void test_two_uarts_independent(void **state)
{
    struct fixture *f = *state;
    struct fixture g;
    memset(&g, 0, sizeof(g));
    struct uart *u2 = uart_create(&f->vm, UART_BASE + 0x1000, UART_IRQ + 1, capture, &g);
    assert_non_null(u2);
    /* Overlapping windows are refused. */
    assert_null(uart_create(&f->vm, UART_BASE + 0x80, UART_IRQ + 2, capture, &g));
    struct mmio_region *r = vm_mmio_find(&f->vm, UART_BASE + 0x1000);
    r->ops->write(r->opaque, 0, 'B', 1);
    wr(f, 0, 'A');
    assert_int_equal(g.nout, 1);
    assert_int_equal(g.out[0], 'B');
    assert_int_equal(f->nout, 1);
    assert_int_equal(f->out[0], 'A');
    assert_ptr_equal(f->vm.uart, f->u); /* the first UART stays the board console */
    uart_destroy(u2);
}

static void test_reset_keeps_input(void **state)
{
    struct fixture *f = *state;
    wr(f, 2, 0x01);
    wr(f, 1, 0x01);
    wr(f, 7, 0x42);
    feed(f, "ab");
    uart_reset(f->u);
    assert_int_equal(rd(f, 7), 0);
    assert_int_equal(rd(f, 1), 0);
    assert_false(irq_line(f)); /* interrupts disabled again */
    assert_int_equal(rd(f, 2), 0x01);
    assert_int_equal(rd(f, 0), 'a');
    assert_int_equal(rd(f, 0), 'b');
    assert_int_equal(rd(f, 5), 0x60);
}

/* ---- console backend feeding the UART ---- */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Reads everything the guest can get within a timeout, draining the FIFO. */
static size_t drain(struct fixture *f, uint8_t *buf, size_t want, int timeout_ms)
{
    size_t n = 0;
    for (int t = 0; n < want && t < timeout_ms; t++) {
        while (n < want && (rd(f, 5) & 0x01))
            buf[n++] = rd(f, 0);
        if (n < want)
            sleep_ms(1);
    }
    return n;
}

static void test_console_pipe_backpressure(void **state)
{
    struct fixture *f = *state;
    int in[2], out[2];
    assert_int_equal(pipe(in), 0);
    assert_int_equal(pipe(out), 0);
    struct console *c = console_create(&f->vm, in[0], out[1]);
    assert_non_null(c);
    wr(f, 2, 0x01); /* FIFO on */

    /* More than the FIFO holds: the console must wait, not drop. */
    enum { N = 3 * UART_RX_FIFO_SIZE + 17 };
    static uint8_t data[N], got[N];
    for (size_t i = 0; i < N; i++)
        data[i] = (uint8_t)(i * 13 + 1);
    assert_int_equal(write(in[1], data, N), N);
    sleep_ms(30); /* attach late: input waits for a UART */
    console_attach_uart(c, f->u);
    assert_int_equal(drain(f, got, N, 3000), N);
    assert_memory_equal(got, data, N);

    /* EOF stops reading but does not end the VM. */
    close(in[1]);
    sleep_ms(30);
    assert_int_equal(atomic_load(&f->vm.stop), 0);

    /* Guest output reaches out_fd. */
    console_output(c, (const uint8_t *)"ok\r\n", 4);
    char buf[8];
    assert_int_equal(read(out[0], buf, sizeof(buf)), 4);
    assert_memory_equal(buf, "ok\r\n", 4);

    console_destroy(c);
    close(in[0]);
    close(out[0]);
    close(out[1]);
}

static void test_console_destroy_while_blocked(void **state)
{
    struct fixture *f = *state;
    int in[2], out[2];
    assert_int_equal(pipe(in), 0);
    assert_int_equal(pipe(out), 0);
    struct console *c = console_create(&f->vm, in[0], out[1]);
    assert_non_null(c);
    console_attach_uart(c, f->u);
    /* FIFO off: one byte fits, the rest keeps the thread in back-pressure. */
    assert_int_equal(write(in[1], "abcdef", 6), 6);
    sleep_ms(20);
    console_destroy(c); /* must not hang */
    c = console_create(&f->vm, in[0], out[1]); /* and then idle in poll() */
    assert_non_null(c);
    console_destroy(c);
    for (int i = 0; i < 2; i++) {
        close(in[i]);
        close(out[i]);
    }
}

static void test_console_tty_escapes(void **state)
{
    struct fixture *f = *state;
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0)
        skip();
    assert_int_equal(grantpt(m), 0);
    assert_int_equal(unlockpt(m), 0);
    int s = open(ptsname(m), O_RDWR | O_NOCTTY);
    assert_true(s >= 0);
    struct termios before, during, after;
    assert_int_equal(tcgetattr(s, &before), 0);
    assert_true(before.c_lflag & ICANON);

    int out[2];
    assert_int_equal(pipe(out), 0);
    struct console *c = console_create(&f->vm, s, out[1]);
    assert_non_null(c);
    console_attach_uart(c, f->u);
    wr(f, 2, 0x01);
    assert_int_equal(tcgetattr(s, &during), 0);
    assert_false(during.c_lflag & (ICANON | ECHO | ISIG));

    /* Ctrl-C goes to the guest; C-a C-a sends one C-a; C-a h is swallowed. */
    assert_int_equal(write(m, "a\x03\x01\x01" "b\x01h" "c", 8), 8);
    uint8_t got[5];
    assert_int_equal(drain(f, got, 5, 2000), 5);
    assert_memory_equal(got, "a\x03\x01" "bc", 5);
    assert_int_equal(atomic_load(&f->vm.stop), 0);

    /* C-a x quits. */
    assert_int_equal(write(m, "\x01x", 2), 2);
    for (int t = 0; t < 2000 && !atomic_load(&f->vm.stop); t++)
        sleep_ms(1);
    assert_int_equal(atomic_load(&f->vm.stop), 1);
    assert_int_equal(rd(f, 5) & 0x01, 0); /* the escape never reached the guest */

    console_destroy(c);
    /* Read the reason only after joining the console thread: vm_request_exit()
     * publishes `stop` before it writes the status and reason. */
    assert_int_equal(f->vm.exit_status, 0);
    assert_string_equal(f->vm.exit_reason, "quit from console");
    assert_int_equal(tcgetattr(s, &after), 0);
    assert_int_equal(after.c_lflag, before.c_lflag);
    assert_int_equal(after.c_iflag, before.c_iflag);
    close(s);
    close(m);
    close(out[0]);
    close(out[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reset_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_thr_reaches_out_fn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_fifo_order_and_dr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scratch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dlab, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx_interrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_thre_interrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_iir_priority, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fifo_overflow_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loopback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_offsets_and_sizes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_uarts_independent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset_keeps_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_console_pipe_backpressure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_console_destroy_while_blocked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_console_tty_escapes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
