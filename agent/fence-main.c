/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* vacataire-fence: outlives an agent that holds the arbiter key. The agent writes the time
 * (CLOCK_MONOTONIC, microseconds) before which its lease cannot expire, one line per renewal, on
 * our stdin; "0" when it holds nothing. If the agent goes away (stdin closes) while holding, and
 * no new agent stands us down (FENCE_STAND_DOWN_SIGNAL) in time, we stop its services, killing
 * what does not stop, before that lease can expire: the peer then takes the key and starts, never
 * beside a service left running by a dead agent.
 *
 * SIGTERM (or SIGINT) is someone else stopping us, systemd stopping our scope at shutdown for
 * one: with the agent alive we just exit (it starts a new watchdog at its next renewal); with the
 * agent gone and a fence pending we fence at once, since nobody else will.
 *
 * Usage: vacataire-fence CONFIG TTL_USEC */
#include <signal.h>
#include <sys/epoll.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "fence.h"
#include "log.h"
#include "service.h"

static usec_t deadline, ttl;
static ServiceSet *services;
static Config *config;
static char buf[64];
static size_t len;
static bool agent_gone, fencing;

static usec_t margin(void)
{
        usec_t m = ttl / 10;
        return m < 200 * USEC_PER_MSEC ? 200 * USEC_PER_MSEC : m;
}

static void fenced(ServiceSet *s, int result, const char *message, void *userdata)
{
        if (result < 0)
                log_error("fence: %s", message ? message : "services did not all stop");
        else
                log_notice("fence: services stopped");
        sd_event_exit(userdata, result < 0 ? 1 : 0);
}

static int on_fence(sd_event_source *s, uint64_t usec, void *userdata)
{
        sd_event *e = sd_event_source_get_event(s);
        usec_t now = now_usec(CLOCK_MONOTONIC), budget;
        int r;

        if (fencing)
                return 0;
        fencing = true;

        /* A deadline already past: the agent served without the key (failsafe mode, the peer
         * connected); the peer waits a ttl after losing us before it takes a free key. */
        if (deadline <= now + margin())
                budget = ttl / 2;
        else
                budget = deadline - margin() - now;
        log_warning("fence: the agent is gone and nobody renews its lease: stopping services");
        r = service_set_fence(services, budget, fenced, e);
        if (r < 0) {
                log_error_errno(r, "fence: cannot stop services: %m");
                return sd_event_exit(e, 1);
        }
        return 0;
}

static int on_input(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        sd_event *e = sd_event_source_get_event(s);
        ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
        char *nl;

        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (n <= 0) {
                sd_event_source_set_enabled(s, SD_EVENT_OFF);
                agent_gone = true;
                if (deadline == 0)
                        return sd_event_exit(e, 0);
                /* Leave the agent's own fence time (a third of the ttl) for a restarted agent
                 * to re-adopt the lease and stand us down. */
                usec_t at = deadline > ttl / 3 ? deadline - ttl / 3 : 0;
                log_notice("fence: the agent is gone; stopping its services in %lld ms unless a "
                           "new agent takes over",
                           (long long)((int64_t)at - (int64_t)now_usec(CLOCK_MONOTONIC)) / 1000);
                if (sd_event_add_time(e, NULL, CLOCK_MONOTONIC, at, USEC_PER_MSEC, on_fence, NULL) <
                    0)
                        return sd_event_exit(e, 1);
                return 0;
        }
        len += (size_t)n;
        buf[len] = 0;
        while ((nl = strchr(buf, '\n'))) {
                *nl = 0;
                deadline = strtoull(buf, NULL, 10);
                memmove(buf, nl + 1, len - (size_t)(nl + 1 - buf) + 1);
                len -= (size_t)(nl + 1 - buf);
        }
        if (len >= sizeof(buf) - 1)
                len = 0; /* garbage: drop it */
        return 0;
}

static int on_stand_down(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        /* A new agent holds the key now: not ours to fence. */
        log_info("fence: stood down by process %d: a new agent holds the key", (int)si->ssi_pid);
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

static int on_term(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        sd_event *e = sd_event_source_get_event(s);

        if (!agent_gone || deadline == 0)
                return sd_event_exit(e, 0);
        if (fencing)
                return 0; /* finish it: the stop is what we are asked to wait for */
        log_warning("fence: asked to stop (signal %u from process %d) with the agent gone: "
                    "fencing now",
                    si->ssi_signo, (int)si->ssi_pid);
        return on_fence(s, 0, NULL);
}

int main(int argc, char **argv)
{
        ConfigErrors errors = {};
        sd_event *e = NULL;
        sigset_t mask;
        int r;

        log_setup("vacataire-fence");
        if (argc != 3) {
                log_error("usage: vacataire-fence CONFIG TTL_USEC");
                return 2;
        }
        ttl = strtoull(argv[2], NULL, 10);
        r = config_load(argv[1], VACATAIRE_PLUGIN_DIR, &config, &errors);
        config_errors_done(&errors);
        if (r < 0 || ttl == 0) {
                log_error("fence: cannot load %s", argv[1]);
                return 1;
        }
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, FENCE_STAND_DOWN_SIGNAL);
        sigaddset(&mask, SIGCHLD); /* sd-event watches the stop commands it runs */
        sigprocmask(SIG_BLOCK, &mask, NULL);
        /* The agent's terminal or session going away is no reason to stop watching. */
        signal(SIGHUP, SIG_IGN);
        signal(SIGPIPE, SIG_IGN);
        if (sd_event_default(&e) < 0 || service_set_new(e, config, &services) < 0 ||
            fd_set_nonblock(STDIN_FILENO, true) < 0 ||
            sd_event_add_io(e, NULL, STDIN_FILENO, EPOLLIN, on_input, NULL) < 0 ||
            sd_event_add_signal(e, NULL, SIGTERM, on_term, NULL) < 0 ||
            sd_event_add_signal(e, NULL, SIGINT, on_term, NULL) < 0 ||
            sd_event_add_signal(e, NULL, FENCE_STAND_DOWN_SIGNAL, on_stand_down, NULL) < 0) {
                log_error("fence: cannot set up");
                return 1;
        }
        r = sd_event_loop(e);
        service_set_free(services);
        config_unref(config);
        sd_event_unref(e);
        return r < 0 ? 1 : r;
}
