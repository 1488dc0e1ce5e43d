/* The control socket's request: encoding and a strict decoder (ctl_req.h). */
#define _GNU_SOURCE
#include "oci/ctl_req.h"
#include "util/errmsg.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t get32(const char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

void ctl_req_free(struct ctl_req *r)
{
    free(r->argv);
    free(r->envp);
    r->argv = r->envp = NULL;
}

int ctl_req_decode(const char *buf, size_t len, struct ctl_req *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    if (len < CTL_HDR_SIZE)
        return errmsg(err, errlen, -EINVAL, "request of %zu bytes is shorter than its header", len);
    if (len > CTL_REQ_MAX)
        return errmsg(err, errlen, -E2BIG, "request of %zu bytes is over %u", len, CTL_REQ_MAX);
    if (get32(buf) != CTL_MAGIC)
        return errmsg(err, errlen, -EINVAL, "not a kiln exec request (bad magic)");
    r->flags = get32(buf + 4);
    r->uid = get32(buf + 8);
    r->gid = get32(buf + 12);
    uint32_t argc = get32(buf + 16), envc = get32(buf + 20);
    if (r->flags & ~CTL_TERMINAL)
        return errmsg(err, errlen, -EINVAL, "unknown flags 0x%x", r->flags);
    if (argc < 1 || argc > CTL_MAX_ARGS || envc > CTL_MAX_ARGS)
        return errmsg(err, errlen, -E2BIG, "argc %u / envc %u out of range (1..%d / 0..%d)", argc, envc,
                    CTL_MAX_ARGS, CTL_MAX_ARGS);
    if (r->uid == UINT32_MAX || r->gid == UINT32_MAX)
        return errmsg(err, errlen, -EINVAL, "uid/gid -1");
    const char *s = buf + CTL_HDR_SIZE, *end = buf + len;
    size_t want = 2 + (size_t)argc + envc, got = 0;
    for (const char *q = s; q < end; q++)
        got += *q == 0;
    if (got != want || end[-1] != 0)
        return errmsg(err, errlen, -EINVAL, "%zu strings where the header says %zu", got, want);
    r->argv = calloc(argc + 1, sizeof(char *));
    r->envp = calloc(envc + 1, sizeof(char *));
    if (!r->argv || !r->envp) {
        ctl_req_free(r);
        return errmsg(err, errlen, -ENOMEM, "out of memory");
    }
    r->execfn = s;
    s += strlen(s) + 1;
    r->cwd = s;
    s += strlen(s) + 1;
    for (uint32_t i = 0; i < argc; i++, s += strlen(s) + 1)
        r->argv[i] = (char *)s;
    for (uint32_t i = 0; i < envc; i++, s += strlen(s) + 1)
        r->envp[i] = (char *)s;
    int rc = 0;
    if (!r->execfn[0])
        rc = errmsg(err, errlen, -EINVAL, "empty program name");
    else if (r->cwd[0] != '/')
        rc = errmsg(err, errlen, -EINVAL, "cwd '%.64s' is not absolute", r->cwd);
    for (uint32_t i = 0; !rc && i < envc; i++)
        if (!strchr(r->envp[i], '=') || r->envp[i][0] == '=')
            rc = errmsg(err, errlen, -EINVAL, "env[%u] is not NAME=VALUE", i);
    if (rc)
        ctl_req_free(r);
    return rc;
}

int ctl_req_encode(const struct ctl_req *r, char **buf, size_t *len)
{
    size_t argc = 0, envc = 0, n = CTL_HDR_SIZE + strlen(r->execfn) + strlen(r->cwd) + 2;
    for (; r->argv[argc]; argc++)
        n += strlen(r->argv[argc]) + 1;
    for (; r->envp && r->envp[envc]; envc++)
        n += strlen(r->envp[envc]) + 1;
    if (n > CTL_REQ_MAX || argc < 1 || argc > CTL_MAX_ARGS || envc > CTL_MAX_ARGS)
        return -E2BIG;
    char *b = malloc(n), *p = b + CTL_HDR_SIZE;
    if (!b)
        return -ENOMEM;
    uint32_t h[6] = {CTL_MAGIC, r->flags, r->uid, r->gid, (uint32_t)argc, (uint32_t)envc};
    memcpy(b, h, sizeof(h));
    p = stpcpy(p, r->execfn) + 1;
    p = stpcpy(p, r->cwd) + 1;
    for (size_t i = 0; i < argc; i++)
        p = stpcpy(p, r->argv[i]) + 1;
    for (size_t i = 0; i < envc; i++)
        p = stpcpy(p, r->envp[i]) + 1;
    *buf = b;
    *len = n;
    return 0;
}
