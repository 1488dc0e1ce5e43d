/* Dies by SIGSEGV: a store through a null pointer (exit status 139). */
#include <stdio.h>

int main(void)
{
    printf("about to fault\n");
    fflush(stdout);
    volatile int *p = (volatile int *)0;
    *p = 1;
    return 0;
}
