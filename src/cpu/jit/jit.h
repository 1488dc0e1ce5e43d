/*
 * The JIT's public face: a hart with a `struct jit` attached runs hot code as
 * translated host machine code and everything else in the interpreter
 * (docs/jit.md). The interpreter stays the reference: JIT_VERIFY runs every
 * translated block and then the interpreter from the same state and stops the
 * VM at the first difference.
 */
#ifndef KILN_CPU_JIT_JIT_H
#define KILN_CPU_JIT_JIT_H

#include <stddef.h>
#include <stdint.h>

#include "cpu/hart.h"

enum jit_mode { JIT_OFF, JIT_ON, JIT_VERIFY };

struct jit_config {
    enum jit_mode mode;
    size_t cache_size;  /* bytes of host code per hart (mapped lazily) */
    unsigned threshold; /* entries of a block start before it is translated */
};

#define JIT_DEFAULT_CACHE (16u << 20)
#define JIT_DEFAULT_THRESHOLD 16

/* Counters, for --verbose and the benchmarks. */
struct jit_stats {
    uint64_t translated;   /* blocks translated */
    uint64_t invalidated;  /* blocks dropped because their code changed */
    uint64_t flushes;      /* whole-cache flushes (cache full, or released) */
    uint64_t releases;     /* of those, flushes that gave the code's memory back (idle hart) */
    uint64_t block_runs;   /* entries into translated code from the dispatcher */
    uint64_t chained;      /* direct jumps patched between blocks */
    uint64_t insns_jit;    /* instructions retired in translated code */
    uint64_t insns_interp; /* instructions run by the interpreter under the dispatcher */
    uint64_t code_bytes;   /* host code bytes in use now */
    uint64_t translate_ns; /* time spent translating */
};

/*
 * The configuration harts get from hart_init(): `kiln run` sets it from
 * --jit/--jit-cache before it builds the VM. Initially JIT_OFF.
 */
struct jit_config *jit_default_config(void);

/* Parses "on", "off" or "verify". Returns 0 or -EINVAL. */
int jit_parse_mode(const char *s, enum jit_mode *out);

/* True when this host has a backend (x86-64); elsewhere harts only interpret. */
int jit_supported(void);

/* Gives h a JIT (code cache mapped, not touched). 0, or -errno. A no-op without a backend. */
int jit_attach(struct hart *h, const struct jit_config *cfg);
void jit_detach(struct hart *h);

/* Forgets every translation of h (tests reusing one hart for unrelated code). */
void jit_flush(struct hart *h);

/*
 * In the child of a host fork, before h runs again: h gets a code cache of
 * its own (the inherited one is shared with the parent). Called from the
 * dispatcher's own thread (a system call the hart made), never from
 * translated code.
 */
void jit_forked(struct hart *h);

/*
 * The hart is about to sleep (WFI): unmaps the writable view's pages, so the
 * code is counted once in the process's RSS rather than once per view.
 */
void jit_idle(struct hart *h);

/* Runs h->budget instructions like hart_interp(), entering translated code where it exists. */
uint64_t jit_exec(struct hart *h);

/* This hart's counters (zeros without a JIT). */
struct jit_stats jit_get_stats(const struct hart *h);

#endif
