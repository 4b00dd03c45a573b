/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* content against a real HTTP server on 127.0.0.1 (tests/lib/http-fixture.py): exact, short and
 * long bodies, wrong status, redirects, a server that never answers, a closed port, TLS. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "plugin.h"

#define FIXTURE TEST_SOURCE_DIR "/tests/lib/http-fixture.py"

static Plugin *plugin;
static pid_t server_pid = -1;
static int server_port;

#define STR(n, v)                                                                                  \
        ((struct vacataire_param){.name = (n), .type = VACATAIRE_PARAM_STRING, .string = (v)})
#define INT(n, v)                                                                                  \
        ((struct vacataire_param){                                                                 \
            .name = (n), .type = VACATAIRE_PARAM_INT, .integer = (v), .number = (v)})
#define BOOL(n, v)                                                                                 \
        ((struct vacataire_param){.name = (n), .type = VACATAIRE_PARAM_BOOL, .boolean = (v)})

/* Starts the fixture server and reads the port it prints; -1 if it does not come up in 10 s. */
static pid_t start_server(char *const argv[], int *ret_port)
{
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

static void stop_server(pid_t pid)
{
        if (pid <= 0)
                return;
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
}

static int setup(void **state)
{
        char *argv[] = {"python3", FIXTURE, NULL};
        char *text = NULL;

        if (plugin_load(TEST_BUILD_DIR "/plugins/content.so", &plugin, &text) < 0) {
                fprintf(stderr, "%s\n", text);
                free(text);
                return -1;
        }
        server_pid = start_server(argv, &server_port);
        if (server_pid < 0) {
                fprintf(stderr, "cannot start %s\n", FIXTURE);
                return -1;
        }
        return 0;
}

static int teardown(void **state)
{
        stop_server(server_pid);
        plugin = plugin_free(plugin);
        return 0;
}

static double now_seconds(void)
{
        return (double)now_usec(CLOCK_MONOTONIC) / (double)USEC_PER_SEC;
}

static int run_check(const struct vacataire_param *items, size_t n, double timeout, char *msg,
                     size_t msg_size)
{
        struct vacataire_params params = {(uint32_t)n, items};
        void *plugin_state = NULL;
        char err[256] = "";
        int r;

        r = plugin->api->configure(&params, timeout, &plugin_state, err, sizeof(err));
        if (r != 0)
                fail_msg("configure failed: %s", err);
        msg[0] = 0;
        r = plugin->api->run(plugin_state, msg, msg_size);
        plugin->api->free(plugin_state);
        return r;
}

static const char *url(const char *path)
{
        static char buf[128];

        snprintf(buf, sizeof(buf), "http://127.0.0.1:%d%s", server_port, path);
        return buf;
}

/* GETs path on the fixture, expecting content_length bytes, and asserts result and message. */
#define CHECK(result, message, path, content_length, ...)                                          \
        do {                                                                                       \
                const struct vacataire_param items_[] = {                                          \
                    STR("url", url(path)), INT("content_length", content_length), __VA_ARGS__};    \
                char msg_[512];                                                                    \
                assert_int_equal(run_check(items_, ELEMENTSOF(items_), 5.0, msg_, sizeof(msg_)),   \
                                 result);                                                          \
                assert_string_equal(msg_, message);                                                \
        } while (0)

#define CONFIGURE_ERROR(expected, ...)                                                             \
        do {                                                                                       \
                const struct vacataire_param items_[] = {__VA_ARGS__};                             \
                struct vacataire_params params_ = {ELEMENTSOF(items_), items_};                    \
                void *state_ = NULL;                                                               \
                char err_[256] = "";                                                               \
                assert_int_not_equal(                                                              \
                    plugin->api->configure(&params_, 1.0, &state_, err_, sizeof(err_)), 0);        \
                assert_null(state_);                                                               \
                assert_string_equal(err_, expected);                                               \
        } while (0)

static void test_exact_length(void **state)
{
        CHECK(VACATAIRE_OK, "OK: 1234 bytes", "/bytes/1234", 1234);
        CHECK(VACATAIRE_OK, "OK: 0 bytes", "/bytes/0", 0);
        /* Without Content-Length the body runs to the end of the connection. */
        CHECK(VACATAIRE_OK, "OK: 1234 bytes", "/close/1234", 1234);
        /* Several reads of the server's 64 KiB chunks add up. */
        CHECK(VACATAIRE_OK, "OK: 200000 bytes", "/bytes/200000", 200000);
}

static void test_wrong_length(void **state)
{
        CHECK(VACATAIRE_CRITICAL, "body 1233 bytes, expected 1234", "/bytes/1233", 1234);
        CHECK(VACATAIRE_CRITICAL, "body 1235 bytes, expected 1234", "/bytes/1235", 1234);
        CHECK(VACATAIRE_CRITICAL, "body 1233 bytes, expected 1234", "/close/1233", 1234);
        CHECK(VACATAIRE_CRITICAL, "body 1235 bytes, expected 1234", "/close/1235", 1234);
        CHECK(VACATAIRE_CRITICAL, "body 1 bytes, expected 0", "/bytes/1", 0);
        CHECK(VACATAIRE_CRITICAL, "body over 1235 bytes, expected 1234", "/bytes/1000000", 1234);
}

/* A body that never ends: reading stops once it is too long, well before the timeout. */
static void test_endless_body_stops_early(void **state)
{
        const struct vacataire_param items[] = {STR("url", url("/endless")),
                                                INT("content_length", 1234)};
        char msg[512];
        double start = now_seconds();

        assert_int_equal(run_check(items, ELEMENTSOF(items), 10.0, msg, sizeof(msg)),
                         VACATAIRE_CRITICAL);
        assert_string_equal(msg, "body over 1235 bytes, expected 1234");
        assert_true(now_seconds() - start < 5.0);
}

static void test_status(void **state)
{
        CHECK(VACATAIRE_CRITICAL, "status 503, expected 200", "/status/503", 5);
        CHECK(VACATAIRE_CRITICAL, "status 404, expected 200", "/nowhere", 5);
        CHECK(VACATAIRE_OK, "OK: 5 bytes", "/status/503", 5, INT("status", 503));
        CHECK(VACATAIRE_CRITICAL, "status 200, expected 204", "/bytes/0", 0, INT("status", 204));
}

static void test_redirects(void **state)
{
        CHECK(VACATAIRE_CRITICAL, "status 302, expected 200", "/redirect/1234", 1234);
        CHECK(VACATAIRE_CRITICAL, "status 302, expected 200", "/redirect/1234", 1234,
              BOOL("follow_redirects", 0));
        CHECK(VACATAIRE_OK, "OK: 1234 bytes", "/redirect/1234", 1234, BOOL("follow_redirects", 1));
}

static void test_truncated(void **state)
{
        const struct vacataire_param items[] = {STR("url", url("/truncated/1234")),
                                                INT("content_length", 1234)};
        char msg[512];

        assert_int_equal(run_check(items, ELEMENTSOF(items), 5.0, msg, sizeof(msg)),
                         VACATAIRE_CRITICAL);
        assert_string_equal(msg, "transfer closed with 1 bytes remaining to read");
}

/* A server that accepts and never answers: the run ends at the timeout, not later. */
static void test_hang_times_out(void **state)
{
        const struct vacataire_param items[] = {STR("url", url("/hang")),
                                                INT("content_length", 1234)};
        char msg[512];
        double start = now_seconds(), elapsed;

        assert_int_equal(run_check(items, ELEMENTSOF(items), 0.5, msg, sizeof(msg)),
                         VACATAIRE_CRITICAL);
        elapsed = now_seconds() - start;
        assert_true(elapsed >= 0.45);
        assert_true(elapsed < 2.5);
        assert_memory_equal(msg, "timed out after 0.5 s: ", strlen("timed out after 0.5 s: "));
        /* libcurl names the milliseconds it waited: 500 or a little more on a loaded machine. */
        const char *after = strstr(msg, "Operation timed out after ");
        assert_non_null(after);
        assert_true(atoi(after + strlen("Operation timed out after ")) >= 500);
}

static void test_closed_port(void **state)
{
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(sa);
        char u[128], msg[512];
        int fd;

        /* A port that was just free: bind it, learn it, close it. */
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
        close(fd);
        snprintf(u, sizeof(u), "http://127.0.0.1:%d/bytes/10", ntohs(sa.sin_port));

        const struct vacataire_param items[] = {STR("url", u), INT("content_length", 10)};
        double start = now_seconds();
        assert_int_equal(run_check(items, ELEMENTSOF(items), 2.0, msg, sizeof(msg)),
                         VACATAIRE_CRITICAL);
        assert_true(now_seconds() - start < 1.5);
        assert_memory_equal(msg, "Failed to connect to 127.0.0.1 port ",
                            strlen("Failed to connect to 127.0.0.1 port "));
        assert_non_null(strstr(msg, "Couldn't connect to server"));
}

/* The same check state runs many times, each on a new connection. */
static void test_repeated_runs(void **state)
{
        const struct vacataire_param items[] = {STR("url", url("/bytes/77")),
                                                INT("content_length", 77)};
        struct vacataire_params params = {ELEMENTSOF(items), items};
        void *plugin_state = NULL;
        char err[256], msg[256];

        assert_int_equal(plugin->api->configure(&params, 2.0, &plugin_state, err, sizeof(err)), 0);
        for (int i = 0; i < 20; i++) {
                assert_int_equal(plugin->api->run(plugin_state, msg, sizeof(msg)), VACATAIRE_OK);
                assert_string_equal(msg, "OK: 77 bytes");
        }
        plugin->api->free(plugin_state);
}

static int run_quiet(char *const argv[])
{
        int status;
        pid_t pid = fork();

        if (pid < 0)
                return -1;
        if (pid == 0) {
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);
                dup2(null, STDOUT_FILENO);
                dup2(null, STDERR_FILENO);
                execvp(argv[0], argv);
                _exit(127);
        }
        if (waitpid(pid, &status, 0) != pid)
                return -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A self-signed certificate is refused unless tls_verify = false. */
static void test_tls(void **state)
{
        char dir[] = "/tmp/vc-test-content-XXXXXX", cert[128], key[128], u[128], msg[512];
        int port;
        pid_t pid;

        assert_non_null(mkdtemp(dir));
        snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
        snprintf(key, sizeof(key), "%s/key.pem", dir);
        char *openssl[] = {"openssl",
                           "req",
                           "-x509",
                           "-newkey",
                           "ec",
                           "-pkeyopt",
                           "ec_paramgen_curve:prime256v1",
                           "-nodes",
                           "-keyout",
                           key,
                           "-out",
                           cert,
                           "-subj",
                           "/CN=127.0.0.1",
                           "-days",
                           "1",
                           NULL};
        if (run_quiet(openssl) != 0) {
                rmdir(dir);
                skip(); /* no openssl command on this host */
        }
        char *argv[] = {"python3", FIXTURE, "--tls", cert, key, NULL};
        pid = start_server(argv, &port);
        assert_true(pid > 0);
        snprintf(u, sizeof(u), "https://127.0.0.1:%d/bytes/42", port);

        const struct vacataire_param verify[] = {STR("url", u), INT("content_length", 42)};
        assert_int_equal(run_check(verify, ELEMENTSOF(verify), 5.0, msg, sizeof(msg)),
                         VACATAIRE_CRITICAL);
        assert_non_null(strstr(msg, "SSL certificate problem"));

        const struct vacataire_param no_verify[] = {STR("url", u), INT("content_length", 42),
                                                    BOOL("tls_verify", 0)};
        assert_int_equal(run_check(no_verify, ELEMENTSOF(no_verify), 5.0, msg, sizeof(msg)),
                         VACATAIRE_OK);
        assert_string_equal(msg, "OK: 42 bytes");

        stop_server(pid);
        unlink(cert);
        unlink(key);
        rmdir(dir);
}

static void test_param_errors(void **state)
{
        CONFIGURE_ERROR("params.url: missing", INT("content_length", 3));
        CONFIGURE_ERROR("params.content_length: missing", STR("url", "http://127.0.0.1/"));
        CONFIGURE_ERROR("params.uri: unknown parameter (known: url, content_length, status, "
                        "tls_verify, follow_redirects)",
                        STR("uri", "http://127.0.0.1/"), INT("content_length", 3));
        CONFIGURE_ERROR("params.url: must be a string", INT("url", 3), INT("content_length", 3));
        CONFIGURE_ERROR("params.url: must start with http:// or https://",
                        STR("url", "ftp://127.0.0.1/x"), INT("content_length", 3));
        CONFIGURE_ERROR("params.url: must start with http:// or https://",
                        STR("url", "file:///etc/passwd"), INT("content_length", 3));
        {
                /* The reason is libcurl's own text, which varies between versions. */
                const struct vacataire_param items[] = {STR("url", "http://127.0.0.1:99999/"),
                                                        INT("content_length", 3)};
                struct vacataire_params params = {ELEMENTSOF(items), items};
                void *plugin_state = NULL;
                char err[256] = "";
                assert_int_not_equal(
                    plugin->api->configure(&params, 1.0, &plugin_state, err, sizeof(err)), 0);
                assert_memory_equal(
                    err, "params.url: not a valid URL: ", strlen("params.url: not a valid URL: "));
        }
        CONFIGURE_ERROR("params.content_length: must be an integer >= 0",
                        STR("url", "http://127.0.0.1/"), INT("content_length", -1));
        CONFIGURE_ERROR("params.content_length: must be an integer >= 0",
                        STR("url", "http://127.0.0.1/"), STR("content_length", "1234"));
        CONFIGURE_ERROR("params.status: must be an HTTP status code (100 to 599)",
                        STR("url", "http://127.0.0.1/"), INT("content_length", 3),
                        INT("status", 99));
        CONFIGURE_ERROR("params.tls_verify: must be true or false", STR("url", "http://127.0.0.1/"),
                        INT("content_length", 3), STR("tls_verify", "no"));
        CONFIGURE_ERROR("params.follow_redirects: must be true or false",
                        STR("url", "http://127.0.0.1/"), INT("content_length", 3),
                        INT("follow_redirects", 1));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_exact_length),
            cmocka_unit_test(test_wrong_length),
            cmocka_unit_test(test_endless_body_stops_early),
            cmocka_unit_test(test_status),
            cmocka_unit_test(test_redirects),
            cmocka_unit_test(test_truncated),
            cmocka_unit_test(test_hang_times_out),
            cmocka_unit_test(test_closed_port),
            cmocka_unit_test(test_repeated_runs),
            cmocka_unit_test(test_tls),
            cmocka_unit_test(test_param_errors),
        };
        /* A server that goes away mid-test must not kill the test with SIGPIPE. */
        signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, setup, teardown);
}
