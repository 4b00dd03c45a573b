/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

#include <systemd/sd-event.h>

#include "config.h"
#include "role.h"

/*
 * What the load balancer asks the agent directly (config group "health"), both optional:
 *   agent_listen: haproxy agent-check. Each connection gets one line and is closed:
 *     "up ready\n" while active or degraded, "drain\n" while stopping (handing over: no new
 *     requests, in-flight ones finish), "down\n" otherwise.
 *   http_listen: HTTP/1.0. GET (also HEAD, and OPTIONS, haproxy's default httpchk) of "/" answers
 *     200 while active or degraded, 503 otherwise; the body is the state name.
 * With handover = "make-before-break", the first half of drain_time in "stopping" still answers
 * as serving (agent "up ready", HTTP 200 "stopping"): the peer serves by then, and the balancer
 * must see it up before this node is drained, or for a moment it has no server it may use and
 * haproxy answers 503 at once. The second half drains.
 * With a document function (health_server_set_documents), GET of other paths is answered from
 * it: "/metrics" (Prometheus text) and "/status" (the JSON of `vacataire-ctl status --json`).
 */
#define HEALTH_CONNECTIONS_MAX 64
#define HEALTH_REQUEST_MAX     4096
#define HEALTH_DEADLINE        (2 * USEC_PER_SEC)

typedef struct HealthServer HealthServer;

/* Returns the role state, asked at every connection. */
typedef RoleState (*HealthStateFn)(void *userdata);

/* Fills *ret_body (malloc'd) and *ret_content_type (static) for path, or returns -ENOENT (404)
 * or another -errno (500). */
typedef int (*HealthDocumentFn)(const char *path, char **ret_body, const char **ret_content_type,
                                void *userdata);

/* The line an agent-check connection receives in a state (an unknown one: "down"). */
const char *health_agent_reply(RoleState state);

/* Opens the listeners the configuration asks for; with neither, *ret is a server with none. */
int health_server_new(sd_event *e, const Config *c, HealthStateFn fn, void *userdata,
                      HealthServer **ret);
/* After a reload: takes the handover mode and drain_time (the listeners stay as they are).
 * Accepts NULL. */
void health_server_update(HealthServer *s, const Config *c);
/* Serves more paths on http_listen (same userdata as the state function). */
void health_server_set_documents(HealthServer *s, HealthDocumentFn fn);
HealthServer *health_server_free(HealthServer *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(HealthServer *, health_server_free);
