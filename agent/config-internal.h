/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/* Shared by config*.c only: the parse context and the typed, self-reporting key readers. */

#include <libconfig.h>

#include "config.h"

extern const char *const home_role_table[_HOME_ROLE_MAX];
extern const char *const peer_loss_policy_table[_PEER_LOSS_MAX];
extern const char *const handover_mode_table[_HANDOVER_MAX];
extern const char *const check_scope_table[_CHECK_SCOPE_MAX];
extern const char *const systemd_bus_table[_SYSTEMD_BUS_MAX];

/* libconfig 1.5 nests @include at most this deep; deeper is its own "nesting too deep" error. */
#define CONFIG_INCLUDE_MAX_DEPTH 10

typedef struct ConfigParser {
        const char *path;   /* as given; libconfig knows the top file as NULL */
        char *include_dir;  /* what libconfig prefixes to every @include: path's directory */
        char *absolute_dir; /* the same, absolute, to resolve relative plugin paths */
        const config_setting_t *root;
        ConfigErrors *errors; /* may be NULL: errors are then only counted */
        size_t n_errors;
        bool oom;
} ConfigParser;

/* The file a setting (or libconfig error) came from, as a user can open it. Returns a pointer
 * into buf or to path. */
const char *conf_display_file(const ConfigParser *p, const char *libconfig_file, char *buf,
                              size_t size);
void conf_add_error(ConfigParser *p, const char *file, int line, const char *format, ...)
    _printf_(4, 5);
/* "<file>:<line>: <key path of s>: <message>". */
void conf_error_at(ConfigParser *p, const config_setting_t *s, const char *format, ...)
    _printf_(3, 4);
/* Like conf_error_at on group's member name, or on group itself if that member is absent. */
void conf_error_key(ConfigParser *p, const config_setting_t *group, const char *name,
                    const char *format, ...) _printf_(4, 5);

/* Reports every member of group that is not in the NULL-terminated list known. */
void conf_check_known(ConfigParser *p, const config_setting_t *group, const char *const *known);

/* The readers below take an enclosing group (NULL: the group is absent, so is the key) and a
 * member name. Each returns 1 when the key is set and valid (*ret replaced), 0 when it is absent
 * (*ret untouched; "missing" reported if required), -EINVAL after reporting a bad value, or
 * -ENOMEM. */
int conf_read_group(ConfigParser *p, const config_setting_t *parent, const char *name,
                    bool required, const config_setting_t **ret);
int conf_read_string(ConfigParser *p, const config_setting_t *group, const char *name,
                     bool required, char **ret);
/* The kernel's MAX_ARG_STRLEN (32 pages of 4 KiB): the longest single execve() argument. */
#define CONFIG_COMMAND_MAX 131072u
/* A shell command: a non-empty string that execve() can pass to /bin/sh -c. */
int conf_read_command(ConfigParser *p, const config_setting_t *group, const char *name,
                      bool required, char **ret);
/* 1-63 characters of [A-Za-z0-9._-]. */
int conf_read_name(ConfigParser *p, const config_setting_t *group, const char *name, bool required,
                   char **ret);
int conf_read_address(ConfigParser *p, const config_setting_t *group, const char *name,
                      bool required, char **ret_string, SocketAddress *ret);
/* peer.address: "host:port" where host is a numeric address (IPv6 with an optional zone) or a
 * host name (then c->peer_address.len is 0: resolved at start and at each connect). Fills
 * c->peer_address_string, peer_host, peer_port, peer_address and peer_address_where. */
int conf_read_peer_address(ConfigParser *p, const config_setting_t *group, const char *name,
                           bool required, Config *c);
/* "file:line: key.path" of s, malloc'd (NULL on OOM, recorded in p). */
char *conf_location(ConfigParser *p, const config_setting_t *s);
/* An int or float number of seconds in [min, max], or (min, max] if !min_inclusive. */
int conf_read_seconds(ConfigParser *p, const config_setting_t *group, const char *name, double min,
                      bool min_inclusive, double max, double *ret);
int conf_read_unsigned(ConfigParser *p, const config_setting_t *group, const char *name,
                       unsigned min, unsigned max, unsigned *ret);
/* A size in bytes: an integer, or a string with a binary K/M/G/T suffix ("256M"); 0 means no
 * limit and is always accepted, anything else must lie in [min, max]. */
int conf_read_bytes(ConfigParser *p, const config_setting_t *group, const char *name, uint64_t min,
                    uint64_t max, uint64_t *ret);
int conf_read_enum(ConfigParser *p, const config_setting_t *group, const char *name,
                   const char *const *table, size_t n, int *ret);

int conf_parse_checks(ConfigParser *p, Config *c);
int conf_parse_services(ConfigParser *p, Config *c);
int conf_parse_arbiter(ConfigParser *p, Config *c);

/* Checks the @include graph before libconfig sees it: libconfig 1.5 exits the process on a
 * directory and blocks on a fifo, and reports a cycle only as an unrelated error. Returns 0, or
 * -EINVAL after reporting. */
int conf_check_includes(ConfigParser *p);
