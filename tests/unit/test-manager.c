/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The manager's dispatch, in process: a real manager started from a real configuration (a key,
 * a state directory, a control socket, a command service whose scripts touch and remove a file,
 * a peer that never answers), on the default event loop. What is checked is manager.c's own part:
 * events raised while one is handled wait in the queue and run after it, in order, never nested,
 * and a full queue drops the newest; and the role machine's actions are carried out (the services
 * started for real, the state saved). Handovers need a peer: the integration tests have two. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <signal.h>
#include <sys/stat.h>

#include "log.h"
#include "manager.h"
#include "free-port.h"

#define MSEC(x) ((usec_t)(x)*USEC_PER_MSEC)

typedef struct Fixture {
        char dir[64];
        char path[128];
        Manager *m;
} Fixture;

static void write_file(const Fixture *f, const char *name, mode_t mode, const char *text)
{
        _cleanup_free_ char *path = strdup_printf("%s/%s", f->dir, name);
        FILE *file;

        assert_non_null(path);
        file = fopen(path, "we");
        assert_non_null(file);
        assert_true(fputs(text, file) >= 0);
        assert_int_equal(fclose(file), 0);
        assert_int_equal(chmod(path, mode), 0);
}

static bool file_exists(const Fixture *f, const char *name)
{
        _cleanup_free_ char *path = strdup_printf("%s/%s", f->dir, name);

        return access(path, F_OK) == 0;
}

/* A node "a" whose peer "b" never answers; init_dead as given. */
static void fixture_config(Fixture *f, const char *init_dead)
{
        _cleanup_free_ char *conf = NULL, *start = NULL, *stop = NULL, *status = NULL,
                            *state_dir = NULL;

        start = strdup_printf("#!/bin/sh\ntouch '%s/running'\n", f->dir);
        stop = strdup_printf("#!/bin/sh\nrm -f '%s/running'\n", f->dir);
        status = strdup_printf("#!/bin/sh\ntest -e '%s/running'\n", f->dir);
        write_file(f, "start", 0700, start);
        write_file(f, "stop", 0700, stop);
        write_file(f, "status", 0700, status);
        write_file(f, "peer.key", 0600,
                   "c2VjcmV0LWtleS1mb3ItdGhlLW1hbmFnZXItdW5pdC10ZXN0LTAxMjM0NTY3\n");
        state_dir = strdup_printf("%s/state", f->dir);
        assert_int_equal(mkdir(state_dir, 0700), 0);
        conf = strdup_printf(
            "node = { name = \"a\"; role = \"master\"; listen = \"127.0.0.1:%u\"; };\n"
            "peer = { name = \"b\"; address = \"127.0.0.1:%u\"; };\n"
            "auth = { key_file = \"%s/peer.key\"; };\n"
            "timers = { heartbeat = 0.05; dead_time = 0.3; init_dead = %s; };\n"
            "state_dir = \"%s/state\";\n"
            "control_socket = \"%s/control.sock\";\n"
            "services = ( { name = \"web\"; start = \"%s/start\"; stop = \"%s/stop\";\n"
            "               status = \"%s/status\"; timeout = 5.0; } );\n",
            free_port(), free_port(), f->dir, init_dead, f->dir, f->dir, f->dir, f->dir, f->dir);
        write_file(f, "vacataire.conf", 0600, conf);
}

static void fixture_start(Fixture *f)
{
        ConfigErrors errors = {};
        Config *c = NULL;

        assert_int_equal(config_load(f->path, "/nonexistent", &c, &errors), 0);
        config_errors_done(&errors);
        assert_int_equal(manager_new(c, &f->m), 0);
        config_unref(c);
        assert_int_equal(manager_start(f->m), 0);
}

/* Runs the loop until cond holds (bounded). */
static bool run_until(Fixture *f, bool (*cond)(Fixture *f), usec_t max)
{
        usec_t end = now_usec(CLOCK_MONOTONIC) + max;

        while (!cond(f) && now_usec(CLOCK_MONOTONIC) < end)
                assert_true(sd_event_run(f->m->event, MSEC(20)) >= 0);
        return cond(f);
}

static bool is_started(Fixture *f)
{
        return f->m->started;
}

static bool is_active(Fixture *f)
{
        return f->m->machine.state == ROLE_ACTIVE && file_exists(f, "running");
}

static int setup(void **state)
{
        Fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        snprintf(f->dir, sizeof(f->dir), "/tmp/vc-test-manager-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->path, sizeof(f->path), "%s/vacataire.conf", f->dir);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        Fixture *f = *state;
        _cleanup_free_ char *cmd = strdup_printf("rm -rf '%s'", f->dir);

        manager_free(f->m);
        free(f);
        return system(cmd) == 0 ? 0 : -1;
}

/* Alone, the master starts its services after init_dead, for real, and saves that it serves. */
static void test_start_alone(void **state)
{
        Fixture *f = *state;
        _cleanup_free_ char *state_dir = strdup_printf("%s/state", f->dir);
        _cleanup_free_ char *reason = NULL;
        SavedState saved = {};

        fixture_config(f, "0.2");
        fixture_start(f);
        assert_true(run_until(f, is_active, MSEC(5000)));
        assert_int_equal(f->m->machine.epoch, 1);
        assert_string_equal(f->m->last_reason, "services started: active");

        /* The state writer has its last state on disk once the manager is gone. */
        f->m = manager_free(f->m);
        assert_int_equal(state_load(state_dir, &saved, &reason), 0);
        assert_true(saved.active);
        assert_false(saved.handed_over);
        assert_int_equal(saved.epoch, 1);
}

/* Events raised while one is handled wait, run after it in order, and never nest. */
static void test_event_queue(void **state)
{
        Fixture *f = *state;
        Manager *m;

        fixture_config(f, "60");
        fixture_start(f);
        assert_true(run_until(f, is_started, MSEC(5000)));
        m = f->m;
        assert_int_equal(m->machine.state, ROLE_PASSIVE);

        /* As if from inside a handler: queued, not handled. */
        m->dispatching = true;
        manager_dispatch(m, ROLE_EVENT_INIT_DEAD);
        assert_int_equal(m->queue_len, 1);
        assert_int_equal(m->machine.state, ROLE_PASSIVE);

        /* A full queue drops the newest event, and keeps the others. */
        for (unsigned i = 0; i < MANAGER_EVENT_QUEUE_MAX + 5; i++)
                manager_dispatch(m, ROLE_EVENT_CHECKS_CHANGED);
        assert_int_equal(m->queue_len, MANAGER_EVENT_QUEUE_MAX);
        assert_int_equal(m->queue[0].event, ROLE_EVENT_INIT_DEAD);

        /* The event handled now comes first, then the queue in order: the init_dead start
         * happens, once, and the CHECKS_CHANGED behind it change nothing more. */
        m->queue_len = 2;
        m->dispatching = false;
        manager_dispatch(m, ROLE_EVENT_PEER_LOST);
        assert_int_equal(m->queue_len, 0);
        assert_false(m->dispatching);
        assert_int_equal(m->machine.state, ROLE_STARTING);
        assert_int_equal(m->machine.epoch, 1);
        assert_true(service_set_busy(m->services));

        assert_true(run_until(f, is_active, MSEC(5000)));
        assert_int_equal(m->machine.epoch, 1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_start_alone, setup, teardown),
            cmocka_unit_test_setup_teardown(test_event_queue, setup, teardown),
        };
        sigset_t mask;

        /* As main() does before creating the loop. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGUSR1); /* manager-stop.c: exit for a restart */
        sigaddset(&mask, SIGCHLD);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);
        log_setup("test-manager");
        return cmocka_run_group_tests(tests, NULL, NULL);
}
