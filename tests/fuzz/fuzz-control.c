/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* libFuzzer target for the control socket's request parsing. Every input goes through
 * control_parse_request, whose result is checked against the wire format; inputs whose first
 * byte is odd are also sent, byte for byte, to a real ControlServer on a unix socket in a
 * private directory, and its reply is checked against what the format says it must be. */
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "control.h"
#include "fuzz-check.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

static sd_event *event;
static ControlServer *server;
static char socket_dir[128], socket_path[160];

static bool is_printable(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
                        return false;
        return true;
}

static bool all_spaces(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (s[i] != ' ')
                        return false;
        return true;
}

/* The line is buf[0..len): checks control_parse_request against the format, "COMMAND
 * [ARGUMENT]": the command up to the first space, spaces, then the argument to the end. */
static int check_parse(const char *buf, size_t len, char **ret_command, char **ret_argument)
{
        char *command = (char *)0x1, *argument = (char *)0x1;
        size_t n = len > 0 && buf[len - 1] == '\r' ? len - 1 : len;
        bool valid = n > 0 && buf[0] != ' ' && is_printable(buf, n);
        int r = control_parse_request(buf, len, &command, &argument);

        if (!valid) {
                FUZZ_CHECK(r == -EBADMSG);
                /* A refused line leaves the outputs alone. */
                FUZZ_CHECK(command == (char *)0x1 && argument == (char *)0x1);
                return r;
        }
        FUZZ_CHECK(r == 0);
        size_t cl = strlen(command);
        FUZZ_CHECK(cl > 0 && cl <= n && memcmp(command, buf, cl) == 0);
        FUZZ_CHECK(!strchr(command, ' '));
        FUZZ_CHECK(cl == n || buf[cl] == ' ');
        if (argument) {
                size_t al = strlen(argument);
                FUZZ_CHECK(al > 0 && argument[0] != ' ' && cl + 1 + al <= n);
                FUZZ_CHECK(memcmp(argument, buf + n - al, al) == 0);
                FUZZ_CHECK(all_spaces(buf + cl, n - al - cl));
        } else
                FUZZ_CHECK(all_spaces(buf + cl, n - cl));

        if (ret_command)
                *ret_command = command;
        else
                free(command);
        if (ret_argument)
                *ret_argument = argument;
        else
                free(argument);
        return 0;
}

/* Echoes what it was given, so the client side can check what reached the handler; "err"
 * replies with an error whose message is the argument. */
static void handler(ControlServer *s, ControlRequest *req, const char *command,
                    const char *argument, void *userdata)
{
        _cleanup_free_ char *body = NULL;

        if (streq(command, "err")) {
                control_request_reply(req, false, argument);
                return;
        }
        body = strdup_printf("C%s\n%s%s\n", command, argument ? "A" : "N", argument ?: "");
        FUZZ_CHECK(body);
        control_request_reply(req, true, body);
}

static void remove_socket_dir(void)
{
        server = control_server_free(server);
        event = sd_event_unref(event);
        (void)unlink(socket_path);
        (void)rmdir(socket_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        const char *tmp = getenv("TMPDIR");

        snprintf(socket_dir, sizeof(socket_dir), "%s/vc-fuzz-control.XXXXXX",
                 tmp && *tmp && strlen(tmp) < 64 ? tmp : "/tmp");
        FUZZ_CHECK(mkdtemp(socket_dir));
        snprintf(socket_path, sizeof(socket_path), "%s/control.sock", socket_dir);
        FUZZ_CHECK(sd_event_new(&event) >= 0);
        FUZZ_CHECK(control_server_new(event, socket_path, handler, NULL, &server) == 0);
        atexit(remove_socket_dir);
        return 0;
}

/* What the server must answer to a client that sends data and then shuts its side down. */
static char *expected_reply(const char *data, size_t size)
{
        size_t window = size < CONTROL_REQUEST_MAX ? size : CONTROL_REQUEST_MAX;
        const char *newline = memchr(data, '\n', window);
        _cleanup_free_ char *command = NULL, *argument = NULL;

        if (!newline) {
                if (size == 0)
                        return strdup(""); /* nothing asked, nothing answered */
                return strdup(size >= CONTROL_REQUEST_MAX ? "ERR request too long\n"
                                                          : "ERR malformed request\n");
        }
        if (check_parse(data, (size_t)(newline - data), &command, &argument) < 0)
                return strdup("ERR malformed request\n");
        if (streq(command, "err"))
                return strdup_printf("ERR %s\n", argument ?: "failed");
        return strdup_printf("OK\nC%s\n%s%s\n", command, argument ? "A" : "N", argument ?: "");
}

static void fuzz_server(const char *data, size_t size)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *expected = NULL;
        char reply[4096];
        size_t got = 0, sent = 0;
        bool shut = false, eof = false;

        memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        FUZZ_CHECK(fd >= 0);
        FUZZ_CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);

        /* Bounded: the server answers within a few loop iterations or it is a bug. */
        for (unsigned i = 0; i < 5000 && !eof; i++) {
                if (sent < size) {
                        ssize_t k = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
                        if (k > 0)
                                sent += (size_t)k;
                        else if (errno != EAGAIN) {
                                /* The server has answered early and closed. */
                                FUZZ_CHECK(errno == EPIPE || errno == ECONNRESET);
                                sent = size;
                        }
                }
                if (sent == size && !shut) {
                        (void)shutdown(fd, SHUT_WR);
                        shut = true;
                }
                FUZZ_CHECK(sd_event_run(event, 1000) >= 0);
                for (;;) {
                        ssize_t k = recv(fd, reply + got, sizeof(reply) - 1 - got, 0);
                        if (k > 0) {
                                got += (size_t)k;
                                FUZZ_CHECK(got < sizeof(reply) - 1);
                                continue;
                        }
                        if (k == 0 || errno == ECONNRESET)
                                eof = true;
                        else
                                FUZZ_CHECK(errno == EAGAIN);
                        break;
                }
        }
        FUZZ_CHECK(eof);
        reply[got] = 0;
        expected = expected_reply(data, size);
        FUZZ_CHECK(expected);
        if (!streq(reply, expected)) {
                fprintf(stderr, "reply \"%s\", expected \"%s\"\n", reply, expected);
                abort();
        }
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
        const char *line;
        size_t len;

        if (size < 1)
                return 0;
        line = (const char *)data + 1;
        len = size - 1;
        (void)check_parse(line, len, NULL, NULL);
        if (data[0] & 1)
                fuzz_server(line, len);
        return 0;
}
