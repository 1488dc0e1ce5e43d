/*
 * pvpanic-mmio: one byte register. Reads advertise the events we understand,
 * a write of PANICKED ends the VM with a clear reason instead of leaving a
 * panicked guest spinning (QEMU docs/specs/pvpanic.rst).
 */
#include "dev/pvpanic.h"

#include <stdlib.h>

#include "machine/vm.h"

#define PVPANIC_PANICKED (1u << 0)
#define PVPANIC_CRASH_LOADED (1u << 1)

struct pvpanic {
    struct vm *vm;
};

static uint64_t pvpanic_read(void *opaque, uint64_t offset, unsigned size)
{
    return offset == 0 ? PVPANIC_PANICKED | PVPANIC_CRASH_LOADED : 0;
}

static void pvpanic_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    struct pvpanic *p = opaque;
    if (offset != 0)
        return;
    if (value & PVPANIC_PANICKED)
        vm_request_exit(p->vm, PVPANIC_EXIT_STATUS, "guest kernel panic");
    else if (value & PVPANIC_CRASH_LOADED)
        vm_request_exit(p->vm, PVPANIC_EXIT_STATUS, "guest kernel crashed (crash kernel loaded)");
}

static const struct mmio_ops pvpanic_ops = {.read = pvpanic_read, .write = pvpanic_write};

struct pvpanic *pvpanic_create(struct vm *vm)
{
    struct pvpanic *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->vm = vm;
    if (vm_mmio_add(vm, "pvpanic", VIRT_PVPANIC_BASE, VIRT_PVPANIC_SIZE, &pvpanic_ops, p) < 0) {
        free(p);
        return NULL;
    }
    return p;
}

void pvpanic_destroy(struct pvpanic *p)
{
    free(p);
}
