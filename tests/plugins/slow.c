/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Passes after sleeping `seconds` (default 0.25). */
#include <stdlib.h>
#include <time.h>

#include "vacataire-plugin.h"

struct slow {
        double seconds;
};

static int slow_configure(const struct vacataire_params *params, double timeout, void **state,
                          char *err, size_t err_size)
{
        const struct vacataire_param *p = vacataire_param_find(params, "seconds");
        struct slow *s = malloc(sizeof(*s));

        if (!s)
                return -1;
        s->seconds = p ? p->number : 0.25;
        *state = s;
        return 0;
}

static int slow_run(void *state, char *msg, size_t msg_size)
{
        const struct slow *s = state;
        struct timespec ts = {(time_t)s->seconds,
                              (long)((s->seconds - (double)(time_t)s->seconds) * 1e9)};

        while (nanosleep(&ts, &ts) < 0)
                ;
        snprintf(msg, msg_size, "slept %g s", s->seconds);
        return VACATAIRE_OK;
}

VACATAIRE_PLUGIN_DEFINE("slow", "passes, slowly", slow_configure, slow_run, free);
