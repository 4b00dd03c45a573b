/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Check scheduling: each check owns one long-lived vacataire-checker process (checker.c) and
 * asks it for a run every interval. The daemon never runs plugin code; per run it sends one
 * packet, arms one timer and reads one packet back, so many checks stay cheap.
 *
 * A run that is late is failed and its checker SIGKILLed and restarted at once (the plugin may
 * be stuck); a checker that dies fails the run in flight and is restarted with a backoff. While
 * no usable checker exists, runs that come due fail at once with the reason, so a check whose
 * plugin is broken still reaches FAILING on time. The checker stays up while the check is
 * disabled: it is cheap, and enabling then runs the first check without a fork.
 */
#include "check.h"

#include <limits.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "checker.h"
#include "log.h"
#include "vacataire-plugin.h"

#define TIMER_ACCURACY        (1 * USEC_PER_MSEC)
#define RESPAWN_BACKOFF_FIRST (100 * USEC_PER_MSEC)
#define RESPAWN_BACKOFF_MAX   (5 * USEC_PER_SEC)

struct Check {
        sd_event *event;
        Config *config; /* a reference: cfg points into it */
        const ConfigCheck *cfg;
        char *checker_path;
        CheckVerdictHandler handler;
        CheckConfiguredHandler configured_handler;
        void *configured_userdata;
        bool configured_reported;
        void *userdata;
        void *configure_message;
        size_t configure_message_size;

        /* The checker process; pid 0 while there is none. */
        pid_t pid;
        int fd;
        sd_event_source *io_source;
        sd_event_source *child_source;
        bool killing;        /* we SIGKILLed it and wait for it to be reaped */
        bool timed_out;      /* ... because a run was late: restart without backoff */
        bool checker_failed; /* it could not load/configure the plugin, see down_message */
        sd_event_source *respawn_source;
        usec_t respawn_delay;
        /* Why runs fail while there is no usable checker. */
        char down_message[CHECKER_ERROR_MAX];

        bool enabled;
        sd_event_source *interval_source;
        sd_event_source *timeout_source;
        bool run_in_flight; /* the run that counts awaits its answer */
        bool run_woken;     /* ... and follows a WAKE: the plugin saw a change (a death) */
        uint32_t run_id;    /* of the last RUN sent; answers to older ones are discarded */
        usec_t run_started;

        CheckCounters counters;
        int last_result;
        usec_t last_run;
        char last_message[CHECKER_RESULT_MAX];
        char last_perfdata[CHECKER_PERFDATA_MAX];
        CheckStats stats;
};

static const char *const check_status_table[_CHECK_STATUS_MAX] = {
    [CHECK_STATUS_PENDING] = "pending",
    [CHECK_STATUS_PASSING] = "passing",
    [CHECK_STATUS_FAILING] = "failing",
    [CHECK_STATUS_DISABLED] = "disabled",
};
DEFINE_STRING_TABLE_LOOKUP(check_status, CheckStatus)

CheckStatus check_counters_apply(CheckCounters *c, bool passed, unsigned fall, unsigned rise)
{
        if (fall == 0)
                fall = 1;
        if (rise == 0)
                rise = 1;

        if (passed) {
                c->consecutive_failures = 0;
                if (c->consecutive_successes < UINT_MAX)
                        c->consecutive_successes++;
                if (c->status != CHECK_STATUS_PASSING && c->consecutive_successes >= rise)
                        c->status = CHECK_STATUS_PASSING;
        } else {
                c->consecutive_successes = 0;
                if (c->consecutive_failures < UINT_MAX)
                        c->consecutive_failures++;
                if (c->status != CHECK_STATUS_FAILING && c->consecutive_failures >= fall)
                        c->status = CHECK_STATUS_FAILING;
        }
        return c->status;
}

void check_counters_apply_event(CheckCounters *c, bool passed, unsigned fall)
{
        /* The failure was seen as it happened and confirmed by a run: not the flake that fall
         * is there to ride out. */
        if (!passed && fall > 1 && c->consecutive_failures < fall - 1)
                c->consecutive_failures = fall - 1;
}

static void check_log_transition(Check *c, CheckStatus new_status)
{
        char name_field[256], status_field[64];
        const char *status = check_status_to_string(new_status);

        snprintf(name_field, sizeof(name_field), "VACATAIRE_CHECK=%s", c->cfg->name);
        snprintf(status_field, sizeof(status_field), "VACATAIRE_CHECK_STATUS=%s", status);
        log_struct(new_status == CHECK_STATUS_PASSING ? LOG_INFO : LOG_WARNING,
                   FIELDS(name_field, status_field), "check %s: %s: %s", c->cfg->name, status,
                   c->last_message);
}

static void check_finish_run(Check *c, int result, const char *message, const char *perfdata)
{
        bool passed = result == VACATAIRE_OK || result == VACATAIRE_WARNING;
        CheckStatus old_status = c->counters.status, new_status;

        c->run_in_flight = false;
        (void)sd_event_source_set_enabled(c->timeout_source, SD_EVENT_OFF);
        c->last_result = result;
        c->last_run = c->run_started;
        snprintf(c->last_message, sizeof(c->last_message), "%s", message);
        snprintf(c->last_perfdata, sizeof(c->last_perfdata), "%s", perfdata ? perfdata : "");
        if (passed)
                c->respawn_delay = 0;
        c->stats.runs++;
        if (!passed)
                c->stats.failures++;
        usec_t now;
        if (sd_event_now(c->event, CLOCK_MONOTONIC, &now) >= 0 && now >= c->run_started)
                histogram_observe(&c->stats.duration,
                                  (double)(now - c->run_started) / USEC_PER_SEC);

        if (c->run_woken) {
                c->run_woken = false;
                check_counters_apply_event(&c->counters, passed, c->cfg->fall);
        }
        new_status = check_counters_apply(&c->counters, passed, c->cfg->fall, c->cfg->rise);
        if (new_status == old_status)
                return;
        check_log_transition(c, new_status);
        if (c->handler)
                c->handler(c, old_status, new_status, c->userdata);
}

static void check_kill_checker(Check *c)
{
        if (c->pid <= 0 || c->killing)
                return;
        c->killing = true;
        checker_kill(c->pid);
}

static void check_start_run(Check *c)
{
        struct checker_run run = {.type = CHECKER_MSG_RUN};
        usec_t now;

        if (c->run_in_flight)
                return; /* a slow run is not doubled; the next one waits for its slot */

        (void)sd_event_now(c->event, CLOCK_MONOTONIC, &now);
        c->run_started = now;
        c->run_in_flight = true;
        if (c->pid <= 0 || c->killing || c->checker_failed) {
                check_finish_run(c, VACATAIRE_UNKNOWN, c->down_message, NULL);
                return;
        }

        run.id = ++c->run_id;
        if (send(c->fd, &run, sizeof(run), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
                /* Dying, or not reading its requests: either way the run fails when it is gone. */
                log_debug_errno(errno, "check %s: cannot send run request: %m", c->cfg->name);
                check_kill_checker(c);
                return;
        }
        (void)sd_event_source_set_time(c->timeout_source, now + c->cfg->timeout);
        (void)sd_event_source_set_enabled(c->timeout_source, SD_EVENT_ONESHOT);
}

static int on_interval(sd_event_source *s, uint64_t due, void *userdata)
{
        Check *c = userdata;
        usec_t now, next;

        /* Cadence follows the schedule, not the moment we got to it; after a stall (suspend, a
         * busy loop) it restarts from now instead of firing a burst. */
        (void)sd_event_now(c->event, CLOCK_MONOTONIC, &now);
        next = due + c->cfg->interval;
        if (next <= now)
                next = now + c->cfg->interval;
        (void)sd_event_source_set_time(s, next);
        (void)sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);

        check_start_run(c);
        return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
        Check *c = userdata;
        char seconds[32], message[64];

        checker_format_seconds(c->cfg->timeout, seconds, sizeof(seconds));
        snprintf(message, sizeof(message), "timed out after %s s", seconds);
        /* The plugin may be stuck anywhere; only a new process is sure to answer. */
        if (!c->killing) {
                check_kill_checker(c);
                c->timed_out = true;
                snprintf(c->down_message, sizeof(c->down_message), "checker restarting: %s",
                         message);
        }
        check_finish_run(c, VACATAIRE_UNKNOWN, message, NULL);
        return 0;
}

static void check_report_configured(Check *c, int error)
{
        _cleanup_free_ char *msg = NULL;

        if (c->configured_reported || !c->configured_handler)
                return;
        c->configured_reported = true;
        if (error < 0)
                msg = strdup_printf("check %s: %s", c->cfg->name, c->down_message);
        c->configured_handler(c, error, msg, c->configured_userdata);
}

/* Handles one packet from the checker. Returns 1 if one was handled, 0 if none is waiting, or
 * -errno when the socket is at EOF or broken. */
static int check_receive(Check *c)
{
        uint8_t buf[sizeof(struct checker_result) + CHECKER_ERROR_MAX + CHECKER_PERFDATA_MAX + 1];
        struct checker_configured configured;
        struct checker_result result;
        uint32_t type;
        const char *text, *perfdata;
        ssize_t n;

        for (;;) {
                n = recv(c->fd, buf, sizeof(buf) - 1, MSG_DONTWAIT | MSG_TRUNC);
                if (n >= 0)
                        break;
                /* ECONNRESET: the checker died with requests unread. The error is reported
                 * once, before what it sent earlier, which is still queued. */
                if (errno == EINTR || errno == ECONNRESET)
                        continue;
                return errno == EAGAIN ? 0 : -errno;
        }
        if (n == 0)
                return -ECONNRESET;
        if ((size_t)n > sizeof(buf) - 1 || (size_t)n < sizeof(type))
                goto malformed;
        buf[n] = 0; /* whatever the sender did, the text ends here */
        memcpy(&type, buf, sizeof(type));

        switch (type) {
        case CHECKER_MSG_CONFIGURED:
        case CHECKER_MSG_EXEC_FAILED:
                if ((size_t)n < sizeof(configured))
                        goto malformed;
                memcpy(&configured, buf, sizeof(configured));
                text = (const char *)buf + sizeof(configured);
                if (type == CHECKER_MSG_CONFIGURED && configured.error == 0) {
                        c->checker_failed = false;
                        check_report_configured(c, 0);
                        return 1;
                }
                if (type == CHECKER_MSG_EXEC_FAILED)
                        snprintf(c->down_message, sizeof(c->down_message), "cannot execute %s: %s",
                                 c->checker_path, strerror(-configured.error));
                else
                        snprintf(c->down_message, sizeof(c->down_message), "%.*s",
                                 (int)sizeof(c->down_message) - 1, text);
                if (!c->checker_failed)
                        log_debug("check %s: %s", c->cfg->name, c->down_message);
                c->checker_failed = true;
                check_report_configured(c, configured.error < 0 ? configured.error : -EINVAL);
                return 1;

        case CHECKER_MSG_WAKE:
                if (!c->enabled)
                        return 1;
                log_debug("check %s: watched event, running now", c->cfg->name);
                c->run_woken = true;
                /* A run in flight was asked after the event: it is the one that confirms it. */
                check_start_run(c);
                return 1;

        case CHECKER_MSG_RESULT:
                if ((size_t)n < sizeof(result))
                        goto malformed;
                memcpy(&result, buf, sizeof(result));
                text = (const char *)buf + sizeof(result);
                if (result.result < VACATAIRE_OK || result.result > VACATAIRE_UNKNOWN)
                        goto malformed;
                /* buf[n] is a NUL, so perfdata is a string even if the sender gave none. */
                perfdata = text + strlen(text);
                if (perfdata < (const char *)buf + n)
                        perfdata++;
                if (c->run_in_flight && result.id == c->run_id)
                        check_finish_run(c, result.result, text, perfdata);
                return 1;
        }

malformed:
        snprintf(c->down_message, sizeof(c->down_message),
                 "checker protocol error (daemon and checker from different builds?)");
        c->checker_failed = true;
        check_kill_checker(c);
        return 1;
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        Check *c = userdata;
        int r;

        /* Edge-triggered, so read until empty. At EOF the process is gone or going; its exit
         * is handled in on_child(). */
        while ((r = check_receive(c)) > 0)
                ;
        if (r < 0)
                (void)sd_event_source_set_enabled(s, SD_EVENT_OFF);
        return 0;
}

static void check_close_checker(Check *c)
{
        c->io_source = sd_event_source_disable_unref(c->io_source);
        /* What the plugin forked goes with it, while the checker's pid still holds the group. */
        checker_kill(c->pid);
        /* The child source owns the process: dropping it kills and reaps it if still there. */
        c->child_source = sd_event_source_disable_unref(c->child_source);
        if (c->fd >= 0)
                (void)close(c->fd);
        c->fd = -1;
        c->pid = 0;
        c->killing = c->timed_out = false;
}

static int check_spawn_checker(Check *c);

/* 0 the first time, then 100 ms doubling up to 5 s; a passing run resets it. */
static usec_t check_next_backoff(Check *c)
{
        usec_t delay = c->respawn_delay;

        c->respawn_delay = delay == 0 ? RESPAWN_BACKOFF_FIRST : delay * 2;
        if (c->respawn_delay > RESPAWN_BACKOFF_MAX)
                c->respawn_delay = RESPAWN_BACKOFF_MAX;
        return delay;
}

static void check_respawn_after(Check *c, usec_t delay)
{
        usec_t now;
        int r;

        if (delay == 0) {
                r = check_spawn_checker(c);
                if (r >= 0)
                        return;
                log_warning_errno(r, "check %s: cannot start %s: %m", c->cfg->name,
                                  c->checker_path);
                snprintf(c->down_message, sizeof(c->down_message),
                         "checker restarting: cannot start checker: %s", strerror(-r));
                delay = check_next_backoff(c);
                if (delay == 0)
                        delay = check_next_backoff(c);
        }
        (void)sd_event_now(c->event, CLOCK_MONOTONIC, &now);
        (void)sd_event_source_set_time(c->respawn_source, now + delay);
        (void)sd_event_source_set_enabled(c->respawn_source, SD_EVENT_ONESHOT);
}

static int on_child(sd_event_source *s, const siginfo_t *si, void *userdata)
{
        Check *c = userdata;
        char why[CHECKER_ERROR_MAX];
        bool timed_out = c->timed_out;

        /* Its last words (a configure error, a result) may still be in the socket. */
        while (c->fd >= 0 && check_receive(c) > 0)
                ;

        if (c->checker_failed)
                snprintf(why, sizeof(why), "%s", c->down_message);
        else
                checker_describe_exit(si->si_code, si->si_status, why, sizeof(why));
        log_debug("check %s: checker process %d ended: %s", c->cfg->name, (int)si->si_pid, why);
        check_close_checker(c);
        if (!c->configured_reported) {
                /* Died before it could say whether the plugin loads: that is the answer. */
                char message[sizeof(c->down_message)];
                if (c->checker_failed) /* it said why itself */
                        snprintf(message, sizeof(message), "%s", why);
                else if (snprintf(message, sizeof(message), "%s: %s", c->cfg->plugin_path, why) < 0)
                        message[0] = 0;
                memcpy(c->down_message, message, sizeof(message));
                check_report_configured(c, -EIO);
        }

        if (!c->checker_failed && !timed_out) {
                char message[sizeof(c->down_message)];
                snprintf(message, sizeof(message), "checker restarting: %.1000s", why);
                memcpy(c->down_message, message, sizeof(message));
        }
        if (c->run_in_flight)
                check_finish_run(c, VACATAIRE_UNKNOWN, why, NULL);

        check_respawn_after(c, timed_out ? 0 : check_next_backoff(c));
        return 0;
}

static int on_respawn(sd_event_source *s, uint64_t usec, void *userdata)
{
        check_respawn_after(userdata, 0);
        return 0;
}

static int check_spawn_checker(Check *c)
{
        int r;

        r = checker_spawn(c->checker_path, c->cfg, &c->pid, &c->fd);
        if (r < 0)
                return r;
        r = sd_event_add_child(c->event, &c->child_source, c->pid, WEXITED, on_child, c);
        if (r < 0) {
                checker_kill(c->pid);
                (void)waitpid(c->pid, NULL, 0);
                check_close_checker(c);
                return r;
        }
        (void)sd_event_source_set_child_process_own(c->child_source, true);
        /* Edge-triggered: sd-event calls epoll_wait() once per event it dispatches, and level-
         * triggered sockets waiting for their turn would be rescanned every time, which is
         * quadratic when many checks answer at once. */
        r = sd_event_add_io(c->event, &c->io_source, c->fd, EPOLLIN | EPOLLET, on_io, c);
        if (r < 0) {
                check_close_checker(c);
                return r;
        }
        /* Into an empty socket buffer: cannot block. If the checker is already gone, its exit
         * says why. */
        if (send(c->fd, c->configure_message, c->configure_message_size,
                 MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
                check_kill_checker(c);
        return 0;
}

int check_new(sd_event *e, Config *config, const ConfigCheck *cfg, const char *checker_path,
              CheckVerdictHandler handler, void *userdata, Check **ret)
{
        _cleanup_(check_freep) Check *c = NULL;
        int r;

        if (!e || !cfg || !cfg->name || !cfg->plugin_path || !checker_path || !ret ||
            cfg->interval == 0 || cfg->timeout == 0)
                return -EINVAL;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->event = sd_event_ref(e);
        c->config = config_ref(config);
        c->cfg = cfg;
        c->handler = handler;
        c->userdata = userdata;
        c->fd = -1;
        c->counters.status = CHECK_STATUS_DISABLED;
        c->last_result = -1;
        snprintf(c->down_message, sizeof(c->down_message), "checker restarting");
        c->checker_path = strdup(checker_path);
        if (!c->checker_path)
                return -ENOMEM;
        r = checker_configure_message(cfg, &c->configure_message, &c->configure_message_size);
        if (r < 0)
                return r;

        r = sd_event_add_time(e, &c->interval_source, CLOCK_MONOTONIC, 0, TIMER_ACCURACY,
                              on_interval, c);
        if (r < 0)
                return r;
        r = sd_event_add_time(e, &c->timeout_source, CLOCK_MONOTONIC, 0, TIMER_ACCURACY, on_timeout,
                              c);
        if (r < 0)
                return r;
        r = sd_event_add_time(e, &c->respawn_source, CLOCK_MONOTONIC, 0, TIMER_ACCURACY, on_respawn,
                              c);
        if (r < 0)
                return r;
        (void)sd_event_source_set_enabled(c->interval_source, SD_EVENT_OFF);
        (void)sd_event_source_set_enabled(c->timeout_source, SD_EVENT_OFF);
        (void)sd_event_source_set_enabled(c->respawn_source, SD_EVENT_OFF);

        r = check_spawn_checker(c);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(c);
        return 0;
}

Check *check_free(Check *c)
{
        if (!c)
                return NULL;
        sd_event_source_disable_unref(c->interval_source);
        sd_event_source_disable_unref(c->timeout_source);
        sd_event_source_disable_unref(c->respawn_source);
        check_close_checker(c);
        sd_event_unref(c->event);
        config_unref(c->config);
        free(c->configure_message);
        free(c->checker_path);
        free(c);
        return NULL;
}

int check_set_enabled(Check *c, bool enabled)
{
        usec_t now;
        int r;

        if (!c)
                return -EINVAL;
        if (enabled == c->enabled)
                return 0;

        /* A run in flight is forgotten, not killed: its answer no longer matches run_id. */
        c->run_in_flight = c->run_woken = false;
        (void)sd_event_source_set_enabled(c->timeout_source, SD_EVENT_OFF);
        c->counters = (CheckCounters){
            .status = enabled ? CHECK_STATUS_PENDING : CHECK_STATUS_DISABLED,
        };
        c->enabled = enabled;
        if (!enabled)
                return sd_event_source_set_enabled(c->interval_source, SD_EVENT_OFF);

        (void)sd_event_now(c->event, CLOCK_MONOTONIC, &now);
        r = sd_event_source_set_time(c->interval_source, now);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(c->interval_source, SD_EVENT_ONESHOT);
}

const ConfigCheck *check_get_config(const Check *c)
{
        return c->cfg;
}

CheckStatus check_get_status(const Check *c)
{
        return c->counters.status;
}

unsigned check_get_consecutive_failures(const Check *c)
{
        return c->counters.consecutive_failures;
}

int check_get_last_result(const Check *c)
{
        return c->last_result;
}

const char *check_get_last_message(const Check *c)
{
        return c->last_message;
}

const char *check_get_last_perfdata(const Check *c)
{
        return c->last_perfdata;
}

const CheckStats *check_get_stats(const Check *c)
{
        return &c->stats;
}

usec_t check_get_last_run(const Check *c)
{
        return c->last_run;
}

void check_set_config(Check *c, Config *config, const ConfigCheck *cfg)
{
        config_ref(config);
        config_unref(c->config);
        c->config = config;
        c->cfg = cfg;
}

void check_set_configured_handler(Check *c, CheckConfiguredHandler handler, void *userdata)
{
        c->configured_handler = handler;
        c->configured_userdata = userdata;
}

bool check_get_configured(const Check *c)
{
        return c->configured_reported;
}
