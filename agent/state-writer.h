/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

#include "state.h"
#include "util.h"

/*
 * Saves role state off the event loop. An fsync can take half a second on a busy disk, and the
 * loop must keep sending heartbeats meanwhile, above all during a handover, when state changes.
 * A writer thread saves the newest state submitted; states submitted while it writes are
 * coalesced, so the file always ends as the last one. A save that fails (the state file cannot be
 * opened or written) is retried with backoff, 100 ms doubling up to 10 s, until it succeeds or a
 * newer state replaces it; the loop learns of each change between saving and failing through an
 * fd that becomes readable.
 */
typedef struct StateWriter StateWriter;

int state_writer_new(const char *dir, StateWriter **ret);
/* Never blocks on I/O. */
void state_writer_submit(StateWriter *w, const SavedState *s);
/* Readable (EPOLLIN) when the outcome of saves changed: call state_writer_status then. */
int state_writer_fd(StateWriter *w);
/* Clears the fd's readiness. Returns 0 while saves succeed (or none failed yet), or the -errno of
 * the failing one, with the CLOCK_REALTIME time of the first failure in a row and the number of
 * attempts that failed since. */
int state_writer_status(StateWriter *w, usec_t *ret_since, unsigned *ret_failures);
/* Writes what is still pending (one attempt), then stops the thread. */
StateWriter *state_writer_free(StateWriter *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(StateWriter *, state_writer_free);
