/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/* The peer wire format: fixed 32-byte header, payload, HMAC-SHA256 trailer. Pure encoding and
 * decoding: no sockets, no event loop. */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FRAME_MAGIC       UINT32_C(0x56435452) /* "VCTR" */
#define FRAME_VERSION     1
#define FRAME_HEADER_SIZE 32
#define FRAME_NONCE_SIZE  32
#define FRAME_HMAC_SIZE   32 /* crypto_auth_hmacsha256_BYTES */
#define FRAME_MAX_PAYLOAD 512
#define FRAME_MAX_SIZE    (FRAME_HEADER_SIZE + FRAME_MAX_PAYLOAD + FRAME_HMAC_SIZE)
#define FRAME_NAME_MAX    63

typedef enum FrameType {
        FRAME_HELLO = 1,       /* payload: nonce[32] + node name (1..63 bytes, no NUL) */
        FRAME_HEARTBEAT,       /* no payload: state/flags/epoch are in the header */
        FRAME_TAKE,            /* "start your services": handover request; payload: reason text */
        FRAME_TAKE_DONE,       /* reply: started */
        FRAME_TAKE_FAILED,     /* reply: could not start; payload: reason */
        FRAME_RELEASE,         /* "hand your services over to me" (operator takeover) */
        FRAME_RELEASE_REFUSED, /* reply; payload: reason */
        FRAME_RELEASED,        /* the old active node has stopped its services: handover complete */
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

/* Per-connection state: our nonce (random, made by frame_session_init), the peer's (from its
 * HELLO), and the counters. */
typedef struct FrameSession {
        const uint8_t *key;
        size_t key_len;
        uint8_t local_nonce[FRAME_NONCE_SIZE];
        uint8_t remote_nonce[FRAME_NONCE_SIZE];
        bool hello_sent, hello_received;
        uint64_t send_counter, recv_counter;
} FrameSession;

/* Fresh session for one connection; the key is borrowed and must outlive the session. */
void frame_session_init(FrameSession *s, const uint8_t *key, size_t key_len);

/* Encodes f into buf (>= FRAME_MAX_SIZE) and returns 0, or -EINVAL (bad type, payload too long,
 * a HELLO: use frame_encode_hello), -ENOTCONN (HELLO not yet sent or not yet received: the HMAC
 * covers the peer's nonce), -ENOBUFS (buf too small). */
int frame_encode(FrameSession *s, const Frame *f, uint8_t *buf, size_t size, size_t *ret_len);
/* The first frame of a connection. -EINVAL if node_name is empty, longer than FRAME_NAME_MAX, or
 * if a HELLO was already sent. */
int frame_encode_hello(FrameSession *s, const char *node_name, uint8_t *buf, size_t size,
                       size_t *ret_len);

/* Decodes one frame from the start of buf. Returns the number of bytes consumed (> 0) and fills
 * *ret, 0 if more bytes are needed, or a negative error (the caller closes the connection; the
 * session must then not be used again):
 * -EBADMSG malformed (bad magic, unknown type, HELLO payload wrong, a second HELLO, a non-HELLO
 *          before HELLO, our own HELLO reflected back),
 * -EMSGSIZE payload_len > FRAME_MAX_PAYLOAD (detected from the header alone),
 * -EPROTONOSUPPORT other version, -EACCES HMAC mismatch,
 * -ESTALE counter not exactly recv_counter+1 (replayed or reordered).
 * For a HELLO, *ret holds the peer's nonce and name in payload: read the name with
 * frame_hello_name(). */
ssize_t frame_decode(FrameSession *s, const uint8_t *buf, size_t len, Frame *ret);

/* Copies the node name of a decoded HELLO into buf as a C string: 0, -EINVAL (not a HELLO),
 * -ENOBUFS (buf too small). */
int frame_hello_name(const Frame *f, char *buf, size_t size);
