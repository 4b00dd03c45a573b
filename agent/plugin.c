/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* Linked into vacataire-checker too, which has no log.c: errors go back to the caller as text. */
#include "plugin.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "secure-path.h"

/* dlerror() usually starts with the path itself; the message names the file once. */
static const char *dlerror_without_path(const char *path, const char *text)
{
        size_t n = strlen(path);

        if (!text)
                return "unknown error";
        if (strncmp(text, path, n) == 0 && text[n] == ':' && text[n + 1] == ' ')
                return text + n + 2;
        return text;
}

static int refuse(int error, char **ret_error, char *message)
{
        if (!message)
                return -ENOMEM;
        *ret_error = message;
        return error;
}

int plugin_load(const char *path, Plugin **ret, char **ret_error)
{
        _cleanup_(plugin_freep) Plugin *p = NULL;
        _cleanup_free_ char *error = NULL;
        const struct vacataire_plugin *api;
        char proc_path[64];
        struct stat st;
        int r;

        *ret_error = NULL;
        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->fd = -1;
        p->path = strdup(path);
        if (!p->path)
                return -ENOMEM;

        /* Checked, then loaded through the descriptor that was checked: what runs as root is
         * the file examined, not whatever the name points to a moment later. */
        p->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
        if (p->fd < 0) {
                r = -errno;
                if (r == -ELOOP)
                        return refuse(-EPERM, ret_error,
                                      strdup_printf("%s: plugin is a symbolic link; plugins are "
                                                    "loaded only from regular files: install the "
                                                    "file itself there",
                                                    path));
                /* The words dlopen() would use, as before this check opened the file. */
                return refuse(r, ret_error,
                              strdup_printf("%s: cannot load: cannot open shared object file: %s",
                                            path, strerror(-r)));
        }
        if (fstat(p->fd, &st) < 0) {
                r = -errno;
                return refuse(r, ret_error,
                              strdup_printf("%s: cannot load: %s", path, strerror(-r)));
        }
        r = secure_file_check(&st, path, "plugin", &error);
        if (r == 0)
                r = secure_parents_check(path, &error);
        if (r < 0)
                return error ? refuse(r, ret_error, strdup_printf("%s: %s", path, error)) : r;

        snprintf(proc_path, sizeof(proc_path), "/proc/self/fd/%d", p->fd);
        p->handle = dlopen(proc_path, RTLD_NOW | RTLD_LOCAL);
        if (!p->handle)
                /* dlerror() is the only text; errno is not reliable after dlopen(). */
                return refuse(-ENOEXEC, ret_error,
                              strdup_printf("%s: cannot load: %s", path,
                                            dlerror_without_path(proc_path, dlerror())));

        (void)dlerror();
        api = dlsym(p->handle, VACATAIRE_PLUGIN_SYMBOL);
        if (!api)
                return refuse(-ENOEXEC, ret_error,
                              strdup_printf("%s: no symbol %s (not a vacataire plugin?)", path,
                                            VACATAIRE_PLUGIN_SYMBOL));

        /* The first two fields are the same in every ABI version, so they are safe to read. */
        if (api->abi_version != VACATAIRE_PLUGIN_ABI_VERSION)
                return refuse(-EPROTONOSUPPORT, ret_error,
                              strdup_printf("%s: built for plugin ABI version %u, this agent uses "
                                            "version %u",
                                            path, (unsigned)api->abi_version,
                                            (unsigned)VACATAIRE_PLUGIN_ABI_VERSION));
        /* Smaller than today's struct is fine down to the first release's: appended fields
         * are read through PLUGIN_FIELD(). */
        if (api->struct_size < PLUGIN_STRUCT_SIZE_MIN)
                return refuse(-EBADMSG, ret_error,
                              strdup_printf("%s: plugin struct too small (%u bytes, need %zu)",
                                            path, (unsigned)api->struct_size,
                                            (size_t)PLUGIN_STRUCT_SIZE_MIN));
        if (!api->configure || !api->run)
                return refuse(-EBADMSG, ret_error,
                              strdup_printf("%s: plugin has no %s callback", path,
                                            !api->configure ? "configure" : "run"));

        p->api = api;
        *ret = TAKE_PTR(p);
        return 0;
}

Plugin *plugin_free(Plugin *p)
{
        if (!p)
                return NULL;
        if (p->handle)
                (void)dlclose(p->handle);
        /* Only now: while it is loaded, its /proc/self/fd name must not be reused. */
        if (p->fd >= 0)
                (void)close(p->fd);
        free(p->path);
        free(p);
        return NULL;
}
