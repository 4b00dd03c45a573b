/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define KEY_SIZE_MIN 32
#define KEY_SIZE_MAX 4096

/* The shared secret that authenticates peer frames. */
typedef struct Key {
        uint8_t *data;
        size_t len;
} Key;

/* Loads the shared secret from path: a regular file of KEY_SIZE_MIN..KEY_SIZE_MAX bytes, not
 * readable or writable by group or others. Returns 0, or -errno with *ret_error (malloc'd) a
 * one-line message naming the file. The key lives in guarded, locked memory wiped on free. */
int key_load(const char *path, Key **ret, char **ret_error);
Key *key_free(Key *k);
DEFINE_TRIVIAL_CLEANUP_FUNC(Key *, key_free);
