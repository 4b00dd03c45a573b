/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Never returns from run. With `marker = PATH`, hangs only while PATH does not exist (creating
 * it first), then passes: a stuck run is survived only by a new process. With
 * `in_configure = true`, never returns from configure. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "vacataire-plugin.h"

static int hang_configure(const struct vacataire_params *params, double timeout, void **state,
                          char *err, size_t err_size)
{
        const struct vacataire_param *m = vacataire_param_find(params, "marker");
        const struct vacataire_param *c = vacataire_param_find(params, "in_configure");

        if (c && c->type == VACATAIRE_PARAM_BOOL && c->boolean)
                for (;;)
                        pause();

        if (m && m->type == VACATAIRE_PARAM_STRING) {
                *state = strdup(m->string);
                return *state ? 0 : -1;
        }
        return 0;
}

static int hang_run(void *state, char *msg, size_t msg_size)
{
        const char *marker = state;

        if (marker) {
                int fd = open(marker, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                if (fd < 0) {
                        snprintf(msg, msg_size, "answering this time");
                        return VACATAIRE_OK;
                }
                close(fd);
        }
        for (;;)
                pause();
        return VACATAIRE_OK;
}

VACATAIRE_PLUGIN_DEFINE("hang", "never answers", hang_configure, hang_run, free);
