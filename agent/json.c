/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "json.h"

#include <inttypes.h>
#include <math.h>

/* Length of the valid UTF-8 sequence at s (> 0), or minus the length of its longest invalid
 * prefix (Unicode "maximal subpart"), which is replaced by one U+FFFD. Ranges per Unicode
 * table 3-7: no overlong forms, no surrogates, nothing above U+10FFFF. */
static ssize_t utf8_sequence_length(const unsigned char *s, size_t n)
{
        unsigned char lo = 0x80, hi = 0xBF;
        size_t len;

        if (s[0] < 0x80)
                return 1;
        if (s[0] >= 0xC2 && s[0] <= 0xDF)
                len = 2;
        else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
                len = 3;
                if (s[0] == 0xE0)
                        lo = 0xA0;
                else if (s[0] == 0xED)
                        hi = 0x9F;
        } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
                len = 4;
                if (s[0] == 0xF0)
                        lo = 0x90;
                else if (s[0] == 0xF4)
                        hi = 0x8F;
        } else
                return -1;

        for (size_t i = 1; i < len; i++) {
                if (i >= n || s[i] < lo || s[i] > hi)
                        return -(ssize_t)i;
                lo = 0x80;
                hi = 0xBF;
        }
        return (ssize_t)len;
}

void json_write_string_len(FILE *f, const char *s, size_t n)
{
        const unsigned char *p = (const unsigned char *)s;

        fputc('"', f);
        for (size_t i = 0; i < n;) {
                unsigned char c = p[i];
                ssize_t len;

                switch (c) {
                case '"':
                        fputs("\\\"", f);
                        break;
                case '\\':
                        fputs("\\\\", f);
                        break;
                case '\b':
                        fputs("\\b", f);
                        break;
                case '\f':
                        fputs("\\f", f);
                        break;
                case '\n':
                        fputs("\\n", f);
                        break;
                case '\r':
                        fputs("\\r", f);
                        break;
                case '\t':
                        fputs("\\t", f);
                        break;
                default:
                        if (c < 0x20) {
                                fprintf(f, "\\u%04x", c);
                                break;
                        }
                        len = utf8_sequence_length(p + i, n - i);
                        if (len < 0) {
                                fputs("\\ufffd", f);
                                i += (size_t)-len;
                                continue;
                        }
                        fwrite(p + i, 1, (size_t)len, f);
                        i += (size_t)len;
                        continue;
                }
                i++;
        }
        fputc('"', f);
}

void json_write_string(FILE *f, const char *s)
{
        if (!s) {
                fputs("null", f);
                return;
        }
        json_write_string_len(f, s, strlen(s));
}

int json_writer_open(JsonWriter *w)
{
        *w = (JsonWriter){};
        w->f = open_memstream(&w->buf, &w->size);
        if (!w->f)
                return -errno;
        return 0;
}

void json_writer_done(JsonWriter *w)
{
        if (w->f) {
                fclose(w->f);
                w->f = NULL;
        }
        free(w->buf);
        w->buf = NULL;
}

int json_writer_finish(JsonWriter *w, char **ret)
{
        int r;

        if (!w->f)
                return -EINVAL;
        if (w->error == 0 && w->depth != 0)
                w->error = -EINVAL;
        if (w->error == 0 && ferror(w->f))
                w->error = -ENOMEM;
        r = fclose(w->f);
        w->f = NULL;
        if (w->error == 0 && r != 0)
                w->error = -ENOMEM;
        if (w->error < 0) {
                json_writer_done(w);
                return w->error;
        }
        *ret = TAKE_PTR(w->buf);
        return 0;
}

/* Writes the comma and the member name that go before a value at the current level. */
static bool json_prefix(JsonWriter *w, const char *key)
{
        if (!w->f || w->error < 0)
                return false;
        if (w->has_value[w->depth])
                fputc(',', w->f);
        w->has_value[w->depth] = true;
        if (key) {
                json_write_string(w->f, key);
                fputc(':', w->f);
        }
        return true;
}

static void json_begin(JsonWriter *w, const char *key, char open)
{
        if (!json_prefix(w, key))
                return;
        if (w->depth >= JSON_DEPTH_MAX) {
                w->error = -EINVAL;
                return;
        }
        fputc(open, w->f);
        w->has_value[++w->depth] = false;
}

static void json_end(JsonWriter *w, char close)
{
        if (!w->f || w->error < 0)
                return;
        if (w->depth == 0) {
                w->error = -EINVAL;
                return;
        }
        w->depth--;
        fputc(close, w->f);
}

void json_begin_object(JsonWriter *w, const char *key)
{
        json_begin(w, key, '{');
}

void json_end_object(JsonWriter *w)
{
        json_end(w, '}');
}

void json_begin_array(JsonWriter *w, const char *key)
{
        json_begin(w, key, '[');
}

void json_end_array(JsonWriter *w)
{
        json_end(w, ']');
}

void json_add_string(JsonWriter *w, const char *key, const char *value)
{
        if (json_prefix(w, key))
                json_write_string(w->f, value);
}

void json_add_int(JsonWriter *w, const char *key, int64_t value)
{
        if (json_prefix(w, key))
                fprintf(w->f, "%" PRId64, value);
}

void json_add_uint(JsonWriter *w, const char *key, uint64_t value)
{
        if (json_prefix(w, key))
                fprintf(w->f, "%" PRIu64, value);
}

void json_add_double(JsonWriter *w, const char *key, double value)
{
        char buf[64];

        if (!json_prefix(w, key))
                return;
        if (!isfinite(value)) {
                fputs("null", w->f);
                return;
        }
        /* The shortest form that reads back as the same double. */
        for (int precision = 15; precision <= 17; precision++) {
                snprintf(buf, sizeof(buf), "%.*g", precision, value);
                if (strtod(buf, NULL) == value)
                        break;
        }
        fputs(buf, w->f);
}

void json_add_bool(JsonWriter *w, const char *key, bool value)
{
        if (json_prefix(w, key))
                fputs(value ? "true" : "false", w->f);
}

void json_add_null(JsonWriter *w, const char *key)
{
        if (json_prefix(w, key))
                fputs("null", w->f);
}
