/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* A plugin built against the first release's header: its struct ends at free, before the appended
 * watch callback. It must load, and the loader must read nothing past its struct. */
#include <stddef.h>

#include "vacataire-plugin.h"

struct first_release_plugin {
        uint32_t abi_version;
        uint32_t struct_size;
        const char *name;
        const char *description;
        int (*configure)(const struct vacataire_params *, double, void **, char *, size_t);
        int (*run)(void *, char *, size_t);
        void (*free)(void *);
};

static int configure(const struct vacataire_params *params, double timeout, void **state, char *err,
                     size_t err_size)
{
        *state = NULL;
        return 0;
}

static int run(void *state, char *msg, size_t msg_size)
{
        snprintf(msg, msg_size, "first release");
        return VACATAIRE_OK;
}

__attribute__((visibility("default"))) const struct first_release_plugin vacataire_plugin = {
    .abi_version = VACATAIRE_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(struct first_release_plugin),
    .name = "first_release",
    .description = "built against the first header",
    .configure = configure,
    .run = run,
};
