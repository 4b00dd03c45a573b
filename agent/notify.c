/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "notify.h"

#include <inttypes.h>

#include "command.h"
#include "log.h"

typedef struct NotifyRun {
        char *command;
        char *node;
        char *state;
        char *previous_state;
        char *reason;
        uint64_t epoch;
        unsigned changes;
        char *extra[NOTIFY_EXTRA_MAX + 1]; /* "NAME=value", NULL-terminated */
} NotifyRun;

struct Notifier {
        sd_event *event;
        Command *running;
        char *told_state; /* what the last run started told: the next one's previous state */
        NotifyRun pending;
        bool has_pending;
        char *state_save_error;
};

static void notify_run_done(NotifyRun *r)
{
        free(r->command);
        free(r->node);
        free(r->state);
        free(r->previous_state);
        free(r->reason);
        for (size_t i = 0; r->extra[i]; i++)
                free(r->extra[i]);
        *r = (NotifyRun){};
}

int notifier_new(sd_event *e, Notifier **ret)
{
        Notifier *n = calloc(1, sizeof(*n));

        if (!n)
                return -ENOMEM;
        n->event = sd_event_ref(e);
        *ret = n;
        return 0;
}

Notifier *notifier_free(Notifier *n)
{
        if (!n)
                return NULL;
        /* Shutting down: the last change is worth telling, so the command is left to finish. */
        command_disown(n->running);
        if (n->has_pending)
                log_debug("Dropping a pending notify run (state %s) at exit.", n->pending.state);
        notify_run_done(&n->pending);
        free(n->told_state);
        free(n->state_save_error);
        sd_event_unref(n->event);
        free(n);
        return NULL;
}

int notifier_set_state_save_error(Notifier *n, const char *error)
{
        char *copy = NULL;

        if (error && !(copy = strdup(error)))
                return -ENOMEM;
        free(n->state_save_error);
        n->state_save_error = copy;
        return 0;
}

static char *env_pair(const char *name, const char *value)
{
        return strdup_printf("%s=%s", name, value ?: "");
}

static int notifier_start(Notifier *n, const NotifyRun *run);

static char *mfree_string(char *p)
{
        free(p);
        return NULL;
}

static void notify_done(Command *c, int status, void *userdata)
{
        Notifier *n = userdata;
        char buf[COMMAND_STATUS_STRING_MAX];

        if (status == 0)
                log_debug("Notify command '%s' succeeded.", command_get_shell_command(c));
        else
                log_warning("Notify command '%s' failed: %s.", command_get_shell_command(c),
                            command_status_to_string(status, buf, sizeof(buf)));
        n->running = command_free(n->running);

        if (n->has_pending) {
                NotifyRun run = n->pending;
                n->pending = (NotifyRun){};
                n->has_pending = false;
                (void)notifier_start(n, &run);
                notify_run_done(&run);
        }
}

static int notifier_start(Notifier *n, const NotifyRun *run)
{
        char epoch_string[32], changes_string[16];
        char *env[8 + NOTIFY_EXTRA_MAX] = {};
        char *told;
        size_t k = 7;
        int r;

        snprintf(epoch_string, sizeof(epoch_string), "%" PRIu64, run->epoch);
        snprintf(changes_string, sizeof(changes_string), "%u", run->changes);
        env[0] = env_pair("VACATAIRE_NODE", run->node);
        env[1] = env_pair("VACATAIRE_STATE", run->state);
        env[2] = env_pair("VACATAIRE_PREVIOUS_STATE", run->previous_state);
        env[3] = env_pair("VACATAIRE_EPOCH", epoch_string);
        env[4] = env_pair("VACATAIRE_REASON", run->reason);
        env[5] = env_pair("VACATAIRE_CHANGES", changes_string);
        env[6] = env_pair("VACATAIRE_STATE_SAVE_ERROR", n->state_save_error);
        told = strdup(run->state ?: "");
        for (size_t i = 0; run->extra[i] && i < NOTIFY_EXTRA_MAX; i++)
                if (!(env[k++] = strdup(run->extra[i])))
                        told = mfree_string(told);

        r = -ENOMEM;
        if (env[0] && env[1] && env[2] && env[3] && env[4] && env[5] && env[6] && told)
                r = command_run(n->event, run->command, env, NOTIFY_TIMEOUT_USEC, notify_done, n,
                                &n->running);
        for (size_t i = 0; i < ELEMENTSOF(env); i++)
                free(env[i]);
        if (r < 0) {
                free(told);
                return log_warning_errno(r, "Failed to run notify command '%s': %m", run->command);
        }
        free(n->told_state);
        n->told_state = told;
        return 0;
}

int notify_state_change(Notifier *n, const char *command, const char *node, const char *state,
                        const char *previous_state, uint64_t epoch, const char *reason)
{
        return notify_state_change_full(n, command, node, state, previous_state, epoch, reason,
                                        NULL);
}

int notify_state_change_full(Notifier *n, const char *command, const char *node, const char *state,
                             const char *previous_state, uint64_t epoch, const char *reason,
                             const char *const *extra)
{
        NotifyRun run = {.epoch = epoch, .changes = 1};
        bool oom = false;
        int r;

        if (!command || !*command)
                return 0;

        if (n->running && n->has_pending) {
                /* Folded into the waiting run, which keeps the previous state it already had:
                 * the state the running command tells. */
                run.previous_state = TAKE_PTR(n->pending.previous_state);
                run.changes = n->pending.changes + 1;
        } else if (n->running) {
                run.previous_state = n->told_state ? strdup(n->told_state) : NULL;
                if (n->told_state && !run.previous_state)
                        return log_oom();
        }
        if (!run.previous_state && previous_state && !(run.previous_state = strdup(previous_state)))
                return log_oom();
        run.command = strdup(command);
        run.node = node ? strdup(node) : NULL;
        run.state = state ? strdup(state) : NULL;
        run.reason = reason ? strdup(reason) : NULL;
        /* The cause is the newest change's, like the state. */
        for (size_t i = 0; extra && extra[i] && i < NOTIFY_EXTRA_MAX; i++)
                if (!(run.extra[i] = strdup(extra[i])))
                        oom = true;
        if (oom || !run.command || (node && !run.node) || (state && !run.state) ||
            (reason && !run.reason)) {
                notify_run_done(&run);
                return log_oom();
        }

        if (n->running) {
                notify_run_done(&n->pending);
                n->pending = run;
                n->has_pending = true;
                return 0;
        }
        r = notifier_start(n, &run);
        notify_run_done(&run);
        return r;
}
