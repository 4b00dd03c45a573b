/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "checker-once.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* --once values: integer if it parses as one, then float, then true/false, else a string. */
static void parse_value(const char *s, struct vacataire_param *p)
{
        char *end;

        errno = 0;
        long long i = strtoll(s, &end, 10);
        if (*s && !*end && errno == 0) {
                p->type = VACATAIRE_PARAM_INT;
                p->integer = i;
                p->number = (double)i;
                return;
        }
        errno = 0;
        double d = strtod(s, &end);
        if (*s && !*end && errno == 0 && isfinite(d)) {
                p->type = VACATAIRE_PARAM_FLOAT;
                p->number = d;
                return;
        }
        if (streq(s, "true") || streq(s, "false")) {
                p->type = VACATAIRE_PARAM_BOOL;
                p->boolean = streq(s, "true");
                return;
        }
        p->type = VACATAIRE_PARAM_STRING;
        p->string = s;
}

/* --once params: a name given more than once, or written name[]=, makes a list of its values in
 * order. items has room for 2 * n: the params first, the elements of lists after them. */
static uint32_t group_lists(struct vacataire_param *raw, size_t n, bool *listed,
                            struct vacataire_param *items)
{
        uint32_t count = 0;
        size_t n_elements = 0;

        for (size_t i = 0; i < n; i++) {
                struct vacataire_param *item = NULL;
                for (uint32_t k = 0; k < count && !item; k++)
                        if (streq(items[k].name, raw[i].name))
                                item = &items[k];
                if (!item) {
                        size_t more = 0;
                        for (size_t j = i + 1; j < n; j++)
                                more += streq(raw[j].name, raw[i].name);
                        if (more == 0 && !listed[i]) {
                                items[count++] = raw[i];
                                continue;
                        }
                        item = &items[count++];
                        *item = (struct vacataire_param){.name = raw[i].name,
                                                         .type = VACATAIRE_PARAM_LIST,
                                                         .list = &items[n + n_elements]};
                        n_elements += more + 1;
                }
                ((struct vacataire_param *)item->list)[item->integer++] = raw[i];
        }
        /* command=check_dummy command=0: values of mixed types are all the strings as typed. */
        for (uint32_t k = 0; k < count; k++) {
                struct vacataire_param *e = (struct vacataire_param *)items[k].list;
                bool mixed = false;
                if (items[k].type != VACATAIRE_PARAM_LIST)
                        continue;
                for (int64_t j = 1; j < items[k].integer; j++)
                        mixed |= e[j].type != e[0].type;
                for (int64_t j = 0; mixed && j < items[k].integer; j++)
                        e[j] = (struct vacataire_param){.name = e[j].name,
                                                        .type = VACATAIRE_PARAM_STRING,
                                                        .string = e[j].string};
        }
        return count;
}

int checker_once_parse(int argc, char **argv, CheckerOnceArgs *ret)
{
        struct vacataire_param *raw;
        bool *listed;
        size_t n_raw = 0;

        *ret = (CheckerOnceArgs){.timeout = 10.0};
        ret->raw = raw = calloc((size_t)argc + 1, sizeof(*raw));
        ret->listed = listed = calloc((size_t)argc + 1, sizeof(*listed));
        ret->items = calloc(2 * ((size_t)argc + 1), sizeof(*ret->items));
        if (!raw || !listed || !ret->items)
                return -ENOMEM;
        for (int i = 0; i < argc; i++) {
                const char *a = argv[i], *eq, *t = NULL;

                if (streq(a, "--timeout")) {
                        if (i + 1 >= argc)
                                return -EINVAL;
                        t = argv[++i];
                } else if (strncmp(a, "--timeout=", 10) == 0)
                        t = a + 10;
                if (t) {
                        char *end;
                        errno = 0;
                        ret->timeout = strtod(t, &end);
                        if (!*t || *end || errno || !(ret->timeout > 0) ||
                            !isfinite(ret->timeout)) {
                                fprintf(stderr, "vacataire-checker: invalid timeout: %s\n", t);
                                return -ERANGE;
                        }
                } else if (!ret->path)
                        ret->path = a;
                else if ((eq = strchr(a, '=')) && eq != a) {
                        struct vacataire_param *p = &raw[n_raw];
                        /* argv is ours to edit; the name ends where the value starts. */
                        argv[i][eq - a] = 0;
                        if (eq - a > 2 && strncmp(eq - 2, "[]", 2) == 0) {
                                argv[i][eq - a - 2] = 0;
                                listed[n_raw] = true;
                        }
                        p->name = a;
                        parse_value(eq + 1, p);
                        p->string = eq + 1; /* the text as typed, see group_lists() */
                        n_raw++;
                } else
                        return -EINVAL;
        }
        if (!ret->path)
                return -EINVAL;
        ret->params.count = group_lists(raw, n_raw, listed, ret->items);
        ret->params.items = ret->items;
        return 0;
}

void checker_once_args_done(CheckerOnceArgs *a)
{
        free(a->raw);
        free(a->listed);
        free(a->items);
        *a = (CheckerOnceArgs){0};
}
