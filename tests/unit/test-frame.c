/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The peer wire format: real libsodium HMACs, every error path, byte-by-byte input and random
 * garbage. Frames are also built here independently from the documented layout, so the test
 * checks the wire format itself and not only that the encoder and decoder agree. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <sodium.h>

#include "frame.h"
#include "util.h"

static const uint8_t key1[40] = "0123456789abcdef0123456789abcdef-longer";
static const uint8_t key2[40] = "0123456789abcdef0123456789abcdef-LONGER";

static void put32(uint8_t *p, uint32_t v)
{
        p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
        p[3] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
        put32(p, (uint32_t)(v >> 32));
        put32(p + 4, (uint32_t)v);
}

/* An encoder written from the specification: header, payload, then HMAC-SHA256 over
 * receiver_nonce || sender_nonce || header || payload. */
static size_t spec_encode(const uint8_t *key, size_t key_len, const uint8_t *receiver_nonce,
                          const uint8_t *sender_nonce, uint8_t type, uint8_t state, uint8_t flags,
                          uint32_t request_id, uint64_t counter, uint64_t epoch,
                          const void *payload, uint32_t payload_len, uint8_t *out)
{
        crypto_auth_hmacsha256_state st;

        put32(out, 0x56435452);
        out[4] = 1;
        out[5] = type;
        out[6] = state;
        out[7] = flags;
        put32(out + 8, payload_len);
        put32(out + 12, request_id);
        put64(out + 16, counter);
        put64(out + 24, epoch);
        memcpy(out + 32, payload, payload_len);
        crypto_auth_hmacsha256_init(&st, key, key_len);
        crypto_auth_hmacsha256_update(&st, receiver_nonce, 32);
        crypto_auth_hmacsha256_update(&st, sender_nonce, 32);
        crypto_auth_hmacsha256_update(&st, out, 32 + payload_len);
        crypto_auth_hmacsha256_final(&st, out + 32 + payload_len);
        return 32 + payload_len + 32;
}

/* A HELLO with an arbitrary payload after the nonce, correctly authenticated. */
static size_t spec_hello(const uint8_t *nonce, const void *name, uint32_t name_len, uint8_t *out)
{
        static const uint8_t zero[32];
        uint8_t payload[FRAME_MAX_PAYLOAD];

        memcpy(payload, nonce, 32);
        memcpy(payload + 32, name, name_len);
        return spec_encode(key1, sizeof(key1), zero, nonce, FRAME_HELLO, 0, 0, 0, 0, 0, payload,
                           32 + name_len, out);
}

static void send_hello(FrameSession *from, const char *name, FrameSession *to)
{
        uint8_t buf[FRAME_MAX_SIZE];
        char got[FRAME_NAME_MAX + 1];
        size_t len;
        Frame f;

        assert_int_equal(frame_encode_hello(from, name, buf, sizeof(buf), &len), 0);
        assert_int_equal(len, FRAME_HEADER_SIZE + FRAME_NONCE_SIZE + strlen(name) + 32);
        assert_int_equal(frame_decode(to, buf, len, &f), (ssize_t)len);
        assert_int_equal(f.type, FRAME_HELLO);
        assert_int_equal(f.counter, 0);
        assert_int_equal(frame_hello_name(&f, got, sizeof(got)), 0);
        assert_string_equal(got, name);
}

/* Two ends of one connection, HELLOs exchanged. */
static void connect_pair(FrameSession *a, FrameSession *b)
{
        frame_session_init(a, key1, sizeof(key1));
        frame_session_init(b, key1, sizeof(key1));
        send_hello(a, "alpha", b);
        send_hello(b, "beta", a);
}

static size_t encode(FrameSession *s, uint8_t type, const char *payload, uint8_t *buf)
{
        Frame f = {.type = type, .state = 3, .flags = 0x81, .request_id = 77, .epoch = 9};
        size_t len;

        f.payload_len = payload ? (uint32_t)strlen(payload) : 0;
        if (payload)
                memcpy(f.payload, payload, f.payload_len);
        assert_int_equal(frame_encode(s, &f, buf, FRAME_MAX_SIZE, &len), 0);
        return len;
}

static void test_type_strings(void **state)
{
        for (FrameType t = FRAME_HELLO; t < _FRAME_TYPE_MAX; t++) {
                assert_non_null(frame_type_to_string(t));
                assert_int_equal(frame_type_from_string(frame_type_to_string(t)), t);
        }
        assert_string_equal(frame_type_to_string(FRAME_TAKE_DONE), "take-done");
        assert_null(frame_type_to_string(_FRAME_TYPE_MAX));
        assert_true(frame_type_from_string("nonsense") < 0);
        assert_true(frame_type_from_string(NULL) < 0);
}

static void test_hello_exchange(void **state)
{
        FrameSession a, b;

        connect_pair(&a, &b);
        assert_true(a.hello_sent && a.hello_received && b.hello_sent && b.hello_received);
        assert_memory_equal(a.remote_nonce, b.local_nonce, FRAME_NONCE_SIZE);
        assert_memory_equal(b.remote_nonce, a.local_nonce, FRAME_NONCE_SIZE);
        assert_memory_not_equal(a.local_nonce, b.local_nonce, FRAME_NONCE_SIZE);
}

/* The bytes on the wire are exactly the documented layout. */
static void test_wire_layout(void **state)
{
        uint8_t buf[FRAME_MAX_SIZE], expected[FRAME_MAX_SIZE];
        FrameSession a, b;
        size_t len, n;
        Frame f = {.type = FRAME_TAKE,
                   .state = 0xa5,
                   .flags = 0x5a,
                   .request_id = 0x01020304,
                   .counter = 999 /* ignored */,
                   .epoch = 0x1122334455667788ULL,
                   .payload_len = 3,
                   .payload = "why"};

        connect_pair(&a, &b);
        assert_int_equal(frame_encode(&a, &f, buf, sizeof(buf), &len), 0);
        n = spec_encode(key1, sizeof(key1), a.remote_nonce, a.local_nonce, FRAME_TAKE, 0xa5, 0x5a,
                        0x01020304, 1, 0x1122334455667788ULL, "why", 3, expected);
        assert_int_equal(len, n);
        assert_memory_equal(buf, expected, n);
        assert_memory_equal(buf, "VCTR\x01\x03\xa5\x5a\0\0\0\x03\x01\x02\x03\x04", 16);
        assert_memory_equal(buf + 16, "\0\0\0\0\0\0\0\x01\x11\x22\x33\x44\x55\x66\x77\x88", 16);
}

static void test_round_trip_every_type(void **state)
{
        static const uint32_t lengths[] = {0, 1, 100, FRAME_MAX_PAYLOAD};
        uint8_t buf[FRAME_MAX_SIZE];
        FrameSession a, b;
        uint64_t counter = 0;

        connect_pair(&a, &b);
        for (FrameType t = FRAME_HEARTBEAT; t < _FRAME_TYPE_MAX; t++)
                for (size_t i = 0; i < ELEMENTSOF(lengths); i++) {
                        /* Alternate directions so both counters move. */
                        FrameSession *from = counter % 2 ? &b : &a, *to = counter % 2 ? &a : &b;
                        Frame in = {.type = (uint8_t)t,
                                    .state = (uint8_t)(t * 17),
                                    .flags = 0xff,
                                    .request_id = 0xdeadbeef,
                                    .epoch = UINT64_MAX - t,
                                    .payload_len = lengths[i]};
                        Frame out;
                        size_t len;

                        randombytes_buf(in.payload, in.payload_len);
                        assert_int_equal(frame_encode(from, &in, buf, sizeof(buf), &len), 0);
                        assert_int_equal(len, FRAME_HEADER_SIZE + lengths[i] + FRAME_HMAC_SIZE);
                        assert_int_equal(frame_decode(to, buf, len, &out), (ssize_t)len);
                        assert_int_equal(out.type, t);
                        assert_int_equal(out.state, in.state);
                        assert_int_equal(out.flags, 0xff);
                        assert_int_equal(out.request_id, 0xdeadbeef);
                        assert_true(out.epoch == UINT64_MAX - t);
                        assert_int_equal(out.counter, counter / 2 + 1);
                        assert_int_equal(out.payload_len, lengths[i]);
                        assert_memory_equal(out.payload, in.payload, lengths[i] ? lengths[i] : 1);
                        counter++;
                }
        assert_int_equal(a.send_counter, counter / 2);
        assert_int_equal(b.recv_counter, counter / 2);
}

static void test_encode_misuse(void **state)
{
        uint8_t buf[FRAME_MAX_SIZE];
        char long_name[FRAME_NAME_MAX + 2];
        Frame f = {.type = FRAME_HEARTBEAT};
        FrameSession a, b;
        size_t len;

        frame_session_init(&a, key1, sizeof(key1));
        frame_session_init(&b, key1, sizeof(key1));
        assert_int_equal(frame_encode(&a, &f, buf, sizeof(buf), &len), -ENOTCONN);
        assert_int_equal(frame_encode_hello(&a, "", buf, sizeof(buf), &len), -EINVAL);
        memset(long_name, 'x', sizeof(long_name) - 1);
        long_name[sizeof(long_name) - 1] = 0;
        assert_int_equal(frame_encode_hello(&a, long_name, buf, sizeof(buf), &len), -EINVAL);
        long_name[FRAME_NAME_MAX] = 0; /* exactly the maximum is fine */
        assert_int_equal(frame_encode_hello(&a, "a", buf, 10, &len), -ENOBUFS);
        assert_false(a.hello_sent);
        send_hello(&a, long_name, &b);
        assert_int_equal(frame_encode_hello(&a, "again", buf, sizeof(buf), &len), -EINVAL);
        /* Our HELLO went out but the peer's has not come in: its nonce is still unknown. */
        assert_int_equal(frame_encode(&a, &f, buf, sizeof(buf), &len), -ENOTCONN);
        send_hello(&b, "b", &a);

        f.type = FRAME_HELLO;
        assert_int_equal(frame_encode(&a, &f, buf, sizeof(buf), &len), -EINVAL);
        f.type = 0;
        assert_int_equal(frame_encode(&a, &f, buf, sizeof(buf), &len), -EINVAL);
        f.type = _FRAME_TYPE_MAX;
        assert_int_equal(frame_encode(&a, &f, buf, sizeof(buf), &len), -EINVAL);
        f.type = FRAME_TAKE;
        f.payload_len = FRAME_MAX_PAYLOAD + 1;
        assert_int_equal(frame_encode(&a, &f, buf, sizeof(buf), &len), -EINVAL);
        f.payload_len = 10;
        assert_int_equal(frame_encode(&a, &f, buf, FRAME_HEADER_SIZE + 10, &len), -ENOBUFS);
        assert_int_equal(a.send_counter, 0); /* failed encodes use no counter */
        assert_int_equal(frame_encode(&a, &f, buf, sizeof(buf), &len), 0);
        assert_int_equal(a.send_counter, 1);
}

static void test_hello_name(void **state)
{
        Frame f = {.type = FRAME_HELLO, .payload_len = FRAME_NONCE_SIZE + 4};
        char buf[8];

        memcpy(f.payload + FRAME_NONCE_SIZE, "web1", 4);
        assert_int_equal(frame_hello_name(&f, buf, 5), 0);
        assert_string_equal(buf, "web1");
        assert_int_equal(frame_hello_name(&f, buf, 4), -ENOBUFS);
        f.type = FRAME_HEARTBEAT;
        assert_int_equal(frame_hello_name(&f, buf, sizeof(buf)), -EINVAL);
}

/* Feeds a stream one byte at a time, as a socket might deliver it, and checks each frame comes
 * out whole exactly when its last byte arrives. */
static void test_partial_input(void **state)
{
        uint8_t stream[4 * FRAME_MAX_SIZE], hello[FRAME_MAX_SIZE];
        size_t lengths[3], total = 0, start = 0, hello_len;
        FrameSession a, b, rx;
        unsigned decoded = 0;
        Frame f;

        frame_session_init(&a, key1, sizeof(key1));
        frame_session_init(&b, key1, sizeof(key1));
        assert_int_equal(frame_encode_hello(&a, "alpha", hello, sizeof(hello), &hello_len), 0);
        memcpy(stream, hello, hello_len);
        lengths[0] = hello_len;
        total = hello_len;
        rx = b;
        assert_int_equal(frame_decode(&b, hello, hello_len, &f), (ssize_t)hello_len);
        send_hello(&b, "beta", &a);
        lengths[1] = encode(&a, FRAME_HEARTBEAT, NULL, stream + total);
        total += lengths[1];
        lengths[2] = encode(&a, FRAME_TAKE_FAILED, "unit failed to start", stream + total);
        total += lengths[2];

        /* rx is b before it saw anything, with b's nonce (the frames were made for it). */
        for (size_t end = 1; end <= total; end++) {
                ssize_t r = frame_decode(&rx, stream + start, end - start, &f);
                if (end - start < lengths[decoded]) {
                        assert_int_equal(r, 0);
                        continue;
                }
                assert_int_equal(r, (ssize_t)lengths[decoded]);
                start = end;
                decoded++;
        }
        assert_int_equal(decoded, 3);
        assert_int_equal(f.type, FRAME_TAKE_FAILED);
        assert_memory_equal(f.payload, "unit failed to start", f.payload_len);
}

static void test_header_errors(void **state)
{
        uint8_t buf[FRAME_MAX_SIZE], bad[FRAME_MAX_SIZE];
        FrameSession a, b, rx;
        size_t len;
        Frame f;

        connect_pair(&a, &b);
        len = encode(&a, FRAME_HEARTBEAT, NULL, buf);

        memcpy(bad, buf, len);
        bad[0] = 'X';
        rx = b;
        assert_int_equal(frame_decode(&rx, bad, len, &f), -EBADMSG);

        memcpy(bad, buf, len);
        bad[4] = 2;
        rx = b;
        assert_int_equal(frame_decode(&rx, bad, len, &f), -EPROTONOSUPPORT);

        /* Oversize: refused from the header alone, without waiting for the announced bytes. */
        memcpy(bad, buf, len);
        put32(bad + 8, FRAME_MAX_PAYLOAD + 1);
        rx = b;
        assert_int_equal(frame_decode(&rx, bad, FRAME_HEADER_SIZE, &f), -EMSGSIZE);
        put32(bad + 8, UINT32_MAX);
        assert_int_equal(frame_decode(&rx, bad, FRAME_HEADER_SIZE, &f), -EMSGSIZE);
        put32(bad + 8, FRAME_MAX_PAYLOAD);
        assert_int_equal(frame_decode(&rx, bad, FRAME_HEADER_SIZE, &f), 0);

        for (unsigned t = 0; t < 256; t++) {
                if (t >= FRAME_HELLO && t < _FRAME_TYPE_MAX)
                        continue;
                memcpy(bad, buf, len);
                bad[5] = (uint8_t)t;
                rx = b;
                assert_int_equal(frame_decode(&rx, bad, len, &f), -EBADMSG);
        }

        /* The untouched frame still decodes: the failures above came from the edits. */
        assert_int_equal(frame_decode(&b, buf, len, &f), (ssize_t)len);
}

static void test_hello_order(void **state)
{
        uint8_t hello[FRAME_MAX_SIZE], hb[FRAME_MAX_SIZE];
        size_t hello_len, hb_len;
        FrameSession a, b, fresh, c;
        Frame f;

        frame_session_init(&a, key1, sizeof(key1));
        frame_session_init(&b, key1, sizeof(key1));
        assert_int_equal(frame_encode_hello(&a, "alpha", hello, sizeof(hello), &hello_len), 0);
        assert_int_equal(frame_decode(&b, hello, hello_len, &f), (ssize_t)hello_len);
        send_hello(&b, "beta", &a);
        hb_len = encode(&a, FRAME_HEARTBEAT, NULL, hb);

        /* A non-HELLO first. */
        frame_session_init(&fresh, key1, sizeof(key1));
        assert_int_equal(frame_decode(&fresh, hb, hb_len, &f), -EBADMSG);

        /* A second HELLO: the same one again, and a new one from another session. */
        assert_int_equal(frame_decode(&b, hello, hello_len, &f), -EBADMSG);
        frame_session_init(&c, key1, sizeof(key1));
        assert_int_equal(frame_encode_hello(&c, "gamma", hello, sizeof(hello), &hello_len), 0);
        assert_int_equal(frame_decode(&b, hello, hello_len, &f), -EBADMSG);

        /* Our own HELLO reflected back to us. */
        frame_session_init(&c, key1, sizeof(key1));
        assert_int_equal(frame_encode_hello(&c, "gamma", hello, sizeof(hello), &hello_len), 0);
        assert_int_equal(frame_decode(&c, hello, hello_len, &f), -EBADMSG);
}

static void test_hello_bad_payload(void **state)
{
        uint8_t nonce[32], buf[FRAME_MAX_SIZE];
        char name[FRAME_NAME_MAX + 1];
        FrameSession rx;
        size_t len;
        Frame f;

        randombytes_buf(nonce, sizeof(nonce));
        memset(name, 'n', sizeof(name));

        /* The independently built HELLO is accepted when its name is fine... */
        frame_session_init(&rx, key1, sizeof(key1));
        len = spec_hello(nonce, name, FRAME_NAME_MAX, buf);
        assert_int_equal(frame_decode(&rx, buf, len, &f), (ssize_t)len);
        assert_memory_equal(rx.remote_nonce, nonce, 32);

        /* ...and refused, although authentic, when it is empty, too long or holds a NUL. */
        frame_session_init(&rx, key1, sizeof(key1));
        len = spec_hello(nonce, name, 0, buf);
        assert_int_equal(frame_decode(&rx, buf, len, &f), -EBADMSG);
        len = spec_hello(nonce, name, FRAME_NAME_MAX + 1, buf);
        assert_int_equal(frame_decode(&rx, buf, len, &f), -EBADMSG);
        len = spec_hello(nonce, "we\0b1", 5, buf);
        assert_int_equal(frame_decode(&rx, buf, len, &f), -EBADMSG);
        len = spec_hello(nonce, "web1\0", 5, buf);
        assert_int_equal(frame_decode(&rx, buf, len, &f), -EBADMSG);
        /* Shorter than a nonce. */
        len = spec_encode(key1, sizeof(key1), (const uint8_t[32]){}, nonce, FRAME_HELLO, 0, 0, 0, 0,
                          0, nonce, 20, buf);
        assert_int_equal(frame_decode(&rx, buf, len, &f), -EBADMSG);
        /* A HELLO whose counter is not 0. */
        {
                uint8_t payload[36];

                memcpy(payload, nonce, 32);
                memcpy(payload + 32, "web1", 4);
                len = spec_encode(key1, sizeof(key1), (const uint8_t[32]){}, nonce, FRAME_HELLO, 0,
                                  0, 0, 1, 0, payload, sizeof(payload), buf);
        }
        assert_int_equal(frame_decode(&rx, buf, len, &f), -ESTALE);
        assert_false(rx.hello_received);
}

/* Every single-bit change anywhere in a frame is refused, by the header checks or the HMAC. */
static void test_bit_flips(void **state)
{
        uint8_t buf[FRAME_MAX_SIZE], bad[2 * FRAME_MAX_SIZE];
        FrameSession a, b, rx;
        size_t len;
        Frame f;

        connect_pair(&a, &b);
        len = encode(&a, FRAME_TAKE, "check web failed", buf);

        for (size_t bit = 0; bit < len * 8; bit++) {
                size_t byte = bit / 8;
                ssize_t r;

                memset(bad, 0, sizeof(bad));
                memcpy(bad, buf, len);
                bad[byte] ^= (uint8_t)(1u << (bit % 8));
                rx = b;
                r = frame_decode(&rx, bad, len, &f);

                if (byte < 4)
                        assert_int_equal(r, -EBADMSG);
                else if (byte == 4)
                        assert_int_equal(r, -EPROTONOSUPPORT);
                else if (byte == 5) {
                        /* Another valid type still fails the HMAC; HELLO is a second HELLO. */
                        if (bad[5] >= FRAME_HEARTBEAT && bad[5] < _FRAME_TYPE_MAX)
                                assert_int_equal(r, -EACCES);
                        else
                                assert_int_equal(r, -EBADMSG);
                } else if (byte >= 8 && byte < 12) {
                        uint32_t n = (uint32_t)bad[8] << 24 | (uint32_t)bad[9] << 16 |
                                     (uint32_t)bad[10] << 8 | bad[11];
                        if (n > FRAME_MAX_PAYLOAD)
                                assert_int_equal(r, -EMSGSIZE);
                        else if (FRAME_HEADER_SIZE + n + FRAME_HMAC_SIZE > len) {
                                /* Waits for the bytes it was promised, then refuses them. */
                                assert_int_equal(r, 0);
                                rx = b;
                                assert_int_equal(frame_decode(&rx, bad, sizeof(bad), &f), -EACCES);
                        } else
                                assert_int_equal(r, -EACCES);
                } else
                        assert_int_equal(r, -EACCES);
                /* A refused frame changes no state. */
                assert_int_equal(rx.recv_counter, b.recv_counter);
        }
        assert_int_equal(frame_decode(&b, buf, len, &f), (ssize_t)len);
}

static void test_wrong_key(void **state)
{
        uint8_t buf[FRAME_MAX_SIZE];
        FrameSession a, b, forger;
        size_t len;
        Frame f;

        /* At HELLO time. */
        frame_session_init(&a, key1, sizeof(key1));
        frame_session_init(&b, key2, sizeof(key2));
        assert_int_equal(frame_encode_hello(&a, "alpha", buf, sizeof(buf), &len), 0);
        assert_int_equal(frame_decode(&b, buf, len, &f), -EACCES);

        /* Later: a sender that knows both nonces but not the key. */
        connect_pair(&a, &b);
        forger = a;
        forger.key = key2;
        len = encode(&forger, FRAME_TAKE, NULL, buf);
        assert_int_equal(frame_decode(&b, buf, len, &f), -EACCES);
        /* A key that is a prefix of the right one. */
        forger = a;
        forger.key_len = 32;
        len = encode(&forger, FRAME_TAKE, NULL, buf);
        assert_int_equal(frame_decode(&b, buf, len, &f), -EACCES);
}

static void test_replay_and_skip(void **state)
{
        uint8_t f1[FRAME_MAX_SIZE], f2[FRAME_MAX_SIZE], f3[FRAME_MAX_SIZE];
        size_t l1, l2, l3;
        FrameSession a, b, rx;
        Frame f;

        connect_pair(&a, &b);
        l1 = encode(&a, FRAME_HEARTBEAT, NULL, f1);
        l2 = encode(&a, FRAME_TAKE, NULL, f2);
        l3 = encode(&a, FRAME_RELEASED, NULL, f3);

        /* Skipped: counter+2. */
        rx = b;
        assert_int_equal(frame_decode(&rx, f2, l2, &f), -ESTALE);
        assert_int_equal(frame_decode(&rx, f3, l3, &f), -ESTALE);

        assert_int_equal(frame_decode(&b, f1, l1, &f), (ssize_t)l1);
        /* Replayed on the same connection. */
        rx = b;
        assert_int_equal(frame_decode(&rx, f1, l1, &f), -ESTALE);
        assert_int_equal(frame_decode(&b, f2, l2, &f), (ssize_t)l2);
        assert_int_equal(f.counter, 2);
        /* Reordered. */
        rx = b;
        assert_int_equal(frame_decode(&rx, f1, l1, &f), -ESTALE);
        assert_int_equal(frame_decode(&b, f3, l3, &f), (ssize_t)l3);
}

/* A frame recorded on one connection is worthless on the next: even when the attacker replays
 * the old HELLO too (which is accepted: it binds no receiver nonce), the new receiver's fresh
 * nonce is in every later frame's HMAC. */
static void test_cross_connection_replay(void **state)
{
        uint8_t hello[FRAME_MAX_SIZE], take[FRAME_MAX_SIZE], buf[FRAME_MAX_SIZE];
        size_t hello_len, take_len, len;
        FrameSession a, b, a2, b2;
        Frame f;

        frame_session_init(&a, key1, sizeof(key1));
        frame_session_init(&b, key1, sizeof(key1));
        assert_int_equal(frame_encode_hello(&a, "alpha", hello, sizeof(hello), &hello_len), 0);
        assert_int_equal(frame_decode(&b, hello, hello_len, &f), (ssize_t)hello_len);
        send_hello(&b, "beta", &a);
        take_len = encode(&a, FRAME_TAKE, "captured", take);
        assert_int_equal(frame_decode(&b, take, take_len, &f), (ssize_t)take_len);

        /* A genuine new connection between the same nodes. */
        connect_pair(&a2, &b2);
        assert_int_equal(frame_decode(&b2, take, take_len, &f), -EACCES);

        /* The attacker plays the whole recorded conversation into a new connection. */
        frame_session_init(&b2, key1, sizeof(key1));
        assert_int_equal(frame_encode_hello(&b2, "beta", buf, sizeof(buf), &len), 0);
        assert_int_equal(frame_decode(&b2, hello, hello_len, &f), (ssize_t)hello_len);
        assert_int_equal(frame_decode(&b2, take, take_len, &f), -EACCES);

        /* Reflection: a frame sent back to its own sender. */
        len = encode(&a2, FRAME_TAKE, NULL, buf);
        assert_int_equal(frame_decode(&a2, buf, len, &f), -EACCES);
}

/* Random bytes never crash the decoder and never yield a frame. */
static void test_random_garbage(void **state)
{
        uint8_t buf[FRAME_MAX_SIZE + 64];
        FrameSession a, b, rx;
        Frame f;

        connect_pair(&a, &b);
        for (unsigned i = 0; i < 6000; i++) {
                size_t len = randombytes_uniform(sizeof(buf) + 1);
                ssize_t r;

                randombytes_buf(buf, len);
                if (i % 3 && len >= FRAME_HEADER_SIZE) {
                        /* Mostly-plausible headers reach the deeper checks. */
                        put32(buf, 0x56435452);
                        buf[4] = 1;
                        buf[5] = (uint8_t)randombytes_uniform(_FRAME_TYPE_MAX + 1);
                        put32(buf + 8, randombytes_uniform(FRAME_MAX_PAYLOAD + 1));
                }
                frame_session_init(&rx, key1, sizeof(key1));
                if (i % 2)
                        rx = b;
                r = frame_decode(&rx, buf, len, &f);
                assert_true(r <= 0);
                assert_int_equal(rx.recv_counter, i % 2 ? b.recv_counter : 0);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_type_strings),    cmocka_unit_test(test_hello_exchange),
            cmocka_unit_test(test_wire_layout),     cmocka_unit_test(test_round_trip_every_type),
            cmocka_unit_test(test_encode_misuse),   cmocka_unit_test(test_hello_name),
            cmocka_unit_test(test_partial_input),   cmocka_unit_test(test_header_errors),
            cmocka_unit_test(test_hello_order),     cmocka_unit_test(test_hello_bad_payload),
            cmocka_unit_test(test_bit_flips),       cmocka_unit_test(test_wrong_key),
            cmocka_unit_test(test_replay_and_skip), cmocka_unit_test(test_cross_connection_replay),
            cmocka_unit_test(test_random_garbage),
        };

        if (sodium_init() < 0)
                return 1;
        return cmocka_run_group_tests(tests, NULL, NULL);
}
