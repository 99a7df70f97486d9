/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include "json.h"
#include "util/text.h"

static void prefix(struct json *j, const char *key)
{
        if (j->depth > 0 && j->need_comma[j->depth])
                fputc(',', j->f);
        if (j->depth > 0) {
                fputc('\n', j->f);
                for (int i = 0; i < j->depth; i++)
                        fputs("  ", j->f);
        }
        j->need_comma[j->depth] = true;
        if (key) {
                json_string(&(struct json) { .f = j->f, .depth = -1 }, NULL, key);
                fputs(": ", j->f);
        }
}

/* Controls (C0, DEL, C1) as \\uXXXX, so that output needs no filtering
 * (safe-output.h); bytes that are not UTF-8 (Linux file names are bytes)
 * as U+FFFD, the one thing JSON can say for them. */
static void put_escaped(FILE *f, const char *s)
{
        fputc('"', f);
        for (size_t n = strlen(s); n > 0;) {
                uint32_t c;
                int l = utf8_decode(s, n, &c);
                if (l <= 0) {
                        fputs("\\ufffd", f);
                        l = 1;
                } else if (c == '"' || c == '\\')
                        fprintf(f, "\\%c", (char) c);
                else if (text_is_control(c))
                        fprintf(f, "\\u%04x", (unsigned) c);
                else
                        fwrite(s, 1, (size_t) l, f);
                s += l, n -= (size_t) l;
        }
        fputc('"', f);
}

void json_string(struct json *j, const char *key, const char *value)
{
        if (j->depth < 0) {     /* bare string, used for keys */
                put_escaped(j->f, value);
                return;
        }
        prefix(j, key);
        put_escaped(j->f, value);
}

void json_u64(struct json *j, const char *key, uint64_t value)
{
        prefix(j, key);
        fprintf(j->f, "%llu", (unsigned long long) value);
}

void json_bool(struct json *j, const char *key, bool value)
{
        prefix(j, key);
        fputs(value ? "true" : "false", j->f);
}

void json_null(struct json *j, const char *key)
{
        prefix(j, key);
        fputs("null", j->f);
}

static void open_(struct json *j, const char *key, char c)
{
        prefix(j, key);
        fputc(c, j->f);
        j->depth++;
        j->need_comma[j->depth] = false;
}

static void close_(struct json *j, char c)
{
        bool had = j->need_comma[j->depth];
        j->depth--;
        if (had) {
                fputc('\n', j->f);
                for (int i = 0; i < j->depth; i++)
                        fputs("  ", j->f);
        }
        fputc(c, j->f);
        if (j->depth == 0)
                fputc('\n', j->f);
}

void json_begin_object(struct json *j, const char *key) { open_(j, key, '{'); }
void json_end_object(struct json *j) { close_(j, '}'); }
void json_begin_array(struct json *j, const char *key) { open_(j, key, '['); }
void json_end_array(struct json *j) { close_(j, ']'); }

void json_double(struct json *j, const char *key, double value)
{
        prefix(j, key);
        fprintf(j->f, "%.6g", value);
}
