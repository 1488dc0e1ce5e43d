/* Registers, target description and memory of a stopped hart for the GDB stub. */
#include "debug/gdb_target.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cpu/bus.h"
#include "cpu/csr.h"
#include "cpu/hart.h"
#include "cpu/mmu.h"

/* The CSRs gdb is told about: the ones gdb's riscv target names (opcode/riscv-opc.h). */
static const struct {
    const char *name;
    unsigned num;
} csrs[] = {
    {"sstatus", 0x100},  {"sie", 0x104},       {"stvec", 0x105},     {"scounteren", 0x106},
    {"senvcfg", 0x10a},  {"sscratch", 0x140},  {"sepc", 0x141},      {"scause", 0x142},
    {"stval", 0x143},    {"sip", 0x144},       {"stimecmp", 0x14d},  {"satp", 0x180},
    {"mstatus", 0x300},  {"misa", 0x301},      {"medeleg", 0x302},   {"mideleg", 0x303},
    {"mie", 0x304},      {"mtvec", 0x305},     {"mcounteren", 0x306}, {"menvcfg", 0x30a},
    {"mcountinhibit", 0x320}, {"mscratch", 0x340}, {"mepc", 0x341},  {"mcause", 0x342},
    {"mtval", 0x343},    {"mip", 0x344},       {"pmpcfg0", 0x3a0},   {"pmpcfg2", 0x3a2},
    {"pmpaddr0", 0x3b0}, {"pmpaddr1", 0x3b1},  {"pmpaddr2", 0x3b2},  {"pmpaddr3", 0x3b3},
    {"cycle", 0xc00},    {"time", 0xc01},      {"instret", 0xc02},   {"mvendorid", 0xf11},
    {"marchid", 0xf12},  {"mimpid", 0xf13},    {"mhartid", 0xf14},
};

static const char *const gpr_names[32] = {
    "zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "fp", "s1", "a0", "a1", "a2", "a3", "a4", "a5",
    "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "t3", "t4", "t5", "t6"};
static const char *const fpr_names[32] = {
    "ft0", "ft1", "ft2", "ft3", "ft4", "ft5", "ft6", "ft7", "fs0", "fs1", "fa0",
    "fa1", "fa2", "fa3", "fa4", "fa5", "fa6", "fa7", "fs2", "fs3", "fs4", "fs5",
    "fs6", "fs7", "fs8", "fs9", "fs10", "fs11", "ft8", "ft9", "ft10", "ft11"};

static char xml[8192];

/* Built on first use from the tables above; the same for every VM (const afterwards). */
static void build_xml(void)
{
    size_t o = 0;
#define PUT(...) o += (size_t)snprintf(xml + o, sizeof(xml) - o, __VA_ARGS__)
    PUT("<?xml version=\"1.0\"?><!DOCTYPE target SYSTEM \"gdb-target.dtd\"><target>"
        "<architecture>riscv:rv64</architecture>"
        "<feature name=\"org.gnu.gdb.riscv.cpu\">");
    for (unsigned i = 0; i < 32; i++) {
        const char *type = i == 1 ? "code_ptr" : (i == 2 || i == 3 || i == 4 || i == 8) ? "data_ptr" : "int";
        PUT("<reg name=\"%s\" bitsize=\"64\" type=\"%s\" regnum=\"%u\"/>", gpr_names[i], type, i);
    }
    PUT("<reg name=\"pc\" bitsize=\"64\" type=\"code_ptr\" regnum=\"%d\"/></feature>", GDB_REG_PC);
    PUT("<feature name=\"org.gnu.gdb.riscv.fpu\">"
        "<union id=\"riscv_double\"><field name=\"float\" type=\"ieee_single\"/>"
        "<field name=\"double\" type=\"ieee_double\"/></union>");
    for (unsigned i = 0; i < 32; i++)
        PUT("<reg name=\"%s\" bitsize=\"64\" type=\"riscv_double\" regnum=\"%u\"/>", fpr_names[i],
            GDB_REG_F0 + i);
    PUT("<reg name=\"fflags\" bitsize=\"32\" type=\"int\" regnum=\"%d\"/>"
        "<reg name=\"frm\" bitsize=\"32\" type=\"int\" regnum=\"%d\"/>"
        "<reg name=\"fcsr\" bitsize=\"32\" type=\"int\" regnum=\"%d\"/></feature>",
        GDB_REG_CSR0 + 1, GDB_REG_CSR0 + 2, GDB_REG_CSR0 + 3);
    PUT("<feature name=\"org.gnu.gdb.riscv.csr\">");
    for (size_t i = 0; i < sizeof(csrs) / sizeof(csrs[0]); i++)
        PUT("<reg name=\"%s\" bitsize=\"64\" type=\"int\" regnum=\"%u\"/>", csrs[i].name,
            GDB_REG_CSR0 + csrs[i].num);
    PUT("</feature></target>");
#undef PUT
}

const char *gdb_target_xml(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, build_xml);
    return xml;
}

static bool known_csr(unsigned num)
{
    if (num >= 1 && num <= 3) /* fflags, frm, fcsr (the fpu feature) */
        return true;
    for (size_t i = 0; i < sizeof(csrs) / sizeof(csrs[0]); i++)
        if (csrs[i].num == num)
            return true;
    return false;
}

/* CSR access as the debugger: with M-mode rights whatever the hart runs in (the Debug spec's
 * "debug mode" sees every CSR), then the hart's own privilege and translation keys back. */
static bool csr_access(struct hart *h, unsigned num, uint64_t *val, bool write)
{
    enum priv saved = h->priv;
    h->priv = PRIV_M;
    bool ok = write ? csr_write(h, num, *val) : csr_read(h, num, val, false);
    h->priv = saved;
    if (write) {
        mmu_update_keys(h);
        hart_tlb_flush(h);
    }
    return ok;
}

int gdb_reg_read(struct hart *h, unsigned regno, uint8_t out[8], unsigned *size)
{
    uint64_t v;
    *size = 8;
    if (regno < 32) {
        v = regno ? h->x[regno] : 0;
    } else if (regno == GDB_REG_PC) {
        v = h->pc;
    } else if (regno >= GDB_REG_F0 && regno < GDB_REG_F0 + 32) {
        v = h->f[regno - GDB_REG_F0];
    } else if (regno >= GDB_REG_CSR0 && regno < GDB_REG_CSR0 + 4096 && known_csr(regno - GDB_REG_CSR0)) {
        if (regno - GDB_REG_CSR0 <= 3)
            *size = 4;
        if (!csr_access(h, regno - GDB_REG_CSR0, &v, false))
            return -EIO;
    } else {
        return -ENOENT;
    }
    for (unsigned i = 0; i < 8; i++)
        out[i] = (uint8_t)(v >> (8 * i));
    return 0;
}

int gdb_reg_write(struct hart *h, unsigned regno, const uint8_t *in, size_t len)
{
    uint64_t v = 0;
    if (len > 8)
        return -EINVAL;
    for (size_t i = 0; i < len; i++)
        v |= (uint64_t)in[i] << (8 * i);
    if (regno < 32) {
        if (regno)
            h->x[regno] = v;
    } else if (regno == GDB_REG_PC) {
        h->pc = v;
    } else if (regno >= GDB_REG_F0 && regno < GDB_REG_F0 + 32) {
        h->f[regno - GDB_REG_F0] = v;
    } else if (regno >= GDB_REG_CSR0 && regno < GDB_REG_CSR0 + 4096 && known_csr(regno - GDB_REG_CSR0)) {
        if (!csr_access(h, regno - GDB_REG_CSR0, &v, true))
            return -EIO;
    } else {
        return -ENOENT;
    }
    return 0;
}

/*
 * The hart's view of va for a load (privileged spec 10.3.2), for a debugger: no A/D update, no
 * permission check beyond validity (gdb may look at any mapped page), no trap. M-mode (MPRV
 * ignored: gdb shows what the hart fetches) and Bare are physical.
 */
static int debug_translate(const struct hart *h, uint64_t va, uint64_t *pa)
{
    unsigned mode = (unsigned)(h->satp >> 60);
    if (h->priv == PRIV_M || mode == 0) {
        *pa = va;
        return 0;
    }
    int levels = mode == 8 ? 3 : mode == 9 ? 4 : mode == 10 ? 5 : 0;
    if (!levels)
        return -EFAULT;
    unsigned va_bits = 12 + 9 * (unsigned)levels;
    if ((uint64_t)((int64_t)(va << (64 - va_bits)) >> (64 - va_bits)) != va)
        return -EFAULT;
    const uint64_t ppn_mask = (1ull << 44) - 1;
    uint64_t table = (h->satp & ppn_mask) << 12;
    for (int level = levels - 1; level >= 0; level--) {
        uint64_t idx = (va >> (12 + 9 * (unsigned)level)) & 0x1ff;
        const uint64_t *ptep = bus_ram_ptr(h->bus, table + idx * 8, 8);
        if (!ptep)
            return -EFAULT;
        uint64_t pte = __atomic_load_n(ptep, __ATOMIC_ACQUIRE);
        if (!(pte & 1) || ((pte & 6) == 4)) /* V clear, or W without R */
            return -EFAULT;
        uint64_t ppn = (pte >> 10) & ppn_mask;
        if (!(pte & 0xa)) { /* neither R nor X: a pointer to the next level */
            table = ppn << 12;
            continue;
        }
        uint64_t off_mask = (1ull << (12 + 9 * (unsigned)level)) - 1;
        *pa = ((ppn << 12) & ~off_mask) | (va & off_mask);
        return 0;
    }
    return -EFAULT;
}

/* Page by page: a range may be contiguous virtually and scattered physically. */
static int mem_access(struct hart *h, uint64_t va, uint8_t *buf, size_t len, bool write)
{
    /* Writes translate every page first, so a fault writes nothing. */
    for (int pass = write ? 0 : 1; pass < 2; pass++) {
        uint64_t a = va;
        size_t done = 0;
        while (done < len) {
            size_t chunk = 4096 - (a & 4095);
            if (chunk > len - done)
                chunk = len - done;
            uint64_t pa;
            if (debug_translate(h, a, &pa))
                return -EFAULT;
            uint8_t *p = bus_ram_ptr(h->bus, pa, chunk);
            if (!p)
                return -EFAULT;
            if (pass == 1) {
                if (write)
                    memcpy(p, buf + done, chunk);
                else
                    memcpy(buf + done, p, chunk);
            }
            done += chunk;
            a += chunk;
        }
    }
    return 0;
}

int gdb_mem_read(struct hart *h, uint64_t va, uint8_t *out, size_t len)
{
    return mem_access(h, va, out, len, false);
}

int gdb_mem_write(struct hart *h, uint64_t va, const uint8_t *in, size_t len)
{
    return mem_access(h, va, (uint8_t *)in, len, true);
}
