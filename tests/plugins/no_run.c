/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Right version and size, but no run callback: the loader refuses it rather than crash later. */
#include "vacataire-plugin.h"

static int no_run_configure(const struct vacataire_params *params, double timeout, void **state,
                            char *err, size_t err_size)
{
        return 0;
}

VACATAIRE_PLUGIN_DEFINE("no_run", "has no run callback", no_run_configure, NULL, NULL);
