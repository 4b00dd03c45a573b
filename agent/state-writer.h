/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

#include "state.h"
#include "util.h"

/*
 * Saves role state off the event loop. An fsync can take half a second on a busy disk, and the
 * loop must keep sending heartbeats meanwhile, above all during a handover, when state changes.
 * A writer thread saves the newest state submitted; states submitted while it writes are
 * coalesced, so the file always ends as the last one.
 */
typedef struct StateWriter StateWriter;

int state_writer_new(const char *dir, StateWriter **ret);
/* Never blocks on I/O. */
void state_writer_submit(StateWriter *w, const SavedState *s);
/* Writes what is still pending, then stops the thread. */
StateWriter *state_writer_free(StateWriter *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(StateWriter *, state_writer_free);
