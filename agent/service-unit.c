/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "service-unit.h"

#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>

#include "log.h"
#include "service-unit-internal.h"

static const char *const unit_job_kind_table[_UNIT_JOB_KIND_MAX] = {
    [UNIT_JOB_START] = "start",         [UNIT_JOB_STOP] = "stop", [UNIT_JOB_SCOPE] = "start",
    [UNIT_JOB_ACTIVE_STATE] = "status", [UNIT_JOB_KILL] = "kill", [UNIT_JOB_COUNT] = "list",
    [UNIT_JOB_OWN_JOB] = "job query",
};

static const char *unit_job_kind_to_string(UnitJobKind k)
{
        return (size_t)k < ELEMENTSOF(unit_job_kind_table) ? unit_job_kind_table[k] : "unknown";
}

static void removed_job_clear(RemovedJob *r)
{
        free(r->path);
        free(r->result);
        *r = (RemovedJob){};
}

bool unit_active_state_is_running(const char *state)
{
        return state && (streq(state, "active") || streq(state, "reloading"));
}

int unit_manager_new(sd_event *e, SystemdBus bus, UnitManager **ret)
{
        UnitManager *m;

        if (!e || !ret || (unsigned)bus >= _SYSTEMD_BUS_MAX)
                return -EINVAL;
        m = calloc(1, sizeof(UnitManager));
        if (!m)
                return -ENOMEM;
        m->event = sd_event_ref(e);
        m->which = bus;
        *ret = m;
        return 0;
}

static void unit_job_unlink(UnitJob *j)
{
        UnitManager *m = j->manager;

        if (!m)
                return;
        if (j->prev)
                j->prev->next = j->next;
        else
                m->jobs = j->next;
        if (j->next)
                j->next->prev = j->prev;
        j->prev = j->next = NULL;
        j->manager = NULL;
        j->call_slot = sd_bus_slot_unref(j->call_slot);
        j->timer = sd_event_source_disable_unref(j->timer);
}

static void unit_manager_disconnect(UnitManager *m)
{
        m->job_removed_slot = sd_bus_slot_unref(m->job_removed_slot);
        m->disconnected_slot = sd_bus_slot_unref(m->disconnected_slot);
        m->subscribe_slot = sd_bus_slot_unref(m->subscribe_slot);
        m->bus = sd_bus_flush_close_unref(m->bus);
        for (size_t i = 0; i < RECENTLY_REMOVED_MAX; i++)
                removed_job_clear(&m->recently_removed[i]);
}

UnitManager *unit_manager_free(UnitManager *m)
{
        if (!m)
                return NULL;
        while (m->jobs)
                unit_job_unlink(m->jobs);
        unit_manager_disconnect(m);
        sd_event_unref(m->event);
        free(m);
        return NULL;
}

sd_bus *unit_manager_get_bus(const UnitManager *m)
{
        return m && m->bus && sd_bus_is_open(m->bus) > 0 ? m->bus : NULL;
}

const char *unit_manager_bus_name(const UnitManager *m)
{
        return m && m->which == SYSTEMD_BUS_USER ? "user bus" : "system bus";
}

void unit_job_complete(UnitJob *j, int result, const char *text)
{
        unit_job_unlink(j);
        if (j->kind == UNIT_JOB_ACTIVE_STATE || j->kind == UNIT_JOB_OWN_JOB) {
                if (j->state_done)
                        j->state_done(j, result, text, j->userdata);
        } else if (j->done)
                j->done(j, result, result < 0 ? text : NULL, j->userdata);
}

void unit_job_fail(UnitJob *j, int error, const char *format, ...)
{
        _cleanup_free_ char *message = NULL;
        va_list ap;

        va_start(ap, format);
        if (vasprintf(&message, format, ap) < 0)
                message = NULL;
        va_end(ap);
        unit_job_complete(j, error, message ?: "out of memory");
}

void unit_job_fail_bus(UnitJob *j, const sd_bus_error *e, const char *what)
{
        unit_job_fail(j, -sd_bus_error_get_errno(e) ?: -EIO, "%s: %s", what, e->message ?: e->name);
}

static void unit_job_finish_with_result(UnitJob *j, const char *result)
{
        if (streq(result, "done"))
                unit_job_complete(j, 0, NULL);
        else
                unit_job_fail(j, -EIO, "%s job failed (result: %s)",
                              unit_job_kind_to_string(j->kind), result);
}

static int on_job_removed(sd_bus_message *message, void *userdata, sd_bus_error *error)
{
        UnitManager *m = userdata;
        const char *path, *unit, *result;
        bool reply_pending = false;
        RemovedJob *slot;
        uint32_t id;
        int r;

        r = sd_bus_message_read(message, "uoss", &id, &path, &unit, &result);
        if (r < 0) {
                log_debug_errno(r, "Ignoring a malformed JobRemoved signal: %m");
                return 0;
        }

        for (UnitJob *j = m->jobs; j; j = j->next) {
                if (j->job_path && streq(j->job_path, path)) {
                        log_debug("%s: %s job %" PRIu32 " removed: %s", unit,
                                  unit_job_kind_to_string(j->kind), id, result);
                        unit_job_finish_with_result(j, result); /* j may be gone now */
                        return 0;
                }
                if (!j->job_path && (j->kind == UNIT_JOB_START || j->kind == UNIT_JOB_STOP ||
                                     j->kind == UNIT_JOB_SCOPE))
                        reply_pending = true;
        }
        if (!reply_pending)
                return 0;

        slot = &m->recently_removed[m->recently_removed_next];
        m->recently_removed_next = (m->recently_removed_next + 1) % RECENTLY_REMOVED_MAX;
        removed_job_clear(slot);
        slot->path = strdup(path);
        slot->result = strdup(result);
        return 0;
}

static int on_disconnected(sd_bus_message *message, void *userdata, sd_bus_error *error)
{
        UnitManager *m = userdata;

        log_warning("Lost the connection to systemd on the %s", unit_manager_bus_name(m));
        /* Calls in flight get their error replies from sd-bus; jobs waiting for a JobRemoved
         * would only wait for their timeout. A done callback may free other jobs: rescan. */
        for (;;) {
                UnitJob *j = m->jobs;

                while (j && !j->job_path)
                        j = j->next;
                if (!j)
                        return 0;
                unit_job_fail(j, -ECONNRESET, "%s job lost: connection to systemd closed",
                              unit_job_kind_to_string(j->kind));
        }
}

static int on_subscribed(sd_bus_message *message, void *userdata, sd_bus_error *error)
{
        UnitManager *m = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(message);

        m->subscribe_slot = sd_bus_slot_unref(m->subscribe_slot);
        if (e)
                log_warning("Cannot subscribe to systemd's job signals on the %s: %s; unit jobs "
                            "will end at their timeouts",
                            unit_manager_bus_name(m), e->message ?: e->name);
        return 0;
}

static int on_match_installed(sd_bus_message *message, void *userdata, sd_bus_error *error)
{
        UnitManager *m = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(message);

        if (e)
                log_warning("Cannot watch systemd's JobRemoved signal on the %s: %s",
                            unit_manager_bus_name(m), e->message ?: e->name);
        return 0;
}

static int unit_manager_open(UnitManager *m)
{
        int r;

        if (m->which == SYSTEMD_BUS_USER)
                r = sd_bus_open_user_with_description(&m->bus, "vacataire-units");
        else
                r = sd_bus_open_system_with_description(&m->bus, "vacataire-units");
        if (r < 0)
                return r;
        r = sd_bus_attach_event(m->bus, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return r;

        /* Queued before any StartUnit on this connection, and the bus and systemd handle one
         * sender's messages in order: no JobRemoved of ours can slip past the match. */
        r = sd_bus_match_signal_async(m->bus, &m->job_removed_slot, SYSTEMD_DESTINATION,
                                      SYSTEMD_PATH, SYSTEMD_MANAGER, "JobRemoved", on_job_removed,
                                      on_match_installed, m);
        if (r < 0)
                return r;
        r = sd_bus_match_signal_async(m->bus, &m->disconnected_slot, NULL,
                                      "/org/freedesktop/DBus/Local", "org.freedesktop.DBus.Local",
                                      "Disconnected", on_disconnected, NULL, m);
        if (r < 0)
                return r;
        return sd_bus_call_method_async(m->bus, &m->subscribe_slot, SYSTEMD_DESTINATION,
                                        SYSTEMD_PATH, SYSTEMD_MANAGER, "Subscribe", on_subscribed,
                                        m, NULL);
}

int unit_manager_connect(UnitManager *m, char **ret_message)
{
        int r;

        if (ret_message)
                *ret_message = NULL;
        if (!m)
                return -EINVAL;
        if (m->bus && sd_bus_is_open(m->bus) > 0)
                return 0;

        unit_manager_disconnect(m);
        r = unit_manager_open(m);
        if (r < 0) {
                unit_manager_disconnect(m);
                if (ret_message)
                        *ret_message = strdup_printf("cannot connect to systemd on the %s: %s",
                                                     unit_manager_bus_name(m), strerror(-r));
        }
        return r;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
        UnitJob *j = userdata;
        UnitManager *m = j->manager;
        double seconds = (double)j->timeout / (double)USEC_PER_SEC;
        int r;

        switch (j->kind) {
        case UNIT_JOB_START:
                /* Replacing the start job with a stop ends a start that hangs. */
                r = sd_bus_call_method_async(m->bus, NULL, SYSTEMD_DESTINATION, SYSTEMD_PATH,
                                             SYSTEMD_MANAGER, "StopUnit", NULL, NULL, "ss", j->unit,
                                             "replace");
                if (r < 0)
                        log_warning_errno(r, "%s: cannot stop it after its start timed out: %m",
                                          j->unit);
                unit_job_fail(j, -ETIME, "start job timed out after %g s, unit stopped", seconds);
                break;
        case UNIT_JOB_STOP:
                /* Like the command back end: past the timeout every process of it is killed. */
                r = sd_bus_call_method_async(m->bus, NULL, SYSTEMD_DESTINATION, SYSTEMD_PATH,
                                             SYSTEMD_MANAGER, "KillUnit", NULL, NULL, "ssi",
                                             j->unit, "all", (int32_t)SIGKILL);
                if (r < 0)
                        log_warning_errno(r, "%s: cannot kill it after its stop timed out: %m",
                                          j->unit);
                unit_job_fail(j, -ETIME, "stop job timed out after %g s, unit killed", seconds);
                break;
        default:
                unit_job_fail(j, -ETIME, "%s timed out after %g s",
                              j->kind == UNIT_JOB_SCOPE ? "scope start"
                                                        : unit_job_kind_to_string(j->kind),
                              seconds);
                break;
        }
        return 0;
}

static int unit_job_new(UnitManager *m, UnitJobKind kind, const char *unit, usec_t timeout,
                        UnitJob **ret)
{
        UnitJob *j;
        int r;

        j = calloc(1, sizeof(UnitJob));
        if (!j)
                return -ENOMEM;
        j->kind = kind;
        j->timeout = timeout;
        j->unit = strdup(unit);
        if (!j->unit) {
                free(j);
                return -ENOMEM;
        }
        if (timeout > 0 && timeout != USEC_INFINITY) {
                r = sd_event_add_time_relative(m->event, &j->timer, CLOCK_MONOTONIC, timeout,
                                               USEC_PER_MSEC, on_timeout, j);
                if (r < 0) {
                        free(j->unit);
                        free(j);
                        return r;
                }
                (void)sd_event_source_set_description(j->timer, "unit-job-timeout");
        }

        j->manager = m;
        j->next = m->jobs;
        if (m->jobs)
                m->jobs->prev = j;
        m->jobs = j;
        *ret = j;
        return 0;
}

static bool unit_job_check_recently_removed(UnitJob *j)
{
        UnitManager *m = j->manager;

        for (size_t i = 0; i < RECENTLY_REMOVED_MAX; i++) {
                RemovedJob *r = &m->recently_removed[i];
                _cleanup_free_ char *result = NULL;

                if (!r->path || !streq(r->path, j->job_path))
                        continue;
                result = TAKE_PTR(r->result);
                removed_job_clear(r);
                unit_job_finish_with_result(j, result ?: "unknown");
                return true;
        }
        return false;
}

static int on_job_queued(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
        UnitJob *j = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        const char *path;
        int r;

        j->call_slot = sd_bus_slot_unref(j->call_slot);
        if (e) {
                /* A unit that is not even loaded is not running: nothing to stop. */
                if (j->kind == UNIT_JOB_STOP && sd_bus_error_has_name(e, SYSTEMD_NO_SUCH_UNIT))
                        unit_job_complete(j, 0, NULL);
                else
                        unit_job_fail(j, -sd_bus_error_get_errno(e) ?: -EIO,
                                      "%s refused by systemd: %s", unit_job_kind_to_string(j->kind),
                                      e->message ?: e->name);
                return 0;
        }

        r = sd_bus_message_read(reply, "o", &path);
        if (r >= 0) {
                j->job_path = strdup(path);
                r = j->job_path ? 0 : -ENOMEM;
        }
        if (r < 0) {
                unit_job_fail(j, r, "%s: cannot read systemd's answer: %s",
                              unit_job_kind_to_string(j->kind), strerror(-r));
                return 0;
        }
        (void)unit_job_check_recently_removed(j);
        return 0;
}

int unit_manager_begin(UnitManager *m, UnitJobKind kind, const char *unit, usec_t timeout,
                       void *userdata, UnitJob **ret)
{
        int r;

        if (!m || !unit || !ret)
                return -EINVAL;
        r = unit_manager_connect(m, NULL);
        if (r < 0)
                return r;
        r = unit_job_new(m, kind, unit, timeout, ret);
        if (r < 0)
                return r;
        (*ret)->userdata = userdata;
        return 0;
}

int unit_job_sent(UnitJob *j, int r, UnitJob **ret)
{
        if (r < 0) {
                unit_job_free(j);
                return r;
        }
        *ret = j;
        return 0;
}

int unit_job_call(UnitJob *j, const char *path, const char *interface, const char *method,
                  sd_bus_message_handler_t handler, const char *types, ...)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        usec_t timeout = j->timeout == USEC_INFINITY ? 0 : j->timeout;
        va_list ap;
        int r;

        r = sd_bus_message_new_method_call(j->manager->bus, &call, SYSTEMD_DESTINATION, path,
                                           interface, method);
        if (r < 0)
                return r;
        va_start(ap, types);
        r = sd_bus_message_appendv(call, types, ap);
        va_end(ap);
        if (r < 0)
                return r;
        return sd_bus_call_async(j->manager->bus, &j->call_slot, call, handler, j, timeout);
}

static int unit_manager_job_call(UnitManager *m, UnitJobKind kind, const char *method,
                                 const char *unit, usec_t timeout, UnitJobDone done, void *userdata,
                                 UnitJob **ret)
{
        UnitJob *j;
        int r;

        r = unit_manager_begin(m, kind, unit, timeout, userdata, &j);
        if (r < 0)
                return r;
        j->done = done;

        r = unit_job_call(j, SYSTEMD_PATH, SYSTEMD_MANAGER, method, on_job_queued, "ss", unit,
                          "replace");
        return unit_job_sent(j, r, ret);
}

int unit_manager_start_unit(UnitManager *m, const char *unit, usec_t timeout, UnitJobDone done,
                            void *userdata, UnitJob **ret)
{
        return unit_manager_job_call(m, UNIT_JOB_START, "StartUnit", unit, timeout, done, userdata,
                                     ret);
}

int unit_manager_stop_unit(UnitManager *m, const char *unit, usec_t timeout, UnitJobDone done,
                           void *userdata, UnitJob **ret)
{
        return unit_manager_job_call(m, UNIT_JOB_STOP, "StopUnit", unit, timeout, done, userdata,
                                     ret);
}

int unit_manager_start_scope(UnitManager *m, const char *scope, const char *description, pid_t pid,
                             usec_t timeout, UnitJobDone done, void *userdata, UnitJob **ret)
{
        UnitJob *j;
        int r;

        if (pid <= 0 || !description)
                return -EINVAL;
        r = unit_manager_begin(m, UNIT_JOB_SCOPE, scope, timeout, userdata, &j);
        if (r < 0)
                return r;
        j->done = done;

        r = unit_job_call(j, SYSTEMD_PATH, SYSTEMD_MANAGER, "StartTransientUnit", on_job_queued,
                          "ssa(sv)a(sa(sv))", scope, "fail", 3, "PIDs", "au", 1, (uint32_t)pid,
                          "CollectMode", "s", "inactive-or-failed", "Description", "s", description,
                          0);
        return unit_job_sent(j, r, ret);
}

const char *unit_job_get_unit(const UnitJob *j)
{
        return j ? j->unit : NULL;
}

UnitJob *unit_job_free(UnitJob *j)
{
        if (!j)
                return NULL;
        unit_job_unlink(j);
        free(j->unit);
        free(j->job_path);
        free(j);
        return NULL;
}
