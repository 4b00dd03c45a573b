/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * vacataire-checker: runs one check's plugin in a process of its own, so plugin code never runs
 * in the daemon. A plugin that hangs is killed, one that crashes is restarted, and neither can
 * stop the daemon's heartbeats.
 *
 *   vacataire-checker --serve NAME [--memory-limit BYTES]
 *           started by the daemon, one process per check (NAME is only there for ps), in a
 *           process group of its own; the plugin may grow the address space by BYTES (0: no
 *           limit) and whatever it forks dies with the checker (checker-guard.c)
 *   vacataire-checker --once PLUGIN_PATH [name=value ...] [--timeout SECONDS]
 *           for humans and tests: load, configure, run once, print "<result>: <message>"
 *           (and " | <perfdata>" if any); a name given twice, or as name[]=value, is a list;
 *           exit 0 ok/warning, 2 critical, 3 unknown, 1 load/configure error (on stderr)
 *
 * Protocol (--serve). The daemon gives us one end of a SOCK_SEQPACKET socket pair as fd 3, so a
 * message is one packet and needs no framing. Messages are the structs of checker-protocol.h in
 * host byte order (both ends come from the same build and run on the same host):
 *
 *   daemon  -> checker  CONFIGURE  {protocol, timeout, plugin path, params}      first, once
 *   checker -> daemon   CONFIGURED {error = 0}, or {error = -errno, one-line message}, after
 *                                  which the checker exits with status 1
 *   daemon  -> checker  RUN        {id}                 answered in order, one run at a time
 *   checker -> daemon   RESULT     {id, result, one-line message of at most 255 bytes}
 *   checker -> daemon   WAKE       {}   unasked, when the plugin has a watch() callback and one
 *                                  of the fds it gave after the last run became readable: the
 *                                  daemon answers with a RUN now rather than at the interval.
 *                                  At most one WAKE per run; the fds are polled again only after
 *                                  the next run refreshed them.
 *
 * The daemon may send RUN before CONFIGURED arrives: requests queue in the socket. EOF means the
 * daemon is done with us: the plugin's state is freed and we exit 0. Timeouts are the daemon's
 * business (it SIGKILLs a checker whose run is late), and the daemon sets PR_SET_PDEATHSIG
 * before exec so a checker never outlives it. If exec() itself fails, the forked child sends
 * EXEC_FAILED {-errno} instead.
 */
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>

#include "checker-guard.h"
#include "checker-once.h"
#include "checker-protocol.h"
#include "plugin.h"

static const char *const result_names[] = {
    [VACATAIRE_OK] = "ok",
    [VACATAIRE_WARNING] = "warning",
    [VACATAIRE_CRITICAL] = "critical",
    [VACATAIRE_UNKNOWN] = "unknown",
};

/* Messages end up in one log line and one JSON string. */
static void make_one_line(char *s)
{
        for (; *s; s++)
                if ((unsigned char)*s < ' ' || *s == 0x7f)
                        *s = ' ';
}

static int send_packet(int fd, const void *header, size_t header_size, const char *text)
{
        struct iovec iov[2] = {
            {(void *)header, header_size},
            {(void *)text, text ? strlen(text) + 1 : 0},
        };
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = text ? 2 : 1};

        for (;;) {
                if (sendmsg(fd, &mh, MSG_NOSIGNAL) >= 0)
                        return 0;
                if (errno != EINTR)
                        return -errno;
        }
}

/* Returns the packet's full size (more than size if it did not fit), 0 on EOF, or -errno. */
static ssize_t recv_packet(int fd, void *buf, size_t size)
{
        for (;;) {
                ssize_t n = recv(fd, buf, size, MSG_TRUNC);
                if (n >= 0)
                        return n;
                if (errno != EINTR)
                        return -errno;
        }
}

static int send_configured(int fd, int error, const char *message)
{
        struct checker_configured h = {.type = CHECKER_MSG_CONFIGURED, .error = error};

        return send_packet(fd, &h, sizeof(h), error ? message : NULL);
}

/* A NUL-terminated string of exactly size bytes at *offset. */
static const char *take_string(const uint8_t *buf, size_t buf_size, size_t *offset, size_t size)
{
        const char *s = (const char *)buf + *offset;

        if (size == 0 || size > buf_size - *offset || s[size - 1] != 0 || strlen(s) != size - 1)
                return NULL;
        *offset += size;
        return s;
}

/* One checker_param at *offset into *item; named: it has a name, else it is a list element. */
static int take_param(const uint8_t *buf, size_t size, size_t *offset, bool named,
                      struct vacataire_param *item)
{
        struct checker_param p;

        if (size - *offset < sizeof(p))
                return -EBADMSG;
        memcpy(&p, buf + *offset, sizeof(p));
        *offset += sizeof(p);
        *item = (struct vacataire_param){
            .type = p.type,
            .boolean = p.boolean,
            .integer = p.integer,
            .number = p.type == VACATAIRE_PARAM_INT ? (double)p.integer : p.number,
        };
        if (named != (p.name_size > 0))
                return -EBADMSG;
        if (named) {
                item->name = take_string(buf, size, offset, p.name_size);
                if (!item->name)
                        return -EBADMSG;
        }
        if (p.string_size > 0) {
                if (p.type != VACATAIRE_PARAM_STRING)
                        return -EBADMSG;
                item->string = take_string(buf, size, offset, p.string_size);
                if (!item->string)
                        return -EBADMSG;
        } else if (p.type == VACATAIRE_PARAM_STRING)
                return -EBADMSG;
        return 0;
}

/* Decodes CONFIGURE in place: the strings point into buf, which outlives the plugin. The params
 * come first in the one array returned, the elements of lists after them. */
static int parse_configure(const uint8_t *buf, size_t size, const char **ret_path,
                           double *ret_timeout, struct vacataire_params *ret_params, char *err,
                           size_t err_size)
{
        struct checker_configure h;
        struct vacataire_param *items = NULL;
        const char *path;
        size_t offset = sizeof(h), capacity, n_elements = 0;

        if (size < sizeof(h))
                goto malformed;
        memcpy(&h, buf, sizeof(h));
        if (h.type != CHECKER_MSG_CONFIGURE)
                goto malformed;
        if (h.protocol != CHECKER_PROTOCOL_VERSION) {
                snprintf(err, err_size,
                         "vacataire-checker speaks protocol version %u, the daemon version %u "
                         "(daemon and checker from different builds?)",
                         CHECKER_PROTOCOL_VERSION, (unsigned)h.protocol);
                return -EPROTO;
        }
        path = take_string(buf, size, &offset, h.path_size);
        /* Params and elements alike take a checker_param each: this bounds both. */
        capacity = size / sizeof(struct checker_param);
        if (!path || h.n_params > capacity)
                goto malformed;
        if (capacity > 0) {
                items = calloc(capacity, sizeof(*items));
                if (!items) {
                        snprintf(err, err_size, "out of memory");
                        return -ENOMEM;
                }
        }
        for (uint32_t i = 0; i < h.n_params; i++) {
                struct vacataire_param *item = &items[i];

                if (take_param(buf, size, &offset, true, item) < 0)
                        goto malformed;
                if (item->type != VACATAIRE_PARAM_LIST)
                        continue;
                if (item->integer < 0 ||
                    (uint64_t)item->integer > capacity - h.n_params - n_elements)
                        goto malformed;
                item->list = &items[h.n_params + n_elements];
                for (int64_t j = 0; j < item->integer; j++) {
                        struct vacataire_param *e = &items[h.n_params + n_elements++];
                        if (take_param(buf, size, &offset, false, e) < 0 ||
                            e->type == VACATAIRE_PARAM_LIST)
                                goto malformed;
                        e->name = item->name;
                }
        }
        if (offset != size)
                goto malformed;

        *ret_path = path;
        *ret_timeout = h.timeout;
        *ret_params = (struct vacataire_params){.count = h.n_params, .items = items};
        return 0;

malformed:
        free(items);
        snprintf(err, err_size, "vacataire-checker: malformed configure request");
        return -EBADMSG;
}

static int configure_plugin(const char *path, const struct vacataire_params *params, double timeout,
                            Plugin **ret_plugin, void **ret_state, char *err, size_t err_size)
{
        _cleanup_(plugin_freep) Plugin *p = NULL;
        _cleanup_free_ char *load_error = NULL;
        void *state = NULL;
        int r;

        r = plugin_load(path, &p, &load_error);
        if (r < 0) {
                snprintf(err, err_size, "%s", load_error ? load_error : strerror(-r));
                return r;
        }
        err[0] = 0;
        if (p->api->configure(params, timeout, &state, err, err_size) != 0) {
                err[err_size - 1] = 0;
                make_one_line(err);
                if (!err[0])
                        snprintf(err, err_size, "%s: params refused", path);
                return -EINVAL;
        }
        *ret_plugin = TAKE_PTR(p);
        *ret_state = state;
        return 0;
}

/* Leading and trailing blanks off, in place. */
static char *strip(char *s)
{
        size_t n;

        while (*s == ' ')
                s++;
        n = strlen(s);
        while (n > 0 && s[n - 1] == ' ')
                s[--n] = 0;
        return s;
}

/* Runs the plugin once; msg and perfdata get its message split at the first '|'. */
static int run_plugin(const Plugin *p, void *state, char msg[CHECKER_RESULT_MAX],
                      char perfdata[CHECKER_PERFDATA_MAX])
{
        char out[CHECKER_RESULT_MAX + CHECKER_PERFDATA_MAX], *bar;
        int r;

        out[0] = 0;
        r = p->api->run(state, out, sizeof(out));
        out[sizeof(out) - 1] = 0;
        make_one_line(out);
        bar = strchr(out, '|');
        if (bar)
                *bar = 0;
        snprintf(msg, CHECKER_RESULT_MAX, "%s", strip(out));
        snprintf(perfdata, CHECKER_PERFDATA_MAX, "%s", bar ? strip(bar + 1) : "");
        if (r < VACATAIRE_OK || r > VACATAIRE_UNKNOWN) {
                snprintf(msg, CHECKER_RESULT_MAX, "plugin returned an invalid result (%d)", r);
                perfdata[0] = 0;
                r = VACATAIRE_UNKNOWN;
        }
        return r;
}

/* The fds the plugin wants watched after a run, or none. */
static unsigned plugin_watch(const Plugin *p, void *state, int fds[CHECKER_WATCH_MAX])
{
        int (*watch)(void *, int *, uint32_t) = PLUGIN_FIELD(p, watch);
        int n;

        if (!watch)
                return 0;
        n = watch(state, fds, CHECKER_WATCH_MAX);
        if (n <= 0)
                return 0;
        return (unsigned)n > CHECKER_WATCH_MAX ? CHECKER_WATCH_MAX : (unsigned)n;
}

/* Waits for the daemon's next packet; meanwhile, if a watched fd fires, says WAKE once.
 * Returns 0 when the daemon's socket is readable, or -errno. */
static int wait_for_daemon(const int *watched, unsigned n_watched)
{
        struct pollfd p[1 + CHECKER_WATCH_MAX];
        bool woke = false;

        p[0] = (struct pollfd){.fd = CHECKER_FD, .events = POLLIN};
        for (unsigned i = 0; i < n_watched; i++)
                p[1 + i] = (struct pollfd){.fd = watched[i], .events = POLLIN};
        for (;;) {
                if (poll(p, woke ? 1 : 1 + n_watched, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (p[0].revents)
                        return 0; /* a RUN (or EOF) comes first: it runs the check anyway */
                for (unsigned i = 0; i < n_watched && !woke; i++)
                        if (p[1 + i].revents) {
                                struct checker_wake w = {.type = CHECKER_MSG_WAKE};
                                int r = send_packet(CHECKER_FD, &w, sizeof(w), NULL);
                                if (r < 0)
                                        return r;
                                woke = true;
                        }
        }
}

/* The result packet: header, message and perfdata, each string NUL-terminated. */
static int send_result(int fd, const struct checker_result *h, const char *msg,
                       const char *perfdata)
{
        struct iovec iov[3] = {
            {(void *)h, sizeof(*h)},
            {(void *)msg, strlen(msg) + 1},
            {(void *)perfdata, strlen(perfdata) + 1},
        };
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 3};

        for (;;) {
                if (sendmsg(fd, &mh, MSG_NOSIGNAL) >= 0)
                        return 0;
                if (errno != EINTR)
                        return -errno;
        }
}

static int serve(uint64_t memory_limit)
{
        int watched[CHECKER_WATCH_MAX];
        unsigned n_watched = 0;
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_free_ struct vacataire_param *items = NULL;
        _cleanup_(plugin_freep) Plugin *plugin = NULL;
        struct vacataire_params params;
        char err[CHECKER_ERROR_MAX];
        const char *path;
        void *state = NULL;
        double timeout;
        ssize_t n;
        int r;

        r = checker_guard_setup(memory_limit);
        if (r < 0) {
                fprintf(stderr, "vacataire-checker: cannot set up process limits: %s\n",
                        strerror(-r));
                return 1;
        }
        buf = malloc(CHECKER_CONFIGURE_MAX);
        if (!buf)
                return 1;
        n = recv_packet(CHECKER_FD, buf, CHECKER_CONFIGURE_MAX);
        if (n == 0)
                return 0;
        if (n < 0) {
                fprintf(stderr, "vacataire-checker: cannot read fd %d: %s\n", CHECKER_FD,
                        strerror((int)-n));
                return 1;
        }
        if ((size_t)n > CHECKER_CONFIGURE_MAX) {
                send_configured(CHECKER_FD, -EMSGSIZE, "vacataire-checker: params too large");
                return 1;
        }
        r = parse_configure(buf, (size_t)n, &path, &timeout, &params, err, sizeof(err));
        if (r < 0) {
                send_configured(CHECKER_FD, r, err);
                return 1;
        }
        items = (struct vacataire_param *)params.items;
        r = configure_plugin(path, &params, timeout, &plugin, &state, err, sizeof(err));
        if (r < 0) {
                send_configured(CHECKER_FD, r, err);
                return 1;
        }
        if (send_configured(CHECKER_FD, 0, NULL) < 0)
                return 1;
        /* Nothing to watch before the first run: the run opens what it looks at. */

        for (;;) {
                struct checker_run run;
                struct checker_result reply = {.type = CHECKER_MSG_RESULT};
                char msg[CHECKER_RESULT_MAX], perfdata[CHECKER_PERFDATA_MAX];

                if (n_watched > 0 && wait_for_daemon(watched, n_watched) < 0)
                        return 1;
                n = recv_packet(CHECKER_FD, &run, sizeof(run));
                if (n == 0)
                        break;
                if (n != (ssize_t)sizeof(run) || run.type != CHECKER_MSG_RUN)
                        return 1;
                reply.id = run.id;
                checker_guard_begin_run(run.id);
                reply.result = run_plugin(plugin, state, msg, perfdata);
                if (checker_guard_limit_reached()) {
                        /* Its allocations failed: whatever it answered, the check fails, and
                         * a fresh process takes over (this one's peak stays at the limit). */
                        char limit[32], failed[CHECKER_RESULT_MAX + 64];
                        checker_guard_format_bytes(memory_limit, limit, sizeof(limit));
                        snprintf(failed, sizeof(failed),
                                 "plugin exceeded memory_limit (%s): %.200s", limit,
                                 msg[0] ? msg : "no message");
                        reply.result = VACATAIRE_CRITICAL;
                        failed[CHECKER_RESULT_MAX - 1] = 0;
                        (void)send_result(CHECKER_FD, &reply, failed, "");
                        return CHECKER_EXIT_MEMORY_LIMIT;
                }
                n_watched = plugin_watch(plugin, state, watched);
                if (send_result(CHECKER_FD, &reply, msg, perfdata) < 0)
                        return 1;
        }
        if (plugin->api->free)
                plugin->api->free(state);
        return 0;
}

static char once_timeout_line[64];

static void once_timed_out(int sig)
{
        ssize_t k = write(STDOUT_FILENO, once_timeout_line, strlen(once_timeout_line));
        (void)k;
        _exit(3);
}

static int once(int argc, char **argv)
{
        _cleanup_(checker_once_args_done) CheckerOnceArgs args = {0};
        _cleanup_free_ char *relative_path = NULL;
        _cleanup_(plugin_freep) Plugin *plugin = NULL;
        const char *path;
        char err[CHECKER_ERROR_MAX], msg[CHECKER_RESULT_MAX], perfdata[CHECKER_PERFDATA_MAX];
        double timeout;
        void *state = NULL;
        int r;

        r = checker_once_parse(argc, argv, &args);
        if (r == -EINVAL)
                goto usage;
        if (r < 0)
                return 1;
        path = args.path;
        timeout = args.timeout;

        /* dlopen() searches the library path for a bare name; a human means the file here. */
        if (!strchr(path, '/')) {
                relative_path = strdup_printf("./%s", path);
                if (!relative_path)
                        return 1;
                path = relative_path;
        }

        r = configure_plugin(path, &args.params, timeout, &plugin, &state, err, sizeof(err));
        if (r < 0) {
                fprintf(stderr, "%s\n", err);
                return 1;
        }

        snprintf(once_timeout_line, sizeof(once_timeout_line), "unknown: timed out after %g s\n",
                 timeout);
        struct sigaction sa = {.sa_handler = once_timed_out};
        struct itimerval deadline = {
            .it_value = {.tv_sec = (time_t)timeout,
                         .tv_usec = (suseconds_t)((timeout - floor(timeout)) * 1e6)}};
        if (deadline.it_value.tv_sec == 0 && deadline.it_value.tv_usec == 0)
                deadline.it_value.tv_usec = 1;
        sigaction(SIGALRM, &sa, NULL);
        setitimer(ITIMER_REAL, &deadline, NULL);

        r = run_plugin(plugin, state, msg, perfdata);

        setitimer(ITIMER_REAL, &(struct itimerval){0}, NULL);
        printf("%s: %s%s%s\n", result_names[r], msg, perfdata[0] ? " | " : "", perfdata);
        fflush(stdout);
        if (plugin->api->free)
                plugin->api->free(state);
        return r == VACATAIRE_OK || r == VACATAIRE_WARNING ? 0 : r == VACATAIRE_CRITICAL ? 2 : 3;

usage:
        fprintf(stderr, "usage: vacataire-checker --once PLUGIN_PATH [name=value ...] "
                        "[--timeout SECONDS]\n");
        return 1;
}

int main(int argc, char **argv)
{
        if (argc >= 2 && streq(argv[1], "--serve")) {
                uint64_t limit = 0;
                if (argc >= 5 && streq(argv[3], "--memory-limit") &&
                    checker_guard_parse_bytes(argv[4], &limit) < 0) {
                        fprintf(stderr, "vacataire-checker: invalid memory limit: %s\n", argv[4]);
                        return 1;
                }
                return serve(limit);
        }
        if (argc >= 2 && streq(argv[1], "--once"))
                return once(argc - 2, argv + 2);
        if (argc >= 2 && (streq(argv[1], "--help") || streq(argv[1], "-h"))) {
                printf(
                    "vacataire-checker: runs one check plugin for the vacataire daemon.\n\n"
                    "  vacataire-checker --once PLUGIN_PATH [name=value ...] [--timeout SECONDS]\n"
                    "      load, configure and run the plugin once; print \"<result>: "
                    "<message>\";\n"
                    "      a name given twice, or as name[]=value, makes a list\n"
                    "      exit 0 ok/warning, 2 critical, 3 unknown, 1 load/configure error\n"
                    "  vacataire-checker --serve NAME\n"
                    "      started by the daemon, speaks its protocol on fd 3\n");
                return 0;
        }
        if (argc >= 2 && streq(argv[1], "--version")) {
                printf("vacataire-checker %s\n", VACATAIRE_VERSION);
                return 0;
        }
        fprintf(stderr, "vacataire-checker: run by the vacataire daemon; try --help\n");
        return 1;
}
