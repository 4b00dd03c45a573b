/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "health.h"

#include <sys/socket.h>

#include "list.h"
#include "listener.h"
#include "log.h"

typedef enum HealthKind { HEALTH_AGENT, HEALTH_HTTP, _HEALTH_KIND_MAX } HealthKind;

/* The configuration key of each listener, for messages. */
static const char *const health_kind_key[_HEALTH_KIND_MAX] = {
    [HEALTH_AGENT] = "agent_listen",
    [HEALTH_HTTP] = "http_listen",
};

typedef enum ConnectionPhase {
        CONNECTION_READING,   /* HTTP: waiting for the request head */
        CONNECTION_WRITING,   /* reply partly sent */
        CONNECTION_LINGERING, /* reply sent and write side shut: reading until the client closes */
} ConnectionPhase;

typedef struct HealthConnection HealthConnection;
struct HealthConnection {
        HealthServer *server;
        HealthConnection *prev, *next;
        ConnectionPhase phase;
        int fd;
        sd_event_source *io_source;
        sd_event_source *timer_source;
        char request[HEALTH_REQUEST_MAX];
        size_t size;
        char *reply;
        size_t reply_size, reply_sent;
};

struct HealthServer {
        sd_event *event;
        HealthStateFn state_fn;
        HealthDocumentFn document_fn;
        void *userdata;
        Listener *listeners[_HEALTH_KIND_MAX];
        HealthConnection *head, *tail; /* oldest first */
        unsigned n_connections;
        usec_t announce_time;  /* how long "stopping" still answers as serving */
        usec_t stopping_since; /* when a client first saw "stopping"; 0: not stopping */
};

const char *health_agent_reply(RoleState state)
{
        /* "ready" undoes a drain we asked for in an earlier handover: haproxy keeps an
         * agent-set admin state until the agent itself reverts it. "drain" (weight 0, the server
         * stays up) sends no new requests but lets those in flight finish; "down" would report a
         * failed server, and with "on-marked-down shutdown-sessions" cut them. */
        if (role_state_is_serving(state))
                return "up ready\n";
        if (state == ROLE_STOPPING)
                return "drain\n";
        return "down\n";
}

static void connection_free(HealthConnection *c)
{
        HealthServer *s = c->server;

        sd_event_source_disable_unref(c->io_source);
        sd_event_source_disable_unref(c->timer_source);
        if (c->fd >= 0)
                close(c->fd);
        LIST_REMOVE(s->head, s->tail, c);
        s->n_connections--;
        free(c->reply);
        free(c);
}

static int on_connection_deadline(sd_event_source *source, uint64_t usec, void *userdata)
{
        HealthConnection *c = userdata;

        log_debug("Health connection timed out while %s, closing.",
                  c->phase == CONNECTION_READING ? "reading the request" : "finishing");
        connection_free(c);
        return 0;
}

/* Sends what is left of the reply; once it is out, shuts our side and waits for the client to
 * close, so unread request bytes never turn our close into a reset that eats the reply. */
static void connection_continue(HealthConnection *c)
{
        int r = send_pending(c->fd, c->reply, c->reply_size, &c->reply_sent);

        if (r < 0) {
                log_debug_errno(r, "Health client went away before its reply: %m");
                connection_free(c);
                return;
        }
        if (r == 0) {
                c->phase = CONNECTION_WRITING;
                r = sd_event_source_set_io_events(c->io_source, EPOLLOUT);
        } else {
                c->phase = CONNECTION_LINGERING;
                (void)shutdown(c->fd, SHUT_WR);
                r = sd_event_source_set_io_events(c->io_source, EPOLLIN);
        }
        if (r < 0) {
                log_error_errno(r, "Failed to watch a health connection: %m");
                connection_free(c);
        }
}

/* Takes ownership of text. */
static void connection_reply(HealthConnection *c, char *text)
{
        if (!text) {
                log_oom();
                connection_free(c);
                return;
        }
        free(c->reply);
        c->reply = text;
        c->reply_size = strlen(text);
        c->reply_sent = 0;
        connection_continue(c);
}

static RoleState state_now(HealthServer *s)
{
        return s->state_fn(s->userdata);
}

/* The state as the balancer should act on it: see "make-before-break" in health.h. */
static bool serving_now(HealthServer *s, RoleState state)
{
        usec_t now;

        if (state != ROLE_STOPPING) {
                s->stopping_since = 0;
                return role_state_is_serving(state);
        }
        now = now_usec(CLOCK_MONOTONIC);
        if (s->stopping_since == 0)
                s->stopping_since = now;
        return now - s->stopping_since < s->announce_time;
}

static const char *agent_reply_now(HealthServer *s)
{
        RoleState state = state_now(s);

        return health_agent_reply(serving_now(s, state) ? ROLE_ACTIVE : state);
}

static char *http_response_typed(unsigned code, const char *reason, const char *content_type,
                                 const char *extra_headers, const char *body, bool with_body)
{
        return strdup_printf("HTTP/1.0 %u %s\r\n"
                             "Content-Type: %s\r\n"
                             "Content-Length: %zu\r\n"
                             "Cache-Control: no-store\r\n"
                             "%s"
                             "Connection: close\r\n"
                             "\r\n"
                             "%s",
                             code, reason, content_type, strlen(body),
                             extra_headers ? extra_headers : "", with_body ? body : "");
}

static char *http_response(unsigned code, const char *reason, const char *extra_headers,
                           const char *body, bool with_body)
{
        return http_response_typed(code, reason, "text/plain", extra_headers, body, with_body);
}

static char *http_document(HealthServer *s, const char *target, bool with_body)
{
        _cleanup_free_ char *body = NULL;
        const char *type = "text/plain";
        int r;

        if (!s->document_fn)
                return http_response(404, "Not Found", NULL, "not found\n", with_body);
        r = s->document_fn(target, &body, &type, s->userdata);
        if (r == -ENOENT)
                return http_response(404, "Not Found", NULL, "not found\n", with_body);
        if (r < 0 || !body)
                return http_response(500, "Internal Server Error", NULL, "internal error\n",
                                     with_body);
        return http_response_typed(200, "OK", type, NULL, body, with_body);
}

/* head holds the request line and headers (NUL-terminated); returns the response. */
static char *http_answer(HealthServer *s, char *head)
{
        _cleanup_free_ char *body = NULL;
        char *line_end, *method, *target, *version, *query;
        bool serving, with_body;

        line_end = head + strcspn(head, "\r\n");
        *line_end = 0;
        method = head;
        target = strchr(method, ' ');
        if (!target)
                return http_response(400, "Bad Request", NULL, "bad request\n", true);
        *target++ = 0;
        version = strchr(target, ' ');
        if (!version)
                return http_response(400, "Bad Request", NULL, "bad request\n", true);
        *version++ = 0;
        if (strncmp(version, "HTTP/", 5) != 0 || strchr(version, ' '))
                return http_response(400, "Bad Request", NULL, "bad request\n", true);

        with_body = !streq(method, "HEAD");
        /* OPTIONS is what haproxy's "option httpchk" sends unless told otherwise. */
        if (!streq(method, "GET") && !streq(method, "HEAD") && !streq(method, "OPTIONS"))
                return http_response(405, "Method Not Allowed", "Allow: GET, HEAD, OPTIONS\r\n",
                                     "method not allowed\n", true);
        query = strchr(target, '?');
        if (query)
                *query = 0;
        if (!streq(target, "/"))
                return http_document(s, target, with_body);

        RoleState state = state_now(s);
        serving = serving_now(s, state);
        body = strdup_printf("%s\n", role_state_to_string(state) ?: "unknown");
        if (!body)
                return NULL;
        return serving ? http_response(200, "OK", NULL, body, with_body)
                       : http_response(503, "Service Unavailable", NULL, body, with_body);
}

static void connection_read_request(HealthConnection *c)
{
        char *end;
        ssize_t k;

        k = recv(c->fd, c->request + c->size, sizeof(c->request) - 1 - c->size, MSG_DONTWAIT);
        if (k < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return;
                log_debug_errno(errno, "Failed to read a health request: %m");
                connection_free(c);
                return;
        }
        if (k == 0) { /* closed before the end of the head: nobody to answer */
                connection_free(c);
                return;
        }
        c->size += (size_t)k;
        c->request[c->size] = 0;

        end = memmem(c->request, c->size, "\r\n\r\n", 4);
        if (!end)
                end = memmem(c->request, c->size, "\n\n", 2);
        if (end) {
                *end = 0;
                if (memchr(c->request, 0, (size_t)(end - c->request)))
                        connection_reply(
                            c, http_response(400, "Bad Request", NULL, "bad request\n", true));
                else
                        connection_reply(c, http_answer(c->server, c->request));
        } else if (c->size >= sizeof(c->request) - 1)
                connection_reply(c, http_response(431, "Request Header Fields Too Large", NULL,
                                                  "request too large\n", true));
}

static void connection_discard_input(HealthConnection *c)
{
        char scratch[512];

        for (;;) {
                ssize_t k = recv(c->fd, scratch, sizeof(scratch), MSG_DONTWAIT);
                if (k > 0)
                        continue;
                if (k < 0 && (errno == EAGAIN || errno == EINTR))
                        return;
                connection_free(c); /* the client closed (or reset): done */
                return;
        }
}

static int on_connection_io(sd_event_source *source, int fd, uint32_t revents, void *userdata)
{
        HealthConnection *c = userdata;

        switch (c->phase) {
        case CONNECTION_READING:
                connection_read_request(c);
                break;
        case CONNECTION_WRITING:
                if (revents & (EPOLLHUP | EPOLLERR)) {
                        connection_free(c);
                        break;
                }
                connection_continue(c);
                break;
        case CONNECTION_LINGERING:
                connection_discard_input(c);
                break;
        }
        return 0;
}

static void connection_new(Listener *l, int fd, const struct sockaddr *address,
                           socklen_t address_len, void *userdata)
{
        HealthServer *s = userdata;
        HealthConnection *c;
        int r;

        /* Every connection ends within the deadline, so making room never hurts a well-behaved
         * balancer: the oldest one is the most likely to be stuck. */
        if (s->n_connections >= HEALTH_CONNECTIONS_MAX) {
                log_debug("Too many health connections, dropping the oldest.");
                connection_free(s->head);
        }

        c = calloc(1, sizeof(*c));
        if (!c) {
                close(fd);
                log_oom();
                return;
        }
        c->server = s;
        c->fd = fd;
        LIST_APPEND(s->head, s->tail, c);
        s->n_connections++;

        r = sd_event_add_io(s->event, &c->io_source, fd, EPOLLIN, on_connection_io, c);
        if (r >= 0)
                r = sd_event_add_time_relative(s->event, &c->timer_source, CLOCK_MONOTONIC,
                                               HEALTH_DEADLINE, 0, on_connection_deadline, c);
        if (r < 0) {
                log_error_errno(r, "Failed to set up a health connection: %m");
                connection_free(c);
                return;
        }

        if (l == s->listeners[HEALTH_AGENT]) {
                char *line = strdup(agent_reply_now(s));
                connection_reply(c, line);
        } else
                c->phase = CONNECTION_READING;
}

static int health_listen(HealthServer *s, HealthKind kind, const char *text,
                         const SocketAddress *address)
{
        int fd, r;

        fd = listen_socket_open(address, SOMAXCONN);
        if (fd < 0)
                return log_error_errno(fd, "Failed to listen on health.%s %s: %m",
                                       health_kind_key[kind], text);
        r = listener_new(s->event, fd, "health", connection_new, s, &s->listeners[kind]);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the health.%s socket: %m",
                                       health_kind_key[kind]);
        log_info("health.%s: listening on %s", health_kind_key[kind], text);
        return 0;
}

int health_server_new(sd_event *e, const Config *c, HealthStateFn fn, void *userdata,
                      HealthServer **ret)
{
        _cleanup_(health_server_freep) HealthServer *s = NULL;
        int r;

        if (!e || !c || !fn || !ret)
                return -EINVAL;
        s = calloc(1, sizeof(*s));
        if (!s)
                return log_oom();
        s->event = sd_event_ref(e);
        s->state_fn = fn;
        s->userdata = userdata;
        health_server_update(s, c);

        if (c->agent_listen) {
                r = health_listen(s, HEALTH_AGENT, c->agent_listen, &c->agent_listen_address);
                if (r < 0)
                        return r;
        }
        if (c->http_listen) {
                r = health_listen(s, HEALTH_HTTP, c->http_listen, &c->http_listen_address);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

void health_server_update(HealthServer *s, const Config *c)
{
        if (!s)
                return;
        s->announce_time = c->handover == HANDOVER_MAKE_BEFORE_BREAK ? c->drain_time / 2 : 0;
}

void health_server_set_documents(HealthServer *s, HealthDocumentFn fn)
{
        if (s)
                s->document_fn = fn;
}

HealthServer *health_server_free(HealthServer *s)
{
        if (!s)
                return NULL;
        while (s->head)
                connection_free(s->head);
        for (size_t i = 0; i < ELEMENTSOF(s->listeners); i++)
                listener_free(s->listeners[i]);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}
