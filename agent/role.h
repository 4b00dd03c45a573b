/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

#include "config.h"

/* What this node is doing. Sent to the peer in every frame (as a byte), shown by status. */
typedef enum RoleState {
        ROLE_PASSIVE,  /* not serving, can take over */
        ROLE_STARTING, /* starting its services */
        ROLE_ACTIVE,   /* serving */
        ROLE_STOPPING, /* giving the services away (stopping, draining, or waiting for the peer) */
        ROLE_DEGRADED, /* serving, a check fails, and the peer cannot take over */
        ROLE_FAULT, /* not serving and cannot serve: own host check failing or last start failed */
        _ROLE_STATE_MAX,
} RoleState;

const char *role_state_to_string(RoleState s);
RoleState role_state_from_string(const char *s);

/* The operation in flight; at most one at a time, which is what makes handovers serial. */
typedef enum RoleOp {
        ROLE_OP_NONE,
        ROLE_OP_BOOT_PROBE,     /* saved state said active: are the services still running? */
        ROLE_OP_START,          /* starting on our own (init_dead, peer loss, operator, election) */
        ROLE_OP_START_FOR_PEER, /* starting because the peer asked (TAKE) */
        ROLE_OP_RESTART,        /* a handover failed after we stopped: starting our own again */
        ROLE_OP_HANDOVER_STOP,  /* break-before-make: stopping before the peer starts */
        ROLE_OP_HANDOVER_WAIT_PEER,  /* TAKE sent, waiting for TAKE_DONE / TAKE_FAILED */
        ROLE_OP_HANDOVER_DRAIN,      /* make-before-break: peer serves, balancer told, draining */
        ROLE_OP_HANDOVER_FINAL_STOP, /* make-before-break: stopping after the drain */
        ROLE_OP_YIELD,               /* lost the election between two active nodes: stopping */
        ROLE_OP_REQUEST_RELEASE, /* operator takeover: RELEASE sent, waiting for the peer's TAKE */
        ROLE_OP_AWAIT_RELEASED,  /* operator takeover, make-before-break: serving, old node stopping
                                  */
        ROLE_OP_BOOT_ADOPT,      /* arbiter: services ran at restart; is the key still ours? */
        ROLE_OP_FENCE, /* arbiter: serving without the key: stop, then kill, before the lease
                          can expire */
        ROLE_OP_LOCAL_RESTART, /* a check fails while serving: restarting services in place */
        ROLE_OP_STOP_STRAY,    /* passive, services found running at start while the peer serves */
        _ROLE_OP_MAX,
} RoleOp;

const char *role_op_to_string(RoleOp o);
RoleOp role_op_from_string(const char *s);

typedef enum RoleEvent {
        ROLE_EVENT_BOOT,             /* daemon started: saved state applied to the machine */
        ROLE_EVENT_PROBE_RUNNING,    /* boot probe: services run */
        ROLE_EVENT_PROBE_STOPPED,    /* boot probe: services do not run */
        ROLE_EVENT_INIT_DEAD,        /* init_dead passed without hearing from the peer */
        ROLE_EVENT_PEER_STATE,       /* a frame from the peer updated its facts */
        ROLE_EVENT_PEER_LOST,        /* no frame from the peer for dead_time */
        ROLE_EVENT_CHECKS_CHANGED,   /* a check verdict changed */
        ROLE_EVENT_QUIESCE,          /* operator, on the serving node: hand over to the peer */
        ROLE_EVENT_TAKEOVER,         /* operator: make this node serve */
        ROLE_EVENT_PEER_TAKE,        /* peer: start your services */
        ROLE_EVENT_PEER_TAKE_DONE,   /* peer: started */
        ROLE_EVENT_PEER_TAKE_FAILED, /* peer: could not start */
        ROLE_EVENT_PEER_RELEASE,     /* peer: hand your services to me */
        ROLE_EVENT_PEER_RELEASE_REFUSED,
        ROLE_EVENT_PEER_RELEASED, /* peer: I have stopped, handover complete */
        ROLE_EVENT_SERVICES_STARTED,
        ROLE_EVENT_SERVICES_START_FAILED, /* after retries and rollback */
        ROLE_EVENT_SERVICES_STOPPED,      /* every service verified stopped */
        ROLE_EVENT_SERVICES_STOP_FAILED,  /* something may still run, even after a kill */
        ROLE_EVENT_DRAIN_DONE,
        ROLE_EVENT_REQUEST_TIMEOUT, /* the peer did not answer a request in time */
        ROLE_EVENT_CLEAR,        /* operator: forget the fault, handed-over and failed-over marks */
        ROLE_EVENT_STABLE,       /* served, every check passing, for ROLE_STABLE_USEC in a row */
        ROLE_EVENT_KEY_ACQUIRED, /* arbiter: the key is ours */
        ROLE_EVENT_KEY_REFUSED,  /* arbiter: another node holds the key */
        ROLE_EVENT_KEY_LOST,     /* arbiter: no renewal confirmed in time (or no answer) */
        ROLE_EVENT_SHUTDOWN,     /* the agent is asked to stop (not to restart) */
        ROLE_EVENT_PROBE_STRAY,  /* start-up look, saved state passive: services run here */
        _ROLE_EVENT_MAX,
} RoleEvent;

const char *role_event_to_string(RoleEvent e);
RoleEvent role_event_from_string(const char *s);

/* Flags carried in every frame (Frame.flags). */
enum {
        ROLE_FLAG_HEALTHY = 1 << 0, /* no `always` check failing */
        ROLE_FLAG_CANDIDATE =
            1 << 1, /* would start if the peer is passive (see role_is_candidate) */
        ROLE_FLAG_HOME_MASTER = 1 << 2, /* node.role = "master" */
        ROLE_FLAG_BUSY = 1 << 3,        /* an operation is in flight (no election meanwhile) */
        ROLE_FLAG_HANDED_OVER = 1 << 4,
        ROLE_FLAG_FAILED_OVER = 1 << 5, /* handed over because its own check failed */
        ROLE_FLAG_MAINTENANCE = 1 << 6, /* maintenance mode set on the sender (by an operator) */
        /* Its agent is exiting. With BUSY too it restarts and leaves its services as they are
         * (wait for it); alone, it stops for good: not a handover target, and if it still
         * serves, it could hand the services to nobody and left them up. */
        ROLE_FLAG_LEAVING = 1 << 7,
};

/* Everything the machine remembers. Persisted part: serving (state active/degraded), epoch,
 * handed_over. */
/* Frame flags have no room left: a restart is LEAVING and BUSY ("busy restarting"). */
#define ROLE_FLAGS_RESTARTING (ROLE_FLAG_LEAVING | ROLE_FLAG_BUSY)
static inline bool role_flags_restarting(uint8_t flags)
{
        return (flags & ROLE_FLAGS_RESTARTING) == ROLE_FLAGS_RESTARTING;
}

typedef struct RoleMachine {
        RoleState state;
        RoleOp op;
        uint64_t epoch;
        bool handed_over; /* gave the services away: no automatic start until quiesce/takeover */
        bool failed_over; /* ... because a check failed here: not an automatic target either */
        bool handover_planned; /* the handover in flight was asked for (quiesce, peer's takeover) */
        bool saved_active;     /* saved state said we were serving when the daemon last ran */
        bool peer_seen;        /* heard from the peer since start (wait_for_all) */
        bool start_failed;     /* our last start failed: not a handover target until it succeeds */
        bool last_resort;      /* got the services back as a last resort (it had failed over): does
                                * not hand them back to a failed-over peer until it has served stably
                                * or an operator acts, so two broken nodes cannot ping-pong */
        bool stop_failed;      /* a stop failed, kill included: degraded, the peer is never told to
                                * start, until a stop succeeds or an operator acts */
        bool operator_op;      /* the op in flight answers an operator (vacataire-ctl) */
        bool awaiting_key;     /* arbiter: the start in flight waits for the key */
        bool failsafe; /* arbiter: serving without the key, because the peer is known passive */
        bool shutting_down; /* the agent stops: hand over if we can, start nothing new */
        bool restarting;    /* the agent restarts and leaves its services as they are */
        bool stray;         /* services found running at start although we were passive */
} RoleMachine;

/* What the machine is told about the world; filled by the manager before each step. */
typedef struct RoleFacts {
        HomeRole home;
        PeerLossPolicy on_peer_loss;
        HandoverMode handover;
        bool name_sorts_first;   /* tie-break of last resort: our node name < peer's */
        bool checks_failing;     /* some enabled check (either scope) is FAILING */
        bool always_failing;     /* some `always` check is FAILING: we are unhealthy */
        bool peer_connected;     /* authenticated and heard from within dead_time */
        bool peer_misconfigured; /* a keyed peer (or peer.address) is misconfigured: no start
                                  * on init_dead, both might */
        RoleState peer_state;
        uint8_t peer_flags;
        uint64_t peer_epoch;
        bool arbiter;           /* an arbiter is configured: serving requires its key */
        bool key_held;          /* we hold the key and its lease is confirmed alive */
        bool maintenance;       /* this node or the peer is in maintenance: start, stop nothing */
        bool restart_available; /* a service may still be restarted in place (restarts) */
} RoleFacts;

enum {
        ROLE_ACTION_START_SERVICES = 1 << 0,
        ROLE_ACTION_STOP_SERVICES = 1 << 1,
        ROLE_ACTION_PROBE_SERVICES = 1 << 2,
        ROLE_ACTION_SEND_TAKE = 1 << 3,
        ROLE_ACTION_SEND_TAKE_DONE = 1 << 4,
        ROLE_ACTION_SEND_TAKE_FAILED = 1 << 5,
        ROLE_ACTION_SEND_RELEASE = 1 << 6,
        ROLE_ACTION_SEND_RELEASE_REFUSED = 1 << 7,
        ROLE_ACTION_SEND_RELEASED = 1 << 8,
        ROLE_ACTION_ARM_DRAIN = 1 << 9,
        ROLE_ACTION_REPLY_OK = 1 << 10,    /* the operator's request is done */
        ROLE_ACTION_REPLY_ERROR = 1 << 11, /* the operator's request failed: message says why */
        ROLE_ACTION_ALERT = 1 << 12, /* worth a notification though the state may not change */
        ROLE_ACTION_ACQUIRE_KEY = 1 << 13, /* arbiter: take the key (waits for a lease to end) */
        ROLE_ACTION_ADOPT_KEY = 1 << 14,   /* arbiter: one look: is the key ours, or free? */
        ROLE_ACTION_CANCEL_KEY = 1 << 15,  /* arbiter: stop trying to take the key */
        ROLE_ACTION_FENCE = 1 << 16, /* stop the services, killing them before the lease ends */
        ROLE_ACTION_RESTART_SERVICES = 1 << 17, /* restart in place those that allow it */
};

typedef struct RoleOutput {
        RoleMachine machine;
        unsigned actions;
        const char *message;  /* why: for logs, notify, replies; static string */
        bool epoch_saturated; /* a takeover found the epoch at UINT64_MAX and left it there */
} RoleOutput;

/* How long a node that got the services as a last resort must serve with every check passing
 * before it may use a last resort handover itself (the manager times it: ROLE_EVENT_STABLE). */
#define ROLE_STABLE_USEC (60 * USEC_PER_SEC)

/* The state machine: pure, no I/O. */
RoleOutput role_step(const RoleMachine *m, const RoleFacts *f, RoleEvent event);

/* Would this node start its services if the peer were passive (or absent past init_dead)? */
bool role_is_candidate(const RoleMachine *m, const RoleFacts *f);
bool role_state_is_serving(RoleState s);
uint8_t role_flags(const RoleMachine *m, const RoleFacts *f);
