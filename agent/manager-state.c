/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The outcome of role state saves, as the operator sees it: the journal, status and notify. A
 * failing save is retried by the writer thread; here it is reported once when it starts failing
 * (and when the error changes) and once when saves work again. */
#include <time.h>

#include "log.h"
#include "manager.h"

const char *manager_state_save_error(const Manager *m)
{
        return m->state_save_error ? m->state_save_message : NULL;
}

static void manager_state_save_notify(Manager *m, const char *reason)
{
        const char *state = role_state_to_string(m->machine.state);

        (void)notifier_set_state_save_error(m->notifier, manager_state_save_error(m));
        if (m->config->notify)
                (void)notify_state_change(m->notifier, m->config->notify, m->config->node_name,
                                          state, state, m->machine.epoch, reason);
}

static int on_state_save(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        Manager *m = userdata;
        usec_t since;
        unsigned failures;
        int r = state_writer_status(m->state_writer, &since, &failures);
        char reason[sizeof(m->state_save_message) + 64];

        if (r == m->state_save_error)
                return 0;
        if (r < 0) {
                char when[32];
                time_t t = (time_t)(since / USEC_PER_SEC);
                struct tm tm;

                strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
                snprintf(m->state_save_message, sizeof(m->state_save_message),
                         "cannot save the role state in %s/state since %s: %s (retrying)",
                         m->config->state_dir, when, strerror(-r));
                m->state_save_error = r;
                /* The file on disk tells an older state: after a restart this node would believe
                 * it. The operator must know now, not at the restart. */
                log_error_errno(r, "%s; a restart now would start from an older saved state",
                                m->state_save_message);
                snprintf(reason, sizeof(reason), "%s", m->state_save_message);
        } else {
                log_notice("Role state saved in %s/state again.", m->config->state_dir);
                m->state_save_error = 0;
                m->state_save_message[0] = 0;
                snprintf(reason, sizeof(reason), "role state saved again");
        }
        manager_state_save_notify(m, reason);
        return 0;
}

int manager_watch_state_saves(Manager *m)
{
        return sd_event_add_io(m->event, &m->state_save_source, state_writer_fd(m->state_writer),
                               EPOLLIN, on_state_save, m);
}
