/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

#include "util.h"

/*
 * A small JSON writer for status output. Strings are escaped per RFC 8259; bytes that are not
 * valid UTF-8 become U+FFFD, so the output is always valid JSON whatever a plugin wrote.
 *
 *   _cleanup_(json_writer_done) JsonWriter w = {};
 *   json_writer_open(&w);
 *   json_begin_object(&w, NULL);
 *   json_add_string(&w, "node", "web1");
 *   json_begin_array(&w, "checks");  ...  json_end_array(&w);
 *   json_end_object(&w);
 *   r = json_writer_finish(&w, &text);
 */

#define JSON_DEPTH_MAX 32

/* Writes s quoted and escaped; NULL writes null. */
void json_write_string(FILE *f, const char *s);
/* Same for n bytes, which may contain NUL. */
void json_write_string_len(FILE *f, const char *s, size_t n);

typedef struct JsonWriter {
        FILE *f;
        char *buf;
        size_t size;
        unsigned depth;
        bool has_value[JSON_DEPTH_MAX + 1]; /* per level: a comma is due before the next value */
        int error;
} JsonWriter;

/* Writes to memory (open_memstream). */
int json_writer_open(JsonWriter *w);
/* Closes the writer; on success *ret is the text (malloc'd), else -ENOMEM or -EINVAL (misuse:
 * unbalanced or too deep nesting). */
int json_writer_finish(JsonWriter *w, char **ret);
/* Frees whatever the writer still holds; for _cleanup_. */
void json_writer_done(JsonWriter *w);

/* key is the member name inside an object, NULL inside an array or at top level. */
void json_begin_object(JsonWriter *w, const char *key);
void json_end_object(JsonWriter *w);
void json_begin_array(JsonWriter *w, const char *key);
void json_end_array(JsonWriter *w);
void json_add_string(JsonWriter *w, const char *key, const char *value); /* NULL: null */
void json_add_int(JsonWriter *w, const char *key, int64_t value);
void json_add_uint(JsonWriter *w, const char *key, uint64_t value);
void json_add_double(JsonWriter *w, const char *key, double value); /* NaN, inf: null */
void json_add_bool(JsonWriter *w, const char *key, bool value);
void json_add_null(JsonWriter *w, const char *key);
