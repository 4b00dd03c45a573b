/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

#include <stdint.h>
#include <systemd/sd-event.h>

#include "util.h"

/* Longest a notify command may run before its process group is killed. */
#define NOTIFY_TIMEOUT_USEC (30 * USEC_PER_SEC)

/* Runs the configured notify command (command NULL or "": nothing to do) without blocking the
 * loop, bounded to NOTIFY_TIMEOUT_USEC, with VACATAIRE_NODE, VACATAIRE_STATE,
 * VACATAIRE_PREVIOUS_STATE, VACATAIRE_EPOCH and VACATAIRE_REASON in its environment (NULL strings
 * become empty). A failure (non-zero exit, timeout, cannot run) is logged once as a warning, here;
 * the caller need not log the returned error. Overlapping notifications are fine. */
int notify_state_change(sd_event *e, const char *command, const char *node, const char *state,
                        const char *previous_state, uint64_t epoch, const char *reason);
