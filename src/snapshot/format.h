/*
 * The snapshot state file (docs/snapshots.md): a fixed header followed by
 * tagged records, one per device or hart.
 *
 *   header (32 bytes, little-endian):
 *     char magic[8] "KILNSNAP"; u32 version; u32 header_size (32);
 *     u64 payload_len; u32 payload_crc (CRC-32, IEEE); u32 header_crc (of bytes 0..27)
 *   payload: records, each
 *     char tag[16] (NUL-padded, [a-z0-9_]); u32 len; u32 zero; len bytes; zero pad to 8
 *
 * Writers append with snap_w_*; readers get one record as a snap_rd cursor whose
 * reads never go past the record: a short record sets `bad` and reads return 0.
 * The file is hostile input: snap_parse checks the header, both checksums and
 * every record's framing before anything is looked at, and each *_load checks
 * its values before applying them.
 */
#ifndef KILN_SNAPSHOT_FORMAT_H
#define KILN_SNAPSHOT_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNAP_MAGIC "KILNSNAP"
#define SNAP_VERSION 1
#define SNAP_HEADER_SIZE 32
#define SNAP_TAG_MAX 16
#define SNAP_MAX_RECORDS 128
#define SNAP_STATE_MAX (16u << 20) /* a state file is small: anything bigger is refused */

/* File names inside a snapshot directory. */
#define SNAP_STATE_NAME "state.kiln"
#define SNAP_MEMORY_NAME "memory.raw"

struct snap_w {
    uint8_t *buf;
    size_t len, cap;
    size_t rec; /* offset of the open record's header, or SIZE_MAX */
    bool oom;
};

void snap_w_init(struct snap_w *w);
void snap_w_free(struct snap_w *w);
void snap_w_begin(struct snap_w *w, const char *tag);
void snap_w_end(struct snap_w *w);
void snap_w_u8(struct snap_w *w, uint8_t v);
void snap_w_u16(struct snap_w *w, uint16_t v);
void snap_w_u32(struct snap_w *w, uint32_t v);
void snap_w_u64(struct snap_w *w, uint64_t v);
void snap_w_bytes(struct snap_w *w, const void *p, size_t n);
/* A string: u16 length, then the bytes (no NUL). */
void snap_w_str(struct snap_w *w, const char *s);
/* Fills in the header. Returns 0, or -ENOMEM if any append failed. */
int snap_w_finish(struct snap_w *w);

struct snap_rd {
    const uint8_t *p;
    size_t len, off;
    bool bad;
};

uint8_t snap_r_u8(struct snap_rd *r);
uint16_t snap_r_u16(struct snap_rd *r);
uint32_t snap_r_u32(struct snap_rd *r);
uint64_t snap_r_u64(struct snap_rd *r);
bool snap_r_bool(struct snap_rd *r); /* a u8 that must be 0 or 1 */
void snap_r_bytes(struct snap_rd *r, void *dst, size_t n);
/* A string of at most cap-1 bytes without NUL; sets bad otherwise. */
void snap_r_str(struct snap_rd *r, char *dst, size_t cap);
/* 0 if the record was read exactly to its end without error, else -EINVAL. */
int snap_r_done(const struct snap_rd *r);

struct snap_record {
    char tag[SNAP_TAG_MAX + 1];
    const uint8_t *data;
    uint32_t len;
};

struct snap_file {
    uint32_t version;
    unsigned nrec;
    struct snap_record rec[SNAP_MAX_RECORDS];
};

/* Parses and checks a whole state file held in memory. 0, or -EINVAL with a message in err. */
int snap_parse(const uint8_t *buf, size_t len, struct snap_file *out, char *err, size_t errlen);
/* The record `tag` as a cursor: 0, or -ENOENT. */
int snap_find(const struct snap_file *f, const char *tag, struct snap_rd *r);

uint32_t snap_crc32(uint32_t crc, const void *buf, size_t len);

#endif
