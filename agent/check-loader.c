/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "check-loader.h"

#include "checker.h"
#include "log.h"

struct CheckLoader {
        sd_event *event;
        Config *config;
        Check **checks; /* one slot per config->checks[i], NULL if not wanted or taken */
        char **errors;  /* one slot per config->checks[i] */
        size_t pending; /* checks that have not answered yet */
        bool failed;
        usec_t timeout;
        sd_event_source *deadline;
        /* Reports the outcome from the loop: never from _new(), nor from inside a check's own
         * callback, since done() usually frees the checks. */
        sd_event_source *defer;
        int result;
        CheckLoaderDone done;
        void *userdata;
};

static void loader_finish(CheckLoader *l, int error)
{
        CheckLoaderDone done = l->done;

        l->done = NULL;
        l->deadline = sd_event_source_disable_unref(l->deadline);
        l->defer = sd_event_source_disable_unref(l->defer);
        if (done)
                done(l, error, l->userdata);
}

static void on_configured(Check *c, int error, const char *message, void *userdata)
{
        CheckLoader *l = userdata;

        if (error < 0) {
                for (size_t i = 0; i < l->config->n_checks; i++)
                        if (l->checks[i] == c && !l->errors[i])
                                l->errors[i] = strdup(message ? message : "plugin failed to load");
                l->failed = true;
        }
        if (l->pending > 0 && --l->pending > 0)
                return;
        l->result = l->failed ? -EINVAL : 0;
        (void)sd_event_source_set_enabled(l->defer, SD_EVENT_ONESHOT);
}

static int on_defer(sd_event_source *s, void *userdata)
{
        CheckLoader *l = userdata;

        loader_finish(l, l->result);
        return 0;
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata)
{
        CheckLoader *l = userdata;
        char seconds[32];

        if (l->pending == 0) /* all answered in the same loop iteration */
                return on_defer(NULL, l);
        checker_format_seconds(l->timeout, seconds, sizeof(seconds));
        for (size_t i = 0; i < l->config->n_checks; i++) {
                const ConfigCheck *cfg = &l->config->checks[i];
                if (!l->checks[i] || check_get_configured(l->checks[i]) || l->errors[i])
                        continue;
                l->errors[i] = strdup_printf("check %s: %s: plugin did not load and configure "
                                             "within %s s",
                                             cfg->name, cfg->plugin_path, seconds);
        }
        loader_finish(l, -ETIMEDOUT);
        return 0;
}

int check_loader_new(sd_event *e, Config *config, const bool *wanted, const char *checker_path,
                     usec_t timeout, CheckVerdictHandler handler, void *handler_userdata,
                     CheckLoaderDone done, void *userdata, CheckLoader **ret)
{
        _cleanup_(check_loader_freep) CheckLoader *l = NULL;
        size_t n = config ? config->n_checks : 0;
        int r;

        if (!e || !config || !ret)
                return -EINVAL;
        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->event = sd_event_ref(e);
        l->config = config_ref(config);
        l->timeout = timeout;
        l->done = done;
        l->userdata = userdata;
        l->checks = calloc(n ? n : 1, sizeof(Check *));
        l->errors = calloc(n ? n : 1, sizeof(char *));
        if (!l->checks || !l->errors)
                return -ENOMEM;

        for (size_t i = 0; i < n; i++) {
                if (wanted && !wanted[i])
                        continue;
                if (!checker_path)
                        return -ENOENT;
                r = check_new(e, config, &config->checks[i], checker_path, handler,
                              handler_userdata, &l->checks[i]);
                if (r < 0)
                        return log_error_errno(r, "check %s: cannot start its checker: %m",
                                               config->checks[i].name);
                check_set_configured_handler(l->checks[i], on_configured, l);
                l->pending++;
        }
        r = sd_event_add_defer(e, &l->defer, on_defer, l);
        if (r < 0)
                return r;
        if (l->pending > 0) {
                (void)sd_event_source_set_enabled(l->defer, SD_EVENT_OFF);
                r = sd_event_add_time_relative(e, &l->deadline, CLOCK_MONOTONIC, timeout, 0,
                                               on_deadline, l);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

CheckLoader *check_loader_free(CheckLoader *l)
{
        if (!l)
                return NULL;
        sd_event_source_disable_unref(l->deadline);
        sd_event_source_disable_unref(l->defer);
        for (size_t i = 0; l->config && i < l->config->n_checks; i++) {
                if (l->checks)
                        check_free(l->checks[i]);
                if (l->errors)
                        free(l->errors[i]);
        }
        free(l->checks);
        free(l->errors);
        config_unref(l->config);
        sd_event_unref(l->event);
        free(l);
        return NULL;
}

sd_event *check_loader_event(const CheckLoader *l)
{
        return l->event;
}

Check *check_loader_take(CheckLoader *l, size_t i)
{
        Check *c;

        if (!l || i >= l->config->n_checks || !l->checks[i])
                return NULL;
        c = TAKE_PTR(l->checks[i]);
        check_set_configured_handler(c, NULL, NULL);
        return c;
}

const char *check_loader_error(const CheckLoader *l, size_t i)
{
        return l && i < l->config->n_checks ? l->errors[i] : NULL;
}

const char *check_loader_first_error(const CheckLoader *l)
{
        for (size_t i = 0; l && i < l->config->n_checks; i++)
                if (l->errors[i])
                        return l->errors[i];
        return NULL;
}
