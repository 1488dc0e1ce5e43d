/* Baseline: start-up and power-off only, so the other programs' times can
 * be reported with the VMM's start-up cost subtracted. */
#include "bench.h"

int main(void)
{
	uart_puts("empty: ok\n");
	return 0;
}
