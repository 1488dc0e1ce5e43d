/*
 * Mutual authentication of the two daemons with a shared token, never sent:
 * each side proves it knows the token by an HMAC-SHA256 (RFC 2104) over both
 * sides' fresh random nonces, with a different label per direction so one
 * side's answer cannot be replayed as the other's. Compared in constant time
 * (CRYPTO_memcmp). The token only authenticates: the stream is not encrypted
 * (docs/migration.md says what that means across hosts).
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "migrate/migrate.h"

static const char LABEL_SRC[] = "kiln-migrate src";
static const char LABEL_DST[] = "kiln-migrate dst";

int mig_token_read(const char *path, uint8_t *tok, size_t *len, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "token file %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        snprintf(err, errlen, "token file %s: not a regular file", path);
        return -1;
    }
    if (st.st_mode & 0077)
        fprintf(stderr, "kiln: warning: token file %s can be read by other users (chmod 600 it)\n", path);
    ssize_t n = read(fd, tok, MIG_TOKEN_MAX);
    char extra;
    bool more = n == MIG_TOKEN_MAX && read(fd, &extra, 1) == 1;
    close(fd);
    while (n > 0 && (tok[n - 1] == '\n' || tok[n - 1] == '\r'))
        n--;
    if (n <= 0 || more) {
        snprintf(err, errlen, "token file %s: must hold 1 to %d bytes", path, MIG_TOKEN_MAX);
        return -1;
    }
    if (n < 16)
        fprintf(stderr, "kiln: warning: the migration token in %s is short (use 32 random bytes, e.g. "
                        "openssl rand -hex 32)\n", path);
    *len = (size_t)n;
    return 0;
}

static int mac(const uint8_t *tok, size_t toklen, const char *label, const uint8_t *n1,
               const uint8_t *n2, uint8_t out[MIG_MAC])
{
    uint8_t msg[sizeof(LABEL_SRC) + 2 * MIG_NONCE];
    size_t l = strlen(label);
    memcpy(msg, label, l);
    memcpy(msg + l, n1, MIG_NONCE);
    memcpy(msg + l + MIG_NONCE, n2, MIG_NONCE);
    unsigned olen = 0;
    if (!HMAC(EVP_sha256(), tok, (int)toklen, msg, l + 2 * MIG_NONCE, out, &olen) || olen != MIG_MAC)
        return -1;
    return 0;
}

static int expect(struct mig_conn *c, uint32_t want, uint8_t *buf, uint32_t len)
{
    uint32_t t, n;
    if (mig_recv(c, &t, buf, len, &n))
        return -1;
    if (t != want || n != len) {
        snprintf(c->err, sizeof(c->err), "unexpected record %u (length %u) during authentication", t, n);
        return -1;
    }
    return 0;
}

int mig_auth_accept(struct mig_conn *c, const uint8_t *tok, size_t toklen)
{
    uint8_t hello[4 + MIG_NONCE], auth[MIG_NONCE + MIG_MAC], want[MIG_MAC], ok[MIG_MAC];
    hello[0] = MIG_VERSION;
    hello[1] = hello[2] = hello[3] = 0;
    if (RAND_bytes(hello + 4, MIG_NONCE) != 1) {
        snprintf(c->err, sizeof(c->err), "no random bytes for the challenge");
        return -1;
    }
    if (mig_send(c, MIG_HELLO, hello, sizeof(hello), NULL, 0) ||
        expect(c, MIG_AUTH, auth, sizeof(auth)))
        return -1;
    if (mac(tok, toklen, LABEL_SRC, hello + 4, auth, want) ||
        CRYPTO_memcmp(want, auth + MIG_NONCE, MIG_MAC) != 0) {
        snprintf(c->err, sizeof(c->err), "authentication failed (wrong migration token)");
        mig_send_error(c, "authentication failed (wrong migration token)");
        return -1;
    }
    if (mac(tok, toklen, LABEL_DST, auth, hello + 4, ok) ||
        mig_send(c, MIG_AUTH_OK, ok, sizeof(ok), NULL, 0))
        return -1;
    return 0;
}

int mig_auth_connect(struct mig_conn *c, const uint8_t *tok, size_t toklen)
{
    uint8_t hello[4 + MIG_NONCE], auth[MIG_NONCE + MIG_MAC], ok[MIG_MAC], want[MIG_MAC];
    if (expect(c, MIG_HELLO, hello, sizeof(hello)))
        return -1;
    uint32_t ver = (uint32_t)hello[0] | (uint32_t)hello[1] << 8 | (uint32_t)hello[2] << 16 |
                   (uint32_t)hello[3] << 24;
    if (ver != MIG_VERSION) {
        snprintf(c->err, sizeof(c->err), "the destination speaks migration version %u, this kiln %u", ver,
                 MIG_VERSION);
        return -1;
    }
    if (RAND_bytes(auth, MIG_NONCE) != 1 || mac(tok, toklen, LABEL_SRC, hello + 4, auth, auth + MIG_NONCE)) {
        snprintf(c->err, sizeof(c->err), "cannot compute the authentication answer");
        return -1;
    }
    if (mig_send(c, MIG_AUTH, auth, sizeof(auth), NULL, 0) || expect(c, MIG_AUTH_OK, ok, sizeof(ok)))
        return -1;
    if (mac(tok, toklen, LABEL_DST, auth, hello + 4, want) || CRYPTO_memcmp(want, ok, MIG_MAC) != 0) {
        snprintf(c->err, sizeof(c->err), "the destination does not know the migration token");
        return -1;
    }
    return 0;
}
