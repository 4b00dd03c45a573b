/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* libFuzzer target for the role machine: the input is a saved state, then a sequence of events,
 * each with the facts the manager would hand over at that moment (any peer state, flags and
 * epoch a frame may carry). Events the manager only raises after an action (a service operation
 * finishing, a timer, an answer) come only after it (World below); frames and operator requests
 * come any time. The machine starts as the daemon does (BOOT from the saved state) and every step
 * is checked, whatever came before:
 *   - the epoch never decreases, and a start always moves it up;
 *   - start and stop (or fence) never in one step, and the state follows (a start means
 *     starting, a stop stopping); with an arbiter, no start without the key; serving begins
 *     only after a start, a probe that found the services running or a stop that failed, and
 *     ends only through a stop;
 *   - every action carries a message; the services are never told to start, stop or be probed
 *     while a start, stop or probe is in flight (only a fence cancels one);
 *   - an operator request is answered at most once and only when one is waiting, never both ok
 *     and error; when the machine has no operation in flight, none is waiting;
 *   - the state and the operation agree (starting only while a start is in flight, an idle
 *     operation only in a settled state), and TAKE_DONE is only sent while serving. */
#include "fuzz-check.h"
#include "role.h"

typedef struct Input {
        const unsigned char *p;
        size_t left;
} Input;

static uint8_t take8(Input *in)
{
        if (in->left == 0)
                return 0;
        in->left--;
        return *in->p++;
}

static uint64_t take64(Input *in)
{
        uint64_t v = 0;

        for (int i = 0; i < 8; i++)
                v = v << 8 | take8(in);
        return v;
}

/* Events that come from vacataire-ctl, one request at a time (handle_operator() in
 * manager-control.c): a new operator command goes here too. */
static bool is_operator_event(RoleEvent e)
{
        return e == ROLE_EVENT_QUIESCE || e == ROLE_EVENT_TAKEOVER || e == ROLE_EVENT_CLEAR;
}

/* What the manager has started for the machine: the events that report on it (a service
 * operation finishing, a timer, a request's answer, the arbiter's reply) only come after the
 * action that began it, as the manager guarantees. Frames from the peer and operator requests may
 * come at any time. */
typedef struct World {
        bool op_pending;   /* an operator request waits for its answer */
        int services;      /* 0 idle, else the action in flight: START, STOP (or FENCE), PROBE */
        bool drain_armed;  /* ARM_DRAIN, until DRAIN_DONE */
        bool request_sent; /* SEND_TAKE or SEND_RELEASE, until answered or timed out */
        bool key_asked;    /* ACQUIRE_KEY or ADOPT_KEY, until answered or cancelled */
        bool init_dead_armed;
} World;

/* May the manager feed this event now? Consumes what it answers. */
static bool world_allows(World *w, RoleEvent e, const RoleFacts *f)
{
        switch (e) {
        case ROLE_EVENT_BOOT:
                return false; /* once per daemon run, first */
        case ROLE_EVENT_SERVICES_STARTED:
        case ROLE_EVENT_SERVICES_START_FAILED:
                return w->services == ROLE_ACTION_START_SERVICES ? (w->services = 0, true) : false;
        case ROLE_EVENT_SERVICES_STOPPED:
        case ROLE_EVENT_SERVICES_STOP_FAILED:
                return w->services == ROLE_ACTION_STOP_SERVICES ? (w->services = 0, true) : false;
        case ROLE_EVENT_PROBE_RUNNING:
        case ROLE_EVENT_PROBE_STOPPED:
                return w->services == ROLE_ACTION_PROBE_SERVICES ? (w->services = 0, true) : false;
        case ROLE_EVENT_DRAIN_DONE:
                return w->drain_armed ? (w->drain_armed = false, true) : false;
        case ROLE_EVENT_REQUEST_TIMEOUT:
                return w->request_sent ? (w->request_sent = false, true) : false;
        case ROLE_EVENT_PEER_TAKE_DONE:
        case ROLE_EVENT_PEER_TAKE_FAILED:
        case ROLE_EVENT_PEER_RELEASE_REFUSED:
                return w->request_sent; /* only an answer to our request id gets through */
        case ROLE_EVENT_KEY_ACQUIRED:
        case ROLE_EVENT_KEY_REFUSED:
                return f->arbiter && w->key_asked ? (w->key_asked = false, true) : false;
        case ROLE_EVENT_KEY_LOST:
                return f->arbiter;
        case ROLE_EVENT_INIT_DEAD:
                return w->init_dead_armed ? (w->init_dead_armed = false, true) : false;
        default:
                if (is_operator_event(e)) {
                        if (w->op_pending)
                                return false; /* the control socket refuses a second one */
                        w->op_pending = true;
                }
                return true;
        }
}

/* manager_apply(): what it starts, and the services never told twice. */
static void world_apply(World *w, const RoleOutput *o)
{
        unsigned a = o->actions;

        if (a & ROLE_ACTION_FENCE) /* cancels whatever runs, then stops */
                w->services = ROLE_ACTION_STOP_SERVICES;
        else if (a & ROLE_ACTION_RESTART_SERVICES) { /* stop, then start: ends as a start */
                FUZZ_CHECK(w->services == 0);
                w->services = ROLE_ACTION_START_SERVICES;
        } else if (a & (ROLE_ACTION_START_SERVICES | ROLE_ACTION_STOP_SERVICES |
                        ROLE_ACTION_PROBE_SERVICES)) {
                FUZZ_CHECK(w->services == 0);
                w->services = (int)(a & (ROLE_ACTION_START_SERVICES | ROLE_ACTION_STOP_SERVICES |
                                         ROLE_ACTION_PROBE_SERVICES));
        }
        if (a & ROLE_ACTION_ARM_DRAIN)
                w->drain_armed = true;
        if (a & (ROLE_ACTION_SEND_TAKE | ROLE_ACTION_SEND_RELEASE))
                w->request_sent = true;
        if (o->machine.op != ROLE_OP_HANDOVER_WAIT_PEER &&
            o->machine.op != ROLE_OP_REQUEST_RELEASE && o->machine.op != ROLE_OP_AWAIT_RELEASED)
                w->request_sent = false;
        if (a & (ROLE_ACTION_ACQUIRE_KEY | ROLE_ACTION_ADOPT_KEY))
                w->key_asked = true;
        if (a & ROLE_ACTION_CANCEL_KEY)
                w->key_asked = false;
}

static bool is_idle(RoleState s)
{
        return s == ROLE_PASSIVE || s == ROLE_FAULT;
}

static void check_step(const RoleMachine *in, const RoleFacts *f, RoleEvent event,
                       const RoleOutput *o, bool *op_pending)
{
        const RoleMachine *out = &o->machine;
        unsigned a = o->actions;
        bool start = a & ROLE_ACTION_START_SERVICES;
        bool stop = a & (ROLE_ACTION_STOP_SERVICES | ROLE_ACTION_FENCE);
        bool ok = a & ROLE_ACTION_REPLY_OK, err = a & ROLE_ACTION_REPLY_ERROR;

        FUZZ_CHECK(out->state < _ROLE_STATE_MAX && out->op < _ROLE_OP_MAX);
        FUZZ_CHECK(out->epoch >= in->epoch);
        FUZZ_CHECK(!(start && stop));
        FUZZ_CHECK(a == 0 || o->message);

        if (start)
                FUZZ_CHECK(out->state == ROLE_STARTING);
        /* Starting moves the epoch past both nodes' (saturating, never wrapping); with an
         * arbiter the start itself may come later, once the key is ours. */
        if (out->state == ROLE_STARTING && in->state != ROLE_STARTING) {
                uint64_t highest = in->epoch > f->peer_epoch ? in->epoch : f->peer_epoch;
                FUZZ_CHECK(out->epoch > highest || out->epoch == UINT64_MAX);
        }
        if (start && f->arbiter)
                FUZZ_CHECK(f->key_held || event == ROLE_EVENT_KEY_ACQUIRED);
        /* Stray services (found running while passive) are stopped from passive: they were
         * never served. */
        if (stop)
                FUZZ_CHECK(out->state == ROLE_STOPPING ||
                           (out->op == ROLE_OP_STOP_STRAY && is_idle(out->state)));
        FUZZ_CHECK((out->state == ROLE_STARTING) ==
                   (out->op == ROLE_OP_START || out->op == ROLE_OP_START_FOR_PEER ||
                    out->op == ROLE_OP_RESTART));
        if (out->op == ROLE_OP_NONE)
                FUZZ_CHECK(out->state != ROLE_STARTING && out->state != ROLE_STOPPING);
        if (a & ROLE_ACTION_SEND_TAKE_DONE)
                FUZZ_CHECK(role_state_is_serving(out->state));
        /* Maintenance: nothing begins (only the arbiter's fence still acts); a restart in place
         * only while serving, never beside a start or a stop. */
        if (f->maintenance && in->op == ROLE_OP_NONE && !(a & ROLE_ACTION_FENCE))
                FUZZ_CHECK(!start && !stop &&
                           !(a & (ROLE_ACTION_RESTART_SERVICES | ROLE_ACTION_SEND_TAKE |
                                  ROLE_ACTION_SEND_RELEASE)));
        if (a & ROLE_ACTION_RESTART_SERVICES)
                FUZZ_CHECK(role_state_is_serving(out->state) && !start && !stop &&
                           out->op == ROLE_OP_LOCAL_RESTART && f->restart_available);

        /* Serving ends only through a stop; it begins only after a start, a probe that found the
         * services running, or a stop that failed. */
        if (role_state_is_serving(in->state) && !role_state_is_serving(out->state))
                FUZZ_CHECK(out->state == ROLE_STOPPING);
        if (!role_state_is_serving(in->state) && role_state_is_serving(out->state))
                FUZZ_CHECK(
                    in->state == ROLE_STARTING || in->state == ROLE_STOPPING ||
                    (in->op == ROLE_OP_BOOT_PROBE && event == ROLE_EVENT_PROBE_RUNNING) ||
                    in->op == ROLE_OP_BOOT_ADOPT || in->stray || event == ROLE_EVENT_PROBE_STRAY ||
                    (in->op == ROLE_OP_STOP_STRAY && event == ROLE_EVENT_SERVICES_STOP_FAILED));
        if (is_idle(in->state) && in->op == ROLE_OP_NONE && !in->stray &&
            event != ROLE_EVENT_PROBE_STRAY)
                FUZZ_CHECK(is_idle(out->state) || out->state == ROLE_STARTING);
        /* Services found running while passive (a lost save, a start by hand) are adopted only
         * without an arbiter; with one they are stopped unless the key is ours (a stop that
         * fails, even killed, leaves them "serving as far as we know", degraded; a boot re-adopt
         * follows the arbiter's own rules, failsafe included). */
        if ((in->stray || event == ROLE_EVENT_PROBE_STRAY) && role_state_is_serving(out->state) &&
            is_idle(in->state) && event != ROLE_EVENT_SERVICES_STOP_FAILED &&
            in->op != ROLE_OP_BOOT_ADOPT)
                FUZZ_CHECK(!f->arbiter || f->key_held);

        FUZZ_CHECK(!(ok && err));
        if (ok || err) {
                FUZZ_CHECK(*op_pending);
                *op_pending = false;
        }
        /* manager_apply(): a request neither taken on nor answered is answered "done". */
        if (*op_pending && !out->operator_op)
                *op_pending = false;
        if (out->operator_op)
                FUZZ_CHECK(out->op != ROLE_OP_NONE);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
        Input in = {data, size};
        uint8_t saved = take8(&in);
        RoleMachine m = {
            .epoch = take64(&in),
            .handed_over = saved & 1,
            .saved_active = saved & 2,
        };
        HomeRole home = saved & 4 ? HOME_ROLE_STANDBY : HOME_ROLE_MASTER;
        RoleEvent event = ROLE_EVENT_BOOT;
        World w = {.init_dead_armed = true};

        for (unsigned steps = 0; steps < 256; steps++) {
                uint8_t bits = take8(&in), bits2 = take8(&in);
                RoleFacts f = {
                    .home = home,
                    .on_peer_loss = bits & 1 ? PEER_LOSS_STAY : PEER_LOSS_TAKEOVER,
                    .handover = bits & 2 ? HANDOVER_MAKE_BEFORE_BREAK : HANDOVER_BREAK_BEFORE_MAKE,
                    .name_sorts_first = bits & 4,
                    .checks_failing = bits & 8,
                    .always_failing = bits & 16,
                    .peer_connected = bits & 32,
                    .peer_misconfigured = bits & 64,
                    .arbiter = bits2 & 1,
                    .key_held = bits2 & 2,
                    .maintenance = bits2 & 4,
                    .restart_available = bits2 & 8,
                    .peer_state = (RoleState)(take8(&in) % _ROLE_STATE_MAX),
                    .peer_flags = take8(&in),
                    .peer_epoch = take64(&in),
                };
                RoleOutput o;

                /* As manager_facts() builds them: an `always` check is a check. */
                if (f.always_failing)
                        f.checks_failing = true;
                /* As the manager has them: no key without an arbiter. */
                if (!f.arbiter)
                        f.key_held = false;
                if (steps > 0) {
                        event = (RoleEvent)(take8(&in) % _ROLE_EVENT_MAX);
                        if (!world_allows(&w, event, &f))
                                continue;
                }
                o = role_step(&m, &f, event);
                if (getenv("FUZZ_ROLE_TRACE"))
                        fprintf(
                            stderr,
                            "%s/%s epoch %llu + %s (peer %s%s flags %#x epoch %llu) -> "
                            "%s/%s epoch %llu actions %#x: %s\n",
                            role_state_to_string(m.state), role_op_to_string(m.op),
                            (unsigned long long)m.epoch, role_event_to_string(event),
                            f.peer_connected ? "" : "unreachable, ",
                            role_state_to_string(f.peer_state), f.peer_flags,
                            (unsigned long long)f.peer_epoch, role_state_to_string(o.machine.state),
                            role_op_to_string(o.machine.op), (unsigned long long)o.machine.epoch,
                            o.actions, o.message ? o.message : "-");
                check_step(&m, &f, event, &o, &w.op_pending);
                world_apply(&w, &o);
                m = o.machine;
                if (in.left == 0)
                        break;
        }
        return 0;
}
