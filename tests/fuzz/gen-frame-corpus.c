/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Writes the seed corpus of fuzz-frame into a directory: frames with valid HMACs for the fixed
 * fuzz session (a HELLO stream, a post-handshake stream, requests and replies), the refusals the
 * daemon must handle (oversized, truncated, replayed, reflected, a second HELLO, wrong version),
 * and round-trip inputs. Run: gen-frame-corpus DIR. */
#include "fuzz-check.h"
#include "fuzz-frame-session.h"
#include "util.h"

typedef struct Buf {
        uint8_t data[16 * FRAME_MAX_SIZE];
        size_t len;
} Buf;

static const char *out_dir;

static void put(Buf *b, const void *p, size_t n)
{
        FUZZ_CHECK(b->len + n <= sizeof(b->data));
        memcpy(b->data + b->len, p, n);
        b->len += n;
}

static void put_byte(Buf *b, uint8_t v)
{
        put(b, &v, 1);
}

static void save(const char *name, const Buf *b)
{
        char path[512];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", out_dir, name);
        f = fopen(path, "we");
        FUZZ_CHECK(f);
        FUZZ_CHECK(fwrite(b->data, 1, b->len, f) == b->len);
        FUZZ_CHECK(fclose(f) == 0);
}

/* The remote peer's side: its HELLO has gone out and the daemon's has come in. */
static void sender_after_hello(FrameSession *s)
{
        fuzz_frame_session(s, FUZZ_NONCE_SENDER, FUZZ_NONCE_RECEIVER, true);
}

static void hello(FrameSession *s, uint8_t fill, const char *name, Buf *b)
{
        uint8_t buf[FRAME_MAX_SIZE];
        size_t len;

        fuzz_frame_session(s, fill, 0, false);
        FUZZ_CHECK(frame_encode_hello(s, name, buf, sizeof(buf), &len) == 0);
        put(b, buf, len);
        memset(s->remote_nonce, FUZZ_NONCE_RECEIVER, FRAME_NONCE_SIZE);
        s->hello_received = true;
}

static void frame(FrameSession *s, FrameType type, uint32_t request_id, const char *payload, Buf *b)
{
        Frame f = {
            .type = (uint8_t)type, .state = 2, .flags = 0x05, .request_id = request_id, .epoch = 7};
        uint8_t buf[FRAME_MAX_SIZE];
        size_t len;

        if (payload) {
                f.payload_len = (uint32_t)strlen(payload);
                memcpy(f.payload, payload, f.payload_len);
        }
        FUZZ_CHECK(frame_encode(s, &f, buf, sizeof(buf), &len) == 0);
        put(b, buf, len);
}

static void streams(void)
{
        FrameSession s;
        Buf b = {};
        uint8_t big[FRAME_HEADER_SIZE] = {0x56, 0x43, 0x54, 0x52, FRAME_VERSION, FRAME_HEARTBEAT};
        size_t one_frame;
        char longest[FRAME_MAX_PAYLOAD + 1] = {};

        put_byte(&b, FUZZ_FRAME_MODE_HELLO);
        hello(&s, FUZZ_NONCE_SENDER, "b", &b);
        save("hello-only", &b);
        frame(&s, FRAME_HEARTBEAT, 0, NULL, &b);
        frame(&s, FRAME_TAKE, 1, "check web failed", &b);
        frame(&s, FRAME_RELEASE, 2, "operator takeover", &b);
        save("hello-stream", &b);
        b.data[0] = FUZZ_FRAME_MODE_SIGNED_HELLO;
        save("signed-hello-stream", &b);

        b = (Buf){};
        put_byte(&b, FUZZ_FRAME_MODE_HELLO);
        hello(&s, FUZZ_NONCE_SENDER,
              "a-node-name-that-is-exactly-sixty-three-characters-long-0123456", &b);
        save("hello-longest-name", &b);
        b.data[0] = FUZZ_FRAME_MODE_SIGNED_HELLO;
        save("signed-hello-longest-name", &b);
        b.data[0] = FUZZ_FRAME_MODE_HELLO;
        hello(&s, FUZZ_NONCE_SENDER, "again", &b);
        save("hello-twice", &b);

        b = (Buf){};
        put_byte(&b, FUZZ_FRAME_MODE_HELLO);
        hello(&s, FUZZ_NONCE_RECEIVER, "reflected", &b); /* the daemon's own nonce */
        save("hello-reflected", &b);

        b = (Buf){};
        put_byte(&b, FUZZ_FRAME_MODE_HELLO);
        sender_after_hello(&s);
        frame(&s, FRAME_HEARTBEAT, 0, NULL, &b);
        save("heartbeat-before-hello", &b);

        b = (Buf){};
        put_byte(&b, FUZZ_FRAME_MODE_SESSION);
        sender_after_hello(&s);
        frame(&s, FRAME_HEARTBEAT, 0, NULL, &b);
        one_frame = b.len - 1;
        frame(&s, FRAME_TAKE_DONE, 1, NULL, &b);
        frame(&s, FRAME_TAKE_FAILED, 2, "service web did not start", &b);
        frame(&s, FRAME_RELEASE_REFUSED, 3, "not active", &b);
        frame(&s, FRAME_RELEASED, 0, NULL, &b);
        save("session-stream", &b);
        b.data[0] = FUZZ_FRAME_MODE_SIGNED_SESSION;
        save("signed-session-stream", &b);
        b.data[1 + one_frame + 23] ^= 0x02; /* second frame: counter 2 -> 0, re-signed */
        save("signed-session-counter-skip", &b);
        b.data[1 + one_frame + 23] ^= 0x02;
        b.data[0] = FUZZ_FRAME_MODE_SESSION;

        /* The first frame again: a replay on the same connection. */
        put(&b, b.data + 1, one_frame);
        save("session-replay", &b);

        b = (Buf){};
        put_byte(&b, FUZZ_FRAME_MODE_SIGNED_SESSION);
        sender_after_hello(&s);
        memset(longest, 'r', FRAME_MAX_PAYLOAD);
        frame(&s, FRAME_TAKE_FAILED, 3, longest, &b);
        frame(&s, FRAME_HEARTBEAT, 0, NULL, &b);
        save("signed-session-largest-payload", &b);

        b = (Buf){};
        put_byte(&b, FUZZ_FRAME_MODE_SESSION);
        sender_after_hello(&s);
        frame(&s, FRAME_TAKE, 9, "check web failed", &b);
        b.len -= 10;
        save("session-truncated", &b);

        b = (Buf){};
        put_byte(&b, FUZZ_FRAME_MODE_SESSION);
        big[8] = big[9] = big[10] = big[11] = 0xff;
        put(&b, big, sizeof(big));
        save("session-oversized", &b);
        b.data[1 + 4] = 2; /* version */
        save("session-version-2", &b);

        b = (Buf){};
        put_byte(&b, FUZZ_FRAME_MODE_SESSION);
        fuzz_frame_session(&s, FUZZ_NONCE_SENDER, 0x33, true); /* another connection's nonce */
        frame(&s, FRAME_RELEASE, 1, "takeover", &b);
        save("session-other-connection", &b);
}

/* A frame whose HMAC the fuzz-frame harness writes itself (signed modes): any header. */
static void unsigned_frame(Buf *b, uint8_t type, uint32_t payload_len, const void *payload)
{
        uint8_t header[FRAME_HEADER_SIZE] = {0x56, 0x43, 0x54, 0x52, FRAME_VERSION, type};
        static const uint8_t mac[FRAME_HMAC_SIZE];

        for (int i = 0; i < 4; i++)
                header[8 + i] = (uint8_t)(payload_len >> (24 - 8 * i));
        put(b, header, sizeof(header));
        put(b, payload, payload_len);
        put(b, mac, sizeof(mac));
}

static void signed_refusals(void)
{
        uint8_t payload[FRAME_MAX_PAYLOAD] = {};
        Buf b = {};

        /* A HELLO one byte over the name limit: authentic, still refused. */
        memset(payload, FUZZ_NONCE_SENDER, FRAME_NONCE_SIZE);
        memset(payload + FRAME_NONCE_SIZE, 'n', FRAME_NAME_MAX + 1);
        put_byte(&b, FUZZ_FRAME_MODE_SIGNED_HELLO);
        unsigned_frame(&b, FRAME_HELLO, FRAME_NONCE_SIZE + FRAME_NAME_MAX + 1, payload);
        save("signed-hello-name-too-long", &b);

        /* A HELLO whose name holds a NUL. */
        b = (Buf){};
        payload[FRAME_NONCE_SIZE + 2] = 0;
        put_byte(&b, FUZZ_FRAME_MODE_SIGNED_HELLO);
        unsigned_frame(&b, FRAME_HELLO, FRAME_NONCE_SIZE + 5, payload);
        save("signed-hello-name-nul", &b);

        /* After the handshake: a second HELLO, then a frame of an unknown type. */
        b = (Buf){};
        payload[FRAME_NONCE_SIZE + 2] = 'n';
        put_byte(&b, FUZZ_FRAME_MODE_SIGNED_SESSION);
        unsigned_frame(&b, FRAME_HELLO, FRAME_NONCE_SIZE + 1, payload);
        save("signed-session-second-hello", &b);
        b = (Buf){};
        put_byte(&b, FUZZ_FRAME_MODE_SIGNED_SESSION);
        unsigned_frame(&b, _FRAME_TYPE_MAX, 0, payload);
        save("signed-session-unknown-type", &b);
}

static void round_trip(const char *name, uint8_t type, uint64_t counter, const char *payload)
{
        Buf b = {};

        put_byte(&b, FUZZ_FRAME_MODE_ROUND_TRIP);
        put_byte(&b, type);
        put_byte(&b, 2);    /* state */
        put_byte(&b, 0x1f); /* flags */
        put(&b, "\x00\x00\x00\x2a", 4);
        put(&b, "\x00\x00\x00\x00\x00\x00\x01\x00", 8);
        for (int i = 7; i >= 0; i--)
                put_byte(&b, (uint8_t)(counter >> (8 * i)));
        put(&b, "\x00\x05", 2); /* tamper with byte 5: the type */
        put_byte(&b, 0x80);
        put(&b, payload, strlen(payload));
        save(name, &b);
}

int main(int argc, char *argv[])
{
        if (argc != 2) {
                fprintf(stderr, "Usage: gen-frame-corpus DIR\n");
                return 64;
        }
        out_dir = argv[1];
        streams();
        signed_refusals();
        round_trip("round-trip-hello", FRAME_HELLO, 0, "web2");
        round_trip("round-trip-heartbeat", FRAME_HEARTBEAT, 0, "");
        round_trip("round-trip-take", FRAME_TAKE, 41, "check web failed");
        round_trip("round-trip-counter-wrap", FRAME_RELEASED, UINT64_MAX, "");
        round_trip("round-trip-bad-type", 0x7f, 1, "x");
        return 0;
}
