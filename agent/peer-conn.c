/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* One peer connection: its buffers and its handshake.
 *
 *   dialer                                 listener
 *   HELLO(nonce, name)           ->   <-   HELLO(nonce, name)        clear, sent at once
 *   AUTH  (sealed, counter 0)    ->   <-   AUTH                      on the other's HELLO
 *   HEARTBEAT (counter 1)        ->   <-   HEARTBEAT                 on the other's valid AUTH
 *
 * A side adopts the connection on the first frame after the other's AUTH: the other only sends
 * it once it has verified our AUTH, so both directions are proven by then. Names are checked
 * after the AUTH verified, so a stranger cannot make a node report a misconfiguration. */
#include <netinet/tcp.h>

#include "log.h"
#include "peer-internal.h"

void conn_free(PeerConn *c)
{
        if (!c)
                return;
        sd_event_source_disable_unref(c->io);
        sd_event_source_disable_unref(c->deadline);
        if (c->fd >= 0)
                close(c->fd);
        frame_session_done(&c->session);
        free(c);
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
        /* A refusal is the last thing we send; the other side reads it, then sees the end. */
        if (c->refused && c->out_len == 0)
                (void)shutdown(c->fd, SHUT_WR);
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

int conn_send(Peer *p, PeerConn *c, FrameType type, uint32_t request_id, const char *payload)
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

int conn_start(Peer *p, PeerConn *c)
{
        uint8_t buf[FRAME_MAX_SIZE];
        size_t len;
        int r;

        frame_session_init(&c->session, p->key->data, p->key->len, c->outgoing);
        r = frame_encode_hello(&c->session, p->config->node_name, buf, sizeof(buf), &len);
        if (r < 0)
                return r;
        return conn_queue(c, buf, len);
}

/* After the other side proved the key: is it the peer we are configured for, and does the
 * direction fit (only the node whose name sorts first dials)? Fills why (for our log and
 * status) and tell (for the other side) and returns false if not. */
static bool check_names(Peer *p, PeerConn *c, PeerProblem *kind, char *why, size_t why_size,
                        char *tell, size_t tell_size)
{
        const Config *cfg = p->config;
        char name[FRAME_NAME_MAX + 1] = "";

        (void)frame_session_remote_name(&c->session, name, sizeof(name));
        if (streq(name, cfg->node_name)) {
                *kind = PEER_PROBLEM_SAME_NAME;
                snprintf(why, why_size,
                         "misconfiguration: the node at %s holds the key and calls itself \"%s\", "
                         "this node's own name (expected peer \"%s\"): the same node name on both "
                         "sides; was the configuration copied without swapping node and peer?",
                         c->address, name, cfg->peer_name);
                snprintf(tell, tell_size,
                         "node \"%s\" expects peer \"%s\" and received \"%s\", its own name: the "
                         "same node name on both sides",
                         cfg->node_name, cfg->peer_name, name);
                return false;
        }
        if (!streq(name, cfg->peer_name)) {
                *kind = PEER_PROBLEM_WRONG_NAME;
                snprintf(why, why_size,
                         "misconfiguration: the node at %s holds the key but calls itself \"%s\"; "
                         "expected \"%s\" (peer.name)",
                         c->address, name, cfg->peer_name);
                snprintf(tell, tell_size, "node \"%s\" expects peer \"%s\" and received \"%s\"",
                         cfg->node_name, cfg->peer_name, name);
                return false;
        }
        if (c->diagnostic) {
                /* Our own peer.address is wrong (it reaches this node): already reported. */
                *kind = PEER_PROBLEM_SELF_ADDRESS;
                snprintf(why, why_size, "%s", p->problem);
                snprintf(tell, tell_size,
                         "node \"%s\" has a peer.address (%s) that reaches itself, not you",
                         cfg->node_name, cfg->peer_address_string);
                return false;
        }
        if (!c->outgoing && p->dials) {
                *kind = PEER_PROBLEM_BOTH_DIAL;
                snprintf(why, why_size,
                         "misconfiguration: peer \"%s\" at %s dials this node although \"%s\" "
                         "sorts first and dials it: its peer.name is not \"%s\"",
                         name, c->address, cfg->node_name, cfg->node_name);
                snprintf(tell, tell_size,
                         "node \"%s\" dials you (it sorts first): your peer.name should be \"%s\"",
                         cfg->node_name, cfg->node_name);
                return false;
        }
        return true;
}

/* Tells the other side, authenticated, what is wrong, then closes our side. */
static int conn_refuse(Peer *p, PeerConn *c, const char *tell)
{
        int r = conn_send(p, c, FRAME_REFUSED, 0, tell);
        if (r < 0)
                return r;
        c->refused = true;
        return conn_flush(c);
}

/* Handles one decoded frame; returns < 0 to close the connection. */
static int conn_handle_frame(Peer *p, PeerConn *c, const Frame *f)
{
        char why[PEER_PROBLEM_MAX], tell[FRAME_MAX_PAYLOAD];
        PeerProblem kind;

        if (c->refused && f->type != FRAME_REFUSED)
                return 0;
        switch (f->type) {
        case FRAME_HELLO:
                /* Both nonces are known: prove the key for this very connection. */
                return conn_send(p, c, FRAME_AUTH, 0, NULL);
        case FRAME_AUTH:
                /* Not adopted before its address is known to be the peer's: it redials. */
                if (c->unverified)
                        return -EAGAIN;
                c->key_proven = true;
                if (!check_names(p, c, &kind, why, sizeof(why), tell, sizeof(tell))) {
                        peer_set_problem(p, kind, "%s", why);
                        return conn_refuse(p, c, tell);
                }
                /* We accept it; the first frame after an AUTH says so. */
                return conn_send(p, c, FRAME_HEARTBEAT, 0, NULL);
        case FRAME_REFUSED: {
                char name[FRAME_NAME_MAX + 1] = "?";
                (void)frame_session_remote_name(&c->session, name, sizeof(name));
                peer_set_problem(p, PEER_PROBLEM_REFUSED,
                                 "misconfiguration: node \"%s\" at %s refuses the link: %.*s", name,
                                 c->address, (int)f->payload_len, (const char *)f->payload);
                return -EPERM;
        }
        default:
                break;
        }
        if (!c->authenticated)
                peer_promote(p, c);
        peer_mark_seen(p);
        if (!p->connected) {
                p->connected = true;
                if (p->cb.connected)
                        p->cb.connected(p, p->userdata);
        }
        if (p->cb.frame && peer_holds_conn(p, c))
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
                return "frame failed authentication (wrong key, or replayed from another "
                       "connection)";
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
                        if (!peer_holds_conn(p, c))
                                return 1;
                }
        }
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

        if (!c->refused)
                peer_log_refusal(c->peer, c->address, "no valid handshake in time", 0);
        peer_drop_conn(c->peer, c);
        return 0;
}

int conn_new(Peer *p, int fd, bool outgoing, const char *address, PeerConn **ret)
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
        r = sd_event_add_time_relative(p->event, &c->deadline, CLOCK_MONOTONIC, handshake,
                                       PEER_TIMER_ACCURACY, conn_deadline, c);
        if (r < 0)
                goto fail;
        *ret = c;
        return 0;
fail:
        c->fd = -1;
        conn_free(c);
        return r;
}
