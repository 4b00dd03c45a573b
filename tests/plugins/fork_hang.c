/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* A plugin whose helper hangs: each run forks `sleep SECONDS` (params: seconds, a string, so a
 * test can pick a value no other process uses and count them) and then never returns, like a
 * plugin waiting on a stuck helper. Only killing the checker's whole process group ends both. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vacataire-plugin.h"

static int fork_hang_configure(const struct vacataire_params *params, double timeout,
                               void **state, char *err, size_t err_size)
{
        const struct vacataire_param *s = vacataire_param_find(params, "seconds");

        if (!s || s->type != VACATAIRE_PARAM_STRING) {
                snprintf(err, err_size, "needs seconds = \"N\"");
                return -1;
        }
        *state = strdup(s->string);
        return *state ? 0 : -1;
}

static int fork_hang_run(void *state, char *msg, size_t msg_size)
{
        pid_t pid = fork();

        if (pid == 0) {
                execl("/bin/sleep", "sleep", (const char *)state, (char *)NULL);
                _exit(127);
        }
        for (;;)
                pause();
        return VACATAIRE_OK;
}

VACATAIRE_PLUGIN_DEFINE("fork_hang", "forks a helper that hangs, then hangs", fork_hang_configure,
                        fork_hang_run, free);
