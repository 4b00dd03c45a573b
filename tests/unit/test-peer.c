/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The peer link: two real Peers on one sd-event loop over loopback TCP: the handshake, frames both
 * ways, a replacement connection adopted without a loss, the dead timer, a misconfigured peer
 * refused on both sides, a stranger on the listener. Configurations are real files through
 * config_load; the Peers' internals are looked at through peer-internal.h only to inject faults. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <ftw.h>

#include "config.h"
#include "log.h"
#include "peer-internal.h"

typedef struct Side {
        Peer *peer;
        Config *config;
        unsigned connected, lost, frames;
        Frame last;
        usec_t lost_at;
} Side;

typedef struct Fixture {
        sd_event *event;
        char dir[64];
        uint8_t key_data[48];
        Key key;
        uint16_t port[2];
        Side side[2]; /* [0] "a" (dials), [1] "b" */
} Fixture;

static double time_scale(void)
{
        const char *e = getenv("VC_TIME_SCALE");
        return e && atof(e) > 0 ? atof(e) : 1.0;
}

static uint16_t free_port(void)
{
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(sin);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
        close(fd);
        return ntohs(sin.sin_port);
}

static Config *load(Fixture *f, const char *node, const char *role, uint16_t listen,
                    const char *peer, uint16_t peer_port)
{
        ConfigErrors errors = {};
        char path[128], text[1024];
        Config *c = NULL;
        FILE *file;

        snprintf(path, sizeof(path), "%s/%s-%u.conf", f->dir, node, listen);
        snprintf(text, sizeof(text),
                 "node = { name = \"%s\"; role = \"%s\"; listen = \"127.0.0.1:%u\"; };\n"
                 "peer = { name = \"%s\"; address = \"127.0.0.1:%u\"; };\n"
                 "auth = { key_file = \"/nonexistent\"; };\n"
                 "timers = { heartbeat = 0.05; dead_time = 0.3; init_dead = 1.0; };\n",
                 node, role, listen, peer, peer_port);
        file = fopen(path, "we");
        assert_non_null(file);
        fputs(text, file);
        fclose(file);
        assert_int_equal(config_load(path, "/nonexistent", &c, &errors), 0);
        config_errors_done(&errors);
        return c;
}

static void on_connected(Peer *p, void *userdata)
{
        ((Side *)userdata)->connected++;
}

static void on_frame(Peer *p, const Frame *f, void *userdata)
{
        Side *s = userdata;

        s->frames++;
        s->last = *f;
}

static void on_lost(Peer *p, void *userdata)
{
        Side *s = userdata;

        s->lost++;
        s->lost_at = now_usec(CLOCK_MONOTONIC);
}

static const PeerCallbacks callbacks = {
    .connected = on_connected, .frame = on_frame, .lost = on_lost};

static void side_start(Fixture *f, int i)
{
        Side *s = &f->side[i];

        assert_int_equal(peer_new(f->event, s->config, &f->key, &callbacks, s, &s->peer), 0);
}

static int setup(void **state)
{
        Fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        snprintf(f->dir, sizeof(f->dir), "/tmp/vc-test-peer-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        for (size_t i = 0; i < sizeof(f->key_data); i++)
                f->key_data[i] = (uint8_t)(i * 7 + 1);
        f->key = (Key){.data = f->key_data, .len = sizeof(f->key_data)};
        f->port[0] = free_port();
        do
                f->port[1] = free_port();
        while (f->port[1] == f->port[0]);
        f->side[0].config = load(f, "a", "master", f->port[0], "b", f->port[1]);
        f->side[1].config = load(f, "b", "standby", f->port[1], "a", f->port[0]);
        assert_int_equal(sd_event_new(&f->event), 0);
        *state = f;
        return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        return remove(path);
}

static int teardown(void **state)
{
        Fixture *f = *state;

        for (int i = 0; i < 2; i++) {
                peer_free(f->side[i].peer);
                config_unref(f->side[i].config);
        }
        sd_event_unref(f->event);
        nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
        free(f);
        return 0;
}

/* Runs the loop until cond holds or timeout (scaled) passes; returns whether it holds. */
#define RUN_UNTIL(f, cond, timeout)                                                                \
        ({                                                                                         \
                usec_t _end = now_usec(CLOCK_MONOTONIC) + (usec_t)((timeout)*time_scale());        \
                while (!(cond) && now_usec(CLOCK_MONOTONIC) < _end)                                \
                        assert_true(sd_event_run((f)->event, 5 * USEC_PER_MSEC) >= 0);             \
                (bool)(cond);                                                                      \
        })

static void connect_both(Fixture *f)
{
        side_start(f, 1);
        side_start(f, 0);
        assert_true(f->side[0].peer->dials);
        assert_false(f->side[1].peer->dials);
        assert_true(
            RUN_UNTIL(f, peer_is_connected(f->side[0].peer) && peer_is_connected(f->side[1].peer),
                      2 * USEC_PER_SEC));
}

static void test_connect_and_frames(void **state)
{
        Fixture *f = *state;
        Side *a = &f->side[0], *b = &f->side[1];

        connect_both(f);
        assert_int_equal(a->connected, 1);
        assert_int_equal(b->connected, 1);
        assert_null(peer_problem(a->peer));
        assert_null(peer_problem(b->peer));
        /* The connection b adopted is the one a dialed. */
        assert_true(a->peer->conn->outgoing);
        assert_false(b->peer->conn->outgoing);

        peer_set_local(a->peer, 3, 0x11, 42);
        assert_int_equal(peer_send(a->peer, FRAME_TAKE, 7, "check web failed"), 0);
        assert_true(RUN_UNTIL(f, b->frames > 0 && b->last.type == FRAME_TAKE, USEC_PER_SEC));
        assert_int_equal(b->last.request_id, 7);
        assert_int_equal(b->last.state, 3);
        assert_int_equal(b->last.flags, 0x11);
        assert_int_equal(b->last.epoch, 42);
        assert_int_equal(b->last.payload_len, strlen("check web failed"));
        assert_memory_equal(b->last.payload, "check web failed", b->last.payload_len);

        assert_int_equal(peer_send(b->peer, FRAME_TAKE_DONE, 7, NULL), 0);
        assert_true(RUN_UNTIL(f, a->last.type == FRAME_TAKE_DONE, USEC_PER_SEC));
        assert_int_equal(a->last.request_id, 7);

        /* Heartbeats keep flowing both ways. */
        unsigned fa = a->frames, fb = b->frames;
        assert_true(RUN_UNTIL(f, a->frames >= fa + 4 && b->frames >= fb + 4, USEC_PER_SEC));
        assert_int_equal(a->lost + b->lost, 0);
}

/* a redials while b still holds the old connection (its socket kept open, silent): b adopts the
 * new one once it is authenticated both ways, and never reports the peer lost. */
static void test_replacement(void **state)
{
        Fixture *f = *state;
        Side *a = &f->side[0], *b = &f->side[1];
        PeerConn *old_b;
        int keep;

        connect_both(f);
        old_b = b->peer->conn;
        keep = dup(a->peer->conn->fd); /* no FIN: b's old connection stays open */
        assert_true(keep >= 0);
        peer_drop_conn(a->peer, a->peer->conn);
        assert_true(RUN_UNTIL(f, b->connected == 2, USEC_PER_SEC));
        assert_ptr_not_equal(b->peer->conn, old_b);
        assert_true(RUN_UNTIL(f, a->peer->conn != NULL, USEC_PER_SEC));
        assert_int_equal(b->lost, 0);
        assert_true(peer_is_connected(b->peer));
        /* Frames flow on the new connection. */
        assert_int_equal(peer_send(b->peer, FRAME_RELEASE, 9, "takeover"), 0);
        assert_true(RUN_UNTIL(f, a->last.type == FRAME_RELEASE, USEC_PER_SEC));
        close(keep);
}

/* a goes silent (a hung host): b reports the peer lost after dead_time, not before; a, which
 * still reads, is not fooled by b's heartbeats into thinking anything else. */
static void test_dead_timer(void **state)
{
        Fixture *f = *state;
        Side *a = &f->side[0], *b = &f->side[1];
        usec_t silent_at;

        connect_both(f);
        assert_true(RUN_UNTIL(f, a->frames > 0 && b->frames > 0, USEC_PER_SEC));
        sd_event_source_set_enabled(a->peer->heartbeat_timer, SD_EVENT_OFF);
        sd_event_source_set_enabled(a->peer->conn->io, SD_EVENT_OFF);
        silent_at = now_usec(CLOCK_MONOTONIC);
        assert_true(RUN_UNTIL(f, b->lost == 1, 3 * USEC_PER_SEC));
        /* Heard last at most one heartbeat before going silent. */
        assert_true(b->lost_at - silent_at + b->config->heartbeat >= b->config->dead_time);
        assert_true(b->lost_at - silent_at <=
                    b->config->dead_time + 500 * USEC_PER_MSEC * time_scale());
        assert_false(peer_is_connected(b->peer));
        assert_null(b->peer->conn);
}

/* b names another peer ("c"): after the key proof each side refuses the other and says why; no
 * connection is adopted, and a's error names b's expected and received names. */
static void test_misconfigured_name(void **state)
{
        Fixture *f = *state;
        Side *a = &f->side[0], *b = &f->side[1];

        config_unref(b->config);
        b->config = load(f, "b", "standby", f->port[1], "0", f->port[0]); /* "0" < "b": b listens */
        side_start(f, 1);
        side_start(f, 0);
        assert_true(RUN_UNTIL(f, peer_problem(a->peer) && peer_problem(b->peer), 2 * USEC_PER_SEC));
        assert_non_null(strstr(peer_problem(b->peer), "calls itself \"a\"; expected \"0\""));
        assert_non_null(
            strstr(peer_problem(a->peer),
                   "refuses the link: node \"b\" expects peer \"0\" and received \"a\""));
        RUN_UNTIL(f, false, 300 * USEC_PER_MSEC);
        assert_int_equal(a->connected + b->connected, 0);
        assert_false(peer_is_connected(a->peer) || peer_is_connected(b->peer));
}

/* A connection from another address than the peer's is closed before any byte is sent. */
static void test_stranger_address(void **state)
{
        Fixture *f = *state;
        struct sockaddr_in from = {.sin_family = AF_INET}, to = {.sin_family = AF_INET};
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        char c;

        side_start(f, 1);
        inet_pton(AF_INET, "127.0.0.2", &from.sin_addr);
        inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
        to.sin_port = htons(f->port[1]);
        assert_int_equal(bind(fd, (struct sockaddr *)&from, sizeof(from)), 0);
        assert_int_equal(connect(fd, (struct sockaddr *)&to, sizeof(to)), 0);
        RUN_UNTIL(f, false, 100 * USEC_PER_MSEC);
        assert_int_equal(recv(fd, &c, 1, MSG_DONTWAIT), 0); /* closed, nothing sent */
        close(fd);
        for (size_t i = 0; i < PEER_PENDING_MAX; i++)
                assert_null(f->side[1].peer->pending[i]);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_connect_and_frames, setup, teardown),
            cmocka_unit_test_setup_teardown(test_replacement, setup, teardown),
            cmocka_unit_test_setup_teardown(test_dead_timer, setup, teardown),
            cmocka_unit_test_setup_teardown(test_misconfigured_name, setup, teardown),
            cmocka_unit_test_setup_teardown(test_stranger_address, setup, teardown),
        };

        log_set_max_level(LOG_ERR);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
