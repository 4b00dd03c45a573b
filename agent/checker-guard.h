/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/* What vacataire-checker does around the plugin so that nothing it starts outlives the check and
 * its memory stays bounded: death with the daemon takes the whole process group along, and
 * RLIMIT_AS holds the plugin to memory_limit bytes above the checker's own start-up size. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* memory_limit 0: no limit. Returns 0 or -errno. */
int checker_guard_setup(uint64_t memory_limit);
/* The run in progress, so that a crash caused by the limit is answered to the right run. */
void checker_guard_begin_run(uint32_t id);
/* After a run: did the address space come within reach of the limit (allocations failing)? */
bool checker_guard_limit_reached(void);
/* "256M", "1536K", "1000": as a user would write it. */
void checker_guard_format_bytes(uint64_t bytes, char *buf, size_t size);
/* Parses "256M", "1G", "4096" (binary suffixes K, M, G, T). Returns 0 or -EINVAL/-ERANGE. */
int checker_guard_parse_bytes(const char *s, uint64_t *ret);
