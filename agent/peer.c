/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The peer link: who dials, who is let in, where the peer is, and the protocol timers. One
 * connection's handshake and buffers are in peer-conn.c. */
#include <stdarg.h>

#include "log.h"
#include "peer-internal.h"

void peer_log_refusal(Peer *p, const char *address, const char *what, int error)
{
        usec_t now = now_usec(CLOCK_MONOTONIC);

        if (now - p->log_window_start > PEER_LOG_WINDOW) {
                if (p->log_suppressed > 0)
                        log_warning("peer link: %u more refused connections not logged",
                                    p->log_suppressed);
                p->log_window_start = now;
                p->log_count = 0;
                p->log_suppressed = 0;
        }
        if (p->log_count++ >= PEER_LOG_BURST) {
                p->log_suppressed++;
                return;
        }
        if (error)
                log_warning_errno(error, "peer link from %s: %s: %m; connection closed", address,
                                  what);
        else
                log_warning("peer link from %s: %s; connection closed", address, what);
}

/* A misconfiguration is kept for status until a connection is adopted, and logged as an error
 * when first seen (each kind again once a minute at most). */
void peer_set_problem(Peer *p, PeerProblem kind, const char *format, ...)
{
        usec_t now = now_usec(CLOCK_MONOTONIC);
        va_list ap;

        va_start(ap, format);
        vsnprintf(p->problem, sizeof(p->problem), format, ap);
        va_end(ap);
        if (p->problem_logged[kind] != 0 &&
            now - p->problem_logged[kind] < PEER_PROBLEM_LOG_INTERVAL)
                return;
        p->problem_logged[kind] = now;
        log_error("peer %s: %s", p->config->peer_name, p->problem);
}

static void peer_schedule_redial(Peer *p);
static void peer_refresh_addresses(Peer *p, bool then_dial);

bool peer_holds_conn(const Peer *p, const PeerConn *c)
{
        if (p->conn == c || p->dialing == c)
                return true;
        for (size_t i = 0; i < PEER_PENDING_MAX; i++)
                if (p->pending[i] == c)
                        return true;
        return false;
}

/* Forgets a connection wherever the peer keeps it. */
void peer_drop_conn(Peer *p, PeerConn *c)
{
        bool was_outgoing = c->outgoing, was_live = p->conn == c;

        if (p->conn == c)
                p->conn = NULL;
        if (p->dialing == c)
                p->dialing = NULL;
        for (size_t i = 0; i < PEER_PENDING_MAX; i++)
                if (p->pending[i] == c)
                        p->pending[i] = NULL;
        conn_free(c);
        if (was_outgoing || (p->dials && !p->conn && !p->dialing))
                peer_schedule_redial(p);
        else if (was_live && !p->dials)
                /* The peer will reconnect, maybe from a new address. */
                peer_refresh_addresses(p, false);
}

void peer_mark_seen(Peer *p)
{
        p->last_seen = now_usec(CLOCK_MONOTONIC);
        sd_event_source_set_time(p->dead_timer, p->last_seen + p->config->dead_time);
        sd_event_source_set_enabled(p->dead_timer, SD_EVENT_ONESHOT);
}

void peer_promote(Peer *p, PeerConn *c)
{
        PeerConn *old = p->conn;

        for (size_t i = 0; i < PEER_PENDING_MAX; i++)
                if (p->pending[i] == c)
                        p->pending[i] = NULL;
        if (p->dialing == c)
                p->dialing = NULL;
        c->authenticated = true;
        sd_event_source_disable_unref(c->deadline);
        c->deadline = NULL;
        p->conn = c;
        p->backoff = PEER_BACKOFF_MIN;
        if (old) {
                old->outgoing = false; /* do not redial for the one we replace */
                conn_free(old);
        }
        if (p->problem[0]) {
                log_info("peer %s: the link is configured correctly now", p->config->peer_name);
                p->problem[0] = 0;
                memset(p->problem_logged, 0, sizeof(p->problem_logged));
        }
        log_info("peer %s connected from %s", p->config->peer_name, c->address);
        p->connected = true;
        if (p->cb.connected)
                p->cb.connected(p, p->userdata);
}

bool peer_address_is_peer(const Peer *p, const struct sockaddr *sa)
{
        for (size_t i = 0; i < p->n_addresses; i++)
                if (socket_address_same_host((const struct sockaddr *)&p->addresses[i].sa, sa))
                        return true;
        return false;
}

static void on_accept(Listener *l, int cfd, const struct sockaddr *sa, socklen_t len,
                      void *userdata)
{
        Peer *p = userdata;
        char address[PEER_ADDRESS_MAX];
        PeerConn *c;
        size_t slot;

        socket_address_to_string(sa, len, address, sizeof(address));
        /* Only the configured peer's address may even start a handshake, unless peer.address
         * names this very node: then nothing is adopted anyway, and a keyed peer that calls is
         * told what is wrong (the same configuration copied to both nodes does this). */
        bool diagnostic = !peer_address_is_peer(p, sa);
        /* The first answer for a peer host name is still on its way: hold the connection, and
         * check its address when the answer comes (on_resolved). */
        bool unverified = diagnostic && p->n_addresses == 0 && p->resolve && !p->self_address;
        if (unverified)
                diagnostic = false;
        if (diagnostic && !p->self_address) {
                peer_log_refusal(p, address, "not the peer's address (peer.address)", 0);
                close(cfd);
                /* A peer host name may point somewhere else by now. */
                if (p->config->peer_address.len == 0 &&
                    now_usec(CLOCK_MONOTONIC) - p->resolved_at > PEER_BACKOFF_MAX)
                        peer_refresh_addresses(p, false);
                return;
        }
        for (slot = 0; slot < PEER_PENDING_MAX; slot++)
                if (!p->pending[slot])
                        break;
        if (slot == PEER_PENDING_MAX) {
                /* Full: shed the oldest, not the newcomer. Refusing newcomers would let a
                 * stranger who keeps every slot busy lock the real peer out after any blip of
                 * the link, and so cause a failover; shedding the oldest leaves the peer a
                 * slot for the millisecond its handshake takes. A connection whose AUTH
                 * verified is shed only when every slot holds one: that proof is bound to the
                 * nonce we drew for that very connection, so no recording can earn it. */
                slot = 0;
                for (size_t i = 1; i < PEER_PENDING_MAX; i++) {
                        PeerConn *a = p->pending[i], *b = p->pending[slot];
                        if (a->key_proven != b->key_proven ? !a->key_proven
                                                           : a->accepted < b->accepted)
                                slot = i;
                }
                peer_log_refusal(p, p->pending[slot]->address,
                                 "too many unauthenticated connections, dropping the oldest", 0);
                peer_drop_conn(p, p->pending[slot]);
        }
        if (conn_new(p, cfd, false, address, &c) < 0) {
                close(cfd);
                return;
        }
        c->diagnostic = diagnostic;
        c->unverified = unverified;
        if (len <= sizeof(c->from))
                memcpy(&c->from, sa, len);
        p->pending[slot] = c;
        if (conn_start(p, c) < 0)
                peer_drop_conn(p, c);
}

/* Is this address our own listening socket? Then dialing it reaches ourselves. */
static bool address_is_self(const Peer *p, const SocketAddress *a)
{
        const SocketAddress *l = &p->config->listen_address;
        SocketAddress probe = *a;
        _cleanup_close_ int fd = -1;
        bool wildcard;

        if (a->sa.ss_family != l->sa.ss_family || a->len != l->len)
                return false;
        if (a->sa.ss_family == AF_INET) {
                const struct sockaddr_in *x = (const struct sockaddr_in *)&a->sa,
                                         *y = (const struct sockaddr_in *)&l->sa;
                if (x->sin_port != y->sin_port)
                        return false;
                wildcard = y->sin_addr.s_addr == htonl(INADDR_ANY);
        } else {
                const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)&a->sa,
                                          *y = (const struct sockaddr_in6 *)&l->sa;
                if (x->sin6_port != y->sin6_port)
                        return false;
                wildcard = IN6_IS_ADDR_UNSPECIFIED(&y->sin6_addr);
        }
        if (!wildcard)
                return socket_address_same_host((const struct sockaddr *)&a->sa,
                                                (const struct sockaddr *)&l->sa);
        /* Listening on every address: ours if we can bind it. */
        socket_address_set_port(&probe, 0);
        fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        return fd >= 0 && bind(fd, (const struct sockaddr *)&probe.sa, probe.len) == 0;
}

static void peer_set_addresses(Peer *p, const SocketAddress *addresses, size_t n)
{
        size_t kept = 0;
        char buf[PEER_ADDRESS_MAX];

        p->resolved_at = now_usec(CLOCK_MONOTONIC);
        p->self_address = false;
        for (size_t i = 0; i < n; i++) {
                if (address_is_self(p, &addresses[i])) {
                        p->self_address = true;
                        socket_address_to_string((const struct sockaddr *)&addresses[i].sa,
                                                 addresses[i].len, buf, sizeof(buf));
                        peer_set_problem(p, PEER_PROBLEM_SELF_ADDRESS,
                                         "misconfiguration: peer.address %s (%s) reaches this "
                                         "node itself (node.listen %s); it must name the peer's "
                                         "address",
                                         p->config->peer_address_string, buf, p->config->listen);
                        continue;
                }
                p->addresses[kept++] = addresses[i];
        }
        p->n_addresses = kept;
        if (p->next_address >= kept)
                p->next_address = 0;
}

static int peer_dial(Peer *p)
{
        _cleanup_close_ int fd = -1;
        const SocketAddress *a;
        char address[PEER_ADDRESS_MAX];
        PeerConn *c;
        int r;

        if (p->dialing || p->conn)
                return 0;
        if (p->n_addresses == 0)
                return -EADDRNOTAVAIL;
        /* With several addresses (a host name), each failed attempt moves to the next. */
        a = &p->addresses[p->next_address++ % p->n_addresses];
        socket_address_to_string((const struct sockaddr *)&a->sa, a->len, address, sizeof(address));
        fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        r = connect(fd, (const struct sockaddr *)&a->sa, a->len);
        if (r < 0 && errno != EINPROGRESS)
                return -errno;
        r = conn_new(p, fd, true, address, &c);
        if (r < 0)
                return r;
        TAKE_FD(fd);
        c->connecting = true;
        p->dialing = c;
        return 0;
}

static void on_resolved(Resolve *r, int error, const SocketAddress *addresses, size_t n,
                        void *userdata)
{
        Peer *p = userdata;
        bool dial = p->dial_after_resolve;

        p->resolve = resolve_free(p->resolve);
        p->dial_after_resolve = false;
        if (error) {
                /* Keep what we had: a DNS hiccup must not cut a peer we know. */
                log_warning("peer %s: cannot resolve %s: %s", p->config->peer_name,
                            p->config->peer_host, resolve_error_string(error));
                if (dial)
                        peer_schedule_redial(p);
                return;
        }
        peer_set_addresses(p, addresses, n);
        log_debug("peer %s: %s resolved to %zu address(es), %zu usable", p->config->peer_name,
                  p->config->peer_host, n, p->n_addresses);
        for (size_t i = 0; i < PEER_PENDING_MAX; i++) {
                PeerConn *c = p->pending[i];
                if (!c || !c->unverified)
                        continue;
                if (peer_address_is_peer(p, (const struct sockaddr *)&c->from)) {
                        c->unverified = false;
                        continue;
                }
                peer_log_refusal(p, c->address, "not the peer's address (peer.address)", 0);
                peer_drop_conn(p, c);
        }
        if (dial && (p->n_addresses == 0 || peer_dial(p) < 0))
                peer_schedule_redial(p);
}

/* Host names are looked up again at each reconnect, off the loop; numeric addresses are fixed. */
static void peer_refresh_addresses(Peer *p, bool then_dial)
{
        int r;

        if (p->config->peer_address.len > 0) {
                if (p->n_addresses == 0 && !p->problem[0])
                        peer_set_addresses(p, &p->config->peer_address, 1);
                if (then_dial && (p->n_addresses == 0 || peer_dial(p) < 0))
                        peer_schedule_redial(p);
                return;
        }
        p->dial_after_resolve |= then_dial;
        if (p->resolve)
                return;
        r = resolve_start(p->event, p->config->peer_host, p->config->peer_port, on_resolved, p,
                          &p->resolve);
        if (r < 0) {
                log_warning_errno(r, "peer %s: cannot resolve %s: %m", p->config->peer_name,
                                  p->config->peer_host);
                p->dial_after_resolve = false;
                if (then_dial)
                        peer_schedule_redial(p);
        }
}

static int redial_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        peer_refresh_addresses(userdata, true);
        return 0;
}

static void peer_schedule_redial(Peer *p)
{
        if (!p->dials || !p->redial_timer)
                return;
        /* A restarted peer is found within a heartbeat: while it is away, two serving nodes (one
         * that took over, one that re-adopted after a late restart) see each other, and hold
         * their election, only once a dial gets through. A numeric address costs a connect()
         * per heartbeat at most; a host name is resolved again at each dial, so it keeps the
         * gentler 1 s ceiling. */
        usec_t max = PEER_BACKOFF_MAX;
        if (p->config->peer_address.len > 0 && p->config->heartbeat < max)
                max = p->config->heartbeat > PEER_BACKOFF_MIN ? p->config->heartbeat
                                                              : PEER_BACKOFF_MIN;
        sd_event_source_set_time_relative(p->redial_timer, p->backoff < max ? p->backoff : max);
        sd_event_source_set_enabled(p->redial_timer, SD_EVENT_ONESHOT);
        p->backoff = p->backoff * 2 > max ? max : p->backoff * 2;
}

static int heartbeat_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        peer_send_heartbeat(userdata);
        return 0;
}

static int dead_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        Peer *p = userdata;

        if (p->conn) {
                log_warning("peer %s: nothing heard for %.3f s; dropping the connection",
                            p->config->peer_name, (double)p->config->dead_time / USEC_PER_SEC);
                PeerConn *c = p->conn;
                p->conn = NULL;
                conn_free(c);
                if (p->dials)
                        peer_schedule_redial(p);
                else
                        peer_refresh_addresses(p, false);
        }
        if (p->connected) {
                p->connected = false;
                if (p->cb.lost)
                        p->cb.lost(p, p->userdata);
        }
        return 0;
}

int peer_new(sd_event *e, Config *c, const Key *key, const PeerCallbacks *cb, void *userdata,
             Peer **ret)
{
        _cleanup_(peer_freep) Peer *p = NULL;
        int r;

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->event = sd_event_ref(e);
        p->config = config_ref(c);
        p->key = key;
        p->cb = *cb;
        p->userdata = userdata;
        p->backoff = PEER_BACKOFF_MIN;
        p->dials = strcmp(c->node_name, c->peer_name) < 0;

        /* Both listen: the node that dials only to recognise a misconfigured peer that dials it
         * too (it never adopts such a connection). */
        r = listen_socket_open(&c->listen_address, 16);
        if (r < 0)
                return log_error_errno(r, "Failed to listen on %s for the peer: %m", c->listen);
        r = listener_new(e, r, "peer", on_accept, p, &p->listener);
        if (r < 0)
                return r;
        r = sd_event_add_time_relative(e, &p->heartbeat_timer, CLOCK_MONOTONIC, c->heartbeat,
                                       PEER_TIMER_ACCURACY, heartbeat_timer, p);
        if (r < 0)
                return r;
        sd_event_source_set_enabled(p->heartbeat_timer, SD_EVENT_ON);
        r = sd_event_add_time(e, &p->dead_timer, CLOCK_MONOTONIC, USEC_INFINITY,
                              PEER_TIMER_ACCURACY, dead_timer, p);
        if (r < 0)
                return r;
        sd_event_source_set_enabled(p->dead_timer, SD_EVENT_OFF);
        r = sd_event_add_time_relative(e, &p->redial_timer, CLOCK_MONOTONIC, 0, PEER_TIMER_ACCURACY,
                                       redial_timer, p);
        if (r < 0)
                return r;
        sd_event_source_set_enabled(p->redial_timer, SD_EVENT_OFF);
        /* The dialer dials once the address is known; the other side needs it to let the peer in.
         */
        peer_refresh_addresses(p, p->dials);
        *ret = TAKE_PTR(p);
        return 0;
}

Peer *peer_free(Peer *p)
{
        if (!p)
                return NULL;
        conn_free(p->conn);
        conn_free(p->dialing);
        for (size_t i = 0; i < PEER_PENDING_MAX; i++)
                conn_free(p->pending[i]);
        resolve_free(p->resolve);
        listener_free(p->listener);
        sd_event_source_disable_unref(p->heartbeat_timer);
        sd_event_source_disable_unref(p->dead_timer);
        sd_event_source_disable_unref(p->redial_timer);
        sd_event_unref(p->event);
        config_unref(p->config);
        free(p);
        return NULL;
}

void peer_set_config(Peer *p, Config *c)
{
        config_ref(c);
        config_unref(p->config);
        p->config = c;
}

void peer_set_local(Peer *p, uint8_t state, uint8_t flags, uint64_t epoch)
{
        p->local_state = state;
        p->local_flags = flags;
        p->local_epoch = epoch;
}

int peer_send(Peer *p, FrameType type, uint32_t request_id, const char *payload)
{
        int r;

        if (!p->conn)
                return -ENOTCONN;
        r = conn_send(p, p->conn, type, request_id, payload);
        if (r < 0) {
                log_warning_errno(r, "peer %s: send failed: %m", p->config->peer_name);
                peer_drop_conn(p, p->conn);
        }
        return r;
}

void peer_send_heartbeat(Peer *p)
{
        if (p->conn)
                (void)peer_send(p, FRAME_HEARTBEAT, 0, NULL);
        sd_event_source_set_time_relative(p->heartbeat_timer, p->config->heartbeat);
        sd_event_source_set_enabled(p->heartbeat_timer, SD_EVENT_ON);
}

bool peer_is_connected(const Peer *p)
{
        return p->connected;
}

usec_t peer_last_seen(const Peer *p)
{
        return p->last_seen;
}

const char *peer_address_string(const Peer *p)
{
        return p->conn ? p->conn->address : p->config->peer_address_string;
}

const char *peer_problem(const Peer *p)
{
        return p && p->problem[0] ? p->problem : NULL;
}
