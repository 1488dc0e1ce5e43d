/* Prints a greeting: the smallest end-to-end check of kiln exec. */
#include <stdio.h>

int main(void)
{
    printf("hello from riscv64\n");
    return 0;
}
