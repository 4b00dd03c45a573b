/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <sys/types.h>

#include "config.h"

/* systemd's manager (org.freedesktop.systemd1) over D-Bus, on the sd-event loop: starts and stops
 * units and reads their ActiveState without ever blocking the loop. A start or stop is one
 * StartUnit/StopUnit call (mode "replace") followed by the JobRemoved signal of its job; the
 * connection is opened on first use and again after it was lost. */
typedef struct UnitManager UnitManager;
/* One operation in flight; freeing it forgets the answer (the systemd job itself carries on). */
typedef struct UnitJob UnitJob;

/* result: 0 on success, or -errno; message: a one-line reason on failure (NULL on success). */
typedef void (*UnitJobDone)(UnitJob *j, int result, const char *message, void *userdata);
/* result: 0 and the unit's ActiveState, or -errno and a one-line reason. */
typedef void (*UnitStateDone)(UnitJob *j, int result, const char *state_or_message, void *userdata);

int unit_manager_new(sd_event *e, SystemdBus bus, UnitManager **ret);
/* Jobs still held by callers are detached: they never complete and are freed by their owner. */
UnitManager *unit_manager_free(UnitManager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(UnitManager *, unit_manager_free);

/* Opens the bus if it is not open: 0, or -errno with a one-line reason in *ret_message (may be
 * NULL). Cheap when already connected. */
int unit_manager_connect(UnitManager *m, char **ret_message);
const char *unit_manager_bus_name(const UnitManager *m); /* "system bus" / "user bus" */
/* The open connection, or NULL. */
sd_bus *unit_manager_get_bus(const UnitManager *m);

/* Each bounds the whole operation by timeout; done is never called from inside the call. A stop
 * that times out has the unit killed (SIGKILL to all its processes); a start that times out has
 * its job replaced by a stop. */
int unit_manager_start_unit(UnitManager *m, const char *unit, usec_t timeout, UnitJobDone done,
                            void *userdata, UnitJob **ret);
int unit_manager_stop_unit(UnitManager *m, const char *unit, usec_t timeout, UnitJobDone done,
                           void *userdata, UnitJob **ret);
/* StartTransientUnit of a scope holding pid (CollectMode=inactive-or-failed), done when its
 * start job is. */
int unit_manager_start_scope(UnitManager *m, const char *scope, const char *description, pid_t pid,
                             usec_t timeout, UnitJobDone done, void *userdata, UnitJob **ret);
/* LoadUnit, then the unit's ActiveState property. */
int unit_manager_get_active_state(UnitManager *m, const char *unit, usec_t timeout,
                                  UnitStateDone done, void *userdata, UnitJob **ret);

/* KillUnit(unit, "all", signal); done once systemd has sent it (a unit that is not loaded counts
 * as done). */
int unit_manager_kill_unit(UnitManager *m, const char *unit, int signal, usec_t timeout,
                           UnitJobDone done, void *userdata, UnitJob **ret);
/* ListUnitsByPatterns: done gets the number (>= 0) of units matching pattern that are neither
 * inactive nor failed, or -errno; with kill_signal > 0 each of them is sent it (KillUnit, all). */
int unit_manager_count_units(UnitManager *m, const char *pattern, int kill_signal, usec_t timeout,
                             UnitJobDone done, void *userdata, UnitJob **ret);
/* The type of the job queued for the unit that holds pid ("stop", "restart", ...), or "" when
 * there is none: GetUnitByPID, Unit.Job, Job.JobType. */
int unit_manager_get_job_type_of_pid(UnitManager *m, pid_t pid, usec_t timeout, UnitStateDone done,
                                     void *userdata, UnitJob **ret);

const char *unit_job_get_unit(const UnitJob *j);
UnitJob *unit_job_free(UnitJob *j);
DEFINE_TRIVIAL_CLEANUP_FUNC(UnitJob *, unit_job_free);

/* "active" and "reloading" count as running. */
bool unit_active_state_is_running(const char *state);
