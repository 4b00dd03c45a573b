/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/* Shared by service-unit.c (the manager: bus connection, JobRemoved, timeouts, start/stop jobs)
 * and service-unit-query.c (the one-call questions: state, kill, count, our own job) only. */

#include <stdarg.h>

#include "service-unit.h"
#include "util.h"

#define SYSTEMD_DESTINATION  "org.freedesktop.systemd1"
#define SYSTEMD_PATH         "/org/freedesktop/systemd1"
#define SYSTEMD_MANAGER      "org.freedesktop.systemd1.Manager"
#define SYSTEMD_UNIT         "org.freedesktop.systemd1.Unit"
#define SYSTEMD_NO_SUCH_UNIT "org.freedesktop.systemd1.NoSuchUnit"

/* JobRemoved signals kept while a StartUnit/StopUnit reply is still on its way. systemd answers
 * before it runs the job, so this is only a guard against reordering. */
#define RECENTLY_REMOVED_MAX 16

typedef enum UnitJobKind {
        UNIT_JOB_START,
        UNIT_JOB_STOP,
        UNIT_JOB_SCOPE,
        UNIT_JOB_ACTIVE_STATE,
        UNIT_JOB_KILL,
        UNIT_JOB_COUNT, /* ListUnitsByPatterns: how many matching units are not inactive */
        UNIT_JOB_OWN_JOB,
        _UNIT_JOB_KIND_MAX,
} UnitJobKind;

typedef struct RemovedJob {
        char *path;
        char *result;
} RemovedJob;

struct UnitManager {
        sd_event *event;
        SystemdBus which;
        sd_bus *bus;
        sd_bus_slot *job_removed_slot;
        sd_bus_slot *disconnected_slot;
        sd_bus_slot *subscribe_slot;

        UnitJob *jobs; /* every job in flight */
        RemovedJob recently_removed[RECENTLY_REMOVED_MAX];
        size_t recently_removed_next;
};

struct UnitJob {
        UnitManager *manager; /* NULL once completed or detached */
        UnitJobKind kind;
        char *unit;
        char *job_path; /* once StartUnit/StopUnit/StartTransientUnit answered */
        usec_t timeout;
        int kill_signal; /* UNIT_JOB_COUNT: sent to every matching unit that is not inactive */
        sd_bus_slot *call_slot;
        sd_event_source *timer;

        UnitJobDone done;
        UnitStateDone state_done;
        void *userdata;

        UnitJob *prev, *next;
};

/* Connects and creates the job: on failure the caller gets -errno and no job. */
int unit_manager_begin(UnitManager *m, UnitJobKind kind, const char *unit, usec_t timeout,
                       void *userdata, UnitJob **ret);
/* Every call this module makes: build it, append its arguments, send it for job j. */
int unit_job_call(UnitJob *j, const char *path, const char *interface, const char *method,
                  sd_bus_message_handler_t handler, const char *types, ...);
/* The end of every unit_manager_*() that sends a first call: on failure the caller gets -errno
 * and no job. */
int unit_job_sent(UnitJob *j, int r, UnitJob **ret);
/* Completion: the job leaves the manager before done runs, so done may free it. */
void unit_job_complete(UnitJob *j, int result, const char *text);
_printf_(3, 4) void unit_job_fail(UnitJob *j, int error, const char *format, ...);
/* Fails j with the error systemd answered: "what: message". */
void unit_job_fail_bus(UnitJob *j, const sd_bus_error *e, const char *what);
