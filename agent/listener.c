/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "listener.h"

#include "log.h"

struct Listener {
        sd_event *event;
        int fd;
        char *what;
        sd_event_source *io_source;
        sd_event_source *backoff_source;
        ListenerAcceptFn fn;
        void *userdata;
};

int listen_socket_open(const SocketAddress *address, int backlog)
{
        _cleanup_close_ int fd = -1;
        int one = 1;

        fd = socket(address->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        /* A restarted agent must get its port back while old connections sit in TIME_WAIT. */
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (const struct sockaddr *)&address->sa, address->len) < 0)
                return -errno;
        if (listen(fd, backlog) < 0)
                return -errno;
        return TAKE_FD(fd);
}

static int on_accept_backoff(sd_event_source *source, uint64_t usec, void *userdata)
{
        Listener *l = userdata;

        l->backoff_source = sd_event_source_disable_unref(l->backoff_source);
        (void)sd_event_source_set_enabled(l->io_source, SD_EVENT_ON);
        return 0;
}

static void listener_pause(Listener *l)
{
        int r;

        (void)sd_event_source_set_enabled(l->io_source, SD_EVENT_OFF);
        r = sd_event_add_time_relative(l->event, &l->backoff_source, CLOCK_MONOTONIC,
                                       LISTENER_ACCEPT_BACKOFF, 0, on_accept_backoff, l);
        if (r < 0)
                (void)sd_event_source_set_enabled(l->io_source, SD_EVENT_ON);
}

/* One connection per dispatch: the socket stays readable while more wait, and in between the
 * loop serves the connections already open, so a burst of newcomers cannot make a server shed an
 * older connection before it had the chance to be read. */
static int on_accept(sd_event_source *source, int listen_fd, uint32_t revents, void *userdata)
{
        Listener *l = userdata;
        struct sockaddr_storage sa;
        socklen_t len;
        int fd;

        do {
                len = sizeof(sa);
                fd = accept4(listen_fd, (struct sockaddr *)&sa, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
        } while (fd < 0 && (errno == EINTR || errno == ECONNABORTED));
        if (fd >= 0) {
                l->fn(l, fd, (const struct sockaddr *)&sa, len, l->userdata);
                return 0;
        }
        if (errno == EAGAIN)
                return 0;
        log_warning_errno(errno, "Failed to accept a %s connection: %m", l->what);
        listener_pause(l);
        return 0;
}

int listener_new(sd_event *e, int fd, const char *what, ListenerAcceptFn fn, void *userdata,
                 Listener **ret)
{
        _cleanup_(listener_freep) Listener *l = NULL;
        int r;

        if (!e || fd < 0 || !what || !fn || !ret) {
                if (fd >= 0)
                        close(fd);
                return -EINVAL;
        }
        l = calloc(1, sizeof(*l));
        if (!l) {
                close(fd);
                return -ENOMEM;
        }
        l->fd = fd;
        l->event = sd_event_ref(e);
        l->fn = fn;
        l->userdata = userdata;
        l->what = strdup(what);
        if (!l->what)
                return -ENOMEM;
        r = sd_event_add_io(e, &l->io_source, fd, EPOLLIN, on_accept, l);
        if (r < 0)
                return r;
        /* What connections already sent is read before more are accepted: under a flood of new
         * connections, the ones already talking (a reconnecting peer's HELLO) are served first. */
        r = sd_event_source_set_priority(l->io_source, SD_EVENT_PRIORITY_NORMAL + 1);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(l);
        return 0;
}

Listener *listener_free(Listener *l)
{
        if (!l)
                return NULL;
        sd_event_source_disable_unref(l->io_source);
        sd_event_source_disable_unref(l->backoff_source);
        if (l->fd >= 0)
                close(l->fd);
        sd_event_unref(l->event);
        free(l->what);
        free(l);
        return NULL;
}

int send_pending(int fd, const char *buf, size_t size, size_t *sent)
{
        while (*sent < size) {
                ssize_t k = send(fd, buf + *sent, size - *sent, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return 0;
                        return -errno;
                }
                *sent += (size_t)k;
        }
        return 1;
}
