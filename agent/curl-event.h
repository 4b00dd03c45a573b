/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

#include <curl/curl.h>
#include <systemd/sd-event.h>

#include "util.h"

/* libcurl's multi interface driven by the sd-event loop: every HTTP client of the daemon (arbiter,
 * webhook) goes through one of these, so no request ever blocks the loop. */
typedef struct CurlEvent CurlEvent;
typedef struct CurlRequest CurlRequest;

/* Called once per request, from the loop (never from inside curl_event_add). result is 0 when an
 * HTTP answer arrived (any status), otherwise -ETIMEDOUT, -ECONNREFUSED, -EFBIG (body above the
 * limit) or -EIO; error then says what went wrong. body is NUL-terminated and owned by the request:
 * it is freed when the callback returns. The callback may add and cancel requests, but must not
 * free the CurlEvent. */
typedef void (*curl_event_done_t)(CurlRequest *req, int result, long status, const char *body,
                                  size_t body_len, const char *error, void *userdata);

int curl_event_new(sd_event *e, CurlEvent **ret);
/* Cancels every request in flight without calling their callbacks. */
CurlEvent *curl_event_free(CurlEvent *ce);
DEFINE_TRIVIAL_CLEANUP_FUNC(CurlEvent *, curl_event_free);

/* Takes ownership of easy (configured by the caller: URL, method, body, TLS) and of headers (may be
 * NULL) in every case. timeout bounds the whole request (0 is refused: nothing may hang forever);
 * max_body bounds the answer. *ret (optional) stays valid until the callback runs or the request is
 * cancelled. */
int curl_event_add(CurlEvent *ce, CURL *easy, struct curl_slist *headers, usec_t timeout,
                   size_t max_body, curl_event_done_t done, void *userdata, CurlRequest **ret);
/* No callback; NULL is fine. */
void curl_request_cancel(CurlRequest *req);
size_t curl_event_pending(const CurlEvent *ce);
