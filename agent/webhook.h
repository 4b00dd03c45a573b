/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

#include <systemd/sd-event.h>

#include "util.h"

/*
 * The `webhook`: a JSON POST per recorded event, through libcurl on the event loop (curl-event),
 * never blocking it. A POST that gets no 2xx answer is tried again after a pause, WEBHOOK_TRIES
 * times in all, then given up with a warning. At most WEBHOOK_QUEUE_MAX posts are kept; beyond
 * that the oldest is dropped (a receiver that is down must not make the agent grow).
 */
#define WEBHOOK_TRIES       3
#define WEBHOOK_QUEUE_MAX   32
#define WEBHOOK_RETRY_PAUSE (1 * USEC_PER_SEC)
#define WEBHOOK_BODY_MAX    4096 /* of the answer: read and dropped */

typedef struct Webhook Webhook;

int webhook_new(sd_event *e, Webhook **ret);
/* Posts in flight or waiting to be retried are dropped. */
Webhook *webhook_free(Webhook *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(Webhook *, webhook_free);

/* Queues body (JSON, copied) for url; timeout bounds each try. 0, or -ENOMEM. */
int webhook_post(Webhook *w, const char *url, usec_t timeout, const char *body);
size_t webhook_pending(const Webhook *w);
