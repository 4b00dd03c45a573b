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
        if (!address_equal(&o->peer_address, &n->peer_address) ||
            !streq_ptr(o->peer_host, n->peer_host) || o->peer_port != n->peer_port)
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
        if (!config_arbiter_equal(o->arbiter, n->arbiter))
                return "arbiter";
        return NULL;
}

static Check *take_matching_check(Manager *m, const ConfigCheck *cfg)
{
        for (size_t i = 0; i < m->n_checks; i++)
                if (m->checks[i] && check_config_equal(check_get_config(m->checks[i]), cfg))
                        return TAKE_PTR(m->checks[i]);
        return NULL;
}

static void reload_drop(Manager *m, bool ok, const char *message)
{
        m->reload_loader = check_loader_free(m->reload_loader);
        m->reload_config = config_unref(m->reload_config);
        if (m->reload_request) {
                control_request_reply(m->reload_request, ok, message);
                m->reload_request = NULL;
        }
}

/* Ends the reload in flight: the request learns the outcome, systemd that we are done. */
static void reload_end(Manager *m, bool ok, const char *message)
{
        reload_drop(m, ok, message);
        sd_notify(false, "READY=1");
}

static void reload_refuse(Manager *m, const char *fmt, const char *arg)
{
        _cleanup_free_ char *msg = strdup_printf(fmt, arg);

        log_error("Reload refused, the running configuration stays: %s", msg ? msg : fmt);
        reload_end(m, false, msg ? msg : "reload refused");
}

void manager_reload_cancel(Manager *m, const char *why)
{
        /* At exit: no READY=1 after STOPPING=1. */
        if (m->reload_config)
                reload_drop(m, false, why);
}

/* Every new or changed check has loaded: swap them in with the rest of the configuration. */
static void reload_apply(Manager *m)
{
        _cleanup_free_ Check **checks = NULL;
        _cleanup_(service_set_freep) ServiceSet *services = NULL;
        Config *n = m->reload_config;
        _cleanup_(lb_client_freep) LbClient *lb = NULL;
        bool services_changed = !services_equal(m->config, n);
        bool lb_changed = !lb_config_equal(m->config, n);
        size_t kept = 0;
        int r;

        /* The role may have started or stopped the services while the checks were loading. */
        if (services_changed && service_set_busy(m->services))
                return reload_refuse(m, "%s",
                                     "services are being started or stopped: reload when done");
        if (lb_changed && lb_client_new(m->event, n, &lb) < 0)
                return reload_refuse(m, "%s", "cannot set up the lb client");
        if (services_changed) {
                r = service_set_new(m->event, n, &services);
                if (r < 0)
                        return reload_refuse(m, "%s", "cannot set up the new services");
        }
        checks = calloc(n->n_checks ? n->n_checks : 1, sizeof(Check *));
        if (!checks)
                return reload_refuse(m, "%s", "out of memory");

        /* Unchanged checks keep their process, counters and verdict; changed ones start over. */
        for (size_t i = 0; i < n->n_checks; i++) {
                checks[i] = check_loader_take(m->reload_loader, i);
                if (checks[i])
                        continue;
                checks[i] = take_matching_check(m, &n->checks[i]);
                check_set_config(checks[i], n, &n->checks[i]);
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

        if (lb_changed) {
                lb_client_free(m->lb);
                m->lb = TAKE_PTR(lb);
        }
        peer_set_config(m->peer, n);
        health_server_update(m->health, n);
        if (!streq_ptr(m->config->control_group, n->control_group) ||
            m->config->control_gid != n->control_gid)
                (void)control_server_set_group(m->control,
                                               n->control_group ? n->control_gid : (gid_t)-1);
        log_notice("Configuration reloaded from %s: %zu checks (%zu unchanged), %zu services",
                   n->path, n->n_checks, kept, n->n_services);
        config_unref(m->config);
        m->config = config_ref(n);
        manager_sync(m);
        if (lb_changed)
                manager_update_lb(m);
        reload_end(m, true, "configuration reloaded\n");
}

static void on_reload_checks_loaded(CheckLoader *l, int error, void *userdata)
{
        Manager *m = userdata;

        if (error < 0) {
                const char *why = check_loader_first_error(l);
                return reload_refuse(m, "%s", why ? why : "a new check could not be started");
        }
        reload_apply(m);
}

void manager_reload(Manager *m, ControlRequest *req)
{
        _cleanup_free_ bool *wanted = NULL;
        ConfigErrors errors = {};
        Config *n = NULL;
        const char *key;
        int r;

        if (m->reload_config) {
                log_warning("Reload asked while one is in progress: ignored");
                if (req)
                        control_request_reply(req, false, "a reload is already in progress");
                return;
        }
        sd_notifyf(false, "RELOADING=1\nMONOTONIC_USEC=%llu",
                   (unsigned long long)now_usec(CLOCK_MONOTONIC));
        m->reload_request = req;

        r = config_load(m->config->path, VACATAIRE_PLUGIN_DIR, &n, &errors);
        m->reload_config = n;
        if (r < 0) {
                for (size_t i = 0; i < errors.n; i++)
                        log_error("%s", errors.lines[i]);
                /* reload_end() needs a configuration to drop: there is none to keep. */
                reload_refuse(m, "%s",
                              errors.n > 0 ? errors.lines[0] : "cannot read the configuration");
                config_errors_done(&errors);
                return;
        }
        config_errors_done(&errors);

        key = immutable_change(m->config, n);
        if (key)
                return reload_refuse(m, "%s changed: restart the agent to apply it", key);
        if (!services_equal(m->config, n) && service_set_busy(m->services))
                return reload_refuse(m, "%s",
                                     "services are being started or stopped: reload when done");

        /* New and changed checks load in their own checker processes while the loop goes on:
         * heartbeats, status and the running checks do not wait for a slow plugin. */
        wanted = calloc(n->n_checks ? n->n_checks : 1, sizeof(bool));
        if (!wanted)
                return reload_refuse(m, "%s", "out of memory");
        for (size_t i = 0; i < n->n_checks; i++) {
                const ConfigCheck *old = config_find_check(m->config, n->checks[i].name);
                wanted[i] = !old || !check_config_equal(old, &n->checks[i]);
        }
        if (n->n_checks > 0 && !m->checker_path)
                return reload_refuse(m, "%s", "cannot find the vacataire-checker helper");
        r = check_loader_new(m->event, n, wanted, m->checker_path, MANAGER_RELOAD_TIMEOUT,
                             manager_check_verdict, m, on_reload_checks_loaded, m,
                             &m->reload_loader);
        if (r < 0)
                return reload_refuse(m, "%s", "cannot start a new check");
}
