/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "state.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>

#include "util.h"

/* Two slots, or a version 1 record of a few short lines: anything bigger is not a state file. */
#define STATE_FILE_MAX (2 * STATE_SLOT_SIZE)
#define CHECKSUM_BYTES 8
#define CHECKSUM_KEY   "checksum="

struct StateFile {
        int fd;
        uint64_t sequence; /* of the newest valid slot; 0: none */
        int slot;          /* that slot, or -1 */
};

/* Hex of the first CHECKSUM_BYTES of SHA-256: enough to tell a torn or bit-flipped file from a
 * good one (this guards against accidents, not attackers: whoever can write the file can also
 * recompute the checksum). */
static void state_checksum(const char *data, size_t size, char hex[CHECKSUM_BYTES * 2 + 1])
{
        uint8_t hash[crypto_hash_sha256_BYTES];

        crypto_hash_sha256(hash, (const unsigned char *)data, size);
        sodium_bin2hex(hex, CHECKSUM_BYTES * 2 + 1, hash, CHECKSUM_BYTES);
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

/* Parses the lines before the checksum line; data is NUL-terminated and ends with '\n'. Version
 * 1 records have no sequence, version 2 records must have one. */
static int state_parse(char *data, unsigned want_version, SavedState *ret, uint64_t *ret_sequence,
                       char **ret_reason)
{
        enum { F_VERSION, F_SEQUENCE, F_ACTIVE, F_HANDED_OVER, F_EPOCH, _F_MAX };
        static const char *const names[_F_MAX] = {"version", "sequence", "active", "handed_over",
                                                  "epoch"};
        bool seen[_F_MAX] = {};
        SavedState s = {};
        uint64_t sequence = 0;
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
                        if (r == 0 && version != want_version)
                                return bad(ret_reason,
                                           strdup_printf("unsupported version %s", eq + 1));
                        break;
                case F_SEQUENCE:
                        r = parse_u64(eq + 1, &sequence);
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
                if (!seen[i] && (i != F_SEQUENCE || want_version >= 2))
                        return bad(ret_reason, strdup_printf("missing %s", names[i]));
        *ret = s;
        *ret_sequence = sequence;
        return 0;
}

/* One record: lines, the checksum line, nothing after it. data[size] is writable. */
static int state_parse_record(char *data, size_t size, unsigned want_version, SavedState *ret,
                              uint64_t *ret_sequence, char **ret_reason)
{
        char hex[CHECKSUM_BYTES * 2 + 1];
        char *last;

        if (size == 0)
                return bad(ret_reason, strdup("empty"));
        if (memchr(data, 0, size))
                return bad(ret_reason, strdup("contains NUL bytes"));
        /* Every line, the checksum line included, ends with a newline: a record cut anywhere but
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
        return state_parse(data, want_version, ret, ret_sequence, ret_reason);
}

/* A slot: its record, then newlines to the end. 1 if it was never written (newlines only, or
 * zeros from a file extended but never written), 0 if valid, -EBADMSG if damaged. */
static int state_parse_slot(char *slot, SavedState *ret, uint64_t *ret_sequence, char **ret_reason)
{
        size_t end = STATE_SLOT_SIZE;
        bool zeros = true;

        for (size_t i = 0; i < STATE_SLOT_SIZE && zeros; i++)
                zeros = slot[i] == 0;
        if (zeros)
                return 1;
        while (end > 0 && slot[end - 1] == '\n')
                end--;
        if (end == 0)
                return 1;
        /* The record ends with the newline of its checksum line. */
        if (end < STATE_SLOT_SIZE)
                end++;
        return state_parse_record(slot, end, 2, ret, ret_sequence, ret_reason);
}

/* The newest valid slot of a two-slot file: 0 with *ret, *ret_slot, *ret_sequence set (and
 * *ret_reason naming a damaged other slot, if any), -ENOENT if neither was ever written, or
 * -EBADMSG. data is 2 * STATE_SLOT_SIZE bytes plus a writable byte. */
static int state_parse_slots(char *data, SavedState *ret, int *ret_slot, uint64_t *ret_sequence,
                             char **ret_reason)
{
        char *why[2] = {};
        SavedState s[2];
        uint64_t sequence[2] = {};
        int r[2], best = -1;

        for (int i = 0; i < 2; i++) {
                char saved = data[(i + 1) * STATE_SLOT_SIZE];
                r[i] = state_parse_slot(data + i * STATE_SLOT_SIZE, &s[i], &sequence[i], &why[i]);
                data[(i + 1) * STATE_SLOT_SIZE] = saved;
                if (r[i] == 0 && (best < 0 || sequence[i] > sequence[best]))
                        best = i;
        }
        if (best < 0) {
                int k = -ENOENT;
                if (r[0] < 0 && r[1] < 0)
                        k = bad(ret_reason,
                                strdup_printf("both slots damaged: %s; %s", why[0], why[1]));
                else if (r[0] < 0 || r[1] < 0)
                        k = bad(ret_reason, strdup(why[r[0] < 0 ? 0 : 1]));
                free(why[0]);
                free(why[1]);
                return k;
        }
        if (r[1 - best] < 0 && ret_reason)
                *ret_reason = strdup_printf("slot %d damaged (%s), slot %d used", 1 - best,
                                            why[1 - best], best);
        free(why[0]);
        free(why[1]);
        *ret = s[best];
        *ret_slot = best;
        *ret_sequence = sequence[best];
        return 0;
}

/* Opens <dir>/state without following a symlink or blocking on a FIFO, and only if regular. */
static int state_open(const char *dir, int flags, char **ret_reason)
{
        _cleanup_free_ char *path = strdup_printf("%s/state", dir);
        _cleanup_close_ int fd = -1;
        struct stat st;
        int r;

        if (!path)
                return -ENOMEM;
        fd = open(path, flags | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK, 0600);
        if (fd < 0) {
                r = -errno;
                if (r == -ELOOP) {
                        if (ret_reason)
                                *ret_reason = strdup("is a symbolic link");
                        return -ENOTRECOVERABLE;
                }
                if (r == -ENXIO || r == -EISDIR) {
                        if (ret_reason)
                                *ret_reason = strdup("not a regular file");
                        return -ENOTRECOVERABLE;
                }
                return r;
        }
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode)) {
                if (ret_reason)
                        *ret_reason = strdup_printf("not a regular file but a %s",
                                                    S_ISFIFO(st.st_mode)   ? "FIFO"
                                                    : S_ISDIR(st.st_mode)  ? "directory"
                                                    : S_ISSOCK(st.st_mode) ? "socket"
                                                                           : "device");
                return -ENOTRECOVERABLE;
        }
        r = fd_set_nonblock(fd, false);
        if (r < 0)
                return r;
        return TAKE_FD(fd);
}

/* Reads at most STATE_FILE_MAX bytes: -EFBIG beyond. */
static int state_read(int fd, char **ret, size_t *ret_size)
{
        _cleanup_free_ char *buf = malloc(STATE_FILE_MAX + 2);
        size_t size = 0;

        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t n = pread(fd, buf + size, STATE_FILE_MAX + 1 - size, (off_t)size);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                size += (size_t)n;
                if (size > STATE_FILE_MAX)
                        return -EFBIG;
        }
        buf[size] = 0;
        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

/* The state in an open file, in either format. *ret_slot is -1 for a version 1 file. */
static int state_load_fd(int fd, SavedState *ret, int *ret_slot, uint64_t *ret_sequence,
                         char **ret_reason)
{
        _cleanup_free_ char *data = NULL;
        size_t size = 0;
        int r;

        r = state_read(fd, &data, &size);
        if (r == -EFBIG)
                return bad(ret_reason, strdup_printf("larger than %d bytes", STATE_FILE_MAX));
        if (r < 0) {
                if (ret_reason)
                        *ret_reason = strdup_printf("cannot read: %s", strerror(-r));
                return r;
        }
        if (size == 2 * STATE_SLOT_SIZE)
                return state_parse_slots(data, ret, ret_slot, ret_sequence, ret_reason);
        *ret_slot = -1;
        return state_parse_record(data, size, 1, ret, ret_sequence, ret_reason);
}

int state_load(const char *dir, SavedState *ret, char **ret_reason)
{
        _cleanup_close_ int fd = -1;
        uint64_t sequence;
        int slot;

        if (ret_reason)
                *ret_reason = NULL;
        if (sodium_init() < 0)
                return -EIO;
        fd = state_open(dir, O_RDONLY, ret_reason);
        if (fd < 0)
                return fd;
        return state_load_fd(fd, ret, &slot, &sequence, ret_reason);
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

/* One slot's bytes: the record with its checksum, then newlines. */
static int state_format_slot(const SavedState *s, uint64_t sequence, char slot[STATE_SLOT_SIZE])
{
        _cleanup_free_ char *body = NULL;
        char hex[CHECKSUM_BYTES * 2 + 1];
        int n;

        body = strdup_printf("version=2\nsequence=%llu\nactive=%d\nhanded_over=%d\nepoch=%llu\n",
                             (unsigned long long)sequence, s->active, s->handed_over,
                             (unsigned long long)s->epoch);
        if (!body)
                return -ENOMEM;
        state_checksum(body, strlen(body), hex);
        memset(slot, '\n', STATE_SLOT_SIZE);
        n = snprintf(slot, STATE_SLOT_SIZE, "%s" CHECKSUM_KEY "%s\n", body, hex);
        if (n < 0 || n >= STATE_SLOT_SIZE)
                return -E2BIG;
        slot[n] = '\n'; /* snprintf's NUL */
        return 0;
}

static int pwrite_full(int fd, const char *buf, size_t size, off_t offset)
{
        while (size > 0) {
                ssize_t n = pwrite(fd, buf, size, offset);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -EIO;
                buf += n;
                size -= (size_t)n;
                offset += n;
        }
        return 0;
}

/* A new two-slot file in place of whatever is there: the space allocated and written, current
 * (if any) in slot 0. Returns the open fd. */
static int state_file_create(const char *dir, const SavedState *current)
{
        _cleanup_free_ char *path = strdup_printf("%s/state", dir);
        _cleanup_free_ char *tmp = strdup_printf("%s/state.tmp.%d", dir, (int)getpid());
        _cleanup_free_ char *data = malloc(2 * STATE_SLOT_SIZE);
        _cleanup_close_ int fd = -1;
        int r;

        if (!path || !tmp || !data)
                return -ENOMEM;
        memset(data, '\n', 2 * STATE_SLOT_SIZE);
        if (current) {
                r = state_format_slot(current, 1, data);
                if (r < 0)
                        return r;
        }
        (void)unlink(tmp);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        /* Allocated, then written: overwriting a slot later needs no new block. */
        r = -posix_fallocate(fd, 0, 2 * STATE_SLOT_SIZE);
        if (r == -EOPNOTSUPP || r == -EINVAL)
                r = 0;
        if (r == 0)
                r = pwrite_full(fd, data, 2 * STATE_SLOT_SIZE, 0);
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                (void)unlink(tmp);
                return r;
        }
        r = fsync_directory(dir);
        if (r < 0)
                return r;
        return TAKE_FD(fd);
}

int state_file_open(const char *dir, StateFile **ret)
{
        _cleanup_close_ int fd = -1;
        SavedState current;
        uint64_t sequence = 0;
        int slot = -1, r;
        StateFile *f;

        if (sodium_init() < 0)
                return -EIO;
        r = mkdir_p(dir, 0700);
        if (r < 0)
                return r;

        fd = state_open(dir, O_RDWR, NULL);
        if (fd == -ENOTRECOVERABLE)
                return fd;
        if (fd >= 0) {
                r = state_load_fd(fd, &current, &slot, &sequence, NULL);
                if (r == -ENOENT || (r == 0 && slot >= 0)) {
                        /* Already two slots (maybe never written): saves go in place. */
                        r = 0;
                } else {
                        /* Version 1 (kept in the new file) or unusable (started passive
                         * already, so nothing is lost): replaced by a two-slot file. */
                        close(TAKE_FD(fd));
                        fd = state_file_create(dir, r == 0 ? &current : NULL);
                        slot = r == 0 ? 0 : -1;
                        sequence = r == 0 ? 1 : 0;
                }
        } else if (fd == -ENOENT)
                fd = state_file_create(dir, NULL);
        if (fd < 0)
                return fd;

        f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        *f = (StateFile){.fd = TAKE_FD(fd), .sequence = sequence, .slot = slot};
        *ret = f;
        return 0;
}

int state_file_save(StateFile *f, const SavedState *s)
{
        char data[STATE_SLOT_SIZE];
        int slot = f->slot == 0 ? 1 : 0, r;

        r = state_format_slot(s, f->sequence + 1, data);
        if (r < 0)
                return r;
        r = pwrite_full(f->fd, data, sizeof(data), (off_t)slot * STATE_SLOT_SIZE);
        if (r == 0 && fdatasync(f->fd) < 0)
                r = -errno;
        if (r < 0)
                return r;
        f->sequence++;
        f->slot = slot;
        return 0;
}

StateFile *state_file_free(StateFile *f)
{
        if (!f)
                return NULL;
        if (f->fd >= 0)
                close(f->fd);
        free(f);
        return NULL;
}

int state_save(const char *dir, const SavedState *s)
{
        StateFile *f = NULL;
        int r;

        r = state_file_open(dir, &f);
        if (r < 0)
                return r;
        r = state_file_save(f, s);
        state_file_free(f);
        return r;
}
