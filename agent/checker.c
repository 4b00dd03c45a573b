/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "checker.h"

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "check.h"
#include "vacataire-plugin.h"

/* Between fork() and exec() only async-signal-safe calls: the daemon may be anywhere in malloc. */
static _Noreturn void checker_exec(const char *path, char *const argv[], int fd, pid_t parent)
{
        struct sigaction sa = {.sa_handler = SIG_DFL};
        struct checker_configured failed = {.type = CHECKER_MSG_EXEC_FAILED};
        sigset_t none;

        /* The daemon blocks SIGCHLD, SIGTERM, ... for sd-event and ignores SIGPIPE: exec keeps
         * both, and a plugin deserves the defaults. */
        sigemptyset(&none);
        (void)sigprocmask(SIG_SETMASK, &none, NULL);
        for (int sig = 1; sig < _NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        (void)sigaction(sig, &sa, NULL);

        /* A group of its own, so that whatever the plugin forks is killed with it (kill(-pid)).
         * The parent sets it too: whichever runs first, the group exists before any kill. */
        (void)setpgid(0, 0);
        /* Die with the daemon; if it already died, our parent is no longer the one we know.
         * vacataire-checker replaces SIGKILL with SIGTERM once it has a handler that takes
         * the plugin's children along. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                _exit(127);

        if (fd == CHECKER_FD) {
                if (fcntl(fd, F_SETFD, 0) < 0)
                        _exit(127);
        } else if (dup2(fd, CHECKER_FD) < 0)
                _exit(127);
        if (close_range(CHECKER_FD + 1, ~0U, 0) < 0)
                for (int i = CHECKER_FD + 1; i < 4096; i++)
                        (void)close(i);

        execv(path, argv);
        failed.error = -errno;
        (void)send(CHECKER_FD, &failed, sizeof(failed), MSG_NOSIGNAL);
        _exit(127);
}

int checker_spawn(const char *checker_path, const ConfigCheck *cfg, pid_t *ret_pid, int *ret_fd)
{
        char limit[32];
        char *argv[] = {(char *)"vacataire-checker",
                        (char *)"--serve",
                        cfg->name,
                        (char *)"--memory-limit",
                        limit,
                        NULL};
        _cleanup_close_ int ours = -1, theirs = -1;
        pid_t parent = getpid(), pid;
        int pair[2], r;

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
                return -errno;
        ours = pair[0];
        theirs = pair[1];
        /* Only our end: O_NONBLOCK lives in the open file description, the checker blocks. */
        r = fd_set_nonblock(ours, true);
        if (r < 0)
                return r;

        snprintf(limit, sizeof(limit), "%" PRIu64, cfg->memory_limit);
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0)
                checker_exec(checker_path, argv, theirs, parent);
        (void)setpgid(pid, pid);

        *ret_pid = pid;
        *ret_fd = TAKE_FD(ours);
        return 0;
}

static size_t param_size(const ConfigParam *param, bool named)
{
        size_t size = sizeof(struct checker_param);

        if (named)
                size += strlen(param->name) + 1;
        if (param->type == VACATAIRE_PARAM_STRING)
                size += strlen(param->string ? param->string : "") + 1;
        return size;
}

static uint8_t *put_param(uint8_t *p, const ConfigParam *param, bool named)
{
        const char *string =
            param->type == VACATAIRE_PARAM_STRING ? (param->string ? param->string : "") : NULL;
        struct checker_param w = {
            .type = param->type,
            .boolean = param->boolean,
            .integer =
                param->type == VACATAIRE_PARAM_LIST ? (int64_t)param->n_list : param->integer,
            .number = param->number,
            .name_size = named ? (uint32_t)strlen(param->name) + 1 : 0,
            .string_size = string ? (uint32_t)strlen(string) + 1 : 0,
        };

        memcpy(p, &w, sizeof(w));
        p += sizeof(w);
        if (named) {
                memcpy(p, param->name, w.name_size);
                p += w.name_size;
        }
        if (string) {
                memcpy(p, string, w.string_size);
                p += w.string_size;
        }
        return p;
}

int checker_configure_message(const ConfigCheck *cfg, void **ret, size_t *ret_size)
{
        struct checker_configure h = {
            .type = CHECKER_MSG_CONFIGURE,
            .protocol = CHECKER_PROTOCOL_VERSION,
            .timeout = (double)cfg->timeout / (double)USEC_PER_SEC,
            .n_params = (uint32_t)cfg->n_params,
            .path_size = (uint32_t)strlen(cfg->plugin_path) + 1,
        };
        size_t size = sizeof(h) + h.path_size;
        uint8_t *buf, *p;

        for (size_t i = 0; i < cfg->n_params; i++) {
                size += param_size(&cfg->params[i], true);
                for (size_t j = 0; j < cfg->params[i].n_list; j++)
                        size += param_size(&cfg->params[i].list[j], false);
        }
        if (size > CHECKER_CONFIGURE_MAX)
                return -E2BIG;

        buf = p = malloc(size);
        if (!buf)
                return -ENOMEM;
        memcpy(p, &h, sizeof(h));
        p += sizeof(h);
        memcpy(p, cfg->plugin_path, h.path_size);
        p += h.path_size;
        for (size_t i = 0; i < cfg->n_params; i++) {
                p = put_param(p, &cfg->params[i], true);
                for (size_t j = 0; j < cfg->params[i].n_list; j++)
                        p = put_param(p, &cfg->params[i].list[j], false);
        }

        *ret = buf;
        *ret_size = size;
        return 0;
}

void checker_kill(pid_t pid)
{
        if (pid <= 0)
                return;
        /* The group first: the checker, still unreaped at worst a zombie, keeps its pid, so the
         * group id cannot have been reused. Then the pid alone, in case setpgid() failed. */
        (void)kill(-pid, SIGKILL);
        (void)kill(pid, SIGKILL);
}

void checker_describe_exit(int code, int status, char *buf, size_t size)
{
        if (code == CLD_KILLED || code == CLD_DUMPED)
                snprintf(buf, size, "plugin crashed: signal %d (%s)", status, strsignal(status));
        else if (status == CHECKER_EXIT_MEMORY_LIMIT)
                snprintf(buf, size, "plugin exceeded memory_limit");
        else
                snprintf(buf, size, "checker exited with status %d", status);
}

void checker_format_seconds(usec_t t, char *buf, size_t size)
{
        snprintf(buf, size, "%g", (double)t / (double)USEC_PER_SEC);
}

int check_find_checker(char **ret)
{
        char exe[PATH_MAX], *slash, *path;
        ssize_t n;

        n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (n > 0) {
                exe[n] = 0;
                slash = strrchr(exe, '/');
                if (slash) {
                        *slash = 0;
                        path = strdup_printf("%s/vacataire-checker", exe);
                        if (!path)
                                return -ENOMEM;
                        if (access(path, X_OK) == 0) {
                                *ret = path;
                                return 0;
                        }
                        free(path);
                }
        }
        if (access(VACATAIRE_LIBEXEC_DIR "/vacataire-checker", X_OK) == 0) {
                *ret = strdup(VACATAIRE_LIBEXEC_DIR "/vacataire-checker");
                return *ret ? 0 : -ENOMEM;
        }
        return -ENOENT;
}
