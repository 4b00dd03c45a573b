/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The saved role state on a real file system: round trips, every kind of damage, and saves that
 * fail half-way leaving the previous file in place. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sodium.h>
#include <sys/stat.h>

#include "state.h"
#include "util.h"

static char base[] = "/tmp/test-state-XXXXXX";

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        return remove(path);
}

static int setup(void **state)
{
        memcpy(base + sizeof(base) - 7, "XXXXXX", 6); /* a fresh name per group */
        return mkdtemp(base) ? 0 : -1;
}

static int teardown(void **state)
{
        return nftw(base, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh, empty directory per test. */
static char *new_dir(const char *name)
{
        char *d = strdup_printf("%s/%s", base, name);

        assert_non_null(d);
        assert_int_equal(mkdir(d, 0700), 0);
        return d;
}

static char *read_state_file(const char *d)
{
        _cleanup_free_ char *path = strdup_printf("%s/state", d);
        char *data = NULL;

        assert_int_equal(read_full_file(path, 65536, &data, NULL), 0);
        return data;
}

static void write_state_file(const char *d, const char *text)
{
        _cleanup_free_ char *path = strdup_printf("%s/state", d);
        FILE *f = fopen(path, "we");

        assert_non_null(f);
        assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
        assert_int_equal(fclose(f), 0);
}

/* The checksum line for some content, computed here from the documented rule. */
static char *with_checksum(const char *body)
{
        uint8_t hash[crypto_hash_sha256_BYTES];
        char hex[17];

        crypto_hash_sha256(hash, (const unsigned char *)body, strlen(body));
        sodium_bin2hex(hex, sizeof(hex), hash, 8);
        return strdup_printf("%schecksum=%s\n", body, hex);
}

static void assert_corrupt(const char *d, const char *reason)
{
        _cleanup_free_ char *got = NULL;
        SavedState s = {.epoch = 12345};

        assert_int_equal(state_load(d, &s, &got), -EBADMSG);
        assert_non_null(got);
        assert_string_equal(got, reason);
        assert_true(s.epoch == 12345); /* untouched */
}

/* No "state.tmp.*" is left behind. */
static void assert_no_temp_files(const char *d)
{
        DIR *dir = opendir(d);
        struct dirent *de;

        assert_non_null(dir);
        while ((de = readdir(dir)))
                assert_null(strstr(de->d_name, ".tmp"));
        closedir(dir);
}

static void test_round_trip(void **state)
{
        static const SavedState cases[] = {
            {false, false, 0},
            {true, false, 1},
            {false, true, 42},
            {true, true, UINT64_MAX},
        };
        _cleanup_free_ char *d = new_dir("round-trip");
        struct stat st;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                SavedState got = {};
                char *reason = NULL;

                assert_int_equal(state_save(d, &cases[i]), 0);
                assert_int_equal(state_load(d, &got, &reason), 0);
                assert_null(reason);
                assert_int_equal(got.active, cases[i].active);
                assert_int_equal(got.handed_over, cases[i].handed_over);
                assert_true(got.epoch == cases[i].epoch);
        }
        assert_no_temp_files(d);

        _cleanup_free_ char *path = strdup_printf("%s/state", d);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
}

/* The file is the documented text format: two slots of text padded with newlines. */
static void test_format(void **state)
{
        _cleanup_free_ char *d = new_dir("format"), *text = NULL, *first = NULL, *second = NULL;
        SavedState s = {.active = true, .handed_over = false, .epoch = 7};
        char *expected;

        assert_int_equal(state_save(d, &s), 0);
        text = read_state_file(d);
        assert_int_equal(strlen(text), 2 * STATE_SLOT_SIZE);
        first = with_checksum("version=2\nsequence=1\nactive=1\nhanded_over=0\nepoch=7\n");
        assert_memory_equal(text, first, strlen(first));
        for (size_t i = strlen(first); i < 2 * STATE_SLOT_SIZE; i++)
                assert_int_equal(text[i], '\n');

        /* The next save goes to the other slot; the first stays as it was. */
        s.epoch = 8;
        assert_int_equal(state_save(d, &s), 0);
        free(text);
        text = read_state_file(d);
        second = with_checksum("version=2\nsequence=2\nactive=1\nhanded_over=0\nepoch=8\n");
        assert_memory_equal(text, first, strlen(first));
        assert_memory_equal(text + STATE_SLOT_SIZE, second, strlen(second));
        expected = text + STATE_SLOT_SIZE + strlen(second);
        assert_int_equal(strspn(expected, "\n"), STATE_SLOT_SIZE - strlen(second));
}

static void test_creates_dir(void **state)
{
        _cleanup_free_ char *d = strdup_printf("%s/created/deeper", base);
        SavedState s = {.epoch = 3}, got;
        struct stat st;

        assert_int_equal(state_save(d, &s), 0);
        assert_int_equal(stat(d, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0700);
        assert_int_equal(state_load(d, &got, NULL), 0);
        assert_true(got.epoch == 3);
}

static void test_missing(void **state)
{
        _cleanup_free_ char *d = new_dir("missing"), *gone = strdup_printf("%s/nowhere", base);
        char *reason = NULL;
        SavedState s;

        assert_int_equal(state_load(d, &s, &reason), -ENOENT);
        assert_null(reason);
        assert_int_equal(state_load(gone, &s, &reason), -ENOENT);
}

static void test_truncated(void **state)
{
        _cleanup_free_ char *d = new_dir("truncated"), *good = NULL;
        SavedState s = {.active = true, .handed_over = true, .epoch = 99};
        size_t len;

        assert_int_equal(state_save(d, &s), 0);
        good = read_state_file(d);
        len = strlen(good);

        /* Cut at every length: never accepted. */
        for (size_t cut = 0; cut < len; cut++) {
                _cleanup_free_ char *part = strndup(good, cut);
                _cleanup_free_ char *reason = NULL;
                SavedState got;

                write_state_file(d, part);
                assert_int_equal(state_load(d, &got, &reason), -EBADMSG);
                assert_non_null(reason);
        }
        write_state_file(d, "");
        assert_corrupt(d, "empty");
        write_state_file(d, "version=1\nactive=1\nhanded_ov");
        assert_corrupt(d, "truncated");
        write_state_file(d, "version=1\nactive=1\n");
        assert_corrupt(d, "truncated (no checksum line)");
}

static void test_flipped_byte(void **state)
{
        _cleanup_free_ char *d = new_dir("flipped"), *good = NULL;
        SavedState s = {.active = false, .handed_over = true, .epoch = 5};
        size_t len;

        assert_int_equal(state_save(d, &s), 0);
        good = read_state_file(d);
        len = (size_t)(strstr(good, "\n\n") + 1 - good); /* slot 0's record; slot 1 is empty */

        /* Any changed byte is caught. Changes that break the framing (the final newline, the
         * "checksum=" key, a NUL) have their own reasons; the rest is a checksum mismatch. */
        for (size_t i = 0; i < len; i++)
                for (unsigned bit = 0; bit < 8; bit++) {
                        _cleanup_free_ char *bad = strdup(good), *reason = NULL;
                        SavedState got;

                        bad[i] ^= (char)(1u << bit);
                        if (bad[i] == 0)
                                continue; /* tested below: a string cannot hold it */
                        write_state_file(d, bad);
                        assert_int_equal(state_load(d, &got, &reason), -EBADMSG);
                        assert_non_null(reason);
                }

        _cleanup_free_ char *bad = strdup(good);
        bad[strlen("version=2\nsequence=1\nactive=")] ^= 1; /* active=0 becomes 1 */
        write_state_file(d, bad);
        assert_corrupt(d, "checksum mismatch");

        /* A NUL byte inside. */
        {
                _cleanup_free_ char *path = strdup_printf("%s/state", d);
                int fd = open(path, O_WRONLY | O_CLOEXEC);
                assert_true(fd >= 0);
                assert_int_equal(pwrite(fd, "", 1, 3), 1);
                close(fd);
                assert_corrupt(d, "contains NUL bytes");
        }
}

/* Contents with a valid checksum but wrong fields. */
static void test_bad_fields(void **state)
{
        static const struct {
                const char *body, *reason;
        } cases[] = {
            {"version=1\nactive=1\nhanded_over=0\n", "missing epoch"},
            {"active=1\nhanded_over=0\nepoch=1\n", "missing version"},
            {"version=1\nhanded_over=0\nepoch=1\n", "missing active"},
            {"version=1\nactive=0\nepoch=1\n", "missing handed_over"},
            {"", "missing version"},
            {"version=2\nactive=1\nhanded_over=0\nepoch=1\n", "unsupported version 2"},
            {"version=x\nactive=1\nhanded_over=0\nepoch=1\n", "bad value for version"},
            {"version=1\nactive=yes\nhanded_over=0\nepoch=1\n", "bad value for active"},
            {"version=1\nactive=1\nhanded_over=2\nepoch=1\n", "bad value for handed_over"},
            {"version=1\nactive=1\nhanded_over=0\nepoch=-1\n", "bad value for epoch"},
            {"version=1\nactive=1\nhanded_over=0\nepoch=\n", "bad value for epoch"},
            {"version=1\nactive=1\nhanded_over=0\nepoch= 1\n", "bad value for epoch"},
            {"version=1\nactive=1\nhanded_over=0\nepoch=18446744073709551616\n",
             "bad value for epoch"},
            {"version=1\nactive=1\nactive=0\nhanded_over=0\nepoch=1\n", "duplicate active"},
            {"version=1\nactive=1\ngarbage\nhanded_over=0\nepoch=1\n", "malformed line 3"},
        };
        _cleanup_free_ char *d = new_dir("fields");

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *text = with_checksum(cases[i].body);
                write_state_file(d, text);
                assert_corrupt(d, cases[i].reason);
        }
}

static void test_garbage(void **state)
{
        _cleanup_free_ char *d = new_dir("garbage");
        uint8_t noise[600];

        write_state_file(d, "hello world\n");
        assert_corrupt(d, "truncated (no checksum line)");
        write_state_file(d, "checksum=0000000000000000\n");
        assert_corrupt(d, "checksum mismatch");
        write_state_file(d, "version=1\nactive=1\nhanded_over=0\nepoch=1\nchecksum=abc\n");
        assert_corrupt(d, "checksum mismatch");

        for (unsigned i = 0; i < 200; i++) {
                _cleanup_free_ char *path = strdup_printf("%s/state", d), *reason = NULL;
                size_t len = randombytes_uniform(sizeof(noise));
                SavedState s;

                randombytes_buf(noise, len);
                assert_int_equal(write_file_atomic(path, noise, len, 0600), 0);
                assert_int_equal(state_load(d, &s, &reason), -EBADMSG);
                assert_non_null(reason);
        }

        /* Bigger than any state file. */
        {
                _cleanup_free_ char *path = strdup_printf("%s/state", d);
                _cleanup_free_ char *big = calloc(1, 10000);
                assert_non_null(big);
                memset(big, 'a', 9999);
                assert_int_equal(write_file_atomic(path, big, 9999, 0600), 0);
                assert_corrupt(d, "larger than 4096 bytes");
        }
}

/* A key this release does not know, in a file with a valid checksum, is ignored. */
static void test_unknown_keys(void **state)
{
        _cleanup_free_ char *d = new_dir("unknown");
        _cleanup_free_ char *text =
            with_checksum("version=1\nactive=1\nfuture_thing=whatever\nhanded_over=1\n"
                          "epoch=8\nnote=a=b\n");
        SavedState s;

        write_state_file(d, text);
        assert_int_equal(state_load(d, &s, NULL), 0);
        assert_true(s.active && s.handed_over && s.epoch == 8);
}

/* A save that fails at any step leaves the previous state readable and no temp file. */
static void test_failed_save_keeps_previous(void **state)
{
        _cleanup_free_ char *d = new_dir("failing"), *before = NULL, *after = NULL;
        _cleanup_free_ char *tmp = strdup_printf("%s/state.tmp.%d", d, (int)getpid());
        _cleanup_free_ char *v1 = with_checksum("version=1\nactive=1\nhanded_over=0\nepoch=10\n");
        SavedState new = {.handed_over = true, .epoch = 11};
        SavedState got;

        /* A version 1 file is replaced by a two-slot one through a temp file, which cannot be
         * created here: its name is taken by a directory. */
        write_state_file(d, v1);
        before = read_state_file(d);
        assert_int_equal(mkdir(tmp, 0700), 0);
        assert_true(state_save(d, &new) < 0);
        assert_int_equal(rmdir(tmp), 0);
        after = read_state_file(d);
        assert_string_equal(after, before);
        assert_int_equal(state_load(d, &got, NULL), 0);
        assert_true(got.active && !got.handed_over && got.epoch == 10);
        assert_no_temp_files(d);

        /* The rename fails: "state" is a non-empty directory. What was there stays. */
        {
                _cleanup_free_ char *d2 = new_dir("failing-rename");
                _cleanup_free_ char *sdir = strdup_printf("%s/state", d2);
                _cleanup_free_ char *inner = strdup_printf("%s/state/keep", d2);
                FILE *f;

                assert_int_equal(mkdir(sdir, 0700), 0);
                f = fopen(inner, "we");
                assert_non_null(f);
                fputs("precious\n", f);
                fclose(f);
                assert_true(state_save(d2, &new) < 0);
                assert_int_equal(access(inner, F_OK), 0);
                assert_no_temp_files(d2);
        }

        /* The state directory cannot be made: a file is in the way. */
        {
                _cleanup_free_ char *blocker = strdup_printf("%s/blocker", base);
                FILE *f = fopen(blocker, "we");
                assert_non_null(f);
                fclose(f);
                assert_true(state_save(blocker, &new) < 0);
        }
}

/* Saves alternate between the slots, in place: same file, same size, sequence rising. */
static void test_slots_in_place(void **state)
{
        _cleanup_free_ char *d = new_dir("in-place");
        _cleanup_free_ char *path = strdup_printf("%s/state", d);
        _cleanup_free_ char *text = NULL;
        StateFile *f = NULL;
        struct stat first, st;
        SavedState s = {.epoch = 6}, got;

        assert_int_equal(state_file_open(d, &f), 0);
        assert_int_equal(stat(path, &first), 0);
        assert_int_equal(first.st_size, 2 * STATE_SLOT_SIZE);
        for (uint64_t i = 1; i <= 5; i++) {
                SavedState si = {.active = i % 2, .epoch = i};

                assert_int_equal(state_file_save(f, &si), 0);
                assert_int_equal(state_load(d, &got, NULL), 0);
                assert_true(got.epoch == i && got.active == (i % 2));
                assert_int_equal(stat(path, &st), 0);
                assert_true(st.st_ino == first.st_ino);
                assert_int_equal(st.st_size, 2 * STATE_SLOT_SIZE);
        }
        state_file_free(f);

        /* Reopened, it carries on from the newest slot. */
        assert_int_equal(state_file_open(d, &f), 0);
        assert_int_equal(state_file_save(f, &s), 0);
        state_file_free(f);
        assert_int_equal(state_load(d, &got, NULL), 0);
        assert_true(got.epoch == 6);
        text = read_state_file(d);
        assert_non_null(strstr(text, "sequence=6\n"));
        assert_non_null(strstr(text, "sequence=5\n"));
}

/* A save cut short damages only the slot it wrote: the other one, the state before, is used. */
static void test_torn_slot(void **state)
{
        _cleanup_free_ char *d = new_dir("torn");
        _cleanup_free_ char *path = strdup_printf("%s/state", d);
        SavedState a = {.active = true, .epoch = 1}, b = {.handed_over = true, .epoch = 2};
        SavedState c = {.epoch = 3}, got;
        char *reason = NULL;
        int fd;

        assert_int_equal(state_save(d, &a), 0); /* slot 0 */
        assert_int_equal(state_save(d, &b), 0); /* slot 1 */
        /* Slot 1 half written: its first bytes new, the rest as before. */
        fd = open(path, O_WRONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(pwrite(fd, "version=2\nsequence=3\nact", 25, STATE_SLOT_SIZE), 25);
        close(fd);
        assert_int_equal(state_load(d, &got, &reason), 0);
        assert_true(got.active && !got.handed_over && got.epoch == 1);
        assert_non_null(reason);
        assert_non_null(strstr(reason, "slot 1 damaged ("));
        assert_non_null(strstr(reason, "), slot 0 used"));
        free(reason);
        reason = NULL;

        /* The next save rewrites the damaged slot, not the good one. */
        assert_int_equal(state_save(d, &c), 0);
        assert_int_equal(state_load(d, &got, &reason), 0);
        assert_null(reason);
        assert_true(got.epoch == 3);

        /* Both damaged: unusable, both reasons given. */
        fd = open(path, O_WRONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(pwrite(fd, "X", 1, 0), 1);
        assert_int_equal(pwrite(fd, "X", 1, STATE_SLOT_SIZE), 1);
        close(fd);
        assert_int_equal(state_load(d, &got, &reason), -EBADMSG);
        assert_string_equal(reason, "both slots damaged: checksum mismatch; checksum mismatch");
        free(reason);
}

/* A file of slots never written (newlines, or zeros) is a fresh node's. */
static void test_never_written(void **state)
{
        _cleanup_free_ char *d = new_dir("never"), *path = strdup_printf("%s/state", d);
        _cleanup_free_ char *buf = malloc(2 * STATE_SLOT_SIZE);
        StateFile *f = NULL;
        SavedState s;

        assert_non_null(buf);
        assert_int_equal(state_file_open(d, &f), 0);
        state_file_free(f);
        assert_int_equal(state_load(d, &s, NULL), -ENOENT);
        memset(buf, 0, 2 * STATE_SLOT_SIZE);
        assert_int_equal(write_file_atomic(path, buf, 2 * STATE_SLOT_SIZE, 0600), 0);
        assert_int_equal(state_load(d, &s, NULL), -ENOENT);
}

/* A version 1 file is read, and replaced by the two-slot format when opened for saving. */
static void test_version1_upgrade(void **state)
{
        _cleanup_free_ char *d = new_dir("v1");
        _cleanup_free_ char *v1 = with_checksum("version=1\nactive=1\nhanded_over=1\nepoch=9\n");
        _cleanup_free_ char *text = NULL;
        StateFile *f = NULL;
        SavedState got;

        write_state_file(d, v1);
        assert_int_equal(state_load(d, &got, NULL), 0);
        assert_true(got.active && got.handed_over && got.epoch == 9);
        assert_int_equal(state_file_open(d, &f), 0);
        state_file_free(f);
        text = read_state_file(d);
        assert_int_equal(strlen(text), 2 * STATE_SLOT_SIZE);
        assert_int_equal(strncmp(text, "version=2\nsequence=1\n", 21), 0);
        assert_int_equal(state_load(d, &got, NULL), 0);
        assert_true(got.active && got.handed_over && got.epoch == 9);
        assert_no_temp_files(d);
}

/* A FIFO, a symlink or a directory as the state file: refused at once, never read or followed. */
static void test_not_regular(void **state)
{
        _cleanup_free_ char *d = new_dir("fifo"), *path = strdup_printf("%s/state", d);
        _cleanup_free_ char *target = strdup_printf("%s/elsewhere", base);
        char *reason = NULL;
        StateFile *f = NULL;
        SavedState s;

        assert_int_equal(mkfifo(path, 0600), 0);
        assert_int_equal(state_load(d, &s, &reason), -ENOTRECOVERABLE);
        assert_string_equal(reason, "not a regular file but a FIFO");
        free(reason);
        assert_int_equal(state_file_open(d, &f), -ENOTRECOVERABLE);

        assert_int_equal(unlink(path), 0);
        write_state_file(d, "");
        assert_int_equal(rename(path, target), 0);
        assert_int_equal(symlink(target, path), 0);
        assert_int_equal(state_load(d, &s, &reason), -ENOTRECOVERABLE);
        assert_string_equal(reason, "is a symbolic link");
        free(reason);
        assert_int_equal(state_file_open(d, &f), -ENOTRECOVERABLE);
        assert_int_equal(unlink(path), 0);

        assert_int_equal(mkdir(path, 0700), 0);
        assert_int_equal(state_load(d, &s, &reason), -ENOTRECOVERABLE);
        free(reason);
        assert_int_equal(state_file_open(d, &f), -ENOTRECOVERABLE);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_round_trip),   cmocka_unit_test(test_format),
            cmocka_unit_test(test_creates_dir),  cmocka_unit_test(test_missing),
            cmocka_unit_test(test_truncated),    cmocka_unit_test(test_flipped_byte),
            cmocka_unit_test(test_bad_fields),   cmocka_unit_test(test_garbage),
            cmocka_unit_test(test_unknown_keys), cmocka_unit_test(test_failed_save_keeps_previous),
        };

        const struct CMUnitTest slot_tests[] = {
            cmocka_unit_test(test_slots_in_place), cmocka_unit_test(test_torn_slot),
            cmocka_unit_test(test_never_written),  cmocka_unit_test(test_version1_upgrade),
            cmocka_unit_test(test_not_regular),
        };
        int r;

        if (sodium_init() < 0)
                return 1;
        r = cmocka_run_group_tests(tests, setup, teardown);
        return cmocka_run_group_tests(slot_tests, setup, teardown) || r;
}
