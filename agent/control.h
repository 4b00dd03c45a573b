/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

#include <systemd/sd-event.h>

#include <sys/types.h>

#include "util.h"

/*
 * The control socket: a unix stream socket, mode 0600, for root (or our own uid) only, checked
 * with SO_PEERCRED; with control_group, 0660 and group-owned, and members of that group (primary
 * or supplementary, SO_PEERGROUPS) may connect too: the handler decides what they may ask
 * (control_request_is_privileged()). Wire format, one request per connection:
 *   client -> "COMMAND [ARGUMENT]\n"            (at most CONTROL_REQUEST_MAX bytes)
 *   server -> "OK\n" BODY   or   "ERR message\n"   then closes.
 */
#define CONTROL_REQUEST_MAX 1024

typedef struct ControlServer ControlServer;
typedef struct ControlRequest ControlRequest;

/* Parses one request line, buf[0..len) without its newline (a trailing \r is dropped): the
 * command is the text up to the first space, the argument what follows the spaces after it (NULL
 * if nothing does). Returns 0 with both malloc'd, -EBADMSG if the line is empty, starts with a
 * space or holds a byte outside printable ASCII, -ENOMEM. Pure: no I/O, no logging. */
int control_parse_request(const char *buf, size_t len, char **ret_command, char **ret_argument);

/* Called for each well-formed request. The handler must eventually call control_request_reply()
 * exactly once, now or later (quiesce waits for a handover). */
typedef void (*ControlHandler)(ControlServer *s, ControlRequest *req, const char *command,
                               const char *argument, void *userdata);

int control_server_new(sd_event *e, const char *path, ControlHandler handler, void *userdata,
                       ControlServer **ret);
ControlServer *control_server_free(ControlServer *s);
/* Opens the socket to a group ((gid_t)-1: root only again). */
int control_server_set_group(ControlServer *s, gid_t group);
/* The client is root or runs as the agent's uid, not only a control_group member. */
bool control_request_is_privileged(const ControlRequest *req);
DEFINE_TRIVIAL_CLEANUP_FUNC(ControlServer *, control_server_free);

/* Sends the reply and frees req. ok=false: body is the one-line error message. Safe if the
 * client has gone away meanwhile. */
void control_request_reply(ControlRequest *req, bool ok, const char *body);

/* Client side, used by vacataire-ctl: sends "command [argument]\n", waits up to timeout for the
 * reply. Returns 0 with *ret_ok and *ret_body (malloc'd) set, or -errno if no reply came. */
int control_call(const char *path, const char *command, const char *argument, usec_t timeout,
                 bool *ret_ok, char **ret_body);
