#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"

bool cli_parse_size(const char *s, uint64_t *out)
{
    if (!s || !isdigit((unsigned char)*s))
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return false;
    unsigned shift = 0;
    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    case 't': case 'T': shift = 40; end++; break;
    default: break;
    }
    if (shift && (*end == 'i' || *end == 'I') && (end[1] == 'B' || end[1] == 'b'))
        end += 2;
    else if (shift && (*end == 'B' || *end == 'b'))
        end++;
    if (*end || v == 0 || v > (~0ull >> shift))
        return false;
    *out = (uint64_t)v << shift;
    return true;
}

const char *cli_cache_dir(void)
{
    static char buf[4096];
    const char *c = getenv("KILN_CACHE");
    if (c && *c)
        return c;
    const char *home = getenv("HOME");
    snprintf(buf, sizeof(buf), "%s/.cache/kiln", home && *home ? home : "/tmp");
    return buf;
}

int cli_parse_uint(const char *s, unsigned long long min, unsigned long long max,
                   unsigned long long *out)
{
    /* strtoull alone would accept " 5", "-1" (wrapped), "5x" and "": refuse them all. */
    if (!s || !isdigit((unsigned char)*s))
        return -EINVAL;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno == ERANGE)
        return -ERANGE;
    if (*end)
        return -EINVAL;
    if (v < min || v > max)
        return -ERANGE;
    *out = v;
    return 0;
}

const char *cli_size_hint(const char *s, char *buf, size_t len)
{
    /* QEMU's `-m 256` means MiB; kiln's plain numbers are bytes, so say what was probably meant. */
    unsigned long long v;
    if (cli_parse_uint(s, 1, 65536, &v) == 0) {
        snprintf(buf, len, "; did you mean %lluM?", v);
        return buf;
    }
    return "";
}
