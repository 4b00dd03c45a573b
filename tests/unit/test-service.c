/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Service sets with the command back end: real shell commands that append to a log file, on a
 * real sd-event loop. This process is a child subreaper so the background processes of killed
 * commands come back to it and can be checked and reaped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "service.h"

typedef struct Result {
        bool done;
        unsigned calls;
        int result;
        char *message;
        bool busy_in_done;
} Result;

typedef struct Fixture {
        sd_event *event;
        char dir[64];
        char *log;
        Config config;
        ConfigService services[4];
} Fixture;

static void on_done(ServiceSet *s, int result, const char *message, void *userdata)
{
        Result *res = userdata;

        res->done = true;
        res->calls++;
        res->result = result;
        free(res->message);
        res->message = message ? strdup(message) : NULL;
        res->busy_in_done = service_set_busy(s);
}

static void result_done(Result *res)
{
        free(res->message);
        *res = (Result){};
}

static void run_until(sd_event *e, const bool *flag, usec_t max)
{
        usec_t end = now_usec(CLOCK_MONOTONIC) + max;

        while (!*flag && now_usec(CLOCK_MONOTONIC) < end)
                assert_true(sd_event_run(e, 50 * USEC_PER_MSEC) >= 0);
}

static int setup(void **state)
{
        Fixture *f = calloc(1, sizeof(Fixture));

        assert_non_null(f);
        assert_int_equal(sd_event_new(&f->event), 0);
        strcpy(f->dir, "/tmp/vc-test-service-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        f->log = strdup_printf("%s/log", f->dir);
        f->config.services = f->services;
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        Fixture *f = *state;
        _cleanup_free_ char *cmd = strdup_printf("rm -rf '%s'", f->dir);

        for (size_t i = 0; i < ELEMENTSOF(f->services); i++) {
                ConfigService *c = &f->services[i];
                free(c->name);
                free(c->unit);
                free(c->start);
                free(c->stop);
                free(c->status);
        }
        free(f->log);
        sd_event_unref(f->event);
        assert_int_equal(system(cmd), 0);
        free(f);
        return 0;
}

/* A command service whose start and stop commands log "<action>-<service>" (from the
 * environment the service set gives them) and then run extra_start / extra_stop. */
static ConfigService *add_service(Fixture *f, const char *name, const char *extra_start,
                                  const char *extra_stop, const char *status)
{
        ConfigService *c = &f->services[f->config.n_services++];

        assert_true(f->config.n_services <= ELEMENTSOF(f->services));
        c->name = strdup(name);
        c->start = strdup_printf("echo \"$VACATAIRE_ACTION-$VACATAIRE_SERVICE\" >> %s; %s", f->log,
                                 extra_start ?: "true");
        c->stop = strdup_printf("echo \"$VACATAIRE_ACTION-$VACATAIRE_SERVICE\" >> %s; %s", f->log,
                                extra_stop ?: "true");
        c->status = status ? strdup(status) : NULL;
        c->timeout = 5 * USEC_PER_SEC;
        return c;
}

static char *read_log(Fixture *f)
{
        char *text = NULL;

        if (read_full_file(f->log, 1 << 16, &text, NULL) < 0)
                return strdup("");
        return text;
}

static void assert_log(Fixture *f, const char *expected)
{
        _cleanup_free_ char *text = read_log(f);

        assert_string_equal(text, expected);
}

static ServiceSet *new_set(Fixture *f)
{
        ServiceSet *s = NULL;

        assert_int_equal(service_set_new(f->event, &f->config, &s), 0);
        return s;
}

typedef int (*Operation)(ServiceSet *s, ServiceSetDone done, void *userdata);

/* Runs one operation to its end; done must not be called from inside the call itself. */
static void run_operation(Fixture *f, ServiceSet *s, Operation op, Result *res)
{
        result_done(res);
        assert_int_equal(op(s, on_done, res), 0);
        assert_false(res->done);
        assert_true(service_set_busy(s));
        run_until(f->event, &res->done, 15 * USEC_PER_SEC);
        assert_true(res->done);
        assert_int_equal(res->calls, 1);
        assert_false(res->busy_in_done);
        assert_false(service_set_busy(s));
        assert_true(res->result < 0 ? res->message != NULL : res->message == NULL);
}

static bool reaped_within(pid_t pid, usec_t max)
{
        usec_t end = now_usec(CLOCK_MONOTONIC) + max;

        do {
                pid_t r = waitpid(pid, NULL, WNOHANG);
                if (r == pid)
                        return true;
                assert_int_equal(r, 0);
                usleep(10000);
        } while (now_usec(CLOCK_MONOTONIC) < end);
        return false;
}

static pid_t read_pid(Fixture *f, const char *name)
{
        _cleanup_free_ char *path = strdup_printf("%s/%s", f->dir, name);
        _cleanup_free_ char *text = NULL;

        assert_int_equal(read_full_file(path, 64, &text, NULL), 0);
        return (pid_t)atoi(text);
}

static void test_start_stop_order(void **state)
{
        Fixture *f = *state;
        _cleanup_(service_set_freep) ServiceSet *s = NULL;
        Result res = {};

        add_service(f, "a", NULL, NULL, NULL);
        add_service(f, "b", NULL, NULL, NULL);
        add_service(f, "c", NULL, NULL, NULL);
        s = new_set(f);

        assert_int_equal(service_set_count(s), 3);
        assert_string_equal(service_set_name(s, 0), "a");
        assert_string_equal(service_set_name(s, 2), "c");
        assert_null(service_set_name(s, 3));
        assert_int_equal(service_set_state(s, 0), SERVICE_UNKNOWN);

        run_operation(f, s, service_set_start, &res);
        assert_int_equal(res.result, 0);
        assert_log(f, "start-a\nstart-b\nstart-c\n");
        for (size_t i = 0; i < 3; i++)
                assert_int_equal(service_set_state(s, i), SERVICE_RUNNING);

        run_operation(f, s, service_set_stop, &res);
        assert_int_equal(res.result, 0);
        assert_log(f, "start-a\nstart-b\nstart-c\nstop-c\nstop-b\nstop-a\n");
        for (size_t i = 0; i < 3; i++)
                assert_int_equal(service_set_state(s, i), SERVICE_STOPPED);
        result_done(&res);
}

static void test_retry_then_success(void **state)
{
        Fixture *f = *state;
        _cleanup_(service_set_freep) ServiceSet *s = NULL;
        _cleanup_free_ char *counter = strdup_printf("%s/count", f->dir);
        _cleanup_free_ char *flaky =
            strdup_printf("n=$(($(cat %s 2>/dev/null || echo 0) + 1)); echo $n > %s; test $n -ge 2",
                          counter, counter);
        Result res = {};
        usec_t start;

        add_service(f, "a", NULL, NULL, NULL);
        add_service(f, "flaky", flaky, NULL, NULL)->start_retries = 2;
        s = new_set(f);

        start = now_usec(CLOCK_MONOTONIC);
        run_operation(f, s, service_set_start, &res);
        assert_int_equal(res.result, 0);
        /* Failed once, then after the pause succeeded: no third attempt. */
        assert_log(f, "start-a\nstart-flaky\nstart-flaky\n");
        assert_true(now_usec(CLOCK_MONOTONIC) - start >= 200 * USEC_PER_MSEC);
        assert_int_equal(service_set_state(s, 1), SERVICE_RUNNING);
        result_done(&res);
}

static void test_failure_rolls_back(void **state)
{
        Fixture *f = *state;
        _cleanup_(service_set_freep) ServiceSet *s = NULL;
        Result res = {};

        add_service(f, "a", NULL, NULL, NULL);
        add_service(f, "apache", "exit 1", NULL, NULL)->start_retries = 1;
        add_service(f, "c", NULL, NULL, NULL);
        s = new_set(f);

        run_operation(f, s, service_set_start, &res);
        assert_int_equal(res.result, -EIO);
        assert_string_equal(res.message, "apache: start failed: exit status 1 (after 2 attempts); "
                                         "rolled back 1 service");
        /* c never started; a was stopped again; the failed one is not stopped. */
        assert_log(f, "start-a\nstart-apache\nstart-apache\nstop-a\n");
        assert_int_equal(service_set_state(s, 0), SERVICE_STOPPED);
        assert_int_equal(service_set_state(s, 1), SERVICE_FAILED);
        assert_int_equal(service_set_state(s, 2), SERVICE_UNKNOWN);
        result_done(&res);
}

static void test_start_timeout_and_rollback_failure(void **state)
{
        Fixture *f = *state;
        _cleanup_(service_set_freep) ServiceSet *s = NULL;
        Result res = {};

        add_service(f, "a", NULL, "exit 7", NULL);
        add_service(f, "b", NULL, NULL, NULL);
        add_service(f, "c", "sleep 100", NULL, NULL)->timeout = 200 * USEC_PER_MSEC;
        s = new_set(f);

        run_operation(f, s, service_set_start, &res);
        assert_int_equal(res.result, -EIO);
        assert_string_equal(res.message,
                            "c: start failed: timed out after 0.2 s, process group killed "
                            "(after 1 attempt); rolled back 2 services");
        assert_log(f, "start-a\nstart-b\nstart-c\nstop-b\nstop-a\n");
        /* a's stop failed, but killing its start command's process group stopped it. */
        assert_int_equal(service_set_state(s, 0), SERVICE_STOPPED);
        assert_int_equal(service_set_state(s, 1), SERVICE_STOPPED);
        assert_int_equal(service_set_state(s, 2), SERVICE_FAILED);
        result_done(&res);
}

static void test_stop_timeout(void **state)
{
        Fixture *f = *state;
        _cleanup_(service_set_freep) ServiceSet *s = NULL;
        _cleanup_free_ char *hang =
            strdup_printf("sleep 100 & echo $! > %s/hang.pid; wait", f->dir);
        Result res = {};
        usec_t start;

        add_service(f, "a", NULL, NULL, NULL);
        add_service(f, "b", NULL, hang, NULL)->timeout = 300 * USEC_PER_MSEC;
        s = new_set(f);

        start = now_usec(CLOCK_MONOTONIC);
        run_operation(f, s, service_set_stop, &res);
        assert_true(now_usec(CLOCK_MONOTONIC) - start < 3 * USEC_PER_SEC);
        assert_int_equal(res.result, -EIO);
        /* Never started here, no status command, no scope: a stop that failed cannot be
         * verified, so it stays a failure. */
        assert_string_equal(res.message,
                            "b: stop failed: timed out after 0.3 s, process group killed; not "
                            "verified: no status command, and no scope or process group known "
                            "to kill");
        /* Carried on to a after b's failure. */
        assert_log(f, "stop-b\nstop-a\n");
        assert_int_equal(service_set_state(s, 0), SERVICE_STOPPED);
        assert_int_equal(service_set_state(s, 1), SERVICE_FAILED);
        assert_true(reaped_within(read_pid(f, "hang.pid"), 2 * USEC_PER_SEC));
        result_done(&res);
}

static void test_stop_reports_first_error(void **state)
{
        Fixture *f = *state;
        _cleanup_(service_set_freep) ServiceSet *s = NULL;
        Result res = {};

        add_service(f, "a", NULL, "exit 3", NULL);
        add_service(f, "b", NULL, "kill -TERM $$", NULL);
        add_service(f, "c", NULL, NULL, NULL);
        s = new_set(f);

        run_operation(f, s, service_set_stop, &res);
        assert_int_equal(res.result, -EIO);
        assert_string_equal(res.message, "b: stop failed: killed by signal TERM; not verified: no "
                                         "status command, and no scope or process group known "
                                         "to kill");
        assert_log(f, "stop-c\nstop-b\nstop-a\n");
        assert_int_equal(service_set_state(s, 0), SERVICE_FAILED);
        assert_int_equal(service_set_state(s, 1), SERVICE_FAILED);
        assert_int_equal(service_set_state(s, 2), SERVICE_STOPPED);
        result_done(&res);
}

static void touch(Fixture *f, const char *name, bool present)
{
        _cleanup_free_ char *path = strdup_printf("%s/%s", f->dir, name);

        if (present)
                assert_int_equal(write_file_atomic(path, "", 0, 0600), 0);
        else
                (void)unlink(path);
}

static void test_probe(void **state)
{
        Fixture *f = *state;
        _cleanup_(service_set_freep) ServiceSet *s = NULL;
        _cleanup_free_ char *status_a = strdup_printf("test -e %s/up-a", f->dir);
        _cleanup_free_ char *status_b = strdup_printf("test -e %s/up-b", f->dir);
        Result res = {};

        add_service(f, "a", NULL, NULL, status_a);
        add_service(f, "b", NULL, NULL, status_b);
        s = new_set(f);

        run_operation(f, s, service_set_probe, &res);
        assert_int_equal(res.result, -ESRCH);
        assert_string_equal(res.message, "no service is running");
        assert_int_equal(service_set_state(s, 0), SERVICE_STOPPED);
        assert_int_equal(service_set_state(s, 1), SERVICE_STOPPED);

        touch(f, "up-b", true);
        run_operation(f, s, service_set_probe, &res);
        assert_int_equal(res.result, -EIO);
        assert_string_equal(res.message, "not running: a");
        assert_int_equal(service_set_state(s, 0), SERVICE_STOPPED);
        assert_int_equal(service_set_state(s, 1), SERVICE_RUNNING);

        touch(f, "up-a", true);
        run_operation(f, s, service_set_probe, &res);
        assert_int_equal(res.result, 0);
        assert_int_equal(service_set_state(s, 0), SERVICE_RUNNING);
        assert_int_equal(service_set_state(s, 1), SERVICE_RUNNING);

        /* Status commands only look: nothing was started or stopped. */
        assert_log(f, "");
        result_done(&res);
}

static void test_probe_without_status_and_timeout(void **state)
{
        Fixture *f = *state;
        _cleanup_(service_set_freep) ServiceSet *s = NULL;
        _cleanup_free_ char *status_a = strdup_printf("test -e %s/up-a", f->dir);
        Result res = {};

        add_service(f, "a", NULL, NULL, status_a);
        add_service(f, "nostatus", NULL, NULL, NULL);
        add_service(f, "hung", NULL, NULL, "sleep 100")->timeout = 200 * USEC_PER_MSEC;
        s = new_set(f);

        /* No status command: unknown, counted as running; a hung status: stopped. */
        touch(f, "up-a", true);
        run_operation(f, s, service_set_probe, &res);
        assert_int_equal(res.result, -EIO);
        assert_string_equal(res.message, "not running: hung");
        assert_int_equal(service_set_state(s, 0), SERVICE_RUNNING);
        assert_int_equal(service_set_state(s, 1), SERVICE_UNKNOWN);
        assert_int_equal(service_set_state(s, 2), SERVICE_STOPPED);

        /* Only the unknown one is "running": still some, not none. */
        touch(f, "up-a", false);
        run_operation(f, s, service_set_probe, &res);
        assert_int_equal(res.result, -EIO);
        assert_string_equal(res.message, "not running: a, hung");
        result_done(&res);
}

static void test_busy(void **state)
{
        Fixture *f = *state;
        _cleanup_(service_set_freep) ServiceSet *s = NULL;
        Result res = {}, other = {};

        add_service(f, "slow", "sleep 0.3", NULL, "true");
        s = new_set(f);

        assert_false(service_set_busy(s));
        assert_int_equal(service_set_start(s, on_done, &res), 0);
        assert_true(service_set_busy(s));
        assert_int_equal(service_set_start(s, on_done, &other), -EBUSY);
        assert_int_equal(service_set_stop(s, on_done, &other), -EBUSY);
        assert_int_equal(service_set_probe(s, on_done, &other), -EBUSY);
        assert_int_equal(service_set_state(s, 0), SERVICE_STARTING);
        run_until(f->event, &res.done, 5 * USEC_PER_SEC);
        assert_int_equal(res.result, 0);
        assert_false(other.done);
        assert_false(service_set_busy(s));
        result_done(&res);
}

static void test_cancel(void **state)
{
        Fixture *f = *state;
        _cleanup_free_ char *hang =
            strdup_printf("sleep 100 & echo $! > %s/hang.pid; wait", f->dir);
        _cleanup_free_ char *pidfile = strdup_printf("%s/hang.pid", f->dir);
        ServiceSet *s;
        Result res = {};
        usec_t end;

        add_service(f, "a", NULL, NULL, NULL);
        add_service(f, "b", hang, NULL, NULL);
        s = new_set(f);

        assert_int_equal(service_set_start(s, on_done, &res), 0);
        end = now_usec(CLOCK_MONOTONIC) + 5 * USEC_PER_SEC;
        while (access(pidfile, F_OK) < 0 && now_usec(CLOCK_MONOTONIC) < end)
                assert_true(sd_event_run(f->event, 10 * USEC_PER_MSEC) >= 0);
        usleep(50000); /* let the shell finish writing the pid */
        assert_int_equal(service_set_state(s, 1), SERVICE_STARTING);

        service_set_cancel(s);
        assert_false(service_set_busy(s));
        assert_int_equal(service_set_state(s, 0), SERVICE_RUNNING);
        assert_int_equal(service_set_state(s, 1), SERVICE_UNKNOWN);
        assert_true(reaped_within(read_pid(f, "hang.pid"), 2 * USEC_PER_SEC));

        /* Freeing a set in the middle of an operation kills its command the same way. */
        assert_int_equal(service_set_stop(s, on_done, &res), 0);
        assert_null(service_set_free(s));
        end = now_usec(CLOCK_MONOTONIC) + 300 * USEC_PER_MSEC;
        while (now_usec(CLOCK_MONOTONIC) < end)
                assert_true(sd_event_run(f->event, 50 * USEC_PER_MSEC) >= 0);
        assert_false(res.done);
}

/* Unit services against a bus nobody listens on: each operation fails cleanly, naming the unit
 * and the bus, and command services around it carry on. (Real units: test-service-unit.) */
static void test_units_without_bus(void **state)
{
        Fixture *f = *state;
        _cleanup_(service_set_freep) ServiceSet *s = NULL;
        _cleanup_free_ char *address = strdup_printf("unix:path=%s/no-bus", f->dir);
        Result res = {};

        assert_int_equal(setenv("DBUS_SESSION_BUS_ADDRESS", address, 1), 0);
        _cleanup_free_ char *up = strdup_printf("touch %s/a.up", f->dir);
        _cleanup_free_ char *down = strdup_printf("rm -f %s/a.up", f->dir);
        _cleanup_free_ char *status = strdup_printf("test -e %s/a.up", f->dir);
        add_service(f, "a", up, down, status);
        f->services[1].unit = strdup("tomcat9.service");
        f->services[1].timeout = USEC_PER_SEC;
        f->services[1].start_retries = 1;
        f->config.n_services = 2;
        f->config.systemd_bus = SYSTEMD_BUS_USER;
        s = new_set(f);
        assert_string_equal(service_set_name(s, 1), "tomcat9.service");

        /* Retried like a command, then a is rolled back. */
        run_operation(f, s, service_set_start, &res);
        assert_int_equal(res.result, -EIO);
        assert_string_equal(res.message, "tomcat9.service: cannot connect to systemd on the user "
                                         "bus: No such file or directory, after 2 attempts; "
                                         "rolled back 1 service");
        assert_log(f, "start-a\nstop-a\n");
        assert_int_equal(service_set_state(s, 0), SERVICE_STOPPED);
        assert_int_equal(service_set_state(s, 1), SERVICE_FAILED);

        run_operation(f, s, service_set_stop, &res);
        /* A stop that cannot be verified is a failed stop. */
        assert_int_equal(res.result, -EIO);
        assert_string_equal(res.message, "tomcat9.service: cannot connect to systemd on the user "
                                         "bus: No such file or directory; not verified: cannot "
                                         "reach systemd");
        assert_log(f, "start-a\nstop-a\nstop-a\n");

        /* Cannot tell whether the unit runs: unknown, and the error is reported. */
        run_operation(f, s, service_set_probe, &res);
        assert_int_equal(res.result, -ENOENT);
        assert_int_equal(service_set_state(s, 0), SERVICE_STOPPED);
        assert_int_equal(service_set_state(s, 1), SERVICE_UNKNOWN);
        result_done(&res);
        assert_int_equal(unsetenv("DBUS_SESSION_BUS_ADDRESS"), 0);
}

static void test_empty(void **state)
{
        Fixture *f = *state;
        _cleanup_(service_set_freep) ServiceSet *s = new_set(f);
        Result res = {};

        assert_int_equal(service_set_count(s), 0);
        run_operation(f, s, service_set_start, &res);
        assert_int_equal(res.result, 0);
        run_operation(f, s, service_set_probe, &res);
        assert_int_equal(res.result, 0);
        run_operation(f, s, service_set_stop, &res);
        assert_int_equal(res.result, 0);
        result_done(&res);
}

static void test_state_strings(void **state)
{
        static const char *const names[] = {"stopped",  "starting", "running",
                                            "stopping", "failed",   "unknown"};

        for (int i = 0; i < _SERVICE_STATE_MAX; i++) {
                assert_string_equal(service_state_to_string((ServiceState)i), names[i]);
                assert_int_equal(service_state_from_string(names[i]), i);
        }
        assert_null(service_state_to_string(_SERVICE_STATE_MAX));
        assert_int_equal((int)service_state_from_string("bogus"), -EINVAL);
}

static int group_setup(void **state)
{
        sigset_t mask;

        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        assert_int_equal(sigprocmask(SIG_BLOCK, &mask, NULL), 0);
        assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
        return 0;
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
            T(test_start_stop_order),
            T(test_retry_then_success),
            T(test_failure_rolls_back),
            T(test_start_timeout_and_rollback_failure),
            T(test_stop_timeout),
            T(test_stop_reports_first_error),
            T(test_probe),
            T(test_probe_without_status_and_timeout),
            T(test_busy),
            T(test_cancel),
            T(test_units_without_bus),
            T(test_empty),
            cmocka_unit_test(test_state_strings),
        };

        return cmocka_run_group_tests(tests, group_setup, NULL);
}
