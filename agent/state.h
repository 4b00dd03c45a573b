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

/*
 * <state_dir>/state holds two slots of STATE_SLOT_SIZE bytes, allocated (and written) when the
 * file is created. A save overwrites the slot that does not hold the newest state, in place, and
 * fsyncs: it needs no new disk space, so a full file system cannot stop it, and a save cut short
 * (crash, power loss) damages only that slot, leaving the previous state readable in the other.
 * Each slot is text, "key=value" lines (version=2, sequence, active, handed_over, epoch) ending
 * with "checksum=" and 16 hex digits of SHA-256 over the lines before it, then newlines up to the
 * slot size. The state is the valid slot with the highest sequence. A file in the single-record
 * format of version 1 (the same lines without sequence, nothing after the checksum line) is read
 * too, and replaced by the slot format at the first save.
 */
#define STATE_SLOT_SIZE 2048

/* Reads <dir>/state. -ENOENT if there is none (fresh node), or if no slot was ever written.
 * -EBADMSG if it is truncated or corrupt, with *ret_reason (malloc'd) saying why ("checksum
 * mismatch", "missing epoch", "truncated", ...). -ENOTRECOVERABLE if it is not a regular file (a
 * symlink, FIFO, directory, ...): opened without following links or blocking, never read; the
 * caller refuses to start. Other -errno if it cannot be read (*ret_reason then names the error).
 * With one slot damaged and the other valid, the valid one is used and *ret_reason (if any)
 * names the damage, for a warning. */
int state_load(const char *dir, SavedState *ret, char **ret_reason);

/* The state file, open for saves: space reserved, the newest slot known. */
typedef struct StateFile StateFile;

/* Creates dir (0700) if missing and opens <dir>/state for saving, creating it (mode 0600, both
 * slots allocated and written, the current state, if valid, in the first) when it is missing or
 * in another format; an existing file is replaced atomically (temp file, fsync, rename, fsync of
 * the directory). -ENOTRECOVERABLE if it is not a regular file. */
int state_file_open(const char *dir, StateFile **ret);
/* Writes s into the older slot and fsyncs. On error nothing readable changed. */
int state_file_save(StateFile *f, const SavedState *s);
StateFile *state_file_free(StateFile *f);

/* state_file_open + state_file_save, for one-off saves and tests. */
int state_save(const char *dir, const SavedState *s);
