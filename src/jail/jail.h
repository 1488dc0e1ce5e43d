/*
 * The jail around every VM process (docs/jail.md), after Firecracker's jailer:
 * set-up runs with the caller's rights; then, before the guest runs a single
 * instruction, kiln narrows itself for good:
 *
 *   1. (root only) new mount, IPC and UTS namespaces (and a new network
 *      namespace when the VM has no NIC), entered at start while kiln has
 *      one thread, so every later thread shares them;
 *   2. (root only) pivot_root into an empty read-only tmpfs holding only the
 *      files the VM re-reads after set-up (boot images for a guest reboot,
 *      /etc/resolv.conf for user networking, its own /proc/PID);
 *   3. (root only) an unprivileged uid/gid (--user, default 65534:65534),
 *      no supplementary groups, no capabilities;
 *   4. rlimits: no core dumps, a descriptor cap, a file-size cap;
 *   5. no_new_privs and a seccomp allow-list per thread kind (seccomp.h).
 *
 * A jailed kiln cannot remove its control socket from the host's filesystem,
 * so (root only) a helper forked before the jail waits for kiln's end on a
 * pipe and unlinks the socket then, if it is still the one kiln bound.
 */
#ifndef KILN_JAIL_JAIL_H
#define KILN_JAIL_JAIL_H

#include <linux/filter.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define JAIL_DEFAULT_UID 65534 /* nobody */
#define JAIL_DEFAULT_GID 65534 /* nogroup */
#define JAIL_MAX_KEEP 8
/* RLIMIT_FSIZE never below this (hvc-out, console logs), and never below a disk image. */
#define JAIL_FSIZE_MIN (1ull << 30)

struct jail {
    /* what the user asked for */
    bool off;           /* --no-jail: none of it */
    bool no_seccomp;    /* --no-seccomp: everything but the filter */
    uid_t uid;          /* --user */
    gid_t gid;
    /* what the VM needs after set-up */
    bool sockets;       /* user networking: host sockets, host network namespace */
    bool host_net;      /* any NIC (tap needs the host's namespace to attach) */
    bool shares;        /* --share: 9P file-system calls beneath the shared directories */
    const char *keep[JAIL_MAX_KEEP]; /* files re-read after set-up, kept read-only at their path */
    unsigned nkeep;
    uint64_t fsize;     /* RLIMIT_FSIZE */
    const char *control; /* control socket, removed at exit by a helper outside the jail */
    /* state */
    bool privileged;    /* started as root: namespaces, pivot_root, uid drop */
    bool in_ns;
    pid_t cleaner;      /* the socket cleaner, 0 if none */
    int cleaner_fd;     /* its pipe's write end */
    bool cleaner_child; /* the cleaner is our child (false in a pid namespace: the keeper's) */
    struct sock_fprog hart_prog;
};

/* Fills defaults (uid/gid 65534). */
void jail_init(struct jail *j);
/* Parses "UID[:GID]" for --user. 0, or -EINVAL. */
int jail_parse_user(const char *s, uid_t *uid, gid_t *gid);
/* Adds a file the VM still reads after set-up (NULL is ignored). 0 or -E2BIG. */
int jail_keep(struct jail *j, const char *path);

/* kiln run, at start while single-threaded: enters the namespaces. 0, or -1 with a message. */
int jail_begin(struct jail *j);
/* kiln run, once set-up is done and before the first hart starts. 0, or -1 with a message. */
int jail_lockdown(struct jail *j);
/* kiln run, after the VM ended: lets the socket cleaner finish before kiln exits. */
void jail_end(struct jail *j);
/* kiln run, first thing in each hart thread: its own stricter filter. */
void jail_hart_enter(struct jail *j, unsigned hart);

/*
 * kiln exec started as root (docs/jail.md, "kiln exec"): kiln's own process stays in
 * the host's namespaces, forks the supervisor as init of a new pid namespace, and
 * only waits for it and removes the root skeleton. The supervisor enters new mount,
 * IPC and UTS namespaces (and network, without --net) before it forks the first
 * program, which moves the VM into a minimal root once set-up is done.
 */
/* true when kiln exec gets the namespaces and the new root (root, jail on). */
bool jail_exec_privileged(bool off);
/* In the supervisor, while it has one thread and before the first program's fork. 0 or -1. */
int jail_exec_unshare(bool new_net);

/* kiln exec: what the host side of a process VM may keep doing. */
struct jail_exec_config {
    bool off;          /* --no-jail */
    bool no_seccomp;   /* --no-seccomp */
    bool privileged;   /* inside jail_exec_unshare's namespaces: drop every capability */
    bool new_root;     /* ... and pivot_root into the minimal root (the first program) */
    bool set_user;     /* --user: that uid/gid instead of uid 0 without capabilities */
    uid_t uid;
    gid_t gid;
    bool net;          /* --net: sockets */
    bool host_execve;  /* the guest's execve still re-executes kiln on the host */
    bool control;      /* the supervisor's control socket (--control-socket): accept, SCM_RIGHTS */
    unsigned long nproc; /* RLIMIT_NPROC; 0 = the user's tasks now + a spare (not root) */
};
/* kiln exec, after set-up and before guest code runs. 0, or -1 with a message. */
int jail_enter_exec(const struct jail_exec_config *c);
/* KILN_JAIL_SELFTEST=hostpath: opens path as a confinement bug would and reports (jail.c). */
void jail_selftest_hostpath(const char *path);

#endif
