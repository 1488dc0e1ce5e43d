/*
 * A bare-metal virtio-blk driver that does not accept VIRTIO_F_VERSION_1 (issue 11): like the
 * xv6 teaching OS it writes only the low feature word, then FEATURES_OK; it reads sector 0 and
 * prints its first 16 bytes and the capacity from config space through HTIF. Then a second
 * pass negotiates the legacy way (no FEATURES_OK at all, straight to DRIVER_OK) and reads
 * sector 1. tests/integration/test_virtio_legacy.sh checks the printed bytes against the disk.
 * Without a virtio-blk device it prints "no disk" and passes (the JIT test runs it so).
 */
#include <stdint.h>

volatile uint64_t tohost __attribute__((section(".tohost"), aligned(8)));
volatile uint64_t fromhost __attribute__((section(".tohost"), aligned(8)));

__asm__(".section .text.init\n"
        ".globl _start\n"
        "_start:\n"
        "  csrr t0, mhartid\n"
        "  bnez t0, 2f\n"
        "  la sp, stack_top\n"
        "  call main\n"
        "1: j 1b\n"
        "2: wfi\n"
        "  j 2b\n"
        ".bss\n"
        ".balign 16\n"
        "  .space 8192\n"
        "stack_top:\n"
        ".text\n");

/* virtio-mmio registers (virtio 1.2 §4.2.2) */
enum {
    MAGIC = 0x000, VERSION = 0x004, DEVICE_ID = 0x008, DEV_FEATURES = 0x010, DEV_FEATURES_SEL = 0x014,
    DRV_FEATURES = 0x020, DRV_FEATURES_SEL = 0x024, QUEUE_SEL = 0x030, QUEUE_NUM_MAX = 0x034,
    QUEUE_NUM = 0x038, QUEUE_READY = 0x044, QUEUE_NOTIFY = 0x050, INT_STATUS = 0x060, INT_ACK = 0x064,
    STATUS = 0x070, DESC_LO = 0x080, DESC_HI = 0x084, AVAIL_LO = 0x090, AVAIL_HI = 0x094,
    USED_LO = 0x0a0, USED_HI = 0x0a4, CONFIG = 0x100,
};
enum { S_ACK = 1, S_DRIVER = 2, S_DRIVER_OK = 4, S_FEATURES_OK = 8 };
#define QN 8

struct desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
};
struct blk_req {
    uint32_t type, reserved;
    uint64_t sector;
};

static struct desc descs[QN] __attribute__((aligned(4096)));
static struct {
    uint16_t flags, idx, ring[QN], used_event;
} avail __attribute__((aligned(4096)));
static struct {
    uint16_t flags, idx;
    struct {
        uint32_t id, len;
    } ring[QN];
} used __attribute__((aligned(4096)));
static struct blk_req req;
static uint8_t data[512];
static volatile uint8_t status_byte;

static void putc_htif(char c)
{
    tohost = (1ull << 56) | (1ull << 48) | (uint8_t)c;
    while (tohost)
        ;
}
static void puts_htif(const char *s)
{
    while (*s)
        putc_htif(*s++);
}
static void puthex(uint64_t v, int digits)
{
    for (int i = digits - 1; i >= 0; i--)
        putc_htif("0123456789abcdef"[(v >> (4 * i)) & 15]);
}
static void finish(int ok)
{
    tohost = ok ? 1 : (2 << 1) | 1;
    for (;;)
        ;
}

static volatile uint32_t *reg(uintptr_t base, unsigned off)
{
    return (volatile uint32_t *)(base + off);
}

/* legacy: no FEATURES_OK (virtio 1.2 §4.2.4 legacy sequence: ACK, DRIVER, features, DRIVER_OK). */
static int init_and_read(uintptr_t b, int legacy, uint64_t sector)
{
    *reg(b, STATUS) = 0;
    *reg(b, STATUS) = S_ACK;
    *reg(b, STATUS) = S_ACK | S_DRIVER;
    *reg(b, DEV_FEATURES_SEL) = 0;
    uint32_t f = *reg(b, DEV_FEATURES);
    f &= ~((1u << 5) | (1u << 7) | (1u << 11) | (1u << 12) | (1u << 27) | (1u << 28) | (1u << 29));
    *reg(b, DRV_FEATURES_SEL) = 0;
    *reg(b, DRV_FEATURES) = f; /* the low word only: VERSION_1 (bit 32) never accepted */
    if (!legacy) {
        *reg(b, STATUS) = S_ACK | S_DRIVER | S_FEATURES_OK;
        if (!(*reg(b, STATUS) & S_FEATURES_OK)) {
            puts_htif("virtio disk FEATURES_OK unset\n");
            return -1;
        }
    }
    /* Fresh rings before the device may look at them (it does at DRIVER_OK, §2.7). */
    avail.idx = 0;
    used.idx = 0;
    __sync_synchronize();
    *reg(b, QUEUE_SEL) = 0;
    if (*reg(b, QUEUE_NUM_MAX) < QN)
        return -2;
    *reg(b, QUEUE_NUM) = QN;
    *reg(b, DESC_LO) = (uint32_t)(uintptr_t)descs;
    *reg(b, DESC_HI) = 0;
    *reg(b, AVAIL_LO) = (uint32_t)(uintptr_t)&avail;
    *reg(b, AVAIL_HI) = 0;
    *reg(b, USED_LO) = (uint32_t)(uintptr_t)&used;
    *reg(b, USED_HI) = 0;
    *reg(b, QUEUE_READY) = 1;
    *reg(b, STATUS) = S_ACK | S_DRIVER | (legacy ? 0 : S_FEATURES_OK) | S_DRIVER_OK;
    if (!(*reg(b, STATUS) & S_DRIVER_OK))
        return -3;

    req.type = 0; /* VIRTIO_BLK_T_IN */
    req.sector = sector;
    status_byte = 0xff;
    descs[0] = (struct desc){(uintptr_t)&req, sizeof(req), 1, 1};        /* NEXT */
    descs[1] = (struct desc){(uintptr_t)data, sizeof(data), 1 | 2, 2};   /* NEXT | WRITE */
    descs[2] = (struct desc){(uintptr_t)&status_byte, 1, 2, 0};          /* WRITE */
    avail.ring[0] = 0;
    __sync_synchronize();
    avail.idx = 1;
    __sync_synchronize();
    *reg(b, QUEUE_NOTIFY) = 0;
    for (unsigned long spin = 0; *(volatile uint16_t *)&used.idx != 1; spin++)
        if (spin > 100000000ul)
            return -4;
    __sync_synchronize();
    *reg(b, INT_ACK) = *reg(b, INT_STATUS);
    return status_byte == 0 ? 0 : -5;
}

int main(void)
{
    /* The first virtio-mmio slot, as xv6 uses it (kiln maps only the slots in use). */
    uintptr_t base = 0, b = 0x10001000u;
    if (*reg(b, MAGIC) == 0x74726976 && *reg(b, VERSION) == 2 && *reg(b, DEVICE_ID) == 2)
        base = b;
    if (!base) {
        puts_htif("no disk\n");
        finish(1);
    }
    int r = init_and_read(base, 0, 0);
    if (r) {
        puts_htif("read failed ");
        puthex((uint64_t)-r, 1);
        putc_htif('\n');
        finish(0);
    }
    uint64_t cap = *(volatile uint32_t *)(base + CONFIG) |
                   (uint64_t)*(volatile uint32_t *)(base + CONFIG + 4) << 32;
    puts_htif("capacity ");
    puthex(cap, 8);
    puts_htif("\nsector0 ");
    for (int i = 0; i < 16; i++)
        putc_htif((char)data[i]);
    putc_htif('\n');
    r = init_and_read(base, 1, 1);
    if (r) {
        puts_htif("legacy read failed ");
        puthex((uint64_t)-r, 1);
        putc_htif('\n');
        finish(0);
    }
    puts_htif("sector1 ");
    for (int i = 0; i < 16; i++)
        putc_htif((char)data[i]);
    putc_htif('\n');
    finish(1);
    return 0;
}
