/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* service-watch's helpers against real processes: finding a process group's live members (not
 * its zombies, not other groups), and which ActiveStates are a death. Arming it on running
 * services is tested with real agents (tests/integration/test-fast-death, test-fast-unit-death). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include "service-watch.h"

/* A child in a new process group of its own, then n more sleeping children in that group; the
 * leader exits at once (as a start command does) and is reaped. Returns the group. */
static pid_t spawn_group(int n, pid_t *members)
{
        int fds[2];
        pid_t leader;

        assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
        leader = fork();
        assert_true(leader >= 0);
        if (leader == 0) {
                (void)setpgid(0, 0);
                for (int i = 0; i < n; i++) {
                        pid_t p = fork();
                        if (p == 0) {
                                execl("/bin/sleep", "sleep", "30", (char *)NULL);
                                _exit(127);
                        }
                        (void)!write(fds[1], &p, sizeof(p));
                }
                _exit(0);
        }
        close(fds[1]);
        for (int i = 0; i < n; i++)
                assert_int_equal(read(fds[0], &members[i], sizeof(pid_t)), sizeof(pid_t));
        close(fds[0]);
        assert_int_equal(waitpid(leader, NULL, 0), leader);
        return leader;
}

static bool contains(const pid_t *pids, int n, pid_t p)
{
        for (int i = 0; i < n; i++)
                if (pids[i] == p)
                        return true;
        return false;
}

static void test_find_group(void **state)
{
        pid_t members[2], found[SERVICE_WATCH_PIDS_MAX];
        pid_t group = spawn_group(2, members);
        int n;

        /* The members are orphans now: their parent (init or a subreaper) reaps them. */
        n = service_watch_find_group("/proc", group, found, ELEMENTSOF(found));
        assert_int_equal(n, 2);
        assert_true(contains(found, n, members[0]));
        assert_true(contains(found, n, members[1]));
        assert_int_equal(service_watch_find_group("/proc", group, found, 1), 1);

        assert_int_equal(kill(members[0], SIGKILL), 0);
        for (int i = 0; i < 500; i++) {
                n = service_watch_find_group("/proc", group, found, ELEMENTSOF(found));
                if (n == 1)
                        break;
                usleep(10000);
        }
        assert_int_equal(n, 1); /* dead or a zombie: either way not counted */
        assert_int_equal(found[0], members[1]);
        assert_int_equal(kill(members[1], SIGKILL), 0);

        /* Not our own group, nor an unknown one. */
        n = service_watch_find_group("/proc", 999999999, found, ELEMENTSOF(found));
        assert_int_equal(n, 0);
        assert_true(service_watch_find_group("/nonexistent", group, found, 4) < 0);
}

static void test_state_is_death(void **state)
{
        assert_true(service_watch_state_is_death("failed"));
        assert_true(service_watch_state_is_death("inactive"));
        assert_true(service_watch_state_is_death("deactivating"));
        assert_false(service_watch_state_is_death("active"));
        assert_false(service_watch_state_is_death("reloading"));
        assert_false(service_watch_state_is_death("activating"));
        assert_false(service_watch_state_is_death(NULL));
}

static void test_new_free(void **state)
{
        ServiceWatch *w = NULL;
        sd_event *e = NULL;

        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(service_watch_new(e, NULL, NULL, &w), -EINVAL);
        assert_null(service_watch_free(NULL));
        service_watch_disarm(NULL);
        assert_int_equal(service_watch_arm(NULL, NULL), 0);
        sd_event_unref(e);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_find_group),
            cmocka_unit_test(test_state_is_death),
            cmocka_unit_test(test_new_free),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
