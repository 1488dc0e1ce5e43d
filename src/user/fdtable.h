/*
 * The descriptor table of a process VM (the model: gVisor's
 * pkg/sentry/kernel/fd_table.go). Guest fd numbers index this table, never
 * the host's: each slot points at an open file (a host descriptor kiln owns,
 * always close-on-exec on the host) plus the guest's own close-on-exec bit.
 * kiln's own descriptors are not in the table, so no guest number can reach
 * them whatever the host's rlimits or the number of mappings. dup'd slots
 * share one open file, as dup(2) shares an open file description; the host
 * descriptor is closed when the last slot and the last call using it are done,
 * so a close() racing a blocking read() in another thread never lets that
 * read land on a reused host number.
 */
#ifndef KILN_USER_FDTABLE_H
#define KILN_USER_FDTABLE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

/* Slots in the table; also the RLIMIT_NOFILE the guest sees (EMFILE past it). */
#define FDT_MAX 1024

enum fd_kind { FD_FILE, FD_DIR, FD_PIPE, FD_SOCKET, FD_EPOLL, FD_EVENTFD, FD_OTHER };

struct fdfile {
    atomic_int refs;
    int host;          /* the host descriptor (kiln's, O_CLOEXEC on the host) */
    enum fd_kind kind;
    bool ro;           /* opened on a read-only mapping: nothing may change the file through it */
    bool host_stdio;   /* handed in by kiln's caller (its stdio): read, written and polled, but
                          its mode, owner, times and size are the host's (it may be /dev/null
                          or the user's terminal) */
    char *path;        /* guest path it was opened with (for *at() and fchdir), or NULL */
};

struct fdslot {
    struct fdfile *f;
    bool cloexec;
};

struct fdtable {
    pthread_mutex_t *lock; /* the process lock (held across fork, so a child never inherits it held) */
    struct fdslot slot[FDT_MAX];
};

/* An open file holding host (taken over: closed on failure). NULL when out of memory. */
struct fdfile *fdfile_new(int host, enum fd_kind kind, bool ro, const char *path);
struct fdfile *fdfile_ref(struct fdfile *f);
/* Drops a reference; the last one closes the host descriptor. NULL is ignored. */
void fdfile_put(struct fdfile *f);

void fdtable_init(struct fdtable *t, pthread_mutex_t *lock);
/* The open file at guest fd with a new reference (fdfile_put it), or NULL (EBADF). */
struct fdfile *fdtable_get(struct fdtable *t, int fd);
/*
 * Puts f at the lowest free slot >= min; the table takes the caller's
 * reference on success. The guest fd, -EMFILE (table full), -EINVAL (min out of range).
 */
int fdtable_install(struct fdtable *t, struct fdfile *f, int min, bool cloexec);
/* Puts f at slot fd (dup2/dup3), closing what was there; takes the reference. fd or -EBADF. */
int fdtable_install_at(struct fdtable *t, int fd, struct fdfile *f, bool cloexec);
/* 0 or -EBADF. */
int fdtable_close(struct fdtable *t, int fd);
/* close_range(2): closes (or with cloexec_only, marks close-on-exec) lo..hi. */
void fdtable_close_range(struct fdtable *t, unsigned lo, unsigned hi, bool cloexec_only);
/* FD_CLOEXEC of fd (0/1) or -EBADF; set: 0 or -EBADF. */
int fdtable_get_cloexec(struct fdtable *t, int fd);
int fdtable_set_cloexec(struct fdtable *t, int fd, bool on);
/* The number of open slots. */
unsigned fdtable_count(struct fdtable *t);
/* Closes every slot (process exit). */
void fdtable_close_all(struct fdtable *t);
/* Closes the close-on-exec slots: what execve(2) does to the table. */
void fdtable_close_cloexec(struct fdtable *t);

/*
 * In a fork child, with the table's lock held across the fork: only the slots
 * hold references now (the calls other threads had in flight are not in the
 * child), so a close in the child really closes the host descriptor there.
 */
void fdtable_forked(struct fdtable *t);

struct proc;
/* execve(2) of the process: its close-on-exec descriptors are closed (for the in-process execve). */
void fdtable_exec(struct proc *p);

#endif
