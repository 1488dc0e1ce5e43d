#include "user/pidtab.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

struct pidtab *pidtab_create(int max_procs, uint64_t commit_limit)
{
    if (max_procs < 1 || max_procs > PIDTAB_SIZE) {
        errno = EINVAL;
        return NULL;
    }
    struct pidtab *pt = mmap(NULL, sizeof(*pt), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                             -1, 0);
    if (pt == MAP_FAILED)
        return NULL;
    memset(pt, 0, sizeof(*pt));
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    /* A process killed while holding the lock must not wedge the others. */
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    int err = pthread_mutex_init(&pt->lock, &a);
    pthread_mutexattr_destroy(&a);
    if (err) {
        munmap(pt, sizeof(*pt));
        errno = err;
        return NULL;
    }
    pt->next = PIDTAB_INIT;
    pt->tty_pgrp = PIDTAB_INIT;
    pt->max_procs = max_procs;
    pt->commit_limit = commit_limit;
    return pt;
}

void pidtab_lock(struct pidtab *pt)
{
    if (pthread_mutex_lock(&pt->lock) == EOWNERDEAD)
        pthread_mutex_consistent(&pt->lock); /* every update below is a few plain stores */
}

bool pidtab_trylock(struct pidtab *pt)
{
    int r = pthread_mutex_trylock(&pt->lock);
    if (r == EOWNERDEAD)
        pthread_mutex_consistent(&pt->lock);
    return r == 0 || r == EOWNERDEAD;
}

void pidtab_unlock(struct pidtab *pt)
{
    pthread_mutex_unlock(&pt->lock);
}

struct pident *pidtab_find(struct pidtab *pt, int vpid)
{
    if (vpid <= 0)
        return NULL;
    for (int i = 0; i < PIDTAB_SIZE; i++)
        if (pt->e[i].vpid == vpid)
            return &pt->e[i];
    return NULL;
}

struct pident *pidtab_find_host(struct pidtab *pt, int host)
{
    if (host <= 0)
        return NULL;
    for (int i = 0; i < PIDTAB_SIZE; i++)
        if (pt->e[i].vpid && pt->e[i].host == host)
            return &pt->e[i];
    return NULL;
}

int pidtab_new_id(struct pidtab *pt)
{
    for (;;) {
        int id = pt->next++;
        if (pt->next >= PIDTAB_PID_MAX)
            pt->next = PIDTAB_INIT + 1;
        if (!pidtab_find(pt, id))
            return id;
    }
}

struct pident *pidtab_add(struct pidtab *pt, int ppid, int pgid, int sid)
{
    if (pt->nprocs >= pt->max_procs)
        return NULL;
    for (int i = 0; i < PIDTAB_SIZE; i++) {
        struct pident *e = &pt->e[i];
        if (e->vpid)
            continue;
        memset(e, 0, sizeof(*e));
        e->vpid = pidtab_new_id(pt);
        e->ppid = ppid;
        e->pgid = pgid ? pgid : e->vpid;
        e->sid = sid ? sid : e->vpid;
        pt->nprocs++;
        return e;
    }
    return NULL;
}

void pidtab_uncharge(struct pidtab *pt, struct pident *e)
{
    uint64_t n = atomic_exchange(&e->commit, 0);
    if (n)
        atomic_fetch_sub(&pt->commit, n);
}

void pidtab_reparent(struct pidtab *pt, int vpid)
{
    for (int i = 0; i < PIDTAB_SIZE; i++)
        if (pt->e[i].vpid && pt->e[i].ppid == vpid)
            pt->e[i].ppid = PIDTAB_INIT;
}

void pidtab_remove(struct pidtab *pt, struct pident *e)
{
    if (!e->vpid)
        return;
    pidtab_uncharge(pt, e);
    pidtab_reparent(pt, e->vpid);
    e->vpid = 0;
    e->host = 0;
    pt->nprocs--;
}
