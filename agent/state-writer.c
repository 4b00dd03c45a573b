/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "state-writer.h"

#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>

#include "log.h"

#define RETRY_FIRST (100 * USEC_PER_MSEC)
#define RETRY_MAX   (10 * USEC_PER_SEC)

struct StateWriter {
        char *dir;
        StateFile *file; /* NULL until opened: opening is retried like a save */
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t wake;
        SavedState pending;
        bool has_pending;
        bool stopping;
        int event_fd;

        /* Under lock: the outcome the loop reads. */
        int error;
        usec_t failing_since;
        unsigned failures;
};

static void state_writer_signal(StateWriter *w)
{
        uint64_t one = 1;

        if (write(w->event_fd, &one, sizeof(one)) < 0) {
                /* Full counter: the loop has a wake-up pending anyway. */
        }
}

static int state_writer_attempt(StateWriter *w, const SavedState *s)
{
        int r = 0;

        if (!w->file)
                r = state_file_open(w->dir, &w->file);
        if (r == 0)
                r = state_file_save(w->file, s);
        return r;
}

/* Until deadline, or until woken by a new state or a stop: the lock is held. */
static void state_writer_sleep(StateWriter *w, usec_t delay)
{
        struct timespec ts;
        usec_t until;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        until = (usec_t)ts.tv_sec * USEC_PER_SEC + (usec_t)ts.tv_nsec / 1000 + delay;
        ts.tv_sec = (time_t)(until / USEC_PER_SEC);
        ts.tv_nsec = (long)(until % USEC_PER_SEC) * 1000;
        while (!w->has_pending && !w->stopping)
                if (pthread_cond_timedwait(&w->wake, &w->lock, &ts) == ETIMEDOUT)
                        break;
}

static void *state_writer_main(void *userdata)
{
        StateWriter *w = userdata;
        SavedState current = {};
        bool unsaved = false;
        usec_t delay = RETRY_FIRST;

        pthread_mutex_lock(&w->lock);
        for (;;) {
                while (!w->has_pending && !w->stopping && !unsaved)
                        pthread_cond_wait(&w->wake, &w->lock);
                if (w->has_pending) {
                        current = w->pending;
                        w->has_pending = false;
                        unsaved = true;
                }
                if (!unsaved)
                        break; /* stopping, nothing to save */
                bool last_try = w->stopping;
                pthread_mutex_unlock(&w->lock);

                int r = state_writer_attempt(w, &current);

                pthread_mutex_lock(&w->lock);
                if (r == 0) {
                        unsaved = false;
                        delay = RETRY_FIRST;
                        if (w->error != 0) {
                                w->error = 0;
                                w->failures = 0;
                                state_writer_signal(w);
                        }
                } else {
                        if (w->error == 0)
                                w->failing_since = now_usec(CLOCK_REALTIME);
                        w->failures++;
                        if (w->error != r || w->failures == 1)
                                state_writer_signal(w);
                        w->error = r;
                        /* A broken file descriptor is not retried: the file is reopened. */
                        w->file = state_file_free(w->file);
                        if (last_try) {
                                log_error_errno(r,
                                                "Could not save the last role state in %s at "
                                                "exit: %m",
                                                w->dir);
                                break;
                        }
                        state_writer_sleep(w, delay);
                        delay = delay * 2 > RETRY_MAX ? RETRY_MAX : delay * 2;
                }
                if (w->stopping && !w->has_pending && !unsaved)
                        break;
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
        w->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (!w->dir || w->event_fd < 0) {
                r = w->dir ? -errno : -ENOMEM;
                if (w->event_fd >= 0)
                        close(w->event_fd);
                free(w->dir);
                free(w);
                return r;
        }
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->wake, NULL);
        {
                /* Timed waits count on the monotonic clock: a clock step must not stall them. */
                pthread_condattr_t attr;
                pthread_condattr_init(&attr);
                pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
                pthread_cond_destroy(&w->wake);
                pthread_cond_init(&w->wake, &attr);
                pthread_condattr_destroy(&attr);
        }
        /* The thread must not take the signals the event loop reads through signalfd. */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        r = -pthread_create(&w->thread, NULL, state_writer_main, w);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r < 0) {
                pthread_mutex_destroy(&w->lock);
                pthread_cond_destroy(&w->wake);
                close(w->event_fd);
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

int state_writer_fd(StateWriter *w)
{
        return w->event_fd;
}

int state_writer_status(StateWriter *w, usec_t *ret_since, unsigned *ret_failures)
{
        uint64_t count;
        int r;

        if (read(w->event_fd, &count, sizeof(count)) < 0) {
                /* EAGAIN: nothing new, the status is read anyway. */
        }
        pthread_mutex_lock(&w->lock);
        r = w->error;
        if (ret_since)
                *ret_since = w->failing_since;
        if (ret_failures)
                *ret_failures = w->failures;
        pthread_mutex_unlock(&w->lock);
        return r;
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
        state_file_free(w->file);
        close(w->event_fd);
        free(w->dir);
        free(w);
        return NULL;
}
