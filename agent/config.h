/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

#include "util.h"

/* A check's memory_limit: 256 MiB by default, at least 1 MiB (0 turns it off). */
#define CONFIG_MEMORY_LIMIT_DEFAULT (UINT64_C(256) << 20)
#define CONFIG_MEMORY_LIMIT_MIN     (UINT64_C(1) << 20)

typedef enum HomeRole { HOME_ROLE_MASTER, HOME_ROLE_STANDBY, _HOME_ROLE_MAX } HomeRole;
typedef enum PeerLossPolicy { PEER_LOSS_TAKEOVER, PEER_LOSS_STAY, _PEER_LOSS_MAX } PeerLossPolicy;
typedef enum HandoverMode {
        HANDOVER_BREAK_BEFORE_MAKE,
        HANDOVER_MAKE_BEFORE_BREAK,
        _HANDOVER_MAX
} HandoverMode;
typedef enum CheckScope { CHECK_SCOPE_ACTIVE, CHECK_SCOPE_ALWAYS, _CHECK_SCOPE_MAX } CheckScope;
typedef enum SystemdBus { SYSTEMD_BUS_SYSTEM, SYSTEMD_BUS_USER, _SYSTEMD_BUS_MAX } SystemdBus;

const char *home_role_to_string(HomeRole r);
HomeRole home_role_from_string(const char *s);
const char *peer_loss_policy_to_string(PeerLossPolicy p);
PeerLossPolicy peer_loss_policy_from_string(const char *s);
const char *handover_mode_to_string(HandoverMode m);
HandoverMode handover_mode_from_string(const char *s);
const char *check_scope_to_string(CheckScope s);
CheckScope check_scope_from_string(const char *s);
const char *systemd_bus_to_string(SystemdBus b);
SystemdBus systemd_bus_from_string(const char *s);

/* One entry of a check's params group; type is enum vacataire_param_type. The elements of a
 * VACATAIRE_PARAM_LIST are scalars without a name. */
typedef struct ConfigParam {
        char *name;
        unsigned type;
        bool boolean;
        int64_t integer; /* a list: n_list */
        double number;
        char *string;
        struct ConfigParam *list;
        size_t n_list;
} ConfigParam;

typedef struct ConfigCheck {
        char *name;
        char *plugin;      /* as written */
        char *plugin_path; /* resolved: <plugin_dir>/<plugin>.so, or plugin if it has a slash */
        usec_t interval;
        usec_t timeout;
        unsigned fall;
        unsigned rise;
        CheckScope scope;
        uint64_t memory_limit; /* address space the plugin may add to its checker; 0: none */
        ConfigParam *params;
        size_t n_params;
        int line; /* of the check's group, for messages */
} ConfigCheck;

typedef struct ConfigService {
        char *name;                  /* defaults to unit */
        char *unit;                  /* systemd back end, or NULL */
        char *start, *stop, *status; /* command back end */
        usec_t timeout;
        unsigned start_retries; /* extra attempts after a failed start */
        unsigned restarts;      /* restarts in place allowed per restart_window, before handover */
        usec_t restart_window;
        int line;
} ConfigService;

/* The etcd arbiter (arbiter = { ... }): serving requires holding key, bound to a lease of ttl. */
typedef struct ConfigArbiter {
        char **etcd; /* endpoint URLs, http:// or https:// */
        size_t n_etcd;
        char *key;
        usec_t ttl; /* whole seconds: etcd leases count in seconds */
        char *ca_file, *cert_file, *key_file;
        char *username, *password_file;
} ConfigArbiter;

ConfigArbiter *config_arbiter_free(ConfigArbiter *a);
DEFINE_TRIVIAL_CLEANUP_FUNC(ConfigArbiter *, config_arbiter_free);
/* Deep copy: the arbiter keeps its own across reloads. */
int config_arbiter_copy(const ConfigArbiter *a, ConfigArbiter **ret);
bool config_arbiter_equal(const ConfigArbiter *a, const ConfigArbiter *b);

/* Reference-counted: every module that keeps the configuration (or a pointer into it) holds a
 * reference, so a reload swaps in a new one without re-pointing anybody; the old one goes when
 * its last user lets go. */
typedef struct Config {
        unsigned n_ref; /* 0: owned by its caller (a test fixture), ref/unref leave it alone */
        char *path;

        char *node_name;
        HomeRole role;
        char *listen;
        SocketAddress listen_address;

        char *peer_name;
        char *peer_address_string;
        SocketAddress peer_address; /* len 0: peer_host is a name, resolved off the loop */
        char *peer_host;            /* as written, without brackets */
        uint16_t peer_port;
        char *peer_address_where; /* "file:line: peer.address", for messages */

        char *key_file;

        usec_t heartbeat;
        usec_t dead_time;
        usec_t init_dead;

        PeerLossPolicy on_peer_loss;
        HandoverMode handover;
        usec_t drain_time;

        char *agent_listen; /* NULL: off */
        SocketAddress agent_listen_address;
        char *http_listen; /* NULL: off */
        SocketAddress http_listen_address;

        char *plugin_dir;
        char *state_dir;
        char *control_socket;
        SystemdBus systemd_bus;

        ConfigCheck *checks;
        size_t n_checks;
        ConfigService *services;
        size_t n_services;

        char *notify; /* NULL: off */

        /* lb group: haproxy's runtime API; lb_haproxy NULL: off */
        char *lb_haproxy;
        SocketAddress lb_address;
        char *lb_backend;
        char *lb_server; /* NULL: node_name */

        ConfigArbiter *arbiter; /* NULL: no arbiter */

        char *webhook_url; /* NULL: off */
        usec_t webhook_timeout;

        char *control_group; /* NULL: root only */
        gid_t control_gid;
} Config;

/* Collected validation errors: each "file:line: key: what is wrong". */
typedef struct ConfigErrors {
        char **lines;
        size_t n;
} ConfigErrors;

void config_errors_done(ConfigErrors *e);

/* Parses and validates path; *ret holds one reference. On failure returns -EINVAL (or -errno for
 * I/O) and fills errors with every problem found, not only the first. plugin_dir_default is used
 * when plugin_dir is unset. */
int config_load(const char *path, const char *plugin_dir_default, Config **ret,
                ConfigErrors *errors);
Config *config_ref(Config *c);
/* Drops one reference and frees the configuration with the last one. Returns NULL; accepts NULL. */
Config *config_unref(Config *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Config *, config_unref);
/* Resolves peer.address now (blocking: start-up and -t only). Returns 0, or -ENOENT with *ret_error
 * "file:line: peer.address: host \"x\" not found", or -EAGAIN with a warning in *ret_error for a
 * failure that may pass (DNS unreachable). */
int config_check_peer_host(const Config *c, char **ret_error);

const ConfigCheck *config_find_check(const Config *c, const char *name);
/* Whether two checks have the same params, lists compared element by element. */
bool config_params_equal(const ConfigCheck *a, const ConfigCheck *b);
