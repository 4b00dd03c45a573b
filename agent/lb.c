/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "lb.h"

#include <sys/epoll.h>
#include <sys/socket.h>

#include "log.h"

/* haproxy answers a server without agent-check like this; for us that is success. */
#define NO_AGENT_REPLY "agent checks are not enabled on this server."

struct LbClient {
        sd_event *event;
        SocketAddress address;
        char *address_string;
        char *backend, *server;

        int wanted;       /* LbState, -1: nothing asked yet */
        int acknowledged; /* what haproxy last confirmed, -1: nothing */
        int in_flight;    /* what the connection (or the retry timer) is about, -1: idle */
        int given_up;     /* haproxy refused it: not tried again until wanted changes */
        unsigned attempt; /* of in_flight, from 1 */
        bool warned;      /* a failure of in_flight was logged */
        bool resyncing;   /* in_flight failed a whole series: retried every LB_RESYNC_INTERVAL */

        int fd;
        bool connected;
        sd_event_source *io_source;
        sd_event_source *timer; /* attempt deadline, or the retry delay while fd < 0 */
        sd_event_source *later; /* lb_client_set_after(): sets pending when it fires */
        int pending;            /* LbState waiting for later, -1: none */
        char *request;
        size_t request_size, request_sent;
        char reply[LB_REPLY_MAX];
        size_t reply_size;
};

static const char *const lb_state_table[_LB_STATE_MAX] = {
    [LB_STATE_READY] = "ready",
    [LB_STATE_DRAIN] = "drain",
    [LB_STATE_MAINT] = "maint",
};
DEFINE_STRING_TABLE_LOOKUP(lb_state, LbState)

LbState lb_state_for(RoleState s, RoleOp op)
{
        if (role_state_is_serving(s))
                return LB_STATE_READY;
        if (s == ROLE_STOPPING)
                switch (op) {
                case ROLE_OP_HANDOVER_DRAIN:
                case ROLE_OP_HANDOVER_FINAL_STOP:
                        /* The peer serves: new requests go there, ours finish. */
                case ROLE_OP_FENCE:
                        /* No longer allowed to serve (the arbiter key is lost). */
                        return LB_STATE_DRAIN;
                default:
                        /* Before the peer serves, see lb.h: refusing beats a balancer with no
                         * server at all. */
                        return LB_STATE_READY;
                }
        return LB_STATE_MAINT;
}

char *lb_command(const char *backend, const char *server, LbState s)
{
        if (s == LB_STATE_READY)
                /* Forcing the checks up lets traffic in now rather than at haproxy's next check;
                 * the agent knows: its services have just started. Its own checks keep running
                 * and mark the server down again if it is not serving. */
                return strdup_printf("set server %1$s/%2$s state ready; "
                                     "set server %1$s/%2$s health up; "
                                     "set server %1$s/%2$s agent up\n",
                                     backend, server);
        return strdup_printf("set server %s/%s state %s\n", backend, server, lb_state_to_string(s));
}

int lb_parse_reply(char *reply, const char **ret_error)
{
        char *line, *save = NULL;

        /* One answer per command, each ending with an empty line; success is an empty answer. */
        for (line = strtok_r(reply, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                size_t n = strlen(line);
                while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' '))
                        line[--n] = 0;
                if (n == 0 || streq(line, NO_AGENT_REPLY))
                        continue;
                *ret_error = line;
                return -EBADMSG;
        }
        return 0;
}

static void lb_close(LbClient *l)
{
        l->io_source = sd_event_source_disable_unref(l->io_source);
        if (l->fd >= 0)
                (void)close(l->fd);
        l->fd = -1;
        l->connected = false;
        free(l->request);
        l->request = NULL;
        l->request_size = l->request_sent = l->reply_size = 0;
        (void)sd_event_source_set_enabled(l->timer, SD_EVENT_OFF);
}

static void lb_next(LbClient *l);

static void lb_arm_time(sd_event *e, sd_event_source *timer, usec_t delay)
{
        usec_t now;

        (void)sd_event_now(e, CLOCK_MONOTONIC, &now);
        (void)sd_event_source_set_time(timer, now + delay);
        (void)sd_event_source_set_enabled(timer, SD_EVENT_ONESHOT);
}

static void lb_arm_timer(LbClient *l, usec_t delay)
{
        lb_arm_time(l->event, l->timer, delay);
}

/* This attempt failed in a way that may pass (haproxy restarting, a lost packet). */
static void lb_attempt_failed(LbClient *l, const char *why)
{
        LbState s = (LbState)l->in_flight;

        lb_close(l);
        if (l->wanted != l->in_flight) {
                /* Superseded: the newer state is what matters now. */
                l->in_flight = -1;
                lb_next(l);
                return;
        }
        if (l->attempt >= LB_ATTEMPTS) {
                if (!l->resyncing)
                        log_warning("lb: cannot set %s/%s to %s through haproxy at %s: %s (gave "
                                    "up after %u attempts; trying again every %u s)",
                                    l->backend, l->server, lb_state_to_string(s), l->address_string,
                                    why, l->attempt, (unsigned)(LB_RESYNC_INTERVAL / USEC_PER_SEC));
                /* Another series later: in_flight stays, so a newer state takes over the timer. */
                l->resyncing = true;
                l->attempt = 0;
                lb_arm_timer(l, LB_RESYNC_INTERVAL);
                return;
        }
        if (!l->warned && !l->resyncing)
                log_info("lb: haproxy at %s: %s; retrying", l->address_string, why);
        l->warned = true;
        /* 50, 100, 200, 400 ms: the whole series stays within a few seconds. */
        lb_arm_timer(l, LB_RETRY_FIRST_DELAY << (l->attempt - 1));
}

static void lb_done(LbClient *l)
{
        const char *error = NULL;
        LbState s = (LbState)l->in_flight;
        int r;

        l->reply[l->reply_size] = 0;
        r = lb_parse_reply(l->reply, &error);
        if (r < 0) {
                /* A wrong backend or server name: retrying cannot help. */
                log_warning("lb: haproxy at %s refused to set %s/%s to %s: %s", l->address_string,
                            l->backend, l->server, lb_state_to_string(s), error);
                l->given_up = l->in_flight;
        } else {
                l->acknowledged = l->in_flight;
                log_full_errno(l->warned || l->resyncing ? LOG_NOTICE : LOG_INFO, 0,
                               "lb: haproxy at %s: %s/%s is %s", l->address_string, l->backend,
                               l->server, lb_state_to_string(s));
        }
        lb_close(l);
        l->in_flight = -1;
        lb_next(l);
}

static int on_io(sd_event_source *source, int fd, uint32_t revents, void *userdata)
{
        LbClient *l = userdata;
        ssize_t n;

        if (!l->connected) {
                int error = 0;
                socklen_t len = sizeof(error);

                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0)
                        error = errno;
                if (error) {
                        lb_attempt_failed(l, strerror(error));
                        return 0;
                }
                l->connected = true;
        }
        while (l->request_sent < l->request_size) {
                n = send(fd, l->request + l->request_sent, l->request_size - l->request_sent,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return sd_event_source_set_io_events(source, EPOLLOUT);
                        lb_attempt_failed(l, strerror(errno));
                        return 0;
                }
                l->request_sent += (size_t)n;
        }
        (void)sd_event_source_set_io_events(source, EPOLLIN | EPOLLRDHUP);
        for (;;) {
                if (l->reply_size >= sizeof(l->reply) - 1) {
                        /* More than any answer to our commands: not haproxy's runtime API. */
                        lb_attempt_failed(l, "answer too long (not haproxy's runtime API?)");
                        return 0;
                }
                n = recv(fd, l->reply + l->reply_size, sizeof(l->reply) - 1 - l->reply_size,
                         MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return 0;
                        lb_attempt_failed(l, strerror(errno));
                        return 0;
                }
                if (n == 0)
                        break;
                l->reply_size += (size_t)n;
        }
        /* haproxy closes a non-interactive session once it has answered. */
        lb_done(l);
        return 0;
}

static int lb_connect(LbClient *l)
{
        _cleanup_close_ int fd = -1;
        int r;

        l->request = lb_command(l->backend, l->server, (LbState)l->in_flight);
        if (!l->request)
                return -ENOMEM;
        l->request_size = strlen(l->request);

        fd = socket(l->address.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (const struct sockaddr *)&l->address.sa, l->address.len) < 0 &&
            errno != EINPROGRESS)
                return -errno;
        /* Writable once connected (or failed): on_io() then tells which. */
        r = sd_event_add_io(l->event, &l->io_source, fd, EPOLLOUT, on_io, l);
        if (r < 0)
                return r;
        l->fd = TAKE_FD(fd);
        lb_arm_timer(l, LB_ATTEMPT_TIMEOUT);
        return 0;
}

static void lb_attempt(LbClient *l)
{
        int r;

        l->attempt++;
        r = lb_connect(l);
        if (r < 0)
                lb_attempt_failed(l, strerror(-r));
}

/* Starts on the wanted state if idle and haproxy does not have it yet. */
static void lb_next(LbClient *l)
{
        if (l->in_flight >= 0 || l->wanted < 0 || l->wanted == l->acknowledged ||
            l->wanted == l->given_up)
                return;
        l->in_flight = l->wanted;
        l->resyncing = false;
        /* Until haproxy answers, its state is not known: a lost answer may have applied. */
        l->acknowledged = -1;
        l->attempt = 0;
        l->warned = false;
        lb_attempt(l);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        LbClient *l = userdata;

        if (l->fd >= 0) {
                lb_attempt_failed(l, "no answer in time");
                return 0;
        }
        /* The retry delay is over. */
        if (l->wanted != l->in_flight) {
                l->in_flight = -1;
                lb_next(l);
                return 0;
        }
        lb_attempt(l);
        return 0;
}

static void lb_set(LbClient *l, LbState s);

static int on_later(sd_event_source *s, uint64_t usec, void *userdata)
{
        LbClient *l = userdata;
        int pending = l->pending;

        l->pending = -1;
        if (pending >= 0)
                lb_set(l, (LbState)pending);
        return 0;
}

int lb_client_new(sd_event *e, const Config *c, LbClient **ret)
{
        _cleanup_(lb_client_freep) LbClient *l = NULL;
        int r;

        *ret = NULL;
        if (!c->lb_haproxy)
                return 0;
        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->event = sd_event_ref(e);
        l->fd = -1;
        l->wanted = l->acknowledged = l->in_flight = l->given_up = l->pending = -1;
        l->address = c->lb_address;
        l->address_string = strdup(c->lb_haproxy);
        l->backend = strdup(c->lb_backend);
        l->server = strdup(c->lb_server ? c->lb_server : c->node_name);
        if (!l->address_string || !l->backend || !l->server)
                return -ENOMEM;
        r = sd_event_add_time(e, &l->timer, CLOCK_MONOTONIC, 0, 1 * USEC_PER_MSEC, on_timer, l);
        if (r < 0)
                return r;
        (void)sd_event_source_set_enabled(l->timer, SD_EVENT_OFF);
        r = sd_event_add_time(e, &l->later, CLOCK_MONOTONIC, 0, 1 * USEC_PER_MSEC, on_later, l);
        if (r < 0)
                return r;
        (void)sd_event_source_set_enabled(l->later, SD_EVENT_OFF);
        *ret = TAKE_PTR(l);
        return 0;
}

LbClient *lb_client_free(LbClient *l)
{
        if (!l)
                return NULL;
        lb_close(l);
        sd_event_source_disable_unref(l->timer);
        sd_event_source_disable_unref(l->later);
        sd_event_unref(l->event);
        free(l->address_string);
        free(l->backend);
        free(l->server);
        free(l);
        return NULL;
}

void lb_client_set(LbClient *l, LbState s)
{
        if (!l)
                return;
        /* Whatever was to come later is superseded. */
        l->pending = -1;
        (void)sd_event_source_set_enabled(l->later, SD_EVENT_OFF);
        lb_set(l, s);
}

void lb_client_set_after(LbClient *l, LbState s, usec_t delay)
{
        if (!l)
                return;
        if (delay == 0)
                return lb_client_set(l, s);
        if (l->wanted == (int)s || l->pending == (int)s)
                return; /* already there, or on its way: the first deadline stands */
        l->pending = (int)s;
        lb_arm_time(l->event, l->later, delay);
}

static void lb_set(LbClient *l, LbState s)
{
        if (l->wanted == (int)s)
                return;
        l->wanted = (int)s;
        l->given_up = -1;
        if (l->in_flight >= 0 && l->fd < 0) {
                /* Waiting to retry an older state: go for the new one now. */
                (void)sd_event_source_set_enabled(l->timer, SD_EVENT_OFF);
                l->in_flight = -1;
        }
        lb_next(l);
}

bool lb_config_equal(const Config *a, const Config *b)
{
        return streq_ptr(a->lb_haproxy, b->lb_haproxy) && streq_ptr(a->lb_backend, b->lb_backend) &&
               streq_ptr(a->lb_server, b->lb_server) && streq_ptr(a->node_name, b->node_name);
}

int lb_client_get_acknowledged(const LbClient *l)
{
        return l ? l->acknowledged : -1;
}
