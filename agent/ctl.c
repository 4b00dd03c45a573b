/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* vacataire-ctl: asks the local agent over its control socket. */
#include <fcntl.h>
#include <getopt.h>
#include <libconfig.h>
#include <math.h>
#include <sys/stat.h>

#include "control.h"
#include "util.h"

#define DEFAULT_CONTROL_SOCKET "/run/vacataire/control.sock"

/* Exit codes: 0 done, 1 the agent refused, 2 no usable answer, 64 usage (EX_USAGE), 78 the
 * configuration file (EX_CONFIG). */
enum {
        EXIT_REFUSED = 1,
        EXIT_NO_ANSWER = 2,
        EXIT_USAGE = 64,
        EXIT_CONFIG = 78,
};

/* health: the monitoring-plugins convention. */
enum {
        HEALTH_OK = 0,
        HEALTH_WARNING = 1,
        HEALTH_CRITICAL = 2,
        HEALTH_UNKNOWN = 3,
};

typedef struct Command {
        const char *name;
        bool takes_json;
        double default_timeout; /* seconds */
        bool takes_on_off;
} Command;

/* quiesce and takeover answer only once the handover has finished. */
static const Command commands[] = {
    {"status", true, 5},     {"checks", true, 5},      {"reload", false, 30},
    {"quiesce", false, 300}, {"takeover", false, 300}, {"clear", false, 5},
    {"history", true, 5},    {"health", false, 10},    {"maintenance", false, 10, true},
};

static void usage(FILE *f)
{
        fputs("Usage: vacataire-ctl [-c FILE | -s PATH] [--timeout SECONDS] COMMAND\n", f);
}

static int usage_error(const char *fmt, const char *arg)
{
        fputs("vacataire-ctl: ", stderr);
        fprintf(stderr, fmt, arg);
        fputc('\n', stderr);
        usage(stderr);
        return EXIT_USAGE;
}

static void help(void)
{
        usage(stdout);
        fputs("\nAsks the local vacataire agent over its control socket.\n\n"
              "Commands:\n"
              "  status [--json]   role, state, peer, checks and services\n"
              "  checks [--json]   every check and its last result\n"
              "  quiesce           hand the services to the peer (waits for the handover)\n"
              "  takeover          planned switchover to this node (waits for the handover)\n"
              "  clear             forget this node's fault, handed-over and failed-over marks\n"
              "  reload            reread the configuration\n"
              "  maintenance on|off  on both nodes: start, stop and hand over nothing\n"
              "  history [--json]  the last state changes and their causes\n"
              "  health            one line for monitoring; exit 0 ok, 1 warning, 2 critical,\n"
              "                    3 unknown (agent unreachable)\n\n"
              "Options:\n"
              "  -c, --config FILE     read control_socket from FILE "
              "(default " VACATAIRE_DEFAULT_CONFIG ")\n"
              "  -s, --socket PATH     control socket (default " DEFAULT_CONTROL_SOCKET ")\n"
              "      --timeout SECONDS how long to wait for the answer (default 5, 30 for\n"
              "                        reload, 300 for quiesce and takeover)\n"
              "  -h, --help            this help\n"
              "      --version         the version\n\n"
              "Exit status: 0 done, 1 the agent refused, 2 no answer, 64 usage error,\n"
              "78 configuration file error.\n",
              stdout);
}

/* Refuses what is not a regular file without blocking on a fifo: libconfig would hang on the
 * one and exit the process on a directory. */
static int open_config_file(const char *file, FILE **ret)
{
        _cleanup_close_ int fd = -1;
        struct stat st;
        int r;

        fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        r = fd_set_nonblock(fd, false);
        if (r < 0)
                return r;
        *ret = fdopen(fd, "r");
        if (!*ret)
                return -errno;
        TAKE_FD(fd);
        return 0;
}

/* Reads only control_socket from a configuration file; the agent validates the rest. */
static int socket_from_config(const char *file, char **ret)
{
        _cleanup_free_ char *dir = NULL;
        const config_setting_t *setting;
        const char *value;
        config_t cfg;
        FILE *f;
        int r = 0;

        r = open_config_file(file, &f);
        if (r < 0) {
                fprintf(stderr, "vacataire-ctl: cannot read %s: %s\n", file,
                        r == -EINVAL ? "not a regular file" : strerror(-r));
                return r;
        }
        /* Relative @include paths resolve beside the file, as for the agent. */
        dir = strdup(file);
        if (!dir) {
                fclose(f);
                return -ENOMEM;
        }
        char *slash = strrchr(dir, '/');
        if (slash)
                slash[slash == dir ? 1 : 0] = 0;

        config_init(&cfg);
        if (slash)
                config_set_include_dir(&cfg, dir);
        if (config_read(&cfg, f) != CONFIG_TRUE) {
                fprintf(stderr, "vacataire-ctl: %s:%d: %s\n", config_error_file(&cfg) ?: file,
                        config_error_line(&cfg), config_error_text(&cfg));
                r = -EINVAL;
                goto out;
        }
        setting = config_lookup(&cfg, "control_socket");
        if (!setting) {
                *ret = strdup(DEFAULT_CONTROL_SOCKET);
                r = *ret ? 0 : -ENOMEM;
                goto out;
        }
        value = config_setting_get_string(setting);
        if (!value || !*value) {
                fprintf(stderr, "vacataire-ctl: %s:%d: control_socket must be a non-empty string\n",
                        file, config_setting_source_line(setting));
                r = -EINVAL;
                goto out;
        }
        *ret = strdup(value);
        r = *ret ? 0 : -ENOMEM;
out:
        config_destroy(&cfg);
        fclose(f);
        return r;
}

static int health_exit_code(const char *body)
{
        static const struct {
                const char *word;
                int code;
        } levels[] = {
            {"VACATAIRE OK ", HEALTH_OK},
            {"VACATAIRE WARNING ", HEALTH_WARNING},
            {"VACATAIRE CRITICAL ", HEALTH_CRITICAL},
        };

        fputs(body, stdout);
        if (fflush(stdout) != 0)
                return HEALTH_UNKNOWN;
        for (size_t i = 0; i < ELEMENTSOF(levels); i++)
                if (strncmp(body, levels[i].word, strlen(levels[i].word)) == 0)
                        return levels[i].code;
        return HEALTH_UNKNOWN;
}

static const Command *find_command(const char *name)
{
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                if (streq(commands[i].name, name))
                        return &commands[i];
        return NULL;
}

static bool parse_timeout(const char *s, double *ret)
{
        char *end;
        double v;

        errno = 0;
        v = strtod(s, &end);
        if (errno || end == s || *end || !isfinite(v) || v <= 0 || v > 365.0 * 24 * 3600)
                return false;
        *ret = v;
        return true;
}

static int report_failure(const char *path, int r, double timeout)
{
        switch (r) {
        case -ETIMEDOUT:
                fprintf(stderr, "vacataire-ctl: %s: no answer within %g s\n", path, timeout);
                break;
        case -ENOENT:
        case -ECONNREFUSED:
                fprintf(stderr, "vacataire-ctl: cannot connect to %s: %s (is vacataire running?)\n",
                        path, strerror(-r));
                break;
        case -EACCES:
        case -EPERM:
                fprintf(stderr,
                        "vacataire-ctl: cannot connect to %s: %s (vacataire-ctl must run as "
                        "root)\n",
                        path, strerror(-r));
                break;
        case -ECONNRESET:
        case -EPIPE:
                fprintf(stderr, "vacataire-ctl: %s: connection closed without an answer\n", path);
                break;
        case -EBADMSG:
                fprintf(stderr, "vacataire-ctl: %s: malformed answer\n", path);
                break;
        default:
                fprintf(stderr, "vacataire-ctl: cannot connect to %s: %s\n", path, strerror(-r));
        }
        return EXIT_NO_ANSWER;
}

int main(int argc, char *argv[])
{
        enum { ARG_TIMEOUT = 0x100, ARG_VERSION };
        static const struct option options[] = {
            {"config", required_argument, NULL, 'c'},
            {"socket", required_argument, NULL, 's'},
            {"timeout", required_argument, NULL, ARG_TIMEOUT},
            {"help", no_argument, NULL, 'h'},
            {"version", no_argument, NULL, ARG_VERSION},
            {},
        };
        _cleanup_free_ char *path = NULL, *body = NULL;
        const char *config_file = NULL, *socket_path = NULL, *argument = NULL;
        bool health = false;
        const Command *command;
        bool json = false, ok = false;
        double timeout = 0;
        size_t len;
        int c, r;

        /* '+': options stop at the command, whose own options ("--json") follow it. */
        while ((c = getopt_long(argc, argv, "+c:s:h", options, NULL)) >= 0) {
                switch (c) {
                case 'c':
                        config_file = optarg;
                        break;
                case 's':
                        socket_path = optarg;
                        break;
                case ARG_TIMEOUT:
                        if (!parse_timeout(optarg, &timeout))
                                return usage_error("invalid timeout '%s': seconds > 0 expected",
                                                   optarg);
                        break;
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("vacataire-ctl %s\n", VACATAIRE_VERSION);
                        return 0;
                default:
                        usage(stderr);
                        return EXIT_USAGE;
                }
        }
        if (config_file && socket_path)
                return usage_error("%s", "-c and -s are mutually exclusive");
        if (optind >= argc)
                return usage_error("%s", "missing command");
        command = find_command(argv[optind]);
        if (!command)
                return usage_error("unknown command '%s'", argv[optind]);
        for (int i = optind + 1; i < argc; i++) {
                if (command->takes_json && streq(argv[i], "--json") && !json)
                        json = true;
                else if (command->takes_on_off && !argument &&
                         (streq(argv[i], "on") || streq(argv[i], "off")))
                        argument = argv[i];
                else
                        return usage_error("unexpected argument '%s'", argv[i]);
        }
        if (command->takes_on_off && !argument)
                return usage_error("%s needs 'on' or 'off'", command->name);
        if (json)
                argument = "json";
        health = streq(command->name, "health");
        if (timeout == 0)
                timeout = command->default_timeout;

        if (socket_path)
                path = strdup(socket_path);
        else if (config_file) {
                r = socket_from_config(config_file, &path);
                if (r < 0)
                        return health ? HEALTH_UNKNOWN : r == -ENOMEM ? EXIT_FAILURE : EXIT_CONFIG;
        } else if (access(VACATAIRE_DEFAULT_CONFIG, F_OK) == 0) {
                r = socket_from_config(VACATAIRE_DEFAULT_CONFIG, &path);
                if (r < 0)
                        return r == -ENOMEM ? EXIT_FAILURE : EXIT_CONFIG;
        } else
                path = strdup(DEFAULT_CONTROL_SOCKET);
        if (!path) {
                fputs("vacataire-ctl: out of memory\n", stderr);
                return EXIT_FAILURE;
        }

        r = control_call(path, command->name, argument, usec_from_seconds(timeout), &ok, &body);
        if (health && (r < 0 || !ok)) {
                /* A monitoring system reads stdout and the exit code. */
                printf("VACATAIRE UNKNOWN - agent unreachable: %s\n", r < 0 ? strerror(-r) : body);
                return HEALTH_UNKNOWN;
        }
        if (r < 0)
                return report_failure(path, r, timeout);
        if (!ok) {
                fprintf(stderr, "vacataire-ctl: %s\n", body);
                return EXIT_REFUSED;
        }
        if (health)
                return health_exit_code(body);
        len = strlen(body);
        fputs(body, stdout);
        if (len > 0 && body[len - 1] != '\n')
                fputc('\n', stdout);
        if (fflush(stdout) != 0 || ferror(stdout)) {
                fprintf(stderr, "vacataire-ctl: cannot write the answer: %s\n", strerror(errno));
                return EXIT_FAILURE;
        }
        return 0;
}
