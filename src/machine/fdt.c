/*
 * Flattened device tree for the kiln board, written with libfdt's
 * sequential-write API. The shape follows QEMU 7.2 hw/riscv/virt.c (what Linux
 * and OpenSBI's generic platform are tested against); properties follow the
 * DT spec v0.4 and the kernel bindings cited at each node.
 */
#include "machine/fdt.h"

#include <errno.h>
#include <libfdt.h>
#include <stdio.h>
#include <string.h>

#include "cpu/hart.h" /* IRQ_*: a riscv,cpu-intc specifier is the mip bit number */
#include "machine/vm.h"

/*
 * ISA string: Linux 6.1 (arch/riscv/kernel/cpufeature.c) parses single letters
 * after "rv64" and '_'-separated multi-letter extensions, skipping unknown
 * ones; OpenSBI only needs the "rv64" prefix. Zicsr/Zifencei are spelled out
 * because ISA spec 20191213 split them from I. Sstc lets Linux program
 * stimecmp itself instead of trapping to OpenSBI per timer event. The rest
 * is the RVA22U64/RVA22S64 set kiln implements (profiles spec), plus Zicond,
 * Zkr and Sdtrig; newer kernels read the same list from riscv,isa-extensions
 * (bindings/riscv/extensions.yaml).
 */
static const char *const fdt_isa_ext[] = {
    "i", "m", "a", "f", "d", "c", "zicbom", "zicbop", "zicboz", "zicntr", "zicond", "zicsr",
    "zifencei", "zihintpause", "zihpm", "zfhmin", "zba", "zbb", "zbs", "zkr", "zkt", "sdtrig", "sstc",
    "svinval", "svnapot", "svpbmt",
};
#define FDT_ISA                                                                                    \
    "rv64imafdc_zicbom_zicbop_zicboz_zicntr_zicond_zicsr_zifencei_zihintpause_zihpm_zfhmin_zba_"   \
    "zbb_zbs_zkr_zkt_sdtrig_sstc_svinval_svnapot_svpbmt"
/* Zicbom/Zicbop/Zicboz operate on 64-byte blocks (cpu/exec.c exec_cbo). */
#define FDT_CBO_BLOCK 64
/* The MMU implements Sv39 and Sv48; the binding names the largest mode (bindings/riscv/cpus.yaml). */
#define FDT_MMU "riscv,sv48"

#define UART_CLOCK_HZ 3686400 /* the 16550 input clock QEMU advertises: 1.8432 MHz * 2 */
#define UART_SIZE 0x100
#define CLINT_SIZE VIRT_CLINT_SIZE
#define TEST_SIZE 0x1000
#define RTC_SIZE 0x1000
#define PLIC_NDEV 95 /* sources 1..95 (PLIC_NUM_SOURCES - 1), bindings/.../sifive,plic-1.0.0.yaml */

/* Fixed phandles: nothing else allocates them. */
enum {
    PH_PLIC = 1,
    PH_TEST = 2,
    PH_CPU0 = 3, /* cpu N: PH_CPU0 + 2N, its interrupt controller: PH_CPU0 + 2N + 1 */
};

static uint32_t ph_cpu(unsigned n)
{
    return PH_CPU0 + 2 * n;
}

static uint32_t ph_intc(unsigned n)
{
    return PH_CPU0 + 2 * n + 1;
}

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        err = (expr);                                                                              \
        if (err < 0)                                                                               \
            goto out;                                                                              \
    } while (0)

/* `reg` with #address-cells = #size-cells = 2: one (address, size) pair of 64-bit cells. */
static int prop_reg(void *fdt, uint64_t base, uint64_t size)
{
    fdt64_t cells[2] = {cpu_to_fdt64(base), cpu_to_fdt64(size)};
    return fdt_property(fdt, "reg", cells, sizeof(cells));
}

#define prop_strings(fdt, name, lit) fdt_property(fdt, name, lit, sizeof(lit))

/* riscv,isa-extensions: a string list, each name NUL-terminated (devicetree spec 2.2.4). */
static int fdt_isa_extensions(void *fdt)
{
    char buf[256];
    size_t len = 0;
    for (size_t i = 0; i < sizeof(fdt_isa_ext) / sizeof(fdt_isa_ext[0]); i++) {
        size_t n = strlen(fdt_isa_ext[i]) + 1;
        if (len + n > sizeof(buf))
            return -FDT_ERR_NOSPACE;
        memcpy(buf + len, fdt_isa_ext[i], n);
        len += n;
    }
    return fdt_property(fdt, "riscv,isa-extensions", buf, (int)len);
}

static int begin_node_at(void *fdt, const char *name, uint64_t addr)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%s@%llx", name, (unsigned long long)addr);
    return fdt_begin_node(fdt, buf);
}

/* A device on the PLIC with one interrupt (bindings/interrupt-controller/interrupts.txt). */
static int prop_plic_irq(void *fdt, unsigned irq)
{
    int err = fdt_property_u32(fdt, "interrupts", irq);
    if (err < 0)
        return err;
    return fdt_property_u32(fdt, "interrupt-parent", PH_PLIC);
}

/* interrupts-extended = <&intcN a, &intcN b> for every hart, in hart order. */
static int prop_per_hart_irqs(void *fdt, const char *name, unsigned nharts, uint32_t a, uint32_t b)
{
    fdt32_t cells[4 * VM_MAX_HARTS];
    for (unsigned i = 0; i < nharts; i++) {
        cells[4 * i + 0] = cpu_to_fdt32(ph_intc(i));
        cells[4 * i + 1] = cpu_to_fdt32(a);
        cells[4 * i + 2] = cpu_to_fdt32(ph_intc(i));
        cells[4 * i + 3] = cpu_to_fdt32(b);
    }
    return fdt_property(fdt, name, cells, 16 * nharts);
}

/* bindings/riscv/cpus.yaml and bindings/interrupt-controller/riscv,cpu-intc.yaml */
static int build_cpus(void *fdt, const struct fdt_config *cfg)
{
    char name[32];
    int err;

    TRY(fdt_begin_node(fdt, "cpus"));
    TRY(fdt_property_u32(fdt, "#address-cells", 1));
    TRY(fdt_property_u32(fdt, "#size-cells", 0));
    TRY(fdt_property_u32(fdt, "timebase-frequency", (uint32_t)VM_TIMEBASE_HZ));
    for (unsigned i = 0; i < cfg->nharts; i++) {
        TRY(begin_node_at(fdt, "cpu", i));
        TRY(fdt_property_u32(fdt, "phandle", ph_cpu(i)));
        TRY(fdt_property_string(fdt, "device_type", "cpu"));
        TRY(fdt_property_u32(fdt, "reg", i));
        TRY(fdt_property_string(fdt, "status", "okay"));
        TRY(fdt_property_string(fdt, "compatible", "riscv"));
        TRY(fdt_property_string(fdt, "riscv,isa", FDT_ISA));
        TRY(fdt_property_string(fdt, "riscv,isa-base", "rv64i"));
        TRY(fdt_isa_extensions(fdt));
        TRY(fdt_property_u32(fdt, "riscv,cbom-block-size", FDT_CBO_BLOCK));
        TRY(fdt_property_u32(fdt, "riscv,cbop-block-size", FDT_CBO_BLOCK));
        TRY(fdt_property_u32(fdt, "riscv,cboz-block-size", FDT_CBO_BLOCK));
        TRY(fdt_property_string(fdt, "mmu-type", FDT_MMU));
        TRY(fdt_begin_node(fdt, "interrupt-controller"));
        TRY(fdt_property_u32(fdt, "#interrupt-cells", 1));
        TRY(fdt_property(fdt, "interrupt-controller", NULL, 0));
        TRY(fdt_property_string(fdt, "compatible", "riscv,cpu-intc"));
        TRY(fdt_property_u32(fdt, "phandle", ph_intc(i)));
        TRY(fdt_end_node(fdt));
        TRY(fdt_end_node(fdt));
    }
    /* bindings/cpu/cpu-topology.txt: one cluster, one core per hart. */
    TRY(fdt_begin_node(fdt, "cpu-map"));
    TRY(fdt_begin_node(fdt, "cluster0"));
    for (unsigned i = 0; i < cfg->nharts; i++) {
        snprintf(name, sizeof(name), "core%u", i);
        TRY(fdt_begin_node(fdt, name));
        TRY(fdt_property_u32(fdt, "cpu", ph_cpu(i)));
        TRY(fdt_end_node(fdt));
    }
    TRY(fdt_end_node(fdt));
    TRY(fdt_end_node(fdt));
    TRY(fdt_end_node(fdt));
out:
    return err;
}

static int build_soc(void *fdt, const struct fdt_config *cfg)
{
    int err;

    TRY(fdt_begin_node(fdt, "soc"));
    TRY(fdt_property_u32(fdt, "#address-cells", 2));
    TRY(fdt_property_u32(fdt, "#size-cells", 2));
    TRY(fdt_property_string(fdt, "compatible", "simple-bus"));
    TRY(fdt_property(fdt, "ranges", NULL, 0)); /* identity: children use CPU addresses */

    /* bindings/timer/sifive,clint.yaml: MSIP (3) and MTIP (7) of every hart. */
    TRY(begin_node_at(fdt, "clint", VIRT_CLINT_BASE));
    TRY(prop_strings(fdt, "compatible", "sifive,clint0\0riscv,clint0"));
    TRY(prop_reg(fdt, VIRT_CLINT_BASE, CLINT_SIZE));
    TRY(prop_per_hart_irqs(fdt, "interrupts-extended", cfg->nharts, IRQ_MSI, IRQ_MTI));
    TRY(fdt_end_node(fdt));

    /* bindings/interrupt-controller/sifive,plic-1.0.0.yaml: contexts M (11), S (9) per hart. */
    TRY(begin_node_at(fdt, "plic", VIRT_PLIC_BASE));
    TRY(fdt_property_u32(fdt, "phandle", PH_PLIC));
    TRY(fdt_property_u32(fdt, "riscv,ndev", PLIC_NDEV));
    TRY(prop_reg(fdt, VIRT_PLIC_BASE, VIRT_PLIC_SIZE));
    TRY(prop_per_hart_irqs(fdt, "interrupts-extended", cfg->nharts, IRQ_MEI, IRQ_SEI));
    TRY(fdt_property(fdt, "interrupt-controller", NULL, 0));
    TRY(prop_strings(fdt, "compatible", "sifive,plic-1.0.0\0riscv,plic0"));
    TRY(fdt_property_u32(fdt, "#address-cells", 0));
    TRY(fdt_property_u32(fdt, "#interrupt-cells", 1));
    TRY(fdt_end_node(fdt));

    /* bindings/serial/8250.yaml */
    TRY(begin_node_at(fdt, "serial", VIRT_UART0_BASE));
    TRY(prop_plic_irq(fdt, VIRT_UART0_IRQ));
    TRY(fdt_property_u32(fdt, "clock-frequency", UART_CLOCK_HZ));
    TRY(prop_reg(fdt, VIRT_UART0_BASE, UART_SIZE));
    TRY(fdt_property_string(fdt, "compatible", "ns16550a"));
    TRY(fdt_end_node(fdt));

    /* The SiFive test device, a syscon for bindings/power/reset/syscon-{poweroff,reboot}.yaml. */
    TRY(begin_node_at(fdt, "test", VIRT_TEST_BASE));
    TRY(fdt_property_u32(fdt, "phandle", PH_TEST));
    TRY(prop_reg(fdt, VIRT_TEST_BASE, TEST_SIZE));
    TRY(prop_strings(fdt, "compatible", "sifive,test1\0sifive,test0\0syscon"));
    TRY(fdt_end_node(fdt));

    /* bindings/rtc/trivial-rtc.yaml (google,goldfish-rtc) */
    if (cfg->has_rtc) {
        TRY(begin_node_at(fdt, "rtc", VIRT_RTC_BASE));
        TRY(prop_plic_irq(fdt, VIRT_RTC_IRQ));
        TRY(prop_reg(fdt, VIRT_RTC_BASE, RTC_SIZE));
        TRY(fdt_property_string(fdt, "compatible", "google,goldfish-rtc"));
        TRY(fdt_end_node(fdt));
    }

    /* QEMU's pvpanic-mmio (bindings: misc/qemu,pvpanic-mmio): the guest reports its panics here. */
    if (cfg->has_pvpanic) {
        TRY(begin_node_at(fdt, "pvpanic", VIRT_PVPANIC_BASE));
        TRY(prop_reg(fdt, VIRT_PVPANIC_BASE, VIRT_PVPANIC_SIZE));
        TRY(fdt_property_string(fdt, "compatible", "qemu,pvpanic-mmio"));
        TRY(fdt_end_node(fdt));
    }

    /*
     * bindings/virtio/mmio.yaml. Ascending order: Linux probes platform
     * devices in DT order, so slot 0 becomes the first disk (vda).
     */
    for (unsigned i = 0; i < cfg->nvirtio; i++) {
        uint64_t base = VIRT_VIRTIO_BASE + i * VIRT_VIRTIO_STRIDE;
        TRY(begin_node_at(fdt, "virtio_mmio", base));
        TRY(prop_plic_irq(fdt, VIRT_VIRTIO_IRQ + i));
        TRY(prop_reg(fdt, base, VIRT_VIRTIO_STRIDE));
        TRY(fdt_property_string(fdt, "compatible", "virtio,mmio"));
        TRY(fdt_end_node(fdt));
    }
    TRY(fdt_end_node(fdt));
out:
    return err;
}

/* A syscon-poweroff / syscon-reboot node writing `value` to the test device. */
static int build_syscon_action(void *fdt, const char *node, const char *compat, uint32_t value)
{
    int err;

    TRY(fdt_begin_node(fdt, node));
    TRY(fdt_property_u32(fdt, "value", value));
    TRY(fdt_property_u32(fdt, "offset", 0));
    TRY(fdt_property_u32(fdt, "regmap", PH_TEST));
    TRY(fdt_property_string(fdt, "compatible", compat));
    TRY(fdt_end_node(fdt));
out:
    return err;
}

static int build(const struct fdt_config *cfg, void *fdt, size_t size)
{
    char name[40];
    int err;

    TRY(fdt_create(fdt, (int)size));
    TRY(fdt_finish_reservemap(fdt));
    TRY(fdt_begin_node(fdt, ""));
    TRY(fdt_property_u32(fdt, "#address-cells", 2));
    TRY(fdt_property_u32(fdt, "#size-cells", 2));
    TRY(fdt_property_string(fdt, "compatible", "riscv-virtio"));
    TRY(fdt_property_string(fdt, "model", "riscv-virtio,kiln"));

    /* DT spec v0.4 §3.6; linux,initrd-* per Documentation/devicetree/bindings/chosen.txt. */
    TRY(fdt_begin_node(fdt, "chosen"));
    if (cfg->bootargs)
        TRY(fdt_property_string(fdt, "bootargs", cfg->bootargs));
    snprintf(name, sizeof(name), "/soc/serial@%llx", (unsigned long long)VIRT_UART0_BASE);
    TRY(fdt_property_string(fdt, "stdout-path", name));
    if (cfg->initrd_start || cfg->initrd_end) {
        TRY(fdt_property_u64(fdt, "linux,initrd-start", cfg->initrd_start));
        TRY(fdt_property_u64(fdt, "linux,initrd-end", cfg->initrd_end));
    }
    TRY(fdt_end_node(fdt));

    TRY(build_syscon_action(fdt, "poweroff", "syscon-poweroff", 0x5555));
    TRY(build_syscon_action(fdt, "reboot", "syscon-reboot", 0x7777));

    /* DT spec v0.4 §3.4 */
    TRY(begin_node_at(fdt, "memory", cfg->ram_base));
    TRY(fdt_property_string(fdt, "device_type", "memory"));
    TRY(prop_reg(fdt, cfg->ram_base, cfg->ram_size));
    TRY(fdt_end_node(fdt));

    TRY(build_cpus(fdt, cfg));
    TRY(build_soc(fdt, cfg));

    TRY(fdt_end_node(fdt));
    TRY(fdt_finish(fdt));
    err = (int)fdt_totalsize(fdt);
out:
    return err;
}

int fdt_build(const struct fdt_config *cfg, void *buf, size_t size)
{
    if (!cfg || !buf || cfg->nharts == 0 || cfg->nharts > VM_MAX_HARTS ||
        cfg->nvirtio > FDT_MAX_VIRTIO || cfg->ram_size == 0 ||
        cfg->ram_base + cfg->ram_size < cfg->ram_base || cfg->initrd_end < cfg->initrd_start)
        return -EINVAL;
    /* libfdt sizes are ints; a bigger buffer than that is simply not all used. */
    if (size > INT32_MAX)
        size = INT32_MAX;

    int ret = build(cfg, buf, size);
    if (ret == -FDT_ERR_NOSPACE)
        return -ENOSPC;
    if (ret < 0)
        return -EINVAL;
    return ret;
}
