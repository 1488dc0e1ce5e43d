/*
 * The host-independent translator: walks one block of guest code, decodes it
 * (the interpreter's decoder, so both agree on every encoding) and hands each
 * instruction to the backend. A block is straight-line code on one guest
 * page: conditional branches leave through side exits and the block goes on
 * with the fall-through path; jal, jalr and CSR instructions end it; so does
 * the first instruction the backend does not translate (ECALL, EBREAK, xRET,
 * WFI, SFENCE.VMA, FENCE.I, page-straddling, illegal), which the interpreter
 * then runs.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu/jit/jit_internal.h"
#include "cpu/mmu.h"
#include "cpu/rvc.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Reads the instruction at page offset po; 0 when it is not wholly on the page or not a valid RVC.
 */
static unsigned fetch(const uint8_t *page, unsigned po, uint32_t *insn)
{
    if (po + 2 > PAGE_SIZE) return 0;
    uint16_t lo;
    memcpy(&lo, page + po, 2);
    if ((lo & 3) != 3) {
        *insn = rvc_expand(lo);
        return *insn ? 2 : 0;
    }
    if (po + 4 > PAGE_SIZE) return 0; /* straddles the page: the interpreter fetches it */
    uint16_t hi;
    memcpy(&hi, page + po + 2, 2);
    *insn = lo | (uint32_t)hi << 16;
    return 4;
}

struct jit_block *jit_translate(struct hart *h, const uint8_t *host, uint64_t pc)
{
    struct jit *j = h->jit;
    if (!j->rw) return NULL; /* no cache (a fork child the host refused one): interpret */
    uint64_t t0 = now_ns();
    if (j->size - j->used < JIT_MAX_BLOCK_CODE || (j->used && j->sh_mask != h->tlb_mask))
        jit_cache_flush(j);
    if (j->used == 0) { /* an empty cache: the shared code first */
        struct jit_emit se = {
            .buf = j->rw, .p = j->rw, .end = j->rw + j->size, .rx = j->rx, .jit = j,
            .tlb_mask = h->tlb_mask,
        };
        jit_be_shared(&se);
        if (se.overflow) return NULL;
        j->used = ((size_t)(se.p - se.buf) + 15) & ~(size_t)15;
    }
    /* The record first: its gen is checked by code that chained blocks jump to. */
    struct jit_block *b = malloc(sizeof(*b));
    if (!b) return NULL;
    struct jit_emit e = {
        .rx = j->rx + j->used,
        .page_off = (unsigned)(pc & (PAGE_SIZE - 1)),
        .gen = &b->gen,
        .ctx = jit_context(h),
        .buf = j->rw + j->used,
        .p = j->rw + j->used,
        .end = j->rw + j->size,
        .verify = j->cfg.mode == JIT_VERIFY,
        .jit = j,
        .tlb_key = h->data_key << 60,
        .tlb_mask = h->tlb_mask,
        .fp = (h->mstatus & MSTATUS_FS) != 0,
        .direct = h->direct_base,
    };
    unsigned page_off = (unsigned)(pc & (PAGE_SIZE - 1));
    const uint8_t *page = host - page_off;
    /* First pass: the instructions the block can hold, for the backend's register allocation. */
    struct decoded dec[JIT_MAX_INSNS];
    uint32_t raw[JIT_MAX_INSNS];
    uint8_t lens[JIT_MAX_INSNS];
    unsigned n = 0;
    for (uint32_t o = 0; n < JIT_MAX_INSNS; n++) {
        lens[n] = (uint8_t)fetch(page, page_off + o, &raw[n]);
        if (!lens[n]) break;
        dec[n] = decode_insn(raw[n]);
        o += lens[n];
        if (dec[n].op == OP_JAL || dec[n].op == OP_JALR) {
            n++;
            break;
        }
    }
    uint32_t off = 0;
    bool ended = false, untranslated = false;
    /* A branch or `j` back to the start makes a loop inside the block (no CSR instruction in it). */
    for (unsigned i = 0, o = 0; i < n; o += lens[i], i++) {
        if (dec[i].op == OP_SYSTEM) {
            /* a CSR instruction (which the block may run) after the loop: no loop; ECALL, EBREAK,
             * xRET, WFI, SFENCE.VMA end the block before themselves */
            if (dec[i].aux != 0 && dec[i].aux != 4) e.loop_hint = false;
            break;
        }
        bool jump = dec[i].op == OP_JAL || (dec[i].op >= OP_BEQ && dec[i].op <= OP_BGEU);
        if (jump && (int64_t)o + dec[i].imm == 0) {
            e.loop_hint = true;
            e.loop_end = (uint8_t)(i + 1);
        }
    }
    jit_be_prologue(&e, dec, n);
    while (e.ninsns < n) {
        uint32_t insn = raw[e.ninsns];
        unsigned len = lens[e.ninsns];
        struct decoded d = dec[e.ninsns];
        bool ok;
        switch (d.op) {
        case OP_BEQ:
        case OP_BNE:
        case OP_BLT:
        case OP_BGE:
        case OP_BLTU:
        case OP_BGEU:
            ok = jit_be_branch(&e, &d, off, len);
            break;
        case OP_JAL:
        case OP_JALR:
            ok = jit_be_jump(&e, &d, off, len);
            ended = ok;
            break;
        case OP_SYSTEM:
            ok = jit_be_system(&e, &d, off, len, insn); /* a CSR instruction: the block goes on */
            break;
        default:
            if (e.ninsns + 1 < n && jit_be_pair(&e, &d, &dec[e.ninsns + 1])) {
                e.ninsns++; /* the first of the two; the second is counted below */
                off += len;
                len = lens[e.ninsns];
                ok = true;
            } else {
                ok = jit_be_insn(&e, &d, off, insn);
            }
            break;
        }
        if (!ok) {
            untranslated = true;
            break;
        }
        e.ninsns++;
        off += len;
        if (ended) break;
    }
    if (e.ninsns == 0) {
        free(b);
        return NULL;
    }
    if (!ended) jit_be_exit(&e, off, untranslated ? JIT_EXIT_INTERP : JIT_EXIT_NEXT);
    jit_be_finish(&e);
    if (e.overflow) {
        free(b);
        return NULL; /* cannot happen with JIT_MAX_BLOCK_CODE of room; the next attempt flushes */
    }
    /* The guest bytes, for the FENCE.I check, go in the cache after the code (no allocation). */
    if ((size_t)(e.end - e.p) < off) {
        free(b);
        return NULL;
    }
    memcpy(e.p, host, off);
    b->src = j->rx + (e.p - j->rw);
    e.p += off;
    b->fn = (jit_fn)(void *)(j->rx + j->used);
    b->chain_entry = j->rx + j->used + e.chain_entry;
    b->gen = h->code_gen;
    b->ctx = jit_context(h);
    b->ninsns = (uint16_t)e.ninsns;
    b->nbytes = (uint16_t)off;
    b->next = j->blocks;
    j->blocks = b;
    b->hostpc = (uintptr_t)host;
    unsigned k = jit_bucket(b->hostpc, b->ctx);
    b->hnext = j->buckets[k];
    j->buckets[k] = b;
    j->rw_mapped = true;
    size_t bytes = (size_t)(e.p - e.buf);
    if (j->used < j->high) jit_be_sync(); /* overwrote older code */
    j->used += (bytes + 15) & ~(size_t)15;
    if (j->used > j->high) j->high = j->used;
    j->stats.translated++;
    j->stats.code_bytes = j->used;
    j->stats.translate_ns += now_ns() - t0;
    return b;
}
