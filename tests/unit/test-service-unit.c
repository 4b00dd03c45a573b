/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The systemd back end against a real systemd user manager: this binary re-executes itself
 * inside tests/lib/systemd-user.sh (a private mount namespace with systemd --user and its session
 * bus), writes small user units there, and drives them through UnitManager and ServiceSet on a
 * real sd-event loop. What systemd did is checked with systemctl, not with the code under test.
 * This process is a child subreaper, so servers started by command services come back to it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <arpa/inet.h>
#include <limits.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "scope.h"
#include "service-unit.h"
#include "service.h"
#include "free-port.h"

static bool systemd_missing;
static sd_event *event;
static char tmpdir[] = "/tmp/vc-test-service-unit-XXXXXX";

typedef struct Result {
        bool done;
        unsigned calls;
        int result;
        char *text;
} Result;

static void result_clear(Result *r)
{
        free(r->text);
        *r = (Result){};
}

static void result_set(Result *r, int result, const char *text)
{
        r->done = true;
        r->calls++;
        r->result = result;
        free(r->text);
        r->text = text ? strdup(text) : NULL;
}

static void on_job_done(UnitJob *j, int result, const char *message, void *userdata)
{
        result_set(userdata, result, message);
}

static void on_state(UnitJob *j, int result, const char *state, void *userdata)
{
        result_set(userdata, result, state);
}

static void on_set_done(ServiceSet *s, int result, const char *message, void *userdata)
{
        result_set(userdata, result, message);
}

static void run_until(const bool *flag, usec_t max)
{
        usec_t end = now_usec(CLOCK_MONOTONIC) + max;

        while (!*flag && now_usec(CLOCK_MONOTONIC) < end)
                assert_true(sd_event_run(event, 50 * USEC_PER_MSEC) >= 0);
}

static char *tmp_path(const char *name)
{
        char *p = strdup_printf("%s/%s", tmpdir, name);

        assert_non_null(p);
        return p;
}

/* The output of a shell command (first line, without the newline). */
static char *sh_output(const char *command)
{
        char line[512] = "";
        FILE *p = popen(command, "r");

        assert_non_null(p);
        if (!fgets(line, sizeof(line), p))
                line[0] = '\0';
        (void)pclose(p);
        line[strcspn(line, "\n")] = '\0';
        return strdup(line);
}

static char *active_state(const char *unit)
{
        _cleanup_free_ char *cmd =
            strdup_printf("systemctl --user show -p ActiveState --value %s", unit);
        return sh_output(cmd);
}

/* Waits until systemctl reports state (or one of "a|b"), then checks it. */
static void assert_state_within(const char *unit, const char *expected, usec_t max)
{
        usec_t end = now_usec(CLOCK_MONOTONIC) + max;
        char *state = NULL;

        for (;;) {
                free(state);
                state = active_state(unit);
                if (strstr(expected, state) && *state)
                        break;
                if (now_usec(CLOCK_MONOTONIC) >= end) {
                        print_error("%s is %s, expected %s\n", unit, state, expected);
                        break;
                }
                usleep(20000);
        }
        assert_non_null(strstr(expected, state));
        free(state);
}

static void write_unit(const char *name, const char *text)
{
        _cleanup_free_ char *path = NULL;

        path = strdup_printf("%s/systemd/user/%s", getenv("XDG_RUNTIME_DIR"), name);
        assert_int_equal(write_file_atomic(path, text, strlen(text), 0644), 0);
        assert_int_equal(system("systemctl --user daemon-reload"), 0);
}

static bool port_answers(int port)
{
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons(port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool ok;

        assert_true(fd >= 0);
        ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
        close(fd);
        return ok;
}

static bool port_answers_within(int port, usec_t max)
{
        usec_t end = now_usec(CLOCK_MONOTONIC) + max;

        while (!port_answers(port))
                if (now_usec(CLOCK_MONOTONIC) >= end)
                        return false;
                else
                        usleep(20000);
        return true;
}

/* A user unit serving HTTP on a fresh port; returns the port. */
static int write_http_unit(const char *name, const char *extra)
{
        int port = free_port();
        _cleanup_free_ char *text =
            strdup_printf("[Service]\nExecStart=busybox httpd -f -p 127.0.0.1:%d -h %s\n%s", port,
                          tmpdir, extra ?: "");

        write_unit(name, text);
        return port;
}

static int setup(void **state)
{
        if (systemd_missing)
                return 0;
        assert_int_equal(sd_event_new(&event), 0);
        return 0;
}

static int teardown(void **state)
{
        _cleanup_free_ char *pidfile = NULL, *text = NULL;

        if (systemd_missing)
                return 0;
        /* A server a failed test left behind. */
        pidfile = strdup_printf("%s/scoped.pid", tmpdir);
        if (read_full_file(pidfile, 64, &text, NULL) >= 0 && atoi(text) > 0 &&
            kill(atoi(text), SIGKILL) == 0)
                (void)waitpid(atoi(text), NULL, 0);
        (void)unlink(pidfile);
        /* Best effort: what is left is stopped with the test's user manager anyway. */
        if (system("systemctl --user stop 'vc-*' 'vacataire-*.scope' >/dev/null 2>&1") != 0)
                print_message("(leftover test units were not all stopped)\n");
        event = sd_event_unref(event);
        return 0;
}

static UnitManager *new_manager(void)
{
        UnitManager *m = NULL;

        assert_int_equal(unit_manager_new(event, SYSTEMD_BUS_USER, &m), 0);
        return m;
}

#define SKIP_WITHOUT_SYSTEMD()                                                                     \
        do {                                                                                       \
                if (systemd_missing)                                                               \
                        skip();                                                                    \
        } while (0)

static void test_start_stop_state(void **state)
{
        SKIP_WITHOUT_SYSTEMD();
        _cleanup_(unit_manager_freep) UnitManager *m = new_manager();
        UnitJob *j = NULL;
        Result res = {};
        int port = write_http_unit("vc-http.service", NULL);

        assert_int_equal(unit_manager_get_active_state(m, "vc-http.service", 5 * USEC_PER_SEC,
                                                       on_state, &res, &j),
                         0);
        assert_false(res.done); /* never from inside the call */
        run_until(&res.done, 5 * USEC_PER_SEC);
        assert_int_equal(res.result, 0);
        assert_string_equal(res.text, "inactive");
        assert_false(unit_active_state_is_running(res.text));
        j = unit_job_free(j);

        result_clear(&res);
        assert_int_equal(
            unit_manager_start_unit(m, "vc-http.service", 5 * USEC_PER_SEC, on_job_done, &res, &j),
            0);
        assert_false(res.done);
        run_until(&res.done, 5 * USEC_PER_SEC);
        assert_int_equal(res.calls, 1);
        assert_int_equal(res.result, 0);
        assert_null(res.text);
        j = unit_job_free(j);
        assert_state_within("vc-http.service", "active", 0);
        assert_true(port_answers_within(port, 2 * USEC_PER_SEC));

        result_clear(&res);
        assert_int_equal(unit_manager_get_active_state(m, "vc-http.service", 5 * USEC_PER_SEC,
                                                       on_state, &res, &j),
                         0);
        run_until(&res.done, 5 * USEC_PER_SEC);
        assert_int_equal(res.result, 0);
        assert_string_equal(res.text, "active");
        assert_true(unit_active_state_is_running(res.text));
        j = unit_job_free(j);

        result_clear(&res);
        assert_int_equal(
            unit_manager_stop_unit(m, "vc-http.service", 5 * USEC_PER_SEC, on_job_done, &res, &j),
            0);
        run_until(&res.done, 5 * USEC_PER_SEC);
        assert_int_equal(res.result, 0);
        j = unit_job_free(j);
        assert_state_within("vc-http.service", "inactive", 0);
        assert_false(port_answers(port));

        /* A unit that does not exist: refused to start, already stopped, and not running. */
        result_clear(&res);
        assert_int_equal(
            unit_manager_start_unit(m, "vc-nope.service", 5 * USEC_PER_SEC, on_job_done, &res, &j),
            0);
        run_until(&res.done, 5 * USEC_PER_SEC);
        assert_true(res.result < 0);
        assert_string_equal(res.text, "start refused by systemd: Unit vc-nope.service not found.");
        j = unit_job_free(j);
        result_clear(&res);
        assert_int_equal(
            unit_manager_stop_unit(m, "vc-nope.service", 5 * USEC_PER_SEC, on_job_done, &res, &j),
            0);
        run_until(&res.done, 5 * USEC_PER_SEC);
        assert_int_equal(res.result, 0);
        j = unit_job_free(j);
        result_clear(&res);
        assert_int_equal(unit_manager_get_active_state(m, "vc-nope.service", 5 * USEC_PER_SEC,
                                                       on_state, &res, &j),
                         0);
        run_until(&res.done, 5 * USEC_PER_SEC);
        assert_int_equal(res.result, 0);
        assert_string_equal(res.text, "inactive");
        j = unit_job_free(j);
        result_clear(&res);
}

/* A job freed before its answer never calls back; the manager freed with a job in flight leaves
 * the job to its owner. */
static void test_free_in_flight(void **state)
{
        SKIP_WITHOUT_SYSTEMD();
        UnitManager *m = new_manager();
        UnitJob *j = NULL, *k = NULL;
        Result res = {}, other = {};
        bool never = false;

        write_http_unit("vc-free.service", NULL);
        assert_int_equal(
            unit_manager_start_unit(m, "vc-free.service", 5 * USEC_PER_SEC, on_job_done, &res, &j),
            0);
        assert_null(unit_job_free(j));
        assert_int_equal(
            unit_manager_stop_unit(m, "vc-free.service", 5 * USEC_PER_SEC, on_job_done, &other, &k),
            0);
        assert_null(unit_manager_free(m));
        run_until(&never, 500 * USEC_PER_MSEC);
        assert_false(res.done);
        assert_false(other.done);
        assert_null(unit_job_free(k));
}

static void test_start_timeout_stops_unit(void **state)
{
        SKIP_WITHOUT_SYSTEMD();
        _cleanup_(unit_manager_freep) UnitManager *m = new_manager();
        UnitJob *j = NULL;
        Result res = {};
        usec_t start;

        write_unit("vc-slowstart.service",
                   "[Service]\nType=oneshot\nExecStart=/bin/sleep 30\nTimeoutStartSec=60\n");
        start = now_usec(CLOCK_MONOTONIC);
        assert_int_equal(unit_manager_start_unit(m, "vc-slowstart.service", 300 * USEC_PER_MSEC,
                                                 on_job_done, &res, &j),
                         0);
        run_until(&res.done, 5 * USEC_PER_SEC);
        assert_true(now_usec(CLOCK_MONOTONIC) - start < 2 * USEC_PER_SEC);
        assert_int_equal(res.result, -ETIME);
        assert_string_equal(res.text, "start job timed out after 0.3 s, unit stopped");
        j = unit_job_free(j);
        /* The start job was replaced by a stop: the unit does not stay activating. */
        assert_state_within("vc-slowstart.service", "inactive|failed", 5 * USEC_PER_SEC);
        result_clear(&res);
}

static ConfigService command_service(const char *name, const char *log, const char *start_extra)
{
        return (ConfigService){
            .name = (char *)name,
            .start = strdup_printf("echo start-%s >> %s; %s", name, log, start_extra ?: "true"),
            .stop = strdup_printf("echo stop-%s >> %s", name, log),
            /* No status command: counted as running by a probe, and its stop is trusted. */
            .timeout = 5 * USEC_PER_SEC,
        };
}

static char *read_text(const char *path)
{
        char *text = NULL;

        if (read_full_file(path, 1 << 16, &text, NULL) < 0)
                return strdup("");
        return text;
}

static void run_set(ServiceSet *s, int (*op)(ServiceSet *, ServiceSetDone, void *), Result *res)
{
        result_clear(res);
        assert_int_equal(op(s, on_set_done, res), 0);
        assert_false(res->done);
        run_until(&res->done, 20 * USEC_PER_SEC);
        assert_true(res->done);
        assert_int_equal(res->calls, 1);
}

/* ServiceSet with a command service and a unit whose start fails: retried, then the command
 * service is rolled back; ActiveState checked through systemctl. */
static void test_set_failed_start_rolls_back(void **state)
{
        SKIP_WITHOUT_SYSTEMD();
        _cleanup_free_ char *log = tmp_path("rollback.log");
        _cleanup_free_ char *attempts = tmp_path("attempts");
        _cleanup_free_ char *unit = strdup_printf("[Service]\nType=oneshot\nExecStartPre=/bin/sh "
                                                  "-c 'echo x >> %s'\nExecStart=/bin/false\n",
                                                  attempts);
        _cleanup_free_ char *text = NULL, *tries = NULL;
        _cleanup_(service_set_freep) ServiceSet *s = NULL;
        ConfigService services[3];
        Config cfg = {.services = services, .n_services = 3, .systemd_bus = SYSTEMD_BUS_USER};
        Result res = {};
        int port;

        port = write_http_unit("vc-web.service", NULL);
        write_unit("vc-broken.service", unit);
        services[0] = command_service("a", log, NULL);
        services[1] =
            (ConfigService){.unit = (char *)"vc-web.service", .timeout = 5 * USEC_PER_SEC};
        services[2] = (ConfigService){.name = (char *)"broken",
                                      .unit = (char *)"vc-broken.service",
                                      .timeout = 5 * USEC_PER_SEC,
                                      .start_retries = 1};
        assert_int_equal(service_set_new(event, &cfg, &s), 0);
        free(services[0].start);
        free(services[0].stop);
        assert_string_equal(service_set_name(s, 1), "vc-web.service");

        run_set(s, service_set_start, &res);
        assert_int_equal(res.result, -EIO);
        assert_string_equal(res.text,
                            "broken: vc-broken.service: start job failed (result: failed), after 2 "
                            "attempts; rolled back 2 services");
        tries = read_text(attempts);
        assert_string_equal(tries, "x\nx\n");
        text = read_text(log);
        assert_string_equal(text, "start-a\nstop-a\n");
        assert_int_equal(service_set_state(s, 0), SERVICE_STOPPED);
        assert_int_equal(service_set_state(s, 1), SERVICE_STOPPED);
        assert_int_equal(service_set_state(s, 2), SERVICE_FAILED);
        assert_state_within("vc-web.service", "inactive", 0);
        assert_state_within("vc-broken.service", "failed", 0);
        assert_false(port_answers(port));

        /* Probe: nothing runs (a's status says it does: only some). */
        run_set(s, service_set_probe, &res);
        assert_int_equal(res.result, -EIO);
        assert_string_equal(res.text, "not running: vc-web.service, broken");
        assert_int_equal(service_set_state(s, 1), SERVICE_STOPPED);

        /* With the unit fixed, the whole set starts, probes as running, and stops. */
        write_unit("vc-broken.service", "[Service]\nType=oneshot\nRemainAfterExit=yes\n"
                                        "ExecStart=/bin/true\n");
        run_set(s, service_set_start, &res);
        assert_int_equal(res.result, 0);
        assert_state_within("vc-web.service", "active", 0);
        assert_state_within("vc-broken.service", "active", 0);
        assert_true(port_answers_within(port, 2 * USEC_PER_SEC));
        run_set(s, service_set_probe, &res);
        assert_int_equal(res.result, 0);
        assert_int_equal(service_set_state(s, 2), SERVICE_RUNNING);

        run_set(s, service_set_stop, &res);
        assert_int_equal(res.result, 0);
        assert_state_within("vc-web.service", "inactive", 0);
        assert_state_within("vc-broken.service", "inactive", 0);
        run_set(s, service_set_probe, &res);
        assert_int_equal(res.result, -EIO); /* a has no status command: counted as running */
        assert_string_equal(res.text, "not running: vc-web.service, broken");
        result_clear(&res);
}

/* A stop that hangs past the service's timeout is followed by a kill of the unit, and counts as
 * a stop once the unit is verified inactive. */
static void test_set_stop_timeout(void **state)
{
        SKIP_WITHOUT_SYSTEMD();
        _cleanup_(service_set_freep) ServiceSet *s = NULL;
        ConfigService services[1] = {
            {.unit = (char *)"vc-slowstop.service", .timeout = 500 * USEC_PER_MSEC}};
        Config cfg = {.services = services, .n_services = 1, .systemd_bus = SYSTEMD_BUS_USER};
        Result res = {};
        usec_t start;
        int port;

        port =
            write_http_unit("vc-slowstop.service", "ExecStop=/bin/sleep 30\nTimeoutStopSec=60\n");
        assert_int_equal(service_set_new(event, &cfg, &s), 0);
        run_set(s, service_set_start, &res);
        assert_int_equal(res.result, 0);
        assert_true(port_answers_within(port, 2 * USEC_PER_SEC));

        start = now_usec(CLOCK_MONOTONIC);
        run_set(s, service_set_stop, &res);
        assert_true(now_usec(CLOCK_MONOTONIC) - start < 3 * USEC_PER_SEC);
        /* The kill after the timeout worked, and the unit is seen inactive: a verified stop. */
        assert_int_equal(res.result, 0);
        assert_int_equal(service_set_state(s, 0), SERVICE_STOPPED);
        assert_state_within("vc-slowstop.service", "inactive|failed", 0);
        /* Killed: down well before the unit's own 60 s stop timeout. */
        assert_state_within("vc-slowstop.service", "inactive|failed", 5 * USEC_PER_SEC);
        assert_false(port_answers(port));
        result_clear(&res);
}

/* The scope technique: a held child is moved into a transient scope before it execs, so the
 * command's first instruction already runs there. */
static void test_command_in_scope(void **state)
{
        SKIP_WITHOUT_SYSTEMD();
        _cleanup_free_ char *pidfile = tmp_path("scoped.pid");
        _cleanup_free_ char *cgfile = tmp_path("scoped.cgroup");
        _cleanup_free_ char *start = NULL, *cgroup = NULL, *pid_text = NULL, *cmd = NULL;
        _cleanup_free_ char *scope = NULL, *listed = NULL, *proc_cgroup = NULL;
        _cleanup_(service_set_freep) ServiceSet *s = NULL;
        ConfigService services[1];
        Config cfg = {.services = services, .n_services = 1, .systemd_bus = SYSTEMD_BUS_USER};
        Result res = {};
        int port = free_port();
        pid_t pid;

        start = strdup_printf("cat /proc/$$/cgroup > %s; busybox httpd -f -p 127.0.0.1:%d -h %s "
                              ">/dev/null 2>&1 & echo $! > %s",
                              cgfile, port, tmpdir, pidfile);
        services[0] = (ConfigService){.name = (char *)"web/1",
                                      .start = start,
                                      .stop = (char *)"true",
                                      .timeout = 5 * USEC_PER_SEC};
        assert_int_equal(setenv("INVOCATION_ID", "0123456789abcdef0123456789abcdef", 1), 0);
        assert_true(scope_wanted());
        assert_int_equal(service_set_new(event, &cfg, &s), 0);
        run_set(s, service_set_start, &res);
        assert_int_equal(unsetenv("INVOCATION_ID"), 0);
        assert_int_equal(res.result, 0);
        assert_true(port_answers_within(port, 2 * USEC_PER_SEC));

        /* The shell was in the scope from its first command ('/' escaped to '_'). */
        cgroup = read_text(cgfile);
        assert_non_null(strstr(cgroup, "/vacataire-web_1-"));
        assert_non_null(strstr(cgroup, ".scope\n"));

        /* So is the server it left running, and systemd lists the scope. */
        pid_text = read_text(pidfile);
        pid = (pid_t)atoi(pid_text);
        assert_true(pid > 0);
        cmd = strdup_printf("/proc/%d/cgroup", (int)pid);
        proc_cgroup = read_text(cmd);
        assert_non_null(strstr(proc_cgroup, "/vacataire-web_1-"));
        free(cmd);
        cmd = strdup_printf("grep -o 'vacataire-web_1-[0-9a-f]*\\.scope' /proc/%d/cgroup | head -1",
                            (int)pid);
        scope = sh_output(cmd);
        assert_true(strlen(scope) == strlen("vacataire-web_1-01234567.scope"));
        assert_state_within(scope, "active", 0);
        free(cmd);
        cmd = strdup_printf("systemctl --user show -p Description --value %s", scope);
        listed = sh_output(cmd);
        assert_string_equal(listed, "vacataire service web/1");

        /* Once its last process is gone, the scope is collected. */
        assert_int_equal(kill(pid, SIGTERM), 0);
        assert_int_equal(waitpid(pid, NULL, 0), pid);
        assert_int_equal(unlink(pidfile), 0);
        assert_state_within(scope, "inactive", 5 * USEC_PER_SEC);
        result_clear(&res);
}

/* A command service's stop that fails, or hangs, is followed by a kill of its scopes, found by
 * name: here by a second service set, as after an agent restart, which never started it. Only
 * then, with the status command saying stopped and no scope left, is the stop a success. */
static void test_command_failed_stop_kills_scope(void **state)
{
        SKIP_WITHOUT_SYSTEMD();
        _cleanup_free_ char *pidfile = tmp_path("fenced.pid");
        _cleanup_free_ char *start = NULL, *status = NULL;
        ConfigService services[1];
        Config cfg = {.services = services, .n_services = 1, .systemd_bus = SYSTEMD_BUS_USER};
        const char *const stops[] = {"exit 1", "sleep 30"};
        Result res = {};
        int port = free_port();

        start = strdup_printf("busybox httpd -f -p 127.0.0.1:%d -h %s >/dev/null 2>&1 & echo $! "
                              "> %s",
                              port, tmpdir, pidfile);
        /* A killed server may stay a zombie until its parent reaps it: that is stopped. */
        status = strdup_printf("st=$(sed 's/.*) \\(.\\).*/\\1/' /proc/$(cat %s)/stat "
                               "2>/dev/null); [ -n \"$st\" ] && [ \"$st\" != Z ]",
                               pidfile);
        assert_int_equal(setenv("INVOCATION_ID", "0123456789abcdef0123456789abcdef", 1), 0);
        for (size_t i = 0; i < ELEMENTSOF(stops); i++) {
                _cleanup_(service_set_freep) ServiceSet *starter = NULL, *stopper = NULL;
                _cleanup_free_ char *pid_text = NULL;
                pid_t pid;

                services[0] = (ConfigService){.name = (char *)"fenced",
                                              .start = start,
                                              .stop = (char *)stops[i],
                                              .status = status,
                                              .timeout = 500 * USEC_PER_MSEC};
                assert_int_equal(service_set_new(event, &cfg, &starter), 0);
                run_set(starter, service_set_start, &res);
                assert_int_equal(res.result, 0);
                assert_true(port_answers_within(port, 2 * USEC_PER_SEC));
                pid_text = read_text(pidfile);
                pid = (pid_t)atoi(pid_text);

                assert_int_equal(service_set_new(event, &cfg, &stopper), 0);
                run_set(stopper, service_set_stop, &res);
                assert_int_equal(res.result, 0);
                assert_int_equal(service_set_state(stopper, 0), SERVICE_STOPPED);
                assert_false(port_answers(port));
                (void)waitpid(pid, NULL, WNOHANG);
        }
        /* A stop that fails and a status that keeps saying "running": a failed stop. */
        services[0].stop = (char *)"exit 1";
        services[0].status = (char *)"true";
        services[0].timeout = 300 * USEC_PER_MSEC;
        {
                _cleanup_(service_set_freep) ServiceSet *set = NULL;
                assert_int_equal(service_set_new(event, &cfg, &set), 0);
                run_set(set, service_set_stop, &res);
                assert_int_equal(res.result, -EIO);
                assert_string_equal(res.text, "fenced: stop failed: exit status 1; not stopped "
                                              "even by SIGKILL: its status command says it runs");
                assert_int_equal(service_set_state(set, 0), SERVICE_FAILED);
        }
        assert_int_equal(unsetenv("INVOCATION_ID"), 0);
        result_clear(&res);
}

/* Without a bus to ask, start commands run as before (fail open). */
static void test_command_without_bus_runs_anyway(void **state)
{
        SKIP_WITHOUT_SYSTEMD();
        _cleanup_free_ char *log = tmp_path("nobus.log");
        _cleanup_free_ char *address = strdup_printf("unix:path=%s/no-bus", tmpdir);
        _cleanup_free_ char *saved = strdup(getenv("DBUS_SESSION_BUS_ADDRESS"));
        _cleanup_free_ char *text = NULL;
        _cleanup_(service_set_freep) ServiceSet *s = NULL;
        ConfigService services[1];
        Config cfg = {.services = services, .n_services = 1, .systemd_bus = SYSTEMD_BUS_USER};
        Result res = {};

        /* Logs how many scopes its shell is in. */
        services[0] = (ConfigService){
            .name = (char *)"a",
            .start = strdup_printf("{ echo start-a; grep -c 'vacataire-.*scope' /proc/$$/cgroup || "
                                   "true; } >> %s",
                                   log),
            .stop = (char *)"true",
            .timeout = 5 * USEC_PER_SEC,
        };
        assert_int_equal(setenv("INVOCATION_ID", "0123456789abcdef0123456789abcdef", 1), 0);
        assert_int_equal(setenv("DBUS_SESSION_BUS_ADDRESS", address, 1), 0);
        assert_int_equal(service_set_new(event, &cfg, &s), 0);
        free(services[0].start);
        run_set(s, service_set_start, &res);
        assert_int_equal(setenv("DBUS_SESSION_BUS_ADDRESS", saved, 1), 0);
        assert_int_equal(unsetenv("INVOCATION_ID"), 0);
        assert_int_equal(res.result, 0);
        text = read_text(log);
        assert_string_equal(text, "start-a\n0\n");
        result_clear(&res);
}

static void test_scope_refused(void **state)
{
        SKIP_WITHOUT_SYSTEMD();
        _cleanup_(unit_manager_freep) UnitManager *m = new_manager();
        _cleanup_free_ char *name = NULL;
        UnitJob *j = NULL;
        Result res = {};

        assert_int_equal(scope_unit_name("a b/c", &name), 0);
        assert_int_equal(strlen(name), strlen("vacataire-a_b_c-01234567.scope"));
        assert_int_equal(strncmp(name, "vacataire-a_b_c-", 16), 0);

        /* systemd's own refusal comes back as the message. */
        assert_int_equal(unit_manager_start_scope(m, "not a unit name", "x", getpid(),
                                                  5 * USEC_PER_SEC, on_job_done, &res, &j),
                         0);
        run_until(&res.done, 5 * USEC_PER_SEC);
        assert_true(res.result < 0);
        assert_non_null(strstr(res.text, "start refused by systemd: "));
        j = unit_job_free(j);
        result_clear(&res);
}

/* Outside, re-runs this binary inside a systemd user manager; 77 from there means systemd or
 * dbus is not installed, and every test is skipped. */
static int run_inside_systemd(void)
{
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        int status;
        pid_t pid;

        if (n < 0)
                return 1;
        self[n] = '\0';
        pid = fork();
        if (pid < 0)
                return 1;
        if (pid == 0) {
                execl("/bin/bash", "bash", TEST_SOURCE_DIR "/tests/lib/systemd-user.sh", "run",
                      self, (char *)NULL);
                _exit(127);
        }
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
                return 1;
        return WEXITSTATUS(status);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_start_stop_state, setup, teardown),
            cmocka_unit_test_setup_teardown(test_free_in_flight, setup, teardown),
            cmocka_unit_test_setup_teardown(test_start_timeout_stops_unit, setup, teardown),
            cmocka_unit_test_setup_teardown(test_set_failed_start_rolls_back, setup, teardown),
            cmocka_unit_test_setup_teardown(test_set_stop_timeout, setup, teardown),
            cmocka_unit_test_setup_teardown(test_command_in_scope, setup, teardown),
            cmocka_unit_test_setup_teardown(test_command_failed_stop_kills_scope, setup, teardown),
            cmocka_unit_test_setup_teardown(test_command_without_bus_runs_anyway, setup, teardown),
            cmocka_unit_test_setup_teardown(test_scope_refused, setup, teardown),
        };
        _cleanup_free_ char *rm = NULL;
        sigset_t mask;
        int r;

        if (!getenv("VC_SD_USER_NS")) {
                r = run_inside_systemd();
                if (r != 77)
                        return r;
                fprintf(stderr, "SKIP: systemd --user or dbus-daemon is not installed\n");
                systemd_missing = true;
                return cmocka_run_group_tests(tests, NULL, NULL);
        }

        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        assert_int_equal(sigprocmask(SIG_BLOCK, &mask, NULL), 0);
        assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
        if (!mkdtemp(tmpdir))
                return 1;
        assert_int_equal(chmod(tmpdir, 0755), 0);

        r = cmocka_run_group_tests(tests, NULL, NULL);
        rm = strdup_printf("rm -rf '%s'", tmpdir);
        if (system(rm) != 0)
                fprintf(stderr, "could not remove %s\n", tmpdir);
        return r;
}
