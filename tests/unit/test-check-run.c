/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Checks for real: a real sd-event loop, real vacataire-checker processes and the test plugins
 * (ok, fail, segv, hang, slow, echo) built into TEST_BUILD_DIR/test-plugins. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/wait.h>

#include "check-loader.h"
#include "check.h"
#include "log.h"
#include "vacataire-plugin.h"

#define CHECKER        TEST_BUILD_DIR "/vacataire-checker"
#define TEST_PLUGIN(n) TEST_BUILD_DIR "/test-plugins/" n ".so"
#define CRASHED        "plugin crashed: signal 11 (Segmentation fault)"
#define MSEC(x)        ((usec_t)(x)*USEC_PER_MSEC)

typedef struct Watch {
        ConfigCheck cfg;
        Check *check;
        unsigned transitions;
        CheckStatus last_old, last_new;
        usec_t failing_at; /* first transition to FAILING */
        /* every finished run, seen through check_get_last_run() */
        unsigned runs, failed_runs, crashes, timeouts;
        usec_t last_run, min_gap;
} Watch;

static sd_event *event;

static void on_verdict(Check *c, CheckStatus old_status, CheckStatus new_status, void *userdata)
{
        Watch *w = userdata;

        assert_ptr_equal(c, w->check);
        assert_int_not_equal(old_status, new_status);
        w->transitions++;
        w->last_old = old_status;
        w->last_new = new_status;
        if (new_status == CHECK_STATUS_FAILING && w->failing_at == 0)
                w->failing_at = now_usec(CLOCK_MONOTONIC);
}

static void watch_init(Watch *w, const char *name, const char *plugin, double interval,
                       double timeout, unsigned fall, unsigned rise)
{
        *w = (Watch){
            .cfg =
                {
                    .name = (char *)name,
                    .plugin = (char *)plugin,
                    .plugin_path = (char *)plugin,
                    .interval = usec_from_seconds(interval),
                    .timeout = usec_from_seconds(timeout),
                    .fall = fall,
                    .rise = rise,
                    .scope = CHECK_SCOPE_ALWAYS,
                },
            .min_gap = USEC_INFINITY,
        };
}

static void watch_start_with(Watch *w, const char *checker)
{
        assert_int_equal(check_new(event, NULL, &w->cfg, checker, on_verdict, w, &w->check), 0);
        assert_int_equal(check_get_status(w->check), CHECK_STATUS_DISABLED);
        assert_int_equal(check_set_enabled(w->check, true), 0);
        assert_int_equal(check_get_status(w->check), CHECK_STATUS_PENDING);
}

static void watch_start(Watch *w)
{
        watch_start_with(w, CHECKER);
}

static void watch_observe(Watch *w)
{
        usec_t t = check_get_last_run(w->check);
        const char *m = check_get_last_message(w->check);
        int result = check_get_last_result(w->check);

        if (t == w->last_run)
                return;
        if (w->runs > 0 && t - w->last_run < w->min_gap)
                w->min_gap = t - w->last_run;
        w->last_run = t;
        w->runs++;
        if (result != VACATAIRE_OK && result != VACATAIRE_WARNING)
                w->failed_runs++;
        if (streq(m, CRASHED))
                w->crashes++;
        if (strncmp(m, "timed out after ", 16) == 0)
                w->timeouts++;
}

/* Runs the loop for up to duration, watching every run; stops early once until(w[0]). */
static void run_loop(Watch **w, size_t n, usec_t duration, bool (*until)(Watch *))
{
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + duration;

        while (now_usec(CLOCK_MONOTONIC) < deadline) {
                assert_true(sd_event_run(event, MSEC(10)) >= 0);
                for (size_t i = 0; i < n; i++)
                        watch_observe(w[i]);
                if (until && until(w[0]))
                        return;
        }
}

static bool is_passing(Watch *w)
{
        return check_get_status(w->check) == CHECK_STATUS_PASSING;
}

static bool is_failing(Watch *w)
{
        return check_get_status(w->check) == CHECK_STATUS_FAILING;
}

/* Live checker processes whose command line is "vacataire-checker --serve <name>" and, unless
 * parent is 0, whose parent is that process (other test runs may use the same names). */
static unsigned count_checkers_of(const char *name, pid_t parent, pid_t *ret_pid)
{
        DIR *d = opendir("/proc");
        struct dirent *de;
        unsigned n = 0;

        assert_non_null(d);
        while ((de = readdir(d))) {
                char path[300], cmdline[512], stat[512], *state;
                FILE *f;
                size_t k;

                if (de->d_name[0] < '0' || de->d_name[0] > '9')
                        continue;
                snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
                f = fopen(path, "re");
                if (!f)
                        continue;
                k = fread(cmdline, 1, sizeof(cmdline) - 1, f);
                fclose(f);
                cmdline[k] = 0;
                if (!streq(cmdline, "vacataire-checker") ||
                    strlen(cmdline) + 1 + strlen("--serve") + 1 >= k ||
                    !streq(cmdline + 18, "--serve") || !streq(cmdline + 26, name))
                        continue;
                /* A zombie is a dead process whose parent (maybe a careless init) has not
                 * reaped it yet: it does not count. */
                snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
                f = fopen(path, "re");
                if (!f)
                        continue;
                k = fread(stat, 1, sizeof(stat) - 1, f);
                fclose(f);
                stat[k] = 0;
                state = strrchr(stat, ')');
                if (!state || state[1] != ' ' || state[2] == 'Z')
                        continue;
                if (parent > 0 && atoi(state + 4) != parent)
                        continue;
                if (ret_pid)
                        *ret_pid = atoi(de->d_name);
                n++;
        }
        closedir(d);
        return n;
}

static unsigned count_checkers(const char *name, pid_t *ret_pid)
{
        return count_checkers_of(name, getpid(), ret_pid);
}

/* A fresh child shows our own command line until it has exec'd the checker. */
static unsigned wait_for_checkers_of(const char *name, pid_t parent, unsigned expected,
                                     pid_t *ret_pid)
{
        unsigned n = 0;

        for (int i = 0; i < 200; i++) {
                n = count_checkers_of(name, parent, ret_pid);
                if (n == expected)
                        break;
                usleep(10000);
        }
        return n;
}

static unsigned wait_for_checkers(const char *name, unsigned expected, pid_t *ret_pid)
{
        return wait_for_checkers_of(name, getpid(), expected, ret_pid);
}

static void test_ok_passes(void **state)
{
        Watch w, *ws[] = {&w};
        pid_t pid;

        watch_init(&w, "run-ok", TEST_PLUGIN("ok"), 0.1, 1.0, 2, 2);
        assert_int_equal(check_new(event, NULL, &w.cfg, CHECKER, on_verdict, &w, &w.check), 0);
        assert_ptr_equal(check_get_config(w.check), &w.cfg);
        assert_int_equal(check_get_status(w.check), CHECK_STATUS_DISABLED);
        assert_int_equal(check_get_last_result(w.check), -1);
        assert_int_equal(check_get_last_run(w.check), 0);
        /* The checker is up while the check is disabled, waiting to be asked. */
        assert_int_equal(wait_for_checkers("run-ok", 1, &pid), 1);

        assert_int_equal(check_set_enabled(w.check, true), 0);
        assert_int_equal(check_get_status(w.check), CHECK_STATUS_PENDING);
        run_loop(ws, 1, MSEC(3000), is_passing);

        assert_int_equal(check_get_status(w.check), CHECK_STATUS_PASSING);
        assert_int_equal(w.transitions, 1);
        assert_int_equal(w.last_old, CHECK_STATUS_PENDING);
        assert_int_equal(w.runs, 2);
        assert_int_equal(check_get_last_result(w.check), VACATAIRE_OK);
        assert_string_equal(check_get_last_message(w.check), "all good");
        assert_int_equal(check_get_consecutive_failures(w.check), 0);
        /* Runs reuse the one process; freeing the check leaves none behind. */
        pid_t pid_after = 0;
        assert_int_equal(count_checkers("run-ok", &pid_after), 1);
        assert_int_equal(pid_after, pid);
        w.check = check_free(w.check);
        assert_int_equal(count_checkers("run-ok", NULL), 0);
}

static void test_warning_passes_unknown_fails(void **state)
{
        ConfigParam warning = {
            .name = (char *)"warning", .type = VACATAIRE_PARAM_BOOL, .boolean = true};
        ConfigParam unknown = {
            .name = (char *)"unknown", .type = VACATAIRE_PARAM_BOOL, .boolean = true};
        Watch a, b, *ws[] = {&a, &b};

        watch_init(&a, "run-warning", TEST_PLUGIN("ok"), 0.05, 1.0, 1, 1);
        a.cfg.params = &warning;
        a.cfg.n_params = 1;
        watch_init(&b, "run-unknown", TEST_PLUGIN("fail"), 0.05, 1.0, 1, 1);
        b.cfg.params = &unknown;
        b.cfg.n_params = 1;
        watch_start(&a);
        watch_start(&b);
        run_loop(ws, 2, MSEC(500), NULL);

        assert_int_equal(check_get_status(a.check), CHECK_STATUS_PASSING);
        assert_int_equal(check_get_last_result(a.check), VACATAIRE_WARNING);
        assert_int_equal(check_get_status(b.check), CHECK_STATUS_FAILING);
        assert_int_equal(check_get_last_result(b.check), VACATAIRE_UNKNOWN);
        assert_string_equal(check_get_last_message(b.check), "failing on purpose");
        a.check = check_free(a.check);
        b.check = check_free(b.check);
}

static void test_fail_fails(void **state)
{
        Watch w, *ws[] = {&w};

        watch_init(&w, "run-fail", TEST_PLUGIN("fail"), 0.1, 1.0, 3, 1);
        watch_start(&w);
        run_loop(ws, 1, MSEC(3000), is_failing);

        assert_int_equal(check_get_status(w.check), CHECK_STATUS_FAILING);
        assert_int_equal(w.transitions, 1);
        assert_int_equal(w.last_old, CHECK_STATUS_PENDING);
        assert_int_equal(w.runs, 3);
        assert_int_equal(check_get_consecutive_failures(w.check), 3);
        assert_int_equal(check_get_last_result(w.check), VACATAIRE_CRITICAL);
        assert_string_equal(check_get_last_message(w.check), "failing on purpose");
        w.check = check_free(w.check);
}

/* A crashing and a hanging plugin both fail in time, are restarted again and again, and the
 * healthy check beside them keeps its cadence. */
static void test_crash_and_hang_are_isolated(void **state)
{
        Watch ok, segv, hang, *ws[] = {&ok, &segv, &hang};
        usec_t start;

        watch_init(&ok, "iso-ok", TEST_PLUGIN("ok"), 0.1, 0.5, 1, 1);
        watch_init(&segv, "iso-segv", TEST_PLUGIN("segv"), 0.1, 0.3, 1, 1);
        watch_init(&hang, "iso-hang", TEST_PLUGIN("hang"), 0.1, 0.3, 1, 1);
        start = now_usec(CLOCK_MONOTONIC);
        watch_start(&ok);
        watch_start(&segv);
        watch_start(&hang);
        run_loop(ws, 3, MSEC(2000), NULL);

        /* 20 runs are due in 2 s; on a loaded machine accept 60% of them. */
        assert_true(ok.runs >= 12);
        assert_int_equal(ok.failed_runs, 0);
        assert_int_equal(check_get_status(ok.check), CHECK_STATUS_PASSING);
        assert_int_equal(ok.transitions, 1);

        assert_int_equal(check_get_status(segv.check), CHECK_STATUS_FAILING);
        assert_true(segv.failing_at > 0 && segv.failing_at - start < MSEC(500));
        assert_true(segv.crashes >= 3); /* each crash is a new process that crashed */
        assert_int_equal(segv.failed_runs, segv.runs);
        assert_true(strstr(check_get_last_message(segv.check), CRASHED));

        assert_int_equal(check_get_status(hang.check), CHECK_STATUS_FAILING);
        assert_true(hang.failing_at > 0 && hang.failing_at - start < MSEC(300 + 500));
        assert_true(hang.timeouts >= 3);
        assert_int_equal(hang.failed_runs, hang.runs);

        ok.check = check_free(ok.check);
        segv.check = check_free(segv.check);
        hang.check = check_free(hang.check);
        assert_int_equal(count_checkers("iso-hang", NULL), 0);
}

/* A late run gets its checker killed: only a new process gets past a stuck plugin. */
static void test_timeout_restarts_checker(void **state)
{
        char dir[] = "/tmp/test-check-run.XXXXXX", marker[64];
        ConfigParam param = {.name = (char *)"marker", .type = VACATAIRE_PARAM_STRING};
        Watch w, *ws[] = {&w};
        usec_t start;

        assert_non_null(mkdtemp(dir));
        snprintf(marker, sizeof(marker), "%s/marker", dir);
        param.string = marker;
        watch_init(&w, "run-stuck-once", TEST_PLUGIN("hang"), 0.1, 0.2, 1, 1);
        w.cfg.params = &param;
        w.cfg.n_params = 1;
        start = now_usec(CLOCK_MONOTONIC);
        watch_start(&w);
        run_loop(ws, 1, MSEC(2000), is_failing);
        assert_int_equal(check_get_status(w.check), CHECK_STATUS_FAILING);
        assert_string_equal(check_get_last_message(w.check), "timed out after 0.2 s");
        assert_true(w.failing_at - start >= MSEC(200) && w.failing_at - start < MSEC(700));
        run_loop(ws, 1, MSEC(2000), is_passing);
        assert_int_equal(check_get_status(w.check), CHECK_STATUS_PASSING);
        assert_string_equal(check_get_last_message(w.check), "answering this time");
        w.check = check_free(w.check);
        assert_int_equal(unlink(marker), 0);
        assert_int_equal(rmdir(dir), 0);
}

/* A run still in flight when the next is due is not doubled: runs are at least as far apart as
 * the plugin is slow, and none fails. */
static void test_slow_run_not_doubled(void **state)
{
        Watch w, *ws[] = {&w};

        watch_init(&w, "run-slow", TEST_PLUGIN("slow"), 0.1, 1.0, 1, 1);
        watch_start(&w);
        run_loop(ws, 1, MSEC(1600), NULL);

        assert_true(w.runs >= 3 && w.runs <= 7);
        assert_true(w.min_gap >= MSEC(250));
        assert_int_equal(w.failed_runs, 0);
        assert_string_equal(check_get_last_message(w.check), "slept 0.25 s");
        w.check = check_free(w.check);
}

static void test_params_reach_plugin(void **state)
{
        ConfigParam params[] = {
            {.name = (char *)"a", .type = VACATAIRE_PARAM_INT, .integer = 1},
            {.name = (char *)"b", .type = VACATAIRE_PARAM_FLOAT, .number = 2.5},
            {.name = (char *)"c", .type = VACATAIRE_PARAM_BOOL, .boolean = true},
            {.name = (char *)"d", .type = VACATAIRE_PARAM_STRING, .string = (char *)"hello world"},
        };
        Watch w, *ws[] = {&w};

        watch_init(&w, "run-echo", TEST_PLUGIN("echo"), 0.1, 0.5, 1, 1);
        w.cfg.params = params;
        w.cfg.n_params = ELEMENTSOF(params);
        watch_start(&w);
        run_loop(ws, 1, MSEC(2000), is_passing);

        assert_int_equal(check_get_status(w.check), CHECK_STATUS_PASSING);
        assert_string_equal(check_get_last_message(w.check),
                            "timeout=0.5 a=1:int(1) b=2.5:float c=true:bool d=hello world:string");
        assert_string_equal(check_get_last_perfdata(w.check), "");
        w.check = check_free(w.check);
}

/* List params cross the checker protocol; perfdata after '|' comes back apart. */
static void test_list_params_and_perfdata(void **state)
{
        ConfigParam command[] = {
            {.type = VACATAIRE_PARAM_STRING, .string = (char *)"/bin/x"},
            {.type = VACATAIRE_PARAM_STRING, .string = (char *)"-v"},
        };
        ConfigParam codes[] = {
            {.type = VACATAIRE_PARAM_INT, .integer = 200, .number = 200},
            {.type = VACATAIRE_PARAM_INT, .integer = 301, .number = 301},
            {.type = VACATAIRE_PARAM_FLOAT, .number = 1.5},
        };
        ConfigParam params[] = {
            {.name = (char *)"command",
             .type = VACATAIRE_PARAM_LIST,
             .list = command,
             .n_list = ELEMENTSOF(command)},
            {.name = (char *)"empty", .type = VACATAIRE_PARAM_LIST},
            {.name = (char *)"codes",
             .type = VACATAIRE_PARAM_LIST,
             .list = codes,
             .n_list = ELEMENTSOF(codes)},
            {.name = (char *)"perfdata",
             .type = VACATAIRE_PARAM_STRING,
             .string = (char *)" time=0.1s;1;2 size=3B "},
        };
        Watch w, *ws[] = {&w};

        watch_init(&w, "run-lists", TEST_PLUGIN("echo"), 0.1, 0.5, 1, 1);
        w.cfg.params = params;
        w.cfg.n_params = ELEMENTSOF(params);
        watch_start(&w);
        run_loop(ws, 1, MSEC(2000), is_passing);

        assert_int_equal(check_get_status(w.check), CHECK_STATUS_PASSING);
        assert_string_equal(check_get_last_message(w.check),
                            "timeout=0.5 command=[/bin/x:command,-v:command]:list empty=[]:list "
                            "codes=[200:codes,301:codes,1.5:codes]:list "
                            "perfdata= time=0.1s;1;2 size=3B :string");
        assert_string_equal(check_get_last_perfdata(w.check), "time=0.1s;1;2 size=3B");
        w.check = check_free(w.check);
}

/* pcheck's watch(): a death is a verdict at once, long before the next interval (a minute away)
 * and despite fall = 3. */
static void test_watch_death_runs_at_once(void **state)
{
        char pidfile[] = "/tmp/vc-test-watch-XXXXXX";
        ConfigParam param = {
            .name = (char *)"pidfile", .type = VACATAIRE_PARAM_STRING, .string = pidfile};
        Watch w, *ws[] = {&w};
        int fd = mkstemp(pidfile);
        pid_t pid;

        assert_true(fd >= 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                execl("/bin/sleep", "sleep", "60", (char *)NULL);
                _exit(127);
        }
        assert_true(dprintf(fd, "%d\n", (int)pid) > 0);
        close(fd);

        watch_init(&w, "run-watch", TEST_BUILD_DIR "/plugins/pcheck.so", 60.0, 5.0, 3, 1);
        w.cfg.params = &param;
        w.cfg.n_params = 1;
        watch_start(&w);
        run_loop(ws, 1, MSEC(10000), is_passing);
        assert_int_equal(check_get_status(w.check), CHECK_STATUS_PASSING);
        assert_int_equal(w.runs, 1);

        assert_int_equal(kill(pid, SIGKILL), 0);
        run_loop(ws, 1, MSEC(20000), is_failing);
        assert_int_equal(check_get_status(w.check), CHECK_STATUS_FAILING);
        assert_int_equal(w.runs, 2); /* one woken run, no interval run */
        assert_int_equal(check_get_consecutive_failures(w.check), 3);

        assert_int_equal(waitpid(pid, NULL, 0), pid);
        (void)unlink(pidfile);
        w.check = check_free(w.check);
}

/* A checker that cannot load, configure or even start fails every run with the reason. */
static void test_broken_checker_fails(void **state)
{
        ConfigParam bogus = {.name = (char *)"bogus", .type = VACATAIRE_PARAM_INT, .integer = 1};
        Watch params, missing, noexec, *ws[] = {&params, &missing, &noexec};

        watch_init(&params, "broken-params", TEST_PLUGIN("ok"), 0.05, 0.5, 2, 1);
        params.cfg.params = &bogus;
        params.cfg.n_params = 1;
        watch_init(&missing, "broken-missing", "/nonexistent/plugin.so", 0.05, 0.5, 2, 1);
        watch_init(&noexec, "broken-exec", TEST_PLUGIN("ok"), 0.05, 0.5, 2, 1);
        watch_start(&params);
        watch_start(&missing);
        watch_start_with(&noexec, "/nonexistent/vacataire-checker");
        run_loop(ws, 3, MSEC(600), NULL);

        assert_int_equal(check_get_status(params.check), CHECK_STATUS_FAILING);
        assert_string_equal(check_get_last_message(params.check), "ok: unknown param 'bogus'");
        assert_int_equal(params.failed_runs, params.runs);
        assert_true(params.runs >= 6);

        assert_int_equal(check_get_status(missing.check), CHECK_STATUS_FAILING);
        assert_string_equal(check_get_last_message(missing.check),
                            "/nonexistent/plugin.so: cannot load: cannot open shared object "
                            "file: No such file or directory");

        assert_int_equal(check_get_status(noexec.check), CHECK_STATUS_FAILING);
        assert_string_equal(check_get_last_message(noexec.check),
                            "cannot execute /nonexistent/vacataire-checker: No such file or "
                            "directory");

        params.check = check_free(params.check);
        missing.check = check_free(missing.check);
        noexec.check = check_free(noexec.check);
}

static void test_disable_enable(void **state)
{
        Watch w, slow, *ws[] = {&w}, *slows[] = {&slow};
        unsigned runs;

        watch_init(&w, "toggle", TEST_PLUGIN("ok"), 0.05, 0.5, 1, 1);
        watch_start(&w);
        run_loop(ws, 1, MSEC(2000), is_passing);
        assert_int_equal(check_get_status(w.check), CHECK_STATUS_PASSING);
        assert_int_equal(w.transitions, 1);

        /* Disabling does not call the handler, and stops the runs. */
        assert_int_equal(check_set_enabled(w.check, false), 0);
        assert_int_equal(check_get_status(w.check), CHECK_STATUS_DISABLED);
        assert_int_equal(check_get_consecutive_failures(w.check), 0);
        runs = w.runs;
        run_loop(ws, 1, MSEC(300), NULL);
        assert_int_equal(w.runs, runs);
        assert_int_equal(w.transitions, 1);

        /* Enabling starts over from PENDING and runs at once. */
        assert_int_equal(check_set_enabled(w.check, true), 0);
        assert_int_equal(check_get_status(w.check), CHECK_STATUS_PENDING);
        run_loop(ws, 1, MSEC(2000), is_passing);
        assert_int_equal(w.transitions, 2);
        assert_int_equal(w.last_old, CHECK_STATUS_PENDING);
        w.check = check_free(w.check);

        /* A run in flight when the check is disabled is discarded. */
        watch_init(&slow, "toggle-slow", TEST_PLUGIN("slow"), 1.0, 1.0, 1, 1);
        watch_start(&slow);
        run_loop(slows, 1, MSEC(100), NULL);
        assert_int_equal(check_set_enabled(slow.check, false), 0);
        run_loop(slows, 1, MSEC(400), NULL);
        assert_int_equal(slow.runs, 0);
        assert_int_equal(check_get_last_result(slow.check), -1);
        assert_int_equal(check_get_status(slow.check), CHECK_STATUS_DISABLED);
        assert_int_equal(slow.transitions, 0);
        slow.check = check_free(slow.check);
}

typedef struct LoadResult {
        bool done;
        int error;
        char *message;
} LoadResult;

static void on_loaded(CheckLoader *l, int error, void *userdata)
{
        LoadResult *res = userdata;
        const char *m = check_loader_first_error(l);

        res->done = true;
        res->error = error;
        res->message = m ? strdup(m) : NULL;
}

/* Loads one check through the loader, on the test's loop, as the start-up, a reload and -t do. */
static void assert_validate(const ConfigCheck *cfg, const char *checker, int error,
                            const char *message_prefix, const char *message_part)
{
        Config config = {.checks = (ConfigCheck *)cfg, .n_checks = 1};
        CheckLoader *l = NULL;
        LoadResult res = {};
        usec_t start = now_usec(CLOCK_MONOTONIC);
        char *message;

        assert_int_equal(check_loader_new(event, &config, NULL, checker, MSEC(1000), NULL, NULL,
                                          on_loaded, &res, &l),
                         0);
        while (!res.done && now_usec(CLOCK_MONOTONIC) - start < MSEC(5000))
                assert_true(sd_event_run(event, MSEC(100)) >= 0);
        assert_true(res.done);
        message = res.message;
        if (error == 0) {
                assert_int_equal(res.error, 0);
                assert_null(message);
                Check *c = check_loader_take(l, 0);
                assert_non_null(c);
                assert_null(check_loader_take(l, 0));
                check_free(c);
                check_loader_free(l);
                return;
        }
        check_loader_free(l);
        assert_non_null(message);
        assert_int_equal(res.error, error == -ETIMEDOUT ? -ETIMEDOUT : -EINVAL);
        if (strncmp(message, message_prefix, strlen(message_prefix)) != 0)
                fail_msg("\"%s\" does not start with \"%s\"", message, message_prefix);
        if (message_part && !strstr(message, message_part))
                fail_msg("\"%s\" does not contain \"%s\"", message, message_part);
        assert_null(strchr(message, '\n'));
        free(message);
}

static void test_validate(void **state)
{
        ConfigParam bogus[] = {
            {.name = (char *)"process", .type = VACATAIRE_PARAM_STRING, .string = (char *)"x"},
            {.name = (char *)"bogus", .type = VACATAIRE_PARAM_INT, .integer = 1},
        };
        ConfigParam in_configure = {
            .name = (char *)"in_configure", .type = VACATAIRE_PARAM_BOOL, .boolean = true};
        Watch w;

        watch_init(&w, "web", TEST_PLUGIN("ok"), 1.0, 0.5, 1, 1);
        assert_validate(&w.cfg, CHECKER, 0, NULL, NULL);
        assert_validate(&w.cfg, "/nonexistent/vacataire-checker", -ENOENT,
                        "check web: cannot execute /nonexistent/vacataire-checker: No such file",
                        NULL);

        watch_init(&w, "web", "/nonexistent/pcheck.so", 1.0, 0.5, 1, 1);
        assert_validate(&w.cfg, CHECKER, -ENOENT,
                        "check web: /nonexistent/pcheck.so: cannot load: ", NULL);

        watch_init(&w, "web", TEST_BUILD_DIR "/plugins/pcheck.so", 1.0, 0.5, 1, 1);
        w.cfg.params = bogus;
        w.cfg.n_params = 1;
        assert_validate(&w.cfg, CHECKER, 0, NULL, NULL);
        w.cfg.n_params = 2;
        assert_validate(&w.cfg, CHECKER, INT_MAX, "check web: ", "bogus");

        watch_init(&w, "web", TEST_PLUGIN("wrong_abi"), 1.0, 0.5, 1, 1);
        assert_validate(&w.cfg, CHECKER, -EPROTONOSUPPORT,
                        "check web: " TEST_PLUGIN("wrong_abi") ": ", "version 2");

        watch_init(&w, "web", TEST_PLUGIN("segv"), 1.0, 0.5, 1, 1);
        w.cfg.params = &in_configure;
        w.cfg.n_params = 1;
        assert_validate(&w.cfg, CHECKER, -EIO, "check web: " TEST_PLUGIN("segv") ": " CRASHED,
                        NULL);

        watch_init(&w, "web", TEST_PLUGIN("hang"), 1.0, 0.5, 1, 1);
        w.cfg.params = &in_configure;
        w.cfg.n_params = 1;
        assert_validate(&w.cfg, CHECKER, -ETIMEDOUT,
                        "check web: " TEST_PLUGIN("hang") ": plugin did not load and configure "
                                                          "within 1 s",
                        NULL);
        assert_int_equal(count_checkers("web", NULL), 0);
}

/* The checker dies with its daemon, even a daemon killed outright while the plugin is stuck. */
static void test_checker_dies_with_daemon(void **state)
{
        int ready[2];
        pid_t daemon_pid, checker = 0;
        char c, name[64];

        /* Its parent is gone by the time we look again: the name alone must be ours. */
        snprintf(name, sizeof(name), "orphan-%d", (int)getpid());
        assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
        daemon_pid = fork();
        assert_true(daemon_pid >= 0);
        if (daemon_pid == 0) {
                sd_event *e = NULL;
                Watch w;

                watch_init(&w, name, TEST_PLUGIN("hang"), 10.0, 10.0, 1, 1);
                if (sd_event_new(&e) < 0 ||
                    check_new(e, NULL, &w.cfg, CHECKER, NULL, NULL, &w.check) < 0 ||
                    check_set_enabled(w.check, true) < 0)
                        _exit(1);
                /* Long enough for the run to be sent and the plugin to be stuck in it. */
                for (int i = 0; i < 20; i++)
                        (void)sd_event_run(e, MSEC(10));
                if (write(ready[1], "x", 1) != 1)
                        _exit(1);
                for (;;)
                        pause();
        }
        close(ready[1]);
        assert_int_equal(read(ready[0], &c, 1), 1);
        close(ready[0]);
        assert_int_equal(wait_for_checkers_of(name, daemon_pid, 1, &checker), 1);

        assert_int_equal(kill(daemon_pid, SIGKILL), 0);
        assert_int_equal(waitpid(daemon_pid, NULL, 0), daemon_pid);
        assert_int_equal(wait_for_checkers_of(name, 0, 0, NULL), 0);
}

static void test_find_checker(void **state)
{
        char *path = NULL, a[PATH_MAX], b[PATH_MAX];

        /* This test binary sits beside the helper in the build tree. */
        assert_int_equal(check_find_checker(&path), 0);
        assert_non_null(realpath(path, a));
        assert_non_null(realpath(CHECKER, b));
        assert_string_equal(a, b);
        free(path);
}

/* vacataire-checker --once, as a human runs it. */
static int run_once(const char *args, char *out, size_t size)
{
        char command[1024];
        FILE *f;
        size_t n;
        int status;

        snprintf(command, sizeof(command), "%s --once %s 2>&1", CHECKER, args);
        f = popen(command, "r");
        assert_non_null(f);
        n = fread(out, 1, size - 1, f);
        out[n] = 0;
        status = pclose(f);
        assert_true(WIFEXITED(status));
        return WEXITSTATUS(status);
}

static void test_once(void **state)
{
        char out[1024];

        assert_int_equal(
            run_once(TEST_PLUGIN("echo") " a=1 b=2.5 c=true d=x --timeout 0.5", out, sizeof(out)),
            0);
        assert_string_equal(out, "ok: timeout=0.5 a=1:int(1) b=2.5:float c=true:bool d=x:string\n");
        assert_int_equal(run_once(TEST_PLUGIN("ok") " warning=true", out, sizeof(out)), 0);
        assert_string_equal(out, "warning: all good\n");
        assert_int_equal(run_once(TEST_PLUGIN("fail"), out, sizeof(out)), 2);
        assert_string_equal(out, "critical: failing on purpose\n");
        assert_int_equal(run_once(TEST_PLUGIN("fail") " unknown=true", out, sizeof(out)), 3);
        assert_string_equal(out, "unknown: failing on purpose\n");
        assert_int_equal(run_once(TEST_PLUGIN("hang") " --timeout 0.2", out, sizeof(out)), 3);
        assert_string_equal(out, "unknown: timed out after 0.2 s\n");
        assert_int_equal(run_once(TEST_PLUGIN("ok") " bogus=1", out, sizeof(out)), 1);
        assert_string_equal(out, "ok: unknown param 'bogus'\n");
        assert_int_equal(run_once("/nonexistent/x.so", out, sizeof(out)), 1);
        assert_true(strncmp(out, "/nonexistent/x.so: cannot load: ", 32) == 0);
}

static int setup(void **state)
{
        return sd_event_new(&event) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
        event = sd_event_unref(event);
        return 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_ok_passes, setup, teardown),
            cmocka_unit_test_setup_teardown(test_warning_passes_unknown_fails, setup, teardown),
            cmocka_unit_test_setup_teardown(test_fail_fails, setup, teardown),
            cmocka_unit_test_setup_teardown(test_crash_and_hang_are_isolated, setup, teardown),
            cmocka_unit_test_setup_teardown(test_timeout_restarts_checker, setup, teardown),
            cmocka_unit_test_setup_teardown(test_slow_run_not_doubled, setup, teardown),
            cmocka_unit_test_setup_teardown(test_params_reach_plugin, setup, teardown),
            cmocka_unit_test_setup_teardown(test_watch_death_runs_at_once, setup, teardown),
            cmocka_unit_test_setup_teardown(test_list_params_and_perfdata, setup, teardown),
            cmocka_unit_test_setup_teardown(test_broken_checker_fails, setup, teardown),
            cmocka_unit_test_setup_teardown(test_disable_enable, setup, teardown),
            cmocka_unit_test_setup_teardown(test_validate, setup, teardown),
            cmocka_unit_test(test_checker_dies_with_daemon),
            cmocka_unit_test(test_find_checker),
            cmocka_unit_test(test_once),
        };
        const char *asan = getenv("ASAN_OPTIONS");
        char options[512];
        sigset_t mask;

        /* As the daemon does: sd-event's child sources need SIGCHLD blocked. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        /* In the sanitizer build, let a plugin's SIGSEGV kill its checker as it would in
         * production, instead of ASan reporting it and exiting 1. */
        snprintf(options, sizeof(options), "%s%shandle_segv=0", asan ? asan : "",
                 asan && *asan ? ":" : "");
        setenv("ASAN_OPTIONS", options, 1);
        log_setup("test-check-run");

        return cmocka_run_group_tests(tests, NULL, NULL);
}
