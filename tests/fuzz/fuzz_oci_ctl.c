/*
 * libFuzzer target for the request a process VM's supervisor reads from its
 * control socket (src/oci/ctl_req.c, `kiln-runc exec`): any byte string is
 * refused with a message or decoded into a request whose invariants hold
 * (argc 1..4096, argv and envp NULL-terminated inside the buffer, an absolute
 * cwd, NAME=VALUE environment), and a decoded request encodes back to the same
 * bytes. An input starting with '!' is wrapped in a valid header (the rest of
 * the bytes choose the counts and flags), which gets past the magic check.
 * Built by tests/fuzz/build.sh.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci/ctl_req.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_request(const char *buf, size_t len, const struct ctl_req *r)
{
    size_t argc = 0, envc = 0;
    while (r->argv[argc]) {
        if (r->argv[argc] < buf || r->argv[argc] >= buf + len)
            abort();
        argc++;
    }
    while (r->envp[envc]) {
        if (!strchr(r->envp[envc], '=') || r->envp[envc][0] == '=')
            abort();
        envc++;
    }
    if (argc < 1 || argc > CTL_MAX_ARGS || envc > CTL_MAX_ARGS || r->cwd[0] != '/' || !r->execfn[0])
        abort();
    char *again = NULL;
    size_t n = 0;
    if (ctl_req_encode(r, &again, &n) || n != len || memcmp(again, buf, len))
        abort(); /* a request is one message: decode and encode agree byte for byte */
    free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf;
    size_t len;
    if (size >= 6 && data[0] == '!') {
        len = CTL_HDR_SIZE + size - 6;
        buf = malloc(len ? len : 1);
        if (!buf)
            return 0;
        uint32_t h[6] = {CTL_MAGIC, data[1] & 3u, data[2], data[3], data[4] % 8u, data[5] % 8u};
        memcpy(buf, h, sizeof(h));
        memcpy(buf + CTL_HDR_SIZE, data + 6, size - 6);
    } else {
        len = size;
        buf = malloc(size ? size : 1);
        if (!buf)
            return 0;
        memcpy(buf, data, size);
    }
    struct ctl_req r;
    char err[256];
    if (ctl_req_decode(buf, len, &r, err, sizeof(err)) == 0) {
        check_request(buf, len, &r);
        ctl_req_free(&r);
    } else if (!err[0]) {
        abort(); /* every refusal says why */
    }
    free(buf);
    return 0;
}
