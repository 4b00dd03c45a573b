/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "history.h"

#include <fcntl.h>
#include <inttypes.h>

#include "json.h"
#include "log.h"
#include "role.h"

#define HISTORY_VERSION  "1"
#define HISTORY_FIELDS   9
#define HISTORY_LINE_MAX 2048
#define HISTORY_FILE_MAX (2 * HISTORY_MAX * HISTORY_LINE_MAX)

static const char *const cause_kind_table[_CAUSE_KIND_MAX] = {
    [CAUSE_STARTUP] = "start-up", [CAUSE_CHECK] = "check",         [CAUSE_OPERATOR] = "operator",
    [CAUSE_PEER] = "peer",        [CAUSE_PEER_LOST] = "peer-lost", [CAUSE_TIMER] = "timer",
    [CAUSE_SERVICE] = "service",
};
DEFINE_STRING_TABLE_LOOKUP(cause_kind, CauseKind)

struct History {
        char *path;
        int fd;
        bool write_failed_logged;
        HistoryEntry entries[HISTORY_MAX]; /* a ring: entries[first] is the oldest */
        size_t first, n;
        size_t lines_in_file; /* what the file holds, good lines or not */
};

void cause_set(Cause *c, CauseKind kind, const char *check, const char *message)
{
        c->kind = kind;
        snprintf(c->check, sizeof(c->check), "%s", check ?: "");
        snprintf(c->message, sizeof(c->message), "%s", message ?: "");
}

const char *cause_to_string(const Cause *c, char *buf, size_t size)
{
        const char *kind = cause_kind_to_string(c->kind) ?: "unknown";

        if (c->check[0])
                snprintf(buf, size, "%s %s%s%s", kind, c->check, c->message[0] ? ": " : "",
                         c->message);
        else
                snprintf(buf, size, "%s%s%s", kind, c->message[0] ? ": " : "", c->message);
        return buf;
}

static void put_escaped(FILE *f, const char *s)
{
        for (; *s; s++) {
                switch (*s) {
                case '\\':
                        fputs("\\\\", f);
                        break;
                case '\t':
                        fputs("\\t", f);
                        break;
                case '\n':
                        fputs("\\n", f);
                        break;
                case '\r':
                        fputs("\\r", f);
                        break;
                default:
                        fputc(*s, f);
                }
        }
}

char *history_format_line(const HistoryEntry *e)
{
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        if (!f)
                return NULL;
        fprintf(f, HISTORY_VERSION "\t%" PRIu64 "\t%" PRIu64 "\t", (uint64_t)e->time, e->epoch);
        put_escaped(f, e->from);
        fputc('\t', f);
        put_escaped(f, e->to);
        fprintf(f, "\t%s\t", cause_kind_to_string(e->cause.kind) ?: "unknown");
        put_escaped(f, e->cause.check);
        fputc('\t', f);
        put_escaped(f, e->cause.message);
        fputc('\t', f);
        put_escaped(f, e->reason);
        fputc('\n', f);
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

/* Unescapes s[0..n) into buf; -EBADMSG on a bad escape or if it does not fit. */
static int unescape(const char *s, size_t n, char *buf, size_t size)
{
        size_t j = 0;

        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                if (c == '\\') {
                        if (++i >= n)
                                return -EBADMSG;
                        switch (s[i]) {
                        case '\\':
                                c = '\\';
                                break;
                        case 't':
                                c = '\t';
                                break;
                        case 'n':
                                c = '\n';
                                break;
                        case 'r':
                                c = '\r';
                                break;
                        default:
                                return -EBADMSG;
                        }
                } else if (c == 0 || c == '\n')
                        return -EBADMSG;
                if (j + 1 >= size)
                        return -EBADMSG;
                buf[j++] = c;
        }
        buf[j] = 0;
        return 0;
}

static int parse_u64(const char *s, size_t n, uint64_t *ret)
{
        uint64_t v = 0;

        if (n == 0 || n > 20)
                return -EBADMSG;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EBADMSG;
                if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
                        return -EBADMSG;
                v = v * 10 + (uint64_t)(s[i] - '0');
        }
        *ret = v;
        return 0;
}

int history_parse_line(const char *line, HistoryEntry *ret)
{
        const char *field[HISTORY_FIELDS];
        size_t len[HISTORY_FIELDS];
        HistoryEntry e = {};
        char kind[32];
        const char *p = line;
        uint64_t t;
        int k;

        for (size_t i = 0; i < HISTORY_FIELDS; i++) {
                const char *tab = strchr(p, '\t');
                field[i] = p;
                if (i + 1 < HISTORY_FIELDS) {
                        if (!tab)
                                return -EBADMSG;
                        len[i] = (size_t)(tab - p);
                        p = tab + 1;
                } else {
                        if (tab)
                                return -EBADMSG;
                        len[i] = strlen(p);
                }
        }
        if (len[0] != 1 || field[0][0] != HISTORY_VERSION[0])
                return -EBADMSG;
        if (parse_u64(field[1], len[1], &t) < 0 || parse_u64(field[2], len[2], &e.epoch) < 0)
                return -EBADMSG;
        e.time = t;
        if (unescape(field[3], len[3], e.from, sizeof(e.from)) < 0 ||
            unescape(field[4], len[4], e.to, sizeof(e.to)) < 0 ||
            unescape(field[5], len[5], kind, sizeof(kind)) < 0 ||
            unescape(field[6], len[6], e.cause.check, sizeof(e.cause.check)) < 0 ||
            unescape(field[7], len[7], e.cause.message, sizeof(e.cause.message)) < 0 ||
            unescape(field[8], len[8], e.reason, sizeof(e.reason)) < 0)
                return -EBADMSG;
        if ((int)role_state_from_string(e.from) < 0 || (int)role_state_from_string(e.to) < 0)
                return -EBADMSG;
        k = (int)cause_kind_from_string(kind);
        if (k < 0)
                return -EBADMSG;
        e.cause.kind = (CauseKind)k;
        *ret = e;
        return 0;
}

static void history_push(History *h, const HistoryEntry *e)
{
        if (h->n < HISTORY_MAX)
                h->entries[(h->first + h->n++) % HISTORY_MAX] = *e;
        else {
                h->entries[h->first] = *e;
                h->first = (h->first + 1) % HISTORY_MAX;
        }
}

size_t history_count(const History *h)
{
        return h ? h->n : 0;
}

const HistoryEntry *history_get(const History *h, size_t i)
{
        if (!h || i >= h->n)
                return NULL;
        return &h->entries[(h->first + i) % HISTORY_MAX];
}

/* Rewrites the file as the entries kept in memory: small (HISTORY_MAX short lines), so done in
 * place on the loop, without fsync: losing the tail of the record in a power cut is acceptable,
 * stalling heartbeats is not. */
static int history_compact(History *h)
{
        _cleanup_free_ char *tmp = strdup_printf("%s.tmp", h->path);
        _cleanup_close_ int fd = -1;
        int r = 0;

        if (!tmp)
                return -ENOMEM;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        for (size_t i = 0; i < h->n && r >= 0; i++) {
                _cleanup_free_ char *line = history_format_line(history_get(h, i));
                if (!line)
                        r = -ENOMEM;
                else if (write(fd, line, strlen(line)) != (ssize_t)strlen(line))
                        r = errno ? -errno : -EIO;
        }
        if (r >= 0 && rename(tmp, h->path) < 0)
                r = -errno;
        if (r < 0) {
                (void)unlink(tmp);
                return r;
        }
        if (h->fd >= 0)
                close(h->fd);
        h->fd = open(h->path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
        if (h->fd < 0)
                return -errno;
        h->lines_in_file = h->n;
        return 0;
}

static void history_load(History *h)
{
        _cleanup_free_ char *data = NULL;
        size_t size = 0, skipped = 0;
        int r;

        r = read_full_file(h->path, HISTORY_FILE_MAX * 2, &data, &size);
        if (r == -ENOENT)
                return;
        if (r < 0) {
                log_warning_errno(r, "Cannot read %s, starting a new history: %m", h->path);
                return;
        }
        for (char *line = data, *end; line < data + size; line = end + 1) {
                HistoryEntry e;
                end = memchr(line, '\n', (size_t)(data + size - line));
                if (!end)
                        end = data + size; /* a torn last line */
                *end = 0;
                h->lines_in_file++;
                if (history_parse_line(line, &e) < 0)
                        skipped++;
                else
                        history_push(h, &e);
        }
        if (skipped > 0)
                log_warning("%s: skipped %zu unreadable line%s", h->path, skipped,
                            skipped == 1 ? "" : "s");
}

int history_open(const char *dir, History **ret)
{
        _cleanup_(history_freep) History *h = NULL;
        int r;

        h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->fd = -1;
        h->path = strdup_printf("%s/history", dir);
        if (!h->path)
                return -ENOMEM;
        (void)mkdir_p(dir, 0700);
        history_load(h);
        /* A torn last line, or more lines than we keep: start from a clean file. */
        if (h->lines_in_file != h->n || h->n >= HISTORY_MAX) {
                r = history_compact(h);
                if (r < 0)
                        log_warning_errno(r, "Cannot rewrite %s: %m", h->path);
        }
        if (h->fd < 0) {
                h->fd = open(h->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (h->fd < 0)
                        log_warning_errno(errno, "Cannot open %s, history kept in memory: %m",
                                          h->path);
        }
        *ret = TAKE_PTR(h);
        return 0;
}

History *history_free(History *h)
{
        if (!h)
                return NULL;
        if (h->fd >= 0)
                close(h->fd);
        free(h->path);
        free(h);
        return NULL;
}

void history_add(History *h, const HistoryEntry *e)
{
        _cleanup_free_ char *line = NULL;
        ssize_t k;
        int r = 0;

        if (!h)
                return;
        history_push(h, e);
        if (h->lines_in_file + 1 >= 2 * HISTORY_MAX) {
                r = history_compact(h);
                if (r >= 0)
                        return; /* the new entry is in the rewritten file */
        } else if (h->fd >= 0) {
                line = history_format_line(e);
                if (!line)
                        r = -ENOMEM;
                else {
                        /* One write of a short line on an O_APPEND file: it lands whole. */
                        k = write(h->fd, line, strlen(line));
                        r = k == (ssize_t)strlen(line) ? 0 : (k < 0 ? -errno : -EIO);
                        if (r >= 0)
                                h->lines_in_file++;
                }
        }
        if (r < 0 && !h->write_failed_logged) {
                h->write_failed_logged = true;
                log_warning_errno(r, "Cannot write %s, history kept in memory: %m", h->path);
        }
}

static void format_time(usec_t t, char *buf, size_t size)
{
        time_t sec = (time_t)(t / USEC_PER_SEC);
        struct tm tm;

        if (!gmtime_r(&sec, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
                snprintf(buf, size, "%" PRIu64, (uint64_t)t);
                return;
        }
        snprintf(buf + strlen(buf), size - strlen(buf), ".%03uZ",
                 (unsigned)(t % USEC_PER_SEC / USEC_PER_MSEC));
}

int history_format(const History *h, bool json, char **ret)
{
        _cleanup_free_ char *buf = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        size_t size = 0;
        char when[64], cause[CAUSE_NAME_MAX + CAUSE_MESSAGE_MAX + 32];

        if (json) {
                _cleanup_(json_writer_done) JsonWriter w = {};
                int r = json_writer_open(&w);
                if (r < 0)
                        return r;
                json_begin_array(&w, NULL);
                for (size_t i = 0; i < history_count(h); i++) {
                        const HistoryEntry *e = history_get(h, i);
                        format_time(e->time, when, sizeof(when));
                        json_begin_object(&w, NULL);
                        json_add_string(&w, "time", when);
                        json_add_uint(&w, "time_usec", e->time);
                        json_add_uint(&w, "epoch", e->epoch);
                        json_add_string(&w, "from", e->from);
                        json_add_string(&w, "to", e->to);
                        json_add_string(&w, "reason", e->reason);
                        json_add_string(&w, "cause", cause_kind_to_string(e->cause.kind));
                        if (e->cause.check[0])
                                json_add_string(&w, "check", e->cause.check);
                        else
                                json_add_null(&w, "check");
                        json_add_string(&w, "message", e->cause.message);
                        json_end_object(&w);
                }
                json_end_array(&w);
                return json_writer_finish(&w, ret);
        }
        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        for (size_t i = 0; i < history_count(h); i++) {
                const HistoryEntry *e = history_get(h, i);
                format_time(e->time, when, sizeof(when));
                fprintf(f, "%s  epoch %-4" PRIu64 " %-8s -> %-8s  %s  [%s]\n", when, e->epoch,
                        e->from, e->to, e->reason,
                        cause_to_string(&e->cause, cause, sizeof(cause)));
        }
        if (history_count(h) == 0)
                fputs("no state changes recorded\n", f);
        if (fflush(f) != 0 || ferror(f))
                return -ENOMEM;
        fclose(TAKE_PTR(f));
        *ret = TAKE_PTR(buf);
        return 0;
}
