/*
 * libFuzzer target: the receiving side of a live migration (src/migrate/recv.c,
 * docs/migration.md). The input is the byte stream a destination VM reads after
 * the handshake: framed records (magic, type, bounded length, CRC) with START,
 * PAGES applied to a 4 MiB guest RAM, STATE and END. Whatever the bytes, the
 * receiver must refuse cleanly or finish with pages inside RAM; a state record
 * that arrives goes on through the snapshot parser, as the board does.
 *
 * Seed: build/fuzz/fuzz_migrate -runs=0 with a corpus from tests/integration/test_migrate.py's
 * record() helper; CRCs make random mutations fail early, so the target also
 * recomputes each record's CRC when the input starts with 'C' (then the rest is framed).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "migrate/migrate.h"
#include "snapshot/format.h"
#include "snapshot/snapshot.h"

#define RAM (4u << 20)

static uint8_t *ram;

/* Rewrites each record's CRC in place so the fuzzer reaches past the checksum. */
static void fix_crcs(uint8_t *p, size_t len)
{
    size_t off = 0;
    while (len - off >= MIG_HDR) {
        uint32_t n;
        memcpy(&n, p + off + 8, 4);
        if (n > len - off - MIG_HDR)
            n = (uint32_t)(len - off - MIG_HDR);
        uint32_t c = (uint32_t)crc32(0, p + off, 12);
        c = (uint32_t)crc32(c, p + off + MIG_HDR, n);
        memcpy(p + off + 12, &c, 4);
        off += MIG_HDR + n;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ram && !(ram = calloc(1, RAM)))
        return 0;
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    const uint8_t *in = copy;
    size_t len = size;
    if (size && copy[0] == 'C') {
        in = copy + 1;
        len = size - 1;
        fix_crcs(copy + 1, len);
    }
    struct mig_conn c;
    mig_conn_init(&c, -1, 0);
    c.mem = in;
    c.mem_len = len;
    struct mig_sink s = {.ram = ram, .ram_size = RAM, .nharts = 1};
    if (mig_receive(&c, &s) == 0) {
        struct snap_file f;
        struct snap_machine m;
        char err[256];
        if (snap_parse(s.state, s.state_len, &f, err, sizeof(err)) == 0)
            snap_machine_parse(&f, &m, err, sizeof(err));
        free(s.state);
    }
    free(copy);
    return 0;
}
