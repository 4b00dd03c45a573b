/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The plugin loader against real shared objects: the built plugins and the broken ones in
 * tests/plugins/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "plugin.h"

#define PLUGINS      TEST_BUILD_DIR "/plugins/"
#define TEST_PLUGINS TEST_BUILD_DIR "/test-plugins/"

/* Loads a plugin that must be refused; checks the error code, the exact message and that
 * nothing was returned. */
static void assert_refused(const char *path, int error, const char *message)
{
        Plugin *p = NULL;
        char *text = NULL;
        int r;

        r = plugin_load(path, &p, &text);
        assert_int_equal(r, error);
        assert_null(p);
        assert_non_null(text);
        assert_string_equal(text, message);
        assert_null(strchr(text, '\n'));
        free(text);
}

static void test_load_good(void **state)
{
        _cleanup_(plugin_freep) Plugin *p = NULL;
        char *text = NULL;

        assert_int_equal(plugin_load(PLUGINS "pcheck.so", &p, &text), 0);
        assert_null(text);
        assert_non_null(p);
        assert_non_null(p->handle);
        assert_string_equal(p->path, PLUGINS "pcheck.so");
        assert_int_equal(p->api->abi_version, VACATAIRE_PLUGIN_ABI_VERSION);
        assert_string_equal(p->api->name, "pcheck");
        assert_non_null(p->api->configure);
        assert_non_null(p->api->run);
}

/* The loaded callbacks are callable: configure refuses empty params with its own message. */
static void test_load_and_configure(void **state)
{
        _cleanup_(plugin_freep) Plugin *p = NULL;
        struct vacataire_params params = {0, NULL};
        char *text = NULL, err[256] = "";
        void *plugin_state = NULL;

        assert_int_equal(plugin_load(PLUGINS "memcheck.so", &p, &text), 0);
        assert_int_not_equal(p->api->configure(&params, 1.0, &plugin_state, err, sizeof(err)), 0);
        assert_null(plugin_state);
        assert_string_equal(err, "params.min_available_percent: missing (give it, "
                                 "min_swap_free_percent, or both)");
}

/* Two handles on the same file are independent; freeing one leaves the other usable. */
static void test_load_twice(void **state)
{
        _cleanup_(plugin_freep) Plugin *a = NULL;
        Plugin *b = NULL;
        char *text = NULL;

        assert_int_equal(plugin_load(PLUGINS "content.so", &a, &text), 0);
        assert_int_equal(plugin_load(PLUGINS "content.so", &b, &text), 0);
        assert_ptr_equal(a->api, b->api);
        assert_null(plugin_free(b));
        assert_string_equal(a->api->name, "content");
}

static void test_wrong_abi(void **state)
{
        assert_refused(TEST_PLUGINS "wrong_abi.so", -EPROTONOSUPPORT,
                       TEST_PLUGINS "wrong_abi.so: built for plugin ABI version 2, this agent "
                                    "uses version 1");
}

static void test_no_symbol(void **state)
{
        assert_refused(TEST_PLUGINS "no_symbol.so", -ENOEXEC,
                       TEST_PLUGINS "no_symbol.so: no symbol vacataire_plugin (not a vacataire "
                                    "plugin?)");
}

static void test_small_struct(void **state)
{
        char expected[512];

        snprintf(expected, sizeof(expected), "%s: plugin struct too small (16 bytes, need %zu)",
                 TEST_PLUGINS "small_struct.so", (size_t)PLUGIN_STRUCT_SIZE_MIN);
        assert_refused(TEST_PLUGINS "small_struct.so", -EBADMSG, expected);
}

/* Built before watch was appended: loads, and has no watch. */
static void test_first_release(void **state)
{
        _cleanup_(plugin_freep) Plugin *p = NULL;
        char *text = NULL;

        assert_int_equal(plugin_load(TEST_PLUGINS "first_release.so", &p, &text), 0);
        assert_null(text);
        assert_int_equal(p->api->struct_size, PLUGIN_STRUCT_SIZE_MIN);
        assert_null(PLUGIN_FIELD(p, watch));
}

static void test_watch_present(void **state)
{
        _cleanup_(plugin_freep) Plugin *p = NULL;
        char *text = NULL;

        assert_int_equal(plugin_load(PLUGINS "pcheck.so", &p, &text), 0);
        assert_non_null(PLUGIN_FIELD(p, watch));
}

static void test_no_run(void **state)
{
        assert_refused(TEST_PLUGINS "no_run.so", -EBADMSG,
                       TEST_PLUGINS "no_run.so: plugin has no run callback");
}

static void test_not_a_shared_object(void **state)
{
        char dir[] = "/tmp/vc-test-plugin-XXXXXX", path[256], expected[512];
        FILE *f;

        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/text.so", dir);
        f = fopen(path, "we");
        assert_non_null(f);
        /* Longer than an ELF header, so the loader reads a whole one and finds no magic. */
        for (int i = 0; i < 8; i++)
                fputs("this is a text file, not a shared object\n", f);
        assert_int_equal(fclose(f), 0);

        snprintf(expected, sizeof(expected), "%s: cannot load: invalid ELF header", path);
        assert_refused(path, -ENOEXEC, expected);

        assert_int_equal(unlink(path), 0);
        assert_int_equal(rmdir(dir), 0);
}

static void test_nonexistent(void **state)
{
        assert_refused(TEST_PLUGINS "does-not-exist.so", -ENOENT,
                       TEST_PLUGINS "does-not-exist.so: cannot load: cannot open shared object "
                                    "file: No such file or directory");
}

static void test_free_null(void **state)
{
        assert_null(plugin_free(NULL));
}

#define STR(n, v)                                                                                  \
        {                                                                                          \
                .name = (n), .type = VACATAIRE_PARAM_STRING, .string = (v)                         \
        }
#define INT(n, v)                                                                                  \
        {                                                                                          \
                .name = (n), .type = VACATAIRE_PARAM_INT, .integer = (v), .number = (v)            \
        }
#define DBL(n, v)                                                                                  \
        {                                                                                          \
                .name = (n), .type = VACATAIRE_PARAM_FLOAT, .number = (v)                          \
        }
#define BOOL(n, v)                                                                                 \
        {                                                                                          \
                .name = (n), .type = VACATAIRE_PARAM_BOOL, .boolean = (v)                          \
        }
#define LIST(n, a)                                                                                 \
        {                                                                                          \
                .name = (n), .type = VACATAIRE_PARAM_LIST, .integer = ELEMENTSOF(a), .list = (a)   \
        }

/* The getters of the public header: values, defaults left alone, and the uniform messages. */
static void test_getters_scalars(void **state)
{
        const struct vacataire_param items[] = {
            STR("s", "text"), STR("empty", ""),    INT("i", 42),   DBL("f", 2.5),
            BOOL("b", 1),     STR("mode", "fail"), INT("neg", -1),
        };
        const struct vacataire_params p = {ELEMENTSOF(items), items};
        const char *s = "default";
        int64_t i = 7;
        double d = 0;
        int b = 0, choice = -1;
        char err[256] = "";

        assert_int_equal(vacataire_param_string(&p, "absent", &s, err, sizeof(err)), 0);
        assert_string_equal(s, "default");
        assert_int_equal(vacataire_param_string(&p, "s", &s, err, sizeof(err)), 1);
        assert_string_equal(s, "text");
        assert_int_equal(vacataire_param_string(&p, "empty", &s, err, sizeof(err)), -EINVAL);
        assert_string_equal(err, "params.empty: must be a non-empty string");
        assert_int_equal(vacataire_param_string(&p, "i", &s, err, sizeof(err)), -EINVAL);
        assert_string_equal(err, "params.i: must be a non-empty string");

        assert_int_equal(vacataire_param_integer(&p, "absent", 0, 10, &i, err, sizeof(err)), 0);
        assert_int_equal(i, 7);
        assert_int_equal(vacataire_param_integer(&p, "i", 0, 100, &i, err, sizeof(err)), 1);
        assert_int_equal(i, 42);
        assert_int_equal(vacataire_param_integer(&p, "i", 0, 10, &i, err, sizeof(err)), -EINVAL);
        assert_string_equal(err, "params.i: must be an integer from 0 to 10");
        assert_int_equal(vacataire_param_integer(&p, "neg", 0, INT64_MAX, &i, err, sizeof(err)),
                         -EINVAL);
        assert_string_equal(err, "params.neg: must be an integer >= 0");
        assert_int_equal(vacataire_param_integer(&p, "f", 0, 10, &i, err, sizeof(err)), -EINVAL);

        assert_int_equal(vacataire_param_number(&p, "f", 0, 100, &d, err, sizeof(err)), 1);
        assert_true(d == 2.5);
        assert_int_equal(vacataire_param_number(&p, "i", 0, 100, &d, err, sizeof(err)), 1);
        assert_true(d == 42.0);
        assert_int_equal(vacataire_param_number(&p, "s", 0, 100, &d, err, sizeof(err)), -EINVAL);
        assert_string_equal(err, "params.s: must be a number from 0 to 100");

        assert_int_equal(vacataire_param_boolean(&p, "b", &b, err, sizeof(err)), 1);
        assert_int_equal(b, 1);
        assert_int_equal(vacataire_param_boolean(&p, "i", &b, err, sizeof(err)), -EINVAL);
        assert_string_equal(err, "params.i: must be true or false");

        assert_int_equal(vacataire_param_choice(&p, "mode",
                                                (const char *const[]){"pass", "fail", NULL},
                                                &choice, err, sizeof(err)),
                         1);
        assert_int_equal(choice, 1);
        assert_int_equal(vacataire_param_choice(&p, "s",
                                                (const char *const[]){"GET", "HEAD", "PUT", NULL},
                                                &choice, err, sizeof(err)),
                         -EINVAL);
        assert_string_equal(err, "params.s: must be \"GET\", \"HEAD\" or \"PUT\"");
}

static void test_getters_lists(void **state)
{
        const struct vacataire_param argv[] = {STR("command", "/bin/echo"), STR("command", "hi")};
        const struct vacataire_param codes[] = {INT("status", 200), INT("status", 301)};
        const struct vacataire_param bad_codes[] = {INT("bad", 200), INT("bad", 999)};
        const struct vacataire_param mixed[] = {STR("mixed", "a"), INT("mixed", 1)};
        const struct vacataire_param items[] = {
            LIST("command", argv),
            LIST("status", codes),
            LIST("bad", bad_codes),
            LIST("mixed", mixed),
            INT("one", 204),
            STR("word", "x"),
            {.name = "none", .type = VACATAIRE_PARAM_LIST, .integer = 0, .list = NULL},
        };
        const struct vacataire_params p = {ELEMENTSOF(items), items};
        char **strv = NULL, err[256] = "";
        int64_t *v = NULL;
        size_t n = 99;

        assert_int_equal(vacataire_param_string_list(&p, "command", 0, &strv, &n, err, sizeof(err)),
                         1);
        assert_int_equal(n, 2);
        assert_string_equal(strv[0], "/bin/echo");
        assert_string_equal(strv[1], "hi");
        assert_null(strv[2]);
        strv = vacataire_strv_free(strv);

        assert_int_equal(vacataire_param_string_list(&p, "none", 0, &strv, &n, err, sizeof(err)),
                         1);
        assert_int_equal(n, 0);
        assert_null(strv[0]);
        strv = vacataire_strv_free(strv);

        assert_int_equal(vacataire_param_string_list(&p, "word", 0, &strv, &n, err, sizeof(err)),
                         -EINVAL);
        assert_string_equal(err, "params.word: must be a list, [ ... ]");
        assert_int_equal(vacataire_param_string_list(&p, "word", 1, &strv, &n, err, sizeof(err)),
                         1);
        assert_int_equal(n, 1);
        assert_string_equal(strv[0], "x");
        strv = vacataire_strv_free(strv);
        assert_int_equal(vacataire_param_string_list(&p, "mixed", 0, &strv, &n, err, sizeof(err)),
                         -EINVAL);
        assert_string_equal(err, "params.mixed: must be a list of non-empty strings");
        assert_null(strv);
        assert_int_equal(vacataire_param_string_list(&p, "one", 1, &strv, &n, err, sizeof(err)),
                         -EINVAL);
        assert_string_equal(err, "params.one: must be a non-empty string or a list of them");

        assert_int_equal(
            vacataire_param_integer_list(&p, "status", 1, 100, 599, &v, &n, err, sizeof(err)), 1);
        assert_int_equal(n, 2);
        assert_int_equal(v[0], 200);
        assert_int_equal(v[1], 301);
        free(v);
        assert_int_equal(
            vacataire_param_integer_list(&p, "one", 1, 100, 599, &v, &n, err, sizeof(err)), 1);
        assert_int_equal(n, 1);
        assert_int_equal(v[0], 204);
        free(v);
        assert_int_equal(
            vacataire_param_integer_list(&p, "bad", 1, 100, 599, &v, &n, err, sizeof(err)),
            -EINVAL);
        assert_string_equal(err,
                            "params.bad: must be an integer from 100 to 599 or a list of them");
        assert_int_equal(
            vacataire_param_integer_list(&p, "mixed", 0, 0, INT64_MAX, &v, &n, err, sizeof(err)),
            -EINVAL);
        assert_string_equal(err, "params.mixed: must be a list of integers >= 0");
        assert_int_equal(
            vacataire_param_integer_list(&p, "absent", 1, 0, 1, &v, &n, err, sizeof(err)), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_load_good),       cmocka_unit_test(test_load_and_configure),
            cmocka_unit_test(test_load_twice),      cmocka_unit_test(test_wrong_abi),
            cmocka_unit_test(test_no_symbol),       cmocka_unit_test(test_small_struct),
            cmocka_unit_test(test_first_release),   cmocka_unit_test(test_watch_present),
            cmocka_unit_test(test_no_run),          cmocka_unit_test(test_not_a_shared_object),
            cmocka_unit_test(test_nonexistent),     cmocka_unit_test(test_free_null),
            cmocka_unit_test(test_getters_scalars), cmocka_unit_test(test_getters_lists),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
