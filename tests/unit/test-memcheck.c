/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* memcheck against meminfo files (tests/unit/meminfo/) at, above and below its thresholds, and
 * against this host's /proc/meminfo. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "plugin-run.h"

#define MEMINFO(name) TEST_SOURCE_DIR "/tests/unit/meminfo/" name

static int setup(void **state)
{
        return plugin_run_load(TEST_BUILD_DIR "/plugins/memcheck.so");
}

static int teardown(void **state)
{
        plugin = plugin_free(plugin);
        return 0;
}

static int run_check(const struct vacataire_param *items, size_t n, char *msg, size_t msg_size)
{
        return run_plugin(items, n, 1.0, msg, msg_size);
}

/* Runs a check and asserts its result and exact message. */
#define CHECK(result, message, ...)                                                                \
        do {                                                                                       \
                const struct vacataire_param items_[] = {__VA_ARGS__};                             \
                char msg_[256] = "";                                                               \
                assert_int_equal(run_check(items_, ELEMENTSOF(items_), msg_, sizeof(msg_)),        \
                                 result);                                                          \
                assert_string_equal(msg_, message);                                                \
        } while (0)

static void test_healthy(void **state)
{
        CHECK(VACATAIRE_OK, "available 50.0%; swap free 80.0%", STR("meminfo", MEMINFO("healthy")),
              FLOAT("min_available_percent", 5.0), FLOAT("min_swap_free_percent", 10.0));
        CHECK(VACATAIRE_OK, "available 50.0%", STR("meminfo", MEMINFO("healthy")),
              INT("min_available_percent", 50));
        CHECK(VACATAIRE_OK, "swap free 80.0%", STR("meminfo", MEMINFO("healthy")),
              INT("min_swap_free_percent", 80));
}

static void test_low_available(void **state)
{
        CHECK(VACATAIRE_CRITICAL, "available 3.1% (512 MiB of 16 GiB) < 5.0%; swap free 80.0%",
              STR("meminfo", MEMINFO("low-available")), FLOAT("min_available_percent", 5.0),
              FLOAT("min_swap_free_percent", 10.0));
        /* A threshold is shown as given. */
        CHECK(VACATAIRE_CRITICAL, "available 3.1% (512 MiB of 16 GiB) < 3.25%",
              STR("meminfo", MEMINFO("low-available")), FLOAT("min_available_percent", 3.25));
        CHECK(VACATAIRE_OK, "available 3.1%", STR("meminfo", MEMINFO("low-available")),
              FLOAT("min_available_percent", 3.0));
}

static void test_low_swap(void **state)
{
        CHECK(VACATAIRE_CRITICAL, "available 50.0%; swap free 5.0% (102.4 MiB of 2 GiB) < 10.0%",
              STR("meminfo", MEMINFO("low-swap")), FLOAT("min_available_percent", 5.0),
              FLOAT("min_swap_free_percent", 10.0));
        CHECK(VACATAIRE_OK, "available 50.0%", STR("meminfo", MEMINFO("low-swap")),
              FLOAT("min_available_percent", 5.0));
}

static void test_at_threshold_passes(void **state)
{
        CHECK(VACATAIRE_OK, "available 5.0%; swap free 10.0%",
              STR("meminfo", MEMINFO("at-threshold")), FLOAT("min_available_percent", 5.0),
              FLOAT("min_swap_free_percent", 10.0));
        CHECK(VACATAIRE_OK, "available 5.0%; swap free 10.0%",
              STR("meminfo", MEMINFO("at-threshold")), INT("min_available_percent", 5),
              INT("min_swap_free_percent", 10));
}

/* Just under the threshold fails, and the figure does not read as equal to it. */
static void test_below_threshold(void **state)
{
        CHECK(VACATAIRE_CRITICAL,
              "available 4.9999% (48.8 MiB of 976.6 MiB) < 5.0%; "
              "swap free 9.9999% (97.7 MiB of 976.6 MiB) < 10.0%",
              STR("meminfo", MEMINFO("below-threshold")), FLOAT("min_available_percent", 5.0),
              FLOAT("min_swap_free_percent", 10.0));
}

static void test_no_swap(void **state)
{
        CHECK(VACATAIRE_OK, "available 50.0%; no swap", STR("meminfo", MEMINFO("no-swap")),
              FLOAT("min_available_percent", 5.0), FLOAT("min_swap_free_percent", 10.0));
        CHECK(VACATAIRE_OK, "available 50.0%; no swap", STR("meminfo", MEMINFO("no-swap")),
              FLOAT("min_available_percent", 5.0), FLOAT("min_swap_free_percent", 10.0),
              STR("no_swap", "pass"));
        CHECK(VACATAIRE_CRITICAL, "available 50.0%; no swap (no_swap = \"fail\")",
              STR("meminfo", MEMINFO("no-swap")), FLOAT("min_available_percent", 5.0),
              FLOAT("min_swap_free_percent", 10.0), STR("no_swap", "fail"));
        /* A host with swap is not affected by no_swap. */
        CHECK(VACATAIRE_OK, "swap free 80.0%", STR("meminfo", MEMINFO("healthy")),
              FLOAT("min_swap_free_percent", 10.0), STR("no_swap", "fail"));
}

static void test_unparseable(void **state)
{
        CHECK(VACATAIRE_UNKNOWN, MEMINFO("garbage") ": no MemTotal/MemAvailable in kB",
              STR("meminfo", MEMINFO("garbage")), FLOAT("min_available_percent", 5.0));
        CHECK(VACATAIRE_UNKNOWN, MEMINFO("garbage") ": no SwapTotal/SwapFree in kB",
              STR("meminfo", MEMINFO("garbage")), FLOAT("min_swap_free_percent", 5.0));
        CHECK(VACATAIRE_UNKNOWN, MEMINFO("zero-total") ": no MemTotal/MemAvailable in kB",
              STR("meminfo", MEMINFO("zero-total")), FLOAT("min_available_percent", 5.0));
        /* Kernels before 3.14 have no MemAvailable: only the swap check can run there. */
        CHECK(VACATAIRE_UNKNOWN, MEMINFO("no-memavailable") ": no MemTotal/MemAvailable in kB",
              STR("meminfo", MEMINFO("no-memavailable")), FLOAT("min_available_percent", 5.0));
        CHECK(VACATAIRE_OK, "swap free 100.0%", STR("meminfo", MEMINFO("no-memavailable")),
              FLOAT("min_swap_free_percent", 5.0));
        CHECK(VACATAIRE_UNKNOWN, "cannot read /nonexistent/meminfo: No such file or directory",
              STR("meminfo", "/nonexistent/meminfo"), FLOAT("min_available_percent", 5.0));
}

/* This host's own /proc/meminfo parses: 0% always passes, 100% (nothing in use) never does. */
static void test_real_meminfo(void **state)
{
        const struct vacataire_param zero[] = {INT("min_available_percent", 0)};
        const struct vacataire_param full[] = {INT("min_available_percent", 100)};
        char msg[256];

        assert_int_equal(run_check(zero, ELEMENTSOF(zero), msg, sizeof(msg)), VACATAIRE_OK);
        assert_memory_equal(msg, "available ", strlen("available "));
        assert_int_equal(run_check(full, ELEMENTSOF(full), msg, sizeof(msg)), VACATAIRE_CRITICAL);
        assert_non_null(strstr(msg, "iB) < 100.0%"));
}

static void test_param_errors(void **state)
{
        CONFIGURE_ERROR("params.min_available_percent: missing (give it, min_swap_free_percent, "
                        "or both)",
                        STR("meminfo", "/proc/meminfo"));
        CONFIGURE_ERROR("params.min_available: unknown parameter (known: min_available_percent, "
                        "min_swap_free_percent, meminfo, no_swap)",
                        FLOAT("min_available", 5.0));
        CONFIGURE_ERROR("params.min_available_percent: must be a number from 0 to 100",
                        FLOAT("min_available_percent", -0.5));
        CONFIGURE_ERROR("params.min_available_percent: must be a number from 0 to 100",
                        INT("min_available_percent", 101));
        CONFIGURE_ERROR("params.min_available_percent: must be a number from 0 to 100",
                        STR("min_available_percent", "5"));
        CONFIGURE_ERROR("params.min_swap_free_percent: must be a number from 0 to 100",
                        FLOAT("min_available_percent", 5), BOOL("min_swap_free_percent", 1));
        CONFIGURE_ERROR("params.no_swap: must be \"pass\" or \"fail\"",
                        FLOAT("min_swap_free_percent", 5), STR("no_swap", "ignore"));
        CONFIGURE_ERROR("params.no_swap: must be \"pass\" or \"fail\"",
                        FLOAT("min_swap_free_percent", 5), BOOL("no_swap", 1));
        CONFIGURE_ERROR("params.no_swap: only applies with min_swap_free_percent",
                        FLOAT("min_available_percent", 5), STR("no_swap", "fail"));
        CONFIGURE_ERROR("params.meminfo: must be a non-empty string",
                        FLOAT("min_available_percent", 5), INT("meminfo", 1));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_healthy),         cmocka_unit_test(test_low_available),
            cmocka_unit_test(test_low_swap),        cmocka_unit_test(test_at_threshold_passes),
            cmocka_unit_test(test_below_threshold), cmocka_unit_test(test_no_swap),
            cmocka_unit_test(test_unparseable),     cmocka_unit_test(test_real_meminfo),
            cmocka_unit_test(test_param_errors),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
