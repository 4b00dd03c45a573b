/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

#include <systemd/sd-event.h>

#include "util.h"

/*
 * A listening socket on the event loop. Every connection it accepts (SOCK_CLOEXEC |
 * SOCK_NONBLOCK) goes to the callback, which owns the fd from then on. When accept() fails for
 * any other reason than a vanished client (out of descriptors: EMFILE, ENFILE, ENOBUFS), the
 * socket stays readable, so the listener pauses for LISTENER_ACCEPT_BACKOFF instead of spinning.
 */
#define LISTENER_ACCEPT_BACKOFF (100 * USEC_PER_MSEC)

typedef struct Listener Listener;

/* address is the client's, as accept() reported it. The callback must not free the listener. */
typedef void (*ListenerAcceptFn)(Listener *l, int fd, const struct sockaddr *address,
                                 socklen_t address_len, void *userdata);

/* A TCP socket bound to address (SO_REUSEADDR) and listening. Returns the fd or -errno, logs
 * nothing: the caller knows which setting it came from. */
int listen_socket_open(const SocketAddress *address, int backlog);

/* Watches fd, a listening socket, and takes it over, also on failure. what names the
 * connections in messages ("control", "health", ...). */
int listener_new(sd_event *e, int fd, const char *what, ListenerAcceptFn fn, void *userdata,
                 Listener **ret);
Listener *listener_free(Listener *l);
DEFINE_TRIVIAL_CLEANUP_FUNC(Listener *, listener_free);

/* Sends buf[*sent..size) without blocking and advances *sent. Returns 1 once all is sent, 0 if
 * the socket is full, -errno if the client is gone: what servers of accepted connections do with
 * their replies. */
int send_pending(int fd, const char *buf, size_t size, size_t *sent);
