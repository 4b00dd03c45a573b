/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tcp against a real redis-server (PING, +PONG) and a python line server, on 127.0.0.1 and ::1;
 * a closed port, a server that never answers, a wrong reply, and bad params. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/prctl.h>

#include <cmocka.h>

#include "plugin-run.h"
#include "spawn-server.h"

#define LINE_SERVER TEST_SOURCE_DIR "/tests/lib/line-server.py"

static pid_t redis_pid = -1;
static int redis_port;
static char redis_dir[] = "/tmp/vc-test-tcp-XXXXXX";

/* A port free on both 127.0.0.1 and ::1 when we looked. */
static int free_port(void)
{
        for (int attempt = 0; attempt < 20; attempt++) {
                struct sockaddr_in sa = {.sin_family = AF_INET,
                                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
                struct sockaddr_in6 sa6 = {.sin6_family = AF_INET6, .sin6_addr = in6addr_loopback};
                socklen_t len = sizeof(sa);
                int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), fd6, r;

                if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
                    getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
                        return -1;
                fd6 = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
                sa6.sin6_port = sa.sin_port;
                r = fd6 >= 0 ? bind(fd6, (struct sockaddr *)&sa6, sizeof(sa6)) : -1;
                close(fd);
                if (fd6 >= 0)
                        close(fd6);
                if (r == 0)
                        return ntohs(sa.sin_port);
        }
        return -1;
}

static bool can_connect(int family, int port)
{
        struct sockaddr_storage ss = {0};
        socklen_t len;
        int fd, r;

        if (family == AF_INET) {
                struct sockaddr_in *a = (struct sockaddr_in *)&ss;
                *a = (struct sockaddr_in){.sin_family = AF_INET,
                                          .sin_port = htons((uint16_t)port),
                                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
                len = sizeof(*a);
        } else {
                struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
                *a = (struct sockaddr_in6){.sin6_family = AF_INET6,
                                           .sin6_port = htons((uint16_t)port),
                                           .sin6_addr = in6addr_loopback};
                len = sizeof(*a);
        }
        fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return false;
        r = connect(fd, (struct sockaddr *)&ss, len);
        close(fd);
        return r == 0;
}

/* redis-server on a private port, both loopbacks, nothing saved, its files in a scratch dir. */
static pid_t start_redis(int *ret_port)
{
        char port[16];
        pid_t pid;
        int p = free_port();

        if (p < 0 || !mkdtemp(redis_dir))
                return -1;
        snprintf(port, sizeof(port), "%d", p);
        pid = fork();
        if (pid < 0)
                return -1;
        if (pid == 0) {
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);
                dup2(null, STDOUT_FILENO);
                dup2(null, STDERR_FILENO);
                /* Whatever happens to the test, the server goes with it. */
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || chdir(redis_dir) < 0)
                        _exit(127);
                execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1 ::1",
                       "--save", "", "--appendonly", "no", "--dir", redis_dir, (char *)NULL);
                _exit(127);
        }
        for (int i = 0; i < 1000; i++) {
                if (can_connect(AF_INET, p) && can_connect(AF_INET6, p)) {
                        *ret_port = p;
                        return pid;
                }
                if (waitpid(pid, NULL, WNOHANG) == pid)
                        return -1;
                usleep(10000);
        }
        stop_server(pid);
        return -1;
}

static int setup(void **state)
{
        if (plugin_run_load(TEST_BUILD_DIR "/plugins/tcp.so") < 0)
                return -1;
        redis_pid = start_redis(&redis_port);
        if (redis_pid < 0) {
                fprintf(stderr, "cannot start redis-server (tests/deps.sh test)\n");
                return -1;
        }
        return 0;
}

static int teardown(void **state)
{
        char cmd[64];

        stop_server(redis_pid);
        snprintf(cmd, sizeof(cmd), "rm -rf %s", redis_dir);
        plugin = plugin_free(plugin);
        return system(cmd) == 0 ? 0 : -1;
}

#define CHECK(result, timeout, msg, ...)                                                           \
        do {                                                                                       \
                const struct vacataire_param items_[] = {__VA_ARGS__};                             \
                assert_int_equal(                                                                  \
                    run_plugin(items_, ELEMENTSOF(items_), timeout, msg, sizeof(msg)), result);    \
        } while (0)

/* The message up to the perfdata, which holds a time. */
static const char *text_of(char *msg)
{
        char *bar = strchr(msg, '|');

        assert_non_null(bar);
        assert_memory_equal(bar, "|time=", 6);
        *bar = 0;
        return msg;
}

static void test_redis_ping(void **state)
{
        char v4[64], v6[64], msg[512], want[128];

        snprintf(v4, sizeof(v4), "127.0.0.1:%d", redis_port);
        snprintf(v6, sizeof(v6), "[::1]:%d", redis_port);

        /* As libconfig hands it over ("PING\r\n" with real CR LF) and as typed on a command
         * line (backslash escapes). */
        CHECK(VACATAIRE_OK, 5.0, msg, STR("address", v4), STR("send", "PING\r\n"),
              STR("expect", "+PONG"));
        snprintf(want, sizeof(want), "%s answered \"+PONG\" in ", v4);
        assert_memory_equal(text_of(msg), want, strlen(want));
        CHECK(VACATAIRE_OK, 5.0, msg, STR("address", v6), STR("send", "PING\\r\\n"),
              STR("expect", "+PONG\\r\\n"));
        snprintf(want, sizeof(want), "%s answered \"+PONG\\r\\n\" in ", v6);
        assert_memory_equal(text_of(msg), want, strlen(want));

        /* A connect alone. */
        CHECK(VACATAIRE_OK, 5.0, msg, STR("address", v6));
        snprintf(want, sizeof(want), "connected to %s in ", v6);
        assert_memory_equal(text_of(msg), want, strlen(want));

        /* The wrong answer. */
        CHECK(VACATAIRE_CRITICAL, 5.0, msg, STR("address", v4), STR("send", "PING\r\n"),
              STR("expect", "+PANG"));
        /* How much of the reply is shown depends on how it arrives: up to the length of expect. */
        snprintf(want, sizeof(want), "%s: reply \"+P", v4);
        assert_memory_equal(msg, want, strlen(want));
        assert_non_null(strstr(msg, "\" does not start with \"+PANG\""));
        CHECK(VACATAIRE_CRITICAL, 5.0, msg, STR("address", v4), STR("send", "NOSUCHCMD\r\n"),
              STR("expect", "+PONG"));
        snprintf(want, sizeof(want), "%s: reply \"-", v4);
        assert_memory_equal(msg, want, strlen(want));
        assert_non_null(strstr(msg, "\" does not start with \"+PONG\""));
}

static void test_line_server(void **state)
{
        const char *families[] = {"127.0.0.1", "::1"};

        for (int i = 0; i < 2; i++) {
                char *echo_argv[] = {"python3", LINE_SERVER, (char *)families[i], NULL};
                char *banner_argv[] = {"python3", LINE_SERVER,         "--mode",
                                       "banner",  (char *)families[i], NULL};
                char address[64], msg[512], want[160];
                int port = 0, banner_port = 0;
                pid_t echo = start_server(echo_argv, &port);
                pid_t banner = start_server(banner_argv, &banner_port);

                assert_true(echo > 0);
                assert_true(banner > 0);
                snprintf(address, sizeof(address), i ? "[%s]:%d" : "%s:%d", families[i], port);
                CHECK(VACATAIRE_OK, 5.0, msg, STR("address", address),
                      STR("send", "status\\tall\\n"), STR("expect", "echo: status\\tall\\r\\n"));
                snprintf(want, sizeof(want), "%s answered \"echo: status\\x09all\\r\\n\" in ",
                         address);
                assert_memory_equal(text_of(msg), want, strlen(want));

                /* A banner: expect without send. */
                snprintf(address, sizeof(address), i ? "[%s]:%d" : "%s:%d", families[i],
                         banner_port);
                CHECK(VACATAIRE_OK, 5.0, msg, STR("address", address), STR("expect", "HELLO "));
                CHECK(VACATAIRE_CRITICAL, 5.0, msg, STR("address", address),
                      STR("expect", "SSH-2.0"));
                snprintf(want, sizeof(want), "%s: reply \"H", address);
                assert_memory_equal(msg, want, strlen(want));
                assert_non_null(strstr(msg, "\" does not start with \"SSH-2.0\""));
                stop_server(echo);
                stop_server(banner);
        }
}

/* Accepts (the kernel does, from the backlog) and never answers: ends at the deadline, a
 * little before the timeout, with what it was waiting for. */
static void test_no_answer(void **state)
{
        struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = in6addr_loopback};
        socklen_t len = sizeof(sa);
        char address[64], msg[512], want[160];
        double start, elapsed;
        int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(fd, 8), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
        snprintf(address, sizeof(address), "[::1]:%d", ntohs(sa.sin6_port));

        start = now_seconds();
        CHECK(VACATAIRE_CRITICAL, 0.5, msg, STR("address", address), STR("send", "PING\r\n"),
              STR("expect", "+PONG"));
        elapsed = now_seconds() - start;
        snprintf(want, sizeof(want),
                 "%s: no reply starting with \"+PONG\" within 0.45 s (got \"\")", address);
        assert_string_equal(msg, want);
        assert_true(elapsed >= 0.45);
        assert_true(elapsed < 0.5 * 4);
        close(fd);
}

static void test_closed_port(void **state)
{
        char address[64], msg[512], want[128];
        int port = free_port();

        assert_true(port > 0);
        snprintf(address, sizeof(address), "127.0.0.1:%d", port);
        CHECK(VACATAIRE_CRITICAL, 2.0, msg, STR("address", address));
        snprintf(want, sizeof(want), "connect to %s: Connection refused", address);
        assert_string_equal(msg, want);
        snprintf(address, sizeof(address), "[::1]:%d", port);
        CHECK(VACATAIRE_CRITICAL, 2.0, msg, STR("address", address));
        snprintf(want, sizeof(want), "connect to %s: Connection refused", address);
        assert_string_equal(msg, want);
}

static void test_param_errors(void **state)
{
        CONFIGURE_ERROR("params.address: missing (\"host:port\")", STR("send", "x"));
        CONFIGURE_ERROR("params.address: must be a non-empty string", INT("address", 80));
        CONFIGURE_ERROR("params.address: must be a numeric \"host:port\" (\"127.0.0.1:6379\", "
                        "\"[::1]:6379\"), not \"localhost:6379\"",
                        STR("address", "localhost:6379"));
        CONFIGURE_ERROR("params.address: must be a numeric \"host:port\" (\"127.0.0.1:6379\", "
                        "\"[::1]:6379\"), not \"::1:6379\"",
                        STR("address", "::1:6379"));
        CONFIGURE_ERROR("params.address: must be a numeric \"host:port\" (\"127.0.0.1:6379\", "
                        "\"[::1]:6379\"), not \"127.0.0.1:0\"",
                        STR("address", "127.0.0.1:0"));
        CONFIGURE_ERROR("params.address: must be a numeric \"host:port\" (\"127.0.0.1:6379\", "
                        "\"[::1]:6379\"), not \"127.0.0.1:65536\"",
                        STR("address", "127.0.0.1:65536"));
        CONFIGURE_ERROR("params.send: unknown escape (known: \\r \\n \\t \\\\ \\xNN)",
                        STR("address", "127.0.0.1:1"), STR("send", "a\\qb"));
        CONFIGURE_ERROR("params.expect: must be a non-empty string", STR("address", "127.0.0.1:1"),
                        STR("expect", ""));
        CONFIGURE_ERROR("params.host: unknown parameter (known: address, send, expect)",
                        STR("address", "127.0.0.1:1"), STR("host", "x"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_redis_ping),   cmocka_unit_test(test_line_server),
            cmocka_unit_test(test_no_answer),    cmocka_unit_test(test_closed_port),
            cmocka_unit_test(test_param_errors),
        };
        signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, setup, teardown);
}
