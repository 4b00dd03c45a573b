/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Always passes, with the optional `message` param as its message, as a warning with
 * `warning = true`; refuses any other param. */
#include <stdbool.h>
#include <stdlib.h>

#include "vacataire-plugin.h"

static int ok_configure(const struct vacataire_params *params, double timeout, void **state,
                        char *err, size_t err_size)
{
        static const char *const known[] = {"message", "warning", NULL};
        const struct vacataire_param *m = vacataire_param_find(params, "message");
        const struct vacataire_param *w = vacataire_param_find(params, "warning");
        bool warning = w && w->type == VACATAIRE_PARAM_BOOL && w->boolean;
        char *s;
        const char *unknown = vacataire_params_unknown(params, known);

        if (unknown) {
                snprintf(err, err_size, "ok: unknown param '%s'", unknown);
                return -1;
        }
        if (m && m->type != VACATAIRE_PARAM_STRING) {
                snprintf(err, err_size, "ok: message must be a string");
                return -1;
        }
        /* The first byte says which result to give. */
        s = malloc(2 + strlen(m ? m->string : "all good"));
        if (!s)
                return -1;
        s[0] = warning ? 'W' : 'O';
        strcpy(s + 1, m ? m->string : "all good");
        *state = s;
        return 0;
}

static int ok_run(void *state, char *msg, size_t msg_size)
{
        const char *s = state;

        snprintf(msg, msg_size, "%s", s + 1);
        return s[0] == 'W' ? VACATAIRE_WARNING : VACATAIRE_OK;
}

VACATAIRE_PLUGIN_DEFINE("ok", "always passes", ok_configure, ok_run, free);
