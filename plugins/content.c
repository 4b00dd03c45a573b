/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * content: an HTTP GET whose body must be exactly content_length bytes long. A page that renders
 * but is truncated or carries an error text in place of the content has the wrong length, which
 * a port check or a status code alone does not see.
 */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "vacataire-plugin.h"

struct content {
        CURL *curl;
        char *url;
        uint64_t content_length;
        long status;
        double timeout;
        /* Per run: */
        uint64_t received;
        bool too_long;
        char curl_error[CURL_ERROR_SIZE];
};

static void content_free(void *userdata)
{
        struct content *c = userdata;

        if (!c)
                return;
        if (c->curl)
                curl_easy_cleanup(c->curl);
        free(c->url);
        free(c);
}

/* Counts and drops the body; stops as soon as it is known to be too long (past length + 1, so an
 * off-by-one is still reported exactly) so that a huge body costs neither memory nor time. */
static size_t write_body(char *data, size_t size, size_t nmemb, void *userdata)
{
        struct content *c = userdata;

        c->received += (uint64_t)nmemb * size;
        if (c->received > c->content_length + 1) {
                c->too_long = true;
                return 0;
        }
        return nmemb * size;
}

/* libcurl's own socket() call does not set close-on-exec. */
static curl_socket_t open_socket(void *userdata, curlsocktype purpose,
                                 struct curl_sockaddr *address)
{
        return socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

static int content_run(void *userdata, char *msg, size_t msg_size)
{
        struct content *c = userdata;
        long status = 0;
        CURLcode code;

        c->received = 0;
        c->too_long = false;
        c->curl_error[0] = 0;
        code = curl_easy_perform(c->curl);
        (void)curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);

        if (code != CURLE_OK && !(code == CURLE_WRITE_ERROR && c->too_long)) {
                const char *text = c->curl_error[0] ? c->curl_error : curl_easy_strerror(code);
                if (code == CURLE_OPERATION_TIMEDOUT)
                        snprintf(msg, msg_size, "timed out after %.1f s: %s", c->timeout, text);
                else
                        snprintf(msg, msg_size, "%s", text);
                return VACATAIRE_CRITICAL;
        }
        if (status != c->status) {
                snprintf(msg, msg_size, "status %ld, expected %ld", status, c->status);
                return VACATAIRE_CRITICAL;
        }
        if (c->too_long) {
                snprintf(msg, msg_size, "body over %llu bytes, expected %llu",
                         (unsigned long long)c->content_length + 1,
                         (unsigned long long)c->content_length);
                return VACATAIRE_CRITICAL;
        }
        if (c->received != c->content_length) {
                snprintf(msg, msg_size, "body %llu bytes, expected %llu",
                         (unsigned long long)c->received, (unsigned long long)c->content_length);
                return VACATAIRE_CRITICAL;
        }
        snprintf(msg, msg_size, "OK: %llu bytes", (unsigned long long)c->received);
        return VACATAIRE_OK;
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
        const struct vacataire_param *p = vacataire_param_find(params, name);

        *ret = def;
        if (!p)
                return 0;
        if (p->type != VACATAIRE_PARAM_BOOL) {
                snprintf(err, err_size, "params.%s: must be true or false", name);
                return -EINVAL;
        }
        *ret = p->boolean;
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
        static const char *const known[] = {"url",        "content_length",   "status",
                                            "tls_verify", "follow_redirects", NULL};
        const struct vacataire_param *p;
        const char *unknown;
        bool tls_verify, follow_redirects;
        long timeout_ms;
        int r;

        unknown = vacataire_params_unknown(params, known);
        if (unknown) {
                snprintf(err, err_size,
                         "params.%s: unknown parameter (known: url, content_length, status, "
                         "tls_verify, follow_redirects)",
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
        r = check_url(p->string, err, err_size);
        if (r < 0)
                return r;
        c->url = strdup(p->string);
        if (!c->url) {
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }

        p = vacataire_param_find(params, "content_length");
        if (!p) {
                snprintf(err, err_size, "params.content_length: missing");
                return -EINVAL;
        }
        if (p->type != VACATAIRE_PARAM_INT || p->integer < 0 || p->integer == INT64_MAX) {
                snprintf(err, err_size, "params.content_length: must be an integer >= 0");
                return -EINVAL;
        }
        c->content_length = (uint64_t)p->integer;

        c->status = 200;
        p = vacataire_param_find(params, "status");
        if (p) {
                if (p->type != VACATAIRE_PARAM_INT || p->integer < 100 || p->integer > 599) {
                        snprintf(err, err_size,
                                 "params.status: must be an HTTP status code (100 to 599)");
                        return -EINVAL;
                }
                c->status = (long)p->integer;
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
            curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, c) != CURLE_OK) {
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

VACATAIRE_PLUGIN_DEFINE("content", "HTTP GET whose body must be exactly content_length bytes",
                        content_configure, content_run, content_free);
