/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * exec: runs a command, typically one of the monitoring-plugins (check_http, check_procs, ...),
 * and maps its exit status as they define it: 0 ok, 1 warning, 2 critical, 3 unknown. The first
 * line of its output is the message, with the perfdata after '|' kept apart by the checker.
 *
 * The command is an argv list, run without a shell. It gets its own process group, /dev/null as
 * stdin and nothing of the checker but the environment. Whatever it does, a run ends in time and
 * leaves nothing behind: at the deadline, or as soon as the command itself has exited, its whole
 * process group is killed; output past a few KiB is read and dropped, so a flood neither blocks
 * it nor us. If the checker itself dies mid-run (the daemon kills a late one, or stops), a guard
 * process, told by PR_SET_PDEATHSIG, kills the group in its place.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vacataire-plugin.h"

#define STDOUT_KEEP 8192 /* bytes of stdout kept; the rest is read and dropped */
#define STDERR_KEEP 1024
#define READ_BUDGET (256 * 1024) /* per wakeup: a flood cannot hold the loop past its deadline */
/* The daemon kills the checker when the check's timeout is over. The command must be killed
 * before that, by us, or its process group would outlive the checker. */
#define MARGIN_MAX_NS 100000000LL /* 0.1 s */

struct exec {
        char **argv;
        bool warning_fails;
        double timeout;
        int64_t deadline_ns; /* relative: how long a run may take */
};

struct output {
        int fd;
        char *buf;
        size_t keep, n;
};

static void exec_free(void *userdata)
{
        struct exec *e = userdata;

        if (!e)
                return;
        vacataire_strv_free(e->argv);
        free(e);
}

static int64_t now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Between fork() and exec(): only async-signal-safe calls. */
static _Noreturn void child(const struct exec *e, int out, int err)
{
        struct sigaction sa = {.sa_handler = SIG_DFL};
        sigset_t none;
        int null;

        (void)setpgid(0, 0);
        /* If the checker is killed, the command goes too (its children are the group's). */
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
        sigemptyset(&none);
        (void)sigprocmask(SIG_SETMASK, &none, NULL);
        for (int sig = 1; sig < NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        (void)sigaction(sig, &sa, NULL);

        null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0 ||
            dup2(err, STDERR_FILENO) < 0)
                _exit(126);
        /* The checker's socket (fd 3) and anything else: not the command's business. */
        if (syscall(SYS_close_range, 3U, ~0U, 0U) < 0)
                for (int fd = 3; fd < 4096; fd++)
                        (void)close(fd);

        execvp(e->argv[0], e->argv);
        {
                /* Said on stderr: the run reports it when stdout is empty. The checker has one
                 * thread, so strerror() is safe here. */
                const char *why = strerror(errno);
                (void)!write(STDERR_FILENO, "cannot execute ", 15);
                (void)!write(STDERR_FILENO, e->argv[0], strlen(e->argv[0]));
                (void)!write(STDERR_FILENO, ": ", 2);
                (void)!write(STDERR_FILENO, why, strlen(why));
                (void)!write(STDERR_FILENO, "\n", 1);
        }
        _exit(errno == ENOENT ? 127 : 126);
}

static volatile pid_t guard_group;

static void guard_fire(int sig)
{
        (void)sig;
        (void)kill(-guard_group, SIGKILL);
        _exit(0);
}

/* The guard: a fork of the checker, in the command's group, that only waits for the checker to
 * die (PR_SET_PDEATHSIG) and then kills the group, itself included. The checker kills it when
 * the run is over. */
static _Noreturn void guard(pid_t group, pid_t checker)
{
        struct sigaction sa = {.sa_handler = guard_fire};
        sigset_t only_term;

        guard_group = group;
        (void)sigaction(SIGTERM, &sa, NULL);
        sigemptyset(&only_term);
        (void)sigprocmask(SIG_SETMASK, &only_term, NULL);
        /* The checker's socket and pipes are not ours to hold open. */
        if (syscall(SYS_close_range, 3U, ~0U, 0U) < 0)
                for (int fd = 3; fd < 4096; fd++)
                        (void)close(fd);
        (void)setpgid(0, group);
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != checker)
                guard_fire(0);
        for (;;)
                pause();
}

/* Reads what is there, up to budget bytes, so that a writer as fast as we are cannot keep us
 * here; keeps the first `keep` bytes, drops the rest. Returns false at EOF or on an error, when
 * the fd is done. */
static bool output_read(struct output *o, size_t budget)
{
        char scratch[4096];

        for (size_t total = 0; total < budget;) {
                char *into = o->n < o->keep ? o->buf + o->n : scratch;
                size_t room = o->n < o->keep ? o->keep - o->n : sizeof(scratch);
                ssize_t k = read(o->fd, into, room);

                if (k > 0) {
                        if (into != scratch)
                                o->n += (size_t)k;
                        total += (size_t)k;
                        continue;
                }
                if (k < 0 && errno == EINTR)
                        continue;
                return k < 0 && errno == EAGAIN;
        }
        return true;
}

/* The first line that has something on it, without its newline. */
static const char *first_line(char *buf, size_t n)
{
        char *s = buf, *end;

        buf[n] = 0;
        while (*s == '\n' || *s == '\r' || *s == ' ')
                s++;
        end = strchr(s, '\n');
        if (end)
                *end = 0;
        end = s + strlen(s);
        while (end > s && (end[-1] == '\r' || end[-1] == ' '))
                *--end = 0;
        return s;
}

static int pidfd_open_(pid_t pid)
{
        return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Polls the command's output and exit until it has exited or the deadline; then kills its whole
 * process group (the leader is not reaped yet, so the group id cannot have been reused), reads
 * what is left and reaps it. Returns true if it exited by itself. */
static bool supervise(pid_t pid, int pidfd, struct output *out, struct output *err,
                      int64_t deadline, siginfo_t *si)
{
        bool exited = false;

        while (!exited) {
                struct pollfd p[3] = {
                    {.fd = pidfd, .events = POLLIN},
                    {.fd = out->fd, .events = POLLIN},
                    {.fd = err->fd, .events = POLLIN},
                };
                int64_t left = deadline - now_ns();
                int r;

                if (left <= 0)
                        break;
                r = poll(p, 3, (int)((left + 999999) / 1000000));
                if (r < 0 && errno != EINTR)
                        break;
                if (r <= 0)
                        continue;
                if (p[1].revents && !output_read(out, READ_BUDGET)) {
                        close(out->fd);
                        out->fd = -1;
                }
                if (p[2].revents && !output_read(err, READ_BUDGET)) {
                        close(err->fd);
                        err->fd = -1;
                }
                if (p[0].revents) {
                        siginfo_t probe = {0};
                        exited =
                            waitid(P_PID, (id_t)pid, &probe, WEXITED | WNOHANG | WNOWAIT) == 0 &&
                            probe.si_pid == pid;
                }
        }

        (void)kill(-pid, SIGKILL);
        (void)kill(pid, SIGKILL);
        /* With the group gone, what it wrote is in the pipes and nothing writes more. */
        if (out->fd >= 0)
                (void)output_read(out, READ_BUDGET);
        if (err->fd >= 0)
                (void)output_read(err, READ_BUDGET);
        memset(si, 0, sizeof(*si));
        while (waitid(P_PID, (id_t)pid, si, WEXITED) < 0 && errno == EINTR)
                ;
        return exited;
}

static void stop_guard(pid_t pid)
{
        if (pid <= 0)
                return;
        (void)kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
}

static int map_status(const struct exec *e, const siginfo_t *si, const char *line, char *msg,
                      size_t msg_size)
{
        if (si->si_code == CLD_EXITED) {
                switch (si->si_status) {
                case 0:
                        snprintf(msg, msg_size, "%s", line[0] ? line : "OK (no output)");
                        return VACATAIRE_OK;
                case 1:
                        snprintf(msg, msg_size, "%s", line[0] ? line : "WARNING (no output)");
                        return e->warning_fails ? VACATAIRE_CRITICAL : VACATAIRE_WARNING;
                case 2:
                        snprintf(msg, msg_size, "%s", line[0] ? line : "CRITICAL (no output)");
                        return VACATAIRE_CRITICAL;
                case 3:
                        snprintf(msg, msg_size, "%s", line[0] ? line : "UNKNOWN (no output)");
                        return VACATAIRE_UNKNOWN;
                default:
                        snprintf(msg, msg_size, "exited with status %d (not 0-3)%s%s",
                                 si->si_status, line[0] ? ": " : "", line);
                        return VACATAIRE_UNKNOWN;
                }
        }
        snprintf(msg, msg_size, "killed by signal %d (%s)%s%s", si->si_status,
                 strsignal(si->si_status), line[0] ? ": " : "", line);
        return VACATAIRE_CRITICAL;
}

static int exec_run(void *userdata, char *msg, size_t msg_size)
{
        struct exec *e = userdata;
        char out_buf[STDOUT_KEEP + 1], err_buf[STDERR_KEEP + 1];
        struct output out = {-1, out_buf, STDOUT_KEEP, 0}, err = {-1, err_buf, STDERR_KEEP, 0};
        int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1}, pidfd = -1;
        int64_t deadline = now_ns() + e->deadline_ns;
        const char *line;
        siginfo_t si;
        bool exited;
        pid_t pid, guard_pid, checker = getpid();

        if (pipe2(out_pipe, O_CLOEXEC) < 0 || pipe2(err_pipe, O_CLOEXEC) < 0) {
                snprintf(msg, msg_size, "cannot create a pipe: %s", strerror(errno));
                goto fail;
        }
        pid = fork();
        if (pid < 0) {
                snprintf(msg, msg_size, "cannot fork: %s", strerror(errno));
                goto fail;
        }
        if (pid == 0)
                child(e, out_pipe[1], err_pipe[1]);
        /* Both sides set the group, so it exists before we might kill it. */
        (void)setpgid(pid, pid);
        close(out_pipe[1]);
        close(err_pipe[1]);
        out.fd = out_pipe[0];
        err.fd = err_pipe[0];
        (void)fcntl(out.fd, F_SETFL, O_NONBLOCK);
        (void)fcntl(err.fd, F_SETFL, O_NONBLOCK);
        guard_pid = fork();
        if (guard_pid == 0)
                guard(pid, checker);

        pidfd = pidfd_open_(pid);
        if (pidfd < 0) {
                snprintf(msg, msg_size, "cannot watch the command: %s", strerror(errno));
                (void)kill(-pid, SIGKILL);
                (void)kill(pid, SIGKILL);
                (void)waitpid(pid, NULL, 0);
                stop_guard(guard_pid);
                goto fail_read_ends;
        }
        exited = supervise(pid, pidfd, &out, &err, deadline, &si);
        close(pidfd);
        stop_guard(guard_pid);
        if (out.fd >= 0)
                close(out.fd);
        if (err.fd >= 0)
                close(err.fd);

        if (!exited) {
                line = first_line(out.buf, out.n);
                snprintf(msg, msg_size, "timed out after %.3g s, command killed%s%s",
                         (double)e->deadline_ns / 1e9, line[0] ? ": " : "", line);
                return VACATAIRE_UNKNOWN;
        }
        line = first_line(out.buf, out.n);
        if (!line[0])
                line = first_line(err.buf, err.n);
        return map_status(e, &si, line, msg, msg_size);

fail_read_ends:
        close(out_pipe[0]);
        close(err_pipe[0]);
        return VACATAIRE_UNKNOWN;
fail:
        for (int i = 0; i < 2; i++) {
                if (out_pipe[i] >= 0)
                        close(out_pipe[i]);
                if (err_pipe[i] >= 0)
                        close(err_pipe[i]);
        }
        return VACATAIRE_UNKNOWN;
}

static int exec_configure_into(struct exec *e, const struct vacataire_params *params,
                               double timeout, char *err, size_t err_size)
{
        static const char *const known[] = {"command", "warning", NULL};
        static const char *const warnings[] = {"pass", "fail", NULL};
        const char *unknown;
        size_t n = 0;
        int warning = 0, r;
        int64_t margin;

        unknown = vacataire_params_unknown(params, known);
        if (unknown) {
                snprintf(err, err_size, "params.%s: unknown parameter (known: command, warning)",
                         unknown);
                return -EINVAL;
        }
        r = vacataire_param_string_list(params, "command", 0, &e->argv, &n, err, err_size);
        if (r < 0)
                return r;
        if (r == 0 || n == 0) {
                snprintf(err, err_size,
                         "params.command: missing (a list: [ \"/path/to/check\", "
                         "\"arg\", ... ])");
                return -EINVAL;
        }
        /* A path is checked now, so that `vacataire -t` sees a typo; a bare name is looked up
         * in PATH when it runs. */
        if (strchr(e->argv[0], '/') && access(e->argv[0], X_OK) < 0) {
                snprintf(err, err_size, "params.command: cannot execute %s: %s", e->argv[0],
                         strerror(errno));
                return -EINVAL;
        }
        r = vacataire_param_choice(params, "warning", warnings, &warning, err, err_size);
        if (r < 0)
                return r;
        e->warning_fails = warning == 1;

        if (!(timeout > 0.0)) {
                snprintf(err, err_size, "timeout: must be > 0 seconds");
                return -EINVAL;
        }
        e->timeout = timeout < 86400.0 ? timeout : 86400.0;
        e->deadline_ns = (int64_t)(e->timeout * 1e9);
        margin = e->deadline_ns / 10 < MARGIN_MAX_NS ? e->deadline_ns / 10 : MARGIN_MAX_NS;
        e->deadline_ns -= margin;
        return 0;
}

static int exec_configure(const struct vacataire_params *params, double timeout, void **state,
                          char *err, size_t err_size)
{
        struct exec *e = calloc(1, sizeof(*e));
        int r;

        if (!e) {
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }
        r = exec_configure_into(e, params, timeout, err, err_size);
        if (r < 0) {
                exec_free(e);
                return r;
        }
        *state = e;
        return 0;
}

VACATAIRE_PLUGIN_DEFINE("exec", "a command with monitoring-plugins exit codes (0 ok .. 3 unknown)",
                        exec_configure, exec_run, exec_free);
