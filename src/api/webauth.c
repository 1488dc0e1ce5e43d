/* Host, Origin, cookie and secret checks of the web gateway; see webauth.h. */
#include "api/webauth.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

bool webauth_host_ok(const char *host, const char *listen_addr, unsigned port)
{
    char want[320];
    const char *names[] = {listen_addr, "localhost"};
    bool v6 = strchr(listen_addr, ':') != NULL;
    for (int i = 0; i < 2; i++) {
        const char *n = names[i];
        bool br = i == 0 && v6;
        snprintf(want, sizeof(want), "%s%s%s:%u", br ? "[" : "", n, br ? "]" : "", port);
        if (!strcasecmp(host, want))
            return true;
        /* A browser leaves out the default port (RFC 9110 §4.2.1). */
        snprintf(want, sizeof(want), "%s%s%s", br ? "[" : "", n, br ? "]" : "");
        if (port == 80 && !strcasecmp(host, want))
            return true;
    }
    return false;
}

bool webauth_origin_ok(const char *origin, const char *host)
{
    static const char scheme[] = "http://";
    size_t sl = sizeof(scheme) - 1;
    return !strncmp(origin, scheme, sl) && !strcasecmp(origin + sl, host);
}

int webauth_cookie_get(const char *header, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    const char *p = header;
    while (*p) {
        while (*p == ' ' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > nl && p[nl] == '=' && !strncmp(p, name, nl)) {
            size_t vl = n - nl - 1;
            while (vl && p[nl + vl] == ' ')
                vl--;
            if (vl + 1 > outlen)
                return -E2BIG;
            memcpy(out, p + nl + 1, vl);
            out[vl] = 0;
            return 0;
        }
        p += n;
    }
    return -ENOENT;
}

bool webauth_secret_equal(const char *a, const char *b)
{
    size_t al = strlen(a), bl = strlen(b);
    unsigned char diff = al != bl;
    for (size_t i = 0; i < al; i++)
        diff |= (unsigned char)(a[i] ^ b[i % (bl ? bl : 1)]);
    return diff == 0 && bl != 0;
}

int webauth_secret_new(char out[WEBAUTH_TOKEN_LEN + 1])
{
    unsigned char raw[WEBAUTH_TOKEN_LEN / 2];
    size_t got = 0;
    while (got < sizeof(raw)) {
        ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    return 0;
}
