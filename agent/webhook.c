/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "webhook.h"

#include "curl-event.h"
#include "list.h"
#include "log.h"

typedef struct Post Post;
struct Post {
        Webhook *webhook;
        Post *prev, *next;
        char *url;
        char *body;
        usec_t timeout;
        unsigned tries;
        CurlRequest *request;         /* while a try is in flight */
        sd_event_source *retry_timer; /* while waiting to try again */
};

struct Webhook {
        sd_event *event;
        CurlEvent *curl;
        Post *head, *tail; /* oldest first */
        size_t n;
};

static void post_free(Post *p)
{
        Webhook *w = p->webhook;

        curl_request_cancel(p->request);
        sd_event_source_disable_unref(p->retry_timer);
        LIST_REMOVE(w->head, w->tail, p);
        w->n--;
        free(p->url);
        free(p->body);
        free(p);
}

static int post_try(Post *p);

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
        Post *p = userdata;

        p->retry_timer = sd_event_source_disable_unref(p->retry_timer);
        if (post_try(p) < 0)
                post_free(p);
        return 0;
}

static void post_done(CurlRequest *req, int result, long status, const char *body, size_t body_len,
                      const char *error, void *userdata)
{
        Post *p = userdata;
        int r;

        p->request = NULL;
        if (result >= 0 && status >= 200 && status < 300) {
                log_debug("Webhook %s: %ld", p->url, status);
                post_free(p);
                return;
        }
        if (p->tries >= WEBHOOK_TRIES) {
                if (result < 0)
                        log_warning("Webhook %s: giving up after %u tries: %s", p->url, p->tries,
                                    error ?: "failed");
                else
                        log_warning("Webhook %s: giving up after %u tries: HTTP %ld", p->url,
                                    p->tries, status);
                post_free(p);
                return;
        }
        /* A pause that grows with each try: a receiver that is restarting gets time to return. */
        r = sd_event_add_time_relative(p->webhook->event, &p->retry_timer, CLOCK_MONOTONIC,
                                       WEBHOOK_RETRY_PAUSE * p->tries, 0, on_retry, p);
        if (r < 0) {
                log_warning_errno(r, "Webhook %s: cannot schedule a retry: %m", p->url);
                post_free(p);
        }
}

static int post_try(Post *p)
{
        struct curl_slist *headers = NULL, *h;
        CURL *easy = curl_easy_init();

        if (!easy)
                return log_oom();
        h = curl_slist_append(headers, "Content-Type: application/json");
        if (!h) {
                curl_easy_cleanup(easy);
                return log_oom();
        }
        headers = h;
        curl_easy_setopt(easy, CURLOPT_URL, p->url);
        curl_easy_setopt(easy, CURLOPT_POST, 1L);
        curl_easy_setopt(easy, CURLOPT_COPYPOSTFIELDS, p->body);
        curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(easy, CURLOPT_USERAGENT, "vacataire/" VACATAIRE_VERSION);
        curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
        p->tries++;
        return curl_event_add(p->webhook->curl, easy, headers, p->timeout, WEBHOOK_BODY_MAX,
                              post_done, p, &p->request);
}

int webhook_new(sd_event *e, Webhook **ret)
{
        _cleanup_(webhook_freep) Webhook *w = calloc(1, sizeof(Webhook));
        int r;

        if (!w)
                return -ENOMEM;
        w->event = sd_event_ref(e);
        r = curl_event_new(e, &w->curl);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(w);
        return 0;
}

Webhook *webhook_free(Webhook *w)
{
        if (!w)
                return NULL;
        while (w->head)
                post_free(w->head);
        curl_event_free(w->curl);
        sd_event_unref(w->event);
        free(w);
        return NULL;
}

int webhook_post(Webhook *w, const char *url, usec_t timeout, const char *body)
{
        Post *p;
        int r;

        if (w->n >= WEBHOOK_QUEUE_MAX) {
                log_warning("Webhook %s: %zu posts pending, dropping the oldest", url, w->n);
                post_free(w->head);
        }
        p = calloc(1, sizeof(Post));
        if (!p)
                return log_oom();
        p->webhook = w;
        p->timeout = timeout;
        p->url = strdup(url);
        p->body = strdup(body);
        LIST_APPEND(w->head, w->tail, p);
        w->n++;
        if (!p->url || !p->body) {
                post_free(p);
                return log_oom();
        }
        r = post_try(p);
        if (r < 0) {
                log_warning_errno(r, "Webhook %s: cannot post: %m", url);
                post_free(p);
        }
        return 0;
}

size_t webhook_pending(const Webhook *w)
{
        return w ? w->n : 0;
}
