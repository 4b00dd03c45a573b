/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

#include <systemd/sd-event.h>

#include "config.h"
#include "service-unit.h"

typedef enum ServiceState {
        SERVICE_STOPPED,
        SERVICE_STARTING,
        SERVICE_RUNNING,
        SERVICE_STOPPING,
        SERVICE_FAILED,
        SERVICE_UNKNOWN, /* not probed yet */
        _SERVICE_STATE_MAX,
} ServiceState;

const char *service_state_to_string(ServiceState s);
ServiceState service_state_from_string(const char *s);

/* The ordered list of configured services and the one operation running on it. */
typedef struct ServiceSet ServiceSet;

/* result: 0 on success, or -errno; message: a one-line reason on failure (NULL on success). */
typedef void (*ServiceSetDone)(ServiceSet *s, int result, const char *message, void *userdata);

int service_set_new(sd_event *e, const Config *cfg, ServiceSet **ret);
ServiceSet *service_set_free(ServiceSet *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(ServiceSet *, service_set_free);

/* Starts services in list order, each bounded by its timeout and retried start_retries times.
 * If one still fails, those already started are stopped again in reverse (rollback) and done is
 * called with an error naming the service. Returns -EBUSY if an operation is running. */
int service_set_start(ServiceSet *s, ServiceSetDone done, void *userdata);
/* Stops in reverse order, each service with its stop, then a kill, then a look (service-kill.h):
 * a stop that fails or times out has the service's unit, or its command's scopes and process
 * group, killed with SIGKILL, and a service counts as stopped only once that is verified (its
 * unit inactive, its status command says stopped, no scope of it has a process left). Carries on
 * past failures; done gets 0 only when every service is verified stopped, else -EIO and the
 * first failure. */
int service_set_stop(ServiceSet *s, ServiceSetDone done, void *userdata);
/* The same stop-kill-verify, for fencing: whatever runs (a start, say) is cancelled first, and
 * each service's stop gets at most stop_timeout (0: its own timeout) before the kill. */
int service_set_fence(ServiceSet *s, usec_t stop_timeout, ServiceSetDone done, void *userdata);
/* Runs every status command: done gets 0 if all services run, -ESRCH if none does, -EIO if only
 * some do. Sets each service's state. Used to re-adopt running services after a restart. */
int service_set_probe(ServiceSet *s, ServiceSetDone done, void *userdata);
/* Cancels the running operation without calling done (shutdown). */
void service_set_cancel(ServiceSet *s);
/* Restricts the next start or stop to the services with which[i] set (an array of
 * service_set_count() entries, copied; NULL: all): a restart in place of some of them. Cleared
 * when that operation ends. -EBUSY while an operation runs. */
int service_set_only(ServiceSet *s, const bool *which);
bool service_set_busy(const ServiceSet *s);

size_t service_set_count(const ServiceSet *s);
/* For watching a running service (service-watch.c): its systemd unit (NULL for a command
 * service), the process group its last start command ran in (0 if none this run), and the
 * connection to systemd (NULL until a unit or scope needed one). */
const char *service_set_unit(const ServiceSet *s, size_t i);
pid_t service_set_pgid(const ServiceSet *s, size_t i);
UnitManager *service_set_units(const ServiceSet *s);
const char *service_set_name(const ServiceSet *s, size_t i);
ServiceState service_set_state(const ServiceSet *s, size_t i);
