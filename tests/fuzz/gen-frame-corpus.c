/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Writes the seed corpus of fuzz-frame into a directory: frames sealed for the fixed fuzz session
 * (a HELLO, an AUTH, a post-handshake stream, requests and replies), the refusals the daemon must
 * handle (oversized, truncated, replayed, reflected, a second HELLO or AUTH, wrong version,
 * another connection's frames), plaintext chunks for the sealing modes, and round-trip inputs.
 * Run: gen-frame-corpus DIR. */
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

static void hello(const char *name, uint8_t fill, Buf *b)
{
        FrameSession local, remote;
        uint8_t buf[FRAME_MAX_SIZE];
        size_t len;

        fuzz_frame_pair(&local, &remote, FUZZ_STAGE_FRESH);
        memset(remote.local_nonce, fill, FRAME_NONCE_SIZE);
        FUZZ_CHECK(frame_encode_hello(&remote, name, buf, sizeof(buf), &len) == 0);
        put(b, buf, len);
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
        FrameSession local, remote;
        uint8_t big[FRAME_HEADER_SIZE] = {0x56, 0x43, 0x54, 0x52, FRAME_VERSION, FRAME_KIND_SEALED};
        char longest[FRAME_MAX_PAYLOAD + 1] = {};
        size_t one_frame;
        Buf b = {};

        put_byte(&b, FUZZ_FRAME_MODE_HELLO);
        hello("remote", FUZZ_NONCE_REMOTE, &b);
        save("hello-only", &b);
        fuzz_frame_pair(&local, &remote, FUZZ_STAGE_HELLO);
        frame(&remote, FRAME_AUTH, 0, NULL, &b);
        frame(&remote, FRAME_HEARTBEAT, 0, NULL, &b);
        frame(&remote, FRAME_TAKE, 1, "check web failed", &b);
        save("hello-stream", &b);
        hello("again", 0x33, &b);
        save("hello-twice-late", &b);

        b = (Buf){};
        put_byte(&b, FUZZ_FRAME_MODE_HELLO);
        hello("a-node-name-that-is-exactly-sixty-three-characters-long-0123456", FUZZ_NONCE_REMOTE,
              &b);
        save("hello-longest-name", &b);
        hello("again", 0x33, &b);
        save("hello-twice", &b);

        b = (Buf){};
        put_byte(&b, FUZZ_FRAME_MODE_HELLO);
        hello("reflected", FUZZ_NONCE_LOCAL, &b); /* the daemon's own nonce */
        save("hello-reflected", &b);

        b = (Buf){};
        put_byte(&b, FUZZ_FRAME_MODE_AFTER_HELLO);
        fuzz_frame_pair(&local, &remote, FUZZ_STAGE_HELLO);
        frame(&remote, FRAME_AUTH, 0, NULL, &b);
        frame(&remote, FRAME_HEARTBEAT, 0, NULL, &b);
        frame(&remote, FRAME_REFUSED, 0, "node \"remote\" expects peer \"x\"", &b);
        save("auth-stream", &b);
        b = (Buf){};
        put_byte(&b, FUZZ_FRAME_MODE_AFTER_HELLO);
        frame(&local, FRAME_AUTH, 0, NULL, &b); /* the daemon's own AUTH, reflected */
        save("auth-reflected", &b);

        b = (Buf){};
        put_byte(&b, FUZZ_FRAME_MODE_SESSION);
        fuzz_frame_pair(&local, &remote, FUZZ_STAGE_AUTH);
        frame(&remote, FRAME_HEARTBEAT, 0, NULL, &b);
        one_frame = b.len - 1;
        frame(&remote, FRAME_TAKE_DONE, 1, NULL, &b);
        frame(&remote, FRAME_TAKE_FAILED, 2, "service web did not start", &b);
        frame(&remote, FRAME_RELEASE_REFUSED, 3, "not active", &b);
        frame(&remote, FRAME_RELEASED, 0, NULL, &b);
        save("session-stream", &b);
        /* The first frame again: a replay on the same connection. */
        put(&b, b.data + 1, one_frame);
        save("session-replay", &b);

        b = (Buf){};
        put_byte(&b, FUZZ_FRAME_MODE_SESSION);
        fuzz_frame_pair(&local, &remote, FUZZ_STAGE_AUTH);
        memset(longest, 'r', FRAME_MAX_PAYLOAD);
        frame(&remote, FRAME_TAKE_FAILED, 3, longest, &b);
        frame(&remote, FRAME_HEARTBEAT, 0, NULL, &b);
        save("session-largest-payload", &b);

        b = (Buf){};
        put_byte(&b, FUZZ_FRAME_MODE_SESSION);
        fuzz_frame_pair(&local, &remote, FUZZ_STAGE_AUTH);
        frame(&remote, FRAME_TAKE, 9, "check web failed", &b);
        b.len -= 10;
        save("session-truncated", &b);

        b = (Buf){};
        put_byte(&b, FUZZ_FRAME_MODE_SESSION);
        big[8] = big[9] = big[10] = big[11] = 0xff;
        put(&b, big, sizeof(big));
        save("session-oversized", &b);
        b.data[1 + 4] = 1; /* version */
        save("session-version-1", &b);

        b = (Buf){};
        put_byte(&b, FUZZ_FRAME_MODE_SESSION);
        fuzz_frame_pair(&local, &remote, FUZZ_STAGE_AUTH);
        memset(remote.send_key, 0x44, FRAME_KEY_SIZE); /* another connection's keys */
        frame(&remote, FRAME_RELEASE, 1, "takeover", &b);
        save("session-other-connection", &b);
}

/* A plaintext chunk for the sealing modes: counter, inner length, inner header, payload. */
static void chunk(Buf *b, uint8_t counter, uint8_t type, uint8_t reserved, const char *payload)
{
        uint8_t inner[FRAME_INNER_SIZE] = {type, 2, 0x05, reserved, 0, 0, 0, 1};
        size_t n = FRAME_INNER_SIZE + strlen(payload);

        put_byte(b, counter);
        put_byte(b, (uint8_t)(n >> 8));
        put_byte(b, (uint8_t)n);
        put(b, inner, sizeof(inner));
        put(b, payload, strlen(payload));
}

static void sealed(void)
{
        Buf b = {};

        put_byte(&b, FUZZ_FRAME_MODE_SEALED_AFTER_HELLO);
        chunk(&b, 0, FRAME_AUTH, 0, "");
        chunk(&b, 1, FRAME_HEARTBEAT, 0, "");
        chunk(&b, 2, FRAME_TAKE, 0, "check web failed");
        save("sealed-after-hello-stream", &b);
        b = (Buf){};
        put_byte(&b, FUZZ_FRAME_MODE_SEALED_AFTER_HELLO);
        chunk(&b, 0, FRAME_HEARTBEAT, 0, ""); /* not an AUTH first */
        save("sealed-no-auth", &b);
        b = (Buf){};
        put_byte(&b, FUZZ_FRAME_MODE_SEALED_SESSION);
        chunk(&b, 1, FRAME_HEARTBEAT, 0, "");
        chunk(&b, 2, FRAME_AUTH, 0, ""); /* a second AUTH */
        save("sealed-second-auth", &b);
        b = (Buf){};
        put_byte(&b, FUZZ_FRAME_MODE_SEALED_SESSION);
        chunk(&b, 1, _FRAME_TYPE_MAX, 0, "");
        save("sealed-unknown-type", &b);
        b = (Buf){};
        put_byte(&b, FUZZ_FRAME_MODE_SEALED_SESSION);
        chunk(&b, 1, FRAME_HELLO, 0, "");
        save("sealed-hello-type", &b);
        b = (Buf){};
        put_byte(&b, FUZZ_FRAME_MODE_SEALED_SESSION);
        chunk(&b, 1, FRAME_HEARTBEAT, 1, ""); /* reserved bits */
        save("sealed-reserved", &b);
        b = (Buf){};
        put_byte(&b, FUZZ_FRAME_MODE_SEALED_SESSION);
        chunk(&b, 1, FRAME_HEARTBEAT, 0, "");
        chunk(&b, 3, FRAME_HEARTBEAT, 0, ""); /* a skipped counter */
        save("sealed-counter-skip", &b);
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
        put(&b, "\x00\x05", 2); /* tamper with byte 5: the kind */
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
        sealed();
        round_trip("round-trip-hello", FRAME_HELLO, 0, "web2");
        round_trip("round-trip-auth", FRAME_AUTH, 0, "");
        round_trip("round-trip-heartbeat", FRAME_HEARTBEAT, 0, "");
        round_trip("round-trip-take", FRAME_TAKE, 41, "check web failed");
        round_trip("round-trip-refused", FRAME_REFUSED, 1, "node \"b\" expects peer \"c\"");
        round_trip("round-trip-counter-wrap", FRAME_RELEASED, UINT64_MAX, "");
        round_trip("round-trip-bad-type", 0x7f, 1, "x");
        return 0;
}
