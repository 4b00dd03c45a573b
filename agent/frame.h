/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/*
 * The peer wire format, version 2. Pure encoding and decoding: no sockets, no event loop.
 *
 * Every frame starts with a clear 20-byte header (magic, version, kind, body length, counter).
 * A connection opens with one HELLO each way (kind hello, clear body: a fresh random nonce and
 * the sender's node name). From both HELLOs each side derives two keys, one per direction,
 * from the shared key and the transcript (who dialed, both nonces, both names): BLAKE2b keyed
 * with a hash of the shared key. Every later frame is sealed (kind sealed) with
 * ChaCha20-Poly1305 under the sender's direction key, the header as associated data and the
 * counter as the AEAD nonce, so type, state, epoch and reasons never travel in clear. Each
 * side's first sealed frame is an AUTH (counter 0): the proof that it holds the key for this
 * very transcript. A HELLO proves nothing and a sealed frame is worth nothing on any other
 * connection, in the other direction, or out of order.
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FRAME_MAGIC       UINT32_C(0x56435452) /* "VCTR" */
#define FRAME_VERSION     2
#define FRAME_HEADER_SIZE 20 /* clear: magic[4] version kind reserved[2] body_len[4] counter[8] */
#define FRAME_INNER_SIZE  16 /* sealed: type state flags reserved request_id[4] epoch[8] */
#define FRAME_TAG_SIZE    16 /* crypto_aead_chacha20poly1305_IETF_ABYTES */
#define FRAME_NONCE_SIZE  32
#define FRAME_KEY_SIZE    32
#define FRAME_NAME_MAX    63
#define FRAME_MAX_PAYLOAD 512
#define FRAME_MAX_BODY    (FRAME_INNER_SIZE + FRAME_MAX_PAYLOAD + FRAME_TAG_SIZE)
#define FRAME_MAX_SIZE    (FRAME_HEADER_SIZE + FRAME_MAX_BODY)
#define FRAME_HELLO_MAX   (FRAME_NONCE_SIZE + FRAME_NAME_MAX)

typedef enum FrameKind {
        FRAME_KIND_HELLO = 1,
        FRAME_KIND_SEALED = 2,
} FrameKind;

typedef enum FrameType {
        FRAME_HELLO = 1,       /* clear; payload: nonce[32] + node name (1..63 bytes, no NUL) */
        FRAME_HEARTBEAT,       /* no payload: state/flags/epoch are in the (sealed) inner header */
        FRAME_TAKE,            /* "start your services": handover request; payload: reason text */
        FRAME_TAKE_DONE,       /* reply: started */
        FRAME_TAKE_FAILED,     /* reply: could not start; payload: reason */
        FRAME_RELEASE,         /* "hand your services over to me" (operator takeover) */
        FRAME_RELEASE_REFUSED, /* reply; payload: reason */
        FRAME_RELEASED,        /* the old active node has stopped its services: handover complete */
        FRAME_AUTH,            /* first sealed frame each way: proves the key for this transcript */
        FRAME_REFUSED, /* misconfiguration seen after the key proof; payload: what, then close */
        FRAME_MAINTENANCE, /* an operator set maintenance mode: payload "on" or "off" */
        _FRAME_TYPE_MAX,
        _FRAME_TYPE_INVALID = -EINVAL,
} FrameType;

const char *frame_type_to_string(FrameType t);
FrameType frame_type_from_string(const char *s);

typedef struct Frame {
        uint8_t type;        /* FrameType */
        uint8_t state;       /* sender's role state (opaque to this module, 0..255) */
        uint8_t flags;       /* sender's flags (opaque bits) */
        uint32_t request_id; /* pairs requests and replies */
        uint64_t counter;    /* set by frame_encode */
        uint64_t epoch;      /* sender's epoch */
        uint32_t payload_len;
        uint8_t payload[FRAME_MAX_PAYLOAD];
} Frame;

/* Per-connection state. initiator: this side dialed (the transcript orders the HELLOs by it, and
 * the direction keys follow from it). Holds key material: end it with frame_session_done(). */
typedef struct FrameSession {
        uint8_t base_key[FRAME_KEY_SIZE]; /* hash of the shared key */
        bool initiator;
        uint8_t local_nonce[FRAME_NONCE_SIZE];
        uint8_t remote_nonce[FRAME_NONCE_SIZE];
        uint8_t local_hello[FRAME_HELLO_MAX], remote_hello[FRAME_HELLO_MAX];
        size_t local_hello_len, remote_hello_len;
        uint8_t send_key[FRAME_KEY_SIZE], recv_key[FRAME_KEY_SIZE];
        bool hello_sent, hello_received;
        bool keys_ready;                     /* both HELLOs known */
        bool auth_sent, auth_received;       /* the peer proved the key once auth_received */
        uint64_t send_counter, recv_counter; /* of the last frame sent / accepted */
} FrameSession;

/* Fresh session for one connection, with a random local nonce. */
void frame_session_init(FrameSession *s, const uint8_t *key, size_t key_len, bool initiator);
/* Wipes the key material. */
void frame_session_done(FrameSession *s);

/* The first frame of a connection. -EINVAL if node_name is empty, longer than FRAME_NAME_MAX, or
 * if a HELLO was already sent. */
int frame_encode_hello(FrameSession *s, const char *node_name, uint8_t *buf, size_t size,
                       size_t *ret_len);
/* Seals f into buf (>= FRAME_MAX_SIZE) and returns 0, or -EINVAL (bad type, a HELLO, payload too
 * long, a second AUTH), -ENOTCONN (HELLOs not both exchanged yet, or a frame before our AUTH),
 * -ENOBUFS (buf too small), -EOVERFLOW (counter exhausted). */
int frame_encode(FrameSession *s, const Frame *f, uint8_t *buf, size_t size, size_t *ret_len);

/* Decodes one frame from the start of buf. Returns the number of bytes consumed (> 0) and fills
 * *ret, 0 if more bytes are needed (the session is then unchanged), or a negative error (the
 * caller closes the connection; the session must then not be used again):
 * -EBADMSG malformed (bad magic, kind, reserved bits, type or length; a second HELLO; a sealed
 *          frame before the HELLOs; a first sealed frame that is not AUTH or a second AUTH; our
 *          own HELLO reflected back),
 * -EMSGSIZE body longer than FRAME_MAX_BODY (detected from the header alone),
 * -EPROTONOSUPPORT other version, -EACCES authentication failed (wrong key, or a frame from
 * another connection or direction), -ESTALE counter not the next one (replayed or reordered).
 * For a HELLO, *ret holds the peer's nonce and name in payload: read the name with
 * frame_hello_name(). */
ssize_t frame_decode(FrameSession *s, const uint8_t *buf, size_t len, Frame *ret);

/* Copies the node name of a decoded HELLO into buf as a C string: 0, -EINVAL (not a HELLO),
 * -ENOBUFS (buf too small). */
int frame_hello_name(const Frame *f, char *buf, size_t size);
/* The peer's node name from its HELLO: 0, -ENOTCONN (no HELLO yet), -ENOBUFS. */
int frame_session_remote_name(const FrameSession *s, char *buf, size_t size);
