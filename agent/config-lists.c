/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "config-internal.h"
#include "vacataire-plugin.h"

/* The list named name at the top level, or NULL if absent or reported as not a list. */
static const config_setting_t *read_list(ConfigParser *p, const char *name)
{
        const config_setting_t *s = config_setting_get_member(p->root, name);

        if (!s)
                return NULL;
        /* "name = [];" is how an empty list is often written; libconfig calls it an array. */
        if (config_setting_is_list(s) ||
            (config_setting_is_array(s) && config_setting_length(s) == 0))
                return s;
        conf_error_at(p, s, "must be a list of groups, ( { ... }, ... )");
        return NULL;
}

static int resolve_plugin_path(ConfigParser *p, const Config *c, ConfigCheck *check)
{
        const char *plugin = check->plugin;
        size_t n = strlen(c->plugin_dir);

        if (!strchr(plugin, '/'))
                check->plugin_path =
                    strdup_printf("%s%s%s.so", c->plugin_dir,
                                  n > 0 && c->plugin_dir[n - 1] == '/' ? "" : "/", plugin);
        else if (plugin[0] == '/')
                check->plugin_path = strdup(plugin);
        else {
                while (plugin[0] == '.' && plugin[1] == '/')
                        plugin += 2;
                check->plugin_path = strdup_printf(
                    "%s/%s", streq(p->absolute_dir, "/") ? "" : p->absolute_dir, plugin);
        }
        if (!check->plugin_path) {
                p->oom = true;
                return -ENOMEM;
        }
        return 0;
}

/* One scalar of params (or of a list in params) into *param; 0, -EINVAL if reported, -ENOMEM. */
static int parse_param_scalar(ConfigParser *p, const config_setting_t *s, ConfigParam *param,
                              const char *what)
{
        switch (config_setting_type(s)) {
        case CONFIG_TYPE_INT:
        case CONFIG_TYPE_INT64:
                param->type = VACATAIRE_PARAM_INT;
                param->integer = config_setting_get_int64(s);
                param->number = (double)param->integer;
                return 0;
        case CONFIG_TYPE_FLOAT:
                param->type = VACATAIRE_PARAM_FLOAT;
                param->number = config_setting_get_float(s);
                return 0;
        case CONFIG_TYPE_BOOL:
                param->type = VACATAIRE_PARAM_BOOL;
                param->boolean = config_setting_get_bool(s);
                return 0;
        case CONFIG_TYPE_STRING:
                param->type = VACATAIRE_PARAM_STRING;
                param->string = strdup(config_setting_get_string(s));
                if (!param->string) {
                        p->oom = true;
                        return -ENOMEM;
                }
                return 0;
        default:
                conf_error_at(p, s, "%s", what);
                return -EINVAL;
        }
}

/* A list param: `[ 1, 2 ]` (libconfig array) or `( "a", 1 )` (list) of scalars. */
static int parse_param_list(ConfigParser *p, const config_setting_t *s, ConfigParam *param)
{
        int n = config_setting_length(s);

        param->type = VACATAIRE_PARAM_LIST;
        param->list = calloc(n > 0 ? (size_t)n : 1, sizeof(ConfigParam));
        if (!param->list) {
                p->oom = true;
                return -ENOMEM;
        }
        for (int i = 0; i < n; i++) {
                const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
                int r = parse_param_scalar(p, e, &param->list[param->n_list],
                                           "a list in params may hold only numbers, booleans "
                                           "and strings");
                if (r == -ENOMEM)
                        return r;
                if (r == 0)
                        param->n_list++;
        }
        param->integer = (int64_t)param->n_list;
        return 0;
}

static int parse_params(ConfigParser *p, const config_setting_t *params, ConfigCheck *check)
{
        int n = config_setting_length(params);

        check->params = calloc(n > 0 ? (size_t)n : 1, sizeof(ConfigParam));
        if (!check->params) {
                p->oom = true;
                return -ENOMEM;
        }
        for (int i = 0; i < n; i++) {
                const config_setting_t *s = config_setting_get_elem(params, (unsigned)i);
                ConfigParam *param = &check->params[check->n_params];
                int r;

                if (config_setting_is_array(s) || config_setting_is_list(s))
                        r = parse_param_list(p, s, param);
                else
                        r = parse_param_scalar(p, s, param,
                                               "must be a number, a boolean, a string or a list "
                                               "of them");
                if (r == -EINVAL)
                        continue;
                /* Counted before the name, so a half-built param is freed with the rest. */
                check->n_params++;
                if (r < 0)
                        return r;
                param->name = strdup(config_setting_name(s));
                if (!param->name) {
                        p->oom = true;
                        return -ENOMEM;
                }
        }
        return 0;
}

static bool config_param_equal(const ConfigParam *x, const ConfigParam *y)
{
        if (!streq_ptr(x->name, y->name) || x->type != y->type || x->boolean != y->boolean ||
            x->integer != y->integer || x->number != y->number ||
            !streq_ptr(x->string, y->string) || x->n_list != y->n_list)
                return false;
        for (size_t i = 0; i < x->n_list; i++)
                if (!config_param_equal(&x->list[i], &y->list[i]))
                        return false;
        return true;
}

bool config_params_equal(const ConfigCheck *a, const ConfigCheck *b)
{
        if (a->n_params != b->n_params)
                return false;
        for (size_t i = 0; i < a->n_params; i++)
                if (!config_param_equal(&a->params[i], &b->params[i]))
                        return false;
        return true;
}

static void parse_check(ConfigParser *p, Config *c, const config_setting_t *s, ConfigCheck *check)
{
        const config_setting_t *params = NULL;
        double interval = 1.0, timeout;
        int scope = CHECK_SCOPE_ACTIVE;

        check->line = config_setting_source_line(s);
        check->fall = check->rise = 1;
        check->memory_limit = CONFIG_MEMORY_LIMIT_DEFAULT;
        check->scope = CHECK_SCOPE_ACTIVE;
        if (!config_setting_is_group(s)) {
                conf_error_at(p, s, "must be a group, { ... }");
                return;
        }
        conf_check_known(p, s,
                         (const char *const[]){"name", "plugin", "interval", "timeout", "fall",
                                               "rise", "scope", "memory_limit", "params", NULL});

        if (conf_read_name(p, s, "name", true, &check->name) > 0)
                for (ConfigCheck *other = c->checks; other < check; other++)
                        if (other->name && streq(other->name, check->name)) {
                                conf_error_key(p, s, "name",
                                               "duplicate check name \"%s\", also used by "
                                               "checks[%zu]",
                                               check->name, (size_t)(other - c->checks));
                                break;
                        }
        if (conf_read_string(p, s, "plugin", true, &check->plugin) > 0)
                (void)resolve_plugin_path(p, c, check);

        (void)conf_read_seconds(p, s, "interval", 0.01, true, 86400, &interval);
        /* A run may take the whole interval, but a hung one should not hide a failure for long. */
        timeout = interval < 10.0 ? interval : 10.0;
        (void)conf_read_seconds(p, s, "timeout", 0, false, 3600, &timeout);
        check->interval = usec_from_seconds(interval);
        check->timeout = usec_from_seconds(timeout);

        (void)conf_read_unsigned(p, s, "fall", 1, 1000, &check->fall);
        (void)conf_read_unsigned(p, s, "rise", 1, 1000, &check->rise);
        if (conf_read_enum(p, s, "scope", check_scope_table, _CHECK_SCOPE_MAX, &scope) > 0)
                check->scope = (CheckScope)scope;
        (void)conf_read_bytes(p, s, "memory_limit", CONFIG_MEMORY_LIMIT_MIN, UINT64_C(1) << 50,
                              &check->memory_limit);
        if (conf_read_group(p, s, "params", false, &params) > 0)
                (void)parse_params(p, params, check);
}

int conf_parse_checks(ConfigParser *p, Config *c)
{
        const config_setting_t *list = read_list(p, "checks");
        int n;

        if (!list)
                return 0;
        n = config_setting_length(list);
        if (n == 0)
                return 0;
        c->checks = calloc((size_t)n, sizeof(ConfigCheck));
        if (!c->checks) {
                p->oom = true;
                return -ENOMEM;
        }
        for (int i = 0; i < n; i++) {
                c->n_checks++;
                parse_check(p, c, config_setting_get_elem(list, (unsigned)i), &c->checks[i]);
        }
        return 0;
}

static void parse_service(ConfigParser *p, Config *c, const config_setting_t *s,
                          ConfigService *service)
{
        service->line = config_setting_source_line(s);
        service->timeout = usec_from_seconds(30.0);
        service->start_retries = 1;
        service->restart_window = usec_from_seconds(60.0);
        if (!config_setting_is_group(s)) {
                conf_error_at(p, s, "must be a group, { ... }");
                return;
        }
        conf_check_known(p, s,
                         (const char *const[]){"name", "unit", "start", "stop", "status", "timeout",
                                               "start_retries", "restarts", "restart_window",
                                               NULL});

        bool has_unit = conf_read_string(p, s, "unit", false, &service->unit) != 0;
        bool has_commands = config_setting_get_member(s, "start") ||
                            config_setting_get_member(s, "stop") ||
                            config_setting_get_member(s, "status");
        if (has_unit && has_commands)
                conf_error_key(p, s, "unit", "cannot be combined with start, stop or status");
        else if (has_unit) {
                if (conf_read_string(p, s, "name", false, &service->name) == 0 && service->unit) {
                        service->name = strdup(service->unit);
                        if (!service->name)
                                p->oom = true;
                }
        } else if (has_commands) {
                (void)conf_read_string(p, s, "name", true, &service->name);
                (void)conf_read_command(p, s, "start", true, &service->start);
                (void)conf_read_command(p, s, "stop", true, &service->stop);
                (void)conf_read_command(p, s, "status", false, &service->status);
        } else
                conf_error_at(p, s, "needs unit (a systemd unit) or start and stop (commands)");

        if (service->name)
                for (ConfigService *other = c->services; other < service; other++)
                        if (other->name && streq(other->name, service->name)) {
                                conf_error_key(
                                    p, s, config_setting_get_member(s, "name") ? "name" : "unit",
                                    "duplicate service name \"%s\", also used by "
                                    "services[%zu]",
                                    service->name, (size_t)(other - c->services));
                                break;
                        }

        double timeout = 30.0;
        if (conf_read_seconds(p, s, "timeout", 0, false, 3600, &timeout) > 0)
                service->timeout = usec_from_seconds(timeout);
        (void)conf_read_unsigned(p, s, "start_retries", 0, 100, &service->start_retries);
        (void)conf_read_unsigned(p, s, "restarts", 0, 100, &service->restarts);
        double window = 60.0;
        if (conf_read_seconds(p, s, "restart_window", 0, false, 7 * 24 * 3600.0, &window) > 0)
                service->restart_window = usec_from_seconds(window);
}

int conf_parse_services(ConfigParser *p, Config *c)
{
        const config_setting_t *list = read_list(p, "services");
        int n;

        if (!list)
                return 0;
        n = config_setting_length(list);
        if (n == 0)
                return 0;
        c->services = calloc((size_t)n, sizeof(ConfigService));
        if (!c->services) {
                p->oom = true;
                return -ENOMEM;
        }
        for (int i = 0; i < n; i++) {
                c->n_services++;
                parse_service(p, c, config_setting_get_elem(list, (unsigned)i), &c->services[i]);
        }
        return 0;
}
