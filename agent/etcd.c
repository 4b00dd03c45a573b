/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "etcd.h"

#include <sodium.h>

#include "log.h"

#define ETCD_REPLY_MAX    (256 * 1024)
#define ETCD_ATTEMPT_MIN  (150 * USEC_PER_MSEC)
#define ETCD_PASSWORD_MAX 4096

struct EtcdCall {
        Etcd *etcd;
        char *path;
        char *body;
        usec_t deadline;
        unsigned attempts; /* endpoints tried */
        bool authenticating;
        bool auth_retried;
        CurlRequest *request;
        etcd_done_t done;
        void *userdata;
        EtcdCall *prev, *next;
};

struct Etcd {
        sd_event *event;
        CurlEvent *curl;
        const ConfigArbiter *cfg;
        char *password;
        char *token;
        size_t current; /* endpoint index */
        EtcdCall *calls;
};

int64_t etcd_json_int64(json_object *o, const char *key)
{
        json_object *v;

        if (!o || !json_object_object_get_ex(o, key, &v))
                return 0;
        /* json-c parses a string holding a number, which is how the gateway sends int64. */
        return json_object_get_int64(v);
}

char *etcd_base64_encode(const void *data, size_t size)
{
        size_t n = sodium_base64_ENCODED_LEN(size, sodium_base64_VARIANT_ORIGINAL);
        char *s = malloc(n);

        if (s)
                sodium_bin2base64(s, n, data, size, sodium_base64_VARIANT_ORIGINAL);
        return s;
}

int etcd_base64_decode(const char *s, char **ret, size_t *ret_size)
{
        size_t n = strlen(s), len = 0;
        char *out = malloc(n + 1);

        if (!out)
                return -ENOMEM;
        if (sodium_base642bin((unsigned char *)out, n, s, n, NULL, &len, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0) {
                free(out);
                return -EINVAL;
        }
        out[len] = 0;
        *ret = out;
        if (ret_size)
                *ret_size = len;
        return 0;
}

const char *etcd_current_endpoint(const Etcd *e)
{
        return e->cfg->etcd[e->current];
}

static void call_free(EtcdCall *c)
{
        Etcd *e = c->etcd;

        if (c->prev)
                c->prev->next = c->next;
        else
                e->calls = c->next;
        if (c->next)
                c->next->prev = c->prev;
        curl_request_cancel(c->request);
        free(c->path);
        free(c->body);
        free(c);
}

static void call_finish(EtcdCall *c, int result, json_object *reply, const char *error)
{
        c->request = NULL;
        if (c->done) /* NULL: fire and forget (a revoke) */
                c->done(c, result, reply, error, c->userdata);
        call_free(c);
}

static int call_attempt(EtcdCall *c);

static void on_answer(CurlRequest *req, int result, long status, const char *body, size_t len,
                      const char *error, void *userdata)
{
        EtcdCall *c = userdata;
        Etcd *e = c->etcd;
        _cleanup_(json_object_putp) json_object *reply = NULL;
        char buf[256], detail[160];
        int r;

        c->request = NULL;
        if (result >= 0) {
                reply = json_tokener_parse(body);
                if (!reply || !json_object_is_type(reply, json_type_object)) {
                        json_object_put(TAKE_PTR(reply));
                        result = -EIO;
                        snprintf(detail, sizeof(detail), "HTTP %ld, not a JSON object: %.80s",
                                 status, body);
                        error = detail;
                }
        }
        if (result >= 0 && status == 200) {
                if (c->authenticating) {
                        json_object *t;
                        c->authenticating = false;
                        if (!json_object_object_get_ex(reply, "token", &t) ||
                            !json_object_get_string(t))
                                return call_finish(c, -EACCES, NULL, "no token in the answer");
                        free(e->token);
                        e->token = strdup(json_object_get_string(t));
                        if (!e->token)
                                return call_finish(c, -ENOMEM, NULL, "out of memory");
                        r = call_attempt(c);
                        if (r < 0)
                                call_finish(c, r, NULL, "cannot send the request");
                        return;
                }
                return call_finish(c, 0, reply, NULL);
        }
        if (result >= 0 && status >= 400 && status < 500) {
                json_object *m = NULL;
                const char *msg = reply && json_object_object_get_ex(reply, "message", &m)
                                      ? json_object_get_string(m)
                                      : "refused";
                bool auth = status == 401 || (msg && strstr(msg, "token"));
                if (auth && e->cfg->username && !c->auth_retried && !c->authenticating) {
                        /* The token expired (etcd restarts drop them): log in again, once. */
                        c->auth_retried = true;
                        free(e->token);
                        e->token = NULL;
                        r = call_attempt(c);
                        if (r < 0)
                                call_finish(c, r, NULL, "cannot send the request");
                        return;
                }
                snprintf(buf, sizeof(buf), "%s: HTTP %ld: %s", e->cfg->etcd[e->current], status,
                         msg ? msg : "refused");
                return call_finish(c, c->authenticating || auth ? -EACCES : -EPROTO, NULL, buf);
        }
        /* Transport error, timeout or 5xx: this endpoint is no good now; try the next. */
        if (result >= 0)
                snprintf(buf, sizeof(buf), "%s: HTTP %ld", e->cfg->etcd[e->current], status);
        else
                snprintf(buf, sizeof(buf), "%s: %s", e->cfg->etcd[e->current],
                         error ? error : "failed");
        e->current = (e->current + 1) % e->cfg->n_etcd;
        if (c->attempts >= e->cfg->n_etcd ||
            now_usec(CLOCK_MONOTONIC) + ETCD_ATTEMPT_MIN / 2 > c->deadline)
                return call_finish(c, result < 0 ? result : -EIO, NULL, buf);
        r = call_attempt(c);
        if (r < 0)
                call_finish(c, r, NULL, buf);
}

static int call_attempt(EtcdCall *c)
{
        Etcd *e = c->etcd;
        const ConfigArbiter *cfg = e->cfg;
        usec_t now = now_usec(CLOCK_MONOTONIC), left, slice;
        struct curl_slist *headers = NULL;
        _cleanup_free_ char *url = NULL, *auth_body = NULL;
        CURL *easy;
        unsigned untried;

        if (now >= c->deadline)
                return -ETIMEDOUT;
        left = c->deadline - now;
        /* Share what is left between the endpoints not tried yet, so one that swallows packets
         * (a partitioned member) cannot eat the whole budget. */
        untried = (unsigned)cfg->n_etcd > c->attempts ? (unsigned)cfg->n_etcd - c->attempts : 1;
        slice = left / untried;
        if (slice < ETCD_ATTEMPT_MIN)
                slice = left < ETCD_ATTEMPT_MIN ? left : ETCD_ATTEMPT_MIN;

        c->authenticating = cfg->username && !e->token;
        if (c->authenticating) {
                _cleanup_(json_object_putp) json_object *o = json_object_new_object();
                if (!o)
                        return -ENOMEM;
                json_object_object_add(o, "name", json_object_new_string(cfg->username));
                json_object_object_add(o, "password", json_object_new_string(e->password));
                auth_body = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
                if (!auth_body)
                        return -ENOMEM;
        }
        url = strdup_printf("%s%s", cfg->etcd[e->current],
                            c->authenticating ? "/v3/auth/authenticate" : c->path);
        easy = curl_easy_init();
        if (!url || !easy) {
                curl_easy_cleanup(easy);
                return -ENOMEM;
        }
        c->attempts++;
        curl_easy_setopt(easy, CURLOPT_URL, url);
        curl_easy_setopt(easy, CURLOPT_COPYPOSTFIELDS, auth_body ? auth_body : c->body);
        headers = curl_slist_append(headers, "Content-Type: application/json");
        if (!c->authenticating && e->token) {
                _cleanup_free_ char *h = strdup_printf("Authorization: %s", e->token);
                if (h)
                        headers = curl_slist_append(headers, h);
        }
        if (cfg->ca_file)
                curl_easy_setopt(easy, CURLOPT_CAINFO, cfg->ca_file);
        if (cfg->cert_file) {
                curl_easy_setopt(easy, CURLOPT_SSLCERT, cfg->cert_file);
                curl_easy_setopt(easy, CURLOPT_SSLKEY, cfg->key_file);
        }
        /* Connections are reused; a new one must not wait on a slow resolver or Nagle. */
        curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
        return curl_event_add(e->curl, easy, headers, slice, ETCD_REPLY_MAX, on_answer, c,
                              &c->request);
}

int etcd_call(Etcd *e, const char *path, json_object *body, usec_t timeout, etcd_done_t done,
              void *userdata, EtcdCall **ret)
{
        _cleanup_(json_object_putp) json_object *b = body;
        EtcdCall *c;
        int r;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        *c = (EtcdCall){.etcd = e,
                        .done = done,
                        .userdata = userdata,
                        .next = e->calls,
                        .deadline = now_usec(CLOCK_MONOTONIC) + timeout};
        if (e->calls)
                e->calls->prev = c;
        e->calls = c;
        c->path = strdup(path);
        c->body = strdup(b ? json_object_to_json_string_ext(b, JSON_C_TO_STRING_PLAIN) : "{}");
        if (!c->path || !c->body) {
                call_free(c);
                return -ENOMEM;
        }
        r = call_attempt(c);
        if (r < 0) {
                call_free(c);
                return r;
        }
        if (ret)
                *ret = c;
        return 0;
}

void etcd_call_cancel(EtcdCall *c)
{
        if (c)
                call_free(c);
}

int etcd_new(sd_event *event, const ConfigArbiter *cfg, Etcd **ret, char **ret_error)
{
        _cleanup_(etcd_freep) Etcd *e = NULL;
        int r;

        if (!cfg || cfg->n_etcd == 0)
                return -EINVAL;
        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        e->event = sd_event_ref(event);
        e->cfg = cfg;
        if (cfg->password_file) {
                size_t n;
                r = read_full_file(cfg->password_file, ETCD_PASSWORD_MAX, &e->password, &n);
                if (r < 0) {
                        if (ret_error)
                                *ret_error = strdup_printf("arbiter.password_file %s: %s",
                                                           cfg->password_file, strerror(-r));
                        return r;
                }
                /* One line: the trailing newline an editor adds is not part of the password. */
                while (n > 0 && (e->password[n - 1] == '\n' || e->password[n - 1] == '\r'))
                        e->password[--n] = 0;
        }
        r = curl_event_new(event, &e->curl);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(e);
        return 0;
}

Etcd *etcd_free(Etcd *e)
{
        if (!e)
                return NULL;
        while (e->calls)
                call_free(e->calls);
        curl_event_free(e->curl);
        if (e->password)
                sodium_memzero(e->password, strlen(e->password));
        free(e->password);
        free(e->token);
        sd_event_unref(e->event);
        free(e);
        return NULL;
}
