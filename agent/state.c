/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "state.h"

#include <fcntl.h>
#include <sodium.h>

#include "util.h"

/* A state file is a few short lines; anything much bigger is not one. */
#define STATE_FILE_MAX 4096
#define STATE_VERSION  1
#define CHECKSUM_BYTES 8
#define CHECKSUM_KEY   "checksum="

/* Hex of the first CHECKSUM_BYTES of SHA-256: enough to tell a torn or bit-flipped file from a
 * good one (this guards against accidents, not attackers: whoever can write the file can also
 * recompute the checksum). */
static void state_checksum(const char *data, size_t size, char hex[CHECKSUM_BYTES * 2 + 1])
{
        uint8_t hash[crypto_hash_sha256_BYTES];

        crypto_hash_sha256(hash, (const unsigned char *)data, size);
        sodium_bin2hex(hex, CHECKSUM_BYTES * 2 + 1, hash, CHECKSUM_BYTES);
}

static char *state_path(const char *dir)
{
        return strdup_printf("%s/state", dir);
}

static int parse_bool(const char *s, bool *ret)
{
        if (streq(s, "0"))
                *ret = false;
        else if (streq(s, "1"))
                *ret = true;
        else
                return -EINVAL;
        return 0;
}

/* Strict decimal: no sign, no spaces, no overflow. */
static int parse_u64(const char *s, uint64_t *ret)
{
        uint64_t v = 0;

        if (!*s)
                return -EINVAL;
        for (; *s; s++) {
                if (*s < '0' || *s > '9')
                        return -EINVAL;
                if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
                        return -ERANGE;
                v = v * 10 + (uint64_t)(*s - '0');
        }
        *ret = v;
        return 0;
}

static int bad(char **ret_reason, char *reason)
{
        if (ret_reason)
                *ret_reason = reason;
        else
                free(reason);
        return -EBADMSG;
}

/* Parses the lines before the checksum line; data is NUL-terminated and ends with '\n'. */
static int state_parse(char *data, SavedState *ret, char **ret_reason)
{
        enum { F_VERSION, F_ACTIVE, F_HANDED_OVER, F_EPOCH, _F_MAX };
        static const char *const names[_F_MAX] = {"version", "active", "handed_over", "epoch"};
        bool seen[_F_MAX] = {};
        SavedState s = {};
        unsigned line_no = 0;
        char *line, *next;

        for (line = data; *line; line = next) {
                char *nl = strchr(line, '\n'), *eq;
                uint64_t version;
                int field = -1, r = 0;

                *nl = 0;
                next = nl + 1;
                line_no++;

                eq = strchr(line, '=');
                if (!eq)
                        return bad(ret_reason, strdup_printf("malformed line %u", line_no));
                *eq = 0;
                for (int i = 0; i < _F_MAX; i++)
                        if (streq(line, names[i]))
                                field = i;
                if (field < 0)
                        continue; /* a key from a newer release: ignore it */
                if (seen[field])
                        return bad(ret_reason, strdup_printf("duplicate %s", names[field]));
                seen[field] = true;

                switch (field) {
                case F_VERSION:
                        r = parse_u64(eq + 1, &version);
                        if (r == 0 && version != STATE_VERSION)
                                return bad(ret_reason,
                                           strdup_printf("unsupported version %s", eq + 1));
                        break;
                case F_ACTIVE:
                        r = parse_bool(eq + 1, &s.active);
                        break;
                case F_HANDED_OVER:
                        r = parse_bool(eq + 1, &s.handed_over);
                        break;
                case F_EPOCH:
                        r = parse_u64(eq + 1, &s.epoch);
                        break;
                }
                if (r < 0)
                        return bad(ret_reason, strdup_printf("bad value for %s", names[field]));
        }
        for (int i = 0; i < _F_MAX; i++)
                if (!seen[i])
                        return bad(ret_reason, strdup_printf("missing %s", names[i]));
        *ret = s;
        return 0;
}

int state_load(const char *dir, SavedState *ret, char **ret_reason)
{
        _cleanup_free_ char *path = NULL, *data = NULL;
        char hex[CHECKSUM_BYTES * 2 + 1];
        size_t size;
        char *last;
        int r;

        if (ret_reason)
                *ret_reason = NULL;
        if (sodium_init() < 0)
                return -EIO;
        path = state_path(dir);
        if (!path)
                return -ENOMEM;

        r = read_full_file(path, STATE_FILE_MAX, &data, &size);
        if (r == -EFBIG)
                return bad(ret_reason, strdup_printf("larger than %d bytes", STATE_FILE_MAX));
        if (r < 0) {
                if (r != -ENOENT && ret_reason)
                        *ret_reason = strdup_printf("cannot read: %s", strerror(-r));
                return r;
        }

        if (size == 0)
                return bad(ret_reason, strdup("empty"));
        if (memchr(data, 0, size))
                return bad(ret_reason, strdup("contains NUL bytes"));
        /* Every line, the checksum line included, ends with a newline: a file cut anywhere but
         * after the checksum line lacks one or the checksum line. */
        if (data[size - 1] != '\n')
                return bad(ret_reason, strdup("truncated"));

        data[size - 1] = 0;
        last = strrchr(data, '\n');
        last = last ? last + 1 : data;
        data[size - 1] = '\n';
        if (strncmp(last, CHECKSUM_KEY, strlen(CHECKSUM_KEY)) != 0)
                return bad(ret_reason, strdup("truncated (no checksum line)"));

        state_checksum(data, (size_t)(last - data), hex);
        if (data + size - 1 - (last + strlen(CHECKSUM_KEY)) != (ptrdiff_t)strlen(hex) ||
            strncmp(last + strlen(CHECKSUM_KEY), hex, strlen(hex)) != 0)
                return bad(ret_reason, strdup("checksum mismatch"));

        *last = 0;
        return state_parse(data, ret, ret_reason);
}

/* rename() is only durable once the directory entry is on disk too. */
static int fsync_directory(const char *dir)
{
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        if (fsync(fd) < 0)
                return -errno;
        return 0;
}

int state_save(const char *dir, const SavedState *s)
{
        _cleanup_free_ char *path = NULL, *body = NULL, *text = NULL;
        char hex[CHECKSUM_BYTES * 2 + 1];
        int r;

        if (sodium_init() < 0)
                return -EIO;
        r = mkdir_p(dir, 0700);
        if (r < 0)
                return r;
        path = state_path(dir);
        body = strdup_printf("version=%d\nactive=%d\nhanded_over=%d\nepoch=%llu\n", STATE_VERSION,
                             s->active, s->handed_over, (unsigned long long)s->epoch);
        if (!path || !body)
                return -ENOMEM;
        state_checksum(body, strlen(body), hex);
        text = strdup_printf("%s" CHECKSUM_KEY "%s\n", body, hex);
        if (!text)
                return -ENOMEM;

        r = write_file_atomic(path, text, strlen(text), 0600);
        if (r < 0)
                return r;
        return fsync_directory(dir);
}
