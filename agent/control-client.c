/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The client side of the control socket, for vacataire-ctl. */
#include <poll.h>
#include <sys/un.h>

#include "control.h"

/* A reply larger than this is not from our agent. */
#define CONTROL_REPLY_MAX (64u * 1024 * 1024)

/* Milliseconds left until deadline for poll(), rounded up; -1 for no deadline. */
static int poll_timeout(usec_t deadline)
{
        usec_t now;

        if (deadline == USEC_INFINITY)
                return -1;
        now = now_usec(CLOCK_MONOTONIC);
        if (now >= deadline)
                return 0;
        if (deadline - now > (usec_t)INT32_MAX * USEC_PER_MSEC)
                return INT32_MAX;
        return (int)((deadline - now + USEC_PER_MSEC - 1) / USEC_PER_MSEC);
}

/* Returns 1 when fd is ready, -ETIMEDOUT at the deadline. */
static int wait_for(int fd, short events, usec_t deadline)
{
        for (;;) {
                struct pollfd p = {.fd = fd, .events = events};
                int n = poll(&p, 1, poll_timeout(deadline));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n > 0)
                        return 1;
                if (poll_timeout(deadline) == 0)
                        return -ETIMEDOUT;
        }
}

static int send_request(int fd, const char *line, usec_t deadline)
{
        size_t size = strlen(line), sent = 0;
        int r;

        while (sent < size) {
                ssize_t k = send(fd, line + sent, size - sent, MSG_NOSIGNAL);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN)
                                return -errno;
                        r = wait_for(fd, POLLOUT, deadline);
                        if (r < 0)
                                return r;
                        continue;
                }
                sent += (size_t)k;
        }
        return 0;
}

static int receive_reply(int fd, usec_t deadline, char **ret, size_t *ret_size)
{
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, alloc = 0;
        int r;

        for (;;) {
                if (size + 4096 + 1 > alloc) {
                        size_t n = alloc ? alloc * 2 : 8192;
                        char *p;
                        if (n > CONTROL_REPLY_MAX)
                                return -EFBIG;
                        p = realloc(buf, n);
                        if (!p)
                                return -ENOMEM;
                        buf = p;
                        alloc = n;
                }
                ssize_t k = recv(fd, buf + size, alloc - size - 1, MSG_DONTWAIT);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        /* The server may close with our unread request still queued, which
                         * resets the connection after its reply. */
                        if (errno == ECONNRESET && size > 0)
                                break;
                        if (errno != EAGAIN)
                                return -errno;
                        r = wait_for(fd, POLLIN, deadline);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (k == 0)
                        break;
                size += (size_t)k;
        }
        buf[size] = 0;
        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

int control_call(const char *path, const char *command, const char *argument, usec_t timeout,
                 bool *ret_ok, char **ret_body)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        _cleanup_free_ char *line = NULL, *reply = NULL;
        _cleanup_close_ int fd = -1;
        usec_t deadline;
        size_t size = 0;
        char *body, *end;
        int r;

        if (!path || !command || !ret_ok || !ret_body)
                return -EINVAL;
        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, strlen(path) + 1);
        deadline = timeout == USEC_INFINITY ? USEC_INFINITY : now_usec(CLOCK_MONOTONIC) + timeout;

        line =
            argument ? strdup_printf("%s %s\n", command, argument) : strdup_printf("%s\n", command);
        if (!line)
                return -ENOMEM;

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        /* connect() on a unix socket waits while the server's backlog is full; SO_SNDTIMEO
         * bounds that wait. */
        if (timeout != USEC_INFINITY) {
                struct timeval tv = {.tv_sec = (time_t)(timeout / USEC_PER_SEC),
                                     .tv_usec = (suseconds_t)(timeout % USEC_PER_SEC)};
                if (tv.tv_sec == 0 && tv.tv_usec == 0)
                        tv.tv_usec = 1;
                if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
                        return -errno;
        }
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return errno == EAGAIN ? -ETIMEDOUT : -errno;
        r = fd_set_nonblock(fd, true);
        if (r < 0)
                return r;

        r = send_request(fd, line, deadline);
        /* A server that refuses us may close before reading everything: its reply still
         * counts. */
        if (r < 0 && r != -EPIPE && r != -ECONNRESET)
                return r;
        r = receive_reply(fd, deadline, &reply, &size);
        if (r < 0)
                return r;

        if (size == 0)
                return -ECONNRESET;
        if (strlen(reply) != size)
                return -EBADMSG;
        if (strncmp(reply, "OK\n", 3) == 0) {
                body = strdup(reply + 3);
                if (!body)
                        return -ENOMEM;
                *ret_ok = true;
                *ret_body = body;
                return 0;
        }
        if (strncmp(reply, "ERR", 3) != 0 || (reply[3] != ' ' && reply[3] != '\n'))
                return -EBADMSG;
        end = strchr(reply + 3, '\n');
        if (!end || end[1])
                return -EBADMSG;
        *end = 0;
        body = strdup(reply[3] == ' ' ? reply + 4 : reply + 3);
        if (!body)
                return -ENOMEM;
        *ret_ok = false;
        *ret_body = body;
        return 0;
}
