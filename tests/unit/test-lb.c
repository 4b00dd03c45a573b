/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The lb client: the state mapping, the command lines and haproxy's answers as pure functions;
 * then the client in a real sd-event loop against a stand-in for haproxy's runtime API on a
 * loopback port, served from the same loop (accept, read one line, answer, close), which
 * records every command line it got. The real haproxy is in tests/integration/test-fast-lb. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "lb.h"
#include "free-port.h"

#define MAX_LINES 16

typedef struct Fake {
        sd_event *event;
        int listen_fd;
        sd_event_source *listen_source;
        unsigned port;
        const char *answer; /* per connection */
        char *lines[MAX_LINES];
        sd_event_source *conns[MAX_LINES];
        unsigned n_lines, n_connections;
} Fake;

/* One accepted connection: its line, once readable, gets the answer and the connection closes.
 * The client runs in the same loop, so nothing here may block. */
static int on_conn(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        Fake *f = userdata;
        char buf[1024];
        ssize_t k = read(fd, buf, sizeof(buf) - 1);

        if (k < 0 && errno == EAGAIN)
                return 0;
        buf[k > 0 ? k : 0] = 0;
        if (f->n_lines < MAX_LINES)
                f->lines[f->n_lines++] = strdup(buf);
        (void)!write(fd, f->answer, strlen(f->answer));
        (void)sd_event_source_set_enabled(s, SD_EVENT_OFF);
        close(fd);
        return 0;
}

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        Fake *f = userdata;
        int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

        if (c < 0)
                return 0;
        f->n_connections++;
        assert_true(f->n_connections <= MAX_LINES);
        assert_int_equal(
            sd_event_add_io(f->event, &f->conns[f->n_connections - 1], c, EPOLLIN, on_conn, f), 0);
        return 0;
}

static void fake_start_at(Fake *f, sd_event *e, const char *answer, unsigned port)
{
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                                 .sin_port = htons((uint16_t)port)};
        int one = 1;
        socklen_t len = sizeof(sa);

        *f = (Fake){.event = e, .answer = answer};
        f->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(f->listen_fd >= 0);
        assert_int_equal(setsockopt(f->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
        assert_int_equal(bind(f->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(f->listen_fd, 16), 0);
        assert_int_equal(getsockname(f->listen_fd, (struct sockaddr *)&sa, &len), 0);
        f->port = ntohs(sa.sin_port);
        assert_int_equal(sd_event_add_io(e, &f->listen_source, f->listen_fd, EPOLLIN, on_accept, f),
                         0);
}

static void fake_start(Fake *f, sd_event *e, const char *answer)
{
        fake_start_at(f, e, answer, 0);
}

static void fake_stop(Fake *f)
{
        sd_event_source_disable_unref(f->listen_source);
        if (f->listen_fd >= 0)
                close(f->listen_fd);
        for (unsigned i = 0; i < f->n_lines; i++)
                free(f->lines[i]);
        for (unsigned i = 0; i < f->n_connections && i < MAX_LINES; i++)
                sd_event_source_unref(f->conns[i]);
}

typedef struct Fixture {
        sd_event *event;
        Config config;
        char address[64];
        LbClient *lb;
} Fixture;

static void fixture_init(Fixture *x)
{
        *x = (Fixture){0};
        assert_int_equal(sd_event_new(&x->event), 0);
}

/* A new client for haproxy at port. */
static void fixture_connect(Fixture *x, unsigned port, const char *server)
{
        x->lb = lb_client_free(x->lb);
        snprintf(x->address, sizeof(x->address), "127.0.0.1:%u", port);
        x->config.lb_haproxy = x->address;
        assert_int_equal(socket_address_parse(x->address, &x->config.lb_address), 0);
        x->config.lb_backend = (char *)"be";
        x->config.lb_server = (char *)server;
        x->config.node_name = (char *)"web1";
        assert_int_equal(lb_client_new(x->event, &x->config, &x->lb), 0);
        assert_non_null(x->lb);
}

static void fixture_done(Fixture *x)
{
        x->lb = lb_client_free(x->lb);
        x->event = sd_event_unref(x->event);
}

/* Runs the loop until acknowledged == want (or, want -2, for the whole duration). */
static void run_until(Fixture *x, int want, usec_t duration)
{
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + duration;

        while (now_usec(CLOCK_MONOTONIC) < deadline) {
                assert_true(sd_event_run(x->event, 10 * USEC_PER_MSEC) >= 0);
                if (want != -2 && lb_client_get_acknowledged(x->lb) == want)
                        return;
        }
}

static void test_state_for(void **state)
{
        assert_int_equal(lb_state_for(ROLE_ACTIVE, ROLE_OP_NONE), LB_STATE_READY);
        assert_int_equal(lb_state_for(ROLE_DEGRADED, ROLE_OP_NONE), LB_STATE_READY);
        /* make-before-break: the peer serves, this one drains */
        assert_int_equal(lb_state_for(ROLE_STOPPING, ROLE_OP_HANDOVER_DRAIN), LB_STATE_DRAIN);
        assert_int_equal(lb_state_for(ROLE_STOPPING, ROLE_OP_HANDOVER_FINAL_STOP), LB_STATE_DRAIN);
        assert_int_equal(lb_state_for(ROLE_STOPPING, ROLE_OP_FENCE), LB_STATE_DRAIN);
        /* break-before-make, or yielding: nobody else is ready yet */
        assert_int_equal(lb_state_for(ROLE_STOPPING, ROLE_OP_HANDOVER_STOP), LB_STATE_READY);
        assert_int_equal(lb_state_for(ROLE_STOPPING, ROLE_OP_HANDOVER_WAIT_PEER), LB_STATE_READY);
        assert_int_equal(lb_state_for(ROLE_STOPPING, ROLE_OP_YIELD), LB_STATE_READY);
        assert_int_equal(lb_state_for(ROLE_PASSIVE, ROLE_OP_NONE), LB_STATE_MAINT);
        assert_int_equal(lb_state_for(ROLE_STARTING, ROLE_OP_START_FOR_PEER), LB_STATE_MAINT);
        assert_int_equal(lb_state_for(ROLE_FAULT, ROLE_OP_NONE), LB_STATE_MAINT);
        for (int s = 0; s < _LB_STATE_MAX; s++)
                assert_int_equal(lb_state_from_string(lb_state_to_string(s)), s);
}

static void test_command(void **state)
{
        char *c;

        c = lb_command("be", "web1", LB_STATE_READY);
        assert_string_equal(c, "set server be/web1 state ready; set server be/web1 health up; "
                               "set server be/web1 agent up\n");
        free(c);
        c = lb_command("be", "web1", LB_STATE_DRAIN);
        assert_string_equal(c, "set server be/web1 state drain\n");
        free(c);
        c = lb_command("b.e-2", "w_1", LB_STATE_MAINT);
        assert_string_equal(c, "set server b.e-2/w_1 state maint\n");
        free(c);
}

static void test_parse_reply(void **state)
{
        char ok[] = "\n\n\n", none[] = "",
             no_agent[] = "\n\nagent checks are not enabled on this "
                          "server.\n\n";
        char bad[] = "No such server.\n\n", crlf[] = "\r\n\r\n",
             later[] = "\n\nPermission denied\n";
        const char *error = NULL;

        assert_int_equal(lb_parse_reply(ok, &error), 0);
        assert_int_equal(lb_parse_reply(none, &error), 0);
        assert_int_equal(lb_parse_reply(no_agent, &error), 0);
        assert_int_equal(lb_parse_reply(crlf, &error), 0);
        assert_null(error);
        assert_int_equal(lb_parse_reply(bad, &error), -EBADMSG);
        assert_string_equal(error, "No such server.");
        assert_int_equal(lb_parse_reply(later, &error), -EBADMSG);
        assert_string_equal(error, "Permission denied");
}

static void test_no_lb(void **state)
{
        Config c = {0};
        LbClient *l = (LbClient *)&c;
        sd_event *e = NULL;

        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(lb_client_new(e, &c, &l), 0);
        assert_null(l);
        lb_client_set(NULL, LB_STATE_READY); /* a no-op */
        assert_int_equal(lb_client_get_acknowledged(NULL), -1);
        sd_event_unref(e);
}

/* Each state is sent once, in order; repeating one sends nothing. The server defaults to the
 * node's name. */
static void test_sends_in_order(void **state)
{
        Fixture x;
        Fake f;

        fixture_init(&x);
        fake_start(&f, x.event, "\n");
        fixture_connect(&x, f.port, NULL);

        lb_client_set(x.lb, LB_STATE_MAINT);
        run_until(&x, LB_STATE_MAINT, 5 * USEC_PER_SEC);
        assert_int_equal(lb_client_get_acknowledged(x.lb), LB_STATE_MAINT);
        lb_client_set(x.lb, LB_STATE_MAINT);
        /* Three changes at once: the first goes now, the last once it is done; the middle one
         * was superseded before it could be sent. */
        lb_client_set(x.lb, LB_STATE_READY);
        lb_client_set(x.lb, LB_STATE_DRAIN);
        lb_client_set(x.lb, LB_STATE_MAINT);
        run_until(&x, -2, 300 * USEC_PER_MSEC);
        assert_int_equal(lb_client_get_acknowledged(x.lb), LB_STATE_MAINT);
        assert_int_equal(f.n_lines, 3);
        assert_string_equal(f.lines[0], "set server be/web1 state maint\n");
        assert_string_equal(f.lines[1], "set server be/web1 state ready; set server be/web1 health "
                                        "up; set server be/web1 agent up\n");
        assert_string_equal(f.lines[2], "set server be/web1 state maint\n");
        fake_stop(&f);
        fixture_done(&x);
}

/* set_after: the state comes after the delay (repeating the call does not postpone it); a plain
 * set meanwhile supersedes it. */
static void test_set_after(void **state)
{
        Fixture x;
        Fake f;

        fixture_init(&x);
        fake_start(&f, x.event, "\n");
        fixture_connect(&x, f.port, NULL);
        lb_client_set(x.lb, LB_STATE_READY);
        run_until(&x, LB_STATE_READY, 5 * USEC_PER_SEC);

        lb_client_set_after(x.lb, LB_STATE_DRAIN, 300 * USEC_PER_MSEC);
        run_until(&x, -2, 100 * USEC_PER_MSEC);
        lb_client_set_after(x.lb, LB_STATE_DRAIN, 300 * USEC_PER_MSEC);
        assert_int_equal(lb_client_get_acknowledged(x.lb), LB_STATE_READY);
        run_until(&x, LB_STATE_DRAIN, 5 * USEC_PER_SEC);
        assert_int_equal(lb_client_get_acknowledged(x.lb), LB_STATE_DRAIN);

        lb_client_set_after(x.lb, LB_STATE_READY, 200 * USEC_PER_MSEC);
        lb_client_set(x.lb, LB_STATE_MAINT);
        run_until(&x, -2, 500 * USEC_PER_MSEC);
        assert_int_equal(lb_client_get_acknowledged(x.lb), LB_STATE_MAINT);
        assert_int_equal(f.n_lines, 3); /* ready, drain, maint: never ready again */
        fake_stop(&f);
        fixture_done(&x);
}

/* haproxy refusing (no such server) is not retried. */
static void test_refused_not_retried(void **state)
{
        Fixture x;
        Fake f;

        fixture_init(&x);
        fake_start(&f, x.event, "No such server.\n\n");
        fixture_connect(&x, f.port, "nope");

        lb_client_set(x.lb, LB_STATE_READY);
        run_until(&x, -2, 500 * USEC_PER_MSEC);
        assert_int_equal(f.n_connections, 1);
        assert_int_equal(lb_client_get_acknowledged(x.lb), -1);
        fake_stop(&f);
        fixture_done(&x);
}

/* Nobody listening: LB_ATTEMPTS attempts with backoff, then a new series every
 * LB_RESYNC_INTERVAL, so haproxy gets the state once it is there (started after the agent). */
static void test_retries_then_resyncs(void **state)
{
        unsigned port = free_port();
        Fixture x;
        Fake f;

        fixture_init(&x);
        fixture_connect(&x, port, "web1");
        lb_client_set(x.lb, LB_STATE_READY);
        /* 50 + 100 + 200 + 400 ms of backoff, and then some */
        run_until(&x, -2, 1500 * USEC_PER_MSEC);
        assert_int_equal(lb_client_get_acknowledged(x.lb), -1);

        fake_start_at(&f, x.event, "\n\n\n", port);
        run_until(&x, LB_STATE_READY, LB_RESYNC_INTERVAL + 5 * USEC_PER_SEC);
        assert_int_equal(lb_client_get_acknowledged(x.lb), LB_STATE_READY);
        assert_int_equal(f.n_lines, 1);
        fake_stop(&f);
        fixture_done(&x);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_state_for),      cmocka_unit_test(test_command),
            cmocka_unit_test(test_parse_reply),    cmocka_unit_test(test_no_lb),
            cmocka_unit_test(test_sends_in_order), cmocka_unit_test(test_refused_not_retried),
            cmocka_unit_test(test_set_after),      cmocka_unit_test(test_retries_then_resyncs),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
