/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Following one daemon job to its end: progress on the way, the Completed
 * signal at the end, Cancel on SIGINT/SIGTERM.
 *
 * The subscriptions are made by job_follow_new(), before the caller starts
 * the job, for every job object (path_namespace): a short job may end before
 * the method that started it has even returned, and its Completed signal
 * must not be lost.  Signals of other jobs, and any signal not sent by the
 * daemon's unique name, are ignored; the end is read back from the daemon
 * (job-follow.c).  SIGINT and SIGTERM
 * are blocked from then on and handled by the event loop, so that a Ctrl-C
 * while the job is being created still cancels it.
 */
#pragma once

#include <stdbool.h>
#include <systemd/sd-bus.h>

#include "job-state.h"
#include "progress.h"

struct job_follow;

/* How a job ended, as far as the client saw it. */
struct job_outcome {
        struct job_state props;         /* the last properties seen */
        bool completed;                 /* Completed arrived (from the daemon) */
        bool success;                   /* its first argument: only used when
                                         * the job could not be read after it */
        char *message;                  /* its second argument */
        bool cancel_sent;               /* we asked for Cancel (a signal) */
        bool detached;                  /* a second signal: stopped waiting */
        bool daemon_gone;               /* the daemon left the bus first */
        bool job_gone;                  /* the job object could not be read */
};

void job_outcome_done(struct job_outcome *o);

/*
 * job_follow_new - resolve the unique name of org.vhd.Compact's owner
 * (starting an activatable daemon), subscribe on BUS to the
 * PropertiesChanged and Completed of every job it sends, and to the daemon
 * leaving the bus; block SIGINT and SIGTERM.
 * BAR (may be NULL) is drawn as the job progresses; WHAT names the file in
 * error lines.
 *
 * Returns 0 with *ret set, or a negative errno (nothing changed).
 */
int job_follow_new(sd_bus *bus, struct progress_bar *bar, const char *what, struct job_follow **ret);

/* Drops the subscriptions, restores the signal mask.  Takes NULL. */
struct job_follow *job_follow_free(struct job_follow *f);
static inline void job_follow_freep(struct job_follow **f) { *f = job_follow_free(*f); }

/*
 * job_follow_run - wait until JOB ends (or the daemon goes, or a second
 * signal asks to stop waiting) and describe how in *ret.  DAEMON is the
 * unique name that answered the call that made JOB (the sender of its
 * reply); NULL for the one resolved by job_follow_new().
 *
 * Returns 0 with *ret filled (even for a job that failed), or a negative
 * errno when the wait itself failed.
 */
int job_follow_run(struct job_follow *f, const char *job, const char *daemon, struct job_outcome *ret);
