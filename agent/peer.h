/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

#include <systemd/sd-event.h>

#include "config.h"
#include "frame.h"
#include "key.h"

/*
 * The link to the other agent: one authenticated TCP connection. The node whose name sorts
 * first dials (with backoff); both listen, and a newly authenticated connection replaces the old
 * one, so a restarted peer is picked up at once. A connection counts only once the peer has
 * sent a valid HELLO and a valid frame after it; until then it changes nothing.
 */
typedef struct Peer Peer;

typedef struct PeerCallbacks {
        void (*connected)(Peer *p, void *userdata);             /* authenticated */
        void (*frame)(Peer *p, const Frame *f, void *userdata); /* every valid frame after HELLO */
        void (*lost)(Peer *p, void *userdata);                  /* nothing valid for dead_time */
} PeerCallbacks;

int peer_new(sd_event *e, Config *c, const Key *key, const PeerCallbacks *cb, void *userdata,
             Peer **ret);
Peer *peer_free(Peer *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(Peer *, peer_free);

/* A reloaded configuration (same node, peer and addresses; timers may differ): the peer moves
 * its reference to c. */
void peer_set_config(Peer *p, Config *c);
/* What every frame we send says about us. */
void peer_set_local(Peer *p, uint8_t state, uint8_t flags, uint64_t epoch);
/* Sends a frame on the authenticated connection; -ENOTCONN if there is none. */
int peer_send(Peer *p, FrameType type, uint32_t request_id, const char *payload);
/* Sends a heartbeat now (after a local change) and restarts the heartbeat timer. */
void peer_send_heartbeat(Peer *p);

bool peer_is_connected(const Peer *p);
/* CLOCK_MONOTONIC of the last valid frame, 0 if never. */
usec_t peer_last_seen(const Peer *p);
const char *peer_address_string(const Peer *p);
