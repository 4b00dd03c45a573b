/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Always fails: critical, or unknown with `unknown = true`. */
#include "vacataire-plugin.h"

static int fail_configure(const struct vacataire_params *params, double timeout, void **state,
                          char *err, size_t err_size)
{
        const struct vacataire_param *u = vacataire_param_find(params, "unknown");

        *state = (void *)(u && u->type == VACATAIRE_PARAM_BOOL && u->boolean ? "unknown" : NULL);
        return 0;
}

static int fail_run(void *state, char *msg, size_t msg_size)
{
        snprintf(msg, msg_size, "failing on purpose");
        return state ? VACATAIRE_UNKNOWN : VACATAIRE_CRITICAL;
}

VACATAIRE_PLUGIN_DEFINE("fail", "always fails", fail_configure, fail_run, NULL);
