/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Stopping the agent: a stop hands the services over, a restart leaves them running.
 *
 * SIGTERM alone does not say which. Under systemd, the job queued for the agent's own unit does:
 * `systemctl stop` (and a shutdown) queue a "stop" job, `systemctl restart` a "restart" job, and
 * the agent asks for it (GetUnitByPID, Unit.Job, Job.JobType) before deciding. Without systemd,
 * or when no job is queued (`systemctl kill`, a plain kill), SIGTERM and SIGINT mean stop: an
 * agent going away for good must not leave running services beside a peer about to take over.
 * SIGUSR1 always means restart. */
#include <signal.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "manager.h"

/* Longest wait for systemd to say which job it runs for us. */
#define MANAGER_JOB_QUERY_TIMEOUT (2 * USEC_PER_SEC)
/* The longest a stop may spend handing over: below the unit's TimeoutStopSec (90 s). */
#define MANAGER_SHUTDOWN_TIMEOUT_MAX (80 * USEC_PER_SEC)

static bool job_type_is_restart(const char *type)
{
        return streq(type, "restart") || streq(type, "try-restart") ||
               streq(type, "reload-or-restart") || streq(type, "reload-or-try-restart");
}

static void manager_exit(Manager *m, const char *why)
{
        if (m->exiting)
                return;
        m->exiting = true;
        log_notice("Exiting: %s; services %s here", why,
                   role_state_is_serving(m->machine.state) ? "left running" : "not running");
        /* The last word to the peer: what we are, and that we are going (LEAVING or
         * RESTARTING in the flags). */
        if (m->peer)
                peer_send_heartbeat(m->peer);
        (void)sd_event_exit(m->event, 0);
}

/* Called after every role step once a stop was asked for: exit once nothing is in flight. */
void manager_shutdown_progress(Manager *m)
{
        if (!m->stop_requested || m->exiting || m->restart_requested)
                return;
        if (m->machine.op != ROLE_OP_NONE)
                return;
        if (!m->shutdown_dispatched) {
                m->shutdown_dispatched = true;
                manager_dispatch(m, ROLE_EVENT_SHUTDOWN);
                return; /* the dispatch calls back here */
        }
        if (m->machine.state == ROLE_STARTING || m->machine.state == ROLE_STOPPING)
                return;
        manager_exit(m, role_state_is_serving(m->machine.state)
                            ? "stopped (the services could not be handed over)"
                            : "stopped");
}

static int on_shutdown_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
        Manager *m = userdata;

        log_error("Stopping: the handover did not finish in time (%s in progress)",
                  role_op_to_string(m->machine.op));
        manager_exit(m, "stop timed out");
        return 0;
}

static usec_t manager_shutdown_timeout(const Manager *m)
{
        usec_t t = m->config->dead_time + 10 * USEC_PER_SEC;

        for (size_t i = 0; i < m->config->n_services; i++)
                t += m->config->services[i].timeout * (m->config->services[i].start_retries + 2);
        return t < MANAGER_SHUTDOWN_TIMEOUT_MAX ? t : MANAGER_SHUTDOWN_TIMEOUT_MAX;
}

static void manager_begin_stop(Manager *m, bool restart, const char *why)
{
        sd_notify(false, "STOPPING=1");
        if (restart) {
                m->restart_requested = true;
                m->machine.restarting = true;
                log_notice("%s: restarting; the services stay as they are (%s), the peer waits "
                           "for us",
                           why, role_state_is_serving(m->machine.state) ? "running" : "stopped");
                manager_update_peer_view(m);
                manager_exit(m, "restart");
                return;
        }
        m->stop_requested = true;
        log_notice("%s: stopping; %s", why,
                   role_state_is_serving(m->machine.state)
                       ? "handing the services to the peer if it can take them"
                       : "this node does not serve");
        if (sd_event_add_time_relative(m->event, &m->shutdown_timer, CLOCK_MONOTONIC,
                                       manager_shutdown_timeout(m), 0, on_shutdown_timeout, m) < 0)
                log_warning("Cannot bound the stop in time");
        manager_shutdown_progress(m);
}

static void on_job_type(UnitJob *j, int result, const char *type, void *userdata)
{
        Manager *m = userdata;
        char why[128];

        m->job_query = unit_job_free(j);
        if (result < 0) {
                log_warning("Cannot ask systemd why we are stopped (%s): taking it as a stop",
                            type ?: "no answer");
                return manager_begin_stop(m, false, "SIGTERM");
        }
        snprintf(why, sizeof(why), "SIGTERM, systemd job %s", *type ? type : "none");
        manager_begin_stop(m, job_type_is_restart(type), why);
}

static int on_terminate(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        Manager *m = userdata;
        const char *invocation = getenv("INVOCATION_ID");
        int sig = (int)si->ssi_signo;
        char why[32];
        int r;

        snprintf(why, sizeof(why), "SIG%s", sigabbrev_np(sig));
        if (m->stop_requested || m->restart_requested || m->job_query) {
                /* Asked twice: the operator wants it gone now. */
                log_warning("Received %s again", why);
                manager_exit(m, "signalled twice");
                return 0;
        }
        /* Before the role machine runs, there is nothing to hand over. */
        if (!m->started) {
                log_info("Received %s while starting; exiting", why);
                return sd_event_exit(m->event, 0);
        }
        if (sig == SIGUSR1) {
                manager_begin_stop(m, true, why);
                return 0;
        }
        if (sig == SIGTERM && invocation && *invocation) {
                if (!m->self_units)
                        (void)unit_manager_new(m->event, m->config->systemd_bus, &m->self_units);
                r = m->self_units ? unit_manager_get_job_type_of_pid(m->self_units, getpid(),
                                                                     MANAGER_JOB_QUERY_TIMEOUT,
                                                                     on_job_type, m, &m->job_query)
                                  : -ENOMEM;
                if (r >= 0)
                        return 0;
                log_warning_errno(r, "Cannot ask systemd why we are stopped (%m): taking it as a "
                                     "stop");
        }
        manager_begin_stop(m, false, why);
        return 0;
}

/* The peer's agent said it restarts: its services stay up, so its loss is not a reason to take
 * over until it has had init_dead to come back. */
static int on_restart_hold_over(sd_event_source *s, uint64_t usec, void *userdata)
{
        Manager *m = userdata;

        if (m->peer && peer_is_connected(m->peer))
                return 0;
        log_warning("peer %s did not come back within init_dead after restarting its agent",
                    m->config->peer_name);
        m->peer_flags &= (uint8_t)~ROLE_FLAGS_RESTARTING;
        manager_dispatch(m, ROLE_EVENT_PEER_LOST);
        return 0;
}

void manager_peer_lost_hold(Manager *m)
{
        if (!role_flags_restarting(m->peer_flags) || !role_state_is_serving(m->peer_state))
                return;
        m->restart_hold = sd_event_source_disable_unref(m->restart_hold);
        if (sd_event_add_time_relative(m->event, &m->restart_hold, CLOCK_MONOTONIC,
                                       m->config->init_dead, 0, on_restart_hold_over, m) < 0) {
                log_warning("Cannot time the wait for the restarting peer: not waiting");
                m->peer_flags &= (uint8_t)~ROLE_FLAGS_RESTARTING;
        }
}

int manager_stop_setup(Manager *m)
{
        int r;

        r = sd_event_add_signal(m->event, &m->sigterm, SIGTERM, on_terminate, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, &m->sigint, SIGINT, on_terminate, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, &m->sigusr1, SIGUSR1, on_terminate, m);
        return r;
}

void manager_stop_free(Manager *m)
{
        m->job_query = unit_job_free(m->job_query);
        m->self_units = unit_manager_free(m->self_units);
        m->shutdown_timer = sd_event_source_disable_unref(m->shutdown_timer);
        m->restart_hold = sd_event_source_disable_unref(m->restart_hold);
        m->sigusr1 = sd_event_source_disable_unref(m->sigusr1);
}
