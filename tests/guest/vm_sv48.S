# vm_sv48.S - the vm.h cases under Sv48 (four levels; the same layout with
# one more table on top, and Sv48's canonical-address rule).
#include "harness.h"
#define SATP_MODE	9
#define LEVELS		4
#include "vm.h"
