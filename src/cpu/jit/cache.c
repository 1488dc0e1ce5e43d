/*
 * The per-hart code cache: one memfd mapped twice, writable and executable
 * (W^X: no page is ever both in one mapping), reserved at its full size but
 * backed only as blocks are written, so an idle hart costs no memory. When
 * full it is flushed wholesale. Without memfd_create (or if the kernel forbids
 * executable shared mappings) it falls back to one RWX mapping, with a warning.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cpu/jit/jit_internal.h"
#include "util/log.h"

int jit_cache_init(struct jit *j, size_t size)
{
    size = (size + 4095) & ~(size_t)4095;
    if (size < 2 * JIT_MAX_BLOCK_CODE) size = 2 * JIT_MAX_BLOCK_CODE;
    j->size = size;
    j->used = j->high = 0;
    j->memfd = memfd_create("kiln-jit", MFD_CLOEXEC);
    if (j->memfd >= 0) {
        if (ftruncate(j->memfd, (off_t)size) == 0) {
            j->rw = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, j->memfd, 0);
            j->rx = mmap(NULL, size, PROT_READ | PROT_EXEC, MAP_SHARED, j->memfd, 0);
            if (j->rw != MAP_FAILED && j->rx != MAP_FAILED) {
                /* The two mappings keep the memfd alive: no host descriptor stays open per hart. */
                close(j->memfd);
                j->memfd = -1;
                return 0;
            }
            if (j->rw != MAP_FAILED) munmap(j->rw, size);
            if (j->rx != MAP_FAILED) munmap(j->rx, size);
        }
        close(j->memfd);
        j->memfd = -1;
    }
    log_warn("jit", "no double-mapped code cache (%s): using one writable and executable mapping",
             strerror(errno));
    j->rw = mmap(NULL, size, PROT_READ | PROT_WRITE | PROT_EXEC,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (j->rw == MAP_FAILED) {
        j->rw = j->rx = NULL;
        return -errno;
    }
    j->rx = j->rw;
    return 0;
}

static void free_blocks(struct jit *j)
{
    while (j->blocks) {
        struct jit_block *b = j->blocks;
        j->blocks = b->next;
        free(b);
    }
}

void jit_cache_destroy(struct jit *j)
{
    free_blocks(j);
    jit_fault_forget(j);
    if (j->rw) munmap(j->rw, j->size);
    if (j->rx && j->rx != j->rw) munmap(j->rx, j->size);
    if (j->memfd >= 0) close(j->memfd);
    j->rw = j->rx = NULL;
    j->memfd = -1;
}

/*
 * In a child of a host fork (process VMs' fork, docs/process-vm.md): the
 * inherited views are MAP_SHARED, so the child translating into them would
 * overwrite code the parent runs, and the other way round. The child drops
 * its copies of the views and of the block records and makes a cache of its
 * own; without one (the host refused) it only interprets.
 */
void jit_cache_fork(struct jit *j)
{
    jit_cache_destroy(j); /* unmaps the child's views only; the parent keeps its own */
    memset(j->table, 0, sizeof(j->table));
    memset(j->buckets, 0, sizeof(j->buckets));
    j->chain_from = NULL;
    j->stats.code_bytes = 0;
    if (jit_cache_init(j, j->cfg.cache_size) < 0) {
        j->size = j->used = 0;
        log_warn("jit", "no code cache after fork: this process interprets");
    }
}

/* Only called from the dispatcher, never while translated code of this hart runs. */
void jit_cache_flush(struct jit *j)
{
    free_blocks(j);
    memset(j->table, 0, sizeof(j->table));
    memset(j->buckets, 0, sizeof(j->buckets));
    j->used = 0;
    j->stats.flushes++;
    j->stats.code_bytes = 0;
}

/*
 * A flush that also gives the code's memory back to the host: the pages of
 * the shared memfd are freed (MADV_REMOVE punches them out of the file, so
 * both views lose them: madvise(2)); a private RWX fallback just drops its
 * pages. For a hart that has been idle for seconds (jit_idle()): an idle VM
 * then costs what it would without a JIT, and code that is still hot is
 * translated again within a few dozen entries.
 */
void jit_cache_release(struct jit *j)
{
    jit_cache_flush(j);
    j->stats.releases++;
    size_t len = (j->high + 4095) & ~(size_t)4095;
    if (len) madvise(j->rw, len, j->rw == j->rx ? MADV_DONTNEED : MADV_REMOVE);
    j->rw_mapped = false;
}
