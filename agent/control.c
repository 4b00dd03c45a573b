/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "control.h"

#include <sys/stat.h>
#include <sys/un.h>

#include "list.h"
#include "listener.h"
#include "log.h"

/* Beyond this many open connections the oldest one still sending its request is dropped, so idle
 * clients can neither exhaust our file descriptors nor lock out an operator. */
#define CONTROL_CONNECTIONS_MAX 64
#define CONTROL_READ_TIMEOUT    (5 * USEC_PER_SEC)
#define CONTROL_WRITE_TIMEOUT   (5 * USEC_PER_SEC)

typedef enum RequestState {
        REQUEST_READING, /* waiting for the request line */
        REQUEST_PENDING, /* handed to the handler, waiting for control_request_reply() */
        REQUEST_WRITING, /* reply partly sent */
} RequestState;

struct ControlRequest {
        ControlServer *server;
        ControlRequest *prev, *next;
        RequestState state;
        int fd; /* -1 once the client has gone while the handler still holds us */
        sd_event_source *io_source;
        sd_event_source *timer_source;
        char line[CONTROL_REQUEST_MAX + 1];
        size_t size;
        char *command, *argument; /* parsed from line; the handler may use them until the reply */
        char *reply;
        size_t reply_size, reply_sent;
        bool privileged; /* root (or our own uid), not only a member of control_group */
};

struct ControlServer {
        sd_event *event;
        char *path;
        Listener *listener;
        bool bound; /* the socket file at path is ours to remove */
        dev_t socket_dev;
        ino_t socket_ino;
        ControlHandler handler;
        void *userdata;
        ControlRequest *requests_head, *requests_tail; /* oldest first */
        unsigned n_open;
        gid_t group; /* control_group, or (gid_t)-1 */
};

static void request_close_fd(ControlRequest *req)
{
        req->io_source = sd_event_source_disable_unref(req->io_source);
        req->timer_source = sd_event_source_disable_unref(req->timer_source);
        if (req->fd >= 0) {
                close(req->fd);
                req->fd = -1;
                req->server->n_open--;
        }
}

static void request_free(ControlRequest *req)
{
        ControlServer *s = req->server;

        request_close_fd(req);
        LIST_REMOVE(s->requests_head, s->requests_tail, req);
        free(req->command);
        free(req->argument);
        free(req->reply);
        free(req);
}

static int on_request_timeout(sd_event_source *source, uint64_t usec, void *userdata)
{
        ControlRequest *req = userdata;

        log_debug("Control connection timed out while %s, closing.",
                  req->state == REQUEST_READING ? "reading the request" : "sending the reply");
        request_free(req);
        return 0;
}

static int request_arm_timer(ControlRequest *req, usec_t timeout)
{
        req->timer_source = sd_event_source_disable_unref(req->timer_source);
        return sd_event_add_time_relative(req->server->event, &req->timer_source, CLOCK_MONOTONIC,
                                          timeout, 0, on_request_timeout, req);
}

static int request_flush(ControlRequest *req)
{
        return send_pending(req->fd, req->reply, req->reply_size, &req->reply_sent);
}

/* Takes ownership of text and sends it; req is freed once it is out or cannot be sent. */
static void request_send(ControlRequest *req, char *text)
{
        int r;

        if (!text) {
                log_oom();
                request_free(req);
                return;
        }
        free(req->reply);
        req->reply = text;
        req->reply_size = strlen(text);
        req->reply_sent = 0;

        if (req->fd < 0) {
                request_free(req);
                return;
        }
        r = request_flush(req);
        if (r != 0) {
                if (r < 0)
                        log_debug_errno(r, "Control client went away before its reply: %m");
                request_free(req);
                return;
        }
        req->state = REQUEST_WRITING;
        r = sd_event_source_set_io_events(req->io_source, EPOLLOUT);
        if (r >= 0)
                r = request_arm_timer(req, CONTROL_WRITE_TIMEOUT);
        if (r < 0) {
                log_error_errno(r, "Failed to wait for the control client: %m");
                request_free(req);
        }
}

static char *format_error(const char *message)
{
        char *text = strdup_printf("ERR %s\n", message && *message ? message : "failed");

        /* The message is one line on the wire, whatever the caller passed. */
        if (text)
                for (char *p = text; p[1]; p++)
                        if (*p == '\n' || *p == '\r')
                                *p = ' ';
        return text;
}

void control_request_reply(ControlRequest *req, bool ok, const char *body)
{
        if (!req)
                return;
        if (req->state != REQUEST_PENDING) {
                log_error("Control request replied to twice, ignoring.");
                return;
        }
        request_send(req, ok ? strdup_printf("OK\n%s", body ?: "") : format_error(body));
}

static bool line_is_printable(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
                        return false;
        return true;
}

int control_parse_request(const char *buf, size_t len, char **ret_command, char **ret_argument)
{
        _cleanup_free_ char *command = NULL, *argument = NULL;
        const char *space, *end;

        if (!buf || !ret_command || !ret_argument)
                return -EINVAL;
        if (len > 0 && buf[len - 1] == '\r')
                len--;
        if (len == 0 || buf[0] == ' ' || !line_is_printable(buf, len))
                return -EBADMSG;
        end = buf + len;
        space = memchr(buf, ' ', len);
        command = strndup(buf, space ? (size_t)(space - buf) : len);
        if (!command)
                return -ENOMEM;
        if (space) {
                const char *arg = space + 1;
                while (arg < end && *arg == ' ')
                        arg++;
                if (arg < end) {
                        argument = strndup(arg, (size_t)(end - arg));
                        if (!argument)
                                return -ENOMEM;
                }
        }
        *ret_command = TAKE_PTR(command);
        *ret_argument = TAKE_PTR(argument);
        return 0;
}

/* The line is complete in req->line[0..len); parses it and hands it to the handler. */
static void request_dispatch(ControlRequest *req, size_t len)
{
        ControlServer *s = req->server;
        int r;

        r = control_parse_request(req->line, len, &req->command, &req->argument);
        if (r == -ENOMEM) {
                log_oom();
                request_free(req);
                return;
        }
        if (r < 0) {
                log_debug("Malformed control request, refusing.");
                request_send(req, format_error("malformed request"));
                return;
        }

        /* From now on only a hang-up interests us (EPOLLHUP is reported even for no events): the
         * request stays valid for the handler, but the connection slot is given back. */
        req->state = REQUEST_PENDING;
        req->timer_source = sd_event_source_disable_unref(req->timer_source);
        r = sd_event_source_set_io_events(req->io_source, 0);
        if (r < 0) {
                log_error_errno(r, "Failed to watch the control connection: %m");
                request_close_fd(req);
        }
        log_debug("Control request: %s%s%s", req->command, req->argument ? " " : "",
                  req->argument ?: "");
        /* The handler may reply, and so free req, before it returns. */
        s->handler(s, req, req->command, req->argument, s->userdata);
}

static void request_read(ControlRequest *req)
{
        ssize_t k;
        char *newline;

        k = recv(req->fd, req->line + req->size, CONTROL_REQUEST_MAX - req->size, MSG_DONTWAIT);
        if (k < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return;
                log_debug_errno(errno, "Failed to read a control request: %m");
                request_free(req);
                return;
        }
        if (k == 0) {
                if (req->size == 0)
                        request_free(req);
                else { /* the client finished sending without a newline */
                        log_debug("Control request without a newline, refusing.");
                        request_send(req, format_error("malformed request"));
                }
                return;
        }
        newline = memchr(req->line + req->size, '\n', (size_t)k);
        req->size += (size_t)k;
        if (newline)
                request_dispatch(req, (size_t)(newline - req->line));
        else if (req->size >= CONTROL_REQUEST_MAX) {
                log_debug("Control request too long, refusing.");
                request_send(req, format_error("request too long"));
        }
}

static int on_request_io(sd_event_source *source, int fd, uint32_t revents, void *userdata)
{
        ControlRequest *req = userdata;
        int r;

        switch (req->state) {
        case REQUEST_READING:
                request_read(req);
                break;
        case REQUEST_PENDING:
                if (revents & (EPOLLHUP | EPOLLERR)) {
                        log_debug("Control client hung up before its reply.");
                        request_close_fd(req);
                }
                break;
        case REQUEST_WRITING:
                r = request_flush(req);
                if (r != 0)
                        request_free(req);
                break;
        }
        return 0;
}

static void reply_and_close(int fd, const char *text)
{
        /* Best effort: a short reply fits in the empty buffer of a new connection. */
        (void)send(fd, text, strlen(text), MSG_NOSIGNAL | MSG_DONTWAIT);
        close(fd);
}

typedef enum ControlAccess { ACCESS_REFUSED, ACCESS_GROUP, ACCESS_PRIVILEGED } ControlAccess;

static bool peer_in_group(int fd, const struct ucred *cred, gid_t group)
{
        gid_t groups[256];
        socklen_t len = sizeof(groups);

        if (cred->gid == group)
                return true;
        /* The supplementary groups the client had when it connected (Linux 4.13+). */
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0) {
                log_debug_errno(errno, "Cannot get the control client's groups: %m");
                return false;
        }
        for (size_t i = 0; i < len / sizeof(gid_t); i++)
                if (groups[i] == group)
                        return true;
        return false;
}

static ControlAccess peer_access(ControlServer *s, int fd)
{
        struct ucred cred;
        socklen_t len = sizeof(cred);

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
                log_warning_errno(errno, "Failed to get control client credentials: %m");
                return ACCESS_REFUSED;
        }
        if (cred.uid == 0 || cred.uid == geteuid())
                return ACCESS_PRIVILEGED;
        if (s->group != (gid_t)-1 && peer_in_group(fd, &cred, s->group))
                return ACCESS_GROUP;
        log_notice("Refused control connection from uid %u (pid %d).", (unsigned)cred.uid,
                   (int)cred.pid);
        return ACCESS_REFUSED;
}

/* Makes room for one more connection; false if every slot holds a request being served. */
static bool make_room(ControlServer *s)
{
        if (s->n_open < CONTROL_CONNECTIONS_MAX)
                return true;
        for (ControlRequest *req = s->requests_head; req; req = req->next)
                if (req->state == REQUEST_READING) {
                        log_debug("Too many control connections, dropping the oldest idle one.");
                        request_free(req);
                        return true;
                }
        return false;
}

static int request_new(ControlServer *s, int fd, bool privileged)
{
        ControlRequest *req;
        int r;

        req = calloc(1, sizeof(*req));
        if (!req) {
                close(fd);
                return -ENOMEM;
        }
        req->server = s;
        req->fd = fd;
        req->privileged = privileged;
        s->n_open++;
        LIST_APPEND(s->requests_head, s->requests_tail, req);

        r = sd_event_add_io(s->event, &req->io_source, fd, EPOLLIN, on_request_io, req);
        if (r >= 0)
                r = request_arm_timer(req, CONTROL_READ_TIMEOUT);
        if (r < 0) {
                request_free(req);
                return r;
        }
        return 0;
}

static void on_accept(Listener *l, int fd, const struct sockaddr *address, socklen_t address_len,
                      void *userdata)
{
        ControlServer *s = userdata;
        ControlAccess access = peer_access(s, fd);
        int r;

        if (access == ACCESS_REFUSED) {
                reply_and_close(fd, "ERR permission denied\n");
                return;
        }
        if (!make_room(s)) {
                reply_and_close(fd, "ERR too many connections\n");
                return;
        }
        r = request_new(s, fd, access == ACCESS_PRIVILEGED);
        if (r < 0)
                log_error_errno(r, "Failed to set up a control connection: %m");
}

/* A socket file nobody listens on is left over from a previous run; a live one is not ours. */
static int remove_stale_socket(const char *path, const struct sockaddr_un *sa, socklen_t len)
{
        _cleanup_close_ int probe = -1;
        struct stat st;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : log_error_errno(errno, "Cannot stat %s: %m", path);
        if (!S_ISSOCK(st.st_mode))
                return log_error_errno(EEXIST, "%s exists and is not a socket, not replacing it.",
                                       path);
        probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (probe < 0)
                return log_error_errno(errno, "Failed to create a socket: %m");
        if (connect(probe, (const struct sockaddr *)sa, len) == 0 || errno == EAGAIN)
                return log_error_errno(
                    EADDRINUSE, "%s is in use by a running process (another vacataire?).", path);
        if (unlink(path) < 0 && errno != ENOENT)
                return log_error_errno(errno, "Failed to remove stale socket %s: %m", path);
        log_debug("Removed stale control socket %s.", path);
        return 0;
}

static int make_parent_directory(const char *path)
{
        _cleanup_free_ char *dir = strdup(path);
        char *slash;
        int r;

        if (!dir)
                return log_oom();
        slash = strrchr(dir, '/');
        if (!slash || slash == dir)
                return 0;
        *slash = 0;
        r = mkdir_p(dir, 0755);
        if (r < 0)
                return log_error_errno(r, "Failed to create directory %s: %m", dir);
        return 0;
}

int control_server_new(sd_event *e, const char *path, ControlHandler handler, void *userdata,
                       ControlServer **ret)
{
        _cleanup_(control_server_freep) ControlServer *s = NULL;
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        socklen_t len;
        _cleanup_close_ int fd = -1;
        struct stat st;
        mode_t old_umask;
        int r;

        if (!e || !path || !*path || !handler || !ret)
                return -EINVAL;
        if (strlen(path) >= sizeof(sa.sun_path))
                return log_error_errno(ENAMETOOLONG, "Control socket path too long: %s", path);
        memcpy(sa.sun_path, path, strlen(path) + 1);
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);

        s = calloc(1, sizeof(*s));
        if (!s)
                return log_oom();
        s->event = sd_event_ref(e);
        s->group = (gid_t)-1;
        s->handler = handler;
        s->userdata = userdata;
        s->path = strdup(path);
        if (!s->path)
                return log_oom();

        r = make_parent_directory(path);
        if (r < 0)
                return r;
        r = remove_stale_socket(path, &sa, len);
        if (r < 0)
                return r;

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return log_error_errno(errno, "Failed to create the control socket: %m");
        /* The socket file is born 0600: no window in which anyone else could connect. */
        old_umask = umask(0177);
        r = bind(fd, (struct sockaddr *)&sa, len);
        umask(old_umask);
        if (r < 0)
                return log_error_errno(errno, "Failed to bind the control socket %s: %m", path);
        if (stat(path, &st) < 0)
                return log_error_errno(errno, "Cannot stat %s: %m", path);
        s->socket_dev = st.st_dev;
        s->socket_ino = st.st_ino;
        s->bound = true;
        if (listen(fd, SOMAXCONN) < 0)
                return log_error_errno(errno, "Failed to listen on %s: %m", path);

        r = listener_new(e, TAKE_FD(fd), "control", on_accept, s, &s->listener);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the control socket: %m");

        *ret = TAKE_PTR(s);
        return 0;
}

int control_server_set_group(ControlServer *s, gid_t group)
{
        /* Group-owned and 0660 for control_group's members; back to root's 0600 without one.
         * Connecting needs write permission on the socket file. */
        if (group != (gid_t)-1 && chown(s->path, (uid_t)-1, group) < 0)
                return log_error_errno(errno, "Cannot give %s to group %u: %m", s->path,
                                       (unsigned)group);
        if (chmod(s->path, group != (gid_t)-1 ? 0660 : 0600) < 0)
                return log_error_errno(errno, "Cannot set the mode of %s: %m", s->path);
        s->group = group;
        return 0;
}

bool control_request_is_privileged(const ControlRequest *req)
{
        return req->privileged;
}

ControlServer *control_server_free(ControlServer *s)
{
        struct stat st;

        if (!s)
                return NULL;
        while (s->requests_head)
                request_free(s->requests_head);
        s->listener = listener_free(s->listener);
        /* Only remove the file if it is still the one we bound. */
        if (s->bound && stat(s->path, &st) == 0 && st.st_dev == s->socket_dev &&
            st.st_ino == s->socket_ino)
                (void)unlink(s->path);
        sd_event_unref(s->event);
        free(s->path);
        free(s);
        return NULL;
}
