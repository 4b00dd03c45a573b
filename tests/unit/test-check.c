/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* fall/rise arithmetic: sequences of run outcomes and the verdict after each one. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "check.h"

typedef struct Case {
        const char *name;
        unsigned fall, rise;
        CheckStatus start;
        const char *runs;     /* one char per run: '+' passed, '-' failed */
        const char *verdicts; /* after each run: 'P' pending, 'O' passing, 'F' failing */
} Case;

static const Case cases[] = {
    {"fall 1 rise 1 from pending, pass", 1, 1, CHECK_STATUS_PENDING, "+", "O"},
    {"fall 1 rise 1 from pending, fail", 1, 1, CHECK_STATUS_PENDING, "-", "F"},
    {"fall 1 rise 1 alternating", 1, 1, CHECK_STATUS_PENDING, "+-+-", "OFOF"},
    {"rise 2 needs two passes", 3, 2, CHECK_STATUS_PENDING, "++", "PO"},
    {"fall 2 needs two failures", 2, 3, CHECK_STATUS_PENDING, "--", "PF"},
    {"rise 3: a failure restarts the count", 3, 3, CHECK_STATUS_PENDING, "++-+++", "PPPPPO"},
    {"fall 3: a pass restarts the count", 3, 3, CHECK_STATUS_PASSING, "--+---", "OOOOOF"},
    {"fall 2 rise 2 alternating stays pending", 2, 2, CHECK_STATUS_PENDING, "+-+-+-", "PPPPPP"},
    {"fall 2 rise 2 alternating keeps passing", 2, 2, CHECK_STATUS_PASSING, "-+-+-+", "OOOOOO"},
    {"fall 2 rise 2 alternating keeps failing", 2, 2, CHECK_STATUS_FAILING, "+-+-+-", "FFFFFF"},
    {"passing to failing and back", 2, 3, CHECK_STATUS_PASSING, "--+++", "OFFFO"},
    {"failing to passing and back", 2, 2, CHECK_STATUS_FAILING, "++--", "FOOF"},
    {"a failure while failing stays failing", 1, 1, CHECK_STATUS_FAILING, "---", "FFF"},
    {"a pass while passing stays passing", 1, 1, CHECK_STATUS_PASSING, "+++", "OOO"},
    {"fall/rise 0 behave as 1", 0, 0, CHECK_STATUS_PENDING, "+-", "OF"},
    {"from disabled like pending", 2, 2, CHECK_STATUS_DISABLED, "--", "DF"},
};

static CheckStatus verdict_from_char(char v)
{
        switch (v) {
        case 'P':
                return CHECK_STATUS_PENDING;
        case 'O':
                return CHECK_STATUS_PASSING;
        case 'F':
                return CHECK_STATUS_FAILING;
        default:
                return CHECK_STATUS_DISABLED;
        }
}

static void test_table(void **state)
{
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const Case *t = &cases[i];
                CheckCounters c = {.status = t->start};
                unsigned failures = 0, successes = 0;

                assert_int_equal(strlen(t->runs), strlen(t->verdicts));
                for (size_t k = 0; t->runs[k]; k++) {
                        bool passed = t->runs[k] == '+';
                        CheckStatus got = check_counters_apply(&c, passed, t->fall, t->rise);

                        failures = passed ? 0 : failures + 1;
                        successes = passed ? successes + 1 : 0;
                        if (got != verdict_from_char(t->verdicts[k]))
                                fail_msg("%s: after run %zu: got %s, want %s", t->name, k + 1,
                                         check_status_to_string(got),
                                         check_status_to_string(verdict_from_char(t->verdicts[k])));
                        assert_int_equal(c.status, got);
                        assert_int_equal(c.consecutive_failures, failures);
                        assert_int_equal(c.consecutive_successes, successes);
                }
        }
}

static void test_counters_saturate(void **state)
{
        CheckCounters c = {.status = CHECK_STATUS_FAILING, .consecutive_failures = UINT_MAX};

        assert_int_equal(check_counters_apply(&c, false, 2, 2), CHECK_STATUS_FAILING);
        assert_int_equal(c.consecutive_failures, UINT_MAX);
        assert_int_equal(check_counters_apply(&c, true, 2, 2), CHECK_STATUS_FAILING);
        assert_int_equal(c.consecutive_failures, 0);
        assert_int_equal(c.consecutive_successes, 1);
}

/* A failure that follows a watched event reaches fall at once; a pass is unaffected. */
static void test_event_failure(void **state)
{
        CheckCounters c = {.status = CHECK_STATUS_PASSING, .consecutive_successes = 4};

        check_counters_apply_event(&c, true, 3);
        assert_int_equal(check_counters_apply(&c, true, 3, 2), CHECK_STATUS_PASSING);
        check_counters_apply_event(&c, false, 3);
        assert_int_equal(check_counters_apply(&c, false, 3, 2), CHECK_STATUS_FAILING);
        assert_int_equal(c.consecutive_failures, 3);
        /* already past fall: unchanged, and fall 1 needs nothing */
        check_counters_apply_event(&c, false, 3);
        assert_int_equal(c.consecutive_failures, 3);
        c = (CheckCounters){.status = CHECK_STATUS_PENDING};
        check_counters_apply_event(&c, false, 1);
        assert_int_equal(c.consecutive_failures, 0);
        assert_int_equal(check_counters_apply(&c, false, 1, 1), CHECK_STATUS_FAILING);
}

static void test_status_strings(void **state)
{
        assert_string_equal(check_status_to_string(CHECK_STATUS_PENDING), "pending");
        assert_string_equal(check_status_to_string(CHECK_STATUS_PASSING), "passing");
        assert_string_equal(check_status_to_string(CHECK_STATUS_FAILING), "failing");
        assert_string_equal(check_status_to_string(CHECK_STATUS_DISABLED), "disabled");
        assert_null(check_status_to_string(_CHECK_STATUS_MAX));
        for (int s = 0; s < _CHECK_STATUS_MAX; s++)
                assert_int_equal(check_status_from_string(check_status_to_string(s)), s);
        assert_int_equal((int)check_status_from_string("bogus"), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_table),
            cmocka_unit_test(test_counters_saturate),
            cmocka_unit_test(test_event_failure),
            cmocka_unit_test(test_status_strings),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
