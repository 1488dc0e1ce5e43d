# vm_sv39.S - Sv39 address translation: 4K, 2M and 1G pages, identity and
# non-identity mappings, R/W/X/U permissions with SUM and MXR, page-fault
# causes and tval, misaligned superpages, W-without-R, hardware A/D
# updates, sfence.vma, non-canonical addresses, MPRV. Body in vm.h.
#include "harness.h"
#define SATP_MODE	8
#define LEVELS		3
#include "vm.h"
