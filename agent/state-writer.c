/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "state-writer.h"

#include <pthread.h>
#include <signal.h>

#include "log.h"

struct StateWriter {
        char *dir;
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t wake;
        SavedState pending;
        bool has_pending;
        bool stopping;
};

static void *state_writer_main(void *userdata)
{
        StateWriter *w = userdata;

        pthread_mutex_lock(&w->lock);
        for (;;) {
                while (!w->has_pending && !w->stopping)
                        pthread_cond_wait(&w->wake, &w->lock);
                if (!w->has_pending)
                        break;
                SavedState s = w->pending;
                w->has_pending = false;
                pthread_mutex_unlock(&w->lock);

                int r = state_save(w->dir, &s);
                if (r < 0)
                        log_error_errno(r,
                                        "Failed to save state in %s (the previous state file is "
                                        "kept): %m",
                                        w->dir);

                pthread_mutex_lock(&w->lock);
        }
        pthread_mutex_unlock(&w->lock);
        return NULL;
}

int state_writer_new(const char *dir, StateWriter **ret)
{
        StateWriter *w;
        sigset_t all, old;
        int r;

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->dir = strdup(dir);
        if (!w->dir) {
                free(w);
                return -ENOMEM;
        }
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->wake, NULL);
        /* The thread must not take the signals the event loop reads through signalfd. */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        r = -pthread_create(&w->thread, NULL, state_writer_main, w);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r < 0) {
                pthread_mutex_destroy(&w->lock);
                pthread_cond_destroy(&w->wake);
                free(w->dir);
                free(w);
                return r;
        }
        *ret = w;
        return 0;
}

void state_writer_submit(StateWriter *w, const SavedState *s)
{
        pthread_mutex_lock(&w->lock);
        w->pending = *s;
        w->has_pending = true;
        pthread_cond_signal(&w->wake);
        pthread_mutex_unlock(&w->lock);
}

StateWriter *state_writer_free(StateWriter *w)
{
        if (!w)
                return NULL;
        pthread_mutex_lock(&w->lock);
        w->stopping = true;
        pthread_cond_signal(&w->wake);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->thread, NULL);
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->wake);
        free(w->dir);
        free(w);
        return NULL;
}
