/* Device tree: every node and property, config reflected, -ENOSPC and -EINVAL. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <libfdt.h>
#include <stdio.h>
#include <string.h>

#include "machine/fdt.h"
#include "machine/vm.h"

static char buf[64 * 1024];

static const struct fdt_config base_cfg = {
    .nharts = 2,
    .ram_base = VIRT_DRAM_BASE,
    .ram_size = 256ull << 20,
    .bootargs = "console=ttyS0 earlycon=sbi",
    .initrd_start = 0x88000000,
    .initrd_end = 0x88123456,
    .nvirtio = 3,
    .has_rtc = true,
};

static int node(const char *path)
{
    int off = fdt_path_offset(buf, path);
    if (off < 0)
        fail_msg("missing node %s: %s", path, fdt_strerror(off));
    return off;
}

static const void *prop(const char *path, const char *name, int *len)
{
    const void *p = fdt_getprop(buf, node(path), name, len);
    if (!p)
        fail_msg("missing %s:%s", path, name);
    return p;
}

static uint32_t prop_u32(const char *path, const char *name)
{
    int len;
    const fdt32_t *p = prop(path, name, &len);
    assert_int_equal(len, 4);
    return fdt32_ld(p);
}

static uint64_t prop_u64(const char *path, const char *name)
{
    int len;
    const fdt64_t *p = prop(path, name, &len);
    assert_int_equal(len, 8);
    return fdt64_ld(p); /* properties are only 4-byte aligned */
}

static void check_str(const char *path, const char *name, const char *want, int want_len)
{
    int len;
    const char *p = prop(path, name, &len);
    assert_int_equal(len, want_len);
    assert_memory_equal(p, want, (size_t)want_len);
}

#define check_strs(path, name, lit) check_str(path, name, lit, (int)sizeof(lit))

static void check_reg(const char *path, uint64_t base, uint64_t size)
{
    int len;
    const fdt64_t *p = prop(path, "reg", &len);
    assert_int_equal(len, 16);
    assert_true(fdt64_ld(&p[0]) == base);
    assert_true(fdt64_ld(&p[1]) == size);
}

static bool has(const char *path, const char *name)
{
    return fdt_getprop(buf, node(path), name, NULL) != NULL;
}

static int build(const struct fdt_config *cfg)
{
    memset(buf, 0xa5, sizeof(buf));
    return fdt_build(cfg, buf, sizeof(buf));
}

/* Phandle of hart n's interrupt controller, via the cpu node. */
static uint32_t intc_phandle(unsigned n)
{
    char path[64];
    snprintf(path, sizeof(path), "/cpus/cpu@%x/interrupt-controller", n); /* unit address in hex (DT spec 2.2.1) */
    uint32_t ph = fdt_get_phandle(buf, node(path));
    assert_int_not_equal(ph, 0);
    return ph;
}

static void check_per_hart(const char *path, unsigned nharts, uint32_t a, uint32_t b)
{
    int len;
    const fdt32_t *p = prop(path, "interrupts-extended", &len);
    assert_int_equal(len, 16 * (int)nharts);
    for (unsigned i = 0; i < nharts; i++) {
        uint32_t ph = intc_phandle(i);
        assert_int_equal(fdt32_ld(&p[4 * i + 0]), ph);
        assert_int_equal(fdt32_ld(&p[4 * i + 1]), a);
        assert_int_equal(fdt32_ld(&p[4 * i + 2]), ph);
        assert_int_equal(fdt32_ld(&p[4 * i + 3]), b);
    }
}

static void check_plic_child(const char *path, unsigned irq)
{
    uint32_t plic = fdt_get_phandle(buf, node("/soc/plic@c000000"));
    assert_int_equal(prop_u32(path, "interrupts"), irq);
    assert_int_equal(prop_u32(path, "interrupt-parent"), plic);
}

static void test_full_tree(void **state)
{
    int n = build(&base_cfg);
    assert_true(n > 0 && n <= (int)sizeof(buf));
    assert_int_equal(fdt_check_header(buf), 0);
    assert_int_equal(fdt_totalsize(buf), (uint32_t)n);

    assert_int_equal(prop_u32("/", "#address-cells"), 2);
    assert_int_equal(prop_u32("/", "#size-cells"), 2);
    check_strs("/", "compatible", "riscv-virtio");
    assert_true(has("/", "model"));

    check_strs("/chosen", "bootargs", "console=ttyS0 earlycon=sbi");
    check_strs("/chosen", "stdout-path", "/soc/serial@10000000");
    assert_true(prop_u64("/chosen", "linux,initrd-start") == 0x88000000);
    assert_true(prop_u64("/chosen", "linux,initrd-end") == 0x88123456);

    check_strs("/memory@80000000", "device_type", "memory");
    check_reg("/memory@80000000", VIRT_DRAM_BASE, 256ull << 20);

    assert_int_equal(prop_u32("/cpus", "#address-cells"), 1);
    assert_int_equal(prop_u32("/cpus", "#size-cells"), 0);
    assert_int_equal(prop_u32("/cpus", "timebase-frequency"), VM_TIMEBASE_HZ);
    for (unsigned i = 0; i < 2; i++) {
        char cpu[64], intc[96], core[64];
        snprintf(cpu, sizeof(cpu), "/cpus/cpu@%u", i);
        snprintf(intc, sizeof(intc), "%s/interrupt-controller", cpu);
        snprintf(core, sizeof(core), "/cpus/cpu-map/cluster0/core%u", i);
        check_strs(cpu, "device_type", "cpu");
        assert_int_equal(prop_u32(cpu, "reg"), i);
        check_strs(cpu, "status", "okay");
        check_strs(cpu, "compatible", "riscv");
        int len;
        const char *isa = prop(cpu, "riscv,isa", &len);
        assert_int_equal(strncmp(isa, "rv64imafdc", 10), 0);
        check_strs(cpu, "mmu-type", "riscv,sv48");
        assert_int_equal(prop_u32(intc, "#interrupt-cells"), 1);
        assert_true(has(intc, "interrupt-controller"));
        check_strs(intc, "compatible", "riscv,cpu-intc");
        assert_int_equal(prop_u32(core, "cpu"), fdt_get_phandle(buf, node(cpu)));
    }
    assert_int_equal(fdt_path_offset(buf, "/cpus/cpu@2"), -FDT_ERR_NOTFOUND);

    check_strs("/soc", "compatible", "simple-bus");
    assert_int_equal(prop_u32("/soc", "#address-cells"), 2);
    assert_int_equal(prop_u32("/soc", "#size-cells"), 2);
    int len;
    prop("/soc", "ranges", &len);
    assert_int_equal(len, 0);

    check_strs("/soc/clint@2000000", "compatible", "sifive,clint0\0riscv,clint0");
    check_reg("/soc/clint@2000000", VIRT_CLINT_BASE, VIRT_CLINT_SIZE);
    check_per_hart("/soc/clint@2000000", 2, 3, 7);

    const char *plic = "/soc/plic@c000000";
    check_strs(plic, "compatible", "sifive,plic-1.0.0\0riscv,plic0");
    check_reg(plic, VIRT_PLIC_BASE, VIRT_PLIC_SIZE);
    assert_int_equal(prop_u32(plic, "#interrupt-cells"), 1);
    assert_int_equal(prop_u32(plic, "#address-cells"), 0);
    assert_true(has(plic, "interrupt-controller"));
    assert_int_equal(prop_u32(plic, "riscv,ndev"), 95);
    assert_int_not_equal(fdt_get_phandle(buf, node(plic)), 0);
    check_per_hart(plic, 2, 11, 9);

    const char *uart = "/soc/serial@10000000";
    check_strs(uart, "compatible", "ns16550a");
    check_reg(uart, VIRT_UART0_BASE, 0x100);
    assert_int_equal(prop_u32(uart, "clock-frequency"), 3686400);
    check_plic_child(uart, VIRT_UART0_IRQ);

    const char *test = "/soc/test@100000";
    check_strs(test, "compatible", "sifive,test1\0sifive,test0\0syscon");
    check_reg(test, VIRT_TEST_BASE, 0x1000);
    uint32_t test_ph = fdt_get_phandle(buf, node(test));
    assert_int_not_equal(test_ph, 0);
    check_strs("/poweroff", "compatible", "syscon-poweroff");
    assert_int_equal(prop_u32("/poweroff", "regmap"), test_ph);
    assert_int_equal(prop_u32("/poweroff", "offset"), 0);
    assert_int_equal(prop_u32("/poweroff", "value"), 0x5555);
    check_strs("/reboot", "compatible", "syscon-reboot");
    assert_int_equal(prop_u32("/reboot", "regmap"), test_ph);
    assert_int_equal(prop_u32("/reboot", "offset"), 0);
    assert_int_equal(prop_u32("/reboot", "value"), 0x7777);

    const char *rtc = "/soc/rtc@101000";
    check_strs(rtc, "compatible", "google,goldfish-rtc");
    check_reg(rtc, VIRT_RTC_BASE, 0x1000);
    check_plic_child(rtc, VIRT_RTC_IRQ);

    for (unsigned i = 0; i < 3; i++) {
        char path[64];
        uint64_t base = VIRT_VIRTIO_BASE + i * VIRT_VIRTIO_STRIDE;
        snprintf(path, sizeof(path), "/soc/virtio_mmio@%llx", (unsigned long long)base);
        check_strs(path, "compatible", "virtio,mmio");
        check_reg(path, base, 0x1000);
        check_plic_child(path, VIRT_VIRTIO_IRQ + i);
    }
    assert_true(fdt_path_offset(buf, "/soc/virtio_mmio@10004000") < 0);

    /* All phandles distinct. */
    uint32_t max;
    assert_int_equal(fdt_find_max_phandle(buf, &max), 0);
    for (uint32_t ph = 1; ph <= max; ph++)
        assert_true(fdt_node_offset_by_phandle(buf, ph) >= 0);
}

static void test_minimal(void **state)
{
    struct fdt_config cfg = {.nharts = 1, .ram_base = VIRT_DRAM_BASE, .ram_size = 1 << 20};
    assert_true(build(&cfg) > 0);
    assert_null(fdt_getprop(buf, node("/chosen"), "bootargs", NULL));
    assert_null(fdt_getprop(buf, node("/chosen"), "linux,initrd-start", NULL));
    assert_null(fdt_getprop(buf, node("/chosen"), "linux,initrd-end", NULL));
    assert_true(has("/chosen", "stdout-path"));
    assert_true(fdt_path_offset(buf, "/soc/rtc@101000") < 0);
    assert_true(fdt_path_offset(buf, "/soc/virtio_mmio@10001000") < 0);
    assert_true(fdt_path_offset(buf, "/cpus/cpu@1") < 0);
    check_per_hart("/soc/plic@c000000", 1, 11, 9);
}

static void test_many_harts(void **state)
{
    struct fdt_config cfg = base_cfg;
    cfg.nharts = VM_MAX_HARTS;
    cfg.nvirtio = FDT_MAX_VIRTIO;
    cfg.ram_base = 0x100000000ull;
    cfg.ram_size = 8ull << 30;
    assert_true(build(&cfg) > 0);
    char path[64];
    snprintf(path, sizeof(path), "/cpus/cpu@%x", VM_MAX_HARTS - 1);
    node(path);
    snprintf(path, sizeof(path), "/cpus/cpu-map/cluster0/core%u", VM_MAX_HARTS - 1);
    node(path);
    check_per_hart("/soc/clint@2000000", VM_MAX_HARTS, 3, 7);
    check_per_hart("/soc/plic@c000000", VM_MAX_HARTS, 11, 9);
    check_reg("/memory@100000000", 0x100000000ull, 8ull << 30);
    node("/soc/virtio_mmio@10008000");
}

static void test_nospace(void **state)
{
    int full = build(&base_cfg);
    assert_true(full > 0);
    assert_int_equal(fdt_build(&base_cfg, buf, 0), -ENOSPC);
    assert_int_equal(fdt_build(&base_cfg, buf, 16), -ENOSPC);
    assert_int_equal(fdt_build(&base_cfg, buf, 100), -ENOSPC);
    assert_int_equal(fdt_build(&base_cfg, buf, (size_t)full - 1), -ENOSPC);
    assert_int_equal(fdt_build(&base_cfg, buf, (size_t)full), full);
    assert_int_equal(fdt_check_header(buf), 0);
}

static void test_invalid(void **state)
{
    struct fdt_config cfg = base_cfg;
    cfg.nharts = 0;
    assert_int_equal(fdt_build(&cfg, buf, sizeof(buf)), -EINVAL);
    cfg.nharts = VM_MAX_HARTS + 1;
    assert_int_equal(fdt_build(&cfg, buf, sizeof(buf)), -EINVAL);
    cfg = base_cfg;
    cfg.nvirtio = FDT_MAX_VIRTIO + 1;
    assert_int_equal(fdt_build(&cfg, buf, sizeof(buf)), -EINVAL);
    cfg = base_cfg;
    cfg.ram_size = 0;
    assert_int_equal(fdt_build(&cfg, buf, sizeof(buf)), -EINVAL);
    cfg = base_cfg;
    cfg.ram_base = ~0ull - 10;
    assert_int_equal(fdt_build(&cfg, buf, sizeof(buf)), -EINVAL);
    cfg = base_cfg;
    cfg.initrd_start = cfg.initrd_end + 1;
    assert_int_equal(fdt_build(&cfg, buf, sizeof(buf)), -EINVAL);
    assert_int_equal(fdt_build(NULL, buf, sizeof(buf)), -EINVAL);
    assert_int_equal(fdt_build(&base_cfg, NULL, sizeof(buf)), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_tree),
        cmocka_unit_test(test_minimal),
        cmocka_unit_test(test_many_harts),
        cmocka_unit_test(test_nospace),
        cmocka_unit_test(test_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
