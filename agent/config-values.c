/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <limits.h>
#include <math.h>
#include <stdarg.h>

#include "checker-guard.h"
#include "config-internal.h"

const char *conf_display_file(const ConfigParser *p, const char *libconfig_file, char *buf,
                              size_t size)
{
        size_t n;

        if (!libconfig_file)
                return p->path;
        if (libconfig_file[0] == '/' || streq(p->include_dir, "."))
                return libconfig_file;
        n = strlen(p->include_dir);
        snprintf(buf, size, "%s%s%s", p->include_dir,
                 n > 0 && p->include_dir[n - 1] == '/' ? "" : "/", libconfig_file);
        return buf;
}

void conf_add_error(ConfigParser *p, const char *file, int line, const char *format, ...)
{
        _cleanup_free_ char *message = NULL;
        char *full, **lines;
        va_list ap;
        int r;

        p->n_errors++;
        if (!p->errors)
                return;

        va_start(ap, format);
        r = vasprintf(&message, format, ap);
        va_end(ap);
        if (r < 0) {
                message = NULL;
                p->oom = true;
                return;
        }
        /* The file is the libconfig-level name when line is set, a plain path otherwise. */
        full = line > 0 ? strdup_printf("%s:%d: %s", file, line, message)
                        : strdup_printf("%s: %s", file, message);
        if (!full) {
                p->oom = true;
                return;
        }
        lines = realloc(p->errors->lines, (p->errors->n + 1) * sizeof(char *));
        if (!lines) {
                free(full);
                p->oom = true;
                return;
        }
        lines[p->errors->n++] = full;
        p->errors->lines = lines;
}

static size_t setting_path(const config_setting_t *s, char *buf, size_t size)
{
        const config_setting_t *parent = config_setting_parent(s);
        const char *name = config_setting_name(s);
        size_t n;
        int k;

        buf[0] = 0;
        if (!parent)
                return 0;
        n = setting_path(parent, buf, size);
        if (n >= size)
                return n;
        if (name)
                k = snprintf(buf + n, size - n, "%s%s", n > 0 ? "." : "", name);
        else
                k = snprintf(buf + n, size - n, "[%d]", config_setting_index(s));
        return n + (k > 0 ? (size_t)k : 0);
}

static int setting_line(const config_setting_t *s)
{
        /* The root group has no line of its own; its keys start at the top of the file. */
        return config_setting_source_line(s) > 0 ? (int)config_setting_source_line(s) : 1;
}

static void error_at_valist(ConfigParser *p, const config_setting_t *s, const char *member,
                            const char *format, va_list ap)
{
        _cleanup_free_ char *message = NULL;
        char path[512], file[PATH_MAX + 64];
        size_t n;

        if (vasprintf(&message, format, ap) < 0) {
                p->n_errors++;
                p->oom = true;
                return;
        }
        n = setting_path(s, path, sizeof(path));
        if (member && n < sizeof(path))
                snprintf(path + n, sizeof(path) - n, "%s%s", n > 0 ? "." : "", member);
        conf_add_error(p, conf_display_file(p, config_setting_source_file(s), file, sizeof(file)),
                       setting_line(s), "%s: %s", path, message);
}

void conf_error_at(ConfigParser *p, const config_setting_t *s, const char *format, ...)
{
        va_list ap;

        va_start(ap, format);
        error_at_valist(p, s, NULL, format, ap);
        va_end(ap);
}

void conf_error_key(ConfigParser *p, const config_setting_t *group, const char *name,
                    const char *format, ...)
{
        const config_setting_t *s;
        va_list ap;

        if (!group)
                group = p->root;
        s = config_setting_get_member(group, name);
        va_start(ap, format);
        if (s)
                error_at_valist(p, s, NULL, format, ap);
        else
                error_at_valist(p, group, name, format, ap);
        va_end(ap);
}

void conf_check_known(ConfigParser *p, const config_setting_t *group, const char *const *known)
{
        int n = config_setting_length(group);

        for (int i = 0; i < n; i++) {
                const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
                const char *name = config_setting_name(s);
                const char *const *k;

                for (k = known; *k; k++)
                        if (name && streq(name, *k))
                                break;
                if (!*k)
                        conf_error_at(p, s, "unknown key");
        }
}

/* The member, or NULL after reporting it missing if it is required. */
static const config_setting_t *lookup(ConfigParser *p, const config_setting_t *group,
                                      const char *name, bool required)
{
        const config_setting_t *s;

        if (!group)
                return NULL;
        s = config_setting_get_member(group, name);
        if (!s && required)
                conf_error_key(p, group, name, "missing");
        return s;
}

static int replace_string(ConfigParser *p, const char *value, char **ret)
{
        char *copy = strdup(value);

        if (!copy) {
                p->oom = true;
                return -ENOMEM;
        }
        free(*ret);
        *ret = copy;
        return 1;
}

int conf_read_group(ConfigParser *p, const config_setting_t *parent, const char *name,
                    bool required, const config_setting_t **ret)
{
        const config_setting_t *s = lookup(p, parent, name, required);

        if (!s)
                return 0;
        if (!config_setting_is_group(s)) {
                conf_error_at(p, s, "must be a group, { ... }");
                return -EINVAL;
        }
        *ret = s;
        return 1;
}

int conf_read_string(ConfigParser *p, const config_setting_t *group, const char *name,
                     bool required, char **ret)
{
        const config_setting_t *s = lookup(p, group, name, required);
        const char *value;

        if (!s)
                return 0;
        value = config_setting_get_string(s);
        if (!value || !*value) {
                conf_error_at(p, s, "must be a non-empty string");
                return -EINVAL;
        }
        return replace_string(p, value, ret);
}

int conf_read_command(ConfigParser *p, const config_setting_t *group, const char *name,
                      bool required, char **ret)
{
        const config_setting_t *s = lookup(p, group, name, required);
        const char *value;
        size_t n;

        if (!s)
                return 0;
        value = config_setting_get_string(s);
        if (!value || !*value) {
                conf_error_at(p, s, "must be a non-empty string");
                return -EINVAL;
        }
        /* The command is one argument of /bin/sh -c: longer than the kernel takes per argument,
         * execve() would fail with E2BIG at the moment the command is needed, not now. */
        n = strlen(value);
        if (n + 1 > CONFIG_COMMAND_MAX) {
                conf_error_at(p, s,
                              "command is %zu bytes; execve() takes at most %u per argument "
                              "(MAX_ARG_STRLEN): move it into a script",
                              n, CONFIG_COMMAND_MAX - 1);
                return -E2BIG;
        }
        return replace_string(p, value, ret);
}

static bool name_is_valid(const char *s)
{
        size_t n = strlen(s);

        return n >= 1 && n <= 63 &&
               strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

int conf_read_name(ConfigParser *p, const config_setting_t *group, const char *name, bool required,
                   char **ret)
{
        const config_setting_t *s = lookup(p, group, name, required);
        const char *value;

        if (!s)
                return 0;
        value = config_setting_get_string(s);
        if (!value || !name_is_valid(value)) {
                if (value)
                        conf_error_at(p, s, "must be 1-63 characters of [A-Za-z0-9._-], not \"%s\"",
                                      value);
                else
                        conf_error_at(p, s, "must be 1-63 characters of [A-Za-z0-9._-]");
                return -EINVAL;
        }
        return replace_string(p, value, ret);
}

int conf_read_address(ConfigParser *p, const config_setting_t *group, const char *name,
                      bool required, char **ret_string, SocketAddress *ret)
{
        const config_setting_t *s = lookup(p, group, name, required);
        const char *value;
        SocketAddress address;

        if (!s)
                return 0;
        value = config_setting_get_string(s);
        if (!value) {
                conf_error_at(p, s, "must be a numeric address \"host:port\"");
                return -EINVAL;
        }
        if (socket_address_parse(value, &address) < 0) {
                conf_error_at(p, s, "must be a numeric address \"host:port\", not \"%s\"", value);
                return -EINVAL;
        }
        *ret = address;
        return replace_string(p, value, ret_string);
}

char *conf_location(ConfigParser *p, const config_setting_t *s)
{
        char path[512], file[PATH_MAX + 64];
        char *ret;

        setting_path(s, path, sizeof(path));
        ret = strdup_printf("%s:%d: %s",
                            conf_display_file(p, config_setting_source_file(s), file, sizeof(file)),
                            setting_line(s), path);
        if (!ret)
                p->oom = true;
        return ret;
}

int conf_read_peer_address(ConfigParser *p, const config_setting_t *group, const char *name,
                           bool required, Config *c)
{
        const config_setting_t *s = lookup(p, group, name, required);
        _cleanup_free_ char *host = NULL;
        const char *value;
        uint16_t port;
        int r;

        if (!s)
                return 0;
        value = config_setting_get_string(s);
        if (!value) {
                conf_error_at(p, s, "must be a string \"host:port\"");
                return -EINVAL;
        }
        r = socket_address_split(value, &host, &port);
        if (r == -ENOMEM) {
                p->oom = true;
                return r;
        }
        if (r < 0) {
                conf_error_at(
                    p, s,
                    "\"%s\" is not an address: expected \"host:port\", \"[IPv6]:port\" or "
                    "\"[fe80::1%%eth0]:port\" with a port of 1-65535",
                    value);
                return -EINVAL;
        }
        memset(&c->peer_address, 0, sizeof(c->peer_address));
        if (socket_address_from_host(host, port, &c->peer_address) < 0) {
                if (value[0] == '[' || strchr(host, ':') || !hostname_is_valid(host)) {
                        conf_error_at(p, s,
                                      "\"%s\" is not an address: \"%s\" is neither a numeric "
                                      "address nor a valid host name",
                                      value, host);
                        return -EINVAL;
                }
                c->peer_address.len = 0; /* a host name: resolved later, off the loop */
        } else if (streq(host, "*") || streq(host, "")) {
                conf_error_at(p, s, "\"%s\" is not an address one can connect to", value);
                return -EINVAL;
        }
        free(c->peer_host);
        c->peer_host = TAKE_PTR(host);
        c->peer_port = port;
        free(c->peer_address_where);
        c->peer_address_where = conf_location(p, s);
        r = replace_string(p, value, &c->peer_address_string);
        return r < 0 ? r : 1;
}

int conf_read_seconds(ConfigParser *p, const config_setting_t *group, const char *name, double min,
                      bool min_inclusive, double max, double *ret)
{
        const config_setting_t *s = lookup(p, group, name, false);
        double value;

        if (!s)
                return 0;
        switch (config_setting_type(s)) {
        case CONFIG_TYPE_INT:
        case CONFIG_TYPE_INT64:
                value = (double)config_setting_get_int64(s);
                break;
        case CONFIG_TYPE_FLOAT:
                value = config_setting_get_float(s);
                break;
        default:
                value = NAN;
        }
        /* Written so that NaN fails every comparison and lands here. */
        if (!((min_inclusive ? value >= min : value > min) && value <= max)) {
                if (min_inclusive)
                        conf_error_at(p, s, "must be a number of seconds between %g and %g", min,
                                      max);
                else
                        conf_error_at(p, s,
                                      "must be a number of seconds greater than %g and at most %g",
                                      min, max);
                return -EINVAL;
        }
        *ret = value;
        return 1;
}

int conf_read_unsigned(ConfigParser *p, const config_setting_t *group, const char *name,
                       unsigned min, unsigned max, unsigned *ret)
{
        const config_setting_t *s = lookup(p, group, name, false);
        long long value;

        if (!s)
                return 0;
        if (config_setting_type(s) != CONFIG_TYPE_INT &&
            config_setting_type(s) != CONFIG_TYPE_INT64)
                value = -1;
        else
                value = config_setting_get_int64(s);
        if (value < (long long)min || value > (long long)max) {
                conf_error_at(p, s, "must be an integer between %u and %u", min, max);
                return -EINVAL;
        }
        *ret = (unsigned)value;
        return 1;
}

int conf_read_bytes(ConfigParser *p, const config_setting_t *group, const char *name, uint64_t min,
                    uint64_t max, uint64_t *ret)
{
        const config_setting_t *s = lookup(p, group, name, false);
        char min_s[32], max_s[32];
        uint64_t value = 0;
        int r = -EINVAL;

        if (!s)
                return 0;
        if (config_setting_type(s) == CONFIG_TYPE_INT ||
            config_setting_type(s) == CONFIG_TYPE_INT64) {
                long long v = config_setting_get_int64(s);
                if (v >= 0) {
                        value = (uint64_t)v;
                        r = 0;
                }
        } else if (config_setting_type(s) == CONFIG_TYPE_STRING)
                r = checker_guard_parse_bytes(config_setting_get_string(s), &value);
        checker_guard_format_bytes(min, min_s, sizeof(min_s));
        checker_guard_format_bytes(max, max_s, sizeof(max_s));
        if (r < 0 || (value != 0 && (value < min || value > max))) {
                conf_error_at(p, s,
                              "must be 0 (no limit) or a size between %s and %s: bytes, or a "
                              "string with a K, M, G or T suffix such as \"256M\"",
                              min_s, max_s);
                return -EINVAL;
        }
        *ret = value;
        return 1;
}

static void format_choices(const char *const *table, size_t n, char *buf, size_t size)
{
        size_t used = 0;

        buf[0] = 0;
        for (size_t i = 0; i < n && used < size; i++) {
                const char *sep = i == 0 ? "" : i + 1 == n ? " or " : ", ";
                int k = snprintf(buf + used, size - used, "%s\"%s\"", sep, table[i]);
                used += k > 0 ? (size_t)k : 0;
        }
}

int conf_read_enum(ConfigParser *p, const config_setting_t *group, const char *name,
                   const char *const *table, size_t n, int *ret)
{
        const config_setting_t *s = lookup(p, group, name, false);
        const char *value;
        char choices[256];

        if (!s)
                return 0;
        value = config_setting_get_string(s);
        for (size_t i = 0; value && i < n; i++)
                if (streq(table[i], value)) {
                        *ret = (int)i;
                        return 1;
                }
        format_choices(table, n, choices, sizeof(choices));
        if (value)
                conf_error_at(p, s, "must be %s, not \"%s\"", choices, value);
        else
                conf_error_at(p, s, "must be %s", choices);
        return -EINVAL;
}
