/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

#include <stdlib.h>
#include <syslog.h>

#include "util.h"

/* Where log lines go: the journal's native protocol when stderr is connected to journald
 * (JOURNAL_STREAM), else stderr with "<N>" priority prefixes when not a terminal, else plain
 * human-readable lines. */
void log_setup(const char *ident);
void log_set_max_level(int level);
int log_get_max_level(void);

/* Logs and returns -abs(error) (or 0 if error is 0), so callers can "return log_..._errno()".
 * Extra structured fields ("KEY=value", NULL-terminated) go to the journal only. */
int log_internal(int level, int error, const char *fields[], const char *format, ...)
    _printf_(4, 5);

#define log_full_errno(level, error, ...) log_internal((level), (error), NULL, __VA_ARGS__)
#define log_debug(...)                    log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...)                     log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...)                   log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...)                  log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...)                    log_full_errno(LOG_ERR, 0, __VA_ARGS__)
#define log_debug_errno(e, ...)           log_full_errno(LOG_DEBUG, (e), __VA_ARGS__)
#define log_info_errno(e, ...)            log_full_errno(LOG_INFO, (e), __VA_ARGS__)
#define log_warning_errno(e, ...)         log_full_errno(LOG_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...)           log_full_errno(LOG_ERR, (e), __VA_ARGS__)
#define log_oom()                         log_full_errno(LOG_ERR, ENOMEM, "Out of memory.")

/* A message with journal fields, e.g. log_struct(LOG_INFO, FIELDS("VACATAIRE_STATE=active"), ...)
 */
#define FIELDS(...)                    ((const char *[]){__VA_ARGS__, NULL})
#define log_struct(level, fields, ...) log_internal((level), 0, (fields), __VA_ARGS__)
