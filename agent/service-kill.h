/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

#include <sys/types.h>
#include <systemd/sd-event.h>

#include "service-unit.h"

/* The second half of every stop: make sure a service is down, killing what is left of it.
 *
 * Only a verified stop lets the peer start. After a stop that reported success this looks (the
 * status command says stopped, no scope of the service has a process left); after a stop that
 * failed or timed out, or a look that still finds it running, it kills: the unit's processes
 * (KillUnit, SIGKILL), or a command service's transient scopes (vacataire-<service>-*.scope,
 * found by name, so also those started before the agent restarted) and the process group of
 * its last start command; then it looks again until the service is down or the time is up. */
typedef struct ServiceKill ServiceKill;

typedef struct ServiceKillTarget {
        const char *name;           /* the service's name: logs, and its scopes' names */
        const char *unit;           /* systemd back end, or NULL */
        const char *status_command; /* command back end: exit 0 means running; may be NULL */
        pid_t pgid;                 /* the last start command's process group, or 0 */
} ServiceKillTarget;

/* result: 0 when the service is verified stopped (message NULL); -EIO when something still runs
 * or nothing can tell (message says which). */
typedef void (*ServiceKillDone)(ServiceKill *k, int result, const char *message, void *userdata);

/* units may be NULL (no systemd: no units, no scopes). kill: the stop failed, kill at once;
 * otherwise look first. timeout bounds each of the two phases (look, kill-and-look). done is
 * never called from inside this call. */
int service_kill_start(sd_event *e, UnitManager *units, const ServiceKillTarget *target, bool kill,
                       usec_t timeout, ServiceKillDone done, void *userdata, ServiceKill **ret);
ServiceKill *service_kill_free(ServiceKill *k);
DEFINE_TRIVIAL_CLEANUP_FUNC(ServiceKill *, service_kill_free);
