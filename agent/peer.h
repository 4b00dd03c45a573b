/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

#include <systemd/sd-event.h>

#include "config.h"
#include "frame.h"
#include "key.h"

/*
 * The link to the other agent: one authenticated, encrypted TCP connection (frame.h). Only the
 * node whose name sorts first dials (with backoff, resolving a peer host name again each time);
 * the other lets in connections from the peer's address only. A connection is adopted, and
 * replaces the live one, only once both sides proved the key for it; until then it changes
 * nothing. A peer that proves the key but is misconfigured (the same node name, another name
 * than peer.name, or dialing although it should listen) is refused and reported (peer_problem).
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
/* The misconfiguration seen on the link (an error message naming the expected and received
 * names, or a peer.address that reaches this node), or NULL. Cleared once a connection is
 * adopted. */
const char *peer_problem(const Peer *p);
