/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/* The fixed key, nonces and handshake shared by fuzz-frame and the generator of its seed corpus:
 * seeds hold valid sealed frames only if both sides of the session are exactly these. */

#include <string.h>

#include "fuzz-check.h"

#include "frame.h"

/* The first input byte picks what the rest is. */
enum {
        FUZZ_FRAME_MODE_HELLO, /* a byte stream on a fresh connection: a HELLO expected first */
        FUZZ_FRAME_MODE_AFTER_HELLO, /* a byte stream after both HELLOs: an AUTH expected first */
        FUZZ_FRAME_MODE_SESSION,     /* a byte stream after both AUTHs, recv_counter 0 */
        FUZZ_FRAME_MODE_ROUND_TRIP,  /* fields to encode, decode, and tamper with */
        /* Like AFTER_HELLO and SESSION, but the input is plaintext chunks (counter[1],
         * inner_len[2], inner header + payload) that the harness seals with the peer's real key,
         * so arbitrary inner headers reach the code behind the authentication, as from a peer
         * that holds the key. */
        FUZZ_FRAME_MODE_SEALED_AFTER_HELLO,
        FUZZ_FRAME_MODE_SEALED_SESSION,
        _FUZZ_FRAME_MODE_MAX,
};

typedef enum FuzzStage {
        FUZZ_STAGE_FRESH, /* the daemon sent its HELLO, nothing received */
        FUZZ_STAGE_HELLO, /* both HELLOs exchanged: keys ready */
        FUZZ_STAGE_AUTH,  /* both AUTHs exchanged */
} FuzzStage;

static const uint8_t fuzz_frame_key[40] = "vacataire-fuzz-key-0123456789abcdef-40b";

#define FUZZ_NONCE_LOCAL  0x11 /* the daemon under test: it listens */
#define FUZZ_NONCE_REMOTE 0x22 /* the remote peer: it dials */

/* The daemon's session (local) and the remote's, brought to stage. Deterministic, so a saved
 * input replays the same way. */
static inline void fuzz_frame_pair(FrameSession *local, FrameSession *remote, FuzzStage stage)
{
        uint8_t buf[FRAME_MAX_SIZE];
        Frame f = {.type = FRAME_AUTH};
        size_t len;

        frame_session_init(local, fuzz_frame_key, sizeof(fuzz_frame_key), false);
        frame_session_init(remote, fuzz_frame_key, sizeof(fuzz_frame_key), true);
        memset(local->local_nonce, FUZZ_NONCE_LOCAL, FRAME_NONCE_SIZE);
        memset(remote->local_nonce, FUZZ_NONCE_REMOTE, FRAME_NONCE_SIZE);
        FUZZ_CHECK(frame_encode_hello(local, "local", buf, sizeof(buf), &len) == 0);
        FUZZ_CHECK(frame_decode(remote, buf, len, &f) == (ssize_t)len);
        if (stage == FUZZ_STAGE_FRESH)
                return;
        FUZZ_CHECK(frame_encode_hello(remote, "remote", buf, sizeof(buf), &len) == 0);
        FUZZ_CHECK(frame_decode(local, buf, len, &f) == (ssize_t)len);
        if (stage == FUZZ_STAGE_HELLO)
                return;
        f = (Frame){.type = FRAME_AUTH};
        FUZZ_CHECK(frame_encode(remote, &f, buf, sizeof(buf), &len) == 0);
        FUZZ_CHECK(frame_decode(local, buf, len, &f) == (ssize_t)len);
        f = (Frame){.type = FRAME_AUTH};
        FUZZ_CHECK(frame_encode(local, &f, buf, sizeof(buf), &len) == 0);
        FUZZ_CHECK(frame_decode(remote, buf, len, &f) == (ssize_t)len);
}
