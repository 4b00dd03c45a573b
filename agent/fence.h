/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

#include <signal.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "util.h"

/* What an agent that holds the key sends a previous agent's watchdog. Not SIGTERM: that is what
 * systemd sends when it stops the watchdog's scope, which must not cancel a pending fence. */
#define FENCE_STAND_DOWN_SIGNAL SIGUSR1

/* The agent's side of vacataire-fence (fence-main.c): a watchdog process that outlives the agent
 * and, if the agent dies while holding the arbiter key, fences its services before the lease can
 * expire. Started the first time the key is held; told every new lease deadline. */
typedef struct Fence Fence;

/* Under systemd (scope_wanted()), each watchdog is moved into a transient scope,
 * vacataire-fence-<pid>.scope, on bus, so that stopping or crash-cleaning our unit spares it. */
int fence_new(sd_event *e, const char *config_path, const char *state_dir, usec_t ttl,
              SystemdBus bus, Fence **ret);
/* Closes our end: a watchdog told a deadline then fences at it unless a new agent stands it down;
 * one told 0 just exits. */
Fence *fence_free(Fence *f);
DEFINE_TRIVIAL_CLEANUP_FUNC(Fence *, fence_free);

/* Starts the watchdog if it is not running (and spawn), and tells it the lease deadline (0: none
 * held). */
int fence_arm(Fence *f, usec_t deadline, bool spawn);
/* A watchdog left by a previous agent (state_dir/fence.pid): we hold the key now, it stands down.
 */
void fence_stand_down_old(Fence *f);
