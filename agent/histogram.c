/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "histogram.h"

const double histogram_bounds[HISTOGRAM_BUCKETS] = {
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

void histogram_observe(Histogram *h, double seconds)
{
        if (!(seconds >= 0))
                seconds = 0;
        for (size_t i = 0; i < HISTOGRAM_BUCKETS; i++)
                if (seconds <= histogram_bounds[i]) {
                        h->buckets[i]++;
                        break;
                }
        h->count++;
        h->sum += seconds;
}

void histogram_write(FILE *f, const char *name, const char *labels, const Histogram *h)
{
        const char *sep = labels && *labels ? "," : "";
        uint64_t cumulative = 0;

        labels = labels ?: "";
        for (size_t i = 0; i < HISTOGRAM_BUCKETS; i++) {
                cumulative += h->buckets[i];
                fprintf(f, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep,
                        histogram_bounds[i], (unsigned long long)cumulative);
        }
        fprintf(f, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
                (unsigned long long)h->count);
        fprintf(f, "%s_sum%s%s%s %.6f\n", name, *labels ? "{" : "", labels, *labels ? "}" : "",
                h->sum);
        fprintf(f, "%s_count%s%s%s %llu\n", name, *labels ? "{" : "", labels, *labels ? "}" : "",
                (unsigned long long)h->count);
}
