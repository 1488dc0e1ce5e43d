/*
 * Live migration of a system VM between two kiln daemons (docs/migration.md).
 *
 * The stream is a sequence of framed records over one TCP connection:
 *
 *   header (16 bytes, little-endian): u32 magic "KMG1"; u16 type; u16 zero;
 *     u32 payload length; u32 CRC-32 (IEEE) of the first 12 header bytes and the payload
 *   payload: length bytes, bounded per type (mig_max_len) before anything is read
 *
 * Daemon to daemon (the destination speaks first):
 *   HELLO   dst->src  u32 version, 32-byte nonce
 *   AUTH    src->dst  32-byte nonce, HMAC-SHA256(token, "kiln-migrate src" | dst nonce | src nonce)
 *   AUTH_OK dst->src  HMAC-SHA256(token, "kiln-migrate dst" | src nonce | dst nonce)
 *   CONFIG  src->dst  the VM's definition, JSON (as POST /v1/vms takes it)
 *   DISK    src->dst  (--copy-disks, after CONFIG, per disk) u32 index, u64 size; then
 *   DISK_DATA         u64 offset + bytes (all-zero chunks are not sent), and a DISK_DATA
 *                     with no bytes at offset = size ends the disk
 *   ACCEPT  dst->src  the destination started the VM, waiting for its memory
 * VM process to VM process (each daemon handed its socket to its VM):
 *   START   src->dst  u64 RAM size, u32 harts, u32 page size (4096)
 *   PAGES   src->dst  u64 first page, u32 count (1..MIG_PAGES_MAX), u32 zero flag; count
 *                     pages unless the flag says they are all zero
 *   VERIFY  src->dst  (only with KILN_MIGRATE_VERIFY=1 in the source's environment, after the
 *                     last PAGES) u64 first page, u32 count (1..MIG_VERIFY_MAX), u32 zero, then
 *                     a CRC-32 per page; the destination refuses the VM if any page differs
 *   STATE   src->dst  the snapshot state file (snapshot/format.h), at the end, VM paused
 *   END     src->dst  u32 rounds, u32 zero
 *   RUNNING dst->src  the destination resumed the VM: the source must not
 *   ERROR   either    a message (at most MIG_ERR_MAX bytes); the connection ends
 *
 * Every byte received is hostile: lengths, page indices and counts are checked
 * against the types' bounds and the VM's RAM before use, each record's CRC
 * before its content is looked at, and the state record goes through the
 * snapshot parser's checks (snap_parse, snapshot_apply).
 */
#ifndef KILN_MIGRATE_MIGRATE_H
#define KILN_MIGRATE_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MIG_MAGIC 0x31474d4bu /* "KMG1" */
#define MIG_VERSION 1
#define MIG_HDR 16
#define MIG_PAGE 4096u
#define MIG_PAGES_MAX 256u
#define MIG_NONCE 32
#define MIG_MAC 32
#define MIG_ERR_MAX 1024u
#define MIG_CONFIG_MAX (256u << 10)
#define MIG_DISK_CHUNK (1u << 20)
#define MIG_TOKEN_MAX 4096
#define MIG_VERIFY_MAX 65536u /* pages per VERIFY record */

enum mig_type {
    MIG_HELLO = 1, MIG_AUTH, MIG_AUTH_OK, MIG_CONFIG, MIG_ACCEPT, MIG_ERROR,
    MIG_DISK, MIG_DISK_DATA,
    MIG_START = 16, MIG_PAGES, MIG_STATE, MIG_END, MIG_RUNNING, MIG_VERIFY,
};

/* One end of the stream: a socket (fd) or, for the fuzzer, bytes in memory (mem). */
struct mig_conn {
    int fd;
    int timeout_ms;     /* longest wait for the peer in any one read or write */
    const uint8_t *mem; /* fuzzing: read from here instead of fd */
    size_t mem_len, mem_off;
    uint64_t bytes_out, bytes_in;
    char err[MIG_ERR_MAX + 128];
};

void mig_conn_init(struct mig_conn *c, int fd, int timeout_ms);
/* Largest payload a record of this type may carry; 0 for an unknown type. */
uint32_t mig_max_len(uint32_t type);
/* Sends one record (payload in two parts, either may be empty). 0 or -1 with c->err. */
int mig_send(struct mig_conn *c, uint32_t type, const void *a, size_t alen, const void *b, size_t blen);
/* Sends an ERROR record with this message (best effort). */
void mig_send_error(struct mig_conn *c, const char *msg);
/*
 * Receives one record: checks magic, the type's bound (and cap), reads the
 * payload into buf and checks the CRC. An ERROR record becomes -1 with the
 * peer's message in c->err. 0 with *type and *len set, or -1 with c->err.
 */
int mig_recv(struct mig_conn *c, uint32_t *type, uint8_t *buf, size_t cap, uint32_t *len);

/* auth.c: HMAC-SHA256 challenge/response with the shared token (constant-time compare). */
/* Reads a token file: at most MIG_TOKEN_MAX bytes, trailing newlines dropped, not empty. */
int mig_token_read(const char *path, uint8_t *tok, size_t *len, char *err, size_t errlen);
/* The destination's side: HELLO, check AUTH, AUTH_OK. 0, or -1 with c->err (refused). */
int mig_auth_accept(struct mig_conn *c, const uint8_t *tok, size_t toklen);
/* The source's side: read HELLO, AUTH, check AUTH_OK (a destination that knows the token). */
int mig_auth_connect(struct mig_conn *c, const uint8_t *tok, size_t toklen);

/* recv.c: what an incoming stream is loaded into. */
struct mig_sink {
    uint8_t *ram;
    uint64_t ram_size;
    uint32_t nharts;
    /* Filled: the state record (malloc'ed; the caller frees it), counts. */
    uint8_t *state;
    size_t state_len;
    uint64_t pages, zero_pages;
    uint32_t rounds;
    uint64_t verified, mismatched, first_mismatch; /* VERIFY records: pages checked, differing */
};
/* Reads START, PAGES..., STATE, END. 0 with sink->state set, or -1 with c->err. */
int mig_receive(struct mig_conn *c, struct mig_sink *sink);

/* send.c: the source VM. The callbacks run on the calling thread. */
struct snap_w;
struct vm;
struct mig_source {
    struct vm *vm;
    uint32_t downtime_ms; /* target for the stop-and-copy */
    uint32_t max_rounds;  /* dirty rounds before stopping anyway */
    bool paused;          /* already paused (--copy-disks): one pass, no tracking, no resume */
    void *ctx;
    void (*pause)(void *ctx);
    void (*resume)(void *ctx);
    void (*relock)(void *ctx); /* takes back the disk locks the state callback gave up */
    /* The state file's bytes into w (harts paused). 0 or -1 with err. */
    int (*state)(void *ctx, struct snap_w *w, char *err, size_t errlen);
};
struct mig_stats {
    uint64_t total_ms, downtime_ms;
    uint64_t bytes, pages, rounds, last_dirty;
    double mib_per_s;
};
/*
 * Streams the running VM to the destination on c: START, all RAM while the
 * harts run, dirty rounds, pause, last pages + STATE + END, then waits for
 * RUNNING. 0: the destination runs the VM and the source stays paused. -1 with
 * c->err: the source runs again (resumed if it was paused here).
 */
int mig_send_vm(struct mig_conn *c, const struct mig_source *src, struct mig_stats *st);

#endif
