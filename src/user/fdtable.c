/* The descriptor table of a process VM (fdtable.h). */
#include "user/fdtable.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "user/proc.h"

struct fdfile *fdfile_new(int host, enum fd_kind kind, bool ro, const char *path)
{
    struct fdfile *f = calloc(1, sizeof(*f));
    if (f && path && !(f->path = strdup(path))) {
        free(f);
        f = NULL;
    }
    if (!f) {
        close(host);
        return NULL;
    }
    atomic_init(&f->refs, 1);
    f->host = host;
    f->kind = kind;
    f->ro = ro;
    return f;
}

struct fdfile *fdfile_ref(struct fdfile *f)
{
    atomic_fetch_add(&f->refs, 1);
    return f;
}

void fdfile_put(struct fdfile *f)
{
    if (!f || atomic_fetch_sub(&f->refs, 1) != 1)
        return;
    close(f->host);
    free(f->path);
    free(f);
}

void fdtable_init(struct fdtable *t, pthread_mutex_t *lock)
{
    memset(t->slot, 0, sizeof(t->slot));
    t->lock = lock;
}

static bool valid(int fd)
{
    return fd >= 0 && fd < FDT_MAX;
}

struct fdfile *fdtable_get(struct fdtable *t, int fd)
{
    if (!valid(fd))
        return NULL;
    pthread_mutex_lock(t->lock);
    struct fdfile *f = t->slot[fd].f;
    if (f)
        fdfile_ref(f);
    pthread_mutex_unlock(t->lock);
    return f;
}

int fdtable_install(struct fdtable *t, struct fdfile *f, int min, bool cloexec)
{
    if (!valid(min))
        return -EINVAL;
    pthread_mutex_lock(t->lock);
    int fd = min;
    while (fd < FDT_MAX && t->slot[fd].f)
        fd++;
    if (fd < FDT_MAX)
        t->slot[fd] = (struct fdslot){f, cloexec};
    pthread_mutex_unlock(t->lock);
    return fd < FDT_MAX ? fd : -EMFILE;
}

int fdtable_install_at(struct fdtable *t, int fd, struct fdfile *f, bool cloexec)
{
    if (!valid(fd))
        return -EBADF;
    pthread_mutex_lock(t->lock);
    struct fdfile *old = t->slot[fd].f;
    t->slot[fd] = (struct fdslot){f, cloexec};
    pthread_mutex_unlock(t->lock);
    fdfile_put(old); /* outside the lock: it may close a host descriptor */
    return fd;
}

int fdtable_close(struct fdtable *t, int fd)
{
    if (!valid(fd))
        return -EBADF;
    pthread_mutex_lock(t->lock);
    struct fdfile *f = t->slot[fd].f;
    t->slot[fd] = (struct fdslot){NULL, false};
    pthread_mutex_unlock(t->lock);
    if (!f)
        return -EBADF;
    fdfile_put(f);
    return 0;
}

void fdtable_close_range(struct fdtable *t, unsigned lo, unsigned hi, bool cloexec_only)
{
    if (hi >= FDT_MAX)
        hi = FDT_MAX - 1;
    for (unsigned fd = lo; fd <= hi && lo < FDT_MAX; fd++) {
        if (cloexec_only)
            fdtable_set_cloexec(t, (int)fd, true);
        else
            fdtable_close(t, (int)fd);
    }
}

int fdtable_get_cloexec(struct fdtable *t, int fd)
{
    if (!valid(fd))
        return -EBADF;
    pthread_mutex_lock(t->lock);
    int r = t->slot[fd].f ? t->slot[fd].cloexec : -EBADF;
    pthread_mutex_unlock(t->lock);
    return r;
}

int fdtable_set_cloexec(struct fdtable *t, int fd, bool on)
{
    if (!valid(fd))
        return -EBADF;
    pthread_mutex_lock(t->lock);
    int r = -EBADF;
    if (t->slot[fd].f) {
        t->slot[fd].cloexec = on;
        r = 0;
    }
    pthread_mutex_unlock(t->lock);
    return r;
}

unsigned fdtable_count(struct fdtable *t)
{
    unsigned n = 0;
    pthread_mutex_lock(t->lock);
    for (int fd = 0; fd < FDT_MAX; fd++)
        n += t->slot[fd].f != NULL;
    pthread_mutex_unlock(t->lock);
    return n;
}

void fdtable_close_all(struct fdtable *t)
{
    fdtable_close_range(t, 0, FDT_MAX - 1, false);
}

void fdtable_close_cloexec(struct fdtable *t)
{
    for (int fd = 0; fd < FDT_MAX; fd++)
        if (fdtable_get_cloexec(t, fd) == 1)
            fdtable_close(t, fd);
}

void fdtable_forked(struct fdtable *t)
{
    for (int fd = 0; fd < FDT_MAX; fd++)
        if (t->slot[fd].f)
            atomic_store(&t->slot[fd].f->refs, 0);
    for (int fd = 0; fd < FDT_MAX; fd++)
        if (t->slot[fd].f)
            atomic_fetch_add(&t->slot[fd].f->refs, 1);
}

void fdtable_exec(struct proc *p)
{
    fdtable_close_cloexec(&p->fdt);
}
