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

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VACATAIRE_PLUGIN_ABI_VERSION 1u
#define VACATAIRE_PLUGIN_SYMBOL      "vacataire_plugin"

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
};

/* One entry of the check's `params` group. */
struct vacataire_param {
        const char *name;
        uint32_t type;      /* enum vacataire_param_type */
        int32_t boolean;    /* VACATAIRE_PARAM_BOOL */
        int64_t integer;    /* VACATAIRE_PARAM_INT */
        double number;      /* VACATAIRE_PARAM_FLOAT, and VACATAIRE_PARAM_INT converted */
        const char *string; /* VACATAIRE_PARAM_STRING */
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
        /* Runs the check once. Returns an enum vacataire_result and a short message. */
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

#ifdef __cplusplus
}
#endif
#endif
