/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

#include <stdint.h>
#include <systemd/sd-event.h>

#include "util.h"

/* Longest a notify command may run before its process group is killed. */
#define NOTIFY_TIMEOUT_USEC (30 * USEC_PER_SEC)

/*
 * Runs the configured notify command on state changes, one run at a time: while one runs, the
 * changes that follow collapse into a single pending run that tells the newest state, so a
 * flapping node starts at most two commands at once (one running, one waiting) and the last run
 * always tells the current state.
 */
typedef struct Notifier Notifier;
#define NOTIFY_EXTRA_MAX 8

int notifier_new(sd_event *e, Notifier **ret);
/* A run still going is left to finish (not killed); a pending one is dropped. */
Notifier *notifier_free(Notifier *n);
DEFINE_TRIVIAL_CLEANUP_FUNC(Notifier *, notifier_free);

/* NULL: saves work. Otherwise why the role state cannot be saved; every run from now on has it
 * in VACATAIRE_STATE_SAVE_ERROR (empty when saves work). */
int notifier_set_state_save_error(Notifier *n, const char *error);

/* Runs command (NULL or "": nothing to do), bounded to NOTIFY_TIMEOUT_USEC, with VACATAIRE_NODE,
 * VACATAIRE_STATE, VACATAIRE_PREVIOUS_STATE, VACATAIRE_EPOCH, VACATAIRE_REASON,
 * VACATAIRE_CHANGES (how many changes this run reports: more than 1 when some were coalesced;
 * PREVIOUS_STATE is then the state the run before told) and VACATAIRE_STATE_SAVE_ERROR in its
 * environment (NULL strings become empty). A failure (non-zero exit, timeout, cannot run) is
 * logged once as a warning, here; the caller need not log the returned error. */
int notify_state_change(Notifier *n, const char *command, const char *node, const char *state,
                        const char *previous_state, uint64_t epoch, const char *reason);

/* The same, with up to NOTIFY_EXTRA_MAX more "NAME=value" strings (a NULL-terminated list) in
 * the environment: the cause of the change (VACATAIRE_CAUSE, VACATAIRE_CHECK,
 * VACATAIRE_MESSAGE). A coalesced run has the newest change's. */
int notify_state_change_full(Notifier *n, const char *command, const char *node, const char *state,
                             const char *previous_state, uint64_t epoch, const char *reason,
                             const char *const *extra);
