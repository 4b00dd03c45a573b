/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

#include <systemd/sd-event.h>

#include "config.h"
#include "role.h"

/*
 * Telling the load balancer at once (config group "lb"): on each state change the agent sets its
 * own server's admin state through haproxy's runtime API (a TCP stats socket at level admin),
 * one short connection per change, non-blocking on the event loop:
 *   serving (active, degraded) -> "ready", and its health and agent checks forced up, so haproxy
 *                                 sends traffic at once instead of after its next check;
 *   stopping, the peer serving -> "drain": no new requests, in-flight ones finish (make-before-
 *                                 break handovers, once the peer confirmed, until stopped); also
 *                                 a node fencing itself (arbiter key lost);
 *   stopping, the peer not yet -> unchanged ("ready"): with no usable server haproxy answers 503
 *                                 at once, while a server that refuses connections makes it retry
 *                                 and redispatch to the peer the moment the peer is ready;
 *   anything else              -> "maint".
 * A failed attempt (cannot connect, reset, no answer within LB_ATTEMPT_TIMEOUT) is retried with
 * a backoff, LB_ATTEMPTS in all, then given up with one warning, and a new series starts every
 * LB_RESYNC_INTERVAL until haproxy has it (haproxy down at the agent's start, or restarting);
 * haproxy refusing a command (no such backend or server) is logged once and not retried. Changes
 * never overlap: the newest wanted state is sent once the connection in flight is done, so haproxy
 * sees them in order.
 */
#define LB_ATTEMPTS          5
#define LB_ATTEMPT_TIMEOUT   (1 * USEC_PER_SEC)
#define LB_RETRY_FIRST_DELAY (50 * USEC_PER_MSEC)
#define LB_RESYNC_INTERVAL   (5 * USEC_PER_SEC)
#define LB_REPLY_MAX         1024

typedef enum LbState { LB_STATE_READY, LB_STATE_DRAIN, LB_STATE_MAINT, _LB_STATE_MAX } LbState;

const char *lb_state_to_string(LbState s);
LbState lb_state_from_string(const char *s);
/* What the role machine's state and operation tell the balancer. */
LbState lb_state_for(RoleState s, RoleOp op);

/* The runtime API command line for a state ("set server be/web1 state ready; ..."), malloc'd. */
char *lb_command(const char *backend, const char *server, LbState s);
/* Reads haproxy's whole answer: 0 if every command succeeded, or -EBADMSG with *ret_error
 * pointing at the first error line within reply (which is modified). */
int lb_parse_reply(char *reply, const char **ret_error);

typedef struct LbClient LbClient;

/* *ret is NULL when the configuration has no lb group. */
int lb_client_new(sd_event *e, const Config *c, LbClient **ret);
LbClient *lb_client_free(LbClient *l);
DEFINE_TRIVIAL_CLEANUP_FUNC(LbClient *, lb_client_free);

/* Wants haproxy to see s; nothing is sent if it was the last state wanted. Cancels a pending
 * lb_client_set_after(). Accepts NULL. */
void lb_client_set(LbClient *l, LbState s);
/* The same, delay from the first call for s (calling it again for s changes nothing). */
void lb_client_set_after(LbClient *l, LbState s, usec_t delay);
/* Whether a and b configure the same lb (both may lack one). */
bool lb_config_equal(const Config *a, const Config *b);

/* For tests and status: the last state haproxy acknowledged, or -1. */
int lb_client_get_acknowledged(const LbClient *l);
