/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "command.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

extern char **environ;

/* After a timeout, the group gets SIGTERM and this long (at most) to exit before SIGKILL. */
#define COMMAND_KILL_GRACE_MAX (1 * USEC_PER_SEC)
#define COMMAND_KILL_GRACE_MIN (10 * USEC_PER_MSEC)

struct Command {
        char *shell_command;
        pid_t pid;
        usec_t grace;

        sd_event_source *child_source;
        sd_event_source *timer_source; /* the timeout, then the SIGKILL after the grace */

        CommandDone done;
        void *userdata;

        /* A fire-and-forget command's sources are floating: the loop owns them, and the command
         * is freed when the last of them is destroyed, either after done or when the loop is
         * freed, so nothing leaks if the daemon exits while one runs. */
        bool floating;
        unsigned n_floating_sources;

        int hold_fd; /* our end of the socket pair a held child waits on, or -1 */

        bool exited;
        bool timed_out;
};

static void command_free_memory(Command *c)
{
        if (c->hold_fd >= 0)
                (void)close(c->hold_fd);
        free(c->shell_command);
        free(c);
}

static void command_floating_source_destroyed(void *userdata)
{
        Command *c = userdata;

        if (--c->n_floating_sources == 0)
                command_free_memory(c);
}

/* Signals the whole group; before the child's setsid() the group does not exist yet, so fall
 * back to the shell itself. */
static void command_kill(Command *c, int sig)
{
        if (kill(-c->pid, sig) < 0)
                (void)kill(c->pid, sig);
}

static int command_on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        Command *c = userdata;
        int r;

        if (!c->timed_out) {
                c->timed_out = true;
                command_kill(c, SIGTERM);
                r = sd_event_source_set_time_relative(s, c->grace);
                if (r >= 0)
                        r = sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
                if (r >= 0)
                        return 0;
        }
        command_kill(c, SIGKILL);
        return 0;
}

static int command_on_exit(sd_event_source *s, const siginfo_t *si, void *userdata)
{
        Command *c = userdata;
        CommandDone done = c->done;
        void *done_userdata = c->userdata;
        int status;

        c->exited = true;
        if (c->timed_out) {
                /* The shell is still a zombie here (sd-event reaps it after this callback), so its
                 * pid cannot have been reused as a group id: leftovers of the group die too. */
                command_kill(c, SIGKILL);
                status = -ETIME;
        } else if (si->si_code == CLD_EXITED)
                status = si->si_status;
        else
                status = -si->si_status;

        if (c->floating) {
                sd_event_source *child = TAKE_PTR(c->child_source);

                /* Destroying the timer now and the child source (being dispatched) after this
                 * callback returns frees the command then. */
                (void)sd_event_source_disable_unref(TAKE_PTR(c->timer_source));
                if (done)
                        done(c, status, done_userdata);
                (void)sd_event_source_disable_unref(child);
                return 0;
        }

        c->timer_source = sd_event_source_disable_unref(c->timer_source);
        if (done)
                done(c, status, done_userdata); /* may free c */
        return 0;
}

/* The environment for the child, built before fork(): pointers into environ and extra_env,
 * with entries of environ whose name extra_env redefines left out. */
static char **command_build_env(char *const *extra_env)
{
        size_t n_environ = 0, n_extra = 0, n = 0;
        char **env;

        while (environ && environ[n_environ])
                n_environ++;
        while (extra_env && extra_env[n_extra])
                n_extra++;

        env = calloc(n_environ + n_extra + 1, sizeof(char *));
        if (!env)
                return NULL;

        for (size_t i = 0; i < n_environ; i++) {
                const char *eq = strchr(environ[i], '=');
                size_t len = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
                bool overridden = false;

                for (size_t j = 0; j < n_extra && !overridden; j++)
                        overridden =
                            strncmp(extra_env[j], environ[i], len) == 0 && extra_env[j][len] == '=';
                if (!overridden)
                        env[n++] = environ[i];
        }
        for (size_t j = 0; j < n_extra; j++)
                env[n++] = extra_env[j];
        return env;
}

/* Blocks until the parent sends the go-ahead byte; end of file means the command was freed. */
static void command_wait_release(int hold_read_fd, int hold_write_fd)
{
        ssize_t n;
        char go;

        (void)close(hold_write_fd);
        do
                n = read(hold_read_fd, &go, 1);
        while (n < 0 && errno == EINTR);
        if (n != 1)
                _exit(127);
}

/* Runs in the forked child: only async-signal-safe calls until execve. hold_fds: the pipe of a
 * held command (its end, ours), or {-1, -1}. */
static _Noreturn void command_exec_child(char *const argv[], char *const envp[], int max_fd,
                                         const int hold_fds[2])
{
        struct sigaction sa = {.sa_handler = SIG_DFL};
        sigset_t none;
        int fd;

        /* Ignored signals (SIGPIPE, say) would stay ignored across execve; blocked ones too. */
        for (int sig = 1; sig < _NSIG; sig++)
                (void)sigaction(sig, &sa, NULL);
        sigemptyset(&none);
        (void)sigprocmask(SIG_SETMASK, &none, NULL);

        /* Own session: a server the command starts outlives a daemon restart, and the whole
         * group can be killed on timeout. */
        (void)setsid();

        /* Held after setsid(), so a timeout's group kill reaches a child still waiting. */
        if (hold_fds[0] >= 0)
                command_wait_release(hold_fds[0], hold_fds[1]);

        fd = open("/dev/null", O_RDONLY | O_NOCTTY);
        if (fd < 0)
                _exit(127);
        if (fd != STDIN_FILENO) {
                if (dup2(fd, STDIN_FILENO) < 0)
                        _exit(127);
                (void)close(fd);
        }

        if (close_range(3, ~0U, 0) < 0)
                for (fd = 3; fd < max_fd; fd++)
                        (void)close(fd);

        execve("/bin/sh", argv, envp);
        _exit(127);
}

static int command_max_fd(void)
{
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
            rl.rlim_cur > 65536)
                return 65536;
        return (int)rl.rlim_cur;
}

/* Nothing here fails for a valid source; from here on the loop holds the only references and
 * c->*_source are borrowed. */
static void command_make_floating(Command *c)
{
        sd_event_source *sources[] = {c->child_source, c->timer_source};

        c->floating = true;
        for (size_t i = 0; i < ELEMENTSOF(sources); i++) {
                if (!sources[i])
                        continue;
                (void)sd_event_source_set_destroy_callback(sources[i],
                                                           command_floating_source_destroyed);
                (void)sd_event_source_set_floating(sources[i], true);
                sd_event_source_unref(sources[i]);
                c->n_floating_sources++;
        }
}

static int command_add_sources(Command *c, sd_event *e, usec_t timeout)
{
        int r;

        r = sd_event_add_child(e, &c->child_source, c->pid, WEXITED, command_on_exit, c);
        if (r < 0)
                return r;
        (void)sd_event_source_set_description(c->child_source, "command");

        if (timeout > 0 && timeout != USEC_INFINITY) {
                r = sd_event_add_time_relative(e, &c->timer_source, CLOCK_MONOTONIC, timeout,
                                               USEC_PER_MSEC, command_on_timer, c);
                if (r < 0)
                        return r;
                (void)sd_event_source_set_description(c->timer_source, "command-timeout");
        }

        if (c->floating)
                command_make_floating(c);
        return 0;
}

static int command_run_internal(sd_event *e, const char *shell_command, char *const *extra_env,
                                usec_t timeout, CommandDone done, void *userdata, bool held,
                                Command **ret)
{
        _cleanup_free_ char **env = NULL;
        int hold_fds[2] = {-1, -1};
        Command *c;
        int max_fd, r;

        if (!e || !shell_command || (held && !ret))
                return -EINVAL;

        c = calloc(1, sizeof(Command));
        if (!c)
                return -ENOMEM;
        *c = (Command){
            .pid = -1,
            .hold_fd = -1,
            .done = done,
            .userdata = userdata,
            .floating = !ret,
            .grace = timeout / 4,
        };
        if (c->grace > COMMAND_KILL_GRACE_MAX)
                c->grace = COMMAND_KILL_GRACE_MAX;
        if (c->grace < COMMAND_KILL_GRACE_MIN)
                c->grace = COMMAND_KILL_GRACE_MIN;

        c->shell_command = strdup(shell_command);
        env = command_build_env(extra_env);
        if (!c->shell_command || !env) {
                command_free_memory(c);
                return -ENOMEM;
        }

        if (held && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, hold_fds) < 0) {
                r = -errno;
                command_free_memory(c);
                return r;
        }
        c->hold_fd = hold_fds[1];

        char *const argv[] = {(char *)"/bin/sh", (char *)"-c", c->shell_command, NULL};
        max_fd = command_max_fd();

        c->pid = fork();
        if (c->pid < 0) {
                r = -errno;
                if (hold_fds[0] >= 0)
                        (void)close(hold_fds[0]);
                command_free_memory(c);
                return r;
        }
        if (c->pid == 0)
                command_exec_child(argv, env, max_fd, hold_fds);
        if (hold_fds[0] >= 0)
                (void)close(hold_fds[0]);

        r = command_add_sources(c, e, timeout);
        if (r < 0) {
                /* Not watched yet: nobody else would reap it. */
                command_kill(c, SIGKILL);
                (void)waitpid(c->pid, NULL, 0);
                sd_event_source_unref(c->child_source);
                sd_event_source_unref(c->timer_source);
                command_free_memory(c);
                return r;
        }

        if (ret)
                *ret = c;
        return 0;
}

int command_run(sd_event *e, const char *shell_command, char *const *extra_env, usec_t timeout,
                CommandDone done, void *userdata, Command **ret)
{
        return command_run_internal(e, shell_command, extra_env, timeout, done, userdata, false,
                                    ret);
}

int command_run_held(sd_event *e, const char *shell_command, char *const *extra_env, usec_t timeout,
                     CommandDone done, void *userdata, Command **ret)
{
        return command_run_internal(e, shell_command, extra_env, timeout, done, userdata, true,
                                    ret);
}

void command_release(Command *c)
{
        const char go = 1;
        ssize_t n;

        if (!c || c->hold_fd < 0)
                return;
        /* An empty socket buffer takes the byte at once. If the child is already gone, the send
         * fails with EPIPE, without a SIGPIPE, and its exit is reported as usual. */
        do
                n = send(c->hold_fd, &go, 1, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        (void)close(c->hold_fd);
        c->hold_fd = -1;
}

Command *command_free(Command *c)
{
        if (!c || c->floating)
                return NULL;

        c->timer_source = sd_event_source_disable_unref(c->timer_source);
        c->child_source = sd_event_source_disable_unref(c->child_source);
        if (!c->exited) {
                /* SIGKILL cannot be caught, so this wait is short. */
                command_kill(c, SIGKILL);
                while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
                        ;
        }
        command_free_memory(c);
        return NULL;
}

void command_disown(Command *c)
{
        if (!c || c->floating)
                return;
        c->done = NULL;
        if (c->exited || !c->child_source) {
                command_free(c);
                return;
        }
        command_make_floating(c);
}

pid_t command_get_pid(const Command *c)
{
        return c ? c->pid : -1;
}

const char *command_get_shell_command(const Command *c)
{
        return c ? c->shell_command : NULL;
}

const char *command_status_to_string(int status, char *buf, size_t size)
{
        const char *name;

        if (status >= 0)
                snprintf(buf, size, "exit status %d", status);
        else if (status == -ETIME)
                snprintf(buf, size, "timed out");
        else if ((name = sigabbrev_np(-status)))
                snprintf(buf, size, "killed by signal %s", name);
        else
                snprintf(buf, size, "killed by signal %d", -status);
        return buf;
}
