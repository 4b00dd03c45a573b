/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The checker's side of CONFIGURE against a real vacataire-checker: well-formed requests with list
 * params reach the plugin as they were written, and every malformed one (lists that lie about
 * their length, nested lists, elements with names, strings where there are none, truncations) is
 * answered with a clean refusal, never a crash. */
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "checker.h"
#include "vacataire-plugin.h"

#define CHECKER TEST_BUILD_DIR "/vacataire-checker"
#define ECHO    TEST_BUILD_DIR "/test-plugins/echo.so"

/* Sends request to a new checker; returns its CONFIGURED error and message, then stops it. */
static int configure(const void *request, size_t size, char *message, size_t message_size)
{
        uint8_t buf[sizeof(struct checker_configured) + CHECKER_ERROR_MAX + 1];
        struct checker_configured h;
        struct pollfd p;
        pid_t pid;
        int fd, status;
        ssize_t n;

        ConfigCheck cfg = {.name = (char *)"protocol-test", .plugin_path = (char *)ECHO};

        assert_int_equal(checker_spawn(CHECKER, &cfg, &pid, &fd), 0);
        assert_true(send(fd, request, size, MSG_NOSIGNAL) == (ssize_t)size);
        p = (struct pollfd){.fd = fd, .events = POLLIN};
        assert_int_equal(poll(&p, 1, 10000), 1);
        n = recv(fd, buf, sizeof(buf) - 1, 0);
        assert_true(n >= (ssize_t)sizeof(h));
        buf[n] = 0;
        memcpy(&h, buf, sizeof(h));
        assert_int_equal(h.type, CHECKER_MSG_CONFIGURED);
        snprintf(message, message_size, "%.*s", (int)message_size - 1,
                 (const char *)buf + sizeof(h));

        /* Refused: it exits 1 by itself. Accepted: EOF is how we end it, and it exits 0. */
        close(fd);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), h.error == 0 ? 0 : 1);
        return h.error;
}

/* A request written by hand: header, path, then params appended with put(). */
typedef struct Request {
        uint8_t buf[4096];
        size_t n;
        struct checker_configure *h;
} Request;

static void request_init(Request *r, uint32_t n_params)
{
        struct checker_configure h = {.type = CHECKER_MSG_CONFIGURE,
                                      .protocol = CHECKER_PROTOCOL_VERSION,
                                      .timeout = 1.0,
                                      .n_params = n_params,
                                      .path_size = sizeof(ECHO)};

        memcpy(r->buf, &h, sizeof(h));
        memcpy(r->buf + sizeof(h), ECHO, sizeof(ECHO));
        r->n = sizeof(h) + sizeof(ECHO);
}

static void put(Request *r, uint32_t type, int64_t integer, const char *name, const char *string)
{
        struct checker_param p = {
            .type = type,
            .integer = integer,
            .number = (double)integer,
            .name_size = name ? (uint32_t)strlen(name) + 1 : 0,
            .string_size = string ? (uint32_t)strlen(string) + 1 : 0,
        };

        assert_true(r->n + sizeof(p) + p.name_size + p.string_size <= sizeof(r->buf));
        memcpy(r->buf + r->n, &p, sizeof(p));
        r->n += sizeof(p);
        if (name) {
                memcpy(r->buf + r->n, name, p.name_size);
                r->n += p.name_size;
        }
        if (string) {
                memcpy(r->buf + r->n, string, p.string_size);
                r->n += p.string_size;
        }
}

#define MALFORMED "vacataire-checker: malformed configure request"

static void test_lists_accepted(void **state)
{
        ConfigParam argv[] = {{.type = VACATAIRE_PARAM_STRING, .string = (char *)"/bin/x"},
                              {.type = VACATAIRE_PARAM_INT, .integer = 7, .number = 7}};
        ConfigParam params[] = {
            {.name = (char *)"command", .type = VACATAIRE_PARAM_LIST, .list = argv, .n_list = 2},
            {.name = (char *)"empty", .type = VACATAIRE_PARAM_LIST},
            {.name = (char *)"after", .type = VACATAIRE_PARAM_STRING, .string = (char *)"z"},
        };
        ConfigCheck cfg = {.name = (char *)"lists",
                           .plugin_path = (char *)ECHO,
                           .timeout = USEC_PER_SEC,
                           .params = params,
                           .n_params = ELEMENTSOF(params)};
        _cleanup_free_ void *request = NULL;
        char message[CHECKER_ERROR_MAX];
        size_t size;

        assert_int_equal(checker_configure_message(&cfg, &request, &size), 0);
        assert_int_equal(configure(request, size, message, sizeof(message)), 0);

        /* The same by hand. */
        Request r;
        request_init(&r, 2);
        put(&r, VACATAIRE_PARAM_LIST, 2, "command", NULL);
        put(&r, VACATAIRE_PARAM_STRING, 0, NULL, "a");
        put(&r, VACATAIRE_PARAM_INT, 5, NULL, NULL);
        put(&r, VACATAIRE_PARAM_LIST, 0, "empty", NULL);
        assert_int_equal(configure(r.buf, r.n, message, sizeof(message)), 0);
}

static void test_malformed_lists(void **state)
{
        char message[CHECKER_ERROR_MAX];
        Request r;

        /* More elements than the packet holds; a count that would overflow; a negative one. */
        const int64_t counts[] = {3, 1000000, INT64_MAX, -1};
        for (size_t i = 0; i < ELEMENTSOF(counts); i++) {
                request_init(&r, 1);
                put(&r, VACATAIRE_PARAM_LIST, counts[i], "command", NULL);
                put(&r, VACATAIRE_PARAM_STRING, 0, NULL, "a");
                put(&r, VACATAIRE_PARAM_STRING, 0, NULL, "b");
                assert_int_equal(configure(r.buf, r.n, message, sizeof(message)), -EBADMSG);
                assert_string_equal(message, MALFORMED);
        }

        /* A list in a list. */
        request_init(&r, 1);
        put(&r, VACATAIRE_PARAM_LIST, 1, "outer", NULL);
        put(&r, VACATAIRE_PARAM_LIST, 0, NULL, NULL);
        assert_int_equal(configure(r.buf, r.n, message, sizeof(message)), -EBADMSG);

        /* An element with a name, a param without one. */
        request_init(&r, 1);
        put(&r, VACATAIRE_PARAM_LIST, 1, "command", NULL);
        put(&r, VACATAIRE_PARAM_STRING, 0, "named", "a");
        assert_int_equal(configure(r.buf, r.n, message, sizeof(message)), -EBADMSG);
        request_init(&r, 1);
        put(&r, VACATAIRE_PARAM_INT, 1, NULL, NULL);
        assert_int_equal(configure(r.buf, r.n, message, sizeof(message)), -EBADMSG);

        /* A string where the type says integer, and a string element without its string. */
        request_init(&r, 1);
        put(&r, VACATAIRE_PARAM_INT, 1, "n", "1");
        assert_int_equal(configure(r.buf, r.n, message, sizeof(message)), -EBADMSG);
        request_init(&r, 1);
        put(&r, VACATAIRE_PARAM_LIST, 1, "command", NULL);
        put(&r, VACATAIRE_PARAM_STRING, 0, NULL, NULL);
        assert_int_equal(configure(r.buf, r.n, message, sizeof(message)), -EBADMSG);

        /* Every truncation of a valid request with a list. */
        request_init(&r, 2);
        put(&r, VACATAIRE_PARAM_LIST, 2, "command", NULL);
        put(&r, VACATAIRE_PARAM_STRING, 0, NULL, "/bin/x");
        put(&r, VACATAIRE_PARAM_STRING, 0, NULL, "-v");
        put(&r, VACATAIRE_PARAM_BOOL, 1, "flag", NULL);
        size_t full = r.n;
        for (size_t cut = sizeof(struct checker_configure) + sizeof(ECHO); cut < full; cut += 7) {
                assert_int_equal(configure(r.buf, cut, message, sizeof(message)), -EBADMSG);
                assert_string_equal(message, MALFORMED);
        }
        assert_int_equal(configure(r.buf, full, message, sizeof(message)), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_lists_accepted),
            cmocka_unit_test(test_malformed_lists),
        };
        signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
