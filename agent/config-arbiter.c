/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <math.h>

#include "config-internal.h"

#define ARBITER_ENDPOINTS_MAX 16
#define ARBITER_KEY_MAX       512

ConfigArbiter *config_arbiter_free(ConfigArbiter *a)
{
        if (!a)
                return NULL;
        for (size_t i = 0; i < a->n_etcd; i++)
                free(a->etcd[i]);
        free(a->etcd);
        free(a->key);
        free(a->ca_file);
        free(a->cert_file);
        free(a->key_file);
        free(a->username);
        free(a->password_file);
        free(a);
        return NULL;
}

static int dup_string(const char *s, char **ret)
{
        *ret = s ? strdup(s) : NULL;
        return s && !*ret ? -ENOMEM : 0;
}

int config_arbiter_copy(const ConfigArbiter *a, ConfigArbiter **ret)
{
        _cleanup_(config_arbiter_freep) ConfigArbiter *c = calloc(1, sizeof(ConfigArbiter));

        if (!c)
                return -ENOMEM;
        c->etcd = calloc(a->n_etcd ? a->n_etcd : 1, sizeof(char *));
        if (!c->etcd)
                return -ENOMEM;
        for (; c->n_etcd < a->n_etcd; c->n_etcd++)
                if (dup_string(a->etcd[c->n_etcd], &c->etcd[c->n_etcd]) < 0)
                        return -ENOMEM;
        c->ttl = a->ttl;
        if (dup_string(a->key, &c->key) < 0 || dup_string(a->ca_file, &c->ca_file) < 0 ||
            dup_string(a->cert_file, &c->cert_file) < 0 ||
            dup_string(a->key_file, &c->key_file) < 0 ||
            dup_string(a->username, &c->username) < 0 ||
            dup_string(a->password_file, &c->password_file) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(c);
        return 0;
}

bool config_arbiter_equal(const ConfigArbiter *a, const ConfigArbiter *b)
{
        if (!a || !b)
                return a == b;
        if (a->n_etcd != b->n_etcd || a->ttl != b->ttl || !streq_ptr(a->key, b->key) ||
            !streq_ptr(a->ca_file, b->ca_file) || !streq_ptr(a->cert_file, b->cert_file) ||
            !streq_ptr(a->key_file, b->key_file) || !streq_ptr(a->username, b->username) ||
            !streq_ptr(a->password_file, b->password_file))
                return false;
        for (size_t i = 0; i < a->n_etcd; i++)
                if (!streq(a->etcd[i], b->etcd[i]))
                        return false;
        return true;
}

static void parse_endpoints(ConfigParser *p, const config_setting_t *group, ConfigArbiter *a)
{
        const config_setting_t *list = config_setting_get_member(group, "etcd");
        int n;

        if (!list) {
                conf_error_key(p, group, "etcd", "missing");
                return;
        }
        n = config_setting_length(list);
        if (!(config_setting_is_array(list) || config_setting_is_list(list)) || n < 1 ||
            n > ARBITER_ENDPOINTS_MAX) {
                conf_error_at(p, list, "must be a list of 1 to %d etcd URLs",
                              ARBITER_ENDPOINTS_MAX);
                return;
        }
        a->etcd = calloc((size_t)n, sizeof(char *));
        if (!a->etcd) {
                p->oom = true;
                return;
        }
        for (int i = 0; i < n; i++) {
                const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
                const char *url = config_setting_get_string(e);
                size_t len;

                if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)) {
                        conf_error_at(p, e, "must be an http:// or https:// URL");
                        continue;
                }
                len = strlen(url);
                /* Paths are appended to the endpoint: "http://h:2379/" would make "//v3/...". */
                while (len > 0 && url[len - 1] == '/')
                        len--;
                a->etcd[a->n_etcd] = strndup(url, len);
                if (!a->etcd[a->n_etcd]) {
                        p->oom = true;
                        return;
                }
                a->n_etcd++;
        }
}

int conf_parse_arbiter(ConfigParser *p, Config *c)
{
        const config_setting_t *group = NULL;
        ConfigArbiter *a;
        double ttl = 3.0;
        int r;

        r = conf_read_group(p, p->root, "arbiter", false, &group);
        if (r <= 0)
                return r;
        conf_check_known(p, group,
                         (const char *const[]){"etcd", "key", "ttl", "ca_file", "cert_file",
                                               "key_file", "username", "password_file", NULL});
        a = c->arbiter = calloc(1, sizeof(ConfigArbiter));
        if (!a) {
                p->oom = true;
                return -ENOMEM;
        }
        parse_endpoints(p, group, a);
        if (conf_read_string(p, group, "key", true, &a->key) > 0 &&
            strlen(a->key) > ARBITER_KEY_MAX)
                conf_error_key(p, group, "key", "longer than %d bytes", ARBITER_KEY_MAX);
        /* etcd grants leases in whole seconds; below 2 s a renewal every ttl/3 leaves no room. */
        if (conf_read_seconds(p, group, "ttl", 2, true, 3600, &ttl) > 0 && ttl != floor(ttl))
                conf_error_key(p, group, "ttl", "must be a whole number of seconds (etcd leases)");
        a->ttl = usec_from_seconds(ttl);
        (void)conf_read_string(p, group, "ca_file", false, &a->ca_file);
        (void)conf_read_string(p, group, "cert_file", false, &a->cert_file);
        (void)conf_read_string(p, group, "key_file", false, &a->key_file);
        (void)conf_read_string(p, group, "username", false, &a->username);
        (void)conf_read_string(p, group, "password_file", false, &a->password_file);
        if (!a->cert_file != !a->key_file)
                conf_error_key(p, group, a->cert_file ? "cert_file" : "key_file",
                               "cert_file and key_file go together (TLS client certificate)");
        if (!a->username != !a->password_file)
                conf_error_key(p, group, a->username ? "username" : "password_file",
                               "username and password_file go together");
        return 0;
}
