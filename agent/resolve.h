/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

#include <systemd/sd-event.h>

#include "util.h"

/*
 * Host name resolution off the event loop: getaddrinfo() runs in a short-lived thread and the
 * answer comes back through an eventfd on sd-event, so a slow or dead DNS server never delays a
 * heartbeat. A numeric host is answered at once, without a thread.
 */
#define RESOLVE_ADDRESSES_MAX 8

typedef struct Resolve Resolve;

/* error: 0, or an EAI_* code (gai_strerror() describes it); addresses valid only during the
 * call, which may free r. */
typedef void (*ResolveFn)(Resolve *r, int error, const SocketAddress *addresses, size_t n,
                          void *userdata);

/* Resolves host (TCP, port set on every answer); fn runs on e's loop, once, unless the Resolve is
 * freed first. */
int resolve_start(sd_event *e, const char *host, uint16_t port, ResolveFn fn, void *userdata,
                  Resolve **ret);
/* Cancels: fn will not run. The thread, if still blocked in getaddrinfo, finishes on its own. */
Resolve *resolve_free(Resolve *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(Resolve *, resolve_free);

/* The same, blocking: for start-up and `vacataire -t`. Returns 0 or an EAI_* code. */
int resolve_blocking(const char *host, uint16_t port, SocketAddress *addresses, size_t max,
                     size_t *ret_n);
/* "host not found" for the codes that say the name does not exist, else gai_strerror(). */
const char *resolve_error_string(int error);
/* The name certainly does not exist (as opposed to a DNS failure that may pass). */
bool resolve_error_is_not_found(int error);
