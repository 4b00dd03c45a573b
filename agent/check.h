/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

#include <systemd/sd-event.h>

#include "config.h"
#include "histogram.h"

/* The verdict of one check after fall/rise are applied. */
typedef enum CheckStatus {
        CHECK_STATUS_PENDING, /* enabled, not yet enough results for a verdict */
        CHECK_STATUS_PASSING,
        CHECK_STATUS_FAILING,
        CHECK_STATUS_DISABLED, /* scope "active" on a node that does not serve */
        _CHECK_STATUS_MAX,
} CheckStatus;

const char *check_status_to_string(CheckStatus s);
CheckStatus check_status_from_string(const char *s);

/* fall/rise arithmetic, pure so it is tested on its own: feeds one run's outcome in, returns
 * the new verdict. Starting from PENDING, `rise` passes make PASSING and `fall` failures make
 * FAILING. */
typedef struct CheckCounters {
        CheckStatus status;
        unsigned consecutive_failures;
        unsigned consecutive_successes;
} CheckCounters;
CheckStatus check_counters_apply(CheckCounters *c, bool passed, unsigned fall, unsigned rise);
/* Before check_counters_apply() for a run that followed a watched event (the plugin's watch()
 * fds fired, e.g. the process died): a failure then reaches fall at once. */
void check_counters_apply_event(CheckCounters *c, bool passed, unsigned fall);

typedef struct Check Check;

/* Called once per verdict transition (never for a repeated verdict). */
typedef void (*CheckVerdictHandler)(Check *c, CheckStatus old_status, CheckStatus new_status,
                                    void *userdata);

/* Creates a check and starts its checker process; the check begins disabled. cfg points into
 * config, of which the check keeps a reference (config may be NULL if the caller keeps cfg alive
 * itself). checker_path is the vacataire-checker helper. */
int check_new(sd_event *e, Config *config, const ConfigCheck *cfg, const char *checker_path,
              CheckVerdictHandler handler, void *userdata, Check **ret);
Check *check_free(Check *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Check *, check_free);

/* Called once, when the first checker process has loaded and configured the plugin (error 0)
 * or failed to (error < 0, message says why, naming the check). Lets the manager start only
 * once every plugin is known to be usable, without loading each one twice. */
typedef void (*CheckConfiguredHandler)(Check *c, int error, const char *message, void *userdata);
void check_set_configured_handler(Check *c, CheckConfiguredHandler handler, void *userdata);
bool check_get_configured(const Check *c);

/* Enabling starts the schedule from PENDING with counters at zero; disabling stops it (a run in
 * flight is discarded) and sets DISABLED. Neither calls the handler. */
int check_set_enabled(Check *c, bool enabled);

const ConfigCheck *check_get_config(const Check *c);
/* After a reload that left this check's definition unchanged: the same values, new storage (the
 * check moves its reference from the old configuration to config). */
void check_set_config(Check *c, Config *config, const ConfigCheck *cfg);
CheckStatus check_get_status(const Check *c);
unsigned check_get_consecutive_failures(const Check *c);
/* enum vacataire_result of the last run, or -1 before the first one. */
int check_get_last_result(const Check *c);
const char *check_get_last_message(const Check *c);
/* The performance data of the last run ("time=0.1s;1;2 size=10B"), or "" if it gave none. */
const char *check_get_last_perfdata(const Check *c);
usec_t check_get_last_run(const Check *c); /* CLOCK_MONOTONIC, 0 if never */

/* Counted since the check was created (kept across a reload that leaves it unchanged). */
typedef struct CheckStats {
        uint64_t runs;
        uint64_t failures; /* runs that failed: critical, unknown, timed out, crashed */
        Histogram duration;
} CheckStats;
const CheckStats *check_get_stats(const Check *c);

/* Where the vacataire-checker helper is: beside our own executable (build tree), else the
 * installed libexec path. */
int check_find_checker(char **ret);
