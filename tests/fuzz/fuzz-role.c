/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* libFuzzer target for the role machine: the input is a saved state, then a sequence of events,
 * each with the facts the manager would hand over at that moment (any peer state, flags and
 * epoch a frame may carry). The machine starts as the daemon does (BOOT from the saved state) and
 * every step is checked, whatever came before:
 *   - the epoch never decreases, and a start always moves it up;
 *   - start and stop never in one step, and the state follows (a start means starting, a stop
 *     stopping); the services are never left running without a serving or stopping state nor
 *     claimed without having been started, probed or failed to stop;
 *   - every action carries a message;
 *   - an operator request is answered at most once and only when one is waiting, never both ok
 *     and error; when the machine has no operation in flight, none is waiting;
 *   - the state and the operation agree (starting only while a start is in flight, an idle
 *     operation only in a settled state), and TAKE_DONE is only sent while serving. */
#include "fuzz-check.h"
#include "role.h"

/* Epochs from frames stay below this until epoch saturation (the peer and role code) is in: the
 * fuzzer would otherwise only rediscover that wrap-around. */
#define FUZZ_EPOCH_MAX (UINT64_C(1) << 62)

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

static bool is_idle(RoleState s)
{
        return s == ROLE_PASSIVE || s == ROLE_FAULT;
}

static void check_step(const RoleMachine *in, const RoleFacts *f, RoleEvent event,
                       const RoleOutput *o, bool *op_pending)
{
        const RoleMachine *out = &o->machine;
        unsigned a = o->actions;
        bool start = a & ROLE_ACTION_START_SERVICES, stop = a & ROLE_ACTION_STOP_SERVICES;
        bool ok = a & ROLE_ACTION_REPLY_OK, err = a & ROLE_ACTION_REPLY_ERROR;

        FUZZ_CHECK(out->state < _ROLE_STATE_MAX && out->op < _ROLE_OP_MAX);
        FUZZ_CHECK(out->epoch >= in->epoch);
        FUZZ_CHECK(!(start && stop));
        FUZZ_CHECK(a == 0 || o->message);

        if (start) {
                FUZZ_CHECK(out->state == ROLE_STARTING);
                FUZZ_CHECK(out->epoch > in->epoch && out->epoch > f->peer_epoch);
        }
        if (stop)
                FUZZ_CHECK(out->state == ROLE_STOPPING);
        FUZZ_CHECK((out->state == ROLE_STARTING) ==
                   (out->op == ROLE_OP_START || out->op == ROLE_OP_START_FOR_PEER ||
                    out->op == ROLE_OP_RESTART));
        if (out->op == ROLE_OP_NONE)
                FUZZ_CHECK(out->state != ROLE_STARTING && out->state != ROLE_STOPPING);
        if (a & ROLE_ACTION_SEND_TAKE_DONE)
                FUZZ_CHECK(role_state_is_serving(out->state));

        /* Serving ends only through a stop; it begins only after a start, a probe that found the
         * services running, or a stop that failed. */
        if (role_state_is_serving(in->state) && !role_state_is_serving(out->state))
                FUZZ_CHECK(out->state == ROLE_STOPPING);
        if (!role_state_is_serving(in->state) && role_state_is_serving(out->state))
                FUZZ_CHECK(in->state == ROLE_STARTING || in->state == ROLE_STOPPING ||
                           (in->op == ROLE_OP_BOOT_PROBE && event == ROLE_EVENT_PROBE_RUNNING));
        if (is_idle(in->state) && in->op == ROLE_OP_NONE)
                FUZZ_CHECK(is_idle(out->state) || out->state == ROLE_STARTING);

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
            .epoch = take64(&in) % FUZZ_EPOCH_MAX,
            .handed_over = saved & 1,
            .saved_active = saved & 2,
        };
        HomeRole home = saved & 4 ? HOME_ROLE_STANDBY : HOME_ROLE_MASTER;
        RoleEvent event = ROLE_EVENT_BOOT;
        bool op_pending = false;

        for (unsigned steps = 0; steps < 256; steps++) {
                uint8_t bits = take8(&in);
                RoleFacts f = {
                    .home = home,
                    .on_peer_loss = bits & 1 ? PEER_LOSS_STAY : PEER_LOSS_TAKEOVER,
                    .handover = bits & 2 ? HANDOVER_MAKE_BEFORE_BREAK : HANDOVER_BREAK_BEFORE_MAKE,
                    .name_sorts_first = bits & 4,
                    .checks_failing = bits & 8,
                    .always_failing = bits & 16,
                    .peer_connected = bits & 32,
                    .peer_state = (RoleState)(take8(&in) % _ROLE_STATE_MAX),
                    .peer_flags = take8(&in),
                    .peer_epoch = take64(&in) % FUZZ_EPOCH_MAX,
                };
                RoleOutput o;

                /* As manager_facts() builds them: an `always` check is a check. */
                if (f.always_failing)
                        f.checks_failing = true;
                if (steps > 0) {
                        event = (RoleEvent)(take8(&in) % _ROLE_EVENT_MAX);
                        if (event == ROLE_EVENT_BOOT)
                                continue; /* once per daemon run */
                        if (event == ROLE_EVENT_QUIESCE || event == ROLE_EVENT_TAKEOVER) {
                                if (op_pending)
                                        continue; /* the control socket refuses a second one */
                                op_pending = true;
                        }
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
                check_step(&m, &f, event, &o, &op_pending);
                m = o.machine;
                if (in.left == 0)
                        break;
        }
        return 0;
}
