/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * memcheck: memory and swap thresholds from /proc/meminfo. Available memory is MemAvailable (what
 * the kernel estimates can be allocated without swapping), not MemFree, which page cache keeps
 * near zero on any busy host.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "vacataire-plugin.h"

struct memcheck {
        char *meminfo;
        bool check_available, check_swap;
        double min_available_percent;
        double min_swap_free_percent;
        bool no_swap_passes;
};

struct meminfo {
        /* kB, as /proc/meminfo counts them; UINT64_MAX when the line is missing. */
        uint64_t mem_total, mem_available, swap_total, swap_free;
};

static void memcheck_free(void *userdata)
{
        struct memcheck *c = userdata;

        if (!c)
                return;
        free(c->meminfo);
        free(c);
}

static int read_meminfo(const char *path, struct meminfo *ret)
{
        struct {
                const char *key;
                uint64_t *value;
        } fields[] = {
            {"MemTotal:", &ret->mem_total},
            {"MemAvailable:", &ret->mem_available},
            {"SwapTotal:", &ret->swap_total},
            {"SwapFree:", &ret->swap_free},
        };
        char line[256];
        FILE *f;

        f = fopen(path, "re");
        if (!f)
                return -errno;
        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
                *fields[i].value = UINT64_MAX;
        while (fgets(line, sizeof(line), f)) {
                for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
                        size_t n = strlen(fields[i].key);
                        uint64_t v;
                        char unit[8];

                        if (strncmp(line, fields[i].key, n) != 0)
                                continue;
                        if (sscanf(line + n, "%" SCNu64 " %7s", &v, unit) == 2 &&
                            strcmp(unit, "kB") == 0 && v < UINT64_MAX)
                                *fields[i].value = v;
                }
        }
        fclose(f);
        return 0;
}

/* kB to "512 MiB" / "15.6 GiB": one decimal, dropped when it is zero. */
static const char *format_size(uint64_t kib, char *buf, size_t size)
{
        static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
        double v = (double)kib;
        size_t u = 0;

        while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
                v /= 1024.0;
                u++;
        }
        snprintf(buf, size, "%.1f", v);
        size_t len = strlen(buf);
        if (len >= 2 && strcmp(buf + len - 2, ".0") == 0)
                buf[len - 2] = 0;
        len = strlen(buf);
        snprintf(buf + len, size - len, " %s", units[u]);
        return buf;
}

static void append(char *msg, size_t msg_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void append(char *msg, size_t msg_size, const char *fmt, ...)
{
        size_t len = strlen(msg);
        va_list ap;

        if (len + 1 >= msg_size)
                return;
        va_start(ap, fmt);
        vsnprintf(msg + len, msg_size - len, fmt, ap);
        va_end(ap);
}

/* One decimal. A threshold gets up to 4 so that 2.25 reads "2.25"; a measure below its threshold
 * gets more until it no longer reads as equal to it ("4.96% < 5.0%", not "5.0% < 5.0%"). */
static const char *format_percent(double v, bool exact, double below, char *buf, size_t size)
{
        for (int decimals = 1;; decimals++) {
                snprintf(buf, size, "%.*f", decimals, v);
                double shown = strtod(buf, NULL);
                bool done = exact ? shown - v < 1e-9 && v - shown < 1e-9 : shown < below;
                if (done || decimals == 4)
                        return buf;
        }
}

/* Appends "<label> P%" and, below the threshold, "(part of whole) < T%". Returns whether it passes.
 */
static bool check_ratio(char *msg, size_t msg_size, const char *label, uint64_t part,
                        uint64_t whole, double threshold)
{
        /* Multiply first: part * 100 / whole is exact for round figures, so "at threshold" is. */
        double percent = 100.0 * (double)part / (double)whole;
        bool pass = percent >= threshold;
        char p[32], t[32], a[32], b[32];

        append(msg, msg_size, "%s%s %s%%", msg[0] ? "; " : "", label,
               format_percent(percent, false, pass ? 1000.0 : threshold, p, sizeof(p)));
        if (pass)
                return true;
        append(msg, msg_size, " (%s of %s) < %s%%", format_size(part, a, sizeof(a)),
               format_size(whole, b, sizeof(b)), format_percent(threshold, true, 0, t, sizeof(t)));
        return false;
}

static int memcheck_run(void *userdata, char *msg, size_t msg_size)
{
        const struct memcheck *c = userdata;
        struct meminfo m;
        bool ok = true;
        int r;

        msg[0] = 0;
        r = read_meminfo(c->meminfo, &m);
        if (r < 0) {
                snprintf(msg, msg_size, "cannot read %s: %s", c->meminfo, strerror(-r));
                return VACATAIRE_UNKNOWN;
        }
        if (c->check_available) {
                if (m.mem_total == UINT64_MAX || m.mem_total == 0 ||
                    m.mem_available == UINT64_MAX) {
                        snprintf(msg, msg_size, "%s: no MemTotal/MemAvailable in kB", c->meminfo);
                        return VACATAIRE_UNKNOWN;
                }
                ok = check_ratio(msg, msg_size, "available", m.mem_available, m.mem_total,
                                 c->min_available_percent) &&
                     ok;
        }
        if (c->check_swap) {
                if (m.swap_total == UINT64_MAX || m.swap_free == UINT64_MAX) {
                        snprintf(msg, msg_size, "%s: no SwapTotal/SwapFree in kB", c->meminfo);
                        return VACATAIRE_UNKNOWN;
                }
                if (m.swap_total == 0) {
                        append(msg, msg_size, "%sno swap%s", msg[0] ? "; " : "",
                               c->no_swap_passes ? "" : " (no_swap = \"fail\")");
                        ok = c->no_swap_passes && ok;
                } else
                        ok = check_ratio(msg, msg_size, "swap free", m.swap_free, m.swap_total,
                                         c->min_swap_free_percent) &&
                             ok;
        }
        return ok ? VACATAIRE_OK : VACATAIRE_CRITICAL;
}

static int percent_param(const struct vacataire_params *params, const char *name, bool *present,
                         double *ret, char *err, size_t err_size)
{
        int r = vacataire_param_number(params, name, 0.0, 100.0, ret, err, err_size);

        *present = r > 0;
        return r < 0 ? r : 0;
}

static int memcheck_configure_into(struct memcheck *c, const struct vacataire_params *params,
                                   char *err, size_t err_size)
{
        static const char *const known[] = {"min_available_percent", "min_swap_free_percent",
                                            "meminfo", "no_swap", NULL};
        const char *unknown, *meminfo = "/proc/meminfo";
        int no_swap = 0, r;

        unknown = vacataire_params_unknown(params, known);
        if (unknown) {
                snprintf(err, err_size,
                         "params.%s: unknown parameter (known: min_available_percent, "
                         "min_swap_free_percent, meminfo, no_swap)",
                         unknown);
                return -EINVAL;
        }
        r = percent_param(params, "min_available_percent", &c->check_available,
                          &c->min_available_percent, err, err_size);
        if (r < 0)
                return r;
        r = percent_param(params, "min_swap_free_percent", &c->check_swap,
                          &c->min_swap_free_percent, err, err_size);
        if (r < 0)
                return r;
        if (!c->check_available && !c->check_swap) {
                snprintf(err, err_size,
                         "params.min_available_percent: missing (give it, "
                         "min_swap_free_percent, or both)");
                return -EINVAL;
        }

        r = vacataire_param_choice(params, "no_swap", (const char *const[]){"pass", "fail", NULL},
                                   &no_swap, err, err_size);
        if (r < 0)
                return r;
        if (r > 0 && !c->check_swap) {
                snprintf(err, err_size, "params.no_swap: only applies with min_swap_free_percent");
                return -EINVAL;
        }
        c->no_swap_passes = no_swap == 0;

        r = vacataire_param_string(params, "meminfo", &meminfo, err, err_size);
        if (r < 0)
                return r;
        c->meminfo = strdup(meminfo);
        if (!c->meminfo) {
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }
        return 0;
}

static int memcheck_configure(const struct vacataire_params *params, double timeout, void **state,
                              char *err, size_t err_size)
{
        struct memcheck *c;
        int r;

        c = calloc(1, sizeof(*c));
        if (!c) {
                snprintf(err, err_size, "out of memory");
                return -ENOMEM;
        }
        r = memcheck_configure_into(c, params, err, err_size);
        if (r < 0) {
                memcheck_free(c);
                return r;
        }
        *state = c;
        return 0;
}

VACATAIRE_PLUGIN_DEFINE("memcheck", "available memory and free swap thresholds", memcheck_configure,
                        memcheck_run, memcheck_free);
