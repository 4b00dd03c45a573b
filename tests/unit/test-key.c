/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Loading the shared key from real files: sizes, modes, file types and the exact messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <fcntl.h>
#include <ftw.h>
#include <sodium.h>
#include <sys/stat.h>

#include "key.h"

static char dir[] = "/tmp/test-key-XXXXXX";

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        return remove(path);
}

static int setup(void **state)
{
        return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
        return nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes a file of the given contents and mode (chmod, so the umask does not interfere). */
static char *make_file(const char *name, const void *data, size_t size, mode_t mode)
{
        char *path = strdup_printf("%s/%s", dir, name);
        int fd;

        assert_non_null(path);
        (void)unlink(path);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, size), (ssize_t)size);
        assert_int_equal(fchmod(fd, mode), 0);
        close(fd);
        return path;
}

static void assert_loads(const char *path, const void *data, size_t size)
{
        _cleanup_(key_freep) Key *k = NULL;
        char *error = (char *)"unset";

        assert_int_equal(key_load(path, &k, &error), 0);
        assert_null(error);
        assert_non_null(k);
        assert_int_equal(k->len, size);
        assert_memory_equal(k->data, data, size);
}

static void assert_refused(const char *path, int expected, const char *fmt, ...)
{
        _cleanup_free_ char *message = NULL, *error = NULL;
        Key *k = NULL;
        va_list ap;

        va_start(ap, fmt);
        assert_true(vasprintf(&message, fmt, ap) >= 0);
        va_end(ap);
        assert_int_equal(key_load(path, &k, &error), expected);
        assert_null(k);
        assert_non_null(error);
        assert_string_equal(error, message);
}

static void test_good(void **state)
{
        uint8_t data[100];
        _cleanup_free_ char *path = NULL;

        randombytes_buf(data, sizeof(data));
        path = make_file("good", data, sizeof(data), 0600);
        assert_loads(path, data, sizeof(data));
        /* Owner read-only is fine too. */
        assert_int_equal(chmod(path, 0400), 0);
        assert_loads(path, data, sizeof(data));
        /* The error pointer is optional. */
        {
                _cleanup_(key_freep) Key *k = NULL;
                assert_int_equal(key_load(path, &k, NULL), 0);
        }
}

/* The whole file is the key, trailing newline included. */
static void test_newline_kept(void **state)
{
        static const char text[] = "correct horse battery staple and more words\n";
        _cleanup_free_ char *path = make_file("newline", text, strlen(text), 0600);

        assert_loads(path, text, strlen(text));
}

static void test_sizes(void **state)
{
        uint8_t data[KEY_SIZE_MAX + 1];
        _cleanup_free_ char *p32 = NULL, *p31 = NULL, *p12 = NULL, *pmax = NULL, *pbig = NULL,
                            *p0 = NULL;

        randombytes_buf(data, sizeof(data));
        p32 = make_file("k32", data, 32, 0600);
        assert_loads(p32, data, 32);
        p31 = make_file("k31", data, 31, 0600);
        assert_refused(p31, -EINVAL, "%s: key is 31 bytes, need at least 32", p31);
        p12 = make_file("k12", data, 12, 0600);
        assert_refused(p12, -EINVAL, "%s: key is 12 bytes, need at least 32", p12);
        p0 = make_file("k0", data, 0, 0600);
        assert_refused(p0, -EINVAL, "%s: key is 0 bytes, need at least 32", p0);
        pmax = make_file("kmax", data, KEY_SIZE_MAX, 0600);
        assert_loads(pmax, data, KEY_SIZE_MAX);
        pbig = make_file("kbig", data, KEY_SIZE_MAX + 1, 0600);
        assert_refused(pbig, -EFBIG, "%s: key is 4097 bytes, at most 4096 allowed", pbig);
}

static void test_missing(void **state)
{
        _cleanup_free_ char *path = strdup_printf("%s/nonexistent", dir);

        assert_refused(path, -ENOENT, "%s: cannot read: No such file or directory", path);
}

static void test_modes(void **state)
{
        uint8_t data[64] = {1};
        _cleanup_free_ char *path = make_file("mode", data, sizeof(data), 0640);

        assert_refused(path, -EPERM, "%s: readable by group or others (mode 0640); chmod 600 it",
                       path);
        assert_int_equal(chmod(path, 0644), 0);
        assert_refused(path, -EPERM, "%s: readable by group or others (mode 0644); chmod 600 it",
                       path);
        assert_int_equal(chmod(path, 0604), 0);
        assert_refused(path, -EPERM, "%s: readable by group or others (mode 0604); chmod 600 it",
                       path);
        assert_int_equal(chmod(path, 0620), 0);
        assert_refused(path, -EPERM, "%s: writable by group or others (mode 0620); chmod 600 it",
                       path);
        assert_int_equal(chmod(path, 0601), 0);
        assert_refused(path, -EPERM, "%s: writable by group or others (mode 0601); chmod 600 it",
                       path);
        assert_int_equal(chmod(path, 0600), 0);
        assert_loads(path, data, sizeof(data));
}

static void test_not_regular(void **state)
{
        _cleanup_free_ char *sub = strdup_printf("%s/subdir", dir);
        _cleanup_free_ char *fifo = strdup_printf("%s/fifo", dir);

        assert_int_equal(mkdir(sub, 0700), 0);
        assert_refused(sub, -EISDIR, "%s: not a regular file", sub);
        /* Must not block waiting for a writer. */
        assert_int_equal(mkfifo(fifo, 0600), 0);
        assert_refused(fifo, -EINVAL, "%s: not a regular file", fifo);
        assert_refused("/dev/null", -EINVAL, "/dev/null: not a regular file");
}

/* A symlink is followed and the target is what gets checked. */
static void test_symlink(void **state)
{
        uint8_t data[48] = {7};
        _cleanup_free_ char *target = make_file("target", data, sizeof(data), 0600);
        _cleanup_free_ char *link = strdup_printf("%s/link", dir);

        assert_int_equal(symlink(target, link), 0);
        assert_loads(link, data, sizeof(data));
        assert_int_equal(chmod(target, 0644), 0);
        assert_refused(link, -EPERM, "%s: readable by group or others (mode 0644); chmod 600 it",
                       link);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_good),    cmocka_unit_test(test_newline_kept),
            cmocka_unit_test(test_sizes),   cmocka_unit_test(test_missing),
            cmocka_unit_test(test_modes),   cmocka_unit_test(test_not_regular),
            cmocka_unit_test(test_symlink),
        };

        if (sodium_init() < 0)
                return 1;
        return cmocka_run_group_tests(tests, setup, teardown);
}
