/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "service-kill.h"

#include <signal.h>
#include <stdarg.h>

#include "command.h"
#include "log.h"
#include "scope.h"

/* Pause between two looks at a service that still runs. */
#define SERVICE_KILL_POLL (50 * USEC_PER_MSEC)
/* Longest a status command may take during a look. */
#define SERVICE_KILL_STATUS_TIMEOUT (2 * USEC_PER_SEC)

typedef enum ServiceKillStep {
        STEP_IDLE,
        STEP_KILL,   /* KillUnit, or the scopes' SIGKILL */
        STEP_STATUS, /* status command, or the unit's ActiveState */
        STEP_SCOPES, /* counting the scopes with processes left */
} ServiceKillStep;

struct ServiceKill {
        sd_event *event;
        UnitManager *units;
        char *name, *unit, *status_command, *pattern;
        pid_t pgid;
        usec_t timeout, deadline;
        bool killing;
        bool kill_sent;

        ServiceKillStep step;
        UnitJob *job;
        Command *command;
        sd_event_source *timer;
        bool running;   /* what the look found so far */
        bool unknown;   /* the look could not tell */
        char what[160]; /* what still runs, for the message */

        ServiceKillDone done;
        void *userdata;
};

static void service_kill_look(ServiceKill *k);

ServiceKill *service_kill_free(ServiceKill *k)
{
        if (!k)
                return NULL;
        unit_job_free(k->job);
        command_free(k->command);
        sd_event_source_disable_unref(k->timer);
        sd_event_unref(k->event);
        free(k->name);
        free(k->unit);
        free(k->status_command);
        free(k->pattern);
        free(k);
        return NULL;
}

static void service_kill_finish(ServiceKill *k, int result, const char *message)
{
        ServiceKillDone done = k->done;

        k->done = NULL;
        k->step = STEP_IDLE;
        if (done)
                done(k, result, message, k->userdata); /* may free k */
}

_printf_(2, 3) static void service_kill_found(ServiceKill *k, const char *format, ...)
{
        va_list ap;

        k->running = true;
        va_start(ap, format);
        vsnprintf(k->what, sizeof(k->what), format, ap);
        va_end(ap);
}

static void service_kill_send(ServiceKill *k);

static int service_kill_on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        ServiceKill *k = userdata;

        if (k->killing && !k->kill_sent)
                service_kill_send(k);
        else
                service_kill_look(k);
        return 0;
}

static int service_kill_schedule(ServiceKill *k, usec_t delay)
{
        int r;

        if (!k->timer) {
                r = sd_event_add_time_relative(k->event, &k->timer, CLOCK_MONOTONIC, delay,
                                               USEC_PER_MSEC, service_kill_on_timer, k);
                if (r >= 0)
                        (void)sd_event_source_set_description(k->timer, "service-kill");
                return r;
        }
        r = sd_event_source_set_time_relative(k->timer, delay);
        if (r >= 0)
                r = sd_event_source_set_enabled(k->timer, SD_EVENT_ONESHOT);
        return r;
}

/* SIGKILL to everything of the service we can name; the look that follows judges. */
static void service_kill_on_killed(UnitJob *j, int result, const char *message, void *userdata)
{
        ServiceKill *k = userdata;

        k->job = unit_job_free(j);
        if (result < 0)
                log_warning("%s: %s", k->name, message ?: "kill failed");
        k->step = STEP_IDLE;
        service_kill_look(k);
}

static void service_kill_send(ServiceKill *k)
{
        usec_t budget = k->deadline > now_usec(CLOCK_MONOTONIC)
                            ? k->deadline - now_usec(CLOCK_MONOTONIC)
                            : SERVICE_KILL_POLL;
        int r = -ENXIO;

        k->kill_sent = true;
        log_warning("%s: killing what is left of it (SIGKILL)", k->name);
        if (k->pgid > 1 && kill(-k->pgid, SIGKILL) < 0 && errno != ESRCH)
                log_warning_errno(errno, "%s: cannot kill process group %d: %m", k->name,
                                  (int)k->pgid);
        k->step = STEP_KILL;
        if (k->unit)
                r = unit_manager_kill_unit(k->units, k->unit, SIGKILL, budget,
                                           service_kill_on_killed, k, &k->job);
        else if (k->units)
                r = unit_manager_count_units(k->units, k->pattern, SIGKILL, budget,
                                             service_kill_on_killed, k, &k->job);
        if (r < 0) {
                if (k->unit || k->units)
                        log_warning_errno(r, "%s: cannot ask systemd to kill it: %m", k->name);
                k->step = STEP_IDLE;
                if (service_kill_schedule(k, 0) < 0)
                        service_kill_finish(k, -EIO, "cannot schedule a look at it");
        }
}

/* The look is over: stopped, or try again, or kill, or give up. */
static void service_kill_judge(ServiceKill *k)
{
        char message[256];

        k->step = STEP_IDLE;
        if (!k->running && !k->unknown) {
                if (k->killing)
                        log_notice("%s: verified stopped after the kill", k->name);
                return service_kill_finish(k, 0, NULL);
        }
        if (now_usec(CLOCK_MONOTONIC) + SERVICE_KILL_POLL < k->deadline) {
                if (service_kill_schedule(k, SERVICE_KILL_POLL) >= 0)
                        return;
        }
        if (!k->killing) {
                log_warning("%s: still running after its stop (%s)", k->name,
                            k->running ? k->what : "cannot tell");
                k->killing = true;
                k->deadline = now_usec(CLOCK_MONOTONIC) + k->timeout;
                return service_kill_send(k);
        }
        snprintf(message, sizeof(message), "not stopped even by SIGKILL: %s",
                 k->running ? k->what : "nothing can tell whether it still runs");
        service_kill_finish(k, -EIO, message);
}

static void service_kill_on_scopes(UnitJob *j, int result, const char *message, void *userdata)
{
        ServiceKill *k = userdata;

        k->job = unit_job_free(j);
        if (result < 0) {
                k->unknown = true;
                snprintf(k->what, sizeof(k->what), "%s", message ?: "cannot list its scopes");
        } else if (result > 0)
                service_kill_found(k, "%d scope%s with processes left (%s)", result,
                                   result == 1 ? "" : "s", k->pattern);
        service_kill_judge(k);
}

static void service_kill_look_scopes(ServiceKill *k)
{
        int r;

        if (!k->units)
                return service_kill_judge(k);
        k->step = STEP_SCOPES;
        r = unit_manager_count_units(k->units, k->pattern, 0, SERVICE_KILL_STATUS_TIMEOUT,
                                     service_kill_on_scopes, k, &k->job);
        if (r < 0) {
                k->unknown = true;
                snprintf(k->what, sizeof(k->what), "cannot list its scopes: %s", strerror(-r));
                service_kill_judge(k);
        }
}

static void service_kill_on_status(Command *c, int status, void *userdata)
{
        ServiceKill *k = userdata;
        char reason[COMMAND_STATUS_STRING_MAX];

        k->command = command_free(c);
        if (status == 0)
                service_kill_found(k, "its status command says it runs");
        else if (status == -ETIME) {
                k->unknown = true;
                snprintf(k->what, sizeof(k->what), "its status command %s",
                         command_status_to_string(status, reason, sizeof(reason)));
        }
        service_kill_look_scopes(k);
}

static void service_kill_on_unit_state(UnitJob *j, int result, const char *state, void *userdata)
{
        ServiceKill *k = userdata;

        k->job = unit_job_free(j);
        if (result < 0) {
                k->unknown = true;
                snprintf(k->what, sizeof(k->what), "%s", state ?: "cannot read its state");
        } else if (!streq(state, "inactive") && !streq(state, "failed"))
                service_kill_found(k, "%s is %s", k->unit, state);
        service_kill_judge(k);
}

static void service_kill_look(ServiceKill *k)
{
        usec_t timeout = SERVICE_KILL_STATUS_TIMEOUT;
        int r;

        k->running = k->unknown = false;
        k->what[0] = '\0';
        if (k->unit) {
                k->step = STEP_STATUS;
                r = unit_manager_get_active_state(k->units, k->unit, timeout,
                                                  service_kill_on_unit_state, k, &k->job);
                if (r < 0) {
                        k->unknown = true;
                        snprintf(k->what, sizeof(k->what), "cannot reach systemd: %s",
                                 strerror(-r));
                        service_kill_judge(k);
                }
                return;
        }
        if (k->status_command) {
                k->step = STEP_STATUS;
                r = command_run(k->event, k->status_command, NULL, timeout, service_kill_on_status,
                                k, &k->command);
                if (r >= 0)
                        return;
                k->unknown = true;
                snprintf(k->what, sizeof(k->what), "cannot run its status command: %s",
                         strerror(-r));
                return service_kill_look_scopes(k);
        }
        if (k->units)
                return service_kill_look_scopes(k);
        /* No status command and no systemd: only a process group we started can tell, and only
         * after we killed it; a stop command that succeeded is trusted. */
        if (k->killing && k->pgid > 1) {
                if (kill(-k->pgid, 0) == 0)
                        service_kill_found(k, "process group %d", (int)k->pgid);
        } else if (k->killing)
                /* Waiting would not change that. */
                return service_kill_finish(k, -EIO,
                                           "not verified: no status command, and no scope or "
                                           "process group known to kill");
        service_kill_judge(k);
}

int service_kill_start(sd_event *e, UnitManager *units, const ServiceKillTarget *t, bool kill,
                       usec_t timeout, ServiceKillDone done, void *userdata, ServiceKill **ret)
{
        _cleanup_(service_kill_freep) ServiceKill *k = NULL;
        int r;

        if (!e || !t || !t->name || !ret || (t->unit && !units))
                return -EINVAL;
        k = calloc(1, sizeof(ServiceKill));
        if (!k)
                return -ENOMEM;
        k->event = sd_event_ref(e);
        k->units = units;
        k->pgid = t->pgid;
        k->timeout = timeout;
        k->deadline = now_usec(CLOCK_MONOTONIC) + timeout;
        k->done = done;
        k->userdata = userdata;
        k->name = strdup(t->name);
        if (!k->name)
                return -ENOMEM;
        if (t->unit && !(k->unit = strdup(t->unit)))
                return -ENOMEM;
        if (t->status_command && !(k->status_command = strdup(t->status_command)))
                return -ENOMEM;
        if (!t->unit) {
                r = scope_unit_pattern(t->name, &k->pattern);
                if (r < 0)
                        return r;
        }

        k->killing = kill;
        r = service_kill_schedule(k, 0);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(k);
        return 0;
}
