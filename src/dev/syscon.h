/*
 * SiFive test device ("sifive,test1", "sifive,test0", "syscon") at
 * VIRT_TEST_BASE: the guest writes one word to power off, reboot or report a
 * failure status. Linux reaches it through syscon-poweroff/syscon-reboot,
 * OpenSBI through its sifive_test reset driver.
 */
#ifndef KILN_DEV_SYSCON_H
#define KILN_DEV_SYSCON_H

#include <stdbool.h>

struct vm;
struct syscon;

#define SYSCON_SIZE 0x1000u
#define SYSCON_FAIL 0x3333u /* | exit code << 16 */
#define SYSCON_PASS 0x5555u /* power off */
#define SYSCON_RESET 0x7777u

struct syscon *syscon_create(struct vm *vm); /* maps itself at VIRT_TEST_BASE */
void syscon_destroy(struct syscon *s);
/* FAIL codes are a workload's exit status (kiln run --rootfs): no "guest reported failure". */
void syscon_set_guest_status(struct syscon *s, bool on);

#endif
