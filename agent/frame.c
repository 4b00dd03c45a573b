/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "frame.h"

#include <sodium.h>

#include "util.h"

/* Header offsets (all integers big-endian). */
enum {
        OFF_MAGIC = 0,
        OFF_VERSION = 4,
        OFF_TYPE = 5,
        OFF_STATE = 6,
        OFF_FLAGS = 7,
        OFF_PAYLOAD_LEN = 8,
        OFF_REQUEST_ID = 12,
        OFF_COUNTER = 16,
        OFF_EPOCH = 24,
};

_Static_assert(OFF_EPOCH + 8 == FRAME_HEADER_SIZE, "header layout");
_Static_assert(FRAME_HMAC_SIZE == crypto_auth_hmacsha256_BYTES, "HMAC size");
_Static_assert(FRAME_NONCE_SIZE + FRAME_NAME_MAX <= FRAME_MAX_PAYLOAD, "HELLO fits");

static const char *const frame_type_table[_FRAME_TYPE_MAX] = {
    [FRAME_HELLO] = "hello",
    [FRAME_HEARTBEAT] = "heartbeat",
    [FRAME_TAKE] = "take",
    [FRAME_TAKE_DONE] = "take-done",
    [FRAME_TAKE_FAILED] = "take-failed",
    [FRAME_RELEASE] = "release",
    [FRAME_RELEASE_REFUSED] = "release-refused",
    [FRAME_RELEASED] = "released",
};

DEFINE_STRING_TABLE_LOOKUP(frame_type, FrameType)

static const uint8_t zero_nonce[FRAME_NONCE_SIZE];

static void put_be32(uint8_t *p, uint32_t v)
{
        for (int i = 3; i >= 0; i--, v >>= 8)
                p[i] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
        for (int i = 7; i >= 0; i--, v >>= 8)
                p[i] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
        return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static bool frame_type_valid(unsigned t)
{
        return t >= FRAME_HELLO && t < _FRAME_TYPE_MAX;
}

void frame_session_init(FrameSession *s, const uint8_t *key, size_t key_len)
{
        /* Idempotent; randombytes_buf must not run before it. */
        if (sodium_init() < 0)
                abort();

        *s = (FrameSession){.key = key, .key_len = key_len};
        randombytes_buf(s->local_nonce, sizeof(s->local_nonce));
}

/* The HMAC covers receiver_nonce || sender_nonce || header || payload. Binding the receiver's
 * nonce, which it drew afresh for this connection, is what makes a frame recorded on an earlier
 * connection useless on a new one; binding both nonces in a fixed order also means a frame
 * reflected back at its sender does not verify (the order is swapped). */
static void frame_mac(const FrameSession *s, const uint8_t *receiver_nonce,
                      const uint8_t *sender_nonce, const uint8_t *frame, size_t payload_len,
                      uint8_t out[FRAME_HMAC_SIZE])
{
        crypto_auth_hmacsha256_state st;

        /* Multi-part API: crypto_auth_hmacsha256() wants a key of exactly 32 bytes, ours may be
         * longer. */
        crypto_auth_hmacsha256_init(&st, s->key, s->key_len);
        crypto_auth_hmacsha256_update(&st, receiver_nonce, FRAME_NONCE_SIZE);
        crypto_auth_hmacsha256_update(&st, sender_nonce, FRAME_NONCE_SIZE);
        crypto_auth_hmacsha256_update(&st, frame, FRAME_HEADER_SIZE + payload_len);
        crypto_auth_hmacsha256_final(&st, out);
        sodium_memzero(&st, sizeof(st));
}

static int encode_raw(FrameSession *s, const Frame *f, uint64_t counter,
                      const uint8_t *receiver_nonce, uint8_t *buf, size_t size, size_t *ret_len)
{
        size_t total;

        if (!frame_type_valid(f->type) || f->payload_len > FRAME_MAX_PAYLOAD)
                return -EINVAL;
        total = FRAME_HEADER_SIZE + f->payload_len + FRAME_HMAC_SIZE;
        if (size < total)
                return -ENOBUFS;

        put_be32(buf + OFF_MAGIC, FRAME_MAGIC);
        buf[OFF_VERSION] = FRAME_VERSION;
        buf[OFF_TYPE] = f->type;
        buf[OFF_STATE] = f->state;
        buf[OFF_FLAGS] = f->flags;
        put_be32(buf + OFF_PAYLOAD_LEN, f->payload_len);
        put_be32(buf + OFF_REQUEST_ID, f->request_id);
        put_be64(buf + OFF_COUNTER, counter);
        put_be64(buf + OFF_EPOCH, f->epoch);
        if (f->payload_len > 0)
                memcpy(buf + FRAME_HEADER_SIZE, f->payload, f->payload_len);
        frame_mac(s, receiver_nonce, s->local_nonce, buf, f->payload_len,
                  buf + FRAME_HEADER_SIZE + f->payload_len);
        *ret_len = total;
        return 0;
}

int frame_encode_hello(FrameSession *s, const char *node_name, uint8_t *buf, size_t size,
                       size_t *ret_len)
{
        Frame f = {.type = FRAME_HELLO};
        size_t name_len;
        int r;

        if (s->hello_sent || !node_name)
                return -EINVAL;
        name_len = strlen(node_name);
        if (name_len == 0 || name_len > FRAME_NAME_MAX)
                return -EINVAL;

        memcpy(f.payload, s->local_nonce, FRAME_NONCE_SIZE);
        memcpy(f.payload + FRAME_NONCE_SIZE, node_name, name_len);
        f.payload_len = (uint32_t)(FRAME_NONCE_SIZE + name_len);

        /* The peer's nonce may not be known yet (both sides send HELLO at once), so a HELLO binds
         * a zero receiver nonce: it can be replayed onto another connection, but nothing after
         * it can, and a replayed HELLO alone changes no state. */
        r = encode_raw(s, &f, 0, zero_nonce, buf, size, ret_len);
        if (r < 0)
                return r;
        s->hello_sent = true;
        return 0;
}

int frame_encode(FrameSession *s, const Frame *f, uint8_t *buf, size_t size, size_t *ret_len)
{
        int r;

        if (f->type == FRAME_HELLO)
                return -EINVAL;
        if (!s->hello_sent || !s->hello_received)
                return -ENOTCONN;

        r = encode_raw(s, f, s->send_counter + 1, s->remote_nonce, buf, size, ret_len);
        if (r < 0)
                return r;
        s->send_counter++;
        return 0;
}

/* Checks what can be checked before the whole frame is in: a peer announcing an oversized frame
 * is refused at once instead of being waited for. */
static int check_header(const uint8_t *h)
{
        if (get_be32(h + OFF_MAGIC) != FRAME_MAGIC)
                return -EBADMSG;
        if (h[OFF_VERSION] != FRAME_VERSION)
                return -EPROTONOSUPPORT;
        if (get_be32(h + OFF_PAYLOAD_LEN) > FRAME_MAX_PAYLOAD)
                return -EMSGSIZE;
        if (!frame_type_valid(h[OFF_TYPE]))
                return -EBADMSG;
        return 0;
}

static int check_hello_payload(const FrameSession *s, const uint8_t *payload, size_t len)
{
        if (len <= FRAME_NONCE_SIZE || len > FRAME_NONCE_SIZE + FRAME_NAME_MAX)
                return -EBADMSG;
        if (memchr(payload + FRAME_NONCE_SIZE, 0, len - FRAME_NONCE_SIZE))
                return -EBADMSG;
        /* Our own HELLO sent back to us: accepting it would make remote_nonce equal local_nonce,
         * and then every frame we send would verify when reflected back at us. */
        if (sodium_memcmp(payload, s->local_nonce, FRAME_NONCE_SIZE) == 0)
                return -EBADMSG;
        return 0;
}

ssize_t frame_decode(FrameSession *s, const uint8_t *buf, size_t len, Frame *ret)
{
        uint8_t mac[FRAME_HMAC_SIZE];
        const uint8_t *payload = buf + FRAME_HEADER_SIZE, *receiver_nonce, *sender_nonce;
        uint32_t payload_len;
        uint64_t counter, expected;
        size_t total;
        bool hello;
        int r;

        if (len < FRAME_HEADER_SIZE)
                return 0;
        r = check_header(buf);
        if (r < 0)
                return r;
        payload_len = get_be32(buf + OFF_PAYLOAD_LEN);
        total = FRAME_HEADER_SIZE + payload_len + FRAME_HMAC_SIZE;
        if (len < total)
                return 0;

        /* Exactly one HELLO, first: before it the sender's nonce is unknown, so no other frame
         * could be verified. */
        hello = buf[OFF_TYPE] == FRAME_HELLO;
        if (hello == s->hello_received)
                return -EBADMSG;

        if (hello) {
                r = check_hello_payload(s, payload, payload_len);
                if (r < 0)
                        return r;
                receiver_nonce = zero_nonce;
                sender_nonce = payload;
        } else {
                receiver_nonce = s->local_nonce;
                sender_nonce = s->remote_nonce;
        }
        frame_mac(s, receiver_nonce, sender_nonce, buf, payload_len, mac);
        if (sodium_memcmp(mac, payload + payload_len, FRAME_HMAC_SIZE) != 0)
                return -EACCES;

        /* The counter is authenticated, so checking it after the HMAC is what refuses a frame
         * replayed, dropped or reordered within this connection (the nonces already refuse
         * frames from other connections). */
        counter = get_be64(buf + OFF_COUNTER);
        expected = hello ? 0 : s->recv_counter + 1;
        if (counter != expected)
                return -ESTALE;

        if (hello) {
                memcpy(s->remote_nonce, payload, FRAME_NONCE_SIZE);
                s->hello_received = true;
        }
        s->recv_counter = counter;

        *ret = (Frame){
            .type = buf[OFF_TYPE],
            .state = buf[OFF_STATE],
            .flags = buf[OFF_FLAGS],
            .request_id = get_be32(buf + OFF_REQUEST_ID),
            .counter = counter,
            .epoch = get_be64(buf + OFF_EPOCH),
            .payload_len = payload_len,
        };
        if (payload_len > 0)
                memcpy(ret->payload, payload, payload_len);
        return (ssize_t)total;
}

int frame_hello_name(const Frame *f, char *buf, size_t size)
{
        size_t n;

        if (f->type != FRAME_HELLO || f->payload_len <= FRAME_NONCE_SIZE ||
            f->payload_len > FRAME_NONCE_SIZE + FRAME_NAME_MAX)
                return -EINVAL;
        n = f->payload_len - FRAME_NONCE_SIZE;
        if (size < n + 1)
                return -ENOBUFS;
        memcpy(buf, f->payload + FRAME_NONCE_SIZE, n);
        buf[n] = 0;
        return 0;
}
