/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "curl-event.h"

#include <sys/epoll.h>

#include "log.h"

struct CurlRequest {
        CurlEvent *owner;
        CURL *easy;
        struct curl_slist *headers;
        char *body;
        size_t len, allocated, max;
        bool too_big;
        char error[CURL_ERROR_SIZE];
        curl_event_done_t done;
        void *userdata;
        CurlRequest *prev, *next;
};

struct CurlEvent {
        sd_event *event;
        CURLM *multi;
        sd_event_source *timer;
        CurlRequest *requests;
        size_t n_requests;
};

static void request_free(CurlRequest *req)
{
        CurlEvent *ce = req->owner;

        if (req->prev)
                req->prev->next = req->next;
        else
                ce->requests = req->next;
        if (req->next)
                req->next->prev = req->prev;
        ce->n_requests--;
        curl_multi_remove_handle(ce->multi, req->easy);
        curl_easy_cleanup(req->easy);
        curl_slist_free_all(req->headers);
        free(req->body);
        free(req);
}

static int curl_code_to_errno(CURLcode c)
{
        switch (c) {
        case CURLE_OK:
                return 0;
        case CURLE_OPERATION_TIMEDOUT:
                return -ETIMEDOUT;
        case CURLE_COULDNT_CONNECT:
                return -ECONNREFUSED;
        default:
                return -EIO;
        }
}

static void curl_event_finish(CurlEvent *ce)
{
        CURLMsg *msg;
        int left;

        /* One message at a time: a callback may cancel another request, whose message then goes. */
        while ((msg = curl_multi_info_read(ce->multi, &left))) {
                CurlRequest *req = NULL;
                long status = 0;
                int r;

                if (msg->msg != CURLMSG_DONE)
                        continue;
                curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&req);
                if (!req)
                        continue;
                r = curl_code_to_errno(msg->data.result);
                if (req->too_big) {
                        r = -EFBIG;
                        snprintf(req->error, sizeof(req->error), "answer larger than %zu bytes",
                                 req->max);
                } else if (r < 0 && !req->error[0])
                        snprintf(req->error, sizeof(req->error), "%s",
                                 curl_easy_strerror(msg->data.result));
                curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
                curl_multi_remove_handle(ce->multi, req->easy);
                req->done(req, r, status, req->body ? req->body : "", req->len,
                          r < 0 ? req->error : NULL, req->userdata);
                request_free(req);
        }
}

static void curl_event_action(CurlEvent *ce, curl_socket_t fd, int mask)
{
        int running;

        (void)curl_multi_socket_action(ce->multi, fd, mask, &running);
        curl_event_finish(ce);
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        int mask = 0;

        if (revents & EPOLLIN)
                mask |= CURL_CSELECT_IN;
        if (revents & EPOLLOUT)
                mask |= CURL_CSELECT_OUT;
        if (revents & (EPOLLERR | EPOLLHUP))
                mask |= CURL_CSELECT_ERR;
        curl_event_action(userdata, fd, mask);
        return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        curl_event_action(userdata, CURL_SOCKET_TIMEOUT, 0);
        return 0;
}

/* CURLMOPT_SOCKETFUNCTION: one io source per socket, kept in curl's per-socket pointer. */
static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
        CurlEvent *ce = userp;
        sd_event_source *s = socketp;
        uint32_t events = 0;
        int r;

        if (what == CURL_POLL_REMOVE) {
                /* Before curl closes the fd, so a new socket on the same number starts clean. */
                sd_event_source_disable_unref(s);
                curl_multi_assign(ce->multi, fd, NULL);
                return 0;
        }
        if (what & CURL_POLL_IN)
                events |= EPOLLIN;
        if (what & CURL_POLL_OUT)
                events |= EPOLLOUT;
        if (s) {
                r = sd_event_source_set_io_events(s, events);
                if (r >= 0)
                        r = sd_event_source_set_enabled(s, SD_EVENT_ON);
        } else {
                r = sd_event_add_io(ce->event, &s, fd, events, on_io, ce);
                if (r >= 0)
                        curl_multi_assign(ce->multi, fd, s);
        }
        if (r < 0) {
                log_error_errno(r, "HTTP client: cannot watch socket %d: %m", fd);
                return -1;
        }
        return 0;
}

/* CURLMOPT_TIMERFUNCTION: -1 stops the timer; 0 means "soon", from the loop, not from here. */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
        CurlEvent *ce = userp;

        if (timeout_ms < 0)
                return sd_event_source_set_enabled(ce->timer, SD_EVENT_OFF) < 0 ? -1 : 0;
        if (sd_event_source_set_time_relative(ce->timer, (usec_t)timeout_ms * USEC_PER_MSEC) < 0 ||
            sd_event_source_set_enabled(ce->timer, SD_EVENT_ONESHOT) < 0)
                return -1;
        return 0;
}

static size_t write_cb(char *data, size_t size, size_t n, void *userdata)
{
        CurlRequest *req = userdata;
        size_t k = size * n;

        if (k > req->max - req->len) {
                req->too_big = true;
                return 0;
        }
        if (req->len + k + 1 > req->allocated) {
                size_t want = req->allocated ? req->allocated : 1024;
                while (want < req->len + k + 1)
                        want *= 2;
                char *p = realloc(req->body, want);
                if (!p)
                        return 0;
                req->body = p;
                req->allocated = want;
        }
        memcpy(req->body + req->len, data, k);
        req->len += k;
        req->body[req->len] = 0;
        return k;
}

int curl_event_new(sd_event *e, CurlEvent **ret)
{
        _cleanup_(curl_event_freep) CurlEvent *ce = NULL;
        int r;

        /* Once per process; curl keeps a count, the matching cleanup is left to exit. */
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return -EIO;
        ce = calloc(1, sizeof(*ce));
        if (!ce)
                return -ENOMEM;
        ce->event = sd_event_ref(e);
        ce->multi = curl_multi_init();
        if (!ce->multi)
                return -ENOMEM;
        r = sd_event_add_time(e, &ce->timer, CLOCK_MONOTONIC, USEC_INFINITY, USEC_PER_MSEC,
                              on_timer, ce);
        if (r < 0)
                return r;
        sd_event_source_set_enabled(ce->timer, SD_EVENT_OFF);
        curl_multi_setopt(ce->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
        curl_multi_setopt(ce->multi, CURLMOPT_SOCKETDATA, ce);
        curl_multi_setopt(ce->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
        curl_multi_setopt(ce->multi, CURLMOPT_TIMERDATA, ce);
        *ret = TAKE_PTR(ce);
        return 0;
}

CurlEvent *curl_event_free(CurlEvent *ce)
{
        if (!ce)
                return NULL;
        while (ce->requests)
                request_free(ce->requests);
        if (ce->multi)
                curl_multi_cleanup(ce->multi);
        sd_event_source_disable_unref(ce->timer);
        sd_event_unref(ce->event);
        free(ce);
        return NULL;
}

int curl_event_add(CurlEvent *ce, CURL *easy, struct curl_slist *headers, usec_t timeout,
                   size_t max_body, curl_event_done_t done, void *userdata, CurlRequest **ret)
{
        CurlRequest *req;
        long ms = (long)((timeout + USEC_PER_MSEC - 1) / USEC_PER_MSEC);

        if (!easy || !done || timeout == 0 || timeout == USEC_INFINITY) {
                curl_easy_cleanup(easy);
                curl_slist_free_all(headers);
                return -EINVAL;
        }
        req = calloc(1, sizeof(*req));
        if (!req) {
                curl_easy_cleanup(easy);
                curl_slist_free_all(headers);
                return -ENOMEM;
        }
        *req = (CurlRequest){.owner = ce,
                             .easy = easy,
                             .headers = headers,
                             .max = max_body,
                             .done = done,
                             .userdata = userdata,
                             .next = ce->requests};
        if (ce->requests)
                ce->requests->prev = req;
        ce->requests = req;
        ce->n_requests++;

        curl_easy_setopt(easy, CURLOPT_PRIVATE, req);
        curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, req->error);
        curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_cb);
        curl_easy_setopt(easy, CURLOPT_WRITEDATA, req);
        curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, ms);
        curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, ms);
        curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
        if (headers)
                curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
        if (curl_multi_add_handle(ce->multi, easy) != CURLM_OK) {
                request_free(req);
                return -EIO;
        }
        if (ret)
                *ret = req;
        return 0;
}

void curl_request_cancel(CurlRequest *req)
{
        if (req)
                request_free(req);
}

size_t curl_event_pending(const CurlEvent *ce)
{
        return ce ? ce->n_requests : 0;
}
