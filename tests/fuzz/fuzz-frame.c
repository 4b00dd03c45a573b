/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* libFuzzer target for the peer wire format: whatever a stranger on the peer port sends goes
 * through frame_decode, on a fresh connection (HELLO path) and after the handshake. Beyond "no
 * crash", it checks what the daemon relies on: a partial frame never changes the session or
 * decodes early, a decoded frame is self-consistent, encode/decode round-trip, and no single
 * flipped byte of an authenticated frame is ever accepted. Two modes sign whatever the fuzzer
 * wrote with the real key, to reach the code behind the HMAC check too. */
#include <sodium.h>

#include "fuzz-check.h"

#include "fuzz-frame-session.h"
#include "util.h"

#define FUZZ_MAX_FRAMES 64

/* Every strict prefix of the input must decode as "need more bytes", or as the same error the
 * whole input gives, and must leave the session untouched. */
static void check_prefixes(const FrameSession *s, const uint8_t *buf, size_t len, ssize_t full)
{
        size_t limit = len < FRAME_MAX_SIZE + 1 ? len : FRAME_MAX_SIZE + 1;

        if (full > 0 && (size_t)full < limit)
                limit = (size_t)full;
        for (size_t p = 0; p < limit; p++) {
                FrameSession copy = *s;
                Frame f;
                ssize_t n = frame_decode(&copy, buf, p, &f);

                FUZZ_CHECK(n == 0 || (full < 0 && n == full));
                if (n == 0)
                        FUZZ_CHECK(memcmp(&copy, s, sizeof(copy)) == 0);
        }
}

static void check_decoded(const FrameSession *s, const Frame *f, size_t consumed)
{
        char name[FRAME_NAME_MAX + 1];

        FUZZ_CHECK(consumed == FRAME_HEADER_SIZE + f->payload_len + FRAME_HMAC_SIZE);
        FUZZ_CHECK(f->payload_len <= FRAME_MAX_PAYLOAD);
        FUZZ_CHECK(f->type >= FRAME_HELLO && f->type < _FRAME_TYPE_MAX);
        FUZZ_CHECK(frame_type_to_string((FrameType)f->type));
        FUZZ_CHECK(s->recv_counter == f->counter);
        if (f->type == FRAME_HELLO) {
                FUZZ_CHECK(f->counter == 0);
                FUZZ_CHECK(frame_hello_name(f, name, sizeof(name)) == 0);
                FUZZ_CHECK(strlen(name) == f->payload_len - FRAME_NONCE_SIZE);
                FUZZ_CHECK(memcmp(s->remote_nonce, f->payload, FRAME_NONCE_SIZE) == 0);
                FUZZ_CHECK(memcmp(s->remote_nonce, s->local_nonce, FRAME_NONCE_SIZE) != 0);
        } else
                FUZZ_CHECK(frame_hello_name(f, name, sizeof(name)) == -EINVAL);
}

/* Decodes frames one after another, as the daemon's read loop does, until it needs more bytes
 * or refuses one (the daemon then closes the connection). */
static void fuzz_stream(FrameSession *s, const uint8_t *buf, size_t len)
{
        for (size_t i = 0; i < FUZZ_MAX_FRAMES; i++) {
                FrameSession before = *s;
                Frame f;
                ssize_t n = frame_decode(s, buf, len, &f);

                check_prefixes(&before, buf, len, n);
                if (n <= 0) {
                        FUZZ_CHECK(n == 0 || n == -EBADMSG || n == -EMSGSIZE ||
                                   n == -EPROTONOSUPPORT || n == -EACCES || n == -ESTALE);
                        if (n == 0)
                                FUZZ_CHECK(memcmp(&before, s, sizeof(before)) == 0);
                        return;
                }
                FUZZ_CHECK((size_t)n <= len);
                /* Exactly one HELLO, and first. */
                FUZZ_CHECK((f.type == FRAME_HELLO) == !before.hello_received);
                check_decoded(s, &f, (size_t)n);
                buf += n;
                len -= (size_t)n;
        }
}

static uint64_t take_be(const uint8_t **p, size_t bytes)
{
        uint64_t v = 0;

        for (size_t i = 0; i < bytes; i++)
                v = v << 8 | *(*p)++;
        return v;
}

/* Input: type, state, flags, request_id[4], epoch[8], counter[8], tamper_at[2], tamper_xor,
 * then the payload (or, for a HELLO, the node name). */
#define ROUND_TRIP_FIELDS 26

static void fuzz_round_trip(const uint8_t *data, size_t size)
{
        FrameSession sender, receiver, before;
        Frame in = {}, out;
        uint8_t buf[FRAME_MAX_SIZE];
        const uint8_t *p = data;
        size_t len, at;
        uint8_t xor ;
        ssize_t n;
        int r;

        if (size < ROUND_TRIP_FIELDS)
                return;
        fuzz_frame_session(&sender, FUZZ_NONCE_SENDER, FUZZ_NONCE_RECEIVER, true);
        fuzz_frame_session(&receiver, FUZZ_NONCE_RECEIVER, FUZZ_NONCE_SENDER, true);
        in.type = *p++;
        in.state = *p++;
        in.flags = *p++;
        in.request_id = (uint32_t)take_be(&p, 4);
        in.epoch = take_be(&p, 8);
        sender.send_counter = take_be(&p, 8);
        receiver.recv_counter = sender.send_counter;
        at = (size_t)take_be(&p, 2);
        xor = *p++;
        in.payload_len = (uint32_t)(size - ROUND_TRIP_FIELDS);
        if (in.payload_len > FRAME_MAX_PAYLOAD)
                in.payload_len = FRAME_MAX_PAYLOAD;
        memcpy(in.payload, p, in.payload_len);

        if (in.type == FRAME_HELLO) {
                char name[FRAME_NAME_MAX + 2] = {};

                memcpy(name, in.payload,
                       in.payload_len < sizeof(name) - 1 ? in.payload_len : sizeof(name) - 1);
                fuzz_frame_session(&sender, FUZZ_NONCE_SENDER, 0, false);
                fuzz_frame_session(&receiver, FUZZ_NONCE_RECEIVER, 0, false);
                r = frame_encode_hello(&sender, name, buf, sizeof(buf), &len);
                if (strlen(name) == 0 || strlen(name) > FRAME_NAME_MAX) {
                        FUZZ_CHECK(r == -EINVAL);
                        return;
                }
                FUZZ_CHECK(r == 0);
                FUZZ_CHECK(frame_encode_hello(&sender, name, buf, sizeof(buf), &len) == -EINVAL);
        } else {
                r = frame_encode(&sender, &in, buf, sizeof(buf), &len);
                if (in.type == 0 || in.type >= _FRAME_TYPE_MAX) {
                        FUZZ_CHECK(r == -EINVAL);
                        return;
                }
                FUZZ_CHECK(r == 0);
        }
        FUZZ_CHECK(len == FRAME_HEADER_SIZE + FRAME_HMAC_SIZE +
                              (in.type == FRAME_HELLO
                                   ? FRAME_NONCE_SIZE + strnlen((char *)in.payload, FRAME_NAME_MAX)
                                   : in.payload_len));

        /* One flipped byte anywhere must be refused, or at most wait for more bytes. */
        before = receiver;
        buf[at % len] ^= xor? xor : 0x01;
        n = frame_decode(&receiver, buf, len, &out);
        FUZZ_CHECK(n <= 0);
        buf[at % len] ^= xor? xor : 0x01;
        receiver = before;

        n = frame_decode(&receiver, buf, len, &out);
        FUZZ_CHECK(n == (ssize_t)len);
        check_decoded(&receiver, &out, len);
        if (in.type == FRAME_HELLO) {
                FUZZ_CHECK(memcmp(receiver.remote_nonce, sender.local_nonce, FRAME_NONCE_SIZE) ==
                           0);
                return;
        }
        FUZZ_CHECK(out.type == in.type && out.state == in.state && out.flags == in.flags);
        FUZZ_CHECK(out.request_id == in.request_id && out.epoch == in.epoch);
        FUZZ_CHECK(out.counter == sender.send_counter);
        FUZZ_CHECK(out.payload_len == in.payload_len);
        FUZZ_CHECK(memcmp(out.payload, in.payload, in.payload_len) == 0);

        /* The same bytes again on the same connection are a replay. */
        FUZZ_CHECK(frame_decode(&receiver, buf, len, &out) == -ESTALE);
}

/* Writes a valid HMAC after each frame of buf, as the peer holding the key would: the fuzzer
 * controls everything else. Until the receiver has had a HELLO, the first frame that says
 * HELLO is signed as one and announces the sender nonce of the frames after it. Stops at the
 * first frame that does not fit. */
static void sign_frames(const FrameSession *receiver, uint8_t *buf, size_t len)
{
        static const uint8_t zero[FRAME_NONCE_SIZE];
        const uint8_t *receiver_nonce = receiver->local_nonce;
        bool hello_done = receiver->hello_received;
        uint8_t sender_nonce[FRAME_NONCE_SIZE];

        /* Before a HELLO, what the receiver would check a frame against: a zero nonce. */
        memcpy(sender_nonce, receiver->remote_nonce, sizeof(sender_nonce));
        while (len >= FRAME_HEADER_SIZE) {
                uint32_t payload_len = (uint32_t)buf[8] << 24 | (uint32_t)buf[9] << 16 |
                                       (uint32_t)buf[10] << 8 | buf[11];
                bool hello = !hello_done && buf[5] == FRAME_HELLO;
                crypto_auth_hmacsha256_state st;
                size_t total;

                if (payload_len > len - FRAME_HEADER_SIZE ||
                    len - FRAME_HEADER_SIZE - payload_len < FRAME_HMAC_SIZE)
                        return;
                if (hello) {
                        if (payload_len < FRAME_NONCE_SIZE)
                                return;
                        memcpy(sender_nonce, buf + FRAME_HEADER_SIZE, FRAME_NONCE_SIZE);
                        hello_done = true;
                }
                total = FRAME_HEADER_SIZE + payload_len + FRAME_HMAC_SIZE;
                crypto_auth_hmacsha256_init(&st, fuzz_frame_key, sizeof(fuzz_frame_key));
                crypto_auth_hmacsha256_update(&st, hello ? zero : receiver_nonce, FRAME_NONCE_SIZE);
                crypto_auth_hmacsha256_update(&st, sender_nonce, FRAME_NONCE_SIZE);
                crypto_auth_hmacsha256_update(&st, buf, FRAME_HEADER_SIZE + payload_len);
                crypto_auth_hmacsha256_final(&st, buf + FRAME_HEADER_SIZE + payload_len);
                buf += total;
                len -= total;
        }
}

static void fuzz_signed(bool after_hello, const uint8_t *data, size_t size)
{
        FrameSession s;
        uint8_t *copy = malloc(size ? size : 1);

        FUZZ_CHECK(copy);
        memcpy(copy, data, size);
        fuzz_frame_session(&s, FUZZ_NONCE_RECEIVER, FUZZ_NONCE_SENDER, after_hello);
        sign_frames(&s, copy, size);
        fuzz_stream(&s, copy, size);
        free(copy);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
        FrameSession s;

        if (size < 1)
                return 0;
        switch (data[0] % _FUZZ_FRAME_MODE_MAX) {
        case FUZZ_FRAME_MODE_HELLO:
                fuzz_frame_session(&s, FUZZ_NONCE_RECEIVER, 0, false);
                fuzz_stream(&s, data + 1, size - 1);
                break;
        case FUZZ_FRAME_MODE_SESSION:
                fuzz_frame_session(&s, FUZZ_NONCE_RECEIVER, FUZZ_NONCE_SENDER, true);
                fuzz_stream(&s, data + 1, size - 1);
                break;
        case FUZZ_FRAME_MODE_ROUND_TRIP:
                fuzz_round_trip(data + 1, size - 1);
                break;
        case FUZZ_FRAME_MODE_SIGNED_HELLO:
                fuzz_signed(false, data + 1, size - 1);
                break;
        default:
                fuzz_signed(true, data + 1, size - 1);
                break;
        }
        return 0;
}
