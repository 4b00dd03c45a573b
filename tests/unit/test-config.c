/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* config_load on real files: the reference configuration, defaults, and the exact message of every
 * kind of error, written to a private temporary directory. */
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "config.h"
#include "vacataire-plugin.h"

#define PLUGIN_DIR "/test/plugins"

/* Lines 1-3 of most fixtures; the key under test starts on line 4. */
#define MINIMAL                                                                                    \
        "node = { name = \"a\"; role = \"master\"; listen = \"127.0.0.1:7411\"; };\n"              \
        "peer = { name = \"b\"; address = \"127.0.0.1:7412\"; };\n"                                \
        "auth = { key_file = \"/etc/vacataire/peer.key\"; };\n"

static char dir[64];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        return remove(path);
}

static int setup(void **state)
{
        snprintf(dir, sizeof(dir), "/tmp/vc-test-config-XXXXXX");
        return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
        return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes dir/name and returns its full path (static buffer, valid until the next call). */
static const char *write_fixture(const char *name, const char *text)
{
        static char path[256];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        f = fopen(path, "we");
        assert_non_null(f);
        assert_int_equal(fputs(text, f) >= 0, 1);
        assert_int_equal(fclose(f), 0);
        return path;
}

/* dir/name, for directories (static buffer, valid until the next call). */
static const char *in_dir(const char *name)
{
        static char path[256];

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        return path;
}

static void print_errors(const ConfigErrors *e)
{
        for (size_t i = 0; i < e->n; i++)
                print_message("  error: %s\n", e->lines[i]);
}

static Config *load_ok(const char *path)
{
        ConfigErrors errors = {};
        Config *c = NULL;
        int r = config_load(path, PLUGIN_DIR, &c, &errors);

        print_errors(&errors);
        assert_int_equal(r, 0);
        assert_int_equal(errors.n, 0);
        assert_non_null(c);
        config_errors_done(&errors);
        return c;
}

/* Loads text (as dir/name) and expects exactly the given errors, each "<path>:<rest>". */
static void expect_errors(const char *name, const char *text, const char *const *expected)
{
        ConfigErrors errors = {};
        Config *c = NULL;
        const char *path = write_fixture(name, text);
        size_t n = 0;
        int r;

        r = config_load(path, PLUGIN_DIR, &c, &errors);
        while (expected[n])
                n++;
        if (errors.n != n)
                print_errors(&errors);
        assert_int_equal(r, -EINVAL);
        assert_null(c);
        assert_int_equal(errors.n, n);
        for (size_t i = 0; i < n; i++) {
                char *want = strdup_printf("%s:%s", path, expected[i]);
                assert_string_equal(errors.lines[i], want);
                free(want);
        }
        config_errors_done(&errors);
        assert_int_equal(errors.n, 0);
        assert_null(errors.lines);
}

#define EXPECT(text, ...)                                                                          \
        expect_errors("test.conf", (text), (const char *const[]){__VA_ARGS__, NULL})

#define PEER_WITH(address)                                                                         \
        "node = { name = \"a\"; role = \"master\"; listen = \"127.0.0.1:7411\"; };\n"              \
        "peer = { name = \"b\"; address = \"" address "\"; };\n"                                   \
        "auth = { key_file = \"k\"; };\n"

/* peer.address: numeric (IPv6 with a zone too) or a host name; the errors say which part is
 * wrong. Host names are only checked for syntax here: resolution is config_check_peer_host's. */
static void test_peer_address(void **state)
{
        Config *c;
        char *error = NULL;

        c = load_ok(write_fixture("zone.conf", PEER_WITH("[fe80::1%lo]:7411")));
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&c->peer_address.sa;
        assert_int_equal(in6->sin6_family, AF_INET6);
        assert_int_equal(ntohs(in6->sin6_port), 7411);
        assert_int_not_equal(in6->sin6_scope_id, 0);
        assert_string_equal(c->peer_host, "fe80::1%lo");
        assert_int_equal(config_check_peer_host(c, &error), 0);
        assert_null(error);
        config_unref(c);

        c = load_ok(write_fixture("name.conf", PEER_WITH("localhost:7412")));
        assert_int_equal(c->peer_address.len, 0);
        assert_string_equal(c->peer_host, "localhost");
        assert_int_equal(c->peer_port, 7412);
        assert_int_equal(config_check_peer_host(c, &error), 0);
        config_unref(c);

        c = load_ok(write_fixture("nx.conf", PEER_WITH("no-such-host.invalid:7412")));
        assert_int_equal(c->peer_address.len, 0);
        int r = config_check_peer_host(c, &error);
        /* .invalid never exists (RFC 6761); without any resolver the answer may be "try later". */
        assert_true(r == -ENOENT || r == -EAGAIN);
        assert_non_null(error);
        assert_non_null(strstr(error, "nx.conf:2: peer.address: "));
        if (r == -ENOENT)
                assert_non_null(strstr(error, "host \"no-such-host.invalid\" not found"));
        free(error);
        config_unref(c);

        EXPECT(PEER_WITH("web2"),
               "2: peer.address: \"web2\" is not an address: expected \"host:port\", "
               "\"[IPv6]:port\" or \"[fe80::1%eth0]:port\" with a port of 1-65535");
        EXPECT(PEER_WITH("web2:99999"),
               "2: peer.address: \"web2:99999\" is not an address: expected \"host:port\", "
               "\"[IPv6]:port\" or \"[fe80::1%eth0]:port\" with a port of 1-65535");
        EXPECT(PEER_WITH("web_2!:7411"), "2: peer.address: \"web_2!:7411\" is not an address: "
                                         "\"web_2!\" is neither a numeric address nor a valid "
                                         "host name");
        EXPECT(PEER_WITH("[fe80::zz]:7411"), "2: peer.address: \"[fe80::zz]:7411\" is not an "
                                             "address: \"fe80::zz\" is neither a numeric address "
                                             "nor a valid host name");
        EXPECT(PEER_WITH("*:7411"),
               "2: peer.address: \"*:7411\" is not an address one can connect to");
}

static void test_reference_config(void **state)
{
        Config *c = load_ok(TEST_SOURCE_DIR "/etc/vacataire.conf");
        const ConfigCheck *check;

        assert_string_equal(c->node_name, "web1");
        assert_int_equal(c->role, HOME_ROLE_MASTER);
        assert_string_equal(c->listen, "0.0.0.0:7411");
        assert_int_equal(c->listen_address.sa.ss_family, AF_INET);
        assert_string_equal(c->peer_name, "web2");
        assert_string_equal(c->peer_address_string, "10.0.0.12:7411");
        assert_string_equal(c->key_file, "/etc/vacataire/peer.key");
        assert_string_equal(c->agent_listen, "0.0.0.0:7412");
        assert_string_equal(c->http_listen, "0.0.0.0:7413");
        assert_string_equal(c->plugin_dir, "/usr/lib/vacataire/plugins");
        assert_string_equal(c->notify, "/usr/local/sbin/vacataire-notify");

        assert_int_equal(c->n_checks, 3);
        check = config_find_check(c, "web");
        assert_ptr_equal(check, &c->checks[0]);
        assert_string_equal(check->plugin_path, "/usr/lib/vacataire/plugins/pcheck.so");
        assert_int_equal(check->interval, USEC_PER_SEC);
        assert_int_equal(check->timeout, 500 * USEC_PER_MSEC);
        assert_int_equal(check->fall, 2);
        assert_int_equal(check->rise, 2);
        assert_int_equal(check->scope, CHECK_SCOPE_ACTIVE);
        assert_int_equal(check->n_params, 1);
        assert_string_equal(check->params[0].name, "process");
        assert_int_equal(check->params[0].type, VACATAIRE_PARAM_STRING);
        assert_string_equal(check->params[0].string, "apache2");

        check = config_find_check(c, "memory");
        assert_int_equal(check->scope, CHECK_SCOPE_ALWAYS);
        assert_int_equal(check->timeout, 5 * USEC_PER_SEC); /* default: the interval */
        assert_int_equal(check->params[1].type, VACATAIRE_PARAM_FLOAT);
        assert_true(check->params[1].number == 10.0);

        check = config_find_check(c, "app");
        assert_string_equal(check->params[1].name, "content_length");
        assert_int_equal(check->params[1].type, VACATAIRE_PARAM_INT);
        assert_int_equal(check->params[1].integer, 1234);
        assert_true(check->params[1].number == 1234.0);
        assert_null(config_find_check(c, "nope"));
        assert_null(config_find_check(NULL, "web"));

        assert_int_equal(c->n_services, 2);
        assert_string_equal(c->services[0].name, "tomcat9.service");
        assert_string_equal(c->services[0].unit, "tomcat9.service");
        assert_null(c->services[0].start);
        assert_string_equal(c->services[1].name, "apache");
        assert_null(c->services[1].unit);
        assert_string_equal(c->services[1].status, "/usr/sbin/apachectl status");
        assert_int_equal(c->services[1].timeout, 30 * USEC_PER_SEC);
        config_unref(c);
}

static void test_defaults(void **state)
{
        Config *c = load_ok(write_fixture("minimal.conf", MINIMAL));
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)&c->peer_address.sa;

        assert_string_equal(c->path, write_fixture("minimal.conf", MINIMAL));
        assert_int_equal(in4->sin_family, AF_INET);
        assert_int_equal(ntohs(in4->sin_port), 7412);
        assert_int_equal(c->heartbeat, 200 * USEC_PER_MSEC);
        assert_int_equal(c->dead_time, USEC_PER_SEC);
        assert_int_equal(c->init_dead, 5 * USEC_PER_SEC);
        assert_int_equal(c->on_peer_loss, PEER_LOSS_TAKEOVER);
        assert_int_equal(c->handover, HANDOVER_BREAK_BEFORE_MAKE);
        assert_int_equal(c->drain_time, 500 * USEC_PER_MSEC);
        assert_null(c->agent_listen);
        assert_null(c->http_listen);
        assert_string_equal(c->plugin_dir, PLUGIN_DIR);
        assert_string_equal(c->state_dir, "/var/lib/vacataire");
        assert_string_equal(c->control_socket, "/run/vacataire/control.sock");
        assert_int_equal(c->systemd_bus, SYSTEMD_BUS_SYSTEM);
        assert_int_equal(c->n_checks, 0);
        assert_int_equal(c->n_services, 0);
        assert_null(c->notify);
        config_unref(c);

        c = load_ok(write_fixture("entries.conf", MINIMAL
                                  "checks = ( { name = \"c\"; plugin = \"p\"; },\n"
                                  "  { name = \"slow\"; plugin = \"p\"; interval = 60; } );\n"
                                  "services = ( { unit = \"u.service\"; } );\n"
                                  "timers = { heartbeat = 1; dead_time = 3; };\n"
                                  "systemd_bus = \"user\";\n"));
        assert_int_equal(c->checks[0].interval, USEC_PER_SEC);
        assert_int_equal(c->checks[0].timeout, USEC_PER_SEC);
        assert_int_equal(c->checks[0].fall, 1);
        assert_int_equal(c->checks[0].rise, 1);
        assert_int_equal(c->checks[0].scope, CHECK_SCOPE_ACTIVE);
        assert_int_equal(c->checks[0].n_params, 0);
        assert_int_equal(c->checks[0].line, 4);
        assert_string_equal(c->checks[0].plugin_path, PLUGIN_DIR "/p.so");
        assert_int_equal(c->checks[1].timeout, 10 * USEC_PER_SEC); /* capped */
        assert_string_equal(c->services[0].name, "u.service");
        assert_int_equal(c->services[0].timeout, 30 * USEC_PER_SEC);
        assert_int_equal(c->services[0].start_retries, 1);
        assert_int_equal(c->services[0].line, 6);
        assert_int_equal(c->heartbeat, USEC_PER_SEC);
        assert_int_equal(c->dead_time, 3 * USEC_PER_SEC);
        assert_int_equal(c->systemd_bus, SYSTEMD_BUS_USER);
        assert_null(config_unref(c));
        assert_null(config_unref(NULL));
}

static void test_params(void **state)
{
        Config *c = load_ok(write_fixture(
            "params.conf",
            MINIMAL "checks = ( { name = \"c\"; plugin = \"p\"; params = {\n"
                    "  i = -3; big = 10000000000L; f = 2.5; yes = true; s = \"x\"; }; } );\n"));
        const ConfigParam *p = c->checks[0].params;

        assert_int_equal(c->checks[0].n_params, 5);
        assert_string_equal(p[0].name, "i");
        assert_int_equal(p[0].type, VACATAIRE_PARAM_INT);
        assert_int_equal(p[0].integer, -3);
        assert_true(p[0].number == -3.0);
        assert_int_equal(p[1].type, VACATAIRE_PARAM_INT);
        assert_int_equal(p[1].integer, 10000000000LL);
        assert_true(p[1].number == 1e10);
        assert_int_equal(p[2].type, VACATAIRE_PARAM_FLOAT);
        assert_true(p[2].number == 2.5);
        assert_int_equal(p[3].type, VACATAIRE_PARAM_BOOL);
        assert_true(p[3].boolean);
        assert_int_equal(p[4].type, VACATAIRE_PARAM_STRING);
        assert_string_equal(p[4].string, "x");
        config_unref(c);
}

static void test_list_params(void **state)
{
        Config *c = load_ok(write_fixture(
            "lists.conf",
            MINIMAL "checks = ( { name = \"c\"; plugin = \"p\"; params = {\n"
                    "  command = [ \"/bin/true\", \"-x\" ]; mixed = ( 200, \"y\", 1.5, false );\n"
                    "  empty = [ ]; one = 7; }; },\n"
                    "  { name = \"d\"; plugin = \"p\"; params = {\n"
                    "  command = [ \"/bin/true\", \"-y\" ]; mixed = ( 200, \"y\", 1.5, false );\n"
                    "  empty = [ ]; one = 7; }; } );\n"));
        const ConfigParam *p = c->checks[0].params;

        assert_int_equal(c->checks[0].n_params, 4);
        assert_string_equal(p[0].name, "command");
        assert_int_equal(p[0].type, VACATAIRE_PARAM_LIST);
        assert_int_equal(p[0].n_list, 2);
        assert_int_equal(p[0].integer, 2);
        assert_int_equal(p[0].list[0].type, VACATAIRE_PARAM_STRING);
        assert_string_equal(p[0].list[0].string, "/bin/true");
        assert_string_equal(p[0].list[1].string, "-x");
        assert_int_equal(p[1].type, VACATAIRE_PARAM_LIST);
        assert_int_equal(p[1].n_list, 4);
        assert_int_equal(p[1].list[0].type, VACATAIRE_PARAM_INT);
        assert_int_equal(p[1].list[0].integer, 200);
        assert_string_equal(p[1].list[1].string, "y");
        assert_int_equal(p[1].list[2].type, VACATAIRE_PARAM_FLOAT);
        assert_int_equal(p[1].list[3].type, VACATAIRE_PARAM_BOOL);
        assert_int_equal(p[2].type, VACATAIRE_PARAM_LIST);
        assert_int_equal(p[2].n_list, 0);
        assert_int_equal(p[3].type, VACATAIRE_PARAM_INT);

        /* Reload compares lists element by element. */
        assert_false(config_params_equal(&c->checks[0], &c->checks[1]));
        assert_true(config_params_equal(&c->checks[0], &c->checks[0]));
        config_unref(c);
}

static void test_plugin_paths(void **state)
{
        char cwd[PATH_MAX], want[PATH_MAX + 64];
        Config *c;

        assert_int_equal(mkdir(in_dir("sub"), 0755), 0);
        write_fixture("sub/plugins.conf",
                      MINIMAL "plugin_dir = \"/opt/p/\";\n"
                              "checks = ( { name = \"a\"; plugin = \"x\"; },\n"
                              "  { name = \"b\"; plugin = \"./lib/y.so\"; },\n"
                              "  { name = \"c\"; plugin = \"/abs/z.so\"; } );\n");
        /* A relative config path: plugin paths still come out absolute. */
        assert_non_null(getcwd(cwd, sizeof(cwd)));
        assert_int_equal(chdir(dir), 0);
        c = load_ok("sub/plugins.conf");
        assert_int_equal(chdir(cwd), 0);
        assert_string_equal(c->checks[0].plugin_path, "/opt/p/x.so");
        snprintf(want, sizeof(want), "%s/sub/lib/y.so", dir);
        assert_string_equal(c->checks[1].plugin_path, want);
        assert_string_equal(c->checks[2].plugin_path, "/abs/z.so");
        config_unref(c);
}

static void test_unknown_keys(void **state)
{
        EXPECT(MINIMAL "hartbeat = 0.3;\n", "4: hartbeat: unknown key");
        EXPECT(MINIMAL "timers = {\n  hartbeat = 0.3;\n};\n", "5: timers.hartbeat: unknown key");
        EXPECT(MINIMAL "checks = ( { name = \"c\"; plugin = \"p\";\n  intervall = 2; } );\n",
               "5: checks[0].intervall: unknown key");
        EXPECT(MINIMAL "services = ( { unit = \"u\"; retries = 2; } );\n",
               "4: services[0].retries: unknown key");
}

static void test_wrong_types(void **state)
{
        EXPECT(MINIMAL "state_dir = 5;\n", "4: state_dir: must be a non-empty string");
        EXPECT(MINIMAL "notify = \"\";\n", "4: notify: must be a non-empty string");
        EXPECT(MINIMAL "timers = 5;\n", "4: timers: must be a group, { ... }");
        EXPECT(MINIMAL "timers = { heartbeat = \"0.2\"; };\n",
               "4: timers.heartbeat: must be a number of seconds greater than 0 and at most 3600");
        EXPECT(MINIMAL "checks = ( { name = \"c\"; plugin = \"p\"; fall = 2.0; } );\n",
               "4: checks[0].fall: must be an integer between 1 and 1000");
        EXPECT(MINIMAL "checks = { name = \"c\"; };\n",
               "4: checks: must be a list of groups, ( { ... }, ... )");
        EXPECT(MINIMAL "checks = ( \"c\" );\n", "4: checks[0]: must be a group, { ... }");
        EXPECT(MINIMAL "checks = ( { name = \"c\"; plugin = \"p\"; params = 1; } );\n",
               "4: checks[0].params: must be a group, { ... }");
        EXPECT(MINIMAL "failover = { handover = 1; };\n",
               "4: failover.handover: must be \"break-before-make\" or \"make-before-break\"");
}

static void test_out_of_range(void **state)
{
        EXPECT(MINIMAL "timers = { heartbeat = 0; };\n",
               "4: timers.heartbeat: must be a number of seconds greater than 0 and at most 3600");
        EXPECT(MINIMAL "timers = { init_dead = 3600.5; };\n",
               "4: timers.init_dead: must be a number of seconds greater than 0 and at most 3600");
        EXPECT(MINIMAL "failover = { drain_time = -0.1; };\n",
               "4: failover.drain_time: must be a number of seconds between 0 and 3600");
        EXPECT(MINIMAL "checks = ( { name = \"c\"; plugin = \"p\"; interval = 0.001; } );\n",
               "4: checks[0].interval: must be a number of seconds between 0.01 and 86400");
        EXPECT(MINIMAL "checks = ( { name = \"c\"; plugin = \"p\"; timeout = 0; } );\n",
               "4: checks[0].timeout: must be a number of seconds greater than 0 and at most 3600");
        EXPECT(MINIMAL
               "checks = ( { name = \"c\"; plugin = \"p\";\n  fall = 0; rise = 1001; } );\n",
               "5: checks[0].fall: must be an integer between 1 and 1000",
               "5: checks[0].rise: must be an integer between 1 and 1000");
        EXPECT(MINIMAL "checks = ( { name = \"c\"; plugin = \"p\"; rise = 10000000000L; } );\n",
               "4: checks[0].rise: must be an integer between 1 and 1000");
        EXPECT(MINIMAL "services = ( { unit = \"u\"; start_retries = 101; } );\n",
               "4: services[0].start_retries: must be an integer between 0 and 100");
        EXPECT(
            MINIMAL "services = ( { unit = \"u\"; timeout = 0; } );\n",
            "4: services[0].timeout: must be a number of seconds greater than 0 and at most 3600");
}

static void test_missing(void **state)
{
        EXPECT("node = { name = \"a\"; role = \"master\"; listen = \"127.0.0.1:7411\"; };\n"
               "peer = { name = \"b\";\n};\n",
               "2: peer.address: missing", "1: auth: missing");
        EXPECT("\n\nnode = {\n name = \"a\";\n};\n"
               "peer = { name = \"b\"; address = \"127.0.0.1:7412\"; };\n"
               "auth = { };\n",
               "3: node.role: missing", "3: node.listen: missing", "7: auth.key_file: missing");
        EXPECT(MINIMAL "checks = ( { name = \"c\"; },\n  { plugin = \"p\"; } );\n",
               "4: checks[0].plugin: missing", "5: checks[1].name: missing");
        EXPECT(MINIMAL "services = ( { name = \"s\"; start = \"true\"; } );\n",
               "4: services[0].stop: missing");
        EXPECT(MINIMAL "services = ( { start = \"true\"; stop = \"true\"; } );\n",
               "4: services[0].name: missing");
        EXPECT(MINIMAL "services = ( { name = \"s\"; } );\n",
               "4: services[0]: needs unit (a systemd unit) or start and stop (commands)");
        EXPECT("# empty\n", "1: node: missing", "1: peer: missing", "1: auth: missing");
}

static void test_bad_values(void **state)
{
        EXPECT("node = { name = \"a\";\n  role = \"primary\"; listen = \"127.0.0.1:7411\"; };\n"
               "peer = { name = \"b\"; address = \"127.0.0.1:7412\"; };\n"
               "auth = { key_file = \"k\"; };\n",
               "2: node.role: must be \"master\" or \"standby\", not \"primary\"");
        EXPECT(MINIMAL "failover = { on_peer_loss = \"wait\"; };\n",
               "4: failover.on_peer_loss: must be \"takeover\" or \"stay\", not \"wait\"");
        EXPECT(MINIMAL "systemd_bus = \"session\";\n",
               "4: systemd_bus: must be \"system\" or \"user\", not \"session\"");
        EXPECT(MINIMAL "checks = ( { name = \"c\"; plugin = \"p\"; scope = \"passive\"; } );\n",
               "4: checks[0].scope: must be \"active\" or \"always\", not \"passive\"");
        EXPECT(MINIMAL
               "health = { agent_listen = \"localhost:7412\"; http_listen = \"1.2.3.4\"; };\n",
               "4: health.agent_listen: must be a numeric address \"host:port\", not "
               "\"localhost:7412\"",
               "4: health.http_listen: must be a numeric address \"host:port\", not \"1.2.3.4\"");
        EXPECT("node = { name = \"web 1\"; role = \"master\"; listen = \"127.0.0.1:0\"; };\n"
               "peer = { name = \"web 1\"; address = 7412; };\n"
               "auth = { key_file = \"k\"; };\n",
               "1: node.name: must be 1-63 characters of [A-Za-z0-9._-], not \"web 1\"",
               "1: node.listen: must be a numeric address \"host:port\", not \"127.0.0.1:0\"",
               "2: peer.name: must be 1-63 characters of [A-Za-z0-9._-], not \"web 1\"",
               "2: peer.address: must be a string \"host:port\"");
        EXPECT("node = { name = \"a\"; role = \"master\"; listen = \"127.0.0.1:7411\"; };\n"
               "peer = {\n  name = \"a\"; address = \"127.0.0.1:7412\"; };\n"
               "auth = { key_file = \"k\"; };\n",
               "3: peer.name: must differ from node.name");
        EXPECT(MINIMAL "checks = ( { name = \"c\"; plugin = \"p\"; params = {\n"
                       "  ok = 1;\n  list = ( 1, ( 2 ) );\n  array = [ 1 ];\n  group = { };\n"
                       "  groups = ( { } ); }; } );\n",
               "6: checks[0].params.list[1]: a list in params may hold only numbers, booleans "
               "and strings",
               "8: checks[0].params.group: must be a number, a boolean, a string or a list of "
               "them",
               "9: checks[0].params.groups[0]: a list in params may hold only numbers, booleans "
               "and strings");
}

static void test_lb(void **state)
{
        Config *c = load_ok(write_fixture(
            "lb.conf", MINIMAL "lb = { haproxy = \"10.0.0.1:9999\"; backend = \"web\"; };\n"));

        assert_string_equal(c->lb_haproxy, "10.0.0.1:9999");
        assert_int_equal(c->lb_address.sa.ss_family, AF_INET);
        assert_string_equal(c->lb_backend, "web");
        assert_null(c->lb_server);
        config_unref(c);
        c = load_ok(write_fixture("minimal.conf", MINIMAL));
        assert_null(c->lb_haproxy);
        config_unref(c);

        EXPECT(MINIMAL "lb = { server = \"web 1\"; port = 1; };\n", "4: lb.port: unknown key",
               "4: lb.haproxy: missing", "4: lb.backend: missing",
               "4: lb.server: must be 1-63 characters of [A-Za-z0-9._-], not \"web 1\"");
        EXPECT(MINIMAL "lb = { haproxy = \"lb.example:9999\"; backend = \"be;x\"; };\n",
               "4: lb.haproxy: must be a numeric address \"host:port\", not \"lb.example:9999\"",
               "4: lb.backend: must be 1-63 characters of [A-Za-z0-9._-], not \"be;x\"");
}

static void test_conflicts(void **state)
{
        EXPECT(MINIMAL "checks = ( { name = \"c\"; plugin = \"p\"; },\n"
                       "  { name = \"d\"; plugin = \"p\"; },\n"
                       "  { name = \"c\"; plugin = \"q\"; } );\n",
               "6: checks[2].name: duplicate check name \"c\", also used by checks[0]");
        EXPECT(
            MINIMAL "services = ( { unit = \"u.service\"; },\n"
                    "  { name = \"u.service\"; start = \"a\"; stop = \"b\"; },\n"
                    "  { unit = \"u.service\"; } );\n",
            "5: services[1].name: duplicate service name \"u.service\", also used by services[0]",
            "6: services[2].unit: duplicate service name \"u.service\", also used by services[0]");
        EXPECT(MINIMAL "services = ( {\n  unit = \"u\";\n  start = \"true\"; } );\n",
               "5: services[0].unit: cannot be combined with start, stop or status");
        EXPECT(MINIMAL "timers = {\n  heartbeat = 1.0;\n  dead_time = 1;\n};\n",
               "6: timers.dead_time: must be greater than timers.heartbeat (1)");
        /* dead_time left at its default (1.0) is compared too; it has no line, its group has. */
        EXPECT(MINIMAL "\ntimers = { heartbeat = 2.5; };\n",
               "5: timers.dead_time: must be greater than timers.heartbeat (2.5)");
}

static void test_memory_limit(void **state)
{
        Config *c = load_ok(write_fixture(
            "mem.conf", MINIMAL "checks = ( { name = \"a\"; plugin = \"p\"; },\n"
                                "  { name = \"b\"; plugin = \"p\"; memory_limit = \"64M\"; },\n"
                                "  { name = \"c\"; plugin = \"p\"; memory_limit = 48000000; },\n"
                                "  { name = \"d\"; plugin = \"p\"; memory_limit = 0; },\n"
                                "  { name = \"e\"; plugin = \"p\"; memory_limit = \"2g\"; } );\n"));

        assert_int_equal(c->checks[0].memory_limit, 256ull << 20);
        assert_int_equal(c->checks[1].memory_limit, 64ull << 20);
        assert_int_equal(c->checks[2].memory_limit, 48000000);
        assert_int_equal(c->checks[3].memory_limit, 0);
        assert_int_equal(c->checks[4].memory_limit, 2ull << 30);
        config_unref(c);

#define MEM_ERROR                                                                                  \
        "must be 0 (no limit) or a size between 1M and 1024T: bytes, or a string with a K, M, G "  \
        "or T suffix such as \"256M\""
        EXPECT(MINIMAL "checks = ( { name = \"a\"; plugin = \"p\";\n memory_limit = \"12Q\"; },\n"
                       "  { name = \"b\"; plugin = \"p\"; memory_limit = -1; },\n"
                       "  { name = \"c\"; plugin = \"p\"; memory_limit = \"512K\"; },\n"
                       "  { name = \"d\"; plugin = \"p\"; memory_limit = 1.5; } );\n",
               "5: checks[0].memory_limit: " MEM_ERROR, "6: checks[1].memory_limit: " MEM_ERROR,
               "7: checks[2].memory_limit: " MEM_ERROR, "8: checks[3].memory_limit: " MEM_ERROR);
}

/* execve() takes at most MAX_ARG_STRLEN (131072) bytes per argument, NUL included. */
static void test_command_too_long(void **state)
{
        _cleanup_free_ char *longest = malloc(131071 + 1), *text = NULL;
        Config *c;

        assert_non_null(longest);
        memset(longest, 'x', 131071);
        longest[131071] = 0;
        text = strdup_printf(MINIMAL "notify = \"%s\";\n", longest);
        c = load_ok(write_fixture("longest.conf", text));
        assert_int_equal(strlen(c->notify), 131071);
        config_unref(c);

        free(text);
        text = strdup_printf(
            MINIMAL "notify = \"%sx\";\n"
                    "services = ( { name = \"s\"; start = \"%sx\"; stop = \"true\"; } );\n",
            longest, longest);
        expect_errors("long.conf", text,
                      (const char *const[]){
                          "4: notify: command is 131072 bytes; execve() takes at most 131071 per "
                          "argument (MAX_ARG_STRLEN): move it into a script",
                          "5: services[0].start: command is 131072 bytes; execve() takes at most "
                          "131071 per argument (MAX_ARG_STRLEN): move it into a script",
                          NULL});
}

static void test_syntax_error(void **state)
{
        EXPECT(MINIMAL "timers = {\n  heartbeat = ;\n};\n", "5: syntax error");
        EXPECT(MINIMAL "node = { };\n", "4: duplicate setting name");
}

static void test_many_errors(void **state)
{
        EXPECT("node = { name = \"a\"; role = \"primary\"; listen = \"x\"; };\n"
               "peer = { name = \"b\"; address = \"127.0.0.1:7412\"; colour = \"red\"; };\n"
               "auth = { key_file = \"k\"; };\n"
               "timers = { heartbeat = -1; };\n"
               "checks = ( { name = \"c\"; plugin = \"p\"; fall = 0; } );\n"
               "services = ( { name = \"s\"; } );\n"
               "bogus = 1;\n",
               "7: bogus: unknown key",
               "1: node.role: must be \"master\" or \"standby\", not \"primary\"",
               "1: node.listen: must be a numeric address \"host:port\", not \"x\"",
               "2: peer.colour: unknown key",
               "4: timers.heartbeat: must be a number of seconds greater than 0 and at most 3600",
               "5: checks[0].fall: must be an integer between 1 and 1000",
               "6: services[0]: needs unit (a systemd unit) or start and stop (commands)");

        /* Without a ConfigErrors the verdict is the same. */
        Config *c = NULL;
        assert_int_equal(
            config_load(write_fixture("bad.conf", "bogus = 1;\n"), PLUGIN_DIR, &c, NULL), -EINVAL);
        assert_null(c);
}

static void test_include(void **state)
{
        char want[512], path[256];
        ConfigErrors errors = {};
        Config *c = NULL;

        assert_int_equal(mkdir(in_dir("inc"), 0755), 0);
        assert_int_equal(mkdir(in_dir("inc/conf.d"), 0755), 0);
        write_fixture("inc/conf.d/timers.conf", "timers = {\n  heartbeat = 0.5;\n};\n");
        write_fixture("inc/conf.d/checks.conf",
                      "checks = ( { name = \"c\"; plugin = \"p\"; } );\n"
                      "/* from the main file's directory, not this one */\n"
                      "@include \"conf.d/services.conf\"\n");
        write_fixture("inc/conf.d/services.conf", "services = ( { unit = \"u\"; } );\n");
        c = load_ok(write_fixture("inc/main.conf", MINIMAL "@include \"conf.d/timers.conf\"\n"
                                                           "@include \"conf.d/checks.conf\"\n"));
        assert_int_equal(c->heartbeat, 500 * USEC_PER_MSEC);
        assert_int_equal(c->n_checks, 1);
        assert_int_equal(c->n_services, 1);
        config_unref(c);

        /* Errors inside an included file name that file and its own lines. */
        write_fixture("inc/conf.d/bad.conf", "\ntimers = {\n  heartbeat = 0;\n  typo = 1;\n};\n");
        snprintf(
            path, sizeof(path), "%s",
            write_fixture("inc/main.conf", MINIMAL "@include \"conf.d/bad.conf\"\nbogus = 1;\n"));
        assert_int_equal(config_load(path, PLUGIN_DIR, &c, &errors), -EINVAL);
        assert_int_equal(errors.n, 3);
        snprintf(want, sizeof(want), "%s/inc/main.conf:5: bogus: unknown key", dir);
        assert_string_equal(errors.lines[0], want);
        snprintf(want, sizeof(want), "%s/inc/conf.d/bad.conf:4: timers.typo: unknown key", dir);
        assert_string_equal(errors.lines[1], want);
        snprintf(want, sizeof(want),
                 "%s/inc/conf.d/bad.conf:3: timers.heartbeat: must be a number of seconds greater "
                 "than 0 and at most 3600",
                 dir);
        assert_string_equal(errors.lines[2], want);
        config_errors_done(&errors);

        /* A syntax error inside an included file, too. */
        write_fixture("inc/conf.d/bad.conf", "\n\nx = ;\n");
        assert_int_equal(config_load(path, PLUGIN_DIR, &c, &errors), -EINVAL);
        assert_int_equal(errors.n, 1);
        snprintf(want, sizeof(want), "%s/inc/conf.d/bad.conf:3: syntax error", dir);
        assert_string_equal(errors.lines[0], want);
        config_errors_done(&errors);
}

static void test_include_errors(void **state)
{
        char nope[300], directory[300], absolute[400];

        assert_int_equal(mkdir(in_dir("cycle"), 0755), 0);
        expect_errors(
            "cycle/self.conf", MINIMAL "@include \"self.conf\"\n",
            (const char *const[]){"4: @include \"self.conf\": includes the file it is in", NULL});

        write_fixture("cycle/b.conf", "\n@include \"a.conf\"\n");
        {
                char want[512];
                snprintf(want, sizeof(want),
                         "%s/cycle/b.conf:2: @include \"a.conf\": include cycle: "
                         "%s/cycle/a.conf -> %s/cycle/b.conf -> %s/cycle/a.conf",
                         dir, dir, dir, dir);
                ConfigErrors errors = {};
                Config *c = NULL;
                assert_int_equal(
                    config_load(write_fixture("cycle/a.conf", MINIMAL "@include \"b.conf\"\n"),
                                PLUGIN_DIR, &c, &errors),
                    -EINVAL);
                assert_int_equal(errors.n, 1);
                assert_string_equal(errors.lines[0], want);
                config_errors_done(&errors);
        }

        snprintf(nope, sizeof(nope),
                 "4: @include \"nope.conf\": cannot open %s/nope.conf: No such file or directory",
                 dir);
        EXPECT(MINIMAL "@include \"nope.conf\"\n", nope);
        snprintf(directory, sizeof(directory),
                 "4: @include \"cycle\": %s/cycle is not a regular file", dir);
        EXPECT(MINIMAL "@include \"cycle\"\n", directory);
        snprintf(absolute, sizeof(absolute),
                 "4: @include \"/etc/passwd\": must be a path relative to %s, the directory of "
                 "%s/test.conf",
                 dir, dir);
        EXPECT(MINIMAL "  @include \t\"/etc/passwd\"\n", absolute);
}

static void test_unreadable(void **state)
{
        ConfigErrors errors = {};
        Config *c = NULL;
        char path[256], want[300];

        snprintf(path, sizeof(path), "%s/does-not-exist.conf", dir);
        assert_int_equal(config_load(path, PLUGIN_DIR, &c, &errors), -ENOENT);
        assert_null(c);
        assert_int_equal(errors.n, 1);
        snprintf(want, sizeof(want), "%s: No such file or directory", path);
        assert_string_equal(errors.lines[0], want);
        config_errors_done(&errors);

        /* libconfig would exit the process on a directory and block on a fifo. */
        assert_int_equal(config_load(dir, PLUGIN_DIR, &c, &errors), -EISDIR);
        snprintf(want, sizeof(want), "%s: Is a directory", dir);
        assert_string_equal(errors.lines[0], want);
        config_errors_done(&errors);

        snprintf(path, sizeof(path), "%s/fifo", dir);
        assert_int_equal(mkfifo(path, 0600), 0);
        assert_int_equal(config_load(path, PLUGIN_DIR, &c, &errors), -EINVAL);
        snprintf(want, sizeof(want), "%s: not a regular file", path);
        assert_string_equal(errors.lines[0], want);
        config_errors_done(&errors);
}

static void test_arbiter(void **state)
{
        Config *c;
        _cleanup_(config_arbiter_freep) ConfigArbiter *copy = NULL;

        c = load_ok(write_fixture("arbiter.conf",
                                  MINIMAL "arbiter = { etcd = [ \"http://10.0.0.1:2379/\", "
                                          "\"https://e2:2379\" ];\n"
                                          "  key = \"/vacataire/web\"; ttl = 5; ca_file = "
                                          "\"/ca.pem\";\n  username = \"u\"; password_file = "
                                          "\"/pw\"; };\n"));
        assert_non_null(c->arbiter);
        assert_int_equal(c->arbiter->n_etcd, 2);
        assert_string_equal(c->arbiter->etcd[0], "http://10.0.0.1:2379"); /* no trailing / */
        assert_string_equal(c->arbiter->key, "/vacataire/web");
        assert_int_equal(c->arbiter->ttl, 5 * USEC_PER_SEC);
        assert_string_equal(c->arbiter->password_file, "/pw");
        assert_int_equal(config_arbiter_copy(c->arbiter, &copy), 0);
        assert_true(config_arbiter_equal(c->arbiter, copy));
        copy->ttl++;
        assert_false(config_arbiter_equal(c->arbiter, copy));
        assert_false(config_arbiter_equal(c->arbiter, NULL));
        config_unref(c);

        c = load_ok(write_fixture("none.conf", MINIMAL));
        assert_null(c->arbiter);
        config_unref(c);

        EXPECT(MINIMAL "arbiter = {\n  key = \"/k\"; };\n", "4: arbiter.etcd: missing");
        EXPECT(MINIMAL "arbiter = { etcd = [ \"http://e:2379\" ];\n  ttl = 2.5;\n  key = \"k\";\n"
                       "  bogus = 1; };\n",
               "7: arbiter.bogus: unknown key",
               "5: arbiter.ttl: must be a whole number of seconds (etcd leases)");
        EXPECT(MINIMAL "arbiter = {\n  etcd = [ \"e:2379\" ]; key = \"k\"; ttl = 1; };\n",
               "5: arbiter.etcd[0]: must be an http:// or https:// URL",
               "5: arbiter.ttl: must be a number of seconds between 2 and 3600");
        EXPECT(MINIMAL "arbiter = { etcd = [ \"http://e\" ]; key = \"k\";\n"
                       "  username = \"u\"; cert_file = \"/c\"; };\n",
               "5: arbiter.cert_file: cert_file and key_file go together (TLS client certificate)",
               "5: arbiter.username: username and password_file go together");
        EXPECT(MINIMAL "arbiter = { etcd = [ ];\n key = \"k\"; };\n",
               "4: arbiter.etcd: must be a list of 1 to 16 etcd URLs");
}

static void test_string_tables(void **state)
{
        assert_string_equal(home_role_to_string(HOME_ROLE_STANDBY), "standby");
        assert_int_equal(home_role_from_string("master"), HOME_ROLE_MASTER);
        assert_int_equal((int)home_role_from_string("primary"), -EINVAL);
        assert_null(home_role_to_string(_HOME_ROLE_MAX));
        assert_string_equal(peer_loss_policy_to_string(PEER_LOSS_STAY), "stay");
        assert_int_equal(peer_loss_policy_from_string("takeover"), PEER_LOSS_TAKEOVER);
        assert_string_equal(handover_mode_to_string(HANDOVER_MAKE_BEFORE_BREAK),
                            "make-before-break");
        assert_int_equal(handover_mode_from_string("break-before-make"),
                         HANDOVER_BREAK_BEFORE_MAKE);
        assert_string_equal(check_scope_to_string(CHECK_SCOPE_ALWAYS), "always");
        assert_int_equal(check_scope_from_string("active"), CHECK_SCOPE_ACTIVE);
        assert_string_equal(systemd_bus_to_string(SYSTEMD_BUS_USER), "user");
        assert_int_equal(systemd_bus_from_string("system"), SYSTEMD_BUS_SYSTEM);
        assert_int_equal((int)systemd_bus_from_string(NULL), -EINVAL);
}

/* A relative key_file is found beside the configuration, whatever the working directory (systemd
 * starts the agent in /), like @include and plugin paths. */
static void test_relative_key_file(void **state)
{
        char expected[256];
        const char *path = write_fixture(
            "rel.conf",
            "node = { name = \"a\"; role = \"master\"; listen = \"127.0.0.1:7411\"; };\n"
            "peer = { name = \"b\"; address = \"127.0.0.1:7412\"; };\n"
            "auth = { key_file = \"keys/peer.key\"; };\n");
        char saved[PATH_MAX];
        Config *c;

        assert_non_null(getcwd(saved, sizeof(saved)));
        assert_int_equal(chdir("/"), 0);
        c = load_ok(path);
        snprintf(expected, sizeof(expected), "%s/keys/peer.key", dir);
        assert_string_equal(c->key_file, expected);
        config_unref(c);
        assert_int_equal(chdir(saved), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_reference_config),
            cmocka_unit_test(test_defaults),
            cmocka_unit_test(test_params),
            cmocka_unit_test(test_list_params),
            cmocka_unit_test(test_plugin_paths),
            cmocka_unit_test(test_unknown_keys),
            cmocka_unit_test(test_wrong_types),
            cmocka_unit_test(test_out_of_range),
            cmocka_unit_test(test_missing),
            cmocka_unit_test(test_bad_values),
            cmocka_unit_test(test_conflicts),
            cmocka_unit_test(test_syntax_error),
            cmocka_unit_test(test_many_errors),
            cmocka_unit_test(test_include),
            cmocka_unit_test(test_include_errors),
            cmocka_unit_test(test_unreadable),
            cmocka_unit_test(test_string_tables),
            cmocka_unit_test(test_relative_key_file),
            cmocka_unit_test(test_lb),
            cmocka_unit_test(test_arbiter),
        };

        /* A group of its own, so that additions to either list do not collide. */
        const struct CMUnitTest host_tests[] = {
            cmocka_unit_test(test_command_too_long),
            cmocka_unit_test(test_memory_limit),
        };
        const struct CMUnitTest peer_tests[] = {
            cmocka_unit_test(test_peer_address),
        };
        int r = cmocka_run_group_tests(tests, setup, teardown);

        r = cmocka_run_group_tests(host_tests, setup, teardown) || r;
        return cmocka_run_group_tests(peer_tests, setup, teardown) || r;
}
