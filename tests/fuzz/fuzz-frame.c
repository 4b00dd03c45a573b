/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* libFuzzer target for the peer wire format: whatever a stranger on the peer port sends goes
 * through frame_decode, on a fresh connection (HELLO path), after the HELLOs (AUTH path) and
 * after the handshake. Beyond "no crash", it checks what the daemon relies on: a partial frame
 * never changes the session or decodes early, a decoded frame is self-consistent, encode/decode
 * round-trip, and no single flipped byte of a sealed frame is ever accepted. Two modes seal
 * whatever the fuzzer wrote with the real key, to reach the code behind the authentication. */
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

static void check_decoded(const FrameSession *before, const FrameSession *s, const Frame *f,
                          size_t consumed)
{
        char name[FRAME_NAME_MAX + 1];

        FUZZ_CHECK(f->payload_len <= FRAME_MAX_PAYLOAD);
        FUZZ_CHECK(f->type >= FRAME_HELLO && f->type < _FRAME_TYPE_MAX);
        FUZZ_CHECK(frame_type_to_string((FrameType)f->type));
        if (f->type == FRAME_HELLO) {
                FUZZ_CHECK(!before->hello_received && s->hello_received);
                FUZZ_CHECK(consumed == FRAME_HEADER_SIZE + f->payload_len);
                FUZZ_CHECK(f->counter == 0);
                FUZZ_CHECK(frame_hello_name(f, name, sizeof(name)) == 0);
                FUZZ_CHECK(strlen(name) == f->payload_len - FRAME_NONCE_SIZE);
                FUZZ_CHECK(memcmp(s->remote_nonce, f->payload, FRAME_NONCE_SIZE) == 0);
                FUZZ_CHECK(memcmp(s->remote_nonce, s->local_nonce, FRAME_NONCE_SIZE) != 0);
                FUZZ_CHECK(s->keys_ready == s->hello_sent);
                return;
        }
        FUZZ_CHECK(consumed ==
                   FRAME_HEADER_SIZE + FRAME_INNER_SIZE + f->payload_len + FRAME_TAG_SIZE);
        FUZZ_CHECK(before->keys_ready);
        FUZZ_CHECK(frame_hello_name(f, name, sizeof(name)) == -EINVAL);
        FUZZ_CHECK(s->recv_counter == f->counter);
        /* The first sealed frame is the AUTH, at counter 0; then counters follow one by one. */
        FUZZ_CHECK((f->type == FRAME_AUTH) == !before->auth_received);
        FUZZ_CHECK(f->counter == (before->auth_received ? before->recv_counter + 1 : 0));
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
                check_decoded(&before, s, &f, (size_t)n);
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
 * then the payload (or, for a HELLO, the node name). The remote encodes, the daemon decodes. */
#define ROUND_TRIP_FIELDS 26

static void fuzz_round_trip(const uint8_t *data, size_t size)
{
        FrameSession local, remote, before;
        Frame in = {}, out;
        uint8_t buf[FRAME_MAX_SIZE];
        const uint8_t *p = data;
        uint64_t counter;
        size_t len, at;
        uint8_t xor ;
        ssize_t n;
        int r;

        if (size < ROUND_TRIP_FIELDS)
                return;
        in.type = *p++;
        in.state = *p++;
        in.flags = *p++;
        in.request_id = (uint32_t)take_be(&p, 4);
        in.epoch = take_be(&p, 8);
        counter = take_be(&p, 8);
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
                fuzz_frame_pair(&local, &remote, FUZZ_STAGE_FRESH);
                remote.hello_sent = false; /* the pair's remote sent none yet */
                r = frame_encode_hello(&remote, name, buf, sizeof(buf), &len);
                if (strlen(name) == 0 || strlen(name) > FRAME_NAME_MAX) {
                        FUZZ_CHECK(r == -EINVAL);
                        return;
                }
                FUZZ_CHECK(r == 0);
                FUZZ_CHECK(frame_encode_hello(&remote, name, buf, sizeof(buf), &len) == -EINVAL);
                FUZZ_CHECK(len == FRAME_HEADER_SIZE + FRAME_NONCE_SIZE + strlen(name));
        } else {
                fuzz_frame_pair(&local, &remote,
                                in.type == FRAME_AUTH ? FUZZ_STAGE_HELLO : FUZZ_STAGE_AUTH);
                if (in.type != FRAME_AUTH) {
                        remote.send_counter = counter;
                        local.recv_counter = counter;
                }
                r = frame_encode(&remote, &in, buf, sizeof(buf), &len);
                if (in.type == 0 || in.type >= _FRAME_TYPE_MAX) {
                        FUZZ_CHECK(r == -EINVAL);
                        return;
                }
                if (in.type != FRAME_AUTH && counter == UINT64_MAX) {
                        FUZZ_CHECK(r == -EOVERFLOW);
                        return;
                }
                FUZZ_CHECK(r == 0);
                FUZZ_CHECK(len ==
                           FRAME_HEADER_SIZE + FRAME_INNER_SIZE + in.payload_len + FRAME_TAG_SIZE);
        }

        /* One flipped byte anywhere must be refused, or at most wait for more bytes. A HELLO is
         * clear: only its header and name length are checked. */
        before = local;
        buf[at % len] ^= xor? xor : 0x01;
        n = frame_decode(&local, buf, len, &out);
        if (in.type != FRAME_HELLO)
                FUZZ_CHECK(n <= 0);
        buf[at % len] ^= xor? xor : 0x01;
        local = before;

        n = frame_decode(&local, buf, len, &out);
        FUZZ_CHECK(n == (ssize_t)len);
        check_decoded(&before, &local, &out, len);
        if (in.type == FRAME_HELLO) {
                FUZZ_CHECK(memcmp(local.remote_nonce, remote.local_nonce, FRAME_NONCE_SIZE) == 0);
                FUZZ_CHECK(local.keys_ready);
                return;
        }
        FUZZ_CHECK(out.type == in.type && out.state == in.state && out.flags == in.flags);
        FUZZ_CHECK(out.request_id == in.request_id && out.epoch == in.epoch);
        FUZZ_CHECK(out.counter == remote.send_counter);
        FUZZ_CHECK(out.payload_len == in.payload_len);
        FUZZ_CHECK(memcmp(out.payload, in.payload, in.payload_len) == 0);

        /* The same bytes again on the same connection are a replay; sent back, a reflection. */
        FUZZ_CHECK(frame_decode(&local, buf, len, &out) == -ESTALE);
        FUZZ_CHECK(frame_decode(&remote, buf, len, &out) == -EACCES);
}

/* Seals each chunk of data (counter[1], inner_len[2], inner bytes) with the remote's send key,
 * as the peer holding the key would, into out; the fuzzer controls the plaintext and the
 * counter. Returns the length written. */
static size_t seal_chunks(const FrameSession *remote, const uint8_t *data, size_t size,
                          uint8_t *out, size_t out_size)
{
        size_t len = 0;

        while (size >= 3) {
                uint8_t counter = data[0];
                size_t inner_len =
                    ((size_t)data[1] << 8 | data[2]) % (FRAME_INNER_SIZE + FRAME_MAX_PAYLOAD + 1);
                uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES] = {};
                uint8_t *h = out + len;
                unsigned long long sealed;

                data += 3;
                size -= 3;
                if (inner_len > size)
                        inner_len = size;
                if (len + FRAME_HEADER_SIZE + inner_len + FRAME_TAG_SIZE > out_size)
                        break;
                memcpy(h, "VCTR", 4);
                h[4] = FRAME_VERSION;
                h[5] = FRAME_KIND_SEALED;
                h[6] = h[7] = 0;
                size_t body = inner_len + FRAME_TAG_SIZE;
                for (int i = 0; i < 4; i++)
                        h[8 + i] = (uint8_t)(body >> (24 - 8 * i));
                memset(h + 12, 0, 7);
                h[19] = counter;
                nonce[11] = counter;
                crypto_aead_chacha20poly1305_ietf_encrypt(h + FRAME_HEADER_SIZE, &sealed, data,
                                                          inner_len, h, FRAME_HEADER_SIZE, NULL,
                                                          nonce, remote->send_key);
                len += FRAME_HEADER_SIZE + (size_t)sealed;
                data += inner_len;
                size -= inner_len;
        }
        return len;
}

static void fuzz_sealed(FuzzStage stage, const uint8_t *data, size_t size)
{
        static uint8_t buf[FUZZ_MAX_FRAMES * FRAME_MAX_SIZE];
        FrameSession local, remote;
        size_t len;

        fuzz_frame_pair(&local, &remote, stage);
        len = seal_chunks(&remote, data, size, buf, sizeof(buf));
        fuzz_stream(&local, buf, len);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
        FrameSession local, remote;

        if (size < 1)
                return 0;
        switch (data[0] % _FUZZ_FRAME_MODE_MAX) {
        case FUZZ_FRAME_MODE_HELLO:
                fuzz_frame_pair(&local, &remote, FUZZ_STAGE_FRESH);
                fuzz_stream(&local, data + 1, size - 1);
                break;
        case FUZZ_FRAME_MODE_AFTER_HELLO:
                fuzz_frame_pair(&local, &remote, FUZZ_STAGE_HELLO);
                fuzz_stream(&local, data + 1, size - 1);
                break;
        case FUZZ_FRAME_MODE_SESSION:
                fuzz_frame_pair(&local, &remote, FUZZ_STAGE_AUTH);
                fuzz_stream(&local, data + 1, size - 1);
                break;
        case FUZZ_FRAME_MODE_ROUND_TRIP:
                fuzz_round_trip(data + 1, size - 1);
                break;
        case FUZZ_FRAME_MODE_SEALED_AFTER_HELLO:
                fuzz_sealed(FUZZ_STAGE_HELLO, data + 1, size - 1);
                break;
        default:
                fuzz_sealed(FUZZ_STAGE_AUTH, data + 1, size - 1);
                break;
        }
        return 0;
}
