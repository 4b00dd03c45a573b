/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

#include "util.h"

/*
 * What made the role state change, and the record of those changes (`vacataire-ctl history`).
 * The record is <state_dir>/history, one tab-separated line per change, appended with one small
 * write each (O_APPEND), bounded by rewriting it to the last HISTORY_MAX lines once it holds
 * twice that many. Lines that do not parse (a torn write, an edit) are skipped when it is read.
 */
#define HISTORY_MAX       100
#define CAUSE_NAME_MAX    64
#define CAUSE_MESSAGE_MAX 256
#define HISTORY_TEXT_MAX  256

typedef enum CauseKind {
        CAUSE_STARTUP,   /* the agent started (saved state, probe) */
        CAUSE_CHECK,     /* a check verdict: check and message name it */
        CAUSE_OPERATOR,  /* vacataire-ctl: message names the command */
        CAUSE_PEER,      /* the peer asked or told us something: message is its reason */
        CAUSE_PEER_LOST, /* nothing from the peer for dead_time */
        CAUSE_TIMER,     /* init_dead passed, or a request to the peer timed out */
        CAUSE_SERVICE,   /* a service failed to start or stop */
        _CAUSE_KIND_MAX,
} CauseKind;

const char *cause_kind_to_string(CauseKind k);
CauseKind cause_kind_from_string(const char *s);

typedef struct Cause {
        CauseKind kind;
        char check[CAUSE_NAME_MAX];      /* "" unless kind is CAUSE_CHECK */
        char message[CAUSE_MESSAGE_MAX]; /* the check's message, the command, the peer's reason */
} Cause;

/* Fills c; check and message may be NULL. */
void cause_set(Cause *c, CauseKind kind, const char *check, const char *message);
/* "check web: process not found", "operator: quiesce", "peer lost", ... into buf. */
const char *cause_to_string(const Cause *c, char *buf, size_t size);

typedef struct HistoryEntry {
        usec_t time; /* CLOCK_REALTIME */
        uint64_t epoch;
        char from[16], to[16];         /* role state names */
        char reason[HISTORY_TEXT_MAX]; /* the role machine's message */
        Cause cause;
} HistoryEntry;

/* One line, with '\n', tabs, newlines and backslashes escaped; into a malloc'd string. Pure. */
char *history_format_line(const HistoryEntry *e);
/* Parses one line (without its '\n'): 0, or -EBADMSG. Pure. */
int history_parse_line(const char *line, HistoryEntry *ret);

typedef struct History History;

/* Reads <dir>/history (a missing file is an empty history), keeps the last HISTORY_MAX entries
 * and opens it for appending; creates dir if needed. On an unusable file, logs and carries on
 * with an empty record rather than refuse to start. */
int history_open(const char *dir, History **ret);
History *history_free(History *h);
DEFINE_TRIVIAL_CLEANUP_FUNC(History *, history_free);

/* Records e in memory and appends it to the file (errors are logged once, not returned). */
void history_add(History *h, const HistoryEntry *e);
size_t history_count(const History *h);
/* i = 0 is the oldest kept entry. */
const HistoryEntry *history_get(const History *h, size_t i);
/* Text table (oldest first) or a JSON array, malloc'd. */
int history_format(const History *h, bool json, char **ret);
