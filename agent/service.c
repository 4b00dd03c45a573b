/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "service.h"

#include <stdarg.h>

#include "command.h"
#include "log.h"
#include "scope.h"
#include "service-kill.h"
#include "service-unit.h"

/* Pause between a failed start attempt and the next one. */
#define SERVICE_RETRY_PAUSE (200 * USEC_PER_MSEC)
/* Longest wait for systemd to put a start command into its scope (fail open after). */
#define SERVICE_SCOPE_TIMEOUT_MAX (5 * USEC_PER_SEC)
/* Longest the look after a stop, and the kill after a failed one, may take (each). */
#define SERVICE_KILL_TIMEOUT_MAX (5 * USEC_PER_SEC)

static const char *const service_state_table[_SERVICE_STATE_MAX] = {
    [SERVICE_STOPPED] = "stopped",   [SERVICE_STARTING] = "starting", [SERVICE_RUNNING] = "running",
    [SERVICE_STOPPING] = "stopping", [SERVICE_FAILED] = "failed",     [SERVICE_UNKNOWN] = "unknown",
};

DEFINE_STRING_TABLE_LOOKUP(service_state, ServiceState);

typedef struct Service {
        char *name;
        char *unit; /* systemd back end; else the commands below */
        char *start_command;
        char *stop_command;
        char *status_command;
        usec_t timeout;
        unsigned start_retries;
        ServiceState state;
        pid_t pgid; /* process group of the last start command this run (command back end) */
} Service;

typedef enum ServiceOperation {
        SERVICE_OPERATION_NONE,
        SERVICE_OPERATION_START,
        SERVICE_OPERATION_ROLLBACK, /* a start failed: stopping those it had started */
        SERVICE_OPERATION_STOP,
        SERVICE_OPERATION_PROBE,
} ServiceOperation;

struct ServiceSet {
        sd_event *event;
        Service *services;
        size_t n_services;
        SystemdBus systemd_bus;
        UnitManager *units; /* connected on first need: unit services, and scopes */
        bool scopes_unavailable_logged;

        ServiceOperation operation;
        size_t current;   /* the service being worked on; during stops, one past it */
        unsigned attempt; /* start attempts made on current */
        Command *command;
        ServiceKill *kill;       /* making sure current is down after its stop */
        char *stop_detail;       /* why current's stop command failed, while the kill runs */
        usec_t stop_timeout_cap; /* a fence's bound on each stop, or 0 */
        UnitJob *unit_job;
        UnitJob *scope_job; /* moving current's start command into its scope */
        sd_event_source *retry_source;
        sd_event_source *finish_source; /* done runs from the loop, never inside an API call */

        int result;
        char *message;        /* the first failure */
        size_t n_rolled_back; /* stopped again by a rollback */
        char *rollback_failure;
        size_t n_probe_stopped;
        size_t n_probe_running;

        ServiceSetDone done;
        void *userdata;
        bool *only; /* service_set_only(): the next start or stop skips the others */
};

static char *free_string(char *p)
{
        free(p);
        return NULL;
}

static void service_done(Service *svc)
{
        free(svc->name);
        free(svc->unit);
        free(svc->start_command);
        free(svc->stop_command);
        free(svc->status_command);
}

static int strdup_or_null(const char *s, char **ret)
{
        *ret = NULL;
        if (!s)
                return 0;
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

int service_set_new(sd_event *e, const Config *cfg, ServiceSet **ret)
{
        _cleanup_(service_set_freep) ServiceSet *s = NULL;

        if (!e || !cfg || !ret)
                return -EINVAL;

        s = calloc(1, sizeof(ServiceSet));
        if (!s)
                return -ENOMEM;
        s->event = sd_event_ref(e);
        s->systemd_bus = cfg->systemd_bus;

        /* A copy, so a configuration reload cannot pull strings out from under a running
         * operation. */
        if (cfg->n_services > 0) {
                s->services = calloc(cfg->n_services, sizeof(Service));
                if (!s->services)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < cfg->n_services; i++) {
                const ConfigService *c = &cfg->services[i];
                Service *svc = &s->services[i];

                s->n_services++;
                svc->timeout = c->timeout;
                svc->start_retries = c->start_retries;
                svc->state = SERVICE_UNKNOWN;
                if (strdup_or_null(c->name ?: c->unit, &svc->name) < 0 ||
                    strdup_or_null(c->unit, &svc->unit) < 0 ||
                    strdup_or_null(c->start, &svc->start_command) < 0 ||
                    strdup_or_null(c->stop, &svc->stop_command) < 0 ||
                    strdup_or_null(c->status, &svc->status_command) < 0)
                        return -ENOMEM;
                if (!svc->name)
                        return -EINVAL;
        }

        *ret = TAKE_PTR(s);
        return 0;
}

ServiceSet *service_set_free(ServiceSet *s)
{
        if (!s)
                return NULL;

        service_set_cancel(s);
        for (size_t i = 0; i < s->n_services; i++)
                service_done(&s->services[i]);
        free(s->services);
        free(s->only);
        unit_manager_free(s->units);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}

static void service_set_state_internal(Service *svc, ServiceState state, int level,
                                       const char *detail)
{
        char field[256];

        if (svc->state == state)
                return;
        svc->state = state;

        snprintf(field, sizeof(field), "VACATAIRE_SERVICE=%s", svc->name);
        if (detail)
                log_struct(level, FIELDS(field), "%s: %s", svc->name, detail);
        else
                log_struct(level, FIELDS(field), "%s: %s", svc->name,
                           service_state_to_string(state));
}

static void service_set_reset_operation(ServiceSet *s)
{
        s->command = command_free(s->command);
        s->kill = service_kill_free(s->kill);
        s->stop_detail = free_string(s->stop_detail);
        s->stop_timeout_cap = 0;
        s->unit_job = unit_job_free(s->unit_job);
        s->scope_job = unit_job_free(s->scope_job);
        s->retry_source = sd_event_source_disable_unref(s->retry_source);
        s->finish_source = sd_event_source_disable_unref(s->finish_source);
        s->message = free_string(s->message);
        s->rollback_failure = free_string(s->rollback_failure);
        s->operation = SERVICE_OPERATION_NONE;
        free(s->only);
        s->only = NULL;
        s->done = NULL;
        s->userdata = NULL;
}

static int service_set_begin(ServiceSet *s, ServiceOperation operation, ServiceSetDone done,
                             void *userdata)
{
        if (!s)
                return -EINVAL;
        if (service_set_busy(s))
                return -EBUSY;

        s->operation = operation;
        s->done = done;
        s->userdata = userdata;
        s->result = 0;
        s->attempt = 0;
        s->n_rolled_back = 0;
        s->n_probe_running = 0;
        s->n_probe_stopped = 0;
        return 0;
}

/* Keeps the first failure: that is the one the caller reports. */
_printf_(3, 4) static void service_set_fail(ServiceSet *s, int error, const char *format, ...)
{
        va_list ap;

        if (s->message)
                return;
        s->result = error;
        va_start(ap, format);
        if (vasprintf(&s->message, format, ap) < 0)
                s->message = NULL;
        va_end(ap);
}

static int service_set_on_finish(sd_event_source *source, void *userdata)
{
        ServiceSet *s = userdata;
        ServiceSetDone done = s->done;
        void *done_userdata = s->userdata;
        int result = s->result;
        _cleanup_free_ char *message = TAKE_PTR(s->message);

        /* Idle before done runs, so done may start the next operation or free the set. */
        service_set_reset_operation(s);
        if (done)
                done(s, result, result < 0 ? (message ?: "out of memory") : NULL, done_userdata);
        return 0;
}

static void service_set_finish(ServiceSet *s)
{
        int r;

        r = sd_event_add_defer(s->event, &s->finish_source, service_set_on_finish, s);
        if (r < 0) {
                log_error_errno(r, "Failed to schedule the end of a service operation: %m");
                service_set_on_finish(NULL, s);
        }
}

/* Back ends. One action (start, stop, status) on the current service, by command or by unit; its
 * outcome comes back to service_set_action_done(): 0 (for status: running), -ESRCH (status:
 * not running), -ETIME (timed out), or another -errno, with a reason. */

typedef enum ServiceAction {
        SERVICE_ACTION_START,
        SERVICE_ACTION_STOP,
        SERVICE_ACTION_STATUS
} ServiceAction;

static void service_set_action_done(ServiceSet *s, int result, const char *reason);

/* A fence bounds each stop more tightly than the service's own timeout. */
static usec_t service_set_timeout(const ServiceSet *s, const Service *svc, ServiceAction action)
{
        if (action == SERVICE_ACTION_STOP && s->stop_timeout_cap > 0 &&
            s->stop_timeout_cap < svc->timeout)
                return s->stop_timeout_cap;
        return svc->timeout;
}

static int service_set_connect(ServiceSet *s, char **ret_message)
{
        int r;

        *ret_message = NULL;
        if (!s->units) {
                r = unit_manager_new(s->event, s->systemd_bus, &s->units);
                if (r < 0)
                        return r;
        }
        return unit_manager_connect(s->units, ret_message);
}

static void service_set_on_command_done(Command *c, int status, void *userdata)
{
        ServiceSet *s = userdata;
        Service *svc = &s->services[s->current];
        char reason[128];

        s->command = command_free(c);
        s->scope_job = unit_job_free(s->scope_job);
        if (status == -ETIME)
                snprintf(reason, sizeof(reason), "timed out after %g s, process group killed",
                         (double)service_set_timeout(s, svc,
                                                     s->operation == SERVICE_OPERATION_START
                                                         ? SERVICE_ACTION_START
                                                         : SERVICE_ACTION_STOP) /
                             (double)USEC_PER_SEC);
        else
                command_status_to_string(status, reason, sizeof(reason));
        service_set_action_done(s, status == 0 ? 0 : status == -ETIME ? -ETIME : -EIO, reason);
}

static void service_set_on_scope_ready(UnitJob *j, int result, const char *message, void *userdata)
{
        ServiceSet *s = userdata;
        Service *svc = &s->services[s->current];

        if (result < 0)
                log_warning("%s: running the start command outside a scope: %s", svc->name,
                            message);
        else
                log_debug("%s: start command moved into %s", svc->name, unit_job_get_unit(j));
        s->scope_job = unit_job_free(j);
        command_release(s->command);
}

/* Whether start commands go into scopes now: under systemd and with its bus answering. */
static bool service_set_use_scopes(ServiceSet *s)
{
        _cleanup_free_ char *message = NULL;

        if (!scope_wanted())
                return false;
        if (service_set_connect(s, &message) >= 0)
                return true;
        if (!s->scopes_unavailable_logged) {
                log_warning("Running start commands without scopes: %s",
                            message ?: "cannot reach systemd");
                s->scopes_unavailable_logged = true;
        }
        return false;
}

static int service_set_run_command(ServiceSet *s, Service *svc, ServiceAction action,
                                   const char *shell_command)
{
        static const char *const names[] = {"start", "stop", "status"};
        _cleanup_free_ char *env_service = strdup_printf("VACATAIRE_SERVICE=%s", svc->name);
        _cleanup_free_ char *env_action = strdup_printf("VACATAIRE_ACTION=%s", names[action]);
        usec_t scope_timeout;
        int r;

        if (!env_service || !env_action)
                return -ENOMEM;
        char *const env[] = {env_service, env_action, NULL};

        if (action != SERVICE_ACTION_START || !service_set_use_scopes(s)) {
                r = command_run(s->event, shell_command, env, service_set_timeout(s, svc, action),
                                service_set_on_command_done, s, &s->command);
                /* Its own session: the group a failed stop kills, when there are no scopes. */
                if (r >= 0 && action == SERVICE_ACTION_START)
                        svc->pgid = command_get_pid(s->command);
                return r;
        }

        r = command_run_held(s->event, shell_command, env, svc->timeout,
                             service_set_on_command_done, s, &s->command);
        if (r < 0)
                return r;
        svc->pgid = command_get_pid(s->command);
        scope_timeout = svc->timeout / 2;
        if (scope_timeout == 0 || scope_timeout > SERVICE_SCOPE_TIMEOUT_MAX)
                scope_timeout = SERVICE_SCOPE_TIMEOUT_MAX;
        r = scope_start(s->units, svc->name, command_get_pid(s->command), scope_timeout,
                        service_set_on_scope_ready, s, &s->scope_job);
        if (r < 0) {
                log_warning_errno(r, "%s: running the start command outside a scope: %m",
                                  svc->name);
                command_release(s->command);
        }
        return 0;
}

static void service_set_on_unit_done(UnitJob *j, int result, const char *message, void *userdata)
{
        ServiceSet *s = userdata;

        s->unit_job = unit_job_free(j);
        service_set_action_done(s, result, message);
}

static void service_set_on_unit_state(UnitJob *j, int result, const char *state_or_message,
                                      void *userdata)
{
        ServiceSet *s = userdata;

        s->unit_job = unit_job_free(j);
        if (result < 0)
                service_set_action_done(s, result, state_or_message);
        else
                service_set_action_done(s,
                                        unit_active_state_is_running(state_or_message) ? 0 : -ESRCH,
                                        state_or_message);
}

static int service_set_run_unit(ServiceSet *s, Service *svc, ServiceAction action,
                                char **ret_message)
{
        int r;

        r = service_set_connect(s, ret_message);
        if (r < 0)
                return r;
        switch (action) {
        case SERVICE_ACTION_START:
                return unit_manager_start_unit(s->units, svc->unit, svc->timeout,
                                               service_set_on_unit_done, s, &s->unit_job);
        case SERVICE_ACTION_STOP:
                return unit_manager_stop_unit(s->units, svc->unit,
                                              service_set_timeout(s, svc, SERVICE_ACTION_STOP),
                                              service_set_on_unit_done, s, &s->unit_job);
        default:
                return unit_manager_get_active_state(s->units, svc->unit, svc->timeout,
                                                     service_set_on_unit_state, s, &s->unit_job);
        }
}

/* Starts action on the current service. On failure nothing runs and *ret_reason (free it) says
 * why. */
static int service_set_act(ServiceSet *s, ServiceAction action, char **ret_reason)
{
        Service *svc = &s->services[s->current];
        const char *command;
        int r;

        *ret_reason = NULL;
        if (svc->unit) {
                r = service_set_run_unit(s, svc, action, ret_reason);
                if (r < 0 && !*ret_reason)
                        *ret_reason = strdup_printf("cannot talk to systemd: %s", strerror(-r));
                return r;
        }

        command = action == SERVICE_ACTION_START  ? svc->start_command
                  : action == SERVICE_ACTION_STOP ? svc->stop_command
                                                  : svc->status_command;
        r = command ? service_set_run_command(s, svc, action, command) : -EINVAL;
        if (r < 0)
                *ret_reason = command ? strdup_printf("cannot run the command: %s", strerror(-r))
                                      : strdup("no command");
        return r;
}

/* "start failed: exit status 1" for commands; the unit layer's own words ("start job failed
 * (result: failed)"), naming the unit when the service has another name, for units. */
static const char *service_failure_detail(const Service *svc, const char *verb, const char *reason,
                                          char *buf, size_t size)
{
        if (!svc->unit)
                snprintf(buf, size, "%s failed: %s", verb, reason);
        else if (streq(svc->name, svc->unit))
                snprintf(buf, size, "%s", reason);
        else
                snprintf(buf, size, "%s: %s", svc->unit, reason);
        return buf;
}

/* Start, and the rollback after a failed one. */

static void service_set_start_next(ServiceSet *s);
static void service_set_rollback_next(ServiceSet *s);

static void service_set_start_failed(ServiceSet *s, int error, const char *detail)
{
        Service *svc = &s->services[s->current];

        service_set_state_internal(svc, SERVICE_FAILED, LOG_ERR, detail);
        service_set_fail(s, error, "%s: %s", svc->name, detail);
        s->operation = SERVICE_OPERATION_ROLLBACK;
        service_set_rollback_next(s);
}

static void service_set_start_attempt(ServiceSet *s);

static int service_set_on_retry(sd_event_source *source, uint64_t usec, void *userdata)
{
        ServiceSet *s = userdata;

        s->retry_source = sd_event_source_disable_unref(s->retry_source);
        service_set_start_attempt(s);
        return 0;
}

static void service_set_start_attempt_done(ServiceSet *s, int result, const char *reason)
{
        Service *svc = &s->services[s->current];
        char detail[384], failure[320], field[256];
        int r;

        if (result == 0) {
                service_set_state_internal(svc, SERVICE_RUNNING, LOG_INFO, NULL);
                s->current++;
                service_set_start_next(s);
                return;
        }

        if (s->attempt <= svc->start_retries) {
                r = sd_event_add_time_relative(s->event, &s->retry_source, CLOCK_MONOTONIC,
                                               SERVICE_RETRY_PAUSE, 0, service_set_on_retry, s);
                if (r >= 0) {
                        snprintf(field, sizeof(field), "VACATAIRE_SERVICE=%s", svc->name);
                        log_struct(LOG_WARNING, FIELDS(field),
                                   "%s: start attempt %u of %u failed: %s; retrying", svc->name,
                                   s->attempt, svc->start_retries + 1, reason);
                        return;
                }
        }
        service_failure_detail(svc, "start", reason, failure, sizeof(failure));
        snprintf(detail, sizeof(detail),
                 svc->unit ? "%s, after %u attempt%s" : "%s (after %u attempt%s)", failure,
                 s->attempt, s->attempt == 1 ? "" : "s");
        service_set_start_failed(s, -EIO, detail);
}

static void service_set_start_attempt(ServiceSet *s)
{
        _cleanup_free_ char *reason = NULL;
        Service *svc = &s->services[s->current];
        char detail[384];
        int r;

        s->attempt++;
        r = service_set_act(s, SERVICE_ACTION_START, &reason);
        if (r >= 0)
                return;
        /* systemd may be back by the next attempt; a command that cannot even run will not. */
        if (svc->unit) {
                service_set_start_attempt_done(s, r, reason ?: "cannot talk to systemd");
                return;
        }
        snprintf(detail, sizeof(detail), "start failed: %s", reason ?: "cannot run the command");
        service_set_start_failed(s, r, detail);
}

static void service_set_start_next(ServiceSet *s)
{
        Service *svc;

        if (s->current >= s->n_services) {
                service_set_finish(s);
                return;
        }

        svc = &s->services[s->current];
        s->attempt = 0;
        if (s->only && !s->only[s->current]) {
                s->current++;
                service_set_start_next(s);
                return;
        }
        if (!svc->unit && !svc->start_command) {
                service_set_start_failed(s, -EINVAL, "start failed: no start command");
                return;
        }
        service_set_state_internal(svc, SERVICE_STARTING, LOG_INFO, NULL);
        service_set_start_attempt(s);
}

int service_set_start(ServiceSet *s, ServiceSetDone done, void *userdata)
{
        int r;

        r = service_set_begin(s, SERVICE_OPERATION_START, done, userdata);
        if (r < 0)
                return r;
        s->current = 0;
        service_set_start_next(s);
        return 0;
}

/* After every stop, of a stop or of a rollback: only a verified stop counts. A stop that failed
 * (or could not even run) is followed by a kill; one that succeeded by a look, which kills too
 * when the service still runs. */

static void service_set_stop_verified(ServiceSet *s, int result, const char *message);

static void service_set_on_kill_done(ServiceKill *k, int result, const char *message,
                                     void *userdata)
{
        ServiceSet *s = userdata;
        _cleanup_free_ char *combined = NULL;

        s->kill = service_kill_free(k);
        if (result < 0 && s->stop_detail)
                combined = strdup_printf("%s; %s", s->stop_detail, message ?: "not verified");
        service_set_stop_verified(s, result, combined ?: message);
}

static void service_set_verify_stop(ServiceSet *s, int result, const char *reason)
{
        Service *svc = &s->services[s->current];
        ServiceKillTarget target = {
            .name = svc->name,
            .unit = svc->unit,
            .status_command = svc->status_command,
            .pgid = svc->pgid,
        };
        _cleanup_free_ char *message = NULL;
        UnitManager *units = NULL;
        usec_t timeout = service_set_timeout(s, svc, SERVICE_ACTION_STOP);
        char detail[384];
        int r;

        /* A unit's stop job that ended "done" means the unit is inactive. */
        if (result == 0 && svc->unit)
                return service_set_stop_verified(s, 0, NULL);
        s->stop_detail = free_string(s->stop_detail);
        if (result < 0) {
                service_failure_detail(svc, "stop", reason, detail, sizeof(detail));
                log_warning("%s: %s; making sure it is down", svc->name, detail);
                s->stop_detail = strdup(detail);
        }
        if (svc->unit) {
                if (service_set_connect(s, &message) >= 0)
                        units = s->units;
        } else if (service_set_use_scopes(s))
                units = s->units;
        if (timeout > SERVICE_KILL_TIMEOUT_MAX)
                timeout = SERVICE_KILL_TIMEOUT_MAX;
        r = -ENOTCONN;
        if (!svc->unit || units)
                r = service_kill_start(s->event, units, &target, result < 0, timeout,
                                       service_set_on_kill_done, s, &s->kill);
        if (r < 0) {
                _cleanup_free_ char *why = strdup_printf(
                    "%s%snot verified: %s", s->stop_detail ?: "", s->stop_detail ? "; " : "",
                    message ? "cannot reach systemd" : strerror(-r));
                service_set_stop_verified(s, -EIO, why);
        }
}

static void service_set_rollback_verified(ServiceSet *s, int result, const char *message)
{
        Service *svc = &s->services[s->current];

        if (result == 0) {
                service_set_state_internal(svc, SERVICE_STOPPED, LOG_INFO, NULL);
                s->n_rolled_back++;
        } else {
                service_set_state_internal(svc, SERVICE_FAILED, LOG_ERR, message);
                if (!s->rollback_failure)
                        s->rollback_failure = strdup_printf("%s: %s", svc->name, message);
        }
        service_set_rollback_next(s);
}

static void service_set_rollback_next(ServiceSet *s)
{
        char *message;
        int r;

        while (s->current > 0) {
                _cleanup_free_ char *reason = NULL;
                Service *svc = &s->services[--s->current];

                if (svc->state != SERVICE_RUNNING)
                        continue;
                service_set_state_internal(svc, SERVICE_STOPPING, LOG_INFO, NULL);
                r = (svc->unit || svc->stop_command)
                        ? service_set_act(s, SERVICE_ACTION_STOP, &reason)
                        : -EINVAL;
                if (r >= 0)
                        return;
                return service_set_verify_stop(s, r,
                                               reason
                                                   ?: ((svc->unit || svc->stop_command)
                                                           ? "cannot run the command"
                                                           : "no stop command"));
        }

        if (s->message && (s->n_rolled_back > 0 || s->rollback_failure)) {
                message = strdup_printf("%s; rolled back %zu service%s%s%s", s->message,
                                        s->n_rolled_back, s->n_rolled_back == 1 ? "" : "s",
                                        s->rollback_failure ? "; " : "", s->rollback_failure ?: "");
                if (message) {
                        free(s->message);
                        s->message = message;
                }
        }
        service_set_finish(s);
}

/* Stop: reverse order, carrying on past failures. */

static void service_set_stop_next(ServiceSet *s);

static void service_set_stop_verified(ServiceSet *s, int result, const char *message)
{
        Service *svc = &s->services[s->current];
        _cleanup_free_ char *stop_detail = TAKE_PTR(s->stop_detail);

        if (s->operation == SERVICE_OPERATION_ROLLBACK)
                return service_set_rollback_verified(s, result, message);
        if (result == 0) {
                service_set_state_internal(
                    svc, SERVICE_STOPPED, stop_detail ? LOG_WARNING : LOG_INFO,
                    stop_detail ? "stopped (verified after the kill)" : NULL);
        } else {
                service_set_state_internal(svc, SERVICE_FAILED, LOG_ERR, message);
                service_set_fail(s, -EIO, "%s: %s", svc->name, message ?: "stop failed");
        }
        service_set_stop_next(s);
}

static void service_set_stop_next(ServiceSet *s)
{
        int r;

        while (s->current > 0) {
                _cleanup_free_ char *reason = NULL;
                Service *svc = &s->services[--s->current];

                if (s->only && !s->only[s->current])
                        continue;
                service_set_state_internal(svc, SERVICE_STOPPING, LOG_INFO, NULL);
                r = (svc->unit || svc->stop_command)
                        ? service_set_act(s, SERVICE_ACTION_STOP, &reason)
                        : -EINVAL;
                if (r >= 0)
                        return;
                return service_set_verify_stop(s, r,
                                               reason
                                                   ?: ((svc->unit || svc->stop_command)
                                                           ? "cannot run the command"
                                                           : "no stop command"));
        }
        service_set_finish(s);
}

int service_set_stop(ServiceSet *s, ServiceSetDone done, void *userdata)
{
        int r;

        r = service_set_begin(s, SERVICE_OPERATION_STOP, done, userdata);
        if (r < 0)
                return r;
        s->current = s->n_services;
        service_set_stop_next(s);
        return 0;
}

int service_set_fence(ServiceSet *s, usec_t stop_timeout, ServiceSetDone done, void *userdata)
{
        int r;

        if (!s)
                return -EINVAL;
        if (service_set_busy(s)) {
                log_warning("Fencing: cancelling the service %s in progress",
                            s->operation == SERVICE_OPERATION_START ? "start" : "operation");
                service_set_cancel(s);
        }
        r = service_set_begin(s, SERVICE_OPERATION_STOP, done, userdata);
        if (r < 0)
                return r;
        s->stop_timeout_cap = stop_timeout;
        s->current = s->n_services;
        service_set_stop_next(s);
        return 0;
}

/* Probe. */

static void service_set_probe_next(ServiceSet *s);

static void service_set_probe_done(ServiceSet *s, int result, const char *reason)
{
        Service *svc = &s->services[s->current];
        char detail[384];

        if (result == 0) {
                service_set_state_internal(svc, SERVICE_RUNNING, LOG_INFO, NULL);
                s->n_probe_running++;
        } else if (svc->unit && result != -ESRCH) {
                /* Cannot tell: the caller trusts its saved state, as without a status command. */
                service_set_state_internal(svc, SERVICE_UNKNOWN, LOG_WARNING, reason);
                service_set_fail(s, result, "%s: %s", svc->name, reason);
                s->n_probe_running++;
        } else {
                if (result == -ETIME) {
                        snprintf(detail, sizeof(detail), "stopped (status command %s)", reason);
                        service_set_state_internal(svc, SERVICE_STOPPED, LOG_WARNING, detail);
                } else
                        service_set_state_internal(svc, SERVICE_STOPPED, LOG_INFO, NULL);
                s->n_probe_stopped++;
        }
        s->current++;
        service_set_probe_next(s);
}

static void service_set_probe_finish(ServiceSet *s)
{
        _cleanup_free_ char *names = NULL;

        /* An error already recorded wins; no stopped service means all run. */
        if (s->message || s->n_probe_stopped == 0) {
                service_set_finish(s);
                return;
        }
        if (s->n_probe_running == 0) {
                service_set_fail(s, -ESRCH, "no service is running");
                service_set_finish(s);
                return;
        }

        for (size_t i = 0; i < s->n_services; i++) {
                char *joined;

                if (s->services[i].state != SERVICE_STOPPED)
                        continue;
                joined =
                    strdup_printf("%s%s%s", names ?: "", names ? ", " : "", s->services[i].name);
                if (!joined)
                        break;
                free(names);
                names = joined;
        }
        service_set_fail(s, -EIO, "not running: %s", names ?: "some services");
        service_set_finish(s);
}

static void service_set_probe_next(ServiceSet *s)
{
        int r;

        for (; s->current < s->n_services; s->current++) {
                _cleanup_free_ char *reason = NULL;
                Service *svc = &s->services[s->current];

                if (!svc->unit && !svc->status_command) {
                        /* The caller trusts its saved state for this one. */
                        service_set_state_internal(svc, SERVICE_UNKNOWN, LOG_INFO, NULL);
                        s->n_probe_running++;
                        continue;
                }
                r = service_set_act(s, SERVICE_ACTION_STATUS, &reason);
                if (r >= 0)
                        return;
                if (svc->unit) {
                        service_set_state_internal(svc, SERVICE_UNKNOWN, LOG_WARNING, reason);
                        s->n_probe_running++;
                        service_set_fail(s, r, "%s: %s", svc->name, reason ?: strerror(-r));
                } else
                        service_set_fail(s, r, "%s: cannot run the status command: %s", svc->name,
                                         strerror(-r));
        }
        service_set_probe_finish(s);
}

int service_set_probe(ServiceSet *s, ServiceSetDone done, void *userdata)
{
        int r;

        r = service_set_begin(s, SERVICE_OPERATION_PROBE, done, userdata);
        if (r < 0)
                return r;
        s->current = 0;
        service_set_probe_next(s);
        return 0;
}

static void service_set_action_done(ServiceSet *s, int result, const char *reason)
{
        switch (s->operation) {
        case SERVICE_OPERATION_START:
                service_set_start_attempt_done(s, result, reason);
                break;
        case SERVICE_OPERATION_ROLLBACK:
        case SERVICE_OPERATION_STOP:
                service_set_verify_stop(s, result, reason);
                break;
        case SERVICE_OPERATION_PROBE:
                service_set_probe_done(s, result, reason);
                break;
        default:
                break;
        }
}

void service_set_cancel(ServiceSet *s)
{
        if (!s || !service_set_busy(s))
                return;

        /* The command is killed half-way: what it left behind is unknown. */
        for (size_t i = 0; i < s->n_services; i++)
                if (s->services[i].state == SERVICE_STARTING ||
                    s->services[i].state == SERVICE_STOPPING)
                        service_set_state_internal(&s->services[i], SERVICE_UNKNOWN, LOG_INFO,
                                                   "unknown (operation cancelled)");
        service_set_reset_operation(s);
}

bool service_set_busy(const ServiceSet *s)
{
        return s && s->operation != SERVICE_OPERATION_NONE;
}

int service_set_only(ServiceSet *s, const bool *which)
{
        if (service_set_busy(s))
                return -EBUSY;
        free(s->only);
        s->only = NULL;
        if (!which || s->n_services == 0)
                return 0;
        s->only = malloc(s->n_services * sizeof(bool));
        if (!s->only)
                return -ENOMEM;
        memcpy(s->only, which, s->n_services * sizeof(bool));
        return 0;
}

size_t service_set_count(const ServiceSet *s)
{
        return s ? s->n_services : 0;
}

const char *service_set_name(const ServiceSet *s, size_t i)
{
        if (!s || i >= s->n_services)
                return NULL;
        return s->services[i].name;
}

ServiceState service_set_state(const ServiceSet *s, size_t i)
{
        if (!s || i >= s->n_services)
                return (ServiceState)-EINVAL;
        return s->services[i].state;
}

const char *service_set_unit(const ServiceSet *s, size_t i)
{
        return i < s->n_services ? s->services[i].unit : NULL;
}

pid_t service_set_pgid(const ServiceSet *s, size_t i)
{
        return i < s->n_services ? s->services[i].pgid : 0;
}

UnitManager *service_set_units(const ServiceSet *s)
{
        return s->units;
}
