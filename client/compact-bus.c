/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `vhdctl compact` through vhd-compactd.  The file goes by its absolute path
 * (Compact, or Analyze for --dry-run); when the daemon refuses that with
 * AccessDenied (polkit said no) and this user can open the file itself
 * (read-write to compact, read-only to analyse), it goes again as a
 * descriptor (CompactFd / AnalyzeFd): holding the descriptor is the proof
 * of access, which is how unprivileged users compact their own files.  A
 * path that is not UTF-8 goes as a descriptor at once.
 *
 * A job is then followed to its end (job-follow.c) unless --no-wait, which
 * prints the job's object path and returns.  The summary takes SizeBefore
 * and SizeAfter from the job's properties and the counts from its Report
 * property; what the daemon does not give is left unknown, never made up.
 * The time shown is the client's own wall time from the call to the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-client.h"
#include "bus-dict.h"
#include "compact-client.h"
#include "job-follow.h"
#include "progress.h"
#include "util/macro.h"
#include "util/text.h"
#include "vhdctl.h"

static int append_options(sd_bus_message *m, const struct compact_args *a)
{
        int r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "{sv}", "mode", "s", compact_mode_to_string(a->opts.mode));
        if (r < 0)
                return r;
        /* Only the options set, so that an older daemon is asked nothing
         * it does not know unless it matters. */
        if (a->opts.force_dirty) {
                r = sd_bus_message_append(m, "{sv}", "force-dirty", "b", 1);
                if (r < 0)
                        return r;
        }
        if (a->opts.force_children) {
                r = sd_bus_message_append(m, "{sv}", "force-children", "b", 1);
                if (r < 0)
                        return r;
        }
        if (a->opts.no_block_moves) {
                r = sd_bus_message_append(m, "{sv}", "no-block-moves", "b", 1);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(m);
}

/* Calls METHOD (Compact or Analyze) with the path, or METHOD"Fd" with a
 * descriptor when the path is refused and we can open the file.  A path
 * that is not UTF-8 cannot be a D-Bus string: such a file always goes as a
 * descriptor. */
static int call_manager(sd_bus *bus, const char *method, const char *abs, const struct compact_args *a,
                        uint64_t timeout, sd_bus_error *error, sd_bus_message **ret_reply)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_close_ int fd = -1;
        bool by_name = utf8_is_valid(abs);
        char fd_method[32];
        int r = 0;

        if (by_name) {
                r = sd_bus_message_new_method_call(bus, &m, VC_BUS_NAME, VC_BUS_PATH, VC_BUS_MANAGER, method);
                if (r < 0)
                        return r;
                r = sd_bus_message_append(m, "s", abs);
                if (r < 0)
                        return r;
                r = append_options(m, a);
                if (r < 0)
                        return r;
                r = sd_bus_call(bus, m, timeout, error, ret_reply);
                if (r >= 0 || !bus_error_is_access_denied(error->name))
                        return r;
        }

        fd = open(abs, (a->opts.dry_run ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return by_name ? r : -errno;    /* by name, the refusal stands */
        sd_bus_error_free(error);
        m = sd_bus_message_unref(m);
        snprintf(fd_method, sizeof fd_method, "%sFd", method);
        r = sd_bus_message_new_method_call(bus, &m, VC_BUS_NAME, VC_BUS_PATH, VC_BUS_MANAGER, fd_method);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "h", fd);
        if (r < 0)
                return r;
        r = append_options(m, a);
        if (r < 0)
                return r;
        return sd_bus_call(bus, m, timeout, error, ret_reply);
}

/* A report (Analyze's, a job's Report) into the summary; unknown keys are
 * skipped. */
static int read_report(sd_bus_message *m, struct compact_summary *s)
{
#define F(key, type, field) { key, BUS_FIELD_##type, offsetof(struct compact_summary, field) }
        static const struct bus_field fields[] = {
                F("size-before", U64, size_before),
                F("size-after", U64, size_after),
                F("blocks-allocated", U32_AS_U64, blocks_allocated),
                F("blocks-dropped-fs", U32_AS_U64, dropped_fs),
                F("blocks-dropped-zero", U32_AS_U64, dropped_zero),
                F("blocks-dropped-fs-zero", U32_AS_U64, dropped_fs_zero),
                F("blocks-moved", U32_AS_U64, moved),
                F("bytes-moved", U64, bytes_moved),
                F("bytes-read", U64, bytes_read),
                F("bytes-written", U64, bytes_written),
                F("allocated-before", U64, allocated_before),
                F("allocated-after", U64, allocated_after),
                F("bytes-punched", U64, bytes_punched),
        };
#undef F
        return bus_read_dict(m, fields, ELEMENTSOF(fields), s, NULL);
}

static void print_call_error(const char *file, const char *abs, const sd_bus_error *e, int r)
{
        if (sd_bus_error_is_set(e))
                print_job_error(file, abs, e->name, e->message);
        else
                print_errno(file, r, "cannot call the daemon");
}

static int analyze(sd_bus *bus, const char *abs, const struct compact_args *a)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        struct compact_summary s;
        double t0 = progress_now();
        int r;

        /* A dry run reads the whole disk in the daemon: no call timeout. */
        r = call_manager(bus, "Analyze", abs, a, UINT64_MAX, &error, &reply);
        if (r < 0) {
                print_call_error(a->file, abs, &error, r);
                return 1;
        }
        compact_summary_init(&s, a->file, compact_mode_to_string(a->opts.mode), true);
        s.no_block_moves = a->opts.no_block_moves;
        r = read_report(reply, &s);
        if (r < 0) {
                print_errno(a->file, r, "cannot read the daemon's report");
                return 1;
        }
        s.allocated_after = COMPACT_UNKNOWN;     /* a dry run's is not measured */
        s.seconds = progress_now() - t0;
        if (a->result)
                *a->result = s;
        compact_summary_print(&s, a->json);
        return 0;
}

/* The finished job's Report property (its counts); S unchanged when the
 * daemon has none to give.  On a connection of its own: sd-bus closes a
 * connection attached to an event loop when that loop exits, as the
 * follow loop just did. */
static void read_job_report(bool user_bus, const char *job, struct compact_summary *s)
{
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        if ((user_bus ? sd_bus_open_user(&bus) : sd_bus_open_system(&bus)) < 0)
                return;
        if (sd_bus_get_property(bus, VC_BUS_NAME, job, VC_BUS_JOB, "Report", &error, &reply, "a{sv}") >= 0)
                (void) read_report(reply, s);
}

static int report_outcome(const struct compact_args *a, const char *abs, const char *job,
                          const struct job_outcome *o, double t0)
{
        const struct job_state *p = &o->props;
        struct compact_summary s;

        if (o->detached) {
                fprintf(stderr, "vhdctl: '%s': interrupted: no longer waiting for %s%s\n", a->file, job,
                        o->cancel_sent ? " (cancel requested; the image stays valid)" : "");
                return 1;
        }
        if (!o->completed) {
                if (o->daemon_gone) {
                        fprintf(stderr, "vhdctl: '%s': daemon-gone: %s left the bus before %s ended; "
                                "the image is valid, run again to finish\n", a->file, VC_BUS_NAME, job);
                        return 1;
                }
                if (!job_state_is_final(p->state)) {
                        fprintf(stderr, "vhdctl: '%s': no-such-job: %s vanished without saying how it ended\n",
                                a->file, job);
                        return 1;
                }
        }
        /* Success is the State the daemon answered last ("done"); only a
         * job object gone by then leaves Completed's word (job-follow.c
         * takes that signal from the daemon's unique name alone). */
        bool success = o->completed && o->job_gone ? o->success : p->state && !strcmp(p->state, VC_STATE_DONE);
        if (!success) {
                const char *msg = p->error && *p->error ? p->error : o->message;
                const char *name = p->error_name && *p->error_name ? p->error_name
                                 : p->state && !strcmp(p->state, VC_STATE_CANCELLED) ? VC_ERROR_CANCELLED
                                 : NULL;
                print_job_error(a->file, abs, name, msg);
                return 1;
        }
        compact_summary_init(&s, a->file, p->mode ? p->mode : compact_mode_to_string(a->opts.mode), false);
        if (p->size_before)
                s.size_before = p->size_before;
        if (p->size_after)
                s.size_after = p->size_after;
        s.no_block_moves = a->opts.no_block_moves;
        read_job_report(a->user_bus, job, &s);
        s.seconds = progress_now() - t0;
        if (a->result)
                *a->result = s;
        compact_summary_print(&s, a->json);
        return 0;
}

int compact_bus(const struct compact_args *a, bool must)
{
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(job_follow_freep) struct job_follow *follow = NULL;
        _cleanup_free_ char *abs = NULL;
        struct job_outcome outcome = {};
        struct progress_bar bar;
        const char *job;
        int r, status;

        r = bus_client_connect(a->user_bus, must, &bus);
        if (r < 0) {
                print_errno(a->file, r, NULL);
                return 1;
        }
        if (r == 0)
                return must ? 1 : COMPACT_BUS_ABSENT;
        abs = realpath(a->file, NULL);
        if (!abs) {
                print_errno(a->file, negative_errno(), NULL);
                return 1;
        }
        if (a->opts.dry_run)
                return analyze(bus, abs, a);

        progress_bar_init(&bar, a->progress);
        if (a->wait) {
                r = job_follow_new(bus, &bar, a->file, &follow);
                if (r < 0) {
                        print_errno(a->file, r, "cannot subscribe to the daemon's job signals");
                        return 1;
                }
        }
        double t0 = progress_now();
        r = call_manager(bus, "Compact", abs, a, 0, &error, &reply);
        if (r < 0) {
                print_call_error(a->file, abs, &error, r);
                return 1;
        }
        r = sd_bus_message_read(reply, "o", &job);
        if (r < 0) {
                print_errno(a->file, r, "cannot read the daemon's reply");
                return 1;
        }
        if (!a->wait) {
                printf("%s\n", job);
                return 0;
        }
        r = job_follow_run(follow, job, sd_bus_message_get_sender(reply), &outcome);
        progress_bar_end(&bar);
        if (r < 0) {
                print_errno(a->file, r, "lost track of the job");
                return 1;
        }
        status = report_outcome(a, abs, job, &outcome, t0);
        job_outcome_done(&outcome);
        return status;
}
