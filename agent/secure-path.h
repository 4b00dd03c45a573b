/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/*
 * StrictModes for what the agent runs or trusts as root (plugins, the configuration and its
 * includes, the key), in the manner of OpenSSH's secure_filename(): the file and every directory
 * above it must be owned by root (or by the user the agent runs as) and not writable by group or
 * others, so that nobody else could have put or changed what is read. A sticky directory owned
 * by root (/tmp) is accepted above the file's own directory, not as that directory.
 *
 * Linked into vacataire-checker too: errors come back as text, one line saying what is wrong and
 * the fix ("...; run: chmod go-w PATH"), for the caller to put after the file's name.
 */

#include <stdbool.h>
#include <sys/stat.h>

/* The open file: a regular file, owned by root or the effective uid, not writable by group or
 * others. what names it in the message ("plugin", "configuration file", ...). Returns 0, or
 * -EPERM (-EINVAL if not a regular file) with *ret_error set (malloc'd; NULL on -ENOMEM). */
int secure_file_check(const struct stat *st, const char *path, const char *what, char **ret_error);

/* Every directory from path's own up to /, after resolving symbolic links. Returns 0, -EPERM with
 * *ret_error set, or -errno if a directory cannot be examined (also with *ret_error). */
int secure_parents_check(const char *path, char **ret_error);

/* Both, for a path: stat() (following a link; the target is what is read) and its directories. */
int secure_path_check(const char *path, const char *what, char **ret_error);
