/*
 * A bare-metal C program for the GDB stub's test (tests/integration/test_gdb.sh): named
 * functions to break on, a counter to read and a variable to watch. Run alone it passes
 * through HTIF like every ISA program. Harts other than 0 wait in WFI, so the stub's
 * all-stop has a sleeping hart to hold too.
 */
#include <stdint.h>

volatile uint64_t tohost __attribute__((section(".tohost"), aligned(8)));
volatile uint64_t fromhost __attribute__((section(".tohost"), aligned(8)));

volatile uint64_t gdb_counter;
volatile uint64_t gdb_watched;

__asm__(".section .text.init\n"
        ".globl _start\n"
        "_start:\n"
        "  csrr t0, mhartid\n"
        "  bnez t0, 2f\n"
        "  la sp, stack_top\n"
        "  call main\n"
        "1: j 1b\n"
        "2: wfi\n"
        "  j 2b\n"
        ".bss\n"
        ".balign 16\n"
        "  .space 8192\n"
        "stack_top:\n"
        ".text\n");

__attribute__((noinline)) uint64_t gdb_target_fn(uint64_t x)
{
    gdb_counter += x;
    return gdb_counter * 3;
}

__attribute__((noinline)) void gdb_finish(uint64_t acc)
{
    gdb_watched = acc;
    tohost = acc == 60 ? 1 : 3; /* 3 + 9 + 18 + 30 */
}

int main(void)
{
    uint64_t acc = 0;
    for (uint64_t i = 1; i <= 4; i++)
        acc += gdb_target_fn(i);
    gdb_finish(acc);
    for (;;)
        ;
}
