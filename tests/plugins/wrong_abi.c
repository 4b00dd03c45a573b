/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* A plugin built against a future ABI: the loader must refuse it by version. */
#include "vacataire-plugin.h"

static int wrong_abi_configure(const struct vacataire_params *params, double timeout, void **state,
                               char *err, size_t err_size)
{
        return 0;
}

static int wrong_abi_run(void *state, char *msg, size_t msg_size)
{
        return VACATAIRE_OK;
}

const struct vacataire_plugin vacataire_plugin = {
    .abi_version = 2,
    .struct_size = sizeof(struct vacataire_plugin),
    .name = "wrong_abi",
    .configure = wrong_abi_configure,
    .run = wrong_abi_run,
};
