/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/* The fixed key and nonces shared by fuzz-frame and the generator of its seed corpus: seeds
 * carry valid HMACs only if both sides of the session are exactly these. */

#include <string.h>

#include "frame.h"

/* The first input byte picks what the rest is. */
enum {
        FUZZ_FRAME_MODE_HELLO,      /* a byte stream on a fresh connection: HELLO expected first */
        FUZZ_FRAME_MODE_SESSION,    /* a byte stream after both HELLOs, recv_counter 0 */
        FUZZ_FRAME_MODE_ROUND_TRIP, /* fields to encode, decode, and tamper with */
        /* Like HELLO and SESSION, but the harness first writes a valid HMAC into every frame,
         * so arbitrary headers reach the code behind the HMAC check, as from a peer that has
         * the key. */
        FUZZ_FRAME_MODE_SIGNED_HELLO,
        FUZZ_FRAME_MODE_SIGNED_SESSION,
        _FUZZ_FRAME_MODE_MAX,
};

static const uint8_t fuzz_frame_key[40] = "vacataire-fuzz-key-0123456789abcdef-40b";

#define FUZZ_NONCE_RECEIVER 0x11 /* the daemon under test */
#define FUZZ_NONCE_SENDER   0x22 /* the remote peer */

/* A session whose local nonce is fill; after_hello: both HELLOs exchanged with a peer whose
 * nonce is peer_fill. Deterministic, so a saved input replays the same way. */
static inline void fuzz_frame_session(FrameSession *s, uint8_t fill, uint8_t peer_fill,
                                      bool after_hello)
{
        frame_session_init(s, fuzz_frame_key, sizeof(fuzz_frame_key));
        memset(s->local_nonce, fill, sizeof(s->local_nonce));
        if (after_hello) {
                memset(s->remote_nonce, peer_fill, sizeof(s->remote_nonce));
                s->hello_sent = s->hello_received = true;
        }
}
