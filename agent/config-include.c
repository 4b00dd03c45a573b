/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <limits.h>
#include <sys/stat.h>

#include "config-internal.h"

#define INCLUDE_FILE_MAX (4u * 1024u * 1024u)

typedef struct IncludeFrame {
        dev_t dev;
        ino_t ino;
        const char *file; /* as shown in messages */
} IncludeFrame;

/* The name of an "@include" line as libconfig's scanner matches it: ^[ \t]*@include[ \t]+"name" */
static bool parse_include_line(const char *line, size_t length, const char **ret, size_t *ret_len)
{
        const char *end = line + length, *name, *quote;

        while (line < end && (*line == ' ' || *line == '\t'))
                line++;
        if ((size_t)(end - line) < 8 || memcmp(line, "@include", 8) != 0)
                return false;
        line += 8;
        if (line >= end || (*line != ' ' && *line != '\t'))
                return false;
        while (line < end && (*line == ' ' || *line == '\t'))
                line++;
        if (line >= end || *line != '"')
                return false;
        name = line + 1;
        quote = memchr(name, '"', (size_t)(end - name));
        if (!quote)
                return false;
        *ret = name;
        *ret_len = (size_t)(quote - name);
        return true;
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
        int line = 0;

        /* Unreadable files are left to libconfig, which reports them with its own words. */
        if (read_full_file(file, INCLUDE_FILE_MAX, &text, &size) < 0)
                return;

        for (const char *at = text; at < text + size;) {
                const char *eol = memchr(at, '\n', (size_t)(text + size - at));
                size_t length = eol ? (size_t)(eol - at) : (size_t)(text + size - at);
                const char *name_start;
                size_t name_len;
                char name[PATH_MAX], shown[PATH_MAX + 64];
                const char *target;
                struct stat st;
                size_t seen;
                const char *start = at;

                line++;
                at = eol ? eol + 1 : text + size;
                if (!parse_include_line(start, length, &name_start, &name_len))
                        continue;
                snprintf(name, sizeof(name), "%.*s", (int)name_len, name_start);

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
