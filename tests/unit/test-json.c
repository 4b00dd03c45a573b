/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "json.h"

/* The escaped form of n bytes, as json_write_string_len writes it. */
static char *escape_len(const char *s, size_t n)
{
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        assert_non_null(f);
        json_write_string_len(f, s, n);
        assert_int_equal(fclose(f), 0);
        return buf;
}

static char *escape(const char *s)
{
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        assert_non_null(f);
        json_write_string(f, s);
        assert_int_equal(fclose(f), 0);
        return buf;
}

#define assert_escapes(in, expected)                                                               \
        do {                                                                                       \
                _cleanup_free_ char *_out = escape(in);                                            \
                assert_string_equal(_out, expected);                                               \
        } while (0)

#define assert_escapes_len(in, n, expected)                                                        \
        do {                                                                                       \
                _cleanup_free_ char *_out = escape_len(in, n);                                     \
                assert_string_equal(_out, expected);                                               \
        } while (0)

static void test_plain_and_null(void **state)
{
        assert_escapes("", "\"\"");
        assert_escapes("web1", "\"web1\"");
        assert_escapes("a b/c'd~", "\"a b/c'd~\"");
        assert_escapes(NULL, "null");
}

static void test_quote_and_backslash(void **state)
{
        assert_escapes("say \"hi\"", "\"say \\\"hi\\\"\"");
        assert_escapes("C:\\dir\\", "\"C:\\\\dir\\\\\"");
        assert_escapes("\\\"", "\"\\\\\\\"\"");
}

static void test_control_characters(void **state)
{
        assert_escapes("\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\"");
        assert_escapes("\x01\x1f", "\"\\u0001\\u001f\"");
        assert_escapes("a\x1b[31mred", "\"a\\u001b[31mred\"");
        /* DEL is not a control character for JSON. */
        assert_escapes("\x7f", "\"\x7f\"");
        /* Embedded NUL, only reachable with an explicit length. */
        assert_escapes_len("a\0b", 3, "\"a\\u0000b\"");
        /* Every byte below 0x20 is escaped, none passes raw. */
        for (int c = 1; c < 0x20; c++) {
                char in[2] = {(char)c, 0};
                _cleanup_free_ char *out = escape(in);
                assert_int_equal(out[1], '\\');
        }
}

static void test_utf8_passthrough(void **state)
{
        /* 2, 3 and 4 byte sequences, including the extremes of each range. */
        assert_escapes("caf\xc3\xa9", "\"caf\xc3\xa9\"");
        assert_escapes("\xc2\x80\xdf\xbf", "\"\xc2\x80\xdf\xbf\"");
        assert_escapes("\xe2\x82\xac \xe0\xa0\x80 \xef\xbf\xbf",
                       "\"\xe2\x82\xac \xe0\xa0\x80 \xef\xbf\xbf\"");
        assert_escapes("\xed\x9f\xbf", "\"\xed\x9f\xbf\"");         /* U+D7FF */
        assert_escapes("\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\""); /* U+1F600 */
        assert_escapes("\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\""); /* U+10FFFF */
}

static void test_invalid_utf8(void **state)
{
        /* A lone continuation byte, bytes that never appear in UTF-8. */
        assert_escapes("a\x80z", "\"a\\ufffdz\"");
        assert_escapes("\xc0\xc1\xf5\xff", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
        /* Overlong forms: C0 80 is two replacements (C0 is never valid). */
        assert_escapes("\xc0\x80", "\"\\ufffd\\ufffd\"");
        assert_escapes("\xe0\x80\x80", "\"\\ufffd\\ufffd\\ufffd\"");
        assert_escapes("\xf0\x80\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
        /* Surrogates (U+D800) and beyond U+10FFFF. */
        assert_escapes("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");
        assert_escapes("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
        /* A truncated sequence is one replacement (maximal subpart), then resync. */
        assert_escapes("\xe2\x82z", "\"\\ufffdz\"");
        assert_escapes("\xf0\x9f\x98", "\"\\ufffd\"");
        assert_escapes("\xe2\x82\xe2\x82\xac", "\"\\ufffd\xe2\x82\xac\"");
        /* A sequence cut by the end of a length-delimited buffer. */
        assert_escapes_len("\xc3\xa9", 1, "\"\\ufffd\"");
        /* An escape-worthy byte right after a bad lead byte is still escaped. */
        assert_escapes("\xc3\"", "\"\\ufffd\\\"\"");
}

static void test_writer_document(void **state)
{
        _cleanup_(json_writer_done) JsonWriter w = {};
        _cleanup_free_ char *text = NULL;

        assert_int_equal(json_writer_open(&w), 0);
        json_begin_object(&w, NULL);
        json_add_string(&w, "node", "web\"1");
        json_add_int(&w, "epoch", -3);
        json_add_uint(&w, "last_seen_ms", UINT64_MAX);
        json_add_double(&w, "ratio", 0.1);
        json_add_double(&w, "bad", 1.0 / 0.0);
        json_add_bool(&w, "connected", true);
        json_add_null(&w, "peer_state");
        json_add_string(&w, "message", NULL);
        json_begin_array(&w, "checks");
        json_begin_object(&w, NULL);
        json_add_string(&w, "name", "web");
        json_end_object(&w);
        json_begin_object(&w, NULL);
        json_end_object(&w);
        json_add_int(&w, NULL, 7);
        json_end_array(&w);
        json_begin_array(&w, "services");
        json_end_array(&w);
        json_end_object(&w);
        assert_int_equal(json_writer_finish(&w, &text), 0);
        assert_string_equal(text, "{\"node\":\"web\\\"1\",\"epoch\":-3,"
                                  "\"last_seen_ms\":18446744073709551615,\"ratio\":0.1,"
                                  "\"bad\":null,\"connected\":true,\"peer_state\":null,"
                                  "\"message\":null,\"checks\":[{\"name\":\"web\"},{},7],"
                                  "\"services\":[]}");
}

static void test_writer_misuse(void **state)
{
        _cleanup_free_ char *text = NULL;
        JsonWriter w;

        /* Unbalanced. */
        assert_int_equal(json_writer_open(&w), 0);
        json_begin_object(&w, NULL);
        assert_int_equal(json_writer_finish(&w, &text), -EINVAL);
        assert_null(text);
        json_writer_done(&w);

        /* Closing what was never opened. */
        assert_int_equal(json_writer_open(&w), 0);
        json_end_array(&w);
        assert_int_equal(json_writer_finish(&w, &text), -EINVAL);
        json_writer_done(&w);

        /* Too deep. */
        assert_int_equal(json_writer_open(&w), 0);
        for (int i = 0; i < JSON_DEPTH_MAX + 1; i++)
                json_begin_array(&w, NULL);
        for (int i = 0; i < JSON_DEPTH_MAX + 1; i++)
                json_end_array(&w);
        assert_int_equal(json_writer_finish(&w, &text), -EINVAL);
        json_writer_done(&w);

        /* Exactly the maximum depth is fine. */
        assert_int_equal(json_writer_open(&w), 0);
        for (int i = 0; i < JSON_DEPTH_MAX; i++)
                json_begin_array(&w, NULL);
        for (int i = 0; i < JSON_DEPTH_MAX; i++)
                json_end_array(&w);
        assert_int_equal(json_writer_finish(&w, &text), 0);
        assert_int_equal(strlen(text), 2 * JSON_DEPTH_MAX);
        json_writer_done(&w);

        /* Abandoned half-way: done frees everything (checked by ASan). */
        assert_int_equal(json_writer_open(&w), 0);
        json_begin_object(&w, NULL);
        json_add_string(&w, "k", "v");
        json_writer_done(&w);
}

/* An independent parser reads back every byte value: ASCII as itself, each high byte (none forms
 * a valid sequence in descending order) as one U+FFFD. */
static void test_python_parses_output(void **state)
{
        _cleanup_free_ char *text = NULL;
        char all[256], path[] = "/tmp/test-json-XXXXXX", cmd[512];
        size_t size = 0;
        FILE *f;
        int fd, status;

        if (system("python3 -c '' >/dev/null 2>&1") != 0)
                skip();
        for (int i = 0; i < 256; i++)
                all[i] = (char)(255 - i);
        f = open_memstream(&text, &size);
        assert_non_null(f);
        json_write_string_len(f, all, sizeof(all));
        assert_int_equal(fclose(f), 0);

        fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, size), (ssize_t)size);
        close(fd);
        snprintf(cmd, sizeof(cmd),
                 "python3 -c 'import json, sys\n"
                 "s = json.load(open(sys.argv[1], encoding=\"utf-8\", errors=\"strict\"))\n"
                 "assert s == \"\\ufffd\" * 128 + \"\".join(map(chr, range(127, -1, -1))), s' %s",
                 path);
        status = system(cmd);
        unlink(path);
        assert_int_equal(status, 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_plain_and_null),     cmocka_unit_test(test_quote_and_backslash),
            cmocka_unit_test(test_control_characters), cmocka_unit_test(test_utf8_passthrough),
            cmocka_unit_test(test_invalid_utf8),       cmocka_unit_test(test_writer_document),
            cmocka_unit_test(test_writer_misuse),      cmocka_unit_test(test_python_parses_output),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
