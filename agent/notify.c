/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "notify.h"

#include <inttypes.h>

#include "command.h"
#include "log.h"

static void notify_done(Command *c, int status, void *userdata)
{
        char buf[COMMAND_STATUS_STRING_MAX];

        if (status == 0)
                log_debug("Notify command '%s' succeeded.", command_get_shell_command(c));
        else
                log_warning("Notify command '%s' failed: %s.", command_get_shell_command(c),
                            command_status_to_string(status, buf, sizeof(buf)));
}

static char *env_pair(const char *name, const char *value)
{
        return strdup_printf("%s=%s", name, value ?: "");
}

int notify_state_change(sd_event *e, const char *command, const char *node, const char *state,
                        const char *previous_state, uint64_t epoch, const char *reason)
{
        char epoch_string[32];
        char *env[6] = {};
        int r;

        if (!command || !*command)
                return 0;

        snprintf(epoch_string, sizeof(epoch_string), "%" PRIu64, epoch);
        env[0] = env_pair("VACATAIRE_NODE", node);
        env[1] = env_pair("VACATAIRE_STATE", state);
        env[2] = env_pair("VACATAIRE_PREVIOUS_STATE", previous_state);
        env[3] = env_pair("VACATAIRE_EPOCH", epoch_string);
        env[4] = env_pair("VACATAIRE_REASON", reason);

        r = -ENOMEM;
        if (env[0] && env[1] && env[2] && env[3] && env[4])
                r = command_run(e, command, env, NOTIFY_TIMEOUT_USEC, notify_done, NULL, NULL);
        for (size_t i = 0; i < ELEMENTSOF(env); i++)
                free(env[i]);
        if (r < 0)
                return log_warning_errno(r, "Failed to run notify command '%s': %m", command);
        return 0;
}
