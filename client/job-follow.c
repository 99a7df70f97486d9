/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Following a job (see job-follow.h) on an sd-event loop that carries the
 * bus and the two signals.  The loop ends on the job's Completed signal; on
 * the daemon leaving the bus or the connection closing; on a second
 * SIGINT/SIGTERM (the first one sends Cancel and keeps waiting for
 * Completed); or, as a safety net, a little while after the job's State
 * became final without a Completed signal arriving (a daemon that forgot to
 * send it must not hang the client).  For the same reason the job's
 * properties are also read every few seconds: a signal the client missed
 * (or the daemon failed to send) delays the end, it does not hide it.
 *
 * Signals are taken only from the daemon.  Anyone on the bus can send a
 * signal to our connection (a unicast signal passes no match rule), and
 * sd-bus does not check a well-known sender name locally; so the daemon's
 * unique name is resolved (GetNameOwner, after StartServiceByName when it
 * is only activatable) before subscribing, the matches name it as
 * sender, and every handler compares the sender and the job's exact path
 * again.  Even then a signal's arguments only say "look now": the end is
 * decided by the job's properties as the daemon answers a GetAll, and a
 * Completed while the daemon still calls the job active is ignored.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <systemd/sd-event.h>

#include "bus-client.h"
#include "job-follow.h"
#include "util/macro.h"

/* How long to wait for Completed once State is final. */
#define COMPLETED_GRACE_USEC (3 * 1000000ULL)
/* How often to read the job's properties without being told. */
#define POLL_USEC (5 * 1000000ULL)

struct job_follow {
        sd_bus *bus;
        sd_event *event;
        sd_bus_slot *match_props, *match_completed, *match_owner, *match_disconnect;
        char *daemon;                   /* the unique name of org.vhd.Compact's owner */
        sd_event_source *sig_int, *sig_term, *grace, *poll;
        sigset_t old_mask;
        bool mask_set;
        struct progress_bar *bar;
        const char *what;
        char *job;
        struct job_outcome out;
};

void job_outcome_done(struct job_outcome *o)
{
        job_state_done(&o->props);
        free(o->message);
        *o = (struct job_outcome) {};
}

struct job_follow *job_follow_free(struct job_follow *f)
{
        if (!f)
                return NULL;
        sd_bus_slot_unref(f->match_props);
        sd_bus_slot_unref(f->match_completed);
        sd_bus_slot_unref(f->match_owner);
        sd_bus_slot_unref(f->match_disconnect);
        sd_event_source_unref(f->sig_int);
        sd_event_source_unref(f->sig_term);
        sd_event_source_unref(f->grace);
        sd_event_source_unref(f->poll);
        if (f->bus)
                sd_bus_detach_event(f->bus);
        sd_bus_unref(f->bus);
        sd_event_unref(f->event);
        if (f->mask_set)
                sigprocmask(SIG_SETMASK, &f->old_mask, NULL);
        free(f->job);
        free(f->daemon);
        job_outcome_done(&f->out);
        free(f);
        return NULL;
}

/* Sent by the daemon we subscribed to, about our job. */
static bool is_our_job(struct job_follow *f, sd_bus_message *m)
{
        const char *path = sd_bus_message_get_path(m), *sender = sd_bus_message_get_sender(m);
        return f->job && path && !strcmp(path, f->job) && f->daemon && sender && !strcmp(sender, f->daemon);
}

static void draw(struct job_follow *f)
{
        const struct job_state *s = &f->out.props;
        struct timespec now;
        double eta = 0;

        if (!f->bar || !s->state || job_state_is_final(s->state))
                return;
        progress_bar_phase(f->bar, s->state);
        if (s->bytes_total == 0) {
                progress_bar_label(f->bar);
                return;
        }
        clock_gettime(CLOCK_REALTIME, &now);
        uint64_t now_us = (uint64_t) now.tv_sec * 1000000 + (uint64_t) now.tv_nsec / 1000;
        if (s->expected_end > now_us)
                eta = (double) (s->expected_end - now_us) / 1e6;
        progress_bar_draw(f->bar, s->bytes_done, s->bytes_total, (double) s->rate, eta);
}

static int on_grace(sd_event_source *s, uint64_t usec, void *userdata)
{
        (void) s;
        (void) usec;
        (void) userdata;
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

/* State is final: Completed should follow at once; do not wait forever. */
static void arm_grace(struct job_follow *f)
{
        if (f->grace)
                return;
        (void) sd_event_add_time_relative(f->event, &f->grace, CLOCK_MONOTONIC, COMPLETED_GRACE_USEC, 0,
                                          on_grace, f);
}

static int on_poll(sd_event_source *s, uint64_t usec, void *userdata)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        struct job_follow *f = userdata;

        if (job_state_get(f->bus, f->job, &f->out.props, &error) < 0) {
                if (sd_bus_error_has_name(&error, SD_BUS_ERROR_UNKNOWN_OBJECT)) {
                        f->out.job_gone = true;
                        arm_grace(f);
                }
        } else {
                draw(f);
                if (job_state_is_final(f->out.props.state))
                        arm_grace(f);
        }
        (void) sd_event_source_set_time(s, usec + POLL_USEC);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        struct job_follow *f = userdata;
        const char *iface;
        int r;

        (void) error;
        if (!is_our_job(f, m))
                return 0;
        r = sd_bus_message_read(m, "s", &iface);
        if (r < 0 || strcmp(iface, VC_BUS_JOB))
                return 0;
        r = job_state_update(&f->out.props, m);
        if (r < 0)
                return 0;       /* a malformed signal is ignored, not fatal */
        /* Invalidated properties: read them all again. */
        r = sd_bus_message_enter_container(m, 'a', "s");
        if (r > 0 && sd_bus_message_at_end(m, false) == 0)
                (void) job_state_get(f->bus, f->job, &f->out.props, NULL);
        draw(f);
        if (job_state_is_final(f->out.props.state))
                arm_grace(f);
        return 0;
}

static int on_completed(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        struct job_follow *f = userdata;
        const char *message;
        int success, r;

        (void) error;
        if (!is_our_job(f, m) || f->out.completed)
                return 0;
        r = sd_bus_message_read(m, "bs", &success, &message);
        if (r < 0)
                return 0;
        /* Confirmed by the daemon's own answer: a job it still calls
         * active has not ended, whatever a signal says.  A job object
         * already gone leaves the signal's word, which came from the
         * daemon's unique name. */
        r = job_state_get(f->bus, f->job, &f->out.props, &e);
        if (r >= 0 && !job_state_is_final(f->out.props.state))
                return 0;
        if (r < 0 && !sd_bus_error_has_name(&e, SD_BUS_ERROR_UNKNOWN_OBJECT))
                return 0;       /* the poll and the grace timer will tell */
        f->out.job_gone = r < 0;
        f->out.completed = true;
        f->out.success = success;
        free(f->out.message);
        f->out.message = strdup(message);
        return sd_event_exit(f->event, 0);
}

static int on_name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        struct job_follow *f = userdata;
        const char *name, *old_owner, *new_owner;

        (void) error;
        /* Only the bus itself says who owns what (see is_our_job). */
        const char *sender = sd_bus_message_get_sender(m);
        if (!sender || strcmp(sender, "org.freedesktop.DBus"))
                return 0;
        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0)
                return 0;
        /* Our daemon lost the name (to nobody, or to another one). */
        if (strcmp(name, VC_BUS_NAME) || !f->daemon || strcmp(old_owner, f->daemon))
                return 0;
        f->out.daemon_gone = true;
        return sd_event_exit(f->event, 0);
}

static int on_disconnected(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        struct job_follow *f = userdata;

        (void) m;
        (void) error;
        f->out.daemon_gone = true;
        return sd_event_exit(f->event, 0);
}

static int on_cancel_reply(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        struct job_follow *f = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);

        (void) error;
        if (e) {
                if (f->bar)
                        progress_bar_end(f->bar);
                print_bus_error(f->what, e, sd_bus_message_get_errno(m));
        }
        return 0;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        struct job_follow *f = userdata;
        int r;

        (void) s;
        (void) si;
        if (f->out.cancel_sent || !f->job) {
                f->out.detached = true;
                return sd_event_exit(f->event, 0);
        }
        f->out.cancel_sent = true;
        r = sd_bus_call_method_async(f->bus, NULL, VC_BUS_NAME, f->job, VC_BUS_JOB, "Cancel", on_cancel_reply,
                                     f, "");
        if (r < 0) {
                f->out.detached = true;
                return sd_event_exit(f->event, 0);
        }
        return 0;
}

/* The unique name that owns org.vhd.Compact now, starting it first when
 * it is only activatable. */
static int resolve_daemon(sd_bus *bus, char **ret)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *owner;
        int r;

        for (int attempt = 0;; attempt++) {
                r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                       "GetNameOwner", &error, &reply, "s", VC_BUS_NAME);
                if (r >= 0 || attempt > 0 || !sd_bus_error_has_name(&error, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
                        break;
                sd_bus_error_free(&error);
                r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                       "StartServiceByName", &error, NULL, "su", VC_BUS_NAME, 0);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "s", &owner);
        if (r < 0)
                return r;
        if (owner[0] != ':')
                return -EBADMSG;
        char *copy = strdup(owner);
        if (!copy)
                return -ENOMEM;
        *ret = copy;
        return 0;
}

/* (Re)subscribes to the job signals of the daemon whose unique name is
 * OWNER. */
static int subscribe(struct job_follow *f, const char *owner)
{
        char rule[512];
        char *copy;
        int r;

        copy = strdup(owner);
        if (!copy)
                return -ENOMEM;
        free(f->daemon);
        f->daemon = copy;
        f->match_props = sd_bus_slot_unref(f->match_props);
        f->match_completed = sd_bus_slot_unref(f->match_completed);
        if ((size_t) snprintf(rule, sizeof rule,
                              "type='signal',sender='%s',"
                              "interface='org.freedesktop.DBus.Properties',member='PropertiesChanged',"
                              "path_namespace='" VC_BUS_JOB_PREFIX "',arg0='" VC_BUS_JOB "'",
                              owner) >= sizeof rule)
                return -ENAMETOOLONG;
        r = sd_bus_add_match(f->bus, &f->match_props, rule, on_properties_changed, f);
        if (r < 0)
                return r;
        if ((size_t) snprintf(rule, sizeof rule,
                              "type='signal',sender='%s',interface='" VC_BUS_JOB "',"
                              "member='Completed',path_namespace='" VC_BUS_JOB_PREFIX "'",
                              owner) >= sizeof rule)
                return -ENAMETOOLONG;
        return sd_bus_add_match(f->bus, &f->match_completed, rule, on_completed, f);
}

int job_follow_new(sd_bus *bus, struct progress_bar *bar, const char *what, struct job_follow **ret)
{
        _cleanup_free_ char *owner = NULL;
        struct job_follow *f;
        sigset_t mask;
        int r;

        f = calloc(1, sizeof *f);
        if (!f)
                return -ENOMEM;
        f->bus = sd_bus_ref(bus);
        f->bar = bar;
        f->what = what;

        r = sd_event_new(&f->event);
        if (r < 0)
                goto fail;
        r = sd_bus_attach_event(bus, f->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                goto fail;

        /* Subscribed before the job exists: see job-follow.h. */
        r = resolve_daemon(bus, &owner);
        if (r < 0)
                goto fail;
        r = subscribe(f, owner);
        if (r < 0)
                goto fail;
        r = sd_bus_add_match(bus, &f->match_owner,
                             "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
                             "interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='" VC_BUS_NAME "'",
                             on_name_owner_changed, f);
        if (r < 0)
                goto fail;
        r = sd_bus_match_signal(bus, &f->match_disconnect, NULL, "/org/freedesktop/DBus/Local",
                                "org.freedesktop.DBus.Local", "Disconnected", on_disconnected, f);
        if (r < 0)
                goto fail;

        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        r = RET_NERRNO(sigprocmask(SIG_BLOCK, &mask, &f->old_mask));
        if (r < 0)
                goto fail;
        f->mask_set = true;
        r = sd_event_add_signal(f->event, &f->sig_int, SIGINT, on_signal, f);
        if (r < 0)
                goto fail;
        r = sd_event_add_signal(f->event, &f->sig_term, SIGTERM, on_signal, f);
        if (r < 0)
                goto fail;
        *ret = f;
        return 0;
fail:
        job_follow_free(f);
        return r;
}

int job_follow_run(struct job_follow *f, const char *job, const char *daemon, struct job_outcome *ret)
{
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        f->job = strdup(job);
        if (!f->job)
                return -ENOMEM;
        /* The name changed hands between the subscription and the call:
         * follow the daemon that made the job. */
        if (daemon && strcmp(daemon, f->daemon)) {
                r = subscribe(f, daemon);
                if (r < 0)
                        return r;
        }
        r = job_state_get(f->bus, f->job, &f->out.props, &error);
        if (r < 0) {
                /* Gone already?  Its Completed may still be queued.  Any
                 * other error: the signals and the poll will tell. */
                if (sd_bus_error_has_name(&error, SD_BUS_ERROR_UNKNOWN_OBJECT)) {
                        f->out.job_gone = true;
                        arm_grace(f);
                }
        } else {
                draw(f);
                if (job_state_is_final(f->out.props.state))
                        arm_grace(f);
        }

        r = sd_event_add_time_relative(f->event, &f->poll, CLOCK_MONOTONIC, POLL_USEC, 0, on_poll, f);
        if (r < 0)
                return r;
        r = sd_event_loop(f->event);
        if (r < 0)
                return r;
        /* The final state, numbers (SizeAfter) and error as the daemon
         * answers them, if the object is still there; what was seen last
         * otherwise. */
        if (!f->out.daemon_gone && !f->out.detached &&
            job_state_get(f->bus, f->job, &f->out.props, NULL) >= 0)
                f->out.job_gone = false;
        *ret = f->out;
        f->out = (struct job_outcome) {};
        return 0;
}
