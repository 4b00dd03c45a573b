/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The history record: line format round trips (with every character that needs escaping),
 * damaged lines are refused, and the file on a real file system stays bounded, survives a
 * reopen and skips what it cannot read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>

#include "history.h"
#include "log.h"
#include "util.h"

static char base[] = "/tmp/test-history-XXXXXX";

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        return remove(path);
}

static int setup(void **state)
{
        log_set_max_level(LOG_EMERG);
        return mkdtemp(base) ? 0 : -1;
}

static int teardown(void **state)
{
        return nftw(base, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static HistoryEntry entry(uint64_t epoch, const char *message)
{
        HistoryEntry e = {.time = 1764620000123456ULL, .epoch = epoch};

        snprintf(e.from, sizeof(e.from), "active");
        snprintf(e.to, sizeof(e.to), "stopping");
        snprintf(e.reason, sizeof(e.reason), "check failing: handing over to the peer");
        cause_set(&e.cause, CAUSE_CHECK, "web", message);
        return e;
}

static void test_round_trip(void **state)
{
        HistoryEntry e = entry(7, "tab\there, newline\nthere, back\\slash, cr\r, ünïcode"), back;
        _cleanup_free_ char *line = history_format_line(&e);

        assert_non_null(line);
        assert_int_equal(line[strlen(line) - 1], '\n');
        assert_ptr_equal(strchr(line, '\n'), line + strlen(line) - 1);
        line[strlen(line) - 1] = 0;
        assert_int_equal(history_parse_line(line, &back), 0);
        assert_int_equal(back.time, e.time);
        assert_int_equal(back.epoch, 7);
        assert_string_equal(back.from, "active");
        assert_string_equal(back.to, "stopping");
        assert_string_equal(back.reason, e.reason);
        assert_int_equal(back.cause.kind, CAUSE_CHECK);
        assert_string_equal(back.cause.check, "web");
        assert_string_equal(back.cause.message, e.cause.message);
}

static void test_bad_lines(void **state)
{
        static const char *const bad[] = {
            "",
            "garbage",
            "2\t1\t1\tactive\tstopping\tcheck\tweb\tm\tr",    /* unknown version */
            "1\tx\t1\tactive\tstopping\tcheck\tweb\tm\tr",    /* time */
            "1\t1\t-1\tactive\tstopping\tcheck\tweb\tm\tr",   /* epoch */
            "1\t1\t1\tbusy\tstopping\tcheck\tweb\tm\tr",      /* state */
            "1\t1\t1\tactive\tstopping\tmagic\tweb\tm\tr",    /* cause */
            "1\t1\t1\tactive\tstopping\tcheck\tweb\tm",       /* a field short */
            "1\t1\t1\tactive\tstopping\tcheck\tweb\tm\tr\tx", /* one too many */
            "1\t1\t1\tactive\tstopping\tcheck\tweb\tm\\q\tr", /* bad escape */
            "1\t1\t1\tactive\tstopping\tcheck\tweb\tm\tr\\",  /* escape at the end */
            "1\t99999999999999999999999\t1\tactive\tstopping\tcheck\tweb\tm\tr", /* overflow */
        };
        HistoryEntry e;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(history_parse_line(bad[i], &e), -EBADMSG);
        assert_int_equal(history_parse_line("1\t1\t1\tactive\tstopping\tcheck\tweb\tm\tr", &e), 0);
}

static size_t file_lines(const char *path)
{
        _cleanup_free_ char *data = NULL;
        size_t size = 0, n = 0;

        assert_int_equal(read_full_file(path, 1 << 20, &data, &size), 0);
        for (size_t i = 0; i < size; i++)
                n += data[i] == '\n';
        return n;
}

static void test_file_bounded_and_reopened(void **state)
{
        _cleanup_free_ char *dir = strdup_printf("%s/bounded", base);
        _cleanup_free_ char *path = strdup_printf("%s/history", dir);
        _cleanup_(history_freep) History *h = NULL;
        _cleanup_free_ char *json = NULL, *text = NULL;
        struct stat st;

        assert_int_equal(history_open(dir, &h), 0);
        assert_int_equal(history_count(h), 0);
        for (uint64_t i = 1; i <= 5 * HISTORY_MAX; i++) {
                HistoryEntry e = entry(i, "m");
                history_add(h, &e);
                assert_true(file_lines(path) < 2 * HISTORY_MAX);
        }
        assert_int_equal(history_count(h), HISTORY_MAX);
        assert_int_equal(history_get(h, 0)->epoch, 4 * HISTORY_MAX + 1);
        assert_int_equal(history_get(h, HISTORY_MAX - 1)->epoch, 5 * HISTORY_MAX);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        h = history_free(h);

        /* Damage: a garbage line and a torn last line; both skipped, the rest kept. */
        int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_true(write(fd, "garbage\n1\t12", 12) == 12);
        close(fd);
        assert_int_equal(history_open(dir, &h), 0);
        assert_int_equal(history_count(h), HISTORY_MAX);
        assert_int_equal(history_get(h, HISTORY_MAX - 1)->epoch, 5 * HISTORY_MAX);
        /* Rewritten clean on open. */
        assert_true(file_lines(path) <= HISTORY_MAX);
        HistoryEntry e = entry(9999, "after");
        history_add(h, &e);
        assert_int_equal(history_get(h, HISTORY_MAX - 1)->epoch, 9999);

        assert_int_equal(history_format(h, true, &json), 0);
        assert_non_null(strstr(json, "\"epoch\":9999"));
        assert_non_null(strstr(json, "\"cause\":\"check\""));
        assert_int_equal(history_format(h, false, &text), 0);
        assert_non_null(strstr(text, "[check web: after]"));
}

static void test_unwritable_dir(void **state)
{
        _cleanup_(history_freep) History *h = NULL;
        HistoryEntry e = entry(1, "m");

        /* Kept in memory: a history it cannot write never stops the agent. */
        assert_int_equal(history_open("/proc/no-such-dir", &h), 0);
        history_add(h, &e);
        assert_int_equal(history_count(h), 1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_round_trip),
            cmocka_unit_test(test_bad_lines),
            cmocka_unit_test(test_file_bounded_and_reopened),
            cmocka_unit_test(test_unwritable_dir),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
