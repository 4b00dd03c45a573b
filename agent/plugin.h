/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

#include "util.h"
#include "vacataire-plugin.h"

#include <stddef.h>

/* The first release's struct ended at free: any plugin must have at least that much. */
#define PLUGIN_STRUCT_SIZE_MIN offsetof(struct vacataire_plugin, watch)

/* An appended field of p->api, or NULL when the plugin's struct_size does not cover it. */
#define PLUGIN_FIELD(p, field)                                                                     \
        ((p)->api->struct_size >=                                                                  \
                 offsetof(struct vacataire_plugin, field) + sizeof((p)->api->field)                \
             ? (p)->api->field                                                                     \
             : NULL)

typedef struct Plugin {
        void *handle;
        int fd; /* the file checked and loaded (as /proc/self/fd/N), open while loaded */
        const struct vacataire_plugin *api;
        char *path;
} Plugin;

/* Loads a check plugin with dlopen(RTLD_NOW|RTLD_LOCAL) and checks its ABI. The file is opened
 * without following a symlink and must pass secure_file_check() and secure_parents_check()
 * (-EPERM, -EINVAL otherwise); the descriptor examined is what dlopen() loads. Returns 0, or
 * -errno with *ret_error set (malloc'd) to one line naming the file: -ENOENT (no such file),
 * -ENOEXEC
 * (not loadable, or no vacataire_plugin symbol), -EPROTONOSUPPORT (other ABI version), -EBADMSG
 * (struct too small or a required callback missing), or -ENOMEM with *ret_error NULL. */
int plugin_load(const char *path, Plugin **ret, char **ret_error);
Plugin *plugin_free(Plugin *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(Plugin *, plugin_free);
