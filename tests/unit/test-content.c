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

#include "plugin-run.h"
#include "spawn-server.h"

#define FIXTURE TEST_SOURCE_DIR "/tests/lib/http-fixture.py"

static pid_t server_pid = -1;
static int server_port;

static int setup(void **state)
{
        char *argv[] = {"python3", FIXTURE, NULL};
        if (plugin_run_load(TEST_BUILD_DIR "/plugins/content.so") < 0)
                return -1;
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

/* An answer that arrived carries its time and size as perfdata, kept here; msg keeps the rest. */
static char last_perfdata[256];

static void strip_perfdata(char *msg)
{
        char *bar = strchr(msg, '|');

        last_perfdata[0] = 0;
        if (!bar)
                return;
        snprintf(last_perfdata, sizeof(last_perfdata), "%s", bar + 1);
        assert_memory_equal(last_perfdata, "time=", 5);
        assert_non_null(strstr(last_perfdata, "s;;;0 size="));
        assert_non_null(strstr(last_perfdata, "B;;;0"));
        *bar = 0;
}

static int run_check(const struct vacataire_param *items, size_t n, double timeout, char *msg,
                     size_t msg_size)
{
        int r = run_plugin(items, n, timeout, msg, msg_size);

        strip_perfdata(msg);
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

static void test_exact_length(void **state)
{
        CHECK(VACATAIRE_OK, "OK: 1234 bytes", "/bytes/1234", 1234);
        assert_non_null(strstr(last_perfdata, " size=1234B;;;0"));
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
        assert_non_null(strstr(last_perfdata, " size=5B;;;0")); /* an answer, if the wrong one */
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
        assert_string_equal(last_perfdata, ""); /* no answer, no perfdata */
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
                strip_perfdata(msg);
                assert_string_equal(msg, "OK: 77 bytes");
        }
        plugin->api->free(plugin_state);
}

/* Without content_length: only the criteria given count. */
#define CHECK_ONLY(result, message, path, ...)                                                     \
        do {                                                                                       \
                const struct vacataire_param items_[] = {STR("url", url(path)), __VA_ARGS__};      \
                char msg_[512];                                                                    \
                assert_int_equal(run_check(items_, ELEMENTSOF(items_), 5.0, msg_, sizeof(msg_)),   \
                                 result);                                                          \
                assert_string_equal(msg_, message);                                                \
        } while (0)

static void test_status_list(void **state)
{
        const struct vacataire_param codes[] = {INT("status", 200), INT("status", 503)};

        CHECK(VACATAIRE_OK, "OK: 5 bytes", "/status/503", 5, LIST("status", codes));
        CHECK(VACATAIRE_CRITICAL, "status 404, expected 200 or 503", "/status/404", 5,
              LIST("status", codes));
        /* A status alone is enough of a criterion. */
        CHECK_ONLY(VACATAIRE_OK, "OK: status 503", "/status/503", LIST("status", codes));
        CHECK_ONLY(VACATAIRE_CRITICAL, "status 500, expected 200 or 503", "/status/500",
                   LIST("status", codes));
}

static void test_expect(void **state)
{
        CHECK_ONLY(VACATAIRE_OK, "OK: status 200, body has \"state: ready\"", "/text/ready",
                   STR("expect", "state: ready"));
        CHECK_ONLY(VACATAIRE_CRITICAL, "\"state: ready\" not in the body (28 bytes)",
                   "/text/degraded", STR("expect", "state: ready"));
        /* Both criteria: the length and the text. */
        CHECK(VACATAIRE_OK, "OK: 25 bytes", "/text/ready", 25, STR("expect", "ready"));
        CHECK(VACATAIRE_CRITICAL, "\"down\" not in the body (25 bytes)", "/text/ready", 25,
              STR("expect", "down"));
        CHECK(VACATAIRE_CRITICAL, "body 25 bytes, expected 26", "/text/ready", 26,
              STR("expect", "ready"));
        /* A text after several 64 KiB reads, and one split between two reads. */
        CHECK_ONLY(VACATAIRE_OK, "OK: status 200, body has \"MARK\"", "/big-text/200000",
                   STR("expect", "MARK"));
        CHECK_ONLY(VACATAIRE_OK, "OK: status 200, body has \"xxMARK\"", "/big-text/65534",
                   STR("expect", "xxMARK"));
        CHECK_ONLY(VACATAIRE_CRITICAL, "\"MARK\" not in the first 1048576 bytes of the body",
                   "/big-text/3000000", STR("expect", "MARK"));
}

/* A body that never ends and never has the text: reading stops at 1 MiB, not at the timeout. */
static void test_expect_endless_stops_early(void **state)
{
        const struct vacataire_param items[] = {STR("url", url("/endless")), STR("expect", "z")};
        char msg[512];
        double start = now_seconds();

        assert_int_equal(run_check(items, ELEMENTSOF(items), 10.0, msg, sizeof(msg)),
                         VACATAIRE_CRITICAL);
        assert_string_equal(msg, "\"z\" not in the first 1048576 bytes of the body");
        assert_true(now_seconds() - start < 5.0);
}

static void test_headers_and_head(void **state)
{
        const struct vacataire_param two[] = {STR("headers", "X-Probe: yes"),
                                              STR("headers", "X-Other: 2")};

        CHECK_ONLY(VACATAIRE_OK, "OK: status 200, body has \"yes\"", "/header/X-Probe",
                   LIST("headers", two), STR("expect", "yes"));
        CHECK_ONLY(VACATAIRE_OK, "OK: status 200, body has \"2\"", "/header/X-Other",
                   LIST("headers", two), STR("expect", "2"));
        CHECK_ONLY(VACATAIRE_OK, "OK: status 200, body has \"vhost.example\"", "/header/Host",
                   STR("headers", "Host: vhost.example"), STR("expect", "vhost.example"));
        CHECK_ONLY(VACATAIRE_CRITICAL, "status 404, expected 200", "/header/X-Probe",
                   STR("expect", "yes"));

        CHECK_ONLY(VACATAIRE_OK, "OK: status 200", "/bytes/1234", STR("method", "HEAD"));
        CHECK_ONLY(VACATAIRE_CRITICAL, "status 503, expected 200", "/status/503",
                   STR("method", "HEAD"));
        /* HEAD of a body that never ends costs nothing. */
        CHECK_ONLY(VACATAIRE_OK, "OK: status 200", "/endless", STR("method", "HEAD"));
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

/* A server certificate from a private CA: refused by default, accepted with ca_file. */
static void test_tls_ca(void **state)
{
        char dir[] = "/tmp/vc-test-content-XXXXXX", path[8][160], u[128], msg[512];
        const char *names[] = {"ca.key",     "ca.pem",  "server.key", "server.csr",
                               "server.pem", "san.ext", "ca.srl",     NULL};
        int port;
        pid_t pid;
        FILE *f;

        assert_non_null(mkdtemp(dir));
        for (int i = 0; names[i]; i++)
                snprintf(path[i], sizeof(path[i]), "%s/%s", dir, names[i]);
        f = fopen(path[5], "we");
        assert_non_null(f);
        fputs("subjectAltName = IP:127.0.0.1\n", f);
        fclose(f);
        char *ca[] = {"openssl",
                      "req",
                      "-x509",
                      "-newkey",
                      "ec",
                      "-pkeyopt",
                      "ec_paramgen_curve:prime256v1",
                      "-nodes",
                      "-keyout",
                      path[0],
                      "-out",
                      path[1],
                      "-subj",
                      "/CN=vacataire test CA",
                      "-days",
                      "1",
                      NULL};
        char *csr[] = {"openssl",       "req",
                       "-newkey",       "ec",
                       "-pkeyopt",      "ec_paramgen_curve:prime256v1",
                       "-nodes",        "-keyout",
                       path[2],         "-out",
                       path[3],         "-subj",
                       "/CN=127.0.0.1", NULL};
        char *sign[] = {"openssl",   "x509",     "-req",   "-in",   path[3],
                        "-CA",       path[1],    "-CAkey", path[0], "-CAcreateserial",
                        "-CAserial", path[6],    "-out",   path[4], "-days",
                        "1",         "-extfile", path[5],  NULL};
        if (run_quiet(ca) != 0) {
                unlink(path[5]);
                rmdir(dir);
                skip(); /* no openssl command on this host */
        }
        assert_int_equal(run_quiet(csr), 0);
        assert_int_equal(run_quiet(sign), 0);
        char *argv[] = {"python3", FIXTURE, "--tls", path[4], path[2], NULL};
        pid = start_server(argv, &port);
        assert_true(pid > 0);
        snprintf(u, sizeof(u), "https://127.0.0.1:%d/text/secure", port);

        const struct vacataire_param system_cas[] = {STR("url", u), STR("expect", "secure")};
        assert_int_equal(run_check(system_cas, ELEMENTSOF(system_cas), 5.0, msg, sizeof(msg)),
                         VACATAIRE_CRITICAL);
        assert_non_null(strstr(msg, "SSL certificate problem"));

        const struct vacataire_param private_ca[] = {STR("url", u), STR("expect", "secure"),
                                                     STR("ca_file", path[1])};
        assert_int_equal(run_check(private_ca, ELEMENTSOF(private_ca), 5.0, msg, sizeof(msg)),
                         VACATAIRE_OK);
        assert_string_equal(msg, "OK: status 200, body has \"secure\"");

        /* The CA vouches for 127.0.0.1 only: another name is still refused. */
        snprintf(u, sizeof(u), "https://localhost:%d/text/secure", port);
        const struct vacataire_param wrong_name[] = {STR("url", u), STR("expect", "secure"),
                                                     STR("ca_file", path[1])};
        assert_int_equal(run_check(wrong_name, ELEMENTSOF(wrong_name), 5.0, msg, sizeof(msg)),
                         VACATAIRE_CRITICAL);

        stop_server(pid);
        for (int i = 0; names[i]; i++)
                unlink(path[i]);
        rmdir(dir);
}

static void test_param_errors(void **state)
{
        CONFIGURE_ERROR("params.url: missing", INT("content_length", 3));
        CONFIGURE_ERROR("params.content_length: missing (or give expect or status)",
                        STR("url", "http://127.0.0.1/"));
        CONFIGURE_ERROR("params.uri: unknown parameter (known: url, content_length, status, "
                        "tls_verify, follow_redirects, method, headers, expect, ca_file)",
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
        CONFIGURE_ERROR("params.status: must be an integer from 100 to 599 or a list of them",
                        STR("url", "http://127.0.0.1/"), INT("content_length", 3),
                        INT("status", 99));
        {
                const struct vacataire_param codes[] = {INT("status", 200), STR("status", "301")};
                CONFIGURE_ERROR(
                    "params.status: must be an integer from 100 to 599 or a list of them",
                    STR("url", "http://127.0.0.1/"), INT("content_length", 3),
                    LIST("status", codes));
                const struct vacataire_param bad[] = {STR("headers", "X-Ok: 1"),
                                                      STR("headers", "no colon")};
                CONFIGURE_ERROR("params.headers: must be \"Name: value\" lines, not \"no colon\"",
                                STR("url", "http://127.0.0.1/"), INT("content_length", 3),
                                LIST("headers", bad));
        }
        CONFIGURE_ERROR("params.headers: must be \"Name: value\" lines, not \"Bad Name: x\"",
                        STR("url", "http://127.0.0.1/"), INT("content_length", 3),
                        STR("headers", "Bad Name: x"));
        CONFIGURE_ERROR("params.method: must be \"GET\" or \"HEAD\"",
                        STR("url", "http://127.0.0.1/"), INT("content_length", 3),
                        STR("method", "POST"));
        CONFIGURE_ERROR("params.content_length: a HEAD reply has no body",
                        STR("url", "http://127.0.0.1/"), INT("content_length", 3),
                        STR("method", "HEAD"));
        CONFIGURE_ERROR("params.expect: a HEAD reply has no body", STR("url", "http://127.0.0.1/"),
                        STR("expect", "x"), STR("method", "HEAD"));
        CONFIGURE_ERROR("params.expect: must be a non-empty string",
                        STR("url", "http://127.0.0.1/"), STR("expect", ""));
        CONFIGURE_ERROR("params.ca_file: cannot read /nonexistent/ca.pem: No such file or "
                        "directory",
                        STR("url", "https://127.0.0.1/"), INT("content_length", 3),
                        STR("ca_file", "/nonexistent/ca.pem"));
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
            cmocka_unit_test(test_tls_ca),
            cmocka_unit_test(test_status_list),
            cmocka_unit_test(test_expect),
            cmocka_unit_test(test_expect_endless_stops_early),
            cmocka_unit_test(test_headers_and_head),
            cmocka_unit_test(test_param_errors),
        };
        /* A server that goes away mid-test must not kill the test with SIGPIPE. */
        signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, setup, teardown);
}
