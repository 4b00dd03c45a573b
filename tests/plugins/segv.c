/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Dereferences NULL in run, or in configure with `in_configure = true`. */
#include <sys/resource.h>

#include "vacataire-plugin.h"

/* UBSan would report the store and exit 1; this must die of the fault itself. */
__attribute__((no_sanitize("undefined"))) static void crash(void)
{
        /* No core file in the test's directory; volatile on both sides so the compiler can
         * neither drop the store nor turn it into a trap instruction. */
        volatile int *volatile nowhere = NULL;

        setrlimit(RLIMIT_CORE, &(struct rlimit){0, 0});
        *nowhere = 1;
}

static int segv_configure(const struct vacataire_params *params, double timeout, void **state,
                          char *err, size_t err_size)
{
        const struct vacataire_param *p = vacataire_param_find(params, "in_configure");

        if (p && p->type == VACATAIRE_PARAM_BOOL && p->boolean)
                crash();
        return 0;
}

static int segv_run(void *state, char *msg, size_t msg_size)
{
        crash();
        return VACATAIRE_OK;
}

VACATAIRE_PLUGIN_DEFINE("segv", "crashes", segv_configure, segv_run, NULL);
