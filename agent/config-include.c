/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <limits.h>
#include <sys/stat.h>

#include "config-internal.h"
#include "secure-path.h"

#define INCLUDE_FILE_MAX (4u * 1024u * 1024u)

typedef struct IncludeFrame {
        dev_t dev;
        ino_t ino;
        const char *file; /* as shown in messages */
} IncludeFrame;

/* An "@include" as libconfig 1.5's scanner reads it, so that the file checked here is the file
 * it will open: at the start of a line, [ \t]*@include[ \t]+" opens a name that runs to the next
 * unescaped quote, across lines if need be; \\ and \" are escapes, any other backslash is
 * dropped, and each run of plain characters is cut at its first NUL (libconfig appends it with
 * strlen). Returns 1 with the name in name and *ret_end just after the closing quote, 0 if the
 * line is no @include, -EBADMSG if the name never ends, -ENAMETOOLONG. */
static int parse_include(const char *line, const char *end, char *name, size_t size,
                         const char **ret_end)
{
        const char *at = line;
        bool cut = false;
        size_t n = 0;

        while (at < end && (*at == ' ' || *at == '\t'))
                at++;
        if ((size_t)(end - at) < 8 || memcmp(at, "@include", 8) != 0)
                return 0;
        at += 8;
        if (at >= end || (*at != ' ' && *at != '\t'))
                return 0;
        while (at < end && (*at == ' ' || *at == '\t'))
                at++;
        if (at >= end || *at != '"')
                return 0;

        for (at++; at < end; at++) {
                char c = *at;

                if (c == '"') {
                        name[n] = 0;
                        *ret_end = at + 1;
                        return 1;
                }
                if (c == '\\') {
                        cut = false; /* a backslash ends the run of plain characters */
                        if (at + 1 >= end || (at[1] != '\\' && at[1] != '"'))
                                continue;
                        c = *++at;
                } else if (c == 0 || cut) {
                        cut = true;
                        continue;
                }
                if (n + 1 >= size)
                        return -ENAMETOOLONG;
                name[n++] = c;
        }
        return -EBADMSG;
}

static void report_cycle(ConfigParser *p, const IncludeFrame *stack, size_t depth, size_t first,
                         const char *file, int line, const char *name)
{
        char chain[2048];
        size_t used = 0;

        if (first == depth) {
                conf_add_error(p, file, line, "@include \"%s\": includes the file it is in", name);
                return;
        }
        chain[0] = 0;
        for (size_t i = first; i <= depth && used < sizeof(chain); i++) {
                int k = snprintf(chain + used, sizeof(chain) - used, "%s -> ", stack[i].file);
                used += k > 0 ? (size_t)k : 0;
        }
        conf_add_error(p, file, line, "@include \"%s\": include cycle: %s%s", name, chain,
                       stack[first].file);
}

static void scan_includes(ConfigParser *p, IncludeFrame *stack, size_t depth)
{
        _cleanup_free_ char *text = NULL;
        const char *file = stack[depth].file;
        size_t size;
        int line, next_line = 1;

        /* Unreadable files are left to libconfig, which reports them with its own words. */
        if (read_full_file(file, INCLUDE_FILE_MAX, &text, &size) < 0)
                return;

        for (const char *at = text, *end = text + size; at < end;) {
                const char *eol = memchr(at, '\n', (size_t)(end - at));
                const char *start = at, *after;
                char name[PATH_MAX], shown[PATH_MAX + 64];
                const char *target;
                struct stat st;
                size_t seen;
                int r;

                line = next_line++;
                at = eol ? eol + 1 : end;
                r = parse_include(start, end, name, sizeof(name), &after);
                if (r == 0)
                        continue;
                if (r < 0) {
                        conf_add_error(p, file, line, "@include: %s",
                                       r == -EBADMSG ? "the file name has no closing quote"
                                                     : "the file name is too long");
                        return;
                }
                /* The name may span lines: scanning resumes on the line after its end. */
                for (const char *q = start; (q = memchr(q, '\n', (size_t)(after - q))); q++)
                        next_line++;
                eol = memchr(after, '\n', (size_t)(end - after));
                at = eol ? eol + 1 : end;

                /* libconfig 1.5 prefixes include_dir even to an absolute path. */
                if (name[0] == '/') {
                        conf_add_error(p, file, line,
                                       "@include \"%s\": must be a path relative to %s, the "
                                       "directory of %s",
                                       name, p->include_dir, p->path);
                        continue;
                }
                target = conf_display_file(p, name, shown, sizeof(shown));
                if (stat(target, &st) < 0) {
                        conf_add_error(p, file, line, "@include \"%s\": cannot open %s: %s", name,
                                       target, strerror(errno));
                        continue;
                }
                if (!S_ISREG(st.st_mode)) {
                        conf_add_error(p, file, line, "@include \"%s\": %s is not a regular file",
                                       name, target);
                        continue;
                }
                {
                        _cleanup_free_ char *error = NULL;
                        int k = secure_file_check(&st, target, "included file", &error);
                        if (k == 0) {
                                free(error);
                                error = NULL;
                                k = secure_parents_check(target, &error);
                        }
                        if (k < 0) {
                                conf_add_error(p, file, line, "@include \"%s\": %s: %s", name,
                                               target, error ? error : strerror(-k));
                                continue;
                        }
                }
                for (seen = 0; seen <= depth; seen++)
                        if (stack[seen].dev == st.st_dev && stack[seen].ino == st.st_ino)
                                break;
                if (seen <= depth) {
                        report_cycle(p, stack, depth, seen, file, line, name);
                        continue;
                }
                if (depth + 1 >= CONFIG_INCLUDE_MAX_DEPTH)
                        continue;
                stack[depth + 1] =
                    (IncludeFrame){.dev = st.st_dev, .ino = st.st_ino, .file = target};
                scan_includes(p, stack, depth + 1);
        }
}

int conf_check_includes(ConfigParser *p)
{
        IncludeFrame stack[CONFIG_INCLUDE_MAX_DEPTH];
        size_t before = p->n_errors;
        struct stat st;

        if (stat(p->path, &st) < 0)
                return 0;
        stack[0] = (IncludeFrame){.dev = st.st_dev, .ino = st.st_ino, .file = p->path};
        scan_includes(p, stack, 0);
        return p->n_errors > before ? -EINVAL : 0;
}
