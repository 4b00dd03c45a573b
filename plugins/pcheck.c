/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * pcheck: is a process running? Either count processes by name (/proc/PID/comm, or a substring
 * of the command line), or read a pidfile and look that one process up. Zombies do not count:
 * a process that has exited is not serving anything.
 *
 * Event-driven: each run keeps a pidfd of every process it counted (up to WATCH_MAX), and watch()
 * hands them to the checker, which runs the check again the moment one of them exits. A pidfd is
 * opened after the process was seen alive: if it exited in between, the pidfd is readable at once
 * (a zombie) or cannot be opened (reaped: then it is not counted), so no death goes unseen. Only
 * with the real /proc: under another `proc` the PIDs are not this system's.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/pidfd.h>
#include <unistd.h>

#include "vacataire-plugin.h"

/* The kernel keeps 15 characters of a process name (TASK_COMM_LEN - 1). */
#define COMM_MAX 15

/* Command lines longer than this are compared on their first bytes only. */
#define CMDLINE_MAX (256 * 1024)

/* Processes watched per run; more are still counted, their death found at the next interval. */
#define WATCH_MAX 64

enum match_mode {
        MATCH_COMM,
        MATCH_CMDLINE,
};

struct pcheck {
        char *process;
        char *pidfile;
        char *proc;
        enum match_mode match;
        int64_t min_count;
        bool watchable; /* proc is the real /proc */
        int pidfds[WATCH_MAX];
        unsigned n_pidfds;
};

static void pcheck_unwatch(struct pcheck *c)
{
        for (unsigned i = 0; i < c->n_pidfds; i++)
                close(c->pidfds[i]);
        c->n_pidfds = 0;
}

/* Called for a process just seen alive. Returns false if it has been reaped since (do not count
 * it). */
static bool pcheck_watch_pid(struct pcheck *c, long pid)
{
        int fd;

        if (!c->watchable || c->n_pidfds >= WATCH_MAX)
                return true;
        fd = pidfd_open((pid_t)pid, 0);
        if (fd < 0)
                return errno != ESRCH;
        /* pidfd_open() fds are close-on-exec already. */
        c->pidfds[c->n_pidfds++] = fd;
        return true;
}

static int pcheck_watch(void *userdata, int *fds, uint32_t max_fds)
{
        struct pcheck *c = userdata;
        unsigned n = c->n_pidfds < max_fds ? c->n_pidfds : max_fds;

        memcpy(fds, c->pidfds, n * sizeof(int));
        return (int)n;
}

static void pcheck_free(void *userdata)
{
        struct pcheck *c = userdata;

        if (!c)
                return;
        pcheck_unwatch(c);
        free(c->process);
        free(c->pidfile);
        free(c->proc);
        free(c);
}

/* Reads up to size-1 bytes of a file (procfs reports size 0, so read until EOF) and NUL-terminates.
 * Returns the length, or -errno. */
static ssize_t read_file(const char *path, char *buf, size_t size)
{
        size_t n = 0;
        int fd;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        while (n < size - 1) {
                ssize_t k = read(fd, buf + n, size - 1 - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        int r = -errno;
                        close(fd);
                        return r;
                }
                if (k == 0)
                        break;
                n += (size_t)k;
        }
        close(fd);
        buf[n] = 0;
        return (ssize_t)n;
}

/* Parses /proc/PID/stat: "PID (comm) S ...". comm may itself hold ')' or spaces, so it runs to
 * the last ')'. Returns 0, -ENOENT when the process is gone, or another -errno. */
static int read_stat(const char *proc, long pid, char comm[COMM_MAX + 2], char *state)
{
        char path[PATH_MAX], buf[1024];
        const char *open_paren, *close_paren;
        ssize_t n;

        snprintf(path, sizeof(path), "%s/%ld/stat", proc, pid);
        n = read_file(path, buf, sizeof(buf));
        if (n < 0)
                return (int)n;
        open_paren = strchr(buf, '(');
        close_paren = strrchr(buf, ')');
        if (!open_paren || !close_paren || close_paren < open_paren || close_paren[1] != ' ' ||
            !close_paren[2])
                return -EBADMSG;
        if (comm) {
                size_t len = (size_t)(close_paren - open_paren - 1);
                if (len > COMM_MAX + 1)
                        len = COMM_MAX + 1;
                memcpy(comm, open_paren + 1, len);
                comm[len] = 0;
        }
        *state = close_paren[2];
        return 0;
}

static bool state_is_alive(char state)
{
        /* Z: zombie, X: dead (only seen briefly while being reaped). */
        return state != 'Z' && state != 'X';
}

static bool cmdline_contains(const char *proc, long pid, const char *needle, char *buf, size_t size)
{
        char path[PATH_MAX];
        ssize_t n;

        snprintf(path, sizeof(path), "%s/%ld/cmdline", proc, pid);
        n = read_file(path, buf, size);
        if (n <= 0)
                return false; /* gone, or a kernel thread */
        /* Arguments are separated by NULs; compare them as the shell line a user would write. */
        while (n > 0 && buf[n - 1] == 0)
                n--;
        for (ssize_t i = 0; i < n; i++)
                if (buf[i] == 0)
                        buf[i] = ' ';
        buf[n] = 0;
        return strstr(buf, needle) != NULL;
}

static bool parse_pid(const char *s, long *ret)
{
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (errno || end == s || v <= 0 || v > INT_MAX)
                return false;
        while (isspace((unsigned char)*end))
                end++;
        if (*end)
                return false;
        *ret = v;
        return true;
}

static int count_processes(struct pcheck *c, int64_t *ret)
{
        char *cmdline = NULL;
        struct dirent *de;
        int64_t count = 0;
        long self = (long)getpid();
        DIR *d;

        d = opendir(c->proc);
        if (!d)
                return -errno;
        if (c->match == MATCH_CMDLINE) {
                cmdline = malloc(CMDLINE_MAX);
                if (!cmdline) {
                        closedir(d);
                        return -ENOMEM;
                }
        }
        while ((de = readdir(d))) {
                char comm[COMM_MAX + 2], state;
                long pid;

                if (!isdigit((unsigned char)de->d_name[0]) || !parse_pid(de->d_name, &pid))
                        continue;
                /* The checker's own command line may carry the pattern as an argument. */
                if (pid == self)
                        continue;
                if (c->match == MATCH_CMDLINE &&
                    !cmdline_contains(c->proc, pid, c->process, cmdline, CMDLINE_MAX))
                        continue;
                if (read_stat(c->proc, pid, comm, &state) < 0)
                        continue; /* exited meanwhile */
                if (c->match == MATCH_COMM && strcmp(comm, c->process) != 0)
                        continue;
                if (state_is_alive(state) && pcheck_watch_pid(c, pid))
                        count++;
        }
        closedir(d);
        free(cmdline);
        *ret = count;
        return 0;
}

static int run_process(struct pcheck *c, char *msg, size_t msg_size)
{
        int64_t count = 0;
        size_t len;
        int r;

        r = count_processes(c, &count);
        if (r < 0) {
                snprintf(msg, msg_size, "cannot list %s: %s", c->proc, strerror(-r));
                return VACATAIRE_UNKNOWN;
        }
        if (c->match == MATCH_COMM) {
                if (count == 0)
                        snprintf(msg, msg_size, "no process named %s", c->process);
                else
                        snprintf(msg, msg_size, "%lld %s process%s", (long long)count, c->process,
                                 count == 1 ? "" : "es");
        } else {
                if (count == 0)
                        snprintf(msg, msg_size, "no process with \"%s\" in its command line",
                                 c->process);
                else
                        snprintf(msg, msg_size, "%lld process%s with \"%s\" in %s command line",
                                 (long long)count, count == 1 ? "" : "es", c->process,
                                 count == 1 ? "its" : "their");
        }
        if (count >= c->min_count)
                return VACATAIRE_OK;
        len = strlen(msg);
        if (c->min_count > 1 && len < msg_size)
                snprintf(msg + len, msg_size - len, ", expected at least %lld",
                         (long long)c->min_count);
        return VACATAIRE_CRITICAL;
}

static int run_pidfile(struct pcheck *c, char *msg, size_t msg_size)
{
        char buf[64], state;
        ssize_t n;
        long pid;
        int r;

        n = read_file(c->pidfile, buf, sizeof(buf));
        if (n < 0) {
                snprintf(msg, msg_size, "pidfile %s: cannot read: %s", c->pidfile,
                         strerror((int)-n));
                /* A missing pidfile is how most daemons say they are not running. */
                return n == -ENOENT ? VACATAIRE_CRITICAL : VACATAIRE_UNKNOWN;
        }
        if (!parse_pid(buf, &pid)) {
                snprintf(msg, msg_size, "pidfile %s: no valid PID in file", c->pidfile);
                return VACATAIRE_CRITICAL;
        }
        r = read_stat(c->proc, pid, NULL, &state);
        if (r == 0 && state_is_alive(state) && !pcheck_watch_pid(c, pid))
                r = -ENOENT;
        if (r == -ENOENT || (r == 0 && !state_is_alive(state))) {
                snprintf(msg, msg_size, "pidfile %s: process %ld not running%s", c->pidfile, pid,
                         r == 0 ? " (zombie)" : "");
                return VACATAIRE_CRITICAL;
        }
        if (r < 0) {
                snprintf(msg, msg_size, "pidfile %s: cannot read %s/%ld/stat: %s", c->pidfile,
                         c->proc, pid, strerror(-r));
                return VACATAIRE_UNKNOWN;
        }
        snprintf(msg, msg_size, "pidfile %s: process %ld running", c->pidfile, pid);
        return VACATAIRE_OK;
}

static int pcheck_run(void *userdata, char *msg, size_t msg_size)
{
        struct pcheck *c = userdata;

        pcheck_unwatch(c);
        return c->pidfile ? run_pidfile(c, msg, msg_size) : run_process(c, msg, msg_size);
}

static int string_param(const struct vacataire_params *params, const char *name, char **ret,
                        char *err, size_t err_size)
{
        const char *value = NULL;
        int r;

        *ret = NULL;
        r = vacataire_param_string(params, name, &value, err, err_size);
        if (r <= 0)
                return r;
        *ret = strdup(value);
        if (!*ret) {
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }
        return 1;
}

static int pcheck_configure_into(struct pcheck *c, const struct vacataire_params *params, char *err,
                                 size_t err_size)
{
        static const char *const known[] = {"process",   "match", "pidfile",
                                            "min_count", "proc",  NULL};
        static const char *const matches[] = {"comm", "cmdline", NULL};
        const char *unknown;
        int match = MATCH_COMM, r;
        int64_t min_count = 1;

        unknown = vacataire_params_unknown(params, known);
        if (unknown) {
                snprintf(err, err_size,
                         "params.%s: unknown parameter (known: process, match, pidfile, "
                         "min_count, proc)",
                         unknown);
                return -EINVAL;
        }
        if ((r = string_param(params, "process", &c->process, err, err_size)) < 0 ||
            (r = string_param(params, "pidfile", &c->pidfile, err, err_size)) < 0 ||
            (r = string_param(params, "proc", &c->proc, err, err_size)) < 0)
                return r;

        if (!!c->process == !!c->pidfile) {
                snprintf(err, err_size, "%s",
                         c->process ? "params.pidfile: give either process or pidfile, not both"
                                    : "params.process: missing (or give pidfile)");
                return -EINVAL;
        }

        /* The table is in enum order: comm, cmdline. */
        r = vacataire_param_choice(params, "match", matches, &match, err, err_size);
        if (r < 0)
                return r;
        if (r > 0 && !c->process) {
                snprintf(err, err_size, "params.match: only applies to params.process");
                return -EINVAL;
        }
        c->match = match == 1 ? MATCH_CMDLINE : MATCH_COMM;
        if (c->process && c->match == MATCH_COMM &&
            (strlen(c->process) > COMM_MAX || strchr(c->process, '/'))) {
                snprintf(err, err_size,
                         "params.process: a process name is at most %d characters without '/' "
                         "(as in /proc/PID/comm); use match = \"cmdline\" for longer patterns",
                         COMM_MAX);
                return -EINVAL;
        }

        r = vacataire_param_integer(params, "min_count", 1, INT64_MAX, &min_count, err, err_size);
        if (r < 0)
                return r;
        if (r > 0 && !c->process) {
                snprintf(err, err_size,
                         "params.min_count: only applies to "
                         "params.process (a pidfile names one process)");
                return -EINVAL;
        }
        c->min_count = min_count;

        c->watchable = !c->proc;
        if (!c->proc) {
                c->proc = strdup("/proc");
                if (!c->proc) {
                        snprintf(err, err_size, "out of memory");
                        return -ENOMEM;
                }
        }
        return 0;
}

static int pcheck_configure(const struct vacataire_params *params, double timeout, void **state,
                            char *err, size_t err_size)
{
        struct pcheck *c;
        int r;

        c = calloc(1, sizeof(*c));
        if (!c) {
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }
        r = pcheck_configure_into(c, params, err, err_size);
        if (r < 0) {
                pcheck_free(c);
                return r;
        }
        *state = c;
        return 0;
}

VACATAIRE_PLUGIN_DEFINE_WATCH("pcheck", "process presence: by name, command line or pidfile",
                              pcheck_configure, pcheck_run, pcheck_free, pcheck_watch);
