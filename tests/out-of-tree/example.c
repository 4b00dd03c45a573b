/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * A third-party check plugin, built out of tree against the installed header only:
 *
 *     cc -shared -fPIC -I/usr/include example.c -o example.so
 *
 * Params: greeting (string, default "hello"), result ("ok" | "warning" | "critical" | "unknown",
 * default "ok"). It reports "example says <greeting>" with that result.
 */
#include <stdlib.h>
#include <vacataire/vacataire-plugin.h>

struct example {
        char greeting[64];
        int result;
};

static const char *const result_names[] = {"ok", "warning", "critical", "unknown", NULL};

static int string_param(const struct vacataire_params *params, const char *name, const char **ret,
                        char *err, size_t err_size)
{
        const struct vacataire_param *p = vacataire_param_find(params, name);

        if (!p)
                return 0;
        if (p->type != VACATAIRE_PARAM_STRING) {
                snprintf(err, err_size, "params.%s: must be a string", name);
                return -1;
        }
        *ret = p->string;
        return 0;
}

static int example_configure(const struct vacataire_params *params, double timeout, void **state,
                             char *err, size_t err_size)
{
        static const char *const known[] = {"greeting", "result", NULL};
        const char *unknown, *greeting = "hello", *result = "ok";
        struct example *e;
        int i;

        (void)timeout; /* this check cannot block */
        unknown = vacataire_params_unknown(params, known);
        if (unknown) {
                snprintf(err, err_size, "params.%s: unknown parameter (known: greeting, result)",
                         unknown);
                return -1;
        }
        if (string_param(params, "greeting", &greeting, err, err_size) < 0 ||
            string_param(params, "result", &result, err, err_size) < 0)
                return -1;
        for (i = 0; result_names[i]; i++)
                if (strcmp(result_names[i], result) == 0)
                        break;
        if (!result_names[i]) {
                snprintf(err, err_size,
                         "params.result: must be \"ok\", \"warning\", \"critical\" or \"unknown\"");
                return -1;
        }

        e = calloc(1, sizeof(*e));
        if (!e) {
                snprintf(err, err_size, "out of memory");
                return -1;
        }
        snprintf(e->greeting, sizeof(e->greeting), "%s", greeting);
        e->result = i; /* result_names follows enum vacataire_result */
        *state = e;
        return 0;
}

static int example_run(void *state, char *msg, size_t msg_size)
{
        const struct example *e = state;

        snprintf(msg, msg_size, "example says %s", e->greeting);
        return e->result;
}

static void example_free(void *state)
{
        free(state);
}

VACATAIRE_PLUGIN_DEFINE("example", "says what it is told", example_configure, example_run,
                        example_free);
