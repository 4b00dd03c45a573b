/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The command runner with real /bin/sh processes on a real sd-event loop. This process is a
 * child subreaper, so the background processes the commands leave behind become its children
 * and the test can tell "killed" from "still running" exactly, and reap them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "command.h"

typedef struct Result {
        bool done;
        int status;
        unsigned calls;
} Result;

static char tmpdir[] = "/tmp/vc-test-command-XXXXXX";

static void on_done(Command *c, int status, void *userdata)
{
        Result *res = userdata;

        res->done = true;
        res->status = status;
        res->calls++;
}

static void on_done_free(Command *c, int status, void *userdata)
{
        on_done(c, status, userdata);
        command_free(c);
}

static void run_until(sd_event *e, const bool *flag, usec_t max)
{
        usec_t end = now_usec(CLOCK_MONOTONIC) + max;

        while (!*flag && now_usec(CLOCK_MONOTONIC) < end)
                assert_true(sd_event_run(e, 50 * USEC_PER_MSEC) >= 0);
}

static void run_for(sd_event *e, usec_t duration)
{
        bool never = false;

        run_until(e, &never, duration);
}

static char *tmp_path(const char *name)
{
        char *p = strdup_printf("%s/%s", tmpdir, name);

        assert_non_null(p);
        return p;
}

/* Waits (running the loop) until a command has written a pid into path. */
static pid_t wait_pid_file(sd_event *e, const char *path)
{
        usec_t end = now_usec(CLOCK_MONOTONIC) + 5 * USEC_PER_SEC;

        while (now_usec(CLOCK_MONOTONIC) < end) {
                _cleanup_free_ char *text = NULL;
                size_t size;

                if (read_full_file(path, 64, &text, &size) >= 0 && size > 0 &&
                    text[size - 1] == '\n')
                        return (pid_t)atoi(text);
                assert_true(sd_event_run(e, 10 * USEC_PER_MSEC) >= 0);
        }
        fail_msg("no pid in %s", path);
        return -1;
}

/* A process a command leaves in its group, made an orphan at once so that only we (the
 * subreaper) can reap it: a shell reaps its own dead children in any wait (`wait`, or the one
 * after a foreground command), and kill(-pgid) signals the group's members one by one, newest
 * first, so the shell could reap its background child between that child's death and its own,
 * and the test would find nothing left to wait for. */
#define ORPHAN(seconds, pidfile) "(sleep " seconds " & echo $! > " pidfile ")"

/* Waits until pid (written by ORPHAN) is our child. */
static void wait_reparented(pid_t pid)
{
        usec_t end = now_usec(CLOCK_MONOTONIC) + 5 * USEC_PER_SEC;
        _cleanup_free_ char *path = strdup_printf("/proc/%d/stat", (int)pid);

        while (now_usec(CLOCK_MONOTONIC) < end) {
                _cleanup_free_ char *stat = NULL;
                const char *paren;
                int ppid = 0;

                assert_true(read_full_file(path, 4096, &stat, NULL) >= 0);
                paren = strrchr(stat, ')');
                assert_non_null(paren);
                assert_int_equal(sscanf(paren + 1, " %*c %d", &ppid), 1);
                if (ppid == getpid())
                        return;
                usleep(10000);
        }
        fail_msg("process %d was not reparented to us", (int)pid);
}

/* An orphan reparented to us (the subreaper): true once it has exited and been reaped. */
static bool reaped_within(pid_t pid, usec_t max, int *ret_status)
{
        usec_t end = now_usec(CLOCK_MONOTONIC) + max;
        int status;

        do {
                pid_t r = waitpid(pid, &status, WNOHANG);
                if (r == pid) {
                        if (ret_status)
                                *ret_status = status;
                        return true;
                }
                assert_int_equal(r, 0);
                usleep(10000);
        } while (now_usec(CLOCK_MONOTONIC) < end);
        return false;
}

static bool process_alive(pid_t pid)
{
        _cleanup_free_ char *path = strdup_printf("/proc/%d/stat", (int)pid);
        _cleanup_free_ char *stat = NULL;
        const char *paren;

        if (read_full_file(path, 4096, &stat, NULL) < 0)
                return false;
        paren = strrchr(stat, ')');
        return paren && paren[1] == ' ' && paren[2] != 'Z';
}

static int setup(void **state)
{
        sd_event *e = NULL;

        assert_int_equal(sd_event_new(&e), 0);
        *state = e;
        return 0;
}

static int teardown(void **state)
{
        sd_event_unref(*state);
        return 0;
}

/* Runs cmd to completion and returns its status. */
static int run_status(sd_event *e, const char *cmd, char *const *env, usec_t timeout)
{
        _cleanup_(command_freep) Command *c = NULL;
        Result res = {};

        assert_int_equal(command_run(e, cmd, env, timeout, on_done, &res, &c), 0);
        assert_non_null(c);
        assert_true(command_get_pid(c) > 0);
        assert_string_equal(command_get_shell_command(c), cmd);
        run_until(e, &res.done, 10 * USEC_PER_SEC);
        assert_true(res.done);
        assert_int_equal(res.calls, 1);
        return res.status;
}

static void test_exit_codes(void **state)
{
        sd_event *e = *state;

        assert_int_equal(run_status(e, "exit 0", NULL, 5 * USEC_PER_SEC), 0);
        assert_int_equal(run_status(e, "exit 3", NULL, 5 * USEC_PER_SEC), 3);
        assert_int_equal(run_status(e, "exit 255", NULL, USEC_INFINITY), 255);
        assert_int_equal(run_status(e, "true; false", NULL, 0), 1);
        /* The shell itself reports a command it cannot find. */
        assert_int_equal(run_status(e, "/nonexistent/vacataire-test", NULL, 0), 127);
}

static void test_signal_death(void **state)
{
        sd_event *e = *state;

        /* This process blocks SIGTERM and ignores SIGPIPE: the child must not inherit either. */
        assert_int_equal(run_status(e, "kill -TERM $$; sleep 5", NULL, 0), -SIGTERM);
        assert_int_equal(run_status(e, "kill -PIPE $$; sleep 5", NULL, 0), -SIGPIPE);
        assert_int_equal(run_status(e, "kill -KILL $$", NULL, 0), -SIGKILL);
}

static void test_timeout_kills_group(void **state)
{
        sd_event *e = *state;
        _cleanup_free_ char *pidfile = tmp_path("timeout.pid");
        _cleanup_free_ char *cmd = strdup_printf(ORPHAN("100", "%s") "; sleep 100", pidfile);
        _cleanup_(command_freep) Command *c = NULL;
        Result res = {};
        usec_t start = now_usec(CLOCK_MONOTONIC);
        pid_t child;
        int status;

        assert_int_equal(command_run(e, cmd, NULL, 300 * USEC_PER_MSEC, on_done, &res, &c), 0);
        child = wait_pid_file(e, pidfile);
        assert_true(process_alive(child));
        wait_reparented(child);
        run_until(e, &res.done, 5 * USEC_PER_SEC);
        assert_true(res.done);
        assert_int_equal(res.status, -ETIME);
        assert_true(now_usec(CLOCK_MONOTONIC) - start >= 300 * USEC_PER_MSEC);
        assert_true(now_usec(CLOCK_MONOTONIC) - start < 2 * USEC_PER_SEC);

        /* The background sleep was in the same group, so it died too. */
        assert_true(reaped_within(child, 2 * USEC_PER_SEC, &status));
        assert_true(WIFSIGNALED(status));
}

static void test_timeout_escalates_to_sigkill(void **state)
{
        sd_event *e = *state;
        _cleanup_free_ char *pidfile = tmp_path("stubborn.pid");
        _cleanup_free_ char *cmd = strdup_printf(
            "trap '' TERM; " ORPHAN("100", "%s") "; while :; do sleep 0.05; done", pidfile);
        _cleanup_(command_freep) Command *c = NULL;
        Result res = {};
        usec_t start = now_usec(CLOCK_MONOTONIC);
        pid_t child;
        int status;

        assert_int_equal(command_run(e, cmd, NULL, 400 * USEC_PER_MSEC, on_done, &res, &c), 0);
        child = wait_pid_file(e, pidfile);
        wait_reparented(child);
        run_until(e, &res.done, 5 * USEC_PER_SEC);
        assert_true(res.done);
        assert_int_equal(res.status, -ETIME);
        /* SIGTERM was ignored, so only the SIGKILL after the grace (timeout/4) ended it. */
        assert_true(now_usec(CLOCK_MONOTONIC) - start >= 500 * USEC_PER_MSEC);
        assert_true(reaped_within(child, 2 * USEC_PER_SEC, &status));
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGKILL);
}

static void test_extra_env(void **state)
{
        sd_event *e = *state;
        char *const env[] = {"VC_TEST_EXTRA=hello world", "VC_TEST_OVERRIDE=new", NULL};

        assert_int_equal(setenv("VC_TEST_OVERRIDE", "old", 1), 0);
        assert_int_equal(run_status(e,
                                    "test \"$VC_TEST_EXTRA\" = 'hello world' && "
                                    "test \"$VC_TEST_OVERRIDE\" = new && "
                                    "test \"$(env | grep -c '^VC_TEST_OVERRIDE=')\" = 1 && "
                                    "test -n \"$PATH\"",
                                    env, 5 * USEC_PER_SEC),
                         0);
        /* Without extra_env the inherited value is seen. */
        assert_int_equal(run_status(e, "test \"$VC_TEST_OVERRIDE\" = old", NULL, 0), 0);
        unsetenv("VC_TEST_OVERRIDE");
}

static void test_child_environment(void **state)
{
        sd_event *e = *state;
        _cleanup_free_ char *path = tmp_path("inherited");
        _cleanup_free_ char *cmd = NULL;
        int fd;

        /* Deliberately without O_CLOEXEC: the runner must close it anyway. */
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        assert_true(fd >= 3);
        cmd = strdup_printf("test \"$(readlink /proc/$$/fd/0)\" = /dev/null || exit 10; "
                            "test -e /proc/$$/fd/%d && exit 11; "
                            "test \"$(cut -d' ' -f6 /proc/$$/stat)\" = $$ || exit 12; "
                            "exit 0",
                            fd);
        assert_int_equal(run_status(e, cmd, NULL, 5 * USEC_PER_SEC), 0);
        close(fd);
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata)
{
        unsigned *ticks = userdata;

        (*ticks)++;
        assert_int_equal(sd_event_source_set_time_relative(s, 100 * USEC_PER_MSEC), 0);
        assert_int_equal(sd_event_source_set_enabled(s, SD_EVENT_ON), 0);
        return 0;
}

static void test_does_not_block_loop(void **state)
{
        sd_event *e = *state;
        _cleanup_(sd_event_source_unrefp) sd_event_source *timer = NULL;
        _cleanup_(command_freep) Command *c = NULL;
        Result res = {};
        unsigned ticks = 0;

        assert_int_equal(sd_event_add_time_relative(e, &timer, CLOCK_MONOTONIC, 100 * USEC_PER_MSEC,
                                                    0, on_tick, &ticks),
                         0);
        assert_int_equal(command_run(e, "sleep 3", NULL, 10 * USEC_PER_SEC, on_done, &res, &c), 0);
        run_until(e, &res.done, 10 * USEC_PER_SEC);
        assert_true(res.done);
        assert_int_equal(res.status, 0);
        /* ~30 ticks if the loop kept turning; a blocked loop would have counted at most 1. */
        assert_true(ticks >= 20);
}

static void test_background_survives_success(void **state)
{
        sd_event *e = *state;
        _cleanup_free_ char *pidfile = tmp_path("server.pid");
        _cleanup_free_ char *cmd = strdup_printf("sleep 60 & echo $! > %s", pidfile);
        _cleanup_(command_freep) Command *c = NULL;
        Result res = {};
        pid_t server;
        int status;

        assert_int_equal(command_run(e, cmd, NULL, 5 * USEC_PER_SEC, on_done, &res, &c), 0);
        run_until(e, &res.done, 5 * USEC_PER_SEC);
        assert_int_equal(res.status, 0);
        server = wait_pid_file(e, pidfile);

        /* Success never kills the group; freeing a finished command does not either. */
        c = command_free(c);
        run_for(e, 300 * USEC_PER_MSEC);
        assert_true(process_alive(server));
        assert_true(getsid(server) > 0);
        assert_int_not_equal(getsid(server), getsid(0));

        assert_int_equal(kill(server, SIGKILL), 0);
        assert_true(reaped_within(server, 2 * USEC_PER_SEC, &status));
}

static void test_free_kills_running_group(void **state)
{
        sd_event *e = *state;
        _cleanup_free_ char *pidfile = tmp_path("free.pid");
        _cleanup_free_ char *cmd = strdup_printf(ORPHAN("100", "%s") "; sleep 100", pidfile);
        Command *c = NULL;
        Result res = {};
        pid_t shell, child;

        assert_int_equal(command_run(e, cmd, NULL, USEC_INFINITY, on_done, &res, &c), 0);
        shell = command_get_pid(c);
        child = wait_pid_file(e, pidfile);
        wait_reparented(child);
        assert_null(command_free(c));

        /* The shell was reaped by command_free, its child by us. */
        assert_int_equal(kill(shell, 0), -1);
        assert_int_equal(errno, ESRCH);
        assert_true(reaped_within(child, 2 * USEC_PER_SEC, NULL));
        run_for(e, 200 * USEC_PER_MSEC);
        assert_false(res.done);
}

static void test_free_in_done(void **state)
{
        sd_event *e = *state;
        Command *c = NULL;
        Result res = {};

        assert_int_equal(command_run(e, "exit 2", NULL, USEC_INFINITY, on_done_free, &res, &c), 0);
        run_until(e, &res.done, 5 * USEC_PER_SEC);
        assert_int_equal(res.status, 2);
        run_for(e, 100 * USEC_PER_MSEC);
        assert_int_equal(res.calls, 1);
}

static void test_fire_and_forget(void **state)
{
        sd_event *e = *state;
        Result res = {}, res_timeout = {};

        /* Freed after done: a leak would fail the sanitizer build. */
        assert_int_equal(command_run(e, "exit 4", NULL, 5 * USEC_PER_SEC, on_done, &res, NULL), 0);
        assert_int_equal(
            command_run(e, "sleep 100", NULL, 200 * USEC_PER_MSEC, on_done, &res_timeout, NULL), 0);
        run_until(e, &res.done, 5 * USEC_PER_SEC);
        run_until(e, &res_timeout.done, 5 * USEC_PER_SEC);
        assert_int_equal(res.status, 4);
        assert_int_equal(res_timeout.status, -ETIME);
        /* done may be NULL. */
        assert_int_equal(command_run(e, "exit 0", NULL, 0, NULL, NULL, NULL), 0);
        run_for(e, 300 * USEC_PER_MSEC);
}

static void test_fire_and_forget_outlives_loop(void **state)
{
        sd_event *e = *state;
        _cleanup_free_ char *pidfile = tmp_path("orphan.pid");
        _cleanup_free_ char *cmd = strdup_printf("echo $$ > %s; sleep 0.3; exit 6", pidfile);
        Result res = {};
        pid_t shell;
        int status;

        assert_int_equal(command_run(e, cmd, NULL, 5 * USEC_PER_SEC, on_done, &res, NULL), 0);
        shell = wait_pid_file(e, pidfile);

        /* The daemon exits while a notification runs: the loop frees the command, the process
         * is left to finish on its own, done is not called. */
        *state = sd_event_unref(e);
        assert_true(process_alive(shell));
        assert_true(reaped_within(shell, 5 * USEC_PER_SEC, &status));
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 6);
        assert_false(res.done);
}

/* A held command sits in its own session before exec until released. */
static void test_held_until_release(void **state)
{
        sd_event *e = *state;
        _cleanup_free_ char *marker = tmp_path("held-ran");
        _cleanup_free_ char *cmd = strdup_printf("echo ran > %s", marker);
        _cleanup_(command_freep) Command *c = NULL;
        Result res = {};
        pid_t pid;

        assert_int_equal(command_run_held(e, cmd, NULL, 0, on_done, &res, &c), 0);
        pid = command_get_pid(c);
        run_for(e, 300 * USEC_PER_MSEC);
        assert_false(res.done);
        assert_true(process_alive(pid));
        assert_int_equal(getsid(pid), pid);
        assert_int_equal(access(marker, F_OK), -1);

        command_release(c);
        command_release(c); /* once only */
        run_until(e, &res.done, 5 * USEC_PER_SEC);
        assert_int_equal(res.status, 0);
        assert_int_equal(access(marker, F_OK), 0);

        /* Released after it already exited: nothing happens. */
        command_release(c);
}

static void test_held_never_released(void **state)
{
        sd_event *e = *state;
        _cleanup_free_ char *marker = tmp_path("held-never");
        _cleanup_free_ char *cmd = strdup_printf("echo ran > %s", marker);
        Command *c = NULL;
        Result res = {};
        pid_t pid;

        /* Freed while held: killed and reaped, never ran. */
        assert_int_equal(command_run_held(e, cmd, NULL, 0, on_done, &res, &c), 0);
        pid = command_get_pid(c);
        run_for(e, 100 * USEC_PER_MSEC);
        assert_null(command_free(c));
        assert_false(process_alive(pid));
        assert_int_equal(kill(pid, 0), -1);

        /* Held past its timeout: timed out, never ran. */
        assert_int_equal(command_run_held(e, cmd, NULL, 200 * USEC_PER_MSEC, on_done, &res, &c), 0);
        run_until(e, &res.done, 5 * USEC_PER_SEC);
        assert_int_equal(res.status, -ETIME);
        assert_null(command_free(c));
        assert_int_equal(access(marker, F_OK), -1);

        /* Holding needs an owner to release it; plain commands ignore a release. */
        assert_int_equal(command_run_held(e, cmd, NULL, 0, on_done, &res, NULL), -EINVAL);
        command_release(NULL);
        res = (Result){};
        assert_int_equal(command_run(e, "true", NULL, 0, on_done, &res, &c), 0);
        command_release(c);
        run_until(e, &res.done, 5 * USEC_PER_SEC);
        assert_int_equal(res.status, 0);
        assert_null(command_free(c));
        assert_int_equal(access(marker, F_OK), -1);
}

static void test_invalid(void **state)
{
        sd_event *e = *state;
        Command *c = NULL;

        assert_int_equal(command_run(NULL, "true", NULL, 0, on_done, NULL, &c), -EINVAL);
        assert_int_equal(command_run(e, NULL, NULL, 0, on_done, NULL, &c), -EINVAL);
        assert_null(c);
        assert_null(command_free(NULL));
}

static void test_status_strings(void **state)
{
        char buf[COMMAND_STATUS_STRING_MAX];

        assert_string_equal(command_status_to_string(0, buf, sizeof(buf)), "exit status 0");
        assert_string_equal(command_status_to_string(3, buf, sizeof(buf)), "exit status 3");
        assert_string_equal(command_status_to_string(-SIGTERM, buf, sizeof(buf)),
                            "killed by signal TERM");
        assert_string_equal(command_status_to_string(-ETIME, buf, sizeof(buf)), "timed out");
}

static int group_setup(void **state)
{
        sigset_t mask;

        /* As the daemon does before creating its loop. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        assert_int_equal(sigprocmask(SIG_BLOCK, &mask, NULL), 0);
        signal(SIGPIPE, SIG_IGN);
        assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
        assert_non_null(mkdtemp(tmpdir));
        return 0;
}

static int group_teardown(void **state)
{
        _cleanup_free_ char *cmd = strdup_printf("rm -rf '%s'", tmpdir);

        return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_exit_codes, setup, teardown),
            cmocka_unit_test_setup_teardown(test_signal_death, setup, teardown),
            cmocka_unit_test_setup_teardown(test_timeout_kills_group, setup, teardown),
            cmocka_unit_test_setup_teardown(test_timeout_escalates_to_sigkill, setup, teardown),
            cmocka_unit_test_setup_teardown(test_extra_env, setup, teardown),
            cmocka_unit_test_setup_teardown(test_child_environment, setup, teardown),
            cmocka_unit_test_setup_teardown(test_does_not_block_loop, setup, teardown),
            cmocka_unit_test_setup_teardown(test_background_survives_success, setup, teardown),
            cmocka_unit_test_setup_teardown(test_free_kills_running_group, setup, teardown),
            cmocka_unit_test_setup_teardown(test_free_in_done, setup, teardown),
            cmocka_unit_test_setup_teardown(test_fire_and_forget, setup, teardown),
            cmocka_unit_test_setup_teardown(test_held_until_release, setup, teardown),
            cmocka_unit_test_setup_teardown(test_held_never_released, setup, teardown),
            cmocka_unit_test_setup_teardown(test_fire_and_forget_outlives_loop, setup, teardown),
            cmocka_unit_test_setup_teardown(test_invalid, setup, teardown),
            cmocka_unit_test(test_status_strings),
        };

        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
