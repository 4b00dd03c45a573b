/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/* The wire format between the daemon and vacataire-checker, shared by both sides; the protocol
 * itself is described at the top of checker-main.c. Both ends are built from the same tree, and
 * the configure request carries a version so a daemon and a checker from different builds refuse
 * each other cleanly. Every struct is laid out without padding; receivers memcpy() them out of
 * the packet, so alignment does not matter. */

#include <stdint.h>

#define CHECKER_PROTOCOL_VERSION 2u
#define CHECKER_FD               3 /* the checker's end of the socket pair */
#define CHECKER_CONFIGURE_MAX    (64u * 1024u)
#define CHECKER_RESULT_MAX       256u  /* result message, NUL included */
#define CHECKER_ERROR_MAX        1024u /* configure error message, NUL included */
#define CHECKER_WATCH_MAX        64u   /* fds a plugin's watch() may hand the checker */
#define CHECKER_PERFDATA_MAX     1024u /* result perfdata, NUL included */
/* The checker's exit status after its plugin hit memory_limit (it answered the run first). */
#define CHECKER_EXIT_MEMORY_LIMIT 86

enum checker_message_type {
        CHECKER_MSG_CONFIGURE = 1,   /* daemon -> checker, first message */
        CHECKER_MSG_CONFIGURED = 2,  /* checker -> daemon, answers CONFIGURE */
        CHECKER_MSG_RUN = 3,         /* daemon -> checker */
        CHECKER_MSG_RESULT = 4,      /* checker -> daemon, answers RUN */
        CHECKER_MSG_EXEC_FAILED = 5, /* forked child -> daemon, when exec() itself failed */
        CHECKER_MSG_WAKE = 6,        /* checker -> daemon, unasked: a watched fd fired, run now */
};

/* WAKE is this struct alone; at most one is sent between two runs. */
struct checker_wake {
        uint32_t type;
};

/* Followed by path_size bytes of plugin path (NUL included), then n_params times a
 * checker_param followed by its name (name_size bytes) and string value (string_size bytes),
 * both NUL-terminated; string_size is 0 for non-string params. A VACATAIRE_PARAM_LIST param has
 * `integer` elements right after it, each a checker_param of a scalar type with name_size 0. */
struct checker_configure {
        uint32_t type;
        uint32_t protocol;
        double timeout; /* seconds */
        uint32_t n_params;
        uint32_t path_size;
};

struct checker_param {
        uint32_t type; /* enum vacataire_param_type */
        int32_t boolean;
        int64_t integer;
        double number;
        uint32_t name_size;
        uint32_t string_size;
};

/* Followed by a NUL-terminated message when error != 0. Also used for EXEC_FAILED. */
struct checker_configured {
        uint32_t type;
        int32_t error; /* 0, or -errno */
};

struct checker_run {
        uint32_t type;
        uint32_t id; /* echoed in the result, so a late answer to a discarded run is recognised */
};

/* Followed by a NUL-terminated message of at most CHECKER_RESULT_MAX bytes, then a NUL-terminated
 * perfdata of at most CHECKER_PERFDATA_MAX bytes (empty if the plugin gave none). */
struct checker_result {
        uint32_t type;
        uint32_t id;
        int32_t result; /* enum vacataire_result */
};
