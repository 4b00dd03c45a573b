/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* For the unit tests of one check plugin (include after cmocka.h): the plugin under test, its
 * parameters, loading it, one configure + run, and a configuration it must refuse. */
#pragma once

#include <stdio.h>
#include <stdlib.h>

#include "plugin.h"
#include "util.h"

#define STR(n, v)                                                                                  \
        ((struct vacataire_param){.name = (n), .type = VACATAIRE_PARAM_STRING, .string = (v)})
#define INT(n, v)                                                                                  \
        ((struct vacataire_param){                                                                 \
            .name = (n), .type = VACATAIRE_PARAM_INT, .integer = (v), .number = (v)})
#define FLOAT(n, v)                                                                                \
        ((struct vacataire_param){.name = (n), .type = VACATAIRE_PARAM_FLOAT, .number = (v)})
#define BOOL(n, v)                                                                                 \
        ((struct vacataire_param){.name = (n), .type = VACATAIRE_PARAM_BOOL, .boolean = (v)})
#define LIST(n, a)                                                                                 \
        ((struct vacataire_param){                                                                 \
            .name = (n), .type = VACATAIRE_PARAM_LIST, .integer = ELEMENTSOF(a), .list = (a)})

static Plugin *plugin;

/* For a group setup: loads the plugin at path, or says why not and returns -1. */
static inline int plugin_run_load(const char *path)
{
        char *text = NULL;

        if (plugin_load(path, &plugin, &text) < 0) {
                fprintf(stderr, "%s\n", text);
                free(text);
                return -1;
        }
        return 0;
}

static inline double now_seconds(void)
{
        return (double)now_usec(CLOCK_MONOTONIC) / (double)USEC_PER_SEC;
}

/* Configures with items (which must be accepted), runs once, returns the result. */
static inline int run_plugin(const struct vacataire_param *items, size_t n, double timeout,
                             char *msg, size_t msg_size)
{
        struct vacataire_params params = {(uint32_t)n, items};
        void *plugin_state = NULL;
        char err[256] = "";
        int r;

        r = plugin->api->configure(&params, timeout, &plugin_state, err, sizeof(err));
        if (r != 0)
                fail_msg("configure failed: %s", err);
        msg[0] = 0;
        r = plugin->api->run(plugin_state, msg, msg_size);
        plugin->api->free(plugin_state);
        return r;
}

/* The parameters are refused with exactly this error, and no state is left. */
#define CONFIGURE_ERROR(expected, ...)                                                             \
        do {                                                                                       \
                const struct vacataire_param items_[] = {__VA_ARGS__};                             \
                struct vacataire_params params_ = {ELEMENTSOF(items_), items_};                    \
                void *state_ = NULL;                                                               \
                char err_[512] = "";                                                               \
                assert_int_not_equal(                                                              \
                    plugin->api->configure(&params_, 1.0, &state_, err_, sizeof(err_)), 0);        \
                assert_null(state_);                                                               \
                assert_string_equal(err_, expected);                                               \
        } while (0)
