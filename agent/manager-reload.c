/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* SIGHUP and `vacataire-ctl reload`: a new configuration is applied only if all of it is valid. */
#include <systemd/sd-daemon.h>

#include "log.h"
#include "manager.h"

static bool check_config_equal(const ConfigCheck *a, const ConfigCheck *b)
{
        return streq(a->name, b->name) && streq(a->plugin_path, b->plugin_path) &&
               streq(a->plugin, b->plugin) && a->interval == b->interval &&
               a->timeout == b->timeout && a->fall == b->fall && a->rise == b->rise &&
               a->scope == b->scope && config_params_equal(a, b);
}

static bool services_equal(const Config *a, const Config *b)
{
        if (a->n_services != b->n_services)
                return false;
        for (size_t i = 0; i < a->n_services; i++) {
                const ConfigService *x = &a->services[i], *y = &b->services[i];
                if (!streq_ptr(x->name, y->name) || !streq_ptr(x->unit, y->unit) ||
                    !streq_ptr(x->start, y->start) || !streq_ptr(x->stop, y->stop) ||
                    !streq_ptr(x->status, y->status) || x->timeout != y->timeout ||
                    x->start_retries != y->start_retries)
                        return false;
        }
        return true;
}

static bool address_equal(const SocketAddress *a, const SocketAddress *b)
{
        return a->len == b->len && memcmp(&a->sa, &b->sa, a->len) == 0;
}

/* What a running agent cannot change under itself: identity, sockets and where state lives. */
static const char *immutable_change(const Config *o, const Config *n)
{
        if (!streq(o->node_name, n->node_name))
                return "node.name";
        if (o->role != n->role)
                return "node.role";
        if (!address_equal(&o->listen_address, &n->listen_address))
                return "node.listen";
        if (!streq(o->peer_name, n->peer_name))
                return "peer.name";
        if (!address_equal(&o->peer_address, &n->peer_address))
                return "peer.address";
        if (!streq(o->key_file, n->key_file))
                return "auth.key_file";
        if (!streq(o->state_dir, n->state_dir))
                return "state_dir";
        if (!streq(o->control_socket, n->control_socket))
                return "control_socket";
        if (o->systemd_bus != n->systemd_bus)
                return "systemd_bus";
        if (!streq_ptr(o->agent_listen, n->agent_listen))
                return "health.agent_listen";
        if (!streq_ptr(o->http_listen, n->http_listen))
                return "health.http_listen";
        return NULL;
}

static Check *take_matching_check(Manager *m, const ConfigCheck *cfg)
{
        for (size_t i = 0; i < m->n_checks; i++)
                if (m->checks[i] && check_config_equal(check_get_config(m->checks[i]), cfg))
                        return TAKE_PTR(m->checks[i]);
        return NULL;
}

static int reload_refuse(char **ret_message, const char *fmt, const char *arg)
{
        _cleanup_free_ char *msg = strdup_printf(fmt, arg);

        log_error("Reload refused, the running configuration stays: %s", msg ? msg : fmt);
        if (ret_message)
                *ret_message = TAKE_PTR(msg);
        return -EINVAL;
}

static int manager_reload_apply(Manager *m, Config *n, char **ret_message)
{
        _cleanup_free_ Check **checks = NULL;
        _cleanup_(service_set_freep) ServiceSet *services = NULL;
        bool services_changed = !services_equal(m->config, n);
        size_t kept = 0;
        const char *key;
        int r;

        key = immutable_change(m->config, n);
        if (key)
                return reload_refuse(ret_message, "%s changed: restart the agent to apply it", key);
        if (services_changed && service_set_busy(m->services))
                return reload_refuse(ret_message, "%s",
                                     "services are being started or stopped: reload when done");

        for (size_t i = 0; i < n->n_checks; i++) {
                _cleanup_free_ char *msg = NULL;
                if (config_find_check(m->config, n->checks[i].name) &&
                    check_config_equal(config_find_check(m->config, n->checks[i].name),
                                       &n->checks[i]))
                        continue;
                r = check_validate(&n->checks[i], m->checker_path, &msg);
                if (r < 0)
                        return reload_refuse(ret_message, "%s", msg ? msg : "invalid check");
        }

        if (services_changed) {
                r = service_set_new(m->event, n, &services);
                if (r < 0)
                        return reload_refuse(ret_message, "%s", "cannot set up the new services");
        }

        /* Unchanged checks keep their process, counters and verdict; changed ones start over.
         * New ones are made first, so a failure leaves the running set untouched. */
        checks = calloc(n->n_checks ? n->n_checks : 1, sizeof(Check *));
        if (!checks)
                return -ENOMEM;
        for (size_t i = 0; i < n->n_checks; i++) {
                const ConfigCheck *old = config_find_check(m->config, n->checks[i].name);
                if (old && check_config_equal(old, &n->checks[i]))
                        continue;
                r = check_new(m->event, &n->checks[i], m->checker_path, manager_check_verdict, m,
                              &checks[i]);
                if (r < 0) {
                        for (size_t j = 0; j < i; j++)
                                check_free(checks[j]);
                        return reload_refuse(ret_message, "%s", "cannot start a new check");
                }
        }
        for (size_t i = 0; i < n->n_checks; i++) {
                if (checks[i])
                        continue;
                checks[i] = take_matching_check(m, &n->checks[i]);
                check_set_config(checks[i], &n->checks[i]);
                kept++;
        }
        for (size_t i = 0; i < m->n_checks; i++)
                check_free(m->checks[i]);
        free(m->checks);
        m->checks = TAKE_PTR(checks);
        m->n_checks = n->n_checks;

        if (services_changed) {
                service_set_free(m->services);
                m->services = TAKE_PTR(services);
                log_notice("Services changed: they apply from the next start or stop");
        }

        peer_set_config(m->peer, n);
        health_server_update(m->health, n);
        log_notice("Configuration reloaded from %s: %zu checks (%zu unchanged), %zu services",
                   n->path, n->n_checks, kept, n->n_services);
        config_free(m->config);
        m->config = n;
        return 0;
}

int manager_reload(Manager *m, char **ret_message)
{
        _cleanup_(config_freep) Config *n = NULL;
        ConfigErrors errors = {};
        int r;

        sd_notifyf(false, "RELOADING=1\nMONOTONIC_USEC=%llu",
                   (unsigned long long)now_usec(CLOCK_MONOTONIC));
        r = config_load(m->config->path, VACATAIRE_PLUGIN_DIR, &n, &errors);
        if (r < 0) {
                for (size_t i = 0; i < errors.n; i++)
                        log_error("%s", errors.lines[i]);
                r = reload_refuse(ret_message, "%s",
                                  errors.n > 0 ? errors.lines[0] : "cannot read the configuration");
        } else {
                r = manager_reload_apply(m, n, ret_message);
                if (r >= 0)
                        TAKE_PTR(n);
        }
        config_errors_done(&errors);

        manager_sync(m);
        sd_notify(false, "READY=1");
        return r;
}
