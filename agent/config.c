/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sys/stat.h>

#include "config-internal.h"
#include "resolve.h"
#include "secure-path.h"

const char *const home_role_table[_HOME_ROLE_MAX] = {
    [HOME_ROLE_MASTER] = "master",
    [HOME_ROLE_STANDBY] = "standby",
};
DEFINE_STRING_TABLE_LOOKUP(home_role, HomeRole)

const char *const peer_loss_policy_table[_PEER_LOSS_MAX] = {
    [PEER_LOSS_TAKEOVER] = "takeover",
    [PEER_LOSS_STAY] = "stay",
};
DEFINE_STRING_TABLE_LOOKUP(peer_loss_policy, PeerLossPolicy)

const char *const handover_mode_table[_HANDOVER_MAX] = {
    [HANDOVER_BREAK_BEFORE_MAKE] = "break-before-make",
    [HANDOVER_MAKE_BEFORE_BREAK] = "make-before-break",
};
DEFINE_STRING_TABLE_LOOKUP(handover_mode, HandoverMode)

const char *const check_scope_table[_CHECK_SCOPE_MAX] = {
    [CHECK_SCOPE_ACTIVE] = "active",
    [CHECK_SCOPE_ALWAYS] = "always",
};
DEFINE_STRING_TABLE_LOOKUP(check_scope, CheckScope)

const char *const systemd_bus_table[_SYSTEMD_BUS_MAX] = {
    [SYSTEMD_BUS_SYSTEM] = "system",
    [SYSTEMD_BUS_USER] = "user",
};
DEFINE_STRING_TABLE_LOOKUP(systemd_bus, SystemdBus)

void config_errors_done(ConfigErrors *e)
{
        if (!e)
                return;
        for (size_t i = 0; i < e->n; i++)
                free(e->lines[i]);
        free(e->lines);
        *e = (ConfigErrors){};
}

static void check_done(ConfigCheck *check)
{
        free(check->name);
        free(check->plugin);
        free(check->plugin_path);
        for (size_t i = 0; i < check->n_params; i++) {
                ConfigParam *param = &check->params[i];
                for (size_t j = 0; j < param->n_list; j++)
                        free(param->list[j].string);
                free(param->list);
                free(param->name);
                free(param->string);
        }
        free(check->params);
}

static void service_done(ConfigService *service)
{
        free(service->name);
        free(service->unit);
        free(service->start);
        free(service->stop);
        free(service->status);
}

Config *config_ref(Config *c)
{
        if (c && c->n_ref > 0)
                c->n_ref++;
        return c;
}

Config *config_unref(Config *c)
{
        if (!c || c->n_ref == 0 || --c->n_ref > 0)
                return NULL;
        free(c->path);
        free(c->node_name);
        free(c->listen);
        free(c->peer_name);
        free(c->peer_address_string);
        free(c->peer_host);
        free(c->peer_address_where);
        free(c->key_file);
        free(c->agent_listen);
        free(c->http_listen);
        free(c->plugin_dir);
        free(c->state_dir);
        free(c->control_socket);
        for (size_t i = 0; i < c->n_checks; i++)
                check_done(&c->checks[i]);
        free(c->checks);
        for (size_t i = 0; i < c->n_services; i++)
                service_done(&c->services[i]);
        free(c->services);
        free(c->notify);
        free(c->lb_haproxy);
        free(c->lb_backend);
        free(c->lb_server);
        config_arbiter_free(c->arbiter);
        free(c->webhook_url);
        free(c->control_group);
        free(c);
        return NULL;
}

const ConfigCheck *config_find_check(const Config *c, const char *name)
{
        if (!c || !name)
                return NULL;
        for (size_t i = 0; i < c->n_checks; i++)
                if (streq(c->checks[i].name, name))
                        return &c->checks[i];
        return NULL;
}

static int config_new(const char *path, const char *plugin_dir_default, Config **ret)
{
        _cleanup_(config_unrefp) Config *c = calloc(1, sizeof(Config));

        if (!c)
                return -ENOMEM;
        c->n_ref = 1;
        c->path = strdup(path);
        c->plugin_dir = strdup(plugin_dir_default);
        c->state_dir = strdup("/var/lib/vacataire");
        c->control_socket = strdup("/run/vacataire/control.sock");
        if (!c->path || !c->plugin_dir || !c->state_dir || !c->control_socket)
                return -ENOMEM;
        c->role = HOME_ROLE_MASTER;
        c->heartbeat = usec_from_seconds(0.2);
        c->dead_time = usec_from_seconds(1.0);
        c->init_dead = usec_from_seconds(5.0);
        c->on_peer_loss = PEER_LOSS_TAKEOVER;
        c->handover = HANDOVER_BREAK_BEFORE_MAKE;
        c->drain_time = usec_from_seconds(0.5);
        c->systemd_bus = SYSTEMD_BUS_SYSTEM;
        *ret = TAKE_PTR(c);
        return 0;
}

static void parse_node_and_peer(ConfigParser *p, Config *c)
{
        const config_setting_t *node = NULL, *peer = NULL, *auth = NULL;
        int role = HOME_ROLE_MASTER;

        if (conf_read_group(p, p->root, "node", true, &node) > 0) {
                conf_check_known(p, node, (const char *const[]){"name", "role", "listen", NULL});
                (void)conf_read_name(p, node, "name", true, &c->node_name);
                if (!config_setting_get_member(node, "role"))
                        conf_error_key(p, node, "role", "missing");
                if (conf_read_enum(p, node, "role", home_role_table, _HOME_ROLE_MAX, &role) > 0)
                        c->role = (HomeRole)role;
                (void)conf_read_address(p, node, "listen", true, &c->listen, &c->listen_address);
        }

        if (conf_read_group(p, p->root, "peer", true, &peer) > 0) {
                conf_check_known(p, peer, (const char *const[]){"name", "address", NULL});
                if (conf_read_name(p, peer, "name", true, &c->peer_name) > 0 && c->node_name &&
                    streq(c->peer_name, c->node_name))
                        conf_error_key(p, peer, "name", "must differ from node.name");
                (void)conf_read_peer_address(p, peer, "address", true, c);
        }

        if (conf_read_group(p, p->root, "auth", true, &auth) > 0) {
                conf_check_known(p, auth, (const char *const[]){"key_file", NULL});
                if (conf_read_string(p, auth, "key_file", true, &c->key_file) > 0 &&
                    c->key_file[0] != '/') {
                        /* Like @include and plugin paths: relative to the configuration file,
                         * not to the working directory (systemd starts the agent in /). */
                        char *abs = strdup_printf(
                            "%s/%s", streq(p->absolute_dir, "/") ? "" : p->absolute_dir,
                            c->key_file);
                        if (!abs)
                                p->oom = true;
                        else {
                                free(c->key_file);
                                c->key_file = abs;
                        }
                }
        }
}

static void parse_timers_and_failover(ConfigParser *p, Config *c)
{
        const config_setting_t *timers = NULL, *failover = NULL;
        double heartbeat = 0.2, dead_time = 1.0, init_dead = 5.0, drain_time = 0.5;
        int value;

        if (conf_read_group(p, p->root, "timers", false, &timers) > 0) {
                conf_check_known(
                    p, timers, (const char *const[]){"heartbeat", "dead_time", "init_dead", NULL});
                bool ok =
                    conf_read_seconds(p, timers, "heartbeat", 0, false, 3600, &heartbeat) >= 0;
                ok = conf_read_seconds(p, timers, "dead_time", 0, false, 3600, &dead_time) >= 0 &&
                     ok;
                (void)conf_read_seconds(p, timers, "init_dead", 0, false, 3600, &init_dead);
                /* A dead time within one heartbeat would declare a healthy peer lost. */
                if (ok && dead_time <= heartbeat)
                        conf_error_key(p, timers, "dead_time",
                                       "must be greater than timers.heartbeat (%g)", heartbeat);
                c->heartbeat = usec_from_seconds(heartbeat);
                c->dead_time = usec_from_seconds(dead_time);
                c->init_dead = usec_from_seconds(init_dead);
        }

        if (conf_read_group(p, p->root, "failover", false, &failover) > 0) {
                conf_check_known(
                    p, failover,
                    (const char *const[]){"on_peer_loss", "handover", "drain_time", NULL});
                if (conf_read_enum(p, failover, "on_peer_loss", peer_loss_policy_table,
                                   _PEER_LOSS_MAX, &value) > 0)
                        c->on_peer_loss = (PeerLossPolicy)value;
                if (conf_read_enum(p, failover, "handover", handover_mode_table, _HANDOVER_MAX,
                                   &value) > 0)
                        c->handover = (HandoverMode)value;
                if (conf_read_seconds(p, failover, "drain_time", 0, true, 3600, &drain_time) > 0)
                        c->drain_time = usec_from_seconds(drain_time);
        }
}

static void parse_lb(ConfigParser *p, Config *c)
{
        const config_setting_t *lb = NULL;

        if (conf_read_group(p, p->root, "lb", false, &lb) <= 0)
                return;
        conf_check_known(p, lb, (const char *const[]){"haproxy", "backend", "server", NULL});
        (void)conf_read_address(p, lb, "haproxy", true, &c->lb_haproxy, &c->lb_address);
        /* Names only: they go into a command line of haproxy's runtime API. */
        (void)conf_read_name(p, lb, "backend", true, &c->lb_backend);
        (void)conf_read_name(p, lb, "server", false, &c->lb_server);
}

static void parse_webhook(ConfigParser *p, Config *c)
{
        const config_setting_t *webhook = NULL;
        double timeout = 5.0;

        c->webhook_timeout = usec_from_seconds(timeout);
        if (conf_read_group(p, p->root, "webhook", false, &webhook) <= 0)
                return;
        conf_check_known(p, webhook, (const char *const[]){"url", "timeout", NULL});
        if (conf_read_string(p, webhook, "url", true, &c->webhook_url) > 0 &&
            strncmp(c->webhook_url, "http://", 7) != 0 &&
            strncmp(c->webhook_url, "https://", 8) != 0)
                conf_error_key(p, webhook, "url", "must start with http:// or https://");
        if (conf_read_seconds(p, webhook, "timeout", 0, false, 300, &timeout) > 0)
                c->webhook_timeout = usec_from_seconds(timeout);
}

static void parse_control_group(ConfigParser *p, Config *c)
{
        const config_setting_t *group;

        if (conf_read_string(p, p->root, "control_group", false, &c->control_group) > 0) {
                /* Resolved once here: a group that vanishes later keeps its gid until a reload. */
                struct group gr, *result = NULL;
                char buf[4096];
                int r = getgrnam_r(c->control_group, &gr, buf, sizeof(buf), &result);
                group = config_setting_get_member(p->root, "control_group");
                if (r != 0 || !result)
                        conf_error_at(p, group, "no such group \"%s\"", c->control_group);
                else
                        c->control_gid = result->gr_gid;
        }
}

static void parse_top_level(ConfigParser *p, Config *c)
{
        const config_setting_t *health = NULL;
        int value;

        conf_check_known(p, p->root,
                         (const char *const[]){
                             "node", "peer", "auth", "timers", "failover", "health", "plugin_dir",
                             "state_dir", "control_socket", "systemd_bus", "checks", "services",
                             "notify", "lb", "arbiter", "control_group", "webhook", NULL});
        parse_node_and_peer(p, c);
        parse_timers_and_failover(p, c);

        if (conf_read_group(p, p->root, "health", false, &health) > 0) {
                conf_check_known(p, health,
                                 (const char *const[]){"agent_listen", "http_listen", NULL});
                (void)conf_read_address(p, health, "agent_listen", false, &c->agent_listen,
                                        &c->agent_listen_address);
                (void)conf_read_address(p, health, "http_listen", false, &c->http_listen,
                                        &c->http_listen_address);
        }

        (void)conf_read_string(p, p->root, "plugin_dir", false, &c->plugin_dir);
        (void)conf_read_string(p, p->root, "state_dir", false, &c->state_dir);
        (void)conf_read_string(p, p->root, "control_socket", false, &c->control_socket);
        if (conf_read_enum(p, p->root, "systemd_bus", systemd_bus_table, _SYSTEMD_BUS_MAX, &value) >
            0)
                c->systemd_bus = (SystemdBus)value;
        (void)conf_read_command(p, p->root, "notify", false, &c->notify);
        parse_lb(p, c);
        parse_control_group(p, c);
        parse_webhook(p, c);

        /* After plugin_dir: check plugin paths are resolved against it. */
        (void)conf_parse_checks(p, c);
        (void)conf_parse_services(p, c);
        (void)conf_parse_arbiter(p, c);
}

static int parser_init(ConfigParser *p, const char *path, ConfigErrors *errors)
{
        const char *slash = strrchr(path, '/');
        char cwd[PATH_MAX];

        *p = (ConfigParser){.path = path, .errors = errors};
        if (!slash)
                p->include_dir = strdup(".");
        else if (slash == path)
                p->include_dir = strdup("/");
        else
                p->include_dir = strndup(path, (size_t)(slash - path));
        if (!p->include_dir)
                return -ENOMEM;

        if (p->include_dir[0] == '/')
                p->absolute_dir = strdup(p->include_dir);
        else if (!getcwd(cwd, sizeof(cwd)))
                return -errno;
        else if (streq(p->include_dir, "."))
                p->absolute_dir = strdup(cwd);
        else
                p->absolute_dir =
                    strdup_printf("%s/%s", streq(cwd, "/") ? "" : cwd, p->include_dir);
        return p->absolute_dir ? 0 : -ENOMEM;
}

static void parser_done(ConfigParser *p)
{
        free(p->include_dir);
        free(p->absolute_dir);
}

/* Opens the top file without blocking on a fifo and refuses what is not a regular file: libconfig
 * would hang on the first and exit the process on a directory. */
static int open_config_file(ConfigParser *p, FILE **ret)
{
        _cleanup_close_ int fd = -1;
        struct stat st;
        FILE *f;
        int r;

        fd = open(p->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                r = -errno;
                conf_add_error(p, p->path, 0, "%s", strerror(-r));
                return r;
        }
        if (fstat(fd, &st) < 0) {
                r = -errno;
                conf_add_error(p, p->path, 0, "%s", strerror(-r));
                return r;
        }
        if (!S_ISREG(st.st_mode)) {
                r = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
                conf_add_error(p, p->path, 0, "%s",
                               r == -EISDIR ? strerror(EISDIR) : "not a regular file");
                return r;
        }
        /* It says what runs as root: nobody but root may have written it. */
        {
                _cleanup_free_ char *error = NULL;
                r = secure_file_check(&st, p->path, "configuration file", &error);
                if (r == 0) {
                        free(error);
                        error = NULL;
                        r = secure_parents_check(p->path, &error);
                }
                if (r < 0) {
                        conf_add_error(p, p->path, 0, "%s", error ? error : strerror(-r));
                        return r;
                }
        }
        r = fd_set_nonblock(fd, false);
        if (r < 0) {
                conf_add_error(p, p->path, 0, "%s", strerror(-r));
                return r;
        }
        f = fdopen(fd, "r");
        if (!f) {
                r = -errno;
                conf_add_error(p, p->path, 0, "%s", strerror(-r));
                return r;
        }
        TAKE_FD(fd);
        *ret = f;
        return 0;
}

static int read_libconfig(ConfigParser *p, config_t *lc)
{
        _cleanup_fclose_ FILE *f = NULL;
        char file[PATH_MAX + 64];
        int r;

        r = open_config_file(p, &f);
        if (r < 0)
                return r;
        r = conf_check_includes(p);
        if (r < 0)
                return r;

        config_set_include_dir(lc, p->include_dir);
        /* The stream, not the path: a top file known to libconfig as NULL tells it apart from an
         * included file that happens to have the same name. */
        if (!config_read(lc, f)) {
                if (config_error_type(lc) == CONFIG_ERR_FILE_IO) {
                        conf_add_error(p, p->path, 0, "%s", config_error_text(lc));
                        return -EIO;
                }
                conf_add_error(p, conf_display_file(p, config_error_file(lc), file, sizeof(file)),
                               config_error_line(lc) > 0 ? config_error_line(lc) : 1, "%s",
                               config_error_text(lc));
                return -EINVAL;
        }
        return 0;
}

int config_load(const char *path, const char *plugin_dir_default, Config **ret,
                ConfigErrors *errors)
{
        _cleanup_(config_unrefp) Config *c = NULL;
        ConfigParser p;
        config_t lc;
        int r;

        if (!path || !plugin_dir_default || !ret)
                return -EINVAL;

        r = parser_init(&p, path, errors);
        if (r < 0) {
                parser_done(&p);
                return r;
        }
        config_init(&lc);

        r = read_libconfig(&p, &lc);
        if (r < 0)
                goto finish;

        r = config_new(path, plugin_dir_default, &c);
        if (r < 0)
                goto finish;
        p.root = config_root_setting(&lc);
        parse_top_level(&p, c);
        r = p.n_errors > 0 ? -EINVAL : 0;

finish:
        if (p.oom)
                r = -ENOMEM;
        config_destroy(&lc);
        parser_done(&p);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

int config_check_peer_host(const Config *c, char **ret_error)
{
        SocketAddress addresses[RESOLVE_ADDRESSES_MAX];
        size_t n;
        int r;

        *ret_error = NULL;
        if (c->peer_address.len > 0)
                return 0;
        r = resolve_blocking(c->peer_host, c->peer_port, addresses, ELEMENTSOF(addresses), &n);
        if (r == 0)
                return 0;
        if (resolve_error_is_not_found(r)) {
                *ret_error =
                    strdup_printf("%s: host \"%s\" not found", c->peer_address_where, c->peer_host);
                return -ENOENT;
        }
        *ret_error = strdup_printf("%s: cannot resolve \"%s\" now (%s); will retry at each connect",
                                   c->peer_address_where, c->peer_host, resolve_error_string(r));
        return -EAGAIN;
}
