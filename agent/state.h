/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* The role state that must survive a restart. */
typedef struct SavedState {
        bool active;
        bool handed_over;
        uint64_t epoch;
} SavedState;

/* Reads <dir>/state. -ENOENT if there is none (fresh node). -EBADMSG if it is truncated or
 * corrupt, with *ret_reason (malloc'd) saying why ("checksum mismatch", "missing epoch",
 * "truncated", ...). Other -errno if it cannot be read (*ret_reason then names the error). */
int state_load(const char *dir, SavedState *ret, char **ret_reason);

/* Writes <dir>/state atomically (temp file, fsync, rename, fsync of the directory), mode 0600;
 * creates dir (0700) if missing. On any error the previous file stays intact. */
int state_save(const char *dir, const SavedState *s);
