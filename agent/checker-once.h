/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

#include <stdbool.h>

#include "vacataire-plugin.h"

/* The arguments of vacataire-checker --once: PLUGIN_PATH [name=value ...] [--timeout SECONDS]. */
typedef struct CheckerOnceArgs {
        const char *path; /* as given */
        double timeout;   /* seconds, 10 unless given */
        struct vacataire_params params;

        struct vacataire_param *raw, *items; /* what params points into */
        bool *listed;
} CheckerOnceArgs;

/* argv is edited in place and must outlive ret; ret must go to checker_once_args_done() whatever
 * this returns. -EINVAL: not the usage; -ERANGE: a bad timeout (said on stderr); -ENOMEM. */
int checker_once_parse(int argc, char **argv, CheckerOnceArgs *ret);
void checker_once_args_done(CheckerOnceArgs *a);
