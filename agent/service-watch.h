/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

#include <systemd/sd-event.h>

#include "service.h"

/*
 * Seeing a running service die at once, rather than at the next check:
 *   a unit service: systemd's PropertiesChanged signal on the unit, its ActiveState leaving
 *     active (inactive, failed, deactivating);
 *   a command service: a pidfd of every process left in the process group of its start command
 *     (the command runs in a session of its own), once that command has succeeded; the service
 *     has died when the last of them has exited. A start command that leaves no process in its
 *     group (a daemon that moves to a session of its own) cannot be watched this way: its checks
 *     still judge it.
 * Armed once the services have started, disarmed before they are started or stopped again, so
 * the agent's own stops are never taken for a death. Each armed service reports at most once.
 */
#define SERVICE_WATCH_PIDS_MAX 64

typedef struct ServiceWatch ServiceWatch;

/* why: "exited" or the unit's ActiveState, for the log and the cause of the handover. */
typedef void (*ServiceDiedFn)(ServiceWatch *w, const char *service, const char *why,
                              void *userdata);

int service_watch_new(sd_event *e, ServiceDiedFn fn, void *userdata, ServiceWatch **ret);
ServiceWatch *service_watch_free(ServiceWatch *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(ServiceWatch *, service_watch_free);

/* Watches every service of s that can be watched; returns how many are. Accepts NULL w. */
size_t service_watch_arm(ServiceWatch *w, const ServiceSet *s);
void service_watch_disarm(ServiceWatch *w);

/* The PIDs of live (not zombie) processes whose process group is pgid, under proc ("/proc"). At
 * most max; returns how many, or -errno. */
int service_watch_find_group(const char *proc, pid_t pgid, pid_t *pids, size_t max);
/* Whether an ActiveState means the unit no longer serves. */
bool service_watch_state_is_death(const char *active_state);
