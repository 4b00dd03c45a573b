/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* What operators see and steer beside the role machine: the cause of every change, its record
 * (history, journal, notify, webhook), maintenance mode, restarts in place, the health line. */
#include <fcntl.h>
#include <inttypes.h>

#include "log.h"
#include "manager.h"
#include "arbiter.h"
#include "json.h"
#include "notify.h"
#include "webhook.h"

/* journalctl MESSAGE_ID=...: documented in vacataire(8). */
#define MESSAGE_ID_STATE_CHANGE "a3c1f0b6d2e84f5c9b7d10e2f4a6c8e1"
#define MESSAGE_ID_RESTART      "5e9d2c4b7a1f4e08b3c6d9f2a5e8b1c4"
#define MESSAGE_ID_MAINTENANCE  "c7b4e1a8d5f24c69a0e3b6d9c2f5a8b7"

static void *mfree(void *p)
{
        free(p);
        return NULL;
}

static char *maintenance_path(const Manager *m)
{
        return strdup_printf("%s/maintenance", m->config->state_dir);
}

static void restart_logs_free(Manager *m)
{
        for (size_t i = 0; i < m->n_restart_logs; i++)
                free(m->restart_logs[i].times);
        free(m->restart_logs);
        m->restart_logs = NULL;
        m->n_restart_logs = 0;
}

/* One budget per configured service; a reload that changes a service's budget starts it over. */
static int restart_logs_sync(Manager *m)
{
        const Config *c = m->config;
        bool same = m->n_restart_logs == c->n_services;

        for (size_t i = 0; same && i < c->n_services; i++)
                same = m->restart_logs[i].capacity == c->services[i].restarts;
        if (same)
                return 0;
        restart_logs_free(m);
        if (c->n_services == 0)
                return 0;
        m->restart_logs = calloc(c->n_services, sizeof(RestartLog));
        if (!m->restart_logs)
                return -ENOMEM;
        m->n_restart_logs = c->n_services;
        for (size_t i = 0; i < c->n_services; i++) {
                m->restart_logs[i].capacity = c->services[i].restarts;
                if (c->services[i].restarts == 0)
                        continue;
                m->restart_logs[i].times = calloc(c->services[i].restarts, sizeof(usec_t));
                if (!m->restart_logs[i].times)
                        return -ENOMEM;
        }
        return 0;
}

int manager_ops_init(Manager *m)
{
        _cleanup_free_ char *path = maintenance_path(m);
        int r;

        if (!path)
                return log_oom();
        r = history_open(m->config->state_dir, &m->history);
        if (r < 0)
                return log_error_errno(r, "Failed to open the history: %m");
        if (access(path, F_OK) == 0) {
                m->maintenance = true;
                log_notice("Maintenance mode is on (%s): nothing will be started, stopped or "
                           "handed over until 'vacataire-ctl maintenance off'",
                           path);
        }
        m->state_since = now_usec(CLOCK_MONOTONIC);
        if (restart_logs_sync(m) < 0)
                return log_oom();
        return 0;
}

void manager_ops_free(Manager *m)
{
        m->history = history_free(m->history);
        m->webhook = webhook_free(m->webhook);
        m->restart_which = mfree(m->restart_which);
        restart_logs_free(m);
}

static void first_failing_check(Manager *m, Cause *ret)
{
        if (m->service_died && role_state_is_serving(m->machine.state)) {
                cause_set(ret, CAUSE_SERVICE, NULL, m->service_died);
                return;
        }

        for (size_t i = 0; i < m->n_checks; i++)
                if (check_get_status(m->checks[i]) == CHECK_STATUS_FAILING) {
                        cause_set(ret, CAUSE_CHECK, check_get_config(m->checks[i])->name,
                                  check_get_last_message(m->checks[i]));
                        return;
                }
        cause_set(ret, CAUSE_CHECK, NULL, "checks pass");
}

void manager_event_cause(Manager *m, RoleEvent event, Cause *ret)
{
        char text[FRAME_MAX_PAYLOAD + 64];

        switch (event) {
        case ROLE_EVENT_BOOT:
        case ROLE_EVENT_PROBE_RUNNING:
        case ROLE_EVENT_PROBE_STOPPED:
                cause_set(ret, CAUSE_STARTUP, NULL, "agent started");
                return;
        case ROLE_EVENT_INIT_DEAD:
                cause_set(ret, CAUSE_TIMER, NULL, "init_dead passed without the peer");
                return;
        case ROLE_EVENT_REQUEST_TIMEOUT:
                cause_set(ret, CAUSE_TIMER, NULL, "the peer did not answer in time");
                return;
        case ROLE_EVENT_PEER_LOST:
                snprintf(text, sizeof(text), "nothing from %s for dead_time", m->config->peer_name);
                cause_set(ret, CAUSE_PEER_LOST, NULL, text);
                return;
        case ROLE_EVENT_PEER_STATE:
        case ROLE_EVENT_PEER_TAKE:
        case ROLE_EVENT_PEER_TAKE_FAILED:
        case ROLE_EVENT_PEER_RELEASE:
        case ROLE_EVENT_PEER_RELEASE_REFUSED:
                snprintf(text, sizeof(text), "%s%s%s", role_event_to_string(event),
                         m->peer_reason[0] ? ": " : "", m->peer_reason);
                cause_set(ret, CAUSE_PEER, NULL, text);
                return;
        case ROLE_EVENT_CHECKS_CHANGED:
                first_failing_check(m, ret);
                return;
        case ROLE_EVENT_QUIESCE:
        case ROLE_EVENT_TAKEOVER:
                cause_set(ret, CAUSE_OPERATOR, NULL, role_event_to_string(event));
                return;
        default:
                /* Later steps of an operation (services started or stopped, the peer's answer,
                 * the drain) share the operation's cause. */
                if (m->machine.op != ROLE_OP_NONE)
                        *ret = m->op_cause;
                else
                        cause_set(ret, CAUSE_PEER, NULL, role_event_to_string(event));
                return;
        }
}

bool manager_in_maintenance(const Manager *m)
{
        return m->maintenance || (m->peer && peer_is_connected(m->peer) && m->peer_known &&
                                  (m->peer_flags & ROLE_FLAG_MAINTENANCE));
}

/* The webhook body: "text" is what chat tools (Slack, Mattermost, Rocket.Chat, Teams' incoming
 * webhooks) show; the other fields are the same facts for machines. */
static void manager_post_webhook(Manager *m, RoleState old_state, RoleState new_state,
                                 const char *reason, const Cause *cause, const char *line)
{
        _cleanup_(json_writer_done) JsonWriter w = {};
        _cleanup_free_ char *body = NULL, *text = NULL;
        usec_t now = now_usec(CLOCK_REALTIME);
        char when[64];
        time_t sec = (time_t)(now / USEC_PER_SEC);
        struct tm tm;
        int r;

        if (!m->config->webhook_url)
                return;
        if (!m->webhook && webhook_new(m->event, &m->webhook) < 0) {
                log_warning("Cannot set up the webhook client");
                return;
        }
        if (!gmtime_r(&sec, &tm) || strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                snprintf(when, sizeof(when), "%llu", (unsigned long long)sec);
        text = strdup_printf("vacataire %s: %s", m->config->node_name, line);
        if (!text || json_writer_open(&w) < 0)
                return (void)log_oom();
        json_begin_object(&w, NULL);
        json_add_string(&w, "text", text);
        json_add_string(&w, "node", m->config->node_name);
        json_add_string(&w, "peer", m->config->peer_name);
        json_add_string(&w, "state", role_state_to_string(new_state));
        json_add_string(&w, "previous_state", role_state_to_string(old_state));
        json_add_uint(&w, "epoch", m->machine.epoch);
        json_add_string(&w, "reason", reason);
        json_add_string(&w, "cause", cause_kind_to_string(cause->kind));
        if (cause->check[0])
                json_add_string(&w, "check", cause->check);
        else
                json_add_null(&w, "check");
        json_add_string(&w, "message", cause->message);
        json_add_bool(&w, "maintenance", manager_in_maintenance(m));
        json_add_string(&w, "time", when);
        json_end_object(&w);
        r = json_writer_finish(&w, &body);
        if (r < 0)
                return (void)log_oom();
        (void)webhook_post(m->webhook, m->config->webhook_url, m->config->webhook_timeout, body);
}

/* The journal fields, notify environment and webhook of one recorded event. */
static void manager_announce(Manager *m, const char *message_id, RoleState old_state,
                             RoleState new_state, const char *reason, const Cause *cause, int level,
                             const char *line)
{
        char id[64], state[64], previous[64], epoch[64], kind[64];
        char check[CAUSE_NAME_MAX + 32], message[CAUSE_MESSAGE_MAX + 32];
        char why[HISTORY_TEXT_MAX + 32];
        const char *cause_kind = cause_kind_to_string(cause->kind) ?: "unknown";

        snprintf(id, sizeof(id), "MESSAGE_ID=%s", message_id);
        snprintf(state, sizeof(state), "VACATAIRE_STATE=%s", role_state_to_string(new_state));
        snprintf(previous, sizeof(previous), "VACATAIRE_PREVIOUS_STATE=%s",
                 role_state_to_string(old_state));
        snprintf(epoch, sizeof(epoch), "VACATAIRE_EPOCH=%" PRIu64, m->machine.epoch);
        snprintf(kind, sizeof(kind), "VACATAIRE_CAUSE=%s", cause_kind);
        snprintf(check, sizeof(check), "VACATAIRE_CHECK=%s", cause->check);
        snprintf(message, sizeof(message), "VACATAIRE_MESSAGE=%s", cause->message);
        snprintf(why, sizeof(why), "VACATAIRE_REASON=%s", reason);
        log_struct(level, FIELDS(id, state, previous, epoch, kind, check, message, why), "%s",
                   line);

        if (m->config->notify) {
                const char *const extra[] = {kind, check, message, NULL};
                (void)notify_state_change_full(m->notifier, m->config->notify, m->config->node_name,
                                               role_state_to_string(new_state),
                                               role_state_to_string(old_state), m->machine.epoch,
                                               reason, extra);
        }
        manager_post_webhook(m, old_state, new_state, reason, cause, line);
}

static void manager_add_history(Manager *m, RoleState old_state, RoleState new_state,
                                const char *reason, const Cause *cause)
{
        HistoryEntry e = {
            .time = now_usec(CLOCK_REALTIME),
            .epoch = m->machine.epoch,
            .cause = *cause,
        };

        snprintf(e.from, sizeof(e.from), "%s", role_state_to_string(old_state));
        snprintf(e.to, sizeof(e.to), "%s", role_state_to_string(new_state));
        snprintf(e.reason, sizeof(e.reason), "%s", reason);
        history_add(m->history, &e);
}

void manager_record_change(Manager *m, RoleState old_state, RoleState new_state, const char *reason,
                           bool alert)
{
        char cause[CAUSE_NAME_MAX + CAUSE_MESSAGE_MAX + 32];
        _cleanup_free_ char *line = NULL;

        cause_to_string(&m->cause, cause, sizeof(cause));
        if (old_state != new_state) {
                m->state_changes++;
                m->state_since = now_usec(CLOCK_MONOTONIC);
                line = strdup_printf(
                    "%s -> %s (epoch %" PRIu64 "): %s [%s]", role_state_to_string(old_state),
                    role_state_to_string(new_state), m->machine.epoch, reason, cause);
        } else
                line = strdup_printf("%s: %s [%s]", role_state_to_string(new_state), reason, cause);
        if (!line) {
                log_oom();
                return;
        }
        manager_add_history(m, old_state, new_state, reason, &m->cause);
        manager_announce(m, MESSAGE_ID_STATE_CHANGE, old_state, new_state, reason, &m->cause,
                         alert ? LOG_WARNING : LOG_NOTICE, line);
}

int manager_set_maintenance(Manager *m, bool on, bool tell_peer, const Cause *cause)
{
        _cleanup_free_ char *path = maintenance_path(m), *line = NULL;
        const char *reason = on ? "maintenance on" : "maintenance off";
        RoleState state = m->machine.state;
        int r = 0;

        if (!path)
                return -ENOMEM;
        if (on) {
                /* No fsync on the loop (heartbeats must not wait for a slow disk): the mark
                 * survives an agent restart at once, and a power cut once the kernel writes it
                 * back (seconds). */
                _cleanup_close_ int fd = -1;
                (void)mkdir_p(m->config->state_dir, 0700);
                errno = 0;
                fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
                          0600);
                if (fd < 0 || write(fd, "on\n", 3) != 3)
                        r = errno ? -errno : -EIO;
        } else if (unlink(path) < 0 && errno != ENOENT)
                r = -errno;
        if (r < 0)
                return log_error_errno(r, "Cannot %s %s: %m", on ? "write" : "remove", path);

        if (on != m->maintenance) {
                char text[CAUSE_NAME_MAX + CAUSE_MESSAGE_MAX + 32];
                m->maintenance = on;
                line = strdup_printf("%s: %s [%s]", role_state_to_string(state),
                                     on ? "maintenance mode on: nothing is started, stopped or "
                                          "handed over; checks keep running"
                                        : "maintenance mode off",
                                     cause_to_string(cause, text, sizeof(text)));
                if (line) {
                        manager_add_history(m, state, state, reason, cause);
                        manager_announce(m, MESSAGE_ID_MAINTENANCE, state, state, reason, cause,
                                         LOG_NOTICE, line);
                }
        }
        if (tell_peer && m->peer) {
                r = peer_send(m->peer, FRAME_MAINTENANCE, 0, on ? "on" : "off");
                if (r < 0)
                        return 1; /* done here; the peer was not told */
        }
        return 0;
}

static bool restart_budget_left(const RestartLog *l, usec_t window, usec_t now)
{
        unsigned recent = 0;

        if (l->capacity == 0)
                return false;
        for (unsigned i = 0; i < l->n; i++)
                if (now - l->times[i] < window)
                        recent++;
        return recent < l->capacity;
}

void manager_ops_sync(Manager *m)
{
        if (restart_logs_sync(m) < 0)
                log_oom();
}

bool manager_restart_available(const Manager *m)
{
        usec_t now = now_usec(CLOCK_MONOTONIC);

        if (!m->services || m->restart_in_flight || service_set_busy(m->services) ||
            m->n_restart_logs != m->config->n_services)
                return false;
        for (size_t i = 0; i < m->n_restart_logs && i < service_set_count(m->services); i++)
                if (restart_budget_left(&m->restart_logs[i], m->config->services[i].restart_window,
                                        now))
                        return true;
        return false;
}

static void restart_reset_checks(Manager *m)
{
        /* The restarted services are judged afresh: fall counts again from the first run. */
        for (size_t i = 0; i < m->n_checks; i++)
                if (check_get_status(m->checks[i]) != CHECK_STATUS_DISABLED) {
                        (void)check_set_enabled(m->checks[i], false);
                        (void)check_set_enabled(m->checks[i], true);
                }
}

static void restart_started(ServiceSet *s, int result, const char *message, void *userdata)
{
        Manager *m = userdata;

        m->restart_in_flight = false;
        m->restart_which = mfree(m->restart_which);
        if (m->service_op_started > 0)
                histogram_observe(&m->service_start_duration,
                                  (double)(now_usec(CLOCK_MONOTONIC) - m->service_op_started) /
                                      USEC_PER_SEC);
        m->service_op_started = 0;
        if (result < 0)
                log_error("Restart in place failed: %s", message ?: "unknown error");
        else {
                free(m->service_died);
                m->service_died = NULL;
                (void)service_watch_arm(m->service_watch, s);
                restart_reset_checks(m);
        }
        manager_dispatch(m, result < 0 ? ROLE_EVENT_SERVICES_START_FAILED
                                       : ROLE_EVENT_SERVICES_STARTED);
}

static bool *restart_selection(Manager *m)
{
        bool *which = calloc(service_set_count(m->services) + 1, sizeof(bool));
        usec_t now = now_usec(CLOCK_MONOTONIC);

        if (!which)
                return NULL;
        for (size_t i = 0; i < m->n_restart_logs && i < service_set_count(m->services); i++)
                which[i] = restart_budget_left(&m->restart_logs[i],
                                               m->config->services[i].restart_window, now);
        return which;
}

static void restart_stopped(ServiceSet *s, int result, const char *message, void *userdata)
{
        Manager *m = userdata;
        int r;

        if (result < 0)
                log_warning("Restart in place: stopping: %s", message ?: "failed");
        /* The services the stop was for: their budget was spent when it began. */
        r = service_set_only(s, m->restart_which);
        if (r >= 0)
                r = service_set_start(s, restart_started, m);
        if (r < 0)
                restart_started(s, r, "cannot start the services again", m);
}

void manager_restart_services(Manager *m)
{
        bool *which = restart_selection(m);
        _cleanup_free_ char *names = NULL, *line = NULL;
        char cause[CAUSE_NAME_MAX + CAUSE_MESSAGE_MAX + 32];
        usec_t now = now_usec(CLOCK_MONOTONIC);
        int r;

        if (!which) {
                log_oom();
                manager_dispatch(m, ROLE_EVENT_SERVICES_START_FAILED);
                return;
        }
        m->service_op_started = now;
        for (size_t i = 0; i < m->n_restart_logs && i < service_set_count(m->services); i++) {
                RestartLog *l = &m->restart_logs[i];
                if (!which[i])
                        continue;
                l->times[l->next] = now;
                l->next = (l->next + 1) % l->capacity;
                if (l->n < l->capacity)
                        l->n++;
                l->total++;
                char *joined = strdup_printf(
                    "%s%s%s (%" PRIu64 " so far, %u per %g s)", names ?: "", names ? ", " : "",
                    service_set_name(m->services, i), l->total, l->capacity,
                    (double)m->config->services[i].restart_window / USEC_PER_SEC);
                free(names);
                names = joined;
        }
        line = strdup_printf("%s: restarting in place: %s [%s]",
                             role_state_to_string(m->machine.state), names ?: "?",
                             cause_to_string(&m->cause, cause, sizeof(cause)));
        manager_add_history(m, m->machine.state, m->machine.state, "restarting services in place",
                            &m->cause);
        manager_announce(m, MESSAGE_ID_RESTART, m->machine.state, m->machine.state,
                         "restarting services in place", &m->cause, LOG_WARNING,
                         line ?: "restarting services in place");

        free(m->restart_which);
        m->restart_which = which;
        m->restart_in_flight = true;
        r = service_set_only(m->services, which);
        if (r >= 0)
                r = service_set_stop(m->services, restart_stopped, m);
        if (r < 0) {
                log_error_errno(r, "Cannot restart services: %m");
                m->restart_in_flight = false;
                m->restart_which = mfree(m->restart_which);
                manager_dispatch(m, ROLE_EVENT_SERVICES_START_FAILED);
        }
}

int manager_format_health(Manager *m, char **ret)
{
        _cleanup_free_ char *buf = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        size_t size = 0, failing = 0;
        RoleState state = m->machine.state;
        bool peer_up = m->peer && peer_is_connected(m->peer) && m->peer_known;
        bool maintenance = manager_in_maintenance(m);
        usec_t seen = m->peer ? peer_last_seen(m->peer) : 0;
        const char *level = "OK";
        ArbiterStatus arbiter = {};
        bool arbiter_lost = false;

        if (m->arbiter) {
                arbiter_get_status(m->arbiter, &arbiter);
                /* Unreachable, or serving without the key (failsafe): one more fault away from
                 * a fence. */
                arbiter_lost =
                    !arbiter.reachable || (role_state_is_serving(state) && !arbiter.held_by_us);
        }

        for (size_t i = 0; i < m->n_checks; i++)
                if (check_get_status(m->checks[i]) == CHECK_STATUS_FAILING)
                        failing++;

        /* Critical: this node cannot serve, or neither node serves (as far as we can see). */
        if (state == ROLE_FAULT ||
            (!role_state_is_serving(state) && state != ROLE_STARTING && state != ROLE_STOPPING &&
             peer_up && !role_state_is_serving(m->peer_state) && m->peer_state != ROLE_STARTING &&
             m->peer_state != ROLE_STOPPING))
                level = "CRITICAL";
        else if (state == ROLE_DEGRADED || !peer_up || maintenance || failing > 0 || arbiter_lost ||
                 manager_state_save_error(m))
                level = "WARNING";

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        fprintf(f, "VACATAIRE %s - %s %s, epoch %" PRIu64, level, m->config->node_name,
                role_state_to_string(state), m->machine.epoch);
        if (peer_up)
                fprintf(f, ", peer %s %s", m->config->peer_name,
                        role_state_to_string(m->peer_state));
        else
                fprintf(f, ", peer %s unreachable", m->config->peer_name);
        if (streq(level, "CRITICAL") && state != ROLE_FAULT)
                fputs(", nobody serving", f);
        if (maintenance)
                fprintf(f, ", maintenance (%s)", m->maintenance ? "set here" : "set on the peer");
        if (arbiter_lost)
                fprintf(f, ", arbiter %s", !arbiter.reachable ? "unreachable" : "key not held");
        if (manager_state_save_error(m))
                fprintf(f, ", %s", manager_state_save_error(m));
        for (size_t i = 0, k = 0; i < m->n_checks; i++) {
                if (check_get_status(m->checks[i]) != CHECK_STATUS_FAILING)
                        continue;
                fprintf(f, "%s%s (%s)",
                        k++ ? ", " : "; failing: ", check_get_config(m->checks[i])->name,
                        check_get_last_message(m->checks[i]));
        }
        fprintf(f, " | epoch=%" PRIu64 " serving=%d peer_connected=%d", m->machine.epoch,
                role_state_is_serving(state) ? 1 : 0, peer_up ? 1 : 0);
        if (seen > 0)
                fprintf(f, " peer_heartbeat_age=%.3fs",
                        (double)(now_usec(CLOCK_MONOTONIC) - seen) / USEC_PER_SEC);
        fprintf(f, " checks_failing=%zu;;1;0;%zu maintenance=%d", failing, m->n_checks,
                maintenance ? 1 : 0);
        if (m->arbiter)
                fprintf(f, " arbiter_reachable=%d arbiter_key_held=%d", arbiter.reachable,
                        arbiter.held_by_us);
        fputc('\n', f);
        if (fflush(f) != 0 || ferror(f))
                return -ENOMEM;
        fclose(TAKE_PTR(f));
        *ret = TAKE_PTR(buf);
        return 0;
}
