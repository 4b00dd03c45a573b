/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Notify commands: real shell commands that write what they received to files; warnings are
 * read back from this process's own stderr, redirected to a file. Runs are serialized and
 * coalesced: one at a time, later changes folded into one pending run. */
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

typedef struct Fixture {
        sd_event *e;
        Notifier *n;
} Fixture;

static int setup(void **state)
{
        Fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        assert_int_equal(sd_event_new(&f->e), 0);
        assert_int_equal(notifier_new(f->e, &f->n), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        Fixture *f = *state;

        notifier_free(f->n);
        sd_event_unref(f->e);
        free(f);
        return 0;
}

#define FIXTURE                                                                                    \
        Fixture *f = *state;                                                                       \
        sd_event *e = f->e;                                                                        \
        Notifier *n = f->n

static void test_environment(void **state)
{
        FIXTURE;
        _cleanup_free_ char *out = path_in_dir("env");
        _cleanup_free_ char *cmd = strdup_printf("env > %s.tmp && mv %s.tmp %s", out, out, out);
        _cleanup_free_ char *text = NULL;

        assert_int_equal(notify_state_change(n, cmd, "web1", "active", "starting", UINT64_MAX,
                                             "check web failed on web2"),
                         0);
        text = wait_file(e, out);
        assert_true(has_line(text, "VACATAIRE_NODE=web1"));
        assert_true(has_line(text, "VACATAIRE_STATE=active"));
        assert_true(has_line(text, "VACATAIRE_PREVIOUS_STATE=starting"));
        assert_true(has_line(text, "VACATAIRE_EPOCH=18446744073709551615"));
        assert_true(has_line(text, "VACATAIRE_REASON=check web failed on web2"));
        assert_true(has_line(text, "VACATAIRE_CHANGES=1"));
        assert_true(has_line(text, "VACATAIRE_STATE_SAVE_ERROR="));
        /* The daemon's own environment is passed on too. */
        assert_non_null(strstr(text, "PATH="));
        run_for(e, 100 * USEC_PER_MSEC);
}

static void test_missing_values_are_empty(void **state)
{
        FIXTURE;
        _cleanup_free_ char *out = path_in_dir("env-empty");
        _cleanup_free_ char *cmd = strdup_printf("env > %s.tmp && mv %s.tmp %s", out, out, out);
        _cleanup_free_ char *text = NULL;

        assert_int_equal(notify_state_change(n, cmd, "web1", "passive", NULL, 0, NULL), 0);
        text = wait_file(e, out);
        assert_true(has_line(text, "VACATAIRE_PREVIOUS_STATE="));
        assert_true(has_line(text, "VACATAIRE_REASON="));
        assert_true(has_line(text, "VACATAIRE_EPOCH=0"));
        run_for(e, 100 * USEC_PER_MSEC);
}

/* Runs until no notify command runs any more (at most 10 s). */
static void run_until_idle(sd_event *e, const char *log_path, unsigned runs)
{
        usec_t end = now_usec(CLOCK_MONOTONIC) + 10 * USEC_PER_SEC;

        for (;;) {
                _cleanup_free_ char *text = NULL;
                unsigned lines = 0;

                if (read_full_file(log_path, 1 << 20, &text, NULL) == 0)
                        lines = count_substring(text, "\n");
                if (lines >= runs)
                        break;
                assert_true(now_usec(CLOCK_MONOTONIC) < end);
                assert_true(sd_event_run(e, 20 * USEC_PER_MSEC) >= 0);
        }
        run_for(e, 300 * USEC_PER_MSEC);
}

/* A command that notes "STATE PREVIOUS CHANGES" and whether another run was going meanwhile. */
static char *serial_command(const char *name, const char *seconds)
{
        return strdup_printf("d=%s; if ! mkdir $d/%s.lock 2>/dev/null; then echo OVERLAP >> $d/%s; "
                             "fi; sleep %s; echo \"$VACATAIRE_STATE $VACATAIRE_PREVIOUS_STATE "
                             "$VACATAIRE_CHANGES\" >> $d/%s; rmdir $d/%s.lock",
                             dir, name, name, seconds, name, name);
}

static void test_serialized_and_coalesced(void **state)
{
        FIXTURE;
        _cleanup_free_ char *cmd = serial_command("serial", "0.3");
        _cleanup_free_ char *log_path = path_in_dir("serial");
        _cleanup_free_ char *text = NULL;
        static const char *const states[] = {"starting", "active", "stopping", "passive",
                                             "starting"};

        for (unsigned i = 0; i < ELEMENTSOF(states); i++)
                assert_int_equal(notify_state_change(n, cmd, "web1", states[i],
                                                     i ? states[i - 1] : "passive", i + 1, "t"),
                                 0);
        run_until_idle(e, log_path, 2);
        assert_int_equal(read_full_file(log_path, 1 << 20, &text, NULL), 0);
        /* The first change at once; the four after it as one run with the newest state, whose
         * previous state is the one the first run told. */
        assert_string_equal(text, "starting passive 1\nstarting starting 4\n");
}

/* Sums the CHANGES column of a "STATE PREVIOUS CHANGES" log; *ret_runs counts its lines. */
static unsigned sum_changes(const char *text, unsigned *ret_runs, const char **ret_last_line)
{
        unsigned changes = 0;

        *ret_runs = 0;
        *ret_last_line = NULL;
        for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
                const char *col = strchr(p, ' ');
                col = col ? strchr(col + 1, ' ') : NULL;
                if (col)
                        changes += (unsigned)atoi(col + 1);
                (*ret_runs)++;
                *ret_last_line = p;
        }
        return changes;
}

static void test_flapping(void **state)
{
        FIXTURE;
        _cleanup_free_ char *cmd = serial_command("flap", "0.05");
        _cleanup_free_ char *log_path = path_in_dir("flap");
        _cleanup_free_ char *text = NULL, *again = NULL;
        static const char *const states[] = {"active", "passive"};
        usec_t end;
        const char *last;
        unsigned runs;

        /* 200 changes, one every 5 ms: unserialized, 200 commands would run, ~10 at once. */
        for (unsigned i = 0; i < 200; i++) {
                assert_int_equal(notify_state_change(n, cmd, "web1", states[i % 2],
                                                     states[(i + 1) % 2], i + 1, "flap"),
                                 0);
                run_for(e, 5 * USEC_PER_MSEC);
        }
        /* Every change is told, in some run. */
        end = now_usec(CLOCK_MONOTONIC) + 20 * USEC_PER_SEC;
        for (;;) {
                free(text);
                text = NULL;
                if (read_full_file(log_path, 1 << 20, &text, NULL) == 0 &&
                    sum_changes(text, &runs, &last) >= 200)
                        break;
                assert_true(now_usec(CLOCK_MONOTONIC) < end);
                run_for(e, 20 * USEC_PER_MSEC);
        }
        /* And nothing runs after that. */
        run_for(e, 300 * USEC_PER_MSEC);
        assert_int_equal(read_full_file(log_path, 1 << 20, &again, NULL), 0);
        assert_string_equal(again, text);

        print_message("flapping: 200 changes told in %u runs\n", runs);
        assert_null(strstr(text, "OVERLAP"));
        assert_int_equal(sum_changes(text, &runs, &last), 200);
        assert_true(runs >= 2 && runs < 200);
        /* The newest state is the last one told. */
        assert_int_equal(strncmp(last, "passive ", 8), 0);
}

static void test_state_save_error(void **state)
{
        FIXTURE;
        _cleanup_free_ char *out = path_in_dir("env-save");
        _cleanup_free_ char *cmd = strdup_printf("env > %s.tmp && mv %s.tmp %s", out, out, out);
        _cleanup_free_ char *text = NULL;

        assert_int_equal(notifier_set_state_save_error(n, "No space left on device"), 0);
        assert_int_equal(notify_state_change(n, cmd, "web1", "active", "active", 2, "x"), 0);
        text = wait_file(e, out);
        assert_true(has_line(text, "VACATAIRE_STATE_SAVE_ERROR=No space left on device"));
        assert_int_equal(notifier_set_state_save_error(n, NULL), 0);
        run_for(e, 100 * USEC_PER_MSEC);
}

static void test_no_command(void **state)
{
        FIXTURE;

        assert_int_equal(notify_state_change(n, NULL, "web1", "active", "passive", 1, "x"), 0);
        assert_int_equal(notify_state_change(n, "", "web1", "active", "passive", 1, "x"), 0);
        /* Nothing was started, so the loop has nothing to do. */
        assert_int_equal(sd_event_run(e, 0), 0);
}

/* Runs the notifications with stderr sent to a file and returns what was logged. */
static char *capture_log(sd_event *e, Notifier *n, const char *const *commands, size_t count,
                         usec_t duration)
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

        /* One after the other: submitted together, they would coalesce into the last. */
        for (size_t i = 0; i < count; i++) {
                assert_int_equal(
                    notify_state_change(n, commands[i], "web1", "fault", "active", 3, "test"), 0);
                run_for(e, duration);
        }

        fflush(stderr);
        assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
        close(saved);
        log_setup("test-notify");
        assert_int_equal(read_full_file(path, 1 << 20, &text, NULL), 0);
        return text;
}

static void test_failure_only_logged(void **state)
{
        FIXTURE;
        static const char *const commands[] = {"exit 3", "/nonexistent/vacataire-notify",
                                               "kill -TERM $$", "true"};
        _cleanup_free_ char *text =
            capture_log(e, n, commands, ELEMENTSOF(commands), 300 * USEC_PER_MSEC);

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
            cmocka_unit_test_setup_teardown(test_serialized_and_coalesced, setup, teardown),
            cmocka_unit_test_setup_teardown(test_flapping, setup, teardown),
            cmocka_unit_test_setup_teardown(test_state_save_error, setup, teardown),
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
