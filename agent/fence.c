/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "fence.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/wait.h>

#include "log.h"
#include "scope.h"

/* Longest wait for systemd to move the watchdog into its scope. */
#define FENCE_SCOPE_TIMEOUT (5 * USEC_PER_SEC)

struct Fence {
        sd_event *event;
        char *config_path;
        char *pid_file;
        char *helper;
        usec_t ttl;
        int fd; /* write end of the watchdog's stdin */
        pid_t pid;
        pid_t old_pid; /* a previous agent's watchdog, found at start */
        sd_event_source *child;
        usec_t last;
        SystemdBus bus;
        UnitManager *units; /* connected on first spawn under systemd */
        UnitJob *scope_job; /* moving the watchdog into its scope */
        bool scopes_unavailable_logged;
};

static int find_helper(char **ret)
{
        char exe[PATH_MAX], *slash;
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

        if (n > 0) {
                exe[n] = 0;
                slash = strrchr(exe, '/');
                if (slash) {
                        *slash = 0;
                        char *p = strdup_printf("%s/vacataire-fence", exe);
                        if (p && access(p, X_OK) == 0) {
                                *ret = p;
                                return 0;
                        }
                        free(p);
                }
        }
        if (access(VACATAIRE_LIBEXEC_DIR "/vacataire-fence", X_OK) == 0) {
                *ret = strdup(VACATAIRE_LIBEXEC_DIR "/vacataire-fence");
                return *ret ? 0 : -ENOMEM;
        }
        return -ENOENT;
}

/* Pids are reused: only a process named like the watchdog is one. */
static bool is_watchdog(pid_t pid)
{
        _cleanup_free_ char *comm = NULL, *path = strdup_printf("/proc/%d/comm", (int)pid);

        return pid > 1 && path && read_full_file(path, 64, &comm, NULL) >= 0 &&
               strncmp(comm, "vacataire-fence", 15) == 0;
}

/* The pid in pid_file if that process is still a watchdog, else 0. */
static pid_t read_old_pid(const char *pid_file)
{
        _cleanup_free_ char *text = NULL;
        pid_t pid;

        if (read_full_file(pid_file, 64, &text, NULL) < 0)
                return 0;
        pid = (pid_t)atoi(text);
        return is_watchdog(pid) ? pid : 0;
}

int fence_new(sd_event *e, const char *config_path, const char *state_dir, usec_t ttl,
              SystemdBus bus, Fence **ret)
{
        _cleanup_(fence_freep) Fence *f = calloc(1, sizeof(Fence));
        int r;

        if (!f)
                return -ENOMEM;
        f->fd = -1;
        f->event = sd_event_ref(e);
        f->ttl = ttl;
        f->bus = bus;
        f->config_path = realpath(config_path, NULL);
        f->pid_file = strdup_printf("%s/fence.pid", state_dir);
        if (!f->config_path || !f->pid_file)
                return -ENOMEM;
        r = find_helper(&f->helper);
        if (r < 0)
                return r;
        f->old_pid = read_old_pid(f->pid_file);
        *ret = TAKE_PTR(f);
        return 0;
}

Fence *fence_free(Fence *f)
{
        if (!f)
                return NULL;
        if (f->fd >= 0)
                close(f->fd);
        /* Not reaped by us any more: whoever adopts it does. */
        sd_event_source_disable_unref(f->child);
        /* systemd finishes a scope job on its own: the watchdog lands in its scope regardless. */
        unit_job_free(f->scope_job);
        unit_manager_free(f->units);
        sd_event_unref(f->event);
        free(f->config_path);
        free(f->pid_file);
        free(f->helper);
        free(f);
        return NULL;
}

static int on_exit_child(sd_event_source *s, const siginfo_t *si, void *userdata)
{
        Fence *f = userdata;

        if (si->si_code != CLD_EXITED || si->si_status != 0)
                log_warning("fence watchdog %d ended (%s %d)", (int)si->si_pid,
                            si->si_code == CLD_EXITED ? "exit" : "signal", si->si_status);
        f->child = sd_event_source_disable_unref(f->child);
        f->pid = 0;
        if (f->fd >= 0)
                close(f->fd);
        f->fd = -1;
        return 0;
}

static void on_scope_ready(UnitJob *j, int result, const char *message, void *userdata)
{
        Fence *f = userdata;

        if (result < 0)
                log_warning(
                    "Fence watchdog left in our cgroup, where a crash clean-up of this unit "
                    "kills it: %s",
                    message);
        else
                log_info("fence watchdog moved into %s", unit_job_get_unit(j));
        f->scope_job = unit_job_free(j);
}

/* Under systemd the watchdog would live in our unit's cgroup, and the clean-up of a crashed agent
 * (KillMode=control-group) would kill it with us: exactly when it is needed. So it goes into a
 * transient scope of its own, as start commands do (scope.h). It forks nothing until it fences,
 * so moving its pid alone is enough; the scope is collected when it exits. */
static void fence_move_to_scope(Fence *f, pid_t pid)
{
        _cleanup_free_ char *name = strdup_printf("vacataire-fence-%d.scope", (int)pid);
        _cleanup_free_ char *message = NULL;
        int r;

        if (!name || !scope_wanted())
                return;
        if (!f->units && unit_manager_new(f->event, f->bus, &f->units) < 0)
                return;
        r = unit_manager_connect(f->units, &message);
        if (r >= 0) {
                f->scope_job = unit_job_free(f->scope_job);
                r = unit_manager_start_scope(f->units, name, "vacataire fence watchdog", pid,
                                             FENCE_SCOPE_TIMEOUT, on_scope_ready, f, &f->scope_job);
        }
        if (r < 0 && !f->scopes_unavailable_logged) {
                log_warning("Fence watchdog left in our cgroup, where a crash clean-up of this "
                            "unit kills it: %s",
                            message ?: strerror(-r));
                f->scopes_unavailable_logged = true;
        }
}

static int fence_spawn(Fence *f)
{
        _cleanup_free_ char *ttl = strdup_printf("%llu", (unsigned long long)f->ttl);
        int fds[2];
        pid_t pid;
        char pid_text[32];

        if (!ttl)
                return -ENOMEM;
        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                close(fds[0]);
                close(fds[1]);
                return -errno;
        }
        if (pid == 0) {
                struct sigaction sa = {.sa_handler = SIG_DFL};
                sigset_t none;
                for (int sig = 1; sig < _NSIG; sig++)
                        (void)sigaction(sig, &sa, NULL);
                sigemptyset(&none);
                (void)sigprocmask(SIG_SETMASK, &none, NULL);
                /* Its own session: it must outlive us, whatever kills our process group. */
                (void)setsid();
                if (dup2(fds[0], STDIN_FILENO) < 0)
                        _exit(127);
                execl(f->helper, f->helper, f->config_path, ttl, (char *)NULL);
                _exit(127);
        }
        close(fds[0]);
        f->fd = fds[1];
        f->pid = pid;
        (void)fd_set_nonblock(f->fd, true);
        (void)sd_event_add_child(f->event, &f->child, pid, WEXITED, on_exit_child, f);
        fence_move_to_scope(f, pid);
        snprintf(pid_text, sizeof(pid_text), "%d\n", (int)pid);
        (void)write_file_atomic(f->pid_file, pid_text, strlen(pid_text), 0600);
        log_info("fence watchdog %d started", (int)pid);
        return 0;
}

int fence_arm(Fence *f, usec_t deadline, bool spawn)
{
        char line[32];
        int r, n;

        if (!f)
                return 0;
        if (deadline == f->last && f->fd >= 0)
                return 0;
        if (f->fd < 0) {
                if (deadline == 0 || !spawn)
                        return 0;
                r = fence_spawn(f);
                if (r < 0)
                        return log_error_errno(r, "Cannot start the fence watchdog: %m");
        }
        n = snprintf(line, sizeof(line), "%llu\n", (unsigned long long)deadline);
        if (write(f->fd, line, (size_t)n) != n)
                return log_warning_errno(errno, "Fence watchdog: cannot tell it the deadline: %m");
        f->last = deadline;
        return 0;
}

void fence_stand_down_old(Fence *f)
{
        if (!f || f->old_pid <= 0)
                return;
        /* Looked at again: it may have fenced and exited meanwhile, and its pid been reused. */
        if (is_watchdog(f->old_pid) && kill(f->old_pid, FENCE_STAND_DOWN_SIGNAL) == 0)
                log_info("fence watchdog %d of a previous agent stood down: the key is ours",
                         (int)f->old_pid);
        f->old_pid = 0;
}
