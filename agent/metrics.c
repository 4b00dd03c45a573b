/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* /metrics on the HTTP health listener: the Prometheus text exposition format (version 0.0.4). */
#include <inttypes.h>

#include "arbiter.h"
#include "manager.h"

/* Label values are escaped as the format asks: backslash, double quote, newline. */
static void put_label(FILE *f, const char *s)
{
        for (; s && *s; s++) {
                if (*s == '\\' || *s == '"')
                        fputc('\\', f);
                if (*s == '\n')
                        fputs("\\n", f);
                else
                        fputc(*s, f);
        }
}

static void header(FILE *f, const char *name, const char *type, const char *help)
{
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void write_identity(Manager *m, FILE *f)
{
        header(f, "vacataire_info", "gauge", "This agent: node, peer and home role (always 1).");
        fputs("vacataire_info{node=\"", f);
        put_label(f, m->config->node_name);
        fputs("\",peer=\"", f);
        put_label(f, m->config->peer_name);
        fprintf(f, "\",role=\"%s\",version=\"%s\"} 1\n", home_role_to_string(m->config->role),
                VACATAIRE_VERSION);

        header(f, "vacataire_state", "gauge", "Role state of this node (1 for the current one).");
        for (RoleState s = 0; s < _ROLE_STATE_MAX; s++)
                fprintf(f, "vacataire_state{state=\"%s\"} %d\n", role_state_to_string(s),
                        m->machine.state == s);
        header(f, "vacataire_serving", "gauge", "1 while this node serves (active or degraded).");
        fprintf(f, "vacataire_serving %d\n", role_state_is_serving(m->machine.state));
        header(f, "vacataire_state_seconds", "gauge", "Seconds since the last state change.");
        fprintf(f, "vacataire_state_seconds %.3f\n",
                (double)(now_usec(CLOCK_MONOTONIC) - m->state_since) / USEC_PER_SEC);
        header(f, "vacataire_state_changes_total", "counter",
               "State changes since the agent started.");
        fprintf(f, "vacataire_state_changes_total %" PRIu64 "\n", m->state_changes);
        header(f, "vacataire_epoch", "gauge", "Epoch: raised by every takeover.");
        fprintf(f, "vacataire_epoch %" PRIu64 "\n", m->machine.epoch);
        header(f, "vacataire_handed_over", "gauge",
               "1 if this node gave the services away and waits for an operator.");
        fprintf(f, "vacataire_handed_over %d\n", m->machine.handed_over);
        header(f, "vacataire_maintenance", "gauge",
               "1 in maintenance mode (set on this node or on the peer).");
        fprintf(f, "vacataire_maintenance %d\n", manager_in_maintenance(m));
        header(f, "vacataire_state_save_failing", "gauge",
               "1 while the role state cannot be saved (a restart would believe an older one).");
        fprintf(f, "vacataire_state_save_failing %d\n", manager_state_save_error(m) ? 1 : 0);
        header(f, "vacataire_failovers_total", "counter",
               "Takeovers by this node (services started), by cause.");
        for (CauseKind k = 0; k < _CAUSE_KIND_MAX; k++)
                fprintf(f, "vacataire_failovers_total{cause=\"%s\"} %" PRIu64 "\n",
                        cause_kind_to_string(k), m->failovers[k]);
}

static void write_peer(Manager *m, FILE *f)
{
        bool connected = m->peer && peer_is_connected(m->peer) && m->peer_known;
        usec_t seen = m->peer ? peer_last_seen(m->peer) : 0;

        header(f, "vacataire_peer_connected", "gauge",
               "1 while the peer link is authenticated and alive.");
        fprintf(f, "vacataire_peer_connected %d\n", connected);
        header(f, "vacataire_peer_state", "gauge",
               "The peer's role state as it last said (1 for that one; all 0 if unknown).");
        for (RoleState s = 0; s < _ROLE_STATE_MAX; s++)
                fprintf(f, "vacataire_peer_state{state=\"%s\"} %d\n", role_state_to_string(s),
                        connected && m->peer_state == s);
        header(f, "vacataire_peer_epoch", "gauge", "The peer's epoch as it last said.");
        fprintf(f, "vacataire_peer_epoch %" PRIu64 "\n", m->peer_epoch);
        if (seen > 0) {
                header(f, "vacataire_peer_heartbeat_age_seconds", "gauge",
                       "Seconds since the last valid frame from the peer.");
                fprintf(f, "vacataire_peer_heartbeat_age_seconds %.3f\n",
                        (double)(now_usec(CLOCK_MONOTONIC) - seen) / USEC_PER_SEC);
        }
}

static void check_labels(FILE *f, const Check *c)
{
        fputs("check=\"", f);
        put_label(f, check_get_config(c)->name);
        fputc('"', f);
}

static void write_checks(Manager *m, FILE *f)
{
        if (m->n_checks == 0)
                return;
        header(f, "vacataire_check_status", "gauge",
               "Verdict of each check (1 for the current one).");
        for (size_t i = 0; i < m->n_checks; i++)
                for (CheckStatus s = 0; s < _CHECK_STATUS_MAX; s++) {
                        fputs("vacataire_check_status{", f);
                        check_labels(f, m->checks[i]);
                        fprintf(f, ",status=\"%s\"} %d\n", check_status_to_string(s),
                                check_get_status(m->checks[i]) == s);
                }
        header(f, "vacataire_check_consecutive_failures", "gauge",
               "Failed runs in a row of each check.");
        for (size_t i = 0; i < m->n_checks; i++) {
                fputs("vacataire_check_consecutive_failures{", f);
                check_labels(f, m->checks[i]);
                fprintf(f, "} %u\n", check_get_consecutive_failures(m->checks[i]));
        }
        header(f, "vacataire_check_runs_total", "counter", "Runs of each check.");
        for (size_t i = 0; i < m->n_checks; i++) {
                fputs("vacataire_check_runs_total{", f);
                check_labels(f, m->checks[i]);
                fprintf(f, "} %" PRIu64 "\n", check_get_stats(m->checks[i])->runs);
        }
        header(f, "vacataire_check_failures_total", "counter",
               "Failed runs of each check (critical, unknown, timed out or crashed).");
        for (size_t i = 0; i < m->n_checks; i++) {
                fputs("vacataire_check_failures_total{", f);
                check_labels(f, m->checks[i]);
                fprintf(f, "} %" PRIu64 "\n", check_get_stats(m->checks[i])->failures);
        }
        header(f, "vacataire_check_duration_seconds", "histogram", "How long each run took.");
        for (size_t i = 0; i < m->n_checks; i++) {
                _cleanup_free_ char *labels = NULL;
                size_t size = 0;
                FILE *l = open_memstream(&labels, &size);
                if (!l)
                        continue;
                check_labels(l, m->checks[i]);
                if (fclose(l) == 0)
                        histogram_write(f, "vacataire_check_duration_seconds", labels,
                                        &check_get_stats(m->checks[i])->duration);
        }
}

static void write_services(Manager *m, FILE *f)
{
        size_t n = m->services ? service_set_count(m->services) : 0;

        if (n > 0) {
                header(f, "vacataire_service_running", "gauge",
                       "1 if the service runs, as this agent last saw it.");
                for (size_t i = 0; i < n; i++) {
                        fputs("vacataire_service_running{service=\"", f);
                        put_label(f, service_set_name(m->services, i));
                        fprintf(f, "\"} %d\n",
                                service_set_state(m->services, i) == SERVICE_RUNNING);
                }
                header(f, "vacataire_service_restarts_total", "counter",
                       "Restarts in place of each service (restarts, restart_window).");
                for (size_t i = 0; i < n; i++) {
                        fputs("vacataire_service_restarts_total{service=\"", f);
                        put_label(f, service_set_name(m->services, i));
                        fprintf(f, "\"} %" PRIu64 "\n",
                                i < m->n_restart_logs ? m->restart_logs[i].total : 0);
                }
        }
        header(f, "vacataire_services_start_duration_seconds", "histogram",
               "How long starting the services took (all of them, in order).");
        histogram_write(f, "vacataire_services_start_duration_seconds", "",
                        &m->service_start_duration);
        header(f, "vacataire_services_stop_duration_seconds", "histogram",
               "How long stopping the services took.");
        histogram_write(f, "vacataire_services_stop_duration_seconds", "",
                        &m->service_stop_duration);
}

static void write_arbiter(Manager *m, FILE *f)
{
        ArbiterStatus st;

        if (!m->arbiter)
                return;
        arbiter_get_status(m->arbiter, &st);
        header(f, "vacataire_arbiter_reachable", "gauge", "1 while etcd answers.");
        fprintf(f, "vacataire_arbiter_reachable %d\n", st.reachable);
        header(f, "vacataire_arbiter_key_held", "gauge",
               "1 while this node holds the arbiter key on a lease confirmed alive.");
        fprintf(f, "vacataire_arbiter_key_held %d\n", st.held_by_us);
        header(f, "vacataire_arbiter_phase", "gauge",
               "What this node does with the key (1 for the current phase).");
        for (ArbiterPhase p = 0; p < _ARBITER_PHASE_MAX; p++)
                fprintf(f, "vacataire_arbiter_phase{phase=\"%s\"} %d\n", arbiter_phase_to_string(p),
                        st.phase == p);
        if (st.lease_remaining_ms >= 0) {
                header(f, "vacataire_arbiter_lease_remaining_seconds", "gauge",
                       "Seconds left on the key holder's lease, as last seen.");
                fprintf(f, "vacataire_arbiter_lease_remaining_seconds %.3f\n",
                        (double)st.lease_remaining_ms / 1000);
        }
}

int manager_format_metrics(Manager *m, char **ret)
{
        _cleanup_free_ char *buf = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        size_t size = 0;

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        write_identity(m, f);
        write_peer(m, f);
        write_checks(m, f);
        write_services(m, f);
        write_arbiter(m, f);
        if (fflush(f) != 0 || ferror(f))
                return -ENOMEM;
        fclose(TAKE_PTR(f));
        *ret = TAKE_PTR(buf);
        return 0;
}
