/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* exec against the real Debian monitoring-plugins (check_dummy, check_tcp, check_http,
 * check_procs, check_disk) and against commands that misbehave: never exit, flood their output,
 * leave children behind, die by a signal. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "plugin-run.h"
#include "spawn-server.h"
#include "free-port.h"

#define NAGIOS  "/usr/lib/nagios/plugins/"
#define FIXTURE TEST_SOURCE_DIR "/tests/lib/http-fixture.py"

#define ARGV(...) ((const struct vacataire_param[]){__VA_ARGS__})

static char tmp[] = "/tmp/vc-test-exec-XXXXXX";

static int setup(void **state)
{
        if (plugin_run_load(TEST_BUILD_DIR "/plugins/exec.so") < 0)
                return -1;
        if (!mkdtemp(tmp))
                return -1;
        return 0;
}

static int teardown(void **state)
{
        char cmd[64];

        plugin = plugin_free(plugin);
        snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
        return system(cmd) == 0 ? 0 : -1;
}

/* Configures with a command of n words (and extra params), runs once, returns the result. */
static int run_command(const struct vacataire_param *argv, size_t n,
                       const struct vacataire_param *extra, size_t n_extra, double timeout,
                       char *msg, size_t msg_size)
{
        struct vacataire_param items[4] = {
            {.name = "command", .type = VACATAIRE_PARAM_LIST, .integer = (int64_t)n, .list = argv}};

        assert_true(n_extra < 4);
        for (size_t i = 0; i < n_extra; i++)
                items[1 + i] = extra[i];
        return run_plugin(items, 1 + n_extra, timeout, msg, msg_size);
}

#define RUN(msg, timeout, ...)                                                                     \
        run_command(ARGV(__VA_ARGS__), ELEMENTSOF(ARGV(__VA_ARGS__)), NULL, 0, timeout, msg,       \
                    sizeof(msg))

#define CMD(s) STR("command", s)

/* Whether a process is gone (or a zombie, which has no more to do). */
static bool process_gone(pid_t pid)
{
        char path[64], buf[256];
        FILE *f;
        char *paren;
        bool gone = true;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        f = fopen(path, "re");
        if (!f)
                return true;
        if (fgets(buf, sizeof(buf), f) && (paren = strrchr(buf, ')')) && paren[1] == ' ')
                gone = paren[2] == 'Z' || paren[2] == 'X';
        fclose(f);
        return gone;
}

/* Waits up to 5 s for the pid written in file to be gone. */
static void assert_gone(const char *file)
{
        FILE *f = fopen(file, "re");
        int pid = 0;

        assert_non_null(f);
        assert_int_equal(fscanf(f, "%d", &pid), 1);
        fclose(f);
        assert_true(pid > 1);
        for (int i = 0; i < 500 && !process_gone(pid); i++)
                usleep(10000);
        assert_true(process_gone(pid));
}

static void test_check_dummy(void **state)
{
        char msg[512];

        assert_int_equal(RUN(msg, 5.0, CMD(NAGIOS "check_dummy"), CMD("0"), CMD("all good")),
                         VACATAIRE_OK);
        assert_string_equal(msg, "OK: all good");
        assert_int_equal(RUN(msg, 5.0, CMD(NAGIOS "check_dummy"), CMD("1"), CMD("meh")),
                         VACATAIRE_WARNING);
        assert_string_equal(msg, "WARNING: meh");
        assert_int_equal(RUN(msg, 5.0, CMD(NAGIOS "check_dummy"), CMD("2"), CMD("down")),
                         VACATAIRE_CRITICAL);
        assert_string_equal(msg, "CRITICAL: down");
        assert_int_equal(RUN(msg, 5.0, CMD(NAGIOS "check_dummy"), CMD("3"), CMD("no idea")),
                         VACATAIRE_UNKNOWN);
        assert_string_equal(msg, "UNKNOWN: no idea");

        /* warning = "fail": a warning fails the check. */
        const struct vacataire_param fail_warning[] = {STR("warning", "fail")};
        const struct vacataire_param pass_warning[] = {STR("warning", "pass")};
        const struct vacataire_param argv[] = {CMD(NAGIOS "check_dummy"), CMD("1"), CMD("meh")};
        assert_int_equal(run_command(argv, 3, fail_warning, 1, 5.0, msg, sizeof(msg)),
                         VACATAIRE_CRITICAL);
        assert_string_equal(msg, "WARNING: meh");
        assert_int_equal(run_command(argv, 3, pass_warning, 1, 5.0, msg, sizeof(msg)),
                         VACATAIRE_WARNING);
}

static void test_check_tcp_and_http(void **state)
{
        char *argv[] = {"python3", FIXTURE, NULL};
        char port[16], msg[512];
        int http_port = 0;
        pid_t pid;

        pid = start_server(argv, &http_port);
        assert_true(pid > 0);
        snprintf(port, sizeof(port), "%d", http_port);

        /* The perfdata stays in the message, after '|': the checker splits it off. */
        assert_int_equal(RUN(msg, 5.0, CMD(NAGIOS "check_tcp"), CMD("-H"), CMD("127.0.0.1"),
                             CMD("-p"), CMD(port)),
                         VACATAIRE_OK);
        assert_memory_equal(msg, "TCP OK - ", 9);
        assert_non_null(strstr(msg, "|time="));

        assert_int_equal(RUN(msg, 5.0, CMD(NAGIOS "check_http"), CMD("-H"), CMD("127.0.0.1"),
                             CMD("-p"), CMD(port), CMD("-u"), CMD("/bytes/10")),
                         VACATAIRE_OK);
        assert_memory_equal(msg, "HTTP OK: ", 9);
        assert_non_null(strstr(msg, "|time="));
        assert_int_equal(RUN(msg, 5.0, CMD(NAGIOS "check_http"), CMD("-H"), CMD("127.0.0.1"),
                             CMD("-p"), CMD(port), CMD("-u"), CMD("/status/503")),
                         VACATAIRE_CRITICAL);
        assert_non_null(strstr(msg, "503"));
        stop_server(pid);

        snprintf(port, sizeof(port), "%u", free_port());
        assert_int_equal(RUN(msg, 5.0, CMD(NAGIOS "check_tcp"), CMD("-H"), CMD("127.0.0.1"),
                             CMD("-p"), CMD(port)),
                         VACATAIRE_CRITICAL);
        assert_non_null(strstr(msg, "Connection refused"));
}

static void test_check_procs_and_disk(void **state)
{
        char msg[512];

        /* A process of our own to count (check_procs leaves out its parent: us). */
        pid_t sleeper = fork();
        assert_true(sleeper >= 0);
        if (sleeper == 0) {
                execlp("sleep", "sleep", "1000.4242", (char *)NULL);
                _exit(127);
        }
        for (int i = 0; i < 500; i++) {
                if (RUN(msg, 5.0, CMD(NAGIOS "check_procs"), CMD("-c"), CMD("1:1"), CMD("-C"),
                        CMD("sleep"), CMD("-a"), CMD("1000.4242")) == VACATAIRE_OK)
                        break;
                usleep(10000); /* until it has exec'd */
        }
        assert_memory_equal(msg, "PROCS OK: 1 process", 19);
        kill(sleeper, SIGKILL);
        waitpid(sleeper, NULL, 0);
        assert_int_equal(RUN(msg, 5.0, CMD(NAGIOS "check_procs"), CMD("-c"), CMD("1:1"), CMD("-C"),
                             CMD("sleep"), CMD("-a"), CMD("1000.4242")),
                         VACATAIRE_CRITICAL);
        assert_memory_equal(msg, "PROCS CRITICAL: 0 processes", 27);

        assert_int_equal(RUN(msg, 5.0, CMD(NAGIOS "check_disk"), CMD("-w"), CMD("0%"), CMD("-c"),
                             CMD("0%"), CMD("-p"), CMD("/")),
                         VACATAIRE_OK);
        assert_memory_equal(msg, "DISK OK", 7);
        assert_non_null(strstr(msg, "|"));
        /* Nobody has 100% free: critical. */
        assert_int_equal(RUN(msg, 5.0, CMD(NAGIOS "check_disk"), CMD("-w"), CMD("100%"), CMD("-c"),
                             CMD("100%"), CMD("-p"), CMD("/")),
                         VACATAIRE_CRITICAL);
        assert_memory_equal(msg, "DISK CRITICAL", 13);
}

static void test_exit_codes_and_signals(void **state)
{
        char msg[512];

        assert_int_equal(RUN(msg, 5.0, CMD("sh"), CMD("-c"), CMD("echo weird; exit 7")),
                         VACATAIRE_UNKNOWN);
        assert_string_equal(msg, "exited with status 7 (not 0-3): weird");
        assert_int_equal(RUN(msg, 5.0, CMD("sh"), CMD("-c"), CMD("echo dying; kill -SEGV $$")),
                         VACATAIRE_CRITICAL);
        assert_string_equal(msg, "killed by signal 11 (Segmentation fault): dying");
        /* stderr stands in when stdout says nothing. */
        assert_int_equal(RUN(msg, 5.0, CMD("sh"), CMD("-c"), CMD("echo oops >&2; exit 2")),
                         VACATAIRE_CRITICAL);
        assert_string_equal(msg, "oops");
        assert_int_equal(RUN(msg, 5.0, CMD("true")), VACATAIRE_OK);
        assert_string_equal(msg, "OK (no output)");
        /* Only the first line; blank lines before it are skipped. */
        assert_int_equal(RUN(msg, 5.0, CMD("printf"), CMD("\n\nfirst | a=1\nsecond\n")),
                         VACATAIRE_OK);
        assert_string_equal(msg, "first | a=1");
        /* A bare name is looked up in PATH when it runs. */
        assert_int_equal(RUN(msg, 5.0, CMD("vc-no-such-command")), VACATAIRE_UNKNOWN);
        assert_string_equal(msg, "exited with status 127 (not 0-3): cannot execute "
                                 "vc-no-such-command: No such file or directory");
        /* No shell unless asked for: the words reach the command as they are. */
        assert_int_equal(RUN(msg, 5.0, CMD("echo"), CMD("$HOME; exit 2")), VACATAIRE_OK);
        assert_string_equal(msg, "$HOME; exit 2");
        /* Nothing of the checker leaks into the command: fds 0-2 only. */
        assert_int_equal(RUN(msg, 5.0, CMD("sh"), CMD("-c"),
                             CMD("ls /proc/self/fd | tr '\\n' ' '; test -e /proc/self/fd/3 && "
                                 "exit 2 || exit 0")),
                         VACATAIRE_OK);
}

/* Never exits: killed at the deadline, a little before the timeout, with its whole group. */
static void test_never_exits(void **state)
{
        char msg[512], pidfile[128], script[256];
        double start, elapsed;

        snprintf(pidfile, sizeof(pidfile), "%s/never.pid", tmp);
        snprintf(script, sizeof(script), "sleep 1000 & echo $! > %s; echo waiting; wait", pidfile);
        start = now_seconds();
        assert_int_equal(RUN(msg, 0.5, CMD("sh"), CMD("-c"), CMD(script)), VACATAIRE_UNKNOWN);
        elapsed = now_seconds() - start;
        assert_string_equal(msg, "timed out after 0.45 s, command killed: waiting");
        assert_true(elapsed >= 0.45);
        assert_true(elapsed < 0.5 * 4); /* bounded; the machine may be slow */
        assert_gone(pidfile);
}

/* Floods: read and dropped, neither side blocks; the first line is still the message. */
static void test_floods(void **state)
{
        char msg[512];
        double start = now_seconds();

        /* 20 MB, then an exit: it ends when the command does, not at the timeout. */
        assert_int_equal(
            RUN(msg, 30.0, CMD("sh"), CMD("-c"), CMD("echo first; yes | head -c 20000000; exit 1")),
            VACATAIRE_WARNING);
        assert_string_equal(msg, "first");
        assert_true(now_seconds() - start < 25.0);

        /* Endless, on stdout and stderr: stopped at the deadline. */
        start = now_seconds();
        assert_int_equal(RUN(msg, 1.0, CMD("sh"), CMD("-c"), CMD("yes >&2 & yes")),
                         VACATAIRE_UNKNOWN);
        assert_string_equal(msg, "timed out after 0.9 s, command killed: y");
        assert_true(now_seconds() - start < 1.0 * 4);

        /* One endless line: the message is cut, the run still ends. */
        assert_int_equal(RUN(msg, 1.0, CMD("sh"), CMD("-c"),
                             CMD("head -c 100000 /dev/zero | "
                                 "tr '\\0' x; exit 2")),
                         VACATAIRE_CRITICAL);
        assert_int_equal(strlen(msg), sizeof(msg) - 1);
}

/* Leaves a child behind that keeps stdout open: the run ends when the command exits, and the
 * child is killed with the group. */
static void test_leftover_children(void **state)
{
        char msg[512], pidfile[128], script[256];
        double start;

        snprintf(pidfile, sizeof(pidfile), "%s/child.pid", tmp);
        snprintf(script, sizeof(script), "sleep 1000 & echo $! > %s; echo started", pidfile);
        start = now_seconds();
        assert_int_equal(RUN(msg, 10.0, CMD("sh"), CMD("-c"), CMD(script)), VACATAIRE_OK);
        assert_string_equal(msg, "started");
        assert_true(now_seconds() - start < 5.0);
        assert_gone(pidfile);
}

/* The checker dies mid-run (the daemon kills a late one): the guard kills the command's group. */
static void test_checker_killed_mid_run(void **state)
{
        char pidfile[128], script[256];
        pid_t checker;

        snprintf(pidfile, sizeof(pidfile), "%s/orphan.pid", tmp);
        snprintf(script, sizeof(script), "sleep 1000 & echo $! > %s; wait", pidfile);
        checker = fork();
        assert_true(checker >= 0);
        if (checker == 0) {
                char msg[512];
                (void)RUN(msg, 100.0, CMD("sh"), CMD("-c"), CMD(script));
                _exit(0);
        }
        for (int i = 0; i < 500 && access(pidfile, F_OK) < 0; i++)
                usleep(10000);
        usleep(50000); /* the pid is written */
        assert_int_equal(kill(checker, SIGKILL), 0);
        assert_int_equal(waitpid(checker, NULL, 0), checker);
        assert_gone(pidfile);
}

static void test_param_errors(void **state)
{
        const struct vacataire_param empty[] = {{0}};
        const struct vacataire_param mixed[] = {CMD("/bin/true"), INT("command", 3)};
        const struct vacataire_param missing[] = {CMD("/nonexistent/check_x"), CMD("-v")};
        const struct vacataire_param ok[] = {CMD("/bin/true")};
        struct vacataire_param none = {.name = "command", .type = VACATAIRE_PARAM_LIST};

        (void)empty;
        CONFIGURE_ERROR("params.command: missing (a list: [ \"/path/to/check\", \"arg\", ... ])",
                        STR("warning", "pass"));
        CONFIGURE_ERROR("params.command: missing (a list: [ \"/path/to/check\", \"arg\", ... ])",
                        none);
        CONFIGURE_ERROR("params.command: must be a list, [ ... ]", CMD("/bin/true -v"));
        CONFIGURE_ERROR("params.command: must be a list of non-empty strings",
                        LIST("command", mixed));
        CONFIGURE_ERROR("params.command: cannot execute /nonexistent/check_x: No such file or "
                        "directory",
                        LIST("command", missing));
        CONFIGURE_ERROR("params.warning: must be \"pass\" or \"fail\"", LIST("command", ok),
                        STR("warning", "ignore"));
        CONFIGURE_ERROR("params.cmd: unknown parameter (known: command, warning)",
                        LIST("command", ok), STR("cmd", "x"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_check_dummy),
            cmocka_unit_test(test_check_tcp_and_http),
            cmocka_unit_test(test_check_procs_and_disk),
            cmocka_unit_test(test_exit_codes_and_signals),
            cmocka_unit_test(test_never_exits),
            cmocka_unit_test(test_floods),
            cmocka_unit_test(test_leftover_children),
            cmocka_unit_test(test_checker_killed_mid_run),
            cmocka_unit_test(test_param_errors),
        };
        if (access(NAGIOS "check_dummy", X_OK) < 0) {
                fprintf(stderr, "monitoring-plugins not installed (tests/deps.sh test)\n");
                return 1;
        }
        signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, setup, teardown);
}
