/*
 * SiFive test device ("sifive,test1", "sifive,test0", "syscon") at
 * VIRT_TEST_BASE: the guest writes one word to power off, reboot or report a
 * failure status. Linux reaches it through syscon-poweroff/syscon-reboot,
 * OpenSBI through its sifive_test reset driver.
 */
#ifndef KILN_DEV_SYSCON_H
#define KILN_DEV_SYSCON_H

struct vm;
struct syscon;

#define SYSCON_SIZE 0x1000u
#define SYSCON_FAIL 0x3333u /* | exit code << 16 */
#define SYSCON_PASS 0x5555u /* power off */
#define SYSCON_RESET 0x7777u

struct syscon *syscon_create(struct vm *vm); /* maps itself at VIRT_TEST_BASE */
void syscon_destroy(struct syscon *s);

#endif
