/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "service-watch.h"

#include <ctype.h>
#include <dirent.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>

#include "log.h"

typedef struct Watched {
        ServiceWatch *owner;
        char *name;
        bool reported;
        /* unit service */
        sd_bus_slot *slot;
        /* command service */
        sd_event_source *pidfds[SERVICE_WATCH_PIDS_MAX];
        size_t n_alive;
} Watched;

struct ServiceWatch {
        sd_event *event;
        ServiceDiedFn fn;
        void *userdata;
        Watched *watched;
        size_t n_watched;
        /* A death is reported from a defer source, never from inside the pidfd or D-Bus match
         * callback that saw it: the report may disarm, which frees that source or slot. */
        sd_event_source *report_source;
        char *report_name, *report_why;
};

bool service_watch_state_is_death(const char *state)
{
        /* "activating" and "reloading" are a unit at work; anything going down is not. */
        return state &&
               (streq(state, "inactive") || streq(state, "failed") || streq(state, "deactivating"));
}

int service_watch_find_group(const char *proc, pid_t pgid, pid_t *pids, size_t max)
{
        struct dirent *de;
        size_t n = 0;
        DIR *d;

        d = opendir(proc);
        if (!d)
                return -errno;
        while ((de = readdir(d)) && n < max) {
                _cleanup_free_ char *path = NULL, *buf = NULL;
                const char *close_paren;
                char state;
                long pid, ppid, pgrp;
                size_t size;

                if (!isdigit((unsigned char)de->d_name[0]))
                        continue;
                path = strdup_printf("%s/%s/stat", proc, de->d_name);
                if (!path || read_full_file(path, 4096, &buf, &size) < 0)
                        continue; /* gone meanwhile */
                /* "PID (comm) S PPID PGRP ...": comm may hold anything, up to the last ')'. */
                close_paren = strrchr(buf, ')');
                if (!close_paren ||
                    sscanf(close_paren + 1, " %c %ld %ld", &state, &ppid, &pgrp) != 3)
                        continue;
                if (pgrp != (long)pgid || state == 'Z' || state == 'X')
                        continue;
                pid = strtol(de->d_name, NULL, 10);
                if (pid > 0)
                        pids[n++] = (pid_t)pid;
        }
        closedir(d);
        return (int)n;
}

static char *mfree_string(char *p)
{
        free(p);
        return NULL;
}

static void watched_done(Watched *x)
{
        x->slot = sd_bus_slot_unref(x->slot);
        for (size_t i = 0; i < SERVICE_WATCH_PIDS_MAX; i++)
                x->pidfds[i] = sd_event_source_disable_unref(x->pidfds[i]);
        free(x->name);
        *x = (Watched){};
}

static int on_report(sd_event_source *s, void *userdata)
{
        ServiceWatch *w = userdata;
        _cleanup_free_ char *name = TAKE_PTR(w->report_name), *why = TAKE_PTR(w->report_why);

        w->report_source = sd_event_source_unref(w->report_source);
        if (name)
                w->fn(w, name, why ? why : "died", w->userdata);
        return 0;
}

static void watched_report(Watched *x, const char *why)
{
        ServiceWatch *w = x->owner;

        if (x->reported)
                return;
        x->reported = true;
        log_warning("%s: died (%s), seen as it happened", x->name, why);
        if (w->report_source)
                return; /* one report is enough to hand over */
        w->report_name = strdup(x->name);
        w->report_why = strdup(why);
        if (!w->report_name || sd_event_add_defer(w->event, &w->report_source, on_report, w) < 0) {
                w->report_name = mfree_string(w->report_name);
                w->report_why = mfree_string(w->report_why);
                log_oom();
        }
}

static int on_pidfd(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        Watched *x = userdata;

        (void)sd_event_source_set_enabled(s, SD_EVENT_OFF);
        if (x->n_alive > 0)
                x->n_alive--;
        if (x->n_alive == 0)
                watched_report(x, "exited");
        return 0;
}

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        Watched *x = userdata;
        const char *interface, *name, *state = NULL;
        int r;

        if (sd_bus_message_read(m, "s", &interface) < 0 ||
            !streq(interface, "org.freedesktop.systemd1.Unit"))
                return 0;
        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return 0;
        while (!state && sd_bus_message_enter_container(m, 'e', "sv") > 0) {
                if (sd_bus_message_read(m, "s", &name) < 0)
                        return 0;
                if (streq(name, "ActiveState")) {
                        if (sd_bus_message_read(m, "v", "s", &state) < 0)
                                return 0;
                } else if (sd_bus_message_skip(m, "v") < 0)
                        return 0;
                if (sd_bus_message_exit_container(m) < 0)
                        return 0;
        }
        if (service_watch_state_is_death(state))
                watched_report(x, state);
        return 0;
}

static int watch_unit(ServiceWatch *w, Watched *x, sd_bus *bus, const char *unit)
{
        _cleanup_free_ char *path = NULL;
        int r;

        r = sd_bus_path_encode("/org/freedesktop/systemd1/unit", unit, &path);
        if (r < 0)
                return r;
        /* The agent subscribed to systemd's signals when it opened the connection. */
        return sd_bus_match_signal_async(bus, &x->slot, "org.freedesktop.systemd1", path,
                                         "org.freedesktop.DBus.Properties", "PropertiesChanged",
                                         on_properties_changed, NULL, x);
}

static int watch_group(ServiceWatch *w, Watched *x, pid_t pgid)
{
        pid_t pids[SERVICE_WATCH_PIDS_MAX];
        int n, r;

        n = service_watch_find_group("/proc", pgid, pids, ELEMENTSOF(pids));
        if (n <= 0)
                return n < 0 ? n : -ESRCH;
        for (int i = 0; i < n; i++) {
                /* Opened after the process was seen alive: if it exited since, the pidfd is
                 * readable at once, or cannot be opened (then it does not count). */
                int fd = pidfd_open(pids[i], 0);
                if (fd < 0)
                        continue;
                r = sd_event_add_io(w->event, &x->pidfds[x->n_alive], fd, EPOLLIN, on_pidfd, x);
                if (r < 0) {
                        (void)close(fd);
                        return r;
                }
                (void)sd_event_source_set_io_fd_own(x->pidfds[x->n_alive], true);
                x->n_alive++;
        }
        return x->n_alive > 0 ? 0 : -ESRCH;
}

int service_watch_new(sd_event *e, ServiceDiedFn fn, void *userdata, ServiceWatch **ret)
{
        ServiceWatch *w;

        if (!e || !fn || !ret)
                return -EINVAL;
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->event = sd_event_ref(e);
        w->fn = fn;
        w->userdata = userdata;
        *ret = w;
        return 0;
}

void service_watch_disarm(ServiceWatch *w)
{
        if (!w)
                return;
        w->report_source = sd_event_source_disable_unref(w->report_source);
        w->report_name = mfree_string(w->report_name);
        w->report_why = mfree_string(w->report_why);
        for (size_t i = 0; i < w->n_watched; i++)
                watched_done(&w->watched[i]);
        free(w->watched);
        w->watched = NULL;
        w->n_watched = 0;
}

ServiceWatch *service_watch_free(ServiceWatch *w)
{
        if (!w)
                return NULL;
        service_watch_disarm(w);
        sd_event_unref(w->event);
        free(w);
        return NULL;
}

size_t service_watch_arm(ServiceWatch *w, const ServiceSet *s)
{
        size_t n = service_set_count(s), armed = 0;

        if (!w)
                return 0;
        service_watch_disarm(w);
        if (n == 0)
                return 0;
        w->watched = calloc(n, sizeof(Watched));
        if (!w->watched) {
                log_oom();
                return 0;
        }
        w->n_watched = n;
        for (size_t i = 0; i < n; i++) {
                Watched *x = &w->watched[i];
                const char *unit = service_set_unit(s, i);
                int r;

                x->owner = w;
                x->name = strdup(service_set_name(s, i));
                if (!x->name) {
                        log_oom();
                        continue;
                }
                if (unit) {
                        sd_bus *bus = unit_manager_get_bus(service_set_units(s));
                        r = bus ? watch_unit(w, x, bus, unit) : -ENOTCONN;
                } else if (service_set_pgid(s, i) > 0)
                        r = watch_group(w, x, service_set_pgid(s, i));
                else
                        r = -ESRCH; /* re-adopted after a restart: no start command this run */
                if (r < 0) {
                        log_debug_errno(r, "%s: not watched for death (its checks still are): %m",
                                        x->name);
                        continue;
                }
                armed++;
        }
        return armed;
}
