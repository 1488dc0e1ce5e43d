/*
 * The pid space of a process VM. Guest processes are host processes (fork
 * is a host fork), so what they share lives in one anonymous MAP_SHARED
 * region made before the first program starts and inherited by every fork:
 * the table of virtual pids (vpid <-> host pid, parent, process group,
 * session), the process cap, and the commit counter that makes --mem a
 * limit for the whole process VM. Guest pids never reach the host and host
 * pids never reach the guest; a pid outside the table is ESRCH.
 *
 * Entries live until the parent reaps the process. A reaper marks the entry
 * dead *before* it reaps the host zombie (waitid WNOWAIT first), and senders
 * hold the table lock while they signal, so a host pid looked up in a live
 * entry cannot have been reused by an unrelated host process.
 */
#ifndef KILN_USER_PIDTAB_H
#define KILN_USER_PIDTAB_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* The first program is vpid 1, like the init of a pid namespace; its parent reads as 0. */
#define PIDTAB_INIT 1
/* Process cap default (`kiln exec --procs`); the table holds at most PIDTAB_SIZE. */
#define PIDTAB_DEFAULT_PROCS 64
#define PIDTAB_SIZE 1024
/* vpids and vtids wrap here, like the kernel's default pid_max. */
#define PIDTAB_PID_MAX 4194304

struct pident {
    int vpid;  /* 0: free slot */
    int host;  /* host pid, 0 until the fork has returned */
    int ppid, pgid, sid;
    int exited;              /* the process has ended (a zombie until reaped) */
    _Atomic uint64_t commit; /* pages this process has charged to the VM */
};

struct pidtab {
    pthread_mutex_t lock; /* process-shared, robust */
    int next;             /* next id to try */
    int nprocs;           /* entries in use, zombies included */
    int max_procs;
    int tty_pgrp;         /* the terminal's foreground group as the VM sees it (a vpid) */
    _Atomic uint64_t commit; /* pages charged by every process of the VM, plus kiln's copies */
    uint64_t commit_limit;
    struct pident e[PIDTAB_SIZE];
};

/* A new shared table (MAP_SHARED anonymous). NULL with errno on failure. */
struct pidtab *pidtab_create(int max_procs, uint64_t commit_limit);

void pidtab_lock(struct pidtab *pt);
void pidtab_unlock(struct pidtab *pt);
/* Without waiting (where a wait could deadlock, e.g. in a signal handler). True when held. */
bool pidtab_trylock(struct pidtab *pt);

/* With the lock held: */
struct pident *pidtab_find(struct pidtab *pt, int vpid);
struct pident *pidtab_find_host(struct pidtab *pt, int host);
/* A new entry with a fresh vpid; NULL (-EAGAIN) when the cap is reached. */
struct pident *pidtab_add(struct pidtab *pt, int ppid, int pgid, int sid);
/* A fresh id for a thread (never a live vpid). */
int pidtab_new_id(struct pidtab *pt);
/* Frees an entry: its remaining charge goes back to the VM, its children go to init. */
void pidtab_remove(struct pidtab *pt, struct pident *e);
/* Children of vpid now have init as their parent (the exiting process's orphans). */
void pidtab_reparent(struct pidtab *pt, int vpid);

/* Lock-free: gives an entry's charge back to the VM (at exit, or when reaping a killed process). */
void pidtab_uncharge(struct pidtab *pt, struct pident *e);

#endif
