/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* curl-event against a real HTTP server on 127.0.0.1 (tests/lib/http-fixture.py): concurrent
 * POSTs, HTTP errors, a server that never answers while the loop keeps ticking, a closed port, an
 * oversized answer, cancellation. */
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "curl-event.h"

#define FIXTURE TEST_SOURCE_DIR "/tests/lib/http-fixture.py"

static pid_t server_pid = -1;
static int server_port;

typedef struct Result {
        bool called;
        int result;
        long status;
        char body[256];
        size_t len;
} Result;

typedef struct Ctx {
        sd_event *event;
        CurlEvent *ce;
        unsigned outstanding;
        unsigned ticks;
        sd_event_source *ticker;
} Ctx;

static Ctx *current;

static pid_t start_server(int *ret_port)
{
        char *argv[] = {"python3", FIXTURE, NULL};
        char line[32] = "";
        size_t n = 0;
        int fds[2];
        pid_t pid;

        if (pipe2(fds, O_CLOEXEC) < 0)
                return -1;
        pid = fork();
        if (pid < 0)
                return -1;
        if (pid == 0) {
                dup2(fds[1], STDOUT_FILENO);
                execvp(argv[0], argv);
                _exit(127);
        }
        close(fds[1]);
        while (n + 1 < sizeof(line) && !strchr(line, '\n')) {
                struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
                ssize_t k;
                if (poll(&pfd, 1, 10000) <= 0)
                        break;
                k = read(fds[0], line + n, sizeof(line) - 1 - n);
                if (k <= 0)
                        break;
                n += (size_t)k;
                line[n] = 0;
        }
        close(fds[0]);
        *ret_port = atoi(line);
        if (*ret_port <= 0) {
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                return -1;
        }
        return pid;
}

static int group_setup(void **state)
{
        server_pid = start_server(&server_port);
        return server_pid > 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
        if (server_pid > 0) {
                kill(server_pid, SIGKILL);
                waitpid(server_pid, NULL, 0);
        }
        return 0;
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata)
{
        Ctx *c = userdata;

        c->ticks++;
        sd_event_source_set_time_relative(s, 10 * USEC_PER_MSEC);
        return 0;
}

static int setup(void **state)
{
        Ctx *c = calloc(1, sizeof(*c));

        assert_non_null(c);
        assert_int_equal(sd_event_new(&c->event), 0);
        assert_int_equal(curl_event_new(c->event, &c->ce), 0);
        assert_true(sd_event_add_time_relative(c->event, &c->ticker, CLOCK_MONOTONIC,
                                               10 * USEC_PER_MSEC, USEC_PER_MSEC, on_tick, c) >= 0);
        sd_event_source_set_enabled(c->ticker, SD_EVENT_ON);
        current = c;
        *state = c;
        return 0;
}

static int teardown(void **state)
{
        Ctx *c = *state;

        curl_event_free(c->ce);
        sd_event_source_disable_unref(c->ticker);
        sd_event_unref(c->event);
        free(c);
        return 0;
}

static void on_done(CurlRequest *req, int result, long status, const char *body, size_t len,
                    const char *error, void *userdata)
{
        Result *res = userdata;

        assert_false(res->called);
        res->called = true;
        res->result = result;
        res->status = status;
        res->len = len;
        snprintf(res->body, sizeof(res->body), "%s", body);
        if (result < 0)
                assert_non_null(error);
        current->outstanding--;
}

/* Runs the loop until every request answered, for at most 10 s. */
static void run(Ctx *c)
{
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + 10 * USEC_PER_SEC;

        while (c->outstanding > 0 && now_usec(CLOCK_MONOTONIC) < deadline)
                assert_true(sd_event_run(c->event, 100 * USEC_PER_MSEC) >= 0);
        assert_int_equal(c->outstanding, 0);
}

static void add(Ctx *c, const char *path, const char *post, usec_t timeout, size_t max, Result *res)
{
        char url[128];
        CURL *easy = curl_easy_init();
        struct curl_slist *h = NULL;

        snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", server_port, path);
        curl_easy_setopt(easy, CURLOPT_URL, url);
        if (post) {
                curl_easy_setopt(easy, CURLOPT_COPYPOSTFIELDS, post);
                h = curl_slist_append(NULL, "Content-Type: application/json");
        }
        assert_int_equal(curl_event_add(c->ce, easy, h, timeout, max, on_done, res, NULL), 0);
        c->outstanding++;
}

static void test_concurrent_posts(void **state)
{
        Ctx *c = *state;
        Result res[16] = {};
        char body[16][32];

        for (size_t i = 0; i < ELEMENTSOF(res); i++) {
                snprintf(body[i], sizeof(body[i]), "{\"n\":%zu}", i);
                add(c, "/echo", body[i], 5 * USEC_PER_SEC, 4096, &res[i]);
        }
        /* Nothing is answered from inside add: callbacks come from the loop only. */
        for (size_t i = 0; i < ELEMENTSOF(res); i++)
                assert_false(res[i].called);
        run(c);
        for (size_t i = 0; i < ELEMENTSOF(res); i++) {
                assert_int_equal(res[i].result, 0);
                assert_int_equal(res[i].status, 200);
                assert_string_equal(res[i].body, body[i]);
        }
        assert_int_equal(curl_event_pending(c->ce), 0);
}

static void test_http_error_is_an_answer(void **state)
{
        Ctx *c = *state;
        Result res = {};

        add(c, "/status/503", NULL, 5 * USEC_PER_SEC, 4096, &res);
        run(c);
        assert_int_equal(res.result, 0);
        assert_int_equal(res.status, 503);
        assert_string_equal(res.body, "error");
}

static void test_timeout_never_blocks(void **state)
{
        Ctx *c = *state;
        Result res = {};
        usec_t t0 = now_usec(CLOCK_MONOTONIC);

        add(c, "/hang", NULL, 300 * USEC_PER_MSEC, 4096, &res);
        run(c);
        assert_int_equal(res.result, -ETIMEDOUT);
        assert_true(now_usec(CLOCK_MONOTONIC) - t0 >= 300 * USEC_PER_MSEC);
        /* The 10 ms ticker kept running while the request hung: the loop never blocked. */
        assert_true(c->ticks >= 5);
}

static void test_refused(void **state)
{
        Ctx *c = *state;
        Result res = {};
        CURL *easy = curl_easy_init();
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
        socklen_t len = sizeof(sin);
        char url[64];

        /* A port that was just free: bound, never listened on. */
        assert_true(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
        assert_true(getsockname(fd, (struct sockaddr *)&sin, &len) == 0);
        snprintf(url, sizeof(url), "http://127.0.0.1:%u/", ntohs(sin.sin_port));
        curl_easy_setopt(easy, CURLOPT_URL, url);
        assert_int_equal(
            curl_event_add(c->ce, easy, NULL, 2 * USEC_PER_SEC, 4096, on_done, &res, NULL), 0);
        c->outstanding++;
        run(c);
        close(fd);
        assert_int_equal(res.result, -ECONNREFUSED);
}

static void test_too_big(void **state)
{
        Ctx *c = *state;
        Result res = {};

        add(c, "/bytes/100000", NULL, 5 * USEC_PER_SEC, 1000, &res);
        run(c);
        assert_int_equal(res.result, -EFBIG);
}

static void never(CurlRequest *req, int result, long status, const char *body, size_t len,
                  const char *error, void *userdata)
{
        fail_msg("a cancelled request answered");
}

static void test_cancel_and_free(void **state)
{
        Ctx *c = *state;
        CurlRequest *req = NULL;
        CURL *easy;
        char url[64];
        Result res = {};

        snprintf(url, sizeof(url), "http://127.0.0.1:%d/hang", server_port);
        easy = curl_easy_init();
        curl_easy_setopt(easy, CURLOPT_URL, url);
        assert_int_equal(
            curl_event_add(c->ce, easy, NULL, 5 * USEC_PER_SEC, 4096, never, NULL, &req), 0);
        for (int i = 0; i < 5; i++)
                assert_true(sd_event_run(c->event, 20 * USEC_PER_MSEC) >= 0);
        curl_request_cancel(req);
        assert_int_equal(curl_event_pending(c->ce), 0);

        /* The loop still works after a cancel, and freeing with requests in flight is quiet. */
        add(c, "/echo", "{}", 5 * USEC_PER_SEC, 4096, &res);
        run(c);
        assert_int_equal(res.status, 200);
        easy = curl_easy_init();
        curl_easy_setopt(easy, CURLOPT_URL, url);
        assert_int_equal(
            curl_event_add(c->ce, easy, NULL, 5 * USEC_PER_SEC, 4096, never, NULL, NULL), 0);
        assert_true(sd_event_run(c->event, 20 * USEC_PER_MSEC) >= 0);
}

static void test_refuses_unbounded(void **state)
{
        Ctx *c = *state;

        assert_int_equal(curl_event_add(c->ce, curl_easy_init(), NULL, 0, 4096, never, NULL, NULL),
                         -EINVAL);
        assert_int_equal(
            curl_event_add(c->ce, curl_easy_init(), NULL, USEC_INFINITY, 4096, never, NULL, NULL),
            -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_concurrent_posts, setup, teardown),
            cmocka_unit_test_setup_teardown(test_http_error_is_an_answer, setup, teardown),
            cmocka_unit_test_setup_teardown(test_timeout_never_blocks, setup, teardown),
            cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
            cmocka_unit_test_setup_teardown(test_too_big, setup, teardown),
            cmocka_unit_test_setup_teardown(test_cancel_and_free, setup, teardown),
            cmocka_unit_test_setup_teardown(test_refuses_unbounded, setup, teardown),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
