/*
 * SiFive test device, as QEMU virt's "sifive,test0/1": register 0 (32 bits,
 * write-only) takes a command in its low 16 bits and, for FAIL, an exit code in
 * the high 16 bits. The DT binds syscon-poweroff (value 0x5555) and
 * syscon-reboot (0x7777) to it (bindings/power/reset/syscon-poweroff.yaml,
 * syscon-reboot.yaml). Reads return 0; unknown commands are ignored.
 *
 * Stateless apart from the VM pointer, so no lock: vm_request_exit() is
 * thread-safe and the first caller wins.
 */
#include "dev/syscon.h"

#include <stdint.h>
#include <stdlib.h>

#include "machine/vm.h"
#include "util/log.h"

struct syscon {
    struct vm *vm;
};

static uint64_t syscon_read(void *opaque, uint64_t off, unsigned size)
{
    return 0;
}

static void syscon_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
    struct syscon *s = opaque;

    /* The command register is 32 bits; QEMU also takes 16-bit writes, which carry no code. */
    if (off != 0 || (size != 4 && size != 2))
        return;
    uint32_t v = (uint32_t)value;
    unsigned code = v >> 16;

    switch (v & 0xffff) {
    case SYSCON_PASS:
        vm_request_exit(s->vm, 0, "guest powered off");
        break;
    case SYSCON_RESET:
        /*
         * Set before stopping: the run loop reads reboot once it sees stop. Not
         * when the run is already ending, so a reboot cannot turn an earlier
         * power-off or failure into a restart.
         */
        if (!atomic_load(&s->vm->stop))
            atomic_store(&s->vm->reboot, 1);
        vm_request_exit(s->vm, 0, "guest reboot");
        break;
    case SYSCON_FAIL:
        vm_request_exit(s->vm, code ? (int)code : 1, "guest reported failure %u", code);
        break;
    default:
        log_debug("syscon", "ignored write %#x", v);
        break;
    }
}

static const struct mmio_ops syscon_ops = {
    .read = syscon_read,
    .write = syscon_write,
};

struct syscon *syscon_create(struct vm *vm)
{
    struct syscon *s = calloc(1, sizeof(*s));
    if (!s) {
        log_err("syscon", "out of memory");
        return NULL;
    }
    s->vm = vm;
    int err = vm_mmio_add(vm, "syscon", VIRT_TEST_BASE, SYSCON_SIZE, &syscon_ops, s);
    if (err) {
        log_err("syscon", "cannot map at %#llx: error %d", VIRT_TEST_BASE, err);
        free(s);
        return NULL;
    }
    return s;
}

/* No MMIO window can be unmapped: call only while tearing the VM down. */
void syscon_destroy(struct syscon *s)
{
    free(s);
}
