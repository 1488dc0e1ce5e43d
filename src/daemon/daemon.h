/*
 * kilnd: the daemon that supervises many VMs (docs/daemon.md).
 *
 * Every VM runs as `kiln run ...` in its own process, under a small per-VM
 * `kiln monitor` process that owns the console pty, the output ring buffer
 * and a per-VM socket, and that outlives daemon restarts. The daemon keeps
 * definitions and the last known state in SQLite and serves the REST API
 * (docs/api.md) on a Unix socket.
 */
#ifndef KILN_DAEMON_DAEMON_H
#define KILN_DAEMON_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define VM_NAME_MAX 63
#define VM_MAX_ARGS 64

enum vm_state { VMS_DEFINED, VMS_RUNNING, VMS_PAUSED, VMS_STOPPED, VMS_CRASHED };

struct vm_rec {
    char name[VM_NAME_MAX + 1];
    /* definition */
    uint64_t mem;
    unsigned cpus;
    char *kernel, *initrd, *append, *firmware; /* NULL: kiln run's default */
    char **args;                               /* extra `kiln run` arguments */
    int nargs;
    unsigned cpu_cap; /* percent of one host CPU; 0 = no cap */
    uint64_t disk_bps, disk_iops, net_bps; /* I/O limits of every disk / NIC; 0 = unlimited */
    int64_t created_at;
    /* state */
    enum vm_state state;
    pid_t monitor_pid, vm_pid;
    uint64_t monitor_start, vm_start; /* /proc/PID/stat starttime, against PID reuse */
    int64_t started_at;
    int exit_code, exit_signal; /* -1 when not applicable */
    char *exit_reason;
    /* in memory only */
    bool stop_requested;
    bool start_paused; /* a restore: start it paused (kiln restore --paused), this time only */
    bool incoming;     /* a migration's destination: kiln run --incoming, this time only */
    struct vm_rec *next;
};

const char *vm_state_name(enum vm_state s);
int vm_state_parse(const char *s, enum vm_state *out);
void vm_rec_free(struct vm_rec *v);

/* Runs the daemon in the foreground until SIGTERM/SIGINT. state_dir must exist or be creatable.
 * migrate_listen (ADDR:PORT) and token_file: accept live migrations (docs/migration.md); NULL: not. */
int daemon_main(const char *state_dir, const char *migrate_listen, const char *token_file);

/* Runs a per-VM monitor: `dir` is the VM's directory; argv are `kiln run` arguments, or
 * "restore" and `kiln restore` arguments. */
int monitor_main(const char *dir, const char *cgroup_procs, int argc, char **argv);

#endif
