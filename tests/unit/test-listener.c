/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The listening socket: real loopback TCP sockets in a real sd-event loop; out-of-descriptor
 * conditions made real with RLIMIT_NOFILE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/resource.h>

#include "listener.h"

#define ACCEPTED_MAX 16

typedef struct Fixture {
        sd_event *event;
        Listener *listener;
        SocketAddress address; /* where the listener listens */
        int accepted[ACCEPTED_MAX];
        struct sockaddr_storage from[ACCEPTED_MAX];
        unsigned n_accepted;
} Fixture;

static void on_accept(Listener *l, int fd, const struct sockaddr *address, socklen_t address_len,
                      void *userdata)
{
        Fixture *f = userdata;

        assert_ptr_equal(l, f->listener);
        assert_true(f->n_accepted < ACCEPTED_MAX);
        assert_true(address_len <= sizeof(f->from[0]));
        memcpy(&f->from[f->n_accepted], address, address_len);
        f->accepted[f->n_accepted++] = fd;
}

static int setup(void **state)
{
        Fixture *f = calloc(1, sizeof(*f));
        SocketAddress any = {.len = sizeof(struct sockaddr_in)};
        struct sockaddr_in *sin = (struct sockaddr_in *)&any.sa;
        int fd;

        assert_non_null(f);
        /* Port 0: the kernel picks a free one, read back below. */
        sin->sin_family = AF_INET;
        sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fd = listen_socket_open(&any, 16);
        assert_true(fd >= 0);
        f->address.len = sizeof(f->address.sa);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&f->address.sa, &f->address.len), 0);
        assert_int_equal(sd_event_new(&f->event), 0);
        assert_int_equal(listener_new(f->event, fd, "test", on_accept, f, &f->listener), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        Fixture *f = *state;

        for (unsigned i = 0; i < f->n_accepted; i++)
                close(f->accepted[i]);
        listener_free(f->listener);
        sd_event_unref(f->event);
        free(f);
        return 0;
}

/* A blocking client: connect() completes from the backlog, before any accept(). */
static int client_connect(const SocketAddress *a)
{
        int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        if (connect(fd, (const struct sockaddr *)&a->sa, a->len) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

static void run_until_accepted(Fixture *f, unsigned n, usec_t timeout)
{
        usec_t end = now_usec(CLOCK_MONOTONIC) + timeout;

        while (f->n_accepted < n && now_usec(CLOCK_MONOTONIC) < end)
                assert_true(sd_event_run(f->event, 10 * USEC_PER_MSEC) >= 0);
        assert_int_equal(f->n_accepted, n);
}

static unsigned short port_of(const struct sockaddr_storage *sa)
{
        assert_int_equal(sa->ss_family, AF_INET);
        return ntohs(((const struct sockaddr_in *)sa)->sin_port);
}

static void test_accepted_fd(void **state)
{
        Fixture *f = *state;
        struct sockaddr_storage local;
        socklen_t len = sizeof(local);
        int client = client_connect(&f->address);

        assert_true(client >= 0);
        run_until_accepted(f, 1, 2 * USEC_PER_SEC);
        assert_true(fcntl(f->accepted[0], F_GETFD) & FD_CLOEXEC);
        assert_true(fcntl(f->accepted[0], F_GETFL) & O_NONBLOCK);
        /* The address handed over is the client's own. */
        assert_int_equal(getsockname(client, (struct sockaddr *)&local, &len), 0);
        assert_int_equal(port_of(&f->from[0]), port_of(&local));
        assert_int_equal(send(client, "x", 1, 0), 1);
        char c;
        assert_int_equal(recv(f->accepted[0], &c, 1, 0), 1);
        assert_int_equal(c, 'x');
        close(client);
}

static void test_every_connection_handed_over(void **state)
{
        Fixture *f = *state;
        int clients[5];

        for (size_t i = 0; i < ELEMENTSOF(clients); i++) {
                clients[i] = client_connect(&f->address);
                assert_true(clients[i] >= 0);
        }
        run_until_accepted(f, ELEMENTSOF(clients), 2 * USEC_PER_SEC);
        /* Nothing more than there was. */
        for (int i = 0; i < 10; i++)
                assert_true(sd_event_run(f->event, 0) >= 0);
        assert_int_equal(f->n_accepted, ELEMENTSOF(clients));
        for (size_t i = 0; i < ELEMENTSOF(clients); i++)
                close(clients[i]);
}

static int on_never(sd_event_source *s, uint64_t usec, void *userdata)
{
        return 0;
}

/* Out of descriptors, accept() fails while the socket stays readable: the listener must wait,
 * not spin, and take the connection once descriptors are back. */
static void test_backoff_when_out_of_descriptors(void **state)
{
        Fixture *f = *state;
        struct rlimit saved, low;
        sd_event_source *keep = NULL;
        int fillers[256], n_fillers = 0, client;
        unsigned dispatches = 0;
        usec_t end;

        /* The loop's CLOCK_MONOTONIC timerfd exists before descriptors run out, as in the daemon,
         * whose heartbeat timer creates it at start. */
        assert_int_equal(
            sd_event_add_time(f->event, &keep, CLOCK_MONOTONIC, USEC_INFINITY, 0, on_never, NULL),
            0);
        client = client_connect(&f->address);
        assert_true(client >= 0);

        assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
        low = saved;
        low.rlim_cur = ELEMENTSOF(fillers);
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
        for (;;) {
                int fd = fcntl(0, F_DUPFD_CLOEXEC, 0);
                if (fd < 0) {
                        assert_int_equal(errno, EMFILE);
                        break;
                }
                assert_true(n_fillers < (int)ELEMENTSOF(fillers));
                fillers[n_fillers++] = fd;
        }

        end = now_usec(CLOCK_MONOTONIC) + 5 * LISTENER_ACCEPT_BACKOFF;
        while (now_usec(CLOCK_MONOTONIC) < end) {
                int r = sd_event_run(f->event, 10 * USEC_PER_MSEC);
                assert_true(r >= 0);
                dispatches += r > 0;
        }
        assert_int_equal(f->n_accepted, 0);
        /* One failed accept and one backoff timer per LISTENER_ACCEPT_BACKOFF; spinning would be
         * thousands. */
        assert_true(dispatches <= 14);
        assert_true(dispatches >= 2);

        while (n_fillers > 0)
                close(fillers[--n_fillers]);
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
        run_until_accepted(f, 1, 2 * LISTENER_ACCEPT_BACKOFF + USEC_PER_SEC);
        close(client);
        sd_event_source_unref(keep);
}

static void test_free_stops_listening(void **state)
{
        Fixture *f = *state;

        f->listener = listener_free(f->listener);
        assert_int_equal(client_connect(&f->address), -ECONNREFUSED);
        assert_null(listener_free(NULL));
}

static void test_address_in_use(void **state)
{
        Fixture *f = *state;

        assert_int_equal(listen_socket_open(&f->address, 16), -EADDRINUSE);
}

static void test_new_refuses_bad_arguments(void **state)
{
        Listener *l = NULL;
        sd_event *e = NULL;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        assert_int_equal(sd_event_new(&e), 0);
        /* The fd is taken over even on failure. */
        assert_int_equal(listener_new(e, fd, "test", NULL, NULL, &l), -EINVAL);
        assert_int_equal(fcntl(fd, F_GETFD), -1);
        assert_int_equal(errno, EBADF);
        assert_null(l);
        assert_int_equal(listener_new(e, -1, "test", on_accept, NULL, &l), -EINVAL);
        sd_event_unref(e);
}

static void test_send_pending(void **state)
{
        static char big[1 << 20];
        int pair[2], size = 4096;
        size_t sent = 0, drained = 0;
        char buf[65536];

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
        assert_int_equal(setsockopt(pair[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)), 0);
        memset(big, 'b', sizeof(big));

        /* More than the socket holds: part goes, the rest waits. */
        assert_int_equal(send_pending(pair[0], big, sizeof(big), &sent), 0);
        assert_true(sent > 0 && sent < sizeof(big));
        while (sent < sizeof(big)) {
                ssize_t k = recv(pair[1], buf, sizeof(buf), MSG_DONTWAIT);
                if (k > 0)
                        drained += (size_t)k;
                int r = send_pending(pair[0], big, sizeof(big), &sent);
                assert_true(r == 0 || r == 1);
        }
        assert_int_equal(send_pending(pair[0], big, sizeof(big), &sent), 1);
        for (;;) {
                ssize_t k = recv(pair[1], buf, sizeof(buf), MSG_DONTWAIT);
                if (k <= 0)
                        break;
                drained += (size_t)k;
        }
        assert_int_equal(drained, sizeof(big));

        /* The reader is gone. */
        close(pair[1]);
        sent = 0;
        assert_int_equal(send_pending(pair[0], "x", 1, &sent), -EPIPE);
        close(pair[0]);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_accepted_fd, setup, teardown),
            cmocka_unit_test_setup_teardown(test_every_connection_handed_over, setup, teardown),
            cmocka_unit_test_setup_teardown(test_backoff_when_out_of_descriptors, setup, teardown),
            cmocka_unit_test_setup_teardown(test_free_stops_listening, setup, teardown),
            cmocka_unit_test_setup_teardown(test_address_in_use, setup, teardown),
            cmocka_unit_test(test_new_refuses_bad_arguments),
            cmocka_unit_test(test_send_pending),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
