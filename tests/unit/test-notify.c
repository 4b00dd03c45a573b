/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Notify commands: real shell commands that write what they received to files; warnings are
 * read back from this process's own stderr, redirected to a file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <fcntl.h>
#include <signal.h>

#include "log.h"
#include "notify.h"

static char dir[] = "/tmp/vc-test-notify-XXXXXX";

static char *path_in_dir(const char *name)
{
        char *p = strdup_printf("%s/%s", dir, name);

        assert_non_null(p);
        return p;
}

/* Runs the loop until path exists (or 5 s) and returns its contents. */
static char *wait_file(sd_event *e, const char *path)
{
        usec_t end = now_usec(CLOCK_MONOTONIC) + 5 * USEC_PER_SEC;
        char *text = NULL;

        while (read_full_file(path, 1 << 20, &text, NULL) < 0) {
                assert_true(now_usec(CLOCK_MONOTONIC) < end);
                assert_true(sd_event_run(e, 10 * USEC_PER_MSEC) >= 0);
        }
        return text;
}

static void run_for(sd_event *e, usec_t duration)
{
        usec_t end = now_usec(CLOCK_MONOTONIC) + duration;

        while (now_usec(CLOCK_MONOTONIC) < end)
                assert_true(sd_event_run(e, 20 * USEC_PER_MSEC) >= 0);
}

static bool has_line(const char *text, const char *line)
{
        size_t n = strlen(line);

        for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
                if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
                        return true;
        return false;
}

static unsigned count_substring(const char *text, const char *needle)
{
        unsigned n = 0;

        for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
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

static void test_environment(void **state)
{
        sd_event *e = *state;
        _cleanup_free_ char *out = path_in_dir("env");
        _cleanup_free_ char *cmd = strdup_printf("env > %s.tmp && mv %s.tmp %s", out, out, out);
        _cleanup_free_ char *text = NULL;

        assert_int_equal(notify_state_change(e, cmd, "web1", "active", "starting", UINT64_MAX,
                                             "check web failed on web2"),
                         0);
        text = wait_file(e, out);
        assert_true(has_line(text, "VACATAIRE_NODE=web1"));
        assert_true(has_line(text, "VACATAIRE_STATE=active"));
        assert_true(has_line(text, "VACATAIRE_PREVIOUS_STATE=starting"));
        assert_true(has_line(text, "VACATAIRE_EPOCH=18446744073709551615"));
        assert_true(has_line(text, "VACATAIRE_REASON=check web failed on web2"));
        /* The daemon's own environment is passed on too. */
        assert_non_null(strstr(text, "PATH="));
        run_for(e, 100 * USEC_PER_MSEC);
}

static void test_missing_values_are_empty(void **state)
{
        sd_event *e = *state;
        _cleanup_free_ char *out = path_in_dir("env-empty");
        _cleanup_free_ char *cmd = strdup_printf("env > %s.tmp && mv %s.tmp %s", out, out, out);
        _cleanup_free_ char *text = NULL;

        assert_int_equal(notify_state_change(e, cmd, "web1", "passive", NULL, 0, NULL), 0);
        text = wait_file(e, out);
        assert_true(has_line(text, "VACATAIRE_PREVIOUS_STATE="));
        assert_true(has_line(text, "VACATAIRE_REASON="));
        assert_true(has_line(text, "VACATAIRE_EPOCH=0"));
        run_for(e, 100 * USEC_PER_MSEC);
}

static void test_overlapping(void **state)
{
        sd_event *e = *state;
        _cleanup_free_ char *cmd =
            strdup_printf("sleep 0.3; f=%s/overlap-$VACATAIRE_EPOCH; "
                          "echo \"$VACATAIRE_STATE\" > $f.tmp && mv $f.tmp $f",
                          dir);
        static const char *const states[] = {"starting", "active", "stopping"};
        usec_t start = now_usec(CLOCK_MONOTONIC);

        for (unsigned i = 0; i < ELEMENTSOF(states); i++)
                assert_int_equal(
                    notify_state_change(e, cmd, "web1", states[i], NULL, i + 1, "test"), 0);
        for (unsigned i = 0; i < ELEMENTSOF(states); i++) {
                _cleanup_free_ char *name = strdup_printf("overlap-%u", i + 1);
                _cleanup_free_ char *path = path_in_dir(name);
                _cleanup_free_ char *text = wait_file(e, path);
                _cleanup_free_ char *expected = strdup_printf("%s\n", states[i]);

                assert_string_equal(text, expected);
        }
        /* They ran side by side, not one after the other (0.9 s). */
        assert_true(now_usec(CLOCK_MONOTONIC) - start < 800 * USEC_PER_MSEC);
        run_for(e, 100 * USEC_PER_MSEC);
}

static void test_no_command(void **state)
{
        sd_event *e = *state;

        assert_int_equal(notify_state_change(e, NULL, "web1", "active", "passive", 1, "x"), 0);
        assert_int_equal(notify_state_change(e, "", "web1", "active", "passive", 1, "x"), 0);
        /* Nothing was started, so the loop has nothing to do. */
        assert_int_equal(sd_event_run(e, 0), 0);
}

/* Runs the notifications with stderr sent to a file and returns what was logged. */
static char *capture_log(sd_event *e, const char *const *commands, size_t n, usec_t duration)
{
        _cleanup_free_ char *path = path_in_dir("stderr");
        char *text = NULL;
        int saved, fd;

        fflush(stderr);
        saved = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
        assert_true(saved >= 0);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
        close(fd);
        log_setup("test-notify"); /* stderr is a file now: "<N>" prefixed lines */

        for (size_t i = 0; i < n; i++)
                assert_int_equal(
                    notify_state_change(e, commands[i], "web1", "fault", "active", 3, "test"), 0);
        run_for(e, duration);

        fflush(stderr);
        assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
        close(saved);
        log_setup("test-notify");
        assert_int_equal(read_full_file(path, 1 << 20, &text, NULL), 0);
        return text;
}

static void test_failure_only_logged(void **state)
{
        sd_event *e = *state;
        static const char *const commands[] = {"exit 3", "/nonexistent/vacataire-notify",
                                               "kill -TERM $$", "true"};
        _cleanup_free_ char *text = capture_log(e, commands, ELEMENTSOF(commands), USEC_PER_SEC);

        /* Each failure once, as a warning; the success not at all. */
        assert_int_equal(count_substring(text, "<4>Notify command 'exit 3' failed: exit status 3."),
                         1);
        assert_int_equal(count_substring(text, "<4>Notify command '/nonexistent/vacataire-notify' "
                                               "failed: exit status 127."),
                         1);
        assert_int_equal(count_substring(text, "<4>Notify command 'kill -TERM $$' failed: killed "
                                               "by signal TERM."),
                         1);
        assert_int_equal(count_substring(text, "Notify command"), 3);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_environment, setup, teardown),
            cmocka_unit_test_setup_teardown(test_missing_values_are_empty, setup, teardown),
            cmocka_unit_test_setup_teardown(test_overlapping, setup, teardown),
            cmocka_unit_test_setup_teardown(test_no_command, setup, teardown),
            cmocka_unit_test_setup_teardown(test_failure_only_logged, setup, teardown),
        };
        sigset_t mask;
        int r;

        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 || !mkdtemp(dir))
                return EXIT_FAILURE;

        r = cmocka_run_group_tests(tests, NULL, NULL);

        _cleanup_free_ char *cmd = strdup_printf("rm -rf '%s'", dir);
        if (system(cmd) != 0)
                return EXIT_FAILURE;
        return r;
}
