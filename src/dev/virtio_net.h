/*
 * virtio-net (virtio 1.2 §5.1) on the virtio-mmio transport: one rx and one
 * tx queue, no control queue, no offloads. Frames go to and come from a
 * struct net_backend (backend/net.h).
 */
#ifndef KILN_DEV_VIRTIO_NET_H
#define KILN_DEV_VIRTIO_NET_H

#include <stdint.h>

struct vm;
struct net_backend;
struct virtio_net;
struct virtio_mmio;

/* Feature bits (virtio 1.2 §5.1.3). */
#define VIRTIO_NET_F_MTU 3
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_S_LINK_UP 1

/* Config space (§5.1.4, struct virtio_net_config): mac, status, max_virtqueue_pairs, mtu. */
#define VIRTIO_NET_CFG_MAC 0
#define VIRTIO_NET_CFG_STATUS 6
#define VIRTIO_NET_CFG_MAX_VQ_PAIRS 8
#define VIRTIO_NET_CFG_MTU 10
#define VIRTIO_NET_CFG_SIZE 12

/* struct virtio_net_hdr with VERSION_1: always 12 bytes, num_buffers at offset 10 (§5.1.6). */
#define VIRTIO_NET_HDR_SIZE 12
#define VIRTIO_NET_HDR_NUM_BUFFERS 10

#define VIRTIO_NET_QUEUE_SIZE 256
#define VIRTIO_NET_RXQ 0
#define VIRTIO_NET_TXQ 1
/* Frames held while the guest has no rx buffers; more are dropped (never blocks the backend). */
#define VIRTIO_NET_RX_PENDING 128

struct virtio_net_stats {
    uint64_t rx_frames, rx_bytes, rx_dropped;
    uint64_t tx_frames, tx_bytes, tx_dropped;
    uint64_t throttled; /* times a frame had to wait for the limit (either direction) */
    uint64_t bps_limit; /* 0 = unlimited */
};

/*
 * Maps a virtio-net device at base on PLIC source irq and starts the backend
 * (it then delivers frames; they are dropped until the driver sets DRIVER_OK).
 * be stays owned by the caller and must outlive the device. NULL on failure (logged).
 */
struct virtio_net *virtio_net_create(struct vm *vm, uint64_t base, unsigned irq,
                                     struct net_backend *be, const uint8_t mac[6]);
/* Stops the backend's delivery and frees the device. Only while no hart runs. */
void virtio_net_destroy(struct virtio_net *n);
struct virtio_mmio *virtio_net_transport(struct virtio_net *n);
void virtio_net_get_stats(struct virtio_net *n, struct virtio_net_stats *out);
/*
 * Limits each direction to bps bytes/s of frame data (0 = unlimited), with a
 * one-second burst. Any thread, any time. Over the limit, transmit stops
 * taking chains and resumes from the device's timer thread; received frames
 * wait in the held-frames FIFO (VIRTIO_NET_RX_PENDING), then are dropped.
 */
void virtio_net_set_limit(struct virtio_net *n, uint64_t bps);


/* Snapshots (docs/snapshots.md): transport and device state; load checks first, -EINVAL applies nothing. */
struct snap_w;
struct snap_rd;
void virtio_net_save(struct virtio_net *n, struct snap_w *w);
/* new_mac: a clone's MAC replacing the saved one, or NULL. */
int virtio_net_load(struct virtio_net *n, struct snap_rd *r, const uint8_t *new_mac);
#endif
