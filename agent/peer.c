/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "peer.h"

#include <fcntl.h>
#include <netinet/tcp.h>

#include "listener.h"
#include "log.h"

/* Connections not yet authenticated: a bound on what a stranger can make us hold. */
#define PEER_PENDING_MAX 16
#define PEER_OUTBUF_SIZE (16 * FRAME_MAX_SIZE)
#define PEER_BACKOFF_MIN (50 * USEC_PER_MSEC)
#define PEER_BACKOFF_MAX (1 * USEC_PER_SEC)
/* At most this many "bad frame" lines per window, so a flood cannot fill the journal. */
#define PEER_LOG_BURST  10
#define PEER_LOG_WINDOW (10 * USEC_PER_SEC)

typedef struct PeerConn {
        Peer *peer;
        int fd;
        bool outgoing;
        bool connecting;
        bool authenticated;
        usec_t accepted;  /* CLOCK_MONOTONIC; the oldest pending connection is shed first */
        bool hello_valid; /* sent a HELLO with a valid HMAC: it holds the key, shed it last */
        sd_event_source *io;
        sd_event_source *deadline; /* handshake must finish in time */
        FrameSession session;
        uint8_t in[2 * FRAME_MAX_SIZE];
        size_t in_len;
        uint8_t out[PEER_OUTBUF_SIZE];
        size_t out_len;
        char address[64];
} PeerConn;

struct Peer {
        sd_event *event;
        Config *config; /* a reference */
        const Key *key;
        PeerCallbacks cb;
        void *userdata;

        Listener *listener;
        PeerConn *conn; /* the authenticated one */
        PeerConn *pending[PEER_PENDING_MAX];
        PeerConn *dialing;
        bool dials;
        usec_t backoff;
        sd_event_source *redial_timer;
        sd_event_source *heartbeat_timer;
        sd_event_source *dead_timer;

        uint8_t local_state, local_flags;
        uint64_t local_epoch;
        usec_t last_seen;
        bool connected;

        unsigned log_count, log_suppressed;
        usec_t log_window_start;
};

static void peer_log_refusal(Peer *p, const char *address, const char *what, int error)
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

static void conn_free(PeerConn *c)
{
        if (!c)
                return;
        sd_event_source_disable_unref(c->io);
        sd_event_source_disable_unref(c->deadline);
        if (c->fd >= 0)
                close(c->fd);
        free(c);
}

static void peer_schedule_redial(Peer *p);

/* Forgets a connection wherever the peer keeps it. */
static void peer_drop_conn(Peer *p, PeerConn *c)
{
        if (p->conn == c)
                p->conn = NULL;
        if (p->dialing == c)
                p->dialing = NULL;
        for (size_t i = 0; i < PEER_PENDING_MAX; i++)
                if (p->pending[i] == c)
                        p->pending[i] = NULL;
        bool was_outgoing = c->outgoing;
        conn_free(c);
        if (was_outgoing || (p->dials && !p->conn && !p->dialing))
                peer_schedule_redial(p);
}

static int conn_flush(PeerConn *c)
{
        while (c->out_len > 0) {
                ssize_t k = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (k < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                break;
                        return -errno;
                }
                memmove(c->out, c->out + k, c->out_len - (size_t)k);
                c->out_len -= (size_t)k;
        }
        return sd_event_source_set_io_events(c->io, EPOLLIN | (c->out_len > 0 ? EPOLLOUT : 0));
}

static int conn_queue(PeerConn *c, const uint8_t *buf, size_t len)
{
        /* A peer that does not read its socket for 16 frames is stuck; better to reconnect. */
        if (c->out_len + len > sizeof(c->out))
                return -ENOBUFS;
        memcpy(c->out + c->out_len, buf, len);
        c->out_len += len;
        return conn_flush(c);
}

static int conn_send(Peer *p, PeerConn *c, FrameType type, uint32_t request_id, const char *payload)
{
        Frame f = {
            .type = (uint8_t)type,
            .state = p->local_state,
            .flags = p->local_flags,
            .request_id = request_id,
            .epoch = p->local_epoch,
        };
        uint8_t buf[FRAME_MAX_SIZE];
        size_t len;
        int r;

        if (payload) {
                f.payload_len = (uint32_t)strnlen(payload, FRAME_MAX_PAYLOAD);
                memcpy(f.payload, payload, f.payload_len);
        }
        r = frame_encode(&c->session, &f, buf, sizeof(buf), &len);
        if (r < 0)
                return r;
        return conn_queue(c, buf, len);
}

static void peer_mark_seen(Peer *p)
{
        p->last_seen = now_usec(CLOCK_MONOTONIC);
        sd_event_source_set_time(p->dead_timer, p->last_seen + p->config->dead_time);
        sd_event_source_set_enabled(p->dead_timer, SD_EVENT_ONESHOT);
}

static void peer_promote(Peer *p, PeerConn *c)
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
        log_info("peer %s connected from %s", p->config->peer_name, c->address);
        p->connected = true;
        if (p->cb.connected)
                p->cb.connected(p, p->userdata);
}

/* Handles one decoded frame; returns < 0 to close the connection. */
static int conn_handle_frame(Peer *p, PeerConn *c, const Frame *f)
{
        if (f->type == FRAME_HELLO) {
                char name[FRAME_NAME_MAX + 1];
                int r = frame_hello_name(f, name, sizeof(name));
                if (r < 0)
                        return r;
                if (!streq(name, p->config->peer_name)) {
                        peer_log_refusal(p, c->address, "HELLO from an unexpected node name", 0);
                        return -EPERM;
                }
                c->hello_valid = true;
                /* The peer's nonce is known now; a heartbeat proves we hold the key too. */
                return conn_send(p, c, FRAME_HEARTBEAT, 0, NULL);
        }
        if (!c->authenticated)
                peer_promote(p, c);
        peer_mark_seen(p);
        if (!p->connected) {
                p->connected = true;
                if (p->cb.connected)
                        p->cb.connected(p, p->userdata);
        }
        if (p->cb.frame)
                p->cb.frame(p, f, p->userdata);
        return 0;
}

static const char *decode_error_string(int r)
{
        switch (r) {
        case -EMSGSIZE:
                return "frame too large";
        case -EPROTONOSUPPORT:
                return "unsupported protocol version";
        case -EACCES:
                return "bad HMAC (wrong key, or a replayed frame)";
        case -ESTALE:
                return "replayed or reordered frame";
        default:
                return "malformed frame";
        }
}

static int conn_read(Peer *p, PeerConn *c)
{
        for (;;) {
                ssize_t k = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, MSG_DONTWAIT);
                if (k < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return 0;
                        return -errno;
                }
                if (k == 0)
                        return -ECONNRESET;
                c->in_len += (size_t)k;

                for (;;) {
                        Frame f;
                        ssize_t n = frame_decode(&c->session, c->in, c->in_len, &f);
                        if (n == 0)
                                break;
                        if (n < 0) {
                                peer_log_refusal(p, c->address, decode_error_string((int)n), 0);
                                return -EBADMSG;
                        }
                        memmove(c->in, c->in + n, c->in_len - (size_t)n);
                        c->in_len -= (size_t)n;
                        int r = conn_handle_frame(p, c, &f);
                        if (r < 0)
                                return r;
                        /* The handler may have replaced or freed connections. */
                        if (p->conn != c && p->dialing != c) {
                                bool still_pending = false;
                                for (size_t i = 0; i < PEER_PENDING_MAX; i++)
                                        still_pending |= p->pending[i] == c;
                                if (!still_pending)
                                        return 1;
                        }
                }
        }
}

static int conn_start(Peer *p, PeerConn *c)
{
        uint8_t buf[FRAME_MAX_SIZE];
        size_t len;
        int r;

        frame_session_init(&c->session, p->key->data, p->key->len);
        r = frame_encode_hello(&c->session, p->config->node_name, buf, sizeof(buf), &len);
        if (r < 0)
                return r;
        return conn_queue(c, buf, len);
}

static int conn_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        PeerConn *c = userdata;
        Peer *p = c->peer;
        int r = 0;

        if (c->connecting) {
                int error = 0;
                socklen_t len = sizeof(error);
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
                if (error) {
                        log_debug_errno(error, "peer %s: connect to %s failed: %m",
                                        p->config->peer_name, c->address);
                        peer_drop_conn(p, c);
                        return 0;
                }
                c->connecting = false;
                r = conn_start(p, c);
                if (r < 0)
                        goto fail;
        }
        if (revents & EPOLLOUT) {
                r = conn_flush(c);
                if (r < 0)
                        goto fail;
        }
        if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                r = conn_read(p, c);
                if (r < 0)
                        goto fail;
        }
        return 0;
fail:
        if (c->authenticated)
                log_info_errno(r, "peer %s: connection to %s closed: %m", p->config->peer_name,
                               c->address);
        peer_drop_conn(p, c);
        return 0;
}

static int conn_deadline(sd_event_source *s, uint64_t usec, void *userdata)
{
        PeerConn *c = userdata;

        peer_log_refusal(c->peer, c->address, "no valid handshake in time", 0);
        peer_drop_conn(c->peer, c);
        return 0;
}

static int conn_new(Peer *p, int fd, bool outgoing, const char *address, PeerConn **ret)
{
        PeerConn *c;
        int one = 1, r;
        usec_t handshake =
            p->config->dead_time > 2 * USEC_PER_SEC ? p->config->dead_time : 2 * USEC_PER_SEC;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->peer = p;
        c->fd = fd;
        c->outgoing = outgoing;
        c->accepted = now_usec(CLOCK_MONOTONIC);
        snprintf(c->address, sizeof(c->address), "%s", address);
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        r = sd_event_add_io(p->event, &c->io, fd, EPOLLIN | (outgoing ? EPOLLOUT : 0), conn_io, c);
        if (r < 0)
                goto fail;
        r = sd_event_add_time_relative(p->event, &c->deadline, CLOCK_MONOTONIC, handshake, 0,
                                       conn_deadline, c);
        if (r < 0)
                goto fail;
        *ret = c;
        return 0;
fail:
        c->fd = -1;
        conn_free(c);
        return r;
}

static void on_accept(Listener *l, int cfd, const struct sockaddr *sa, socklen_t len,
                      void *userdata)
{
        Peer *p = userdata;
        char address[64];
        PeerConn *c;
        size_t slot;

        socket_address_to_string(sa, len, address, sizeof(address));
        for (slot = 0; slot < PEER_PENDING_MAX; slot++)
                if (!p->pending[slot])
                        break;
        if (slot == PEER_PENDING_MAX) {
                /* Full: shed the oldest, not the newcomer. Refusing newcomers would let a
                 * stranger who keeps every slot busy lock the real peer out after any blip of
                 * the link, and so cause a failover; shedding the oldest leaves the peer a
                 * slot for the few milliseconds its handshake takes. A connection whose HELLO
                 * proved it holds the key is shed only when every slot holds one, so a flood of
                 * strangers cannot push the reconnecting peer out mid-handshake. */
                slot = 0;
                for (size_t i = 1; i < PEER_PENDING_MAX; i++) {
                        PeerConn *a = p->pending[i], *b = p->pending[slot];
                        if (a->hello_valid != b->hello_valid ? !a->hello_valid
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
        p->pending[slot] = c;
        if (conn_start(p, c) < 0)
                peer_drop_conn(p, c);
}

static int peer_dial(Peer *p)
{
        _cleanup_close_ int fd = -1;
        PeerConn *c;
        int r;

        if (p->dialing || p->conn)
                return 0;
        fd = socket(p->config->peer_address.sa.ss_family,
                    SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        r = connect(fd, (struct sockaddr *)&p->config->peer_address.sa,
                    p->config->peer_address.len);
        if (r < 0 && errno != EINPROGRESS)
                return -errno;
        r = conn_new(p, fd, true, p->config->peer_address_string, &c);
        if (r < 0)
                return r;
        TAKE_FD(fd);
        c->connecting = true;
        p->dialing = c;
        return 0;
}

static int redial_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        Peer *p = userdata;

        if (peer_dial(p) < 0)
                peer_schedule_redial(p);
        return 0;
}

static void peer_schedule_redial(Peer *p)
{
        if (!p->dials || !p->redial_timer)
                return;
        sd_event_source_set_time_relative(p->redial_timer, p->backoff);
        sd_event_source_set_enabled(p->redial_timer, SD_EVENT_ONESHOT);
        p->backoff = p->backoff * 2 > PEER_BACKOFF_MAX ? PEER_BACKOFF_MAX : p->backoff * 2;
}

static int heartbeat_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        Peer *p = userdata;

        peer_send_heartbeat(p);
        return 0;
}

static int dead_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        Peer *p = userdata;

        if (p->conn) {
                log_warning("peer %s: nothing heard for %.1f s; dropping the connection",
                            p->config->peer_name, (double)p->config->dead_time / USEC_PER_SEC);
                PeerConn *c = p->conn;
                p->conn = NULL;
                conn_free(c);
                if (p->dials)
                        peer_schedule_redial(p);
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

        r = listen_socket_open(&c->listen_address, 16);
        if (r < 0)
                return log_error_errno(r, "Failed to listen on %s for the peer: %m", c->listen);
        r = listener_new(e, r, "peer", on_accept, p, &p->listener);
        if (r < 0)
                return r;
        r = sd_event_add_time_relative(e, &p->heartbeat_timer, CLOCK_MONOTONIC, c->heartbeat, 0,
                                       heartbeat_timer, p);
        if (r < 0)
                return r;
        sd_event_source_set_enabled(p->heartbeat_timer, SD_EVENT_ON);
        r = sd_event_add_time(e, &p->dead_timer, CLOCK_MONOTONIC, USEC_INFINITY, 0, dead_timer, p);
        if (r < 0)
                return r;
        sd_event_source_set_enabled(p->dead_timer, SD_EVENT_OFF);
        r = sd_event_add_time_relative(e, &p->redial_timer, CLOCK_MONOTONIC, 0, 0, redial_timer, p);
        if (r < 0)
                return r;
        sd_event_source_set_enabled(p->redial_timer, p->dials ? SD_EVENT_ONESHOT : SD_EVENT_OFF);
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
