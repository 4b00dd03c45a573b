/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "manager.h"

#include <signal.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "notify.h"

static void manager_apply(Manager *m, const RoleOutput *o, RoleState old_state, RoleEvent event);

RoleFacts manager_facts(const Manager *m)
{
        RoleFacts f = {
            .home = m->config->role,
            .on_peer_loss = m->config->on_peer_loss,
            .handover = m->config->handover,
            .name_sorts_first = strcmp(m->config->node_name, m->config->peer_name) < 0,
            .peer_connected = m->peer && peer_is_connected(m->peer) && m->peer_known,
            .peer_misconfigured = peer_problem(m->peer) != NULL,
            .peer_state = m->peer_state,
            .peer_flags = m->peer_flags,
            .peer_epoch = m->peer_epoch,
            .arbiter = m->arbiter != NULL,
            .key_held = arbiter_holds(m->arbiter),
            .maintenance = manager_in_maintenance(m),
            .restart_available = manager_restart_available(m),
        };

        /* One key, one server: with an arbiter the peer can only start once we let go. */
        if (m->arbiter)
                f.handover = HANDOVER_BREAK_BEFORE_MAKE;

        for (size_t i = 0; i < m->n_checks; i++) {
                if (check_get_status(m->checks[i]) != CHECK_STATUS_FAILING)
                        continue;
                f.checks_failing = true;
                if (check_get_config(m->checks[i])->scope == CHECK_SCOPE_ALWAYS)
                        f.always_failing = true;
        }
        /* A service seen dying fails like a check named after it, without waiting for one. */
        if (m->service_died && role_state_is_serving(m->machine.state))
                f.checks_failing = true;
        return f;
}

void manager_update_peer_view(Manager *m)
{
        RoleFacts f = manager_facts(m);

        uint8_t flags = role_flags(&m->machine, &f);

        if (m->maintenance)
                flags |= ROLE_FLAG_MAINTENANCE;
        if (m->peer)
                peer_set_local(m->peer, (uint8_t)m->machine.state, flags, m->machine.epoch);
}

void manager_update_peer_view_public(Manager *m)
{
        manager_update_peer_view(m);
        peer_send_heartbeat(m->peer);
}

static void manager_save_state(Manager *m)
{
        SavedState s = {
            .active = m->machine.saved_active || m->machine.state == ROLE_STARTING,
            .handed_over = m->machine.handed_over,
            .epoch = m->machine.epoch,
        };

        if (m->saved_valid && s.active == m->saved.active &&
            s.handed_over == m->saved.handed_over && s.epoch == m->saved.epoch)
                return;
        state_writer_submit(m->state_writer, &s);
        m->saved = s;
        m->saved_valid = true;
}

/* Scope-active checks run only while we serve, and start over from pending each time. */
static void manager_update_checks(Manager *m)
{
        bool serving = role_state_is_serving(m->machine.state);

        for (size_t i = 0; i < m->n_checks; i++) {
                const ConfigCheck *c = check_get_config(m->checks[i]);
                bool want = c->scope == CHECK_SCOPE_ALWAYS || serving;
                bool enabled = check_get_status(m->checks[i]) != CHECK_STATUS_DISABLED;
                if (want != enabled)
                        (void)check_set_enabled(m->checks[i], want);
        }
}

static int on_stable(sd_event_source *s, uint64_t usec, void *userdata)
{
        manager_dispatch(userdata, ROLE_EVENT_STABLE);
        return 0;
}

/* A node that got the services as a last resort is re-armed after serving well for a while. */
static void manager_update_stable_timer(Manager *m)
{
        bool want = m->machine.last_resort && m->machine.state == ROLE_ACTIVE;
        int enabled = SD_EVENT_OFF;

        if (!want) {
                if (m->stable_timer)
                        (void)sd_event_source_set_enabled(m->stable_timer, SD_EVENT_OFF);
                return;
        }
        if (!m->stable_timer) {
                if (sd_event_add_time_relative(m->event, &m->stable_timer, CLOCK_MONOTONIC,
                                               ROLE_STABLE_USEC, 0, on_stable, m) < 0)
                        log_warning("Cannot time the last resort damper: it clears only by "
                                    "'vacataire-ctl clear'");
                return;
        }
        (void)sd_event_source_get_enabled(m->stable_timer, &enabled);
        if (enabled != SD_EVENT_OFF)
                return;
        (void)sd_event_source_set_time_relative(m->stable_timer, ROLE_STABLE_USEC);
        (void)sd_event_source_set_enabled(m->stable_timer, SD_EVENT_ONESHOT);
}

static void manager_notify_status(Manager *m)
{
        const char *peer = "unreachable";

        if (m->peer && peer_is_connected(m->peer) && m->peer_known)
                peer = role_state_to_string(m->peer_state);
        sd_notifyf(false, "STATUS=%s, peer %s %s", role_state_to_string(m->machine.state),
                   m->config->peer_name, peer);
}

void manager_dispatch(Manager *m, RoleEvent event)
{
        manager_dispatch_cause(m, event, NULL);
}

void manager_dispatch_cause(Manager *m, RoleEvent event, const Cause *cause)
{
        QueuedEvent q = {.event = event, .has_cause = cause != NULL};

        if (cause)
                q.cause = *cause;
        if (m->dispatching) {
                if (m->queue_len >= MANAGER_EVENT_QUEUE_MAX) {
                        log_error("role event queue full; dropping %s",
                                  role_event_to_string(event));
                        return;
                }
                m->queue[m->queue_len++] = q;
                return;
        }
        m->dispatching = true;
        for (;;) {
                RoleFacts f = manager_facts(m);
                RoleState old_state = m->machine.state;
                RoleOp old_op = m->machine.op;
                RoleOutput o;

                /* Known before the step: the cause of an operation's later steps is the cause
                 * of the operation. */
                if (q.has_cause)
                        m->cause = q.cause;
                else
                        manager_event_cause(m, q.event, &m->cause);
                o = role_step(&m->machine, &f, q.event);
                if (old_op == ROLE_OP_NONE && o.machine.op != ROLE_OP_NONE)
                        m->op_cause = m->cause;
                m->machine = o.machine;
                manager_apply(m, &o, old_state, q.event);
                if (m->queue_len == 0)
                        break;
                q = m->queue[0];
                memmove(m->queue, m->queue + 1, --m->queue_len * sizeof(m->queue[0]));
        }
        m->dispatching = false;
}

static void services_started(ServiceSet *s, int result, const char *message, void *userdata)
{
        Manager *m = userdata;

        if (m->service_op_started > 0)
                histogram_observe(&m->service_start_duration,
                                  (double)(now_usec(CLOCK_MONOTONIC) - m->service_op_started) /
                                      USEC_PER_SEC);
        m->service_op_started = 0;

        if (result < 0)
                log_error("Services failed to start: %s", message ? message : "unknown error");
        else {
                free(m->service_died);
                m->service_died = NULL;
                size_t n = service_watch_arm(m->service_watch, s);
                log_debug("%zu of %zu services watched for death", n, service_set_count(s));
        }
        manager_dispatch(m, result < 0 ? ROLE_EVENT_SERVICES_START_FAILED
                                       : ROLE_EVENT_SERVICES_STARTED);
}

static void on_service_died(ServiceWatch *w, const char *service, const char *why, void *userdata)
{
        Manager *m = userdata;

        if (!role_state_is_serving(m->machine.state) || m->service_died)
                return;
        m->service_died = strdup_printf("service %s died (%s)", service, why);
        if (!m->service_died)
                m->service_died = strdup("a service died");
        Cause cause;
        cause_set(&cause, CAUSE_SERVICE, NULL, m->service_died);
        manager_dispatch_cause(m, ROLE_EVENT_CHECKS_CHANGED, &cause);
}

static void services_stopped(ServiceSet *s, int result, const char *message, void *userdata)
{
        Manager *m = userdata;

        if (m->service_op_started > 0)
                histogram_observe(&m->service_stop_duration,
                                  (double)(now_usec(CLOCK_MONOTONIC) - m->service_op_started) /
                                      USEC_PER_SEC);
        m->service_op_started = 0;

        /* The service layer already killed what its stop left behind; an error means something
         * may still run here, so the peer must not be told to start. */
        if (result < 0) {
                log_error("Stopping services failed: %s", message ? message : "unknown error");
                manager_dispatch(m, ROLE_EVENT_SERVICES_STOP_FAILED);
                return;
        }
        manager_dispatch(m, ROLE_EVENT_SERVICES_STOPPED);
}

static void services_probed(ServiceSet *s, int result, const char *message, void *userdata)
{
        Manager *m = userdata;

        /* Some running counts as running: we adopt, and the checks judge what is missing, rather
         * than leaving half a service running on a passive node. */
        manager_dispatch(m, result == -ESRCH ? ROLE_EVENT_PROBE_STOPPED : ROLE_EVENT_PROBE_RUNNING);
}

static void services_probed_passive(ServiceSet *s, int result, const char *message, void *userdata)
{
        Manager *m = userdata;
        _cleanup_free_ char *running = NULL;

        m->startup_probe = false;
        if (role_state_is_serving(m->machine.state) || m->machine.state == ROLE_STARTING)
                return;
        /* Only services a status command says run: one without a status command is unknown. */
        for (size_t i = 0; i < service_set_count(s); i++) {
                if (service_set_state(s, i) != SERVICE_RUNNING)
                        continue;
                char *joined = strdup_printf("%s%s%s", running ? running : "", running ? ", " : "",
                                             service_set_name(s, i));
                if (!joined)
                        return;
                free(running);
                running = joined;
        }
        /* Not started by us this time: a lost save, or a start by hand. The role machine stops
         * them if the peer serves, and adopts them if nothing else does. */
        if (running) {
                log_warning("Services are running on this passive node (%s)", running);
                manager_dispatch(m, ROLE_EVENT_PROBE_STRAY);
        }
}

static usec_t manager_handover_timeout(const Manager *m)
{
        usec_t t = m->config->dead_time + 10 * USEC_PER_SEC;

        /* The peer starts (or we stop) every service, each possibly with retries. */
        for (size_t i = 0; i < m->config->n_services; i++)
                t += m->config->services[i].timeout * (m->config->services[i].start_retries + 1);
        return t;
}

void manager_send_request(Manager *m, FrameType type, const char *reason)
{
        char cause[CAUSE_NAME_MAX + CAUSE_MESSAGE_MAX + 32], payload[FRAME_MAX_PAYLOAD / 2];
        int r;

        /* The peer records why it was asked: our reason and what caused it. */
        snprintf(payload, sizeof(payload), "%s (%s)", reason ?: "",
                 cause_to_string(&m->op_cause, cause, sizeof(cause)));
        m->outstanding_request = ++m->next_request_id;
        m->outstanding_type = type;
        r = peer_send(m->peer, type, m->outstanding_request, payload);
        /* A request we cannot send times out at once rather than after the full wait. */
        sd_event_source_set_time_relative(m->request_timer,
                                          r < 0 ? 0 : manager_handover_timeout(m));
        sd_event_source_set_enabled(m->request_timer, SD_EVENT_ONESHOT);
}

static void manager_reply_operator(Manager *m, bool ok, const char *message)
{
        if (!m->operator_request)
                return;
        control_request_reply(m->operator_request, ok,
                              message ? message : (ok ? "done\n" : "failed"));
        m->operator_request = NULL;
}

void manager_update_lb(Manager *m)
{
        /* While a restarted agent probes (or, with an arbiter, adopts) services it may still be
         * serving: haproxy keeps what it has until that is settled. */
        if (!m->started || m->machine.op == ROLE_OP_BOOT_PROBE ||
            m->machine.op == ROLE_OP_BOOT_ADOPT)
                return;
        LbState s = lb_state_for(m->machine.state, m->machine.op);
        /* The peer told us it serves, and told haproxy too, but over another connection: give
         * its "ready" a head start (half of drain_time, as the agent-check does), or haproxy
         * may for a moment have no server it may use. */
        if (s == LB_STATE_DRAIN && m->machine.op == ROLE_OP_HANDOVER_DRAIN)
                lb_client_set_after(m->lb, s, m->config->drain_time / 2);
        else
                lb_client_set(m->lb, s);
}

static void manager_apply(Manager *m, const RoleOutput *o, RoleState old_state, RoleEvent event)
{
        unsigned a = o->actions;
        RoleState state = m->machine.state;
        int r;

        if (o->message)
                m->last_reason = o->message;
        if (o->epoch_saturated)
                log_warning("Epoch saturated at %llu (the peer sent %llu): not wrapping to 0; "
                            "both nodes' state files need a reset once the cause is known.",
                            (unsigned long long)m->machine.epoch,
                            (unsigned long long)m->peer_epoch);

        /* Replies first: an error reply must not wait for service commands. */
        if (a & ROLE_ACTION_REPLY_OK) {
                _cleanup_free_ char *body = strdup_printf("%s\n", o->message ? o->message : "done");
                manager_reply_operator(m, true, body);
        }
        if (a & ROLE_ACTION_REPLY_ERROR)
                manager_reply_operator(m, false, o->message);
        /* Before the peer hears of it: a new active node is ready in haproxy first. */
        manager_update_lb(m);

        if (state != old_state) {
                if (state == ROLE_STARTING && m->cause.kind < _CAUSE_KIND_MAX)
                        m->failovers[m->cause.kind]++;
                manager_record_change(m, old_state, state,
                                      o->message ? o->message : role_event_to_string(event),
                                      a & ROLE_ACTION_ALERT);
        } else if (a & ROLE_ACTION_RESTART_SERVICES) {
                /* Logged and recorded by manager_restart_services(). */
        } else if (o->message && (a & ROLE_ACTION_ALERT))
                /* No state change, but worth the same record: "peer lost while serving". */
                manager_record_change(m, old_state, state, o->message, true);
        else if (o->message && (a & ~(ROLE_ACTION_REPLY_ERROR)))
                log_info("%s: %s", role_state_to_string(state), o->message);

        manager_update_checks(m);
        manager_update_peer_view(m);
        manager_save_state(m);
        manager_update_stable_timer(m);

        /* The start-up look at the services only informs the operator: the role's own start or
         * stop must not fail on it (a slow status command would leave nobody serving). */
        if ((a & (ROLE_ACTION_START_SERVICES | ROLE_ACTION_STOP_SERVICES |
                  ROLE_ACTION_PROBE_SERVICES)) &&
            m->startup_probe) {
                service_set_cancel(m->services);
                m->startup_probe = false;
        }
        if (a & (ROLE_ACTION_START_SERVICES | ROLE_ACTION_STOP_SERVICES))
                m->service_op_started = now_usec(CLOCK_MONOTONIC);
        /* Our own starts and stops are no deaths. */
        if (a & (ROLE_ACTION_START_SERVICES | ROLE_ACTION_STOP_SERVICES |
                 ROLE_ACTION_PROBE_SERVICES | ROLE_ACTION_FENCE | ROLE_ACTION_RESTART_SERVICES)) {
                service_watch_disarm(m->service_watch);
                if (!(a & (ROLE_ACTION_STOP_SERVICES | ROLE_ACTION_FENCE))) {
                        free(m->service_died);
                        m->service_died = NULL;
                }
        }
        manager_arbiter_apply(m, a);
        if (a & ROLE_ACTION_RESTART_SERVICES)
                manager_restart_services(m);
        if ((a & ROLE_ACTION_START_SERVICES) && !manager_arbiter_may_start(m))
                manager_dispatch(m, ROLE_EVENT_SERVICES_START_FAILED);
        else if (a & ROLE_ACTION_START_SERVICES) {
                r = service_set_start(m->services, services_started, m);
                if (r < 0) {
                        log_error_errno(r, "Cannot start services: %m");
                        manager_dispatch(m, ROLE_EVENT_SERVICES_START_FAILED);
                }
        }
        if (a & ROLE_ACTION_STOP_SERVICES) {
                r = service_set_stop(m->services, services_stopped, m);
                if (r < 0) {
                        log_error_errno(r, "Cannot stop services: %m");
                        manager_dispatch(m, ROLE_EVENT_SERVICES_STOP_FAILED);
                }
        }
        if (a & ROLE_ACTION_PROBE_SERVICES) {
                r = service_set_probe(m->services, services_probed, m);
                if (r < 0)
                        manager_dispatch(m, ROLE_EVENT_PROBE_STOPPED);
        }
        if ((a & ROLE_ACTION_SEND_TAKE) && !manager_arbiter_defer_take(m))
                manager_send_request(m, FRAME_TAKE, o->message);
        if (a & ROLE_ACTION_SEND_RELEASE)
                manager_send_request(m, FRAME_RELEASE, o->message);
        if (a & ROLE_ACTION_SEND_TAKE_DONE)
                (void)peer_send(m->peer, FRAME_TAKE_DONE, m->peer_request_id, NULL);
        if (a & ROLE_ACTION_SEND_TAKE_FAILED)
                (void)peer_send(m->peer, FRAME_TAKE_FAILED, m->peer_request_id, o->message);
        if (a & ROLE_ACTION_SEND_RELEASE_REFUSED)
                (void)peer_send(m->peer, FRAME_RELEASE_REFUSED, m->peer_request_id, o->message);
        if (a & ROLE_ACTION_SEND_RELEASED)
                (void)peer_send(m->peer, FRAME_RELEASED, 0, NULL);
        if (a & ROLE_ACTION_ARM_DRAIN) {
                sd_event_source_set_time_relative(m->drain_timer, m->config->drain_time);
                sd_event_source_set_enabled(m->drain_timer, SD_EVENT_ONESHOT);
        }
        if (m->machine.op != ROLE_OP_HANDOVER_WAIT_PEER &&
            m->machine.op != ROLE_OP_REQUEST_RELEASE && m->machine.op != ROLE_OP_AWAIT_RELEASED) {
                m->outstanding_request = 0;
                sd_event_source_set_enabled(m->request_timer, SD_EVENT_OFF);
        }

        if (state != old_state || (a & ROLE_ACTION_ALERT)) {
                /* The peer learns of every change at once, not at the next heartbeat. */
                peer_send_heartbeat(m->peer);
                manager_notify_status(m);
        } else if (a & (ROLE_ACTION_START_SERVICES | ROLE_ACTION_STOP_SERVICES))
                peer_send_heartbeat(m->peer);

        manager_arbiter_sync(m);

        /* An operator request the machine neither took on nor answered has nothing to wait for. */
        if (m->operator_request && !m->machine.operator_op)
                manager_reply_operator(m, true, "done\n");
        manager_shutdown_progress(m);
}

static void on_peer_connected(Peer *p, void *userdata)
{
        Manager *m = userdata;

        /* A request whose answer may have been lost with the old connection is sent again;
         * the peer treats a repeated request as the same one. */
        if (m->outstanding_request && m->outstanding_type == FRAME_TAKE)
                (void)peer_send(m->peer, FRAME_TAKE, m->outstanding_request, m->last_reason);
}

static void on_peer_frame(Peer *p, const Frame *f, void *userdata)
{
        Manager *m = userdata;
        bool answers = f->request_id != 0 && f->request_id == m->outstanding_request;
        /* StatusText shows the peer's state too, which changes without a change of ours. */
        bool peer_view_changed =
            !m->peer_known || (f->state < _ROLE_STATE_MAX && m->peer_state != (RoleState)f->state);

        if (f->state < _ROLE_STATE_MAX)
                m->peer_state = (RoleState)f->state;
        m->peer_flags = f->flags;
        m->peer_epoch = f->epoch;
        m->peer_known = true;
        if (m->config->role == HOME_ROLE_MASTER && (f->flags & ROLE_FLAG_HOME_MASTER) &&
            !m->both_master) {
                /* Not fatal (the epoch and the tie-break still elect one), but not intended. */
                m->both_master = true;
                log_warning("both nodes are configured role \"master\" (this node %s and peer %s): "
                            "one of them should be \"standby\"",
                            m->config->node_name, m->config->peer_name);
        }
        m->restart_hold = sd_event_source_disable_unref(m->restart_hold);
        memcpy(m->peer_reason, f->payload, f->payload_len);
        m->peer_reason[f->payload_len] = 0;

        switch (f->type) {
        case FRAME_HEARTBEAT:
                manager_dispatch(m, ROLE_EVENT_PEER_STATE);
                break;
        case FRAME_TAKE:
                m->peer_request_id = f->request_id;
                manager_dispatch(m, ROLE_EVENT_PEER_TAKE);
                break;
        case FRAME_RELEASE:
                m->peer_request_id = f->request_id;
                manager_dispatch(m, ROLE_EVENT_PEER_RELEASE);
                break;
        case FRAME_TAKE_DONE:
                if (answers)
                        manager_dispatch(m, ROLE_EVENT_PEER_TAKE_DONE);
                break;
        case FRAME_TAKE_FAILED:
                if (answers) {
                        log_warning("peer %s could not take over: %s", m->config->peer_name,
                                    m->peer_reason);
                        manager_dispatch(m, ROLE_EVENT_PEER_TAKE_FAILED);
                }
                break;
        case FRAME_RELEASE_REFUSED:
                if (answers) {
                        log_warning("peer %s refused to hand over: %s", m->config->peer_name,
                                    m->peer_reason);
                        manager_dispatch(m, ROLE_EVENT_PEER_RELEASE_REFUSED);
                }
                break;
        case FRAME_RELEASED:
                manager_dispatch(m, ROLE_EVENT_PEER_RELEASED);
                break;
        case FRAME_MAINTENANCE: {
                bool on = streq(m->peer_reason, "on");
                if (!on && !streq(m->peer_reason, "off")) {
                        log_warning("peer %s: maintenance frame with an unknown payload, ignored",
                                    m->config->peer_name);
                        break;
                }
                Cause c;
                cause_set(&c, CAUSE_PEER, NULL,
                          on ? "maintenance on (set on the peer)"
                             : "maintenance off (set on the peer)");
                if (on != m->maintenance)
                        (void)manager_set_maintenance(m, on, false, &c);
                manager_dispatch_cause(m, ROLE_EVENT_PEER_STATE, &c);
                break;
        }
        default:
                break;
        }
        if (peer_view_changed)
                manager_notify_status(m);
}

static void on_peer_lost(Peer *p, void *userdata)
{
        Manager *m = userdata;

        m->peer_known = false;
        manager_peer_lost_hold(m);
        manager_dispatch(m, ROLE_EVENT_PEER_LOST);
        manager_notify_status(m);
}

void manager_check_verdict(Check *c, CheckStatus old_status, CheckStatus new_status, void *userdata)
{
        Cause cause;

        cause_set(&cause, CAUSE_CHECK, check_get_config(c)->name, check_get_last_message(c));
        manager_dispatch_cause(userdata, ROLE_EVENT_CHECKS_CHANGED, &cause);
}

static int on_init_dead(sd_event_source *s, uint64_t usec, void *userdata)
{
        manager_dispatch(userdata, ROLE_EVENT_INIT_DEAD);
        return 0;
}

static int on_drain_done(sd_event_source *s, uint64_t usec, void *userdata)
{
        manager_dispatch(userdata, ROLE_EVENT_DRAIN_DONE);
        return 0;
}

static int on_request_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
        Manager *m = userdata;

        log_warning("peer %s did not answer our %s request", m->config->peer_name,
                    frame_type_to_string(m->outstanding_type));
        manager_dispatch(m, ROLE_EVENT_REQUEST_TIMEOUT);
        return 0;
}

static int on_reload(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        Manager *m = userdata;

        if (!m->started) {
                log_warning("SIGHUP while starting: reload ignored; send it again once started");
                return 0;
        }
        manager_reload(m, NULL);
        return 0;
}

void manager_sync(Manager *m)
{
        manager_ops_sync(m);
        manager_update_checks(m);
        manager_update_peer_view(m);
        manager_notify_status(m);
        /* A removed or changed check may have been the failing one. */
        manager_dispatch(m, ROLE_EVENT_CHECKS_CHANGED);
}

static int manager_health_document(const char *path, char **ret_body, const char **ret_type,
                                   void *userdata)
{
        Manager *m = userdata;

        if (streq(path, "/metrics")) {
                *ret_type = "text/plain; version=0.0.4; charset=utf-8";
                return manager_format_metrics(m, ret_body);
        }
        if (streq(path, "/status")) {
                *ret_type = "application/json";
                return manager_format_status(m, true, ret_body);
        }
        return -ENOENT;
}

static RoleState manager_health_state(void *userdata)
{
        Manager *m = userdata;

        return m->machine.state;
}

int manager_new(Config *config, Manager **ret)
{
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->config = config_ref(config);
        r = sd_event_default(&m->event);
        if (r < 0)
                return r;
        r = notifier_new(m->event, &m->notifier);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

Manager *manager_free(Manager *m)
{
        if (!m)
                return NULL;
        if (m->operator_request)
                control_request_reply(m->operator_request, false, "agent shutting down");
        manager_reload_cancel(m, "agent shutting down");
        check_loader_free(m->start_loader);
        control_server_free(m->control);
        health_server_free(m->health);
        lb_client_free(m->lb);
        service_watch_free(m->service_watch);
        free(m->service_died);
        manager_ops_free(m);
        for (size_t i = 0; i < m->n_checks; i++)
                check_free(m->checks[i]);
        free(m->checks);
        if (m->services)
                service_set_cancel(m->services);
        service_set_free(m->services);
        manager_arbiter_free(m);
        peer_free(m->peer);
        sd_event_source_disable_unref(m->init_dead_timer);
        sd_event_source_disable_unref(m->drain_timer);
        sd_event_source_disable_unref(m->request_timer);
        sd_event_source_disable_unref(m->stable_timer);
        manager_stop_free(m);
        sd_event_source_disable_unref(m->sigterm);
        sd_event_source_disable_unref(m->sigint);
        sd_event_source_disable_unref(m->sighup);
        /* The last state reaches the disk before we exit. */
        sd_event_source_disable_unref(m->state_save_source);
        state_writer_free(m->state_writer);
        notifier_free(m->notifier);
        key_free(m->key);
        free(m->checker_path);
        config_unref(m->config);
        sd_event_unref(m->event);
        free(m);
        return NULL;
}

static int manager_load_saved_state(Manager *m)
{
        _cleanup_free_ char *reason = NULL;
        SavedState s = {};
        int r;

        r = state_load(m->config->state_dir, &s, &reason);
        if (r == -ENOTRECOVERABLE) {
                /* Neither read nor replaced: whatever put it there should be looked at. */
                log_error("State file %s/state %s: refusing to start; remove it.",
                          m->config->state_dir, reason ? reason : "is not a regular file");
                return r;
        }
        if (r == -ENOENT) {
                log_info("No saved state in %s: starting passive", m->config->state_dir);
                return 0;
        }
        if (r < 0) {
                /* Unreadable state could hide a handover; passive is the side that cannot
                 * cause two active nodes. */
                log_warning("Saved state in %s is unusable (%s): starting passive",
                            m->config->state_dir, reason ? reason : strerror(-r));
                return 0;
        }
        if (reason)
                log_warning("Saved state in %s: %s", m->config->state_dir, reason);
        m->machine.epoch = s.epoch;
        m->machine.handed_over = s.handed_over;
        m->machine.saved_active = s.active;
        m->saved = s;
        m->saved_valid = true;
        log_info("Saved state: %s, epoch %llu%s", s.active ? "was active" : "was passive",
                 (unsigned long long)s.epoch, s.handed_over ? ", handed over" : "");
        return 0;
}

/* Second half of the start, once every check's plugin is known to load: only now may this node
 * talk to its peer and claim anything. */
static int manager_start_serving(Manager *m)
{
        static const PeerCallbacks peer_callbacks = {
            .connected = on_peer_connected,
            .frame = on_peer_frame,
            .lost = on_peer_lost,
        };
        int r;

        r = sd_event_add_time_relative(m->event, &m->init_dead_timer, CLOCK_MONOTONIC,
                                       m->config->init_dead, MANAGER_TIMER_ACCURACY, on_init_dead,
                                       m);
        if (r < 0)
                return log_error_errno(r, "Failed to set up timers: %m");

        r = peer_new(m->event, m->config, m->key, &peer_callbacks, m, &m->peer);
        if (r < 0)
                return r;

        m->started = true;
        manager_dispatch(m, ROLE_EVENT_BOOT);
        manager_update_lb(m);
        if (m->machine.op != ROLE_OP_BOOT_PROBE)
                m->startup_probe = service_set_probe(m->services, services_probed_passive, m) >= 0;
        manager_update_checks(m);
        manager_update_peer_view(m);

        log_info("vacataire %s: node %s (%s), peer %s at %s, %zu checks, %zu services",
                 VACATAIRE_VERSION, m->config->node_name, home_role_to_string(m->config->role),
                 m->config->peer_name, m->config->peer_address_string, m->config->n_checks,
                 m->config->n_services);
        sd_notify(false, "READY=1");
        manager_notify_status(m);
        return 0;
}

static void manager_fail_start(Manager *m, int error)
{
        sd_notifyf(false, "ERRNO=%d", -error);
        (void)sd_event_exit(m->event, 1);
}

static void on_checks_loaded(CheckLoader *l, int error, void *userdata)
{
        Manager *m = userdata;

        if (error < 0) {
                for (size_t i = 0; i < m->config->n_checks; i++)
                        if (check_loader_error(l, i))
                                log_error("%s", check_loader_error(l, i));
                log_error("Refusing to start: %s",
                          error == -ETIMEDOUT
                              ? "some check plugins did not load"
                              : "fix the checks above (vacataire -t shows them all)");
                m->start_loader = check_loader_free(m->start_loader);
                return manager_fail_start(m, error);
        }
        for (size_t i = 0; i < m->config->n_checks; i++)
                m->checks[m->n_checks++] = check_loader_take(l, i);
        m->start_loader = check_loader_free(m->start_loader);
        if (manager_start_serving(m) < 0)
                manager_fail_start(m, -EIO);
}

int manager_start(Manager *m)
{
        _cleanup_free_ char *error = NULL;
        int r;

        r = key_load(m->config->key_file, &m->key, &error);
        if (r < 0) {
                log_error_errno(r, "%s", error ? error : "cannot load the key");
                return -ENOKEY; /* a configuration error: main exits EXIT_CONFIG */
        }

        r = check_find_checker(&m->checker_path);
        if (r < 0 && m->config->n_checks > 0)
                return log_error_errno(r, "Cannot find the vacataire-checker helper: %m");

        r = manager_load_saved_state(m);
        if (r < 0)
                return r;
        r = state_writer_new(m->config->state_dir, &m->state_writer);
        if (r < 0)
                return log_error_errno(r, "Failed to start the state writer: %m");
        r = manager_watch_state_saves(m);
        if (r < 0)
                return log_error_errno(r, "Failed to watch state saves: %m");
        r = manager_ops_init(m);
        if (r < 0)
                return r;

        r = manager_stop_setup(m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, &m->sighup, SIGHUP, on_reload, m);
        if (r < 0)
                return log_error_errno(r, "Failed to set up signal handling: %m");
        (void)sd_event_set_watchdog(m->event, true);

        r = service_set_new(m->event, m->config, &m->services);
        if (r < 0)
                return log_error_errno(r, "Failed to set up services: %m");

        r = manager_arbiter_start(m);
        if (r < 0)
                return r;

        r = control_server_new(m->event, m->config->control_socket, manager_handle_control, m,
                               &m->control);
        if (r < 0)
                return r;
        if (m->config->control_group) {
                r = control_server_set_group(m->control, m->config->control_gid);
                if (r < 0)
                        return r;
        }

        r = health_server_new(m->event, m->config, manager_health_state, m, &m->health);
        if (r < 0)
                return r;
        r = lb_client_new(m->event, m->config, &m->lb);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the lb client: %m");
        r = service_watch_new(m->event, on_service_died, m, &m->service_watch);
        if (r < 0)
                return log_error_errno(r, "Failed to set up service watching: %m");
        health_server_set_documents(m->health, manager_health_document);

        r = sd_event_add_time(m->event, &m->drain_timer, CLOCK_MONOTONIC, USEC_INFINITY,
                              MANAGER_TIMER_ACCURACY, on_drain_done, m);
        if (r >= 0)
                r = sd_event_add_time(m->event, &m->request_timer, CLOCK_MONOTONIC, USEC_INFINITY,
                                      MANAGER_TIMER_ACCURACY, on_request_timeout, m);
        if (r < 0)
                return log_error_errno(r, "Failed to set up timers: %m");
        sd_event_source_set_enabled(m->drain_timer, SD_EVENT_OFF);
        sd_event_source_set_enabled(m->request_timer, SD_EVENT_OFF);

        /* Each check's own checker process loads and configures its plugin; their answers are
         * the validation, so no plugin is loaded twice. */
        m->checks = calloc(m->config->n_checks ? m->config->n_checks : 1, sizeof(Check *));
        if (!m->checks)
                return log_oom();
        r = check_loader_new(m->event, m->config, NULL, m->checker_path, MANAGER_CONFIGURE_TIMEOUT,
                             manager_check_verdict, m, on_checks_loaded, m, &m->start_loader);
        if (r < 0)
                return log_error_errno(r, "Failed to start the checks: %m");
        return 0;
}

int manager_run(Manager *m)
{
        return sd_event_loop(m->event);
}
