/*
 * The wire format of a process VM's control socket (`kiln exec --control-socket`,
 * docs/oci.md "exec"): kiln-runc asks the VM's supervisor to start one more
 * process in the VM, and the supervisor answers on the same connection.
 *
 * A SOCK_SEQPACKET unix(7) socket, so each message arrives whole. The request
 * is one message:
 *   u32 magic, flags, uid, gid, argc, envc (host byte order, the same host)
 *   then NUL-terminated strings: execfn, cwd, argv[0..argc), envp[0..envc)
 * with SCM_RIGHTS descriptors: the program (an open riscv64 ELF), then the
 * terminal (CTL_TERMINAL) or stdin, stdout, stderr.
 * Every later message either way is a struct ctl_msg.
 */
#ifndef KILN_OCI_CTL_REQ_H
#define KILN_OCI_CTL_REQ_H

#include <stddef.h>
#include <stdint.h>

#define CTL_MAGIC 0x6b786331u /* "kxc1" */
#define CTL_REQ_MAX (128u << 10) /* one request, strings included */
#define CTL_MAX_ARGS 4096        /* argc, and envc, at most */
#define CTL_TERMINAL 1u          /* flags: one descriptor after the program, the pty slave */
#define CTL_HDR_SIZE 24u

enum ctl_kind {
    CTL_STARTED = 1, /* supervisor: a = the new process's VM pid */
    CTL_EXITED = 2,  /* supervisor: a = exit code, or b = the signal that ended it */
    CTL_ERROR = 3,   /* supervisor: a = errno (positive), b = suggested exit status, msg */
    CTL_SIGNAL = 4,  /* client: deliver host signal a to the process (as if sent to it) */
};

struct ctl_msg {
    uint32_t magic, kind;
    int32_t a, b;
    char msg[112];
};

struct ctl_req {
    uint32_t flags, uid, gid;
    const char *execfn, *cwd;
    char **argv, **envp; /* NULL-terminated, pointing into the caller's buffer */
};

/* Descriptors a request carries: the program and stdio, or the program and the terminal. */
static inline unsigned ctl_req_nfds(uint32_t flags)
{
    return (flags & CTL_TERMINAL) ? 2 : 4;
}

/*
 * Checks and decodes a request of len bytes in buf (which must stay alive: the strings
 * point into it). 0, or -EINVAL/-E2BIG/-ENOMEM with a message in err; on success
 * free r->argv and r->envp with ctl_req_free.
 */
int ctl_req_decode(const char *buf, size_t len, struct ctl_req *r, char *err, size_t errlen);
void ctl_req_free(struct ctl_req *r);
/* Encodes a request into a malloc'd buffer (*len bytes). 0 or -E2BIG/-ENOMEM. */
int ctl_req_encode(const struct ctl_req *r, char **buf, size_t *len);

#endif
