/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Allocates without bound. With `checked = true` it stops at the first failed malloc() and
 * reports it (a careful plugin); otherwise it writes through the NULL it gets (a careless one,
 * which crashes once memory_limit bites). With `megabytes = N` it takes N MiB and passes. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "vacataire-plugin.h"

/* Keeps every block reachable, so the compiler cannot drop the allocations. */
static void *volatile sink;

struct alloc_state {
        bool checked;
        long long megabytes; /* 0: without bound */
};

static int alloc_configure(const struct vacataire_params *params, double timeout, void **state,
                           char *err, size_t err_size)
{
        const struct vacataire_param *c = vacataire_param_find(params, "checked");
        const struct vacataire_param *m = vacataire_param_find(params, "megabytes");
        struct alloc_state *s = calloc(1, sizeof(*s));

        if (!s)
                return -1;
        s->checked = c && c->type == VACATAIRE_PARAM_BOOL && c->boolean;
        s->megabytes = m && m->type == VACATAIRE_PARAM_INT ? m->integer : 0;
        *state = s;
        return 0;
}

static int alloc_run(void *state, char *msg, size_t msg_size)
{
        const struct alloc_state *s = state;

        for (long long i = 0; s->megabytes == 0 || i < s->megabytes; i++) {
                char *p = malloc(1 << 20);
                if (!p && s->checked) {
                        snprintf(msg, msg_size, "malloc failed after %lld MiB", i);
                        return VACATAIRE_UNKNOWN;
                }
                memset(p, 1, 1 << 20); /* careless: crashes on NULL */
                *(void **)p = sink;
                sink = p;
        }
        snprintf(msg, msg_size, "took %lld MiB", s->megabytes);
        return VACATAIRE_OK;
}

VACATAIRE_PLUGIN_DEFINE("alloc", "allocates memory", alloc_configure, alloc_run, free);
