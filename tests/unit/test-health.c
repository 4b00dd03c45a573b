/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The health listeners: a real server in a real sd-event loop on loopback TCP ports, real
 * clients in threads doing plain blocking socket I/O while the loop runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>

#include "health.h"
#include "free-port.h"

#define CLIENT_TIMEOUT (10 * USEC_PER_SEC)
#define IDLE_CLIENTS   (HEALTH_CONNECTIONS_MAX + 36)

typedef struct Fixture {
        sd_event *event;
        Config config;
        HealthServer *server;
        RoleState state;
        unsigned n_state_calls;
        char agent[64], http[64];
} Fixture;

static RoleState state_fn(void *userdata)
{
        Fixture *f = userdata;

        f->n_state_calls++;
        return f->state;
}

static int setup(void **state)
{
        Fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        f->state = ROLE_ACTIVE;
        snprintf(f->agent, sizeof(f->agent), "127.0.0.1:%u", free_port());
        snprintf(f->http, sizeof(f->http), "127.0.0.1:%u", free_port());
        f->config.agent_listen = f->agent;
        f->config.http_listen = f->http;
        assert_int_equal(socket_address_parse(f->agent, &f->config.agent_listen_address), 0);
        assert_int_equal(socket_address_parse(f->http, &f->config.http_listen_address), 0);
        assert_int_equal(sd_event_new(&f->event), 0);
        assert_int_equal(health_server_new(f->event, &f->config, state_fn, f, &f->server), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        Fixture *f = *state;

        health_server_free(f->server);
        sd_event_unref(f->event);
        free(f);
        return 0;
}

static int client_connect(const SocketAddress *a)
{
        struct timeval tv = {.tv_sec = 5};
        int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return -errno;
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (connect(fd, (const struct sockaddr *)&a->sa, a->len) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

/* One client exchange, run in a thread: send each piece (pausing between them), then read
 * until the server closes. */
typedef struct Exchange {
        const SocketAddress *address;
        const char *pieces[4];
        unsigned pause_ms;
        char reply[8192];
        size_t size;
        int error;  /* -errno of connect/send/recv, or 0 */
        bool reset; /* recv ended with ECONNRESET rather than EOF */
        usec_t elapsed;
        atomic_bool done;
} Exchange;

static void *exchange_thread(void *arg)
{
        Exchange *x = arg;
        usec_t start = now_usec(CLOCK_MONOTONIC);
        int fd = client_connect(x->address);

        if (fd < 0) {
                x->error = fd;
                goto out;
        }
        for (size_t i = 0; i < ELEMENTSOF(x->pieces) && x->pieces[i]; i++) {
                if (i > 0 && x->pause_ms)
                        usleep(x->pause_ms * 1000);
                if (send(fd, x->pieces[i], strlen(x->pieces[i]), MSG_NOSIGNAL) < 0) {
                        x->error = -errno;
                        break;
                }
        }
        for (;;) {
                ssize_t k = recv(fd, x->reply + x->size, sizeof(x->reply) - 1 - x->size, 0);
                if (k > 0) {
                        x->size += (size_t)k;
                        continue;
                }
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        x->reset = errno == ECONNRESET;
                        x->error = -errno;
                }
                break;
        }
        x->reply[x->size] = 0;
        close(fd);
out:
        x->elapsed = now_usec(CLOCK_MONOTONIC) - start;
        atomic_store(&x->done, true);
        return NULL;
}

/* Runs the loop until every exchange is done. */
static void run_exchanges(Fixture *f, Exchange *xs, size_t n)
{
        pthread_t threads[8];
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + CLIENT_TIMEOUT;
        bool all;

        assert_true(n <= ELEMENTSOF(threads));
        for (size_t i = 0; i < n; i++)
                assert_int_equal(pthread_create(&threads[i], NULL, exchange_thread, &xs[i]), 0);
        do {
                assert_true(now_usec(CLOCK_MONOTONIC) < deadline);
                assert_true(sd_event_run(f->event, 10 * USEC_PER_MSEC) >= 0);
                all = true;
                for (size_t i = 0; i < n; i++)
                        all = all && atomic_load(&xs[i].done);
        } while (!all);
        for (size_t i = 0; i < n; i++)
                assert_int_equal(pthread_join(threads[i], NULL), 0);
}

static void assert_agent_line(Fixture *f, const char *expected)
{
        Exchange x = {.address = &f->config.agent_listen_address};

        run_exchanges(f, &x, 1);
        assert_int_equal(x.error, 0);
        assert_string_equal(x.reply, expected);
}

static void test_agent_reply_follows_state(void **state)
{
        static const struct {
                RoleState state;
                const char *line;
        } table[] = {
            {ROLE_ACTIVE, "up ready\n"}, {ROLE_DEGRADED, "up ready\n"}, {ROLE_STOPPING, "drain\n"},
            {ROLE_PASSIVE, "down\n"},    {ROLE_STARTING, "down\n"},     {ROLE_FAULT, "down\n"},
            {_ROLE_STATE_MAX, "down\n"},
        };
        Fixture *f = *state;

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                f->state = table[i].state;
                assert_agent_line(f, table[i].line);
                assert_string_equal(health_agent_reply(table[i].state), table[i].line);
        }
        /* The state is asked at each connection, not cached. */
        assert_int_equal(f->n_state_calls, ELEMENTSOF(table));
}

static void test_agent_send_does_not_reset(void **state)
{
        Fixture *f = *state;
        Exchange x = {.address = &f->config.agent_listen_address,
                      .pieces = {"backend/web1\n", "more bytes nobody reads\n"},
                      .pause_ms = 20};

        /* haproxy's agent-send writes before reading; unread bytes must not turn our close into
         * a reset that loses the reply. */
        f->state = ROLE_STOPPING;
        run_exchanges(f, &x, 1);
        assert_false(x.reset);
        assert_int_equal(x.error, 0);
        assert_string_equal(x.reply, "drain\n");
}

static void http_get(Fixture *f, const char *request, Exchange *x)
{
        *x = (Exchange){.address = &f->config.http_listen_address, .pieces = {request}};
        run_exchanges(f, x, 1);
        assert_int_equal(x->error, 0);
}

static void assert_http(const Exchange *x, const char *status_line, const char *body)
{
        const char *head_end = strstr(x->reply, "\r\n\r\n");

        assert_non_null(head_end);
        assert_true(strncmp(x->reply, status_line, strlen(status_line)) == 0);
        assert_non_null(strstr(x->reply, "\r\nConnection: close\r\n"));
        assert_string_equal(head_end + 4, body);
}

static void test_http_status(void **state)
{
        Fixture *f = *state;
        Exchange x;

        f->state = ROLE_ACTIVE;
        http_get(f, "GET / HTTP/1.0\r\n\r\n", &x);
        assert_http(&x, "HTTP/1.0 200 ", "active\n");
        assert_non_null(strstr(x.reply, "\r\nContent-Length: 7\r\n"));

        f->state = ROLE_DEGRADED;
        http_get(f, "GET / HTTP/1.1\r\nHost: lb\r\nUser-Agent: test\r\n\r\n", &x);
        assert_http(&x, "HTTP/1.0 200 ", "degraded\n");

        f->state = ROLE_PASSIVE;
        http_get(f, "GET / HTTP/1.0\r\n\r\n", &x);
        assert_http(&x, "HTTP/1.0 503 ", "passive\n");

        f->state = ROLE_STOPPING;
        http_get(f, "GET /?from=lb HTTP/1.0\n\n", &x); /* bare newlines, a query */
        assert_http(&x, "HTTP/1.0 503 ", "stopping\n");

        /* haproxy's default httpchk */
        f->state = ROLE_ACTIVE;
        http_get(f, "OPTIONS / HTTP/1.0\r\n\r\n", &x);
        assert_http(&x, "HTTP/1.0 200 ", "active\n");

        /* HEAD: same status and length, no body */
        f->state = ROLE_FAULT;
        http_get(f, "HEAD / HTTP/1.0\r\n\r\n", &x);
        assert_http(&x, "HTTP/1.0 503 ", "");
        assert_non_null(strstr(x.reply, "\r\nContent-Length: 6\r\n"));
}

static void test_http_errors(void **state)
{
        Fixture *f = *state;
        Exchange x;

        http_get(f, "GET /status HTTP/1.0\r\n\r\n", &x);
        assert_http(&x, "HTTP/1.0 404 ", "not found\n");
        http_get(f, "POST / HTTP/1.0\r\nContent-Length: 0\r\n\r\n", &x);
        assert_http(&x, "HTTP/1.0 405 ", "method not allowed\n");
        assert_non_null(strstr(x.reply, "\r\nAllow: GET, HEAD, OPTIONS\r\n"));
        http_get(f, "GET /\r\n\r\n", &x);
        assert_http(&x, "HTTP/1.0 400 ", "bad request\n");
        http_get(f, "hello\n\n", &x);
        assert_http(&x, "HTTP/1.0 400 ", "bad request\n");
        http_get(f, "GET / SPDY/3\r\n\r\n", &x);
        assert_http(&x, "HTTP/1.0 400 ", "bad request\n");

        /* A NUL inside the head is refused, not read as the end of a string. */
        x = (Exchange){.address = &f->config.http_listen_address};
        {
                static const char with_nul[] = "GET / HTTP/1.0\r\nX: a\0b\r\n\r\n";
                int fd = client_connect(x.address);
                assert_true(fd >= 0);
                assert_int_equal(send(fd, with_nul, sizeof(with_nul) - 1, MSG_NOSIGNAL),
                                 (ssize_t)sizeof(with_nul) - 1);
                usec_t deadline = now_usec(CLOCK_MONOTONIC) + CLIENT_TIMEOUT;
                struct pollfd p = {.fd = fd, .events = POLLIN};
                while (poll(&p, 1, 0) == 0) {
                        assert_true(now_usec(CLOCK_MONOTONIC) < deadline);
                        assert_true(sd_event_run(f->event, 10 * USEC_PER_MSEC) >= 0);
                }
                ssize_t k = recv(fd, x.reply, sizeof(x.reply) - 1, 0);
                assert_true(k > 0);
                x.reply[k] = 0;
                assert_true(strncmp(x.reply, "HTTP/1.0 400 ", 13) == 0);
                close(fd);
        }
}

static void test_http_request_in_pieces(void **state)
{
        Fixture *f = *state;
        Exchange x = {.address = &f->config.http_listen_address,
                      .pieces = {"GE", "T / HTTP/1.0\r", "\nHost: x\r\n", "\r\n"},
                      .pause_ms = 30};

        run_exchanges(f, &x, 1);
        assert_int_equal(x.error, 0);
        assert_http(&x, "HTTP/1.0 200 ", "active\n");
}

static void test_http_oversize(void **state)
{
        Fixture *f = *state;
        _cleanup_free_ char *big = malloc(2 * HEALTH_REQUEST_MAX);
        Exchange x;

        assert_non_null(big);
        memset(big, 'a', 2 * HEALTH_REQUEST_MAX - 1);
        big[2 * HEALTH_REQUEST_MAX - 1] = 0;
        memcpy(big, "GET / HTTP/1.0\r\nX: ", 19);
        x = (Exchange){.address = &f->config.http_listen_address, .pieces = {big}};
        run_exchanges(f, &x, 1);
        /* We answer once the head is too long; the rest of what the client sends may reset. */
        assert_true(strncmp(x.reply, "HTTP/1.0 431 ", 13) == 0);
}

static void test_silent_client_closed_at_deadline(void **state)
{
        Fixture *f = *state;
        Exchange silent = {.address = &f->config.http_listen_address};
        Exchange quick[2] = {
            {.address = &f->config.agent_listen_address},
            {.address = &f->config.http_listen_address, .pieces = {"GET / HTTP/1.0\r\n\r\n"}},
        };
        pthread_t thread;
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + CLIENT_TIMEOUT;

        /* The silent client sends nothing and waits: the server must not wait on it, and must
         * close it at the deadline. */
        assert_int_equal(pthread_create(&thread, NULL, exchange_thread, &silent), 0);
        usleep(50 * 1000);
        run_exchanges(f, quick, 2);
        assert_string_equal(quick[0].reply, "up ready\n");
        assert_http(&quick[1], "HTTP/1.0 200 ", "active\n");
        assert_true(quick[0].elapsed < 1 * USEC_PER_SEC);
        assert_true(quick[1].elapsed < 1 * USEC_PER_SEC);
        assert_false(atomic_load(&silent.done));

        while (!atomic_load(&silent.done)) {
                assert_true(now_usec(CLOCK_MONOTONIC) < deadline);
                assert_true(sd_event_run(f->event, 10 * USEC_PER_MSEC) >= 0);
        }
        assert_int_equal(pthread_join(thread, NULL), 0);
        assert_int_equal(silent.size, 0);
        assert_true(silent.elapsed >= HEALTH_DEADLINE - 200 * USEC_PER_MSEC);
        assert_true(silent.elapsed < HEALTH_DEADLINE + 2 * USEC_PER_SEC);
}

static void test_connections_bounded(void **state)
{
        Fixture *f = *state;
        int fds[IDLE_CLIENTS];
        unsigned closed = 0;
        Exchange x;

        for (size_t i = 0; i < IDLE_CLIENTS; i++) {
                fds[i] = client_connect(&f->config.http_listen_address);
                assert_true(fds[i] >= 0);
                /* Accept them one by one so "oldest" means something. */
                for (int j = 0; j < 3; j++)
                        assert_true(sd_event_run(f->event, 0) >= 0);
        }
        for (int j = 0; j < 20; j++)
                assert_true(sd_event_run(f->event, 1 * USEC_PER_MSEC) >= 0);

        /* A real request still gets through at once. */
        http_get(f, "GET / HTTP/1.0\r\n\r\n", &x);
        assert_http(&x, "HTTP/1.0 200 ", "active\n");
        assert_true(x.elapsed < 1 * USEC_PER_SEC);

        /* Well before the deadline, the oldest idle ones were closed to stay under the bound, the
         * newest are still open. */
        for (size_t i = 0; i < IDLE_CLIENTS; i++) {
                struct pollfd p = {.fd = fds[i], .events = POLLIN};
                if (poll(&p, 1, 0) == 1)
                        closed++;
        }
        assert_true(closed >= IDLE_CLIENTS - HEALTH_CONNECTIONS_MAX);
        assert_true(closed < IDLE_CLIENTS);
        {
                struct pollfd p = {.fd = fds[IDLE_CLIENTS - 1], .events = POLLIN};
                assert_int_equal(poll(&p, 1, 0), 0);
                p.fd = fds[0];
                assert_int_equal(poll(&p, 1, 0), 1);
        }
        for (size_t i = 0; i < IDLE_CLIENTS; i++)
                close(fds[i]);
}

static void run_for(Fixture *f, usec_t duration)
{
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + duration;

        while (now_usec(CLOCK_MONOTONIC) < deadline)
                assert_true(sd_event_run(f->event, 10 * USEC_PER_MSEC) >= 0);
}

static void test_make_before_break_announces_before_draining(void **state)
{
        Fixture *f = *state;
        Exchange x;

        /* Break-before-make (the default): stopping drains at once. */
        f->state = ROLE_STOPPING;
        assert_agent_line(f, "drain\n");
        http_get(f, "GET / HTTP/1.0\r\n\r\n", &x);
        assert_http(&x, "HTTP/1.0 503 ", "stopping\n");

        /* Make-before-break: for the first half of drain_time the balancer still sees this node
         * serving, so that it has seen the peer up before this one is drained. */
        f->config.handover = HANDOVER_MAKE_BEFORE_BREAK;
        f->config.drain_time = 600 * USEC_PER_MSEC;
        health_server_update(f->server, &f->config);
        f->state = ROLE_ACTIVE;
        assert_agent_line(f, "up ready\n");
        f->state = ROLE_STOPPING;
        assert_agent_line(f, "up ready\n");
        http_get(f, "GET / HTTP/1.0\r\n\r\n", &x);
        assert_http(&x, "HTTP/1.0 200 ", "stopping\n");
        run_for(f, 350 * USEC_PER_MSEC);
        assert_agent_line(f, "drain\n");
        http_get(f, "GET / HTTP/1.0\r\n\r\n", &x);
        assert_http(&x, "HTTP/1.0 503 ", "stopping\n");

        /* The next handover announces again. */
        f->state = ROLE_PASSIVE;
        assert_agent_line(f, "down\n");
        f->state = ROLE_STOPPING;
        assert_agent_line(f, "up ready\n");
}

static void test_no_listeners(void **state)
{
        sd_event *e = NULL;
        Config c = {};
        HealthServer *s = NULL;

        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(health_server_new(e, &c, state_fn, NULL, &s), 0);
        assert_non_null(s);
        health_server_free(s);
        assert_null(health_server_free(NULL));
        assert_int_equal(health_server_new(e, &c, NULL, NULL, &s), -EINVAL);
        sd_event_unref(e);
}

static void test_address_in_use(void **state)
{
        Fixture *f = *state;
        Config c = {.agent_listen = f->agent,
                    .agent_listen_address = f->config.agent_listen_address};
        HealthServer *s = NULL;

        assert_int_equal(health_server_new(f->event, &c, state_fn, f, &s), -EADDRINUSE);
        assert_null(s);
        /* Only the http listener here: the agent port stays closed. */
        c = (Config){.http_listen = f->http, .http_listen_address = f->config.http_listen_address};
        assert_int_equal(health_server_new(f->event, &c, state_fn, f, &s), -EADDRINUSE);
}

static void test_ipv6(void **state)
{
        sd_event *e = NULL;
        Config c = {};
        HealthServer *s = NULL;
        char address[64];
        Exchange x;
        int probe;

        probe = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe < 0) {
                skip();
                return;
        }
        close(probe);
        snprintf(address, sizeof(address), "[::1]:%u", free_port());
        c.agent_listen = address;
        assert_int_equal(socket_address_parse(address, &c.agent_listen_address), 0);
        assert_int_equal(sd_event_new(&e), 0);
        {
                Fixture f = {.event = e, .state = ROLE_PASSIVE};
                int r = health_server_new(e, &c, state_fn, &f, &s);
                if (r == -EADDRNOTAVAIL) { /* no ::1 on this host */
                        sd_event_unref(e);
                        skip();
                        return;
                }
                assert_int_equal(r, 0);
                x = (Exchange){.address = &c.agent_listen_address};
                run_exchanges(&f, &x, 1);
                assert_string_equal(x.reply, "down\n");
        }
        health_server_free(s);
        sd_event_unref(e);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_agent_reply_follows_state, setup, teardown),
            cmocka_unit_test_setup_teardown(test_agent_send_does_not_reset, setup, teardown),
            cmocka_unit_test_setup_teardown(test_http_status, setup, teardown),
            cmocka_unit_test_setup_teardown(test_http_errors, setup, teardown),
            cmocka_unit_test_setup_teardown(test_http_request_in_pieces, setup, teardown),
            cmocka_unit_test_setup_teardown(test_http_oversize, setup, teardown),
            cmocka_unit_test_setup_teardown(test_silent_client_closed_at_deadline, setup, teardown),
            cmocka_unit_test_setup_teardown(test_connections_bounded, setup, teardown),
            cmocka_unit_test_setup_teardown(test_make_before_break_announces_before_draining, setup,
                                            teardown),
            cmocka_unit_test(test_no_listeners),
            cmocka_unit_test_setup_teardown(test_address_in_use, setup, teardown),
            cmocka_unit_test(test_ipv6),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
