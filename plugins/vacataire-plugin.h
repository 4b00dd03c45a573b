/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * vacataire check plugin ABI.
 *
 * A plugin is a shared object that exports one symbol, VACATAIRE_PLUGIN_SYMBOL, of type
 * `const struct vacataire_plugin`. The agent runs plugins in a separate checker process, one per
 * check, so a plugin may block (up to the check's timeout; it is killed after that) or crash
 * without harming the agent. Plain C, fixed-width types, nothing from the agent's own headers.
 *
 * Versioning: abi_version must equal VACATAIRE_PLUGIN_ABI_VERSION of the agent loading it, or the
 * plugin is refused with a message naming the file and both versions. Fields are only ever
 * appended within one ABI version: struct_size tells the agent which of them a plugin has, so a
 * plugin built against an older header keeps loading (the callbacks it lacks count as NULL).
 * Additions that keep every layout are counted by VACATAIRE_PLUGIN_ABI_REVISION:
 *   0  the first version
 *   1  list params (VACATAIRE_PARAM_LIST), the typed getters below, and perfdata: a run's message
 *      "text|perfdata" is split at the first '|' as monitoring-plugins do
 * A plugin built against revision 0 loads unchanged; a list param reaches it as an unknown type,
 * which its own type checks refuse.
 *
 * Minimal plugin:
 *
 *     #include <vacataire/vacataire-plugin.h>
 *     static int my_configure(const struct vacataire_params *p, double timeout, void **state,
 *                             char *err, size_t err_size) { ... return 0; }
 *     static int my_run(void *state, char *msg, size_t msg_size) { ... return VACATAIRE_OK; }
 *     static void my_free(void *state) { ... }
 *     VACATAIRE_PLUGIN_DEFINE("my", "what it checks", my_configure, my_run, my_free);
 */
#ifndef VACATAIRE_PLUGIN_H
#define VACATAIRE_PLUGIN_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VACATAIRE_PLUGIN_ABI_VERSION  1u
#define VACATAIRE_PLUGIN_ABI_REVISION 1u
#define VACATAIRE_PLUGIN_SYMBOL       "vacataire_plugin"

/* Result of one run. */
enum vacataire_result {
        VACATAIRE_OK = 0,
        VACATAIRE_WARNING = 1, /* counts as passing, is shown */
        VACATAIRE_CRITICAL = 2,
        VACATAIRE_UNKNOWN = 3, /* the check could not tell: counts as failing */
};

enum vacataire_param_type {
        VACATAIRE_PARAM_INT = 1,
        VACATAIRE_PARAM_FLOAT = 2,
        VACATAIRE_PARAM_BOOL = 3,
        VACATAIRE_PARAM_STRING = 4,
        VACATAIRE_PARAM_LIST = 5, /* revision 1: `a = [ 1, 2 ]` or `a = ( "x", 1 )` */
};

/* One entry of the check's `params` group. A list's elements are scalars named like the list.
 * The union keeps the layout of revision 0, so arrays of params keep their stride. */
struct vacataire_param {
        const char *name;
        uint32_t type;   /* enum vacataire_param_type */
        int32_t boolean; /* VACATAIRE_PARAM_BOOL */
        int64_t integer; /* VACATAIRE_PARAM_INT; VACATAIRE_PARAM_LIST: the number of elements */
        double number;   /* VACATAIRE_PARAM_FLOAT, and VACATAIRE_PARAM_INT converted */
        __extension__ union {
                const char *string;                 /* VACATAIRE_PARAM_STRING */
                const struct vacataire_param *list; /* VACATAIRE_PARAM_LIST: `integer` elements */
        };
};

struct vacataire_params {
        uint32_t count;
        const struct vacataire_param *items;
};

struct vacataire_plugin {
        uint32_t abi_version; /* VACATAIRE_PLUGIN_ABI_VERSION */
        uint32_t struct_size; /* sizeof(struct vacataire_plugin) */
        const char *name;
        const char *description;
        /* Validates params and builds the plugin's state. timeout is the check's timeout in
         * seconds: a run should give up by then. Returns 0, or non-zero with a one-line message
         * naming the offending param in err. Called once per checker process. */
        int (*configure)(const struct vacataire_params *params, double timeout, void **state,
                         char *err, size_t err_size);
        /* Runs the check once. Returns an enum vacataire_result and a short message; text after
         * a first '|' is performance data, kept apart (monitoring-plugins' "text|perfdata"). */
        int (*run)(void *state, char *msg, size_t msg_size);
        /* Frees the state. May be NULL. */
        void (*free)(void *state);

        /* Appended fields: check struct_size before reading them (the agent does). */

        /* Optional, may be NULL: event-driven checks. Called after each run; fills fds with at
         * most max_fds file descriptors that become readable (POLLIN) when the result of the run
         * may have changed, e.g. pidfds of the processes the run counted, and returns how many
         * (0: none, negative: an errno, same as none). The fds stay the plugin's: keep them open
         * until the next watch() or free(). Between runs the checker polls them and runs the
         * check at once when one fires, instead of waiting for the next interval; a failing run
         * that follows such an event fails the check at once, whatever `fall` says. A run
         * should open its fds before it looks (a pidfd, then the process's state), so that
         * nothing that happens after the look goes unseen. */
        int (*watch)(void *state, int *fds, uint32_t max_fds);
};

#define VACATAIRE_PLUGIN_DEFINE(name_, description_, configure_, run_, free_)                      \
        __attribute__((visibility("default"))) const struct vacataire_plugin vacataire_plugin = {  \
            .abi_version = VACATAIRE_PLUGIN_ABI_VERSION,                                           \
            .struct_size = sizeof(struct vacataire_plugin),                                        \
            .name = (name_),                                                                       \
            .description = (description_),                                                         \
            .configure = (configure_),                                                             \
            .run = (run_),                                                                         \
            .free = (free_),                                                                       \
        }

/* The same, with a watch callback (see struct vacataire_plugin). */
#define VACATAIRE_PLUGIN_DEFINE_WATCH(name_, description_, configure_, run_, free_, watch_)        \
        __attribute__((visibility("default"))) const struct vacataire_plugin vacataire_plugin = {  \
            .abi_version = VACATAIRE_PLUGIN_ABI_VERSION,                                           \
            .struct_size = sizeof(struct vacataire_plugin),                                        \
            .name = (name_),                                                                       \
            .description = (description_),                                                         \
            .configure = (configure_),                                                             \
            .run = (run_),                                                                         \
            .free = (free_),                                                                       \
            .watch = (watch_),                                                                     \
        }

/* Helpers for plugins: inline, so a plugin links against nothing of the agent. */

static inline const struct vacataire_param *vacataire_param_find(const struct vacataire_params *p,
                                                                 const char *name)
{
        for (uint32_t i = 0; p && i < p->count; i++)
                if (strcmp(p->items[i].name, name) == 0)
                        return &p->items[i];
        return NULL;
}

/* Returns the name of the first param not in the NULL-terminated list `known`, or NULL. */
static inline const char *vacataire_params_unknown(const struct vacataire_params *p,
                                                   const char *const *known)
{
        for (uint32_t i = 0; p && i < p->count; i++) {
                const char *const *k;
                for (k = known; *k; k++)
                        if (strcmp(p->items[i].name, *k) == 0)
                                break;
                if (!*k)
                        return p->items[i].name;
        }
        return NULL;
}

/*
 * Typed getters. Each returns 1 when the param is given (and stores it in *ret), 0 when it is
 * absent (*ret is left alone, so it can hold the default), or -EINVAL with a message of the form
 * "params.NAME: must be ..." in err. Strings returned point into params: copy what you keep past
 * configure. Lists returned are malloc'd (free them with free() or vacataire_strv_free()).
 */

static inline int vacataire_param_refuse_(char *err, size_t err_size, const char *name,
                                          const char *what)
{
        snprintf(err, err_size, "params.%s: must be %s", name, what);
        return -EINVAL;
}

/* A non-empty string. */
static inline int vacataire_param_string(const struct vacataire_params *params, const char *name,
                                         const char **ret, char *err, size_t err_size)
{
        const struct vacataire_param *p = vacataire_param_find(params, name);

        if (!p)
                return 0;
        if (p->type != VACATAIRE_PARAM_STRING || !p->string || !p->string[0])
                return vacataire_param_refuse_(err, err_size, name, "a non-empty string");
        *ret = p->string;
        return 1;
}

static inline int vacataire_param_integer_value_(const struct vacataire_param *p, int64_t min,
                                                 int64_t max, int64_t *ret)
{
        if (p->type != VACATAIRE_PARAM_INT || p->integer < min || p->integer > max)
                return -EINVAL;
        *ret = p->integer;
        return 0;
}

/* "an integer from 1 to 5", "a list of integers >= 0", ... */
static inline void vacataire_param_integer_range_(char *buf, size_t size, const char *noun,
                                                  int64_t min, int64_t max, const char *suffix)
{
        if (max == INT64_MAX)
                snprintf(buf, size, "%s >= %lld%s", noun, (long long)min, suffix);
        else
                snprintf(buf, size, "%s from %lld to %lld%s", noun, (long long)min, (long long)max,
                         suffix);
}

/* An integer from min to max. */
static inline int vacataire_param_integer(const struct vacataire_params *params, const char *name,
                                          int64_t min, int64_t max, int64_t *ret, char *err,
                                          size_t err_size)
{
        const struct vacataire_param *p = vacataire_param_find(params, name);
        char what[96];

        if (!p)
                return 0;
        if (vacataire_param_integer_value_(p, min, max, ret) == 0)
                return 1;
        vacataire_param_integer_range_(what, sizeof(what), "an integer", min, max, "");
        return vacataire_param_refuse_(err, err_size, name, what);
}

/* A number (integer or not) from min to max. */
static inline int vacataire_param_number(const struct vacataire_params *params, const char *name,
                                         double min, double max, double *ret, char *err,
                                         size_t err_size)
{
        const struct vacataire_param *p = vacataire_param_find(params, name);
        char what[96];

        if (!p)
                return 0;
        if ((p->type == VACATAIRE_PARAM_INT || p->type == VACATAIRE_PARAM_FLOAT) &&
            p->number >= min && p->number <= max) {
                *ret = p->number;
                return 1;
        }
        snprintf(what, sizeof(what), "a number from %g to %g", min, max);
        return vacataire_param_refuse_(err, err_size, name, what);
}

/* true or false. */
static inline int vacataire_param_boolean(const struct vacataire_params *params, const char *name,
                                          int *ret, char *err, size_t err_size)
{
        const struct vacataire_param *p = vacataire_param_find(params, name);

        if (!p)
                return 0;
        if (p->type != VACATAIRE_PARAM_BOOL)
                return vacataire_param_refuse_(err, err_size, name, "true or false");
        *ret = p->boolean != 0;
        return 1;
}

/* One of the NULL-terminated strings in choices; *ret is its index. */
static inline int vacataire_param_choice(const struct vacataire_params *params, const char *name,
                                         const char *const *choices, int *ret, char *err,
                                         size_t err_size)
{
        const struct vacataire_param *p = vacataire_param_find(params, name);
        char what[256];
        size_t n = 0, k = 0;

        if (!p)
                return 0;
        for (int i = 0; p->type == VACATAIRE_PARAM_STRING && p->string && choices[i]; i++)
                if (strcmp(p->string, choices[i]) == 0) {
                        *ret = i;
                        return 1;
                }
        while (choices[n])
                n++;
        what[0] = 0;
        for (size_t i = 0; i < n && k < sizeof(what); i++) {
                int w = snprintf(what + k, sizeof(what) - k, "%s\"%s\"",
                                 i == 0       ? ""
                                 : i + 1 == n ? " or "
                                              : ", ",
                                 choices[i]);
                if (w < 0)
                        break;
                k += (size_t)w;
        }
        return vacataire_param_refuse_(err, err_size, name, what);
}

/* The elements of a list; with one_or_list, a single value also counts as a list of one. */
static inline int vacataire_param_elements(const struct vacataire_params *params, const char *name,
                                           int one_or_list, const struct vacataire_param **ret,
                                           size_t *ret_n, char *err, size_t err_size)
{
        const struct vacataire_param *p = vacataire_param_find(params, name);

        if (!p)
                return 0;
        if (p->type == VACATAIRE_PARAM_LIST && p->integer >= 0 && (p->list || p->integer == 0)) {
                *ret = p->list;
                *ret_n = (size_t)p->integer;
                return 1;
        }
        if (!one_or_list)
                return vacataire_param_refuse_(err, err_size, name, "a list, [ ... ]");
        *ret = p;
        *ret_n = 1;
        return 1;
}

static inline char **vacataire_strv_free(char **strv)
{
        for (char **s = strv; s && *s; s++)
                free(*s);
        free(strv);
        return NULL;
}

/* A list of non-empty strings, as a malloc'd NULL-terminated array of malloc'd copies. */
static inline int vacataire_param_string_list(const struct vacataire_params *params,
                                              const char *name, int one_or_list, char ***ret,
                                              size_t *ret_n, char *err, size_t err_size)
{
        const struct vacataire_param *items = NULL;
        size_t n = 0;
        char **strv;
        int r;

        r = vacataire_param_elements(params, name, one_or_list, &items, &n, err, err_size);
        if (r <= 0)
                return r;
        for (size_t i = 0; i < n; i++)
                if (items[i].type != VACATAIRE_PARAM_STRING || !items[i].string ||
                    !items[i].string[0])
                        return vacataire_param_refuse_(err, err_size, name,
                                                       one_or_list ? "a non-empty string or a "
                                                                     "list of them"
                                                                   : "a list of non-empty strings");
        strv = (char **)calloc(n + 1, sizeof(char *));
        if (!strv)
                goto oom;
        for (size_t i = 0; i < n; i++) {
                size_t k = strlen(items[i].string) + 1;
                strv[i] = (char *)malloc(k);
                if (!strv[i]) {
                        vacataire_strv_free(strv);
                        goto oom;
                }
                memcpy(strv[i], items[i].string, k);
        }
        *ret = strv;
        if (ret_n)
                *ret_n = n;
        return 1;
oom:
        snprintf(err, err_size, "out of memory");
        return -ENOMEM;
}

/* A list of integers from min to max, as a malloc'd array of n (at least 1 allocated). */
static inline int vacataire_param_integer_list(const struct vacataire_params *params,
                                               const char *name, int one_or_list, int64_t min,
                                               int64_t max, int64_t **ret, size_t *ret_n, char *err,
                                               size_t err_size)
{
        const struct vacataire_param *items = NULL;
        size_t n = 0;
        int64_t *v;
        char what[128];
        int r;

        r = vacataire_param_elements(params, name, one_or_list, &items, &n, err, err_size);
        if (r <= 0)
                return r;
        v = (int64_t *)calloc(n + 1, sizeof(int64_t));
        if (!v) {
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++)
                if (vacataire_param_integer_value_(&items[i], min, max, &v[i]) < 0) {
                        free(v);
                        if (one_or_list)
                                vacataire_param_integer_range_(what, sizeof(what), "an integer",
                                                               min, max, " or a list of them");
                        else
                                vacataire_param_integer_range_(what, sizeof(what),
                                                               "a list of integers", min, max, "");
                        return vacataire_param_refuse_(err, err_size, name, what);
                }
        *ret = v;
        *ret_n = n;
        return 1;
}

#ifdef __cplusplus
}
#endif
#endif
