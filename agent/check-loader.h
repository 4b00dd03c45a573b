/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

#include <systemd/sd-event.h>

#include "check.h"

/*
 * Starts a batch of checks and waits, on the event loop, until the first checker process of each
 * has loaded and configured its plugin. The start-up, a reload and `vacataire -t` all go through
 * it: a plugin is loaded once, by the process that will run it, and nothing waits outside the
 * loop. The checks begin disabled; the caller takes the ones it wants when the batch is done.
 */
typedef struct CheckLoader CheckLoader;

/* Called once, from the loop: 0 when every check is ready, -EINVAL when some plugin refused or
 * its checker died, -ETIMEDOUT when the deadline passed first (check_loader_error() says which
 * and why). The loader may be freed from the callback. */
typedef void (*CheckLoaderDone)(CheckLoader *l, int error, void *userdata);

/* Creates the checks config->checks[i] for which wanted[i] is true (wanted NULL: all of them),
 * each holding a reference to config, with handler/handler_userdata as their verdict handler.
 * With no check to make, done is still called from the loop. */
int check_loader_new(sd_event *e, Config *config, const bool *wanted, const char *checker_path,
                     usec_t timeout, CheckVerdictHandler handler, void *handler_userdata,
                     CheckLoaderDone done, void *userdata, CheckLoader **ret);
/* Frees the checks not taken, which ends their checker processes. Accepts NULL. */
CheckLoader *check_loader_free(CheckLoader *l);
DEFINE_TRIVIAL_CLEANUP_FUNC(CheckLoader *, check_loader_free);

sd_event *check_loader_event(const CheckLoader *l);
/* The check made for config->checks[i] (NULL if not wanted or already taken); the caller owns it.
 */
Check *check_loader_take(CheckLoader *l, size_t i);
/* After done: why config->checks[i] is not usable ("check NAME: ..."), or NULL. */
const char *check_loader_error(const CheckLoader *l, size_t i);
/* The first such message, or NULL. */
const char *check_loader_first_error(const CheckLoader *l);
