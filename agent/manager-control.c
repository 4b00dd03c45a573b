/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* What vacataire-ctl asks of the manager, and the status it shows. */
#include "json.h"
#include "log.h"
#include "manager.h"

#define BOTH_MASTER_WARNING "both nodes are configured role \"master\": one should be \"standby\""

static const char *peer_state_string(const Manager *m)
{
        if (!m->peer || !peer_is_connected(m->peer) || !m->peer_known)
                return "unknown";
        return role_state_to_string(m->peer_state);
}

static int64_t peer_last_seen_ms(const Manager *m)
{
        usec_t seen = m->peer ? peer_last_seen(m->peer) : 0;

        if (seen == 0)
                return -1;
        return (int64_t)((now_usec(CLOCK_MONOTONIC) - seen) / USEC_PER_MSEC);
}

static void write_check_json(JsonWriter *w, const Check *c)
{
        const ConfigCheck *cfg = check_get_config(c);

        json_begin_object(w, NULL);
        json_add_string(w, "name", cfg->name);
        json_add_string(w, "plugin", cfg->plugin);
        json_add_string(w, "scope", check_scope_to_string(cfg->scope));
        json_add_string(w, "status", check_status_to_string(check_get_status(c)));
        json_add_uint(w, "consecutive_failures", check_get_consecutive_failures(c));
        json_add_string(w, "last_message", check_get_last_message(c));
        json_add_string(w, "perfdata", check_get_last_perfdata(c));
        json_add_double(w, "interval", (double)cfg->interval / USEC_PER_SEC);
        json_add_double(w, "timeout", (double)cfg->timeout / USEC_PER_SEC);
        if (check_get_last_run(c) > 0)
                json_add_int(
                    w, "last_run_ms",
                    (int64_t)((now_usec(CLOCK_MONOTONIC) - check_get_last_run(c)) / USEC_PER_MSEC));
        else
                json_add_null(w, "last_run_ms");
        json_end_object(w);
}

static int format_status_json(Manager *m, char **ret)
{
        _cleanup_(json_writer_done) JsonWriter w = {};
        int64_t seen = peer_last_seen_ms(m);
        int r;

        r = json_writer_open(&w);
        if (r < 0)
                return r;
        json_begin_object(&w, NULL);
        json_add_uint(&w, "schema_version", MANAGER_STATUS_SCHEMA_VERSION);
        json_add_string(&w, "node", m->config->node_name);
        json_add_string(&w, "role", home_role_to_string(m->config->role));
        json_add_string(&w, "state", role_state_to_string(m->machine.state));
        json_add_uint(&w, "epoch", m->machine.epoch);
        json_add_bool(&w, "handed_over", m->machine.handed_over);
        json_add_bool(&w, "failed_over", m->machine.failed_over);
        json_add_bool(&w, "last_resort", m->machine.last_resort);
        json_add_bool(&w, "stop_failed", m->machine.stop_failed);
        json_add_string(&w, "operation", role_op_to_string(m->machine.op));
        json_add_string(&w, "reason", m->last_reason);
        json_add_string(&w, "state_save_error", manager_state_save_error(m));
        json_begin_object(&w, "maintenance");
        json_add_bool(&w, "active", manager_in_maintenance(m));
        json_add_bool(&w, "local", m->maintenance);
        json_add_bool(&w, "peer", manager_in_maintenance(m) && !m->maintenance);
        json_end_object(&w);
        json_begin_object(&w, "peer");
        json_add_string(&w, "name", m->config->peer_name);
        json_add_string(&w, "address", m->config->peer_address_string);
        json_add_bool(&w, "connected", m->peer && peer_is_connected(m->peer));
        json_add_string(&w, "state", peer_state_string(m));
        if (seen >= 0)
                json_add_int(&w, "last_seen_ms", seen);
        else
                json_add_null(&w, "last_seen_ms");
        if (peer_problem(m->peer))
                json_add_string(&w, "problem", peer_problem(m->peer));
        else
                json_add_null(&w, "problem");
        json_end_object(&w);
        json_begin_array(&w, "warnings");
        if (m->both_master)
                json_add_string(&w, NULL, BOTH_MASTER_WARNING);
        json_end_array(&w);
        manager_arbiter_status(m, NULL, &w);
        json_begin_array(&w, "checks");
        for (size_t i = 0; i < m->n_checks; i++)
                write_check_json(&w, m->checks[i]);
        json_end_array(&w);
        json_begin_array(&w, "services");
        for (size_t i = 0; m->services && i < service_set_count(m->services); i++) {
                json_begin_object(&w, NULL);
                json_add_string(&w, "name", service_set_name(m->services, i));
                json_add_string(&w, "state",
                                service_state_to_string(service_set_state(m->services, i)));
                /* Only where restarts in place are configured: the design's {name, state}
                 * stays exactly that for every other service. */
                if (i < m->n_restart_logs && m->restart_logs[i].capacity > 0)
                        json_add_uint(&w, "restarts", m->restart_logs[i].total);
                json_end_object(&w);
        }
        json_end_array(&w);
        json_end_object(&w);
        return json_writer_finish(&w, ret);
}

static void print_checks_table(Manager *m, FILE *f)
{
        for (size_t i = 0; i < m->n_checks; i++) {
                const ConfigCheck *cfg = check_get_config(m->checks[i]);
                const char *msg = check_get_last_message(m->checks[i]);
                fprintf(f, "  %-16s %-10s %-7s every %-6gs %-9s %3u failures  %s\n", cfg->name,
                        cfg->plugin, check_scope_to_string(cfg->scope),
                        (double)cfg->interval / USEC_PER_SEC,
                        check_status_to_string(check_get_status(m->checks[i])),
                        check_get_consecutive_failures(m->checks[i]), msg ? msg : "");
        }
}

int manager_format_status(Manager *m, bool json, char **ret)
{
        _cleanup_free_ char *buf = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        size_t size = 0;
        int64_t seen = peer_last_seen_ms(m);

        if (json)
                return format_status_json(m, ret);
        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        fprintf(f, "node     %s (home %s): %s, epoch %llu%s\n", m->config->node_name,
                home_role_to_string(m->config->role), role_state_to_string(m->machine.state),
                (unsigned long long)m->machine.epoch,
                !m->machine.handed_over  ? ""
                : m->machine.failed_over ? ", handed over (its own check failed)"
                                         : ", handed over");
        if (m->machine.stop_failed)
                fprintf(f, "warning  services failed to stop, even killed: the peer is not told "
                           "to start ('vacataire-ctl clear' once they are down)\n");
        if (m->machine.last_resort)
                fprintf(f,
                        "note     serving as a last resort: no handover back to a failed-over "
                        "peer before %d s of good service or 'vacataire-ctl clear'\n",
                        (int)(ROLE_STABLE_USEC / USEC_PER_SEC));
        if (manager_in_maintenance(m))
                fprintf(f, "MAINTENANCE (%s): nothing is started, stopped or handed over\n",
                        m->maintenance ? "set on this node" : "set on the peer");
        if (m->machine.op != ROLE_OP_NONE)
                fprintf(f, "doing    %s\n", role_op_to_string(m->machine.op));
        if (m->last_reason)
                fprintf(f, "reason   %s\n", m->last_reason);
        if (manager_state_save_error(m))
                fprintf(f, "saving   FAILING: %s\n", manager_state_save_error(m));
        fprintf(f, "peer     %s (%s): %s, %s", m->config->peer_name, m->config->peer_address_string,
                m->peer && peer_is_connected(m->peer) ? "connected" : "not connected",
                peer_state_string(m));
        if (seen >= 0)
                fprintf(f, ", last seen %lld ms ago", (long long)seen);
        fputc('\n', f);
        if (peer_problem(m->peer))
                fprintf(f, "ERROR    %s\n", peer_problem(m->peer));
        if (m->both_master)
                fprintf(f, "warning  %s\n", BOTH_MASTER_WARNING);
        manager_arbiter_status(m, f, NULL);
        fprintf(f, "checks\n");
        print_checks_table(m, f);
        fprintf(f, "services\n");
        for (size_t i = 0; m->services && i < service_set_count(m->services); i++)
                fprintf(f, "  %-16s %s\n", service_set_name(m->services, i),
                        service_state_to_string(service_set_state(m->services, i)));
        if (fflush(f) != 0 || ferror(f))
                return -ENOMEM;
        fclose(TAKE_PTR(f));
        *ret = TAKE_PTR(buf);
        return 0;
}

int manager_format_checks(Manager *m, bool json, char **ret)
{
        _cleanup_free_ char *buf = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        size_t size = 0;

        if (json) {
                _cleanup_(json_writer_done) JsonWriter w = {};
                int r = json_writer_open(&w);
                if (r < 0)
                        return r;
                json_begin_array(&w, NULL);
                for (size_t i = 0; i < m->n_checks; i++)
                        write_check_json(&w, m->checks[i]);
                json_end_array(&w);
                return json_writer_finish(&w, ret);
        }
        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        print_checks_table(m, f);
        if (fflush(f) != 0 || ferror(f))
                return -ENOMEM;
        fclose(TAKE_PTR(f));
        *ret = TAKE_PTR(buf);
        return 0;
}

static void handle_maintenance(Manager *m, ControlRequest *req, const char *argument)
{
        bool on = streq_ptr(argument, "on");
        Cause cause;
        int r;

        if (!on && !streq_ptr(argument, "off")) {
                control_request_reply(req, false, "maintenance needs 'on' or 'off'");
                return;
        }
        cause_set(&cause, CAUSE_OPERATOR, NULL, on ? "maintenance on" : "maintenance off");
        log_notice("Operator requested maintenance %s", on ? "on" : "off");
        r = manager_set_maintenance(m, on, true, &cause);
        if (r < 0) {
                control_request_reply(req, false, "cannot save the maintenance mode");
                return;
        }
        /* Off: whatever waited (a start beside a passive peer, a handover) may happen now. */
        manager_update_peer_view_public(m);
        manager_dispatch_cause(m, ROLE_EVENT_CHECKS_CHANGED, &cause);
        if (r > 0)
                control_request_reply(req, true,
                                      on ? "maintenance on here; the peer is unreachable: run it "
                                           "there too\n"
                                         : "maintenance off here; the peer is unreachable: run it "
                                           "there too\n");
        else
                control_request_reply(req, true,
                                      on ? "maintenance on (both nodes)\n"
                                         : "maintenance off (both nodes)\n");
}

/* What a control_group member may ask: nothing that changes state. */
static bool command_is_read_only(const char *command)
{
        return streq(command, "status") || streq(command, "checks") || streq(command, "history") ||
               streq(command, "health");
}

static void handle_operator(Manager *m, ControlRequest *req, RoleEvent event)
{
        if (m->operator_request) {
                control_request_reply(req, false, "another quiesce or takeover is in progress");
                return;
        }
        log_notice("Operator requested %s", role_event_to_string(event));
        m->operator_request = req;
        manager_dispatch(m, event);
}

void manager_handle_control(ControlServer *s, ControlRequest *req, const char *command,
                            const char *argument, void *userdata)
{
        Manager *m = userdata;
        _cleanup_free_ char *body = NULL;
        bool json = argument && streq(argument, "json");
        int r;

        if (!command_is_read_only(command) && !control_request_is_privileged(req)) {
                control_request_reply(req, false,
                                      "permission denied: only root may change state; "
                                      "control_group members may run status, checks, history "
                                      "and health");
                return;
        }
        if (streq(command, "history") || streq(command, "health")) {
                r = streq(command, "history") ? history_format(m->history, json, &body)
                                              : manager_format_health(m, &body);
                if (r < 0)
                        control_request_reply(req, false, "out of memory");
                else
                        control_request_reply(req, true, body);
        } else if (streq(command, "maintenance"))
                handle_maintenance(m, req, argument);
        else if (streq(command, "status") || streq(command, "checks")) {
                r = streq(command, "status") ? manager_format_status(m, json, &body)
                                             : manager_format_checks(m, json, &body);
                if (r < 0)
                        control_request_reply(req, false, "out of memory");
                else
                        control_request_reply(req, true, body);
        } else if (streq(command, "quiesce"))
                handle_operator(m, req, ROLE_EVENT_QUIESCE);
        else if (streq(command, "takeover"))
                handle_operator(m, req, ROLE_EVENT_TAKEOVER);
        else if (streq(command, "clear"))
                handle_operator(m, req, ROLE_EVENT_CLEAR);
        else if (streq(command, "reload")) {
                /* Answered once the new checks have loaded, or the reload is refused. */
                if (m->started)
                        manager_reload(m, req);
                else
                        control_request_reply(req, false, "the agent is still starting");
        } else
                control_request_reply(req, false, "unknown command");
}
