/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bus-dict.h"

static const char *const signature[] = {
        [BUS_FIELD_STRING] = "s", [BUS_FIELD_U64] = "t", [BUS_FIELD_U32_AS_U64] = "u",
        [BUS_FIELD_U32] = "u",    [BUS_FIELD_DOUBLE] = "d",
};

static int read_field(sd_bus_message *m, const struct bus_field *f, void *base)
{
        void *p = (char *) base + f->offset;
        const char *s;
        uint32_t u;
        char *copy;
        int r;

        switch (f->type) {
        case BUS_FIELD_STRING:
                r = sd_bus_message_read(m, "v", "s", &s);
                if (r < 0)
                        return r;
                copy = strdup(s);
                if (!copy)
                        return -ENOMEM;
                free(*(char **) p);
                *(char **) p = copy;
                return 0;
        case BUS_FIELD_U64:
                return sd_bus_message_read(m, "v", "t", (uint64_t *) p);
        case BUS_FIELD_U32_AS_U64:
                r = sd_bus_message_read(m, "v", "u", &u);
                if (r >= 0)
                        *(uint64_t *) p = u;
                return r;
        case BUS_FIELD_U32:
                return sd_bus_message_read(m, "v", "u", (uint32_t *) p);
        case BUS_FIELD_DOUBLE:
                return sd_bus_message_read(m, "v", "d", (double *) p);
        }
        return -EINVAL;
}

int bus_read_dict(sd_bus_message *m, const struct bus_field *fields, size_t n, void *base, bool *seen)
{
        const char *key, *contents;
        char type;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const struct bus_field *f = NULL;
                size_t i;

                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;
                r = sd_bus_message_peek_type(m, &type, &contents);
                if (r < 0)
                        return r;
                for (i = 0; i < n && !f; i++)
                        if (!strcmp(key, fields[i].key) && !strcmp(contents, signature[fields[i].type]))
                                f = &fields[i];
                r = f ? read_field(m, f, base) : sd_bus_message_skip(m, "v");
                if (r < 0)
                        return r;
                if (f && seen)
                        seen[f - fields] = true;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}
