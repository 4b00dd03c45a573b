/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The peer wire format (version 2): real libsodium crypto, every error path, byte-by-byte input,
 * replays, splices, reflections and random garbage. The key derivation and the sealing are also
 * redone here from the documented construction, so the test checks the wire format itself and
 * not only that the encoder and decoder agree. */
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

static size_t spec_header(uint8_t *out, uint8_t kind, uint32_t body_len, uint64_t counter)
{
        put32(out, 0x56435452);
        out[4] = 2;
        out[5] = kind;
        out[6] = out[7] = 0;
        put32(out + 8, body_len);
        put64(out + 12, counter);
        return 20;
}

/* A HELLO from the specification: clear header, nonce, name. */
static size_t spec_hello(const uint8_t *nonce, const void *name, uint32_t name_len, uint8_t *out)
{
        spec_header(out, 1, 32 + name_len, 0);
        memcpy(out + 20, nonce, 32);
        memcpy(out + 52, name, name_len);
        return 20 + 32 + name_len;
}

/* The direction keys from the specification: BLAKE2b-256 of label||shared key is the KDF key;
 * the transcript is BLAKE2b-256 of label, then each HELLO body (dialer first) with its length;
 * each direction key is BLAKE2b-256 keyed with the KDF key over direction label||transcript. */
static void spec_keys(const uint8_t *key, size_t key_len, const uint8_t *dialer_hello,
                      size_t dialer_len, const uint8_t *listener_hello, size_t listener_len,
                      uint8_t d2l[32], uint8_t l2d[32])
{
        crypto_generichash_state st;
        uint8_t base[32], transcript[32], n;

        crypto_generichash_init(&st, NULL, 0, 32);
        crypto_generichash_update(&st, (const uint8_t *)"vacataire peer key v2", 22);
        crypto_generichash_update(&st, key, key_len);
        crypto_generichash_final(&st, base, 32);

        crypto_generichash_init(&st, NULL, 0, 32);
        crypto_generichash_update(&st, (const uint8_t *)"vacataire handshake v2", 23);
        n = (uint8_t)dialer_len;
        crypto_generichash_update(&st, &n, 1);
        crypto_generichash_update(&st, dialer_hello, dialer_len);
        n = (uint8_t)listener_len;
        crypto_generichash_update(&st, &n, 1);
        crypto_generichash_update(&st, listener_hello, listener_len);
        crypto_generichash_final(&st, transcript, 32);

        crypto_generichash_init(&st, base, 32, 32);
        crypto_generichash_update(&st, (const uint8_t *)"dialer to listener", 19);
        crypto_generichash_update(&st, transcript, 32);
        crypto_generichash_final(&st, d2l, 32);
        crypto_generichash_init(&st, base, 32, 32);
        crypto_generichash_update(&st, (const uint8_t *)"listener to dialer", 19);
        crypto_generichash_update(&st, transcript, 32);
        crypto_generichash_final(&st, l2d, 32);
}

/* A sealed frame from the specification: ChaCha20-Poly1305 (IETF), header as associated data,
 * nonce = 4 zero bytes || counter. */
static size_t spec_sealed(const uint8_t k[32], uint64_t counter, uint8_t type, uint8_t state,
                          uint8_t flags, uint32_t request_id, uint64_t epoch, const void *payload,
                          uint32_t payload_len, uint8_t *out)
{
        uint8_t inner[16 + FRAME_MAX_PAYLOAD], nonce[12] = {};
        unsigned long long clen;

        inner[0] = type, inner[1] = state, inner[2] = flags, inner[3] = 0;
        put32(inner + 4, request_id);
        put64(inner + 8, epoch);
        if (payload_len > 0)
                memcpy(inner + 16, payload, payload_len);
        put64(nonce + 4, counter);
        spec_header(out, 2, 16 + payload_len + 16, counter);
        crypto_aead_chacha20poly1305_ietf_encrypt(out + 20, &clen, inner, 16 + payload_len, out, 20,
                                                  NULL, nonce, k);
        return 20 + (size_t)clen;
}

static size_t encode_hello(FrameSession *s, const char *name, uint8_t *buf)
{
        size_t len;

        assert_int_equal(frame_encode_hello(s, name, buf, FRAME_MAX_SIZE, &len), 0);
        assert_int_equal(len, FRAME_HEADER_SIZE + FRAME_NONCE_SIZE + strlen(name));
        return len;
}

static void decode_ok(FrameSession *s, const uint8_t *buf, size_t len, Frame *f)
{
        assert_int_equal(frame_decode(s, buf, len, f), (ssize_t)len);
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

/* d dials l: both HELLOs exchanged (keys ready), no AUTH yet. */
static void hello_pair(FrameSession *d, FrameSession *l, const uint8_t *dkey, const uint8_t *lkey)
{
        uint8_t buf[FRAME_MAX_SIZE];
        char name[FRAME_NAME_MAX + 1];
        size_t len;
        Frame f;

        frame_session_init(d, dkey, 40, true);
        frame_session_init(l, lkey, 40, false);
        /* The listener speaks first, as it does on accept. */
        len = encode_hello(l, "beta", buf);
        decode_ok(d, buf, len, &f);
        assert_int_equal(f.type, FRAME_HELLO);
        assert_int_equal(frame_hello_name(&f, name, sizeof(name)), 0);
        assert_string_equal(name, "beta");
        len = encode_hello(d, "alpha", buf);
        decode_ok(l, buf, len, &f);
        assert_int_equal(frame_session_remote_name(l, name, sizeof(name)), 0);
        assert_string_equal(name, "alpha");
        assert_true(d->keys_ready && l->keys_ready);
}

/* Fully authenticated both ways. */
static void connect_pair(FrameSession *d, FrameSession *l)
{
        uint8_t buf[FRAME_MAX_SIZE];
        size_t len;
        Frame f;

        hello_pair(d, l, key1, key1);
        len = encode(d, FRAME_AUTH, NULL, buf);
        decode_ok(l, buf, len, &f);
        assert_int_equal(f.type, FRAME_AUTH);
        assert_int_equal(f.counter, 0);
        len = encode(l, FRAME_AUTH, NULL, buf);
        decode_ok(d, buf, len, &f);
        assert_true(d->auth_received && l->auth_received);
}

static void test_type_strings(void **state)
{
        for (FrameType t = FRAME_HELLO; t < _FRAME_TYPE_MAX; t++) {
                assert_non_null(frame_type_to_string(t));
                assert_int_equal(frame_type_from_string(frame_type_to_string(t)), t);
        }
        assert_string_equal(frame_type_to_string(FRAME_TAKE_DONE), "take-done");
        assert_string_equal(frame_type_to_string(FRAME_REFUSED), "refused");
        assert_null(frame_type_to_string(_FRAME_TYPE_MAX));
        assert_true(frame_type_from_string("nonsense") < 0);
        assert_true(frame_type_from_string(NULL) < 0);
}

/* The bytes on the wire are exactly the documented construction, both ways. */
static void test_wire_layout(void **state)
{
        FrameSession d, l;
        uint8_t buf[FRAME_MAX_SIZE], spec[FRAME_MAX_SIZE], d2l[32], l2d[32];
        uint8_t dh[FRAME_HELLO_MAX], lh[FRAME_HELLO_MAX];
        size_t len, dlen, llen;
        Frame f;

        frame_session_init(&d, key1, sizeof(key1), true);
        frame_session_init(&l, key1, sizeof(key1), false);
        llen = encode_hello(&l, "beta", buf);
        assert_int_equal(spec_hello(l.local_nonce, "beta", 4, spec), llen);
        assert_memory_equal(buf, spec, llen);
        memcpy(lh, buf + 20, llen - 20);
        decode_ok(&d, buf, llen, &f);
        dlen = encode_hello(&d, "alpha", buf);
        memcpy(dh, buf + 20, dlen - 20);
        decode_ok(&l, buf, dlen, &f);
        spec_keys(key1, sizeof(key1), dh, dlen - 20, lh, llen - 20, d2l, l2d);
        assert_memory_equal(d.send_key, d2l, 32);
        assert_memory_equal(l.send_key, l2d, 32);

        /* Sealed by the spec, accepted by the decoder; sealed by the encoder, equal to the spec. */
        len = spec_sealed(d2l, 0, FRAME_AUTH, 3, 0x81, 77, 9, NULL, 0, spec);
        decode_ok(&l, spec, len, &f);
        assert_int_equal(f.type, FRAME_AUTH);
        assert_int_equal(encode(&d, FRAME_AUTH, NULL, buf), len);
        assert_memory_equal(buf, spec, len);
        len = encode(&d, FRAME_TAKE, "check web failed", buf);
        assert_int_equal(
            spec_sealed(d2l, 1, FRAME_TAKE, 3, 0x81, 77, 9, "check web failed", 16, spec), len);
        assert_memory_equal(buf, spec, len);
        assert_int_equal(len, FRAME_HEADER_SIZE + FRAME_INNER_SIZE + 16 + FRAME_TAG_SIZE);
        /* Nothing of the inner header or payload is in clear. */
        assert_null(memmem(buf, len, "check web", 9));
        decode_ok(&l, buf, len, &f);
        assert_int_equal(f.type, FRAME_TAKE);
        assert_int_equal(f.counter, 1);
}

static void test_round_trip_every_type(void **state)
{
        FrameSession d, l;
        uint8_t buf[FRAME_MAX_SIZE];
        char big[FRAME_MAX_PAYLOAD + 1];
        Frame f;
        size_t len;

        connect_pair(&d, &l);
        memset(big, 'x', FRAME_MAX_PAYLOAD);
        big[FRAME_MAX_PAYLOAD] = 0;
        for (uint8_t t = FRAME_HEARTBEAT; t < _FRAME_TYPE_MAX; t++) {
                if (t == FRAME_AUTH)
                        continue;
                for (int dir = 0; dir < 2; dir++) {
                        FrameSession *from = dir ? &l : &d, *to = dir ? &d : &l;
                        const char *payload = t == FRAME_TAKE ? big : "why";
                        len = encode(from, t, payload, buf);
                        decode_ok(to, buf, len, &f);
                        assert_int_equal(f.type, t);
                        assert_int_equal(f.state, 3);
                        assert_int_equal(f.flags, 0x81);
                        assert_int_equal(f.request_id, 77);
                        assert_int_equal(f.epoch, 9);
                        assert_int_equal(f.counter, from->send_counter);
                        assert_int_equal(f.payload_len, strlen(payload));
                        assert_memory_equal(f.payload, payload, f.payload_len);
                }
        }
}

static void test_encode_misuse(void **state)
{
        FrameSession d, l;
        uint8_t buf[FRAME_MAX_SIZE];
        char long_name[FRAME_NAME_MAX + 2];
        Frame f = {.type = FRAME_HEARTBEAT};
        size_t len;

        frame_session_init(&d, key1, sizeof(key1), true);
        memset(long_name, 'n', sizeof(long_name) - 1);
        long_name[sizeof(long_name) - 1] = 0;
        assert_int_equal(frame_encode_hello(&d, "", buf, sizeof(buf), &len), -EINVAL);
        assert_int_equal(frame_encode_hello(&d, NULL, buf, sizeof(buf), &len), -EINVAL);
        assert_int_equal(frame_encode_hello(&d, long_name, buf, sizeof(buf), &len), -EINVAL);
        assert_int_equal(frame_encode_hello(&d, "a", buf, 40, &len), -ENOBUFS);
        /* Nothing sealed before both HELLOs. */
        f.type = FRAME_AUTH;
        assert_int_equal(frame_encode(&d, &f, buf, sizeof(buf), &len), -ENOTCONN);
        assert_int_equal(frame_encode_hello(&d, "alpha", buf, sizeof(buf), &len), 0);
        assert_int_equal(frame_encode_hello(&d, "alpha", buf, sizeof(buf), &len), -EINVAL);

        hello_pair(&d, &l, key1, key1);
        f.type = FRAME_HEARTBEAT;
        assert_int_equal(frame_encode(&d, &f, buf, sizeof(buf), &len), -ENOTCONN);
        f.type = FRAME_HELLO;
        assert_int_equal(frame_encode(&d, &f, buf, sizeof(buf), &len), -EINVAL);
        f.type = 0;
        assert_int_equal(frame_encode(&d, &f, buf, sizeof(buf), &len), -EINVAL);
        f.type = _FRAME_TYPE_MAX;
        assert_int_equal(frame_encode(&d, &f, buf, sizeof(buf), &len), -EINVAL);
        f.type = FRAME_AUTH;
        f.payload_len = FRAME_MAX_PAYLOAD + 1;
        assert_int_equal(frame_encode(&d, &f, buf, sizeof(buf), &len), -EINVAL);
        f.payload_len = 0;
        assert_int_equal(frame_encode(&d, &f, buf, 30, &len), -ENOBUFS);
        assert_int_equal(frame_encode(&d, &f, buf, sizeof(buf), &len), 0);
        assert_int_equal(frame_encode(&d, &f, buf, sizeof(buf), &len), -EINVAL);
        d.send_counter = UINT64_MAX;
        f.type = FRAME_HEARTBEAT;
        assert_int_equal(frame_encode(&d, &f, buf, sizeof(buf), &len), -EOVERFLOW);
}

/* Any strict prefix of a frame asks for more bytes and changes nothing. */
static void test_partial_input(void **state)
{
        FrameSession d, l, copy;
        uint8_t buf[FRAME_MAX_SIZE];
        size_t len;
        Frame f;

        frame_session_init(&d, key1, sizeof(key1), true);
        frame_session_init(&l, key1, sizeof(key1), false);
        len = encode_hello(&d, "alpha", buf);
        for (size_t i = 0; i < len; i++) {
                copy = l;
                assert_int_equal(frame_decode(&copy, buf, i, &f), 0);
                assert_memory_equal(&copy, &l, sizeof(l));
        }
        connect_pair(&d, &l);
        len = encode(&d, FRAME_TAKE, "reason", buf);
        for (size_t i = 0; i < len; i++) {
                copy = l;
                assert_int_equal(frame_decode(&copy, buf, i, &f), 0);
                assert_memory_equal(&copy, &l, sizeof(l));
        }
        decode_ok(&l, buf, len, &f);
}

static void test_header_errors(void **state)
{
        FrameSession d, l;
        uint8_t buf[FRAME_MAX_SIZE + 64];
        size_t len;
        Frame f;

        connect_pair(&d, &l);
        len = encode(&d, FRAME_HEARTBEAT, NULL, buf);
        struct {
                size_t at;
                uint8_t value;
                int expect;
        } cases[] = {
            {0, 0x00, -EBADMSG},      /* magic */
            {4, 1, -EPROTONOSUPPORT}, /* version 1 */
            {4, 3, -EPROTONOSUPPORT}, /* a future version */
            {5, 0, -EBADMSG},         /* kind */
            {5, 3, -EBADMSG},         /* kind */
            {6, 1, -EBADMSG},         /* reserved */
            {8, 0x01, -EMSGSIZE},     /* body length > max */
            {11, 4, -EBADMSG},        /* sealed body shorter than inner header + tag */
            {19, 5, -EACCES},         /* counter changed: authentication fails */
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                FrameSession copy = l;
                uint8_t b[FRAME_MAX_SIZE + 64];
                memcpy(b, buf, len);
                if (cases[i].at == 11)
                        put32(b + 8, 4);
                else
                        b[cases[i].at] = cases[i].value;
                assert_int_equal(frame_decode(&copy, b, len, &f), cases[i].expect);
        }
        /* Oversized is refused from the header alone, before the body arrives. */
        put32(buf + 8, 0xFFFFFFFF);
        assert_int_equal(frame_decode(&l, buf, FRAME_HEADER_SIZE, &f), -EMSGSIZE);
}

/* Exactly one HELLO, first; an AUTH first among sealed frames, and only one. */
static void test_order(void **state)
{
        FrameSession d, l, copy;
        uint8_t buf[FRAME_MAX_SIZE], hello[FRAME_MAX_SIZE];
        size_t len, hlen;
        Frame f;

        frame_session_init(&d, key1, sizeof(key1), true);
        frame_session_init(&l, key1, sizeof(key1), false);
        hlen = encode_hello(&d, "alpha", hello);
        /* A sealed frame before the HELLOs. */
        uint8_t k[32] = {};
        len = spec_sealed(k, 0, FRAME_AUTH, 0, 0, 0, 0, NULL, 0, buf);
        copy = l;
        assert_int_equal(frame_decode(&copy, buf, len, &f), -EBADMSG);

        hello_pair(&d, &l, key1, key1);
        hlen = spec_hello(d.local_nonce, "alpha", 5, hello);
        copy = l;
        assert_int_equal(frame_decode(&copy, hello, hlen, &f), -EBADMSG); /* a second HELLO */

        /* A heartbeat where the AUTH must be (sealed with the right key, counter 0). */
        len = spec_sealed(d.send_key, 0, FRAME_HEARTBEAT, 0, 0, 0, 0, NULL, 0, buf);
        copy = l;
        assert_int_equal(frame_decode(&copy, buf, len, &f), -EBADMSG);
        len = encode(&d, FRAME_AUTH, NULL, buf);
        decode_ok(&l, buf, len, &f);
        /* A second AUTH, at the right counter. */
        len = spec_sealed(d.send_key, 1, FRAME_AUTH, 0, 0, 0, 0, NULL, 0, buf);
        copy = l;
        assert_int_equal(frame_decode(&copy, buf, len, &f), -EBADMSG);
        /* A HELLO type inside a sealed frame; an unknown type. */
        len = spec_sealed(d.send_key, 1, FRAME_HELLO, 0, 0, 0, 0, NULL, 0, buf);
        copy = l;
        assert_int_equal(frame_decode(&copy, buf, len, &f), -EBADMSG);
        len = spec_sealed(d.send_key, 1, _FRAME_TYPE_MAX, 0, 0, 0, 0, NULL, 0, buf);
        copy = l;
        assert_int_equal(frame_decode(&copy, buf, len, &f), -EBADMSG);
}

static void test_hello_bad_payload(void **state)
{
        FrameSession s;
        uint8_t buf[FRAME_MAX_SIZE], nonce[32];
        char name[FRAME_NAME_MAX + 2];
        size_t len;
        Frame f;

        randombytes_buf(nonce, sizeof(nonce));
        memset(name, 'n', sizeof(name));
        struct {
                const void *name;
                uint32_t len;
                int expect;
        } cases[] = {
            {"", 0, -EBADMSG},                    /* no name */
            {"a\0b", 3, -EBADMSG},                /* NUL in the name */
            {name, FRAME_NAME_MAX + 1, -EBADMSG}, /* too long */
            {name, FRAME_NAME_MAX, 0},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                frame_session_init(&s, key1, sizeof(key1), false);
                len = spec_hello(nonce, cases[i].name, cases[i].len, buf);
                ssize_t r = frame_decode(&s, buf, len, &f);
                assert_int_equal(r, cases[i].expect == 0 ? (ssize_t)len : cases[i].expect);
        }
        /* A HELLO with a non-zero counter. */
        frame_session_init(&s, key1, sizeof(key1), false);
        len = spec_hello(nonce, "x", 1, buf);
        buf[19] = 1;
        assert_int_equal(frame_decode(&s, buf, len, &f), -EBADMSG);
        /* Our own HELLO sent back to us. */
        frame_session_init(&s, key1, sizeof(key1), true);
        len = encode_hello(&s, "alpha", buf);
        assert_int_equal(frame_decode(&s, buf, len, &f), -EBADMSG);
}

/* Every single flipped bit of a sealed frame is refused. */
static void test_bit_flips(void **state)
{
        FrameSession d, l;
        uint8_t buf[FRAME_MAX_SIZE];
        size_t len;
        Frame f;

        connect_pair(&d, &l);
        len = encode(&d, FRAME_TAKE, "reason", buf);
        for (size_t i = 0; i < len; i++)
                for (int bit = 0; bit < 8; bit++) {
                        FrameSession copy = l;
                        buf[i] ^= (uint8_t)(1 << bit);
                        assert_true(frame_decode(&copy, buf, len, &f) <= 0);
                        buf[i] ^= (uint8_t)(1 << bit);
                }
        decode_ok(&l, buf, len, &f);
}

static void test_wrong_key(void **state)
{
        FrameSession d, l;
        uint8_t buf[FRAME_MAX_SIZE];
        size_t len;
        Frame f;

        hello_pair(&d, &l, key1, key2);
        len = encode(&d, FRAME_AUTH, NULL, buf);
        assert_int_equal(frame_decode(&l, buf, len, &f), -EACCES);
        len = encode(&l, FRAME_AUTH, NULL, buf);
        assert_int_equal(frame_decode(&d, buf, len, &f), -EACCES);
}

static void test_replay_and_skip(void **state)
{
        FrameSession d, l, copy;
        uint8_t a[FRAME_MAX_SIZE], b[FRAME_MAX_SIZE];
        size_t alen, blen;
        Frame f;

        connect_pair(&d, &l);
        alen = encode(&d, FRAME_HEARTBEAT, NULL, a);
        blen = encode(&d, FRAME_HEARTBEAT, NULL, b);
        copy = l;
        assert_int_equal(frame_decode(&copy, b, blen, &f), -ESTALE); /* skipped one */
        decode_ok(&l, a, alen, &f);
        assert_int_equal(frame_decode(&l, a, alen, &f), -ESTALE); /* replayed */
        copy = l;
        decode_ok(&copy, b, blen, &f);
}

/* Whatever was recorded on one connection is worth nothing on another: the AUTH and every frame
 * after it are bound to the listener's fresh nonce, even with the dialer's HELLO replayed. */
static void test_cross_connection_replay(void **state)
{
        FrameSession d, l, l2;
        uint8_t hello[FRAME_MAX_SIZE], auth[FRAME_MAX_SIZE], take[FRAME_MAX_SIZE];
        uint8_t buf[FRAME_MAX_SIZE];
        size_t hlen, alen, tlen, len;
        Frame f;

        frame_session_init(&d, key1, sizeof(key1), true);
        frame_session_init(&l, key1, sizeof(key1), false);
        len = encode_hello(&l, "beta", buf);
        decode_ok(&d, buf, len, &f);
        hlen = encode_hello(&d, "alpha", hello);
        decode_ok(&l, hello, hlen, &f);
        alen = encode(&d, FRAME_AUTH, NULL, auth);
        tlen = encode(&d, FRAME_TAKE, "x", take);
        decode_ok(&l, auth, alen, &f);

        /* The listener's next connection: the recorded HELLO is accepted (it proves nothing),
         * the recorded AUTH is not. */
        frame_session_init(&l2, key1, sizeof(key1), false);
        (void)encode_hello(&l2, "beta", buf);
        decode_ok(&l2, hello, hlen, &f);
        FrameSession copy = l2;
        assert_int_equal(frame_decode(&copy, auth, alen, &f), -EACCES);
        assert_int_equal(frame_decode(&l2, take, tlen, &f), -EACCES);
}

/* A splice: a relay connects to both nodes' ports as if it were each one's dialer and passes the
 * HELLOs across. Each node then holds a transcript in which it is the listener, so neither can
 * read the other's AUTH: nothing gets adopted. */
static void test_splice(void **state)
{
        FrameSession a, b;
        uint8_t buf[FRAME_MAX_SIZE];
        size_t len;
        Frame f;

        frame_session_init(&a, key1, sizeof(key1), false);
        frame_session_init(&b, key1, sizeof(key1), false);
        len = encode_hello(&a, "alpha", buf);
        decode_ok(&b, buf, len, &f);
        len = encode_hello(&b, "beta", buf);
        decode_ok(&a, buf, len, &f);
        assert_true(a.keys_ready && b.keys_ready);
        len = encode(&a, FRAME_AUTH, NULL, buf);
        assert_int_equal(frame_decode(&b, buf, len, &f), -EACCES);
        len = encode(&b, FRAME_AUTH, NULL, buf);
        assert_int_equal(frame_decode(&a, buf, len, &f), -EACCES);

        /* And both as dialers (two outgoing connections relayed into each other). */
        frame_session_init(&a, key1, sizeof(key1), true);
        frame_session_init(&b, key1, sizeof(key1), true);
        len = encode_hello(&a, "alpha", buf);
        decode_ok(&b, buf, len, &f);
        len = encode_hello(&b, "beta", buf);
        decode_ok(&a, buf, len, &f);
        len = encode(&a, FRAME_AUTH, NULL, buf);
        assert_int_equal(frame_decode(&b, buf, len, &f), -EACCES);
}

/* A sealed frame sent back to its sender (the other direction) does not verify. */
static void test_reflection(void **state)
{
        FrameSession d, l;
        uint8_t buf[FRAME_MAX_SIZE];
        size_t len;
        Frame f;

        hello_pair(&d, &l, key1, key1);
        len = encode(&d, FRAME_AUTH, NULL, buf);
        FrameSession copy = d;
        assert_int_equal(frame_decode(&copy, buf, len, &f), -EACCES);
        decode_ok(&l, buf, len, &f);
        len = encode(&l, FRAME_AUTH, NULL, buf);
        decode_ok(&d, buf, len, &f);
        len = encode(&d, FRAME_HEARTBEAT, NULL, buf);
        assert_int_equal(frame_decode(&d, buf, len, &f), -EACCES);
}

/* Random bytes never crash the decoder and never yield a frame. */
static void test_random_garbage(void **state)
{
        uint8_t buf[FRAME_MAX_SIZE + 64];
        FrameSession d, l, rx;
        Frame f;

        connect_pair(&d, &l);
        for (unsigned i = 0; i < 6000; i++) {
                size_t len = randombytes_uniform(sizeof(buf) + 1);
                ssize_t r;

                randombytes_buf(buf, len);
                if (i % 3 && len >= FRAME_HEADER_SIZE) {
                        /* Mostly-plausible headers reach the deeper checks. */
                        spec_header(buf, (uint8_t)(1 + i % 2),
                                    randombytes_uniform(FRAME_MAX_BODY + 1),
                                    randombytes_uniform(3));
                }
                if (i % 2)
                        rx = l;
                else
                        frame_session_init(&rx, key1, sizeof(key1), false);
                r = frame_decode(&rx, buf, len, &f);
                if (i % 2)
                        assert_true(r <= 0);
                else
                        /* A fresh session takes a random HELLO, nothing else. */
                        assert_true(r <= 0 || f.type == FRAME_HELLO);
                if (i % 2)
                        assert_int_equal(rx.recv_counter, l.recv_counter);
        }
        frame_session_done(&rx);
        assert_false(rx.keys_ready);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_type_strings),
            cmocka_unit_test(test_wire_layout),
            cmocka_unit_test(test_round_trip_every_type),
            cmocka_unit_test(test_encode_misuse),
            cmocka_unit_test(test_partial_input),
            cmocka_unit_test(test_header_errors),
            cmocka_unit_test(test_order),
            cmocka_unit_test(test_hello_bad_payload),
            cmocka_unit_test(test_bit_flips),
            cmocka_unit_test(test_wrong_key),
            cmocka_unit_test(test_replay_and_skip),
            cmocka_unit_test(test_cross_connection_replay),
            cmocka_unit_test(test_splice),
            cmocka_unit_test(test_reflection),
            cmocka_unit_test(test_random_garbage),
        };

        if (sodium_init() < 0)
                return 1;
        return cmocka_run_group_tests(tests, NULL, NULL);
}
