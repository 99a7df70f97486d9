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
#include "bus-dict.h"
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
        return state && (!strcmp(state, VC_STATE_DONE) || !strcmp(state, VC_STATE_FAILED) ||
                         !strcmp(state, VC_STATE_CANCELLED));
}

int job_state_update(struct job_state *s, sd_bus_message *m)
{
#define F(key, type, field) { key, BUS_FIELD_##type, offsetof(struct job_state, field) }
        static const struct bus_field fields[] = {
                F("Path", STRING, path),          F("Mode", STRING, mode),
                F("State", STRING, state),        F("Error", STRING, error),
                F("ErrorName", STRING, error_name), F("BytesDone", U64, bytes_done),
                F("BytesTotal", U64, bytes_total), F("Rate", U64, rate),
                F("ExpectedEndTime", U64, expected_end), F("SizeBefore", U64, size_before),
                F("SizeAfter", U64, size_after),  F("Progress", DOUBLE, progress),
                F("Owner", U32, owner),
        };
#undef F
        bool seen[ELEMENTSOF(fields)] = {};
        int r;

        r = bus_read_dict(m, fields, ELEMENTSOF(fields), s, seen);
        if (seen[ELEMENTSOF(fields) - 1])
                s->have_owner = true;
        return r;
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
        size_t n = strlen(VC_BUS_JOB_PREFIX "/");

        if (!strncmp(arg, VC_BUS_JOB_PREFIX "/", n))
                num = arg + n;
        if (!*num || strspn(num, "0123456789") != strlen(num) || strlen(num) > 19)
                return -EINVAL;
        if ((size_t) snprintf(buf, size, VC_BUS_JOB_PREFIX "/%s", num) >= size)
                return -ENAMETOOLONG;
        return 0;
}
