/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A minimal streaming JSON writer for --json output: enough to emit objects,
 * arrays, strings (escaped), integers and booleans with stable key order.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct json {
        FILE *f;
        int depth;
        bool need_comma[32];
};

void json_begin_object(struct json *j, const char *key);
void json_end_object(struct json *j);
void json_begin_array(struct json *j, const char *key);
void json_end_array(struct json *j);
void json_string(struct json *j, const char *key, const char *value);
void json_u64(struct json *j, const char *key, uint64_t value);
void json_bool(struct json *j, const char *key, bool value);
void json_null(struct json *j, const char *key);
void json_double(struct json *j, const char *key, double value);
