/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The role state machine, one row per (state, facts, event): no sockets, no processes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "role.h"

#define H  ROLE_FLAG_HEALTHY
#define C  ROLE_FLAG_CANDIDATE
#define M  ROLE_FLAG_HOME_MASTER
#define B  ROLE_FLAG_BUSY
#define HO ROLE_FLAG_HANDED_OVER
#define FO ROLE_FLAG_FAILED_OVER
#define LV ROLE_FLAG_LEAVING
#define RS ROLE_FLAGS_RESTARTING

#define START     ROLE_ACTION_START_SERVICES
#define STOP      ROLE_ACTION_STOP_SERVICES
#define PROBE     ROLE_ACTION_PROBE_SERVICES
#define TAKE      ROLE_ACTION_SEND_TAKE
#define TAKE_DONE ROLE_ACTION_SEND_TAKE_DONE
#define TAKE_FAIL ROLE_ACTION_SEND_TAKE_FAILED
#define RELEASE   ROLE_ACTION_SEND_RELEASE
#define REFUSED   ROLE_ACTION_SEND_RELEASE_REFUSED
#define RELEASED  ROLE_ACTION_SEND_RELEASED
#define DRAIN     ROLE_ACTION_ARM_DRAIN
#define OK        ROLE_ACTION_REPLY_OK
#define ERR       ROLE_ACTION_REPLY_ERROR
#define ALERT     ROLE_ACTION_ALERT
#define ACQUIRE   ROLE_ACTION_ACQUIRE_KEY
#define ADOPT     ROLE_ACTION_ADOPT_KEY
#define CANCEL    ROLE_ACTION_CANCEL_KEY
#define FENCE     ROLE_ACTION_FENCE
#define RESTART   ROLE_ACTION_RESTART_SERVICES

/* Facts: zero means home master, on_peer_loss takeover, break-before-make, no peer. */
#define STANDBY  .home = HOME_ROLE_STANDBY
#define MBB      .handover = HANDOVER_MAKE_BEFORE_BREAK
#define STAY     .on_peer_loss = PEER_LOSS_STAY
#define FAILING  .checks_failing = true
#define MAINT    .maintenance = true
#define RESTARTS .restart_available = true
#define SICK     .always_failing = true, .checks_failing = true
#define PEER(s, fl, e)                                                                             \
        .peer_connected = true, .peer_state = ROLE_##s, .peer_flags = (fl), .peer_epoch = (e)
/* An arbiter is configured; KEY: we hold its key. */
#define ARB .arbiter = true
#define KEY .arbiter = true, .key_held = true
/* A peer that is passive, healthy, standby, not a candidate. */
#define PEER_OK PEER(PASSIVE, H, 0)

#define F(...)                                                                                     \
        {                                                                                          \
                __VA_ARGS__                                                                        \
        }
#define IN(s, o, e, ...)                                                                           \
        {                                                                                          \
                .state = ROLE_##s, .op = ROLE_OP_##o, .epoch = (e), __VA_ARGS__                    \
        }

typedef struct Row {
        const char *name;
        RoleMachine in;
        RoleFacts facts;
        RoleEvent event;
        RoleState state;
        RoleOp op;
        uint64_t epoch;
        bool handed_over;
        unsigned actions;
} Row;

#define ROW(n, in_, facts_, ev, st, o, e, ho, act)                                                 \
        {                                                                                          \
                n, in_, facts_, ROLE_EVENT_##ev, ROLE_##st, ROLE_OP_##o, e, ho, act                \
        }

static const Row rows[] = {
    /* Start-up */
    ROW("fresh master boots passive", IN(ACTIVE, NONE, 0), F(), BOOT, PASSIVE, NONE, 0, 0, 0),
    ROW("saved active probes services", IN(PASSIVE, NONE, 3, .saved_active = 1), F(), BOOT, PASSIVE,
        BOOT_PROBE, 3, 0, PROBE),
    ROW("probe finds services: re-adopt, no bounce", IN(PASSIVE, BOOT_PROBE, 3, .saved_active = 1),
        F(), PROBE_RUNNING, ACTIVE, NONE, 3, 0, 0),
    ROW("probe finds nothing: passive", IN(PASSIVE, BOOT_PROBE, 3, .saved_active = 1), F(),
        PROBE_STOPPED, PASSIVE, NONE, 3, 0, 0),
    ROW("master, no peer within init_dead: starts", IN(PASSIVE, NONE, 0), F(), INIT_DEAD, STARTING,
        START, 1, 0, START),
    ROW("standby ignores init_dead", IN(PASSIVE, NONE, 0), F(STANDBY), INIT_DEAD, PASSIVE, NONE, 0,
        0, 0),
    ROW("master that handed over ignores init_dead", IN(PASSIVE, NONE, 2, .handed_over = 1), F(),
        INIT_DEAD, PASSIVE, NONE, 2, 1, 0),
    ROW("master whose keyed peer is misconfigured ignores init_dead", IN(PASSIVE, NONE, 0),
        F(.peer_misconfigured = true), INIT_DEAD, PASSIVE, NONE, 0, 0, 0),
    ROW("init_dead after the peer was seen: no-op", IN(PASSIVE, NONE, 0, .peer_seen = 1), F(),
        INIT_DEAD, PASSIVE, NONE, 0, 0, 0),
    ROW("master sees passive standby: starts", IN(PASSIVE, NONE, 0), F(PEER(PASSIVE, H, 2)),
        PEER_STATE, STARTING, START, 3, 0, START),
    ROW("standby sees passive master: waits", IN(PASSIVE, NONE, 0),
        F(STANDBY, PEER(PASSIVE, H | C | M, 0)), PEER_STATE, PASSIVE, NONE, 0, 0, 0),
    ROW("master sees busy peer: waits", IN(PASSIVE, NONE, 0), F(PEER(PASSIVE, H | B, 0)),
        PEER_STATE, PASSIVE, NONE, 0, 0, 0),
    ROW("two candidates: higher epoch starts", IN(PASSIVE, NONE, 4, .saved_active = 1),
        F(STANDBY, PEER(PASSIVE, H | C | M, 0)), PEER_STATE, STARTING, START, 5, 0, START),
    ROW("two candidates: lower epoch waits", IN(PASSIVE, NONE, 0), F(PEER(PASSIVE, H | C, 4)),
        PEER_STATE, PASSIVE, NONE, 0, 0, 0),
    ROW("master sees active peer: waits", IN(PASSIVE, NONE, 0), F(PEER(ACTIVE, H, 4)), PEER_STATE,
        PASSIVE, NONE, 0, 0, 0),
    ROW("services started: active", IN(STARTING, START, 1), F(), SERVICES_STARTED, ACTIVE, NONE, 1,
        0, 0),
    ROW("services started, host check failing: degraded", IN(STARTING, START, 1), F(SICK),
        SERVICES_STARTED, DEGRADED, NONE, 1, 0, 0),
    ROW("start failed: fault", IN(STARTING, START, 1), F(), SERVICES_START_FAILED, FAULT, NONE, 1,
        0, ALERT),

    /* Check failure on the active node */
    ROW("check fails, peer healthy, break-before-make: stop first", IN(ACTIVE, NONE, 1),
        F(FAILING, PEER_OK), CHECKS_CHANGED, STOPPING, HANDOVER_STOP, 1, 0, STOP),
    ROW("check fails, peer healthy, make-before-break: peer first", IN(ACTIVE, NONE, 1),
        F(FAILING, MBB, PEER_OK), CHECKS_CHANGED, ACTIVE, HANDOVER_WAIT_PEER, 1, 0, TAKE),
    ROW("check fails, peer unhealthy: degraded", IN(ACTIVE, NONE, 1),
        F(FAILING, PEER(PASSIVE, 0, 0)), CHECKS_CHANGED, DEGRADED, NONE, 1, 0, ALERT),
    ROW("check fails, peer in fault: degraded", IN(ACTIVE, NONE, 1), F(FAILING, PEER(FAULT, H, 0)),
        CHECKS_CHANGED, DEGRADED, NONE, 1, 0, ALERT),
    ROW("check fails, peer unreachable: degraded", IN(ACTIVE, NONE, 1), F(FAILING), CHECKS_CHANGED,
        DEGRADED, NONE, 1, 0, ALERT),
    ROW("check fails, peer failed over to us: last resort handover", IN(ACTIVE, NONE, 1),
        F(FAILING, PEER(PASSIVE, H | HO | FO, 0)), CHECKS_CHANGED, STOPPING, HANDOVER_STOP, 1, 0,
        STOP),
    ROW("check fails, we got it as a last resort: no flapping back",
        IN(ACTIVE, NONE, 1, .last_resort = 1), F(FAILING, PEER(PASSIVE, H | HO | FO, 0)),
        CHECKS_CHANGED, DEGRADED, NONE, 1, 0, ALERT),
    ROW("last resort used, peer not failed over: hand over", IN(ACTIVE, NONE, 1, .last_resort = 1),
        F(FAILING, PEER(PASSIVE, H | HO, 0)), CHECKS_CHANGED, STOPPING, HANDOVER_STOP, 1, 0, STOP),
    ROW("failed-over peer in fault: no last resort", IN(ACTIVE, NONE, 1),
        F(FAILING, PEER(FAULT, HO | FO, 0)), CHECKS_CHANGED, DEGRADED, NONE, 1, 0, ALERT),
    ROW("failed over, asked as a last resort: start",
        IN(PASSIVE, NONE, 1, .handed_over = 1, .failed_over = 1), F(PEER(STOPPING, H | B, 1)),
        PEER_TAKE, STARTING, START_FOR_PEER, 2, 0, START),
    ROW("served stably: last resort re-armed", IN(ACTIVE, NONE, 2, .last_resort = 1),
        F(PEER(PASSIVE, H | HO | FO, 1)), STABLE, ACTIVE, NONE, 2, 0, 0),
    ROW("fault standby, peer lost: never takes over", IN(FAULT, NONE, 1, .peer_seen = 1), F(SICK),
        PEER_LOST, FAULT, NONE, 1, 0, ALERT),
    ROW("fault, handed over earlier, peer lost: never takes over",
        IN(FAULT, NONE, 1, .peer_seen = 1, .handed_over = 1), F(SICK), PEER_LOST, FAULT, NONE, 1, 1,
        ALERT),
    ROW("clear: handed-over master, peer passive: serves again",
        IN(PASSIVE, NONE, 2, .handed_over = 1, .failed_over = 1, .peer_seen = 1),
        F(PEER(PASSIVE, H, 2)), CLEAR, STARTING, START, 3, 0, OK | START),
    ROW("clear: handed over, peer active: passive, re-armed",
        IN(PASSIVE, NONE, 2, .handed_over = 1, .failed_over = 1), F(PEER(ACTIVE, H, 3)), CLEAR,
        PASSIVE, NONE, 2, 0, OK),
    ROW("clear: start failed (fault): passive", IN(FAULT, NONE, 2, .start_failed = 1),
        F(STANDBY, PEER(ACTIVE, H, 3)), CLEAR, PASSIVE, NONE, 2, 0, OK),
    ROW("clear: host check still failing: fault", IN(FAULT, NONE, 2, .handed_over = 1), F(SICK),
        CLEAR, FAULT, NONE, 2, 0, OK),
    ROW("clear: stop failed: active again", IN(DEGRADED, NONE, 2, .stop_failed = 1), F(), CLEAR,
        ACTIVE, NONE, 2, 0, OK),
    ROW("clear: busy: refused", IN(STARTING, START, 2), F(), CLEAR, STARTING, START, 2, 0, ERR),
    ROW("check fails, peer handed over on request: hand over", IN(ACTIVE, NONE, 1),
        F(FAILING, PEER(PASSIVE, H | HO, 0)), CHECKS_CHANGED, STOPPING, HANDOVER_STOP, 1, 0, STOP),
    ROW("degraded, checks pass again: active", IN(DEGRADED, NONE, 1), F(PEER_OK), CHECKS_CHANGED,
        ACTIVE, NONE, 1, 0, 0),
    ROW("degraded, peer becomes able: hand over", IN(DEGRADED, NONE, 1), F(FAILING, PEER_OK),
        PEER_STATE, STOPPING, HANDOVER_STOP, 1, 0, STOP),
    ROW("bbm: stopped, ask the peer", IN(STOPPING, HANDOVER_STOP, 1), F(FAILING, PEER_OK),
        SERVICES_STOPPED, STOPPING, HANDOVER_WAIT_PEER, 1, 0, TAKE),
    ROW("bbm: peer started: passive, handed over", IN(STOPPING, HANDOVER_WAIT_PEER, 1),
        F(PEER(ACTIVE, H, 2)), PEER_TAKE_DONE, PASSIVE, NONE, 1, 1, 0),
    ROW("bbm: peer failed: start our own again", IN(STOPPING, HANDOVER_WAIT_PEER, 1),
        F(PEER(FAULT, H, 2)), PEER_TAKE_FAILED, STARTING, RESTART, 3, 0, START | ALERT),
    ROW("bbm: peer silent: start our own again", IN(STOPPING, HANDOVER_WAIT_PEER, 1), F(PEER_OK),
        REQUEST_TIMEOUT, STARTING, RESTART, 2, 0, START | ALERT),
    ROW("bbm: peer lost mid-handover: start our own again", IN(STOPPING, HANDOVER_WAIT_PEER, 1),
        F(), PEER_LOST, STARTING, RESTART, 2, 0, START | ALERT),
    ROW("mbb: peer started: drain", IN(ACTIVE, HANDOVER_WAIT_PEER, 1), F(MBB, PEER(ACTIVE, H, 2)),
        PEER_TAKE_DONE, STOPPING, HANDOVER_DRAIN, 1, 0, DRAIN),
    ROW("mbb: drained: stop", IN(STOPPING, HANDOVER_DRAIN, 1), F(MBB, PEER(ACTIVE, H, 2)),
        DRAIN_DONE, STOPPING, HANDOVER_FINAL_STOP, 1, 0, STOP),
    ROW("mbb: stopped: passive, tell the peer", IN(STOPPING, HANDOVER_FINAL_STOP, 1),
        F(MBB, PEER(ACTIVE, H, 2)), SERVICES_STOPPED, PASSIVE, NONE, 1, 1, RELEASED),
    ROW("mbb: peer failed: keep serving, degraded", IN(ACTIVE, HANDOVER_WAIT_PEER, 1),
        F(MBB, FAILING, PEER(FAULT, H, 2)), PEER_TAKE_FAILED, DEGRADED, NONE, 1, 0, ALERT),
    ROW("mbb: peer lost mid-handover: keep serving", IN(ACTIVE, HANDOVER_WAIT_PEER, 1),
        F(MBB, FAILING), PEER_LOST, DEGRADED, NONE, 1, 0, ALERT),

    /* Stopping the agent (SHUTDOWN: a stop, not a restart) */
    ROW("stop, active, peer can take: hand over", IN(ACTIVE, NONE, 1), F(PEER_OK), SHUTDOWN,
        STOPPING, HANDOVER_STOP, 1, 0, STOP),
    ROW("stop, active, mbb: peer first", IN(ACTIVE, NONE, 1), F(MBB, PEER_OK), SHUTDOWN, ACTIVE,
        HANDOVER_WAIT_PEER, 1, 0, TAKE),
    ROW("stop, active, peer in fault: services stay", IN(ACTIVE, NONE, 1), F(PEER(FAULT, H, 0)),
        SHUTDOWN, ACTIVE, NONE, 1, 0, ALERT),
    ROW("stop, active, peer unreachable: services stay", IN(ACTIVE, NONE, 1), F(), SHUTDOWN, ACTIVE,
        NONE, 1, 0, ALERT),
    ROW("stop, active, peer stopping too: services stay", IN(ACTIVE, NONE, 1),
        F(PEER(PASSIVE, H | LV, 0)), SHUTDOWN, ACTIVE, NONE, 1, 0, ALERT),
    ROW("stop, passive: nothing to do", IN(PASSIVE, NONE, 1), F(PEER(ACTIVE, H, 1)), SHUTDOWN,
        PASSIVE, NONE, 1, 0, 0),
    ROW("stopping, passive, asked to take over: refuse", IN(PASSIVE, NONE, 1, .shutting_down = 1),
        F(PEER(STOPPING, H | B, 1)), PEER_TAKE, PASSIVE, NONE, 1, 0, TAKE_FAIL),
    ROW("stopping, passive master, peer passive: no start",
        IN(PASSIVE, NONE, 1, .shutting_down = 1), F(PEER(PASSIVE, H, 1)), PEER_STATE, PASSIVE, NONE,
        1, 0, 0),
    ROW("stopping, peer lost: no takeover",
        IN(PASSIVE, NONE, 1, .shutting_down = 1, .peer_seen = 1), F(), PEER_LOST, PASSIVE, NONE, 1,
        0, ALERT),
    ROW("stop handover, peer's agent leaves: start our own again",
        IN(STOPPING, HANDOVER_WAIT_PEER, 1, .shutting_down = 1), F(PEER(PASSIVE, H | LV, 0)),
        PEER_STATE, STARTING, RESTART, 2, 0, START | ALERT),
    ROW("peer restarting its agent, lost: wait", IN(PASSIVE, NONE, 1, .peer_seen = 1),
        F(.peer_state = ROLE_ACTIVE, .peer_flags = H | RS, .peer_epoch = 1), PEER_LOST, PASSIVE,
        NONE, 1, 0, ALERT),
    ROW("peer left serving (no one could take), lost: no takeover",
        IN(PASSIVE, NONE, 1, .peer_seen = 1),
        F(.peer_state = ROLE_ACTIVE, .peer_flags = H | LV, .peer_epoch = 1), PEER_LOST, PASSIVE,
        NONE, 1, 0, ALERT),
    ROW("peer left after handing over to us: already serving", IN(ACTIVE, NONE, 2, .peer_seen = 1),
        F(.peer_state = ROLE_PASSIVE, .peer_flags = H | LV | HO, .peer_epoch = 1), PEER_LOST,
        ACTIVE, NONE, 2, 0, ALERT),
    ROW("quiesce, peer's agent stopping: refused", IN(ACTIVE, NONE, 1), F(PEER(PASSIVE, H | LV, 0)),
        QUIESCE, ACTIVE, NONE, 1, 0, ERR),

    /* Services found running at start on a passive node (a lost save, a start by hand) */
    ROW("stray, peer serves: stop them", IN(PASSIVE, NONE, 1), F(STANDBY, PEER(ACTIVE, H, 2)),
        PROBE_STRAY, PASSIVE, STOP_STRAY, 1, 0, STOP | ALERT),
    ROW("stray stopped: passive", IN(PASSIVE, STOP_STRAY, 1, .stray = 1),
        F(STANDBY, PEER(ACTIVE, H, 2)), SERVICES_STOPPED, PASSIVE, NONE, 1, 0, 0),
    ROW("stray that will not stop: degraded", IN(PASSIVE, STOP_STRAY, 1, .stray = 1),
        F(STANDBY, PEER(ACTIVE, H, 2)), SERVICES_STOP_FAILED, DEGRADED, NONE, 1, 0, ALERT),
    ROW("stray, peer passive: adopt", IN(PASSIVE, NONE, 1), F(STANDBY, PEER(PASSIVE, H, 1)),
        PROBE_STRAY, ACTIVE, NONE, 1, 0, ALERT),
    ROW("stray, no peer yet: wait", IN(PASSIVE, NONE, 1), F(STANDBY), PROBE_STRAY, PASSIVE, NONE, 1,
        0, 0),
    ROW("stray, no peer within init_dead: adopt", IN(PASSIVE, NONE, 1, .stray = 1), F(STANDBY),
        INIT_DEAD, ACTIVE, NONE, 1, 0, ALERT),
    ROW("stray, handed over, peer connects serving: stop",
        IN(PASSIVE, NONE, 1, .stray = 1, .handed_over = 1), F(PEER(ACTIVE, H, 2)), PEER_STATE,
        PASSIVE, STOP_STRAY, 1, 1, STOP | ALERT),
    ROW("shutdown in maintenance: services stay", IN(ACTIVE, NONE, 1),
        F(MAINT, PEER(PASSIVE, H, 1)), SHUTDOWN, ACTIVE, NONE, 1, 0, ALERT),
    ROW("stray, arbiter, key not ours: stop", IN(PASSIVE, NONE, 1),
        F(STANDBY, ARB, PEER(PASSIVE, H, 1)), PROBE_STRAY, PASSIVE, STOP_STRAY, 1, 0, STOP | ALERT),

    /* A stop that fails, even killed: never tell the peer to start; serve, degraded */
    ROW("bbm: stop failed: no TAKE, degraded", IN(STOPPING, HANDOVER_STOP, 1), F(FAILING, PEER_OK),
        SERVICES_STOP_FAILED, DEGRADED, NONE, 1, 0, ALERT),
    ROW("quiesce: stop failed: refused, degraded", IN(STOPPING, HANDOVER_STOP, 1, .operator_op = 1),
        F(PEER_OK), SERVICES_STOP_FAILED, DEGRADED, NONE, 1, 0, ALERT | ERR),
    ROW("stop failed: no handover retry on its own", IN(DEGRADED, NONE, 1, .stop_failed = 1),
        F(FAILING, PEER_OK), CHECKS_CHANGED, DEGRADED, NONE, 1, 0, 0),
    ROW("stop failed: stays degraded with checks passing", IN(DEGRADED, NONE, 1, .stop_failed = 1),
        F(PEER_OK), CHECKS_CHANGED, DEGRADED, NONE, 1, 0, 0),
    ROW("stop failed: operator quiesce tries again", IN(DEGRADED, NONE, 1, .stop_failed = 1),
        F(PEER_OK), QUIESCE, STOPPING, HANDOVER_STOP, 1, 0, STOP),
    ROW("stop failed, both active: no yield (it would loop)",
        IN(DEGRADED, NONE, 1, .stop_failed = 1), F(PEER(ACTIVE, H, 5)), PEER_STATE, DEGRADED, NONE,
        1, 0, 0),
    ROW("mbb: final stop failed: no RELEASED, degraded", IN(STOPPING, HANDOVER_FINAL_STOP, 1),
        F(MBB, PEER(ACTIVE, H, 2)), SERVICES_STOP_FAILED, DEGRADED, NONE, 1, 0, ALERT),
    ROW("yield: stop failed: degraded", IN(STOPPING, YIELD, 1), F(PEER(ACTIVE, H, 2)),
        SERVICES_STOP_FAILED, DEGRADED, NONE, 1, 0, ALERT),
    ROW("stop failed, later stop works: passive",
        IN(STOPPING, HANDOVER_FINAL_STOP, 1, .stop_failed = 1), F(MBB, PEER(ACTIVE, H, 2)),
        SERVICES_STOPPED, PASSIVE, NONE, 1, 1, RELEASED),

    /* The passive node asked to take over */
    ROW("peer hands over: start", IN(PASSIVE, NONE, 1, .handed_over = 1),
        F(PEER(STOPPING, H | B, 4)), PEER_TAKE, STARTING, START_FOR_PEER, 5, 0, START),
    ROW("peer hands over, host check failing: refuse", IN(PASSIVE, NONE, 1),
        F(SICK, PEER(STOPPING, H | B, 1)), PEER_TAKE, FAULT, NONE, 1, 0, TAKE_FAIL),
    ROW("started for the peer: confirm", IN(STARTING, START_FOR_PEER, 2),
        F(PEER(STOPPING, H | B, 1)), SERVICES_STARTED, ACTIVE, NONE, 2, 0, TAKE_DONE),
    ROW("start for the peer failed: tell it", IN(STARTING, START_FOR_PEER, 2),
        F(PEER(STOPPING, H | B, 1)), SERVICES_START_FAILED, FAULT, NONE, 2, 0, TAKE_FAIL | ALERT),
    ROW("retried take while active: confirm again", IN(ACTIVE, NONE, 2),
        F(PEER(STOPPING, H | B, 1)), PEER_TAKE, ACTIVE, NONE, 2, 0, TAKE_DONE),
    ROW("take confirmed while both active: no yield in the same step", IN(ACTIVE, NONE, 2),
        F(PEER(ACTIVE, H | M, 5)), PEER_TAKE, ACTIVE, NONE, 2, 0, TAKE_DONE),
    ROW("take while busy: refuse", IN(STOPPING, YIELD, 2), F(PEER(STOPPING, H | B, 1)), PEER_TAKE,
        STOPPING, YIELD, 2, 0, TAKE_FAIL),
    ROW("fault from a failed start accepts a deliberate take",
        IN(FAULT, NONE, 2, .start_failed = 1), F(PEER(STOPPING, H | B, 3)), PEER_TAKE, STARTING,
        START_FOR_PEER, 4, 0, START),

    /* Peer loss */
    ROW("peer lost, takeover", IN(PASSIVE, NONE, 1, .peer_seen = 1), F(), PEER_LOST, STARTING,
        START, 2, 0, START | ALERT),
    ROW("peer lost after an absurd peer epoch: saturates, no wrap to 0",
        IN(PASSIVE, NONE, 1, .peer_seen = 1), F(.peer_epoch = UINT64_MAX), PEER_LOST, STARTING,
        START, UINT64_MAX, 0, START | ALERT),
    ROW("takeover at a saturated epoch stays saturated",
        IN(PASSIVE, NONE, UINT64_MAX, .peer_seen = 1), F(.peer_epoch = 7), PEER_LOST, STARTING,
        START, UINT64_MAX, 0, START | ALERT),
    ROW("two candidates: absurd peer epoch does not wrap ours",
        IN(PASSIVE, NONE, UINT64_MAX - 1, .saved_active = 1),
        F(STANDBY, PEER(PASSIVE, H | C | M, UINT64_MAX - 2)), PEER_STATE, STARTING, START,
        UINT64_MAX, 0, START),
    ROW("peer lost, stay", IN(PASSIVE, NONE, 1, .peer_seen = 1), F(STAY), PEER_LOST, PASSIVE, NONE,
        1, 0, ALERT),
    ROW("peer lost, never seen since start: stay (wait_for_all)", IN(PASSIVE, NONE, 1), F(STANDBY),
        PEER_LOST, PASSIVE, NONE, 1, 0, ALERT),
    ROW("peer lost after we handed over: take over",
        IN(PASSIVE, NONE, 1, .peer_seen = 1, .handed_over = 1), F(), PEER_LOST, STARTING, START, 2,
        0, START | ALERT),
    ROW("peer lost while active: keep serving", IN(ACTIVE, NONE, 1, .peer_seen = 1), F(), PEER_LOST,
        ACTIVE, NONE, 1, 0, ALERT),

    /* quiesce */
    ROW("quiesce: hand over", IN(ACTIVE, NONE, 1), F(PEER(PASSIVE, H | HO, 0)), QUIESCE, STOPPING,
        HANDOVER_STOP, 1, 0, STOP),
    ROW("quiesce, mbb: peer first", IN(ACTIVE, NONE, 1), F(MBB, PEER_OK), QUIESCE, ACTIVE,
        HANDOVER_WAIT_PEER, 1, 0, TAKE),
    ROW("quiesce from degraded", IN(DEGRADED, NONE, 1), F(FAILING, PEER(PASSIVE, H | HO, 0)),
        QUIESCE, STOPPING, HANDOVER_STOP, 1, 0, STOP),
    ROW("quiesce to a peer whose start failed", IN(ACTIVE, NONE, 1), F(PEER(FAULT, H, 0)), QUIESCE,
        STOPPING, HANDOVER_STOP, 1, 0, STOP),
    ROW("quiesce on a passive node: refused", IN(PASSIVE, NONE, 1), F(PEER(ACTIVE, H, 2)), QUIESCE,
        PASSIVE, NONE, 1, 0, ERR),
    ROW("quiesce, peer unreachable: refused", IN(ACTIVE, NONE, 1), F(), QUIESCE, ACTIVE, NONE, 1, 0,
        ERR),
    ROW("quiesce, peer unhealthy: refused", IN(ACTIVE, NONE, 1), F(PEER(PASSIVE, 0, 0)), QUIESCE,
        ACTIVE, NONE, 1, 0, ERR),
    ROW("quiesce while busy: refused", IN(ACTIVE, HANDOVER_WAIT_PEER, 1), F(MBB, PEER_OK), QUIESCE,
        ACTIVE, HANDOVER_WAIT_PEER, 1, 0, ERR),
    ROW("quiesce done: reply", IN(STOPPING, HANDOVER_WAIT_PEER, 1, .operator_op = 1),
        F(PEER(ACTIVE, H, 2)), PEER_TAKE_DONE, PASSIVE, NONE, 1, 1, OK),
    ROW("quiesce, peer failed: reply error, restart",
        IN(STOPPING, HANDOVER_WAIT_PEER, 1, .operator_op = 1), F(PEER(FAULT, H, 2)),
        PEER_TAKE_FAILED, STARTING, RESTART, 3, 0, START | ERR | ALERT),
    ROW("quiesce mbb done: reply after the stop",
        IN(STOPPING, HANDOVER_FINAL_STOP, 1, .operator_op = 1), F(MBB, PEER(ACTIVE, H, 2)),
        SERVICES_STOPPED, PASSIVE, NONE, 1, 1, RELEASED | OK),

    /* takeover */
    ROW("takeover, peer active: ask it to release", IN(PASSIVE, NONE, 1, .handed_over = 1),
        F(PEER(ACTIVE, H, 2)), TAKEOVER, PASSIVE, REQUEST_RELEASE, 1, 1, RELEASE),
    ROW("takeover, peer unreachable: start", IN(PASSIVE, NONE, 1, .handed_over = 1), F(STANDBY),
        TAKEOVER, STARTING, START, 2, 0, START),
    ROW("takeover, both passive: start", IN(PASSIVE, NONE, 1), F(STANDBY, PEER(PASSIVE, H, 1)),
        TAKEOVER, STARTING, START, 2, 0, START),
    ROW("takeover when active: refused", IN(ACTIVE, NONE, 1), F(), TAKEOVER, ACTIVE, NONE, 1, 0,
        ERR),
    ROW("release asked of the active node: hand over", IN(ACTIVE, NONE, 2),
        F(PEER(PASSIVE, H | B, 1)), PEER_RELEASE, STOPPING, HANDOVER_STOP, 2, 0, STOP),
    ROW("release asked of a passive node: refuse", IN(PASSIVE, NONE, 2), F(PEER(PASSIVE, H | B, 1)),
        PEER_RELEASE, PASSIVE, NONE, 2, 0, REFUSED),
    ROW("release refused: reply error", IN(PASSIVE, REQUEST_RELEASE, 1, .operator_op = 1),
        F(PEER(ACTIVE, H, 2)), PEER_RELEASE_REFUSED, PASSIVE, NONE, 1, 0, ERR),
    ROW("released: the peer's take starts us", IN(PASSIVE, REQUEST_RELEASE, 1, .operator_op = 1),
        F(PEER(STOPPING, H | B, 2)), PEER_TAKE, STARTING, START_FOR_PEER, 3, 0, START),
    ROW("takeover bbm: done when started", IN(STARTING, START_FOR_PEER, 3, .operator_op = 1),
        F(PEER(STOPPING, H | B, 2)), SERVICES_STARTED, ACTIVE, NONE, 3, 0, TAKE_DONE | OK),
    ROW("takeover mbb: wait for the old node to stop",
        IN(STARTING, START_FOR_PEER, 3, .operator_op = 1), F(MBB, PEER(ACTIVE, H | B, 2)),
        SERVICES_STARTED, ACTIVE, AWAIT_RELEASED, 3, 0, TAKE_DONE),
    ROW("takeover mbb: old node stopped: done", IN(ACTIVE, AWAIT_RELEASED, 3, .operator_op = 1),
        F(MBB, PEER(PASSIVE, H | HO, 2)), PEER_RELEASED, ACTIVE, NONE, 3, 0, OK),
    ROW("takeover mbb: old node still draining: wait",
        IN(ACTIVE, AWAIT_RELEASED, 3, .operator_op = 1), F(MBB, PEER(STOPPING, H | M | B, 2)),
        PEER_STATE, ACTIVE, AWAIT_RELEASED, 3, 0, 0),
    ROW("takeover mbb: RELEASED lost, old node passive: done",
        IN(ACTIVE, AWAIT_RELEASED, 3, .operator_op = 1), F(MBB, PEER(PASSIVE, H | M | HO, 2)),
        PEER_STATE, ACTIVE, NONE, 3, 0, OK),
    ROW("takeover mbb: old node gave up and serves: stop waiting, election keeps us",
        IN(ACTIVE, AWAIT_RELEASED, 3, .operator_op = 1), F(MBB, PEER(ACTIVE, H | M, 2)), PEER_STATE,
        ACTIVE, NONE, 3, 0, ERR | ALERT),

    /* Two active nodes (after a partition heals) */
    ROW("both active, peer has higher epoch: yield", IN(ACTIVE, NONE, 3), F(PEER(ACTIVE, H, 5)),
        PEER_STATE, STOPPING, YIELD, 3, 0, STOP | ALERT),
    ROW("both active, ours is higher: stay", IN(ACTIVE, NONE, 5), F(PEER(ACTIVE, H, 3)), PEER_STATE,
        ACTIVE, NONE, 5, 0, 0),
    ROW("both active, equal epochs, standby yields", IN(ACTIVE, NONE, 4),
        F(STANDBY, PEER(ACTIVE, H | M, 4)), PEER_STATE, STOPPING, YIELD, 4, 0, STOP | ALERT),
    ROW("both active, equal epochs, master stays", IN(ACTIVE, NONE, 4), F(PEER(DEGRADED, H, 4)),
        PEER_STATE, ACTIVE, NONE, 4, 0, 0),
    ROW("both active during a handover: no election", IN(ACTIVE, NONE, 3),
        F(PEER(ACTIVE, H | B, 5)), PEER_STATE, ACTIVE, NONE, 3, 0, 0),
    ROW("yielded: passive, handed over", IN(STOPPING, YIELD, 3), F(PEER(ACTIVE, H, 5)),
        SERVICES_STOPPED, PASSIVE, NONE, 3, 1, 0),

    /* Arbiter: the key gates every start, losing it fences */
    ROW("arbiter: init_dead waits for the key, starts nothing", IN(PASSIVE, NONE, 0), F(ARB),
        INIT_DEAD, STARTING, START, 1, 0, ACQUIRE),
    ROW("arbiter: peer lost, waits for the key", IN(PASSIVE, NONE, 2, .peer_seen = 1), F(ARB),
        PEER_LOST, STARTING, START, 3, 0, ACQUIRE | ALERT),
    ROW("arbiter: key acquired, start", IN(STARTING, START, 3, .awaiting_key = 1), F(KEY),
        KEY_ACQUIRED, STARTING, START, 3, 0, START),
    ROW("arbiter: key acquired for nothing: ignored", IN(PASSIVE, NONE, 3),
        F(STANDBY, KEY, PEER_OK), KEY_ACQUIRED, PASSIVE, NONE, 3, 0, 0),
    ROW("arbiter: peer serves again while we wait: give up",
        IN(STARTING, START, 3, .awaiting_key = 1, .peer_seen = 1), F(ARB, PEER(ACTIVE, H, 2)),
        PEER_STATE, PASSIVE, NONE, 3, 0, CANCEL),
    ROW("arbiter: peer asks us to take over: key first", IN(PASSIVE, NONE, 2),
        F(ARB, PEER(STOPPING, H | B, 2)), PEER_TAKE, STARTING, START_FOR_PEER, 3, 0, ACQUIRE),
    ROW("arbiter: key lost, peer unreachable: fence", IN(ACTIVE, NONE, 3), F(ARB), KEY_LOST,
        STOPPING, FENCE, 3, 0, FENCE | ALERT),
    ROW("arbiter: key lost, peer passive: failsafe, keep serving", IN(ACTIVE, NONE, 3),
        F(ARB, PEER_OK), KEY_LOST, ACTIVE, NONE, 3, 0, ALERT),
    ROW("arbiter: failsafe, then the peer goes: fence", IN(ACTIVE, NONE, 3, .failsafe = 1), F(ARB),
        PEER_LOST, STOPPING, FENCE, 3, 0, FENCE | ALERT),
    ROW("arbiter: failsafe, peer still passive: nothing new", IN(ACTIVE, NONE, 3, .failsafe = 1),
        F(ARB, PEER_OK), PEER_STATE, ACTIVE, NONE, 3, 0, 0),
    ROW("arbiter: failsafe, key back", IN(ACTIVE, NONE, 3, .failsafe = 1), F(KEY, PEER_OK),
        KEY_ACQUIRED, ACTIVE, NONE, 3, 0, 0),
    ROW("arbiter: key held, peer lost: keep serving", IN(ACTIVE, NONE, 3), F(KEY), PEER_LOST,
        ACTIVE, NONE, 3, 0, ALERT),
    ROW("arbiter: fenced: passive, and tries for the key again",
        IN(STOPPING, FENCE, 3, .peer_seen = 1, .saved_active = 1), F(ARB), SERVICES_STOPPED,
        STARTING, START, 4, 0, ACQUIRE | ALERT),
    ROW("arbiter: fenced, peer serves: passive", IN(STOPPING, FENCE, 3, .saved_active = 1),
        F(ARB, PEER(ACTIVE, H, 4)), SERVICES_STOPPED, PASSIVE, NONE, 3, 0, ALERT),
    ROW("arbiter: restart, services run: ask the arbiter",
        IN(PASSIVE, BOOT_PROBE, 3, .saved_active = 1), F(ARB), PROBE_RUNNING, PASSIVE, BOOT_ADOPT,
        3, 0, ADOPT),
    ROW("arbiter: restart, key still ours: re-adopted",
        IN(PASSIVE, BOOT_ADOPT, 3, .saved_active = 1), F(KEY), KEY_ACQUIRED, ACTIVE, NONE, 3, 0, 0),
    ROW("arbiter: restart, the peer holds the key: stop at once",
        IN(PASSIVE, BOOT_ADOPT, 3, .saved_active = 1), F(ARB), KEY_REFUSED, STOPPING, FENCE, 3, 0,
        FENCE | ALERT),
    ROW("arbiter: restart, etcd unreachable, peer passive: failsafe",
        IN(PASSIVE, BOOT_ADOPT, 3, .saved_active = 1), F(ARB, PEER_OK), KEY_LOST, ACTIVE, NONE, 3,
        0, ALERT),
    ROW("arbiter: restart, etcd unreachable, no peer: fence",
        IN(PASSIVE, BOOT_ADOPT, 3, .saved_active = 1), F(ARB), KEY_LOST, STOPPING, FENCE, 3, 0,
        FENCE | ALERT),
    ROW("arbiter: restart with the key already held: serve",
        IN(PASSIVE, BOOT_PROBE, 3, .saved_active = 1), F(KEY), PROBE_RUNNING, ACTIVE, NONE, 3, 0,
        0),
    ROW("arbiter: never seen the peer: no takeover", IN(PASSIVE, NONE, 3), F(ARB), CHECKS_CHANGED,
        PASSIVE, NONE, 3, 0, 0),

    /* Host health */
    ROW("passive, host check fails: fault", IN(PASSIVE, NONE, 1), F(SICK), CHECKS_CHANGED, FAULT,
        NONE, 1, 0, 0),
    ROW("fault, host check passes: passive", IN(FAULT, NONE, 1), F(), CHECKS_CHANGED, PASSIVE, NONE,
        1, 0, 0),
    /* Maintenance: nothing started, stopped, restarted or handed over */
    ROW("maintenance: check fails while active: degraded, no handover", IN(ACTIVE, NONE, 1),
        F(MAINT, FAILING, PEER_OK), CHECKS_CHANGED, DEGRADED, NONE, 1, 0, ALERT),
    ROW("maintenance: no restart in place either", IN(ACTIVE, NONE, 1),
        F(MAINT, FAILING, RESTARTS, PEER_OK), CHECKS_CHANGED, DEGRADED, NONE, 1, 0, ALERT),
    ROW("maintenance: checks pass again: active", IN(DEGRADED, NONE, 1), F(MAINT, PEER_OK),
        CHECKS_CHANGED, ACTIVE, NONE, 1, 0, 0),
    ROW("maintenance: peer lost while passive: no takeover", IN(PASSIVE, NONE, 1, .peer_seen = 1),
        F(MAINT), PEER_LOST, PASSIVE, NONE, 1, 0, ALERT),
    ROW("maintenance: no start at init_dead", IN(PASSIVE, NONE, 0), F(MAINT), INIT_DEAD, PASSIVE,
        NONE, 0, 0, 0),
    ROW("maintenance: passive master does not start beside a passive peer", IN(PASSIVE, NONE, 0),
        F(MAINT, PEER_OK), PEER_STATE, PASSIVE, NONE, 0, 0, 0),
    ROW("maintenance: both active, no election", IN(ACTIVE, NONE, 1), F(MAINT, PEER(ACTIVE, H, 5)),
        PEER_STATE, ACTIVE, NONE, 1, 0, 0),
    ROW("maintenance: quiesce refused", IN(ACTIVE, NONE, 1), F(MAINT, PEER_OK), QUIESCE, ACTIVE,
        NONE, 1, 0, ERR),
    ROW("maintenance: takeover refused", IN(PASSIVE, NONE, 1), F(MAINT, PEER(ACTIVE, H, 1)),
        TAKEOVER, PASSIVE, NONE, 1, 0, ERR),
    ROW("maintenance: peer's TAKE refused", IN(PASSIVE, NONE, 1),
        F(MAINT, PEER(STOPPING, H | B, 1)), PEER_TAKE, PASSIVE, NONE, 1, 0, TAKE_FAIL),
    ROW("maintenance: peer's RELEASE refused", IN(ACTIVE, NONE, 1), F(MAINT, PEER_OK), PEER_RELEASE,
        ACTIVE, NONE, 1, 0, REFUSED),
    ROW("maintenance: re-adopts running services at boot",
        IN(PASSIVE, BOOT_PROBE, 3, .saved_active = 1), F(MAINT), PROBE_RUNNING, ACTIVE, NONE, 3, 0,
        0),
    ROW("maintenance: arbiter key lost, peer away: still fences", IN(ACTIVE, NONE, 1),
        F(MAINT, ARB), CHECKS_CHANGED, STOPPING, FENCE, 1, 0, FENCE | ALERT),
    ROW("maintenance: arbiter, peer lost: no takeover", IN(PASSIVE, NONE, 1, .peer_seen = 1),
        F(MAINT, ARB), CHECKS_CHANGED, PASSIVE, NONE, 1, 0, 0),
    ROW("maintenance: a handover in flight still completes", IN(STOPPING, HANDOVER_WAIT_PEER, 1),
        F(MAINT, PEER_OK), PEER_TAKE_DONE, PASSIVE, NONE, 1, 1, 0),

    /* Local recovery: restarts = N; restart_window = S */
    ROW("check fails, restart budget left: restart in place, not handover", IN(ACTIVE, NONE, 1),
        F(FAILING, RESTARTS, PEER_OK), CHECKS_CHANGED, ACTIVE, LOCAL_RESTART, 1, 0,
        RESTART | ALERT),
    ROW("check fails, no peer, budget left: restart in place", IN(ACTIVE, NONE, 1),
        F(FAILING, RESTARTS), CHECKS_CHANGED, ACTIVE, LOCAL_RESTART, 1, 0, RESTART | ALERT),
    ROW("restarted: active again", IN(ACTIVE, LOCAL_RESTART, 1), F(PEER_OK), SERVICES_STARTED,
        ACTIVE, NONE, 1, 0, 0),
    ROW("restart failed, budget spent: hand over", IN(ACTIVE, LOCAL_RESTART, 1),
        F(FAILING, PEER_OK), SERVICES_START_FAILED, STOPPING, HANDOVER_STOP, 1, 0, STOP | ALERT),
    ROW("budget spent: check fails: hand over", IN(ACTIVE, NONE, 1), F(FAILING, PEER_OK),
        CHECKS_CHANGED, STOPPING, HANDOVER_STOP, 1, 0, STOP),
    ROW("restarting: peer lost, carry on", IN(ACTIVE, LOCAL_RESTART, 1), F(FAILING), PEER_LOST,
        ACTIVE, LOCAL_RESTART, 1, 0, 0),
    ROW("restarting: quiesce refused", IN(ACTIVE, LOCAL_RESTART, 1), F(PEER_OK), QUIESCE, ACTIVE,
        LOCAL_RESTART, 1, 0, ERR),
    ROW("restarting: passive node ignores restart budget", IN(PASSIVE, NONE, 1),
        F(STANDBY, RESTARTS, PEER(ACTIVE, H, 1)), CHECKS_CHANGED, PASSIVE, NONE, 1, 0, 0),
};

static void test_rows(void **state)
{
        unsigned failures = 0;

        for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
                const Row *r = &rows[i];
                RoleOutput o = role_step(&r->in, &r->facts, r->event);

                if (o.machine.state != r->state || o.machine.op != r->op ||
                    o.machine.epoch != r->epoch || o.machine.handed_over != r->handed_over ||
                    o.actions != r->actions) {
                        print_error(
                            "row %zu \"%s\": got %s/%s epoch %llu handed_over %d actions 0x%x, "
                            "want %s/%s epoch %llu handed_over %d actions 0x%x (%s)\n",
                            i, r->name, role_state_to_string(o.machine.state),
                            role_op_to_string(o.machine.op), (unsigned long long)o.machine.epoch,
                            o.machine.handed_over, o.actions, role_state_to_string(r->state),
                            role_op_to_string(r->op), (unsigned long long)r->epoch, r->handed_over,
                            r->actions, o.message ? o.message : "-");
                        failures++;
                }
        }
        assert_int_equal(failures, 0);
}

/* Every operator refusal and every alert carries a reason for the log and the reply. */
static void test_messages(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
                RoleOutput o = role_step(&rows[i].in, &rows[i].facts, rows[i].event);
                /* Every action says why: logs, replies, notify and the peer all show it. */
                if (o.actions && !o.message)
                        fail_msg("row %zu \"%s\": actions 0x%x without a message", i, rows[i].name,
                                 o.actions);
        }
}

/* A node that stays active with a failing check says what keeps the peer from taking over. */
static void test_degraded_reason(void **state)
{
        RoleMachine m = {.state = ROLE_ACTIVE, .epoch = 1};
        RoleFacts unreachable = {FAILING};
        RoleFacts unhealthy = {FAILING, PEER(PASSIVE, 0, 0)};
        RoleFacts in_fault = {FAILING, PEER(FAULT, H, 0)};
        RoleOutput o;

        o = role_step(&m, &unreachable, ROLE_EVENT_CHECKS_CHANGED);
        assert_int_equal(o.machine.state, ROLE_DEGRADED);
        assert_non_null(strstr(o.message, "peer is unreachable"));
        o = role_step(&m, &unhealthy, ROLE_EVENT_CHECKS_CHANGED);
        assert_int_equal(o.machine.state, ROLE_DEGRADED);
        assert_non_null(strstr(o.message, "peer is unhealthy"));
        o = role_step(&m, &in_fault, ROLE_EVENT_CHECKS_CHANGED);
        assert_int_equal(o.machine.state, ROLE_DEGRADED);
        assert_non_null(strstr(o.message, "peer cannot take over"));
}

/* Every state and event has a name, and names round-trip. */
static void test_string_tables(void **state)
{
        for (int i = 0; i < _ROLE_STATE_MAX; i++)
                assert_int_equal(role_state_from_string(role_state_to_string(i)), i);
        for (int i = 0; i < _ROLE_EVENT_MAX; i++)
                assert_int_equal(role_event_from_string(role_event_to_string(i)), i);
        for (int i = 0; i < _ROLE_OP_MAX; i++)
                assert_int_equal(role_op_from_string(role_op_to_string(i)), i);
        assert_int_equal((int)role_state_from_string("primary"), -EINVAL);
}

/* The full break-before-make round trip through both machines, driven by each other's frames. */
static void test_two_machines_handover(void **state)
{
        RoleMachine a = {.state = ROLE_ACTIVE, .epoch = 1, .saved_active = true, .peer_seen = true};
        RoleMachine b = {.state = ROLE_PASSIVE, .peer_seen = true};
        RoleFacts fa = {.home = HOME_ROLE_MASTER, .checks_failing = true, .peer_connected = true},
                  fb = {
                      .home = HOME_ROLE_STANDBY, .peer_connected = true, .name_sorts_first = false};
        RoleOutput o;

#define SYNC()                                                                                     \
        do {                                                                                       \
                fa.peer_state = b.state, fa.peer_flags = role_flags(&b, &fb),                      \
                fa.peer_epoch = b.epoch;                                                           \
                fb.peer_state = a.state, fb.peer_flags = role_flags(&a, &fa),                      \
                fb.peer_epoch = a.epoch;                                                           \
        } while (0)

        SYNC();
        o = role_step(&a, &fa, ROLE_EVENT_CHECKS_CHANGED), a = o.machine;
        assert_true(o.actions & ROLE_ACTION_STOP_SERVICES);
        SYNC();
        o = role_step(&a, &fa, ROLE_EVENT_SERVICES_STOPPED), a = o.machine;
        assert_true(o.actions & ROLE_ACTION_SEND_TAKE);
        fa.checks_failing = false; /* scope-active checks are disabled once stopped */
        SYNC();
        o = role_step(&b, &fb, ROLE_EVENT_PEER_TAKE), b = o.machine;
        assert_true(o.actions & ROLE_ACTION_START_SERVICES);
        SYNC();
        o = role_step(&b, &fb, ROLE_EVENT_SERVICES_STARTED), b = o.machine;
        assert_true(o.actions & ROLE_ACTION_SEND_TAKE_DONE);
        SYNC();
        o = role_step(&a, &fa, ROLE_EVENT_PEER_TAKE_DONE), a = o.machine;
        SYNC();
        o = role_step(&a, &fa, ROLE_EVENT_PEER_STATE), a = o.machine;
        o = role_step(&b, &fb, ROLE_EVENT_PEER_STATE), b = o.machine;
        assert_int_equal(a.state, ROLE_PASSIVE);
        assert_true(a.handed_over);
        assert_int_equal(b.state, ROLE_ACTIVE);
        assert_int_equal(b.epoch, 2);

        /* The failed master restarts: it stays passive (handed over), the standby keeps serving. */
        a.saved_active = false;
        o = role_step(&a, &fa, ROLE_EVENT_BOOT), a = o.machine;
        SYNC();
        o = role_step(&a, &fa, ROLE_EVENT_PEER_STATE), a = o.machine;
        o = role_step(&a, &fa, ROLE_EVENT_INIT_DEAD), a = o.machine;
        assert_int_equal(a.state, ROLE_PASSIVE);
        assert_int_equal(o.actions, 0);
}

/* Why a node handed over decides whether it may be handed the services back automatically. */
static void test_failed_over_flag(void **state)
{
        RoleFacts f = {.peer_connected = true,
                       .peer_state = ROLE_ACTIVE,
                       .peer_flags = H,
                       .checks_failing = true};
        RoleMachine m = {.state = ROLE_ACTIVE, .epoch = 1};
        RoleOutput o;

        f.peer_state = ROLE_PASSIVE;
        o = role_step(&m, &f, ROLE_EVENT_CHECKS_CHANGED);
        o = role_step(&o.machine, &f, ROLE_EVENT_SERVICES_STOPPED);
        f.peer_state = ROLE_ACTIVE;
        o = role_step(&o.machine, &f, ROLE_EVENT_PEER_TAKE_DONE);
        assert_true(o.machine.handed_over);
        assert_true(o.machine.failed_over);
        assert_true(role_flags(&o.machine, &f) & FO);

        f.checks_failing = false;
        f.peer_state = ROLE_PASSIVE;
        m = (RoleMachine){.state = ROLE_ACTIVE, .epoch = 1};
        o = role_step(&m, &f, ROLE_EVENT_QUIESCE);
        o = role_step(&o.machine, &f, ROLE_EVENT_SERVICES_STOPPED);
        f.peer_state = ROLE_ACTIVE;
        o = role_step(&o.machine, &f, ROLE_EVENT_PEER_TAKE_DONE);
        assert_true(o.machine.handed_over);
        assert_false(o.machine.failed_over);
        assert_false(role_flags(&o.machine, &f) & FO);
}

/* The damper: two broken nodes pass the services back and forth once, not forever. */
static void test_last_resort_once(void **state)
{
        RoleMachine a = {.state = ROLE_PASSIVE,
                         .epoch = 1,
                         .handed_over = true,
                         .failed_over = true,
                         .peer_seen = true};
        RoleFacts fa = {.peer_connected = true,
                        .peer_state = ROLE_STOPPING,
                        .peer_flags = H | B,
                        .peer_epoch = 1};
        RoleOutput o;

        /* b, serving and failing, hands over to a, which had failed over: a last resort. */
        o = role_step(&a, &fa, ROLE_EVENT_PEER_TAKE);
        assert_true(o.machine.last_resort);
        o = role_step(&o.machine, &fa, ROLE_EVENT_SERVICES_STARTED);
        assert_int_equal(o.machine.state, ROLE_ACTIVE);
        assert_true(o.machine.last_resort);
        /* a fails too, b is failed over now: a stays, degraded. */
        fa.checks_failing = true;
        fa.peer_state = ROLE_PASSIVE;
        fa.peer_flags = H | HO | FO;
        o = role_step(&o.machine, &fa, ROLE_EVENT_CHECKS_CHANGED);
        assert_int_equal(o.machine.state, ROLE_DEGRADED);
        assert_non_null(strstr(o.message, "last resort"));
        /* The operator clears: a may hand over again. */
        o = role_step(&o.machine, &fa, ROLE_EVENT_CLEAR);
        assert_false(o.machine.last_resort);
        assert_int_equal(o.machine.state, ROLE_STOPPING);
        assert_true(o.actions & ROLE_ACTION_STOP_SERVICES);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_rows),
            cmocka_unit_test(test_messages),
            cmocka_unit_test(test_degraded_reason),
            cmocka_unit_test(test_string_tables),
            cmocka_unit_test(test_two_machines_handover),
            cmocka_unit_test(test_failed_over_flag),
            cmocka_unit_test(test_last_resort_once),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
