/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * content: an HTTP GET whose body must be exactly content_length bytes long. A page that renders
 * but is truncated or carries an error text in place of the content has the wrong length, which
 * a port check or a status code alone does not see. It can also look for a text in the body
 * (expect), accept other status codes, send request headers, trust a private CA, and HEAD.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vacataire-plugin.h"

#define EXPECT_SCAN_MAX (1024 * 1024) /* without content_length, expect is looked for this far */

struct content {
        CURL *curl;
        char *url;
        bool check_length;
        uint64_t content_length;
        int64_t *status;
        size_t n_status;
        struct curl_slist *headers;
        char *ca_file;
        char *expect;
        size_t expect_size;
        double timeout;
        /* Per run: */
        uint64_t received;
        bool too_long;
        bool found;   /* expect was seen */
        bool stopped; /* we stopped reading: all that counts is known */
        char *tail;   /* the last expect_size - 1 bytes seen, for a match across two reads */
        size_t tail_size;
        char curl_error[CURL_ERROR_SIZE];
};

static void content_free(void *userdata)
{
        struct content *c = userdata;

        if (!c)
                return;
        if (c->curl)
                curl_easy_cleanup(c->curl);
        curl_slist_free_all(c->headers);
        free(c->url);
        free(c->status);
        free(c->ca_file);
        free(c->expect);
        free(c->tail);
        free(c);
}

/* Looks for expect in what came so far, keeping only the bytes a later match could start in. */
static void scan_expect(struct content *c, const char *data, size_t n)
{
        size_t keep = c->expect_size - 1, total = c->tail_size + n;
        char *window;

        if (c->found || c->expect_size == 0)
                return;
        window = malloc(total);
        if (!window)
                return; /* not found, then: the run fails, it does not lie */
        memcpy(window, c->tail, c->tail_size);
        memcpy(window + c->tail_size, data, n);
        if (memmem(window, total, c->expect, c->expect_size))
                c->found = true;
        c->tail_size = total < keep ? total : keep;
        memcpy(c->tail, window + total - c->tail_size, c->tail_size);
        free(window);
}

/* Counts the body, looks for expect in it, and drops it. Stops as soon as the outcome is known:
 * once the body is too long (past length + 1, so an off-by-one is still reported exactly), or,
 * without content_length, once expect is found or EXPECT_SCAN_MAX bytes went by, so that a huge
 * body costs neither memory nor time. */
static size_t write_body(char *data, size_t size, size_t nmemb, void *userdata)
{
        struct content *c = userdata;
        size_t n = nmemb * size;

        c->received += (uint64_t)n;
        if (c->check_length && c->received > c->content_length + 1) {
                c->too_long = true;
                return 0;
        }
        scan_expect(c, data, n);
        if (!c->check_length && (c->found || c->received > EXPECT_SCAN_MAX)) {
                c->stopped = true;
                return 0;
        }
        return n;
}

/* libcurl's own socket() call does not set close-on-exec. */
static curl_socket_t open_socket(void *userdata, curlsocktype purpose,
                                 struct curl_sockaddr *address)
{
        return socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

static bool status_ok(const struct content *c, long status)
{
        for (size_t i = 0; i < c->n_status; i++)
                if (c->status[i] == status)
                        return true;
        return false;
}

static void format_status(const struct content *c, char *buf, size_t size)
{
        size_t k = 0;

        buf[0] = 0;
        for (size_t i = 0; i < c->n_status && k < size; i++) {
                int w = snprintf(buf + k, size - k, "%s%lld", i == 0 ? "" : " or ",
                                 (long long)c->status[i]);
                if (w < 0)
                        break;
                k += (size_t)w;
        }
}

/* A '|' would start the perfdata (vacataire-plugin.h): none in the text, whatever the URL or
 * expect hold. */
static void no_bars(char *s)
{
        for (; *s; s++)
                if (*s == '|')
                        *s = '/';
}

/* The verdict on an answer that arrived, its message in msg. */
static int judge(struct content *c, long status, char *msg, size_t msg_size)
{
        char expected[128];

        if (!status_ok(c, status)) {
                format_status(c, expected, sizeof(expected));
                snprintf(msg, msg_size, "status %ld, expected %s", status, expected);
                return VACATAIRE_CRITICAL;
        }
        if (c->check_length && c->too_long) {
                snprintf(msg, msg_size, "body over %llu bytes, expected %llu",
                         (unsigned long long)c->content_length + 1,
                         (unsigned long long)c->content_length);
                return VACATAIRE_CRITICAL;
        }
        if (c->check_length && c->received != c->content_length) {
                snprintf(msg, msg_size, "body %llu bytes, expected %llu",
                         (unsigned long long)c->received, (unsigned long long)c->content_length);
                return VACATAIRE_CRITICAL;
        }
        if (c->expect && !c->found) {
                if (c->stopped)
                        snprintf(msg, msg_size, "\"%s\" not in the first %d bytes of the body",
                                 c->expect, EXPECT_SCAN_MAX);
                else
                        snprintf(msg, msg_size, "\"%s\" not in the body (%llu bytes)", c->expect,
                                 (unsigned long long)c->received);
                return VACATAIRE_CRITICAL;
        }
        if (c->check_length)
                snprintf(msg, msg_size, "OK: %llu bytes", (unsigned long long)c->received);
        else if (c->expect)
                snprintf(msg, msg_size, "OK: status %ld, body has \"%s\"", status, c->expect);
        else
                snprintf(msg, msg_size, "OK: status %ld", status);
        return VACATAIRE_OK;
}

static int content_run(void *userdata, char *msg, size_t msg_size)
{
        struct content *c = userdata;
        long status = 0;
        curl_off_t took = 0;
        size_t k;
        int r;
        CURLcode code;

        c->received = 0;
        c->too_long = c->found = c->stopped = false;
        c->tail_size = 0;
        c->curl_error[0] = 0;
        code = curl_easy_perform(c->curl);
        (void)curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);

        if (code != CURLE_OK && !(code == CURLE_WRITE_ERROR && (c->too_long || c->stopped))) {
                const char *text = c->curl_error[0] ? c->curl_error : curl_easy_strerror(code);
                if (code == CURLE_OPERATION_TIMEDOUT)
                        snprintf(msg, msg_size, "timed out after %.1f s: %s", c->timeout, text);
                else
                        snprintf(msg, msg_size, "%s", text);
                no_bars(msg);
                return VACATAIRE_CRITICAL;
        }
        r = judge(c, status, msg, msg_size);
        no_bars(msg);
        /* As check_http says it: the time and size of the answer, after '|'. */
        (void)curl_easy_getinfo(c->curl, CURLINFO_TOTAL_TIME_T, &took);
        k = strlen(msg);
        if (k + 1 < msg_size)
                snprintf(msg + k, msg_size - k, "|time=%.6fs;;;0 size=%lluB;;;0",
                         (double)took / 1e6, (unsigned long long)c->received);
        return r;
}

static CURLcode curl_init_result = CURLE_OK;
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
        curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int bool_param(const struct vacataire_params *params, const char *name, bool def, bool *ret,
                      char *err, size_t err_size)
{
        int value = def;
        int r = vacataire_param_boolean(params, name, &value, err, err_size);

        *ret = value;
        return r < 0 ? r : 0;
}

static int copy_string(const char *s, char **ret, char *err, size_t err_size)
{
        *ret = strdup(s);
        if (!*ret) {
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }
        return 0;
}

/* Request headers: "Name: value", one line each. */
static int parse_headers(struct content *c, const struct vacataire_params *params, char *err,
                         size_t err_size)
{
        char **headers = NULL;
        size_t n = 0;
        int r;

        r = vacataire_param_string_list(params, "headers", 1, &headers, &n, err, err_size);
        if (r <= 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                const char *h = headers[i], *colon = strchr(h, ':');
                struct curl_slist *l;
                bool ok = colon && colon != h && !strpbrk(h, "\r\n");
                for (const char *p = h; ok && p < colon; p++)
                        ok = *p > ' ' && *p < 0x7f;
                if (!ok) {
                        snprintf(err, err_size,
                                 "params.headers: must be \"Name: value\" lines, not \"%s\"", h);
                        vacataire_strv_free(headers);
                        return -EINVAL;
                }
                l = curl_slist_append(c->headers, h);
                if (!l) {
                        vacataire_strv_free(headers);
                        snprintf(err, err_size, "out of memory");
                        return -ENOMEM;
                }
                c->headers = l;
        }
        vacataire_strv_free(headers);
        return 0;
}

static int check_url(const char *url, char *err, size_t err_size)
{
        CURLU *u = curl_url();
        char *scheme = NULL;
        CURLUcode uc;
        int r = 0;

        if (!u) {
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }
        uc = curl_url_set(u, CURLUPART_URL, url, 0);
        if (uc != CURLUE_OK) {
                snprintf(err, err_size, "params.url: not a valid URL: %s", curl_url_strerror(uc));
                r = -EINVAL;
        } else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
                   (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
                snprintf(err, err_size, "params.url: must start with http:// or https://");
                r = -EINVAL;
        }
        curl_free(scheme);
        curl_url_cleanup(u);
        return r;
}

static int content_configure_into(struct content *c, const struct vacataire_params *params,
                                  double timeout, char *err, size_t err_size)
{
        static const char *const known[] = {
            "url",    "content_length", "status", "tls_verify", "follow_redirects",
            "method", "headers",        "expect", "ca_file",    NULL};
        static const char *const methods[] = {"GET", "HEAD", NULL};
        const struct vacataire_param *p;
        const char *unknown, *url = NULL, *expect = NULL, *ca_file = NULL;
        bool tls_verify, follow_redirects;
        int method = 0;
        int64_t length = 0;
        long timeout_ms;
        int r, has_status;

        unknown = vacataire_params_unknown(params, known);
        if (unknown) {
                snprintf(err, err_size,
                         "params.%s: unknown parameter (known: url, content_length, status, "
                         "tls_verify, follow_redirects, method, headers, expect, ca_file)",
                         unknown);
                return -EINVAL;
        }

        p = vacataire_param_find(params, "url");
        if (!p) {
                snprintf(err, err_size, "params.url: missing");
                return -EINVAL;
        }
        if (p->type != VACATAIRE_PARAM_STRING || !p->string) {
                snprintf(err, err_size, "params.url: must be a string");
                return -EINVAL;
        }
        url = p->string;
        r = check_url(url, err, err_size);
        if (r < 0)
                return r;
        if ((r = copy_string(url, &c->url, err, err_size)) < 0)
                return r;

        r = vacataire_param_choice(params, "method", methods, &method, err, err_size);
        if (r < 0)
                return r;
        has_status = vacataire_param_integer_list(params, "status", 1, 100, 599, &c->status,
                                                  &c->n_status, err, err_size);
        if (has_status < 0)
                return has_status;
        if (has_status == 0 || c->n_status == 0) {
                free(c->status);
                c->status = calloc(1, sizeof(*c->status));
                if (!c->status) {
                        snprintf(err, err_size, "out of memory");
                        return -ENOMEM;
                }
                c->status[0] = 200;
                c->n_status = 1;
        }
        r = vacataire_param_string(params, "expect", &expect, err, err_size);
        if (r < 0)
                return r;
        if (expect) {
                if (method == 1) {
                        snprintf(err, err_size, "params.expect: a HEAD reply has no body");
                        return -EINVAL;
                }
                if ((r = copy_string(expect, &c->expect, err, err_size)) < 0)
                        return r;
                c->expect_size = strlen(expect);
                c->tail = malloc(c->expect_size);
                if (!c->tail) {
                        snprintf(err, err_size, "out of memory");
                        return -ENOMEM;
                }
        }

        /* The exact length is the point of this plugin: it may be left out only when something
         * else is checked. */
        r = vacataire_param_integer(params, "content_length", 0, INT64_MAX, &length, err, err_size);
        if (r > 0 && length == INT64_MAX) /* length + 1 must fit */
                r = vacataire_param_integer(params, "content_length", 0, INT64_MAX - 1, &length,
                                            err, err_size);
        if (r < 0)
                return r;
        if (r > 0 && method == 1) {
                snprintf(err, err_size, "params.content_length: a HEAD reply has no body");
                return -EINVAL;
        }
        if (r == 0 && !expect && has_status == 0 && method != 1) {
                snprintf(err, err_size,
                         "params.content_length: missing (or give expect or "
                         "status)");
                return -EINVAL;
        }
        c->check_length = r > 0;
        c->content_length = (uint64_t)length;

        if ((r = parse_headers(c, params, err, err_size)) < 0)
                return r;
        r = vacataire_param_string(params, "ca_file", &ca_file, err, err_size);
        if (r < 0)
                return r;
        if (ca_file) {
                if (access(ca_file, R_OK) < 0) {
                        snprintf(err, err_size, "params.ca_file: cannot read %s: %s", ca_file,
                                 strerror(errno));
                        return -EINVAL;
                }
                if ((r = copy_string(ca_file, &c->ca_file, err, err_size)) < 0)
                        return r;
        }

        if ((r = bool_param(params, "tls_verify", true, &tls_verify, err, err_size)) < 0 ||
            (r = bool_param(params, "follow_redirects", false, &follow_redirects, err, err_size)) <
                0)
                return r;

        if (!(timeout > 0.0)) {
                snprintf(err, err_size, "timeout: must be > 0 seconds");
                return -EINVAL;
        }
        c->timeout = timeout < 86400.0 ? timeout : 86400.0;
        timeout_ms = (long)(c->timeout * 1000.0 + 0.5);
        if (timeout_ms < 1)
                timeout_ms = 1;

        (void)pthread_once(&curl_once, curl_init_once);
        if (curl_init_result != CURLE_OK) {
                snprintf(err, err_size, "cannot initialize libcurl: %s",
                         curl_easy_strerror(curl_init_result));
                return -EIO;
        }
        c->curl = curl_easy_init();
        if (!c->curl) {
                snprintf(err, err_size, "cannot initialize libcurl");
                return -ENOMEM;
        }
        /* A check must see the server as a new client would: no connection reuse. No signals:
         * the checker may use timers of its own, and curl's SIGALRM-based DNS timeout is unsafe. */
        if (curl_easy_setopt(c->curl, CURLOPT_URL, c->url) != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_OPENSOCKETFUNCTION, open_socket) != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_FORBID_REUSE, 1L) != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms) != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, timeout_ms) != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYPEER, tls_verify ? 1L : 0L) != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYHOST, tls_verify ? 2L : 0L) != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, follow_redirects ? 1L : 0L) !=
                CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_MAXREDIRS, 10L) != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "vacataire-content/1") != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->curl_error) != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, write_body) != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, c) != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_NOBODY, method == 1 ? 1L : 0L) != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->headers) != CURLE_OK ||
            (c->ca_file && curl_easy_setopt(c->curl, CURLOPT_CAINFO, c->ca_file) != CURLE_OK)) {
                snprintf(err, err_size, "libcurl refused an option (libcurl too old?)");
                return -ENOTSUP;
        }
        return 0;
}

static int content_configure(const struct vacataire_params *params, double timeout, void **state,
                             char *err, size_t err_size)
{
        struct content *c;
        int r;

        c = calloc(1, sizeof(*c));
        if (!c) {
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }
        r = content_configure_into(c, params, timeout, err, err_size);
        if (r < 0) {
                content_free(c);
                return r;
        }
        *state = c;
        return 0;
}

VACATAIRE_PLUGIN_DEFINE("content",
                        "HTTP GET whose body must be exactly content_length bytes (or hold a text)",
                        content_configure, content_run, content_free);
