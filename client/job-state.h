/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The properties of one org.vhd.Compact.Job as the client last saw them,
 * filled from GetAll and from PropertiesChanged.  Used by `vhdctl compact`
 * to follow its job and by `vhdctl jobs` to list them.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

struct job_state {
        char *path, *mode, *state, *error, *error_name;
        uint32_t owner;
        bool have_owner;
        double progress;
        uint64_t bytes_done, bytes_total, rate, expected_end, size_before, size_after;
};

void job_state_done(struct job_state *s);

/*
 * job_state_update - apply the a{sv} the message M is positioned at (a
 * GetAll reply, or the changed properties of PropertiesChanged) and leave
 * M after it.  Unknown names and unexpected types are skipped, so that a
 * newer daemon does not break an older client.
 *
 * Returns 0, or a negative errno when M is malformed (then S may hold
 * part of the update).
 */
int job_state_update(struct job_state *s, sd_bus_message *m);

/* job_state_get - GetAll of JOB's org.vhd.Compact.Job into S. */
int job_state_get(sd_bus *bus, const char *job, struct job_state *s, sd_bus_error *error);

/* Whether STATE is one a job ends in: done, failed, cancelled. */
bool job_state_is_final(const char *state);

/* job_path_from_arg - "/org/vhd/Compact/job/N" for "N", or ARG itself if it
 * is already an object path under that prefix; -EINVAL otherwise.  The
 * result is written into buf (size bytes). */
int job_path_from_arg(const char *arg, char *buf, size_t size);
