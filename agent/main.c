/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <getopt.h>
#include <signal.h>
#include <sys/resource.h>

#include "check.h"
#include "config.h"
#include "key.h"
#include "log.h"
#include "manager.h"
#include "vacataire-plugin.h"

/* sysexits' EX_CONFIG: the unit's RestartPreventExitStatus, so systemd does not restart an agent
 * whose configuration or key is wrong in a loop. */
#define EXIT_CONFIG 78

static void help(void)
{
        printf("Usage: vacataire [OPTIONS]\n"
               "Master/standby failover agent.\n\n"
               "  -c, --config FILE   configuration file (default %s)\n"
               "  -t, --test          check the configuration, the key and every check's plugin\n"
               "                      and params, then exit: 0 if valid, 1 with the errors\n"
               "  -d, --debug         log debug messages\n"
               "  -h, --help          show this help\n"
               "      --version       show the version\n",
               VACATAIRE_DEFAULT_CONFIG);
}

static int load_config(const char *path, Config **ret)
{
        ConfigErrors errors = {};
        int r;

        r = config_load(path, VACATAIRE_PLUGIN_DIR, ret, &errors);
        for (size_t i = 0; i < errors.n; i++)
                fprintf(stderr, "%s\n", errors.lines[i]);
        config_errors_done(&errors);
        return r;
}

/* A peer host name that does not exist is a configuration error; a DNS failure that may pass is
 * not (the peer link resolves again at each connect). */
static bool check_peer_host(const Config *c, bool test)
{
        _cleanup_free_ char *message = NULL;
        int r = config_check_peer_host(c, &message);

        if (r == -ENOENT || (r < 0 && !message)) {
                if (test)
                        fprintf(stderr, "%s\n", message ? message : strerror(-r));
                else
                        log_error("%s", message ? message : strerror(-r));
                return false;
        }
        if (r < 0) {
                if (test)
                        fprintf(stderr, "warning: %s\n", message);
                else
                        log_warning("%s", message);
        }
        return true;
}

typedef struct TestRun {
        const char *path;
        Config *config;
        bool ok;
} TestRun;

static void on_test_checks_loaded(CheckLoader *l, int error, void *userdata)
{
        TestRun *t = userdata;

        for (size_t i = 0; i < t->config->n_checks; i++) {
                if (!check_loader_error(l, i))
                        continue;
                fprintf(stderr, "%s:%d: checks[%zu]: %s\n", t->path, t->config->checks[i].line, i,
                        check_loader_error(l, i));
                t->ok = false;
        }
        if (error < 0)
                t->ok = false;
        (void)sd_event_exit(check_loader_event(l), 0);
}

/* -t: everything the daemon would refuse at start, reported at once, nothing started. The checks
 * load exactly as at start-up and on reload, on a private event loop. */
static int test_config(const char *path)
{
        _cleanup_(config_unrefp) Config *c = NULL;
        _cleanup_free_ char *checker = NULL, *key_error = NULL;
        _cleanup_(check_loader_freep) CheckLoader *loader = NULL;
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        TestRun t = {.path = path, .ok = true};
        Key *key = NULL;
        int r;

        if (load_config(path, &c) < 0)
                return 1;
        t.config = c;
        if (!check_peer_host(c, true))
                t.ok = false;
        r = key_load(c->key_file, &key, &key_error);
        if (r < 0) {
                fprintf(stderr, "%s: auth.key_file: %s\n", path,
                        key_error ? key_error : strerror(-r));
                t.ok = false;
        }
        key_free(key);
        if (c->n_checks > 0) {
                r = check_find_checker(&checker);
                if (r < 0) {
                        fprintf(stderr, "cannot find the vacataire-checker helper: %s\n",
                                strerror(-r));
                        return 1;
                }
                r = sd_event_new(&e);
                if (r >= 0)
                        r = check_loader_new(e, c, NULL, checker, MANAGER_RELOAD_TIMEOUT, NULL,
                                             NULL, on_test_checks_loaded, &t, &loader);
                if (r >= 0)
                        r = sd_event_loop(e);
                if (r < 0) {
                        fprintf(stderr, "cannot start the checks: %s\n", strerror(-r));
                        return 1;
                }
        }
        if (!t.ok)
                return 1;
        printf("%s: configuration OK (%zu checks, %zu services)\n", path, c->n_checks,
               c->n_services);
        return 0;
}

int main(int argc, char *argv[])
{
        enum { ARG_VERSION = 0x100 };
        static const struct option options[] = {
            {"config", required_argument, NULL, 'c'},    {"test", no_argument, NULL, 't'},
            {"debug", no_argument, NULL, 'd'},           {"help", no_argument, NULL, 'h'},
            {"version", no_argument, NULL, ARG_VERSION}, {},
        };
        _cleanup_(manager_freep) Manager *m = NULL;
        const char *path = VACATAIRE_DEFAULT_CONFIG;
        bool test = false;
        Config *config = NULL;
        sigset_t mask;
        int c, r;

        while ((c = getopt_long(argc, argv, "c:tdh", options, NULL)) >= 0) {
                switch (c) {
                case 'c':
                        path = optarg;
                        break;
                case 't':
                        test = true;
                        break;
                case 'd':
                        log_set_max_level(LOG_DEBUG);
                        break;
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("vacataire %s (plugin ABI %u)\n", VACATAIRE_VERSION,
                               VACATAIRE_PLUGIN_ABI_VERSION);
                        return 0;
                default:
                        fprintf(stderr, "Try 'vacataire --help'.\n");
                        return 64;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "vacataire: unexpected argument '%s'\n", argv[optind]);
                return 64;
        }

        log_setup("vacataire");

        /* Signals and child exits arrive through the event loop (signalfd, pidfd), so they must
         * be blocked before any thread or child exists; -t watches its checkers the same way. */
        sigemptyset(&mask);
        if (!test) {
                sigaddset(&mask, SIGTERM);
                sigaddset(&mask, SIGINT);
                sigaddset(&mask, SIGHUP);
                sigaddset(&mask, SIGUSR1); /* exit for a restart: manager-stop.c */
        }
        sigaddset(&mask, SIGCHLD);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);
        if (test)
                return test_config(path);

        /* Each check holds a socket to its checker process: a thousand checks pass the default
         * soft limit of 1024 descriptors. */
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                (void)setrlimit(RLIMIT_NOFILE, &rl);
        }

        if (load_config(path, &config) < 0)
                return EXIT_CONFIG;
        if (!check_peer_host(config, false)) {
                config_unref(config);
                return EXIT_CONFIG;
        }
        r = manager_new(config, &m);
        config = config_unref(config); /* the manager holds its own reference */
        if (r < 0) {
                log_error_errno(r, "Failed to create the manager: %m");
                return 1;
        }
        r = manager_start(m);
        if (r == -ENOKEY)
                return EXIT_CONFIG;
        if (r < 0)
                return 1;
        r = manager_run(m);
        if (r < 0) {
                log_error_errno(r, "Event loop failed: %m");
                return 1;
        }
        return r == 0 ? 0 : 1;
}
