/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "role.h"

static const char *const role_state_table[_ROLE_STATE_MAX] = {
    [ROLE_PASSIVE] = "passive",   [ROLE_STARTING] = "starting", [ROLE_ACTIVE] = "active",
    [ROLE_STOPPING] = "stopping", [ROLE_DEGRADED] = "degraded", [ROLE_FAULT] = "fault",
};
DEFINE_STRING_TABLE_LOOKUP(role_state, RoleState)

static const char *const role_op_table[_ROLE_OP_MAX] = {
    [ROLE_OP_NONE] = "none",
    [ROLE_OP_BOOT_PROBE] = "boot-probe",
    [ROLE_OP_START] = "start",
    [ROLE_OP_START_FOR_PEER] = "start-for-peer",
    [ROLE_OP_RESTART] = "restart",
    [ROLE_OP_HANDOVER_STOP] = "handover-stop",
    [ROLE_OP_HANDOVER_WAIT_PEER] = "handover-wait-peer",
    [ROLE_OP_HANDOVER_DRAIN] = "handover-drain",
    [ROLE_OP_HANDOVER_FINAL_STOP] = "handover-final-stop",
    [ROLE_OP_YIELD] = "yield",
    [ROLE_OP_REQUEST_RELEASE] = "request-release",
    [ROLE_OP_AWAIT_RELEASED] = "await-released",
    [ROLE_OP_BOOT_ADOPT] = "boot-adopt",
    [ROLE_OP_FENCE] = "fence",
    [ROLE_OP_LOCAL_RESTART] = "local-restart",
    [ROLE_OP_STOP_STRAY] = "stop-stray",
};
DEFINE_STRING_TABLE_LOOKUP(role_op, RoleOp)

static const char *const role_event_table[_ROLE_EVENT_MAX] = {
    [ROLE_EVENT_BOOT] = "boot",
    [ROLE_EVENT_PROBE_RUNNING] = "probe-running",
    [ROLE_EVENT_PROBE_STOPPED] = "probe-stopped",
    [ROLE_EVENT_INIT_DEAD] = "init-dead",
    [ROLE_EVENT_PEER_STATE] = "peer-state",
    [ROLE_EVENT_PEER_LOST] = "peer-lost",
    [ROLE_EVENT_CHECKS_CHANGED] = "checks-changed",
    [ROLE_EVENT_QUIESCE] = "quiesce",
    [ROLE_EVENT_TAKEOVER] = "takeover",
    [ROLE_EVENT_PEER_TAKE] = "peer-take",
    [ROLE_EVENT_PEER_TAKE_DONE] = "peer-take-done",
    [ROLE_EVENT_PEER_TAKE_FAILED] = "peer-take-failed",
    [ROLE_EVENT_PEER_RELEASE] = "peer-release",
    [ROLE_EVENT_PEER_RELEASE_REFUSED] = "peer-release-refused",
    [ROLE_EVENT_PEER_RELEASED] = "peer-released",
    [ROLE_EVENT_SERVICES_STARTED] = "services-started",
    [ROLE_EVENT_SERVICES_START_FAILED] = "services-start-failed",
    [ROLE_EVENT_SERVICES_STOPPED] = "services-stopped",
    [ROLE_EVENT_SERVICES_STOP_FAILED] = "services-stop-failed",
    [ROLE_EVENT_DRAIN_DONE] = "drain-done",
    [ROLE_EVENT_REQUEST_TIMEOUT] = "request-timeout",
    [ROLE_EVENT_CLEAR] = "clear",
    [ROLE_EVENT_STABLE] = "stable",
    [ROLE_EVENT_KEY_ACQUIRED] = "key-acquired",
    [ROLE_EVENT_KEY_REFUSED] = "key-refused",
    [ROLE_EVENT_KEY_LOST] = "key-lost",
    [ROLE_EVENT_SHUTDOWN] = "shutdown",
    [ROLE_EVENT_PROBE_STRAY] = "probe-stray",
};
DEFINE_STRING_TABLE_LOOKUP(role_event, RoleEvent)

bool role_state_is_serving(RoleState s)
{
        return s == ROLE_ACTIVE || s == ROLE_DEGRADED;
}

bool role_is_candidate(const RoleMachine *m, const RoleFacts *f)
{
        /* A node that gave its services away waits for an operator; otherwise the home master,
         * or whichever node was serving when its daemon last ran, claims the services. */
        return !m->handed_over && !m->shutting_down &&
               (f->home == HOME_ROLE_MASTER || m->saved_active);
}

uint8_t role_flags(const RoleMachine *m, const RoleFacts *f)
{
        uint8_t flags = 0;

        if (!f->always_failing)
                flags |= ROLE_FLAG_HEALTHY;
        if (role_is_candidate(m, f))
                flags |= ROLE_FLAG_CANDIDATE;
        if (f->home == HOME_ROLE_MASTER)
                flags |= ROLE_FLAG_HOME_MASTER;
        if (m->op != ROLE_OP_NONE)
                flags |= ROLE_FLAG_BUSY;
        if (m->handed_over)
                flags |= ROLE_FLAG_HANDED_OVER;
        if (m->failed_over)
                flags |= ROLE_FLAG_FAILED_OVER;
        if (m->shutting_down)
                flags |= ROLE_FLAG_LEAVING;
        if (m->restarting)
                flags |= ROLE_FLAGS_RESTARTING;
        return flags;
}

/* Between two nodes that both claim the services: higher epoch, then home master, then name. */
static bool we_win(const RoleMachine *m, const RoleFacts *f)
{
        bool we_master = f->home == HOME_ROLE_MASTER;
        bool peer_master = f->peer_flags & ROLE_FLAG_HOME_MASTER;

        if (m->epoch != f->peer_epoch)
                return m->epoch > f->peer_epoch;
        if (we_master != peer_master)
                return we_master;
        return f->name_sorts_first;
}

static bool peer_idle_passive(const RoleFacts *f)
{
        return f->peer_connected &&
               (f->peer_state == ROLE_PASSIVE || f->peer_state == ROLE_FAULT) &&
               !(f->peer_flags & ROLE_FLAG_BUSY);
}

/* Automatic failover only goes to a peer that is passive and healthy. */
static bool peer_can_take_over(const RoleMachine *m, const RoleFacts *f)
{
        /* A peer that handed over because its own check failed is sent the services back only
         * as a last resort (nobody serving is worse than a node that failed once), and only by
         * a node that did not itself get them that way: two broken nodes hand the services back
         * and forth once, not forever. A peer that handed over on request is a fine target. */
        return peer_idle_passive(f) && f->peer_state == ROLE_PASSIVE &&
               (f->peer_flags & ROLE_FLAG_HEALTHY) && !(f->peer_flags & ROLE_FLAG_LEAVING) &&
               (!(f->peer_flags & ROLE_FLAG_FAILED_OVER) || !m->last_resort);
}

static RoleState idle_state(const RoleMachine *m, const RoleFacts *f)
{
        return (f->always_failing || m->start_failed) ? ROLE_FAULT : ROLE_PASSIVE;
}

static RoleState serving_state(const RoleMachine *m, const RoleFacts *f)
{
        return (f->checks_failing || m->stop_failed) ? ROLE_DEGRADED : ROLE_ACTIVE;
}

static void begin_start(RoleOutput *o, const RoleFacts *f, RoleOp op, const char *why)
{
        RoleMachine *m = &o->machine;

        m->state = ROLE_STARTING;
        m->op = op;
        /* Every takeover moves the epoch past anything either node has used, so after a partition
         * the node that took over last wins the election. It saturates rather than wrapping to 0:
         * an absurd epoch from the peer must not make us the node that always loses. */
        uint64_t highest = m->epoch > f->peer_epoch ? m->epoch : f->peer_epoch;
        o->epoch_saturated = highest == UINT64_MAX;
        m->epoch = o->epoch_saturated ? UINT64_MAX : highest + 1;
        m->handed_over = false;
        m->failed_over = false;
        o->message = why;
        if (f->arbiter && !f->key_held) {
                /* Nothing starts before the key is ours: the other node may still serve. */
                m->awaiting_key = true;
                o->actions |= ROLE_ACTION_ACQUIRE_KEY;
                return;
        }
        o->actions |= ROLE_ACTION_START_SERVICES;
}

/* Arbiter: serving without the key. Stop, and kill what does not stop, before the lease can
 * expire and the other node take the key. */
static void begin_fence(RoleOutput *o, const char *why)
{
        RoleMachine *m = &o->machine;

        m->state = ROLE_STOPPING;
        m->op = ROLE_OP_FENCE;
        m->failsafe = false;
        o->actions |= ROLE_ACTION_FENCE | ROLE_ACTION_ALERT;
        o->message = why;
}

static void begin_handover(RoleOutput *o, const RoleFacts *f, bool planned, const char *why)
{
        RoleMachine *m = &o->machine;

        m->handover_planned = planned;
        if (f->handover == HANDOVER_BREAK_BEFORE_MAKE) {
                m->state = ROLE_STOPPING;
                m->op = ROLE_OP_HANDOVER_STOP;
                o->actions |= ROLE_ACTION_STOP_SERVICES;
        } else {
                m->op = ROLE_OP_HANDOVER_WAIT_PEER;
                o->actions |= ROLE_ACTION_SEND_TAKE;
        }
        o->message = why;
}

static void finish_operator(RoleOutput *o, bool ok, const char *why)
{
        if (o->machine.operator_op) {
                o->actions |= ok ? ROLE_ACTION_REPLY_OK : ROLE_ACTION_REPLY_ERROR;
                o->machine.operator_op = false;
        }
        if (why)
                o->message = why;
}

static void refuse(RoleOutput *o, const char *why)
{
        o->actions |= ROLE_ACTION_REPLY_ERROR;
        o->message = why;
}

static void become_idle(RoleOutput *o, const RoleFacts *f)
{
        o->machine.op = ROLE_OP_NONE;
        o->machine.state = idle_state(&o->machine, f);
}

static void become_serving(RoleOutput *o, const RoleFacts *f)
{
        o->machine.op = ROLE_OP_NONE;
        o->machine.state = serving_state(&o->machine, f);
}

/* Why a node whose check fails keeps serving: what status, the log and notify show. */
static const char *degraded_reason(const RoleMachine *m, const RoleFacts *f)
{
        if (f->peer_connected && (f->peer_flags & ROLE_FLAG_FAILED_OVER) && m->last_resort &&
            peer_idle_passive(f) && (f->peer_flags & ROLE_FLAG_HEALTHY))
                return "check failing, and the peer already had its last resort chance (we got "
                       "the services back from it): staying active, degraded; 'vacataire-ctl "
                       "clear' on either node re-arms it";
        if (!f->peer_connected)
                return "check failing and the peer is unreachable: staying active, degraded";
        if (!(f->peer_flags & ROLE_FLAG_HEALTHY))
                return "check failing and the peer is unhealthy: staying active, degraded";
        return "check failing and the peer cannot take over: staying active, degraded";
}

/* Services run here although the saved state said passive (a save lost, a start by hand): never
 * beside a serving peer. If the peer serves, stop them; if it is passive, or absent past
 * init_dead, they may be all that serves: adopt them. */
/* The node stays passive while it stops them: they were never ours to serve, so the balancer
 * must not be told this node is handing over (health and lb act on "stopping"). */
static void settle_stray(RoleOutput *o, const RoleFacts *f, bool init_dead)
{
        RoleMachine *m = &o->machine;

        /* With an arbiter only the key's holder may serve, and a stray start holds none: the
         * normal start, which takes the key first, brings them back if this node should serve. */
        if (f->arbiter && !f->key_held) {
                m->op = ROLE_OP_STOP_STRAY;
                o->actions |= ROLE_ACTION_STOP_SERVICES | ROLE_ACTION_ALERT;
                o->message = "services found running here without the arbiter's key: stopping them";
                return;
        }
        if (f->peer_connected &&
            (role_state_is_serving(f->peer_state) || f->peer_state == ROLE_STARTING)) {
                m->op = ROLE_OP_STOP_STRAY;
                o->actions |= ROLE_ACTION_STOP_SERVICES | ROLE_ACTION_ALERT;
                o->message = "services found running here while the peer serves: stopping them";
                return;
        }
        if ((peer_idle_passive(f) && !m->shutting_down) ||
            (init_dead && !f->peer_connected && !m->peer_seen)) {
                m->stray = false;
                m->saved_active = true;
                become_serving(o, f);
                o->actions |= ROLE_ACTION_ALERT;
                o->message = f->peer_connected ? "services found running here, the peer is "
                                                 "passive: adopting them"
                                               : "services found running here, no peer within "
                                                 "init_dead: adopting them";
        }
}

/* Steady-state rules, applied after every event when nothing is in flight. */
static void settle(RoleOutput *o, const RoleFacts *f)
{
        RoleMachine *m = &o->machine;

        if (m->op != ROLE_OP_NONE)
                return;

        if (role_state_is_serving(m->state)) {
                /* Services that would not stop, even killed: trying again by ourselves would
                 * only loop, and telling the peer to start would make two serving nodes. */
                if (m->stop_failed) {
                        m->state = ROLE_DEGRADED;
                        return;
                }
                if (f->arbiter && !f->key_held) {
                        /* Patroni's failsafe mode: etcd is out of reach, but the peer is here
                         * and passive, so nobody else serves. Anything less: fence. */
                        if (!peer_idle_passive(f))
                                return begin_fence(o, "arbiter key lost and the peer is not "
                                                      "known passive: fencing");
                        if (!m->failsafe) {
                                m->failsafe = true;
                                o->actions |= ROLE_ACTION_ALERT;
                                o->message = "arbiter key lost, the peer is passive: still "
                                             "serving (failsafe)";
                                return;
                        }
                } else if (m->failsafe) {
                        m->failsafe = false;
                        o->message = "arbiter key held again";
                }
                /* Maintenance: the operator runs the show. States still say what the checks
                 * see, but nothing is restarted, handed over or stopped, not even by an
                 * election; only the arbiter's fencing above still acts (it is what keeps the
                 * other node from serving beside us). */
                if (f->maintenance) {
                        if (f->checks_failing && m->state == ROLE_ACTIVE) {
                                m->state = ROLE_DEGRADED;
                                o->actions |= ROLE_ACTION_ALERT;
                                o->message = "check failing: maintenance mode, nothing done";
                        } else if (m->state == ROLE_DEGRADED &&
                                   serving_state(m, f) == ROLE_ACTIVE) {
                                m->state = ROLE_ACTIVE;
                                o->message = "checks pass again";
                        }
                        return;
                }
                if (f->peer_connected && role_state_is_serving(f->peer_state) &&
                    !(f->peer_flags & ROLE_FLAG_BUSY) && !we_win(m, f)) {
                        m->state = ROLE_STOPPING;
                        m->op = ROLE_OP_YIELD;
                        o->actions |= ROLE_ACTION_STOP_SERVICES | ROLE_ACTION_ALERT;
                        o->message = "both nodes active: the peer wins (epoch, then home role); "
                                     "stopping";
                        return;
                }
                /* Local recovery first: a restart in place is quicker than a handover, and the
                 * budget (restarts per restart_window) bounds the loop. */
                if (f->checks_failing && f->restart_available) {
                        m->op = ROLE_OP_LOCAL_RESTART;
                        o->actions |= ROLE_ACTION_RESTART_SERVICES | ROLE_ACTION_ALERT;
                        o->message = "check failing: restarting services in place";
                        return;
                }
                if (f->checks_failing && peer_can_take_over(m, f)) {
                        begin_handover(o, f, false,
                                       (f->peer_flags & ROLE_FLAG_FAILED_OVER)
                                           ? "check failing: handing over to the peer as a last "
                                             "resort (it failed over earlier, but its host checks "
                                             "pass)"
                                           : "check failing: handing over to the peer");
                        return;
                }
                if (f->checks_failing && m->state == ROLE_ACTIVE) {
                        m->state = ROLE_DEGRADED;
                        o->actions |= ROLE_ACTION_ALERT;
                        o->message = degraded_reason(m, f);
                } else if (!f->checks_failing && m->state == ROLE_DEGRADED) {
                        m->state = ROLE_ACTIVE;
                        o->message = "checks pass again";
                }
                return;
        }

        if (m->state == ROLE_PASSIVE || m->state == ROLE_FAULT) {
                m->state = idle_state(m, f);
                if (f->maintenance)
                        return; /* nothing started: see above */
                if (m->stray) {
                        settle_stray(o, f, false);
                        return;
                }
                /* With an arbiter a lost peer is safe to replace: the key decides. So a node
                 * that fenced, or lost a race, keeps trying while the peer stays away. */
                if (f->arbiter && !m->shutting_down && m->state == ROLE_PASSIVE &&
                    !f->peer_connected && m->peer_seen && f->on_peer_loss == PEER_LOSS_TAKEOVER) {
                        begin_start(o, f, ROLE_OP_START,
                                    "peer unreachable: taking over once the arbiter key is ours");
                        return;
                }
                if (m->state == ROLE_PASSIVE && role_is_candidate(m, f) && peer_idle_passive(f) &&
                    (!(f->peer_flags & ROLE_FLAG_CANDIDATE) || we_win(m, f)))
                        begin_start(o, f, ROLE_OP_START, "peer is passive: starting services");
        }
}

static void on_peer_lost(RoleOutput *o, const RoleFacts *f)
{
        RoleMachine *m = &o->machine;

        switch (m->op) {
        case ROLE_OP_HANDOVER_WAIT_PEER:
                if (m->state == ROLE_STOPPING) {
                        /* We already stopped and nobody confirmed starting: serve again. */
                        finish_operator(o, false, NULL);
                        begin_start(o, f, ROLE_OP_RESTART,
                                    "peer lost during handover: starting our services again");
                } else {
                        become_serving(o, f);
                        finish_operator(o, false, "peer lost during handover: still serving");
                }
                o->actions |= ROLE_ACTION_ALERT;
                return;
        case ROLE_OP_REQUEST_RELEASE:
                become_idle(o, f);
                finish_operator(o, false, "peer lost before it released the services");
                return;
        case ROLE_OP_AWAIT_RELEASED:
                become_serving(o, f);
                finish_operator(o, true, "serving; the peer was lost before confirming its stop");
                return;
        case ROLE_OP_NONE:
                break;
        default:
                return; /* starting or stopping on our own: carry on */
        }

        o->actions |= ROLE_ACTION_ALERT;
        if (role_state_is_serving(m->state)) {
                o->message = "peer lost while serving";
                return;
        }
        if (f->maintenance) {
                o->message = "peer lost: maintenance mode, not taking over";
                return;
        }
        if (m->shutting_down) {
                o->message = "peer lost while this agent stops: not taking over";
                return;
        }
        if (role_flags_restarting(f->peer_flags) && role_state_is_serving(f->peer_state)) {
                /* Its services keep running meanwhile; the manager clears the flag and reports
                 * the loss again if it does not come back within init_dead. */
                o->message = "peer lost while its agent restarts (its services stay up): waiting "
                             "for it";
                return;
        }
        if ((f->peer_flags & ROLE_FLAG_LEAVING) && role_state_is_serving(f->peer_state)) {
                o->message = "the peer's agent stopped and left its services up (we could not "
                             "take them): not taking over, that would make two serving nodes; "
                             "'vacataire-ctl takeover' once they are down there";
                return;
        }
        if (!m->peer_seen) {
                o->message = "peer lost, but never seen since start: staying passive";
                return;
        }
        if (f->on_peer_loss == PEER_LOSS_STAY) {
                o->message = "peer lost: staying passive (on_peer_loss = stay)";
                return;
        }
        if (f->always_failing) {
                o->message = "peer lost, but a host check fails here (fault): not taking over";
                return;
        }
        m->start_failed = false;
        begin_start(o, f, ROLE_OP_START, "peer lost: taking over");
}

static void on_clear(RoleOutput *o, const RoleFacts *f)
{
        RoleMachine *m = &o->machine;

        if (m->op != ROLE_OP_NONE)
                return refuse(o, "an operation is in progress");
        m->handed_over = false;
        m->failed_over = false;
        m->last_resort = false;
        m->start_failed = false;
        m->stop_failed = false;
        if (role_state_is_serving(m->state))
                m->state = serving_state(m, f);
        else
                m->state = idle_state(m, f);
        o->actions |= ROLE_ACTION_REPLY_OK;
        o->message = f->always_failing ? "cleared; a host check still fails here (fault)"
                                       : "cleared: this node may serve again";
}

/* The agent is asked to stop for good (systemctl stop, shutdown): the services go to a peer that
 * can take them, or stay running here when none can; nothing new starts meanwhile. */
static void on_shutdown(RoleOutput *o, const RoleFacts *f)
{
        RoleMachine *m = &o->machine;

        m->shutting_down = true;
        m->stray = false;
        if (m->op != ROLE_OP_NONE)
                return; /* the manager asks again once it is over */
        if (!role_state_is_serving(m->state)) {
                o->message = "stopping the agent; this node does not serve";
                return;
        }
        /* Maintenance: nothing moves, a stop of the agent included (the peer holds too). */
        if (f->maintenance) {
                o->actions |= ROLE_ACTION_ALERT;
                o->message = "stopping the agent in maintenance mode: the services stay up here";
                return;
        }
        if (peer_idle_passive(f) && f->peer_state == ROLE_PASSIVE &&
            (f->peer_flags & ROLE_FLAG_HEALTHY) && !(f->peer_flags & ROLE_FLAG_LEAVING)) {
                begin_handover(o, f, true, "stopping the agent: handing the services to the peer");
                return;
        }
        o->actions |= ROLE_ACTION_ALERT;
        o->message = !f->peer_connected
                         ? "stopping the agent, the peer is unreachable: the services stay up "
                           "here (never stop the last node that can serve)"
                         : "stopping the agent, the peer cannot take over: the services stay up "
                           "here (never stop the last node that can serve)";
}

static void on_quiesce(RoleOutput *o, const RoleFacts *f)
{
        RoleMachine *m = &o->machine;

        if (f->maintenance)
                return refuse(o, "maintenance mode: run 'vacataire-ctl maintenance off' first");
        if (m->op != ROLE_OP_NONE)
                return refuse(o, "a handover is already in progress");
        if (!role_state_is_serving(m->state))
                return refuse(o, "this node is not active: nothing to hand over");
        if (!f->peer_connected)
                return refuse(o, "peer unreachable");
        if (!(f->peer_flags & ROLE_FLAG_HEALTHY))
                return refuse(o, "peer unhealthy");
        if (!peer_idle_passive(f))
                return refuse(o, "peer is not passive");
        if (f->peer_flags & ROLE_FLAG_LEAVING)
                return refuse(o, "the peer's agent is stopping");
        m->operator_op = true;
        begin_handover(o, f, true, "quiesce: handing over to the peer");
}

static void on_takeover(RoleOutput *o, const RoleFacts *f)
{
        RoleMachine *m = &o->machine;

        if (f->maintenance)
                return refuse(o, "maintenance mode: run 'vacataire-ctl maintenance off' first");
        if (m->op != ROLE_OP_NONE)
                return refuse(o, "an operation is already in progress");
        if (role_state_is_serving(m->state))
                return refuse(o, "already active");
        m->operator_op = true;
        m->start_failed = false;
        if (f->peer_connected && f->peer_state != ROLE_PASSIVE && f->peer_state != ROLE_FAULT) {
                m->op = ROLE_OP_REQUEST_RELEASE;
                o->actions |= ROLE_ACTION_SEND_RELEASE;
                o->message = "takeover: asking the peer to hand over";
                return;
        }
        begin_start(o, f, ROLE_OP_START,
                    f->peer_connected
                        ? "takeover: peer is passive, starting services"
                        : "takeover: peer unreachable, starting on operator's request");
}

static void on_peer_take(RoleOutput *o, const RoleFacts *f)
{
        RoleMachine *m = &o->machine;

        if (role_state_is_serving(m->state) && m->op == ROLE_OP_NONE) {
                /* A retried request whose answer was lost: answering again is harmless. */
                o->actions |= ROLE_ACTION_SEND_TAKE_DONE;
                o->message = "already serving: confirming the peer's handover again";
                return;
        }
        if (m->op == ROLE_OP_START_FOR_PEER)
                return;
        if (f->maintenance) {
                o->actions |= ROLE_ACTION_SEND_TAKE_FAILED;
                o->message = "cannot take over: maintenance mode";
                return;
        }
        if (m->shutting_down) {
                o->actions |= ROLE_ACTION_SEND_TAKE_FAILED;
                o->message = "cannot take over: this agent is stopping";
                return;
        }
        if ((m->op != ROLE_OP_NONE && m->op != ROLE_OP_REQUEST_RELEASE) ||
            (m->state != ROLE_PASSIVE && m->state != ROLE_FAULT)) {
                o->actions |= ROLE_ACTION_SEND_TAKE_FAILED;
                o->message = "cannot take over: busy";
                return;
        }
        if (f->always_failing) {
                o->actions |= ROLE_ACTION_SEND_TAKE_FAILED;
                o->message = "cannot take over: a host check is failing";
                finish_operator(o, false, NULL);
                become_idle(o, f);
                return;
        }
        m->start_failed = false;
        /* We had failed over: the peer has nobody else to give the services to. */
        m->last_resort = m->failed_over;
        begin_start(o, f, ROLE_OP_START_FOR_PEER,
                    m->last_resort ? "peer hands over to this node, which had failed over "
                                     "(a last resort, or an operator's quiesce): starting services"
                                   : "peer hands over: starting services");
}

static void on_take_answer(RoleOutput *o, const RoleFacts *f, bool done, const char *failure)
{
        RoleMachine *m = &o->machine;

        if (m->op != ROLE_OP_HANDOVER_WAIT_PEER)
                return;
        if (done && m->state == ROLE_STOPPING) {
                m->handed_over = true;
                m->failed_over = !m->handover_planned;
                m->saved_active = false;
                become_idle(o, f);
                finish_operator(o, true, "handover complete: the peer serves");
        } else if (done) {
                m->state = ROLE_STOPPING;
                m->op = ROLE_OP_HANDOVER_DRAIN;
                o->actions |= ROLE_ACTION_ARM_DRAIN;
                o->message = "the peer serves: draining before stopping";
        } else if (m->state == ROLE_STOPPING) {
                finish_operator(o, false, NULL);
                begin_start(o, f, ROLE_OP_RESTART, failure);
                o->actions |= ROLE_ACTION_ALERT;
        } else {
                become_serving(o, f);
                finish_operator(o, false, failure);
                o->actions |= ROLE_ACTION_ALERT;
        }
}

static void on_started(RoleOutput *o, const RoleFacts *f, bool ok)
{
        RoleMachine *m = &o->machine;
        RoleOp op = m->op;

        if (op == ROLE_OP_LOCAL_RESTART) {
                /* Serving either way: on failure the steady-state rules hand over (or degrade),
                 * as they would have without a restart. */
                m->op = ROLE_OP_NONE;
                m->state = serving_state(m, f);
                o->message = ok ? "services restarted in place" : "restart in place failed";
                if (!ok)
                        o->actions |= ROLE_ACTION_ALERT;
                return;
        }
        if (op != ROLE_OP_START && op != ROLE_OP_START_FOR_PEER && op != ROLE_OP_RESTART)
                return;
        if (!ok) {
                m->start_failed = true;
                m->saved_active = false;
                become_idle(o, f);
                if (op == ROLE_OP_START_FOR_PEER)
                        o->actions |= ROLE_ACTION_SEND_TAKE_FAILED;
                o->actions |= ROLE_ACTION_ALERT;
                finish_operator(o, false, "services failed to start");
                return;
        }
        m->saved_active = true;
        m->start_failed = false;
        m->stop_failed = false;
        /* Scope-active checks restart from pending, so only host checks can fail yet. */
        m->state = f->always_failing ? ROLE_DEGRADED : ROLE_ACTIVE;
        m->op = ROLE_OP_NONE;
        o->message = "services started: active";
        if (op == ROLE_OP_START_FOR_PEER) {
                o->actions |= ROLE_ACTION_SEND_TAKE_DONE;
                if (m->operator_op && f->handover == HANDOVER_MAKE_BEFORE_BREAK) {
                        m->op = ROLE_OP_AWAIT_RELEASED;
                        return;
                }
        }
        finish_operator(o, true, NULL);
}

/* A stop that failed even after the kill: whatever we were doing, we serve as far as we know. */
static void on_stop_failed(RoleOutput *o, const RoleFacts *f)
{
        RoleMachine *m = &o->machine;

        switch (m->op) {
        case ROLE_OP_HANDOVER_STOP:
        case ROLE_OP_HANDOVER_FINAL_STOP:
        case ROLE_OP_YIELD:
        case ROLE_OP_FENCE:
        case ROLE_OP_STOP_STRAY:
                break;
        default:
                return;
        }
        m->stray = false;
        m->stop_failed = true;
        m->handover_planned = false;
        become_serving(o, f);
        o->actions |= ROLE_ACTION_ALERT;
        finish_operator(o, false,
                        "services failed to stop, even killed: still serving as far as we know; "
                        "the peer is not told to start (degraded)");
}

static void on_stopped(RoleOutput *o, const RoleFacts *f)
{
        RoleMachine *m = &o->machine;

        m->stop_failed = false;
        switch (m->op) {
        case ROLE_OP_HANDOVER_STOP:
                m->op = ROLE_OP_HANDOVER_WAIT_PEER;
                o->actions |= ROLE_ACTION_SEND_TAKE;
                o->message = "services stopped: asking the peer to start";
                break;
        case ROLE_OP_HANDOVER_FINAL_STOP:
                m->handed_over = true;
                m->failed_over = !m->handover_planned;
                m->saved_active = false;
                become_idle(o, f);
                o->actions |= ROLE_ACTION_SEND_RELEASED;
                finish_operator(o, true, "handover complete: the peer serves");
                break;
        case ROLE_OP_FENCE:
                m->saved_active = false;
                become_idle(o, f);
                o->actions |= ROLE_ACTION_ALERT;
                o->message = "fenced: services stopped";
                break;
        case ROLE_OP_YIELD:
                m->handed_over = true;
                m->saved_active = false;
                become_idle(o, f);
                o->message = "stopped: the peer serves";
                break;
        case ROLE_OP_STOP_STRAY:
                m->stray = false;
                become_idle(o, f);
                o->message = "stray services stopped";
                break;
        default:
                break;
        }
}

/* Operator takeover, make-before-break, we serve and wait for the old node to stop. Its
 * heartbeats settle the wait even when RELEASED never comes (lost with a connection, or the peer
 * gave up its handover after losing us for a moment): waiting on would leave two active nodes,
 * neither holding an election while we look busy. */
static void on_await_released_peer_state(RoleOutput *o, const RoleFacts *f)
{
        if (!f->peer_connected || (f->peer_flags & ROLE_FLAG_BUSY))
                return;
        if (peer_idle_passive(f)) {
                become_serving(o, f);
                finish_operator(o, true, "takeover complete: the peer has stopped");
        } else if (role_state_is_serving(f->peer_state)) {
                become_serving(o, f);
                finish_operator(o, false,
                                "the peer abandoned the handover and still serves: the node with "
                                "the higher epoch stays");
                o->actions |= ROLE_ACTION_ALERT;
        }
}

RoleOutput role_step(const RoleMachine *in, const RoleFacts *f, RoleEvent event)
{
        RoleOutput o = {.machine = *in};
        RoleMachine *m = &o.machine;

        switch (event) {
        case ROLE_EVENT_BOOT:
                m->state = ROLE_PASSIVE;
                m->op = ROLE_OP_NONE;
                m->peer_seen = false;
                m->operator_op = false;
                m->awaiting_key = false;
                m->failsafe = false;
                if (m->saved_active) {
                        m->op = ROLE_OP_BOOT_PROBE;
                        o.actions |= ROLE_ACTION_PROBE_SERVICES;
                        o.message = "was active before restart: probing services";
                }
                break;
        case ROLE_EVENT_PROBE_RUNNING:
                if (m->op == ROLE_OP_BOOT_PROBE && f->arbiter && !f->key_held) {
                        m->op = ROLE_OP_BOOT_ADOPT;
                        o.actions |= ROLE_ACTION_ADOPT_KEY;
                        o.message = "services still running: asking the arbiter whose key it is";
                } else if (m->op == ROLE_OP_BOOT_PROBE) {
                        become_serving(&o, f);
                        o.message = "services still running: re-adopted";
                }
                break;
        case ROLE_EVENT_PROBE_STOPPED:
                if (m->op == ROLE_OP_BOOT_PROBE) {
                        become_idle(&o, f);
                        o.message = "services not running: starting passive";
                }
                break;
        case ROLE_EVENT_INIT_DEAD:
                if (m->op == ROLE_OP_NONE && m->stray && !f->maintenance &&
                    !role_state_is_serving(m->state))
                        settle_stray(&o, f, true);
                else if (m->op == ROLE_OP_NONE && m->state == ROLE_PASSIVE && !m->peer_seen &&
                         !f->maintenance && !f->peer_connected && !f->peer_misconfigured &&
                         role_is_candidate(m, f))
                        begin_start(&o, f, ROLE_OP_START, "no peer within init_dead: starting");
                break;
        case ROLE_EVENT_PEER_STATE:
                m->peer_seen = true;
                /* TAKE sent to a peer whose agent is going away: it will not answer. */
                if (m->op == ROLE_OP_HANDOVER_WAIT_PEER && (f->peer_flags & ROLE_FLAG_LEAVING) &&
                    !role_state_is_serving(f->peer_state) && f->peer_state != ROLE_STARTING &&
                    !(f->peer_flags & ROLE_FLAG_BUSY))
                        on_take_answer(&o, f, false, "the peer's agent is stopping");
                if (m->op == ROLE_OP_AWAIT_RELEASED)
                        on_await_released_peer_state(&o, f);
                break;
        case ROLE_EVENT_PEER_LOST:
                on_peer_lost(&o, f);
                break;
        case ROLE_EVENT_CHECKS_CHANGED:
                break;
        case ROLE_EVENT_CLEAR:
                on_clear(&o, f);
                break;
        case ROLE_EVENT_SHUTDOWN:
                on_shutdown(&o, f);
                break;
        case ROLE_EVENT_PROBE_STRAY:
                if (!role_state_is_serving(m->state) && m->state != ROLE_STARTING &&
                    !m->shutting_down)
                        m->stray = true;
                break;
        case ROLE_EVENT_STABLE:
                if (m->state == ROLE_ACTIVE && !f->checks_failing)
                        m->last_resort = false;
                break;
        case ROLE_EVENT_QUIESCE:
                on_quiesce(&o, f);
                break;
        case ROLE_EVENT_TAKEOVER:
                on_takeover(&o, f);
                break;
        case ROLE_EVENT_PEER_TAKE:
                m->peer_seen = true;
                on_peer_take(&o, f);
                break;
        case ROLE_EVENT_PEER_TAKE_DONE:
                on_take_answer(&o, f, true, NULL);
                break;
        case ROLE_EVENT_PEER_TAKE_FAILED:
                on_take_answer(&o, f, false, "the peer could not start its services");
                break;
        case ROLE_EVENT_REQUEST_TIMEOUT:
                if (m->op == ROLE_OP_HANDOVER_WAIT_PEER)
                        on_take_answer(&o, f, false, "the peer did not answer the handover");
                else if (m->op == ROLE_OP_REQUEST_RELEASE) {
                        become_idle(&o, f);
                        finish_operator(&o, false, "the peer did not answer the takeover request");
                } else if (m->op == ROLE_OP_AWAIT_RELEASED) {
                        become_serving(&o, f);
                        finish_operator(&o, true, "serving; the peer did not confirm its stop");
                }
                break;
        case ROLE_EVENT_PEER_RELEASE:
                if (f->maintenance) {
                        o.actions |= ROLE_ACTION_SEND_RELEASE_REFUSED;
                        o.message = "maintenance mode";
                } else if (role_state_is_serving(m->state) && m->op == ROLE_OP_NONE)
                        begin_handover(&o, f, true, "the peer asks for the services: handing over");
                else {
                        o.actions |= ROLE_ACTION_SEND_RELEASE_REFUSED;
                        o.message = role_state_is_serving(m->state) ? "busy" : "not active";
                }
                break;
        case ROLE_EVENT_PEER_RELEASE_REFUSED:
                if (m->op == ROLE_OP_REQUEST_RELEASE) {
                        become_idle(&o, f);
                        finish_operator(&o, false, "the peer refused to hand over");
                }
                break;
        case ROLE_EVENT_PEER_RELEASED:
                if (m->op == ROLE_OP_AWAIT_RELEASED) {
                        become_serving(&o, f);
                        finish_operator(&o, true, "takeover complete: the peer has stopped");
                }
                break;
        case ROLE_EVENT_SERVICES_STARTED:
                on_started(&o, f, true);
                break;
        case ROLE_EVENT_SERVICES_START_FAILED:
                on_started(&o, f, false);
                break;
        case ROLE_EVENT_SERVICES_STOPPED:
                on_stopped(&o, f);
                break;
        case ROLE_EVENT_SERVICES_STOP_FAILED:
                on_stop_failed(&o, f);
                break;
        case ROLE_EVENT_DRAIN_DONE:
                if (m->op == ROLE_OP_HANDOVER_DRAIN) {
                        m->op = ROLE_OP_HANDOVER_FINAL_STOP;
                        o.actions |= ROLE_ACTION_STOP_SERVICES;
                        o.message = "drained: stopping services";
                }
                break;
        case ROLE_EVENT_KEY_ACQUIRED:
                if (m->awaiting_key) {
                        m->awaiting_key = false;
                        o.actions |= ROLE_ACTION_START_SERVICES;
                        o.message = "arbiter key acquired: starting services";
                } else if (m->op == ROLE_OP_BOOT_ADOPT) {
                        become_serving(&o, f);
                        o.message = "services still running and the arbiter key is ours: "
                                    "re-adopted";
                }
                break;
        case ROLE_EVENT_KEY_REFUSED:
                if (m->op == ROLE_OP_BOOT_ADOPT)
                        begin_fence(&o, "the peer holds the arbiter key: stopping the services "
                                        "left running here");
                break;
        case ROLE_EVENT_KEY_LOST:
                if (m->op == ROLE_OP_BOOT_ADOPT) {
                        if (peer_idle_passive(f)) {
                                become_serving(&o, f);
                                m->failsafe = true;
                                o.actions |= ROLE_ACTION_ALERT;
                                o.message = "services still running, arbiter unreachable, the "
                                            "peer is passive: re-adopted (failsafe)";
                        } else
                                begin_fence(&o, "services still running, arbiter unreachable "
                                                "and the peer not known passive: fencing");
                }
                break;
        default:
                break;
        }

        /* Waiting for the key while the peer serves: it has the key, or will stop on its own. */
        if (m->awaiting_key && f->peer_connected && role_state_is_serving(f->peer_state) &&
            !(o.actions & ROLE_ACTION_START_SERVICES)) {
                m->awaiting_key = false;
                o.actions = (o.actions & ~ROLE_ACTION_ACQUIRE_KEY) | ROLE_ACTION_CANCEL_KEY;
                finish_operator(&o, false, "the peer serves: no longer waiting for the key");
                become_idle(&o, f);
        }
        /* A step that confirms a handover to the peer does not also hold an election: telling
         * the peer we serve while stopping would leave nobody serving. */
        if (!(o.actions & (ROLE_ACTION_START_SERVICES | ROLE_ACTION_STOP_SERVICES |
                           ROLE_ACTION_FENCE | ROLE_ACTION_SEND_TAKE_DONE)))
                settle(&o, f);
        return o;
}
