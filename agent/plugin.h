/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

#include "util.h"
#include "vacataire-plugin.h"

typedef struct Plugin {
        void *handle;
        const struct vacataire_plugin *api;
        char *path;
} Plugin;

/* Loads a check plugin with dlopen(RTLD_NOW|RTLD_LOCAL) and checks its ABI. Returns 0, or -errno
 * with *ret_error set (malloc'd) to one line naming the file: -ENOENT (no such file), -ENOEXEC
 * (not loadable, or no vacataire_plugin symbol), -EPROTONOSUPPORT (other ABI version), -EBADMSG
 * (struct too small or a required callback missing), or -ENOMEM with *ret_error NULL. */
int plugin_load(const char *path, Plugin **ret, char **ret_error);
Plugin *plugin_free(Plugin *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(Plugin *, plugin_free);
