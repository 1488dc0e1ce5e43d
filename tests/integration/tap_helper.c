/*
 * Helper for test_tap_backend.sh: opens tap IFNAME through kiln's tap backend,
 * sends an ARP request for PEER_IP from OUR_IP, and waits up to 5 s for the
 * kernel's ARP reply to come back through the backend. Exit 0 on success.
 * Usage: tap_helper IFNAME OUR_IP PEER_IP
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend/net.h"

static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc};
static uint8_t peer[4];
static volatile int got_reply;

static void on_rx(void *opaque, const uint8_t *f, size_t len)
{
    (void)opaque;
    if (len >= 42 && f[12] == 0x08 && f[13] == 0x06 && f[21] == 2 && !memcmp(f + 28, peer, 4) &&
        !memcmp(f, mac, 6))
        got_reply = 1;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s IFNAME OUR_IP PEER_IP\n", argv[0]);
        return 2;
    }
    char spec[64], err[256];
    snprintf(spec, sizeof(spec), "tap:%s", argv[1]);
    struct net_config cfg;
    if (net_parse_spec(spec, &cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    struct net_backend *be = net_backend_create(NULL, &cfg, err, sizeof(err));
    if (!be) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (net_backend_start(be, on_rx, NULL) < 0)
        return 1;
    uint8_t p[42];
    memset(p, 0xff, 6);
    memcpy(p + 6, mac, 6);
    p[12] = 0x08, p[13] = 0x06;
    const uint8_t arp_hdr[8] = {0, 1, 8, 0, 6, 4, 0, 1};
    memcpy(p + 14, arp_hdr, 8);
    memcpy(p + 22, mac, 6);
    inet_pton(AF_INET, argv[2], p + 28);
    memset(p + 32, 0, 6);
    inet_pton(AF_INET, argv[3], p + 38);
    inet_pton(AF_INET, argv[3], peer);
    for (int i = 0; i < 50 && !got_reply; i++) {
        if (i % 10 == 0 && net_backend_send(be, p, sizeof(p)) < 0)
            fprintf(stderr, "send failed\n");
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
    }
    net_backend_destroy(be);
    if (!got_reply) {
        fprintf(stderr, "no ARP reply from %s on %s\n", argv[3], argv[1]);
        return 1;
    }
    return 0;
}
