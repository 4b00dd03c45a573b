/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The control socket: a real server in a real sd-event loop, real clients in child processes
 * (control_call, raw sockets, a setuid child, the vacataire-ctl binary). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "control.h"

#define CLIENT_DEADLINE (30 * USEC_PER_SEC)
#define HELD_MAX        8
#define BIG_REPLY_SIZE  (1024 * 1024)

typedef struct Fixture {
        char dir[48];
        char path[96];
        sd_event *event;
        ControlServer *server;

        unsigned n_requests;
        char command[64];
        char argument[CONTROL_REQUEST_MAX + 1];
        bool has_argument;
        ControlRequest *held[HELD_MAX];
        unsigned n_held;
        unsigned n_delayed_replies;
        unsigned fds_at_echo; /* open descriptors of this process when "echo" was handled */
} Fixture;

static unsigned count_open_fds(void)
{
        unsigned n = 0;
        char path[64];

        for (int fd = 0; fd < 4096; fd++) {
                snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
                if (access(path, F_OK) == 0)
                        n++;
        }
        return n;
}

typedef struct DelayedReply {
        Fixture *f;
        ControlRequest *req;
} DelayedReply;

static int on_delayed_reply(sd_event_source *s, uint64_t usec, void *userdata)
{
        DelayedReply *d = userdata;

        control_request_reply(d->req, true, "late\n");
        d->f->n_delayed_replies++;
        free(d);
        return 0;
}

static void handler(ControlServer *s, ControlRequest *req, const char *command,
                    const char *argument, void *userdata)
{
        Fixture *f = userdata;
        char body[CONTROL_REQUEST_MAX + 128];

        f->n_requests++;
        snprintf(f->command, sizeof(f->command), "%s", command);
        snprintf(f->argument, sizeof(f->argument), "%s", argument ?: "");
        f->has_argument = argument != NULL;

        if (streq(command, "echo") || streq(command, "status") || streq(command, "checks") ||
            streq(command, "takeover")) {
                if (streq(command, "echo"))
                        f->fds_at_echo = count_open_fds();
                snprintf(body, sizeof(body), "command=%s argument=%s\n", command,
                         argument ?: "(none)");
                control_request_reply(req, true, body);
        } else if (streq(command, "fail") || streq(command, "reload"))
                control_request_reply(req, false, "it failed\nsecond line");
        else if (streq(command, "later")) {
                DelayedReply *d = malloc(sizeof(*d));
                assert_non_null(d);
                *d = (DelayedReply){f, req};
                assert_int_equal(sd_event_add_time_relative(f->event, NULL, CLOCK_MONOTONIC,
                                                            200 * USEC_PER_MSEC, 0,
                                                            on_delayed_reply, d),
                                 0);
        } else if (streq(command, "never") || streq(command, "quiesce")) {
                assert_true(f->n_held < HELD_MAX);
                f->held[f->n_held++] = req;
        } else if (streq(command, "big")) {
                _cleanup_free_ char *big = malloc(BIG_REPLY_SIZE + 1);
                assert_non_null(big);
                for (size_t i = 0; i < BIG_REPLY_SIZE; i++)
                        big[i] = (char)('a' + i % 26);
                big[BIG_REPLY_SIZE] = 0;
                control_request_reply(req, true, big);
        } else
                control_request_reply(req, false, "unknown command");
}

static int setup(void **state)
{
        Fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        snprintf(f->dir, sizeof(f->dir), "/tmp/test-control-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        /* A directory that does not exist yet: the server creates it. */
        snprintf(f->path, sizeof(f->path), "%s/run/sub/control.sock", f->dir);
        assert_int_equal(sd_event_new(&f->event), 0);
        assert_int_equal(control_server_new(f->event, f->path, handler, f, &f->server), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        Fixture *f = *state;
        char cmd[128];

        /* Frees requests still held by the handler, without calling it again. */
        control_server_free(f->server);
        sd_event_unref(f->event);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
        assert_int_equal(system(cmd), 0);
        free(f);
        return 0;
}

/* Runs the loop until *flag is set, failing the test after timeout. */
static void run_until(Fixture *f, const bool *flag, usec_t timeout)
{
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + timeout;

        while (!*flag) {
                assert_true(now_usec(CLOCK_MONOTONIC) < deadline);
                assert_true(sd_event_run(f->event, 50 * USEC_PER_MSEC) >= 0);
        }
}

static void run_for(Fixture *f, usec_t duration)
{
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + duration;

        while (now_usec(CLOCK_MONOTONIC) < deadline)
                assert_true(sd_event_run(f->event, 10 * USEC_PER_MSEC) >= 0);
}

/* A client is a child process; what it writes to `out` is its result, and the end of that pipe
 * (the child exited) is when it is done. The server keeps running in the parent meanwhile. */
typedef void (*ClientFunction)(Fixture *f, const void *arg, int out);

typedef struct Client {
        pid_t pid;
        int fd;
        sd_event_source *source;
        char *output;
        size_t size;
        bool done;
        int status;
} Client;

static int on_client_output(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        Client *c = userdata;
        char buf[65536];
        ssize_t k = read(fd, buf, sizeof(buf));

        if (k < 0 && errno == EINTR)
                return 0;
        if (k <= 0) {
                c->done = true;
                c->source = sd_event_source_disable_unref(c->source);
                return 0;
        }
        c->output = realloc(c->output, c->size + (size_t)k + 1);
        assert_non_null(c->output);
        memcpy(c->output + c->size, buf, (size_t)k);
        c->size += (size_t)k;
        c->output[c->size] = 0;
        return 0;
}

static Client *client_start(Fixture *f, ClientFunction fn, const void *arg)
{
        Client *c = calloc(1, sizeof(*c));
        int p[2];

        assert_non_null(c);
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        fflush(NULL);
        c->pid = fork();
        assert_true(c->pid >= 0);
        if (c->pid == 0) {
                close(p[0]);
                fn(f, arg, p[1]);
                _exit(0);
        }
        close(p[1]);
        c->fd = p[0];
        assert_int_equal(sd_event_add_io(f->event, &c->source, c->fd, EPOLLIN, on_client_output, c),
                         0);
        return c;
}

/* Waits for the client to finish; returns its output (malloc'd, never NULL). */
static char *client_wait(Fixture *f, Client *c, int *ret_status)
{
        char *output;

        run_until(f, &c->done, CLIENT_DEADLINE);
        assert_int_equal(waitpid(c->pid, &c->status, 0), c->pid);
        close(c->fd);
        output = c->output ?: strdup("");
        assert_non_null(output);
        if (ret_status)
                *ret_status = c->status;
        free(c);
        return output;
}

static char *run_client(Fixture *f, ClientFunction fn, const void *arg)
{
        int status;
        char *output = client_wait(f, client_start(f, fn, arg), &status);

        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        return output;
}

/* control_call in the child; output "r=R ok=O ms=T\n" then the body. */
typedef struct CallArgs {
        const char *path; /* NULL: the fixture's */
        const char *command;
        const char *argument;
        usec_t timeout;
        bool as_nobody;
} CallArgs;

static void client_call(Fixture *f, const void *arg, int out)
{
        const CallArgs *a = arg;
        _cleanup_free_ char *body = NULL;
        bool ok = false;
        usec_t start;
        int r;

        if (a->as_nobody && (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)) {
                dprintf(out, "setuid failed: %m\n");
                return;
        }
        start = now_usec(CLOCK_MONOTONIC);
        r = control_call(a->path ?: f->path, a->command, a->argument,
                         a->timeout ?: 10 * USEC_PER_SEC, &ok, &body);
        dprintf(out, "r=%d ok=%d ms=%llu\n%s", r, ok,
                (unsigned long long)((now_usec(CLOCK_MONOTONIC) - start) / USEC_PER_MSEC),
                body ?: "");
}

typedef struct CallResult {
        int r;
        int ok;
        unsigned long long ms;
        char *body;
        char *output;
} CallResult;

static CallResult call(Fixture *f, const CallArgs *a)
{
        CallResult res = {};
        char *nl;

        res.output = run_client(f, client_call, a);
        assert_int_equal(sscanf(res.output, "r=%d ok=%d ms=%llu", &res.r, &res.ok, &res.ms), 3);
        nl = strchr(res.output, '\n');
        assert_non_null(nl);
        res.body = nl + 1;
        return res;
}

static void call_result_done(CallResult *res)
{
        free(res->output);
}

static int connect_to(const char *path)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return -1;
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                close(fd);
                return -1;
        }
        return fd;
}

/* Reads until EOF (or reset) for at most 10 s. */
static void read_all(int fd, int out)
{
        char buf[4096];

        for (;;) {
                struct pollfd p = {.fd = fd, .events = POLLIN};
                if (poll(&p, 1, 10000) <= 0) {
                        dprintf(out, "(no EOF within 10 s)");
                        return;
                }
                ssize_t k = read(fd, buf, sizeof(buf));
                if (k <= 0)
                        return;
                if (write(out, buf, (size_t)k) != k)
                        return;
        }
}

/* Sends raw bytes on a new connection, optionally closes its sending side, and writes whatever
 * comes back to out. */
typedef struct RawArgs {
        const char *data;
        size_t size;
        bool shutdown_write;
        bool hang_up; /* close right after sending, without reading */
} RawArgs;

static void client_raw(Fixture *f, const void *arg, int out)
{
        const RawArgs *a = arg;
        int fd = connect_to(f->path);

        if (fd < 0) {
                dprintf(out, "connect failed: %m");
                return;
        }
        if (a->size > 0 && send(fd, a->data, a->size, MSG_NOSIGNAL) != (ssize_t)a->size) {
                dprintf(out, "send failed: %m");
                return;
        }
        if (a->hang_up) {
                close(fd);
                dprintf(out, "sent");
                return;
        }
        if (a->shutdown_write)
                (void)shutdown(fd, SHUT_WR);
        read_all(fd, out);
        close(fd);
}

static char *raw(Fixture *f, const char *data, size_t size, bool shutdown_write)
{
        RawArgs a = {.data = data, .size = size, .shutdown_write = shutdown_write};
        return run_client(f, client_raw, &a);
}

static void test_request_reaches_handler(void **state)
{
        Fixture *f = *state;
        CallResult res;

        res = call(f, &(CallArgs){.command = "echo", .argument = "hello world"});
        assert_int_equal(res.r, 0);
        assert_true(res.ok);
        assert_string_equal(res.body, "command=echo argument=hello world\n");
        assert_string_equal(f->command, "echo");
        assert_true(f->has_argument);
        assert_string_equal(f->argument, "hello world");
        call_result_done(&res);

        res = call(f, &(CallArgs){.command = "echo"});
        assert_int_equal(res.r, 0);
        assert_string_equal(res.body, "command=echo argument=(none)\n");
        assert_false(f->has_argument);
        call_result_done(&res);

        /* Extra spaces before the argument are not part of it; a CRLF line end is accepted. */
        _cleanup_free_ char *reply = raw(f, "echo   spaced\r\n", 15, false);
        assert_string_equal(reply, "OK\ncommand=echo argument=spaced\n");
        assert_string_equal(f->argument, "spaced");
        assert_int_equal(f->n_requests, 3);
}

static void test_error_reply(void **state)
{
        Fixture *f = *state;
        CallResult res = call(f, &(CallArgs){.command = "fail"});

        assert_int_equal(res.r, 0);
        assert_false(res.ok);
        /* One line on the wire even if the handler's message had two. */
        assert_string_equal(res.body, "it failed second line");
        call_result_done(&res);

        _cleanup_free_ char *reply = raw(f, "fail\n", 5, false);
        assert_string_equal(reply, "ERR it failed second line\n");
}

static void test_delayed_reply(void **state)
{
        Fixture *f = *state;
        CallResult res = call(f, &(CallArgs){.command = "later"});

        assert_int_equal(res.r, 0);
        assert_true(res.ok);
        assert_string_equal(res.body, "late\n");
        assert_true(res.ms >= 190);
        assert_int_equal(f->n_delayed_replies, 1);
        call_result_done(&res);
}

static void test_hangup_before_reply(void **state)
{
        Fixture *f = *state;
        RawArgs a = {.data = "later\n", .size = 6, .hang_up = true};
        _cleanup_free_ char *out = run_client(f, client_raw, &a);
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + 5 * USEC_PER_SEC;

        /* The server sees the hang-up while the handler still holds the request; the reply
         * 200 ms later goes nowhere. */
        assert_string_equal(out, "sent");
        while (f->n_delayed_replies == 0) {
                assert_true(now_usec(CLOCK_MONOTONIC) < deadline);
                assert_true(sd_event_run(f->event, 50 * USEC_PER_MSEC) >= 0);
        }

        /* An immediate reply, small and large, to clients already gone. */
        a = (RawArgs){.data = "echo\n", .size = 5, .hang_up = true};
        free(out);
        out = run_client(f, client_raw, &a);
        a = (RawArgs){.data = "big\n", .size = 4, .hang_up = true};
        free(out);
        out = run_client(f, client_raw, &a);
        run_for(f, 200 * USEC_PER_MSEC);
        assert_int_equal(f->n_requests, 3);

        /* The server is unharmed (and ASan sees nothing leaked at the end). */
        CallResult res = call(f, &(CallArgs){.command = "echo", .argument = "still here"});
        assert_int_equal(res.r, 0);
        assert_string_equal(res.body, "command=echo argument=still here\n");
        call_result_done(&res);
}

static void test_big_reply(void **state)
{
        Fixture *f = *state;
        CallResult res = call(f, &(CallArgs){.command = "big"});

        /* More than a socket buffer: the server finishes sending from the loop. */
        assert_int_equal(res.r, 0);
        assert_true(res.ok);
        assert_int_equal(strlen(res.body), BIG_REPLY_SIZE);
        for (size_t i = 0; i < BIG_REPLY_SIZE; i++)
                if (res.body[i] != (char)('a' + i % 26))
                        fail_msg("byte %zu differs", i);
        call_result_done(&res);
}

static void test_oversize_request(void **state)
{
        Fixture *f = *state;
        char line[2001], arg[CONTROL_REQUEST_MAX];
        CallResult res;

        memset(line, 'x', 2000);
        line[2000] = '\n';
        _cleanup_free_ char *reply = raw(f, line, sizeof(line), false);
        assert_string_equal(reply, "ERR request too long\n");
        assert_int_equal(f->n_requests, 0);

        /* "echo " + argument + "\n" at exactly the limit passes, one byte more does not. */
        memset(arg, 'a', sizeof(arg));
        arg[CONTROL_REQUEST_MAX - 6] = 0;
        res = call(f, &(CallArgs){.command = "echo", .argument = arg});
        assert_int_equal(res.r, 0);
        assert_true(res.ok);
        assert_int_equal(strlen(f->argument), CONTROL_REQUEST_MAX - 6);
        call_result_done(&res);

        arg[CONTROL_REQUEST_MAX - 6] = 'a';
        arg[CONTROL_REQUEST_MAX - 5] = 0;
        res = call(f, &(CallArgs){.command = "echo", .argument = arg});
        assert_int_equal(res.r, 0);
        assert_false(res.ok);
        assert_string_equal(res.body, "request too long");
        assert_int_equal(f->n_requests, 1);
        call_result_done(&res);
}

static void test_malformed_request(void **state)
{
#define CASE(data, shut)                                                                           \
        {                                                                                          \
                data, sizeof(data) - 1, shut                                                       \
        }
        static const struct {
                const char *data;
                size_t size;
                bool shutdown_write;
        } cases[] = {
            CASE("\x01\x02\n", false), CASE("\n", false),      CASE("echo \xff\n", false),
            CASE("echo\tx\n", false),  CASE(" echo\n", false), CASE("echo\0x\n", false),
            CASE("echo", true), /* the client stops sending without a newline */
        };
#undef CASE
        Fixture *f = *state;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *reply =
                    raw(f, cases[i].data, cases[i].size, cases[i].shutdown_write);
                assert_string_equal(reply, "ERR malformed request\n");
        }
        assert_int_equal(f->n_requests, 0);
}

static void test_socket_file(void **state)
{
        Fixture *f = *state;
        char dir[160];
        struct stat st;

        assert_int_equal(stat(f->path, &st), 0);
        assert_true(S_ISSOCK(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0600);
        snprintf(dir, sizeof(dir), "%s/run/sub", f->dir);
        assert_int_equal(stat(dir, &st), 0);
        assert_true(S_ISDIR(st.st_mode));

        /* The server removes its socket when it goes away. */
        f->server = control_server_free(f->server);
        assert_int_equal(access(f->path, F_OK), -1);
        assert_int_equal(errno, ENOENT);
}

static void test_stale_socket_replaced(void **state)
{
        Fixture *f = *state;
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        ControlServer *second = NULL;
        struct stat st;
        int fd;

        /* A live server is not replaced. */
        assert_int_equal(control_server_new(f->event, f->path, handler, f, &second), -EADDRINUSE);
        assert_null(second);

        /* A socket file left by a dead process is. */
        f->server = control_server_free(f->server);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        close(fd);
        assert_int_equal(stat(f->path, &st), 0);
        assert_true(S_ISSOCK(st.st_mode));
        assert_int_equal(control_server_new(f->event, f->path, handler, f, &f->server), 0);
        CallResult res = call(f, &(CallArgs){.command = "echo"});
        assert_int_equal(res.r, 0);
        assert_true(res.ok);
        call_result_done(&res);

        /* Anything else at that path is left alone. */
        f->server = control_server_free(f->server);
        fd = open(f->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "data", 4), 4);
        close(fd);
        assert_int_equal(control_server_new(f->event, f->path, handler, f, &f->server), -EEXIST);
        assert_null(f->server);
        assert_int_equal(stat(f->path, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_size, 4);
}

static void test_non_root_refused(void **state)
{
        Fixture *f = *state;
        CallResult res;

        if (geteuid() != 0) {
                print_message("not root: cannot run a client as another user, skipping\n");
                skip();
        }
        /* Mode 0600 alone keeps nobody out. */
        assert_int_equal(chmod(f->dir, 0755), 0);
        res = call(f, &(CallArgs){.command = "echo", .as_nobody = true});
        assert_int_equal(res.r, -EACCES);
        call_result_done(&res);

        /* With the file mode opened up, the peer credentials still refuse. */
        assert_int_equal(chmod(f->path, 0666), 0);
        res = call(f, &(CallArgs){.command = "echo", .as_nobody = true});
        assert_int_equal(res.r, 0);
        assert_false(res.ok);
        assert_string_equal(res.body, "permission denied");
        assert_int_equal(f->n_requests, 0);
        call_result_done(&res);

        /* Root still gets in. */
        res = call(f, &(CallArgs){.command = "echo"});
        assert_int_equal(res.r, 0);
        assert_true(res.ok);
        call_result_done(&res);
}

/* Opens 200 connections that send nothing, then makes a normal request while they are open. */
static void client_idle_then_call(Fixture *f, const void *arg, int out)
{
        int fds[200];
        size_t n = 0;

        for (; n < ELEMENTSOF(fds); n++) {
                fds[n] = connect_to(f->path);
                if (fds[n] < 0) {
                        dprintf(out, "r=-1 ok=0 ms=0\nconnect %zu failed: %m", n);
                        return;
                }
        }
        client_call(f, &(CallArgs){.command = "echo", .argument = "after idle"}, out);
        for (size_t i = 0; i < n; i++)
                close(fds[i]);
}

static void test_idle_connections(void **state)
{
        Fixture *f = *state;
        unsigned before = count_open_fds();
        _cleanup_free_ char *out = run_client(f, client_idle_then_call, NULL);

        assert_string_equal(strchr(out, '\n') + 1, "command=echo argument=after idle\n");
        assert_true(strncmp(out, "r=0 ok=1 ", 9) == 0);
        /* While 200 idle clients were connected, the server held at most its cap. */
        print_message("descriptors: %u before, %u with 200 idle clients\n", before, f->fds_at_echo);
        /* Beside the 64 connections: the client's pipe and sd-event's timerfd. */
        assert_true(f->fds_at_echo <= before + 64 + 2);
        assert_true(f->fds_at_echo >= before + 64);
}

/* Connects, sends half a line and waits: prints the milliseconds until the server closes. */
static void client_slow(Fixture *f, const void *arg, int out)
{
        int fd = connect_to(f->path);
        usec_t start = now_usec(CLOCK_MONOTONIC);
        char buf[64];

        if (fd < 0 || send(fd, "ec", 2, MSG_NOSIGNAL) != 2) {
                dprintf(out, "-1");
                return;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 10000) <= 0 || read(fd, buf, sizeof(buf)) != 0) {
                dprintf(out, "-1");
                return;
        }
        dprintf(out, "%llu", (unsigned long long)((now_usec(CLOCK_MONOTONIC) - start) / 1000));
}

static void test_slow_client_closed(void **state)
{
        Fixture *f = *state;
        _cleanup_free_ char *out = run_client(f, client_slow, NULL);
        long ms = strtol(out, NULL, 10);

        assert_true(ms >= 4900);
        assert_true(ms < 8000);
        assert_int_equal(f->n_requests, 0);
}

static void test_call_timeout(void **state)
{
        Fixture *f = *state;
        CallResult res = call(f, &(CallArgs){.command = "never", .timeout = 300 * USEC_PER_MSEC});

        assert_int_equal(res.r, -ETIMEDOUT);
        assert_true(res.ms >= 290);
        assert_true(res.ms < 2000);
        assert_int_equal(f->n_held, 1);
        call_result_done(&res);

        /* The handler answers long after the client gave up: the request is just freed. */
        run_for(f, 100 * USEC_PER_MSEC);
        control_request_reply(f->held[--f->n_held], true, "too late\n");
        run_for(f, 50 * USEC_PER_MSEC);

        /* Nobody listening at all is not a timeout. */
        char missing[160];
        snprintf(missing, sizeof(missing), "%s/missing.sock", f->dir);
        res = call(f, &(CallArgs){.path = missing, .command = "echo"});
        assert_int_equal(res.r, -ENOENT);
        call_result_done(&res);
}

static void test_free_with_pending_request(void **state)
{
        Fixture *f = *state;
        CallArgs a = {.command = "never", .timeout = 10 * USEC_PER_SEC};
        Client *c = client_start(f, client_call, &a);
        _cleanup_free_ char *out = NULL;
        int r, ok, status;
        unsigned long long ms;

        while (f->n_held == 0)
                run_for(f, 10 * USEC_PER_MSEC);
        /* The owner drops its pointers and frees the server: the client sees the end at once. */
        f->n_held = 0;
        f->server = control_server_free(f->server);
        out = client_wait(f, c, &status);
        assert_int_equal(sscanf(out, "r=%d ok=%d ms=%llu", &r, &ok, &ms), 3);
        assert_int_equal(r, -ECONNRESET);
        assert_true(ms < 5000);
        assert_int_equal(f->n_requests, 1);
}

/* vacataire-ctl, the real binary: argv in, stdout/stderr/exit status out. */
typedef struct CtlRun {
        int status;
        char *out;
        char *err;
} CtlRun;

static void client_exec_ctl(Fixture *f, const void *arg, int out)
{
        char *const *argv = arg;
        char path[160];
        int fd;

        /* The pipe stays open in the binary, so its end is the binary's exit. */
        (void)fcntl(out, F_SETFD, 0);
        snprintf(path, sizeof(path), "%s/ctl.out", f->dir);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, STDOUT_FILENO);
        snprintf(path, sizeof(path), "%s/ctl.err", f->dir);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, STDERR_FILENO);
        execv(argv[0], argv);
        _exit(127);
}

static char *read_result_file(Fixture *f, const char *name)
{
        char path[160];
        char *text = NULL;

        snprintf(path, sizeof(path), "%s/%s", f->dir, name);
        assert_int_equal(read_full_file(path, 1024 * 1024, &text, NULL), 0);
        return text;
}

#define ctl(f, ...)                                                                                \
        ctl_run((f), (const char *[]){TEST_BUILD_DIR "/vacataire-ctl", __VA_ARGS__, NULL})

static CtlRun ctl_run(Fixture *f, const char **argv)
{
        CtlRun run = {};
        free(client_wait(f, client_start(f, client_exec_ctl, argv), &run.status));
        assert_true(WIFEXITED(run.status));
        run.status = WEXITSTATUS(run.status);
        run.out = read_result_file(f, "ctl.out");
        run.err = read_result_file(f, "ctl.err");
        return run;
}

static void ctl_done(CtlRun *run)
{
        free(run->out);
        free(run->err);
}

static void test_ctl(void **state)
{
        Fixture *f = *state;
        char config[160], missing[160], expected[512], text[512];
        CtlRun run;
        int fd;

        if (access(TEST_BUILD_DIR "/vacataire-ctl", X_OK) < 0) {
                print_message("vacataire-ctl not built, skipping\n");
                skip();
        }

        run = ctl(f, "-s", f->path, "status", "--json");
        assert_int_equal(run.status, 0);
        assert_string_equal(run.out, "command=status argument=json\n");
        assert_string_equal(run.err, "");
        ctl_done(&run);

        run = ctl(f, "--socket", f->path, "--timeout", "2", "checks");
        assert_int_equal(run.status, 0);
        assert_string_equal(run.out, "command=checks argument=(none)\n");
        ctl_done(&run);

        /* The agent refuses: its message on stderr, exit 1. */
        run = ctl(f, "-s", f->path, "reload");
        assert_int_equal(run.status, 1);
        assert_string_equal(run.out, "");
        assert_string_equal(run.err, "vacataire-ctl: it failed second line\n");
        ctl_done(&run);

        /* No answer in time: exit 2 (the server holds quiesce forever). */
        run = ctl(f, "-s", f->path, "--timeout", "0.3", "quiesce");
        assert_int_equal(run.status, 2);
        snprintf(expected, sizeof(expected), "vacataire-ctl: %s: no answer within 0.3 s\n",
                 f->path);
        assert_string_equal(run.err, expected);
        ctl_done(&run);

        /* Nobody there. */
        snprintf(missing, sizeof(missing), "%s/missing.sock", f->dir);
        run = ctl(f, "-s", missing, "takeover");
        assert_int_equal(run.status, 2);
        snprintf(expected, sizeof(expected),
                 "vacataire-ctl: cannot connect to %s: No such file or directory (is vacataire "
                 "running?)\n",
                 missing);
        assert_string_equal(run.err, expected);
        ctl_done(&run);

        /* The socket path from a configuration file; other keys are the agent's business. */
        snprintf(config, sizeof(config), "%s/vacataire.conf", f->dir);
        snprintf(text, sizeof(text),
                 "node = { name = \"a\"; role = \"master\"; };\ncontrol_socket = \"%s\";\n"
                 "unknown_key = 3;\n",
                 f->path);
        fd = open(config, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        close(fd);
        run = ctl(f, "-c", config, "takeover");
        assert_int_equal(run.status, 0);
        assert_string_equal(run.out, "command=takeover argument=(none)\n");
        ctl_done(&run);

        /* A file libconfig cannot parse: file:line. */
        snprintf(text, sizeof(text), "node = { name = \"a\"; };\n\ncontrol_socket = ;\n");
        fd = open(config, O_WRONLY | O_TRUNC | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        close(fd);
        run = ctl(f, "-c", config, "status");
        assert_int_equal(run.status, 78);
        snprintf(expected, sizeof(expected), "vacataire-ctl: %s:3: syntax error\n", config);
        assert_string_equal(run.err, expected);
        ctl_done(&run);

        /* Without the key, the default socket. */
        snprintf(text, sizeof(text), "plugin_dir = \"/nowhere\";\n");
        fd = open(config, O_WRONLY | O_TRUNC | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        close(fd);
        if (access("/run/vacataire/control.sock", F_OK) < 0) {
                run = ctl(f, "-c", config, "status");
                assert_int_equal(run.status, 2);
                assert_non_null(strstr(run.err, "cannot connect to /run/vacataire/control.sock"));
                ctl_done(&run);
        }

        /* A directory is not a configuration file (libconfig would exit on it). */
        run = ctl(f, "-c", f->dir, "status");
        assert_int_equal(run.status, 78);
        assert_non_null(strstr(run.err, "Is a directory"));
        ctl_done(&run);

        /* Usage errors: 64 and a usage line. */
        static const char *const bad[][4] = {
            {"-s", "/x", NULL},
            {"-s", "/x", "bogus", NULL},
            {"-s", "/x", "status", "--bogus"},
            {"-s", "/x", "reload", "--json"},
            {"-s", "/x", "--timeout", "-1"},
            {"-s", "/x", "--timeout", "soon"},
            {"-c", "/x", "-s", "/y"},
            {"--nope", "status", NULL},
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                run = ctl(f, bad[i][0], bad[i][1], bad[i][2], bad[i][3]);
                assert_int_equal(run.status, 64);
                assert_non_null(strstr(run.err, "Usage: vacataire-ctl"));
                assert_string_equal(run.out, "");
                ctl_done(&run);
        }

        run = ctl(f, "--version");
        assert_int_equal(run.status, 0);
        assert_string_equal(run.out, "vacataire-ctl " VACATAIRE_VERSION "\n");
        ctl_done(&run);
        run = ctl(f, "--help");
        assert_int_equal(run.status, 0);
        assert_non_null(strstr(run.out, "quiesce"));
        ctl_done(&run);
        assert_int_equal(f->n_requests, 5);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_request_reaches_handler, setup, teardown),
            cmocka_unit_test_setup_teardown(test_error_reply, setup, teardown),
            cmocka_unit_test_setup_teardown(test_delayed_reply, setup, teardown),
            cmocka_unit_test_setup_teardown(test_hangup_before_reply, setup, teardown),
            cmocka_unit_test_setup_teardown(test_big_reply, setup, teardown),
            cmocka_unit_test_setup_teardown(test_oversize_request, setup, teardown),
            cmocka_unit_test_setup_teardown(test_malformed_request, setup, teardown),
            cmocka_unit_test_setup_teardown(test_socket_file, setup, teardown),
            cmocka_unit_test_setup_teardown(test_stale_socket_replaced, setup, teardown),
            cmocka_unit_test_setup_teardown(test_non_root_refused, setup, teardown),
            cmocka_unit_test_setup_teardown(test_idle_connections, setup, teardown),
            cmocka_unit_test_setup_teardown(test_slow_client_closed, setup, teardown),
            cmocka_unit_test_setup_teardown(test_call_timeout, setup, teardown),
            cmocka_unit_test_setup_teardown(test_free_with_pending_request, setup, teardown),
            cmocka_unit_test_setup_teardown(test_ctl, setup, teardown),
        };

        /* Writes to clients that went away must not kill the test. */
        signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
