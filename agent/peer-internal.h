/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/* Shared by peer.c (the link: listener, dialing, address resolution, timers) and peer-conn.c
 * (one connection: buffers and the handshake) only. */

#include "listener.h"
#include "peer.h"
#include "resolve.h"

/* Connections not yet authenticated: a bound on what a stranger can make us hold. */
#define PEER_PENDING_MAX 16
#define PEER_OUTBUF_SIZE (16 * FRAME_MAX_SIZE)
#define PEER_BACKOFF_MIN (50 * USEC_PER_MSEC)
#define PEER_BACKOFF_MAX (1 * USEC_PER_SEC)
/* Every protocol timer fires within a millisecond of its time: sd-event's default accuracy
 * (250 ms) puts heartbeats on a 250 ms grid and makes loss detection that much late. */
#define PEER_TIMER_ACCURACY (1 * USEC_PER_MSEC)
/* At most this many "bad frame" lines per window, so a flood cannot fill the journal. */
#define PEER_LOG_BURST   10
#define PEER_LOG_WINDOW  (10 * USEC_PER_SEC)
#define PEER_ADDRESS_MAX 96
#define PEER_PROBLEM_MAX 400

/* Kinds of misconfiguration, each logged at most once per PEER_PROBLEM_LOG_INTERVAL (the
 * dialer retries every second; the address in the message changes with each attempt). */
typedef enum PeerProblem {
        PEER_PROBLEM_SAME_NAME,
        PEER_PROBLEM_WRONG_NAME,
        PEER_PROBLEM_BOTH_DIAL,
        PEER_PROBLEM_SELF_ADDRESS,
        PEER_PROBLEM_REFUSED, /* the other side refused us and said why */
        _PEER_PROBLEM_MAX,
} PeerProblem;
#define PEER_PROBLEM_LOG_INTERVAL (60 * USEC_PER_SEC)

typedef struct PeerConn {
        Peer *peer;
        int fd;
        bool outgoing;
        bool connecting;
        bool key_proven;    /* its AUTH verified: it holds the key (bound to our fresh nonce) */
        bool authenticated; /* promoted: both directions proven */
        bool refused;       /* we told it what is misconfigured and wait for it to close */
        bool diagnostic;    /* let in only to name a misconfiguration: never adopted */
        bool unverified;    /* arrived while the peer's host name was being resolved */
        struct sockaddr_storage from;
        usec_t accepted; /* CLOCK_MONOTONIC; the oldest pending connection is shed first */
        sd_event_source *io;
        sd_event_source *deadline; /* the handshake must finish in time */
        FrameSession session;
        uint8_t in[2 * FRAME_MAX_SIZE];
        size_t in_len;
        uint8_t out[PEER_OUTBUF_SIZE];
        size_t out_len;
        char address[PEER_ADDRESS_MAX];
} PeerConn;

struct Peer {
        sd_event *event;
        Config *config; /* a reference */
        const Key *key;
        PeerCallbacks cb;
        void *userdata;

        Listener *listener;
        PeerConn *conn; /* the authenticated one */
        PeerConn *pending[PEER_PENDING_MAX];
        PeerConn *dialing;
        bool dials;
        usec_t backoff;
        sd_event_source *redial_timer;
        sd_event_source *heartbeat_timer;
        sd_event_source *dead_timer;

        /* Where the peer is: config->peer_address, or what peer_host resolved to last. */
        SocketAddress addresses[RESOLVE_ADDRESSES_MAX];
        size_t n_addresses, next_address;
        Resolve *resolve;
        usec_t resolved_at;
        bool dial_after_resolve;
        bool self_address; /* peer.address reaches this node: where the peer is is unknown */

        uint8_t local_state, local_flags;
        uint64_t local_epoch;
        usec_t last_seen;
        bool connected;

        char problem[PEER_PROBLEM_MAX]; /* misconfiguration seen; empty if none */
        usec_t problem_logged[_PEER_PROBLEM_MAX];

        unsigned log_count, log_suppressed;
        usec_t log_window_start;
};

/* peer-conn.c */
int conn_new(Peer *p, int fd, bool outgoing, const char *address, PeerConn **ret);
void conn_free(PeerConn *c);
/* Sends our HELLO: the first thing on every connection. */
int conn_start(Peer *p, PeerConn *c);
int conn_send(Peer *p, PeerConn *c, FrameType type, uint32_t request_id, const char *payload);

/* peer.c, for peer-conn.c */
void peer_log_refusal(Peer *p, const char *address, const char *what, int error);
void peer_drop_conn(Peer *p, PeerConn *c);
/* Whether sa is one of the peer's addresses. */
bool peer_address_is_peer(const Peer *p, const struct sockaddr *sa);
bool peer_holds_conn(const Peer *p, const PeerConn *c);
void peer_promote(Peer *p, PeerConn *c);
void peer_mark_seen(Peer *p);
void peer_set_problem(Peer *p, PeerProblem kind, const char *format, ...) _printf_(3, 4);
