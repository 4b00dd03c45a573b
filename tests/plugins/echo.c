/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Passes with a message spelling out the timeout and every param with its type, so tests see
 * exactly what reached the plugin. A string param named perfdata is also returned as the
 * run's perfdata ("...|value"). */
#include <inttypes.h>
#include <stdlib.h>

#include "vacataire-plugin.h"

static int echo_configure(const struct vacataire_params *params, double timeout, void **state,
                          char *err, size_t err_size)
{
        char *s = malloc(512);
        size_t n = 0;
        const char *perfdata = NULL;

        if (!s)
                return -1;
        n += (size_t)snprintf(s + n, 256 - n, "timeout=%g", timeout);
        for (uint32_t i = 0; i < params->count && n < 256; i++) {
                const struct vacataire_param *p = &params->items[i];
                switch (p->type) {
                case VACATAIRE_PARAM_INT:
                        n += (size_t)snprintf(s + n, 256 - n, " %s=%" PRId64 ":int(%g)", p->name,
                                              p->integer, p->number);
                        break;
                case VACATAIRE_PARAM_FLOAT:
                        n += (size_t)snprintf(s + n, 256 - n, " %s=%g:float", p->name, p->number);
                        break;
                case VACATAIRE_PARAM_BOOL:
                        n += (size_t)snprintf(s + n, 256 - n, " %s=%s:bool", p->name,
                                              p->boolean ? "true" : "false");
                        break;
                case VACATAIRE_PARAM_LIST:
                        n += (size_t)snprintf(s + n, 256 - n, " %s=[", p->name);
                        for (int64_t j = 0; j < p->integer && n < 256; j++) {
                                const struct vacataire_param *e = &p->list[j];
                                if (e->type == VACATAIRE_PARAM_STRING)
                                        n += (size_t)snprintf(s + n, 256 - n, "%s%s:%s",
                                                              j ? "," : "", e->string, e->name);
                                else
                                        n += (size_t)snprintf(s + n, 256 - n, "%s%g:%s",
                                                              j ? "," : "", e->number, e->name);
                        }
                        if (n < 256)
                                n += (size_t)snprintf(s + n, 256 - n, "]:list");
                        break;
                default:
                        n += (size_t)snprintf(s + n, 256 - n, " %s=%s:string", p->name, p->string);
                        if (strcmp(p->name, "perfdata") == 0)
                                perfdata = p->string;
                }
        }
        if (perfdata && n < 256)
                snprintf(s + n, 512 - n, "|%s", perfdata);
        *state = s;
        return 0;
}

static int echo_run(void *state, char *msg, size_t msg_size)
{
        snprintf(msg, msg_size, "%s", (const char *)state);
        return VACATAIRE_OK;
}

VACATAIRE_PLUGIN_DEFINE("echo", "passes, echoing its params", echo_configure, echo_run, free);
