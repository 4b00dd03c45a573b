/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The one-call questions to systemd's manager: a unit's active state, killing a unit, counting
 * (and killing) units by pattern, the job type of the unit a pid is in. */
#include <errno.h>
#include <string.h>

#include "log.h"
#include "service-unit-internal.h"

static int on_active_state(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
        UnitJob *j = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        const char *state;
        int r;

        j->call_slot = sd_bus_slot_unref(j->call_slot);
        if (e) {
                unit_job_fail_bus(j, e, "cannot read its state");
                return 0;
        }
        r = sd_bus_message_read(reply, "v", "s", &state);
        if (r < 0) {
                unit_job_fail(j, r, "cannot read its state: %s", strerror(-r));
                return 0;
        }
        unit_job_complete(j, 0, state);
        return 0;
}

/* The reply to j's call names an object: ask it for one property, answered to handler. */
static int unit_job_get_property(UnitJob *j, sd_bus_message *reply, const char *refused,
                                 const char *unreadable, sd_bus_message_handler_t handler,
                                 const char *interface, const char *property)
{
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        const char *path;
        int r;

        j->call_slot = sd_bus_slot_unref(j->call_slot);
        if (e) {
                unit_job_fail_bus(j, e, refused);
                return 0;
        }
        r = sd_bus_message_read(reply, "o", &path);
        if (r >= 0)
                r = unit_job_call(j, path, "org.freedesktop.DBus.Properties", "Get", handler, "ss",
                                  interface, property);
        if (r < 0)
                unit_job_fail(j, r, "%s: %s", unreadable, strerror(-r));
        return 0;
}

static int on_unit_loaded(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
        return unit_job_get_property(userdata, reply, "cannot load the unit",
                                     "cannot read its state", on_active_state, SYSTEMD_UNIT,
                                     "ActiveState");
}

int unit_manager_get_active_state(UnitManager *m, const char *unit, usec_t timeout,
                                  UnitStateDone done, void *userdata, UnitJob **ret)
{
        UnitJob *j;
        int r;

        r = unit_manager_begin(m, UNIT_JOB_ACTIVE_STATE, unit, timeout, userdata, &j);
        if (r < 0)
                return r;
        j->state_done = done;

        r = unit_job_call(j, SYSTEMD_PATH, SYSTEMD_MANAGER, "LoadUnit", on_unit_loaded, "s", unit);
        return unit_job_sent(j, r, ret);
}

static int on_killed(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
        UnitJob *j = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        j->call_slot = sd_bus_slot_unref(j->call_slot);
        /* A unit that is not loaded has no process left to kill. */
        if (e && !sd_bus_error_has_name(e, SYSTEMD_NO_SUCH_UNIT))
                unit_job_fail_bus(j, e, "kill refused by systemd");
        else
                unit_job_complete(j, 0, NULL);
        return 0;
}

int unit_manager_kill_unit(UnitManager *m, const char *unit, int signal, usec_t timeout,
                           UnitJobDone done, void *userdata, UnitJob **ret)
{
        UnitJob *j;
        int r;

        r = unit_manager_begin(m, UNIT_JOB_KILL, unit, timeout, userdata, &j);
        if (r < 0)
                return r;
        j->done = done;
        r = unit_job_call(j, SYSTEMD_PATH, SYSTEMD_MANAGER, "KillUnit", on_killed, "ssi", unit,
                          "all", (int32_t)signal);
        return unit_job_sent(j, r, ret);
}

static int on_units_listed(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
        UnitJob *j = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        const char *name, *active;
        int count = 0, r;

        j->call_slot = sd_bus_slot_unref(j->call_slot);
        if (e) {
                unit_job_fail_bus(j, e, "cannot list units");
                return 0;
        }
        r = sd_bus_message_enter_container(reply, 'a', "(ssssssouso)");
        while (r > 0) {
                r = sd_bus_message_read(reply, "(ssssssouso)", &name, NULL, NULL, &active, NULL,
                                        NULL, NULL, NULL, NULL, NULL);
                if (r <= 0)
                        break;
                if (streq(active, "inactive") || streq(active, "failed"))
                        continue;
                count++;
                if (j->kill_signal > 0 &&
                    sd_bus_call_method_async(j->manager->bus, NULL, SYSTEMD_DESTINATION,
                                             SYSTEMD_PATH, SYSTEMD_MANAGER, "KillUnit", NULL, NULL,
                                             "ssi", name, "all", (int32_t)j->kill_signal) < 0)
                        log_warning("%s: cannot ask systemd to kill it", name);
        }
        if (r < 0) {
                unit_job_fail(j, r, "cannot read the unit list: %s", strerror(-r));
                return 0;
        }
        unit_job_complete(j, count, NULL);
        return 0;
}

int unit_manager_count_units(UnitManager *m, const char *pattern, int kill_signal, usec_t timeout,
                             UnitJobDone done, void *userdata, UnitJob **ret)
{
        UnitJob *j;
        int r;

        r = unit_manager_begin(m, UNIT_JOB_COUNT, pattern, timeout, userdata, &j);
        if (r < 0)
                return r;
        j->done = done;
        j->kill_signal = kill_signal;
        /* No state filter (an empty array), one name pattern. */
        r = unit_job_call(j, SYSTEMD_PATH, SYSTEMD_MANAGER, "ListUnitsByPatterns", on_units_listed,
                          "asas", 0, 1, pattern);
        return unit_job_sent(j, r, ret);
}

/* GetUnitByPID -> Unit.Job (uo) -> Job.JobType. */
static int on_own_job_type(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
        UnitJob *j = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        const char *type;
        int r;

        j->call_slot = sd_bus_slot_unref(j->call_slot);
        if (e) {
                /* The job finished between the two calls: there is none now. */
                if (sd_bus_error_has_name(e, "org.freedesktop.DBus.Error.UnknownObject"))
                        unit_job_complete(j, 0, "");
                else
                        unit_job_fail_bus(j, e, "cannot read the job type");
                return 0;
        }
        r = sd_bus_message_read(reply, "v", "s", &type);
        if (r < 0) {
                unit_job_fail(j, r, "cannot read the job type: %s", strerror(-r));
                return 0;
        }
        unit_job_complete(j, 0, type);
        return 0;
}

static int on_own_job(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
        UnitJob *j = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        const char *path;
        uint32_t id;
        int r;

        j->call_slot = sd_bus_slot_unref(j->call_slot);
        if (e) {
                unit_job_fail_bus(j, e, "cannot read the unit's job");
                return 0;
        }
        r = sd_bus_message_read(reply, "v", "(uo)", &id, &path);
        if (r >= 0 && id == 0) {
                unit_job_complete(j, 0, "");
                return 0;
        }
        if (r >= 0)
                r = unit_job_call(j, path, "org.freedesktop.DBus.Properties", "Get",
                                  on_own_job_type, "ss", "org.freedesktop.systemd1.Job", "JobType");
        if (r < 0)
                unit_job_fail(j, r, "cannot read the unit's job: %s", strerror(-r));
        return 0;
}

static int on_own_unit(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
        return unit_job_get_property(userdata, reply, "cannot find our own unit",
                                     "cannot read our own unit", on_own_job, SYSTEMD_UNIT, "Job");
}

int unit_manager_get_job_type_of_pid(UnitManager *m, pid_t pid, usec_t timeout, UnitStateDone done,
                                     void *userdata, UnitJob **ret)
{
        UnitJob *j;
        int r;

        r = unit_manager_begin(m, UNIT_JOB_OWN_JOB, "self", timeout, userdata, &j);
        if (r < 0)
                return r;
        j->state_done = done;
        r = unit_job_call(j, SYSTEMD_PATH, SYSTEMD_MANAGER, "GetUnitByPID", on_own_unit, "u",
                          (uint32_t)pid);
        return unit_job_sent(j, r, ret);
}
