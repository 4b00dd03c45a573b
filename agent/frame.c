/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "frame.h"

#include <sodium.h>

#include "util.h"

/* Clear header offsets (all integers big-endian). */
enum {
        OFF_MAGIC = 0,
        OFF_VERSION = 4,
        OFF_KIND = 5,
        OFF_RESERVED = 6,
        OFF_BODY_LEN = 8,
        OFF_COUNTER = 12,
};

/* Sealed inner header offsets. */
enum {
        IN_TYPE = 0,
        IN_STATE = 1,
        IN_FLAGS = 2,
        IN_RESERVED = 3,
        IN_REQUEST_ID = 4,
        IN_EPOCH = 8,
};

_Static_assert(OFF_COUNTER + 8 == FRAME_HEADER_SIZE, "header layout");
_Static_assert(IN_EPOCH + 8 == FRAME_INNER_SIZE, "inner header layout");
_Static_assert(FRAME_TAG_SIZE == crypto_aead_chacha20poly1305_IETF_ABYTES, "tag size");
_Static_assert(FRAME_KEY_SIZE == crypto_aead_chacha20poly1305_IETF_KEYBYTES, "key size");
_Static_assert(FRAME_HELLO_MAX <= FRAME_MAX_PAYLOAD, "HELLO fits");

static const char *const frame_type_table[_FRAME_TYPE_MAX] = {
    [FRAME_HELLO] = "hello",
    [FRAME_HEARTBEAT] = "heartbeat",
    [FRAME_TAKE] = "take",
    [FRAME_TAKE_DONE] = "take-done",
    [FRAME_TAKE_FAILED] = "take-failed",
    [FRAME_RELEASE] = "release",
    [FRAME_RELEASE_REFUSED] = "release-refused",
    [FRAME_RELEASED] = "released",
    [FRAME_AUTH] = "auth",
    [FRAME_REFUSED] = "refused",
    [FRAME_MAINTENANCE] = "maintenance",
};

DEFINE_STRING_TABLE_LOOKUP(frame_type, FrameType)

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

static bool sealed_type_valid(unsigned t)
{
        return t > FRAME_HELLO && t < _FRAME_TYPE_MAX;
}

void frame_session_init(FrameSession *s, const uint8_t *key, size_t key_len, bool initiator)
{
        static const char label[] = "vacataire peer key v2";
        crypto_generichash_state st;

        /* Idempotent; randombytes_buf must not run before it. */
        if (sodium_init() < 0)
                abort();

        *s = (FrameSession){.initiator = initiator};
        /* The shared key may be up to 4 KiB; a hash of it is the 32-byte key of the KDF. */
        crypto_generichash_init(&st, NULL, 0, sizeof(s->base_key));
        crypto_generichash_update(&st, (const uint8_t *)label, sizeof(label));
        crypto_generichash_update(&st, key, key_len);
        crypto_generichash_final(&st, s->base_key, sizeof(s->base_key));
        sodium_memzero(&st, sizeof(st));
        randombytes_buf(s->local_nonce, sizeof(s->local_nonce));
}

void frame_session_done(FrameSession *s)
{
        sodium_memzero(s, sizeof(*s));
}

static void derive_key(const FrameSession *s, const uint8_t transcript[32], const char *direction,
                       uint8_t out[FRAME_KEY_SIZE])
{
        crypto_generichash_state st;

        crypto_generichash_init(&st, s->base_key, sizeof(s->base_key), FRAME_KEY_SIZE);
        crypto_generichash_update(&st, (const uint8_t *)direction, strlen(direction) + 1);
        crypto_generichash_update(&st, transcript, 32);
        crypto_generichash_final(&st, out, FRAME_KEY_SIZE);
        sodium_memzero(&st, sizeof(st));
}

/* Once both HELLOs are known: the transcript is both HELLO bodies (nonce and name), the
 * dialer's first, each with its length; one key per direction is derived from it. A frame
 * sealed for this connection is thus bound to both fresh nonces, both names and its direction:
 * replayed on another connection, reflected back at its sender, or spliced between two
 * connections, it fails authentication. */
static void derive_keys(FrameSession *s)
{
        static const char label[] = "vacataire handshake v2";
        const uint8_t *first = s->initiator ? s->local_hello : s->remote_hello;
        const uint8_t *second = s->initiator ? s->remote_hello : s->local_hello;
        uint8_t first_len = (uint8_t)(s->initiator ? s->local_hello_len : s->remote_hello_len);
        uint8_t second_len = (uint8_t)(s->initiator ? s->remote_hello_len : s->local_hello_len);
        crypto_generichash_state st;
        uint8_t transcript[32];

        crypto_generichash_init(&st, NULL, 0, sizeof(transcript));
        crypto_generichash_update(&st, (const uint8_t *)label, sizeof(label));
        crypto_generichash_update(&st, &first_len, 1);
        crypto_generichash_update(&st, first, first_len);
        crypto_generichash_update(&st, &second_len, 1);
        crypto_generichash_update(&st, second, second_len);
        crypto_generichash_final(&st, transcript, sizeof(transcript));

        derive_key(s, transcript, s->initiator ? "dialer to listener" : "listener to dialer",
                   s->send_key);
        derive_key(s, transcript, s->initiator ? "listener to dialer" : "dialer to listener",
                   s->recv_key);
        s->keys_ready = true;
        sodium_memzero(&st, sizeof(st));
}

static void put_header(uint8_t *buf, FrameKind kind, size_t body_len, uint64_t counter)
{
        put_be32(buf + OFF_MAGIC, FRAME_MAGIC);
        buf[OFF_VERSION] = FRAME_VERSION;
        buf[OFF_KIND] = (uint8_t)kind;
        buf[OFF_RESERVED] = 0;
        buf[OFF_RESERVED + 1] = 0;
        put_be32(buf + OFF_BODY_LEN, (uint32_t)body_len);
        put_be64(buf + OFF_COUNTER, counter);
}

static void aead_nonce(uint64_t counter, uint8_t out[crypto_aead_chacha20poly1305_IETF_NPUBBYTES])
{
        memset(out, 0, crypto_aead_chacha20poly1305_IETF_NPUBBYTES);
        put_be64(out + crypto_aead_chacha20poly1305_IETF_NPUBBYTES - 8, counter);
}

int frame_encode_hello(FrameSession *s, const char *node_name, uint8_t *buf, size_t size,
                       size_t *ret_len)
{
        size_t name_len, total;

        if (s->hello_sent || !node_name)
                return -EINVAL;
        name_len = strlen(node_name);
        if (name_len == 0 || name_len > FRAME_NAME_MAX || memchr(node_name, 0, name_len))
                return -EINVAL;
        total = FRAME_HEADER_SIZE + FRAME_NONCE_SIZE + name_len;
        if (size < total)
                return -ENOBUFS;

        memcpy(s->local_hello, s->local_nonce, FRAME_NONCE_SIZE);
        memcpy(s->local_hello + FRAME_NONCE_SIZE, node_name, name_len);
        s->local_hello_len = FRAME_NONCE_SIZE + name_len;
        put_header(buf, FRAME_KIND_HELLO, s->local_hello_len, 0);
        memcpy(buf + FRAME_HEADER_SIZE, s->local_hello, s->local_hello_len);
        s->hello_sent = true;
        if (s->hello_received)
                derive_keys(s);
        *ret_len = total;
        return 0;
}

int frame_encode(FrameSession *s, const Frame *f, uint8_t *buf, size_t size, size_t *ret_len)
{
        uint8_t inner[FRAME_INNER_SIZE + FRAME_MAX_PAYLOAD];
        uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];
        unsigned long long sealed_len;
        uint64_t counter;
        size_t body_len;
        bool auth;

        if (!sealed_type_valid(f->type) || f->payload_len > FRAME_MAX_PAYLOAD)
                return -EINVAL;
        auth = f->type == FRAME_AUTH;
        if (auth && s->auth_sent)
                return -EINVAL;
        if (!s->keys_ready || (!auth && !s->auth_sent))
                return -ENOTCONN;
        if (!auth && s->send_counter == UINT64_MAX)
                return -EOVERFLOW;
        body_len = FRAME_INNER_SIZE + f->payload_len + FRAME_TAG_SIZE;
        if (size < FRAME_HEADER_SIZE + body_len)
                return -ENOBUFS;
        counter = auth ? 0 : s->send_counter + 1;

        inner[IN_TYPE] = f->type;
        inner[IN_STATE] = f->state;
        inner[IN_FLAGS] = f->flags;
        inner[IN_RESERVED] = 0;
        put_be32(inner + IN_REQUEST_ID, f->request_id);
        put_be64(inner + IN_EPOCH, f->epoch);
        if (f->payload_len > 0)
                memcpy(inner + FRAME_INNER_SIZE, f->payload, f->payload_len);

        put_header(buf, FRAME_KIND_SEALED, body_len, counter);
        aead_nonce(counter, nonce);
        crypto_aead_chacha20poly1305_ietf_encrypt(buf + FRAME_HEADER_SIZE, &sealed_len, inner,
                                                  FRAME_INNER_SIZE + f->payload_len, buf,
                                                  FRAME_HEADER_SIZE, NULL, nonce, s->send_key);
        sodium_memzero(inner, sizeof(inner));
        s->auth_sent = true;
        s->send_counter = counter;
        *ret_len = FRAME_HEADER_SIZE + (size_t)sealed_len;
        return 0;
}

/* Checks what can be checked before the whole frame is in: a peer announcing an oversized frame
 * is refused at once instead of being waited for. */
static int check_header(const uint8_t *h)
{
        uint32_t body_len = get_be32(h + OFF_BODY_LEN);

        if (get_be32(h + OFF_MAGIC) != FRAME_MAGIC)
                return -EBADMSG;
        if (h[OFF_VERSION] != FRAME_VERSION)
                return -EPROTONOSUPPORT;
        if (body_len > FRAME_MAX_BODY)
                return -EMSGSIZE;
        if (h[OFF_RESERVED] != 0 || h[OFF_RESERVED + 1] != 0)
                return -EBADMSG;
        switch (h[OFF_KIND]) {
        case FRAME_KIND_HELLO:
                if (body_len <= FRAME_NONCE_SIZE || body_len > FRAME_HELLO_MAX ||
                    get_be64(h + OFF_COUNTER) != 0)
                        return -EBADMSG;
                return 0;
        case FRAME_KIND_SEALED:
                if (body_len < FRAME_INNER_SIZE + FRAME_TAG_SIZE)
                        return -EBADMSG;
                return 0;
        default:
                return -EBADMSG;
        }
}

static ssize_t decode_hello(FrameSession *s, const uint8_t *body, size_t body_len, Frame *ret)
{
        if (s->hello_received)
                return -EBADMSG;
        if (memchr(body + FRAME_NONCE_SIZE, 0, body_len - FRAME_NONCE_SIZE))
                return -EBADMSG;
        /* Our own HELLO sent back to us: the transcript would be symmetric. */
        if (sodium_memcmp(body, s->local_nonce, FRAME_NONCE_SIZE) == 0)
                return -EBADMSG;

        memcpy(s->remote_nonce, body, FRAME_NONCE_SIZE);
        memcpy(s->remote_hello, body, body_len);
        s->remote_hello_len = body_len;
        s->hello_received = true;
        if (s->hello_sent)
                derive_keys(s);
        *ret = (Frame){.type = FRAME_HELLO, .payload_len = (uint32_t)body_len};
        memcpy(ret->payload, body, body_len);
        return 0;
}

static int decode_sealed(FrameSession *s, const uint8_t *buf, size_t body_len, Frame *ret)
{
        uint8_t inner[FRAME_INNER_SIZE + FRAME_MAX_PAYLOAD];
        uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];
        unsigned long long inner_len;
        uint64_t counter = get_be64(buf + OFF_COUNTER), expected;
        uint8_t type;
        int r = 0;

        if (!s->keys_ready)
                return -EBADMSG;
        aead_nonce(counter, nonce);
        if (crypto_aead_chacha20poly1305_ietf_decrypt(inner, &inner_len, NULL,
                                                      buf + FRAME_HEADER_SIZE, body_len, buf,
                                                      FRAME_HEADER_SIZE, nonce, s->recv_key) != 0)
                return -EACCES;

        /* The counter is authenticated (it is the AEAD nonce and in the associated data), so
         * checking it now refuses a genuine frame replayed, dropped or reordered within this
         * connection; frames of other connections already failed above. */
        expected = s->auth_received ? s->recv_counter + 1 : 0;
        type = inner[IN_TYPE];
        if (counter != expected)
                r = -ESTALE;
        else if (!sealed_type_valid(type) || inner[IN_RESERVED] != 0 ||
                 (type == FRAME_AUTH) == s->auth_received)
                r = -EBADMSG;
        if (r < 0) {
                sodium_memzero(inner, sizeof(inner));
                return r;
        }

        s->auth_received = true;
        s->recv_counter = counter;
        *ret = (Frame){
            .type = type,
            .state = inner[IN_STATE],
            .flags = inner[IN_FLAGS],
            .request_id = get_be32(inner + IN_REQUEST_ID),
            .counter = counter,
            .epoch = get_be64(inner + IN_EPOCH),
            .payload_len = (uint32_t)(inner_len - FRAME_INNER_SIZE),
        };
        memcpy(ret->payload, inner + FRAME_INNER_SIZE, ret->payload_len);
        sodium_memzero(inner, sizeof(inner));
        return 0;
}

ssize_t frame_decode(FrameSession *s, const uint8_t *buf, size_t len, Frame *ret)
{
        size_t body_len, total;
        int r;

        if (len < FRAME_HEADER_SIZE)
                return 0;
        r = check_header(buf);
        if (r < 0)
                return r;
        body_len = get_be32(buf + OFF_BODY_LEN);
        total = FRAME_HEADER_SIZE + body_len;
        if (len < total)
                return 0;

        if (buf[OFF_KIND] == FRAME_KIND_HELLO)
                r = (int)decode_hello(s, buf + FRAME_HEADER_SIZE, body_len, ret);
        else
                r = decode_sealed(s, buf, body_len, ret);
        if (r < 0)
                return r;
        return (ssize_t)total;
}

static int copy_name(const uint8_t *hello, size_t len, char *buf, size_t size)
{
        size_t n;

        if (len <= FRAME_NONCE_SIZE || len > FRAME_HELLO_MAX)
                return -EINVAL;
        n = len - FRAME_NONCE_SIZE;
        if (size < n + 1)
                return -ENOBUFS;
        memcpy(buf, hello + FRAME_NONCE_SIZE, n);
        buf[n] = 0;
        return 0;
}

int frame_hello_name(const Frame *f, char *buf, size_t size)
{
        if (f->type != FRAME_HELLO)
                return -EINVAL;
        return copy_name(f->payload, f->payload_len, buf, size);
}

int frame_session_remote_name(const FrameSession *s, char *buf, size_t size)
{
        if (!s->hello_received)
                return -ENOTCONN;
        return copy_name(s->remote_hello, s->remote_hello_len, buf, size);
}
