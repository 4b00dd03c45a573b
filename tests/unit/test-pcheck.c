/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* pcheck against real processes: copies of sleep under a unique name, real pidfiles, real
 * zombies. */
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "checker-protocol.h"
#include "plugin-run.h"

static char dir[64];
static char name[16]; /* comm of our sleep processes: unique per test run */
static char exe[128]; /* dir/name, a symlink to sleep: exec sets comm from its name */
static char pidfile[128];

#define MAX_CHILDREN 8
static pid_t children[MAX_CHILDREN];

static int setup(void **state)
{
        if (plugin_run_load(TEST_BUILD_DIR "/plugins/pcheck.so") < 0)
                return -1;
        snprintf(dir, sizeof(dir), "/tmp/vc-test-pcheck-XXXXXX");
        if (!mkdtemp(dir))
                return -1;
        snprintf(name, sizeof(name), "vcsl%d", (int)getpid());
        snprintf(exe, sizeof(exe), "%s/%s", dir, name);
        snprintf(pidfile, sizeof(pidfile), "%s/service.pid", dir);
        if (symlink("/bin/sleep", exe) < 0)
                return -1;
        return 0;
}

static int teardown(void **state)
{
        (void)unlink(exe);
        (void)unlink(pidfile);
        (void)rmdir(dir);
        plugin = plugin_free(plugin);
        return 0;
}

static void reap_forget(pid_t pid);

static void reap(pid_t pid)
{
        reap_forget(pid);
        (void)kill(pid, SIGKILL);
        assert_int_equal(waitpid(pid, NULL, 0), pid);
}

static void reap_forget(pid_t pid)
{
        for (size_t i = 0; i < MAX_CHILDREN; i++)
                if (children[i] == pid)
                        children[i] = 0;
}

static int kill_children(void **state)
{
        for (size_t i = 0; i < MAX_CHILDREN; i++)
                if (children[i] > 0)
                        reap(children[i]);
        (void)unlink(pidfile);
        return 0;
}

/* Starts path with argv and returns once exec has happened (the CLOEXEC pipe closes), so /proc
 * already shows the new comm and command line. */
static pid_t spawn(const char *path, char *const argv[])
{
        int fds[2], exec_errno = 0;
        pid_t pid;

        assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                close(fds[0]);
                execv(path, argv);
                exec_errno = errno;
                (void)!write(fds[1], &exec_errno, sizeof(exec_errno));
                _exit(127);
        }
        close(fds[1]);
        assert_int_equal(read(fds[0], &exec_errno, sizeof(exec_errno)), 0);
        close(fds[0]);
        for (size_t i = 0; i < MAX_CHILDREN; i++)
                if (children[i] == 0) {
                        children[i] = pid;
                        return pid;
                }
        fail_msg("too many children");
        return -1;
}

static pid_t spawn_sleep(void)
{
        char *argv[] = {name, "30", NULL};
        return spawn(exe, argv);
}

/* A child that has exited but is not reaped: a zombie until reap(). */
static pid_t spawn_zombie(const char *path, char *const argv[])
{
        siginfo_t info;
        pid_t pid = spawn(path, argv);

        assert_int_equal(waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT), 0);
        return pid;
}

static void write_file(const char *path, const char *content)
{
        FILE *f = fopen(path, "we");

        assert_non_null(f);
        fputs(content, f);
        assert_int_equal(fclose(f), 0);
}

static void write_pidfile(pid_t pid)
{
        char buf[32];

        snprintf(buf, sizeof(buf), "%d\n", (int)pid);
        write_file(pidfile, buf);
}

static int run_check(const struct vacataire_param *items, size_t n, char *msg, size_t msg_size)
{
        return run_plugin(items, n, 1.0, msg, msg_size);
}
#define RUN(msg, ...)                                                                              \
        ({                                                                                         \
                const struct vacataire_param items_[] = {__VA_ARGS__};                             \
                run_check(items_, ELEMENTSOF(items_), msg, sizeof(msg));                           \
        })

static void test_comm(void **state)
{
        char msg[256], expected[256], prefix[16];

        snprintf(expected, sizeof(expected), "no process named %s", name);
        assert_int_equal(RUN(msg, STR("process", name)), VACATAIRE_CRITICAL);
        assert_string_equal(msg, expected);

        spawn_sleep();
        snprintf(expected, sizeof(expected), "1 %s process", name);
        assert_int_equal(RUN(msg, STR("process", name)), VACATAIRE_OK);
        assert_string_equal(msg, expected);
        assert_int_equal(RUN(msg, STR("process", name), STR("match", "comm")), VACATAIRE_OK);

        /* comm is compared whole, not as a prefix. */
        snprintf(prefix, sizeof(prefix), "%.*s", (int)strlen(name) - 1, name);
        snprintf(expected, sizeof(expected), "no process named %s", prefix);
        assert_int_equal(RUN(msg, STR("process", prefix)), VACATAIRE_CRITICAL);
        assert_string_equal(msg, expected);
}

static void test_min_count_and_kill(void **state)
{
        char msg[256], expected[256];
        pid_t a, b;

        a = spawn_sleep();
        snprintf(expected, sizeof(expected), "1 %s process, expected at least 2", name);
        assert_int_equal(RUN(msg, STR("process", name), INT("min_count", 2)), VACATAIRE_CRITICAL);
        assert_string_equal(msg, expected);

        b = spawn_sleep();
        snprintf(expected, sizeof(expected), "2 %s processes", name);
        assert_int_equal(RUN(msg, STR("process", name), INT("min_count", 2)), VACATAIRE_OK);
        assert_string_equal(msg, expected);

        reap(a);
        snprintf(expected, sizeof(expected), "1 %s process, expected at least 2", name);
        assert_int_equal(RUN(msg, STR("process", name), INT("min_count", 2)), VACATAIRE_CRITICAL);
        assert_string_equal(msg, expected);
        assert_int_equal(RUN(msg, STR("process", name)), VACATAIRE_OK);

        reap(b);
        snprintf(expected, sizeof(expected), "no process named %s", name);
        assert_int_equal(RUN(msg, STR("process", name)), VACATAIRE_CRITICAL);
        assert_string_equal(msg, expected);
}

/* A process that exited but was not reaped still has a /proc entry with its comm: it must not
 * count. */
static void test_zombie_does_not_count(void **state)
{
        char *argv[] = {name, "0", NULL};
        char msg[256], expected[256];
        pid_t z;

        z = spawn_zombie(exe, argv);
        snprintf(expected, sizeof(expected), "no process named %s", name);
        assert_int_equal(RUN(msg, STR("process", name)), VACATAIRE_CRITICAL);
        assert_string_equal(msg, expected);
        reap(z);
}

static void test_cmdline(void **state)
{
        char marker[64], pattern[96], msg[256], expected[256];
        char *argv[] = {marker, "30", NULL};

        snprintf(marker, sizeof(marker), "vc-marker-%d-cmdline", (int)getpid());
        /* The NULs between arguments read as spaces. */
        snprintf(pattern, sizeof(pattern), "%d-cmdline 30", (int)getpid());

        snprintf(expected, sizeof(expected), "no process with \"%s\" in its command line", pattern);
        assert_int_equal(RUN(msg, STR("process", pattern), STR("match", "cmdline")),
                         VACATAIRE_CRITICAL);
        assert_string_equal(msg, expected);

        spawn(exe, argv);
        snprintf(expected, sizeof(expected), "1 process with \"%s\" in its command line", pattern);
        assert_int_equal(RUN(msg, STR("process", pattern), STR("match", "cmdline")), VACATAIRE_OK);
        assert_string_equal(msg, expected);

        spawn(exe, argv);
        snprintf(expected, sizeof(expected), "2 processes with \"%s\" in their command line",
                 pattern);
        assert_int_equal(
            RUN(msg, STR("process", pattern), STR("match", "cmdline"), INT("min_count", 2)),
            VACATAIRE_OK);
        assert_string_equal(msg, expected);

        /* comm of these processes is the symlink's name, not argv[0]. */
        assert_int_equal(RUN(msg, STR("process", "vc-marker")), VACATAIRE_CRITICAL);
}

/* The checker's own command line may carry the pattern (vacataire-checker --once ... process=X):
 * the running process never counts. This binary runs itself with a marker argument and the child
 * checks for that marker, which only its own command line holds. */
static int run_self_check(const char *marker)
{
        struct vacataire_param items[] = {STR("process", marker), STR("match", "cmdline")};
        char msg[256];

        if (setup(NULL) < 0)
                return 100;
        int r = run_check(items, ELEMENTSOF(items), msg, sizeof(msg));
        teardown(NULL);
        return r;
}

static void test_cmdline_skips_self(void **state)
{
        char marker[64];
        char *argv[] = {"test-pcheck", "--self-check", marker, NULL};
        int status;
        pid_t pid;

        snprintf(marker, sizeof(marker), "vc-self-marker-%d", (int)getpid());
        pid = spawn("/proc/self/exe", argv);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        reap_forget(pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), VACATAIRE_CRITICAL);
}

static void test_pidfile_live(void **state)
{
        char msg[256], expected[256];
        pid_t pid = spawn_sleep();

        write_pidfile(pid);
        snprintf(expected, sizeof(expected), "pidfile %s: process %d running", pidfile, (int)pid);
        assert_int_equal(RUN(msg, STR("pidfile", pidfile)), VACATAIRE_OK);
        assert_string_equal(msg, expected);

        reap(pid);
        snprintf(expected, sizeof(expected), "pidfile %s: process %d not running", pidfile,
                 (int)pid);
        assert_int_equal(RUN(msg, STR("pidfile", pidfile)), VACATAIRE_CRITICAL);
        assert_string_equal(msg, expected);
}

static void test_pidfile_zombie(void **state)
{
        char *argv[] = {name, "0", NULL};
        char msg[256], expected[256];
        pid_t pid = spawn_zombie(exe, argv);

        write_pidfile(pid);
        snprintf(expected, sizeof(expected), "pidfile %s: process %d not running (zombie)", pidfile,
                 (int)pid);
        assert_int_equal(RUN(msg, STR("pidfile", pidfile)), VACATAIRE_CRITICAL);
        assert_string_equal(msg, expected);
        reap(pid);
}

static void test_pidfile_missing(void **state)
{
        char msg[256], expected[256];

        snprintf(expected, sizeof(expected), "pidfile %s: cannot read: No such file or directory",
                 pidfile);
        assert_int_equal(RUN(msg, STR("pidfile", pidfile)), VACATAIRE_CRITICAL);
        assert_string_equal(msg, expected);
}

static void test_pidfile_garbage(void **state)
{
        static const char *const contents[] = {
            "", "\n", "abc\n", "123abc\n", "-5\n", "0\n", "99999999999999999999\n", "12 34\n"};
        char msg[256], expected[256];

        snprintf(expected, sizeof(expected), "pidfile %s: no valid PID in file", pidfile);
        for (size_t i = 0; i < ELEMENTSOF(contents); i++) {
                write_file(pidfile, contents[i]);
                assert_int_equal(RUN(msg, STR("pidfile", pidfile)), VACATAIRE_CRITICAL);
                assert_string_equal(msg, expected);
        }
}

/* The pidfile may have no trailing newline, or surrounding whitespace. */
static void test_pidfile_formats(void **state)
{
        char buf[32], msg[256];
        pid_t pid = spawn_sleep();

        snprintf(buf, sizeof(buf), "%d", (int)pid);
        write_file(pidfile, buf);
        assert_int_equal(RUN(msg, STR("pidfile", pidfile)), VACATAIRE_OK);
        snprintf(buf, sizeof(buf), "  %d \n\n", (int)pid);
        write_file(pidfile, buf);
        assert_int_equal(RUN(msg, STR("pidfile", pidfile)), VACATAIRE_OK);
}

/* Readable (the process has exited) within a generous bound, or not at all over a short one. */
static bool fd_fires(int fd, int ms)
{
        struct pollfd p = {.fd = fd, .events = POLLIN};

        return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

static void *configure_or_fail(const struct vacataire_param *items, size_t n)
{
        struct vacataire_params params = {(uint32_t)n, items};
        void *plugin_state = NULL;
        char err[256] = "";

        if (plugin->api->configure(&params, 1.0, &plugin_state, err, sizeof(err)) != 0)
                fail_msg("configure failed: %s", err);
        return plugin_state;
}

/* watch() hands over a pidfd per counted process; it fires when that process dies, and a run
 * replaces the set. */
static void test_watch_pidfile(void **state)
{
        const struct vacataire_param items[] = {STR("pidfile", pidfile)};
        int fds[CHECKER_WATCH_MAX];
        char msg[256];
        void *st = configure_or_fail(items, ELEMENTSOF(items));
        pid_t pid = spawn_sleep();

        write_pidfile(pid);
        assert_int_equal(plugin->api->watch(st, fds, CHECKER_WATCH_MAX), 0); /* no run yet */
        assert_int_equal(plugin->api->run(st, msg, sizeof(msg)), VACATAIRE_OK);
        assert_int_equal(plugin->api->watch(st, fds, CHECKER_WATCH_MAX), 1);
        assert_false(fd_fires(fds[0], 0));
        (void)kill(pid, SIGKILL);
        assert_true(fd_fires(fds[0], 10000)); /* a zombie: not reaped yet */
        assert_int_equal(plugin->api->run(st, msg, sizeof(msg)), VACATAIRE_CRITICAL);
        assert_int_equal(plugin->api->watch(st, fds, CHECKER_WATCH_MAX), 0);
        reap(pid);
        plugin->api->free(st);
}

static void test_watch_processes(void **state)
{
        const struct vacataire_param items[] = {STR("process", name)};
        int fds[CHECKER_WATCH_MAX];
        char msg[256];
        void *st = configure_or_fail(items, ELEMENTSOF(items));
        pid_t one = spawn_sleep(), two = spawn_sleep();

        assert_int_equal(plugin->api->run(st, msg, sizeof(msg)), VACATAIRE_OK);
        assert_int_equal(plugin->api->watch(st, fds, CHECKER_WATCH_MAX), 2);
        /* max_fds is respected */
        assert_int_equal(plugin->api->watch(st, fds, 1), 1);
        assert_int_equal(plugin->api->watch(st, fds, CHECKER_WATCH_MAX), 2);
        reap(two);
        struct pollfd p[2] = {{.fd = fds[0], .events = POLLIN}, {.fd = fds[1], .events = POLLIN}};
        assert_int_equal(poll(p, 2, 10000), 1); /* one of them, not both */
        assert_int_equal(plugin->api->run(st, msg, sizeof(msg)), VACATAIRE_OK);
        assert_int_equal(plugin->api->watch(st, fds, CHECKER_WATCH_MAX), 1);
        assert_false(fd_fires(fds[0], 0));
        reap(one);
        plugin->api->free(st);
}

/* Under another proc root the PIDs are not ours: nothing is watched. */
static void test_watch_not_real_proc(void **state)
{
        const struct vacataire_param items[] = {STR("process", name), STR("proc", "/proc/")};
        int fds[CHECKER_WATCH_MAX];
        char msg[256];
        void *st = configure_or_fail(items, ELEMENTSOF(items));
        pid_t pid = spawn_sleep();

        assert_int_equal(plugin->api->run(st, msg, sizeof(msg)), VACATAIRE_OK);
        assert_int_equal(plugin->api->watch(st, fds, CHECKER_WATCH_MAX), 0);
        reap(pid);
        plugin->api->free(st);
}

static void test_proc_unreadable(void **state)
{
        char msg[256];

        assert_int_equal(RUN(msg, STR("process", "sleep"), STR("proc", "/nonexistent/proc")),
                         VACATAIRE_UNKNOWN);
        assert_string_equal(msg, "cannot list /nonexistent/proc: No such file or directory");
}

static void test_param_errors(void **state)
{
        CONFIGURE_ERROR("params.process: missing (or give pidfile)", INT("min_count", 1));
        CONFIGURE_ERROR("params.pidfile: give either process or pidfile, not both",
                        STR("process", "sleep"), STR("pidfile", "/run/x.pid"));
        CONFIGURE_ERROR("params.procss: unknown parameter (known: process, match, pidfile, "
                        "min_count, proc)",
                        STR("procss", "sleep"));
        CONFIGURE_ERROR("params.process: must be a non-empty string", INT("process", 3));
        CONFIGURE_ERROR("params.process: must be a non-empty string", STR("process", ""));
        CONFIGURE_ERROR("params.pidfile: must be a non-empty string", INT("pidfile", 3));
        CONFIGURE_ERROR("params.min_count: must be an integer >= 1", STR("process", "sleep"),
                        INT("min_count", 0));
        CONFIGURE_ERROR("params.min_count: must be an integer >= 1", STR("process", "sleep"),
                        FLOAT("min_count", 2.0));
        CONFIGURE_ERROR("params.min_count: must be an integer >= 1", STR("process", "sleep"),
                        STR("min_count", "2"));
        CONFIGURE_ERROR("params.min_count: only applies to params.process (a pidfile names one "
                        "process)",
                        STR("pidfile", "/run/x.pid"), INT("min_count", 2));
        CONFIGURE_ERROR("params.match: must be \"comm\" or \"cmdline\"", STR("process", "sleep"),
                        STR("match", "exe"));
        CONFIGURE_ERROR("params.match: only applies to params.process", STR("pidfile", "/x.pid"),
                        STR("match", "cmdline"));
        CONFIGURE_ERROR("params.process: a process name is at most 15 characters without '/' (as "
                        "in /proc/PID/comm); use match = \"cmdline\" for longer patterns",
                        STR("process", "systemd-journald"));
        CONFIGURE_ERROR("params.process: a process name is at most 15 characters without '/' (as "
                        "in /proc/PID/comm); use match = \"cmdline\" for longer patterns",
                        STR("process", "/usr/sbin/sshd"));
}

int main(int argc, char *argv[])
{
        if (argc == 3 && streq(argv[1], "--self-check"))
                return run_self_check(argv[2]);

        const struct CMUnitTest tests[] = {
            cmocka_unit_test_teardown(test_comm, kill_children),
            cmocka_unit_test_teardown(test_min_count_and_kill, kill_children),
            cmocka_unit_test_teardown(test_zombie_does_not_count, kill_children),
            cmocka_unit_test_teardown(test_cmdline, kill_children),
            cmocka_unit_test_teardown(test_cmdline_skips_self, kill_children),
            cmocka_unit_test_teardown(test_pidfile_live, kill_children),
            cmocka_unit_test_teardown(test_pidfile_zombie, kill_children),
            cmocka_unit_test_teardown(test_pidfile_missing, kill_children),
            cmocka_unit_test_teardown(test_pidfile_garbage, kill_children),
            cmocka_unit_test_teardown(test_pidfile_formats, kill_children),
            cmocka_unit_test_teardown(test_watch_pidfile, kill_children),
            cmocka_unit_test_teardown(test_watch_processes, kill_children),
            cmocka_unit_test_teardown(test_watch_not_real_proc, kill_children),
            cmocka_unit_test(test_proc_unreadable),
            cmocka_unit_test(test_param_errors),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
