/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "key.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>

#include "secure-path.h"

static int key_error(char **ret_error, int r, char *message)
{
        if (ret_error)
                *ret_error = message;
        else
                free(message);
        return r;
}

/* The whole file is the key, a trailing newline included: both nodes read the same file
 * contents, so they agree on the bytes without any parsing that could differ between them. */
int key_load(const char *path, Key **ret, char **ret_error)
{
        _cleanup_close_ int fd = -1;
        _cleanup_(key_freep) Key *k = NULL;
        struct stat st;
        size_t size, done = 0;

        if (ret_error)
                *ret_error = NULL;
        if (sodium_init() < 0)
                return key_error(ret_error, -EIO, strdup_printf("%s: libsodium failed", path));

        /* O_NONBLOCK so that a FIFO put in the key's place fails the type check below instead
         * of blocking the daemon; fstat then checks the file actually opened. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                int r = -errno;
                return key_error(ret_error, r,
                                 strdup_printf("%s: cannot read: %s", path, strerror(-r)));
        }
        if (fstat(fd, &st) < 0) {
                int r = -errno;
                return key_error(ret_error, r,
                                 strdup_printf("%s: cannot read: %s", path, strerror(-r)));
        }
        if (!S_ISREG(st.st_mode))
                return key_error(ret_error, S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL,
                                 strdup_printf("%s: not a regular file", path));
        if (st.st_mode & 077)
                return key_error(
                    ret_error, -EPERM,
                    strdup_printf("%s: %s by group or others (mode %04o); chmod 600 it", path,
                                  st.st_mode & 044 ? "readable" : "writable",
                                  (unsigned)(st.st_mode & 07777)));
        {
                /* Whoever could write it could impersonate the peer: root's, in root's dirs. */
                _cleanup_free_ char *error = NULL;
                int r = secure_file_check(&st, path, "key file", &error);
                if (r == 0) {
                        free(error);
                        error = NULL;
                        r = secure_parents_check(path, &error);
                }
                if (r < 0)
                        return key_error(ret_error, r,
                                         error ? strdup_printf("%s: %s", path, error)
                                               : strdup_printf("%s: %s", path, strerror(-r)));
        }
        if (st.st_size < KEY_SIZE_MIN)
                return key_error(ret_error, -EINVAL,
                                 strdup_printf("%s: key is %lld bytes, need at least %d", path,
                                               (long long)st.st_size, KEY_SIZE_MIN));
        if (st.st_size > KEY_SIZE_MAX)
                return key_error(ret_error, -EFBIG,
                                 strdup_printf("%s: key is %lld bytes, at most %d allowed", path,
                                               (long long)st.st_size, KEY_SIZE_MAX));
        size = (size_t)st.st_size;

        k = calloc(1, sizeof(*k));
        if (!k)
                return -ENOMEM;
        /* Guarded, locked pages: the secret is not swapped out, and sodium_free wipes it. */
        k->data = sodium_malloc(size);
        if (!k->data)
                return key_error(ret_error, -ENOMEM,
                                 strdup_printf("%s: cannot allocate locked memory", path));
        k->len = size;

        while (done < size) {
                ssize_t n = read(fd, k->data + done, size - done);
                if (n < 0) {
                        int r = -errno;
                        if (r == -EINTR)
                                continue;
                        return key_error(ret_error, r,
                                         strdup_printf("%s: cannot read: %s", path, strerror(-r)));
                }
                if (n == 0)
                        return key_error(ret_error, -EIO,
                                         strdup_printf("%s: file shrank while being read", path));
                done += (size_t)n;
        }
        (void)sodium_mprotect_readonly(k->data);

        *ret = TAKE_PTR(k);
        return 0;
}

Key *key_free(Key *k)
{
        if (!k)
                return NULL;
        sodium_free(k->data); /* wipes, unlocks; accepts NULL */
        free(k);
        return NULL;
}
