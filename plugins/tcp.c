/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * tcp: connects to address (IPv4 "1.2.3.4:80" or IPv6 "[::1]:80") within the timeout; optionally
 * sends a request and checks that the reply starts with an expected text, e.g. a redis PING:
 * send = "PING\r\n"; expect = "+PONG". A new connection every run, as a new client would see it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vacataire-plugin.h"

#define EXPECT_MAX    4096
#define MARGIN_MAX_NS 100000000LL /* answer before the daemon's own timeout kills us */

struct tcp {
        struct sockaddr_storage address;
        socklen_t address_size;
        char *address_text;
        char *send;
        size_t send_size;
        char *expect;
        size_t expect_size;
        double timeout;
        int64_t deadline_ns;
};

static void tcp_free(void *userdata)
{
        struct tcp *t = userdata;

        if (!t)
                return;
        free(t->address_text);
        free(t->send);
        free(t->expect);
        free(t);
}

static int64_t now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Waits for events on fd until the deadline: 1 ready, 0 timed out, -errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
        for (;;) {
                struct pollfd p = {.fd = fd, .events = events};
                int64_t left = deadline - now_ns();
                int r;

                if (left <= 0)
                        return 0;
                r = poll(&p, 1, (int)((left + 999999) / 1000000));
                if (r > 0)
                        return 1;
                if (r < 0 && errno != EINTR)
                        return -errno;
        }
}

/* What the peer said, printable, for a message. */
static void show(const char *data, size_t n, char *buf, size_t size)
{
        size_t k = 0;

        for (size_t i = 0; i < n && k + 5 < size; i++) {
                unsigned char c = (unsigned char)data[i];
                if (c == '\r')
                        k += (size_t)snprintf(buf + k, size - k, "\\r");
                else if (c == '\n')
                        k += (size_t)snprintf(buf + k, size - k, "\\n");
                else if (c < ' ' || c >= 0x7f || c == '|')
                        k += (size_t)snprintf(buf + k, size - k, "\\x%02x", c);
                else
                        buf[k++] = (char)c;
        }
        buf[k] = 0;
}

static int tcp_run(void *userdata, char *msg, size_t msg_size)
{
        struct tcp *t = userdata;
        int64_t start = now_ns(), deadline = start + t->deadline_ns;
        char reply[EXPECT_MAX], shown[256];
        size_t got = 0;
        int fd, r, error = 0;
        socklen_t len = sizeof(error);
        double took;

        fd = socket(t->address.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
                snprintf(msg, msg_size, "cannot create a socket: %s", strerror(errno));
                return VACATAIRE_UNKNOWN;
        }
        if (connect(fd, (struct sockaddr *)&t->address, t->address_size) < 0 &&
            errno != EINPROGRESS) {
                snprintf(msg, msg_size, "connect to %s: %s", t->address_text, strerror(errno));
                goto critical;
        }
        r = wait_fd(fd, POLLOUT, deadline);
        if (r == 0) {
                snprintf(msg, msg_size, "connect to %s: timed out after %.3g s", t->address_text,
                         (double)t->deadline_ns / 1e9);
                goto critical;
        }
        if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0 || error != 0) {
                snprintf(msg, msg_size, "connect to %s: %s", t->address_text,
                         strerror(error   ? error
                                  : r < 0 ? -r
                                          : errno));
                goto critical;
        }

        for (size_t sent = 0; sent < t->send_size;) {
                ssize_t k = send(fd, t->send + sent, t->send_size - sent, MSG_NOSIGNAL);
                if (k > 0) {
                        sent += (size_t)k;
                        continue;
                }
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 && errno == EAGAIN && (r = wait_fd(fd, POLLOUT, deadline)) > 0)
                        continue;
                snprintf(msg, msg_size, "send to %s: %s", t->address_text,
                         k < 0 && errno == EAGAIN && r == 0 ? "timed out" : strerror(errno));
                goto critical;
        }

        /* Only as much as could match: the prefix is all that counts. */
        while (got < t->expect_size) {
                ssize_t k = recv(fd, reply + got, t->expect_size - got, 0);
                if (k > 0) {
                        got += (size_t)k;
                        if (memcmp(reply, t->expect, got) != 0)
                                break;
                        continue;
                }
                if (k == 0)
                        break;
                if (errno == EINTR)
                        continue;
                if (errno == EAGAIN && (r = wait_fd(fd, POLLIN, deadline)) > 0)
                        continue;
                if (errno == EAGAIN && r == 0) {
                        char want[256];
                        show(reply, got, shown, sizeof(shown));
                        show(t->expect, t->expect_size, want, sizeof(want));
                        snprintf(msg, msg_size,
                                 "%s: no reply starting with \"%s\" within %.3g s (got \"%s\")",
                                 t->address_text, want, (double)t->deadline_ns / 1e9, shown);
                } else
                        snprintf(msg, msg_size, "receive from %s: %s", t->address_text,
                                 strerror(errno));
                goto critical;
        }
        if (got < t->expect_size ||
            (t->expect_size > 0 && memcmp(reply, t->expect, t->expect_size) != 0)) {
                char want[256];
                show(reply, got, shown, sizeof(shown));
                show(t->expect, t->expect_size, want, sizeof(want));
                snprintf(msg, msg_size, "%s: reply \"%s\"%s does not start with \"%s\"",
                         t->address_text, shown, got < t->expect_size ? " (then closed)" : "",
                         want);
                goto critical;
        }
        close(fd);

        took = (double)(now_ns() - start) / 1e9;
        if (t->expect_size) {
                show(reply, got, shown, sizeof(shown));
                snprintf(msg, msg_size, "%s answered \"%s\" in %.3f ms|time=%.6fs;;;0;%g",
                         t->address_text, shown, took * 1e3, took, t->timeout);
        } else
                snprintf(msg, msg_size, "connected to %s in %.3f ms|time=%.6fs;;;0;%g",
                         t->address_text, took * 1e3, took, t->timeout);
        return VACATAIRE_OK;

critical:
        close(fd);
        return VACATAIRE_CRITICAL;
}

/* "1.2.3.4:80" or "[::1]:80". */
static int parse_address(const char *text, struct tcp *t, char *err, size_t err_size)
{
        char host[INET6_ADDRSTRLEN + 1];
        const char *colon, *h = text;
        size_t hn;
        char *end;
        unsigned long port;

        colon = strrchr(text, ':');
        if (!colon)
                goto bad;
        if (text[0] == '[') {
                if (colon == text || colon[-1] != ']')
                        goto bad;
                h = text + 1;
                hn = (size_t)(colon - 1 - h);
        } else
                hn = (size_t)(colon - text);
        if (hn == 0 || hn >= sizeof(host))
                goto bad;
        memcpy(host, h, hn);
        host[hn] = 0;
        errno = 0;
        port = strtoul(colon + 1, &end, 10);
        if (!colon[1] || *end || errno || port == 0 || port > 65535 || colon[1] == '+' ||
            colon[1] == '-')
                goto bad;

        memset(&t->address, 0, sizeof(t->address));
        if (text[0] != '[') {
                struct sockaddr_in *a = (struct sockaddr_in *)&t->address;
                if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
                        goto bad;
                a->sin_family = AF_INET;
                a->sin_port = htons((uint16_t)port);
                t->address_size = sizeof(*a);
        } else {
                struct sockaddr_in6 *a = (struct sockaddr_in6 *)&t->address;
                if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
                        goto bad;
                a->sin6_family = AF_INET6;
                a->sin6_port = htons((uint16_t)port);
                t->address_size = sizeof(*a);
        }
        return 0;
bad:
        snprintf(err, err_size,
                 "params.address: must be a numeric \"host:port\" (\"127.0.0.1:6379\", "
                 "\"[::1]:6379\"), not \"%s\"",
                 text);
        return -EINVAL;
}

/* \r \n \t \\ and \xNN, for texts that did not go through libconfig's own escapes (--once). */
static int unescape(const char *name, const char *s, char **ret, size_t *ret_size, char *err,
                    size_t err_size)
{
        size_t n = strlen(s), k = 0;
        char *out = malloc(n + 1);

        if (!out) {
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                if (c != '\\') {
                        out[k++] = c;
                        continue;
                }
                c = s[++i];
                if (c == 'r')
                        out[k++] = '\r';
                else if (c == 'n')
                        out[k++] = '\n';
                else if (c == 't')
                        out[k++] = '\t';
                else if (c == '\\')
                        out[k++] = '\\';
                else if (c == 'x' && s[i + 1] && s[i + 2]) {
                        char hex[3] = {s[i + 1], s[i + 2], 0}, *end;
                        long v = strtol(hex, &end, 16);
                        if (*end)
                                goto bad;
                        out[k++] = (char)v;
                        i += 2;
                } else
                        goto bad;
        }
        out[k] = 0;
        *ret = out;
        *ret_size = k;
        return 0;
bad:
        free(out);
        snprintf(err, err_size, "params.%s: unknown escape (known: \\r \\n \\t \\\\ \\xNN)", name);
        return -EINVAL;
}

static int tcp_configure_into(struct tcp *t, const struct vacataire_params *params, double timeout,
                              char *err, size_t err_size)
{
        static const char *const known[] = {"address", "send", "expect", NULL};
        const char *address = NULL, *send = NULL, *expect = NULL;
        const char *unknown;
        int64_t margin;
        int r;

        unknown = vacataire_params_unknown(params, known);
        if (unknown) {
                snprintf(err, err_size,
                         "params.%s: unknown parameter (known: address, send, "
                         "expect)",
                         unknown);
                return -EINVAL;
        }
        r = vacataire_param_string(params, "address", &address, err, err_size);
        if (r < 0)
                return r;
        if (r == 0) {
                snprintf(err, err_size, "params.address: missing (\"host:port\")");
                return -EINVAL;
        }
        r = parse_address(address, t, err, err_size);
        if (r < 0)
                return r;
        t->address_text = strdup(address);
        if (!t->address_text) {
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }
        if ((r = vacataire_param_string(params, "send", &send, err, err_size)) < 0 ||
            (r = vacataire_param_string(params, "expect", &expect, err, err_size)) < 0)
                return r;
        if (send && (r = unescape("send", send, &t->send, &t->send_size, err, err_size)) < 0)
                return r;
        if (expect &&
            (r = unescape("expect", expect, &t->expect, &t->expect_size, err, err_size)) < 0)
                return r;
        if (t->expect_size > EXPECT_MAX) {
                snprintf(err, err_size, "params.expect: must be at most %d bytes", EXPECT_MAX);
                return -EINVAL;
        }

        if (!(timeout > 0.0)) {
                snprintf(err, err_size, "timeout: must be > 0 seconds");
                return -EINVAL;
        }
        t->timeout = timeout < 86400.0 ? timeout : 86400.0;
        t->deadline_ns = (int64_t)(t->timeout * 1e9);
        margin = t->deadline_ns / 10 < MARGIN_MAX_NS ? t->deadline_ns / 10 : MARGIN_MAX_NS;
        t->deadline_ns -= margin;
        return 0;
}

static int tcp_configure(const struct vacataire_params *params, double timeout, void **state,
                         char *err, size_t err_size)
{
        struct tcp *t = calloc(1, sizeof(*t));
        int r;

        if (!t) {
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }
        r = tcp_configure_into(t, params, timeout, err, err_size);
        if (r < 0) {
                tcp_free(t);
                return r;
        }
        *state = t;
        return 0;
}

VACATAIRE_PLUGIN_DEFINE("tcp", "a TCP connect, optionally a request and the start of its reply",
                        tcp_configure, tcp_run, tcp_free);
