/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

#include "util.h"

/* Durations in seconds counted into fixed buckets, the shape Prometheus calls a histogram. */
#define HISTOGRAM_BUCKETS 12

extern const double histogram_bounds[HISTOGRAM_BUCKETS]; /* upper bounds, seconds, ascending */

typedef struct Histogram {
        uint64_t buckets[HISTOGRAM_BUCKETS]; /* not cumulative: bucket i counts (bound i-1, i] */
        uint64_t count;                      /* every observation, including those past the last */
        double sum;
} Histogram;

void histogram_observe(Histogram *h, double seconds);
/* Prometheus text: NAME_bucket{LABELS,le="..."} (cumulative), NAME_sum, NAME_count. labels is
 * "" or 'key="value",...' without braces. */
void histogram_write(FILE *f, const char *name, const char *labels, const Histogram *h);
