/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reading an a{sv} (a properties dictionary, a report) into the fields of
 * a struct, by key.  Types are checked, not assumed: an entry whose
 * variant holds another type than the field's is skipped, as are keys
 * nobody asked for.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <systemd/sd-bus.h>

enum bus_field_type {
        BUS_FIELD_STRING,       /* "s" into a char * (a copy; the old one freed) */
        BUS_FIELD_U64,          /* "t" into a uint64_t */
        BUS_FIELD_U32_AS_U64,   /* "u" into a uint64_t */
        BUS_FIELD_U32,          /* "u" into a uint32_t */
        BUS_FIELD_DOUBLE,       /* "d" into a double */
};

struct bus_field {
        const char *key;
        enum bus_field_type type;
        size_t offset;          /* of the field in the struct */
};

/* Reads m's a{sv} at its read position into base's fields; seen[i] (when
 * seen is not NULL) tells whether fields[i] was read.  0 or -errno. */
int bus_read_dict(sd_bus_message *m, const struct bus_field *fields, size_t n, void *base, bool *seen);
