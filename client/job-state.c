/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Decoding org.vhd.Compact.Job properties (see job-state.h).  Types are
 * checked, not assumed: a property with an unexpected signature is skipped
 * rather than misread.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-client.h"
#include "job-state.h"
#include "util/macro.h"

void job_state_done(struct job_state *s)
{
        free(s->path);
        free(s->mode);
        free(s->state);
        free(s->error);
        free(s->error_name);
        *s = (struct job_state) {};
}

bool job_state_is_final(const char *state)
{
        return state && (!strcmp(state, "done") || !strcmp(state, "failed") || !strcmp(state, "cancelled"));
}

static int read_string(sd_bus_message *m, char **field)
{
        const char *v;
        char *copy;
        int r;

        r = sd_bus_message_read(m, "v", "s", &v);
        if (r < 0)
                return r;
        copy = strdup(v);
        if (!copy)
                return -ENOMEM;
        free(*field);
        *field = copy;
        return 0;
}

int job_state_update(struct job_state *s, sd_bus_message *m)
{
        static const struct {
                const char *name;
                size_t off;
        } strings[] = {
                { "Path", offsetof(struct job_state, path) },
                { "Mode", offsetof(struct job_state, mode) },
                { "State", offsetof(struct job_state, state) },
                { "Error", offsetof(struct job_state, error) },
                { "ErrorName", offsetof(struct job_state, error_name) },
        }, numbers[] = {
                { "BytesDone", offsetof(struct job_state, bytes_done) },
                { "BytesTotal", offsetof(struct job_state, bytes_total) },
                { "Rate", offsetof(struct job_state, rate) },
                { "ExpectedEndTime", offsetof(struct job_state, expected_end) },
                { "SizeBefore", offsetof(struct job_state, size_before) },
                { "SizeAfter", offsetof(struct job_state, size_after) },
        };
        const char *name, *contents;
        char type;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                bool done = false;

                r = sd_bus_message_read(m, "s", &name);
                if (r < 0)
                        return r;
                r = sd_bus_message_peek_type(m, &type, &contents);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < ELEMENTSOF(strings) && !done; i++)
                        if (!strcmp(name, strings[i].name) && !strcmp(contents, "s")) {
                                r = read_string(m, (char **) ((char *) s + strings[i].off));
                                if (r < 0)
                                        return r;
                                done = true;
                        }
                for (size_t i = 0; i < ELEMENTSOF(numbers) && !done; i++)
                        if (!strcmp(name, numbers[i].name) && !strcmp(contents, "t")) {
                                r = sd_bus_message_read(m, "v", "t", (uint64_t *) ((char *) s + numbers[i].off));
                                if (r < 0)
                                        return r;
                                done = true;
                        }
                if (!done && !strcmp(name, "Progress") && !strcmp(contents, "d")) {
                        r = sd_bus_message_read(m, "v", "d", &s->progress);
                        if (r < 0)
                                return r;
                        done = true;
                }
                if (!done && !strcmp(name, "Owner") && !strcmp(contents, "u")) {
                        r = sd_bus_message_read(m, "v", "u", &s->owner);
                        if (r < 0)
                                return r;
                        s->have_owner = true;
                        done = true;
                }
                if (!done) {
                        r = sd_bus_message_skip(m, "v");
                        if (r < 0)
                                return r;
                }
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

int job_state_get(sd_bus *bus, const char *job, struct job_state *s, sd_bus_error *error)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_call_method(bus, VC_BUS_NAME, job, "org.freedesktop.DBus.Properties", "GetAll", error,
                               &reply, "s", VC_BUS_JOB);
        if (r < 0)
                return r;
        return job_state_update(s, reply);
}

int job_path_from_arg(const char *arg, char *buf, size_t size)
{
        const char *num = arg;
        size_t n = strlen(VC_BUS_JOB_PREFIX);

        if (!strncmp(arg, VC_BUS_JOB_PREFIX, n))
                num = arg + n;
        if (!*num || strspn(num, "0123456789") != strlen(num) || strlen(num) > 19)
                return -EINVAL;
        if ((size_t) snprintf(buf, size, VC_BUS_JOB_PREFIX "%s", num) >= size)
                return -ENAMETOOLONG;
        return 0;
}
