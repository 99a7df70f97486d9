/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "json.h"

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

static void put_escaped(FILE *f, const char *s)
{
        fputc('"', f);
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                if (*p == '"' || *p == '\\')
                        fprintf(f, "\\%c", *p);
                else if (*p < 0x20)
                        fprintf(f, "\\u%04x", *p);
                else
                        fputc(*p, f);
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
