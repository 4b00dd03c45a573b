/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "secure-path.h"

#include <limits.h>
#include <pwd.h>

#include "util.h"

static int refuse(int r, char **ret_error, char *message)
{
        *ret_error = message;
        return message ? r : -ENOMEM;
}

static const char *owner_name(uid_t uid, char *buf, size_t size)
{
        struct passwd pw, *found = NULL;
        char scratch[1024];

        if (getpwuid_r(uid, &pw, scratch, sizeof(scratch), &found) == 0 && found)
                snprintf(buf, size, "uid %u (%s)", (unsigned)uid, found->pw_name);
        else
                snprintf(buf, size, "uid %u", (unsigned)uid);
        return buf;
}

/* Owned by root, or by whoever runs us (a user deployment, or tests as a normal user). */
static bool trusted_owner(uid_t uid)
{
        return uid == 0 || uid == geteuid();
}

int secure_file_check(const struct stat *st, const char *path, const char *what, char **ret_error)
{
        char owner[128];

        *ret_error = NULL;
        if (!S_ISREG(st->st_mode))
                return refuse(-EINVAL, ret_error, strdup_printf("%s is not a regular file", what));
        if (!trusted_owner(st->st_uid))
                return refuse(-EPERM, ret_error,
                              strdup_printf("%s owned by %s, not root: anyone with that "
                                            "account could change it; run: chown root %s",
                                            what, owner_name(st->st_uid, owner, sizeof(owner)),
                                            path));
        if (st->st_mode & 022)
                return refuse(-EPERM, ret_error,
                              strdup_printf("%s writable by %s (mode %04o); run: chmod go-w %s",
                                            what, (st->st_mode & 002) ? "others" : "its group",
                                            (unsigned)(st->st_mode & 07777), path));
        return 0;
}

int secure_parents_check(const char *path, char **ret_error)
{
        _cleanup_free_ char *copy = strdup(path);
        char dir[PATH_MAX], owner[128];
        char *slash;
        bool own_dir = true;

        *ret_error = NULL;
        if (!copy)
                return -ENOMEM;
        slash = strrchr(copy, '/');
        if (!slash)
                strcpy(copy, ".");
        else if (slash == copy)
                copy[1] = 0;
        else
                *slash = 0;
        if (!realpath(copy, dir)) {
                int r = -errno;
                return refuse(r, ret_error,
                              strdup_printf("cannot resolve its directory: %s", strerror(-r)));
        }

        for (;;) {
                struct stat st;

                if (stat(dir, &st) < 0) {
                        int r = -errno;
                        return refuse(
                            r, ret_error,
                            strdup_printf("cannot examine directory %s: %s", dir, strerror(-r)));
                }
                if (!trusted_owner(st.st_uid))
                        return refuse(
                            -EPERM, ret_error,
                            strdup_printf("directory %s is owned by %s, not root: "
                                          "its owner could replace the file; run: "
                                          "chown root %s",
                                          dir, owner_name(st.st_uid, owner, sizeof(owner)), dir));
                /* Sticky and root's: others may add files but not replace ours. Fine above the
                 * file's own directory (/tmp/x/file), not as it (/tmp/file: a name others can
                 * take first). */
                if ((st.st_mode & 022) && own_dir && (st.st_mode & S_ISVTX) && st.st_uid == 0)
                        return refuse(-EPERM, ret_error,
                                      strdup_printf("its directory %s is writable by others "
                                                    "(mode %04o, sticky): move the file into a "
                                                    "directory only root can write",
                                                    dir, (unsigned)(st.st_mode & 07777)));
                if ((st.st_mode & 022) && (own_dir || !(st.st_mode & S_ISVTX) || st.st_uid != 0))
                        return refuse(-EPERM, ret_error,
                                      strdup_printf("directory %s is writable by %s (mode "
                                                    "%04o); run: chmod go-w %s",
                                                    dir,
                                                    (st.st_mode & 002) ? "others" : "its group",
                                                    (unsigned)(st.st_mode & 07777), dir));
                if (streq(dir, "/"))
                        return 0;
                slash = strrchr(dir, '/');
                if (slash == dir)
                        dir[1] = 0;
                else
                        *slash = 0;
                own_dir = false;
        }
}

int secure_path_check(const char *path, const char *what, char **ret_error)
{
        struct stat st;
        int r;

        *ret_error = NULL;
        if (stat(path, &st) < 0) {
                r = -errno;
                return refuse(r, ret_error, strdup(strerror(-r)));
        }
        r = secure_file_check(&st, path, what, ret_error);
        if (r < 0)
                return r;
        return secure_parents_check(path, ret_error);
}
