/*
 * seccomp-bpf allow-lists for kiln's processes (libseccomp), one per thread kind.
 *
 * Every list denies by trapping: the thread gets SIGSYS (seccomp(2),
 * SECCOMP_RET_TRAP) and kiln's handler prints
 *   kiln: seccomp: forbidden system call N (name) in <kind>
 * on stderr and ends the whole process with status JAIL_EXIT_SECCOMP.
 * Filters only ever narrow: a hart thread runs under the process filter and
 * its own, and the stricter answer wins (seccomp(2), "multiple filters").
 */
#ifndef KILN_JAIL_SECCOMP_H
#define KILN_JAIL_SECCOMP_H

#include <linux/filter.h>
#include <stdbool.h>

/* 128 + SIGSYS, as a shell reports a process killed by SIGSYS. */
#define JAIL_EXIT_SECCOMP 159

enum sc_kind {
    SC_RUN,  /* every thread of `kiln run` once set-up is done (main, devices, backends) */
    SC_HART, /* hart threads of `kiln run`, on top of SC_RUN */
    SC_EXEC, /* the host side of `kiln exec` (process VMs) */
    SC_CLEANER, /* jail.c's socket cleaner: read its pipe, stat and unlink one path, exit */
    SC_KEEPER,  /* pidns.c's keeper: relay signals to the VM (wait_pid), wait for it, exit */
    SC_PROXY,   /* kiln-runc exec --detach's proxy: relay signals over its connection, wait, exit */
};

struct sc_opts {
    bool sockets;      /* outbound sockets: slirp (run) or --net (exec) */
    bool host_execve;  /* exec: the host re-exec still used for a guest execve */
    int wait_pid;      /* run: the one child kiln may wait for (jail.c's socket cleaner), 0 none;
                        keeper: the VM, the one process it may signal */
    bool control;      /* exec: the supervisor's control socket (accept4, SCM_RIGHTS messages,
                          SO_PEERCRED); processes joining the VM are forked under it */
    bool files;        /* run: --share, the 9P server's *at() calls beneath its directories */
};

/* Names the calling thread in the SIGSYS message ("hart 0", "main"); a static string. */
void sc_set_thread_kind(const char *kind, int index);

/* Installs the SIGSYS handler and fills the syscall name table. 0 or -errno. */
int sc_prepare(void);

/* Builds the filter of kind and loads it: on every thread (tsync) or on the caller only. */
int sc_load(enum sc_kind kind, const struct sc_opts *o, bool all_threads);

/* Compiles a filter to BPF once, so threads can install it later with sc_install (cheap). */
int sc_compile(enum sc_kind kind, const struct sc_opts *o, struct sock_fprog *out);
/* Loads a compiled filter on the calling thread. 0 or -errno. */
int sc_install(const struct sock_fprog *prog);

#endif
